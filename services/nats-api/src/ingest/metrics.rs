//! Prometheus counters of telemetry ingestion, exposed on `/metrics` through [`Health::register`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use trmm_protocol::nats::TelemetryKind;
use trmm_runtime::health::Health;

/// Why a telemetry message was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The payload is not the msgpack map its reply tag promises.
    Malformed,
    /// The payload is larger than `TRMM_MAX_TELEMETRY_BYTES`.
    Oversized,
    /// The payload's `agent_id` is not the subject it was published on.
    AgentMismatch,
    /// Postgres rejected the write, or stayed unreachable through every retry.
    DbError,
    /// Postgres is so slow that the queue of pending non-heartbeat writes is full.
    Overloaded,
}

impl DropReason {
    /// Every reason, so that each series exists (at zero) from the start.
    pub const ALL: [DropReason; 5] = [
        DropReason::Malformed,
        DropReason::Oversized,
        DropReason::AgentMismatch,
        DropReason::DbError,
        DropReason::Overloaded,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Oversized => "oversized",
            DropReason::AgentMismatch => "agent_mismatch",
            DropReason::DbError => "db_error",
            DropReason::Overloaded => "overloaded",
        }
    }
}

/// The `kind` label value: the reply tag without its `agent-` prefix (hello, agentinfo, ...).
pub fn kind_label(kind: TelemetryKind) -> &'static str {
    let tag = kind.tag();
    tag.strip_prefix("agent-").unwrap_or(tag)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Cheaply cloneable ingestion counters (one set per ingest instance).
#[derive(Clone)]
pub struct Metrics {
    received: Family<KindLabel, Counter>,
    written: Family<KindLabel, Counter>,
    dropped: Family<ReasonLabel, Counter>,
    coalesced: Counter,
    pending: Gauge,
    batches: Counter,
    batch_failures: Counter,
    batch_size: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Metrics {
            received: Family::default(),
            written: Family::default(),
            dropped: Family::default(),
            coalesced: Counter::default(),
            pending: Gauge::default(),
            batches: Counter::default(),
            batch_failures: Counter::default(),
            // 1, 4, 16, ... 16384 rows: a flush holds at most a few thousand heartbeats.
            batch_size: Histogram::new(exponential_buckets(1.0, 4.0, 8)),
        };
        // Every series exists from the start, so dashboards and alerts see zeros rather than nothing.
        for kind in TelemetryKind::ALL {
            let label = KindLabel { kind: kind_label(kind) };
            let _ = metrics.received.get_or_create(&label);
            let _ = metrics.written.get_or_create(&label);
        }
        for reason in DropReason::ALL {
            let _ = metrics.dropped.get_or_create(&ReasonLabel { reason: reason.label() });
        }
        metrics
    }
}

impl Metrics {
    /// Adds every ingestion metric to the service's `/metrics`.
    pub fn register(&self, health: &Health) {
        trmm_runtime::register_metrics! { health;
            "trmm_telemetry_received", "Agent telemetry messages received, by kind" => self.received;
            "trmm_telemetry_written",
                "Agent telemetry messages written to Postgres (unknown agents match no row), by kind" => self.written;
            "trmm_telemetry_dropped", "Agent telemetry messages dropped, by reason" => self.dropped;
            "trmm_heartbeats_coalesced",
                "Heartbeats superseded by a newer one from the same agent before they were written" => self.coalesced;
            "trmm_heartbeats_pending", "Heartbeats waiting for the next batch write" => self.pending;
            "trmm_heartbeat_batches", "Batched heartbeat UPDATE statements that succeeded" => self.batches;
            "trmm_heartbeat_batch_failures",
                "Batched heartbeat UPDATE statements that failed and were retried" => self.batch_failures;
            "trmm_heartbeat_batch_size", "Heartbeats per successful batch UPDATE" => self.batch_size;
        }
    }

    /// Messages received with this kind's reply tag (dropped ones included).
    pub fn received(&self, kind: TelemetryKind) -> u64 {
        self.received.get_or_create(&KindLabel { kind: kind_label(kind) }).get()
    }

    /// Messages of this kind written to Postgres.
    pub fn written(&self, kind: TelemetryKind) -> u64 {
        self.written.get_or_create(&KindLabel { kind: kind_label(kind) }).get()
    }

    /// Messages dropped for this reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped
            .get_or_create(&ReasonLabel { reason: reason.label() })
            .get()
    }

    /// Heartbeats replaced by a newer one before being written.
    pub fn coalesced(&self) -> u64 {
        self.coalesced.get()
    }

    /// Heartbeats waiting to be written.
    pub fn pending(&self) -> i64 {
        self.pending.get()
    }

    /// Successful batch UPDATE statements.
    pub fn batches(&self) -> u64 {
        self.batches.get()
    }

    /// Failed batch UPDATE statements.
    pub fn batch_failures(&self) -> u64 {
        self.batch_failures.get()
    }

    pub(crate) fn on_received(&self, kind: TelemetryKind) {
        self.received.get_or_create(&KindLabel { kind: kind_label(kind) }).inc();
    }

    pub(crate) fn on_written(&self, kind: TelemetryKind, count: u64) {
        self.written
            .get_or_create(&KindLabel { kind: kind_label(kind) })
            .inc_by(count);
    }

    pub(crate) fn on_dropped(&self, reason: DropReason, count: u64) {
        self.dropped
            .get_or_create(&ReasonLabel { reason: reason.label() })
            .inc_by(count);
    }

    pub(crate) fn on_coalesced(&self, count: u64) {
        self.coalesced.inc_by(count);
    }

    pub(crate) fn set_pending(&self, pending: usize) {
        self.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    pub(crate) fn on_batch(&self, size: usize) {
        self.batches.inc();
        self.batch_size.observe(size as f64);
    }

    pub(crate) fn on_batch_failure(&self) {
        self.batch_failures.inc();
    }
}
