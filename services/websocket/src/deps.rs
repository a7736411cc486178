//! The Postgres connection: retried while down, then watched for `/readyz`.

use tokio_util::sync::CancellationToken;
use trmm_runtime::backoff::connect_with_backoff;
use trmm_runtime::health::{Health, CHECK_INTERVAL};

/// Waits until Postgres answers (None if shutdown comes first), then keeps its readiness current.
pub async fn postgres(pool: trmm_db::Pool, health: &Health, shutdown: &CancellationToken) -> Option<trmm_db::Pool> {
    connect_with_backoff("postgres", shutdown, || async {
        pool.get().await.map(drop).map_err(anyhow::Error::from)
    })
    .await?;
    health.set_ready("postgres", true);
    let watched = pool.clone();
    health.watch("postgres", CHECK_INTERVAL, shutdown.clone(), move || {
        let pool = watched.clone();
        async move { trmm_db::ping(&pool).await }
    });
    Some(pool)
}
