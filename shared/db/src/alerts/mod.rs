//! Alerts (upstream `alerts.Alert`): the state of one problem on one agent, and what the dashboard does with it.
//! The alert engine (trmm-ops) decides; this module stores. Notifications owed by a change are in
//! [`notifications`], templates in [`templates`].

pub mod notifications;
pub mod templates;

use crate::GenericClient;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::checks::CheckId;
use crate::roles::Scope;
use crate::{AgentPk, AlertId, ClientId, DbError, SiteId};

/// A stored alert with the names its views and messages show.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Primary key.
    pub id: AlertId,
    /// The agent.
    pub agent: Option<AgentPk>,
    /// The check, for check alerts.
    pub assigned_check: Option<CheckId>,
    /// The task, for task alerts.
    pub assigned_task: Option<i32>,
    /// availability / check / task / custom.
    pub alert_type: String,
    /// Text.
    pub message: Option<String>,
    /// When it opened.
    pub alert_time: DateTime<Utc>,
    /// Hidden from the dashboard until `snooze_until`.
    pub snoozed: bool,
    /// End of the snooze.
    pub snooze_until: Option<DateTime<Utc>>,
    /// Closed.
    pub resolved: bool,
    /// When it closed.
    pub resolved_on: Option<DateTime<Utc>>,
    /// info / warning / error.
    pub severity: String,
    /// Not shown on the dashboard.
    pub hidden: bool,
    /// Failure email sent.
    pub email_sent: Option<DateTime<Utc>>,
    /// Resolved email sent.
    pub resolved_email_sent: Option<DateTime<Utc>>,
    /// Failure SMS sent.
    pub sms_sent: Option<DateTime<Utc>>,
    /// Resolved SMS sent.
    pub resolved_sms_sent: Option<DateTime<Utc>>,
    /// Failure action output.
    pub action: ActionOutput,
    /// Resolve action output.
    pub resolved_action: ActionOutput,
    /// The agent's string id.
    pub agent_id: Option<String>,
    /// The agent's hostname.
    pub hostname: Option<String>,
    /// Client name.
    pub client_name: Option<String>,
    /// Site name.
    pub site_name: Option<String>,
    /// The agent's site, for scope checks.
    pub site: Option<SiteId>,
    /// The agent's client, for scope checks.
    pub client: Option<ClientId>,
}

/// What an alert action did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionOutput {
    /// When it ran.
    pub run: Option<DateTime<Utc>>,
    /// Its output (or the webhook's response body).
    pub stdout: Option<String>,
    /// Its errors.
    pub stderr: Option<String>,
    /// Exit code (or HTTP status).
    pub retcode: Option<i64>,
    /// Seconds, as text.
    pub execution_time: Option<String>,
}

const SELECT: &str = "SELECT al.*, a.agent_id AS agent_str, a.hostname, c.name AS client_name, s.name AS site_name,
    a.site_id, s.client_id
    FROM alerts al LEFT JOIN agents a ON a.id = al.agent_id LEFT JOIN sites s ON s.id = a.site_id
    LEFT JOIN clients c ON c.id = s.client_id";

fn output(row: &Row, prefix: &str) -> ActionOutput {
    let col = |n: &str| format!("{prefix}action_{n}");
    ActionOutput {
        run: row.get(col("run").as_str()),
        stdout: row.get(col("stdout").as_str()),
        stderr: row.get(col("stderr").as_str()),
        retcode: row.get(col("retcode").as_str()),
        execution_time: row.get(col("execution_time").as_str()),
    }
}

fn from_row(row: &Row) -> Alert {
    from_row! { row, Alert {
        id, agent = "agent_id", assigned_check = "assigned_check_id", assigned_task = "assigned_task_id",
        alert_type, message, alert_time, snoozed, snooze_until, resolved, resolved_on, severity, hidden,
        email_sent, resolved_email_sent, sms_sent, resolved_sms_sent,
        action: output(row, ""), resolved_action: output(row, "resolved_"),
        agent_id = "agent_str", hostname, client_name, site_name, site = "site_id", client = "client_id",
    } }
}

/// One alert.
pub async fn get(db: &impl GenericClient, id: AlertId) -> Result<Option<Alert>, DbError> {
    let sql = format!("{SELECT} WHERE al.id = $1");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The agent stopped reporting.
    Availability(AgentPk),
    /// A check failed on the agent.
    Check(AgentPk, CheckId),
}

impl Subject {
    fn agent(self) -> AgentPk {
        match self {
            Subject::Availability(a) | Subject::Check(a, _) => a,
        }
    }

