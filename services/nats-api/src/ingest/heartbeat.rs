//! Coalescing heartbeat writer: `agent-hello` messages are kept per agent (the newest wins) and written with one
//! UPDATE per flush, every `flush_interval` or as soon as `max_batch` agents are pending. At 50,000 agents and one
//! hello per 30–60 s that is roughly one statement per second instead of about a thousand.
//!
//! A failed write puts its heartbeats back (unless a newer hello for the same agent arrived meanwhile) and is
//! retried with backoff, so a Postgres restart delays heartbeats but loses none.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use trmm_db::telemetry::{self, Heartbeat};
use trmm_db::DbError;
use trmm_protocol::nats::{Hello, TelemetryKind};
use trmm_runtime::backoff::Backoff;

use super::metrics::{DropReason, Metrics};
use super::throttle::Throttle;

/// First and longest pause after a failed batch write.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

struct Pending {
    seen: DateTime<Utc>,
    version: String,
}

struct Shared {
    pending: Mutex<HashMap<String, Pending>>,
    wake: Notify,
    max_batch: usize,
    metrics: Metrics,
    failure_log: Throttle,
}

/// Cheaply cloneable handle on the pending heartbeats.
#[derive(Clone)]
pub struct Batcher {
    shared: Arc<Shared>,
}

/// A write that failed: the error and the heartbeats that were not written.
type Failed = (DbError, Vec<Heartbeat>);

impl Batcher {
    /// An empty batcher that writes at most `max_batch` heartbeats per statement.
    pub fn new(max_batch: usize, metrics: Metrics) -> Batcher {
        Batcher {
            shared: Arc::new(Shared {
                pending: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                max_batch: max_batch.max(1),
                metrics,
                failure_log: Throttle::new(Duration::from_secs(10)),
            }),
        }
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<String, Pending>> {
        self.shared.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a hello received at `seen`, replacing any older pending one from the same agent.
    pub fn push(&self, hello: Hello, seen: DateTime<Utc>) {
        let pending = Pending {
            seen,
            version: hello.version,
        };
        let (replaced, len) = {
            let mut map = self.pending();
            let replaced = map.insert(hello.agent_id, pending).is_some();
            (replaced, map.len())
        };
        if replaced {
            self.shared.metrics.on_coalesced(1);
        }
        self.shared.metrics.set_pending(len);
        if len >= self.shared.max_batch {
            self.shared.wake.notify_one();
        }
    }

    /// Takes every pending heartbeat, sorted by agent id so that concurrent replicas lock rows in the same
    /// order (no deadlocks between their batches).
    fn take(&self) -> Vec<Heartbeat> {
        let map = std::mem::take(&mut *self.pending());
        let mut batch: Vec<Heartbeat> = map
            .into_iter()
            .map(|(agent_id, p)| Heartbeat {
                agent_id,
                seen: p.seen,
                version: p.version,
            })
            .collect();
        batch.sort_unstable_by(|a, b| a.agent_id.cmp(&b.agent_id));
        batch
    }

    /// Returns unwritten heartbeats to the pending set; a newer hello received meanwhile wins.
    fn put_back(&self, unwritten: Vec<Heartbeat>) {
        let mut superseded = 0;
        let len = {
            let mut map = self.pending();
            for h in unwritten {
                match map.entry(h.agent_id) {
                    Entry::Occupied(_) => superseded += 1,
                    Entry::Vacant(slot) => {
                        slot.insert(Pending {
                            seen: h.seen,
                            version: h.version,
                        });
                    }
                }
            }
            map.len()
        };
        self.shared.metrics.on_coalesced(superseded);
        self.shared.metrics.set_pending(len);
    }

    /// Writes everything pending, `max_batch` heartbeats per statement; on failure the unwritten ones are
    /// pending again.
    pub async fn flush(&self, pool: &trmm_db::Pool) -> Result<(), DbError> {
        let mut rest = self.take();
        self.shared.metrics.set_pending(self.pending().len());
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(self.shared.max_batch));
            if let Err((error, mut unwritten)) = self.write(pool, rest).await {
                unwritten.extend(tail);
                self.put_back(unwritten);
                return Err(error);
            }
            rest = tail;
        }
        Ok(())
    }

