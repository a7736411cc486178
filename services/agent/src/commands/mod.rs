//! Server → agent commands on subject `<agent_id>` (agent-protocol.md 2.1–2.3): decode the msgpack
//! envelope, dispatch on `func`, reply with the Go agent's exact shapes. Unknown functions and undecodable
//! messages get no reply, as with the Go agent.

pub mod exec;
pub mod interpreter;
pub mod output;
pub mod procs;
pub mod rawcmd;
pub mod runas;
pub mod script;
pub mod services;
pub mod software;
pub mod system;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use trmm_protocol::nats::{self, Command, ServiceActionResponse, TelemetryKind};

use crate::svc::Agent;
use crate::telemetry::{self, publicip};

/// How long a reply may take to leave before a disruptive action (reboot, uninstall) goes ahead.
const FLUSH_BEFORE_ACTION: Duration = Duration::from_secs(5);

/// One received command and where to answer it.
pub struct Request {
    /// The running agent.
    pub agent: Arc<Agent>,
    /// The decoded envelope.
    pub cmd: Command,
    reply: Option<async_nats::Subject>,
}

impl Request {
    /// Sends a msgpack reply if the server asked for one (plain publishes have no reply subject).
    pub async fn respond<T: Serialize + ?Sized>(&self, value: &T) {
        let Some(reply) = self.reply.clone() else {
            return;
        };
        let bytes = match nats::encode(value) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(func = %self.cmd.func, error = %e, "cannot encode the reply");
                return;
            }
        };
        if let Err(e) = self.agent.nats.publish(reply, bytes.into()).await {
            tracing::warn!(func = %self.cmd.func, error = %e, "reply not sent");
        }
    }

    /// Waits (bounded) until everything published so far has left, e.g. the reply before a reboot.
    pub async fn flush(&self) {
        if tokio::time::timeout(FLUSH_BEFORE_ACTION, self.agent.nats.flush())
            .await
            .is_err()
        {
            tracing::warn!(func = %self.cmd.func, "reply may not have reached the server");
        }
    }
}

/// Handles one message from the command subject.
pub async fn handle(agent: Arc<Agent>, msg: async_nats::Message) {
    // Our own telemetry carries its type tag as reply; it is never a command.
    if msg.reply.as_ref().is_some_and(|r| TelemetryKind::from_tag(r).is_some()) {
        return;
    }
    let cmd: Command = match nats::decode(&msg.payload) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, bytes = msg.payload.len(), "undecodable command ignored");
            return;
        }
    };
    tracing::debug!(func = %cmd.func, timeout = cmd.timeout, "command received");
    let req = Request {
        agent,
        cmd,
        reply: msg.reply,
    };
    dispatch(req).await;
}

async fn dispatch(req: Request) {
    let agent = req.agent.clone();
    match req.cmd.func.as_str() {
        "ping" => req.respond("pong").await,
        "rawcmd" => rawcmd::handle(&req).await,
        "runscript" => script::handle(&req, false).await,
        "runscriptfull" => script::handle(&req, true).await,
        "sysinfo" => {
            for kind in [
                TelemetryKind::AgentInfo,
                TelemetryKind::Disks,
                TelemetryKind::Wmi,
                TelemetryKind::PublicIp,
            ] {
                telemetry::send(&agent.nats, &agent.config, kind).await;
            }
            req.respond("ok").await;
        }
        "wmi" => telemetry::send(&agent.nats, &agent.config, TelemetryKind::Wmi).await,
        "procs" => {
            let list = tokio::task::spawn_blocking(procs::list).await.unwrap_or_default();
            req.respond(&list).await;
        }
        "killproc" => {
            let pid = req.cmd.procpid.unwrap_or(0);
            let result = tokio::task::spawn_blocking(move || procs::kill(pid)).await;
            match result {
                Ok(Ok(())) => req.respond("ok").await,
                Ok(Err(e)) => req.respond(&e).await,
                Err(e) => req.respond(&e.to_string()).await,
            }
        }
        "runchecks" => {
            req.respond("ok").await;
            crate::checks::run_checks(&agent, true).await;
        }
        "rebootnow" => system::power_action(&req, &agent.config.reboot_command).await,
        "shutdown" => system::power_action(&req, &agent.config.shutdown_command).await,
        "recover" => {
            if req.cmd.payload.get("mode").map(String::as_str) == Some("mesh") {
                crate::mesh::recover(&agent).await;
            }
            req.respond("ok").await;
        }
        "uninstall" => system::uninstall(&req).await,
        "publicip" => req.respond(&publicip::lookup(&agent.config).await).await,
        "needsreboot" => {
            let needs = tokio::task::spawn_blocking(telemetry::info::needs_reboot)
                .await
                .unwrap_or(false);
            req.respond(&needs).await;
        }
        "cpuloadavg" => {
            let Some(percent) = system::cpu_load(&agent.shutdown).await else {
                return;
            };
            req.respond(&percent).await;
        }
        "softwarelist" => req.respond(&software::list().await).await,
        "winservices" => {
            let list = services::list(&agent.config.systemctl).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "service list unavailable");
                Vec::new()
            });
            req.respond(&list).await;
        }
        "winsvcdetail" => {
            let name = req.cmd.payload.get("name").map(String::as_str).unwrap_or_default();
            req.respond(&services::detail(&agent.config.systemctl, name).await)
                .await;
        }
        "winsvcaction" => {
            let get = |k: &str| req.cmd.payload.get(k).map(String::as_str).unwrap_or_default();
            let reply = services::action(&agent.config.systemctl, get("name"), get("action")).await;
            req.respond(&reply).await;
        }
        // Windows-only functions: the Go agent's unix stubs answer with empty results.
        "listschedtasks" | "eventlog" => {
            req.respond(&Vec::<String>::new()).await;
        }
        // Start types are a Windows notion; systemd's enable/disable is left to scripts.
        "editwinsvc" => {
            req.respond(&ServiceActionResponse {
                success: false,
                errormsg: "/na".into(),
            })
            .await;
        }
        "schedtask" => req.respond("Something went wrong").await,
        "delschedtask" => req.respond("ok").await,
        "" => {}
        other => tracing::debug!(func = other, "unsupported function; no reply"),
    }
}
