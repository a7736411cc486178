use std::process::ExitCode;

use clap::Parser;
use trmm_nats_api::{Config, SERVICE};
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
    if let Some(trmm_nats_api::config::Command::NatsConfig(args)) = &config.command {
        return trmm_nats_api::natsconf::run(args);
    }
    telemetry::init_tracing_with(SERVICE, &config.log);
    trmm_nats_api::run(config, shutdown::signal_token()).await
}
