//! Results the agent reports back over HTTP.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use trmm_db::debug_log::{Level, LogType};
use trmm_db::history;
use trmm_ops::record;

use crate::auth::AgentAuth;
use crate::debug_log;
use crate::error::{ApiError, ApiResult};
use crate::json::{parse, Body, MAX_BODY};

/// Largest result body read at all: the most an agent can produce in one NATS message (max_payload, 64 MiB).
const MAX_RESULT_BODY: usize = 64 * 1024 * 1024;

/// What replaces output that came in a body over [`MAX_BODY`] (TRMM apiv3 views, TRMM_MAX_REQUEST_SIZE).
pub(crate) const TRUNCATED: &str = "Content truncated due to excessive request size.";

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
    Body(raw): Body<MAX_RESULT_BODY>,
) -> ApiResult<HttpResponse> {
    let id: i64 = path.0.parse().map_err(|_| ApiError::NotFound)?;
    let mut body: HistoryResult = parse(&raw)?;
    if raw.len() > MAX_BODY {
        tracing::warn!(
            history = id,
            bytes = raw.len(),
            "result over the request size limit truncated"
        );
        truncate(&mut body);
        let message = format!(
            "Result of history {id} truncated: {} bytes over the {MAX_BODY} limit",
            raw.len()
        );
        debug_log::write(
            &agent.state,
            agent.agent.pk,
            Level::Warning,
            LogType::Scripting,
            &message,
        )
        .await;
    }
    let mut db = agent.state.conn().await?;
    if !history::belongs_to(&db, id, agent.agent.pk).await? {
        return Err(ApiError::NotFound);
    }
    match (body.results, body.script_results) {
        (Some(results), _) => {
            record::text(&db, &agent.state.events, id, agent.agent.pk, &results).await?;
        }
        (None, Some(script)) if script.is_object() => {
            // Also fills the collector's custom field or the note, unless the reply got there first.
            record::script(&mut db, &agent.state.events, &agent.agent, id, &script).await?;
        }
        (None, Some(_)) => return Err(ApiError::field("script_results", "Expected a dictionary of items.")),
        (None, None) => return Err(ApiError::BadRequest("Invalid data".into())),
    }
    Ok(HttpResponse::Ok().json("ok"))
}

/// Upstream replaces a too-large script result's output with a marker and fails it; a command's output
/// (upstream answers 500) keeps its first [`MAX_BODY`] bytes, then the marker.
fn truncate(body: &mut HistoryResult) {
    if let Some(results) = &mut body.results {
        let mut end = MAX_BODY.min(results.len());
        while !results.is_char_boundary(end) {
            end -= 1;
        }
        results.truncate(end);
        results.push_str(&format!("\n{TRUNCATED}"));
    }
    if let Some(Value::Object(script)) = &mut body.script_results {
        script.insert("stdout".into(), Value::from(""));
        script.insert("stderr".into(), Value::from(TRUNCATED));
        script.insert("retcode".into(), Value::from(1));
    }
}
