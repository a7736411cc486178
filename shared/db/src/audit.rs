//! The audit log (Tactical RMM `logs.AuditLog`): rows are only ever inserted, then read a page at a time.
//!
//! Each row records where it happened: the client and site of its agent (looked up when it is written) or of the
//! client or site it is about. The role scope of [`page`] uses that place, so that a row outlives its agent's
//! deletion for the roles that saw the agent, and a client's rows stay with that client's roles.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::roles::Scope;
use crate::{ClientId, DbError, GenericClient, SiteId};

/// Upstream's `AUDIT_MAX_VALUE_BYTES`: a larger before or after value is replaced by a stub saying so.
pub const MAX_VALUE_BYTES: usize = 512 * 1024;

/// One audit row to write.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry<'a> {
    /// Who acted (a username, or the agent's hostname for agent actions).
    pub username: &'a str,
    /// Hostname of the agent concerned.
    pub agent: Option<&'a str>,
    /// agent_id of the agent concerned; its client and site are recorded unless given below.
    pub agent_id: Option<&'a str>,
    /// `login`, `failed_login`, `add`, `modify`, `delete`, `agent_install`, ...
    pub action: &'a str,
    /// `user`, `agent`, `client`, `site`, ...
    pub object_type: &'a str,
    /// State before the change.
    pub before_value: Option<Value>,
    /// State after the change.
    pub after_value: Option<Value>,
    /// Human-readable summary.
    pub message: String,
    /// `{ip, url, method, ...}` of the request.
    pub debug_info: Option<Value>,
    /// The client the row is about (a client or site change, or an agent no longer in the table).
    pub client: Option<ClientId>,
    /// The site the row is about (with its client in `client`).
    pub site: Option<SiteId>,
}

/// Upstream cuts messages to 253 characters plus "..".
fn clip(message: &str) -> String {
    if message.chars().count() <= 255 {
        return message.to_owned();
    }
    let mut s: String = message.chars().take(253).collect();
    s.push_str("..");
    s
}

/// The value as stored: one over [`MAX_VALUE_BYTES`] of JSON becomes a stub naming its size.
fn capped(value: &Option<Value>) -> Option<Value> {
    let v = value.as_ref()?;
    let size = serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
    Some(if size > MAX_VALUE_BYTES {
        json!({ "error": format!("Value of {size} bytes exceeds the {MAX_VALUE_BYTES} bytes audit limit") })
    } else {
        v.clone()
    })
}

/// Appends a row to the audit log.
pub async fn insert(db: &impl GenericClient, e: &AuditEntry<'_>) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO audit_logs (username, agent, agent_id, action, object_type, before_value, after_value, message,
                                 debug_info, client_id, site_id)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, s.client_id), COALESCE($11, s.id)
         FROM (SELECT 1) one LEFT JOIN agents a ON a.agent_id = $3 LEFT JOIN sites s ON s.id = a.site_id",
        &[
            &e.username,
            &e.agent,
            &e.agent_id,
            &e.action,
            &e.object_type,
            &capped(&e.before_value),
            &capped(&e.after_value),
            &clip(&e.message),
            &e.debug_info,
            &e.client,
            &e.site,
        ],
    )
    .await?;
    Ok(())
}

/// Number of rows with this action and username (used by operators' checks and tests).
pub async fn count(db: &impl GenericClient, action: &str, username: &str) -> Result<i64, DbError> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM audit_logs WHERE action = $1 AND username = $2",
            &[&action, &username],
        )
        .await?
        .get(0))
}

/// Which rows a page is taken from; `None` leaves a filter off.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Rows about these agents (`agent_id`s).
    pub agents: Option<Vec<String>>,
    /// Rows about these clients: their agents (where they are now or were then), sites and the clients themselves.
    pub clients: Option<Vec<ClientId>>,
    /// Rows of these usernames.
    pub users: Option<Vec<String>>,
    /// Rows with these actions.
    pub actions: Option<Vec<String>>,
    /// Rows with these object types.
    pub objects: Option<Vec<String>>,
    /// Rows written after this time.
    pub since: Option<DateTime<Utc>>,
}

/// The column a page is sorted by (the dashboard's column names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Row id.
    Id,
    /// When it was written.
    EntryTime,
    /// Who acted.
    Username,
    /// Agent hostname.
    Agent,
    /// Agent id.
    AgentId,
    /// Action.
    Action,
    /// Object type.
    ObjectType,
    /// Message.
    Message,
    /// Name of the client of the row's site.
    Client,
    /// Name of the row's site.
    Site,
    /// The client IP of the request.
    IpAddress,
}

impl SortBy {
    /// Every sortable column by its dashboard name.
    pub const ALL: [(&'static str, SortBy); 12] = [
        ("id", SortBy::Id),
        ("entry_time", SortBy::EntryTime),
        ("username", SortBy::Username),
        ("agent", SortBy::Agent),
        ("agent_id", SortBy::AgentId),
        ("action", SortBy::Action),
        ("object_type", SortBy::ObjectType),
        ("message", SortBy::Message),
        ("client", SortBy::Client),
        ("site", SortBy::Site),
        ("ip_address", SortBy::IpAddress),
        // The dashboard's name for the IP column.
        ("client_ip", SortBy::IpAddress),
    ];

    /// The column named `name`.
    pub fn parse(name: &str) -> Option<SortBy> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    fn expr(self) -> &'static str {
        match self {
            SortBy::Id => "l.id",
            SortBy::EntryTime => "l.entry_time",
            SortBy::Username => "l.username",
            SortBy::Agent => "l.agent",
            SortBy::AgentId => "l.agent_id",
            SortBy::Action => "l.action",
            SortBy::ObjectType => "l.object_type",
            SortBy::Message => "l.message",
            SortBy::Client => "c.name",
            SortBy::Site => "s.name",
            SortBy::IpAddress => "l.debug_info->>'ip'",
        }
    }
}

