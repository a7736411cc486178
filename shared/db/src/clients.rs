//! Clients (Tactical RMM `clients.Client`), listed as the dashboard's client tree.

use crate::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;

use crate::roles::Scope;
use crate::sites::{self, SiteRow};
use crate::{AlertTemplateId, ClientId, DbError};

/// A client as `ClientSerializer` renders it, with its visible sites.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRow {
    /// Primary key.
    pub id: ClientId,
    /// Unique name.
    pub name: String,
    /// Server automation policy.
    pub server_policy: Option<i32>,
    /// Workstation automation policy.
    pub workstation_policy: Option<i32>,
    /// Alert template.
    pub alert_template: Option<i32>,
    /// Whether policies from core settings are ignored.
    pub block_policy_inheritance: bool,
    /// Visible sites, ordered by name.
    pub sites: Vec<SiteRow>,
    /// Custom field values.
    pub custom_fields: Vec<serde_json::Value>,
    /// True when any agent of the client is in maintenance.
    pub maintenance_mode: bool,
    /// Agents in all the client's sites.
    pub agent_count: i64,
    /// `{error, warning}` summary of failing checks.
    pub failing_checks: serde_json::Value,
}

const SELECT: &str = "SELECT c.id, c.name, c.server_policy_id, c.workstation_policy_id, c.alert_template_id,
        c.block_policy_inheritance, c.failing_checks,
        (SELECT count(*) FROM agents a JOIN sites s ON s.id = a.site_id WHERE s.client_id = c.id) AS agent_count,
        EXISTS (SELECT 1 FROM agents a JOIN sites s ON s.id = a.site_id
                WHERE s.client_id = c.id AND a.maintenance_mode) AS maintenance_mode
    FROM clients c";

fn from_row(row: &Row) -> ClientRow {
    from_row! { row, ClientRow {
        id, name, server_policy = "server_policy_id", workstation_policy = "workstation_policy_id",
        alert_template = "alert_template_id", block_policy_inheritance, sites: Vec::new(), custom_fields: Vec::new(),
        maintenance_mode, agent_count, failing_checks,
    } }
}

fn attach_sites(clients: &mut [ClientRow], sites: Vec<SiteRow>) {
    for site in sites {
        if let Some(c) = clients.iter_mut().find(|c| c.id == site.client) {
            c.sites.push(site);
        }
    }
}

/// The client tree: clients the scope allows (plus parents of allowed sites), each with its allowed sites.
pub async fn list(db: &impl GenericClient, scope: &Scope) -> Result<Vec<ClientRow>, DbError> {
    let sql = format!(
        "{SELECT} WHERE $1::bool OR c.id = ANY($2::int[])
           OR c.id IN (SELECT client_id FROM sites WHERE id = ANY($3::int[]))
         ORDER BY c.name"
    );
    let rows = db.query(&sql, &scope.params()).await?;
    let mut clients: Vec<ClientRow> = rows.iter().map(from_row).collect();
    attach_sites(&mut clients, sites::list(db, scope).await?);
    Ok(clients)
}

/// One client with its sites visible in `scope`.
pub async fn get(db: &impl GenericClient, id: ClientId, scope: &Scope) -> Result<Option<ClientRow>, DbError> {
    let sql = format!("{SELECT} WHERE c.id = $1");
    let Some(row) = db.query_opt(&sql, &[&id.0]).await? else {
        return Ok(None);
    };
    let mut client = [from_row(&row)];
    let site_sql = format!(
        "{} WHERE s.client_id = $4 AND {} ORDER BY s.name",
        sites::SELECT,
        Scope::FILTER
    );
    let site_rows = db.query(&site_sql, &[&scope.params()[..], &[&id.0]].concat()).await?;
    attach_sites(&mut client, site_rows.iter().map(sites::from_row).collect());
    let [client] = client;
    Ok(Some(client))
}

/// Inserts a client; a duplicate name is a unique violation.
pub async fn create(
    db: &impl GenericClient,
    name: &str,
    block_policy_inheritance: bool,
    by: &str,
) -> Result<ClientId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO clients (name, block_policy_inheritance, created_by) VALUES ($1, $2, $3) RETURNING id",
            &[&name, &block_policy_inheritance, &by],
        )
        .await?;
    Ok(ClientId(row.get(0)))
}

/// Applies a partial edit; `None` leaves a field alone.
pub async fn update(
    db: &impl GenericClient,
    id: ClientId,
    name: Option<&str>,
    block_policy_inheritance: Option<bool>,
    by: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE clients SET name = COALESCE($2, name),
                block_policy_inheritance = COALESCE($3, block_policy_inheritance),
                modified_by = $4, modified_time = now()
         WHERE id = $1",
        &[&id.0, &name, &block_policy_inheritance, &by],
    )
    .await?;
    Ok(())
}

/// Assigns the client's alert template (`None` removes it); an unknown template is a foreign-key violation.
pub async fn set_alert_template(
    db: &impl GenericClient,
    id: ClientId,
    template: Option<AlertTemplateId>,
    by: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE clients SET alert_template_id = $2, modified_by = $3, modified_time = now() WHERE id = $1",
        &[&id.0, &template.map(|t| t.0), &by],
    )
    .await?;
    Ok(())
}

/// Number of agents in all of a client's sites.
pub async fn agent_count(db: &impl GenericClient, id: ClientId) -> Result<i64, DbError> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM agents a JOIN sites s ON s.id = a.site_id WHERE s.client_id = $1",
            &[&id.0],
        )
        .await?
        .get(0))
}

/// Moves every agent of a client's sites to `to`.
pub async fn move_agents(db: &impl GenericClient, id: ClientId, to: crate::SiteId) -> Result<u64, DbError> {
    Ok(db
        .execute(
            "UPDATE agents SET site_id = $2 WHERE site_id IN (SELECT id FROM sites WHERE client_id = $1)",
            &[&id.0, &to.0],
        )
        .await?)
}

/// Deletes a client and its sites; fails with a foreign-key violation while agents remain.
pub async fn delete(db: &impl GenericClient, id: ClientId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "clients", &id.0).await
}
