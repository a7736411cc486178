//! `/ws/agent/<agent_id>/cmd/?access_token=<token>`: a shell command whose output streams back line by line as
//! the agent produces it, in the frames of TRMM's agents/consumers.py::CommandStreamConsumer (agents ≥ 2.10).
//!
//! Protocol (JSON text frames):
//! * client → server: `{"cmd": "...", "shell"?: "cmd", "custom_shell"?: "...", "timeout"?: 30,
//!   "run_as_user"?: false, "cmd_id"?: "..."}`; `shell: "custom"` runs `custom_shell`; other fields (the
//!   dashboard's `"stream": true`) are ignored. One command at a time per socket, several in a row are fine.
//! * server → client: `{"cmd_id": "<id>"}` once the command is accepted (the client's `cmd_id`, else 32 random
//!   lowercase hex digits, like upstream's `uuid4().hex`); then per output line, in order,
//!   `{"cmd_id", "output": "<line>", "done": false}`; then `{"cmd_id", "output": "", "done": true,
//!   "exit_code": N}` (`-1` when the agent does not report one). Failures (invalid message, agent offline, no
//!   end in time) are `{"error": "...", "status": N}`.
//! * A refused socket gets one error frame and is closed, as upstream: 4401 for a missing or invalid token,
//!   4003 without `can_send_cmd` or outside the user's clients/sites, 4004 for an unknown agent.
//!
//! Every command is recorded like `POST /agents/<id>/cmd/`: an AgentHistory `cmd_run` row (its result is the
//! streamed output) and an `execute_command` audit row.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{Message, Session};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use trmm_authz::perms::SendCmd;
use trmm_authz::Identity;
use trmm_db::agents::AgentRef;
use trmm_ops::command::{self, CmdRequest};
use trmm_ops::record;
use trmm_rpc::client::GatewayError;

use crate::auth::{self, Refusal};
use crate::Ctx;

/// Upstream's default command timeout.
const DEFAULT_TIMEOUT: i64 = 30;
/// Upstream's shell when the message names none.
const DEFAULT_SHELL: &str = "cmd";
/// How often the server pings the browser, and how long it may stay silent.
const HEARTBEAT: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct CmdMessage {
    cmd: String,
    shell: Option<String>,
    custom_shell: Option<String>,
    timeout: Option<i64>,
    run_as_user: Option<bool>,
    cmd_id: Option<String>,
}

fn bad_request(message: impl Into<String>) -> Value {
    json!({ "error": message.into(), "status": 400 })
}

/// The upgrade handler.
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    ctx: web::Data<Ctx>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, messages) = actix_ws::handle(&req, body)?;
    let ip = trmm_authz::client_ip(&req, ctx.trust_proxy_headers);
    let origin = json!({ "ip": ip.map(|ip| ip.to_string()), "method": "GET", "url": req.path() });
    let (ctx, query, agent_id) = (ctx.get_ref().clone(), req.query_string().to_owned(), path.into_inner());
    actix_web::rt::spawn(async move {
        match auth::authorize::<SendCmd>(&ctx.pool, &query, ip, &agent_id, ctx.clock.now()).await {
            Ok((_, agent)) => serve(ctx, session, messages, Credentials { query, ip }, agent, origin).await,
            Err(refusal) => auth::refuse(session, &refusal).await,
        }
    });
    Ok(response)
}

/// What the socket was opened with, checked again before each command: a session ended (password reset,
/// block, deletion) or a permission taken away since must stop a socket that is already open.
struct Credentials {
    query: String,
    ip: Option<IpAddr>,
}

