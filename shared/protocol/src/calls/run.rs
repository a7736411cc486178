//! The arguments of commands and scripts (`rawcmd`, `runscript`, `runscriptfull`) and where they sit in the
//! envelope (agent-protocol.md 2.1, 5.3).

use serde::{Deserialize, Serialize};

use super::args::{put, take};
use super::Args;
use crate::nats::Command;

/// `rawcmd`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawCmd {
    /// The command line.
    pub command: String,
    /// The shell; "" is the agent's default (`/bin/bash`, `cmd` on Windows).
    pub shell: String,
    /// Seconds before the agent kills it.
    pub timeout: i64,
    /// Run as the logged-in user.
    pub run_as_user: bool,
    /// AgentHistory row the agent reports the output to through `histresult`.
    pub history_id: Option<i64>,
    /// With an id, the agent (≥ 2.10) also publishes each line to `<agent_id>.cmdoutput.<id>`.
    pub stream_id: Option<String>,
}

impl Args for RawCmd {
    fn write(self, env: &mut Command) {
        put(env, "command", self.command);
        put(env, "shell", self.shell);
        env.run_as_user = Some(self.run_as_user);
        env.id = self.history_id;
        if let Some(id) = self.stream_id {
            put(env, "cmd_id", id);
            env.stream = Some(true);
        }
    }
    fn read(mut env: Command) -> Result<Self, String> {
        let cmd_id = take(&mut env, "cmd_id");
        Ok(RawCmd {
            command: take(&mut env, "command"),
            shell: take(&mut env, "shell"),
            timeout: env.timeout,
            run_as_user: env.run_as_user.unwrap_or(false),
            history_id: env.id.filter(|&id| id != 0),
            stream_id: (env.stream == Some(true) && !cmd_id.is_empty()).then_some(cmd_id),
        })
    }
    fn timeout(&self) -> Option<i64> {
        Some(self.timeout)
    }
}

/// A script run (`runscript` and `runscriptfull`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// The script body.
    pub code: String,
    /// `powershell`, `cmd`, `python`, `shell`, `nushell` or `deno`.
    pub shell: String,
    /// Seconds before the agent kills it.
    pub timeout: i64,
    /// Arguments.
    pub args: Vec<String>,
    /// `KEY=VALUE` environment.
    pub env_vars: Vec<String>,
    /// Run as the logged-in user.
    pub run_as_user: bool,
    /// AgentHistory row the agent reports the result to through `histresult`.
    pub history_id: Option<i64>,
    /// Let nushell read its config.
    pub nushell_enable_config: bool,
    /// deno permission flags.
    pub deno_default_permissions: String,
}

impl Script {
    fn write(self, env: &mut Command) {
        put(env, "code", self.code);
        put(env, "shell", self.shell);
        // Upstream always sends both lists (agents/models.py run_script).
        env.script_args = Some(self.args);
        env.env_vars = Some(self.env_vars);
        env.run_as_user = Some(self.run_as_user);
        env.id = self.history_id;
        env.nushell_enable_config = Some(self.nushell_enable_config);
        env.deno_default_permissions = Some(self.deno_default_permissions);
    }

    fn read(mut env: Command) -> Script {
        Script {
            code: take(&mut env, "code"),
            shell: take(&mut env, "shell"),
            timeout: env.timeout,
            args: env.script_args.unwrap_or_default(),
            env_vars: env.env_vars.unwrap_or_default(),
            run_as_user: env.run_as_user.unwrap_or(false),
            history_id: env.id.filter(|&id| id != 0),
            nushell_enable_config: env.nushell_enable_config.unwrap_or(false),
            deno_default_permissions: env.deno_default_permissions.unwrap_or_default(),
        }
    }
}

wrapped_args! {
    /// `runscript`: the reply is the output as one text.
    RunScript(Script), timeout;
    /// `runscriptfull`: the reply keeps stdout, stderr and the exit code apart.
    RunScriptFull(Script), timeout;
}
