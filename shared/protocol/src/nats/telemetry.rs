//! Agent → server telemetry (agent/checkin.go `NatsMessage`): published on subject `<agent_id>` with the
//! message type in the *reply* field.

use serde::{Deserialize, Deserializer, Serialize};

/// The type tag a telemetry message carries in its reply field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TelemetryKind {
    /// Heartbeat: the only message that keeps an agent online.
    Hello,
    /// Host name, OS, RAM, boot time, logged-in user.
    AgentInfo,
    /// Disk usage.
    Disks,
    /// Windows services (always empty on unix).
    WinSvc,
    /// Public IP.
    PublicIp,
    /// Hardware inventory.
    Wmi,
}

impl TelemetryKind {
    /// Every kind, in the order the agent sends them at start.
    pub const ALL: [TelemetryKind; 6] = [
        TelemetryKind::Hello,
        TelemetryKind::AgentInfo,
        TelemetryKind::Disks,
        TelemetryKind::WinSvc,
        TelemetryKind::PublicIp,
        TelemetryKind::Wmi,
    ];

    /// The reply-field tag.
    pub fn tag(self) -> &'static str {
        match self {
            TelemetryKind::Hello => "agent-hello",
            TelemetryKind::AgentInfo => "agent-agentinfo",
            TelemetryKind::Disks => "agent-disks",
            TelemetryKind::WinSvc => "agent-winsvc",
            TelemetryKind::PublicIp => "agent-publicip",
            TelemetryKind::Wmi => "agent-wmi",
        }
    }

    /// The kind named by a reply field, if it is one.
    pub fn from_tag(tag: &str) -> Option<TelemetryKind> {
        TelemetryKind::ALL.into_iter().find(|k| k.tag() == tag)
    }
}

/// Go decodes nil into an empty slice; so do we.
fn nil_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `agent-hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Sender; must equal the subject.
    pub agent_id: String,
    /// Agent version, e.g. "2.9.1".
    pub version: String,
}

/// `agent-agentinfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Sender; must equal the subject.
    pub agent_id: String,
    /// First logged-in user; `"None"` on Windows and `""` on unix when nobody is logged in.
    pub logged_in_username: String,
    /// Host name.
    pub hostname: String,
    /// OS description.
    pub operating_system: String,
    /// windows, linux or darwin.
    pub plat: String,
    /// GiB of RAM rounded up; a float64 in Go, integral in practice.
    pub total_ram: f64,
    /// Unix seconds.
    pub boot_time: i64,
    /// A reboot is pending.
    pub needs_reboot: bool,
    /// amd64, 386, arm64 or arm.
    pub goarch: String,
}

/// One disk of `agent-disks`; sizes are human-readable strings such as "465.1 GB".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    /// Device or mount.
    pub device: String,
    /// File system type.
    pub fstype: String,
    /// Total size.
    pub total: String,
    /// Used space.
    pub used: String,
    /// Free space.
    pub free: String,
    /// Percent used.
    pub percent: i64,
}

/// `agent-disks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disks {
    /// Sender; must equal the subject.
    pub agent_id: String,
    /// Disks; nil from Go decodes as empty.
    #[serde(deserialize_with = "nil_as_empty")]
    pub disks: Vec<Disk>,
}

/// One Windows service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowsService {
    /// Service name.
    pub name: String,
    /// running, stopped, ...
    pub status: String,
    /// Display name.
    pub display_name: String,
    /// Executable path.
    pub binpath: String,
    /// Description.
    pub description: String,
    /// Account.
    pub username: String,
    /// Process id.
    pub pid: u32,
    /// Boot, System, Automatic, Manual, Disabled, Unknown.
    pub start_type: String,
    /// Delayed auto start.
    pub autodelay: bool,
}

/// `agent-winsvc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WinServices {
    /// Sender; must equal the subject.
    pub agent_id: String,
    /// Services; nil from Go decodes as empty.
    #[serde(deserialize_with = "nil_as_empty")]
    pub services: Vec<WindowsService>,
}

/// `agent-publicip`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicIp {
    /// Sender; must equal the subject.
    pub agent_id: String,
    /// The address, or "error".
    pub public_ip: String,
}

/// `agent-wmi`: Windows WMI groups (arrays of single-element arrays of maps) or the unix keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wmi {
    /// Sender; must equal the subject.
    pub agent_id: String,
    /// Inventory, stored as JSON.
    pub wmi: serde_json::Value,
}

/// A decoded telemetry message.
#[derive(Debug, Clone, PartialEq)]
pub enum Telemetry {
    /// `agent-hello`.
    Hello(Hello),
    /// `agent-agentinfo`.
    AgentInfo(AgentInfo),
    /// `agent-disks`.
    Disks(Disks),
    /// `agent-winsvc`.
    WinSvc(WinServices),
    /// `agent-publicip`.
    PublicIp(PublicIp),
    /// `agent-wmi`.
    Wmi(Wmi),
}

impl Telemetry {
    /// Decodes a payload of the given kind.
    pub fn decode(kind: TelemetryKind, bytes: &[u8]) -> Result<Telemetry, super::CodecError> {
        use super::decode;
        Ok(match kind {
            TelemetryKind::Hello => Telemetry::Hello(decode(bytes)?),
            TelemetryKind::AgentInfo => Telemetry::AgentInfo(decode(bytes)?),
            TelemetryKind::Disks => Telemetry::Disks(decode(bytes)?),
            TelemetryKind::WinSvc => Telemetry::WinSvc(decode(bytes)?),
            TelemetryKind::PublicIp => Telemetry::PublicIp(decode(bytes)?),
            TelemetryKind::Wmi => Telemetry::Wmi(decode(bytes)?),
        })
    }

    /// Encodes the payload (for agents and load generators).
    pub fn encode(&self) -> Result<Vec<u8>, super::CodecError> {
        use super::encode;
        match self {
            Telemetry::Hello(m) => encode(m),
            Telemetry::AgentInfo(m) => encode(m),
            Telemetry::Disks(m) => encode(m),
            Telemetry::WinSvc(m) => encode(m),
            Telemetry::PublicIp(m) => encode(m),
            Telemetry::Wmi(m) => encode(m),
        }
    }

    /// The kind of this message.
    pub fn kind(&self) -> TelemetryKind {
        match self {
            Telemetry::Hello(_) => TelemetryKind::Hello,
            Telemetry::AgentInfo(_) => TelemetryKind::AgentInfo,
            Telemetry::Disks(_) => TelemetryKind::Disks,
            Telemetry::WinSvc(_) => TelemetryKind::WinSvc,
            Telemetry::PublicIp(_) => TelemetryKind::PublicIp,
            Telemetry::Wmi(_) => TelemetryKind::Wmi,
        }
    }

    /// The sender the payload claims to be.
    pub fn agent_id(&self) -> &str {
        match self {
            Telemetry::Hello(m) => &m.agent_id,
            Telemetry::AgentInfo(m) => &m.agent_id,
            Telemetry::Disks(m) => &m.agent_id,
            Telemetry::WinSvc(m) => &m.agent_id,
            Telemetry::PublicIp(m) => &m.agent_id,
            Telemetry::Wmi(m) => &m.agent_id,
        }
    }
}