    fn check(self) -> Option<i32> {
        match self {
            Subject::Availability(_) => None,
            Subject::Check(_, c) => Some(c.0),
        }
    }

    fn alert_type(self) -> &'static str {
        match self {
            Subject::Availability(_) => "availability",
            Subject::Check(..) => "check",
        }
    }
}

/// The open alert of a subject, locked until the transaction ends.
pub async fn open_for(db: &impl GenericClient, subject: Subject) -> Result<Option<Alert>, DbError> {
    let sql = format!(
        "{SELECT} WHERE al.agent_id = $1 AND al.alert_type = $2 AND al.assigned_check_id IS NOT DISTINCT FROM $3
           AND NOT al.resolved FOR UPDATE OF al"
    );
    let p: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
        [&subject.agent().0, &subject.alert_type(), &subject.check()];
    Ok(crate::prepared::query_opt(db, &sql, &p).await?.as_ref().map(from_row))
}

/// Opens a hidden alert for the subject (the dashboard flags unhide it); if one opened meanwhile, that one.
pub async fn open(
    db: &impl GenericClient,
    subject: Subject,
    message: &str,
    severity: &str,
    now: DateTime<Utc>,
) -> Result<Alert, DbError> {
    db.execute(
        "INSERT INTO alerts (agent_id, assigned_check_id, alert_type, message, severity, hidden, alert_time)
         VALUES ($1, $2, $3, $4, $5, true, $6) ON CONFLICT DO NOTHING",
        &[
            &subject.agent().0,
            &subject.check(),
            &subject.alert_type(),
            &message,
            &severity,
            &now,
        ],
    )
    .await?;
    open_for(db, subject)
        .await?
        .ok_or_else(|| DbError::Config("an opened alert vanished in its own transaction".into()))
}

/// Changes an open alert's severity and visibility.
pub async fn set_state(db: &impl GenericClient, id: AlertId, severity: &str, hidden: bool) -> Result<(), DbError> {
    db.execute(
        "UPDATE alerts SET severity = $2, hidden = $3 WHERE id = $1",
        &[&id.0, &severity, &hidden],
    )
    .await?;
    Ok(())
}

/// Closes an alert (upstream `Alert.resolve`: the snooze goes too).
pub async fn resolve(db: &impl GenericClient, id: AlertId, now: DateTime<Utc>) -> Result<(), DbError> {
    db.execute(
        "UPDATE alerts SET resolved = true, resolved_on = $2, snoozed = false, snooze_until = NULL
         WHERE id = $1 AND NOT resolved",
        &[&id.0, &now],
    )
    .await?;
    Ok(())
}

/// Snoozes an alert until `until`.
pub async fn snooze(db: &impl GenericClient, ids: &[AlertId], until: DateTime<Utc>) -> Result<(), DbError> {
    let ids: Vec<i32> = ids.iter().map(|a| a.0).collect();
    db.execute(
        "UPDATE alerts SET snoozed = true, snooze_until = $2 WHERE id = ANY($1)",
        &[&ids, &until],
    )
    .await?;
    Ok(())
}

/// Ends an alert's snooze.
pub async fn unsnooze(db: &impl GenericClient, id: AlertId) -> Result<(), DbError> {
    db.execute(
        "UPDATE alerts SET snoozed = false, snooze_until = NULL WHERE id = $1",
        &[&id.0],
    )
    .await?;
    Ok(())
}

/// Closes alerts without notifying anyone (dashboard resolve, check reset); returns the ones that were open.
pub async fn resolve_quietly(
    db: &impl GenericClient,
    ids: &[AlertId],
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, DbError> {
    let ids: Vec<i32> = ids.iter().map(|a| a.0).collect();
    let resolved: Vec<i32> = db
        .query(
            "UPDATE alerts SET resolved = true, resolved_on = $2, snoozed = false, snooze_until = NULL
             WHERE id = ANY($1) AND NOT resolved RETURNING id",
            &[&ids, &now],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if resolved.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{SELECT} WHERE al.id = ANY($1)");
    Ok(db.query(&sql, &[&resolved]).await?.iter().map(from_row).collect())
}

/// Deletes an alert.
pub async fn delete(db: &impl GenericClient, id: AlertId) -> Result<bool, DbError> {
    Ok(db.execute("DELETE FROM alerts WHERE id = $1", &[&id.0]).await? > 0)
}

/// The filters of `PATCH /alerts/`.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts of these clients.
    pub clients: Option<Vec<ClientId>>,
    /// Only these severities.
    pub severities: Option<Vec<String>>,
    /// Only unresolved alerts.
    pub unresolved_only: bool,
    /// Only unsnoozed alerts.
    pub unsnoozed_only: bool,
    /// Only alerts since then.
    pub since: Option<DateTime<Utc>>,
}

/// [`Scope::FILTER`] for alerts: custom alerts (no agent, check or task) are visible to every role (upstream
/// `PermissionQuerySet.filter_by_role`).
const SCOPE: &str = "($1::bool OR s.client_id = ANY($2::int[]) OR s.id = ANY($3::int[])
    OR (al.agent_id IS NULL AND al.assigned_check_id IS NULL AND al.assigned_task_id IS NULL))";

