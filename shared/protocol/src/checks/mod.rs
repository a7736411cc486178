//! Checks on the wire (agent-protocol.md 3.4 and 3.5): the definitions the server hands out from
//! `GET /api/v3/<agent_id>/checkrunner/` and `…/runchecks/`, and the result bodies the agent sends back with
//! `PATCH /api/v3/checkrunner/`. A result body carries no check type: the server reads it as the type of the
//! check its `id` names ([`CheckReport::parse`]).

use serde::{Deserialize, Serialize};

/// Tactical RMM's `CheckType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    /// Free space on one disk (Windows drive letter or mount point).
    Diskspace,
    /// ICMP echo to a host.
    Ping,
    /// CPU load percent.
    Cpuload,
    /// Memory used percent.
    Memory,
    /// A Windows service (a systemd unit on Linux).
    Winsvc,
    /// A script whose return code decides.
    Script,
    /// Event log entries (journald on Linux).
    Eventlog,
    /// A type this build does not know; the Go agent skips such checks and so does trmm-agent.
    #[serde(other)]
    Unknown,
}

impl CheckType {
    /// Every type the server accepts, as stored.
    pub const ALL: [CheckType; 7] = [
        Self::Diskspace,
        Self::Ping,
        Self::Cpuload,
        Self::Memory,
        Self::Winsvc,
        Self::Script,
        Self::Eventlog,
    ];

    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Diskspace => "diskspace",
            Self::Ping => "ping",
            Self::Cpuload => "cpuload",
            Self::Memory => "memory",
            Self::Winsvc => "winsvc",
            Self::Script => "script",
            Self::Eventlog => "eventlog",
            Self::Unknown => "unknown",
        }
    }

    /// The type named by a stored string, if the server knows it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether each result decides its own severity (upstream `CheckResult.alert_severity`); the other types
    /// use the check's static `alert_severity`.
    pub fn has_dynamic_severity(self) -> bool {
        matches!(self, Self::Diskspace | Self::Cpuload | Self::Memory | Self::Script)
    }
}

/// Tactical RMM's `AlertSeverity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Warning.
    Warning,
    /// Error.
    Error,
}

impl Severity {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }

    /// The severity named by a stored string.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Info, Self::Warning, Self::Error]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Tactical RMM's `CheckStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Last result was fine.
    Passing,
    /// Last result failed.
    Failing,
    /// No result yet.
    Pending,
}

impl CheckStatus {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passing => "passing",
            Self::Failing => "failing",
            Self::Pending => "pending",
        }
    }

    /// The status named by a stored string.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Passing, Self::Failing, Self::Pending]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The script of a script check (upstream `ScriptCheckSerializer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckScript {
    /// Body with snippets expanded.
    pub code: String,
    /// Interpreter (`shell`, `python`, `powershell`, …).
    pub shell: String,
    /// Run as the logged-in user (Windows).
    #[serde(default)]
    pub run_as_user: bool,
    /// The script's own environment; the agent uses the check's `env_vars` instead.
    #[serde(default)]
    pub env_vars: Vec<String>,
    /// Unused HMAC of the body, kept for the shape.
    #[serde(default)]
    pub script_hash: Option<String>,
}

/// One check as `checkrunner/` hands it out (upstream `CheckRunnerGetSerializer`: every Check field but the
/// alerting and audit ones). Thresholds and return-code lists travel too; the agent ignores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDefinition {
    /// Check id, echoed back in the result.
    pub id: i32,
    /// Owning agent's integer key (null for a policy check).
    #[serde(default)]
    pub agent: Option<i32>,
    /// What to run.
    pub check_type: CheckType,
    /// Run interval in seconds (0 = the agent's).
    #[serde(default)]
    pub run_interval: i32,
    /// Static severity (ping, winsvc, eventlog).
    #[serde(default)]
    pub alert_severity: Option<Severity>,
    /// Warning threshold (% free for disks, % used for cpu/memory).
    #[serde(default)]
    pub warning_threshold: Option<i32>,
    /// Error threshold.
    #[serde(default)]
    pub error_threshold: Option<i32>,
    /// Disk (`C:` or a mount point).
    #[serde(default)]
    pub disk: Option<String>,
    /// Ping target.
    #[serde(default)]
    pub ip: Option<String>,
    /// Script of a script check.
    #[serde(default)]
    pub script: Option<CheckScript>,
    /// Script arguments, templated per agent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub script_args: Vec<String>,
    /// `KEY=VALUE` environment, templated per agent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub env_vars: Vec<String>,
    /// Return codes meaning info.
    #[serde(default, deserialize_with = "null_as_default")]
    pub info_return_codes: Vec<i64>,
    /// Return codes meaning warning.
    #[serde(default, deserialize_with = "null_as_default")]
    pub warning_return_codes: Vec<i64>,
    /// Return codes meaning success.
    #[serde(default, deserialize_with = "null_as_default")]
    pub success_return_codes: Vec<i64>,
    /// Script timeout in seconds.
    #[serde(default)]
    pub timeout: Option<i32>,
    /// Service (unit) name.
    #[serde(default)]
    pub svc_name: Option<String>,
    /// A service still starting passes.
    #[serde(default)]
    pub pass_if_start_pending: Option<bool>,
    /// A missing service passes.
    #[serde(default)]
    pub pass_if_svc_not_exist: bool,
    /// Start a stopped service.
    #[serde(default)]
    pub restart_if_stopped: Option<bool>,
    /// `Application`, `System` or `Security`.
    #[serde(default)]
    pub log_name: Option<String>,
    /// Event id (0 with the wildcard).
    #[serde(default)]
    pub event_id: Option<i32>,
    /// Any event id matches.
    #[serde(default)]
    pub event_id_is_wildcard: bool,
    /// `INFO`, `WARNING`, `ERROR`, `AUDIT_SUCCESS`, `AUDIT_FAILURE`.
    #[serde(default)]
    pub event_type: Option<String>,
    /// Substring of the event source.
    #[serde(default)]
    pub event_source: Option<String>,
    /// Substring of the event message.
    #[serde(default)]
    pub event_message: Option<String>,
    /// `contains` or `not_contains`.
    #[serde(default)]
    pub fail_when: Option<String>,
    /// How many days back to search.
    #[serde(default)]
    pub search_last_days: Option<i32>,
    /// Matches needed to decide.
    #[serde(default)]
    pub number_of_events_b4_alert: Option<i32>,
    /// Whether the check comes from a policy.
    #[serde(default)]
    pub managed_by_policy: bool,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET /api/v3/<agent_id>/checkrunner/` and `…/runchecks/` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRunnerResponse {
    /// Integer agent key.
    pub agent: i32,
    /// Seconds until the next check run.
    pub check_interval: i32,
    /// The checks to run now.
    pub checks: Vec<CheckDefinition>,
}

/// `diskspace` result (Go `DiskCheckResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskResult {
    /// "Total: 465.1 GB, Free: 120.0 GB", or "Disk X does not exist".
    #[serde(default)]
    pub more_info: String,
    /// Used percent.
    #[serde(default)]
    pub percent_used: f64,
    /// Whether the disk exists.
    pub exists: bool,
}

