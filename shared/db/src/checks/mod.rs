//! Checks (Tactical RMM `checks.Check`): what to watch on an agent. A check belongs to an agent; the policy owner
//! (`policy_id`) arrives with the policies issue and is carried through already.

mod history;
mod results;
mod summary;

use crate::GenericClient;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::roles::Scope;
use crate::{AgentPk, ClientId, DbError, ScriptId, SiteId};

pub use crate::ids::CheckId;
pub use history::{history, prune_orphans as prune_orphaned_history, HistoryPoint};
pub use results::{get_result, lock, record, reset, reset_all, results_for_agent, CheckResultRow, Evaluated, ResultId};
pub use summary::{get as summary, refresh as refresh_summary, CheckSummary};

/// Everything about a check that a user sets (upstream's editable Check fields, under their names).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CheckFields {
    /// Display name (ping and event log checks).
    pub name: Option<String>,
    /// Email when it fails.
    pub email_alert: bool,
    /// Text when it fails.
    pub text_alert: bool,
    /// Show a dashboard alert when it fails.
    pub dashboard_alert: bool,
    /// Consecutive failures before an alert.
    pub fails_b4_alert: i32,
    /// Seconds between runs; 0 = the agent's interval.
    pub run_interval: i32,
    /// Static severity (ping, winsvc, eventlog).
    pub alert_severity: Option<String>,
    /// Warning threshold.
    pub warning_threshold: Option<i32>,
    /// Error threshold.
    pub error_threshold: Option<i32>,
    /// Disk (diskspace).
    pub disk: Option<String>,
    /// Host (ping).
    pub ip: Option<String>,
    /// Script (script checks).
    pub script: Option<ScriptId>,
    /// Script arguments, before templating.
    pub script_args: Vec<String>,
    /// `KEY=VALUE` environment, before templating.
    pub env_vars: Vec<String>,
    /// Return codes meaning info.
    pub info_return_codes: Vec<i64>,
    /// Return codes meaning warning.
    pub warning_return_codes: Vec<i64>,
    /// Return codes meaning success.
    pub success_return_codes: Vec<i64>,
    /// Script timeout in seconds.
    pub timeout: Option<i32>,
    /// Service name.
    pub svc_name: Option<String>,
    /// Service display name.
    pub svc_display_name: Option<String>,
    /// A starting service passes.
    pub pass_if_start_pending: Option<bool>,
    /// A missing service passes.
    pub pass_if_svc_not_exist: bool,
    /// Start a stopped service.
    pub restart_if_stopped: Option<bool>,
    /// Policy service mode.
    pub svc_policy_mode: Option<String>,
    /// Event log name.
    pub log_name: Option<String>,
    /// Event id.
    pub event_id: Option<i32>,
    /// Any event id.
    pub event_id_is_wildcard: bool,
    /// Event type.
    pub event_type: Option<String>,
    /// Event source substring.
    pub event_source: Option<String>,
    /// Event message substring.
    pub event_message: Option<String>,
    /// `contains` / `not_contains`.
    pub fail_when: Option<String>,
    /// Days to search back.
    pub search_last_days: Option<i32>,
    /// Matches needed to decide.
    pub number_of_events_b4_alert: Option<i32>,
}

/// A stored check.
#[derive(Debug, Clone)]
pub struct Check {
    /// Primary key.
    pub id: CheckId,
    /// Owning agent.
    pub agent: Option<AgentPk>,
    /// Owning policy (the policies issue).
    pub policy: Option<i32>,
    /// Overridden by a policy check.
    pub overridden_by_policy: bool,
    /// The check type as stored.
    pub check_type: String,
    /// The settings.
    pub fields: CheckFields,
    /// The script's name (script checks), for descriptions.
    pub script_name: Option<String>,
    /// The owning agent's site, for scope checks.
    pub site: Option<SiteId>,
    /// The owning agent's client, for scope checks.
    pub client: Option<ClientId>,
    /// Audit: creator.
    pub created_by: Option<String>,
    /// Audit: created.
    pub created_time: DateTime<Utc>,
    /// Audit: last editor.
    pub modified_by: Option<String>,
    /// Audit: last edit.
    pub modified_time: DateTime<Utc>,
}

