//! The agent table's `checks` column (upstream `calculate_agent_checks`), kept in `agent_check_summary` and
//! refreshed whenever a check or a result of the agent changes, so reading the table never counts results.

use crate::GenericClient;

use crate::{prepared, AgentPk, DbError};

/// An agent's check counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckSummary {
    /// Checks.
    pub total: i32,
    /// Passing, or never run.
    pub passing: i32,
    /// Failing with error severity.
    pub failing: i32,
    /// Failing with warning severity.
    pub warning: i32,
    /// Failing with info severity.
    pub info: i32,
}

impl CheckSummary {
    /// Upstream's `has_failing_checks`: an error or warning failure (info does not count).
    pub fn has_failing_checks(&self) -> bool {
        self.failing > 0 || self.warning > 0
    }
}

/// Recounts one agent's checks. A check without a result counts as passing and a pending one only in the total,
/// as upstream; the severity of a failure is the result's for disk/cpu/memory/script and the check's otherwise.
pub async fn refresh(db: &impl GenericClient, agent: AgentPk) -> Result<(), DbError> {
    // Results of one agent arrive in parallel: the row lock makes each recount start after the previous one's
    // transaction committed, so its snapshot sees that result (counting first and locking on the upsert would
    // let a stale count win).
    const LOCK: &str = "SELECT 1 FROM agent_check_summary WHERE agent_id = $1 FOR UPDATE";
    if prepared::query_opt(db, LOCK, &[&agent.0]).await?.is_none() {
        prepared::execute(
            db,
            "INSERT INTO agent_check_summary (agent_id) VALUES ($1) ON CONFLICT (agent_id) DO NOTHING",
            &[&agent.0],
        )
        .await?;
        prepared::query_one(db, LOCK, &[&agent.0]).await?;
    }
    prepared::execute(
        db,
        "INSERT INTO agent_check_summary (agent_id, total, passing, failing, warning, info)
         SELECT $1, count(*),
             count(*) FILTER (WHERE r.id IS NULL OR r.status = 'passing'),
             count(*) FILTER (WHERE r.status = 'failing' AND sev = 'error'),
             count(*) FILTER (WHERE r.status = 'failing' AND sev = 'warning'),
             count(*) FILTER (WHERE r.status = 'failing' AND sev = 'info')
         FROM checks c
         LEFT JOIN check_results r ON r.assigned_check_id = c.id AND r.agent_id = $1
         CROSS JOIN LATERAL (SELECT CASE WHEN c.check_type IN ('diskspace', 'cpuload', 'memory', 'script')
             THEN r.alert_severity ELSE c.alert_severity END AS sev) s
         WHERE c.agent_id = $1
         ON CONFLICT (agent_id) DO UPDATE SET total = EXCLUDED.total, passing = EXCLUDED.passing,
             failing = EXCLUDED.failing, warning = EXCLUDED.warning, info = EXCLUDED.info",
        &[&agent.0],
    )
    .await?;
    Ok(())
}

/// One agent's counts (zeros before its first check).
pub async fn get(db: &impl GenericClient, agent: AgentPk) -> Result<CheckSummary, DbError> {
    let row = db
        .query_opt(
            "SELECT total, passing, failing, warning, info FROM agent_check_summary WHERE agent_id = $1",
            &[&agent.0],
        )
        .await?;
    Ok(row.map_or_else(CheckSummary::default, |r| CheckSummary {
        total: r.get(0),
        passing: r.get(1),
        failing: r.get(2),
        warning: r.get(3),
        info: r.get(4),
    }))
}
