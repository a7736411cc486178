//! Alert templates (upstream `alerts.AlertTemplate`): who is told what when an alert opens or resolves, and the
//! action to run. The template in force for an agent comes from the `agent_alert_template` view.

mod usage;

pub use usage::{first_missing, usage, Reference, Usage};

use crate::GenericClient;
use tokio_postgres::Row;

use crate::{AgentPk, AlertTemplateId, ClientId, DbError, ScriptId, SiteId};

/// The failure or resolve action of a template.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateAction {
    /// `script`, `server` or `rest`.
    pub action_type: String,
    /// Script to run (`script`, `server`).
    pub script: Option<ScriptId>,
    /// URL action to call (`rest`).
    pub rest: Option<i32>,
    /// Script arguments.
    pub args: Vec<String>,
    /// Script environment.
    pub env_vars: Vec<String>,
    /// Seconds.
    pub timeout: i32,
}

/// How one kind of alert (availability, check, task) is handled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindSettings {
    /// Severities that email (empty = the defaults); not used for availability.
    pub email_severities: Vec<String>,
    /// Severities that text.
    pub text_severities: Vec<String>,
    /// Severities shown on the dashboard.
    pub dashboard_severities: Vec<String>,
    /// Email when resolved.
    pub email_on_resolved: bool,
    /// Text when resolved.
    pub text_on_resolved: bool,
    /// Always email, whatever the object's own flag (null = not set).
    pub always_email: Option<bool>,
    /// Always text.
    pub always_text: Option<bool>,
    /// Always show on the dashboard.
    pub always_alert: Option<bool>,
    /// Resend every this many days while open (0 = never).
    pub periodic_alert_days: i32,
    /// Run the template's actions (and webhooks) for this kind.
    pub script_actions: bool,
}

/// Everything a template says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateFields {
    /// Unique name.
    pub name: String,
    /// Inactive templates are skipped.
    pub is_active: bool,
    /// Failure action.
    pub action: TemplateAction,
    /// Resolve action.
    pub resolved_action: TemplateAction,
    /// Email recipients overriding the core settings.
    pub email_recipients: Vec<String>,
    /// SMS recipients overriding the core settings.
    pub text_recipients: Vec<String>,
    /// Sender overriding the core settings.
    pub email_from: Option<String>,
    /// Availability alerts.
    pub agent: KindSettings,
    /// Check alerts.
    pub check: KindSettings,
    /// Task alerts.
    pub task: KindSettings,
    /// Never applies to workstations.
    pub exclude_workstations: bool,
    /// Never applies to servers.
    pub exclude_servers: bool,
    /// Clients it never applies to.
    pub excluded_clients: Vec<ClientId>,
    /// Sites it never applies to.
    pub excluded_sites: Vec<SiteId>,
    /// Agents it never applies to.
    pub excluded_agents: Vec<AgentPk>,
}

/// A stored template.
#[derive(Debug, Clone)]
pub struct AlertTemplate {
    /// Primary key.
    pub id: AlertTemplateId,
    /// Its settings.
    pub fields: TemplateFields,
}

const KINDS: [&str; 3] = ["agent", "check", "task"];

fn kind_columns(kind: &str) -> String {
    format!(
        "t.{kind}_email_on_resolved, t.{kind}_text_on_resolved, t.{kind}_always_email, t.{kind}_always_text,
         t.{kind}_always_alert, t.{kind}_periodic_alert_days, t.{kind}_script_actions"
    )
}

fn select() -> String {
    format!(
        "SELECT t.id, t.name, t.is_active, t.action_type, t.action_id, t.action_rest_id, t.action_args,
            t.action_env_vars, t.action_timeout, t.resolved_action_type, t.resolved_action_id,
            t.resolved_action_rest_id, t.resolved_action_args, t.resolved_action_env_vars, t.resolved_action_timeout,
            t.email_recipients, t.text_recipients, t.email_from,
            {}, {}, {},
            t.check_email_alert_severity, t.check_text_alert_severity, t.check_dashboard_alert_severity,
            t.task_email_alert_severity, t.task_text_alert_severity, t.task_dashboard_alert_severity,
            t.exclude_workstations, t.exclude_servers,
            ARRAY(SELECT client_id FROM alert_template_excluded_clients x WHERE x.template_id = t.id ORDER BY 1)
                AS excluded_clients,
            ARRAY(SELECT site_id FROM alert_template_excluded_sites x WHERE x.template_id = t.id ORDER BY 1)
                AS excluded_sites,
            ARRAY(SELECT agent_id FROM alert_template_excluded_agents x WHERE x.template_id = t.id ORDER BY 1)
                AS excluded_agents
         FROM alert_templates t",
        kind_columns("agent"),
        kind_columns("check"),
        kind_columns("task")
    )
}

