//! Agent history (Tactical RMM `agents.AgentHistory`): every command and script run on an agent.

use tokio_postgres::GenericClient;

use crate::{AgentPk, DbError};

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

/// Stores a command's output unless a result is already there: the reply and the agent's `histresult`
/// report the same run, and whichever arrives second must not clobber the first.
pub async fn record_results(db: &impl GenericClient, id: i64, agent: AgentPk, results: &str) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE agent_history SET results = $3 WHERE id = $1 AND agent_pk = $2 AND results IS NULL",
            &[&id, &agent.0, &results],
        )
        .await?;
    Ok(n == 1)
}

/// Stores a script's `{stdout, stderr, retcode, execution_time, id}` unless already stored.
pub async fn record_script_results(
    db: &impl GenericClient,
    id: i64,
    agent: AgentPk,
    results: &serde_json::Value,
) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE agent_history SET script_results = $3 WHERE id = $1 AND agent_pk = $2 AND script_results IS NULL",
            &[&id, &agent.0, &results],
        )
        .await?;
    Ok(n == 1)
}

/// The stored output of a command run, if any.
pub async fn results(db: &impl GenericClient, id: i64) -> Result<Option<String>, DbError> {
    Ok(db
        .query_opt("SELECT results FROM agent_history WHERE id = $1", &[&id])
        .await?
        .and_then(|r| r.get(0)))
}
