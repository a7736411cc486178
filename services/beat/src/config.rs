//! Command-line flags and `TRMM_*` environment variables of trmm-beat.

use std::net::SocketAddr;

use trmm_runtime::telemetry::LogArgs;

trmm_runtime::logging_service_config!(Config);

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

#[cfg(test)]
mod tests {
    use trmm_testkit::cli::parse_with_help;

    use super::Config;

    #[test]
    fn parses_the_shared_redis_flag_and_lists_its_variable() {
        let args = ["trmm-beat", "--redis-url", "redis://r:6379/1"];
        let config: Config = parse_with_help(&args, &["TRMM_REDIS_URL"], &["TRMM_DATABASE_URL"]);
        assert_eq!(config.redis.redis_url, "redis://r:6379/1");
    }
}
