//! Bulk runs (`POST /agents/actions/bulk/`): which agents an action targets, the run with one AgentHistory
//! row per agent, and the per-agent outcomes trmm-worker records.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use tokio_postgres::types::ToSql;

use crate::agents::AgentRef;
use crate::history::Finished;
use crate::roles::Scope;
use crate::{AgentPk, ClientId, CustomFieldId, DbError, ScriptId, SiteId};

/// `results` of an agent that was not connected when its turn came.
pub const OFFLINE: &str = "offline";
/// `results` of an agent that was connected but did not answer in time.
pub const TIMEOUT: &str = "timeout";
/// Prefix of `results` when the command could not be delivered for another reason.
pub const ERROR_PREFIX: &str = "error: ";

/// Which agents a bulk action is for (TRMM agents/views.py::bulk `target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every agent the user may see.
    All,
    /// The agents of one client.
    Client(ClientId),
    /// The agents of one site.
    Site(SiteId),
    /// These agent ids.
    Agents(Vec<String>),
}

/// A target narrowed by monitoring type and platform.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Which agents.
    pub target: Target,
    /// `server` or `workstation`; `None` for both.
    pub monitoring_type: Option<String>,
    /// `windows`, `linux` or `darwin`; `None` for all.
    pub plat: Option<String>,
}

/// The agents `selection` names inside `scope`, in primary-key order.
pub async fn resolve(db: &impl GenericClient, scope: &Scope, selection: &Selection) -> Result<Vec<AgentRef>, DbError> {
    let (client, site, ids) = match &selection.target {
        Target::All => (None, None, None),
        Target::Client(c) => (Some(c.0), None, None),
        Target::Site(s) => (None, Some(s.0), None),
        Target::Agents(ids) => (None, None, Some(ids.clone())),
    };
    let rows = db
        .query(
            "SELECT a.id, a.agent_id, a.hostname, a.site_id, s.client_id, a.check_interval
             FROM agents a JOIN sites s ON s.id = a.site_id
             WHERE ($1::bool OR s.client_id = ANY($2::int[]) OR s.id = ANY($3::int[]))
               AND ($4::int IS NULL OR s.client_id = $4) AND ($5::int IS NULL OR s.id = $5)
               AND ($6::text[] IS NULL OR a.agent_id = ANY($6))
               AND ($7::text IS NULL OR a.monitoring_type = $7) AND ($8::text IS NULL OR a.plat = $8)
             ORDER BY a.id",
            &[
                &scope.unrestricted,
                &scope.clients,
                &scope.sites,
                &client,
                &site,
                &ids,
                &selection.monitoring_type,
                &selection.plat,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AgentRef {
            pk: AgentPk(r.get(0)),
            agent_id: r.get(1),
            hostname: r.get(2),
            site: SiteId(r.get(3)),
            client: ClientId(r.get(4)),
            check_interval: r.get(5),
        })
        .collect())
}

/// A bulk run about to be queued.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// Dashboard user who started it (cut to 50 characters in history, as upstream).
    pub username: &'a str,
    /// `command` or `script`.
    pub mode: &'a str,
    /// The shell command (history `command` of a cmd_run); `None` for scripts.
    pub command: Option<&'a str>,
    /// The library script of a script run.
    pub script: Option<ScriptId>,
    /// Custom field that receives a script's output.
    pub custom_field: Option<CustomFieldId>,
    /// The collector keeps all of stdout.
    pub collector_all_output: bool,
    /// The output becomes an agent note.
    pub save_to_agent_note: bool,
    /// The AgentGateway Command sent to every agent, as JSON.
    pub envelope: Value,
    /// Seconds to wait for each agent's reply.
    pub reply_timeout: i32,
}

