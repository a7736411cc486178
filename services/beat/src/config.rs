//! Command-line flags and `TRMM_*` environment variables of trmm-beat.

use std::net::SocketAddr;
use std::time::Duration;

use trmm_runtime::telemetry::LogArgs;

trmm_runtime::logging_service_config!(Config);

/// trmm-beat: enqueues the periodic trmm-rs jobs into the Redis queue on their schedule.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-beat", version, about)]
pub struct Config {
    /// Redis settings.
    #[command(flatten)]
    pub redis: trmm_deps::RedisArgs,
    /// Redis key namespace; must match trmm-worker's.
    #[command(flatten)]
    pub redis_keys: trmm_deps::RedisPrefixArgs,
    /// How long the leader's lease lasts unrenewed, e.g. `30s`: a standby replica takes over at most this long
    /// after the leader dies.
    #[arg(long, env = "TRMM_BEAT_LEASE", default_value = "30s", value_parser = trmm_runtime::duration::parse)]
    pub lease: Duration,
    /// How often a replica renews or tries to take the lease and the leader enqueues what fell due, e.g. `1s`;
    /// at most a third of the lease.
    #[arg(long, env = "TRMM_BEAT_TICK", default_value = "1s", value_parser = trmm_runtime::duration::parse)]
    pub tick: Duration,
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_BEAT_LISTEN", default_value = "0.0.0.0:8004")]
    pub listen: SocketAddr,
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
}

/// A setting trmm-beat cannot work with.
#[derive(Debug, thiserror::Error)]
#[error("TRMM_BEAT_TICK ({tick:?}) must be at most a third of TRMM_BEAT_LEASE ({lease:?}), or the lease lapses between renewals")]
pub struct TickTooLong {
    tick: Duration,
    lease: Duration,
}

impl Config {
    /// Refuses a tick that would let the leader's lease lapse between two renewals.
    pub fn check(&self) -> Result<(), TickTooLong> {
        if self.tick * 3 > self.lease {
            return Err(TickTooLong {
                tick: self.tick,
                lease: self.lease,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use trmm_testkit::cli::parse_with_help;

    use super::*;

    #[test]
    fn parses_the_shared_redis_flags_and_lists_their_variables() {
        let args = ["trmm-beat", "--redis-url", "redis://r:6379/1", "--redis-prefix", "p1"];
        let listed = [
            "TRMM_REDIS_URL",
            "TRMM_REDIS_PREFIX",
            "TRMM_BEAT_LEASE",
            "TRMM_BEAT_TICK",
        ];
        let config: Config = parse_with_help(&args, &listed, &["TRMM_DATABASE_URL"]);
        assert_eq!(config.redis.redis_url, "redis://r:6379/1");
        assert_eq!(config.redis_keys.redis_prefix, "p1");
        assert_eq!(
            (config.lease, config.tick),
            (Duration::from_secs(30), Duration::from_secs(1))
        );
        assert!(config.check().is_ok());
    }

    #[test]
    fn a_tick_over_a_third_of_the_lease_is_refused() {
        let config = Config::try_parse_from(["trmm-beat", "--lease", "2s", "--tick", "700ms"]).unwrap();
        let error = config.check().unwrap_err().to_string();
        assert!(
            error.starts_with("TRMM_BEAT_TICK (700ms) must be at most a third of TRMM_BEAT_LEASE (2s)"),
            "{error}"
        );
        let config = Config::try_parse_from(["trmm-beat", "--lease", "3s", "--tick", "1s"]).unwrap();
        assert!(config.check().is_ok());
    }
}
