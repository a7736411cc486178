//! Per-IP attempt limits kept in Redis, so every API replica shares them (TRMM throttles checkcreds and
//! login to 10/min per IP). While Redis is unreachable each process enforces the same limits on its own
//! (logged), so an outage never opens the door to password guessing: at worst an attacker spread over N
//! replicas gets N times the limit for the length of the outage.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::state::AppState;

/// Length of one limit window.
const WINDOW_SECS: i64 = 60;

/// How long a Redis count may take before the fallback counts instead (a reconnecting client would make
/// every login wait).
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// Counts one attempt in `bucket` for `ip`; fails with 429 once the window's limit is exceeded.
pub async fn check(state: &AppState, bucket: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
    let Some(ip) = ip else { return Ok(()) };
    let key = format!("{}:ratelimit:{bucket}:{ip}", state.settings.redis_prefix);
    let limit = i64::from(state.settings.login_rate_limit);
    let (count, ttl) = match count_in_redis(state, &key).await {
        Ok(counted) => counted,
        Err(cause) => {
            tracing::warn!(bucket, %ip, %cause, "Redis unreachable: rate limit enforced by this process alone");
            fallback().count(&key, state.now())
        }
    };
    if count <= limit {
        return Ok(());
    }
    tracing::warn!(target: "trmm_api::security", %ip, bucket, "login attempts throttled");
    Err(ApiError::Throttled(ttl.clamp(1, WINDOW_SECS) as u64))
}

/// The attempt count of `key` in its window and the window's seconds left, shared by every replica.
async fn count_in_redis(state: &AppState, key: &str) -> Result<(i64, i64), String> {
    let Some(redis) = state.redis.get() else {
        return Err("not connected".to_owned());
    };
    let mut conn = redis.clone();
    // The window opens at the first attempt, so a burst is never split across two windows.
    let mut pipe = redis::pipe();
    pipe.atomic()
        .incr(key, 1)
        .cmd("EXPIRE")
        .arg(key)
        .arg(WINDOW_SECS)
        .arg("NX")
        .ignore()
        .ttl(key);
    match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut conn)).await {
        Ok(Ok(counted)) => Ok(counted),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {REDIS_TIMEOUT:?}")),
    }
}

/// The per-process counts used while Redis is away.
fn fallback() -> &'static Fallback {
    static FALLBACK: OnceLock<Fallback> = OnceLock::new();
    FALLBACK.get_or_init(Fallback::default)
}

/// Fixed windows opened at the first attempt, as in Redis; expired ones are swept as new ones open.
#[derive(Default)]
struct Fallback {
    windows: Mutex<HashMap<String, (DateTime<Utc>, i64)>>,
}

impl Fallback {
    /// Counts one attempt at `now`; returns the count in the window and the window's seconds left.
    fn count(&self, key: &str, now: DateTime<Utc>) -> (i64, i64) {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let expired = |opened: &DateTime<Utc>| (now - *opened).num_seconds() >= WINDOW_SECS;
        if !windows.contains_key(key) {
            windows.retain(|_, (opened, _)| !expired(opened));
        }
        let window = windows.entry(key.to_owned()).or_insert((now, 0));
        if expired(&window.0) {
            *window = (now, 0);
        }
        window.1 += 1;
        (window.1, WINDOW_SECS - (now - window.0).num_seconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_windows_count_and_expire() {
        let fallback = Fallback::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        for n in 1..=11 {
            assert_eq!(fallback.count("a", t0).0, n);
        }
        assert_eq!(fallback.count("b", t0), (1, 60));
        assert_eq!(fallback.count("a", t0 + chrono::Duration::seconds(59)), (12, 1));
        assert_eq!(fallback.count("a", t0 + chrono::Duration::seconds(60)), (1, 60));
    }
}
