//! Reply shapes that only server → agent calls use (agent-protocol.md 2.2–2.3, 4.5).

use serde::{Deserialize, Serialize};

pub use crate::nats::{ProcessInfo, RunScriptResponse, ServiceActionResponse, WinSoftwareList, WindowsService};

/// The reply type of calls that are only ever published: nothing can be decoded as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoReply {}

/// `winsvcdetail`: one service as the agent reports it (a `WindowsService`); the record is passed on as sent,
/// so fields an agent leaves out stay out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDetail {
    /// Service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// running, stopped, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Executable path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binpath: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Boot, System, Automatic, Manual, Disabled, Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_type: Option<String>,
    /// Delayed auto start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autodelay: Option<bool>,
}

/// `runchecks`: the checks started, or a run is already going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunChecksReply {
    /// Started.
    Ok,
    /// Already running (Windows agents).
    Busy,
}

/// `agentupdate`: the update started, or one is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentUpdateReply {
    /// Started.
    #[serde(rename = "ok")]
    Ok,
    /// Already running.
    #[serde(rename = "updaterunning")]
    UpdateRunning,
}

/// One event log entry (`EventLogMsg`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLogMsg {
    /// Event source.
    pub source: String,
    /// INFO, WARNING, ERROR, SUCCESS, AUDIT_SUCCESS, AUDIT_FAILURE or Unknown.
    #[serde(rename = "eventType")]
    pub event_type: String,
    /// Event id (low 16 bits).
    #[serde(rename = "eventID")]
    pub event_id: u32,
    /// Message text.
    pub message: String,
    /// Go `time.Time.String()` of the local time.
    pub time: String,
    /// 1-based index.
    pub uid: i64,
}

/// A registry reply: a map with an `error` key is a failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RegistryResult<T> {
    /// The agent could not do it.
    Failed {
        /// Why.
        error: String,
    },
    /// Done.
    Done(T),
}

/// A registry reply whose content beyond "no error" is not used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryDone {}

/// Registry value data as agents report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RegistryData {
    /// REG_DWORD, REG_QWORD.
    Number(i64),
    /// REG_SZ, REG_EXPAND_SZ.
    Text(String),
    /// REG_MULTI_SZ.
    Lines(Vec<String>),
    /// REG_BINARY.
    Bytes(Vec<u8>),
}

/// One registry value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryValue {
    /// Value name.
    pub name: String,
    /// `REG_SZ`, `REG_DWORD`, ...
    #[serde(rename = "type")]
    pub value_type: String,
    /// The data.
    pub data: RegistryData,
}

/// `registry_browse`: one page of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryListing {
    /// The key.
    pub path: String,
    /// Subkey names.
    #[serde(default)]
    pub subkeys: Vec<String>,
    /// Values.
    #[serde(default)]
    pub values: Vec<RegistryValue>,
    /// More entries on a later page.
    #[serde(default)]
    pub has_more: bool,
}

/// `registry_rename_value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRenamed {
    /// The value's new name.
    pub new_name: String,
}
