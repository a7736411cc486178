//! Command line: `trmm-agent install|svc|uninstall`. Every flag can also come from its `TRMM_AGENT_*`
//! environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    DEFAULT_CONFIG_PATH, DEFAULT_JOURNALCTL, DEFAULT_PUBLIC_IP_URLS, DEFAULT_REBOOT_COMMAND, DEFAULT_SHUTDOWN_COMMAND,
    DEFAULT_SYSTEMCTL,
};
use crate::service::DEFAULT_SYSTEMD_DIR;

/// Tactical RMM endpoint agent.
#[derive(Debug, Parser)]
#[command(name = "trmm-agent", version = crate::VERSION, about)]
pub struct Cli {
    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `debug,async_nats=info`.
    #[arg(long = "log", env = "TRMM_AGENT_LOG", default_value = "info", global = true)]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll this machine with a Tactical RMM server, write the config and install the service.
    Install(Box<InstallArgs>),
    /// Run the agent service: NATS connection, telemetry, commands and the check loop.
    Svc(SvcArgs),
    /// Stop and remove the service and delete the config.
    Uninstall(UninstallArgs),
}

/// How the server monitors this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentType {
    /// A server (alerts by default).
    Server,
    /// A workstation.
    Workstation,
}

impl AgentType {
    /// The `monitoring_type` value the server expects.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentType::Server => "server",
            AgentType::Workstation => "workstation",
        }
    }
}

/// `trmm-agent install`.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Base URL of the Tactical RMM API, e.g. `https://api.example.com` (as in the generated install command).
    #[arg(long, env = "TRMM_AGENT_API")]
    pub api: String,
    /// Client id from the install command (must be non-zero; the server does not use it).
    #[arg(long, env = "TRMM_AGENT_CLIENT_ID")]
    pub client_id: i64,
    /// Site id from the install command; the agent is registered in this site.
    #[arg(long, env = "TRMM_AGENT_SITE_ID")]
    pub site_id: i64,
    /// Monitoring type of this machine.
    #[arg(long, env = "TRMM_AGENT_TYPE", value_enum)]
    pub agent_type: AgentType,
    /// Installer token from the install command (`--auth`); it is only used during enrollment.
    #[arg(long, env = "TRMM_AGENT_AUTH", hide_env_values = true)]
    pub auth: String,
    /// NATS URL the agent connects to; default `nats://<api host>:4222`.
    #[arg(long, env = "TRMM_AGENT_NATS_URL")]
    pub nats_url: Option<String>,
    /// Where to write the agent config (JSON, mode 0600).
    #[arg(long, env = "TRMM_AGENT_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Description shown in the dashboard.
    #[arg(long, env = "TRMM_AGENT_DESC", default_value = "")]
    pub desc: String,
    /// Directory the systemd unit file is written to.
    #[arg(long, env = "TRMM_AGENT_SYSTEMD_DIR", default_value = DEFAULT_SYSTEMD_DIR)]
    pub systemd_dir: PathBuf,
    /// Write the unit file but do not run systemctl (containers, tests, manual service management).
    #[arg(long, env = "TRMM_AGENT_NO_SERVICE")]
    pub no_service: bool,
    /// Command run by the `rebootnow` function (through `/bin/sh -c`).
    #[arg(long, env = "TRMM_AGENT_REBOOT_COMMAND", default_value = DEFAULT_REBOOT_COMMAND)]
    pub reboot_command: String,
    /// Command run by the `shutdown` function (through `/bin/sh -c`).
    #[arg(long, env = "TRMM_AGENT_SHUTDOWN_COMMAND", default_value = DEFAULT_SHUTDOWN_COMMAND)]
    pub shutdown_command: String,
    /// Comma-separated URLs asked for this machine's public IP, in order.
    #[arg(long, env = "TRMM_AGENT_PUBLIC_IP_URLS", value_delimiter = ',', default_values_t = DEFAULT_PUBLIC_IP_URLS.map(String::from))]
    pub public_ip_urls: Vec<String>,
    /// Directory for scripts while they run (must allow execution); default: the agent binary's directory.
    #[arg(long, env = "TRMM_AGENT_SCRIPT_DIR")]
    pub script_dir: Option<PathBuf>,
    /// systemctl used to list, start, stop and restart services and by winsvc checks (a name is looked up on PATH).
    #[arg(long, env = "TRMM_AGENT_SYSTEMCTL", default_value = DEFAULT_SYSTEMCTL)]
    pub systemctl: PathBuf,
    /// journalctl eventlog checks read the journal with (a name is looked up on PATH).
    #[arg(long, env = "TRMM_AGENT_JOURNALCTL", default_value = DEFAULT_JOURNALCTL)]
    pub journalctl: PathBuf,
    /// Never look up the public IP (reported as "error", as upstream does when the lookup fails).
    #[arg(long, env = "TRMM_AGENT_NO_PUBLIC_IP")]
    pub no_public_ip: bool,
}

/// `trmm-agent svc`.
#[derive(Debug, Clone, Args)]
pub struct SvcArgs {
    /// Agent config written by `trmm-agent install`.
    #[arg(long, env = "TRMM_AGENT_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
}

/// `trmm-agent uninstall`.
#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    /// Agent config to delete.
    #[arg(long, env = "TRMM_AGENT_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Directory holding the systemd unit file.
    #[arg(long, env = "TRMM_AGENT_SYSTEMD_DIR", default_value = DEFAULT_SYSTEMD_DIR)]
    pub systemd_dir: PathBuf,
    /// Only delete files; do not run systemctl.
    #[arg(long, env = "TRMM_AGENT_NO_SERVICE")]
    pub no_service: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent_and_every_flag_has_help_and_env() {
        Cli::command().debug_assert();
        for sub in Cli::command().get_subcommands() {
            for arg in sub.get_arguments() {
                if arg.get_id() == "help" || arg.get_id() == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{} lacks help", arg.get_id());
                assert!(arg.get_env().is_some(), "{} lacks env", arg.get_id());
            }
        }
    }

    #[test]
    fn install_defaults() {
        let cli = Cli::try_parse_from([
            "trmm-agent",
            "install",
            "--api",
            "https://rmm.example.com",
            "--client-id",
            "1",
            "--site-id",
            "2",
            "--agent-type",
            "server",
            "--auth",
            "tok",
        ])
        .unwrap();
        let Command::Install(args) = cli.command else {
            panic!("not install")
        };
        assert_eq!(args.config, PathBuf::from(DEFAULT_CONFIG_PATH));
        assert_eq!(args.public_ip_urls.len(), 3);
        assert!(!args.no_service);
        assert_eq!(args.agent_type.as_str(), "server");
    }
}
