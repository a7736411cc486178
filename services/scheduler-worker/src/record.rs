//! Writing what became of a command sent to an agent onto its AgentHistory row. The agent also reports the
//! same result through `histresult`; whichever arrives first is kept (history rows are never clobbered).

use std::time::{Duration, Instant};

use serde_json::Value;
use trmm_db::{history, AgentPk, DbError, Pool};
use trmm_rpc::client::GatewayError;

/// How long a script reply whose output feeds a custom field or a note waits for the agent's own `histresult`,
/// which applies that handling (trmm-api does it, exactly once, for whichever copy of the result comes first).
const HANDLED_OUTPUT_GRACE: Duration = Duration::from_secs(10);

/// The text stored for an outcome without a reply (`offline`, `timeout` or an error).
pub fn marker(error: &GatewayError) -> String {
    match error {
        GatewayError::Offline => trmm_db::bulk::OFFLINE.to_owned(),
        GatewayError::Timeout => trmm_db::bulk::TIMEOUT.to_owned(),
        other => format!("{}{other}", trmm_db::bulk::ERROR_PREFIX),
    }
}

/// Stores a text result (command output, or a marker such as `offline`).
pub async fn text(pool: &Pool, hist: i64, agent: AgentPk, text: &str) -> Result<(), DbError> {
    let db = pool.get().await?;
    history::record_results(&**db, hist, agent, text).await?;
    Ok(())
}

/// Stores the agent's reply: a `runscriptfull` map as script results, anything else as text.
pub async fn reply(pool: &Pool, hist: i64, agent: AgentPk, reply: &Value) -> Result<(), DbError> {
    let results = match reply {
        Value::String(s) => return text(pool, hist, agent, s).await,
        Value::Object(_) => reply,
        other => return text(pool, hist, agent, &other.to_string()).await,
    };
    let handled = {
        let db = pool.get().await?;
        history::output_handling(&**db, hist, agent)
            .await?
            .is_some_and(|h| h.custom_field.is_some() || h.save_to_agent_note)
    };
    if handled && arrives_by_histresult(pool, hist).await? {
        return Ok(());
    }
    if handled {
        tracing::warn!(
            history_id = hist,
            "the agent did not report its script result; stored without filling the custom field or note"
        );
    }
    let db = pool.get().await?;
    history::record_script_results(&**db, hist, agent, results).await?;
    Ok(())
}

/// Waits (bounded) until the history row has a result from elsewhere.
async fn arrives_by_histresult(pool: &Pool, hist: i64) -> Result<bool, DbError> {
    let start = Instant::now();
    loop {
        if trmm_db::bulk::has_result(&**pool.get().await?, hist).await? {
            return Ok(true);
        }
        if start.elapsed() >= HANDLED_OUTPUT_GRACE {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
