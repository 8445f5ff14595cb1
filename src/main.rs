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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let outcome = match cli.command {
        Some(Action::CheckConfig { file }) => check_config(&file),
        None => run(cli.config, cli.headless),
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
    let filter = match "suppaftp=debug".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn check_config(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    match file::load(path) {
        Ok(settings) => {
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

fn run(config: Option<PathBuf>, headless: bool) -> anyhow::Result<ExitCode> {
    // One crypto provider for every TLS user in the process (probes, mail, HTTP).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let path = config.unwrap_or_else(file::default_path);
    let (settings, settings_error) = match file::load_or_defaults(&path) {
        Ok(settings) => (settings, None),
        // Headless: a server's unit should fail loudly rather than run on defaults.
        Err(e) if headless => return Err(e).context("the settings cannot be used"),
        Err(e) => (standby::model::Settings::default(), Some(e.to_string())),
    };
    tracing::info!("settings: {}", path.display());
    let engine = EngineHandle::spawn(EngineConfig {
        settings,
        settings_path: Some(path),
        settings_error,
    })
    .context("cannot start the engine")?;
    if headless {
        wait_for_stop_signal()?;
        engine.shutdown();
        Ok(ExitCode::SUCCESS)
    } else {
        standby::ui::run(engine).map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Blocks until Ctrl-C (or SIGTERM on Unix).
fn wait_for_stop_signal() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot wait for signals")?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    })?;
    tracing::info!("stopping");
    Ok(())
}
