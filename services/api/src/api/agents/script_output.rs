//! Recording a script run's result from either copy (the reply here, `histresult` in agent_api/results.rs);
//! trmm_db::script_output decides what the first copy also feeds.

use serde_json::Value;
use trmm_db::agents::AgentRef;

use crate::error::ApiResult;

/// Stores the result and fills the run's custom field or note in one transaction, unless the other copy of
/// the result got there first; returns whether this call stored it.
pub(crate) async fn record(db: &mut trmm_db::Client, agent: &AgentRef, id: i64, results: &Value) -> ApiResult<bool> {
    let tx = db.transaction().await?;
    let stored = trmm_db::script_output::record(&*tx, agent, id, results).await?;
    tx.commit().await?;
    Ok(stored)
}