/// The socket's loop: commands in, heartbeats out, until the browser leaves.
async fn serve(
    ctx: Ctx,
    mut session: Session,
    mut messages: actix_ws::MessageStream,
    creds: Credentials,
    agent: AgentRef,
    origin: Value,
) {
    let gone = CancellationToken::new();
    let _stop_streams = gone.clone().drop_guard();
    let mut running: Option<CancellationToken> = None;
    let mut heard = Instant::now();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        let msg = tokio::select! {
            msg = messages.next() => msg,
            _ = heartbeat.tick() => {
                if heard.elapsed() > CLIENT_TIMEOUT || session.ping(b"").await.is_err() {
                    break;
                }
                continue;
            }
        };
        let Some(Ok(msg)) = msg else { break };
        heard = Instant::now();
        match msg {
            Message::Text(text) => {
                if running.as_ref().is_some_and(|done| !done.is_cancelled()) {
                    let busy = bad_request("A command is already running on this connection.");
                    if session.text(busy.to_string()).await.is_err() {
                        break;
                    }
                    continue;
                }
                let now = ctx.clock.now();
                let who =
                    match auth::authorize::<SendCmd>(&ctx.pool, &creds.query, creds.ip, &agent.agent_id, now).await {
                        Ok((who, _)) => who,
                        Err(refusal) => {
                            auth::refuse(session.clone(), &refusal).await;
                            break;
                        }
                    };
                match start(&ctx, &who, &agent, &origin, &text).await {
                    Ok(stream) => {
                        if session
                            .text(json!({ "cmd_id": stream.cmd_id }).to_string())
                            .await
                            .is_err()
                        {
                            break;
                        }
                        let finished = gone.child_token();
                        running = Some(finished.clone());
                        tokio::spawn(relay(ctx.clone(), session.clone(), agent.clone(), stream, finished));
                    }
                    Err(frame) => {
                        if session.text(frame.to_string()).await.is_err() {
                            break;
                        }
                    }
                }
            }
            Message::Ping(bytes) if session.pong(&bytes).await.is_err() => break,
            Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = session.close(None).await;
}

/// A started command: the id its frames carry, its history row and the gateway's output stream.
struct Started {
    cmd_id: String,
    history_id: i64,
    output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<trmm_rpc::gateway::CommandOutput, GatewayError>> + Send>,
    >,
}

/// Validates a client message, records history and audit, and asks the gateway for the output stream.
async fn start(ctx: &Ctx, who: &Identity, agent: &AgentRef, origin: &Value, text: &str) -> Result<Started, Value> {
    let m: CmdMessage = serde_json::from_str(text).map_err(|e| bad_request(format!("Invalid message: {e}")))?;
    // Upstream's consumer defaults: shell cmd, timeout 30; otherwise the REST command's rules.
    let request = CmdRequest {
        cmd: &m.cmd,
        shell: m.shell.as_deref().unwrap_or(DEFAULT_SHELL),
        custom_shell: m.custom_shell.as_deref(),
        timeout: m.timeout.unwrap_or(DEFAULT_TIMEOUT),
        run_as_user: m.run_as_user.unwrap_or(false),
    };
    let call = request.check().map_err(|e| bad_request(e.to_string()))?;
    // Only a correlation id between this socket and its browser: the gateway picks the NATS-side cmd_id itself
    // (StreamCommand overwrites payload.cmd_id), so the browser's id is echoed as is and two browsers that
    // happen to choose the same one still get separate streams.
    let cmd_id = m
        .cmd_id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    let call = async {
        let db = ctx.pool.get().await?;
        command::begin(&db, agent, who.username(), origin.clone(), call).await
    }
    .await
    .map_err(|e| Refusal::from(e).frame())?;
    let history_id = call.history_id.unwrap_or_default();
    // The gateway answers at once for an agent that is not connected; the history row keeps why.
    let output = match ctx.gateway.stream_command(&agent.agent_id, call, Duration::ZERO).await {
        Ok(output) => output,
        Err(e) => {
            let frame = error_frame(&e);
            if let Ok(db) = ctx.pool.get().await {
                let why = frame["error"].as_str().unwrap_or_default();
                if let Err(e) = record::text(&db, &ctx.events, history_id, agent.pk, why).await {
                    tracing::warn!(error = %e, "failed command not recorded");
                }
            }
            return Err(frame);
        }
    };
    Ok(Started {
        cmd_id,
        history_id,
        output: Box::pin(output),
    })
}

fn error_frame(e: &GatewayError) -> Value {
    let (status, message) = match e {
        GatewayError::Offline => (400, "Unable to contact the agent: the agent is offline".to_owned()),
        GatewayError::Timeout => (504, "The command did not finish in time".to_owned()),
        GatewayError::Invalid(m) => (400, m.clone()),
        other => (503, other.to_string()),
    };
    json!({ "error": message, "status": status })
}

/// Forwards the output to the browser until the command ends or the socket goes away; the output becomes the
/// history row's result.
async fn relay(ctx: Ctx, mut session: Session, agent: AgentRef, started: Started, finished: CancellationToken) {
    let Started {
        cmd_id,
        history_id,
        mut output,
    } = started;
    let mut results = String::new();
    loop {
        let item = tokio::select! {
            () = finished.cancelled() => return,
            item = output.next() => item,
        };
        let (frame, last) = match item {
            Some(Ok(o)) if o.done => {
                // The agent's final message normally has no text; any it has is output too.
                results.push_str(&o.line);
                if let Ok(db) = ctx.pool.get().await {
                    let text = results.trim_end_matches('\n');
                    if let Err(e) = record::text(&db, &ctx.events, history_id, agent.pk, text).await {
                        tracing::warn!(error = %e, "streamed command output not recorded");
                    }
                }
                let frame = json!({ "cmd_id": cmd_id, "output": o.line, "done": true, "exit_code": o.exit_code });
                (frame, true)
            }
            Some(Ok(o)) => {
                results.push_str(&o.line);
                results.push('\n');
                (json!({ "cmd_id": cmd_id, "output": o.line, "done": false }), false)
            }
            Some(Err(e)) => (error_frame(&e), true),
            None => (
                error_frame(&GatewayError::Unavailable("the output stream ended early".into())),
                true,
            ),
        };
        if session.text(frame.to_string()).await.is_err() || last {
            finished.cancel();
            return;
        }
    }
}
