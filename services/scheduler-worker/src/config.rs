//! Command-line flags and `TRMM_*` environment variables of trmm-worker.

use std::net::SocketAddr;
use std::time::Duration;

use trmm_runtime::telemetry::LogArgs;

trmm_runtime::logging_service_config!(Config);

/// trmm-worker: runs the trmm-rs background jobs queued in Redis, recording results in Postgres.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-worker", version, about)]
pub struct Config {
    /// Postgres settings.
    #[command(flatten)]
    pub postgres: trmm_deps::PostgresArgs,
    /// Redis settings (the job queue).
    #[command(flatten)]
    pub redis: trmm_deps::RedisArgs,
    /// Redis key namespace; must match trmm-api's.
    #[command(flatten)]
    pub redis_keys: trmm_deps::RedisPrefixArgs,
    /// AgentGateway settings (jobs reach agents through it).
    #[command(flatten)]
    pub gateway: trmm_deps::GatewayArgs,
    /// Notification settings (the key that decrypts the SMTP password).
    #[command(flatten)]
    pub notify: trmm_notify::NotifyArgs,
    /// How many agents of a bulk run are waited on at the same time (sent in PublishMany batches of up to 500).
    #[arg(long, env = "TRMM_BULK_CONCURRENCY", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..))]
    pub bulk_concurrency: u16,
    /// How long a command queued for an offline agent waits before it expires, e.g. `24h`, `90m`, `7d`.
    #[arg(long, env = "TRMM_PENDING_ACTION_TTL", default_value = "24h", value_parser = trmm_runtime::duration::parse)]
    pub pending_action_ttl: Duration,
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_WORKER_LISTEN", default_value = "0.0.0.0:8003")]
    pub listen: SocketAddr,
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod shared_settings {
    use trmm_testkit::cli::parse_with_help;

    use super::Config;

    #[test]
    fn parses_the_shared_dependency_flags_and_lists_their_variables() {
        let config: Config = parse_with_help(
            &[
                "trmm-worker",
                "--database-url",
                "postgres://u@db:5432/x",
                "--database-pool-size",
                "7",
                "--redis-url",
                "redis://r:6379/1",
                "--redis-prefix",
                "p1",
                "--gateway-url",
                "http://g:50051",
            ],
            &[
                "TRMM_DATABASE_URL",
                "TRMM_DATABASE_POOL_SIZE",
                "TRMM_REDIS_URL",
                "TRMM_REDIS_PREFIX",
                "TRMM_GATEWAY_URL",
                "Most Postgres connections this process holds",
            ],
            &[],
        );
        assert_eq!(config.postgres.database_url, "postgres://u@db:5432/x");
        assert_eq!(config.postgres.database_pool_size, 7);
        assert_eq!(config.redis.redis_url, "redis://r:6379/1");
        assert_eq!(config.redis_keys.redis_prefix, "p1");
        assert_eq!(config.gateway.gateway_url, "http://g:50051");
    }
}
