//! Roles: permission flags and the client/site lists that scope what a role's users see.

use std::collections::{BTreeMap, BTreeSet};

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

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

/// Creates a role with the given `can_*` flags set (used by tests and tools).
pub async fn create(db: &impl GenericClient, name: &str, flags: &[&str]) -> Result<RoleId, DbError> {
    let fields = RoleFields {
        name: Some(name.to_owned()),
        flags: flags.iter().map(|f| ((*f).to_owned(), true)).collect(),
        ..RoleFields::default()
    };
    insert(db, &fields, "system").await
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

/// A role as the accounts page shows it; serializes as upstream's `RoleSerializer` (`__all__` and `user_count`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleRow {
    /// Primary key.
    pub id: RoleId,
    /// Unique name.
    pub name: String,
    /// Superuser roles pass every check.
    pub is_superuser: bool,
    /// Every `can_*` flag and its value.
    #[serde(flatten)]
    pub flags: BTreeMap<String, bool>,
    /// The clients its users see (with all their sites); empty together with `can_view_sites` means all.
    pub can_view_clients: Vec<ClientId>,
    /// The single sites its users see.
    pub can_view_sites: Vec<SiteId>,
    /// Who created it.
    pub created_by: Option<String>,
    /// When it was created.
    pub created_time: DateTime<Utc>,
    /// Who changed it last.
    pub modified_by: Option<String>,
    /// When it was changed last.
    pub modified_time: DateTime<Utc>,
    /// How many users hold it.
    pub user_count: i64,
}

const SELECT_ROWS: &str = "SELECT r.id, r.name, r.is_superuser, r.created_by, r.created_time, r.modified_by,
        r.modified_time, to_jsonb(r) AS j,
        ARRAY(SELECT client_id FROM role_clients c WHERE c.role_id = r.id ORDER BY client_id) AS can_view_clients,
        ARRAY(SELECT site_id FROM role_sites s WHERE s.role_id = r.id ORDER BY site_id) AS can_view_sites,
        (SELECT count(*) FROM users u WHERE u.role_id = r.id) AS user_count
    FROM roles r";

fn role_row(row: &Row) -> RoleRow {
    let json: serde_json::Value = row.get("j");
    let flags = json
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("can_"))
        .filter_map(|(k, v)| Some((k.clone(), v.as_bool()?)))
        .collect();
    from_row! { row, RoleRow {
        id, name, is_superuser, flags: flags, can_view_clients, can_view_sites, created_by, created_time,
        modified_by, modified_time, user_count,
    } }
}

/// Every role, by id.
pub async fn list(db: &impl GenericClient) -> Result<Vec<RoleRow>, DbError> {
    let sql = format!("{SELECT_ROWS} ORDER BY r.id");
    Ok(db.query(&sql, &[]).await?.iter().map(role_row).collect())
}

/// One role.
pub async fn get(db: &impl GenericClient, id: RoleId) -> Result<Option<RoleRow>, DbError> {
    let sql = format!("{SELECT_ROWS} WHERE r.id = $1");
    Ok(db.query_opt(&sql, &[&id]).await?.as_ref().map(role_row))
}

/// Whether the role exists.
pub async fn exists(db: &impl GenericClient, id: RoleId) -> Result<bool, DbError> {
    let row = db.query_opt("SELECT 1 FROM roles WHERE id = $1", &[&id]).await?;
    Ok(row.is_some())
}

/// The names of the `can_*` columns of `roles`, in table order: the permission flags a role can carry.
pub async fn flag_names(db: &impl GenericClient) -> Result<Vec<String>, DbError> {
    let rows = db
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'roles' AND column_name LIKE 'can\\_%'
             ORDER BY ordinal_position",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// What a create or an edit writes: `None` (or a flag left out) leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct RoleFields {
    /// New name (unique).
    pub name: Option<String>,
    /// Superuser switch.
    pub is_superuser: Option<bool>,
    /// `can_*` flags to set; each must be one of [`flag_names`].
    pub flags: Vec<(String, bool)>,
    /// Replaces the client allow-list.
    pub clients: Option<Vec<ClientId>>,
    /// Replaces the site allow-list.
    pub sites: Option<Vec<SiteId>>,
}

