//! NATS subscriptions that are known to be active on the server.

use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use trmm_protocol::nats::{self, Command};

/// Subscribes to `subject` and returns once the server is known to deliver to it: a probe published on
/// `probe` (a subject the subscription matches) from the same connection has come back. `flush()` alone is
/// not a round trip, so another connection's publish could otherwise race ahead of the subscription.
pub async fn subscribe_live(client: &async_nats::Client, subject: &str, probe: &str) -> async_nats::Subscriber {
    let mut sub = client.subscribe(subject.to_owned()).await.expect("subscribing");
    let marker = format!("live-probe-{}", rand::random::<u64>());
    client
        .publish(probe.to_owned(), marker.clone().into())
        .await
        .expect("publishing the probe");
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), sub.next())
            .await
            .expect("the probe did not come back")
            .expect("subscription closed");
        if msg.payload.as_ref() == marker.as_bytes() {
            return sub;
        }
    }
}

/// The commands the server sends to `agent_id` as an agent receives them, from the moment the subscription is
/// live; anything that does not decode as a command (the probe among them) is skipped. Replies go out on `client`.
pub async fn agent_commands(
    client: &async_nats::Client,
    agent_id: &str,
) -> BoxStream<'static, (async_nats::Message, Command)> {
    subscribe_live(client, agent_id, agent_id)
        .await
        .filter_map(|msg| async move { nats::decode::<Command>(&msg.payload).ok().map(|cmd| (msg, cmd)) })
        .boxed()
}
