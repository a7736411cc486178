//! Harness for trmm-agent tests: a real trmm-api in-process over a fresh Postgres database, a real
//! nats-server, and the real `trmm-agent` binary enrolled into a temp dir (never real systemd).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use trmm_agent::config::AgentConfig;
use trmm_protocol::nats::{encode, Command};
use trmm_testkit::NatsServer;

#[allow(unused_imports)] // each test binary uses a different subset
pub use trmm_api::testing::{wait_until, TestApi, ADMIN};

pub const AGENT_BIN: &str = env!("CARGO_BIN_EXE_trmm-agent");

/// Creates a client with one site and an installer for it; returns (client, site, installer token).
pub async fn installer(api: &TestApi, admin: &str) -> (i64, i64, String) {
    let (client, site) = api.client_with_site(admin, "Acme", "HQ").await;
    (client, site, api.installer_token(admin, client, site).await)
}

/// Pids whose command line is exactly `argv`.
pub fn processes_running(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

/// `trmm-agent install` arguments enrolling an agent of `agent_type` into `client`/`site` through `api` with the
/// installer `token`, followed by `extra`.
pub fn install_args(api: &str, client: &str, site: &str, agent_type: &str, token: &str, extra: &[&str]) -> Vec<String> {
    let enrollment = ["install", "--api", api, "--client-id", client, "--site-id", site];
    let kind = ["--agent-type", agent_type, "--auth", token];
    [&enrollment[..], &kind, extra]
        .concat()
        .into_iter()
        .map(String::from)
        .collect()
}

pub const SECS_5: Duration = Duration::from_secs(5);
pub const SECS_30: Duration = Duration::from_secs(30);

/// An enrolled agent (no public IP lookup) whose `svc` answers pings, and a NATS client to talk to it.
pub async fn running() -> (Fixture, AgentProcess, async_nats::Client) {
    let fx = Fixture::enrolled(&["--no-public-ip"]).await;
    let agent = fx.spawn_svc();
    let client = fx.client().await;
    wait_for_ping(&client, fx.agent_id(), SECS_30).await;
    (fx, agent, client)
}

/// API + NATS + an enrolled agent config in a temp dir.
pub struct Fixture {
    pub api: TestApi,
    pub nats: NatsServer,
    pub dir: tempfile::TempDir,
    pub admin: String,
    pub config_path: PathBuf,
    pub systemd_dir: PathBuf,
    pub config: AgentConfig,
}

impl Fixture {
    /// Enrolls an agent with `--no-service`, a temp unit dir, the reboot command `touch <dir>/rebooted`
    /// and the given extra install flags.
    pub async fn enrolled(extra: &[&str]) -> Fixture {
        let api = TestApi::start().await;
        let nats = NatsServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let admin = api.admin_token().await;
        let (client, site, installer) = installer(&api, &admin).await;
        let config_path = dir.path().join("etc/agent.json");
        let systemd_dir = dir.path().join("systemd");
        let reboot = format!("touch {}", dir.path().join("rebooted").display());
        let (client, site) = (client.to_string(), site.to_string());
        let mut args = install_args(&api.url, &client, &site, "server", &installer, &["--no-service"]);
        if !extra.contains(&"--nats-url") {
            args.extend(["--nats-url".into(), nats.url()]);
        }
        args.extend(["--config".into(), config_path.display().to_string()]);
        args.extend(["--systemd-dir".into(), systemd_dir.display().to_string()]);
        args.extend(["--reboot-command".into(), reboot]);
        args.extend(["--script-dir".into(), dir.path().join("scripts").display().to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let (status, stderr) = run_agent(&args, dir.path()).await;
        assert!(status.success(), "install failed: {stderr}");
        let config = AgentConfig::load(&config_path).unwrap();
        Fixture {
            api,
            nats,
            dir,
            admin,
            config_path,
            systemd_dir,
            config,
        }
    }

    /// Starts `trmm-agent svc` for this fixture; its log goes to `<dir>/svc.log`.
    pub fn spawn_svc(&self) -> AgentProcess {
        self.spawn_svc_with(Path::new(AGENT_BIN))
    }

    /// Starts `svc` from another build of the agent (e.g. a release build being measured).
    pub fn spawn_svc_with(&self, bin: &Path) -> AgentProcess {
        AgentProcess::svc(bin, &self.config_path, self.dir.path().join("svc.log"), &[])
    }

    /// A test NATS client (no auth: the test server has none); callers bound each request themselves.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .request_timeout(Some(Duration::from_secs(60)))
            .connect(self.nats.url())
            .await
            .unwrap()
    }

    pub fn agent_id(&self) -> &str {
        &self.config.agent_id
    }

    /// Creates an AgentHistory row for this agent, as the dashboard does before sending a command.
    pub async fn history(&self, kind: trmm_db::history::HistoryType, command: &str) -> i64 {
        let conn = self.api.db.pool().get().await.unwrap();
        let pk = trmm_db::AgentPk(self.config.agent_pk as i32);
        trmm_db::history::create(&conn, pk, kind, command, ADMIN).await.unwrap()
    }

    /// The `results` and `script_results` columns of a history row.
    pub async fn history_results(&self, id: i64) -> (Option<String>, Option<Value>) {
        let conn = self.api.db.pool().get().await.unwrap();
        let row = conn
            .query_one(
                "SELECT results, script_results FROM agent_history WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }
}

/// A running `trmm-agent svc`.
pub struct AgentProcess {
    pub child: tokio::process::Child,
    pub log: PathBuf,
}

impl AgentProcess {
    /// Starts `bin svc --config <config>` with debug logging and `env`, its stderr going to `log`.
    pub fn svc(bin: &Path, config: &Path, log: PathBuf, env: &[(&str, &str)]) -> AgentProcess {
        let child = tokio::process::Command::new(bin)
            .args(["svc", "--config"])
            .arg(config)
            .env("TRMM_AGENT_LOG", "debug,async_nats=info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        AgentProcess { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit within `deadline`.
    pub async fn exited(&mut self, deadline: Duration) -> ExitStatus {
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("agent did not exit within {deadline:?}; log:\n{}", self.log()),
        }
    }
}

/// Runs the agent binary to completion; returns its status and stderr.
pub async fn run_agent(args: &[String], cwd: &Path) -> (ExitStatus, String) {
    let out = tokio::process::Command::new(AGENT_BIN)
        .args(args)
        .current_dir(cwd)
        .env("TRMM_AGENT_LOG", "debug,async_nats=info")
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("agent binary hung")
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Sends a command as the server does (request with a reply inbox) and decodes the reply.
pub async fn request<T: serde::de::DeserializeOwned>(
    client: &async_nats::Client,
    agent_id: &str,
    cmd: &Command,
    deadline: Duration,
) -> T {
    let bytes = encode(cmd).unwrap();
    let reply = tokio::time::timeout(deadline, client.request(agent_id.to_owned(), bytes.into()))
        .await
        .unwrap_or_else(|_| panic!("no reply to {} within {deadline:?}", cmd.func))
        .unwrap_or_else(|e| panic!("request {} failed: {e}", cmd.func));
    trmm_protocol::nats::decode(&reply.payload).unwrap()
}

/// Waits until the agent answers ping (it is connected and subscribed).
pub async fn wait_for_ping(client: &async_nats::Client, agent_id: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        let bytes = encode(&Command::new("ping", 2)).unwrap();
        let attempt = tokio::time::timeout(
            Duration::from_secs(1),
            client.request(agent_id.to_owned(), bytes.into()),
        )
        .await;
        if let Ok(Ok(msg)) = attempt {
            let pong: String = trmm_protocol::nats::decode(&msg.payload).unwrap();
            assert_eq!(pong, "pong");
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "agent did not answer ping within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Collects messages from a subscription until `done` says stop; panics after `deadline`.
pub async fn collect_until(
    sub: &mut async_nats::Subscriber,
    deadline: Duration,
    mut done: impl FnMut(&[async_nats::Message]) -> bool,
) -> Vec<async_nats::Message> {
    let mut seen = Vec::new();
    let stop = Instant::now() + deadline;
    while !done(&seen) {
        let left = stop.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sub.next()).await {
            Ok(Some(msg)) => seen.push(msg),
            _ => panic!("gave up after {deadline:?}; got {} messages", seen.len()),
        }
    }
    seen
}

/// A one-route HTTP server answering every request with `body`, for the public IP lookup.
pub async fn text_server(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/")
}
