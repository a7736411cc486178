//! Agent telemetry ingestion (agent-protocol.md 1.3–1.5): agents publish on subject `<agent_id>` with the message
//! type in the reply field; every message is decoded, checked against its subject and written to Postgres.
//!
//! Heartbeats go through the coalescing [`heartbeat::Batcher`] (one UPDATE per flush); the other kinds are
//! written directly with bounded concurrency ([`writer::Writer`]). The subscription uses the queue group
//! [`QUEUE_GROUP`], so replicas of trmm-nats-api share the messages.

mod dispatch;
pub mod heartbeat;
pub mod metrics;
mod throttle;
pub mod writer;

use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use trmm_protocol::nats::TelemetryKind;
use trmm_runtime::clock::{SharedClock, SystemClock};

use dispatch::Outcome;
pub use metrics::{DropReason, Metrics};
use throttle::Throttle;

/// NATS queue group shared by every replica, so each message is handled once.
pub const QUEUE_GROUP: &str = "trmm-nats-api";

/// Default of `TRMM_MAX_TELEMETRY_BYTES`: far above any real message (a large Windows WMI inventory is
/// well under 1 MiB), well below nats-server's own `max_payload` (64 MiB in the shipped config).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// How long shutdown waits for the last heartbeat flush and queued writes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Tuning of one ingest instance.
#[derive(Debug, Clone)]
pub struct Options {
    /// Larger payloads are dropped (counted as `oversized`) without being decoded.
    pub max_message_bytes: usize,
    /// Longest time a heartbeat waits before its batch is written.
    pub flush_interval: Duration,
    /// A flush starts early once this many agents have pending heartbeats; also the rows per statement.
    pub max_batch: usize,
    /// Non-heartbeat writes running at once.
    pub write_concurrency: usize,
    /// Payload bytes of non-heartbeat messages allowed to wait for a write; beyond it they are dropped as
    /// `overloaded` (raised to `max_message_bytes` if smaller).
    pub write_backlog_bytes: usize,
    /// Stamps when each message was received.
    pub clock: SharedClock,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            flush_interval: Duration::from_secs(1),
            max_batch: 5000,
            write_concurrency: 16,
            write_backlog_bytes: 64 * 1024 * 1024,
            clock: SystemClock::shared(),
        }
    }
}

/// Subscribes to agent telemetry and spawns the ingestion. The returned task ends after `shutdown`, once
/// the last pending heartbeats have been flushed (bounded by a short grace period).
///
/// The subscription is registered with the client before this returns; `nats.flush()` afterwards guarantees
/// the server knows it too.
pub async fn spawn(
    nats: &async_nats::Client,
    pool: trmm_db::Pool,
    options: Options,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, async_nats::SubscribeError> {
    let subscriber = nats.queue_subscribe("*", QUEUE_GROUP.to_owned()).await?;
    // Once this returns the server has the subscription (a PING round trip), so a replica that reports ready
    // takes its share of the queue group at once. A failed flush only delays that.
    if let Err(e) = nats.flush().await {
        tracing::warn!(error = %e, "telemetry subscription not confirmed by NATS yet");
    }
    Ok(tokio::spawn(run(subscriber, pool, options, metrics, shutdown)))
}

async fn run(
    subscriber: async_nats::Subscriber,
    pool: trmm_db::Pool,
    options: Options,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let batcher = heartbeat::Batcher::new(options.max_batch, metrics.clone());
    let flusher = tokio::spawn(
        batcher
            .clone()
            .run(pool.clone(), options.flush_interval, shutdown.clone()),
    );
    let budget = options.write_backlog_bytes.max(options.max_message_bytes);
    let (writer, mut writes) = writer::Writer::spawn(
        pool.clone(),
        options.write_concurrency,
        budget,
        metrics.clone(),
        shutdown.clone(),
    );

    let logs = DropLogs::new(pool.clone());
    receive(subscriber, &batcher, &writer, &options, &metrics, &logs, &shutdown).await;

    // No more hellos can arrive: stop the periodic flusher, then write what is left once.
    let _ = flusher.await;
    drop(writer);
    let finish = async {
        if let Err(error) = batcher.flush(&pool).await {
            tracing::warn!(%error, pending = metrics.pending(), "final heartbeat flush failed; heartbeats lost");
        }
        let _ = (&mut writes).await;
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, finish).await.is_err() {
        tracing::warn!(
            pending = metrics.pending(),
            "Postgres too slow at shutdown; pending telemetry abandoned"
        );
        writes.abort();
    }
    tracing::info!("telemetry ingestion stopped");
}

/// Receives until shutdown (or until the subscription ends, which only happens if the client is closed).
async fn receive(
    mut subscriber: async_nats::Subscriber,
    batcher: &heartbeat::Batcher,
    writer: &writer::Writer,
    options: &Options,
    metrics: &Metrics,
    logs: &DropLogs,
    shutdown: &CancellationToken,
) {
    loop {
        let message = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            message = subscriber.next() => message,
        };
        let Some(message) = message else {
            tracing::error!("the NATS subscription for agent telemetry ended; no more telemetry is ingested");
            return;
        };
        let received = options.clock.now();
        let (subject, payload) = (message.subject.as_str(), &message.payload);
        match dispatch::classify(subject, message.reply.as_deref(), payload, options.max_message_bytes) {
            Outcome::Ignore => {}
            Outcome::Drop { kind, reason, detail } => {
                metrics.on_received(kind);
                metrics.on_dropped(reason, 1);
                logs.log(reason, subject, kind, &detail);
            }
            Outcome::Hello(hello) => {
                metrics.on_received(TelemetryKind::Hello);
                batcher.push(hello, received);
            }
            Outcome::Write(telemetry) => {
                metrics.on_received(telemetry.kind());
                writer.submit(telemetry, payload.len(), received);
            }
        }
    }
}

