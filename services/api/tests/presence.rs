//! Agent presence as the API shows it, with a real nats-server running the suite's auth configuration and a
//! real trmm-nats-api (auth callout, presence from nats-server's events): an enrolled agent that is not
//! connected is "offline" at once, also after restarts, and one that connects is `connected: true` at once.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use common::{acme_hq, agent_id, find, TestApi};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use trmm_protocol::nats;
use trmm_testkit::service::InProcess;
use trmm_testkit::{free_port, NatsAuth, NatsServer};

/// How fast presence answers must be.
const AT_ONCE: Duration = Duration::from_secs(1);
/// How long a restart may take.
const DEADLINE: Duration = Duration::from_secs(30);

struct Rig {
    api: TestApi,
    nats: NatsServer,
    auth: NatsAuth,
    gateway_port: u16,
    nats_api: Option<InProcess>,
    admin: String,
    installer: String,
    site: i64,
}

impl Rig {
    async fn start() -> Rig {
        let gateway_port = free_port();
        let api = TestApi::start_with_gateway(format!("http://127.0.0.1:{gateway_port}")).await;
        let (nats, auth) = NatsServer::start_with_auth().await;
        let (admin, _, site, installer) = acme_hq(&api).await;
        let mut rig = Rig {
            api,
            nats,
            auth,
            gateway_port,
            nats_api: None,
            admin,
            installer,
            site,
        };
        rig.start_nats_api().await;
        rig
    }

