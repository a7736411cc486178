//! Helpers of tests/ingest.rs: enrolled agents, ingest instances, a stand-in for the Go agent, and a way to take
//! a test database away as a Postgres restart would.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use trmm_nats_api::ingest::{self, Metrics, Options};
use trmm_protocol::nats::{ugorji, TelemetryKind};
use trmm_testkit::{free_port, TestDb};

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

    pub async fn hello(&self, agent_id: &str, version: &str) {
        let payload = json!({"agent_id": agent_id, "version": version});
        self.send(agent_id, TelemetryKind::Hello, payload).await;
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

/// Admin access to the server hosting `db`, to take that database away and give it back.
pub struct Outage {
    admin: trmm_db::Pool,
    database: String,
}

impl Outage {
    pub async fn new(db: &TestDb) -> Outage {
        let (server, database) = db.url().rsplit_once('/').expect("a database URL with a path");
        let database = database.split('?').next().unwrap_or_default().to_owned();
        let admin = trmm_db::connect(&format!("{server}/postgres")).expect("an admin pool");
        Outage { admin, database }
    }

    /// New connections are refused and every existing one is closed, as during a Postgres restart.
    pub async fn begin(&self) {
        let admin = self.admin.get().await.expect("an admin connection");
        let sql = format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", self.database);
        admin.batch_execute(&sql).await.expect("disallowing connections");
        let kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1";
        admin
            .execute(kill, &[&self.database])
            .await
            .expect("terminating connections");
    }

    pub async fn end(&self) {
        let admin = self.admin.get().await.expect("an admin connection");
        let sql = format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.database);
        admin.batch_execute(&sql).await.expect("allowing connections again");
    }
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

/// Flags for running the whole service in-process on free ports; also returns the health listen address.
pub fn service_config(database_url: &str, nats_url: &str) -> (trmm_nats_api::Config, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let gateway = format!("127.0.0.1:{}", free_port());
    let args = [
        "trmm-nats-api",
        "--database-url",
        database_url,
        "--nats-url",
        nats_url,
        "--listen",
        &listen,
        "--gateway-listen",
        &gateway,
    ];
    let config = <trmm_nats_api::Config as clap::Parser>::try_parse_from(args).expect("parsing flags");
    (config, listen)
}
