//! Dashboard actions that reach a live agent through the AgentGateway (TRMM agents/views.py).

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::history::{self, HistoryType};

use super::AGENT_ID;
use crate::api::audit::{self, Change};
use crate::api::pending::{self, Queued};
use crate::auth::perms::{EditAgent, ListAgents, ManageProcs, RebootAgents, RecoverAgents, SendCmd};
use crate::auth::ScopedAgent;
use crate::error::{ApiError, ApiResult};
use crate::gateway::{command, CommandExt, UNREACHABLE};
use crate::json::Json;

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
    let mut envelope = command("rawcmd", body.timeout).with_history(hist);
    envelope.payload.insert("command".into(), body.cmd.clone());
    envelope.payload.insert("shell".into(), shell.clone());
    envelope.run_as_user = Some(body.run_as_user);
    let timeout = Duration::from_secs(body.timeout as u64 + 2);
    // A queued command pings first: behind trmm-nats-api, NATS cannot tell a missing agent from a silent one.
    let present = !body.queue_if_offline || state.gateway.ping(&agent.agent_id, Duration::from_secs(2)).await?;
    let reply = if present {
        state
            .gateway
            .request_unless_offline(&agent.agent_id, envelope.clone(), timeout)
            .await?
    } else {
        None
    };
    let Some(reply) = reply else {
        if !body.queue_if_offline {
            return Err(ApiError::BadRequest(format!("{UNREACHABLE}: the agent is offline")));
        }
        let queued = Queued {
            action_type: "runcmd",
            envelope: &envelope,
            history_id: hist,
            timeout: body.timeout + 2,
            description: format!("Run command: {}", body.cmd),
            extra: json!({ "cmd": body.cmd, "shell": shell }),
        };
        return Ok(HttpResponse::Ok().json(pending::queue(&**db, agent, queued).await?));
    };
    let output = reply.as_str().map(str::to_owned).unwrap_or_else(|| reply.to_string());
    history::record_results(&**db, hist, agent.pk, &output).await?;
    Ok(HttpResponse::Ok().json(output))
}

/// Sends `func` and expects the reply "ok"; anything else is upstream's "Unable to contact the agent".
async fn expect_ok(caller_state: &crate::state::AppState, agent_id: &str, func: &str, timeout: u64) -> ApiResult<()> {
    let reply = caller_state
        .gateway
        .request(agent_id, command(func, timeout as i64), Duration::from_secs(timeout))
        .await?;
    if reply == json!("ok") {
        Ok(())
    } else {
        Err(ApiError::BadRequest(UNREACHABLE.into()))
    }
}

/// `POST wmi/`: asks the agent to resend its system information.
async fn refresh(caller: ScopedAgent<EditAgent>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, "sysinfo", 20).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `GET processes/`.
async fn processes(caller: ScopedAgent<ManageProcs>) -> ApiResult<HttpResponse> {
    let reply = caller
        .state
        .gateway
        .request(&caller.agent.agent_id, command("procs", 5), Duration::from_secs(5))
        .await?;
    if !reply.is_array() {
        return Err(ApiError::BadRequest(UNREACHABLE.into()));
    }
    Ok(HttpResponse::Ok().json(reply))
}

/// `DELETE processes/<pid>/`.
async fn kill_process(caller: ScopedAgent<ManageProcs>, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let pid: i32 = path.1.parse().map_err(|_| ApiError::NotFound)?;
    let mut envelope = command("killproc", 15);
    envelope.procpid = Some(pid);
    let reply = caller
        .state
        .gateway
        .request(&caller.agent.agent_id, envelope, Duration::from_secs(15))
        .await?;
    match reply {
        Value::String(s) if s == "ok" => {
            Ok(HttpResponse::Ok().json(format!("Process with PID: {pid} was ended successfully")))
        }
        Value::String(err) => Err(ApiError::BadRequest(err)),
        _ => Err(ApiError::BadRequest(UNREACHABLE.into())),
    }
}

/// `POST reboot/`: reboot now.
async fn reboot(caller: ScopedAgent<RebootAgents>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, "rebootnow", 10).await?;
    Ok(HttpResponse::Ok().json(format!("{} will now be restarted", caller.agent.hostname)))
}

/// `POST shutdown/`.
async fn shutdown(caller: ScopedAgent<RebootAgents>) -> ApiResult<HttpResponse> {
    expect_ok(&caller.state, &caller.agent.agent_id, "shutdown", 10).await?;
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
    let mut envelope = command("recover", 60);
    envelope.payload.insert("mode".into(), body.mode.clone());
    if body.mode == "mesh" {
        let reply = caller
            .state
            .gateway
            .request(&caller.agent.agent_id, envelope, Duration::from_secs(60))
            .await?;
        if reply != json!("ok") {
            return Err(ApiError::BadRequest(UNREACHABLE.into()));
        }
    } else {
        caller.state.gateway.publish(&caller.agent.agent_id, envelope).await?;
    }
    Ok(HttpResponse::Ok().json("Recovery will be attempted shortly"))
}