fn action(row: &Row, prefix: &str) -> TemplateAction {
    TemplateAction {
        action_type: row.get(format!("{prefix}action_type").as_str()),
        script: row.get(format!("{prefix}action_id").as_str()),
        rest: row.get(format!("{prefix}action_rest_id").as_str()),
        args: row.get(format!("{prefix}action_args").as_str()),
        env_vars: row.get(format!("{prefix}action_env_vars").as_str()),
        timeout: row.get(format!("{prefix}action_timeout").as_str()),
    }
}

fn kind(row: &Row, kind: &str) -> KindSettings {
    let col = |name: &str| format!("{kind}_{name}");
    let severities = |name: &str| -> Vec<String> {
        if kind == "agent" {
            Vec::new()
        } else {
            row.get(col(name).as_str())
        }
    };
    KindSettings {
        email_severities: severities("email_alert_severity"),
        text_severities: severities("text_alert_severity"),
        dashboard_severities: severities("dashboard_alert_severity"),
        email_on_resolved: row.get(col("email_on_resolved").as_str()),
        text_on_resolved: row.get(col("text_on_resolved").as_str()),
        always_email: row.get(col("always_email").as_str()),
        always_text: row.get(col("always_text").as_str()),
        always_alert: row.get(col("always_alert").as_str()),
        periodic_alert_days: row.get(col("periodic_alert_days").as_str()),
        script_actions: row.get(col("script_actions").as_str()),
    }
}

fn from_row(row: &Row) -> AlertTemplate {
    let ids = |name: &str| -> Vec<i32> { row.get(name) };
    AlertTemplate {
        id: row.get("id"),
        fields: TemplateFields {
            name: row.get("name"),
            is_active: row.get("is_active"),
            action: action(row, ""),
            resolved_action: action(row, "resolved_"),
            email_recipients: row.get("email_recipients"),
            text_recipients: row.get("text_recipients"),
            email_from: row.get("email_from"),
            agent: kind(row, "agent"),
            check: kind(row, "check"),
            task: kind(row, "task"),
            exclude_workstations: row.get("exclude_workstations"),
            exclude_servers: row.get("exclude_servers"),
            excluded_clients: ids("excluded_clients").into_iter().map(ClientId).collect(),
            excluded_sites: ids("excluded_sites").into_iter().map(SiteId).collect(),
            excluded_agents: ids("excluded_agents").into_iter().map(AgentPk).collect(),
        },
    }
}

/// One template.
pub async fn get(db: &impl GenericClient, id: AlertTemplateId) -> Result<Option<AlertTemplate>, DbError> {
    let sql = format!("{} WHERE t.id = $1", select());
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// Every template, by name.
pub async fn list(db: &impl GenericClient) -> Result<Vec<AlertTemplate>, DbError> {
    let sql = format!("{} ORDER BY t.name", select());
    Ok(db.query(&sql, &[]).await?.iter().map(from_row).collect())
}

/// The template in force for an agent (site, then client, then the core default; active and not excluding it).
pub async fn for_agent(db: &impl GenericClient, agent: AgentPk) -> Result<Option<AlertTemplate>, DbError> {
    let sql = format!(
        "{} WHERE t.id = (SELECT template_id FROM agent_alert_template WHERE agent_id = $1)",
        select()
    );
    Ok(db.query_opt(&sql, &[&agent.0]).await?.as_ref().map(from_row))
}

fn write_columns() -> Vec<String> {
    let mut cols: Vec<String> = [
        "name",
        "is_active",
        "action_type",
        "action_id",
        "action_rest_id",
        "action_args",
        "action_env_vars",
        "action_timeout",
        "resolved_action_type",
        "resolved_action_id",
        "resolved_action_rest_id",
        "resolved_action_args",
        "resolved_action_env_vars",
        "resolved_action_timeout",
        "email_recipients",
        "text_recipients",
        "email_from",
        "exclude_workstations",
        "exclude_servers",
    ]
    .map(String::from)
    .to_vec();
    for k in KINDS {
        for c in [
            "email_on_resolved",
            "text_on_resolved",
            "always_email",
            "always_text",
            "always_alert",
            "periodic_alert_days",
            "script_actions",
        ] {
            cols.push(format!("{k}_{c}"));
        }
        if k != "agent" {
            for c in [
                "email_alert_severity",
                "text_alert_severity",
                "dashboard_alert_severity",
            ] {
                cols.push(format!("{k}_{c}"));
            }
        }
    }
    cols
}

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

fn write_params(f: &TemplateFields) -> Vec<Param<'_>> {
    let mut p: Vec<Param<'_>> = vec![
        &f.name,
        &f.is_active,
        &f.action.action_type,
        &f.action.script,
        &f.action.rest,
        &f.action.args,
        &f.action.env_vars,
        &f.action.timeout,
        &f.resolved_action.action_type,
        &f.resolved_action.script,
        &f.resolved_action.rest,
        &f.resolved_action.args,
        &f.resolved_action.env_vars,
        &f.resolved_action.timeout,
        &f.email_recipients,
        &f.text_recipients,
        &f.email_from,
        &f.exclude_workstations,
        &f.exclude_servers,
    ];
    for (name, k) in [("agent", &f.agent), ("check", &f.check), ("task", &f.task)] {
        p.extend_from_slice(&[
            &k.email_on_resolved as Param<'_>,
            &k.text_on_resolved,
            &k.always_email,
            &k.always_text,
            &k.always_alert,
            &k.periodic_alert_days,
            &k.script_actions,
        ]);
        if name != "agent" {
            p.extend_from_slice(&[
                &k.email_severities as Param<'_>,
                &k.text_severities,
                &k.dashboard_severities,
            ]);
        }
    }
    p
}