/// Inserts the run and one history row per agent; returns the run id and `(agent, history id)` pairs.
/// Run it in a transaction so a failure leaves neither.
pub async fn create(
    db: &impl GenericClient,
    run: &NewRun<'_>,
    agents: &[AgentPk],
) -> Result<(i64, Vec<(AgentPk, i64)>), DbError> {
    let count = i32::try_from(agents.len()).unwrap_or(i32::MAX);
    let id: i64 = db
        .query_one(
            "INSERT INTO bulk_runs (username, mode, command, reply_timeout, agent_count)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&run.username, &run.mode, &run.envelope, &run.reply_timeout, &count],
        )
        .await?
        .get(0);
    let kind = if run.mode == "script" { "script_run" } else { "cmd_run" };
    let username: String = run.username.chars().take(50).collect();
    let pks: Vec<i32> = agents.iter().map(|a| a.0).collect();
    let rows = db
        .query(
            "INSERT INTO agent_history (agent_pk, type, command, username, script_id, custom_field_id,
                                        collector_all_output, save_to_agent_note, bulk_run_id)
             SELECT t.pk, $2, $3, $4, $5, $6, $7, $8, $9 FROM unnest($1::int[]) AS t(pk)
             RETURNING agent_pk, id",
            &[
                &pks,
                &kind,
                &run.command,
                &username,
                &run.script.map(|s| s.0),
                &run.custom_field.map(|f| f.0),
                &run.collector_all_output,
                &run.save_to_agent_note,
                &id,
            ],
        )
        .await?;
    Ok((id, rows.iter().map(|r| (AgentPk(r.get(0)), r.get(1))).collect()))
}

/// Stores per-agent overrides (`{"<history id>": {"script_args": [..], "env_vars": [..]}}`).
pub async fn set_per_agent(db: &impl GenericClient, id: i64, per_agent: &Value) -> Result<(), DbError> {
    db.execute("UPDATE bulk_runs SET per_agent = $2 WHERE id = $1", &[&id, per_agent])
        .await?;
    Ok(())
}

/// A run as the worker executes it.
#[derive(Debug, Clone)]
pub struct Run {
    /// Primary key.
    pub id: i64,
    /// `command` or `script`.
    pub mode: String,
    /// The AgentGateway Command as JSON.
    pub envelope: Value,
    /// Per-agent overrides by history id.
    pub per_agent: Option<Value>,
    /// Seconds to wait for each reply.
    pub reply_timeout: i32,
    /// Number of agents targeted.
    pub agent_count: i32,
    /// Set once every agent is accounted for.
    pub summary: Option<Summary>,
    /// A script's output feeds a custom field or an agent note (applied by trmm-api when it stores a result).
    pub handled_output: bool,
}

/// The run with this id.
pub async fn get(db: &impl GenericClient, id: i64) -> Result<Option<Run>, DbError> {
    let row = db
        .query_opt(
            "SELECT r.id, r.mode, r.command, r.per_agent, r.reply_timeout, r.agent_count, r.summary,
                    EXISTS (SELECT 1 FROM agent_history h WHERE h.bulk_run_id = r.id
                            AND (h.custom_field_id IS NOT NULL OR h.save_to_agent_note))
             FROM bulk_runs r WHERE r.id = $1",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| Run {
        id: r.get(0),
        mode: r.get(1),
        envelope: r.get(2),
        per_agent: r.get(3),
        reply_timeout: r.get(4),
        agent_count: r.get(5),
        summary: r
            .get::<_, Option<Value>>(6)
            .and_then(|v| serde_json::from_value(v).ok()),
        handled_output: r.get(7),
    }))
}

