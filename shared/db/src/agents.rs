//! Agents (Tactical RMM `agents.Agent`): enrollment, the agent table, detail, edits and token lookup.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::roles::Scope;
use crate::{AgentPk, ClientId, DbError, SiteId};

/// Online/offline/overdue in SQL, from `last_seen` and the agent's own thresholds (upstream computes it
/// per row in Python, agents/models.py::Agent.status); `$1` is the injectable "now".
pub(crate) const STATUS_SQL: &str = "CASE
        WHEN a.last_seen IS NULL THEN 'offline'
        WHEN a.last_seen >= $1::timestamptz - make_interval(mins => a.offline_time) THEN 'online'
        WHEN a.last_seen >= $1::timestamptz - make_interval(mins => a.overdue_time) THEN 'offline'
        ELSE 'overdue' END";

/// The alert template in force for the agent `a` of site `s`, client `c` and core settings `core`, as a lateral
/// subquery (the `agent_alert_template` view's rule): joined per row of a page, it costs nothing when no
/// template exists, where a function call per row would not.
const TEMPLATE_IN_FORCE: &str = "SELECT t.* FROM (VALUES (1, s.alert_template_id), (2, c.alert_template_id),
        (3, core.alert_template_id)) AS slot (ord, template_id)
    JOIN alert_templates t ON t.id = slot.template_id
    WHERE alert_template_applies(t, a, c.id)
    ORDER BY slot.ord LIMIT 1";

/// The identity of an agent, as the agent API and permission checks need it.
#[derive(Debug, Clone)]
pub struct AgentRef {
    /// Integer key.
    pub pk: AgentPk,
    /// The agent's own 40-letter id.
    pub agent_id: String,
    /// Host name as last reported.
    pub hostname: String,
    /// Site it belongs to.
    pub site: SiteId,
    /// Client of that site.
    pub client: ClientId,
    /// Seconds between check runs.
    pub check_interval: i32,
}

const REF_SELECT: &str = concat!(
    "SELECT ",
    ref_columns!(),
    " FROM agents a JOIN sites s ON s.id = a.site_id"
);

pub(crate) fn ref_from_row(row: &Row) -> AgentRef {
    from_row! { row, AgentRef {
        pk = "id", agent_id, hostname, site = "site_id", client = "client_id", check_interval,
    } }
}

/// The agent with this `agent_id`.
pub async fn find_by_agent_id(db: &impl GenericClient, agent_id: &str) -> Result<Option<AgentRef>, DbError> {
    let sql = format!("{REF_SELECT} WHERE a.agent_id = $1");
    Ok(db.query_opt(&sql, &[&agent_id]).await?.as_ref().map(ref_from_row))
}

/// The agents among `agent_ids` that exist.
pub async fn find_many_by_agent_id(db: &impl GenericClient, agent_ids: &[String]) -> Result<Vec<AgentRef>, DbError> {
    let sql = format!("{REF_SELECT} WHERE a.agent_id = ANY($1)");
    Ok(db.query(&sql, &[&agent_ids]).await?.iter().map(ref_from_row).collect())
}

/// The agent with this key.
pub async fn find_by_pk(db: &impl GenericClient, pk: AgentPk) -> Result<Option<AgentRef>, DbError> {
    let sql = format!("{REF_SELECT} WHERE a.id = $1");
    Ok(db.query_opt(&sql, &[&pk.0]).await?.as_ref().map(ref_from_row))
}

/// The agent whose token hashes to `digest`.
pub async fn find_by_token(db: &impl GenericClient, digest: &[u8]) -> Result<Option<AgentRef>, DbError> {
    let sql = format!("{REF_SELECT} JOIN agent_tokens t ON t.agent_pk = a.id WHERE t.digest = $1");
    Ok(crate::prepared::query_opt(db, &sql, &[&digest])
        .await?
        .as_ref()
        .map(ref_from_row))
}

/// What `/api/v3/newagent/` registers.
#[derive(Debug, Clone)]
pub struct NewAgent<'a> {
    /// Agent-generated id.
    pub agent_id: &'a str,
    /// Host name.
    pub hostname: &'a str,
    /// Site to enroll into.
    pub site: SiteId,
    /// server or workstation.
    pub monitoring_type: &'a str,
    /// MeshCentral node id ("" on Linux).
    pub mesh_node_id: &'a str,
    /// Free-text description.
    pub description: &'a str,
    /// windows, linux or darwin.
    pub plat: &'a str,
    /// amd64, 386, arm64 or arm.
    pub goarch: &'a str,
}

