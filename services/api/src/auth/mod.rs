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
use trmm_auth::TokenDigest;

use crate::error::ApiError;
use crate::state::AppState;

const NO_CREDENTIALS: &str = "Authentication credentials were not provided.";
const INVALID_TOKEN: &str = "Invalid token.";

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

fn state_of(req: &HttpRequest) -> Result<AppState, ApiError> {
    req.app_data::<actix_web::web::Data<AppState>>()
        .map(|d| d.get_ref().clone())
        .ok_or_else(|| ApiError::Internal("AppState missing".into()))
}

/// The state, a connection and the digest of the request's token, which every token kind is looked up by
/// (only digests are stored); no token is a 401.
async fn token_digest(req: &HttpRequest) -> Result<(AppState, trmm_db::Client, TokenDigest), ApiError> {
    let state = state_of(req)?;
    let token = bearer_token(req).ok_or(ApiError::Unauthorized(NO_CREDENTIALS))?;
    let digest = trmm_auth::digest_token(token);
    let db = state.conn().await?;
    Ok((state, db, digest))
}

/// The client's IP: the socket peer, or, behind a trusted reverse proxy, the last X-Forwarded-For entry
/// (the address that proxy saw; earlier entries are whatever the client chose to send).
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    let forwarded = || {
        let header = req.headers().get("x-forwarded-for")?.to_str().ok()?;
        header.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    };
    let peer = || req.peer_addr().map(|a| a.ip());
    if state.settings.trust_proxy_headers {
        forwarded().or_else(peer)
    } else {
        peer()
    }
}

/// `debug_info` of an audit row: where a request came from and what it was.
pub fn debug_info(req: &HttpRequest, state: &AppState) -> Value {
    json!({
        "ip": client_ip(req, state).map(|ip| ip.to_string()),
        "method": req.method().as_str(),
        "url": req.path(),
    })
}
