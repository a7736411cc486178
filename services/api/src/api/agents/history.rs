//! Agent history views (TRMM agents/views.py::AgentHistoryView and ScriptRunHistory).

use actix_web::{web, HttpResponse};
use chrono::TimeDelta;
use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::history::{self, HistoryRow, ScriptHistoryFilter};

use super::AGENT_ID;
use crate::api::drf_time;
use crate::api::form::parse_time;
use crate::api::routes::{self, Routes};
use crate::auth::perms::ListAgentHistory;
use crate::auth::{Authed, ScopedAgent};
use crate::error::{ApiError, ApiResult};

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    cfg.route("/agents/history/", routes::get().to(all_agents))
        .route("/agents/scripthistory/", routes::get().to(script_runs))
        .route(&format!("/agents/{AGENT_ID}/history/"), routes::get().to(one_agent));
}

/// `AgentHistorySerializer` (`fields = "__all__"` plus `script_name`).
fn full_row(h: &HistoryRow) -> Value {
    json!({
        "id": h.id,
        "script_name": h.script_name,
        "time": drf_time(h.time),
        "type": h.kind,
        "command": h.command,
        "username": h.username,
        "results": h.results,
        "script_results": h.script_results,
        "collector_all_output": h.collector_all_output,
        "save_to_agent_note": h.save_to_agent_note,
        "agent": h.agent,
        "script": h.script,
        "custom_field": h.custom_field,
    })
}

/// `GET /agents/<agent_id>/history/`.
async fn one_agent(caller: ScopedAgent<ListAgentHistory>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let rows = history::for_agent(&db, caller.agent.pk).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(full_row).collect::<Vec<_>>()))
}

/// `GET /agents/history/`: every agent the user's role can see.
async fn all_agents(caller: Authed<ListAgentHistory>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let rows = history::in_scope(&db, &caller.identity.visibility()).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(full_row).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct ScriptHistoryQuery {
    start: Option<String>,
    end: Option<String>,
    limit: Option<String>,
    scriptname: Option<String>,
}

/// `GET /agents/scripthistory/?start&end&limit&scriptname`: script runs across agents, newest first.
async fn script_runs(
    caller: Authed<ListAgentHistory>,
    query: web::Query<ScriptHistoryQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let mut filter = ScriptHistoryFilter {
        script_name: q.scriptname.filter(|n| !n.is_empty()),
        ..Default::default()
    };
    // Upstream filters by date only when both ends are given, and the end day is included.
    if let (Some(start), Some(end)) = (q.start.filter(|s| !s.is_empty()), q.end.filter(|s| !s.is_empty())) {
        let invalid = || ApiError::BadRequest("Invalid date".into());
        filter.start = Some(parse_time(&start).ok_or_else(invalid)?);
        filter.end = Some(parse_time(&end).ok_or_else(invalid)? + TimeDelta::days(1));
    }
    if let Some(limit) = q.limit.filter(|l| !l.is_empty()) {
        let limit: i64 = limit
            .trim()
            .parse()
            .ok()
            .filter(|l| *l >= 0)
            .ok_or_else(|| ApiError::BadRequest("Invalid limit".into()))?;
        filter.limit = Some(limit);
    }
    let db = caller.state.conn().await?;
    // Upstream does not filter this view by role; here it is, so a restricted role cannot read other clients' output.
    let rows = history::script_runs(&db, &caller.identity.visibility(), &filter).await?;
    let body: Vec<Value> = rows
        .iter()
        .map(|h| {
            json!({
                "id": h.id,
                "time": drf_time(h.time),
                "username": h.username,
                "script": h.script,
                "script_results": h.script_results,
                "agent": h.agent,
                "script_name": h.script_name,
                "agent_id": h.agent_id,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_django_and_render_like_drf() {
        let t = parse_time("2024-03-01T10:20:30.5+02:00").unwrap();
        assert_eq!(drf_time(t), "2024-03-01T08:20:30.500000Z");
        assert_eq!(drf_time(parse_time("2024-03-01").unwrap()), "2024-03-01T00:00:00Z");
        assert_eq!(
            drf_time(parse_time("2024-03-01 10:20").unwrap()),
            "2024-03-01T10:20:00Z"
        );
        assert!(parse_time("yesterday").is_none());
    }
}
