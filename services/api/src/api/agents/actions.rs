//! Dashboard actions that reach a live agent through the AgentGateway (TRMM agents/views.py).

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use trmm_db::history::{self, HistoryType};
use trmm_protocol::calls::{Call, KillProc, Procs, RawCmd, RebootNow, Recover, Shutdown, SysInfo};
use trmm_rpc::client::GatewayError;

use super::AGENT_ID;
use crate::api::audit::{self, Change};
use crate::api::pending::{self, Queued};
use crate::auth::perms::{EditAgent, ListAgents, ManageProcs, RebootAgents, RecoverAgents, SendCmd};
use crate::auth::ScopedAgent;
use crate::error::{ApiError, ApiResult, UNREACHABLE};
use crate::json::Json;
use crate::state::AppState;

/// Longest command timeout accepted, in seconds.
const MAX_CMD_TIMEOUT: i64 = 3600;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let at = |tail: &str| format!("/agents/{AGENT_ID}/{tail}");
    cfg.route(&at("ping/"), web::get().to(ping))
        .route(&at("cmd/"), web::post().to(cmd))
        .route(&at("wmi/"), web::post().to(refresh))
        .route(&at("processes/"), web::get().to(processes))
        .route(&at("processes/{pid}/"), web::delete().to(kill_process))
        .route(&at("reboot/"), web::post().to(reboot))
        .route(&at("shutdown/"), web::post().to(shutdown))
        .route(&at("recover/"), web::post().to(recover));
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
struct CmdRequest {
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
async fn cmd(caller: ScopedAgent<SendCmd>, req: HttpRequest, Json(body): Json<CmdRequest>) -> ApiResult<HttpResponse> {
    if body.cmd.trim().is_empty() {
        return Err(ApiError::field("cmd", "This field may not be blank."));
    }
    if !(1..=MAX_CMD_TIMEOUT).contains(&body.timeout) {
        return Err(ApiError::field(
            "timeout",
            format!("Timeout must be between 1 and {MAX_CMD_TIMEOUT} seconds."),
        ));
    }
    // TRMM agents/views.py::send_raw_cmd: "custom" means the path in custom_shell.
    let shell = match (body.shell.as_str(), body.custom_shell.as_deref()) {
        ("custom", Some(path)) if !path.trim().is_empty() => path.trim().to_owned(),
        ("", _) | ("custom", _) => return Err(ApiError::field("shell", "A shell is required.")),
        (shell, _) => shell.to_owned(),
    };
    let (state, agent, who) = (&caller.state, &caller.agent, &caller.identity);
    let db = state.conn().await?;
    let hist = history::create(&**db, agent.pk, HistoryType::CmdRun, &body.cmd, who.username()).await?;
    let change = Change {
        action: "execute_command",
        object_type: "agent",
        message: format!(
            "{} issued {shell} command on {}: {}",
            who.username(),
            agent.hostname,
            body.cmd
        ),
        before: None,
        after: Some(json!({ "cmd": body.cmd, "shell": shell, "timeout": body.timeout })),
        agent: Some((&agent.hostname, &agent.agent_id)),
    };
    audit::record(&**db, state, &req, who, change).await?;
    // No pooled connection is held while the agent runs the command.
    drop(db);
    let call = RawCmd {
        command: body.cmd.clone(),
        shell: shell.clone(),
        timeout: body.timeout,
        run_as_user: body.run_as_user,
        history_id: Some(hist),
        stream_id: None,
    };
    let timeout = Duration::from_secs(body.timeout as u64 + 2);
    let output = match state.gateway.call(&agent.agent_id, call.clone(), timeout).await {
        Ok(output) => output,
        Err(GatewayError::Offline) if body.queue_if_offline => {
            let queued = Queued {
                action_type: "runcmd",
                call: &call.into(),
                history_id: hist,
                timeout: body.timeout + 2,
                description: format!("Run command: {}", body.cmd),
                extra: json!({ "cmd": body.cmd, "shell": shell }),
            };
            let db = state.conn().await?;
            return Ok(HttpResponse::Ok().json(pending::queue(&**db, agent, queued).await?));
        }
        Err(e) => return Err(e.into()),
    };
    history::record_results(&**state.conn().await?, hist, agent.pk, &output).await?;
    Ok(HttpResponse::Ok().json(output))
}

/// Sends `call` and expects the reply "ok"; anything else is upstream's "Unable to contact the agent".
async fn expect_ok<C: Call<Reply = String>>(state: &AppState, agent_id: &str, call: C, secs: u64) -> ApiResult<()> {
    match state.gateway.call(agent_id, call, Duration::from_secs(secs)).await? {
        reply if reply == "ok" => Ok(()),
        _ => Err(ApiError::BadRequest(UNREACHABLE.into())),
    }
}

/// `POST wmi/`: asks the agent to resend its system information.
async fn refresh(caller: ScopedAgent<EditAgent>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, SysInfo, 20).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `GET processes/`.
async fn processes(caller: ScopedAgent<ManageProcs>) -> ApiResult<HttpResponse> {
    let procs = caller
        .state
        .gateway
        .call(&caller.agent.agent_id, Procs, Duration::from_secs(5))
        .await?;
    Ok(HttpResponse::Ok().json(procs))
}

/// `DELETE processes/<pid>/`.
async fn kill_process(caller: ScopedAgent<ManageProcs>, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let pid: i32 = path.1.parse().map_err(|_| ApiError::NotFound)?;
    let reply = caller
        .state
        .gateway
        .call(&caller.agent.agent_id, KillProc { pid }, Duration::from_secs(15))
        .await?;
    if reply == "ok" {
        Ok(HttpResponse::Ok().json(format!("Process with PID: {pid} was ended successfully")))
    } else {
        Err(ApiError::BadRequest(reply))
    }
}

/// `POST reboot/`: reboot now.
async fn reboot(caller: ScopedAgent<RebootAgents>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, RebootNow, 10).await?;
    Ok(HttpResponse::Ok().json(format!("{} will now be restarted", caller.agent.hostname)))
}

/// `POST shutdown/`.
async fn shutdown(caller: ScopedAgent<RebootAgents>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, Shutdown, 10).await?;
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
        expect_ok(&caller.state, &caller.agent.agent_id, recover, 60).await?;
    } else {
        caller.state.gateway.send(&caller.agent.agent_id, recover).await?;
    }
    Ok(HttpResponse::Ok().json("Recovery will be attempted shortly"))
}
