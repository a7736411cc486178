//! Authentication and permissions as extractors: a handler's argument types say who may call it. The rules
//! themselves (sessions, permissions, client/site scope, client IP) live in `trmm_authz`, shared with
//! trmm-websocket; this module only turns them into extractors and `ApiError`s.
//!
//! * [`Authed<P>`]: a dashboard user with a full session or an API key (`X-API-KEY`), and permission `P`.
//! * [`ScopedAgent<P>`]: the same, plus the agent named in the path, which must be inside the user's scope.
//! * [`ScopedClient<P>`], [`VisibleClient<P>`], [`ScopedSite<P>`], [`Scoped<P, T>`]: the same for the client,
//!   site or other scoped object named by the `{pk}` path segment.
//! * [`TotpSetupUser`]: any session, including the short one a user without 2FA gets; only for TOTP setup.
//! * [`AgentAuth`]: an agent's static token (agent API); [`InstallerAuth`]: an installer token.
//!
//! Every dashboard extractor but [`TotpSetupUser`] takes an API key as well as a session, and
//! [`refuse_api_keys`] turns API keys away from the endpoints that must never see one (login, the session's own
//! endpoints, the agent API).
//!
//! Ids that arrive in a body rather than the path are checked by loading them through [`in_scope`].

/// Implements `FromRequest` for an extractor that an async fn builds from the request alone.
macro_rules! from_request_by {
    ($ty:ident => $resolve:expr) => {
        from_request_by!(impl<> $ty => $resolve);
    };
    (impl<$($param:ident: $bound:path),*> $ty:ty => $resolve:expr) => {
        impl<$($param: $bound),*> actix_web::FromRequest for $ty {
            type Error = ApiError;
            type Future = super::Extracting<Self>;

            fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
                let req = req.clone();
                let gate = $crate::auth::gate::Gate::of(&req);
                Box::pin(async move {
                    let resolved = $resolve(&req).await;
                    if resolved.is_ok() {
                        gate.open();
                    }
                    resolved
                })
            }
        }
    };
}

mod agent;
mod dashboard;
pub(crate) mod gate;
pub mod in_scope;
mod scoped;
pub(crate) mod session_only;

pub use agent::{AgentAuth, InstallerAuth};
pub use dashboard::{Authed, ScopedAgent, SessionUser, TotpSetupUser};
pub use scoped::{ClientInTree, Scoped, ScopedClient, ScopedObject, ScopedSite, Target, VisibleClient, WholeClient};
pub use session_only::refuse_api_keys;
pub use trmm_authz::{perms, Identity, SESSION_TTL};

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::HttpRequest;
use serde_json::{json, Value};
use trmm_authz::Denial;

use crate::error::ApiError;
use crate::state::AppState;

/// What the extractors' futures are: they own a clone of the request, so nothing borrows it.
type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl From<Denial> for ApiError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::NoCredentials => ApiError::Unauthorized(trmm_authz::NO_CREDENTIALS),
            Denial::InvalidToken => ApiError::Unauthorized(trmm_authz::INVALID_TOKEN),
            Denial::UserInactive => ApiError::Unauthorized(trmm_authz::USER_INACTIVE),
            Denial::KeyExpired => ApiError::Unauthorized(trmm_authz::KEY_EXPIRED),
            Denial::TotpRequired => ApiError::Forbidden(trmm_authz::TOTP_REQUIRED),
            Denial::NoPermission => ApiError::Forbidden(trmm_authz::NO_PERMISSION),
            Denial::NotFound => ApiError::NotFound,
            Denial::Db(e) => e.into(),
        }
    }
}

fn state_of(req: &HttpRequest) -> Result<AppState, ApiError> {
    req.app_data::<actix_web::web::Data<AppState>>()
        .map(|d| d.get_ref().clone())
        .ok_or_else(|| ApiError::Internal("AppState missing".into()))
}

/// The state, a connection and the digest of the request's token, which every token kind is looked up by
/// (only digests are stored); no token is a 401.
async fn token_digest(req: &HttpRequest) -> Result<(AppState, trmm_db::Client, trmm_auth::TokenDigest), ApiError> {
    let state = state_of(req)?;
    let token = trmm_authz::bearer_token(req).ok_or(Denial::NoCredentials)?;
    let digest = trmm_auth::digest_token(token);
    let db = state.conn().await?;
    Ok((state, db, digest))
}

/// The client's IP, by the rule every service shares (`trmm_authz::client_ip`).
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    trmm_authz::client_ip(req, state.settings.trust_proxy_headers)
}

/// `debug_info` of an audit row: where a request came from and what it was.
pub fn debug_info(req: &HttpRequest, state: &AppState) -> Value {
    json!({
        "ip": client_ip(req, state).map(|ip| ip.to_string()),
        "method": req.method().as_str(),
        "url": req.path(),
    })
}
