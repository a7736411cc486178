//! trmm-nats-api: the agent plane. It serves the AgentGateway (gRPC) through which other services reach
//! agents, and tracks agent presence.

pub mod config;
mod deps;
mod disconnect;
pub mod gateway;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use trmm_runtime::health::{self, Health};

pub use config::Config;

/// How often agent presence is re-read from Postgres.
const PRESENCE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Name used in logs, metrics and as the NATS connection name.
pub const SERVICE: &str = "trmm-nats-api";

/// Runs the service until `shutdown` is cancelled; fails only on unusable configuration or a
/// listen address that cannot be bound (never because a dependency is down).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = Health::new(SERVICE);
    health.set_ready("postgres", false);
    health.set_ready("nats", false);
    let pool = trmm_db::connect(&config.database_url).context(
        "TRMM_DATABASE_URL is not a usable Postgres URL (expected postgres://user:password@host:port/database)",
    )?;

    let listen = config.listen;
    let server = async {
        health::serve(listen, health.clone(), shutdown.clone())
            .await
            .with_context(|| {
                format!("serving the health endpoints on {listen} (set TRMM_NATS_API_LISTEN to a free address)")
            })
    };
    let work = async {
        let (pool, nats) = tokio::join!(
            deps::postgres(pool, &health, &shutdown),
            deps::nats(config.nats_url.clone(), &health, &shutdown)
        );
        let (Some(pool), Some(nats)) = (pool, nats) else {
            return anyhow::Ok(());
        };
        tracing::info!("connected to Postgres and NATS");
        let presence = gateway::Presence::default();
        tokio::spawn(presence.clone().track(pool.clone(), PRESENCE_POLL, shutdown.clone()));
        let disconnect_nats = nats.clone();
        let gateway = gateway::Gateway::new(nats, presence, move |agent_id| {
            let nats = disconnect_nats.clone();
            Box::pin(async move { disconnect::agent(&nats, &agent_id).await })
        });
        gateway::serve(config.gateway_listen, gateway, shutdown.clone())
            .await
            .with_context(|| {
                format!(
                    "serving the AgentGateway on {} (set TRMM_GATEWAY_LISTEN to a free address)",
                    config.gateway_listen
                )
            })
    };
    tokio::try_join!(server, work)?;
    tracing::info!("stopped");
    Ok(())
}
