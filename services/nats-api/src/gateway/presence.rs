//! Which agents are connected, learnt from nats-server itself: the system account's CONNECT/DISCONNECT events for
//! the agents' account, reconciled with a CONNZ snapshot at start and after every reconnect ([`track`]). Each
//! replica of trmm-nats-api tracks on its own; every replica receives every event.
//!
//! Without a system-account connection presence is untracked and the gateway asks NATS directly (pings).

mod announce;
mod state;
mod track;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use trmm_rpc::gateway::PresenceEvent;
use trmm_runtime::clock::{SharedClock, SystemClock};

pub use announce::announce;
pub use state::{ConnKey, Connections, Transition};
pub use track::{track, Tracking, DEPENDENCY};

/// How long a call waits for presence to be re-synchronised (after a NATS reconnect) before asking NATS itself.
const SYNC_WAIT: Duration = Duration::from_secs(3);

/// Whether presence can be trusted right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// No system-account connection: nothing is tracked.
    Untracked,
    /// Tracked, but events may have been missed (starting, or reconnecting to NATS) until the next snapshot.
    Syncing,
    /// Events and the last snapshot describe every connection.
    Synced,
}

/// What presence says about one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The agent holds a NATS connection.
    Connected,
    /// The agent holds none.
    Offline,
    /// Presence is not tracked or not synchronised: ask NATS.
    Unknown,
}

/// Cheaply cloneable presence tracker.
#[derive(Clone)]
pub struct Presence {
    conns: Arc<Mutex<Connections>>,
    sync: Arc<watch::Sender<Sync>>,
    events: broadcast::Sender<PresenceEvent>,
    /// Cancelled when tracking stops, which ends every watch stream (tonic's graceful shutdown waits for them).
    stopped: CancellationToken,
    /// Stamps the events.
    clock: SharedClock,
}

impl Default for Presence {
    /// Untracked presence (no system account): every lookup is [`Lookup::Unknown`].
    fn default() -> Self {
        Presence {
            conns: Arc::default(),
            sync: Arc::new(watch::channel(Sync::Untracked).0),
            events: broadcast::channel(16_384).0,
            stopped: CancellationToken::new(),
            clock: SystemClock::shared(),
        }
    }
}

