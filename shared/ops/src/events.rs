//! Publishing dashboard events (`trmm_protocol::events`) from where things change, once the change is committed.
//! Best effort by design: publishing never fails or slows the write that caused it. An event goes into a bounded
//! queue and a background task hands what is queued to the AgentGateway in batches; an event that finds the queue
//! full, or whose batch the gateway does not take, is counted in `trmm_events_dropped_total` and lost (the
//! dashboard still shows the change on its next read).

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use trmm_db::agents::AgentRef;
use trmm_db::alerts::Alert;
use trmm_db::history::Finished;
use trmm_protocol::events::{AgentTag, AlertChange, Event, HistoryEntry};
use trmm_rpc::client::GatewayClient;
use trmm_runtime::clock::SharedClock;
use trmm_runtime::health::Health;

/// The metric's name (rendered with `_total`).
const DROPPED_METRIC: &str = "trmm_events_dropped";
/// Events waiting for the gateway at most.
const QUEUE: usize = 4096;
/// Events per PublishEvents call at most.
const BATCH: usize = 256;
/// How long one PublishEvents call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A cheaply cloneable handle that publishes events through the AgentGateway.
#[derive(Clone)]
pub struct Events {
    queue: mpsc::Sender<Event>,
    dropped: Counter,
    clock: SharedClock,
}

impl Events {
    /// Publishes through `gateway` until `shutdown` (then what is still queued gets one last try).
    pub fn spawn(gateway: GatewayClient, clock: SharedClock, shutdown: CancellationToken) -> Events {
        let (queue, rx) = mpsc::channel(QUEUE);
        let dropped = Counter::default();
        tokio::spawn(forward(gateway, rx, dropped.clone(), shutdown));
        Events { queue, dropped, clock }
    }

    /// Puts the count of events lost on the service's `/metrics`.
    pub fn registered(self, health: &Health) -> Events {
        let help = "Dashboard events lost on the way to the AgentGateway";
        health.register(DROPPED_METRIC, help, self.dropped.clone());
        self
    }

    /// Queues `event` without waiting; a full queue drops it.
    pub fn publish(&self, event: Event) {
        if self.queue.try_send(event).is_err() {
            self.dropped.inc();
        }
    }

    /// `history.finished` for an entry that has just got its result.
    pub fn history_finished(&self, finished: &Finished) {
        self.publish(Event::HistoryFinished(HistoryEntry {
            id: finished.id,
            agent: tag(&finished.agent),
            kind: finished.kind.clone(),
            at: self.clock.now(),
        }));
    }

    /// `alert.opened` or `alert.resolved` for an alert of an agent (an alert without one has no audience).
    pub fn alert(&self, alert: &Alert, opened: bool, at: DateTime<Utc>) {
        if let Some(event) = alert_event(alert, opened, at) {
            self.publish(event);
        }
    }
}

/// Where an agent sits, as events say it.
fn tag(agent: &AgentRef) -> AgentTag {
    AgentTag {
        agent_id: agent.agent_id.clone(),
        hostname: agent.hostname.clone(),
        client: agent.client.0,
        site: agent.site.0,
    }
}

pub(crate) fn alert_event(alert: &Alert, opened: bool, at: DateTime<Utc>) -> Option<Event> {
    let agent = AgentTag {
        agent_id: alert.agent_id.clone()?,
        hostname: alert.hostname.clone().unwrap_or_default(),
        client: alert.client?.0,
        site: alert.site?.0,
    };
    let change = AlertChange {
        id: alert.id.0,
        agent,
        alert_type: alert.alert_type.clone(),
        severity: alert.severity.clone(),
        message: alert.message.clone().unwrap_or_default(),
        hidden: alert.hidden,
        assigned_check: alert.assigned_check.map(|c| c.0),
        at,
    };
    Some(if opened {
        Event::AlertOpened(change)
    } else {
        Event::AlertResolved(change)
    })
}

async fn forward(gateway: GatewayClient, mut rx: mpsc::Receiver<Event>, dropped: Counter, shutdown: CancellationToken) {
    loop {
        let first = tokio::select! {
            first = rx.recv() => first,
            () = shutdown.cancelled() => break,
        };
        let Some(first) = first else { return };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        send(&gateway, &batch, &dropped).await;
    }
    // Shutting down: one last try for what is queued, within one call's time.
    rx.close();
    let mut rest = Vec::new();
    while let Ok(event) = rx.try_recv() {
        rest.push(event);
    }
    if !rest.is_empty() {
        send(&gateway, &rest, &dropped).await;
    }
}

async fn send(gateway: &GatewayClient, batch: &[Event], dropped: &Counter) {
    let error = match tokio::time::timeout(CALL_TIMEOUT, gateway.publish_events(batch)).await {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {CALL_TIMEOUT:?}"),
    };
    tracing::warn!(events = batch.len(), error, "dashboard events dropped");
    dropped.inc_by(batch.len() as u64);
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use trmm_protocol::events::{AgentTag, HistoryEntry};
    use trmm_runtime::clock::SystemClock;

    use super::*;

    fn event(id: i64) -> Event {
        Event::HistoryFinished(HistoryEntry {
            id,
            agent: AgentTag {
                agent_id: "a".into(),
                hostname: "h".into(),
                client: 1,
                site: 1,
            },
            kind: "cmd_run".into(),
            at: Utc::now(),
        })
    }

    #[tokio::test]
    async fn with_the_gateway_gone_publishing_neither_waits_nor_fails_and_every_event_is_counted_lost() {
        // Nothing listens on port 9: every batch fails at once.
        let gateway = GatewayClient::lazy("http://127.0.0.1:9").unwrap();
        let shutdown = CancellationToken::new();
        let events = Events::spawn(gateway, SystemClock::shared(), shutdown.clone());
        let n = 2 * QUEUE as u64;
        for id in 0..n {
            events.publish(event(id as i64));
        }
        let start = Instant::now();
        while events.dropped.get() < n {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{} of {n} counted",
                events.dropped.get()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(events.dropped.get(), n);
        shutdown.cancel();
    }
}
