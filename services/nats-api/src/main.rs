use trmm_nats_api::config::{Command, Config};

fn main() -> std::process::ExitCode {
    trmm_runtime::service::main(trmm_nats_api::SERVICE, |config: Config, shutdown| async move {
        match &config.command {
            Some(Command::NatsConfig(args)) => trmm_nats_api::natsconf::run(args),
            None => trmm_nats_api::run(config, shutdown).await,
        }
    })
}