/// Alerts in scope matching the filter, newest first.
pub async fn list(db: &impl GenericClient, scope: &Scope, f: &AlertFilter) -> Result<Vec<Alert>, DbError> {
    let sql = format!(
        "{SELECT} WHERE {SCOPE}
           AND ($4::int[] IS NULL OR s.client_id = ANY($4)) AND ($5::text[] IS NULL OR al.severity = ANY($5))
           AND (NOT $6 OR NOT al.resolved) AND (NOT $7 OR NOT al.snoozed)
           AND ($8::timestamptz IS NULL OR al.alert_time > $8)
         ORDER BY al.alert_time DESC, al.id DESC"
    );
    let clients: Option<Vec<i32>> = f.clients.as_ref().map(|c| c.iter().map(|c| c.0).collect());
    let [a, b, c] = scope.params();
    let p: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        a,
        b,
        c,
        &clients,
        &f.severities,
        &f.unresolved_only,
        &f.unsnoozed_only,
        &f.since,
    ];
    Ok(db.query(&sql, &p).await?.iter().map(from_row).collect())
}

/// The dashboard bell: the oldest `top` open, unsnoozed, visible alerts in scope, and how many there are.
pub async fn top(db: &impl GenericClient, scope: &Scope, top: i64) -> Result<(i64, Vec<Alert>), DbError> {
    let open = "NOT al.resolved AND NOT al.snoozed AND NOT al.hidden";
    let sql = format!("{SELECT} WHERE {SCOPE} AND {open} ORDER BY al.alert_time, al.id LIMIT $4");
    let [a, b, c] = scope.params();
    let rows = db.query(&sql, &[a, b, c, &top]).await?;
    let count = db
        .query_one(
            &format!(
                "SELECT count(*) FROM alerts al LEFT JOIN agents ag ON ag.id = al.agent_id
                 LEFT JOIN sites s ON s.id = ag.site_id WHERE {SCOPE} AND {open}"
            ),
            &[a, b, c],
        )
        .await?;
    Ok((count.get(0), rows.iter().map(from_row).collect()))
}

/// The alerts among `ids` that `scope` may see, so that a bulk action touches no other.
pub async fn visible(db: &impl GenericClient, scope: &Scope, ids: &[AlertId]) -> Result<Vec<AlertId>, DbError> {
    let sql = format!(
        "SELECT al.id FROM alerts al LEFT JOIN agents a ON a.id = al.agent_id LEFT JOIN sites s ON s.id = a.site_id
         WHERE {SCOPE} AND al.id = ANY($4) ORDER BY al.id"
    );
    let ids: Vec<i32> = ids.iter().map(|a| a.0).collect();
    let [a, b, c] = scope.params();
    let rows = db.query(&sql, &[a, b, c, &ids]).await?;
    Ok(rows.iter().map(|r| AlertId(r.get(0))).collect())
}

/// Ends the snoozes that are over (the hourly job); returns how many.
pub async fn unsnooze_due(db: &impl GenericClient, now: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(db
        .execute(
            "UPDATE alerts SET snoozed = false, snooze_until = NULL WHERE snoozed AND snooze_until <= $1",
            &[&now],
        )
        .await?)
}

/// What the alert engine needs to know about an agent.
#[derive(Debug, Clone)]
pub struct AgentFacts {
    /// Integer key.
    pub pk: AgentPk,
    /// Host name.
    pub hostname: String,
    /// Client name.
    pub client_name: String,
    /// Site name.
    pub site_name: String,
    /// Alerts neither open nor resolve in maintenance mode.
    pub maintenance_mode: bool,
    /// Email when overdue.
    pub overdue_email_alert: bool,
    /// Text when overdue.
    pub overdue_text_alert: bool,
    /// Dashboard alert when overdue.
    pub overdue_dashboard_alert: bool,
}

