//! trmm-agent: the Tactical RMM endpoint agent. It enrolls through the installer endpoints, then holds a
//! NATS connection as `user=<agent_id>, password=<token>`, publishes telemetry and answers commands with the
//! same wire shapes as the Go agent 2.9.1 (../../shared/reference/agent-protocol.md).

pub mod api;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod enroll;
pub mod mesh;
pub mod nats;
pub mod service;
pub mod svc;
pub mod telemetry;

/// Version reported to the server (installer check and `agent-hello`). At least the server's minimum
/// installer version, and ≥ 2.10.0 so the server sends streaming `rawcmd`.
pub const VERSION: &str = "2.10.0";

/// The platform name the server expects (`plat`, Go's GOOS).
pub const PLAT: &str = if cfg!(target_os = "windows") {
    "windows"
} else if cfg!(target_os = "macos") {
    "darwin"
} else {
    "linux"
};

/// Go's GOARCH for this build (`goarch` in registration and `agent-agentinfo`).
pub fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}
