//! The window's side of the local channel: attach to the engine that serves a settings
//! file, or start one (the same program, `--headless`, detached) and attach to it. The
//! channel is the owner-only Unix socket beside the settings file, or on Windows its
//! named pipe; [`Local`] is its [`Connector`], so the window's [`Link`] reattaches by
//! itself when the engine comes back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::AttachError;
use super::link::{Channel, Connecting, Connector, Link, Place};
use super::wire::{ToEngine, ToWindow, read_frame, write_frame};

pub use super::link::{ANSWER_WITHIN, EngineInfo};

/// The engine of a settings file on this machine.
pub struct Local {
    pub settings_path: PathBuf,
    /// This program, to start an engine with (`None`: the window cannot start one).
    pub program: Option<PathBuf>,
}

impl Connector for Local {
    fn connect(&self) -> Connecting<'_> {
        Box::pin(connect(&self.settings_path))
    }

    fn place(&self) -> Place {
        Place::Local(self.settings_path.clone())
    }

    fn start_engine(&self) -> Option<Result<(), AttachError>> {
        let program = self.program.as_deref()?;
        Some(start_detached(program, &self.settings_path).map(|_| ()))
    }

    fn can_start(&self) -> bool {
        self.program.is_some()
    }
}

/// A channel over a connected byte stream: a task reads frames (a read cut off half-way
/// by a select would lose its bytes), one writes them.
pub(crate) fn frames_channel<S>(stream: S) -> Channel
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut read, mut write) = tokio::io::split(stream);
    let (frames_tx, incoming) = tokio::sync::mpsc::channel(64);
    let (outgoing, mut to_write) = tokio::sync::mpsc::channel::<ToEngine>(64);
    let reader = tokio::spawn(async move {
        loop {
            let frame = read_frame::<_, ToWindow>(&mut read).await;
            let last = frame.is_err();
            if frames_tx.send(frame).await.is_err() || last {
                return;
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(frame) = to_write.recv().await {
            if let Err(e) = write_frame(&mut write, &frame).await {
                tracing::debug!("writing to the engine: {e}");
                return;
            }
        }
    });
    Channel {
        incoming,
        outgoing,
        tasks: vec![reader.abort_handle(), writer.abort_handle()],
    }
}

#[cfg(unix)]
async fn connect(settings_path: &Path) -> Result<Channel, AttachError> {
    let socket = super::socket_path(settings_path);
    match tokio::net::UnixStream::connect(&socket).await {
        Ok(stream) => Ok(frames_channel(stream)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(AttachError::NoEngine {
                settings: settings_path.to_path_buf(),
                socket,
            })
        }
        Err(source) => Err(AttachError::Io { socket, source }),
    }
}

#[cfg(windows)]
async fn connect(settings_path: &Path) -> Result<Channel, AttachError> {
    use tokio::net::windows::named_pipe::ClientOptions;
    let name = super::pipe_name(settings_path);
    // ERROR_PIPE_BUSY: every instance is taken for a moment (another window attaching).
    const PIPE_BUSY: i32 = 231;
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    loop {
        match ClientOptions::new().open(&name) {
            Ok(pipe) => return Ok(frames_channel(pipe)),
            Err(e)
                if e.raw_os_error() == Some(PIPE_BUSY)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AttachError::NoEngine {
                    settings: settings_path.to_path_buf(),
                    socket: PathBuf::from(name),
                });
            }
            Err(source) => {
                return Err(AttachError::Io {
                    socket: PathBuf::from(name),
                    source,
                });
            }
        }
    }
}

#[cfg(not(any(unix, windows)))]
async fn connect(_settings_path: &Path) -> Result<Channel, AttachError> {
    Err(AttachError::Unsupported)
}

/// Attaches to the engine of `settings_path` (the window cannot start one when it is
/// lost). Call inside a tokio runtime: the link is kept by a task of it, which calls
/// `waker` after each new snapshot.
pub async fn attach(
    settings_path: &Path,
    waker: Arc<dyn Fn() + Send + Sync>,
) -> Result<Link, AttachError> {
    let local = Local {
        settings_path: settings_path.to_path_buf(),
        program: None,
    };
    Link::open(Arc::new(local), waker).await
}

/// Starts the engine of `settings_path` as a background process of its own (this
/// program, `--headless`), detached from this one: it goes on when the window exits. Its
/// standard error (the log) goes to `standby-engine.log` beside the settings file.
pub fn start_detached(
    program: &Path,
    settings_path: &Path,
) -> Result<std::process::Child, AttachError> {
    let log_path = settings_path.with_file_name("standby-engine.log");
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| AttachError::Start(format!("{}: {e}", dir.display())))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| AttachError::Start(format!("{}: {e}", log_path.display())))?;
    let mut command = std::process::Command::new(program);
    command
        .arg("--headless")
        .arg("--config")
        .arg(settings_path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // A process group of its own: a Ctrl-C in the window's terminal does not stop it.
        command.process_group(0);
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt as _;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }
    command
        .spawn()
        .map_err(|e| AttachError::Start(format!("{}: {e}", program.display())))
}

/// Attaches to the engine of `settings_path`, starting one first when none runs, and
/// waits (up to `within`) for a started one to listen. The link can start one again
/// when it is lost (the banner offers it).
pub async fn attach_or_start(
    program: &Path,
    settings_path: &Path,
    waker: Arc<dyn Fn() + Send + Sync>,
    within: Duration,
) -> Result<Link, AttachError> {
    let local = Arc::new(Local {
        settings_path: settings_path.to_path_buf(),
        program: Some(program.to_path_buf()),
    });
    match Link::open(local.clone(), waker.clone()).await {
        Err(AttachError::NoEngine { .. }) => {}
        other => return other,
    }
    let mut child = start_detached(program, settings_path)?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(AttachError::Start(format!(
                "the engine ended at once ({status}); its log: {}",
                settings_path.with_file_name("standby-engine.log").display()
            )));
        }
        match Link::open(local.clone(), waker.clone()).await {
            Err(AttachError::NoEngine { .. }) if tokio::time::Instant::now() < deadline => {
                // Waiting for the new engine to bind its socket.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(AttachError::NoEngine { .. }) => return Err(AttachError::Timeout(within)),
            other => return other,
        }
    }
}
