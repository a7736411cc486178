//! Agent history (Tactical RMM `agents.AgentHistory`): every command and script run on an agent.

use crate::GenericClient;
use tokio_postgres::types::ToSql;

use crate::agents::AgentRef;
use crate::roles::Scope;
use crate::{AgentPk, CustomFieldId, DbError, ScriptId};

/// Kind of history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryType {
    /// A shell command.
    CmdRun,
    /// A script.
    ScriptRun,
    /// A scheduled task.
    TaskRun,
}

impl HistoryType {
    fn as_str(self) -> &'static str {
        match self {
            HistoryType::CmdRun => "cmd_run",
            HistoryType::ScriptRun => "script_run",
            HistoryType::TaskRun => "task_run",
        }
    }
}

/// Starts a history entry and returns its id (sent to the agent as `id`).
pub async fn create(
    db: &impl GenericClient,
    agent: AgentPk,
    kind: HistoryType,
    command: &str,
    username: &str,
) -> Result<i64, DbError> {
    // TRMM views cut the username to 50 characters.
    let username: String = username.chars().take(50).collect();
    let row = db
        .query_one(
            "INSERT INTO agent_history (agent_pk, type, command, username) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&agent.0, &kind.as_str(), &command, &username],
        )
        .await?;
    Ok(row.get(0))
}

/// Whether the entry exists and belongs to `agent`.
pub async fn belongs_to(db: &impl GenericClient, id: i64, agent: AgentPk) -> Result<bool, DbError> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM agent_history WHERE id = $1 AND agent_pk = $2",
            &[&id, &agent.0],
        )
        .await?
        .is_some())
}

/// A history entry that has just got its result.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The entry.
    pub id: i64,
    /// `cmd_run`, `script_run` or `task_run`.
    pub kind: String,
    /// Its agent.
    pub agent: AgentRef,
}

/// Stores a command's output unless a result is already there: the reply and the agent's `histresult`
/// report the same run, and whichever arrives second must not clobber the first. `Some` when this call stored it.
pub async fn record_results(
    db: &impl GenericClient,
    id: i64,
    agent: AgentPk,
    results: &str,
) -> Result<Option<Finished>, DbError> {
    record_once(db, "results", id, agent, &results).await
}

/// Stores a script's `{stdout, stderr, retcode, execution_time, id}` unless already stored.
pub async fn record_script_results(
    db: &impl GenericClient,
    id: i64,
    agent: AgentPk,
    results: &serde_json::Value,
) -> Result<Option<Finished>, DbError> {
    record_once(db, "script_results", id, agent, results).await
}

/// Sets `column` of the agent's history row `id` to `value` unless it is set already.
async fn record_once(
    db: &impl GenericClient,
    column: &str,
    id: i64,
    agent: AgentPk,
    value: &(dyn ToSql + Sync),
) -> Result<Option<Finished>, DbError> {
    let sql = format!(
        "UPDATE agent_history h SET {column} = $3 FROM agents a JOIN sites s ON s.id = a.site_id
         WHERE h.id = $1 AND h.agent_pk = $2 AND a.id = h.agent_pk AND h.{column} IS NULL
         RETURNING {FINISHED_COLUMNS}"
    );
    Ok(db
        .query_opt(&sql, &[&id, &agent.0, value])
        .await?
        .as_ref()
        .map(finished))
}

/// What an `UPDATE agent_history h ... FROM agents a JOIN sites s` returns for [`finished`].
pub(crate) const FINISHED_COLUMNS: &str = concat!("h.id AS history_id, h.type, ", ref_columns!());

pub(crate) fn finished(row: &tokio_postgres::Row) -> Finished {
    Finished {
        id: row.get("history_id"),
        kind: row.get("type"),
        agent: crate::agents::ref_from_row(row),
    }
}

/// The stored output of a command run, if any.
pub async fn results(db: &impl GenericClient, id: i64) -> Result<Option<String>, DbError> {
    Ok(db
        .query_opt("SELECT results FROM agent_history WHERE id = $1", &[&id])
        .await?
        .and_then(|r| r.get(0)))
}

/// What a script run records up front (Tactical RMM creates the AgentHistory row before sending the script).
#[derive(Debug, Clone, Default)]
pub struct NewScriptRun<'a> {
    /// Library script run, if any.
    pub script: Option<ScriptId>,
    /// Dashboard user who started it.
    pub username: &'a str,
    /// Custom field that receives the output (collector runs).
    pub custom_field: Option<CustomFieldId>,
    /// The collector keeps all of stdout instead of its last line.
    pub collector_all_output: bool,
    /// The output becomes an agent note.
    pub save_to_agent_note: bool,
}

