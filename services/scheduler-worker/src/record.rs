//! Writing what became of a command sent to an agent onto its AgentHistory row. The agent also reports the
//! same result through `histresult`; whichever arrives first is kept (history rows are never clobbered).

use std::time::Duration;

use trmm_db::{AgentPk, DbError, Pool};
use trmm_ops::events::Events;
use trmm_protocol::calls::{AgentCall, RunScriptResponse};
use trmm_rpc::client::{GatewayClient, GatewayError};

/// The text stored for an outcome without a reply (`offline`, `timeout` or an error).
pub fn marker(error: &GatewayError) -> String {
    match error {
        GatewayError::Offline => trmm_db::bulk::OFFLINE.to_owned(),
        GatewayError::Timeout => trmm_db::bulk::TIMEOUT.to_owned(),
        other => format!("{}{other}", trmm_db::bulk::ERROR_PREFIX),
    }
}

/// Stores a text result (command output, or a marker such as `offline`).
pub async fn text(pool: &Pool, events: &Events, hist: i64, agent: AgentPk, text: &str) -> Result<(), DbError> {
    trmm_ops::record::text(&pool.get().await?, events, hist, agent, text).await?;
    Ok(())
}

/// What an agent answered to a command or script, typed by the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `rawcmd` and `runscript`: the output as one text.
    Text(String),
    /// `runscriptfull`: stdout, stderr and exit code apart.
    Script(RunScriptResponse),
}

/// Sends a queued command or script call and waits for its typed reply (an absent agent is
/// [`GatewayError::Offline`] at once); other calls are not queued work.
pub async fn call(
    gateway: &GatewayClient,
    agent_id: &str,
    call: AgentCall,
    timeout: Duration,
) -> Result<Reply, GatewayError> {
    match call {
        AgentCall::RawCmd(c) => gateway.call_queueable(agent_id, c, timeout).await.map(Reply::Text),
        AgentCall::RunScript(c) => gateway.call_queueable(agent_id, c, timeout).await.map(Reply::Text),
        AgentCall::RunScriptFull(c) => gateway.call_queueable(agent_id, c, timeout).await.map(Reply::Script),
        other => Err(GatewayError::Invalid(format!(
            "{} is not a queued command",
            other.func()
        ))),
    }
}

/// Stores the agent's reply: script results as such (filling the run's custom field or note, exactly once
/// whichever copy of the result, this reply or the agent's `histresult`, comes first), anything else as text.
pub async fn reply(pool: &Pool, events: &Events, hist: i64, agent: AgentPk, reply: &Reply) -> Result<(), DbError> {
    let results = match reply {
        Reply::Text(s) => return text(pool, events, hist, agent, s).await,
        Reply::Script(results) => results,
    };
    let mut db = pool.get().await?;
    if let Some(agent) = trmm_db::agents::find_by_pk(&db, agent).await? {
        trmm_ops::record::script_reply(&mut db, events, &agent, hist, results).await?;
    }
    Ok(())
}
