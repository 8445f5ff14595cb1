//! The command line: parse it and wire the parts together, nothing more.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use standby::engine::{EngineConfig, EngineHandle};
use standby::model::file;

/// Standby keeps a host name pointing at a server that works.
#[derive(Parser)]
#[command(name = "standby", version, about)]
struct Cli {
    /// The settings file [default: standby/standby.ron in the OS configuration directory]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Run the engine without a window (for a server)
    #[arg(long)]
    headless: bool,
    /// The window with its own engine inside (the engine stops with the window), instead
    /// of attaching to the engine of its settings file (started in the background when none
    /// runs)
    #[arg(long, conflicts_with = "headless")]
    standalone: bool,
    /// Attach the window to a remote engine over its HTTP API (TLS), e.g.
    /// https://standby.example:8100. Its certificate is pinned on the first connection
    #[arg(long, value_name = "URL", conflicts_with_all = ["headless", "standalone"])]
    connect: Option<String>,
    /// With --connect: a file whose first line is the API's password (user admin); else
    /// the environment variable STANDBY_PASSWORD, else the window asks for it (as it does
    /// when the engine refuses the password)
    #[arg(long, value_name = "PATH", requires = "connect")]
    password_file: Option<PathBuf>,
    /// With --connect: where the pinned certificate fingerprints are kept
    /// [default: standby/known_hosts in the OS configuration directory]
    #[arg(long, value_name = "PATH", requires = "connect")]
    known_hosts: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Validate a settings file: print every error, exit non-zero on any
    CheckConfig {
        /// The settings file to check
        file: PathBuf,
    },
    /// Convert a first-generation XML configuration to settings (RON)
    ImportV1 {
        /// The XML file (<SimpleFailover><ServerSet ...><Server IP=.../>...)
        file: PathBuf,
        /// Write the settings here (must not exist yet) instead of to standard output
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Force a server of a set up or down, or clear its override, in the running engine
    /// (through its HTTP API, at the address and with the password of the settings file)
    Override {
        /// The server set's name
        set: String,
        /// The server's public address
        server: String,
        /// up, down or clear
        #[arg(value_parser = ["up", "down", "clear"])]
        state: String,
        /// How long it lasts, e.g. 30m, 2h (default: until cleared)
        #[arg(long = "for", value_name = "DURATION")]
        lasts: Option<String>,
    },
    /// Write the SLA report (uptime %, p50/p95/p99 per set and server, a chart in HTML)
    /// of every set over a period, from the history database beside the settings file
    Report {
        /// The first day (YYYY-MM-DD, UTC) or Unix seconds
        #[arg(long)]
        from: String,
        /// The last day, included (YYYY-MM-DD, UTC), or Unix seconds (excluded)
        #[arg(long)]
        to: String,
        /// csv or html
        #[arg(long, default_value = "csv", value_parser = ["csv", "html"])]
        format: String,
        /// Write the report here instead of to standard output
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Put a server (or every server of a set) in maintenance, or clear its windows, in the
    /// running engine (through its HTTP API, like override): `SET [SERVER] --for 30m`,
    /// `--from TIME --to TIME`, `--weekly Tue,Thu --start 22:00 --end 01:00 [--time-zone
    /// Europe/Berlin]`, or `SET [SERVER] clear`
    Maintenance {
        /// The server set's name
        set: String,
        /// The server's public address (absent: every server of the set), then `clear` to
        /// remove the windows instead of adding one
        #[arg(num_args = 0..=2)]
        rest: Vec<String>,
        /// A one-off window from now lasting this long, e.g. 30m, 2h
        #[arg(long = "for", value_name = "DURATION", group = "window")]
        lasts: Option<String>,
        /// A one-off window from this time (RFC 3339, e.g. 2026-12-01T22:00:00Z)
        #[arg(long, value_name = "TIME", requires = "to", group = "window")]
        from: Option<String>,
        /// ... to this time
        #[arg(long, value_name = "TIME", requires = "from")]
        to: Option<String>,
        /// A weekly window on these days, e.g. Tue,Thu
        #[arg(long, value_name = "DAYS", requires_all = ["start", "end"], group = "window")]
        weekly: Option<String>,
        /// The weekly window's start, e.g. 22:00
        #[arg(long, value_name = "HH:MM", requires = "weekly")]
        start: Option<String>,
        /// The weekly window's end, e.g. 01:00 (before the start: past midnight)
        #[arg(long, value_name = "HH:MM", requires = "weekly")]
        end: Option<String>,
        /// The weekly window's time zone
        #[arg(long, value_name = "ZONE", default_value = "UTC", requires = "weekly")]
        time_zone: String,
    },
    /// The running engine of the settings file, over the local channel that windows
    /// attach on (it never starts one): print its state, pause or resume all polling, or
    /// stop it (exit 3 when none runs)
    Engine {
        #[command(subcommand)]
        action: EngineAction,
    },
    /// The HTTP API
    Api {
        #[command(subcommand)]
        action: ApiAction,
    },
    /// Register the headless engine with the OS's service manager (systemd, launchd, the
    /// Windows Service Control Manager). Without --config the service uses its own settings
    /// file (/var/lib/standby/standby.ron for a systemd system service)
    Service {
        #[command(subcommand)]
        action: ServiceCommand,
    },
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Register the service to start at boot (or at login with --user); not started now
    Install(ServiceChange),
    /// Stop the service and remove its registration (the settings stay)
    Uninstall(ServiceChange),
    /// Start the service
    Start(ServiceScope),
    /// Stop the service
    Stop(ServiceScope),
    /// Say whether it is installed and runs (exit 0 running, 3 stopped, 4 not installed)
    Status(ServiceScope),
    /// How the Windows Service Control Manager starts Standby (not for a console)
    #[command(hide = true)]
    Run,
}

#[derive(clap::Args)]
struct ServiceScope {
    /// The user's own service manager (systemctl --user, a LaunchAgent) instead of the system's
    #[arg(long)]
    user: bool,
}

#[derive(clap::Args)]
struct ServiceChange {
    #[command(flatten)]
    scope: ServiceScope,
    /// Print the files it would write and the commands it would run; change nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand)]
enum EngineAction {
    /// Print its process, polling and each set with its servers
    Status,
    /// Pause all polling (saved in the settings), then print the state
    Pause,
    /// Resume all polling, then print the state
    Resume,
    /// Stop the engine (as a window's Shut down does) and wait until it is gone
    Stop,
}

#[derive(Subcommand)]
enum ApiAction {
    /// Print the SHA-256 fingerprint of the API's certificate (a self-signed one is made
    /// now if it does not exist yet), for clients to pin
    Fingerprint,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let outcome = match cli.command {
        Some(Action::CheckConfig { file }) => check_config(&file),
        Some(Action::ImportV1 { file, output }) => import_v1(&file, output.as_deref()),
        Some(Action::Api {
            action: ApiAction::Fingerprint,
        }) => api_fingerprint(&cli.config.unwrap_or_else(file::default_path)),
        Some(Action::Override {
            set,
            server,
            state,
            lasts,
        }) => override_server(
            &cli.config.unwrap_or_else(file::default_path),
            &set,
            &server,
            &state,
            lasts.as_deref(),
        ),
        Some(Action::Maintenance {
            set,
            rest,
            lasts,
            from,
            to,
            weekly,
            start,
            end,
            time_zone,
        }) => {
            use standby::api::cli_client::MaintenanceRequest as M;
            // `SET [SERVER] [clear]`: a second word after the server can only be `clear`.
            let clear = rest.last().is_some_and(|r| r == "clear");
            let server = if clear {
                rest.len() == 2
            } else {
                !rest.is_empty()
            };
            let server = rest.first().filter(|_| server).cloned();
            let stray = rest.len() == 2 && !clear;
            let request = match (clear, lasts, from.zip(to), weekly.zip(start.zip(end))) {
                _ if stray => None,
                (true, None, None, None) => Some(M::Clear),
                (false, Some(lasts), None, None) => Some(M::For(lasts)),
                (false, None, Some((from, to)), None) => Some(M::Between { from, to }),
                (false, None, None, Some((days, (start, end)))) => Some(M::Weekly {
                    days,
                    start,
                    end,
                    time_zone,
                }),
                _ => None,
            };
            maintenance(
                &cli.config.unwrap_or_else(file::default_path),
                &set,
                server.as_deref(),
                request,
            )
        }
        Some(Action::Service { action }) => service(action, cli.config),
        Some(Action::Engine { action }) => {
            engine_command(&cli.config.unwrap_or_else(file::default_path), action)
        }
        Some(Action::Report {
            from,
            to,
            format,
            output,
        }) => report(
            &cli.config.unwrap_or_else(file::default_path),
            (&from, &to),
            &format,
            output.as_deref(),
        ),
        None if cli.headless => run(cli.config, Mode::Headless(Box::new(wait_for_stop_signal))),
        None if cli.standalone => run(cli.config, Mode::Window),
        None => match cli.connect {
            Some(url) => run_remote(&url, cli.password_file, cli.known_hosts),
            None => run_attached(cli.config),
        },
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("standby: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // suppaftp traces every command it sends, PASS with the password in clear: never let
    // its trace level through, whatever RUST_LOG says.
    // zbus (the tray's D-Bus) warns about its socket closing when the window exits.
    let filter = ["suppaftp=debug", "zbus=error"]
        .iter()
        .fold(filter, |filter, directive| match directive.parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn api_fingerprint(settings: &std::path::Path) -> anyhow::Result<ExitCode> {
    match standby::api::tls::fingerprint_for(settings) {
        Ok(fingerprint) => {
            println!("{fingerprint}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: {e}", settings.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn override_server(
    settings: &std::path::Path,
    set: &str,
    server: &str,
    state: &str,
    lasts: Option<&str>,
) -> anyhow::Result<ExitCode> {
    match standby::api::cli_client::override_server(settings, set, server, state, lasts) {
        Ok(()) => {
            let how = match (state, lasts) {
                ("clear", _) => "override cleared".to_string(),
                (state, Some(lasts)) => format!("forced {state} for {lasts}"),
                (state, None) => format!("forced {state}"),
            };
            println!("{set}: {server} {how}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("standby override: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn maintenance(
    settings: &std::path::Path,
    set: &str,
    server: Option<&str>,
    request: Option<standby::api::cli_client::MaintenanceRequest>,
) -> anyhow::Result<ExitCode> {
    use standby::api::cli_client::MaintenanceRequest as M;
    let Some(request) = request else {
        eprintln!(
            "standby maintenance: give one of --for, --from with --to, --weekly with --start \
             and --end, or clear (and no more than SET [SERVER] before it)"
        );
        return Ok(ExitCode::from(2));
    };
    match standby::api::cli_client::maintenance(settings, set, server, &request) {
        Ok(()) => {
            let who = server.unwrap_or("every server");
            let what = match &request {
                M::Clear => "maintenance windows cleared".to_string(),
                M::For(lasts) => format!("in maintenance for {lasts}"),
                M::Between { from, to } => format!("in maintenance from {from} to {to}"),
                M::Weekly {
                    days,
                    start,
                    end,
                    time_zone,
                } => format!("in maintenance every {days} {start}-{end} ({time_zone})"),
            };
            println!("{set}: {who} {what}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("standby maintenance: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn engine_command(settings: &std::path::Path, action: EngineAction) -> anyhow::Result<ExitCode> {
    use standby::attach::cli::{self, Ask, CliError, Outcome};
    let ask = match action {
        EngineAction::Status => Ask::Status,
        EngineAction::Pause => Ask::Pause,
        EngineAction::Resume => Ask::Resume,
        EngineAction::Stop => Ask::Stop,
    };
    match cli::run(settings, ask) {
        Ok(Outcome::State(text)) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Stopped { pid }) => {
            println!("engine: process {pid} stopped");
            Ok(ExitCode::SUCCESS)
        }
        // Like `service status`: 3 is "not running", for scripts.
        Err(e @ CliError::NoEngine(_)) => {
            eprintln!("standby engine: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e) => {
            eprintln!("standby engine: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn check_config(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    match file::load(path) {
        Ok(settings) => {
            for warning in standby::model::validate::warnings(&settings) {
                eprintln!("{}: warning: {warning}", path.display());
            }
            println!(
                "{}: OK ({} server set(s))",
                path.display(),
                settings.server_sets.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn report(
    settings: &std::path::Path,
    (from, to): (&str, &str),
    format: &str,
    output: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use standby::store::{report::parse_bound, sla_export};
    let bounds = parse_bound(from, "--from", false)
        .and_then(|from| Ok((from, parse_bound(to, "--to", true)?)));
    let (from, to) = match bounds {
        Ok((from, to)) if to > from => (from, to),
        Ok(_) => {
            eprintln!("standby report: --to must come after --from");
            return Ok(ExitCode::from(1));
        }
        Err(e) => {
            eprintln!("standby report: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let format = if format == "html" {
        sla_export::Format::Html
    } else {
        sla_export::Format::Csv
    };
    let text = match sla_export::export(settings, from, to, format) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("standby report: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn import_v1(path: &std::path::Path, output: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    // A file that cannot be read or is not text is bad input (exit 1), like a broken one.
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return Ok(ExitCode::from(1));
        }
    };
    let xml = match file::utf8(bytes) {
        Ok(xml) => xml,
        Err(e) => {
            eprintln!(
                "{}: line {}, column {}: {e}",
                path.display(),
                e.line,
                e.column
            );
            return Ok(ExitCode::from(1));
        }
    };
    let imported = match standby::model::import_v1::import(&xml) {
        Ok(imported) => imported,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return Ok(ExitCode::from(1));
        }
    };
    for warning in &imported.warnings {
        eprintln!("{}: warning: {warning}", path.display());
    }
    let errors = standby::model::validate(&imported.settings);
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{}: {e}", path.display());
        }
        return Ok(ExitCode::from(1));
    }
    match output {
        Some(out) if out.exists() => {
            anyhow::bail!("{} exists already; not overwritten", out.display())
        }
        Some(out) => {
            file::save(out, &imported.settings)?;
            eprintln!(
                "{} server set(s) written to {}",
                imported.settings.server_sets.len(),
                out.display()
            );
        }
        None => print!("{}", imported.settings.to_ron()?),
    }
    Ok(ExitCode::SUCCESS)
}

fn service(command: ServiceCommand, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use standby::service::{self as svc, Action, Platform, Report, Scope};
    let (action, scope, dry_run) = match command {
        ServiceCommand::Install(c) => (Action::Install, c.scope, c.dry_run),
        ServiceCommand::Uninstall(c) => (Action::Uninstall, c.scope, c.dry_run),
        ServiceCommand::Start(s) => (Action::Start, s, false),
        ServiceCommand::Stop(s) => (Action::Stop, s, false),
        ServiceCommand::Status(s) => (Action::Status, s, false),
        ServiceCommand::Run => return run_windows_service(config),
    };
    let scope = if scope.user {
        Scope::User
    } else {
        Scope::System
    };
    let platform = Platform::current();
    let settings = config.unwrap_or_else(|| platform.default_settings(scope));
    let spec = svc::Spec {
        program: std::env::current_exe().context("cannot find this program's path")?,
        settings: std::path::absolute(&settings)
            .with_context(|| format!("{}: cannot make the path absolute", settings.display()))?,
        scope,
    };
    let result = if dry_run {
        let os = svc::DryRun {
            out: std::cell::RefCell::new(std::io::stdout()),
        };
        svc::perform(platform, action, &spec, &os)
    } else {
        svc::perform(platform, action, &spec, &svc::RealOs)
    };
    match result {
        Ok(Report::Done(said)) => {
            println!("standby service: {said}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Report::Status(status)) => {
            println!("standby service: {status}");
            Ok(ExitCode::from(status.exit_code()))
        }
        Err(e) => {
            eprintln!("standby service: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `standby service run`: the Windows service's own entry.
#[cfg(windows)]
fn run_windows_service(config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use standby::service::{Platform, Scope, windows_scm};
    let path = config.unwrap_or_else(|| Platform::Windows.default_settings(Scope::System));
    windows_scm::run_as_service(Box::new(move |stop| {
        let wait = move |_engine| {
            stop.wait();
            Ok(())
        };
        run(Some(path), Mode::Headless(Box::new(wait)))
            .map(|_| ())
            .map_err(|e| format!("{e:#}").into())
    }))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(windows))]
fn run_windows_service(_config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`service run` is how the Windows Service Control Manager starts Standby; \
         here the service manager runs `standby --headless`"
    )
}

/// The window, attached to the engine of its settings file (one is started, detached,
/// when none runs). Where it cannot attach (no local channel on this platform, or an
/// engine that does not start, e.g. on broken settings) it runs standalone and says why.
fn run_attached(config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use standby::attach::{AttachError, client};
    let path = config.unwrap_or_else(file::default_path);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("standby-attach")
        .enable_all()
        .build()
        .context("cannot start the attach runtime")?;
    let program = std::env::current_exe().context("cannot find this program's path")?;
    let attached = runtime.block_on(client::attach_or_start(
        &program,
        &path,
        std::sync::Arc::new(|| {}),
        std::time::Duration::from_secs(20),
    ));
    let link = match attached {
        Ok(link) => link,
        Err(e @ (AttachError::Unsupported | AttachError::Start(_))) => {
            tracing::warn!("running standalone (the engine inside this window): {e}");
            drop(runtime);
            return run(Some(path), Mode::Window);
        }
        Err(e) => return Err(e).context("cannot attach to the engine"),
    };
    tracing::info!(
        "attached to the engine of {} (process {})",
        path.display(),
        link.engine.pid
    );
    match standby::autostart::Autostart::for_this_user(&path) {
        Some(autostart) => {
            standby::autostart::spawn(link.client.clone(), autostart)
                .context("cannot start the autostart thread")?;
        }
        None => tracing::warn!("start at login: no home directory to register in"),
    }
    standby::ui::run(standby::ui::EngineLink::Attached {
        link,
        runtime: Some(runtime),
    })
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// The window on a remote engine (`--connect`), over its HTTP API.
fn run_remote(
    url: &str,
    password_file: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    use standby::attach::known_hosts::KnownHosts;
    use standby::attach::remote::Remote;
    let password = match password_file {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the password file {}", path.display()))?;
            Some(text.lines().next().unwrap_or_default().to_string())
        }
        None => std::env::var("STANDBY_PASSWORD").ok(),
    }
    .filter(|p| !p.is_empty())
    .map(standby::model::Secret::new);
    let known_hosts = match known_hosts {
        Some(path) => KnownHosts::at(&path),
        None => KnownHosts::for_this_user().context(
            "no configuration directory to keep the pinned certificates in (give --known-hosts)",
        )?,
    };
    let given = password.is_some();
    let remote = std::sync::Arc::new(Remote::new(url, password, known_hosts)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("standby-remote")
        .enable_all()
        .build()
        .context("cannot start the remote runtime")?;
    // Without a password, or with one the engine refused, the window asks for it (an API
    // without a password lets the first try in; a try without one is not a failed login).
    let link = match runtime.block_on(standby::attach::Link::open(
        remote.clone(),
        std::sync::Arc::new(|| {}),
    )) {
        Ok(link) => link,
        Err(e) if e.wants_password() => {
            tracing::info!("{url}: the login screen asks for the password");
            let shown = given.then_some(e);
            let login = standby::attach::login::Login::new(remote, runtime, shown);
            standby::ui::login::run(login)
                .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot attach to {url}")),
    };
    tracing::info!(
        "attached to the engine at {url} (process {})",
        link.engine.pid
    );
    standby::ui::run(standby::ui::EngineLink::Attached {
        link,
        runtime: Some(runtime),
    })
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// With a window, or headless until the stop (a signal, or the Windows SCM's stop).
enum Mode {
    Window,
    /// Waits for the stop; it is given the engine's snapshots, which end when the engine
    /// stops by itself (a window's *Shut down*).
    Headless(Box<dyn FnOnce(EngineWatch) -> anyhow::Result<()>>),
}

fn run(config: Option<PathBuf>, mode: Mode) -> anyhow::Result<ExitCode> {
    let headless = matches!(mode, Mode::Headless(_));
    // One crypto provider for every TLS user in the process (probes, mail, HTTP).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The default soft limit (1,024) is soon used up by polls, DNS clients and API
    // connections; the hard limit is ours for the asking.
    match standby::resources::raise_fd_limit() {
        Ok(limit) => tracing::info!("{limit}"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
    let path = config.unwrap_or_else(file::default_path);
    // Held until the process ends: one Standby per settings file. A second window start
    // brings the running window up instead.
    let _instance = match standby::store::instance::lock(&path) {
        Ok(lock) => lock,
        Err(e) if e.held && !headless => {
            return match standby::ui::desktop::second_start::ask_to_show(&path) {
                Ok(()) => {
                    eprintln!(
                        "Standby already runs on {}: its window is shown",
                        path.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => Err(anyhow::anyhow!("{e} (asking it to show its window: {why})")),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let (settings, settings_error) = match file::load_or_defaults(&path) {
        Ok(settings) => (settings, None),
        // Headless: a server's unit should fail loudly rather than run on defaults.
        Err(e) if headless => return Err(e).context("the settings cannot be used"),
        Err(e) => (standby::model::Settings::default(), Some(e.to_string())),
    };
    tracing::info!("settings: {}", path.display());
    // The database (outbox, history) lives beside the settings file.
    let database = standby::store::database_path(&path);
    let notify = standby::notify::NotifyConfig {
        database: Some(database.clone()),
        // Desktop notifications and sounds only with a window; headless never tries.
        desktop: !headless,
        ..standby::notify::NotifyConfig::default()
    };
    let engine = EngineHandle::spawn(EngineConfig {
        settings,
        database: Some(database),
        settings_path: Some(path.clone()),
        settings_error,
        notify,
    })
    .context("cannot start the engine")?;
    // The API follows its options (on, off, address) by itself; it ends with the engine.
    let _api = standby::api::spawn(engine.client()).context("cannot start the API thread")?;
    let _dns = standby::dnsserve::spawn(engine.client()).context("cannot start the DNS thread")?;
    // Windows attach to this engine over an owner-only socket beside the settings file.
    let attach = standby::attach::serve::spawn(engine.client(), &path)
        .context("cannot start the attach thread")?;
    if let Mode::Headless(wait_for_stop) = mode {
        wait_for_stop(engine.watch())?;
        engine.shutdown();
        standby::attach::serve::wait_for_end(&attach, std::time::Duration::from_secs(2));
        Ok(ExitCode::SUCCESS)
    } else {
        // Only the window registers itself to start at login.
        match standby::autostart::Autostart::for_this_user(&path) {
            Some(autostart) => {
                standby::autostart::spawn(engine.client(), autostart)
                    .context("cannot start the autostart thread")?;
            }
            None => tracing::warn!("start at login: no home directory to register in"),
        }
        standby::ui::run(standby::ui::EngineLink::Own(engine))
            .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
        Ok(ExitCode::SUCCESS)
    }
}

type EngineWatch = tokio::sync::watch::Receiver<std::sync::Arc<standby::engine::Snapshot>>;

/// Blocks until Ctrl-C (or SIGTERM on Unix), or until the engine stopped by itself.
fn wait_for_stop_signal(mut engine: EngineWatch) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot wait for signals")?;
    let stopped_by_itself = async move {
        // Every snapshot until the engine drops its end.
        while engine.changed().await.is_ok() {}
    };
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
                () = stopped_by_itself => Ok::<(), std::io::Error>(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                () = stopped_by_itself => Ok(()),
            }
        }
    })?;
    tracing::info!("stopping");
    Ok(())
}
