//! Check results (upstream `CheckResult`, one row per agent and check) and what recording one writes: the result,
//! a history point and the agent's check summary.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Row;

use super::{summary, CheckId};
use crate::prepared;
use crate::{AgentPk, ClientId, DbError, SiteId};

pub use crate::ids::ResultId;

/// A check's last result on one agent.
#[derive(Debug, Clone)]
pub struct CheckResultRow {
    /// Primary key (the `pk` of reset and history URLs).
    pub id: ResultId,
    /// The agent.
    pub agent: AgentPk,
    /// The agent's string id.
    pub agent_id: String,
    /// The check.
    pub assigned_check: CheckId,
    /// passing / failing / pending.
    pub status: String,
    /// Severity the last result decided (dynamic types only).
    pub alert_severity: Option<String>,
    /// Human summary of the last result.
    pub more_info: Option<String>,
    /// When it was last reported.
    pub last_run: Option<DateTime<Utc>>,
    /// Consecutive failures.
    pub fail_count: i32,
    /// Unused upstream field kept for the shape.
    pub outage_history: Option<Value>,
    /// Event log matches.
    pub extra_details: Option<Value>,
    /// Script output.
    pub stdout: Option<String>,
    /// Script errors.
    pub stderr: Option<String>,
    /// Script exit code.
    pub retcode: Option<i64>,
    /// Script runtime, `"%.4f"` seconds.
    pub execution_time: Option<String>,
    /// The last 15 cpu/memory samples.
    pub history: Vec<i32>,
    /// The agent's site, for scope checks.
    pub site: SiteId,
    /// The agent's client, for scope checks.
    pub client: ClientId,
}

const SELECT: &str = "SELECT r.id, r.agent_id AS agent, a.agent_id, r.assigned_check_id, r.status, r.alert_severity,
    r.more_info, r.last_run, r.fail_count, r.outage_history, r.extra_details, r.stdout, r.stderr, r.retcode,
    r.execution_time, r.history, a.site_id, s.client_id
    FROM check_results r JOIN agents a ON a.id = r.agent_id JOIN sites s ON s.id = a.site_id";

fn from_row(row: &Row) -> CheckResultRow {
    from_row! { row, CheckResultRow {
        id: ResultId(row.get("id")), agent, agent_id, assigned_check = "assigned_check_id", status,
        alert_severity, more_info, last_run, fail_count, outage_history, extra_details, stdout, stderr, retcode,
        execution_time, history, site = "site_id", client = "client_id",
    } }
}

/// One result.
pub async fn get_result(db: &impl GenericClient, id: ResultId) -> Result<Option<CheckResultRow>, DbError> {
    let sql = format!("{SELECT} WHERE r.id = $1");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// The results of every check of one agent.
pub async fn results_for_agent(db: &impl GenericClient, agent: AgentPk) -> Result<Vec<CheckResultRow>, DbError> {
    let sql = format!("{SELECT} WHERE r.agent_id = $1 ORDER BY r.id");
    Ok(db.query(&sql, &[&agent.0]).await?.iter().map(from_row).collect())
}

/// The result row of (agent, check), created pending on first use and locked until the transaction ends, so
/// two results of the same check are evaluated one after the other (the cpu/memory history needs that).
pub async fn lock(db: &impl GenericClient, agent: AgentPk, check: CheckId) -> Result<CheckResultRow, DbError> {
    let lock = format!("{SELECT} WHERE r.agent_id = $1 AND r.assigned_check_id = $2 FOR UPDATE OF r");
    // The row exists from the second result on: one statement then, the insert only the first time.
    if let Some(row) = prepared::query_opt(db, &lock, &[&agent.0, &check.0]).await? {
        return Ok(from_row(&row));
    }
    prepared::execute(
        db,
        "INSERT INTO check_results (agent_id, assigned_check_id) VALUES ($1, $2)
         ON CONFLICT (agent_id, assigned_check_id) DO NOTHING",
        &[&agent.0, &check.0],
    )
    .await?;
    Ok(from_row(&prepared::query_one(db, &lock, &[&agent.0, &check.0]).await?))
}

/// What evaluating one agent report decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// passing / failing.
    pub status: String,
    /// Dynamic severity (disk, cpu, memory, script), else `None`.
    pub alert_severity: Option<String>,
    /// Summary text.
    pub more_info: Option<String>,
    /// The rolling samples after this one (cpu/memory), else unchanged.
    pub history: Vec<i32>,
    /// Event log matches.
    pub extra_details: Option<Value>,
    /// Script output.
    pub stdout: Option<String>,
    /// Script errors.
    pub stderr: Option<String>,
    /// Script exit code.
    pub retcode: Option<i64>,
    /// Script runtime.
    pub execution_time: Option<String>,
    /// The history point's value.
    pub y: Option<i32>,
    /// The history point's details.
    pub results: Option<Value>,
}

/// Stores an evaluated report on a locked result row: status and details, `fail_count` (+1 when failing, 0 when
/// passing), a history point, and the agent's refreshed check summary. Returns the new fail count.
pub async fn record(
    db: &impl GenericClient,
    row: &CheckResultRow,
    e: &Evaluated,
    now: DateTime<Utc>,
) -> Result<i32, DbError> {
    let fail_count = match e.status.as_str() {
        "failing" => row.fail_count.saturating_add(1),
        _ => 0,
    };
    prepared::execute(
        db,
        "UPDATE check_results SET status = $2, alert_severity = COALESCE($3, alert_severity),
            more_info = COALESCE($4, more_info), last_run = $5, fail_count = $6, history = $7,
            extra_details = COALESCE($8, extra_details), stdout = COALESCE($9, stdout),
            stderr = COALESCE($10, stderr), retcode = COALESCE($11, retcode),
            execution_time = COALESCE($12, execution_time)
         WHERE id = $1",
        &[
            &row.id.0,
            &e.status,
            &e.alert_severity,
            &e.more_info,
            &now,
            &fail_count,
            &e.history,
            &e.extra_details,
            &e.stdout,
            &e.stderr,
            &e.retcode,
            &e.execution_time,
        ],
    )
    .await?;
    prepared::execute(
        db,
        "INSERT INTO check_history (check_id, agent_id, x, y, results) VALUES ($1, $2, $3, $4, $5)",
        &[&row.assigned_check.0, &row.agent_id, &now, &e.y, &e.results],
    )
    .await?;
    summary::refresh(db, row.agent).await?;
    Ok(fail_count)
}

/// Sets one result to passing (upstream `ResetCheck`: the fail count stays).
pub async fn reset(db: &impl GenericClient, row: &CheckResultRow) -> Result<(), DbError> {
    db.execute(
        "UPDATE check_results SET status = 'passing' WHERE id = $1",
        &[&row.id.0],
    )
    .await?;
    summary::refresh(db, row.agent).await
}

/// Sets every result of the agent to passing (upstream `ResetAllChecksStatus`).
pub async fn reset_all(db: &impl GenericClient, agent: AgentPk) -> Result<(), DbError> {
    db.execute(
        "UPDATE check_results SET status = 'passing' WHERE agent_id = $1",
        &[&agent.0],
    )
    .await?;
    summary::refresh(db, agent).await
}
