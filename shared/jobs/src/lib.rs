//! Background jobs: the payloads trmm-api enqueues and trmm-worker runs, and the Redis queues (apalis) they
//! travel on. A job only names work already recorded in Postgres, so losing Redis delays work but never
//! loses what was asked for (docs/architecture: Postgres is the one source of truth).

use apalis::prelude::TaskSink;
use apalis_redis::{Config, RedisStorage};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

/// A bulk command or script (`POST /agents/actions/bulk/`): the `bulk_runs` row and one history row per agent
/// exist already; the worker sends the command to every agent still without a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkRun {
    /// Primary key of `bulk_runs`.
    pub run_id: i64,
}

/// Why a job could not be queued.
#[derive(Debug, thiserror::Error)]
#[error("queueing the job in Redis failed: {0}")]
pub struct EnqueueError(String);

/// The Redis queue of one job type, under the deployment's key prefix (`TRMM_REDIS_PREFIX`).
pub fn queue_name(prefix: &str, job: &str) -> String {
    format!("{prefix}:jobs:{job}")
}

/// The apalis storage of bulk runs, for pushing (trmm-api) and consuming (trmm-worker).
pub fn bulk_storage(conn: ConnectionManager, prefix: &str) -> RedisStorage<BulkRun> {
    RedisStorage::new(conn).with_config(Config::default().queue(queue_name(prefix, "bulk")))
}

/// Queues a bulk run.
pub async fn enqueue_bulk(conn: ConnectionManager, prefix: &str, job: BulkRun) -> Result<(), EnqueueError> {
    bulk_storage(conn, prefix)
        .push(job)
        .await
        .map_err(|e| EnqueueError(e.to_string()))
}
