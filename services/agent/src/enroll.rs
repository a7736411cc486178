//! `trmm-agent install`: enrollment exactly as the Go agent's `install.go` does it (agent-protocol.md 3.8),
//! then the config file, a one-shot NATS check-in and the systemd unit.

use anyhow::{bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_protocol::nats::TelemetryKind;
use trmm_protocol::rest::{NewAgentRequest, NewAgentResponse};

use crate::api::{Api, ApiError};
use crate::cli::InstallArgs;
use crate::config::{default_nats_url, AgentConfig, DEFAULT_MESH_AGENT, DEFAULT_PUBLIC_IPV4_URL};
use crate::telemetry;

/// Enrolls, writes the config, checks in once and installs the service; returns the written config.
pub async fn install(args: &InstallArgs) -> anyhow::Result<AgentConfig> {
    if args.client_id == 0 || args.site_id == 0 {
        bail!("--client-id and --site-id are required and must be non-zero; copy them from the install command");
    }
    if args.auth.trim().is_empty() {
        bail!("--auth is empty; copy the installer token from the install command");
    }
    let config_path =
        std::path::absolute(&args.config).with_context(|| format!("Failed to resolve {}", args.config.display()))?;
    if config_path.exists() {
        bail!(
            "{} already exists: this machine is enrolled. Run `trmm-agent uninstall` first to re-install",
            config_path.display()
        );
    }
    let api_url = args.api.trim_end_matches('/').to_owned();
    let nats_url = match &args.nats_url {
        Some(url) => url.clone(),
        None => default_nats_url(&api_url)?,
    };
    let installer = Api::new(&api_url, args.auth.trim())?;

    // Upstream treats only 401 as fatal here.
    match installer.get::<Value>("/api/v3/installer/").await {
        Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => {
            bail!("The installer token was rejected (401): it is wrong or expired; generate a new install command in the dashboard")
        }
        Err(e @ ApiError::Transport { .. }) => {
            return Err(e).with_context(|| format!("Failed to reach the API at {api_url}; check --api"));
        }
        Err(e) => tracing::debug!(error = %e, "installer probe answered unexpectedly; continuing"),
        Ok(_) => {}
    }
    installer
        .send(Method::POST, "/api/v3/installer/", &json!({"version": crate::VERSION}))
        .await
        .context("The server refused this agent's installer version")?;

    let agent_id = trmm_auth::generate_agent_id();
    let hostname = telemetry::info::hostname();
    let body = NewAgentRequest {
        agent_id: agent_id.clone(),
        hostname: hostname.clone(),
        site: i32::try_from(args.site_id).context("--site-id is out of range")?,
        monitoring_type: args.agent_type.as_str().to_owned(),
        mesh_node_id: String::new(),
        description: args.desc.clone(),
        goarch: crate::goarch().to_owned(),
        plat: crate::PLAT.to_owned(),
    };
    let registered: NewAgentResponse = installer
        .post("/api/v3/newagent/", &body)
        .await
        .context("Failed to register the agent")?;
    tracing::info!(%agent_id, pk = registered.pk, %hostname, "agent registered");

    let config = AgentConfig {
        api_url,
        agent_id,
        agent_pk: i64::from(registered.pk),
        token: registered.token,
        nats_url,
        reboot_command: args.reboot_command.clone(),
        shutdown_command: args.shutdown_command.clone(),
        public_ip_urls: args.public_ip_urls.clone(),
        public_ipv4_url: DEFAULT_PUBLIC_IPV4_URL.to_owned(),
        public_ip_timeout_secs: 4,
        public_ip_enabled: !args.no_public_ip,
        systemd_dir: args.systemd_dir.clone(),
        manage_service: !args.no_service,
        mesh_agent: DEFAULT_MESH_AGENT.into(),
        script_dir: args.script_dir.clone(),
        systemctl: args.systemctl.clone(),
        journalctl: args.journalctl.clone(),
    };
    config.save(&config_path)?;
    tracing::info!(path = %config_path.display(), "config written");

    if let Err(e) = check_in_once(&config).await {
        tracing::warn!(
            error = format!("{e:#}"),
            "initial NATS check-in failed; the service will keep retrying"
        );
    }

    let exe = std::env::current_exe().context("Failed to find this program's path for the unit file")?;
    let unit = crate::service::write_unit(&args.systemd_dir, &exe, &config_path)?;
    tracing::info!(path = %unit.display(), "unit file written");
    if !args.no_service {
        crate::service::enable_and_start()
            .await
            .context("Failed to start the service (the agent is enrolled; fix systemd and run `systemctl enable --now trmm-agent`)")?;
        tracing::info!("service enabled and started");
    }
    Ok(config)
}

/// Connects, publishes the six check-in messages and closes (Go `DoNatsCheckIn`).
pub async fn check_in_once(config: &AgentConfig) -> anyhow::Result<()> {
    let client = crate::nats::connect_once(config).await?;
    for kind in TelemetryKind::ALL {
        let message = telemetry::collect(kind, config)
            .await
            .with_context(|| format!("Failed to collect {}", kind.tag()))?;
        crate::nats::publish_telemetry(&client, &message).await?;
    }
    client.flush().await.context("Failed to flush the check-in")?;
    tracing::info!("initial check-in sent");
    Ok(())
}