/// Inserts an agent seen `now` and stores its token digest; run inside a transaction.
/// A duplicate `agent_id` is a unique violation.
pub async fn create_with_token(
    db: &impl GenericClient,
    agent: &NewAgent<'_>,
    token_digest: &[u8],
    now: DateTime<Utc>,
    by: &str,
) -> Result<AgentPk, DbError> {
    let row = db
        .query_one(
            "INSERT INTO agents (agent_id, hostname, site_id, monitoring_type, mesh_node_id, description, plat, goarch,
                                 last_seen, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &agent.agent_id,
                &agent.hostname,
                &agent.site.0,
                &agent.monitoring_type,
                &agent.mesh_node_id,
                &agent.description,
                &agent.plat,
                &agent.goarch,
                &now,
                &by,
            ],
        )
        .await?;
    let pk = AgentPk(row.get(0));
    db.execute(
        "INSERT INTO agent_tokens (agent_pk, digest) VALUES ($1, $2)",
        &[&pk.0, &token_digest],
    )
    .await?;
    Ok(pk)
}

/// Filters of the agent table (`?client=`, `?site=`, `?monitoring_type=`).
#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    /// Only agents of this client.
    pub client: Option<ClientId>,
    /// Only agents of this site.
    pub site: Option<SiteId>,
    /// Only servers or only workstations.
    pub monitoring_type: Option<String>,
}

/// Columns the agent table can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Host name (the default).
    Hostname,
    /// Client name.
    Client,
    /// Site name.
    Site,
    /// Last heartbeat.
    LastSeen,
    /// Agent version.
    Version,
    /// OS description.
    OperatingSystem,
    /// Public IP.
    PublicIp,
    /// server / workstation.
    MonitoringType,
    /// Description.
    Description,
    /// online / offline / overdue.
    Status,
}

impl SortKey {
    /// Parses an `ordering` field name as the API accepts it.
    pub fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "hostname" => SortKey::Hostname,
            "client_name" | "client" => SortKey::Client,
            "site_name" | "site" => SortKey::Site,
            "last_seen" => SortKey::LastSeen,
            "version" => SortKey::Version,
            "operating_system" => SortKey::OperatingSystem,
            "public_ip" => SortKey::PublicIp,
            "monitoring_type" => SortKey::MonitoringType,
            "description" => SortKey::Description,
            "status" => SortKey::Status,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            SortKey::Hostname => "a.hostname",
            SortKey::Client => "c.name",
            SortKey::Site => "s.name",
            SortKey::LastSeen => "a.last_seen",
            SortKey::Version => "a.version",
            SortKey::OperatingSystem => "a.operating_system",
            SortKey::PublicIp => "a.public_ip",
            SortKey::MonitoringType => "a.monitoring_type",
            SortKey::Description => "a.description",
            SortKey::Status => "status",
        }
    }
}

/// Sorting and paging of one agent-table request.
#[derive(Debug, Clone, Copy)]
pub struct TableQuery {
    /// Sort column.
    pub sort: SortKey,
    /// Descending order.
    pub descending: bool,
    /// `(limit, offset)`, or everything.
    pub page: Option<(i64, i64)>,
}

/// One row of the agent table, before the API shapes it.
#[derive(Debug, Clone)]
pub struct AgentTableRow {
    /// Integer key.
    pub pk: AgentPk,
    /// Every scalar column the table shows, as JSON (`to_jsonb` of the row subset).
    pub columns: serde_json::Value,
    /// online / offline / overdue.
    pub status: String,
    /// Pending actions not yet completed.
    pub pending_actions_count: i64,
    /// Hardware inventory reported by the agent.
    pub wmi_detail: Option<serde_json::Value>,
}

