//! Pending actions (Tactical RMM `logs.PendingAction`). Beyond upstream, commands and scripts sent with
//! `queue_if_offline` to an offline agent wait here (`runcmd` / `runscript`) until trmm-worker sees the agent
//! again, or until they expire.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Row;

use crate::roles::Scope;
use crate::{AgentPk, ClientId, DbError, SiteId};

/// Action types trmm-worker runs when the agent comes back.
pub const QUEUED_TYPES: [&str; 2] = ["runcmd", "runscript"];

/// Queues an action for `agent`; returns its id.
pub async fn create<T: serde::Serialize + std::fmt::Debug + Sync>(
    db: &impl GenericClient,
    agent: AgentPk,
    action_type: &str,
    details: &T,
) -> Result<i64, DbError> {
    let row = db
        .query_one(
            "INSERT INTO pending_actions (agent_pk, action_type, details) VALUES ($1, $2, $3) RETURNING id",
            &[&agent.0, &action_type, &tokio_postgres::types::Json(details)],
        )
        .await?;
    Ok(row.get(0))
}

/// A pending action with the names the list views show.
#[derive(Debug, Clone)]
pub struct Action {
    /// Primary key.
    pub id: i64,
    /// The agent.
    pub agent: AgentPk,
    /// Its agent_id.
    pub agent_id: String,
    /// Its host name.
    pub hostname: String,
    /// Its site.
    pub site: SiteId,
    /// Its client.
    pub client: ClientId,
    /// Site name.
    pub site_name: String,
    /// Client name.
    pub client_name: String,
    /// When it was queued.
    pub entry_time: DateTime<Utc>,
    /// `schedreboot`, `agentupdate`, `runcmd`, ...
    pub action_type: String,
    /// `pending` or `completed`.
    pub status: String,
    /// Type-specific details.
    pub details: Value,
}

const SELECT: &str = "SELECT p.id, p.agent_pk, a.agent_id, a.hostname, s.id AS site_id, c.id AS client_id,
        s.name AS site_name, c.name AS client_name, p.entry_time, p.action_type, p.status, p.details
    FROM pending_actions p JOIN agents a ON a.id = p.agent_pk JOIN sites s ON s.id = a.site_id
    JOIN clients c ON c.id = s.client_id";

fn from_row(r: &Row) -> Action {
    from_row! { r, Action {
        id, agent = "agent_pk", agent_id, hostname, site = "site_id", client = "client_id", site_name, client_name,
        entry_time, action_type, status, details: r.get::<_, Option<Value>>("details").unwrap_or(Value::Null),
    } }
}

/// Every action on agents inside `scope`, oldest first.
pub async fn list(db: &impl GenericClient, scope: &Scope) -> Result<Vec<Action>, DbError> {
    let sql = format!("{SELECT} WHERE {} ORDER BY p.entry_time, p.id", Scope::FILTER);
    Ok(db.query(&sql, &scope.params()).await?.iter().map(from_row).collect())
}

/// Every action of one agent, oldest first.
pub async fn for_agent(db: &impl GenericClient, agent: AgentPk) -> Result<Vec<Action>, DbError> {
    let sql = format!("{SELECT} WHERE p.agent_pk = $1 ORDER BY p.entry_time, p.id");
    Ok(db.query(&sql, &[&agent.0]).await?.iter().map(from_row).collect())
}

/// One action.
pub async fn get(db: &impl GenericClient, id: i64) -> Result<Option<Action>, DbError> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    Ok(db.query_opt(&sql, &[&id]).await?.as_ref().map(from_row))
}

/// Deletes (cancels) an action; a queued command that was not claimed yet will never run.
pub async fn delete(db: &impl GenericClient, id: i64) -> Result<bool, DbError> {
    crate::delete_by_id(db, "pending_actions", &id).await
}

