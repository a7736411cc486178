//! Command-line flags and `TRMM_*` environment variables of trmm-beat.

use std::net::SocketAddr;

use trmm_runtime::service::ServiceConfig;
use trmm_runtime::telemetry::LogArgs;

/// trmm-beat: enqueues the periodic trmm-rs jobs into the Redis queue on their schedule.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-beat", version, about)]
pub struct Config {
    /// Redis settings.
    #[command(flatten)]
    pub redis: trmm_deps::RedisArgs,
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_BEAT_LISTEN", default_value = "0.0.0.0:8004")]
    pub listen: SocketAddr,
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
}

impl ServiceConfig for Config {
    fn log(&self) -> Option<&LogArgs> {
        Some(&self.log)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Config;

    #[test]
    fn parses_the_shared_redis_flag_and_lists_its_variable() {
        let config = Config::try_parse_from(["trmm-beat", "--redis-url", "redis://r:6379/1"]).unwrap();
        assert_eq!(config.redis.redis_url, "redis://r:6379/1");
        let help = Config::command().render_long_help().to_string();
        assert!(help.contains("TRMM_REDIS_URL"), "{help}");
        assert!(!help.contains("TRMM_DATABASE_URL"), "{help}");
    }
}