/// One page: 1-based `page` of `rows_per_page` rows in the given order.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Sort column.
    pub sort_by: SortBy,
    /// Largest first.
    pub descending: bool,
    /// Page number, from 1.
    pub page: i64,
    /// Rows per page.
    pub rows_per_page: i64,
}

/// The site a row is placed at: its agent's current site, or the site it was written about.
#[derive(Debug, Clone)]
pub struct AuditSite {
    /// Site id.
    pub id: SiteId,
    /// Site name.
    pub name: String,
    /// Its client.
    pub client: ClientId,
    /// The client's name.
    pub client_name: String,
}

/// One row of the audit log.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// Row id.
    pub id: i64,
    /// Who acted.
    pub username: String,
    /// Agent hostname.
    pub agent: Option<String>,
    /// Agent id.
    pub agent_id: Option<String>,
    /// When.
    pub entry_time: DateTime<Utc>,
    /// Action.
    pub action: String,
    /// Object type.
    pub object_type: String,
    /// State before.
    pub before_value: Option<Value>,
    /// State after.
    pub after_value: Option<Value>,
    /// Summary.
    pub message: Option<String>,
    /// `{ip, url, method}` of the request.
    pub debug_info: Option<Value>,
    /// Where the row is placed, if anywhere that still exists.
    pub site: Option<AuditSite>,
}

/// Rows joined to the place they are shown at: the agent's site while the agent exists, else the recorded one.
const FROM: &str = "FROM audit_logs l
    LEFT JOIN agents ag ON ag.agent_id = l.agent_id
    LEFT JOIN sites s ON s.id = COALESCE(ag.site_id, l.site_id)
    LEFT JOIN clients c ON c.id = s.client_id";

/// The role scope ($1 to $3, [`Scope::params`]): rows about no agent, client or site (settings, scripts,
/// logins, ...) are visible to every role, as upstream; other rows when their recorded place or their agent's
/// current one is in scope.
const WHERE: &str = "WHERE ($1::bool
        OR (l.agent_id IS NULL AND l.client_id IS NULL AND l.site_id IS NULL)
        OR l.client_id = ANY($2::int[]) OR l.site_id = ANY($3::int[])
        OR (ag.id IS NOT NULL AND (s.client_id = ANY($2::int[]) OR s.id = ANY($3::int[]))))
    AND ($4::text[] IS NULL OR l.agent_id = ANY($4))
    AND ($5::int[] IS NULL OR l.client_id = ANY($5) OR (ag.id IS NOT NULL AND s.client_id = ANY($5)))
    AND ($6::text[] IS NULL OR l.username = ANY($6))
    AND ($7::text[] IS NULL OR l.action = ANY($7))
    AND ($8::text[] IS NULL OR l.object_type = ANY($8))
    AND ($9::timestamptz IS NULL OR l.entry_time > $9)";

fn from_row(r: &Row) -> AuditRow {
    let site = r.get::<_, Option<i32>>("site_id").map(|id| AuditSite {
        id: SiteId(id),
        name: r.get("site_name"),
        client: r.get("client_id"),
        client_name: r.get("client_name"),
    });
    from_row! { r, AuditRow {
        id, username, agent, agent_id, entry_time, action, object_type, before_value, after_value, message,
        debug_info, site: site,
    } }
}

/// One page of the rows in `scope` matching `filter`, and how many rows match in all.
pub async fn page(
    db: &impl GenericClient,
    scope: &Scope,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<(Vec<AuditRow>, i64), DbError> {
    let clients: Option<Vec<i32>> = filter.clients.as_ref().map(|c| c.iter().map(|c| c.0).collect());
    let [a, b, c] = scope.params();
    let params: [&(dyn ToSql + Sync); 9] = [
        a,
        b,
        c,
        &filter.agents,
        &clients,
        &filter.users,
        &filter.actions,
        &filter.objects,
        &filter.since,
    ];
    let total: i64 = db
        .query_one(&format!("SELECT count(*) {FROM} {WHERE}"), &params)
        .await?
        .get(0);
    let dir = if page.descending { "DESC" } else { "ASC" };
    let offset = (page.page - 1).saturating_mul(page.rows_per_page);
    let sql = format!(
        "SELECT l.id, l.username, l.agent, l.agent_id, l.entry_time, l.action, l.object_type, l.before_value,
                l.after_value, l.message, l.debug_info, s.id AS site_id, s.name AS site_name, c.id AS client_id,
                c.name AS client_name
         {FROM} {WHERE}
         ORDER BY {} {dir}, l.id {dir} LIMIT {} OFFSET {offset}",
        page.sort_by.expr(),
        page.rows_per_page
    );
    let rows = db.query(&sql, &params).await?;
    Ok((rows.iter().map(from_row).collect(), total))
}