/// agent_ids with queued work that is neither expired (queued before `cutoff`) nor taken by a worker at `now`.
pub async fn agents_with_queued(
    db: &impl GenericClient,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbError> {
    let rows = db
        .query(
            "SELECT DISTINCT a.agent_id FROM pending_actions p JOIN agents a ON a.id = p.agent_pk
             WHERE p.status = 'pending' AND p.action_type = ANY($1) AND p.entry_time >= $2
               AND (p.claimed_until IS NULL OR p.claimed_until < $3)",
            &[&QUEUED_TYPES.as_slice(), &cutoff, &now],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A queued action a worker now owns.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Primary key.
    pub id: i64,
    /// The agent.
    pub agent: AgentPk,
    /// `runcmd` or `runscript`.
    pub action_type: String,
    /// What to send.
    pub details: Value,
}

/// Takes the agent's oldest runnable queued action: not expired, not taken. The claim lasts the action's
/// `details.timeout` plus a minute, after which another worker may take it again.
pub async fn claim_next(
    db: &impl GenericClient,
    agent_id: &str,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Claimed>, DbError> {
    let row = db
        .query_opt(
            "UPDATE pending_actions p
             SET claimed_until = $3::timestamptz
                 + make_interval(secs => 60 + CASE WHEN jsonb_typeof(p.details->'timeout') = 'number'
                                                   THEN (p.details->>'timeout')::float8 ELSE 60 END)
             WHERE p.id = (
                 SELECT q.id FROM pending_actions q JOIN agents a ON a.id = q.agent_pk
                 WHERE a.agent_id = $1 AND q.status = 'pending' AND q.action_type = ANY($4) AND q.entry_time >= $2
                   AND (q.claimed_until IS NULL OR q.claimed_until < $3)
                 ORDER BY q.entry_time, q.id LIMIT 1 FOR UPDATE OF q SKIP LOCKED)
             RETURNING p.id, p.agent_pk, p.action_type, p.details",
            &[&agent_id, &cutoff, &now, &QUEUED_TYPES.as_slice()],
        )
        .await?;
    Ok(row.map(|r| Claimed {
        id: r.get(0),
        agent: AgentPk(r.get(1)),
        action_type: r.get(2),
        details: r.get::<_, Option<Value>>(3).unwrap_or(Value::Null),
    }))
}

/// Gives a claimed action back (the agent turned out to be offline).
pub async fn release(db: &impl GenericClient, id: i64) -> Result<(), DbError> {
    db.execute("UPDATE pending_actions SET claimed_until = NULL WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// Marks an action completed, merging `extra` into its details.
pub async fn complete(db: &impl GenericClient, id: i64, extra: &Value) -> Result<(), DbError> {
    db.execute(
        "UPDATE pending_actions SET status = 'completed', claimed_until = NULL,
                details = COALESCE(details, '{}'::jsonb) || $2::jsonb
         WHERE id = $1",
        &[&id, extra],
    )
    .await?;
    Ok(())
}

/// Marks queued actions older than `cutoff` (and not running at `now`) completed with `details.expired = true`,
/// and writes `note` as the result of their history rows. Returns how many expired.
pub async fn expire(
    db: &impl GenericClient,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
    note: &str,
) -> Result<u64, DbError> {
    let row = db
        .query_one(
            "WITH expired AS (
                 UPDATE pending_actions SET status = 'completed', claimed_until = NULL,
                        details = COALESCE(details, '{}'::jsonb) || '{\"expired\": true}'::jsonb
                 WHERE status = 'pending' AND action_type = ANY($1) AND entry_time < $2
                   AND (claimed_until IS NULL OR claimed_until < $3)
                 RETURNING agent_pk, details),
             noted AS (
                 UPDATE agent_history h SET results = $4 FROM expired e
                 WHERE h.id = (e.details->>'history_id')::bigint AND h.agent_pk = e.agent_pk
                   AND h.results IS NULL AND h.script_results IS NULL
                 RETURNING h.id)
             SELECT (SELECT count(*) FROM expired), (SELECT count(*) FROM noted)",
            &[&QUEUED_TYPES.as_slice(), &cutoff, &now, &note],
        )
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Completes every pending `agentupdate` whose agent now runs the version it was sent and is online at `now`
/// (upstream `core.tasks.resolve_pending_actions`, which compares with its one `LATEST_AGENT_VER` instead);
/// returns how many.
pub async fn resolve_agent_updates(db: &impl GenericClient, now: DateTime<Utc>) -> Result<u64, DbError> {
    let sql = format!(
        "UPDATE pending_actions p SET status = 'completed'
         FROM agents a
         WHERE a.id = p.agent_pk AND p.action_type = 'agentupdate' AND p.status = 'pending'
           AND p.details->>'version' = a.version AND {} = 'online'",
        crate::agents::STATUS_SQL
    );
    Ok(db.execute(&sql, &[&now]).await?)
}
