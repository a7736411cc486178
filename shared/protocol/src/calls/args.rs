//! The arguments of each call and where they sit in the envelope (agent-protocol.md 2.1, 2.3).

use serde::{Deserialize, Serialize};

use super::sched::SchedTaskPayload;
use super::Args;
use crate::nats::Command;

/// A payload value, or "" when absent (the Go agent reads a missing map key as the zero value).
pub(super) fn take(env: &mut Command, key: &str) -> String {
    env.payload.remove(key).unwrap_or_default()
}

/// A payload value that holds a number as text; absent or empty is 0.
fn number<T: std::str::FromStr + Default>(env: &mut Command, key: &str) -> Result<T, String> {
    let text = take(env, key);
    if text.is_empty() {
        return Ok(T::default());
    }
    text.parse()
        .map_err(|_| format!("payload.{key} is not a number: {text:?}"))
}

pub(super) fn put(env: &mut Command, key: &str, value: impl Into<String>) {
    env.payload.insert(key.to_owned(), value.into());
}

/// Calls without arguments.
macro_rules! no_args {
    ($( $(#[$doc:meta])* $name:ident; )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $name;

            impl Args for $name {
                fn write(self, _: &mut Command) {}
                fn read(_: Command) -> Result<Self, String> {
                    Ok($name)
                }
            }
        )*
    };
}

no_args! {
    /// `ping`.
    Ping;
    /// `listschedtasks`.
    ListSchedTasks;
    /// `procs`.
    Procs;
    /// `winservices`.
    WinServices;
    /// `softwarelist`.
    SoftwareList;
    /// `shutdown`.
    Shutdown;
    /// `rebootnow`.
    RebootNow;
    /// `needsreboot`.
    NeedsReboot;
    /// `sysinfo`.
    SysInfo;
    /// `wmi`.
    Wmi;
    /// `cpuloadavg`.
    CpuLoadAvg;
    /// `runchecks`.
    RunChecks;
    /// `publicip`.
    PublicIp;
    /// `installpython`.
    InstallPython;
    /// `installnushell`.
    InstallNushell;
    /// `installdeno`.
    InstallDeno;
    /// `installchoco`.
    InstallChoco;
    /// `getwinupdates`.
    GetWinUpdates;
}

/// Calls whose one argument is one field of the envelope (`in` names it); absent reads as the zero value.
macro_rules! envelope_field_args {
    ($( $(#[$attr:meta])* $name:ident { $(#[$fdoc:meta])* $field:ident: $ty:ty } in $env_field:ident; )*) => {
        $(
            $(#[$attr])*
            #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $name {
                $(#[$fdoc])*
                pub $field: $ty,
            }

            impl Args for $name {
                fn write(self, env: &mut Command) {
                    env.$env_field = Some(self.$field);
                }
                fn read(env: Command) -> Result<Self, String> {
                    Ok($name { $field: env.$env_field.unwrap_or_default() })
                }
            }
        )*
    };
}

/// A value that travels in the payload as text: strings as they are, numbers in decimal.
trait PayloadText: Sized {
    fn into_text(self) -> String;
    fn from_payload(env: &mut Command, key: &str) -> Result<Self, String>;
}

impl PayloadText for String {
    fn into_text(self) -> String {
        self
    }
    fn from_payload(env: &mut Command, key: &str) -> Result<Self, String> {
        Ok(take(env, key))
    }
}

macro_rules! numeric_payload_text {
    ($($ty:ty),*) => {$(
        impl PayloadText for $ty {
            fn into_text(self) -> String {
                self.to_string()
            }
            fn from_payload(env: &mut Command, key: &str) -> Result<Self, String> {
                number(env, key)
            }
        }
    )*};
}

numeric_payload_text!(u16, u32);

/// The type of a payload field: `String` unless given.
macro_rules! payload_type {
    () => {
        String
    };
    ($ty:ty) => {
        $ty
    };
}

/// Calls whose arguments are payload values (strings unless a type is given in parentheses), in declaration order.
macro_rules! payload_args {
    ($( $(#[$doc:meta])* $name:ident {
        $( $(#[$fdoc:meta])* $field:ident $(($ty:ty))? : $key:literal ),* $(,)?
    } )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $name {
                $( $(#[$fdoc])* pub $field: payload_type!($($ty)?), )*
            }

            impl Args for $name {
                fn write(self, env: &mut Command) {
                    $( put(env, $key, self.$field.into_text()); )*
                }
                fn read(mut env: Command) -> Result<Self, String> {
                    Ok($name { $( $field: PayloadText::from_payload(&mut env, $key)?, )* })
                }
            }
        )*
    };
}

payload_args! {
    /// `winsvcdetail`.
    WinSvcDetail { /// Service name.
        name: "name" }
    /// `winsvcaction`: `action` is `start` or `stop` (restart is stop, then start, by the server).
    WinSvcAction { /// Service name.
        name: "name", /// `start` or `stop`.
        action: "action" }
    /// `editwinsvc`.
    EditWinSvc { /// Service name.
        name: "name", /// `auto`, `autodelay`, `manual` or `disabled`.
        start_type: "startType" }
    /// `recover`: `mode` is `mesh` (restart the mesh agent) or `tacagent`.
    Recover { /// `mesh` or `tacagent`.
        mode: "mode" }
    /// `agentupdate`.
    AgentUpdate { /// Download URL of the new agent.
        url: "url", /// Its version.
        version: "version", /// Windows installer file name.
        inno: "inno" }
    /// `terminal_input`.
    TerminalInput { /// The session.
        session_id: "session_id", /// What was typed.
        data: "data" }
    /// `terminal_kill`.
    TerminalKill { /// The session.
        session_id: "session_id" }
    /// `registry_create_key`.
    RegistryCreateKey { /// Full key path.
        path: "path" }
    /// `registry_delete_key`.
    RegistryDeleteKey { /// Full key path.
        path: "path" }
    /// `registry_rename_key`.
    RegistryRenameKey { /// Current path.
        old_path: "old_path", /// New path.
        new_path: "new_path" }
    /// `registry_delete_value`.
    RegistryDeleteValue { /// Key path.
        path: "path", /// Value name.
        name: "name" }
    /// `registry_rename_value`.
    RegistryRenameValue { /// Key path.
        path: "path", /// Current name.
        old_name: "old_name", /// New name.
        new_name: "new_name" }
    /// `registry_browse`: one page of a key.
    RegistryBrowse { /// Key path.
        path: "path", /// Page number.
        page (u32): "page", /// Entries per page.
        page_size (u32): "page_size" }
    /// `terminal_resize`; rows and cols travel as text.
    TerminalResize { /// The session.
        session_id: "session_id", /// Rows.
        rows (u16): "rows", /// Columns.
        cols (u16): "cols" }
}

/// `registry_create_value` and `registry_modify_value` arguments. `data` travels as text (numbers in decimal,
/// multi-strings one per line), which keeps the payload decodable by agents that read it as `map[string]string`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryValueArgs {
    /// Key path.
    pub path: String,
    /// `REG_SZ`, `REG_DWORD`, ...
    pub value_type: String,
    /// Value name.
    pub name: String,
    /// The value.
    pub data: String,
}

impl RegistryValueArgs {
    fn write(self, env: &mut Command) {
        put(env, "path", self.path);
        put(env, "type", self.value_type);
        put(env, "name", self.name);
        put(env, "data", self.data);
    }

    fn read(mut env: Command) -> RegistryValueArgs {
        RegistryValueArgs {
            path: take(&mut env, "path"),
            value_type: take(&mut env, "type"),
            name: take(&mut env, "name"),
            data: take(&mut env, "data"),
        }
    }
}

wrapped_args! {
    /// `registry_create_value`.
    RegistryCreateValue(RegistryValueArgs);
    /// `registry_modify_value`.
    RegistryModifyValue(RegistryValueArgs);
}

/// `terminal_start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalStart {
    /// A new uuid naming the session; output goes to `<agent_id>.terminal.<session_id>`.
    pub session_id: String,
    /// `cmd`, `powershell`, `bash` or an absolute path.
    pub shell: String,
    /// Run as the logged-in user.
    pub run_as_user: bool,
}

impl Args for TerminalStart {
    fn write(self, env: &mut Command) {
        put(env, "session_id", self.session_id);
        put(env, "shell", self.shell);
        env.run_as_user = Some(self.run_as_user);
    }
    fn read(mut env: Command) -> Result<Self, String> {
        Ok(TerminalStart {
            session_id: take(&mut env, "session_id"),
            shell: take(&mut env, "shell"),
            run_as_user: env.run_as_user.unwrap_or(false),
        })
    }
}

/// `eventlog`: `days` 0 means every entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLog {
    /// `Application`, `System` or `Security`.
    pub logname: String,
    /// How many days back.
    pub days: u32,
}

impl EventLog {
    /// Upstream's envelope timeout: reading the Security log takes longer (agents/views.py get_event_log).
    fn secs(&self) -> i64 {
        if self.logname == "Security" {
            180
        } else {
            30
        }
    }
}

impl Args for EventLog {
    fn write(self, env: &mut Command) {
        put(env, "logname", self.logname);
        put(env, "days", self.days.to_string());
    }
    fn read(mut env: Command) -> Result<Self, String> {
        Ok(EventLog {
            logname: take(&mut env, "logname"),
            days: number(&mut env, "days")?,
        })
    }
    fn timeout(&self) -> Option<i64> {
        Some(self.secs())
    }
}

envelope_field_args! {
    /// `killproc`.
    #[derive(Copy)]
    KillProc { /// The process.
        pid: i32 } in procpid;
    /// `runtask`.
    #[derive(Copy)]
    RunTask { /// The AutomatedTask.
        task_pk: i64 } in taskpk;
    /// `patchmgmt`.
    #[derive(Copy)]
    PatchMgmt { /// Windows automatic updates off (true sets AUOptions to 1).
        enabled: bool } in patch_mgmt;
    /// `installwinupdates`.
    InstallWinUpdates { /// Update ids.
        guids: Vec<String> } in guids;
    /// `uninstall`.
    Uninstall { /// Windows: any text; Linux: the whole uninstall script, which the agent runs with the argument
        /// `uninstall`.
        code: String } in code;
}

/// `schedtask`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedTask(pub SchedTaskPayload);

impl Args for SchedTask {
    fn write(self, env: &mut Command) {
        env.schedtaskpayload = Some(self.0);
    }
    fn read(env: Command) -> Result<Self, String> {
        env.schedtaskpayload
            .map(SchedTask)
            .ok_or_else(|| "schedtaskpayload is missing".to_owned())
    }
}

/// `delschedtask`: only the task's name is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelSchedTask {
    /// The scheduled task's name.
    pub name: String,
}

impl Args for DelSchedTask {
    fn write(self, env: &mut Command) {
        env.schedtaskpayload = Some(SchedTaskPayload {
            name: self.name,
            ..SchedTaskPayload::default()
        });
    }
    fn read(env: Command) -> Result<Self, String> {
        Ok(DelSchedTask {
            name: env.schedtaskpayload.map(|t| t.name).unwrap_or_default(),
        })
    }
}

/// `installwithchoco`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallWithChoco {
    /// The chocolatey package.
    pub name: String,
    /// The pending action the result is reported to.
    pub pending_action_pk: i64,
}

impl Args for InstallWithChoco {
    fn write(self, env: &mut Command) {
        env.choco_prog_name = Some(self.name);
        env.pending_action_pk = Some(self.pending_action_pk);
    }
    fn read(env: Command) -> Result<Self, String> {
        Ok(InstallWithChoco {
            name: env.choco_prog_name.unwrap_or_default(),
            pending_action_pk: env.pending_action_pk.unwrap_or(0),
        })
    }
}
