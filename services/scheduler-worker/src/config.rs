//! Command-line flags and `TRMM_*` environment variables of trmm-worker.

use std::net::SocketAddr;
use std::time::Duration;

use trmm_runtime::telemetry::LogArgs;

/// trmm-worker: runs the trmm-rs background jobs queued in Redis, recording results in Postgres.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-worker", version, about)]
pub struct Config {
    /// Postgres URL, e.g. `postgres://trmm:PASSWORD@127.0.0.1:5432/trmm`.
    #[arg(
        long,
        env = "TRMM_DATABASE_URL",
        default_value = "postgres://trmm@127.0.0.1:5432/trmm"
    )]
    pub database_url: String,
    /// Redis URL of the job queue, e.g. `redis://127.0.0.1:6379/0`.
    #[arg(long, env = "TRMM_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Prefix of every Redis key this deployment uses; must match trmm-api's.
    #[arg(long, env = "TRMM_REDIS_PREFIX", default_value = "trmm")]
    pub redis_prefix: String,
    /// URL of the AgentGateway gRPC service (served by trmm-nats-api), through which jobs reach agents.
    #[arg(long, env = "TRMM_GATEWAY_URL", default_value = "http://127.0.0.1:50051")]
    pub gateway_url: String,
    /// How many agents of a bulk run are waited on at the same time (sent in PublishMany batches of up to 500).
    #[arg(long, env = "TRMM_BULK_CONCURRENCY", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..))]
    pub bulk_concurrency: u16,
    /// How long a command queued for an offline agent waits before it expires, e.g. `24h`, `90m`, `7d`.
    #[arg(long, env = "TRMM_PENDING_ACTION_TTL", default_value = "24h", value_parser = parse_duration)]
    pub pending_action_ttl: Duration,
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_WORKER_LISTEN", default_value = "0.0.0.0:8003")]
    pub listen: SocketAddr,
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
