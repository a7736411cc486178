//! A shell command as the dashboard asks for it: `POST /agents/<id>/cmd/`, a bulk command and the command
//! websocket apply the same rules (Tactical RMM agents/views.py `send_raw_cmd`) and record the run the same way.

use serde_json::{json, Value};
use trmm_db::agents::AgentRef;
use trmm_db::audit::{self, AuditEntry};
use trmm_db::history::{self, HistoryType};
use trmm_db::{DbError, GenericClient};
use trmm_jobs::{QueuedRun, QueuedShown};
use trmm_protocol::calls::RawCmd;

use crate::queue::{Delivered, Ops};
use crate::{record, OpsError};

/// Longest command timeout accepted, in seconds.
pub const MAX_TIMEOUT: i64 = 3600;
/// Seconds the server waits beyond the agent-side timeout (upstream waits `timeout + 2`).
pub const REPLY_GRACE: i64 = 2;

/// How long to wait for the reply of a command that may run `timeout` seconds.
pub fn reply_wait(timeout: i64) -> std::time::Duration {
    std::time::Duration::from_secs((timeout + REPLY_GRACE).max(1) as u64)
}

/// Why a command request is refused; each service words it in its own protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// No command.
    #[error("cmd may not be blank.")]
    Blank,
    /// The timeout is out of range.
    #[error("Timeout must be between 1 and {MAX_TIMEOUT} seconds.")]
    Timeout,
    /// No shell, or `custom` without a path.
    #[error("A shell is required.")]
    NoShell,
}

impl CmdError {
    /// The request field at fault.
    pub fn field(self) -> &'static str {
        match self {
            CmdError::Blank => "cmd",
            CmdError::Timeout => "timeout",
            CmdError::NoShell => "shell",
        }
    }

    /// The message as a DRF field error.
    pub fn field_message(self) -> String {
        match self {
            CmdError::Blank => "This field may not be blank.".to_owned(),
            other => other.to_string(),
        }
    }
}

/// A command request's fields.
#[derive(Debug, Clone, Copy)]
pub struct CmdRequest<'a> {
    /// The command line.
    pub cmd: &'a str,
    /// A shell, or `custom` for `custom_shell`.
    pub shell: &'a str,
    /// The path of a custom shell.
    pub custom_shell: Option<&'a str>,
    /// Seconds the agent may take.
    pub timeout: i64,
    /// Run as the logged-in user.
    pub run_as_user: bool,
}

impl CmdRequest<'_> {
    /// The call the request asks for, not yet tied to a history row.
    pub fn check(&self) -> Result<RawCmd, CmdError> {
        if self.cmd.trim().is_empty() {
            return Err(CmdError::Blank);
        }
        if !(1..=MAX_TIMEOUT).contains(&self.timeout) {
            return Err(CmdError::Timeout);
        }
        // Upstream: "custom" means the path in custom_shell.
        let shell = match (self.shell.trim(), self.custom_shell.map(str::trim)) {
            ("custom", Some(path)) if !path.is_empty() => path,
            ("" | "custom", _) => return Err(CmdError::NoShell),
            (shell, _) => shell,
        };
        Ok(RawCmd {
            command: self.cmd.to_owned(),
            shell: shell.to_owned(),
            timeout: self.timeout,
            run_as_user: self.run_as_user,
            ..RawCmd::default()
        })
    }
}

/// Records a command about to run on `agent`: its `cmd_run` history row and its `execute_command` audit row
/// (`origin`: the request's ip, method and url). Returns the call with the history id the agent reports to.
pub async fn begin(
    db: &impl GenericClient,
    agent: &AgentRef,
    username: &str,
    origin: Value,
    call: RawCmd,
) -> Result<RawCmd, DbError> {
    let hist = history::create(db, agent.pk, HistoryType::CmdRun, &call.command, username).await?;
    let entry = AuditEntry {
        username,
        agent: Some(&agent.hostname),
        agent_id: Some(&agent.agent_id),
        action: "execute_command",
        object_type: "agent",
        before_value: None,
        after_value: Some(json!({ "cmd": call.command, "shell": call.shell, "timeout": call.timeout })),
        message: format!(
            "{username} issued {} command on {}: {}",
            call.shell, agent.hostname, call.command
        ),
        debug_info: Some(origin),
        ..AuditEntry::default()
    };
    audit::insert(db, &entry).await?;
    Ok(RawCmd {
        history_id: Some(hist),
        ..call
    })
}

impl Ops {
    /// Sends a command [`begin`] recorded and stores its output; an offline agent's command is queued instead
    /// when `queue_if_offline`.
    pub async fn run_command(
        &self,
        agent: &AgentRef,
        call: RawCmd,
        queue_if_offline: bool,
    ) -> Result<Delivered<String>, OpsError> {
        let hist = call.history_id.unwrap_or_default();
        let queued = queue_if_offline.then(|| {
            let (cmd, shell) = (call.command.clone(), call.shell.clone());
            let timeout = call.timeout + REPLY_GRACE;
            move |command| QueuedRun {
                history_id: hist,
                timeout,
                description: format!("Run command: {cmd}"),
                command,
                shown: QueuedShown::Command { cmd, shell },
            }
        });
        let wait = reply_wait(call.timeout);
        let delivered = self.call_or_queue(agent, call, wait, queued).await?;
        if let Delivered::Done(output) = &delivered {
            record::text(&self.conn().await?, &self.events, hist, agent.pk, output).await?;
        }
        Ok(delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cmd: &str, shell: &str, custom_shell: Option<&str>, timeout: i64) -> Result<RawCmd, CmdError> {
        CmdRequest {
            cmd,
            shell,
            custom_shell,
            timeout,
            run_as_user: false,
        }
        .check()
    }

    #[test]
    fn one_rule_for_every_command() {
        let ok = request("uptime", "/bin/bash", None, 30).unwrap();
        assert_eq!(
            (ok.command.as_str(), ok.shell.as_str(), ok.timeout),
            ("uptime", "/bin/bash", 30)
        );
        assert_eq!(
            request("ls", "custom", Some(" /bin/zsh "), 5).unwrap().shell,
            "/bin/zsh"
        );
        assert_eq!(request(" ", "cmd", None, 30), Err(CmdError::Blank));
        assert_eq!(request("ls", "cmd", None, 0), Err(CmdError::Timeout));
        assert_eq!(request("ls", "cmd", None, MAX_TIMEOUT + 1), Err(CmdError::Timeout));
        assert_eq!(request("ls", "", None, 30), Err(CmdError::NoShell));
        assert_eq!(request("ls", "custom", Some(" "), 30), Err(CmdError::NoShell));
        assert_eq!(CmdError::Blank.field_message(), "This field may not be blank.");
        assert_eq!(CmdError::Timeout.field(), "timeout");
    }
}
