//! Direct writes of every non-heartbeat kind (agentinfo, disks, winsvc, publicip, wmi): at most `concurrency`
//! statements at once, fed through a queue bounded in bytes so that a slow Postgres cannot hold back heartbeats
//! or grow memory without limit. These messages are periodic snapshots (every few minutes to an hour), so one
//! that cannot be written after a few retries is dropped and counted; the agent sends a fresh one later.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use trmm_db::telemetry::{self, Heartbeat};
use trmm_db::DbError;
use trmm_protocol::nats::Telemetry;
use trmm_runtime::backoff::Backoff;

use super::metrics::{DropReason, Metrics};
use super::throttle::Throttle;

/// Attempts per message before it is dropped as `db_error` (together about 3 s with backoff).
const ATTEMPTS: usize = 4;

struct Job {
    telemetry: Telemetry,
    received: DateTime<Utc>,
    /// Share of the byte budget, released once the job is done.
    _budget: OwnedSemaphorePermit,
}

/// Queues telemetry for writing; dropping every clone lets the writer task finish the queue and stop.
pub struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
    budget: Arc<Semaphore>,
    metrics: Metrics,
    overload_log: Throttle,
}

impl Writer {
    /// Starts the writer task: `concurrency` statements at most, `budget_bytes` of queued payload at most.
    pub fn spawn(
        pool: trmm_db::Pool,
        concurrency: usize,
        budget_bytes: usize,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (jobs, queue) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(queue, pool, concurrency.max(1), metrics.clone(), shutdown));
        let writer = Writer {
            jobs,
            budget: Arc::new(Semaphore::new(budget_bytes.min(Semaphore::MAX_PERMITS))),
            metrics,
            overload_log: Throttle::new(Duration::from_secs(10)),
        };
        (writer, task)
    }

    /// Queues a decoded message of `size` payload bytes, or drops it (counted) when the queue is full.
    pub fn submit(&self, telemetry: Telemetry, size: usize, received: DateTime<Utc>) {
        let cost = u32::try_from(size.max(1)).unwrap_or(u32::MAX);
        let Ok(budget) = self.budget.clone().try_acquire_many_owned(cost) else {
            self.metrics.on_dropped(DropReason::Overloaded, 1);
            if let Some(suppressed) = self.overload_log.allow() {
                tracing::warn!(
                    suppressed,
                    "telemetry write queue is full (Postgres too slow); dropping"
                );
            }
            return;
        };
        let job = Job {
            telemetry,
            received,
            _budget: budget,
        };
        if self.jobs.send(job).is_err() {
            // Only after the writer task ended, i.e. during shutdown.
            self.metrics.on_dropped(DropReason::DbError, 1);
        }
    }
}

async fn run(
    mut queue: mpsc::UnboundedReceiver<Job>,
    pool: trmm_db::Pool,
    concurrency: usize,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let failure_log = Arc::new(Throttle::new(Duration::from_secs(10)));
    let mut running = JoinSet::new();
    while let Some(job) = queue.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (pool, metrics, shutdown, log) = (pool.clone(), metrics.clone(), shutdown.clone(), failure_log.clone());
        running.spawn(async move {
            write(&pool, job, &metrics, &shutdown, &log).await;
            drop(slot);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// Writes one message, retrying errors that may pass (Postgres restarting) until [`ATTEMPTS`] or shutdown.
async fn write(pool: &trmm_db::Pool, mut job: Job, metrics: &Metrics, shutdown: &CancellationToken, log: &Throttle) {
    if let Telemetry::Wmi(m) = &mut job.telemetry {
        strip_nul(&mut m.wmi);
    }
    let kind = job.telemetry.kind();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
    for attempt in 1..=ATTEMPTS {
        let error = match write_once(pool, &job.telemetry, job.received).await {
            Ok(0) => {
                tracing::debug!(
                    agent_id = job.telemetry.agent_id(),
                    ?kind,
                    "telemetry from an unknown agent"
                );
                metrics.on_written(kind, 1);
                return;
            }
            Ok(_) => {
                metrics.on_written(kind, 1);
                return;
            }
            Err(e) => e,
        };
        let last = attempt == ATTEMPTS || telemetry::is_data_error(&error) || shutdown.is_cancelled();
        if last {
            metrics.on_dropped(DropReason::DbError, 1);
            if let Some(suppressed) = log.allow() {
                tracing::warn!(agent_id = job.telemetry.agent_id(), ?kind, %error, attempt, suppressed, "writing telemetry failed; dropped");
            }
            return;
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

async fn write_once(pool: &trmm_db::Pool, telemetry: &Telemetry, received: DateTime<Utc>) -> Result<u64, DbError> {
    let db = pool.get().await?;
    let db = &db;
    match telemetry {
        Telemetry::Hello(m) => {
            // The batcher handles hellos; this keeps the writer complete for any kind.
            let heartbeat = Heartbeat {
                agent_id: m.agent_id.clone(),
                seen: received,
                version: m.version.clone(),
            };
            telemetry::write_heartbeats(db, &[heartbeat]).await
        }
        Telemetry::AgentInfo(m) => {
            let info = telemetry::AgentInfo {
                hostname: &text(&m.hostname),
                operating_system: &text(&m.operating_system),
                plat: &text(&m.plat),
                total_ram: m.total_ram,
                boot_time: m.boot_time,
                needs_reboot: m.needs_reboot,
                logged_in_username: &text(&m.logged_in_username),
                goarch: &text(&m.goarch),
            };
            telemetry::write_agent_info(db, &m.agent_id, &info).await
        }
        Telemetry::PublicIp(m) => telemetry::write_public_ip(db, &m.agent_id, &text(&m.public_ip)).await,
        Telemetry::Disks(m) => telemetry::write_disks(db, &m.agent_id, &json(serde_json::to_value(&m.disks))).await,
        Telemetry::WinSvc(m) => {
            let services = json(serde_json::to_value(&m.services));
            telemetry::write_services(db, &m.agent_id, &services).await
        }
        // NULs were stripped once in `write`: WMI can be megabytes, not worth copying per attempt.
        Telemetry::Wmi(m) => telemetry::write_wmi(db, &m.agent_id, &m.wmi).await,
    }
}

/// The string without NUL characters, which Postgres text and jsonb cannot hold (upstream loses the whole
/// message on them; a stray NUL in a WMI property is not worth that).
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', ""))
    } else {
        Cow::Borrowed(s)
    }
}

/// The JSON to store for a list of plain structs, with NULs removed from every string.
fn json(value: serde_json::Result<Value>) -> Value {
    // Serializing derived structs with string keys cannot fail.
    let mut value = value.unwrap_or(Value::Null);
    strip_nul(&mut value);
    value
}

fn strip_nul(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', ""),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', ""), v))
                    .collect();
            }
            map.values_mut().for_each(strip_nul);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_characters_are_removed_everywhere() {
        let value = json!({"a\u{0}b": ["x\u{0}y", {"k": "v\u{0}"}], "n": 1.5, "none": null});
        assert_eq!(
            super::json(Ok(value)),
            json!({"ab": ["xy", {"k": "v"}], "n": 1.5, "none": null})
        );
        assert_eq!(text("ho\0st"), "host");
    }
}