/// One throttle per drop reason for each of [`DropLogs`]' outlets.
struct PerReason {
    malformed: Throttle,
    oversized: Throttle,
    mismatch: Throttle,
}

impl PerReason {
    fn new(every: Duration) -> Self {
        PerReason {
            malformed: Throttle::new(every),
            oversized: Throttle::new(every),
            mismatch: Throttle::new(every),
        }
    }

    /// The throttle of a reason the agent is to blame for.
    fn of(&self, reason: DropReason) -> Option<&Throttle> {
        match reason {
            DropReason::Malformed => Some(&self.malformed),
            DropReason::Oversized => Some(&self.oversized),
            DropReason::AgentMismatch => Some(&self.mismatch),
            DropReason::DbError | DropReason::Overloaded => None,
        }
    }
}

/// Where messages dropped for the agent's fault are reported: a log line every few seconds and a debug log entry
/// (`agent_issues`) a minute per reason at most, so a misbehaving agent (or a flood of them) floods neither.
struct DropLogs {
    lines: PerReason,
    entries: PerReason,
    pool: trmm_db::Pool,
}

impl DropLogs {
    fn new(pool: trmm_db::Pool) -> Self {
        DropLogs {
            lines: PerReason::new(Duration::from_secs(10)),
            entries: PerReason::new(Duration::from_secs(60)),
            pool,
        }
    }

    fn log(&self, reason: DropReason, subject: &str, kind: TelemetryKind, detail: &str) {
        if let Some(suppressed) = self.lines.of(reason).and_then(Throttle::allow) {
            let (kind, reason) = (kind.tag(), reason.label());
            tracing::warn!(subject, kind, reason, detail, suppressed, "dropped agent telemetry");
        }
        if let Some(held) = self.entries.of(reason).and_then(Throttle::allow) {
            let detail: String = detail.chars().take(500).collect();
            let shown: String = subject.chars().take(64).collect();
            let mut message = format!(
                "Dropped {} message on {shown}: {} ({detail})",
                kind.tag(),
                reason.label()
            );
            if held > 0 {
                message.push_str(&format!("; {held} more dropped for this reason since the last entry"));
            }
            tokio::spawn(debug_entry(self.pool.clone(), subject.to_owned(), message));
        }
    }
}

/// Writes a drop's debug log entry, about the agent whose subject it came on if that agent exists.
async fn debug_entry(pool: trmm_db::Pool, subject: String, message: String) {
    use trmm_db::debug_log::{self, Level, LogType, NewEntry};
    let written = async {
        let db = pool.get().await?;
        let agent = trmm_db::agents::find_by_agent_id(&db, &subject).await?;
        let entry = NewEntry {
            agent: agent.map(|a| a.pk),
            level: Level::Warning,
            log_type: LogType::AgentIssues,
            message: &message,
        };
        debug_log::insert(&db, &entry).await
    }
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "debug log entry for dropped telemetry not written");
    }
}
