//! Agent services (TRMM services/views.py `GetServices`, `GetEditActionService`; server-api.md 3.12): the
//! live list (also stored in `agents.services`), one service's detail, and start/stop/restart.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use trmm_db::services;
use trmm_protocol::calls::{WinServices, WinSvcAction, WinSvcDetail};

use super::agents::AGENT_ID;
use crate::api::routes::{self, Routes};
use crate::auth::perms::ManageWinSvcs;
use crate::auth::ScopedAgent;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    let one = format!("/services/{AGENT_ID}/{{svcname}}/");
    cfg.route(&format!("/services/{AGENT_ID}/"), routes::get().to(list))
        .route(&one, routes::get().to(detail))
        .route(&one, routes::post().to(action));
}

/// `GET /services/<agent_id>/`: asks the agent, stores the answer, returns it.
async fn list(caller: ScopedAgent<ManageWinSvcs>) -> ApiResult<HttpResponse> {
    let (state, agent) = (&caller.state, &caller.agent);
    let list = state.gateway.call_default(&agent.agent_id, WinServices).await?;
    let list = serde_json::to_value(list)?;
    let db = state.conn().await?;
    services::save(&db, agent.pk, &list).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `GET /services/<agent_id>/<svcname>/`: the agent's record of one service, as it sent it.
async fn detail(caller: ScopedAgent<ManageWinSvcs>, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let name = path.into_inner().1;
    let reply = caller
        .state
        .gateway
        .call_default(&caller.agent.agent_id, WinSvcDetail { name })
        .await?;
    Ok(HttpResponse::Ok().json(reply))
}

#[derive(Deserialize)]
struct ActionRequest {
    sv_action: String,
}

/// `POST /services/<agent_id>/<svcname>/` `{sv_action: start|stop|restart}`. Upstream refuses posix agents
/// ("Please use 'Recover Connection' instead."); trmm-agent controls systemd units, so Linux is served.
async fn action(
    caller: ScopedAgent<ManageWinSvcs>,
    path: web::Path<(String, String)>,
    body: crate::json::Json<ActionRequest>,
) -> ApiResult<HttpResponse> {
    let name = path.into_inner().1;
    let (state, agent) = (&caller.state, &caller.agent);
    let message = match body.0.sv_action.as_str() {
        "restart" => {
            let db = state.conn().await?;
            let linux = services::platform(&db, agent.pk).await?.as_deref() == Some("linux");
            drop(db);
            if linux {
                // systemd restarts in one job: stop-then-start would never come back for a unit the agent
                // (or its network path) depends on.
                send(state, &agent.agent_id, &name, "restart").await?;
            } else {
                // Upstream: the Windows agent only knows start and stop.
                send(state, &agent.agent_id, &name, "stop").await?;
                send(state, &agent.agent_id, &name, "start").await?;
            }
            "The service was restarted successfully"
        }
        "start" => {
            send(state, &agent.agent_id, &name, "start").await?;
            "The service was started successfully"
        }
        "stop" => {
            send(state, &agent.agent_id, &name, "stop").await?;
            "The service was stopped successfully"
        }
        other => {
            return Err(ApiError::field(
                "sv_action",
                format!("\"{other}\" is not a valid choice."),
            ))
        }
    };
    Ok(HttpResponse::Ok().json(message))
}

/// One `winsvcaction`, judged as upstream's `process_nats_response`: anything but `{success: bool,
/// errormsg: str}` means the agent was not reached; a failure with a message is that message.
async fn send(state: &AppState, agent_id: &str, name: &str, action: &str) -> ApiResult<()> {
    let call = WinSvcAction {
        name: name.to_owned(),
        action: action.to_owned(),
    };
    let reply = state.gateway.call_default(agent_id, call).await?;
    match (reply.success, reply.errormsg) {
        (true, _) => Ok(()),
        (false, msg) if !msg.is_empty() => Err(ApiError::BadRequest(msg)),
        (false, _) => Err(ApiError::BadRequest("Something went wrong".into())),
    }
}
