//! trmm-nats-api: the agent plane. It serves the AgentGateway (gRPC) through which other services reach
//! agents, tracks agent presence, and ingests agent telemetry into Postgres.

mod callout;
pub mod config;
mod disconnect;
pub mod gateway;
pub mod ingest;
pub mod natsconf;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use trmm_runtime::clock::{SharedClock, SystemClock};
use trmm_runtime::health::{self, Health};

pub use config::Config;

/// Name used in logs, metrics and as the NATS connection name.
pub const SERVICE: &str = "trmm-nats-api";
/// The metric counting dashboard events lost on the way (every service that publishes them has one).
const EVENTS_DROPPED: &str = "trmm_events_dropped";

/// Runs the service until `shutdown` is cancelled; fails only on unusable configuration or a
/// listen address that cannot be bound (never because a dependency is down).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = Health::new(SERVICE);
    health.set_ready("postgres", false);
    health.set_ready("nats", false);
    let ingest_metrics = ingest::Metrics::default();
    ingest_metrics.register(&health);
    let pool = config.postgres.pool()?;
    let nats_url = &config.nats.nats_url;
    let clock = SystemClock::shared();

    let auth = &config.nats_auth;
    let callout = callout::Callout::from_args(auth, nats_url, pool.clone(), clock.clone())?;
    if let Some((callout, _)) = &callout {
        tracing::info!(issuer = %callout.issuer(), "NATS auth: serving the auth callout; agents are checked against Postgres");
    } else {
        tracing::warn!(
            "NATS auth: no auth callout (TRMM_NATS_AUTH_PASSWORD unset); only for a nats-server without auth"
        );
    }
    let (system_events, system_events_rx) = tokio::sync::mpsc::unbounded_channel();
    let system = system_account(auth, nats_url, system_events).await?;
    let presence = start_presence(
        system.as_ref(),
        system_events_rx,
        auth,
        clock.clone(),
        &health,
        &shutdown,
    );
    let app_credentials = auth.nats_password.clone().map(|p| (auth.nats_user.clone(), p));
    let callout = async {
        match callout {
            Some((callout, connection)) => callout.serve(connection, health.clone(), shutdown.clone()).await,
            None => Ok(()),
        }
    };

    let server = health::serve_setting(config.listen, "TRMM_NATS_API_LISTEN", health.clone(), shutdown.clone());
    let server = async { anyhow::Ok(server.await?) };
    let work = async {
        let (pool, nats) = tokio::join!(
            trmm_deps::postgres::connect(pool, &health, &shutdown),
            trmm_deps::nats::connect(SERVICE, nats_url.clone(), app_credentials, &health, &shutdown)
        );
        let (Some(pool), Some(nats)) = (pool, nats) else {
            return anyhow::Ok(());
        };
        tracing::info!("connected to Postgres and NATS");
        let ingest_options = ingest::Options {
            max_message_bytes: config.max_telemetry_bytes,
            clock,
            ..ingest::Options::default()
        };
        // A child token, so that a failing gateway also stops (and flushes) the ingestion.
        let ingest_stop = shutdown.child_token();
        let ingest = ingest::spawn(&nats, pool.clone(), ingest_options, ingest_metrics, ingest_stop.clone())
            .await
            .context("subscribing to agent telemetry on NATS")?;
        let dropped = prometheus_client::metrics::counter::Counter::default();
        health.register(
            EVENTS_DROPPED,
            "Presence changes not announced as dashboard events (Postgres or NATS unavailable, or too many at once)",
            dropped.clone(),
        );
        let announce = gateway::announce(presence.clone(), nats.clone(), pool.clone(), dropped, shutdown.clone());
        tokio::spawn(announce);
        let gateway = gateway::Gateway::new(nats, presence, disconnector(system));
        let served = gateway::serve(config.gateway_listen, gateway, shutdown.clone())
            .await
            .with_context(|| {
                format!(
                    "serving the AgentGateway on {} (set TRMM_GATEWAY_LISTEN to a free address)",
                    config.gateway_listen
                )
            });
        // Pending heartbeats are written before run returns.
        ingest_stop.cancel();
        let _ = ingest.await;
        served
    };
    tokio::try_join!(server, work, callout)?;
    tracing::info!("stopped");
    Ok(())
}

/// The NATS system-account connection (presence events, CONNZ, KICK), when its password is set.
async fn system_account(
    auth: &config::NatsAuthArgs,
    nats_url: &async_nats::ServerAddr,
    events: tokio::sync::mpsc::UnboundedSender<async_nats::Event>,
) -> anyhow::Result<Option<async_nats::Client>> {
    let Some(password) = &auth.nats_system_password else {
        tracing::warn!(
            "no NATS system account (TRMM_NATS_SYSTEM_PASSWORD unset): agent presence is not tracked, \
             the AgentGateway pings agents before work that must know they are there"
        );
        return Ok(None);
    };
    let client = disconnect::system_client(nats_url, &auth.nats_system_user, password, events)
        .await
        .context("connecting to the NATS system account")?;
    Ok(Some(client))
}

/// Presence, tracked from the system account when there is one; its watch streams end at shutdown (or the
/// gateway's graceful shutdown would wait for them).
fn start_presence(
    system: Option<&async_nats::Client>,
    events: tokio::sync::mpsc::UnboundedReceiver<async_nats::Event>,
    auth: &config::NatsAuthArgs,
    clock: SharedClock,
    health: &Health,
    shutdown: &CancellationToken,
) -> gateway::Presence {
    let presence = match system {
        Some(system) => {
            let presence = gateway::Presence::tracked().with_clock(clock);
            // Not ready until the first snapshot: until then the gateway cannot tell who is connected.
            health.set_ready(gateway::PRESENCE_DEPENDENCY, false);
            let tracking = gateway::Tracking {
                account: auth.nats_agent_account.clone(),
                services: vec![
                    auth.nats_user.clone(),
                    auth.nats_auth_user.clone(),
                    auth.nats_system_user.clone(),
                ],
            };
            let (system, health, shutdown) = (system.clone(), health.clone(), shutdown.clone());
            tokio::spawn(gateway::track(
                presence.clone(),
                system,
                events,
                tracking,
                health,
                shutdown,
            ));
            presence
        }
        None => gateway::Presence::default().with_clock(clock),
    };
    let (stopping, shutdown) = (presence.clone(), shutdown.clone());
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopping.stop();
    });
    presence
}

/// How the gateway drops a deleted agent's connections: through the system account.
fn disconnector(
    system: Option<async_nats::Client>,
) -> impl Fn(String) -> futures_util::future::BoxFuture<'static, Result<u32, String>> + Send + Sync + 'static {
    move |agent_id| {
        let system = system.clone();
        Box::pin(async move {
            match system {
                Some(system) => disconnect::agent(&system, &agent_id).await,
                None => Err("disconnecting agents needs the NATS system account (TRMM_NATS_SYSTEM_PASSWORD)".into()),
            }
        })
    }
}
