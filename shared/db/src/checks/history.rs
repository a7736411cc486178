//! Check history (upstream `CheckHistory`): one point per reported result, for the dashboard's graphs.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::CheckId;
use crate::DbError;

/// One point of a check's graph.
#[derive(Debug, Clone)]
pub struct HistoryPoint {
    /// When.
    pub x: DateTime<Utc>,
    /// A percentage, or 1 failing / 0 passing.
    pub y: Option<i32>,
    /// Details.
    pub results: Option<Value>,
}

/// The points of one check on one agent, newest first, since `since` if given.
pub async fn history(
    db: &impl GenericClient,
    check: CheckId,
    agent_id: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<HistoryPoint>, DbError> {
    let rows = db
        .query(
            "SELECT x, y, results FROM check_history
             WHERE check_id = $1 AND agent_id = $2 AND ($3::timestamptz IS NULL OR x > $3)
             ORDER BY x DESC",
            &[&check.0, &agent_id, &since],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| HistoryPoint {
            x: r.get(0),
            y: r.get(1),
            results: r.get(2),
        })
        .collect())
}

/// Deletes up to `batch` history points whose agent no longer exists (upstream `remove_orphaned_history_results`);
/// returns how many went.
pub async fn prune_orphans(db: &impl GenericClient, batch: i64) -> Result<u64, DbError> {
    Ok(db
        .execute(
            "DELETE FROM check_history WHERE id IN (
                 SELECT h.id FROM check_history h
                 WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.agent_id = h.agent_id) LIMIT $1)",
            &[&batch],
        )
        .await?)
}
