//! The periodic schedule (upstream `tacticalrmm/celery.py` beat entries): trmm-beat enqueues a [`Periodic`] job
//! each time an entry falls due and trmm-worker runs it. Due times depend only on the wall clock (UTC), never
//! on when a beat started, so every beat replica computes the same ones.

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::Job;

/// The periodic jobs trmm-rs runs so far. The alert engine's `agent-outages-task` and `resolve-alerts-task`
/// join when their work exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodicJob {
    /// Ends snoozes whose time is up (upstream `alerts.tasks.unsnooze_alerts`).
    UnsnoozeAlerts,
    /// Prunes old history, alerts and audit rows (upstream `core.tasks.core_maintenance_tasks`).
    CoreMaintenance,
    /// Completes agent updates the agents have finished (upstream `core.tasks.resolve_pending_actions`).
    ResolvePendingActions,
    /// Raises availability alerts for overdue agents (upstream `agents.tasks.agent_outages_task`).
    AgentOutages,
    /// Resolves availability alerts of agents back online (upstream `core.tasks.resolve_alerts_task`).
    ResolveAlerts,
    /// Hands stranded alert notifications to a worker again (trmm-rs: their queue entry was lost with Redis,
    /// their worker died, or their retry is due).
    NotificationSweep,
}

/// When an entry falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// At every multiple of this many seconds since the Unix epoch.
    Every(u32),
    /// Every hour at this minute (UTC).
    Hourly {
        /// Minute of the hour, 0–59.
        minute: u32,
    },
}

impl PeriodicJob {
    /// Every entry of the schedule.
    pub const ALL: [PeriodicJob; 6] = [
        PeriodicJob::UnsnoozeAlerts,
        PeriodicJob::CoreMaintenance,
        PeriodicJob::ResolvePendingActions,
        PeriodicJob::AgentOutages,
        PeriodicJob::ResolveAlerts,
        PeriodicJob::NotificationSweep,
    ];

    /// Upstream's beat entry name, used in logs, metrics and Redis keys.
    pub fn name(self) -> &'static str {
        match self {
            PeriodicJob::UnsnoozeAlerts => "unsnooze-alerts",
            PeriodicJob::CoreMaintenance => "core-maintenance-tasks",
            PeriodicJob::ResolvePendingActions => "resolve-pending-actions",
            PeriodicJob::AgentOutages => "agent-outages-task",
            PeriodicJob::ResolveAlerts => "resolve-alerts-task",
            PeriodicJob::NotificationSweep => "notification-sweep",
        }
    }

    /// Upstream's cadence.
    pub fn cadence(self) -> Cadence {
        match self {
            PeriodicJob::UnsnoozeAlerts => Cadence::Hourly { minute: 10 },
            PeriodicJob::CoreMaintenance => Cadence::Hourly { minute: 15 },
            PeriodicJob::ResolvePendingActions => Cadence::Every(100),
            PeriodicJob::AgentOutages => Cadence::Every(150),
            PeriodicJob::ResolveAlerts => Cadence::Every(80),
            PeriodicJob::NotificationSweep => Cadence::Every(60),
        }
    }
}

impl Cadence {
    /// The latest due time at or before `now`.
    pub fn latest_due(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Cadence::Every(secs) => {
                let secs = i64::from(secs.max(1));
                let due = now.timestamp().div_euclid(secs) * secs;
                DateTime::from_timestamp(due, 0).unwrap_or(now)
            }
            Cadence::Hourly { minute } => {
                let hour_start = now.timestamp() - i64::from(now.minute() * 60 + now.second());
                let due = hour_start + i64::from(minute.min(59) * 60);
                let due = if due > now.timestamp() { due - 3600 } else { due };
                DateTime::from_timestamp(due, 0).unwrap_or(now)
            }
        }
    }

    /// Seconds from one due time to the next.
    pub fn period_secs(self) -> i64 {
        match self {
            Cadence::Every(secs) => i64::from(secs.max(1)),
            Cadence::Hourly { .. } => 3600,
        }
    }
}

/// One run of a periodic job: the entry and the due time it was enqueued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Periodic {
    /// The entry.
    pub job: PeriodicJob,
    /// The due time this run belongs to.
    pub due: DateTime<Utc>,
}

