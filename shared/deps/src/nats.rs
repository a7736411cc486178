//! NATS: TRMM_NATS_URL.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::{RequestErrorKind, ServerAddr};
use tokio_util::sync::CancellationToken;
use trmm_runtime::backoff::connect_with_backoff;
use trmm_runtime::health::Health;

/// Name of the NATS entry in `/readyz`.
pub const DEPENDENCY: &str = "nats";

/// Where nats-server is.
#[derive(Clone, Debug, clap::Args)]
pub struct NatsArgs {
    /// NATS server URL (nats-server 2.10 or newer), e.g. `nats://127.0.0.1:4222`.
    #[arg(long, env = "TRMM_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: ServerAddr,
}

/// Waits until NATS accepts the connection (None if shutdown comes first), then keeps its readiness current;
/// the client reconnects by itself after an outage. `name` is the connection name nats-server shows;
/// `credentials` are (user, password), None for a nats-server without authentication.
pub async fn connect(
    name: &str,
    url: ServerAddr,
    credentials: Option<(String, String)>,
    health: &Health,
    shutdown: &CancellationToken,
) -> Option<async_nats::Client> {
    let client = connect_with_backoff(DEPENDENCY, shutdown, || {
        let options = match &credentials {
            Some((user, password)) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            None => async_nats::ConnectOptions::new(),
        };
        options.name(name).connect(url.clone())
    })
    .await?;
    health.set_ready(DEPENDENCY, true);
    let watched = client.clone();
    let probe = format!("trmm.readyz.{}", rand::random::<u64>());
    health.watch(DEPENDENCY, CHECK_INTERVAL, shutdown.clone(), move || {
        answers(watched.clone(), probe.clone())
    });
    Some(client)
}

/// How often NATS is probed, and how long a probe may take: a frozen nats-server turns `/readyz` to 503 within
/// about twice this.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Whether nats-server answers a round trip now. The client's connection state alone stays "connected" while a
/// server is hung (SIGSTOP, a dead link without RST) and commands time out, so readiness asks the server itself:
/// a request on a subject nobody serves gets "no responders" back at once from a live server. The subject has
/// three tokens so that the telemetry subscription on `*` does not see it.
pub async fn answers(client: async_nats::Client, subject: String) -> bool {
    if client.connection_state() != State::Connected {
        return false;
    }
    match tokio::time::timeout(CHECK_INTERVAL, client.request(subject, "".into())).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => e.kind() == RequestErrorKind::NoResponders,
        Err(_) => false,
    }
}
