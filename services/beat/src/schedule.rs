//! Enqueueing each entry once per due time: a Redis hash holds, per entry, the latest due time enqueued, and a
//! script advances it only for the lease holder and only forwards. Whoever advances it enqueues that due time;
//! a beat that lost the lease, or a second beat seeing the same due time, advances nothing. A recorded due
//! time more than a period ahead of the leader's means the clock was set back: the entry restarts from the
//! leader's due time rather than waiting for the clock to catch up.

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use redis::Script;
use trmm_jobs::{Periodic, PeriodicJob};

/// KEYS: lease, due hash; ARGV: token, entry, due (Unix seconds), period (seconds). Returns the previous due
/// time (0 for none) when advanced, -1 when that due time was enqueued already, -2 when this beat does not hold
/// the lease.
const ADVANCE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return -2
end
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or 0)
local due = tonumber(ARGV[3])
if last >= due and last - due <= tonumber(ARGV[4]) then
    return -1
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return last";

/// KEYS: due hash; ARGV: entry, due that was advanced to, previous due (0 for none). Puts the previous due time
/// back unless the entry has moved on since.
const UNDO: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    if ARGV[3] == '0' then
        redis.call('HDEL', KEYS[1], ARGV[1])
    else
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
    end
end
return 0";

/// What [`Schedule::enqueue`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The due time was enqueued by this call.
    Enqueued,
    /// It had been enqueued before.
    AlreadyEnqueued,
    /// This beat no longer holds the lease.
    NotLeader,
}

/// Why an entry could not be enqueued (it is tried again at the next tick).
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Redis refused or did not answer.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The job could not be pushed onto the queue.
    #[error(transparent)]
    Enqueue(#[from] trmm_jobs::EnqueueError),
}

/// The per-entry due times of one deployment.
pub struct Schedule {
    prefix: String,
    lease_key: String,
    due_key: String,
    advance: Script,
    undo: Script,
}

impl Schedule {
    /// The schedule under `prefix`, guarded by the lease at `lease_key`.
    pub fn new(prefix: &str, lease_key: String) -> Self {
        Self {
            prefix: prefix.to_owned(),
            lease_key,
            due_key: Self::due_key(prefix),
            advance: Script::new(ADVANCE),
            undo: Script::new(UNDO),
        }
    }

    /// The Redis hash of the latest due time enqueued per entry.
    pub fn due_key(prefix: &str) -> String {
        format!("{prefix}:beat:due")
    }

    /// Enqueues `job` for `due` unless that due time (or a later one) was enqueued already or `token` no longer
    /// holds the lease. A push that fails puts the previous due time back, so the next tick tries again.
    pub async fn enqueue(
        &self,
        conn: &mut ConnectionManager,
        token: &str,
        job: PeriodicJob,
        due: DateTime<Utc>,
    ) -> Result<Outcome, ScheduleError> {
        let previous: i64 = self
            .advance
            .key(&self.lease_key)
            .key(&self.due_key)
            .arg(token)
            .arg(job.name())
            .arg(due.timestamp())
            .arg(job.cadence().period_secs())
            .invoke_async(conn)
            .await?;
        match previous {
            -2 => return Ok(Outcome::NotLeader),
            -1 => return Ok(Outcome::AlreadyEnqueued),
            _ => {}
        }
        if let Err(e) = trmm_jobs::enqueue(conn.clone(), &self.prefix, Periodic { job, due }).await {
            let undone: redis::RedisResult<i64> = self
                .undo
                .key(&self.due_key)
                .arg(job.name())
                .arg(due.timestamp())
                .arg(previous)
                .invoke_async(conn)
                .await;
            if let Err(undo) = undone {
                // Then this due time is lost; the entry's next due time is enqueued as usual.
                tracing::warn!(entry = job.name(), %due, error = %undo, "could not undo a failed enqueue");
            }
            return Err(e.into());
        }
        Ok(Outcome::Enqueued)
    }
}
