//! trmm-worker: runs queued background jobs. Once Postgres and Redis are connected it consumes bulk runs,
//! emailed script runs and the periodic jobs trmm-beat enqueues (apalis on Redis), and runs commands queued for
//! offline agents when they come back, reaching agents through the AgentGateway.

mod bulk;
pub mod config;
mod debug_log;
mod notify;
mod pending;
mod periodic;
mod queue;
mod record;
mod recovery;
mod script_email;

use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use trmm_runtime::clock::{SharedClock, SystemClock};
use trmm_runtime::health::{self, Health};

pub use config::Config;

/// Name used in logs and metrics.
pub const SERVICE: &str = "trmm-worker";

/// Runs the worker on the wall clock until `shutdown` is cancelled; see [`run_with_clock`].
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with_clock(config, SystemClock::shared(), shutdown).await
}

/// Runs the worker with time read from `clock` until `shutdown` is cancelled; fails only on unusable
/// configuration or a listen address that cannot be bound (never because a dependency is down).
pub async fn run_with_clock(config: Config, clock: SharedClock, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = Health::new(SERVICE);
    health.set_ready("postgres", false);
    health.set_ready("redis", false);
    let pool = config.postgres.pool()?;
    let redis = config.redis.client()?;
    let gateway = config.gateway.client()?;
    let notifier = config.notify.notifier()?;

    let server = health::serve_setting(config.listen, "TRMM_WORKER_LISTEN", health.clone(), shutdown.clone());
    let server = async { anyhow::Ok(server.await?) };
    let work = async {
        let (pool, redis) = tokio::join!(
            trmm_deps::postgres::connect(pool, &health, &shutdown),
            trmm_deps::redis::connect(redis, &health, &shutdown)
        );
        let (Some(pool), Some(redis)) = (pool, redis) else {
            return anyhow::Ok(());
        };
        tracing::info!("connected to Postgres and Redis");
        let parts = Parts {
            gateway,
            notifier,
            pool,
            redis,
            clock,
        };
        serve(&config, parts, &health, shutdown.clone()).await;
        anyhow::Ok(())
    };
    tokio::try_join!(server, work)?;
    tracing::info!("stopped");
    Ok(())
}

/// What the queues' consumers work with, once connected.
struct Parts {
    gateway: trmm_rpc::client::GatewayClient,
    notifier: trmm_notify::Notifier,
    pool: trmm_db::Pool,
    redis: ConnectionManager,
    clock: SharedClock,
}

/// Consumes every queue until `shutdown`.
async fn serve(config: &Config, parts: Parts, health: &Health, shutdown: CancellationToken) {
    let Parts {
        gateway,
        notifier,
        pool,
        redis,
        clock,
    } = parts;
    let prefix = config.redis_keys.redis_prefix.clone();
    let events = trmm_ops::events::Events::spawn(gateway.clone(), clock.clone(), shutdown.clone()).registered(health);
    let retries = prometheus_client::metrics::counter::Counter::default();
    health.register(
        "trmm_bulk_retries",
        "Bulk run attempts that failed transiently (agent gateway unreachable) and were retried",
        retries.clone(),
    );
    let bulk = bulk::BulkContext {
        pool: pool.clone(),
        gateway: gateway.clone(),
        concurrency: usize::from(config.bulk_concurrency),
        shutdown: shutdown.clone(),
        retries,
        clock: clock.clone(),
        events: events.clone(),
    };
    let email = script_email::EmailContext {
        pool: pool.clone(),
        gateway: gateway.clone(),
        clock: clock.clone(),
        notifier: notifier.clone(),
        events: events.clone(),
    };
    let periodic = periodic::PeriodicContext {
        pool: pool.clone(),
        clock: clock.clone(),
        metrics: periodic::Metrics::registered(health),
        shutdown: shutdown.clone(),
        jobs: trmm_ops::JobQueue {
            redis: std::sync::Arc::new(tokio::sync::OnceCell::new_with(Some(redis.clone()))),
            prefix: prefix.clone(),
        },
        events: events.clone(),
    };
    let notify = notify::NotifyContext {
        pool: pool.clone(),
        gateway: gateway.clone(),
        notifier,
        clock: clock.clone(),
    };
    let recovery = recovery::serve(pool.clone(), redis.clone(), prefix.clone(), shutdown.clone());
    let runner = pending::Runner {
        pool,
        gateway,
        ttl: config.pending_action_ttl,
        clock,
        events,
    };
    tokio::join!(
        bulk::serve(bulk, redis.clone(), prefix.clone(), shutdown.clone()),
        script_email::serve(email, redis.clone(), prefix.clone(), shutdown.clone()),
        pending::serve(runner, redis.clone(), prefix.clone(), shutdown.clone()),
        periodic::serve(periodic, redis.clone(), prefix.clone(), shutdown.clone()),
        notify::serve(notify, redis.clone(), prefix.clone(), shutdown.clone()),
        recovery
    );
}
