//! Connections to Postgres and NATS: retried while down, then watched for `/readyz`.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::{RequestErrorKind, ServerAddr};
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
    let probe = format!("trmm.readyz.{}", rand::random::<u64>());
    health.watch("nats", NATS_CHECK_INTERVAL, shutdown.clone(), move || {
        answers(watched.clone(), probe.clone())
    });
    Some(client)
}

/// How often NATS is probed, and how long a probe may take: a frozen nats-server turns `/readyz` to 503 within
/// about twice this.
const NATS_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Whether nats-server answers a round trip now. The client's connection state alone stays "connected" while a
/// server is hung (SIGSTOP, a dead link without RST) and commands time out, so readiness asks the server itself:
/// a request on a subject nobody serves gets "no responders" back at once from a live server. The subject has
/// three tokens so that the telemetry subscription on `*` does not see it.
async fn answers(client: async_nats::Client, subject: String) -> bool {
    if client.connection_state() != State::Connected {
        return false;
    }
    match tokio::time::timeout(NATS_CHECK_INTERVAL, client.request(subject, "".into())).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => e.kind() == RequestErrorKind::NoResponders,
        Err(_) => false,
    }
}