impl Periodic {
    /// Whether a later due time of the same entry has come by `now`: trmm-beat enqueues that one, so this run
    /// is superseded (a queue that backed up while no worker ran collapses to one run per entry).
    pub fn superseded(&self, now: DateTime<Utc>) -> bool {
        self.job.cadence().latest_due(now) > self.due
    }
}

impl Job for Periodic {
    const QUEUE: &'static str = "periodic";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_payload_reads_and_writes_as_literal_json() {
        let literal = r#"{"job":"core_maintenance","due":"2030-01-01T10:15:00Z"}"#;
        let job: Periodic = serde_json::from_str(literal).unwrap();
        assert_eq!(
            job,
            Periodic {
                job: PeriodicJob::CoreMaintenance,
                due: at("2030-01-01T10:15:00Z")
            }
        );
        assert_eq!(serde_json::to_string(&job).unwrap(), literal);
        for (job, text) in [
            (PeriodicJob::UnsnoozeAlerts, "\"unsnooze_alerts\""),
            (PeriodicJob::ResolvePendingActions, "\"resolve_pending_actions\""),
            (PeriodicJob::AgentOutages, "\"agent_outages\""),
            (PeriodicJob::ResolveAlerts, "\"resolve_alerts\""),
            (PeriodicJob::NotificationSweep, "\"notification_sweep\""),
        ] {
            assert_eq!(serde_json::to_string(&job).unwrap(), text);
        }
        assert!(serde_json::from_str::<Periodic>(r#"{"job":"sync_mesh","due":"2030-01-01T10:15:00Z"}"#).is_err());
    }

    #[test]
    fn intervals_are_aligned_to_the_epoch() {
        let every = Cadence::Every(100);
        // 1_893_492_000 is 2030-01-01T10:00:00Z, a multiple of 100.
        assert_eq!(every.latest_due(at("2030-01-01T10:00:00Z")), at("2030-01-01T10:00:00Z"));
        assert_eq!(every.latest_due(at("2030-01-01T10:01:39Z")), at("2030-01-01T10:00:00Z"));
        assert_eq!(every.latest_due(at("2030-01-01T10:01:40Z")), at("2030-01-01T10:01:40Z"));
        assert_eq!(
            Cadence::Every(150).latest_due(at("2030-01-01T10:04:59Z")),
            at("2030-01-01T10:02:30Z")
        );
    }

    #[test]
    fn hourly_entries_fall_due_at_their_minute() {
        let at_ten = Cadence::Hourly { minute: 10 };
        assert_eq!(
            at_ten.latest_due(at("2030-01-01T10:10:00Z")),
            at("2030-01-01T10:10:00Z")
        );
        assert_eq!(
            at_ten.latest_due(at("2030-01-01T10:59:59Z")),
            at("2030-01-01T10:10:00Z")
        );
        assert_eq!(
            at_ten.latest_due(at("2030-01-01T10:09:59Z")),
            at("2030-01-01T09:10:00Z")
        );
        assert_eq!(
            at_ten.latest_due(at("2030-01-01T00:05:00Z")),
            at("2029-12-31T23:10:00Z")
        );
        assert_eq!((at_ten.period_secs(), Cadence::Every(150).period_secs()), (3600, 150));
    }

    #[test]
    fn upstreams_cadences() {
        let cadences: Vec<_> = PeriodicJob::ALL.iter().map(|j| (j.name(), j.cadence())).collect();
        assert_eq!(
            cadences,
            [
                ("unsnooze-alerts", Cadence::Hourly { minute: 10 }),
                ("core-maintenance-tasks", Cadence::Hourly { minute: 15 }),
                ("resolve-pending-actions", Cadence::Every(100)),
                ("agent-outages-task", Cadence::Every(150)),
                ("resolve-alerts-task", Cadence::Every(80)),
                ("notification-sweep", Cadence::Every(60)),
            ]
        );
    }

    #[test]
    fn a_run_is_superseded_once_its_entry_falls_due_again() {
        let job = Periodic {
            job: PeriodicJob::ResolvePendingActions,
            due: at("2030-01-01T10:00:00Z"),
        };
        assert!(!job.superseded(at("2030-01-01T10:01:39Z")));
        assert!(job.superseded(at("2030-01-01T10:01:40Z")));
    }
}
