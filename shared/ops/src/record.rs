//! Recording what an agent answered on its history row. A result arrives twice, as the agent's reply (to
//! trmm-api or trmm-worker) and as its `histresult` report; the first copy is stored and the other ignored, and a
//! script result also fills its run's collector custom field or note, exactly once, in the same transaction. The
//! copy that is stored tells the dashboards (`history.finished`) once it is committed.
//!
//! Each function takes a pooled connection, not a transaction: what it stores is committed when it returns.

use serde_json::{json, Value};
use trmm_db::agents::AgentRef;
use trmm_db::{history, AgentPk, Client, DbError};
use trmm_protocol::calls::RunScriptResponse;

use crate::events::Events;

/// Stores a command's output (or a marker such as `offline`) unless the row has a result already; returns whether
/// this copy was the first.
pub async fn text(db: &Client, events: &Events, history_id: i64, agent: AgentPk, text: &str) -> Result<bool, DbError> {
    let finished = history::record_results(db, history_id, agent, text).await?;
    if let Some(finished) = &finished {
        events.history_finished(finished);
    }
    Ok(finished.is_some())
}

/// Stores a script run's result as the agent reported it (`{stdout, stderr, retcode, execution_time, id}`) and
/// what it feeds; returns whether this copy was the first.
pub async fn script(
    db: &mut Client,
    events: &Events,
    agent: &AgentRef,
    history_id: i64,
    results: &Value,
) -> Result<bool, DbError> {
    let tx = db.transaction().await?;
    let finished = trmm_db::script_output::record(&tx, agent, history_id, results).await?;
    tx.commit().await?;
    if let Some(finished) = &finished {
        events.history_finished(finished);
    }
    Ok(finished.is_some())
}

/// [`script`] for a typed `runscriptfull` reply.
pub async fn script_reply(
    db: &mut Client,
    events: &Events,
    agent: &AgentRef,
    history_id: i64,
    results: &RunScriptResponse,
) -> Result<bool, DbError> {
    // Strings and numbers only: serialising cannot fail.
    let results = json!(results);
    script(db, events, agent, history_id, &results).await
}
