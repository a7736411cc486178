//! Helpers of tests/ingest.rs: enrolled agents, ingest instances and a stand-in for the Go agent.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use trmm_nats_api::ingest::{self, Metrics, Options};
use trmm_protocol::nats::{ugorji, TelemetryKind};
use trmm_testkit::{NatsServer, TestDb};

/// How long a condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A 40-letter agent id, distinct per `n`.
pub fn agent_id(n: usize) -> String {
    let mut id = String::with_capacity(40);
    let mut x = n;
    for _ in 0..8 {
        id.push(char::from(b'A' + (x % 26) as u8));
        x /= 26;
    }
    id.push_str(&"q".repeat(32));
    id
}

/// Enrolls `count` agents (ids `agent_id(0..count)`) under one client and site.
pub async fn insert_agents(db: &TestDb, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(agent_id).collect();
    let client = db.pool().get().await.expect("a database connection");
    client
        .execute(
            "WITH c AS (INSERT INTO clients (name) VALUES ('Acme') RETURNING id),
                  s AS (INSERT INTO sites (client_id, name) SELECT id, 'HQ' FROM c RETURNING id)
             INSERT INTO agents (agent_id, site_id) SELECT unnest($1::text[]), s.id FROM s",
            &[&ids],
        )
        .await
        .expect("inserting agents");
    ids
}

/// What a test starts from: a database with enrolled agents, a nats-server, one ingest instance between the two
/// and a stand-in for the Go agent.
pub struct Rig {
    // Fields drop in this order: the clients before the servers they are connected to.
    pub agent: Agent,
    pub ingest: Ingest,
    /// The enrolled agents' ids.
    pub ids: Vec<String>,
    pub nats: NatsServer,
    pub db: TestDb,
}

impl Rig {
    /// `agents` enrolled agents, a default nats-server and default ingest options.
    pub async fn start(agents: usize) -> Rig {
        Rig::with(agents, NatsServer::start().await, Options::default()).await
    }

    /// `agents` enrolled agents, ingesting from `nats` with `options`.
    pub async fn with(agents: usize, nats: NatsServer, options: Options) -> Rig {
        let db = TestDb::new().await;
        let ids = insert_agents(&db, agents).await;
        let ingest = Ingest::start(db.url(), &nats.url(), options).await;
        let agent = Agent::connect(&nats.url()).await;
        Rig {
            agent,
            ingest,
            ids,
            nats,
            db,
        }
    }
}

/// Polls `check` until it holds, failing after [`DEADLINE`].
pub async fn wait_for(what: &str, check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One ingest instance with its own NATS connection and Postgres pool.
pub struct Ingest {
    pub metrics: Metrics,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _nats: async_nats::Client,
}

impl Ingest {
    pub async fn start(db_url: &str, nats_url: &str, options: Options) -> Ingest {
        let pool = trmm_db::connect(db_url).expect("a pool");
        let nats = async_nats::connect(nats_url).await.expect("connecting to NATS");
        let metrics = Metrics::default();
        let stop = CancellationToken::new();
        let task = ingest::spawn(&nats, pool, options, metrics.clone(), stop.clone())
            .await
            .expect("subscribing");
        // The server has registered the subscription once the client's PING is answered.
        nats.flush().await.expect("flushing the subscription");
        Ingest {
            metrics,
            stop,
            task,
            _nats: nats,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("ingest did not stop within 10 s")
            .expect("ingest panicked");
    }
}

/// The test's stand-in for the Go agent.
pub struct Agent {
    pub nats: async_nats::Client,
}

impl Agent {
    pub async fn connect(url: &str) -> Agent {
        Agent {
            nats: async_nats::connect(url).await.expect("connecting to NATS"),
        }
    }

    pub async fn send_bytes(&self, subject: &str, reply: &str, payload: Vec<u8>) {
        let (subject, reply) = (subject.to_owned(), reply.to_owned());
        self.nats
            .publish_with_reply(subject, reply, payload.into())
            .await
            .expect("publishing");
    }

    pub async fn send(&self, subject: &str, kind: TelemetryKind, payload: Value) {
        self.send_bytes(subject, kind.tag(), ugorji::encode(&payload)).await;
    }

    /// Sends `{"agent_id": agent_id, field: value}`, the shape of every report but hello and agentinfo.
    pub async fn report(&self, agent_id: &str, kind: TelemetryKind, field: &str, value: Value) {
        self.send(agent_id, kind, json!({ "agent_id": agent_id, field: value }))
            .await;
    }

    pub async fn hello(&self, agent_id: &str, version: &str) {
        let payload = json!({"agent_id": agent_id, "version": version});
        self.send(agent_id, TelemetryKind::Hello, payload).await;
    }

    /// A hello of `version` from each of `agent_ids`, flushed.
    pub async fn hellos(&self, agent_ids: &[String], version: &str) {
        for id in agent_ids {
            self.hello(id, version).await;
        }
        self.flush().await;
    }

    pub async fn flush(&self) {
        self.nats.flush().await.expect("flushing");
    }
}

/// The agent's row as JSON (`to_jsonb`), timestamps in UTC.
pub async fn agent_row(db: &TestDb, agent_id: &str) -> Value {
    let client = db.pool().get().await.expect("a database connection");
    let sql = "SELECT to_jsonb(a) FROM agents a WHERE agent_id = $1";
    client
        .query_one(sql, &[&agent_id])
        .await
        .expect("reading the agent")
        .get(0)
}

pub fn last_seen(row: &Value) -> Option<DateTime<Utc>> {
    let text = row["last_seen"].as_str()?;
    Some(
        DateTime::parse_from_rfc3339(text)
            .expect("an RFC 3339 last_seen")
            .to_utc(),
    )
}

/// How many of the agents have a `last_seen` at or after `since` and the given version.
pub async fn heartbeats_since(db: &TestDb, since: DateTime<Utc>, version: &str) -> i64 {
    let client = db.pool().get().await.expect("a database connection");
    let sql = "SELECT count(*) FROM agents WHERE last_seen >= $1 AND version = $2";
    client
        .query_one(sql, &[&since, &version])
        .await
        .expect("counting")
        .get(0)
}

/// Waits until `count` agents have a heartbeat of `version` at or after `since` in Postgres.
pub async fn wait_for_heartbeats(db: &TestDb, since: DateTime<Utc>, version: &str, count: i64) {
    let what = format!("{count} heartbeats of {version} in Postgres");
    wait_for(&what, async || heartbeats_since(db, since, version).await == count).await;
}

/// The value of one sample line (`name{labels} value`) of an OpenMetrics text.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A Windows `wmi` map as the Go agent sends it.
pub fn windows_wmi() -> Value {
    // Windows groups are arrays of single-element arrays of maps; Go nil slices arrive as nil.
    json!({
        "bios": [[{"SerialNumber": "VMware-56 4d 2a", "Manufacturer": "Phoenix", "ReleaseDate": "2020-11-12T00:00:00Z"}]],
        "cpu": [[{"Name": "Intel(R) Xeon(R) Gold 6230", "NumberOfCores": 4.0, "MaxClockSpeed": 2394.0}]],
        "mem": [[{"Capacity": 17179869184.0, "Manufacturer": "VMware"}], [{"Capacity": 8589934592.0}]],
        "network_config": [[{"IPAddress": ["10.0.0.5", "fe80::1"], "DefaultIPGateway": null, "DHCPEnabled": true}]],
        "os": [[{"Caption": "Microsoft Windows 11 Pro", "InstallDate": "0001-01-01T00:00:00Z"}]],
        "usb": [],
        "desktop_monitor": null
    })
}
