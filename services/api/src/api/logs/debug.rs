//! `PATCH /logs/debug/`: the newest debug log entries, filtered, within the caller's role scope.

use actix_web::HttpResponse;
use serde_json::{json, Value};
use trmm_db::debug_log::{self, DebugFilter, DebugRow, Level, LogType};

use super::invalid;
use crate::api::drf_time;
use crate::api::form::{self, Form};
use crate::auth::perms::ViewDebugLogs;
use crate::auth::Authed;
use crate::error::ApiResult;
use crate::json::Json;

/// Upstream answers at most this many entries.
const NEWEST: i64 = 1000;

/// The dashboard's name for the `win_updates` type.
const WINDOWS_UPDATES: &str = "windows_updates";

/// A filter that is one of `choices`; null or absent filters nothing.
fn choice(f: &mut Form<'_>, key: &str, choices: &[&str]) -> Option<String> {
    if f.is_null(key) {
        return None;
    }
    f.choice(key, choices)
}

/// DebugLogSerializer: every column, the agent by hostname.
fn render(r: &DebugRow) -> Value {
    json!({
        "id": r.id,
        "entry_time": drf_time(r.entry_time),
        "agent": r.agent,
        "log_level": r.log_level,
        "log_type": r.log_type,
        "message": r.message,
    })
}

/// `PATCH /logs/debug/` `{logTypeFilter, logLevelFilter, agentFilter}` (each optional) → the newest 1000 entries;
/// entries about agents the caller's role does not cover are left out, those about no agent are kept.
pub(super) async fn list(caller: Authed<ViewDebugLogs>, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let mut f = Form::new(map);
    let levels = Level::ALL.map(Level::as_str);
    let level = choice(&mut f, "logLevelFilter", &levels);
    let mut types: Vec<&str> = LogType::ALL.iter().map(|t| t.as_str()).collect();
    // Upstream's dashboard offers "windows_updates" for the type stored as "win_updates".
    types.push(WINDOWS_UPDATES);
    let log_type = choice(&mut f, "logTypeFilter", &types);
    let agent_id = f.text("agentFilter", 255, true, true).flatten();
    f.finish().map_err(invalid)?;
    let filter = DebugFilter {
        agent_id: agent_id.filter(|a| !a.is_empty()),
        level: level.as_deref().and_then(Level::parse),
        log_type: log_type.as_deref().and_then(|t| match t {
            WINDOWS_UPDATES => Some(LogType::WinUpdates),
            t => LogType::parse(t),
        }),
    };
    let db = caller.state.conn().await?;
    let rows = debug_log::newest(&db, &caller.identity.visibility(), &filter, NEWEST).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(render).collect::<Vec<_>>()))
}