/// `cpuload` and `memory` result (Go `CPUMemResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PercentResult {
    /// Percent used.
    pub percent: i32,
}

/// `ping`, and `winsvc` result: the agent decides the status (Go `PingCheckResponse`, `WinSvcCheckResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResult {
    /// `passing` or `failing`.
    pub status: String,
    /// Ping output (`ping` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// "Status: running" (`winsvc` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
}

/// `script` result (Go `ScriptCheckResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptResult {
    /// Standard output.
    #[serde(default)]
    pub stdout: String,
    /// Standard error.
    #[serde(default)]
    pub stderr: String,
    /// Exit code.
    pub retcode: i64,
    /// Seconds the script ran.
    #[serde(default)]
    pub runtime: f64,
}

/// One event (Go `EventLogMsg`, agent-protocol.md 4.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLogMsg {
    /// Event source (the journald unit or identifier on Linux).
    #[serde(default)]
    pub source: String,
    /// `INFO`, `WARNING`, `ERROR`, `SUCCESS`, `AUDIT_SUCCESS`, `AUDIT_FAILURE`, `Unknown`.
    #[serde(rename = "eventType", default)]
    pub event_type: String,
    /// Event id (low 16 bits).
    #[serde(rename = "eventID", default)]
    pub event_id: u32,
    /// Message text.
    #[serde(default)]
    pub message: String,
    /// When it happened, as text.
    #[serde(default)]
    pub time: String,
    /// 1-based index.
    #[serde(default)]
    pub uid: i64,
}

/// `eventlog` result (Go `EventLogCheckResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLogResult {
    /// The matching events (Go sends `null` for none in old builds).
    #[serde(default, deserialize_with = "null_as_default")]
    pub log: Vec<EventLogMsg>,
}

/// The envelope of every result body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reported<T> {
    /// Check id.
    pub id: i64,
    /// Reporting agent.
    pub agent_id: String,
    /// The type's fields.
    #[serde(flatten)]
    pub result: T,
}

/// A result body read as its check's type. Sent as `Reported<CheckReport>`: the variant's fields beside `id` and
/// `agent_id`, with no tag, as the Go agent sends them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CheckReport {
    /// `diskspace`.
    Disk(DiskResult),
    /// `cpuload` or `memory`.
    Percent(PercentResult),
    /// `ping`.
    Ping(StatusResult),
    /// `winsvc`.
    Service(StatusResult),
    /// `script`.
    Script(ScriptResult),
    /// `eventlog`.
    EventLog(EventLogResult),
}

impl CheckReport {
    /// Reads a `PATCH /api/v3/checkrunner/` body as the result of a check of type `check_type`.
    pub fn parse(check_type: CheckType, body: &[u8]) -> Result<Self, serde_json::Error> {
        fn read<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
            serde_json::from_slice(body)
        }
        Ok(match check_type {
            CheckType::Diskspace => Self::Disk(read(body)?),
            CheckType::Cpuload | CheckType::Memory => Self::Percent(read(body)?),
            CheckType::Ping => Self::Ping(read(body)?),
            CheckType::Winsvc => Self::Service(read(body)?),
            CheckType::Script => Self::Script(read(body)?),
            CheckType::Eventlog => Self::EventLog(read(body)?),
            CheckType::Unknown => {
                return Err(serde::de::Error::custom(
                    "the check has a type the server does not know",
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests;
