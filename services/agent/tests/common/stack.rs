//! The e2e suite's stack (tests/e2e.rs): nats-server with the repository's auth callout config, trmm-nats-api
//! (auth callout, telemetry ingestion, AgentGateway) and trmm-api in-process over one fresh Postgres database, and
//! the real `trmm-agent` binary enrolled through an installer token into a temp dir.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Parser;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::{CancellationToken, DropGuard};
use trmm_agent::config::AgentConfig;
use trmm_testkit::{free_port, redis_url, NatsServer};

use crate::common::{install_args, installer, run_agent, AgentProcess, TestApi, AGENT_BIN};

/// How long a condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `check` until it returns Ok; on timeout fails with `what` and the last Err (the state seen).
pub async fn eventually<T>(what: &str, deadline: Duration, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if start.elapsed() > deadline => panic!("{what}: not within {deadline:?}; last seen: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The whole server side plus one enrolled agent's files.
pub struct Stack {
    pub api: TestApi,
    pub admin: String,
    pub nats: NatsServer,
    /// The in-process AgentGateway (for services started next to the stack, e.g. trmm-worker).
    pub gateway_url: String,
    nats_api_url: String,
    stop: CancellationToken,
    nats_api: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// Set in the environment of `svc`, so its children can be told apart from other tests' processes.
    pub marker: String,
}

impl Stack {
    /// Starts everything, with a 1–2 s agent heartbeat.
    pub async fn start() -> Stack {
        let gateway = format!("127.0.0.1:{}", free_port());
        let api = TestApi::start_full(|s| s.checkin_hello = (1, 2), format!("http://{gateway}")).await;
        let (nats, auth) = NatsServer::start_with_auth().await;
        let listen = format!("127.0.0.1:{}", free_port());
        let mut args: Vec<String> = vec!["trmm-nats-api".into(), "--database-url".into(), api.db.url().into()];
        args.extend(["--nats-url".into(), nats.url(), "--listen".into(), listen.clone()]);
        args.extend(["--gateway-listen".into(), gateway.clone()]);
        args.extend(auth.nats_api_args());
        let config = trmm_nats_api::Config::try_parse_from(args).expect("trmm-nats-api flags");
        let stop = CancellationToken::new();
        let nats_api = Some(tokio::spawn(trmm_nats_api::run(config, stop.clone())));
        let admin = api.admin_token().await;
        let dir = tempfile::tempdir().unwrap();
        let stack = Stack {
            config_path: dir.path().join("etc/agent.json"),
            marker: format!("trmm-e2e-{}", rand::random::<u64>()),
            nats_api_url: format!("http://{listen}"),
            gateway_url: format!("http://{gateway}"),
            api,
            admin,
            nats,
            stop,
            nats_api,
            dir,
        };
        stack.wait_ready().await;
        stack
    }

    /// [`Stack::start`], then [`Stack::install`].
    pub async fn enrolled() -> (Stack, AgentConfig) {
        let stack = Stack::start().await;
        let config = stack.install().await;
        (stack, config)
    }

    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.nats_api_url);
        eventually("trmm-nats-api ready", DEADLINE, async || {
            let resp = reqwest::get(&url).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            (status == StatusCode::OK).then_some(()).ok_or(body)
        })
        .await;
    }

    /// Enrolls an agent through a fresh installer token (`install --no-service`, config in the temp dir).
    pub async fn install(&self) -> AgentConfig {
        let (client, site, token) = installer(&self.api, &self.admin).await;
        self.install_at(&self.config_path, client, site, &token).await
    }

    /// Enrolls an agent into `client`/`site` with the installer `token`, its config at `config`. Agents of one
    /// stack share the unit, script and reboot-marker paths of the temp dir, as agents on one machine would.
    pub async fn install_at(&self, config: &Path, client: i64, site: i64, token: &str) -> AgentConfig {
        let path = |p: &str| self.dir.path().join(p).display().to_string();
        let (client, site) = (client.to_string(), site.to_string());
        let extra = [
            "--nats-url",
            &self.nats.url(),
            "--config",
            &config.display().to_string(),
            "--systemd-dir",
            &path("systemd"),
            "--script-dir",
            &path("scripts"),
            "--reboot-command",
            &format!("touch {}", path("rebooted")),
            "--no-service",
            "--no-public-ip",
        ];
        let args = install_args(&self.api.url, &client, &site, "server", token, &extra);
        let (status, stderr) = run_agent(&args, self.dir.path()).await;
        assert!(status.success(), "install failed: {stderr}");
        assert!(stderr.contains("initial check-in sent"), "{stderr}");
        AgentConfig::load(config).unwrap()
    }

    /// Starts `trmm-agent svc --config <config>`; its log goes to `<dir>/<config file stem>.svc.log`.
    pub fn spawn_svc(&self, config: &Path) -> AgentProcess {
        let stem = config.file_stem().unwrap().to_string_lossy();
        let log = self.dir.path().join(format!("{stem}.svc.log"));
        AgentProcess::svc(Path::new(AGENT_BIN), config, log, &[("TRMM_E2E_MARKER", &self.marker)])
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        match self.api.get(path, &self.admin).await {
            (StatusCode::OK, body) => Ok(body),
            (status, body) => Err(format!("GET {path}: {status} {body}")),
        }
    }

    /// GET /agents/<id>/ping/ answers `online`.
    pub async fn ping(&self, agent_id: &str) -> Result<(), String> {
        let body = self.get(&format!("/agents/{agent_id}/ping/")).await?;
        (body["status"] == "online").then_some(()).ok_or(body.to_string())
    }

    /// `last_seen` as GET /agents/<id>/ shows it.
    pub async fn last_seen(&self, agent_id: &str) -> Result<DateTime<Utc>, String> {
        let detail = self.get(&format!("/agents/{agent_id}/")).await?;
        let text = detail["last_seen"]
            .as_str()
            .ok_or(format!("no last_seen in {detail}"))?;
        Ok(DateTime::parse_from_rfc3339(text).map_err(|e| e.to_string())?.to_utc())
    }

    /// Waits until a heartbeat received after `since` is in Postgres and shown by the API.
    pub async fn heartbeat_after(&self, agent_id: &str, since: DateTime<Utc>, what: &str) -> DateTime<Utc> {
        eventually(what, DEADLINE, async || match self.last_seen(agent_id).await? {
            seen if seen > since => Ok(seen),
            seen => Err(format!("last_seen {seen}, waiting for one after {since}")),
        })
        .await
    }

    /// A counter of trmm-nats-api's /metrics, e.g. `trmm_telemetry_received_total{kind="hello"}`.
    pub async fn metric(&self, series: &str) -> f64 {
        let url = format!("{}/metrics", self.nats_api_url);
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
    }

    pub async fn history_results(&self, agent_pk: i64, command: &str) -> Option<String> {
        let conn = self.api.db.pool().get().await.unwrap();
        let sql = "SELECT results FROM agent_history WHERE agent_pk = $1 AND command = $2";
        let row = conn.query_one(sql, &[&(agent_pk as i32), &command]).await.unwrap();
        row.get(0)
    }

    /// Stops trmm-nats-api and checks that it shut down cleanly.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let task = self.nats_api.take().unwrap();
        let result = tokio::time::timeout(DEADLINE, task)
            .await
            .expect("trmm-nats-api did not stop");
        result.unwrap().expect("trmm-nats-api failed");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
        if std::thread::panicking() {
            let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
            for log in std::fs::read_dir(self.dir.path()).into_iter().flatten().flatten() {
                if log.file_name().to_string_lossy().ends_with(".svc.log") {
                    eprintln!("--- {} ---\n{}", log.file_name().to_string_lossy(), read(log.path()));
                }
            }
            eprintln!("--- nats-server log ---\n{}", read(self.nats.dir().join("nats.log")));
        }
    }
}

/// trmm-worker in-process next to the stack, with `extra` flags; it stops when the guard is dropped.
#[allow(dead_code)] // e2e.rs runs no worker
pub fn start_worker(stack: &Stack, extra: &[&str]) -> DropGuard {
    let listen = format!("127.0.0.1:{}", free_port());
    let args = [
        "trmm-worker",
        "--database-url",
        stack.api.db.url(),
        "--redis-url",
        &redis_url(),
        "--redis-prefix",
        stack.api.redis.prefix(),
        "--gateway-url",
        &stack.gateway_url,
        "--listen",
        &listen,
        "--secret-key",
        trmm_testkit::SECRET_KEY,
    ];
    let config = trmm_worker::Config::try_parse_from(args.iter().chain(extra)).expect("trmm-worker flags");
    let stop = CancellationToken::new();
    tokio::spawn(trmm_worker::run(config, stop.clone()));
    stop.drop_guard()
}

/// Processes started by this test's agent (found by the marker in their environment) running `argv`.
pub fn marked_processes(marker: &str, argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| [a.as_bytes(), b"\0"].concat()).collect();
    let needle = format!("TRMM_E2E_MARKER={marker}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}
