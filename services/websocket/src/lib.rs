//! trmm-websocket: the dashboard's live channels. Serves `/ws/dashinfo/` (agent counts every 30 s, see
//! [`dashinfo`]), `/ws/events/` (changes as they happen, see [`events`]), `/ws/agent/<agent_id>/cmd/` (streamed
//! command output, see [`cmd`]) and the health endpoints; authenticates sockets by dashboard token against
//! Postgres and reaches agents, and the events other services publish, through the AgentGateway.

mod auth;
pub mod cmd;
pub mod config;
pub mod dashinfo;
pub mod events;
mod hub;
mod live;

use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio_util::sync::CancellationToken;
use trmm_rpc::client::GatewayClient;
use trmm_runtime::clock::{SharedClock, SystemClock};
use trmm_runtime::health::{self, Health};

pub use config::Config;

/// Name used in logs and metrics.
pub const SERVICE: &str = "trmm-websocket";

/// Seconds open connections get to finish once shutdown starts.
const SHUTDOWN_GRACE_SECS: u64 = 5;

/// What every socket needs.
#[derive(Clone)]
pub struct Ctx {
    /// Postgres.
    pub pool: trmm_db::Pool,
    /// The AgentGateway.
    pub gateway: GatewayClient,
    /// Take the client IP from proxy headers.
    pub trust_proxy_headers: bool,
    /// Session expiry is judged against this clock.
    pub clock: SharedClock,
    /// Where finished command runs are announced.
    pub events: trmm_ops::events::Events,
    /// The dashboard events other services publish.
    hub: hub::Hub,
    /// Ends every socket's loop.
    pub shutdown: CancellationToken,
}

/// Runs the HTTP server until `shutdown` is cancelled; fails only on unusable configuration or a
/// listen address that cannot be bound (never because Postgres is down).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = Health::new(SERVICE);
    health.set_ready("postgres", false);
    let pool = config.postgres.pool()?;
    let gateway = config.gateway.client()?;
    let clock = SystemClock::shared();
    let events = trmm_ops::events::Events::spawn(gateway.clone(), clock.clone(), shutdown.clone()).registered(&health);
    let ctx = web::Data::new(Ctx {
        pool: pool.clone(),
        hub: hub::Hub::start(gateway.clone(), shutdown.clone()),
        gateway,
        trust_proxy_headers: config.proxy.trust_proxy_headers,
        clock,
        events,
        shutdown: shutdown.clone(),
    });

    let listen = config.listen;
    let app_health = health.clone();
    let server = HttpServer::new(move || App::new().app_data(ctx.clone()).configure(routes(app_health.clone())))
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .bind(listen)
        .with_context(|| format!("listening on {listen} (set TRMM_WEBSOCKET_LISTEN to a free address)"))?
        .run();
    tracing::info!(%listen, "listening");
    let handle = server.handle();
    let work = async {
        if let Some(_pool) = trmm_deps::postgres::connect(pool, &health, &shutdown).await {
            tracing::info!("connected to Postgres");
        }
        shutdown.cancelled().await;
        handle.stop(true).await;
        anyhow::Ok(())
    };
    tokio::try_join!(async { server.await.context("running the HTTP server") }, work)?;
    tracing::info!("stopped");
    Ok(())
}

/// Every route the service serves (the websocket routes need a [`Ctx`] in the app data).
pub fn routes(health: Health) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.configure(health::configure(health))
            .route("/ws/dashinfo/", web::get().to(dashinfo::socket))
            .route("/ws/events/", web::get().to(events::socket))
            .route("/ws/agent/{agent_id}/cmd/", web::get().to(cmd::socket));
    }
}