    /// trmm-nats-api in-process on the API's database, serving the callout and the gateway; waits until ready
    /// (presence synchronised included).
    async fn start_nats_api(&mut self) {
        let (db, nats, gateway) = (
            self.api.db.url().to_owned(),
            self.nats.url(),
            format!("127.0.0.1:{}", self.gateway_port),
        );
        let mut args: Vec<String> = ["trmm-nats-api", "--database-url", &db, "--nats-url", &nats]
            .iter()
            .map(|s| s.to_string())
            .chain(["--gateway-listen".to_owned(), gateway])
            .collect();
        args.extend(self.auth.nats_api_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let nats_api = InProcess::start(&args, trmm_nats_api::run);
        nats_api.wait_ready().await;
        self.nats_api = Some(nats_api);
    }

    async fn stop_nats_api(&mut self) {
        self.nats_api.take().expect("running").stop().await;
    }

    /// Polls trmm-nats-api's /readyz until it answers `status`.
    async fn wait_nats_api(&self, status: u16) {
        let url = format!("{}/readyz", self.nats_api.as_ref().unwrap().url());
        let start = Instant::now();
        loop {
            let got = reqwest::get(&url).await.map(|r| r.status().as_u16());
            if got.as_ref().ok() == Some(&status) {
                return;
            }
            assert!(start.elapsed() < DEADLINE, "/readyz never answered {status}: {got:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `POST cmd/` with a 30 s timeout to an agent that is not connected: upstream's 400, in under a second.
    async fn assert_cmd_offline_at_once(&self, agent_id: &str) {
        let start = Instant::now();
        let cmd = json!({"shell": "/bin/bash", "cmd": "uptime", "timeout": 30});
        let (status, body) = self
            .api
            .post(&format!("/agents/{agent_id}/cmd/"), &self.admin, cmd)
            .await;
        let took = start.elapsed();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body.as_str().unwrap().starts_with("Unable to contact the agent"),
            "{body}"
        );
        assert!(took < AT_ONCE, "offline answered after {took:?}");
    }

    async fn connected(&self, agent_id: &str) -> bool {
        let (status, agents) = self.api.get("/agents/", &self.admin).await;
        assert_eq!(status, StatusCode::OK, "{agents}");
        find(&agents, "agent_id", agent_id)["connected"].as_bool().unwrap()
    }

    /// Polls GET /agents/ until the agent's `connected` is `expected`.
    async fn wait_connected(&self, agent_id: &str, expected: bool, within: Duration) {
        let start = Instant::now();
        while self.connected(agent_id).await != expected {
            assert!(
                start.elapsed() < within,
                "{agent_id} never connected={expected} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn an_absent_agent_is_offline_at_once_across_restarts_and_a_connecting_one_shows_connected() {
    let mut rig = Rig::start().await;
    let away = agent_id(1);
    rig.api.enroll(&rig.installer, &away, "away", rig.site).await;
    let here = agent_id(2);
    let (_, token) = rig.api.enroll(&rig.installer, &here, "here", rig.site).await;

    rig.assert_cmd_offline_at_once(&away).await;
    assert!(!rig.connected(&here).await);

    let connecting = Instant::now();
    let agent = ConnectOptions::with_user_and_password(here.clone(), token)
        .name(&here)
        .connect(rig.nats.url())
        .await
        .expect("the agent connects");
    rig.wait_connected(&here, true, AT_ONCE).await;
    assert!(connecting.elapsed() < AT_ONCE + AT_ONCE, "{:?}", connecting.elapsed());
    let (_, detail) = rig.api.get(&format!("/agents/{here}/"), &rig.admin).await;
    assert_eq!(detail["connected"], true);
    // Presence is additive: the status keeps Tactical RMM's last_seen rule (enrollment counts as seen now).
    let (_, detail) = rig.api.get(&format!("/agents/{away}/"), &rig.admin).await;
    assert_eq!(
        (&detail["connected"], &detail["status"]),
        (&json!(false), &json!("online"))
    );

    // A restarted trmm-nats-api knows at once again (CONNZ snapshot).
    rig.stop_nats_api().await;
    rig.start_nats_api().await;
    rig.assert_cmd_offline_at_once(&away).await;
    assert!(rig.connected(&here).await);

    // nats-server restarts while the absent agent stays away; the connected one comes back by itself.
    rig.nats.stop().await;
    rig.wait_nats_api(503).await;
    rig.nats.restart().await;
    rig.wait_nats_api(200).await;
    rig.assert_cmd_offline_at_once(&away).await;
    rig.wait_connected(&here, true, DEADLINE).await;
    drop(agent);
    rig.stop_nats_api().await;
}

#[tokio::test]
async fn the_agent_list_answers_while_the_gateway_is_down() {
    let rig = Rig::start().await;
    let id = agent_id(1);
    rig.api.enroll(&rig.installer, &id, "alone", rig.site).await;
    let mut rig = rig;
    rig.stop_nats_api().await;
    let (status, agents) = rig.api.get("/agents/", &rig.admin).await;
    assert_eq!(status, StatusCode::OK, "{agents}");
    let row: &Value = find(&agents, "agent_id", &id);
    assert_eq!(row["connected"], false);
    assert_eq!(row["status"], "online", "the last_seen rule, unchanged");
}

/// A connected agent that answers `rawcmd` with its command text and records every function it is sent.
async fn recording_agent(rig: &Rig, agent_id: &str, token: &str, seen: Arc<Mutex<Vec<String>>>) -> async_nats::Client {
    let client = ConnectOptions::with_user_and_password(agent_id.to_owned(), token.to_owned())
        .name(agent_id)
        .connect(rig.nats.url())
        .await
        .expect("the agent connects");
    let mut commands = trmm_testkit::agent_commands(&client, agent_id).await;
    let replies = client.clone();
    tokio::spawn(async move {
        while let Some((msg, cmd)) = commands.next().await {
            seen.lock().unwrap().push(cmd.func.clone());
            let text = cmd.payload.get("command").cloned().unwrap_or_default();
            if let Some(to) = msg.reply {
                let _ = replies.publish(to, nats::encode(&text).unwrap().into()).await;
            }
        }
    });
    client
}

impl Rig {
    /// trmm-worker in-process next to the API (same database, Redis keys and gateway).
    fn start_worker(&self) -> InProcess {
        let (db, redis, gateway) = (
            self.api.db.url().to_owned(),
            trmm_testkit::redis_url(),
            format!("http://127.0.0.1:{}", self.gateway_port),
        );
        let prefix = self.api.redis.prefix().to_owned();
        let args = [
            "trmm-worker",
            "--database-url",
            &db,
            "--redis-url",
            &redis,
            "--redis-prefix",
            &prefix,
            "--gateway-url",
            &gateway,
            "--secret-key",
            trmm_testkit::SECRET_KEY,
        ];
        InProcess::start(&args, trmm_worker::run)
    }

    /// Queues `cmd` for the offline agent (`queue_if_offline`), answered at once.
    async fn queue(&self, agent_id: &str, cmd: &str) {
        let start = Instant::now();
        let body = json!({"shell": "/bin/bash", "cmd": cmd, "timeout": 30, "queue_if_offline": true});
        let (status, answer) = self
            .api
            .post(&format!("/agents/{agent_id}/cmd/"), &self.admin, body)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer.as_str().unwrap().contains("queued"), "{answer}");
        assert!(start.elapsed() < AT_ONCE, "queued after {:?}", start.elapsed());
    }
}

#[tokio::test]
async fn queued_work_runs_when_the_agent_connects_with_no_ping_and_no_tick() {
    let rig = Rig::start().await;
    let id = agent_id(1);
    let (_, token) = rig.api.enroll(&rig.installer, &id, "roamer", rig.site).await;
    let seen = Arc::new(Mutex::new(Vec::new()));

    // Queued while offline; the agent connects before any worker runs: the worker's catch-up at start runs it.
    rig.queue(&id, "echo first").await;
    let agent = recording_agent(&rig, &id, &token, seen.clone()).await;
    rig.wait_connected(&id, true, AT_ONCE).await;
    let worker = rig.start_worker();
    assert_eq!(rig.api.command_result("echo first").await, "echo first");

    // Queued while offline again; the agent's connect event runs it.
    agent.drain().await.unwrap();
    rig.wait_connected(&id, false, DEADLINE).await;
    rig.queue(&id, "echo second").await;
    let _agent = recording_agent(&rig, &id, &token, seen.clone()).await;
    assert_eq!(rig.api.command_result("echo second").await, "echo second");

    // Presence is tracked, so nothing pinged the agent before its queued commands.
    assert_eq!(*seen.lock().unwrap(), ["rawcmd", "rawcmd"]);
    worker.stop().await;
}
