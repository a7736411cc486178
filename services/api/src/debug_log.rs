//! What trmm-api writes to the debug log (server-api.md 1.10): every agent request it refuses or fails, as an
//! `agent_issues` entry, so that an operator sees an agent that keeps sending what the server cannot take. The
//! [`agent_failures`] middleware around the whole app writes them for requests an agent token authenticated
//! ([`AgentSeen`]); one entry per agent, route and status a minute at most, the ones between counted into the next.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use trmm_db::debug_log::{self, Level, LogType, NewEntry};
use trmm_db::AgentPk;

use crate::state::AppState;

/// Set on a request once an agent token has authenticated it.
#[derive(Debug, Clone, Copy)]
pub struct AgentSeen(pub AgentPk);

/// Entries for one agent, route and status are at least this far apart.
const EVERY: Duration = Duration::from_secs(60);
/// Keys remembered at most: past it, a flood of distinct keys writes nothing until old keys expire.
const MAX_KEYS: usize = 10_000;

type Key = (AgentPk, String, u16);

/// Lets one entry per key through every [`EVERY`], counting the others.
#[derive(Default)]
pub struct Throttle {
    seen: Mutex<HashMap<Key, (Instant, u64)>>,
}

impl Throttle {
    /// `Some(n)` when an entry may be written now, `n` being how many were held back since the last one.
    fn allow(&self, key: Key, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, held)) = seen.get_mut(&key) {
            if now.duration_since(*at) < EVERY {
                *held += 1;
                return None;
            }
            *at = now;
            return Some(std::mem::take(held));
        }
        if seen.len() >= MAX_KEYS {
            seen.retain(|_, (at, _)| now.duration_since(*at) < EVERY);
            if seen.len() >= MAX_KEYS {
                return None;
            }
        }
        seen.insert(key, (now, 0));
        Some(0)
    }
}

/// Writes a debug log entry about `agent` (kept or not by `agent_debug_level`); a failure is only logged, since
/// the debug log must never fail what it describes.
pub async fn write(state: &AppState, agent: AgentPk, level: Level, log_type: LogType, message: &str) {
    let entry = NewEntry {
        agent: Some(agent),
        level,
        log_type,
        message,
    };
    let written = async { debug_log::insert(&state.conn().await?, &entry).await }.await;
    if let Err(e) = written {
        tracing::warn!(agent = agent.0, error = %e, "debug log entry not written");
    }
}

/// Middleware: after an agent's request answered with an error (other than a 503, the server's own outage),
/// writes its debug log entry.
pub async fn agent_failures(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || status == StatusCode::SERVICE_UNAVAILABLE {
        return Ok(res);
    }
    let request = res.request();
    let Some(AgentSeen(agent)) = request.extensions().get::<AgentSeen>().copied() else {
        return Ok(res);
    };
    let (Some(state), Some(throttle)) = (
        request.app_data::<web::Data<AppState>>(),
        request.app_data::<web::Data<Throttle>>(),
    ) else {
        return Ok(res);
    };
    let route = request.match_pattern().unwrap_or_else(|| request.path().to_owned());
    let Some(held) = throttle.allow((agent, route.clone(), status.as_u16()), Instant::now()) else {
        return Ok(res);
    };
    let error = res.response().error().map(ToString::to_string).unwrap_or_default();
    let mut message = format!("{} {route} answered {status}: {error}", request.method());
    if held > 0 {
        message.push_str(&format!(" ({held} more since the last entry)"));
    }
    let level = if status.is_server_error() {
        Level::Error
    } else {
        Level::Warning
    };
    write(state, agent, level, LogType::AgentIssues, &message).await;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_key_and_minute_then_the_count_held_back() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        let key = |status| (AgentPk(1), "/api/v3/checkrunner/".to_owned(), status);
        assert_eq!(throttle.allow(key(400), t0), Some(0));
        assert_eq!(throttle.allow(key(400), t0 + Duration::from_secs(1)), None);
        assert_eq!(throttle.allow(key(400), t0 + Duration::from_secs(2)), None);
        assert_eq!(throttle.allow(key(404), t0), Some(0), "another status is another key");
        assert_eq!(throttle.allow(key(400), t0 + EVERY), Some(2));
        assert_eq!(throttle.allow(key(400), t0 + EVERY), None);
    }
}
