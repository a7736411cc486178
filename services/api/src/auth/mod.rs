//! Authentication and permissions as extractors: a handler's argument types say who may call it.
//!
//! * [`Authed<P>`]: a dashboard user with a full session and permission `P`.
//! * [`ScopedAgent<P>`]: the same, plus the agent named in the path, which must be inside the user's scope.
//! * [`TotpSetupUser`]: any session, including the short one a user without 2FA gets; only for TOTP setup.
//! * [`AgentAuth`]: an agent's static token (agent API); [`InstallerAuth`]: an installer token.

mod agent;
mod dashboard;
pub mod perms;

pub use agent::{AgentAuth, InstallerAuth};
pub use dashboard::{Authed, Identity, ScopedAgent, TotpSetupUser, SESSION_TTL};

use std::net::IpAddr;

use actix_web::HttpRequest;
use serde_json::{json, Value};

use crate::state::AppState;

/// The value of `Authorization: Token <key>` (keyword case-insensitive, as DRF).
fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (keyword, token) = value.trim().split_once(' ')?;
    keyword
        .eq_ignore_ascii_case("token")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn state_of(req: &HttpRequest) -> Result<AppState, crate::error::ApiError> {
    req.app_data::<actix_web::web::Data<AppState>>()
        .map(|d| d.get_ref().clone())
        .ok_or_else(|| crate::error::ApiError::Internal("AppState missing".into()))
}

/// The client's IP: the socket peer, or the proxy-reported address when proxy headers are trusted.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    let info = req.connection_info();
    let raw = if state.settings.trust_proxy_headers {
        info.realip_remote_addr()
    } else {
        info.peer_addr()
    }?;
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// `debug_info` of an audit row: where a request came from and what it was.
pub fn debug_info(req: &HttpRequest, state: &AppState) -> Value {
    json!({
        "ip": client_ip(req, state).map(|ip| ip.to_string()),
        "method": req.method().as_str(),
        "url": req.path(),
    })
}
