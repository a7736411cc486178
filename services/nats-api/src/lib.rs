//! trmm-nats-api: the agent plane. For now it connects to Postgres and NATS, reports readiness
//! and waits for shutdown; the NATS subscriptions plug into [`run`] once both are connected.

pub mod config;
mod deps;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use trmm_runtime::health::{self, Health};

pub use config::Config;

/// Name used in logs, metrics and as the NATS connection name.
pub const SERVICE: &str = "trmm-nats-api";

/// Runs the service until `shutdown` is cancelled; fails only on unusable configuration or a
/// listen address that cannot be bound (never because a dependency is down).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = Health::new(SERVICE);
    health.set_ready("postgres", false);
    health.set_ready("nats", false);
    let pool = trmm_db::connect(&config.database_url)
        .context("TRMM_DATABASE_URL is not a usable Postgres URL (expected postgres://user:password@host:port/database)")?;

    let listen = config.listen;
    let server = async {
        health::serve(listen, health.clone(), shutdown.clone()).await.with_context(|| {
            format!("serving the health endpoints on {listen} (set TRMM_NATS_API_LISTEN to a free address)")
        })
    };
    let work = async {
        let (pool, nats) = tokio::join!(
            deps::postgres(pool, &health, &shutdown),
            deps::nats(config.nats_url.clone(), &health, &shutdown)
        );
        if let (Some(_pool), Some(_nats)) = (pool, nats) {
            tracing::info!("connected to Postgres and NATS");
        }
        shutdown.cancelled().await;
        anyhow::Ok(())
    };
    tokio::try_join!(server, work)?;
    tracing::info!("stopped");
    Ok(())
}
