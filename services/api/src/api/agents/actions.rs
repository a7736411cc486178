//! Dashboard actions that reach a live agent through the AgentGateway (TRMM agents/views.py).

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use trmm_ops::command::{self, CmdRequest};
use trmm_ops::{Delivered, OpsError};
use trmm_protocol::calls::{Call, KillProc, Procs, RebootNow, Recover, Shutdown, SysInfo};

use super::AGENT_ID;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{EditAgent, ListAgents, ManageProcs, RebootAgents, RecoverAgents, SendCmd};
use crate::auth::{self, ScopedAgent};
use crate::error::{ApiError, ApiResult, UNREACHABLE};
use crate::json::Json;
use crate::state::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    let at = |tail: &str| format!("/agents/{AGENT_ID}/{tail}");
    cfg.route(&at("ping/"), routes::get().to(ping))
        .route(&at("cmd/"), routes::post().to(cmd))
        .route(&at("wmi/"), routes::post().to(refresh))
        .route(&at("processes/"), routes::get().to(processes))
        .route(&at("processes/{pid}/"), routes::delete().to(kill_process))
        .route(&at("reboot/"), routes::post().to(reboot))
        .route(&at("shutdown/"), routes::post().to(shutdown))
        .route(&at("recover/"), routes::post().to(recover));
}

/// `GET ping/`: up to three tries, as upstream (2 s each).
async fn ping(caller: ScopedAgent<ListAgents>) -> ApiResult<HttpResponse> {
    let mut online = false;
    for _ in 0..3 {
        if caller
            .state
            .gateway
            .ping(&caller.agent.agent_id, Duration::from_secs(2))
            .await?
        {
            online = true;
            break;
        }
    }
    let status = if online { "online" } else { "offline" };
    Ok(HttpResponse::Ok().json(json!({ "name": caller.agent.hostname, "status": status })))
}

#[derive(Deserialize)]
struct CmdBody {
    shell: String,
    cmd: String,
    timeout: i64,
    #[serde(default)]
    custom_shell: Option<String>,
    #[serde(default)]
    run_as_user: bool,
    /// Beyond TRMM: an offline agent gets the command as a pending action instead of an error.
    #[serde(default)]
    queue_if_offline: bool,
}

/// `POST cmd/`: runs a shell command and returns its output; recorded in history and the audit log.
async fn cmd(caller: ScopedAgent<SendCmd>, req: HttpRequest, Json(body): Json<CmdBody>) -> ApiResult<HttpResponse> {
    let request = CmdRequest {
        cmd: &body.cmd,
        shell: &body.shell,
        custom_shell: body.custom_shell.as_deref(),
        timeout: body.timeout,
        run_as_user: body.run_as_user,
    };
    let call = request.check().map_err(OpsError::from)?;
    let (state, agent, who) = (&caller.state, &caller.agent, &caller.identity);
    let db = state.conn().await?;
    let call = command::begin(&db, agent, who.username(), auth::debug_info(&req, state), call).await?;
    // No pooled connection is held while the agent runs the command.
    drop(db);
    Ok(
        match state.ops().run_command(agent, call, body.queue_if_offline).await? {
            Delivered::Done(output) | Delivered::Queued(output) => HttpResponse::Ok().json(output),
        },
    )
}

/// Sends `call` and expects the reply "ok"; anything else is upstream's "Unable to contact the agent".
async fn expect_ok<C: Call<Reply = String>>(state: &AppState, agent_id: &str, call: C) -> ApiResult<()> {
    match state.gateway.call_default(agent_id, call).await? {
        reply if reply == "ok" => Ok(()),
        _ => Err(ApiError::BadRequest(UNREACHABLE.into())),
    }
}

/// `POST wmi/`: asks the agent to resend its system information.
async fn refresh(caller: ScopedAgent<EditAgent>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, SysInfo).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `GET processes/`.
async fn processes(caller: ScopedAgent<ManageProcs>) -> ApiResult<HttpResponse> {
    let procs = caller.state.gateway.call_default(&caller.agent.agent_id, Procs).await?;
    Ok(HttpResponse::Ok().json(procs))
}

/// `DELETE processes/<pid>/`.
async fn kill_process(caller: ScopedAgent<ManageProcs>, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let pid: i32 = path.1.parse().map_err(|_| ApiError::NotFound)?;
    let reply = caller
        .state
        .gateway
        .call_default(&caller.agent.agent_id, KillProc { pid })
        .await?;
    if reply == "ok" {
        Ok(HttpResponse::Ok().json(format!("Process with PID: {pid} was ended successfully")))
    } else {
        Err(ApiError::BadRequest(reply))
    }
}

/// `POST reboot/`: reboot now.
async fn reboot(caller: ScopedAgent<RebootAgents>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, RebootNow).await?;
    Ok(HttpResponse::Ok().json(format!("{} will now be restarted", caller.agent.hostname)))
}

/// `POST shutdown/`.
async fn shutdown(caller: ScopedAgent<RebootAgents>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, Shutdown).await?;
    Ok(HttpResponse::Ok().json(format!("{} will now be shutdown", caller.agent.hostname)))
}

#[derive(Deserialize)]
struct RecoverRequest {
    mode: String,
}

/// `POST recover/` `{mode: tacagent|mesh}`.
async fn recover(caller: ScopedAgent<RecoverAgents>, Json(body): Json<RecoverRequest>) -> ApiResult<HttpResponse> {
    if body.mode != "tacagent" && body.mode != "mesh" {
        return Err(ApiError::field(
            "mode",
            format!("\"{}\" is not a valid choice.", body.mode),
        ));
    }
    let recover = Recover {
        mode: body.mode.clone(),
    };
    if body.mode == "mesh" {
        expect_ok(&caller.state, &caller.agent.agent_id, recover).await?;
    } else {
        caller.state.gateway.send(&caller.agent.agent_id, recover).await?;
    }
    Ok(HttpResponse::Ok().json("Recovery will be attempted shortly"))
}
