//! The endpoints an API key must never reach. Upstream authenticates an `X-API-KEY` on every view, so a key could
//! set up TOTP for its user; here a key is for the dashboard API only: it cannot log in (turning it into a
//! dashboard session), act on a session (TOTP setup, logout), change its user's own password or 2FA, or pose as
//! an agent.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::ResponseError;

use crate::error::ApiError;

/// What a request carrying an API key to one of these endpoints gets, with a 403.
pub const REFUSED: &str = "API keys cannot be used on this endpoint.";

/// Paths that take a password or a session and never an API key. `/accounts/resetpw/` and `/accounts/reset2fa/`
/// change the caller's own credentials: with a key, they would let the key's holder take over the dashboard login.
const SESSION_ONLY: &[&str] = &[
    "/v2/checkcreds/",
    "/v2/login/",
    "/logout/",
    "/accounts/users/setup_totp/",
    "/accounts/resetpw/",
    "/accounts/reset2fa/",
];

/// The agent API (`/api/v3/...`), which takes agent and installer tokens only.
const AGENT_API: &str = "/api/";

/// Middleware: a request with an `X-API-KEY` header to a session-only endpoint or the agent API is a 403, whatever
/// else it carries, before the key is even looked up.
pub async fn refuse_api_keys(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    let refused = req.headers().contains_key(trmm_authz::API_KEY_HEADER)
        && (SESSION_ONLY.contains(&path) || path.starts_with(AGENT_API));
    if refused {
        let response = ApiError::Forbidden(REFUSED).error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}