impl Presence {
    /// This presence, its events stamped by `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    fn event(&self, agent_id: &str, online: bool) -> PresenceEvent {
        PresenceEvent {
            agent_id: agent_id.to_owned(),
            online,
            at_unix_ms: self.clock.now().timestamp_millis(),
        }
    }

    /// Presence that [`track`] keeps current; lookups wait for its first snapshot.
    pub fn tracked() -> Self {
        let presence = Presence::default();
        presence.sync.send_replace(Sync::Syncing);
        presence
    }

    fn lock(&self) -> MutexGuard<'_, Connections> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, transitions: impl IntoIterator<Item = Transition>) {
        for t in transitions {
            let _ = self.events.send(self.event(&t.agent_id, t.connected));
        }
    }

    /// Whether the agent is connected. While presence re-synchronises this waits (up to a few seconds) for it.
    pub async fn lookup(&self, agent_id: &str) -> Lookup {
        if !self.wait_synced().await {
            return Lookup::Unknown;
        }
        if self.lock().is_connected(agent_id) {
            Lookup::Connected
        } else {
            Lookup::Offline
        }
    }

    /// The connected ones among `agent_ids`, or None when presence is not known.
    pub async fn connected<'a>(&self, agent_ids: &'a [String]) -> Option<Vec<&'a String>> {
        if !self.wait_synced().await {
            return None;
        }
        let conns = self.lock();
        Some(agent_ids.iter().filter(|a| conns.is_connected(a)).collect())
    }

    /// True once presence is synchronised; false if it is untracked or does not synchronise within [`SYNC_WAIT`].
    async fn wait_synced(&self) -> bool {
        let mut sync = self.sync.subscribe();
        let synced = tokio::time::timeout(SYNC_WAIT, sync.wait_for(|s| *s != Sync::Syncing)).await;
        matches!(synced, Ok(Ok(s)) if *s == Sync::Synced)
    }

    /// Waits until presence is synchronised for the first time; false if it is not tracked at all.
    async fn first_sync(&self) -> bool {
        let mut sync = self.sync.subscribe();
        let reached = sync.wait_for(|s| *s != Sync::Syncing).await.map(|s| *s);
        matches!(reached, Ok(Sync::Synced))
    }

    /// Whether presence is currently synchronised with NATS.
    pub fn is_synced(&self) -> bool {
        *self.sync.borrow() == Sync::Synced
    }

    /// A connection of `agent_id` opened.
    pub fn connect(&self, key: ConnKey, agent_id: &str) {
        let t = self.lock().connect(key, agent_id);
        self.emit(t);
    }

    /// A connection closed.
    pub fn disconnect(&self, key: ConnKey) {
        let t = self.lock().disconnect(key);
        self.emit(t);
    }

    /// Events may have been missed (the system connection dropped): lookups wait for the next snapshot.
    pub fn lost(&self) {
        self.sync.send_if_modified(|s| {
            let was = *s;
            if was == Sync::Synced {
                *s = Sync::Syncing;
            }
            was == Sync::Synced
        });
    }

    /// Call right before requesting a CONNZ snapshot.
    pub fn begin_snapshot(&self) {
        self.lock().begin_snapshot();
    }

    /// Applies a complete CONNZ snapshot; presence is synchronised from here on.
    pub fn finish_snapshot(&self, listed: Vec<(ConnKey, String)>) {
        let t = self.lock().finish_snapshot(listed);
        self.emit(t);
        self.sync.send_replace(Sync::Synced);
    }

    /// Ends every watch stream (tracking stopped).
    pub fn stop(&self) {
        self.stopped.cancel();
    }

    /// Every connected agent, then every change; a watcher that falls behind gets a fresh snapshot.
    pub fn watch(&self) -> impl Stream<Item = Result<PresenceEvent, Status>> + Send + 'static {
        let (tx, rx) = mpsc::channel(1024);
        let mut events = self.events.subscribe();
        let this = self.clone();
        let stopped = self.stopped.clone();
        tokio::spawn(stopped.run_until_cancelled_owned(async move {
            loop {
                let snapshot: Vec<PresenceEvent> = this.lock().agents().map(|a| this.event(a, true)).collect();
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

    fn key(cid: u64) -> ConnKey {
        ("s1".to_owned(), cid)
    }

    #[tokio::test]
    async fn snapshot_then_changes() {
        let p = Presence::tracked();
        p.begin_snapshot();
        p.finish_snapshot(vec![(key(1), "a".into()), (key(2), "b".into())]);
        let mut stream = Box::pin(p.watch());
        let mut first: Vec<(String, bool)> = Vec::new();
        for _ in 0..2 {
            let e = stream.next().await.unwrap().unwrap();
            first.push((e.agent_id, e.online));
        }
        first.sort();
        assert_eq!(first, [("a".to_owned(), true), ("b".to_owned(), true)]);
        p.connect(key(3), "c");
        let e = stream.next().await.unwrap().unwrap();
        assert_eq!((e.agent_id.as_str(), e.online), ("c", true));
        p.disconnect(key(1));
        let e = stream.next().await.unwrap().unwrap();
        assert_eq!((e.agent_id.as_str(), e.online), ("a", false));
        p.begin_snapshot();
        p.finish_snapshot(vec![(key(3), "c".into())]);
        let e = stream.next().await.unwrap().unwrap();
        assert_eq!((e.agent_id.as_str(), e.online), ("b", false));
    }

    #[tokio::test]
    async fn watches_end_when_tracking_stops() {
        let p = Presence::tracked();
        p.connect(key(1), "a");
        let mut stream = Box::pin(p.watch());
        assert!(stream.next().await.is_some());
        p.stop();
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn lookups_wait_for_the_snapshot_and_untracked_presence_is_unknown() {
        assert_eq!(Presence::default().lookup("a").await, Lookup::Unknown);
        let p = Presence::tracked();
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { (p.lookup("a").await, p.lookup("b").await) }
        });
        p.begin_snapshot();
        p.finish_snapshot(vec![(key(1), "a".into())]);
        assert_eq!(waiting.await.unwrap(), (Lookup::Connected, Lookup::Offline));
        let ids = ["a".to_owned(), "b".to_owned()];
        assert_eq!(p.connected(&ids).await, Some(vec![&ids[0]]));
    }

    #[tokio::test]
    async fn a_lost_connection_turns_lookups_unknown_until_the_next_snapshot() {
        let p = Presence::tracked();
        p.begin_snapshot();
        p.finish_snapshot(vec![]);
        p.lost();
        assert!(!p.is_synced());
        // Nothing re-synchronises: after SYNC_WAIT the gateway falls back to asking NATS.
        assert_eq!(p.lookup("a").await, Lookup::Unknown);
        p.begin_snapshot();
        p.finish_snapshot(vec![]);
        assert_eq!(p.lookup("a").await, Lookup::Offline);
    }
}