/// Takes the unfinished run until `until` and records that a worker began (or resumed) it; false when it is
/// finished or another attempt holds it.
pub async fn lease(
    db: &impl GenericClient,
    id: i64,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbError> {
    let taken = db
        .execute(
            "UPDATE bulk_runs SET started_at = COALESCE(started_at, $2), lease_until = $3
             WHERE id = $1 AND summary IS NULL AND (lease_until IS NULL OR lease_until < $2)",
            &[&id, &now, &until],
        )
        .await?;
    Ok(taken == 1)
}

/// Holds a leased run until `until`.
pub async fn extend(db: &impl GenericClient, id: i64, until: DateTime<Utc>) -> Result<(), DbError> {
    db.execute(
        "UPDATE bulk_runs SET lease_until = $2 WHERE id = $1 AND summary IS NULL",
        &[&id, &until],
    )
    .await?;
    Ok(())
}

/// Gives a leased run back (finished, or for its retry).
pub async fn release(db: &impl GenericClient, id: i64) -> Result<(), DbError> {
    db.execute("UPDATE bulk_runs SET lease_until = NULL WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// One agent of a run still without an outcome.
#[derive(Debug, Clone)]
pub struct Unanswered {
    /// Its history row (sent as `id`).
    pub history_id: i64,
    /// The agent.
    pub agent: AgentPk,
    /// Its NATS subject.
    pub agent_id: String,
}

/// Agents of the run that were not sent the command yet (all of them on the first attempt; only the rest when
/// the job is retried).
pub async fn undispatched(db: &impl GenericClient, id: i64) -> Result<Vec<Unanswered>, DbError> {
    let rows = db
        .query(
            "SELECT h.id, a.id, a.agent_id FROM agent_history h JOIN agents a ON a.id = h.agent_pk
             WHERE h.bulk_run_id = $1 AND h.results IS NULL AND h.script_results IS NULL AND h.dispatched_at IS NULL
             ORDER BY h.id",
            &[&id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Unanswered {
            history_id: r.get(0),
            agent: AgentPk(r.get(1)),
            agent_id: r.get(2),
        })
        .collect())
}

/// Claims these agents' turn; returns the history ids this caller is now the one to send the command for.
pub async fn mark_dispatched(db: &impl GenericClient, history_ids: &[i64]) -> Result<Vec<i64>, DbError> {
    let rows = db
        .query(
            "UPDATE agent_history SET dispatched_at = now()
             WHERE id = ANY($1) AND dispatched_at IS NULL AND results IS NULL AND script_results IS NULL
             RETURNING id",
            &[&history_ids],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Stores many outcomes in two statements: `texts` as `results`, `scripts` (`runscriptfull` maps) as
/// `script_results`; rows that already have a result are left alone. Returns the entries this stored.
pub async fn record_many(
    db: &impl GenericClient,
    texts: &[(i64, String)],
    scripts: &[(i64, Value)],
) -> Result<Vec<Finished>, DbError> {
    let mut finished = Vec::new();
    if !texts.is_empty() {
        let (ids, values): (Vec<i64>, Vec<&str>) = texts.iter().map(|(i, t)| (*i, t.as_str())).unzip();
        finished.extend(store_many(db, "results", "text", &ids, &values).await?);
    }
    if !scripts.is_empty() {
        let (ids, values): (Vec<i64>, Vec<&Value>) = scripts.iter().map(|(i, v)| (*i, v)).unzip();
        finished.extend(store_many(db, "script_results", "jsonb", &ids, &values).await?);
    }
    Ok(finished)
}

async fn store_many(
    db: &impl GenericClient,
    column: &str,
    sql_type: &str,
    ids: &[i64],
    values: &(dyn ToSql + Sync),
) -> Result<Vec<Finished>, DbError> {
    let sql = format!(
        "UPDATE agent_history h SET {column} = t.r FROM unnest($1::bigint[], $2::{sql_type}[]) AS t(id, r),
             agents a JOIN sites s ON s.id = a.site_id
         WHERE h.id = t.id AND a.id = h.agent_pk AND h.results IS NULL AND h.script_results IS NULL
         RETURNING {}",
        crate::history::FINISHED_COLUMNS
    );
    Ok(db
        .query(&sql, &[&ids, values])
        .await?
        .iter()
        .map(crate::history::finished)
        .collect())
}

/// Undoes [`mark_dispatched`] when the command provably never left (the gateway was unreachable).
pub async fn undo_dispatch(db: &impl GenericClient, history_ids: &[i64]) -> Result<(), DbError> {
    db.execute(
        "UPDATE agent_history SET dispatched_at = NULL WHERE id = ANY($1) AND results IS NULL AND script_results IS NULL",
        &[&history_ids],
    )
    .await?;
    Ok(())
}

/// Seconds until every agent that was sent the command but has no result (a worker stopped while waiting) is past
/// its reply deadline; `None` when there is none.
pub async fn awaiting_secs(db: &impl GenericClient, id: i64) -> Result<Option<f64>, DbError> {
    let row = db
        .query_opt(
            "SELECT EXTRACT(EPOCH FROM max(h.dispatched_at) + make_interval(secs => r.reply_timeout) - now())::float8
             FROM agent_history h JOIN bulk_runs r ON r.id = h.bulk_run_id
             WHERE h.bulk_run_id = $1 AND h.results IS NULL AND h.script_results IS NULL
               AND h.dispatched_at IS NOT NULL
             GROUP BY r.reply_timeout",
            &[&id],
        )
        .await?;
    Ok(row.and_then(|r| r.get(0)))
}

/// Marks agents that were sent the command but never answered (and are past the deadline) as timed out.
pub async fn time_out_silent(db: &impl GenericClient, id: i64) -> Result<u64, DbError> {
    Ok(db
        .execute(
            "UPDATE agent_history h SET results = $2 FROM bulk_runs r
             WHERE r.id = h.bulk_run_id AND h.bulk_run_id = $1 AND h.results IS NULL AND h.script_results IS NULL
               AND h.dispatched_at + make_interval(secs => r.reply_timeout) <= now()",
            &[&id, &TIMEOUT],
        )
        .await?)
}

/// How a run ended, per agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Agents targeted (history rows still present).
    pub total: i64,
    /// Agents that answered.
    pub replied: i64,
    /// Connected but silent until the deadline.
    pub timeout: i64,
    /// Not connected.
    pub offline: i64,
    /// Not delivered for another reason.
    pub error: i64,
    /// Still without any outcome (zero once the worker is done).
    pub unanswered: i64,
}

/// Counts the outcomes from the history rows, stores them and marks the run finished.
pub async fn finish(db: &impl GenericClient, id: i64) -> Result<Summary, DbError> {
    let row = db
        .query_one(
            "SELECT count(*),
                    count(*) FILTER (WHERE results = $2),
                    count(*) FILTER (WHERE results = $3),
                    count(*) FILTER (WHERE starts_with(results, $4)),
                    count(*) FILTER (WHERE results IS NULL AND script_results IS NULL)
             FROM agent_history WHERE bulk_run_id = $1",
            &[&id, &OFFLINE, &TIMEOUT, &ERROR_PREFIX],
        )
        .await?;
    let (total, offline, timeout, error, unanswered): (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let summary = Summary {
        total,
        replied: total - offline - timeout - error - unanswered,
        timeout,
        offline,
        error,
        unanswered,
    };
    let json = serde_json::to_value(&summary).unwrap_or_default();
    db.execute(
        "UPDATE bulk_runs SET finished_at = now(), summary = $2 WHERE id = $1",
        &[&id, &json],
    )
    .await?;
    Ok(summary)
}

/// Gives up on every agent of the run still without an outcome (`error: <reason>`), then finishes the run.
pub async fn abandon(db: &impl GenericClient, id: i64, reason: &str) -> Result<Summary, DbError> {
    db.execute(
        "UPDATE agent_history SET results = $2
         WHERE bulk_run_id = $1 AND results IS NULL AND script_results IS NULL",
        &[&id, &format!("{ERROR_PREFIX}{reason}")],
    )
    .await?;
    finish(db, id).await
}

/// Runs not yet finished (to queue again after Redis lost its queue entries).
pub async fn unfinished(db: &impl GenericClient) -> Result<Vec<i64>, DbError> {
    let rows = db
        .query("SELECT id FROM bulk_runs WHERE summary IS NULL ORDER BY id", &[])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
