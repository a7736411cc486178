//! Dashboard events through the gateway: services publish them here and trmm-websocket watches them, so that only
//! trmm-nats-api holds NATS credentials; they travel on NATS (`trmm.events.*`) between gateway replicas.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use trmm_protocol::events::{Event, SUBJECTS};
use trmm_rpc::gateway::EventMessage;

/// Most events one PublishEvents call may carry.
const MAX_EVENTS: usize = 10_000;

/// Every event is checked before any is published, so a bad batch publishes nothing.
pub async fn publish(nats: &async_nats::Client, events: Vec<Vec<u8>>) -> Result<(), Status> {
    if events.len() > MAX_EVENTS {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_EVENTS} events per call"
        )));
    }
    let subjects = events
        .iter()
        .map(|bytes| Event::from_json(bytes).map(|e| e.subject()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Status::invalid_argument(format!("not a dashboard event: {e}")))?;
    for (subject, bytes) in subjects.into_iter().zip(events) {
        nats.publish(subject, bytes.into())
            .await
            .map_err(|e| Status::unavailable(format!("NATS refused an event: {e}")))?;
    }
    Ok(())
}

/// The events stream of one watcher.
pub type Watch = Pin<Box<dyn Stream<Item = Result<EventMessage, Status>> + Send>>;

/// Every event published from now on, until the watcher leaves or the gateway stops.
pub async fn watch(nats: &async_nats::Client, stopping: CancellationToken) -> Result<Watch, Status> {
    let subscription = nats
        .subscribe(SUBJECTS)
        .await
        .map_err(|e| Status::unavailable(format!("subscribing to dashboard events: {e}")))?;
    let events = subscription.map(|msg| {
        Ok(EventMessage {
            event: msg.payload.to_vec(),
        })
    });
    Ok(Box::pin(events.take_until(stopping.cancelled_owned())))
}
