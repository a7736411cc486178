//! Per-IP attempt limits kept in Redis, so every API replica shares them (TRMM throttles checkcreds and
//! login to 10/min per IP). While Redis is unreachable the limit is not enforced, and a warning is logged.

use std::net::IpAddr;

use crate::error::ApiError;
use crate::state::AppState;

/// Length of one limit window.
const WINDOW_SECS: i64 = 60;

/// Counts one attempt in `bucket` for `ip`; fails with 429 once the window's limit is exceeded.
pub async fn check(state: &AppState, bucket: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
    let Some(ip) = ip else { return Ok(()) };
    let Some(redis) = state.redis.get() else {
        tracing::warn!(bucket, %ip, "rate limit not enforced: Redis is not connected");
        return Ok(());
    };
    let key = format!("{}:ratelimit:{bucket}:{ip}", state.settings.redis_prefix);
    let mut conn = redis.clone();
    // The window opens at the first attempt, so a burst is never split across two windows.
    let counted: redis::RedisResult<(i64, i64)> = redis::pipe()
        .atomic()
        .incr(&key, 1)
        .cmd("EXPIRE")
        .arg(&key)
        .arg(WINDOW_SECS)
        .arg("NX")
        .ignore()
        .ttl(&key)
        .query_async(&mut conn)
        .await;
    match counted {
        Ok((count, _)) if count <= i64::from(state.settings.login_rate_limit) => Ok(()),
        Ok((_, ttl)) => {
            tracing::warn!(target: "trmm_api::security", %ip, bucket, "login attempts throttled");
            Err(ApiError::Throttled(ttl.clamp(1, WINDOW_SECS) as u64))
        }
        Err(e) => {
            tracing::warn!(bucket, %ip, error = %e, "rate limit not enforced: Redis error");
            Ok(())
        }
    }
}