/// The agent table: filtered by scope and filter, sorted and optionally paged in SQL.
/// Returns the rows and the total number of matching agents.
pub async fn table(
    db: &impl GenericClient,
    scope: &Scope,
    filter: &AgentFilter,
    query: TableQuery,
    now: DateTime<Utc>,
) -> Result<(Vec<AgentTableRow>, i64), DbError> {
    let direction = if query.descending {
        "DESC NULLS LAST"
    } else {
        "ASC NULLS FIRST"
    };
    let (limit, offset) = query.page.unwrap_or((i64::MAX, 0));
    // The page is chosen over ids and sort keys only; the wide row (JSON, pending-action count, inventory) is
    // built for the page's rows alone, so a page of 50 costs the same at 50,000 agents as at 500.
    let sql = format!(
        "WITH page AS (
            SELECT a.id, {STATUS_SQL} AS status
            FROM agents a JOIN sites s ON s.id = a.site_id JOIN clients c ON c.id = s.client_id
            WHERE ($2::bool OR c.id = ANY($3::int[]) OR s.id = ANY($4::int[]))
              AND ($5::int IS NULL OR c.id = $5) AND ($6::int IS NULL OR s.id = $6)
              AND ($7::text IS NULL OR a.monitoring_type = $7)
            ORDER BY {sort} {direction}, a.id {direction}
            LIMIT $8 OFFSET $9
        )
        SELECT a.id, page.status,
            jsonb_build_object(
                'agent_id', a.agent_id, 'hostname', a.hostname, 'monitoring_type', a.monitoring_type,
                'description', a.description, 'needs_reboot', a.needs_reboot,
                'overdue_text_alert', a.overdue_text_alert, 'overdue_email_alert', a.overdue_email_alert,
                'overdue_dashboard_alert', a.overdue_dashboard_alert, 'last_seen', a.last_seen,
                'boot_time', a.boot_time, 'maintenance_mode', a.maintenance_mode,
                'block_policy_inheritance', a.block_policy_inheritance, 'plat', a.plat, 'goarch', a.goarch,
                'version', a.version, 'operating_system', a.operating_system, 'public_ip', a.public_ip,
                'site_name', s.name, 'client_name', c.name, 'policy', a.policy_id,
                'logged_in_username', a.logged_in_username, 'last_logged_in_user', a.last_logged_in_user,
                'checks', jsonb_build_object(
                    'total', COALESCE(cs.total, 0), 'passing', COALESCE(cs.passing, 0),
                    'failing', COALESCE(cs.failing, 0), 'warning', COALESCE(cs.warning, 0),
                    'info', COALESCE(cs.info, 0),
                    'has_failing_checks', COALESCE(cs.failing, 0) + COALESCE(cs.warning, 0) > 0),
                'alert_template', CASE WHEN t.id IS NULL THEN NULL ELSE jsonb_build_object(
                    'name', t.name, 'always_email', t.agent_always_email, 'always_text', t.agent_always_text,
                    'always_alert', t.agent_always_alert) END
            ) AS columns,
            (SELECT count(*) FROM pending_actions p WHERE p.agent_pk = a.id AND p.status = 'pending')
                AS pending_actions_count,
            a.wmi_detail
         FROM page JOIN agents a ON a.id = page.id JOIN sites s ON s.id = a.site_id JOIN clients c ON c.id = s.client_id
         LEFT JOIN agent_check_summary cs ON cs.agent_id = a.id
         CROSS JOIN core_settings core
         LEFT JOIN LATERAL ({TEMPLATE_IN_FORCE}) t ON true
         ORDER BY {outer_sort} {direction}, a.id {direction}",
        sort = query.sort.sql(),
        outer_sort = if query.sort == SortKey::Status {
            "page.status"
        } else {
            query.sort.sql()
        },
    );
    let rows = db
        .query(
            &sql,
            &[
                &now,
                &scope.unrestricted,
                &scope.clients,
                &scope.sites,
                &filter.client.map(|c| c.0),
                &filter.site.map(|s| s.0),
                &filter.monitoring_type,
                &limit,
                &offset,
            ],
        )
        .await?;
    let total = match query.page {
        Some(_) => count(db, scope, filter).await?,
        None => rows.len() as i64,
    };
    let rows = rows
        .iter()
        .map(|r| from_row! { r, AgentTableRow { pk = "id", columns, status, pending_actions_count, wmi_detail } })
        .collect();
    Ok((rows, total))
}

