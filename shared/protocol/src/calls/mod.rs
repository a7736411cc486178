//! Every server → agent call as one typed enum (agent-protocol.md 2.2–2.3, jobs-and-realtime.md 7).
//!
//! Each call is a type with its arguments and, through [`Call::Reply`], the type of the agent's answer. The
//! msgpack envelope (`NatsMsg`, [`nats::Command`]) is built from an [`AgentCall`] and read back into one here
//! and nowhere else: the gateway, the services that send calls and `trmm-agent` all go through
//! [`AgentCall::encode`] and [`AgentCall::decode`].

/// Calls that carry the arguments of `$inner` (which has `write` and `read`) under their own function name;
/// `timeout` takes the envelope timeout from the arguments.
macro_rules! wrapped_args {
    ($( $(#[$doc:meta])* $name:ident($inner:ident) $(, $timeout:ident)?; )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $name(pub $inner);

            impl Args for $name {
                fn write(self, env: &mut Command) {
                    self.0.write(env);
                }
                fn read(env: Command) -> Result<Self, String> {
                    Ok($name($inner::read(env)))
                }
                $(
                    fn $timeout(&self) -> Option<i64> {
                        Some(self.0.timeout)
                    }
                )?
            }
        )*
    };
}

mod args;
mod replies;
mod run;
mod sched;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use args::*;
pub use replies::*;
pub use run::{RawCmd, RunScript, RunScriptFull, Script};
pub use sched::SchedTaskPayload;

use crate::nats::{self, CodecError, Command};

/// A call and the type of the agent's reply to it.
pub trait Call: Into<AgentCall> + Clone + Send + 'static {
    /// What the agent answers ([`NoReply`] for calls that are only ever published).
    type Reply: DeserializeOwned + Send + 'static;
}

