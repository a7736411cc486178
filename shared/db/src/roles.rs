//! Roles: permission flags and the client/site lists that scope what a role's users see.

use std::collections::BTreeSet;

use crate::GenericClient;
use tokio_postgres::types::ToSql;

use crate::{ClientId, DbError, RoleId, SiteId};

/// A role as permission checks need it.
#[derive(Debug, Clone, Default)]
pub struct RolePermissions {
    /// A superuser role passes every check.
    pub is_superuser: bool,
    /// Names of the `can_*` flags that are true.
    pub granted: BTreeSet<String>,
    /// `can_view_clients`: empty together with `sites` means every client.
    pub clients: Vec<ClientId>,
    /// `can_view_sites`.
    pub sites: Vec<SiteId>,
}

/// Loads a role's flags and scope lists; `None` if the role does not exist.
pub async fn load(db: &impl GenericClient, role: RoleId) -> Result<Option<RolePermissions>, DbError> {
    // to_jsonb keeps this query independent of the 68 flag columns, so adding a flag is a migration only.
    let Some(row) = db
        .query_opt("SELECT to_jsonb(r) AS j FROM roles r WHERE id = $1", &[&role.0])
        .await?
    else {
        return Ok(None);
    };
    let json: serde_json::Value = row.get("j");
    let mut perms = RolePermissions::default();
    if let Some(map) = json.as_object() {
        perms.is_superuser = map.get("is_superuser").and_then(|v| v.as_bool()).unwrap_or(false);
        perms.granted = map
            .iter()
            .filter(|(k, v)| k.starts_with("can_") && v.as_bool() == Some(true))
            .map(|(k, _)| k.clone())
            .collect();
    }
    let clients = db
        .query("SELECT client_id FROM role_clients WHERE role_id = $1", &[&role.0])
        .await?;
    perms.clients = clients.iter().map(|r| ClientId(r.get(0))).collect();
    let sites = db
        .query("SELECT site_id FROM role_sites WHERE role_id = $1", &[&role.0])
        .await?;
    perms.sites = sites.iter().map(|r| SiteId(r.get(0))).collect();
    Ok(Some(perms))
}

/// Creates a role with the given `can_*` flags set (used by the admin CLI and tests).
pub async fn create(db: &impl GenericClient, name: &str, flags: &[&str]) -> Result<RoleId, DbError> {
    let row = db
        .query_one("INSERT INTO roles (name) VALUES ($1) RETURNING id", &[&name])
        .await?;
    let id = RoleId(row.get(0));
    for flag in flags {
        // Flag names are checked against the catalogue, so they can never carry SQL.
        let exists = db
            .query_opt(
                "SELECT 1 FROM information_schema.columns WHERE table_name = 'roles' AND column_name = $1
                   AND column_name LIKE 'can\\_%'",
                &[flag],
            )
            .await?
            .is_some();
        if !exists {
            return Err(DbError::UnknownPermission((*flag).to_owned()));
        }
        db.execute(&format!("UPDATE roles SET {flag} = true WHERE id = $1"), &[&id.0])
            .await?;
    }
    Ok(id)
}

/// Which clients and sites a user may see (Tactical RMM `filter_by_role`).
#[derive(Debug, Clone)]
pub struct Scope {
    /// True for superusers and for roles with empty client and site lists.
    pub unrestricted: bool,
    /// Allowed clients (with all their sites).
    pub clients: Vec<i32>,
    /// Allowed individual sites.
    pub sites: Vec<i32>,
}

impl Scope {
    /// SQL condition restricting rows joined to `sites s` to the scope given by [`Scope::params`] ($1 to $3).
    pub const FILTER: &'static str = "($1::bool OR s.client_id = ANY($2::int[]) OR s.id = ANY($3::int[]))";

    /// The parameters $1 (unrestricted), $2 (client ids) and $3 (site ids) of [`Scope::FILTER`].
    pub fn params(&self) -> [&(dyn ToSql + Sync); 3] {
        [&self.unrestricted, &self.clients, &self.sites]
    }

    /// A scope that sees everything.
    pub fn all() -> Scope {
        Scope {
            unrestricted: true,
            clients: Vec::new(),
            sites: Vec::new(),
        }
    }

    /// Whether a site of `client` with id `site` is visible.
    pub fn allows_site(&self, client: ClientId, site: SiteId) -> bool {
        self.unrestricted || self.clients.contains(&client.0) || self.sites.contains(&site.0)
    }
}

impl RolePermissions {
    /// The visibility scope this role gives; empty lists mean everything, as upstream.
    pub fn scope(&self) -> Scope {
        Scope {
            unrestricted: self.is_superuser || (self.clients.is_empty() && self.sites.is_empty()),
            clients: self.clients.iter().map(|c| c.0).collect(),
            sites: self.sites.iter().map(|s| s.0).collect(),
        }
    }
}
