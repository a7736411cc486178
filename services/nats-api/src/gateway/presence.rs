//! Online/offline transitions, derived from the agents' status in Postgres so that every replica of
//! trmm-nats-api reports the same thing whichever replica ingested the heartbeats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use trmm_rpc::gateway::PresenceEvent;

/// Cheaply cloneable presence tracker.
#[derive(Clone)]
pub struct Presence {
    state: Arc<Mutex<HashMap<String, bool>>>,
    events: broadcast::Sender<PresenceEvent>,
    /// Cancelled when tracking stops, which ends every watch stream (tonic's graceful shutdown waits for them).
    stopped: CancellationToken,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            state: Arc::default(),
            events: broadcast::channel(16_384).0,
            stopped: CancellationToken::new(),
        }
    }
}

fn event(agent_id: &str, online: bool) -> PresenceEvent {
    PresenceEvent {
        agent_id: agent_id.to_owned(),
        online,
        at_unix_ms: chrono::Utc::now().timestamp_millis(),
    }
}

impl Presence {
    /// Applies a fresh snapshot, emitting an event for every agent whose state changed or appeared.
    pub fn apply(&self, snapshot: Vec<(String, bool)>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = HashMap::with_capacity(snapshot.len());
        for (agent_id, online) in snapshot {
            if state.get(&agent_id) != Some(&online) {
                let _ = self.events.send(event(&agent_id, online));
            }
            seen.insert(agent_id, online);
        }
        // Deleted agents go offline.
        for (agent_id, online) in state.iter() {
            if *online && !seen.contains_key(agent_id) {
                let _ = self.events.send(event(agent_id, false));
            }
        }
        *state = seen;
    }

    /// Polls Postgres every `every` until shutdown, then ends the watch streams.
    pub async fn track(self, pool: trmm_db::Pool, every: Duration, shutdown: CancellationToken) {
        let _end_watches = self.stopped.clone().drop_guard();
        loop {
            match pool.get().await {
                Ok(db) => match trmm_db::agents::presence(&**db, chrono::Utc::now()).await {
                    Ok(snapshot) => self.apply(snapshot),
                    Err(e) => tracing::warn!(error = %e, "presence poll failed"),
                },
                Err(e) => tracing::warn!(error = %e, "presence poll: Postgres unavailable"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// The current state of every agent, then every change; a watcher that falls behind gets a fresh snapshot.
    pub fn watch(&self) -> impl Stream<Item = Result<PresenceEvent, Status>> + Send + 'static {
        let (tx, rx) = mpsc::channel(1024);
        let mut events = self.events.subscribe();
        let this = self.clone();
        let stopped = self.stopped.clone();
        tokio::spawn(stopped.run_until_cancelled_owned(async move {
            loop {
                let snapshot: Vec<PresenceEvent> = {
                    let state = this.state.lock().unwrap_or_else(PoisonError::into_inner);
                    state.iter().map(|(a, o)| event(a, *o)).collect()
                };
                for e in snapshot {
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
                loop {
                    match events.recv().await {
                        Ok(e) => {
                            if tx.send(Ok(e)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        }));
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn snapshot_then_changes() {
        let p = Presence::default();
        p.apply(vec![("a".into(), true), ("b".into(), false)]);
        let mut stream = Box::pin(p.watch());
        let mut first: Vec<(String, bool)> = Vec::new();
        for _ in 0..2 {
            let e = stream.next().await.unwrap().unwrap();
            first.push((e.agent_id, e.online));
        }
        first.sort();
        assert_eq!(first, [("a".to_owned(), true), ("b".to_owned(), false)]);
        p.apply(vec![("a".into(), true), ("b".into(), true)]);
        let e = stream.next().await.unwrap().unwrap();
        assert_eq!((e.agent_id.as_str(), e.online), ("b", true));
        p.apply(vec![("b".into(), true)]);
        let e = stream.next().await.unwrap().unwrap();
        assert_eq!((e.agent_id.as_str(), e.online), ("a", false));
    }

    #[tokio::test]
    async fn watches_end_when_tracking_stops() {
        let p = Presence::default();
        p.apply(vec![("a".into(), true)]);
        let mut stream = Box::pin(p.watch());
        assert!(stream.next().await.is_some());
        p.stopped.cancel();
        assert!(stream.next().await.is_none());
    }
}
