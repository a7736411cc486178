//! The dashboard events other services publish, followed through the AgentGateway's `WatchEvents` (reconnecting
//! with backoff when the gateway goes away; what is published meanwhile is missed) and fanned out to every
//! `/ws/events/` socket of this process, each of which filters them for its user.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use trmm_protocol::events::Event;
use trmm_rpc::client::{GatewayClient, GatewayError};

/// Events a slow socket may fall behind by before it misses some.
const CAPACITY: usize = 4096;

/// Cheaply cloneable fan-out of the events.
#[derive(Clone)]
pub struct Hub {
    events: broadcast::Sender<Arc<Event>>,
}

impl Hub {
    /// Follows the gateway's events until `shutdown`.
    pub fn start(gateway: GatewayClient, shutdown: CancellationToken) -> Hub {
        let events = broadcast::channel(CAPACITY).0;
        tokio::spawn(follow(gateway, events.clone(), shutdown));
        Hub { events }
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }
}

async fn follow(gateway: GatewayClient, events: broadcast::Sender<Arc<Event>>, shutdown: CancellationToken) {
    let mut presence = Presence::default();
    loop {
        let stream =
            trmm_runtime::backoff::connect_with_backoff("agent gateway (events)", &shutdown, || gateway.watch_events())
                .await;
        let Some(stream) = stream else { return };
        let mut stream = Box::pin(stream);
        loop {
            let item = tokio::select! {
                () = shutdown.cancelled() => return,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(event)) if presence.is_news(&event) => {
                    // No socket listening is fine.
                    let _ = events.send(Arc::new(event));
                }
                Some(Ok(_)) => {}
                Some(Err(GatewayError::BadReply(e))) => {
                    tracing::warn!(error = %e, "unreadable dashboard event skipped")
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "dashboard events stream broke; reconnecting");
                    break;
                }
                None => break,
            }
        }
    }
}

/// Each trmm-nats-api replica announces every presence change it sees: the first word of a change goes out,
/// the other replicas' copies (the same state again, or an older one arriving late) do not.
#[derive(Default)]
struct Presence {
    latest: HashMap<String, (bool, DateTime<Utc>)>,
}

impl Presence {
    fn is_news(&mut self, event: &Event) -> bool {
        let (online, change) = match event {
            Event::AgentOnline(p) => (true, p),
            Event::AgentOffline(p) => (false, p),
            _ => return true,
        };
        match self.latest.get(&change.agent.agent_id) {
            Some(&(state, at)) if state == online || change.at < at => false,
            _ => {
                self.latest.insert(change.agent.agent_id.clone(), (online, change.at));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use trmm_protocol::events::{AgentTag, Presence as Change};

    use super::*;

    fn change(online: bool, agent: &str, ms: i64) -> Event {
        let change = Change {
            agent: AgentTag {
                agent_id: agent.into(),
                hostname: "h".into(),
                client: 1,
                site: 1,
            },
            at: DateTime::<Utc>::from_timestamp_millis(ms).unwrap(),
        };
        if online {
            Event::AgentOnline(change)
        } else {
            Event::AgentOffline(change)
        }
    }

    #[test]
    fn each_change_goes_out_once_whichever_replica_tells_first() {
        let mut p = Presence::default();
        // Two replicas: (a) and (b), clocks a few ms apart, (b) slower to publish.
        assert!(p.is_news(&change(true, "x", 1000))); // a
        assert!(!p.is_news(&change(true, "x", 998))); // b
        assert!(p.is_news(&change(false, "x", 2000))); // a
        assert!(p.is_news(&change(true, "x", 2100))); // a: back quickly
        assert!(!p.is_news(&change(false, "x", 1999))); // b, late: older than what went out
        assert!(!p.is_news(&change(true, "x", 2098))); // b
        assert!(p.is_news(&change(true, "y", 10)), "another agent");
    }
}
