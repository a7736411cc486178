//! The leader lease: one key in Redis holding the leader's random token with an expiry. The leader extends it
//! every tick; a standby takes it once it has expired, so a leader that dies (killed, not shut down) is replaced
//! within one lease period, and one that shuts down hands over at once by deleting it.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script};

/// Extends the lease when this token holds it, takes it when nobody does (SET NX PX); 1 when held afterwards.
const HOLD: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if not holder then
    redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
    return 1
end
return 0";

/// Deletes the lease if this token still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0";

/// This beat's claim on leadership.
pub struct Lease {
    key: String,
    token: String,
    length: Duration,
    hold: Script,
    release: Script,
}

impl Lease {
    /// A lease of `length` on `<prefix>:beat:leader`, with a fresh random token.
    pub fn new(prefix: &str, length: Duration) -> Self {
        Self {
            key: Self::key(prefix),
            token: format!("{:032x}", rand::random::<u128>()),
            length,
            hold: Script::new(HOLD),
            release: Script::new(RELEASE),
        }
    }

    /// The Redis key of the lease.
    pub fn key(prefix: &str) -> String {
        format!("{prefix}:beat:leader")
    }

    /// This beat's token (the value of the key while it leads).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Takes or extends the lease; true while this beat leads.
    pub async fn hold(&self, conn: &mut ConnectionManager) -> RedisResult<bool> {
        let millis = u64::try_from(self.length.as_millis()).unwrap_or(u64::MAX);
        let held: i64 = self
            .hold
            .key(&self.key)
            .arg(&self.token)
            .arg(millis)
            .invoke_async(conn)
            .await?;
        Ok(held == 1)
    }

    /// Gives the lease up, so that a standby takes over at its next tick.
    pub async fn release(&self, conn: &mut ConnectionManager) -> RedisResult<()> {
        let _: i64 = self.release.key(&self.key).arg(&self.token).invoke_async(conn).await?;
        Ok(())
    }
}