/// Why an envelope is not a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Not msgpack, or a field of the wrong type (the Go agent drops such messages without a reply).
    #[error("undecodable envelope: {0}")]
    Codec(String),
    /// A `func` no agent handles (agents ignore it, so a request would time out).
    #[error("unknown function {0:?}")]
    Unknown(String),
    /// A known function with an argument that cannot be read.
    #[error("invalid {func} call: {reason}")]
    Invalid {
        /// The function.
        func: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl From<CodecError> for CallError {
    fn from(e: CodecError) -> Self {
        CallError::Codec(e.0)
    }
}

/// How a call's arguments sit in the envelope.
trait Args: Sized {
    /// Puts the arguments into `env` (whose `func` and `timeout` are already set).
    fn write(self, env: &mut Command);
    /// Reads the arguments back; missing keys take the Go agent's zero values.
    fn read(env: Command) -> Result<Self, String>;
    /// The envelope `timeout` when the call carries its own (commands and scripts).
    fn timeout(&self) -> Option<i64> {
        None
    }
}

macro_rules! calls {
    ($( $(#[$doc:meta])* $variant:ident = $func:literal, $secs:literal s => $reply:ty; )*) => {
        /// One server → agent call with its arguments.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(into = "Command", try_from = "Command")]
        pub enum AgentCall {
            $( $(#[$doc])* $variant($variant), )*
        }

        impl AgentCall {
            /// Every function name, in the order of the enum.
            pub const FUNCS: &'static [&'static str] = &[$( $func ),*];

            /// The envelope's `func`.
            pub fn func(&self) -> &'static str {
                match self {
                    $( AgentCall::$variant(_) => $func, )*
                }
            }

            /// How long upstream waits for this call's reply (for commands and scripts: their own timeout).
            pub fn default_timeout(&self) -> Duration {
                let secs = match self {
                    $( AgentCall::$variant(args) => args.timeout().unwrap_or($secs), )*
                };
                Duration::from_secs(secs.max(1) as u64)
            }

            /// Reads a decoded envelope.
            pub fn from_envelope(env: Command) -> Result<AgentCall, CallError> {
                match env.func.as_str() {
                    $( $func => <$variant as Args>::read(env)
                        .map(AgentCall::$variant)
                        .map_err(|reason| CallError::Invalid { func: $func, reason }), )*
                    _ => Err(CallError::Unknown(env.func)),
                }
            }

            /// The envelope; `timeout` is always set, because the Go agent treats a missing one as 0 (kill at once).
            pub fn into_envelope(self) -> Command {
                match self {
                    $( AgentCall::$variant(args) => {
                        let mut env = Command::new($func, args.timeout().unwrap_or($secs));
                        args.write(&mut env);
                        env
                    } )*
                }
            }
        }

        $(
            impl Call for $variant {
                type Reply = $reply;
            }

            impl From<$variant> for AgentCall {
                fn from(call: $variant) -> AgentCall {
                    AgentCall::$variant(call)
                }
            }
        )*
    };
}

// Timeouts are upstream's request timeouts for each function (agent-protocol.md 2.2); publish-only calls get 30.
calls! {
    /// Liveness: `"pong"`.
    Ping = "ping", 2 s => String;
    /// Windows automatic updates on or off (never sent by upstream).
    PatchMgmt = "patchmgmt", 10 s => String;
    /// Creates or replaces a Windows scheduled task: `"ok"` or an error text.
    SchedTask = "schedtask", 10 s => String;
    /// Deletes a Windows scheduled task: `"ok"` or an error text.
    DelSchedTask = "delschedtask", 10 s => String;
    /// Names of the Windows scheduled tasks.
    ListSchedTasks = "listschedtasks", 5 s => Vec<String>;
    /// Event log entries, newest first.
    EventLog = "eventlog", 30 s => Vec<EventLogMsg>;
    /// Running processes.
    Procs = "procs", 5 s => Vec<ProcessInfo>;
    /// Ends a process and its children: `"ok"` or an error text.
    KillProc = "killproc", 15 s => String;
    /// A shell command: its output.
    RawCmd = "rawcmd", 30 s => String;
    /// Every service.
    WinServices = "winservices", 10 s => Vec<WindowsService>;
    /// One service.
    WinSvcDetail = "winsvcdetail", 10 s => ServiceDetail;
    /// Starts or stops a service.
    WinSvcAction = "winsvcaction", 32 s => ServiceActionResponse;
    /// Changes a service's start type.
    EditWinSvc = "editwinsvc", 10 s => ServiceActionResponse;
    /// A script: its output as one text.
    RunScript = "runscript", 30 s => String;
    /// A script: stdout, stderr, exit code and run time apart.
    RunScriptFull = "runscriptfull", 30 s => RunScriptResponse;
    /// Restarts the mesh agent (`mode: mesh`): `"ok"`.
    Recover = "recover", 60 s => String;
    /// Installed software.
    SoftwareList = "softwarelist", 15 s => Vec<WinSoftwareList>;
    /// Shuts the machine down after replying `"ok"`.
    Shutdown = "shutdown", 10 s => String;
    /// Reboots the machine after replying `"ok"`.
    RebootNow = "rebootnow", 10 s => String;
    /// Whether a reboot is pending.
    NeedsReboot = "needsreboot", 10 s => bool;
    /// Resends agent info, disks, hardware and public IP, then replies `"ok"`.
    SysInfo = "sysinfo", 20 s => String;
    /// Resends the hardware inventory.
    Wmi = "wmi", 30 s => NoReply;
    /// CPU load over a 10 s sample, in percent.
    CpuLoadAvg = "cpuloadavg", 15 s => i64;
    /// Runs every check now.
    RunChecks = "runchecks", 15 s => RunChecksReply;
    /// Runs an automated task, which reports through the REST API.
    RunTask = "runtask", 30 s => NoReply;
    /// The agent's public IP.
    PublicIp = "publicip", 10 s => String;
    /// Reinstalls the python the agent runs scripts with.
    InstallPython = "installpython", 30 s => NoReply;
    /// Reinstalls nushell.
    InstallNushell = "installnushell", 30 s => NoReply;
    /// Reinstalls deno.
    InstallDeno = "installdeno", 30 s => NoReply;
    /// Installs chocolatey.
    InstallChoco = "installchoco", 30 s => NoReply;
    /// Installs a chocolatey package, reporting to a pending action: `"ok"` at once.
    InstallWithChoco = "installwithchoco", 2 s => String;
    /// Scans for Windows updates and reports them.
    GetWinUpdates = "getwinupdates", 30 s => NoReply;
    /// Installs Windows updates.
    InstallWinUpdates = "installwinupdates", 30 s => NoReply;
    /// Updates the agent itself.
    AgentUpdate = "agentupdate", 30 s => AgentUpdateReply;
    /// Removes the agent: `"ok"`, then it exits.
    Uninstall = "uninstall", 30 s => String;
    /// Opens a terminal session (agents ≥ 2.10).
    TerminalStart = "terminal_start", 30 s => NoReply;
    /// Keystrokes for a terminal session.
    TerminalInput = "terminal_input", 30 s => NoReply;
    /// A terminal session's new size.
    TerminalResize = "terminal_resize", 30 s => NoReply;
    /// Ends a terminal session.
    TerminalKill = "terminal_kill", 30 s => NoReply;
    /// One page of a registry key (agents ≥ 2.10).
    RegistryBrowse = "registry_browse", 30 s => RegistryResult<RegistryListing>;
    /// Creates a registry key.
    RegistryCreateKey = "registry_create_key", 30 s => RegistryResult<RegistryDone>;
    /// Deletes a registry key.
    RegistryDeleteKey = "registry_delete_key", 30 s => RegistryResult<RegistryDone>;
    /// Renames a registry key.
    RegistryRenameKey = "registry_rename_key", 60 s => RegistryResult<RegistryDone>;
    /// Creates a registry value.
    RegistryCreateValue = "registry_create_value", 30 s => RegistryResult<RegistryValue>;
    /// Changes a registry value.
    RegistryModifyValue = "registry_modify_value", 30 s => RegistryResult<RegistryValue>;
    /// Deletes a registry value.
    RegistryDeleteValue = "registry_delete_value", 30 s => RegistryResult<RegistryDone>;
    /// Renames a registry value.
    RegistryRenameValue = "registry_rename_value", 30 s => RegistryResult<RegistryRenamed>;
}

impl AgentCall {
    /// The msgpack envelope the agent decodes.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        nats::encode(&self.clone().into_envelope())
    }

    /// Reads an envelope as the agent receives it.
    pub fn decode(bytes: &[u8]) -> Result<AgentCall, CallError> {
        AgentCall::from_envelope(nats::decode::<Command>(bytes)?)
    }
}

impl From<AgentCall> for Command {
    fn from(call: AgentCall) -> Command {
        call.into_envelope()
    }
}

impl TryFrom<Command> for AgentCall {
    type Error = CallError;

    fn try_from(env: Command) -> Result<AgentCall, CallError> {
        AgentCall::from_envelope(env)
    }
}

/// Decodes an agent's reply to `C`. Go encodes an empty (nil) slice as msgpack nil, which reads as `[]`.
pub fn decode_reply<C: Call>(bytes: &[u8]) -> Result<C::Reply, CodecError> {
    match nats::decode::<C::Reply>(bytes) {
        Err(e) if bytes == [0xc0] => nats::decode::<C::Reply>(&[0x90]).map_err(|_| e),
        other => other,
    }
}
