//! The agent's persisted configuration: a JSON file (mode 0600, it holds the agent token) written at
//! enrollment and read by `svc` and `uninstall`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Default config location.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/trmm-agent/agent.json";
/// Default command of the `rebootnow` function.
pub const DEFAULT_REBOOT_COMMAND: &str = "systemctl reboot";
/// Default command of the `shutdown` function.
pub const DEFAULT_SHUTDOWN_COMMAND: &str = "systemctl poweroff";
/// The Go agent's public IP services, asked in this order.
pub const DEFAULT_PUBLIC_IP_URLS: [&str; 3] = [
    "https://icanhazip.tacticalrmm.io/",
    "https://icanhazip.com",
    "https://ifconfig.co/ip",
];
/// Asked for an IPv4 address when the first answer was IPv6 (Go agent `PublicIP`).
pub const DEFAULT_PUBLIC_IPV4_URL: &str = "https://ifconfig.me/ip";
/// Default systemctl used for the service list and start/stop/restart (looked up on PATH).
pub const DEFAULT_SYSTEMCTL: &str = "systemctl";
/// Default journalctl behind the eventlog check (looked up on PATH).
pub const DEFAULT_JOURNALCTL: &str = "journalctl";
/// Default location of the MeshCentral agent on Linux.
pub const DEFAULT_MESH_AGENT: &str = "/opt/tacticalmesh/meshagent";

/// Contents of the config file. Everything after `nats_url` has a default, so hand-written files may omit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Base URL of the API, `scheme://host[:port]`.
    pub api_url: String,
    /// 40 ASCII letters chosen at enrollment: NATS user, subject and URL segment.
    pub agent_id: String,
    /// Integer key the server assigned.
    pub agent_pk: i64,
    /// Agent token: HTTP `Authorization: Token` and NATS password.
    pub token: String,
    /// NATS server URL.
    pub nats_url: String,
    /// Shell command run by `rebootnow`.
    #[serde(default = "default_reboot")]
    pub reboot_command: String,
    /// Shell command run by `shutdown`.
    #[serde(default = "default_shutdown")]
    pub shutdown_command: String,
    /// Public IP services, asked in order.
    #[serde(default = "default_public_ip_urls")]
    pub public_ip_urls: Vec<String>,
    /// Asked when the answer was IPv6.
    #[serde(default = "default_public_ipv4_url")]
    pub public_ipv4_url: String,
    /// Timeout of each public IP request.
    #[serde(default = "default_public_ip_timeout")]
    pub public_ip_timeout_secs: u64,
    /// Off: report "error" without asking anyone.
    #[serde(default = "default_true")]
    pub public_ip_enabled: bool,
    /// Where the unit file lives, for uninstall.
    #[serde(default = "default_systemd_dir")]
    pub systemd_dir: PathBuf,
    /// Whether uninstall runs systemctl (false when installed with `--no-service`).
    #[serde(default = "default_true")]
    pub manage_service: bool,
    /// MeshCentral agent binary, for `-nodeid` and `recover`.
    #[serde(default = "default_mesh_agent")]
    pub mesh_agent: PathBuf,
    /// Where scripts are written before they run; None: next to the agent binary, as the Go agent does.
    #[serde(default)]
    pub script_dir: Option<PathBuf>,
    /// systemctl binary behind `winservices`/`winsvcaction`, the `agent-winsvc` telemetry and winsvc checks.
    #[serde(default = "default_systemctl")]
    pub systemctl: PathBuf,
    /// journalctl binary eventlog checks read the journal with.
    #[serde(default = "default_journalctl")]
    pub journalctl: PathBuf,
}

fn default_reboot() -> String {
    DEFAULT_REBOOT_COMMAND.to_owned()
}

fn default_shutdown() -> String {
    DEFAULT_SHUTDOWN_COMMAND.to_owned()
}

fn default_public_ip_urls() -> Vec<String> {
    DEFAULT_PUBLIC_IP_URLS.map(String::from).to_vec()
}

