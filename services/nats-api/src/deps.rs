//! Connections to Postgres and NATS: retried while down, then watched for `/readyz`.

use async_nats::connection::State;
use async_nats::ServerAddr;
use tokio_util::sync::CancellationToken;
use trmm_runtime::backoff::connect_with_backoff;
use trmm_runtime::health::{Health, CHECK_INTERVAL};

use crate::SERVICE;

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

/// Waits until NATS accepts the connection (None if shutdown comes first), then keeps its
/// readiness current; the client reconnects by itself after an outage.
/// `credentials` are (user, password), None for a nats-server without authentication.
pub async fn nats(
    url: ServerAddr,
    credentials: Option<(String, String)>,
    health: &Health,
    shutdown: &CancellationToken,
) -> Option<async_nats::Client> {
    let client = connect_with_backoff("nats", shutdown, || {
        let options = match &credentials {
            Some((user, password)) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            None => async_nats::ConnectOptions::new(),
        };
        options.name(SERVICE).connect(url.clone())
    })
    .await?;
    health.set_ready("nats", true);
    let watched = client.clone();
    health.watch("nats", CHECK_INTERVAL, shutdown.clone(), move || {
        let connected = watched.connection_state() == State::Connected;
        async move { connected }
    });
    Some(client)
}
