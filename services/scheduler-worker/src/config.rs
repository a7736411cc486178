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
    #[arg(long, env = "TRMM_PENDING_ACTION_TTL", default_value = "24h", value_parser = parse_duration)]
    pub pending_action_ttl: Duration,
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_WORKER_LISTEN", default_value = "0.0.0.0:8003")]
    pub listen: SocketAddr,
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Parses `30s`, `90m`, `24h`, `7d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use e.g. 30s, 90m, 24h or 7d"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => return Err(format!("unknown unit {other:?} in {text:?}; use s, m, h or d")),
    };
    if secs == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
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