    async fn write(&self, pool: &trmm_db::Pool, batch: Vec<Heartbeat>) -> Result<(), Failed> {
        let db = match pool.get().await {
            Ok(db) => db,
            Err(e) => return Err((e.into(), batch)),
        };
        match telemetry::write_heartbeats(&db, &batch).await {
            Ok(_) => {
                self.shared.metrics.on_batch(batch.len());
                self.shared.metrics.on_written(TelemetryKind::Hello, batch.len() as u64);
                Ok(())
            }
            Err(e) if telemetry::is_data_error(&e) => self.write_one_by_one(&db, batch).await,
            Err(e) => Err((e, batch)),
        }
    }

    /// Isolates the heartbeat(s) Postgres rejects for their values, so that one bad row cannot keep every
    /// other agent of its batch offline; only those are dropped.
    async fn write_one_by_one(&self, db: &impl trmm_db::GenericClient, batch: Vec<Heartbeat>) -> Result<(), Failed> {
        let mut rows = batch.into_iter();
        while let Some(h) = rows.next() {
            match telemetry::write_heartbeats(db, std::slice::from_ref(&h)).await {
                Ok(_) => {
                    self.shared.metrics.on_batch(1);
                    self.shared.metrics.on_written(TelemetryKind::Hello, 1);
                }
                Err(e) if telemetry::is_data_error(&e) => {
                    tracing::warn!(agent_id = %h.agent_id, error = %e, "heartbeat rejected by Postgres; dropped");
                    self.shared.metrics.on_dropped(DropReason::DbError, 1);
                }
                Err(e) => return Err((e, std::iter::once(h).chain(rows).collect())),
            }
        }
        Ok(())
    }

    /// Flushes every `every` (or when a batch is full) until shutdown, retrying failed writes with backoff.
    /// It does not flush at shutdown: the caller does, once no more hellos can arrive.
    pub async fn run(self, pool: trmm_db::Pool, every: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = self.shared.wake.notified() => {}
                _ = ticker.tick() => {}
            }
            match self.flush(&pool).await {
                Ok(()) => backoff = Backoff::new(RETRY_FIRST, RETRY_MAX),
                Err(error) => {
                    self.shared.metrics.on_batch_failure();
                    let delay = backoff.next_delay();
                    if let Some(suppressed) = self.shared.failure_log.allow() {
                        let pending = self.pending().len();
                        tracing::warn!(%error, pending, suppressed, retry_in = ?delay, "writing heartbeats failed; kept for retry");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(agent_id: &str, version: &str) -> Hello {
        Hello {
            agent_id: agent_id.to_owned(),
            version: version.to_owned(),
        }
    }

    #[test]
    fn the_newest_hello_per_agent_wins() {
        let metrics = Metrics::default();
        let batcher = Batcher::new(100, metrics.clone());
        let t0 = Utc::now();
        let t1 = t0 + chrono::Duration::seconds(30);
        batcher.push(hello("b", "2.9.0"), t0);
        batcher.push(hello("a", "2.9.0"), t0);
        batcher.push(hello("b", "2.9.1"), t1);
        assert_eq!(metrics.coalesced(), 1);
        assert_eq!(metrics.pending(), 2);

        let batch = batcher.take();
        let got: Vec<_> = batch
            .iter()
            .map(|h| (h.agent_id.as_str(), h.version.as_str()))
            .collect();
        assert_eq!(got, [("a", "2.9.0"), ("b", "2.9.1")]);

        // A failed batch comes back, except where a newer hello arrived in the meantime.
        let t2 = t1 + chrono::Duration::seconds(30);
        batcher.push(hello("a", "2.9.2"), t2);
        batcher.put_back(batch);
        assert_eq!(metrics.coalesced(), 2);
        let again = batcher.take();
        let got: Vec<_> = again.iter().map(|h| (h.agent_id.as_str(), h.seen)).collect();
        assert_eq!(got, [("a", t2), ("b", t1)]);
    }
}