const COLUMNS: &str = "name, email_alert, text_alert, dashboard_alert, fails_b4_alert, run_interval, alert_severity,
    warning_threshold, error_threshold, disk, ip, script_id, script_args, env_vars, info_return_codes,
    warning_return_codes, success_return_codes, timeout, svc_name, svc_display_name, pass_if_start_pending,
    pass_if_svc_not_exist, restart_if_stopped, svc_policy_mode, log_name, event_id, event_id_is_wildcard, event_type,
    event_source, event_message, fail_when, search_last_days, number_of_events_b4_alert";

pub(crate) const SELECT: &str = "SELECT c.id, c.agent_id, c.policy_id, c.overridden_by_policy, c.check_type,
    c.name, c.email_alert, c.text_alert, c.dashboard_alert, c.fails_b4_alert, c.run_interval, c.alert_severity,
    c.warning_threshold, c.error_threshold, c.disk, c.ip, c.script_id, c.script_args, c.env_vars, c.info_return_codes,
    c.warning_return_codes, c.success_return_codes, c.timeout, c.svc_name, c.svc_display_name,
    c.pass_if_start_pending, c.pass_if_svc_not_exist, c.restart_if_stopped, c.svc_policy_mode, c.log_name,
    c.event_id, c.event_id_is_wildcard, c.event_type, c.event_source, c.event_message, c.fail_when,
    c.search_last_days, c.number_of_events_b4_alert, c.created_by, c.created_time, c.modified_by, c.modified_time,
    sc.name AS script_name, a.site_id, s.client_id
    FROM checks c LEFT JOIN scripts sc ON sc.id = c.script_id
    LEFT JOIN agents a ON a.id = c.agent_id LEFT JOIN sites s ON s.id = a.site_id";

fn fields_from_row(row: &Row) -> CheckFields {
    from_row! { row, CheckFields {
        name, email_alert, text_alert, dashboard_alert, fails_b4_alert, run_interval, alert_severity,
        warning_threshold, error_threshold, disk, ip, script = "script_id", script_args, env_vars,
        info_return_codes, warning_return_codes, success_return_codes, timeout, svc_name, svc_display_name,
        pass_if_start_pending, pass_if_svc_not_exist, restart_if_stopped, svc_policy_mode, log_name, event_id,
        event_id_is_wildcard, event_type, event_source, event_message, fail_when, search_last_days,
        number_of_events_b4_alert,
    } }
}

pub(crate) fn from_row(row: &Row) -> Check {
    from_row! { row, Check {
        id, agent = "agent_id", policy = "policy_id", overridden_by_policy, check_type,
        fields: fields_from_row(row), script_name, site = "site_id", client = "client_id",
        created_by, created_time, modified_by, modified_time,
    } }
}

/// The 33 values of [`COLUMNS`], in order.
fn params(f: &CheckFields) -> [&(dyn tokio_postgres::types::ToSql + Sync); 33] {
    [
        &f.name,
        &f.email_alert,
        &f.text_alert,
        &f.dashboard_alert,
        &f.fails_b4_alert,
        &f.run_interval,
        &f.alert_severity,
        &f.warning_threshold,
        &f.error_threshold,
        &f.disk,
        &f.ip,
        &f.script,
        &f.script_args,
        &f.env_vars,
        &f.info_return_codes,
        &f.warning_return_codes,
        &f.success_return_codes,
        &f.timeout,
        &f.svc_name,
        &f.svc_display_name,
        &f.pass_if_start_pending,
        &f.pass_if_svc_not_exist,
        &f.restart_if_stopped,
        &f.svc_policy_mode,
        &f.log_name,
        &f.event_id,
        &f.event_id_is_wildcard,
        &f.event_type,
        &f.event_source,
        &f.event_message,
        &f.fail_when,
        &f.search_last_days,
        &f.number_of_events_b4_alert,
    ]
}

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds a check to an agent and starts its place in the agent's check summary.
pub async fn create(
    db: &impl GenericClient,
    agent: AgentPk,
    check_type: &str,
    f: &CheckFields,
    by: &str,
) -> Result<CheckId, DbError> {
    let sql = format!(
        "INSERT INTO checks (agent_id, check_type, created_by, modified_by, {COLUMNS})
         VALUES ($1, $2, $3, $3, {}) RETURNING id",
        placeholders(4, 33)
    );
    let mut p: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&agent.0, &check_type, &by];
    p.extend(params(f));
    let id = CheckId(db.query_one(&sql, &p).await?.get(0));
    summary::refresh(db, agent).await?;
    Ok(id)
}

