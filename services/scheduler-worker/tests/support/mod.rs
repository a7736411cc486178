//! Shared by the worker's end-to-end suites: nats-server, an in-process AgentGateway, trmm-api (TestApi) and
//! trmm-worker in-process over one fresh database and real Redis, plus simulated agents.
#![allow(dead_code)]

pub mod mail;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use futures_util::StreamExt;
use serde_json::json;
use tokio_util::sync::{CancellationToken, DropGuard};
use trmm_api::testing::{agent_id, TestApi, Wiring};
use trmm_protocol::nats::{self, Command};
use trmm_testkit::{free_port, redis_url, NatsServer};

/// Longest any run here may take.
pub const DEADLINE: Duration = Duration::from_secs(120);

pub struct Suite {
    pub api: TestApi,
    pub nats: NatsServer,
    pub admin: String,
    pub gateway: String,
    pub worker_listen: String,
    worker_args: Vec<String>,
    redis_url: String,
    _worker_stop: Option<DropGuard>,
    _gateway_stop: Option<DropGuard>,
}

/// Starts the gateway on `listen` (an address the worker may already be retrying).
pub fn start_gateway(client: async_nats::Client, listen: &str) -> DropGuard {
    let stop = CancellationToken::new();
    let gateway = trmm_nats_api::gateway::Gateway::new(client, Default::default(), |_| Box::pin(async { Ok(0) }));
    tokio::spawn(trmm_nats_api::gateway::serve(
        listen.parse().unwrap(),
        gateway,
        stop.clone(),
    ));
    stop.drop_guard()
}

/// NATS, the API and the worker; the gateway only when `with_gateway` (else [`start_gateway`] later).
pub async fn suite(with_gateway: bool, worker_args: &[&str]) -> Suite {
    let mut s = suite_on(with_gateway, worker_args, &redis_url()).await;
    s.start_worker();
    s
}

/// NATS, the gateway (when `with_gateway`) and the API on the Redis at `redis`; the worker only once
/// [`Suite::start_worker`] is called.
pub async fn suite_on(with_gateway: bool, worker_args: &[&str], redis: &str) -> Suite {
    let nats = NatsServer::start().await;
    // Stands in for trmm-nats-api's telemetry subscription, which matches every agent subject, so that NATS
    // never answers "no responders" for a missing agent, as in a deployment.
    let ingest = async_nats::connect(nats.url()).await.unwrap();
    let mut telemetry = ingest.queue_subscribe("*", "trmm-ingest".to_owned()).await.unwrap();
    tokio::spawn(async move {
        let _keep = ingest;
        while telemetry.next().await.is_some() {}
    });
    let gateway = format!("127.0.0.1:{}", free_port());
    let gateway_stop = if with_gateway {
        Some(start_gateway(async_nats::connect(nats.url()).await.unwrap(), &gateway))
    } else {
        None
    };
    let wiring = Wiring {
        gateway_url: Some(format!("http://{gateway}")),
        redis_url: Some(redis.to_owned()),
        ..Wiring::default()
    };
    let api = TestApi::start_wired(|_| {}, wiring).await;
    let admin = api.admin_token().await;
    Suite {
        api,
        nats,
        admin,
        gateway,
        worker_listen: format!("127.0.0.1:{}", free_port()),
        worker_args: worker_args.iter().map(|a| (*a).to_owned()).collect(),
        redis_url: redis.to_owned(),
        _worker_stop: None,
        _gateway_stop: gateway_stop,
    }
}

impl Suite {
    /// Stops the worker (its shutdown signal, as SIGTERM gives it).
    pub fn stop_worker(&mut self) {
        self._worker_stop = None;
    }

    /// Queues `job` on the suite's Redis, as trmm-api (or the worker's recovery) would.
    pub async fn enqueue<J: trmm_jobs::Job>(&self, job: J) {
        let redis = redis::Client::open(self.redis_url.as_str()).unwrap();
        let conn = redis.get_connection_manager().await.unwrap();
        trmm_jobs::enqueue(conn, self.api.redis.prefix(), job).await.unwrap();
    }

    /// Starts trmm-worker in-process on the suite's database, Redis and gateway.
    pub fn start_worker(&mut self) {
        let prefix = self.api.redis.prefix().to_owned();
        let gateway = format!("http://{}", self.gateway);
        let args = [
            "trmm-worker",
            "--database-url",
            self.api.db.url(),
            "--redis-url",
            &self.redis_url,
            "--redis-prefix",
            &prefix,
            "--gateway-url",
            &gateway,
            "--listen",
            &self.worker_listen,
            "--bulk-concurrency",
            "1000",
            "--secret-key",
            trmm_testkit::SECRET_KEY,
        ];
        let extra = self.worker_args.iter().map(String::as_str);
        let config = trmm_worker::Config::try_parse_from(args.into_iter().chain(extra)).unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(trmm_worker::run(config, stop.clone()));
        self._worker_stop = Some(stop.drop_guard());
    }
}

/// Inserts `n` agents (ids from `first`) into `site`; returns their agent_ids.
pub async fn seed(api: &TestApi, site: i64, first: u32, n: u32) -> Vec<String> {
    let rows: Vec<(String, String, Vec<u8>)> = (first..first + n)
        .map(|i| {
            (
                agent_id(i),
                format!("sim-{i}"),
                trmm_auth::digest_token(&agent_id(i)).to_vec(),
            )
        })
        .collect();
    let db = api.db.pool().get().await.unwrap();
    trmm_db::agents::bulk_create_with_tokens(&db, trmm_db::SiteId(site as i32), &rows, "test")
        .await
        .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

/// Commands the simulated agents received: (agent_id, command).
pub type Seen = Arc<Mutex<Vec<(String, Command)>>>;

/// One NATS connection answering for every agent in `ids`: `ping` with "pong", `rawcmd` with
/// "<agent_id> ran <command>", `runscriptfull` with its arguments as stdout (silent agents answer only pings);
/// returns once every subscription is live.
/// Records every command but pings.
pub async fn responders(url: &str, ids: &[String], silent: bool) -> Seen {
    let client = async_nats::connect(url).await.unwrap();
    let mut subs = Vec::new();
    for id in ids {
        subs.push(client.subscribe(id.clone()).await.unwrap());
    }
    // The last subscription is live once a probe on it comes back; the server handles SUBs in order.
    let last = ids.last().unwrap();
    let probe = trmm_testkit::subscribe_live(&client, last, last).await;
    drop(probe);
    let mut all = futures_util::stream::select_all(subs);
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some(msg) = all.next().await {
            let (Some(reply), Ok(cmd)) = (msg.reply, nats::decode::<Command>(&msg.payload)) else {
                continue;
            };
            let out = match cmd.func.as_str() {
                "ping" => json!("pong"),
                "rawcmd" if !silent => json!(format!("{} ran {}", msg.subject, cmd.payload["command"])),
                "runscriptfull" if !silent => json!({
                    "stdout": cmd.script_args.clone().unwrap_or_default().join(" "),
                    "stderr": "", "retcode": 0, "execution_time": 0.01, "id": cmd.id,
                }),
                _ => {
                    log.lock().unwrap().push((msg.subject.to_string(), cmd));
                    continue;
                }
            };
            if cmd.func != "ping" {
                log.lock().unwrap().push((msg.subject.to_string(), cmd));
            }
            let _ = client.publish(reply, nats::encode(&out).unwrap().into()).await;
        }
    });
    seen
}
