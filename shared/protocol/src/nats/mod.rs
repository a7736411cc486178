//! Messages carried over NATS (agent-protocol.md sections 1 and 2), all msgpack maps.
//!
//! Decoding accepts every encoding the Go agent's ugorji codec and python's msgpack produce (fixstr, str8,
//! str16, str32, bin for strings; any integer width; nil for empty slices). Encoding uses named maps
//! (`rmp_serde::to_vec_named`), never arrays.

mod command;
mod telemetry;
pub mod ugorji;

pub use command::{Command, ProcessInfo, RunScriptResponse, ServiceActionResponse, StreamChunk, WinSoftwareList};
pub use telemetry::{
    AgentInfo, Disk, Disks, Hello, PublicIp, Telemetry, TelemetryKind, WinServices, WindowsService, Wmi,
};

/// Why a NATS payload could not be decoded or encoded.
#[derive(Debug)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// Decodes a msgpack payload.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    rmp_serde::from_slice(bytes).map_err(|e| CodecError(e.to_string()))
}

/// Encodes a value as a msgpack map keyed by field names.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    rmp_serde::to_vec_named(value).map_err(|e| CodecError(e.to_string()))
}