fn default_public_ipv4_url() -> String {
    DEFAULT_PUBLIC_IPV4_URL.to_owned()
}

fn default_public_ip_timeout() -> u64 {
    4
}

fn default_true() -> bool {
    true
}

fn default_systemd_dir() -> PathBuf {
    PathBuf::from(crate::service::DEFAULT_SYSTEMD_DIR)
}

fn default_systemctl() -> PathBuf {
    PathBuf::from(DEFAULT_SYSTEMCTL)
}

fn default_journalctl() -> PathBuf {
    PathBuf::from(DEFAULT_JOURNALCTL)
}

fn default_mesh_agent() -> PathBuf {
    PathBuf::from(DEFAULT_MESH_AGENT)
}

impl AgentConfig {
    /// Reads and validates the config file.
    pub fn load(path: &Path) -> anyhow::Result<AgentConfig> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "Failed to read the agent config {}; enroll first with `trmm-agent install` or pass --config",
                path.display()
            )
        })?;
        let config: AgentConfig = serde_json::from_str(&text)
            .with_context(|| format!("Failed to parse the agent config {}", path.display()))?;
        if config.agent_id.is_empty() || config.token.is_empty() {
            bail!(
                "The agent config {} has no agent_id or token; re-run `trmm-agent install`",
                path.display()
            );
        }
        Ok(config)
    }

    /// Writes the config atomically with mode 0600, creating the parent directory.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
        let mut text = serde_json::to_string_pretty(self).context("Failed to encode the config")?;
        text.push('\n');
        let tmp = path.with_extension("json.tmp");
        let mut file = private_file(&tmp).with_context(|| format!("Failed to create {}", tmp.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("Failed to write {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("Failed to move {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A leftover temp file keeps its old mode; the token must never be readable by others.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// `nats://<api host>:4222`, the default NATS URL for an API base URL.
pub fn default_nats_url(api_url: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(api_url)
        .with_context(|| format!("--api {api_url:?} is not a URL like https://api.example.com"))?;
    let host = url
        .host_str()
        .with_context(|| format!("--api {api_url:?} has no host"))?;
    Ok(format!("nats://{host}:4222"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AgentConfig {
        AgentConfig {
            api_url: "https://api.example.com".into(),
            agent_id: "a".repeat(40),
            agent_pk: 3,
            token: "f".repeat(40),
            nats_url: "nats://api.example.com:4222".into(),
            reboot_command: default_reboot(),
            shutdown_command: default_shutdown(),
            public_ip_urls: default_public_ip_urls(),
            public_ipv4_url: default_public_ipv4_url(),
            public_ip_timeout_secs: 4,
            public_ip_enabled: true,
            systemd_dir: default_systemd_dir(),
            manage_service: true,
            mesh_agent: default_mesh_agent(),
            script_dir: None,
            systemctl: default_systemctl(),
            journalctl: default_journalctl(),
        }
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let text = r#"{"api_url":"https://x","agent_id":"abc","agent_pk":1,"token":"t","nats_url":"nats://x:4222"}"#;
        let cfg: AgentConfig = serde_json::from_str(text).unwrap();
        assert_eq!(cfg.reboot_command, "systemctl reboot");
        assert_eq!(cfg.shutdown_command, "systemctl poweroff");
        assert_eq!(cfg.public_ip_urls.len(), 3);
        assert_eq!(cfg.public_ip_timeout_secs, 4);
        assert!(cfg.public_ip_enabled && cfg.manage_service);
        assert_eq!(cfg.systemctl, PathBuf::from("systemctl"));
        assert_eq!(cfg.journalctl, PathBuf::from("journalctl"));
    }

    #[test]
    fn save_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/agent.json");
        sample().save(&path).unwrap();
        assert_eq!(AgentConfig::load(&path).unwrap(), sample());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn nats_url_drops_the_api_port() {
        assert_eq!(
            default_nats_url("https://rmm.example.com:8443/").unwrap(),
            "nats://rmm.example.com:4222"
        );
        assert!(default_nats_url("not a url").is_err());
    }
}
