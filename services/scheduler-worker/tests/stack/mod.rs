//! trmm-beat and trmm-worker replicas in-process on one fresh database and key prefix, all reading one
//! [`ManualClock`] that the test steps through due times.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use trmm_jobs::{Periodic, PeriodicJob};
use trmm_runtime::clock::ManualClock;
use trmm_testkit::service::InProcess;
use trmm_testkit::{redis_url, RedisKeys, TestDb};

/// Longest any wait here may take.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// A client, a site and the agent `agent-a` (pk 1).
pub const AGENT: &str = "INSERT INTO clients (id, name) VALUES (1, 'Acme');
    INSERT INTO sites (id, client_id, name) VALUES (1, 1, 'HQ');
    INSERT INTO agents (id, agent_id, hostname, site_id) VALUES (1, 'agent-a', 'host-a', 1);";
/// The beats' lease and tick: short, so that a takeover is quick to see.
pub const LEASE: Duration = Duration::from_secs(2);
const TICK: &str = "100ms";

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

pub struct Stack {
    pub db: TestDb,
    pub keys: RedisKeys,
    pub clock: Arc<ManualClock>,
}

impl Stack {
    /// A fresh database and key prefix, the clock at `start`.
    pub async fn new(start: &str) -> Stack {
        Stack {
            db: TestDb::new().await,
            keys: RedisKeys::fresh(),
            clock: Arc::new(ManualClock::at(at(start))),
        }
    }

    pub fn set_clock(&self, now: &str) {
        self.clock.set(at(now));
    }

    /// A trmm-beat replica, once ready.
    pub async fn beat(&self) -> InProcess {
        let lease = format!("{}s", LEASE.as_secs());
        let args = [
            "trmm-beat",
            "--redis-url",
            &redis_url(),
            "--redis-prefix",
            self.keys.prefix(),
            "--lease",
            &lease,
            "--tick",
            TICK,
        ];
        let clock = self.clock.clone();
        let beat = InProcess::start(&args, move |config, stop| {
            trmm_beat::run_with_clock(config, clock, stop)
        });
        beat.wait_ready().await;
        beat
    }

    /// A trmm-worker replica, once ready.
    pub async fn worker(&self) -> InProcess {
        let args = [
            "trmm-worker",
            "--database-url",
            self.db.url(),
            "--redis-url",
            &redis_url(),
            "--redis-prefix",
            self.keys.prefix(),
            "--secret-key",
            trmm_testkit::SECRET_KEY,
        ];
        let clock = self.clock.clone();
        let worker = InProcess::start(&args, move |config, stop| {
            trmm_worker::run_with_clock(config, clock, stop)
        });
        worker.wait_ready().await;
        worker
    }

    /// Queues a run as trmm-beat would.
    pub async fn enqueue(&self, job: PeriodicJob, due: &str) {
        let conn = redis_conn().await;
        trmm_jobs::enqueue(conn, self.keys.prefix(), Periodic { job, due: at(due) })
            .await
            .unwrap();
    }

    /// The latest due time enqueued per entry, as trmm-beat records it.
    pub async fn enqueued_due_times(&self) -> BTreeMap<String, DateTime<Utc>> {
        let mut conn = redis_conn().await;
        let key = format!("{}:beat:due", self.keys.prefix());
        let times: BTreeMap<String, i64> = redis::cmd("HGETALL").arg(key).query_async(&mut conn).await.unwrap();
        times
            .into_iter()
            .map(|(entry, secs)| (entry, DateTime::from_timestamp(secs, 0).unwrap()))
            .collect()
    }

    /// Whether anyone holds the leader lease.
    pub async fn lease_held(&self) -> bool {
        let mut conn = redis_conn().await;
        let key = format!("{}:beat:leader", self.keys.prefix());
        redis::cmd("EXISTS").arg(key).query_async(&mut conn).await.unwrap()
    }

    pub async fn sql(&self, sql: &str) {
        self.db.pool().get().await.unwrap().batch_execute(sql).await.unwrap();
    }

    /// The one text value `sql` selects (`''` for NULL).
    pub async fn text(&self, sql: &str) -> String {
        let db = self.db.pool().get().await.unwrap();
        let value: Option<String> = db.query_one(sql, &[]).await.unwrap().get(0);
        value.unwrap_or_default()
    }
}

async fn redis_conn() -> redis::aio::ConnectionManager {
    let client = redis::Client::open(redis_url()).unwrap();
    client.get_connection_manager().await.unwrap()
}

/// The value of a metric sample (`name{labels}` as rendered), 0 when absent.
pub async fn metric(service: &InProcess, sample: &str) -> u64 {
    let text = service.get("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// The sum of a metric sample over several services.
pub async fn total(services: &[&InProcess], sample: &str) -> u64 {
    let mut sum = 0;
    for service in services {
        sum += metric(service, sample).await;
    }
    sum
}

/// `trmm_periodic_runs_total` of one entry.
pub fn runs(job: PeriodicJob) -> String {
    format!("trmm_periodic_runs_total{{entry=\"{}\"}}", job.name())
}

/// `trmm_beat_enqueued_total` of one entry.
pub fn enqueued(job: PeriodicJob) -> String {
    format!("trmm_beat_enqueued_total{{entry=\"{}\"}}", job.name())
}

/// Waits until `condition` holds, failing after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
