//! The `main` of every trmm-rs server binary: parse the config, start logging, start the runtime, turn
//! SIGTERM/SIGINT into a shutdown token, run the service until it returns, and map the outcome to an exit code.
//!
//! ```no_run
//! # #[derive(clap::Parser)] struct Config { #[command(flatten)] log: trmm_runtime::telemetry::LogArgs }
//! # impl trmm_runtime::service::ServiceConfig for Config {
//! #     fn log(&self) -> Option<&trmm_runtime::telemetry::LogArgs> { Some(&self.log) }
//! # }
//! # async fn run(_: Config, _: tokio_util::sync::CancellationToken) -> Result<(), std::io::Error> { Ok(()) }
//! fn main() -> std::process::ExitCode {
//!     trmm_runtime::service::main("trmm-example", run)
//! }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::shutdown;
use crate::telemetry::{self, LogArgs};

/// What the skeleton needs to know about a service's parsed command line.
pub trait ServiceConfig: clap::Parser {
    /// Logging settings; None for a one-shot subcommand whose only output is its own.
    fn log(&self) -> Option<&LogArgs>;

    /// Whether this invocation runs until it is told to stop. Only then do SIGTERM and SIGINT become a
    /// shutdown request; a one-shot subcommand (a prompt, a migration) keeps the default of dying on Ctrl-C.
    fn runs_until_shutdown(&self) -> bool {
        true
    }
}

/// Implements [`ServiceConfig`] for a config that always runs until shutdown and logs by its `log` field.
#[macro_export]
macro_rules! logging_service_config {
    ($config:ty) => {
        impl $crate::service::ServiceConfig for $config {
            fn log(&self) -> Option<&$crate::telemetry::LogArgs> {
                Some(&self.log)
            }
        }
    };
}

/// Parses `C` from the command line and environment, then runs it with [`run_parsed`].
pub fn main<C, F, Fut, E>(service: &'static str, run: F) -> ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    run_parsed(service, C::parse(), run)
}

/// Starts logging and a multi-threaded runtime, then runs `run(config, shutdown)` to completion. An error is
/// printed to stderr as `SERVICE: error: cause: ...` and gives a failing exit code.
pub fn run_parsed<C, F, Fut, E>(service: &'static str, config: C, run: F) -> ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    if let Some(log) = config.log() {
        telemetry::init_tracing_with(service, log);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{service}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let stop = match config.runs_until_shutdown() {
            true => shutdown::signal_token(),
            false => CancellationToken::new(),
        };
        run(config, stop).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{service}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Config {
        /// Fail with this message.
        #[arg(long)]
        fail: Option<String>,
        #[command(flatten)]
        log: LogArgs,
    }

    impl ServiceConfig for Config {
        fn log(&self) -> Option<&LogArgs> {
            None
        }
    }

    async fn run(config: Config, shutdown: CancellationToken) -> Result<(), String> {
        assert!(!shutdown.is_cancelled());
        assert!(tokio::runtime::Handle::try_current().is_ok());
        match config.fail {
            Some(message) => Err(message),
            None => Ok(()),
        }
    }

    #[test]
    fn exit_code_follows_the_outcome_of_run() {
        let ok = Config::try_parse_from(["svc"]).unwrap();
        assert_eq!(
            format!("{:?}", run_parsed("svc", ok, run)),
            format!("{:?}", ExitCode::SUCCESS)
        );
        let failing = Config::try_parse_from(["svc", "--fail", "no"]).unwrap();
        assert_eq!(
            format!("{:?}", run_parsed("svc", failing, run)),
            format!("{:?}", ExitCode::FAILURE)
        );
        assert_eq!(
            Config::try_parse_from(["svc"]).unwrap().log.filter,
            telemetry::DEFAULT_FILTER
        );
    }
}
