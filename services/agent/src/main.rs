//! trmm-agent binary: parses the command line and runs `install`, `svc` or `uninstall`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use trmm_agent::cli::{Cli, Command};
use trmm_agent::service::{self, Removal};

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log)?;
    // One thread is plenty for an agent that mostly waits; file reads go to the blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("trmm-agent")
        .build()
        .context("Failed to start the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Install(args) => {
            let config = trmm_agent::enroll::install(&args).await?;
            tracing::info!(agent_id = %config.agent_id, "installation was successful");
            Ok(())
        }
        Command::Svc(args) => {
            let shutdown = trmm_runtime::shutdown::signal_token();
            trmm_agent::svc::run(&args.config, shutdown).await
        }
        Command::Uninstall(args) => {
            let removal = Removal {
                config_path: args.config,
                systemd_dir: args.systemd_dir,
                manage_service: !args.no_service,
            };
            service::uninstall(&removal, false).await?;
            tracing::info!("trmm-agent uninstalled");
            Ok(())
        }
    }
}

fn init_tracing(filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .with_context(|| format!("--log / TRMM_AGENT_LOG {filter:?} is not a valid filter; try `info` or `debug`"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    Ok(())
}