async fn set_exclusions(db: &impl GenericClient, id: AlertTemplateId, f: &TemplateFields) -> Result<(), DbError> {
    let clients: Vec<i32> = f.excluded_clients.iter().map(|c| c.0).collect();
    let sites: Vec<i32> = f.excluded_sites.iter().map(|s| s.0).collect();
    let agents: Vec<i32> = f.excluded_agents.iter().map(|a| a.0).collect();
    for (table, column, ids) in [
        ("alert_template_excluded_clients", "client_id", &clients),
        ("alert_template_excluded_sites", "site_id", &sites),
        ("alert_template_excluded_agents", "agent_id", &agents),
    ] {
        db.execute(&format!("DELETE FROM {table} WHERE template_id = $1"), &[&id.0])
            .await?;
        db.execute(
            &format!("INSERT INTO {table} (template_id, {column}) SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING"),
            &[&id.0, ids],
        )
        .await?;
    }
    Ok(())
}

/// Adds a template (with its exclusions; run in a transaction).
pub async fn create(db: &impl GenericClient, f: &TemplateFields, by: &str) -> Result<AlertTemplateId, DbError> {
    let cols = write_columns();
    let n = cols.len();
    let sql = format!(
        "INSERT INTO alert_templates (created_by, modified_by, {}) VALUES ($1, $1, {}) RETURNING id",
        cols.join(", "),
        (2..n + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
    );
    let mut p: Vec<Param<'_>> = vec![&by];
    p.extend(write_params(f));
    let id = AlertTemplateId(db.query_one(&sql, &p).await?.get(0));
    set_exclusions(db, id, f).await?;
    Ok(id)
}

/// Replaces a template's settings (with its exclusions; run in a transaction).
pub async fn update(db: &impl GenericClient, id: AlertTemplateId, f: &TemplateFields, by: &str) -> Result<(), DbError> {
    let sets = write_columns()
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("UPDATE alert_templates SET modified_by = $2, modified_time = now(), {sets} WHERE id = $1");
    let mut p: Vec<Param<'_>> = vec![&id.0, &by];
    p.extend(write_params(f));
    db.execute(&sql, &p).await?;
    set_exclusions(db, id, f).await
}

/// Deletes a template; the clients, sites and core settings using it fall back to the next slot.
pub async fn delete(db: &impl GenericClient, id: AlertTemplateId) -> Result<bool, DbError> {
    Ok(db
        .execute("DELETE FROM alert_templates WHERE id = $1", &[&id.0])
        .await?
        > 0)
}

/// Where a template is used (`/alerts/templates/<pk>/related/`).
#[derive(Debug, Clone, Default)]
pub struct Related {
    /// Clients using it: (id, name).
    pub clients: Vec<(ClientId, String)>,
    /// Sites using it: (id, name, client, client name).
    pub sites: Vec<(SiteId, String, ClientId, String)>,
    /// Whether it is the core default.
    pub is_default: bool,
    /// Agents it applies to now.
    pub applied_count: i64,
}

/// Where a template is used.
pub async fn related(db: &impl GenericClient, id: AlertTemplateId) -> Result<Related, DbError> {
    let clients = db
        .query(
            "SELECT id, name FROM clients WHERE alert_template_id = $1 ORDER BY name",
            &[&id.0],
        )
        .await?;
    let sites = db
        .query(
            "SELECT s.id, s.name, c.id, c.name FROM sites s JOIN clients c ON c.id = s.client_id
             WHERE s.alert_template_id = $1 ORDER BY c.name, s.name",
            &[&id.0],
        )
        .await?;
    let row = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM core_settings WHERE alert_template_id = $1),
                    (SELECT count(*) FROM agent_alert_template WHERE template_id = $1)",
            &[&id.0],
        )
        .await?;
    Ok(Related {
        clients: clients.iter().map(|r| (ClientId(r.get(0)), r.get(1))).collect(),
        sites: sites
            .iter()
            .map(|r| (SiteId(r.get(0)), r.get(1), ClientId(r.get(2)), r.get(3)))
            .collect(),
        is_default: row.get(0),
        applied_count: row.get(1),
    })
}
