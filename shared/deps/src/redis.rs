//! Redis: TRMM_REDIS_URL and, for the services that write keys, TRMM_REDIS_PREFIX.

use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use trmm_runtime::backoff::connect_with_backoff;
use trmm_runtime::health::{Health, CHECK_INTERVAL};

use crate::SettingsError;

/// Name of the Redis entry in `/readyz`.
pub const DEPENDENCY: &str = "redis";

/// Where Redis is.
#[derive(Clone, Debug, clap::Args)]
pub struct RedisArgs {
    /// Redis URL (job queue and login rate limits), e.g. `redis://127.0.0.1:6379/0`.
    #[arg(long, env = "TRMM_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
}

/// The namespace of the keys a deployment writes, for the services that read or write queue keys.
#[derive(Clone, Debug, clap::Args)]
pub struct RedisPrefixArgs {
    /// Prefix of every Redis key this deployment writes; trmm-api and trmm-worker must use the same.
    #[arg(long, env = "TRMM_REDIS_PREFIX", default_value = "trmm")]
    pub redis_prefix: String,
}

impl RedisArgs {
    /// The client, built without connecting.
    pub fn client(&self) -> Result<redis::Client, SettingsError> {
        redis::Client::open(self.redis_url.as_str()).map_err(SettingsError::Redis)
    }
}

/// Waits until Redis accepts a connection (None if shutdown comes first), then keeps its readiness current;
/// the manager reconnects by itself after an outage.
pub async fn connect(
    client: redis::Client,
    health: &Health,
    shutdown: &CancellationToken,
) -> Option<ConnectionManager> {
    // Our own backoff paces (and logs) the first connection, and the readiness PINGs trigger
    // reconnects after an outage, so the manager's internal retries would only add latency.
    let config = ConnectionManagerConfig::new().set_number_of_retries(1);
    let conn = connect_with_backoff(DEPENDENCY, shutdown, || {
        ConnectionManager::new_with_config(client.clone(), config.clone())
    })
    .await?;
    health.set_ready(DEPENDENCY, true);
    let watched = conn.clone();
    health.watch(DEPENDENCY, CHECK_INTERVAL, shutdown.clone(), move || {
        let mut conn = watched.clone();
        async move { ping(&mut conn).await }
    });
    Some(conn)
}

/// Connects in the background, retrying with backoff, and sets `cell` once connected, for a service that
/// serves meanwhile; `/readyz` reports Redis down until then and whenever it stops answering.
pub fn connect_in_background(
    client: redis::Client,
    cell: Arc<OnceCell<ConnectionManager>>,
    health: &Health,
    shutdown: CancellationToken,
) {
    health.set_ready(DEPENDENCY, false);
    let watch_cell = cell.clone();
    health.watch(DEPENDENCY, CHECK_INTERVAL, shutdown.clone(), move || {
        let cell = watch_cell.clone();
        async move {
            let Some(conn) = cell.get() else { return false };
            ping(&mut conn.clone()).await
        }
    });
    tokio::spawn(async move {
        let conn = connect_with_backoff(DEPENDENCY, &shutdown, || ConnectionManager::new(client.clone())).await;
        if let Some(conn) = conn {
            let _ = cell.set(conn);
        }
    });
}

async fn ping(conn: &mut ConnectionManager) -> bool {
    redis::cmd("PING").query_async::<String>(conn).await.is_ok()
}
