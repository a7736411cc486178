//! Sites (Tactical RMM `clients.Site`): every agent belongs to one; a client has at least one.

use crate::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;

use crate::roles::Scope;
use crate::{AlertTemplateId, ClientId, DbError, SiteId};

/// A site as `SiteSerializer` renders it.
#[derive(Debug, Clone, Serialize)]
pub struct SiteRow {
    /// Primary key.
    pub id: SiteId,
    /// Unique within its client.
    pub name: String,
    /// Server automation policy (policies arrive with the automation issue).
    pub server_policy: Option<i32>,
    /// Workstation automation policy.
    pub workstation_policy: Option<i32>,
    /// Alert template.
    pub alert_template: Option<i32>,
    /// Name of the owning client.
    pub client_name: String,
    /// Owning client.
    pub client: ClientId,
    /// Custom field values (custom fields arrive with the scripting issue).
    pub custom_fields: Vec<serde_json::Value>,
    /// Agents in this site.
    pub agent_count: i64,
    /// Whether policies from the client are ignored.
    pub block_policy_inheritance: bool,
    /// True when any agent of the site is in maintenance.
    pub maintenance_mode: bool,
    /// `{error, warning}` summary of failing checks.
    pub failing_checks: serde_json::Value,
}

pub(crate) const SELECT: &str = "SELECT s.id, s.name, s.server_policy_id, s.workstation_policy_id, s.alert_template_id,
        c.name AS client_name, s.client_id, s.block_policy_inheritance, s.failing_checks,
        (SELECT count(*) FROM agents a WHERE a.site_id = s.id) AS agent_count,
        EXISTS (SELECT 1 FROM agents a WHERE a.site_id = s.id AND a.maintenance_mode) AS maintenance_mode
    FROM sites s JOIN clients c ON c.id = s.client_id";

pub(crate) fn from_row(row: &Row) -> SiteRow {
    from_row! { row, SiteRow {
        id, name, server_policy = "server_policy_id", workstation_policy = "workstation_policy_id",
        alert_template = "alert_template_id", client_name, client = "client_id", custom_fields: Vec::new(),
        agent_count, block_policy_inheritance, maintenance_mode, failing_checks,
    } }
}

/// Every site the scope allows, ordered by name.
pub async fn list(db: &impl GenericClient, scope: &Scope) -> Result<Vec<SiteRow>, DbError> {
    let sql = format!("{SELECT} WHERE {} ORDER BY s.name, s.id", Scope::FILTER);
    Ok(db.query(&sql, &scope.params()).await?.iter().map(from_row).collect())
}

/// One site by id.
pub async fn get(db: &impl GenericClient, id: SiteId) -> Result<Option<SiteRow>, DbError> {
    let sql = format!("{SELECT} WHERE s.id = $1");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// Inserts a site; a duplicate (client, name) is a unique violation.
pub async fn create(
    db: &impl GenericClient,
    client: ClientId,
    name: &str,
    block_policy_inheritance: bool,
    by: &str,
) -> Result<SiteId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO sites (client_id, name, block_policy_inheritance, created_by) VALUES ($1, $2, $3, $4)
             RETURNING id",
            &[&client.0, &name, &block_policy_inheritance, &by],
        )
        .await?;
    Ok(SiteId(row.get(0)))
}

/// Fields a site edit may change; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct SiteChanges {
    /// New name.
    pub name: Option<String>,
    /// Move the site to another client.
    pub client: Option<ClientId>,
    /// New inheritance flag.
    pub block_policy_inheritance: Option<bool>,
}

/// Applies a partial edit.
pub async fn update(db: &impl GenericClient, id: SiteId, changes: &SiteChanges, by: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE sites SET name = COALESCE($2, name), client_id = COALESCE($3, client_id),
                block_policy_inheritance = COALESCE($4, block_policy_inheritance),
                modified_by = $5, modified_time = now()
         WHERE id = $1",
        &[
            &id.0,
            &changes.name,
            &changes.client.map(|c| c.0),
            &changes.block_policy_inheritance,
            &by,
        ],
    )
    .await?;
    Ok(())
}

/// Assigns the site's alert template (`None` removes it); an unknown template is a foreign-key violation.
pub async fn set_alert_template(
    db: &impl GenericClient,
    id: SiteId,
    template: Option<AlertTemplateId>,
    by: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE sites SET alert_template_id = $2, modified_by = $3, modified_time = now() WHERE id = $1",
        &[&id.0, &template.map(|t| t.0), &by],
    )
    .await?;
    Ok(())
}

/// Number of sites a client has.
pub async fn count_for_client(db: &impl GenericClient, client: ClientId) -> Result<i64, DbError> {
    Ok(db
        .query_one("SELECT count(*) FROM sites WHERE client_id = $1", &[&client.0])
        .await?
        .get(0))
}

/// Moves every agent of `from` to `to`; returns how many moved.
pub async fn move_agents(db: &impl GenericClient, from: SiteId, to: SiteId) -> Result<u64, DbError> {
    Ok(db
        .execute("UPDATE agents SET site_id = $2 WHERE site_id = $1", &[&from.0, &to.0])
        .await?)
}

/// Deletes a site; fails with a foreign-key violation while agents remain in it.
pub async fn delete(db: &impl GenericClient, id: SiteId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "sites", &id.0).await
}