/// Inserts a role; a taken name is a unique violation, an unknown client or site a foreign key violation.
pub async fn insert(db: &impl GenericClient, f: &RoleFields, by: &str) -> Result<RoleId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO roles (name, created_by) VALUES ($1, $2) RETURNING id",
            &[&f.name, &by],
        )
        .await?;
    let id = RoleId(row.get(0));
    write(db, id, f, None).await?;
    Ok(id)
}

/// Applies `f` to the role; false when it does not exist.
pub async fn update(db: &impl GenericClient, id: RoleId, f: &RoleFields, by: &str) -> Result<bool, DbError> {
    write(db, id, f, Some(by)).await
}

async fn write(
    db: &impl GenericClient,
    id: RoleId,
    f: &RoleFields,
    modified_by: Option<&str>,
) -> Result<bool, DbError> {
    let known = flag_names(db).await?;
    if let Some((unknown, _)) = f.flags.iter().find(|(flag, _)| !known.contains(flag)) {
        return Err(DbError::UnknownPermission(unknown.clone()));
    }
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &f.name, &f.is_superuser, &modified_by];
    // Flag names are identifiers from the catalogue (checked above), so they can never carry SQL.
    let mut sql = String::from(
        "UPDATE roles SET name = COALESCE($2, name), is_superuser = COALESCE($3, is_superuser),
                modified_by = COALESCE($4, modified_by), modified_time = now()",
    );
    for (flag, value) in &f.flags {
        params.push(value);
        sql.push_str(&format!(", {flag} = ${}", params.len()));
    }
    sql.push_str(" WHERE id = $1");
    if db.execute(&sql, &params).await? == 0 {
        return Ok(false);
    }
    if let Some(clients) = &f.clients {
        db.execute("DELETE FROM role_clients WHERE role_id = $1", &[&id])
            .await?;
        db.execute(
            "INSERT INTO role_clients (role_id, client_id) SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING",
            &[&id, clients],
        )
        .await?;
    }
    if let Some(sites) = &f.sites {
        db.execute("DELETE FROM role_sites WHERE role_id = $1", &[&id]).await?;
        db.execute(
            "INSERT INTO role_sites (role_id, site_id) SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING",
            &[&id, sites],
        )
        .await?;
    }
    Ok(true)
}

/// Locks a role until the transaction ends. Giving a user the role takes a key-share lock on it (the foreign
/// key), so counting its users after this sees every assignment that raced with the caller.
pub async fn lock(db: &impl GenericClient, id: RoleId) -> Result<(), DbError> {
    db.execute("SELECT 1 FROM roles WHERE id = $1 FOR UPDATE", &[&id.0])
        .await?;
    Ok(())
}

/// Deletes a role.
pub async fn delete(db: &impl GenericClient, id: RoleId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "roles", &id.0).await
}

/// Adds a client to the role's allow-list (a restricted user's new client, as upstream clients/views.py).
pub async fn grant_client(db: &impl GenericClient, id: RoleId, client: ClientId) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO role_clients (role_id, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&id, &client],
    )
    .await?;
    Ok(())
}

/// Adds a site to the role's allow-list.
pub async fn grant_site(db: &impl GenericClient, id: RoleId, site: SiteId) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO role_sites (role_id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&id, &site],
    )
    .await?;
    Ok(())
}

/// The first of `ids` that names no client.
pub async fn missing_client(db: &impl GenericClient, ids: &[ClientId]) -> Result<Option<ClientId>, DbError> {
    first_missing(db, "clients", &ids).await.map(|id| id.map(ClientId))
}

/// The first of `ids` that names no site.
pub async fn missing_site(db: &impl GenericClient, ids: &[SiteId]) -> Result<Option<SiteId>, DbError> {
    first_missing(db, "sites", &ids).await.map(|id| id.map(SiteId))
}

async fn first_missing(db: &impl GenericClient, table: &str, ids: &(dyn ToSql + Sync)) -> Result<Option<i32>, DbError> {
    let sql = format!(
        "SELECT x FROM unnest($1::int[]) WITH ORDINALITY AS t(x, n)
         WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE id = x) ORDER BY n LIMIT 1"
    );
    Ok(db.query_opt(&sql, &[ids]).await?.map(|r| r.get(0)))
}