/// Replaces a check's settings.
pub async fn update(db: &impl GenericClient, id: CheckId, f: &CheckFields, by: &str) -> Result<(), DbError> {
    let sets = COLUMNS
        .split(',')
        .enumerate()
        .map(|(i, c)| format!("{} = ${}", c.trim(), i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("UPDATE checks SET modified_by = $2, modified_time = now(), {sets} WHERE id = $1");
    let mut p: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&id.0, &by];
    p.extend(params(f));
    db.execute(&sql, &p).await?;
    Ok(())
}

/// Deletes a check (its results and alerts go with it) and updates the owner's summary.
pub async fn delete(db: &impl GenericClient, check: &Check) -> Result<(), DbError> {
    db.execute("DELETE FROM checks WHERE id = $1", &[&check.id.0]).await?;
    if let Some(agent) = check.agent {
        summary::refresh(db, agent).await?;
    }
    Ok(())
}

/// One check.
pub async fn get(db: &impl GenericClient, id: CheckId) -> Result<Option<Check>, DbError> {
    let sql = format!("{SELECT} WHERE c.id = $1");
    Ok(crate::prepared::query_opt(db, &sql, &[&id.0])
        .await?
        .as_ref()
        .map(from_row))
}

/// The checks of one agent, in creation order.
pub async fn for_agent(db: &impl GenericClient, agent: AgentPk) -> Result<Vec<Check>, DbError> {
    let sql = format!("{SELECT} WHERE c.agent_id = $1 ORDER BY c.id");
    Ok(db.query(&sql, &[&agent.0]).await?.iter().map(from_row).collect())
}

/// Every agent check the scope allows (policy checks arrive with the policies issue), in creation order.
pub async fn in_scope(db: &impl GenericClient, scope: &Scope) -> Result<Vec<Check>, DbError> {
    let sql = format!(
        "{SELECT} WHERE c.agent_id IS NOT NULL AND {} ORDER BY c.id",
        Scope::FILTER
    );
    Ok(db.query(&sql, &scope.params()).await?.iter().map(from_row).collect())
}

/// Whether the agent already has a check of this type (and disk, for disk checks), other than `except`.
pub async fn exists_like(
    db: &impl GenericClient,
    agent: AgentPk,
    check_type: &str,
    disk: Option<&str>,
    except: Option<CheckId>,
) -> Result<bool, DbError> {
    let row = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM checks WHERE agent_id = $1 AND check_type = $2
                 AND ($3::text IS NULL OR disk = $3) AND ($4::int IS NULL OR id <> $4))",
            &[&agent.0, &check_type, &disk, &except.map(|c| c.0)],
        )
        .await?;
    Ok(row.get(0))
}

/// A check with what the agent needs to run it: its last run, and the script's body and shell.
#[derive(Debug, Clone)]
pub struct RunnableCheck {
    /// The check.
    pub check: Check,
    /// When the agent last reported it.
    pub last_run: Option<DateTime<Utc>>,
    /// Script body (script checks).
    pub script_body: Option<String>,
    /// Script shell.
    pub script_shell: Option<String>,
    /// Run as the logged-in user.
    pub script_run_as_user: Option<bool>,
    /// The script's own environment.
    pub script_env_vars: Option<Vec<String>>,
    /// The script's stored hash.
    pub script_hash: Option<String>,
}

/// The agent's checks with their last run and scripts, for `checkrunner/` and `runchecks/`.
pub async fn runnable(db: &impl GenericClient, agent: AgentPk) -> Result<Vec<RunnableCheck>, DbError> {
    let sql = format!(
        "SELECT q.*, r.last_run, sc2.script_body, sc2.shell AS script_shell, sc2.run_as_user AS script_run_as_user,
                sc2.env_vars AS script_env_vars, sc2.script_hash
         FROM ({SELECT} WHERE c.agent_id = $1) q
         LEFT JOIN check_results r ON r.assigned_check_id = q.id AND r.agent_id = $1
         LEFT JOIN scripts sc2 ON sc2.id = q.script_id
         ORDER BY q.id"
    );
    Ok(crate::prepared::query(db, &sql, &[&agent.0])
        .await?
        .iter()
        .map(|row| RunnableCheck {
            check: from_row(row),
            last_run: row.get("last_run"),
            script_body: row.get("script_body"),
            script_shell: row.get("script_shell"),
            script_run_as_user: row.get("script_run_as_user"),
            script_env_vars: row.get("script_env_vars"),
            script_hash: row.get::<_, Option<String>>("script_hash"),
        })
        .collect())
}
