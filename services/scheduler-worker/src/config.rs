//! Command-line flags and `TRMM_*` environment variables of trmm-worker.

use std::net::SocketAddr;

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
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_WORKER_LISTEN", default_value = "0.0.0.0:8003")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub log: LogArgs,
}