async fn count(db: &impl GenericClient, scope: &Scope, filter: &AgentFilter) -> Result<i64, DbError> {
    let row = db
        .query_one(
            "SELECT count(*) FROM agents a JOIN sites s ON s.id = a.site_id JOIN clients c ON c.id = s.client_id
             WHERE ($1::bool OR c.id = ANY($2::int[]) OR s.id = ANY($3::int[]))
               AND ($4::int IS NULL OR c.id = $4) AND ($5::int IS NULL OR s.id = $5)
               AND ($6::text IS NULL OR a.monitoring_type = $6)",
            &[
                &scope.unrestricted,
                &scope.clients,
                &scope.sites,
                &filter.client.map(|c| c.0),
                &filter.site.map(|s| s.0),
                &filter.monitoring_type,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// An agent's full record for the detail view.
#[derive(Debug, Clone)]
pub struct AgentDetail {
    /// Every column of the row, as JSON (`to_jsonb`), plus the alert template in force (`alert_template_id`).
    pub columns: serde_json::Value,
    /// online / offline / overdue.
    pub status: String,
    /// Client name.
    pub client_name: String,
    /// Site name.
    pub site_name: String,
}

/// Every column of one agent plus its computed status.
pub async fn detail(db: &impl GenericClient, pk: AgentPk, now: DateTime<Utc>) -> Result<Option<AgentDetail>, DbError> {
    let sql = format!(
        "SELECT to_jsonb(a) || jsonb_build_object('alert_template_id',
                    alert_template_for(a)) AS columns,
                {STATUS_SQL} AS status, c.name AS client_name, s.name AS site_name
         FROM agents a JOIN sites s ON s.id = a.site_id JOIN clients c ON c.id = s.client_id WHERE a.id = $2"
    );
    Ok(db.query_opt(&sql, &[&now, &pk.0]).await?.map(|r| AgentDetail {
        columns: r.get("columns"),
        status: r.get("status"),
        client_name: r.get("client_name"),
        site_name: r.get("site_name"),
    }))
}

/// Fields the dashboard may edit (`PUT /agents/<agent_id>/`); `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AgentChanges {
    /// Free-text description.
    pub description: Option<String>,
    /// server / workstation.
    pub monitoring_type: Option<String>,
    /// Move to another site.
    pub site: Option<SiteId>,
    /// Maintenance mode suppresses alerts.
    pub maintenance_mode: Option<bool>,
    /// Minutes without a heartbeat before the agent is offline.
    pub offline_time: Option<i32>,
    /// Minutes without a heartbeat before the agent is overdue.
    pub overdue_time: Option<i32>,
    /// Seconds between check runs.
    pub check_interval: Option<i32>,
    /// Email when overdue.
    pub overdue_email_alert: Option<bool>,
    /// Text when overdue.
    pub overdue_text_alert: Option<bool>,
    /// Dashboard alert when overdue.
    pub overdue_dashboard_alert: Option<bool>,
    /// Ignore policy inheritance.
    pub block_policy_inheritance: Option<bool>,
    /// IANA time zone override.
    pub time_zone: Option<String>,
}

/// Applies an edit.
pub async fn update(db: &impl GenericClient, pk: AgentPk, c: &AgentChanges, by: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE agents SET
            description = COALESCE($2, description),
            monitoring_type = COALESCE($3, monitoring_type),
            site_id = COALESCE($4, site_id),
            maintenance_mode = COALESCE($5, maintenance_mode),
            offline_time = COALESCE($6, offline_time),
            overdue_time = COALESCE($7, overdue_time),
            check_interval = COALESCE($8, check_interval),
            overdue_email_alert = COALESCE($9, overdue_email_alert),
            overdue_text_alert = COALESCE($10, overdue_text_alert),
            overdue_dashboard_alert = COALESCE($11, overdue_dashboard_alert),
            block_policy_inheritance = COALESCE($12, block_policy_inheritance),
            time_zone = COALESCE($13, time_zone),
            modified_by = $14, modified_time = now()
         WHERE id = $1",
        &[
            &pk.0,
            &c.description,
            &c.monitoring_type,
            &c.site.map(|s| s.0),
            &c.maintenance_mode,
            &c.offline_time,
            &c.overdue_time,
            &c.check_interval,
            &c.overdue_email_alert,
            &c.overdue_text_alert,
            &c.overdue_dashboard_alert,
            &c.block_policy_inheritance,
            &c.time_zone,
            &by,
        ],
    )
    .await?;
    Ok(())
}

/// Deletes an agent; its token, history and pending actions go with it (cascade).
pub async fn delete(db: &impl GenericClient, pk: AgentPk) -> Result<bool, DbError> {
    crate::delete_by_id(db, "agents", &pk.0).await
}

/// Records the MeshCentral node id reported by `/api/v3/syncmesh/`, if it changed.
pub async fn set_mesh_node_id(db: &impl GenericClient, pk: AgentPk, node_id: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE agents SET mesh_node_id = $2 WHERE id = $1 AND mesh_node_id IS DISTINCT FROM $2",
        &[&pk.0, &node_id],
    )
    .await?;
    Ok(())
}

/// Inserts many agents with their token digests in two statements (load generation and benchmarks);
/// each entry is `(agent_id, hostname, token digest)`. Returns how many agents were inserted.
pub async fn bulk_create_with_tokens(
    db: &impl GenericClient,
    site: SiteId,
    agents: &[(String, String, Vec<u8>)],
    by: &str,
) -> Result<u64, DbError> {
    let ids: Vec<&str> = agents.iter().map(|a| a.0.as_str()).collect();
    let hosts: Vec<&str> = agents.iter().map(|a| a.1.as_str()).collect();
    let digests: Vec<&[u8]> = agents.iter().map(|a| a.2.as_slice()).collect();
    let n = db
        .execute(
            "INSERT INTO agents (agent_id, hostname, site_id, plat, goarch, created_by)
             SELECT i, h, $3, 'linux', 'amd64', $4 FROM unnest($1::text[], $2::text[]) AS t(i, h)",
            &[&ids, &hosts, &site.0, &by],
        )
        .await?;
    db.execute(
        "INSERT INTO agent_tokens (agent_pk, digest)
         SELECT a.id, t.d FROM unnest($1::text[], $2::bytea[]) AS t(i, d) JOIN agents a ON a.agent_id = t.i",
        &[&ids, &digests],
    )
    .await?;
    Ok(n)
}
