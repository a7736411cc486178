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
use trmm_protocol::calls::{
    AgentCall, CallError, EventLogMsg, KillProc, RunChecksReply, RunScript, RunScriptFull, ServiceActionResponse,
};
use trmm_protocol::nats::{self, TelemetryKind};

use crate::svc::Agent;
use crate::telemetry::{self, publicip};

/// How long a reply may take to leave before a disruptive action (reboot, uninstall) goes ahead.
const FLUSH_BEFORE_ACTION: Duration = Duration::from_secs(5);

/// One received call and where to answer it.
pub struct Request {
    /// The running agent.
    pub agent: Arc<Agent>,
    /// The call's function, for logs.
    pub func: &'static str,
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
                tracing::error!(func = self.func, error = %e, "cannot encode the reply");
                return;
            }
        };
        if let Err(e) = self.agent.nats.publish(reply, bytes.into()).await {
            tracing::warn!(func = self.func, error = %e, "reply not sent");
        }
    }

    /// Waits (bounded) until everything published so far has left, e.g. the reply before a reboot.
    pub async fn flush(&self) {
        if tokio::time::timeout(FLUSH_BEFORE_ACTION, self.agent.nats.flush())
            .await
            .is_err()
        {
            tracing::warn!(func = self.func, "reply may not have reached the server");
        }
    }
}

/// Handles one message from the command subject.
pub async fn handle(agent: Arc<Agent>, msg: async_nats::Message) {
    // Our own telemetry carries its type tag as reply; it is never a command.
    if msg.reply.as_ref().is_some_and(|r| TelemetryKind::from_tag(r).is_some()) {
        return;
    }
    // Like the Go agent: an undecodable message or an unknown function gets no reply.
    let call = match AgentCall::decode(&msg.payload) {
        Ok(call) => call,
        Err(CallError::Unknown(func)) => {
            tracing::debug!(func, "unsupported function; no reply");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, bytes = msg.payload.len(), "undecodable command ignored");
            return;
        }
    };
    tracing::debug!(func = call.func(), "command received");
    let req = Request {
        agent,
        func: call.func(),
        reply: msg.reply,
    };
    dispatch(req, call).await;
}

async fn dispatch(req: Request, call: AgentCall) {
    let agent = req.agent.clone();
    match call {
        AgentCall::Ping(_) => req.respond("pong").await,
        AgentCall::RawCmd(cmd) => rawcmd::handle(&req, cmd).await,
        AgentCall::RunScript(RunScript(script)) => script::handle(&req, script, false).await,
        AgentCall::RunScriptFull(RunScriptFull(script)) => script::handle(&req, script, true).await,
        AgentCall::SysInfo(_) => {
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
        AgentCall::Wmi(_) => telemetry::send(&agent.nats, &agent.config, TelemetryKind::Wmi).await,
        AgentCall::Procs(_) => {
            let list = tokio::task::spawn_blocking(procs::list).await.unwrap_or_default();
            req.respond(&list).await;
        }
        AgentCall::KillProc(KillProc { pid }) => {
            let result = tokio::task::spawn_blocking(move || procs::kill(pid)).await;
            match result {
                Ok(Ok(())) => req.respond("ok").await,
                Ok(Err(e)) => req.respond(&e).await,
                Err(e) => req.respond(&e.to_string()).await,
            }
        }
        AgentCall::RunChecks(_) => match crate::checks::try_start(&agent.checks_running) {
            Some(guard) => {
                req.respond(&RunChecksReply::Ok).await;
                crate::checks::runner::run_started(&agent, true, guard).await;
            }
            None => req.respond(&RunChecksReply::Busy).await,
        },
        AgentCall::RebootNow(_) => system::power_action(&req, &agent.config.reboot_command).await,
        AgentCall::Shutdown(_) => system::power_action(&req, &agent.config.shutdown_command).await,
        AgentCall::Recover(recover) => {
            if recover.mode == "mesh" {
                crate::mesh::recover(&agent).await;
            }
            req.respond("ok").await;
        }
        AgentCall::Uninstall(_) => system::uninstall(&req).await,
        AgentCall::PublicIp(_) => req.respond(&publicip::lookup(&agent.config).await).await,
        AgentCall::NeedsReboot(_) => {
            let needs = tokio::task::spawn_blocking(telemetry::info::needs_reboot)
                .await
                .unwrap_or(false);
            req.respond(&needs).await;
        }
        AgentCall::CpuLoadAvg(_) => {
            let Some(percent) = system::cpu_load(&agent.shutdown, system::CPU_SAMPLE).await else {
                return;
            };
            req.respond(&percent).await;
        }
        AgentCall::SoftwareList(_) => req.respond(&software::list().await).await,
        AgentCall::WinServices(_) => {
            let list = services::list(&agent.config.systemctl).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "service list unavailable");
                Vec::new()
            });
            req.respond(&list).await;
        }
        AgentCall::WinSvcDetail(svc) => {
            req.respond(&services::detail(&agent.config.systemctl, &svc.name).await)
                .await;
        }
        AgentCall::WinSvcAction(svc) => {
            let reply = services::action(&agent.config.systemctl, &svc.name, &svc.action).await;
            req.respond(&reply).await;
        }
        // Windows-only functions: the Go agent's unix stubs answer with empty results.
        AgentCall::ListSchedTasks(_) => req.respond(&Vec::<String>::new()).await,
        AgentCall::EventLog(_) => req.respond(&Vec::<EventLogMsg>::new()).await,
        // Start types are a Windows notion; systemd's enable/disable is left to scripts.
        AgentCall::EditWinSvc(_) => {
            req.respond(&ServiceActionResponse {
                success: false,
                errormsg: "/na".into(),
            })
            .await;
        }
        AgentCall::SchedTask(_) => req.respond("Something went wrong").await,
        AgentCall::DelSchedTask(_) => req.respond("ok").await,
        // Not (yet) implemented on Linux: no reply, as the Go agent for functions it lacks.
        other => tracing::debug!(func = other.func(), "unsupported function; no reply"),
    }
}
