//! `trmm-agent install` and `uninstall` against a real trmm-api, Postgres and nats-server.

mod common;

use std::time::Duration;

use common::{collect_until, install_args, run_agent, Fixture, TestApi};
use reqwest::Method;
use trmm_protocol::nats::{Telemetry, TelemetryKind};

#[tokio::test]
async fn install_enrolls_writes_a_private_config_and_the_unit() {
    let fx = Fixture::enrolled(&["--desc", "rack 4", "--no-public-ip"]).await;

    // Config: 0600, with the token and a Go-style agent id.
    let meta = std::fs::metadata(&fx.config_path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&fx.config_path).unwrap()).unwrap();
    assert_eq!(raw["agent_id"].as_str().unwrap().len(), 40);
    assert!(raw["agent_id"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_alphabetic()));
    assert_eq!(raw["token"].as_str().unwrap().len(), 40);
    assert!(raw["agent_pk"].as_i64().unwrap() > 0);
    assert_eq!(raw["nats_url"], fx.nats.url());
    assert_eq!(raw["public_ip_enabled"], false);
    assert_eq!(raw["manage_service"], false);

    // The agent is registered with the dashboard.
    let (status, agents) = fx.api.call(Method::GET, "/agents/", Some(&fx.admin), None).await;
    assert!(status.is_success(), "{agents}");
    let listed = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_id"] == fx.agent_id())
        .unwrap_or_else(|| panic!("agent not listed: {agents}"));
    assert_eq!(listed["plat"], "linux");
    assert_eq!(listed["description"], "rack 4");

    // The unit file runs this binary's svc with the config, restarting forever.
    let unit = std::fs::read_to_string(fx.systemd_dir.join("trmm-agent.service")).unwrap();
    assert!(
        unit.contains(&format!("svc --config {}", fx.config_path.display())),
        "{unit}"
    );
    assert!(
        unit.contains("Restart=always") && unit.contains("RestartSec=5s"),
        "{unit}"
    );
    assert!(unit.contains(&format!("ExecStart={}", common::AGENT_BIN)), "{unit}");

    // The agent's token works on its REST endpoints.
    let (status, cfg) = fx
        .api
        .call(
            Method::GET,
            &format!("/api/v3/{}/config/", fx.agent_id()),
            Some(&fx.config.token),
            None,
        )
        .await;
    assert!(status.is_success(), "{cfg}");
    assert!(cfg["checkin_hello"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn install_checks_in_once_over_nats() {
    let api = TestApi::start().await;
    let nats = trmm_testkit::NatsServer::start().await;
    let watcher = async_nats::connect(nats.url()).await.unwrap();
    let mut all = trmm_testkit::subscribe_live(&watcher, "*", "probe").await;
    let admin = api.admin_token().await;
    let (client, site, installer) = common::installer(&api, &admin).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.json");
    let (client, site) = (client.to_string(), site.to_string());
    let extra = [
        "--nats-url",
        &nats.url(),
        "--no-service",
        "--no-public-ip",
        "--config",
        &config.display().to_string(),
        "--systemd-dir",
        &dir.path().join("units").display().to_string(),
    ];
    let args = install_args(&api.url, &client, &site, "workstation", &installer, &extra);
    let (status, stderr) = run_agent(&args, dir.path()).await;
    assert!(status.success(), "{stderr}");

    let msgs = collect_until(&mut all, Duration::from_secs(10), |m| m.len() >= 6).await;
    let tags: Vec<&str> = msgs.iter().map(|m| m.reply.as_deref().unwrap_or("")).collect();
    assert_eq!(
        tags,
        TelemetryKind::ALL.map(TelemetryKind::tag),
        "the Go agent's check-in order"
    );
    let agent_id = trmm_agent::config::AgentConfig::load(&config).unwrap().agent_id;
    for msg in &msgs {
        assert_eq!(msg.subject.as_str(), agent_id);
        let kind = TelemetryKind::from_tag(msg.reply.as_deref().unwrap()).unwrap();
        let decoded = Telemetry::decode(kind, &msg.payload).unwrap();
        assert_eq!(decoded.agent_id(), agent_id);
        if let Telemetry::PublicIp(p) = decoded {
            assert_eq!(p.public_ip, "error", "lookup disabled");
        }
    }
}

#[tokio::test]
async fn install_with_a_bad_installer_token_fails_and_writes_nothing() {
    let api = TestApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.json");
    let extra = [
        "--no-service",
        "--config",
        &config.display().to_string(),
        "--systemd-dir",
        &dir.path().display().to_string(),
    ];
    let args = install_args(&api.url, "1", "1", "server", "not-a-token", &extra);
    let (status, stderr) = run_agent(&args, dir.path()).await;
    assert!(!status.success());
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!config.exists());
    assert!(!dir.path().join("trmm-agent.service").exists());
}

#[tokio::test]
async fn uninstall_no_service_removes_config_and_unit_even_when_nats_was_down() {
    // Nothing listens on this port: enrollment must still succeed, with a warning.
    let unused = format!("nats://127.0.0.1:{}", trmm_testkit::free_port());
    let fx = Fixture::enrolled(&["--nats-url", &unused, "--no-public-ip"]).await;
    assert_eq!(fx.config.nats_url, unused);
    let unit = fx.systemd_dir.join("trmm-agent.service");
    assert!(unit.exists() && fx.config_path.exists());

    let args: Vec<String> = [
        "uninstall",
        "--no-service",
        "--config",
        &fx.config_path.display().to_string(),
        "--systemd-dir",
        &fx.systemd_dir.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (status, stderr) = run_agent(&args, fx.dir.path()).await;
    assert!(status.success(), "{stderr}");
    assert!(!unit.exists());
    assert!(!fx.config_path.exists());
}
