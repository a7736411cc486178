//! A Redis key prefix of the test's own on the shared Redis, whose keys are deleted when the test ends.

/// A key prefix (`trmm-test-<random>`) whose keys are deleted when dropped; job queues have no expiry, and a
/// test must never use the deployment prefix (`trmm`), where it would take a local stack's jobs.
#[derive(Debug)]
pub struct RedisKeys(String);

/// apalis-redis's registry of queues.
const APALIS_QUEUES: &str = "core:apalis:queues:list";

impl RedisKeys {
    /// A fresh prefix no other test uses.
    pub fn fresh() -> RedisKeys {
        RedisKeys(format!("trmm-test-{:016x}", rand::random::<u64>()))
    }

    /// The prefix (for `--redis-prefix` / `TRMM_REDIS_PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.0
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(crate::redis_url()).and_then(|c| c.get_connection()) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
        // apalis also lists every queue it has seen in one global sorted set, outside any prefix.
        let queues: Vec<String> = redis::cmd("ZRANGE")
            .arg(APALIS_QUEUES)
            .arg(0)
            .arg(-1)
            .query(&mut conn)
            .unwrap_or_default();
        let ours: Vec<&String> = queues
            .iter()
            .filter(|q| q.starts_with(&format!("{}:", self.0)))
            .collect();
        if !ours.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("ZREM").arg(APALIS_QUEUES).arg(ours).query(&mut conn);
        }
    }
}
