//! Results the agent reports back over HTTP.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use trmm_db::history;

use crate::api::agents::script_output;
use crate::auth::AgentAuth;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

/// `PATCH /api/v3/<histpk>/<agentid>/histresult/` body: `results` for commands, `script_results` for scripts.
#[derive(Deserialize)]
pub(super) struct HistoryResult {
    results: Option<String>,
    script_results: Option<Value>,
}

/// Stores a command or script result on the agent's own history row (404 for anyone else's).
pub(super) async fn history_result(
    agent: AgentAuth,
    path: web::Path<(String, String)>,
    Json(body): Json<HistoryResult>,
) -> ApiResult<HttpResponse> {
    let id: i64 = path.0.parse().map_err(|_| ApiError::NotFound)?;
    let mut db = agent.state.conn().await?;
    if !history::belongs_to(&**db, id, agent.agent.pk).await? {
        return Err(ApiError::NotFound);
    }
    match (body.results, body.script_results) {
        (Some(results), _) => {
            history::record_results(&**db, id, agent.agent.pk, &results).await?;
        }
        (None, Some(script)) if script.is_object() => {
            // Also fills the collector's custom field or the note, unless the reply got there first.
            script_output::record(&mut db, &agent.agent, id, &script).await?;
        }
        (None, Some(_)) => return Err(ApiError::field("script_results", "Expected a dictionary of items.")),
        (None, None) => return Err(ApiError::BadRequest("Invalid data".into())),
    }
    Ok(HttpResponse::Ok().json("ok"))
}