/// Starts a `script_run` entry and returns its id (sent to the agent as `id`).
pub async fn create_script_run(
    db: &impl GenericClient,
    agent: AgentPk,
    run: &NewScriptRun<'_>,
) -> Result<i64, DbError> {
    let username: String = run.username.chars().take(50).collect();
    let row = db
        .query_one(
            "INSERT INTO agent_history (agent_pk, type, username, script_id, custom_field_id, collector_all_output,
                                        save_to_agent_note)
             VALUES ($1, 'script_run', $2, $3, $4, $5, $6) RETURNING id",
            &[
                &agent.0,
                &username,
                &run.script.map(|s| s.0),
                &run.custom_field.map(|f| f.0),
                &run.collector_all_output,
                &run.save_to_agent_note,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// What happens to a script run's output once it arrives.
#[derive(Debug, Clone)]
pub struct OutputHandling {
    /// Who started the run.
    pub username: String,
    /// Custom field that receives the output.
    pub custom_field: Option<CustomFieldId>,
    /// Keep all of stdout rather than its last line.
    pub collector_all_output: bool,
    /// Save the output as an agent note.
    pub save_to_agent_note: bool,
}

/// How the output of history entry `id` of `agent` is to be handled; `None` if there is no such entry.
pub async fn output_handling(
    db: &impl GenericClient,
    id: i64,
    agent: AgentPk,
) -> Result<Option<OutputHandling>, DbError> {
    let row = db
        .query_opt(
            "SELECT username, custom_field_id, collector_all_output, save_to_agent_note
             FROM agent_history WHERE id = $1 AND agent_pk = $2",
            &[&id, &agent.0],
        )
        .await?;
    Ok(row.map(|r| OutputHandling {
        username: r.get(0),
        custom_field: r.get::<_, Option<i32>>(1).map(CustomFieldId),
        collector_all_output: r.get(2),
        save_to_agent_note: r.get(3),
    }))
}

/// One history entry as the history views show it.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// Primary key.
    pub id: i64,
    /// When the entry was created.
    pub time: chrono::DateTime<chrono::Utc>,
    /// `cmd_run`, `script_run` or `task_run`.
    pub kind: String,
    /// The command, for `cmd_run`.
    pub command: Option<String>,
    /// Who started it.
    pub username: String,
    /// A command's output.
    pub results: Option<String>,
    /// A script's `{stdout, stderr, retcode, execution_time, id}`.
    pub script_results: Option<serde_json::Value>,
    /// Collector keeps all output.
    pub collector_all_output: bool,
    /// Output saved as a note.
    pub save_to_agent_note: bool,
    /// Agent it ran on.
    pub agent: AgentPk,
    /// That agent's string id.
    pub agent_id: String,
    /// Script run, if it still exists.
    pub script: Option<ScriptId>,
    /// Name of that script.
    pub script_name: Option<String>,
    /// Custom field the output went to.
    pub custom_field: Option<CustomFieldId>,
}

const ROW_SELECT: &str = "SELECT h.id, h.time, h.type, h.command, h.username, h.results, h.script_results,
        h.collector_all_output, h.save_to_agent_note, h.agent_pk, a.agent_id, h.script_id, sc.name AS script_name,
        h.custom_field_id
    FROM agent_history h JOIN agents a ON a.id = h.agent_pk LEFT JOIN scripts sc ON sc.id = h.script_id";

fn history_row(r: &tokio_postgres::Row) -> HistoryRow {
    HistoryRow {
        id: r.get("id"),
        time: r.get("time"),
        kind: r.get("type"),
        command: r.get("command"),
        username: r.get("username"),
        results: r.get("results"),
        script_results: r.get("script_results"),
        collector_all_output: r.get("collector_all_output"),
        save_to_agent_note: r.get("save_to_agent_note"),
        agent: AgentPk(r.get("agent_pk")),
        agent_id: r.get("agent_id"),
        script: r.get::<_, Option<i32>>("script_id").map(ScriptId),
        script_name: r.get("script_name"),
        custom_field: r.get::<_, Option<i32>>("custom_field_id").map(CustomFieldId),
    }
}

/// One history entry, if it exists.
pub async fn get(db: &impl GenericClient, id: i64) -> Result<Option<HistoryRow>, DbError> {
    let sql = format!("{ROW_SELECT} WHERE h.id = $1");
    Ok(db.query_opt(&sql, &[&id]).await?.as_ref().map(history_row))
}

/// The history of one agent, oldest first.
pub async fn for_agent(db: &impl GenericClient, agent: AgentPk) -> Result<Vec<HistoryRow>, DbError> {
    let sql = format!("{ROW_SELECT} WHERE h.agent_pk = $1 ORDER BY h.id");
    Ok(db.query(&sql, &[&agent.0]).await?.iter().map(history_row).collect())
}

/// The history of every agent the scope allows, oldest first.
pub async fn in_scope(db: &impl GenericClient, scope: &Scope) -> Result<Vec<HistoryRow>, DbError> {
    let sql = format!(
        "{ROW_SELECT} JOIN sites s ON s.id = a.site_id WHERE {} ORDER BY h.id",
        Scope::FILTER
    );
    Ok(db.query(&sql, &scope.params()).await?.iter().map(history_row).collect())
}

/// Filters of the script-run history across agents.
#[derive(Debug, Clone, Default)]
pub struct ScriptHistoryFilter {
    /// Runs at or after this time.
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// Runs at or before this time.
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    /// Only runs of scripts with exactly this name.
    pub script_name: Option<String>,
    /// At most this many rows.
    pub limit: Option<i64>,
}

/// Script runs on the agents the scope allows, newest first.
pub async fn script_runs(
    db: &impl GenericClient,
    scope: &Scope,
    filter: &ScriptHistoryFilter,
) -> Result<Vec<HistoryRow>, DbError> {
    let sql = format!(
        "{ROW_SELECT} JOIN sites s ON s.id = a.site_id
         WHERE h.type = 'script_run' AND ($1::bool OR s.client_id = ANY($2::int[]) OR s.id = ANY($3::int[]))
           AND ($4::timestamptz IS NULL OR h.time >= $4) AND ($5::timestamptz IS NULL OR h.time <= $5)
           AND ($6::text IS NULL OR sc.name = $6)
         ORDER BY h.time DESC, h.id DESC LIMIT $7"
    );
    let rows = db
        .query(
            &sql,
            &[
                &scope.unrestricted,
                &scope.clients,
                &scope.sites,
                &filter.start,
                &filter.end,
                &filter.script_name,
                &filter.limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(history_row).collect())
}
