use std::process::ExitCode;

use clap::Parser;
use trmm_beat::{Config, SERVICE};
use trmm_runtime::{shutdown, telemetry};

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{SERVICE}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn try_main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init_tracing_with(SERVICE, &config.log);
    trmm_beat::run(config, shutdown::signal_token()).await
}