/// The facts of one agent; `None` if it is gone.
pub async fn agent_facts(db: &impl GenericClient, agent: AgentPk) -> Result<Option<AgentFacts>, DbError> {
    let row = db
        .query_opt(
            "SELECT a.id, a.hostname, c.name AS client_name, s.name AS site_name, a.maintenance_mode,
                    a.overdue_email_alert, a.overdue_text_alert, a.overdue_dashboard_alert
             FROM agents a JOIN sites s ON s.id = a.site_id JOIN clients c ON c.id = s.client_id WHERE a.id = $1",
            &[&agent.0],
        )
        .await?;
    Ok(row.map(|row| {
        from_row! { row, AgentFacts {
            pk = "id", hostname, client_name, site_name, maintenance_mode, overdue_email_alert,
            overdue_text_alert, overdue_dashboard_alert,
        } }
    }))
}

/// Overdue agents (upstream status `overdue`: not heard from for `overdue_time` minutes) that an availability
/// alert could concern: someone listens (an overdue flag or a template in force) or one is already open. Agents
/// never seen are offline, not overdue.
pub async fn overdue_agents(db: &impl GenericClient, now: DateTime<Utc>) -> Result<Vec<AgentPk>, DbError> {
    let rows = db
        .query(
            "SELECT a.id FROM agents a
             WHERE a.last_seen < $1::timestamptz - make_interval(mins => a.overdue_time)
               AND a.last_seen < $1::timestamptz - make_interval(mins => a.offline_time)
               AND NOT a.maintenance_mode
               AND (a.overdue_email_alert OR a.overdue_text_alert OR a.overdue_dashboard_alert
                    OR EXISTS (SELECT 1 FROM agent_alert_template t WHERE t.agent_id = a.id AND t.template_id IS NOT NULL)
                    OR EXISTS (SELECT 1 FROM alerts al WHERE al.agent_id = a.id AND al.alert_type = 'availability'
                               AND NOT al.resolved))
             ORDER BY a.id",
            &[&now],
        )
        .await?;
    Ok(rows.iter().map(|r| AgentPk(r.get(0))).collect())
}

/// Online agents (heard from within `offline_time` minutes) with an open availability alert.
pub async fn returned_agents(db: &impl GenericClient, now: DateTime<Utc>) -> Result<Vec<AgentPk>, DbError> {
    let rows = db
        .query(
            "SELECT DISTINCT a.id FROM alerts al JOIN agents a ON a.id = al.agent_id
             WHERE al.alert_type = 'availability' AND NOT al.resolved
               AND a.last_seen >= $1::timestamptz - make_interval(mins => a.offline_time)
             ORDER BY a.id",
            &[&now],
        )
        .await?;
    Ok(rows.iter().map(|r| AgentPk(r.get(0))).collect())
}

/// Stores what the failure (or, with `resolved`, the resolve) action of an alert did.
pub async fn set_action_output(
    db: &impl GenericClient,
    id: AlertId,
    resolved: bool,
    out: &ActionOutput,
) -> Result<(), DbError> {
    let prefix = if resolved { "resolved_" } else { "" };
    db.execute(
        &format!(
            "UPDATE alerts SET {prefix}action_run = $2, {prefix}action_stdout = $3, {prefix}action_stderr = $4,
                {prefix}action_retcode = $5, {prefix}action_execution_time = $6 WHERE id = $1"
        ),
        &[
            &id.0,
            &out.run,
            &out.stdout,
            &out.stderr,
            &out.retcode,
            &out.execution_time,
        ],
    )
    .await?;
    Ok(())
}

/// Up to `limit` agents heard from within their `offline_time`, most recent first: where an alert action runs
/// when its own agent is not there (upstream `run_on_any`).
pub async fn online_agents(db: &impl GenericClient, now: DateTime<Utc>, limit: i64) -> Result<Vec<String>, DbError> {
    let rows = db
        .query(
            "SELECT agent_id FROM agents WHERE last_seen >= $1::timestamptz - make_interval(mins => offline_time)
             ORDER BY last_seen DESC LIMIT $2",
            &[&now, &limit],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The agent's status now (online / offline / overdue), read afresh inside an availability pass so that an agent
/// that checked in since the pass listed it is not alerted (or resolved) on stale data.
pub async fn agent_status(
    db: &impl GenericClient,
    agent: AgentPk,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbError> {
    let sql = format!("SELECT {} FROM agents a WHERE a.id = $2", crate::agents::STATUS_SQL);
    Ok(db.query_opt(&sql, &[&now, &agent.0]).await?.map(|r| r.get(0)))
}
