//! trmm-worker: runs queued background jobs. For now it connects to Postgres and Redis, reports
//! readiness and waits for shutdown; the job handlers plug into [`run`] once both are connected.

pub mod config;
mod deps;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use trmm_runtime::health::{self, Health};

pub use config::Config;

/// Name used in logs and metrics.
pub const SERVICE: &str = "trmm-worker";

/// Runs the worker until `shutdown` is cancelled; fails only on unusable configuration or a
/// listen address that cannot be bound (never because a dependency is down).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = Health::new(SERVICE);
    health.set_ready("postgres", false);
    health.set_ready("redis", false);
    let pool = trmm_db::connect(&config.database_url).context(
        "TRMM_DATABASE_URL is not a usable Postgres URL (expected postgres://user:password@host:port/database)",
    )?;
    let redis = redis::Client::open(config.redis_url.as_str())
        .context("TRMM_REDIS_URL is not a usable Redis URL (expected redis://host:port/db)")?;

    let listen = config.listen;
    let server = async {
        health::serve(listen, health.clone(), shutdown.clone())
            .await
            .with_context(|| {
                format!("serving the health endpoints on {listen} (set TRMM_WORKER_LISTEN to a free address)")
            })
    };
    let work = async {
        let (pool, redis) = tokio::join!(
            deps::postgres(pool, &health, &shutdown),
            deps::redis(redis, &health, &shutdown)
        );
        if let (Some(_pool), Some(_redis)) = (pool, redis) {
            tracing::info!("connected to Postgres and Redis");
        }
        shutdown.cancelled().await;
        anyhow::Ok(())
    };
    tokio::try_join!(server, work)?;
    tracing::info!("stopped");
    Ok(())
}
