//! Command-line flags and `TRMM_*` environment variables of trmm-beat.

use std::net::SocketAddr;

use trmm_runtime::telemetry::LogArgs;

/// trmm-beat: enqueues the periodic trmm-rs jobs into the Redis queue on their schedule.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-beat", version, about)]
pub struct Config {
    /// Redis URL of the job queue, e.g. `redis://127.0.0.1:6379/0`.
    #[arg(long, env = "TRMM_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_BEAT_LISTEN", default_value = "0.0.0.0:8004")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub log: LogArgs,
}
