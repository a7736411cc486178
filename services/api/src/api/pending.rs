//! Pending actions (TRMM logs/views.py PendingActions; server-api.md 3.8) and, beyond upstream, commands and
//! scripts queued for offline agents (`queue_if_offline`), which trmm-worker runs when the agent is back.

use actix_web::HttpResponse;
use serde_json::{json, Value};
use trmm_db::pending::{self, Action};

use super::agents::AGENT_ID;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListPendingActions, ManagePendingActions};
use crate::auth::{Authed, Scoped, ScopedAgent};
use crate::error::ApiResult;

/// `results` of a queued command's history row once its pending action is cancelled.
const CANCELLED: &str = "cancelled";

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    cfg.route("/logs/pendingactions/", routes::get().to(list))
        .route("/logs/pendingactions/{pk}/", routes::delete().to(cancel))
        .route(
            &format!("/agents/{AGENT_ID}/pendingactions/"),
            routes::get().to(for_agent),
        );
}

/// Upstream's derived `due` (logs/models.py::PendingAction.due).
fn due(a: &Action) -> Value {
    match a.action_type.as_str() {
        "schedreboot" => a.details.get("time").cloned().unwrap_or(Value::Null),
        "agentupdate" => json!("Next update cycle"),
        "chocoinstall" => json!("ASAP"),
        _ => json!("On next checkin"),
    }
}

/// Upstream's derived `description`; queued commands and scripts carry their own.
fn description(a: &Action) -> String {
    let detail = |k: &str| a.details.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    match a.action_type.as_str() {
        "schedreboot" => "Device pending reboot".into(),
        "agentupdate" => format!("Agent update to {}", detail("version")),
        "chocoinstall" => format!("{} software install", detail("name")),
        _ if !detail("description").is_empty() => detail("description"),
        other => other.to_owned(),
    }
}

/// TRMM PendingActionSerializer: every column plus hostname, client, site, due and description.
fn render(a: &Action) -> Value {
    json!({
        "id": a.id,
        "hostname": a.hostname,
        "client": a.client_name,
        "site": a.site_name,
        "due": due(a),
        "description": description(a),
        "entry_time": a.entry_time,
        "action_type": a.action_type,
        "status": a.status,
        "details": a.details,
        "agent": a.agent.0,
    })
}

/// `GET /logs/pendingactions/`: every action (pending and completed) on agents the user may see.
async fn list(caller: Authed<ListPendingActions>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let actions = pending::list(&db, &caller.identity.visibility()).await?;
    Ok(HttpResponse::Ok().json(actions.iter().map(render).collect::<Vec<_>>()))
}

/// `GET /agents/<agent_id>/pendingactions/`.
async fn for_agent(caller: ScopedAgent<ListPendingActions>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let actions = pending::for_agent(&db, caller.agent.pk).await?;
    Ok(HttpResponse::Ok().json(actions.iter().map(render).collect::<Vec<_>>()))
}

/// `DELETE /logs/pendingactions/<pk>/`: cancels (deletes) the action; a queued command never runs afterwards.
async fn cancel(caller: Scoped<ManagePendingActions, pending::Action>) -> ApiResult<HttpResponse> {
    let (db, action) = (caller.state.conn().await?, caller.target);
    pending::delete(&db, action.id).await?;
    if let Some(hist) = action.details.get("history_id").and_then(Value::as_i64) {
        trmm_ops::record::text(&db, &caller.state.events, hist, action.agent, CANCELLED).await?;
    }
    // Upstream also deletes the scheduled-reboot task on a Windows agent; no agent here keeps one.
    Ok(HttpResponse::Ok().json(format!("{}: {} was cancelled", action.hostname, description(&action))))
}
