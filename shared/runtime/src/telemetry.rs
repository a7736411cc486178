//! Global `tracing` subscriber setup.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Filter used when `TRMM_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info";

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging flags shared by every binary; `#[command(flatten)]` it into a clap config.
#[derive(Clone, Debug, clap::Args)]
pub struct LogArgs {
    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `info,trmm_db=debug`.
    #[arg(long = "log", env = "TRMM_LOG", default_value = DEFAULT_FILTER, value_parser = parse_filter)]
    pub filter: String,
    /// Log output format: `text` for people, `json` for log collectors.
    #[arg(long, env = "TRMM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Installs the global tracing subscriber (TRMM_LOG filter, TRMM_LOG_FORMAT text|json).
///
/// Reads the environment directly; binaries with a clap config should prefer [`init_tracing_with`]
/// so that `--log` and `--log-format` work too. An unusable value falls back to the default and
/// is reported as a warning rather than stopping the service.
pub fn init_tracing(service: &'static str) {
    let raw_filter = std::env::var("TRMM_LOG").ok();
    let filter = raw_filter.as_deref().and_then(|f| parse_filter(f).ok());
    let raw_format = std::env::var("TRMM_LOG_FORMAT").ok();
    let format = match raw_format.as_deref() {
        Some("json") => Some(LogFormat::Json),
        Some("text") | None => Some(LogFormat::Text),
        Some(_) => None,
    };
    let args = LogArgs {
        filter: filter.clone().unwrap_or_else(|| DEFAULT_FILTER.to_owned()),
        log_format: format.unwrap_or_default(),
    };
    init_tracing_with(service, &args);
    if raw_filter.is_some() && filter.is_none() {
        tracing::warn!(
            value = raw_filter,
            "TRMM_LOG is not a valid tracing filter; using {DEFAULT_FILTER}"
        );
    }
    if format.is_none() {
        tracing::warn!(
            value = raw_format,
            "TRMM_LOG_FORMAT must be `text` or `json`; using text"
        );
    }
}

/// Installs the global tracing subscriber from parsed [`LogArgs`].
///
/// A second call in the same process (tests running services in-process) keeps the first
/// subscriber.
pub fn init_tracing_with(service: &'static str, args: &LogArgs) {
    // `parse_filter` validated the string when it came through clap; the fallback only guards
    // hand-built `LogArgs`.
    let filter = EnvFilter::try_new(&args.filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match args.log_format {
        LogFormat::Text => builder.try_init().is_ok(),
        LogFormat::Json => builder.json().try_init().is_ok(),
    };
    if installed {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
    }
}

/// Checks a tracing filter at argument-parsing time so a typo fails fast with clap's message.
fn parse_filter(filter: &str) -> Result<String, String> {
    EnvFilter::try_new(filter)
        .map(|_| filter.to_owned())
        .map_err(|e| format!("{e} (examples: `info`, `warn,trmm_api=debug`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_validation_accepts_directives_and_rejects_garbage() {
        assert!(parse_filter("info,trmm_db=debug").is_ok());
        assert!(parse_filter("info,[=").is_err());
    }
}
