//! The retention sweep of core maintenance (upstream `core.tasks.core_maintenance_tasks` and the prune jobs it
//! starts): each prune deletes one bounded batch per call, so that a huge table is emptied in many short
//! transactions rather than one long one; two workers pruning by age at once take different rows.

use crate::GenericClient;
use chrono::{DateTime, Utc};

use crate::DbError;

/// What one prune deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prune {
    /// Check history recorded before the cutoff (upstream `prune_check_history`).
    CheckHistory(DateTime<Utc>),
    /// Resolved alerts raised before the cutoff: by `alert_time`, not `resolved_on` (upstream
    /// `prune_resolved_alerts`).
    ResolvedAlerts(DateTime<Utc>),
    /// Agent history from before the cutoff (upstream `prune_agent_history`).
    AgentHistory(DateTime<Utc>),
    /// Audit log entries from before the cutoff (upstream `prune_audit_log`).
    AuditLog(DateTime<Utc>),
    /// Debug log entries from before the cutoff (upstream `prune_debug_log`).
    DebugLog(DateTime<Utc>),
    /// Check history of agents that no longer exist (upstream `remove_orphaned_history_results`).
    OrphanedCheckHistory,
}

impl Prune {
    /// The table, the condition on its rows (`$2` is the cutoff) and the cutoff of a prune by age.
    fn by_age(&self) -> Option<(&'static str, &'static str, DateTime<Utc>)> {
        match *self {
            Prune::CheckHistory(c) => Some(("check_history", "x < $2", c)),
            Prune::ResolvedAlerts(c) => Some(("alerts", "resolved AND alert_time < $2", c)),
            Prune::AgentHistory(c) => Some(("agent_history", "time < $2", c)),
            Prune::AuditLog(c) => Some(("audit_logs", "entry_time < $2", c)),
            Prune::DebugLog(c) => Some(("debug_logs", "entry_time < $2", c)),
            Prune::OrphanedCheckHistory => None,
        }
    }

    /// Upstream's name of the job, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Prune::CheckHistory(_) => "prune_check_history",
            Prune::ResolvedAlerts(_) => "prune_resolved_alerts",
            Prune::AgentHistory(_) => "prune_agent_history",
            Prune::AuditLog(_) => "prune_audit_log",
            Prune::DebugLog(_) => "prune_debug_log",
            Prune::OrphanedCheckHistory => "remove_orphaned_history_results",
        }
    }
}

/// Deletes up to `limit` rows of `prune` (by age, skipping rows another sweep holds); returns how many went,
/// fewer than `limit` once nothing is left to delete.
pub async fn prune_batch(db: &impl GenericClient, prune: Prune, limit: i64) -> Result<u64, DbError> {
    let Some((table, condition, cutoff)) = prune.by_age() else {
        return crate::checks::prune_orphaned_history(db, limit).await;
    };
    let sql = format!(
        "DELETE FROM {table} WHERE id IN (
             SELECT t.id FROM {table} t WHERE {condition} LIMIT $1 FOR UPDATE SKIP LOCKED)"
    );
    Ok(db.execute(&sql, &[&limit, &cutoff]).await?)
}
