//! The Redis connection: retried while down, then watched for `/readyz`.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio_util::sync::CancellationToken;
use trmm_runtime::backoff::connect_with_backoff;
use trmm_runtime::health::{Health, CHECK_INTERVAL};

/// Waits until Redis accepts a connection (None if shutdown comes first), then keeps its
/// readiness current; the manager reconnects by itself after an outage.
pub async fn redis(client: redis::Client, health: &Health, shutdown: &CancellationToken) -> Option<ConnectionManager> {
    // Our own backoff paces (and logs) the first connection, and the readiness PINGs trigger
    // reconnects after an outage, so the manager's internal retries would only add latency.
    let config = ConnectionManagerConfig::new().set_number_of_retries(1);
    let conn = connect_with_backoff("redis", shutdown, || {
        ConnectionManager::new_with_config(client.clone(), config.clone())
    })
    .await?;
    health.set_ready("redis", true);
    let watched = conn.clone();
    health.watch("redis", CHECK_INTERVAL, shutdown.clone(), move || {
        let mut conn = watched.clone();
        async move { redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok() }
    });
    Some(conn)
}
