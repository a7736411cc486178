//! `?access_token=` authorization of dashboard websockets (TRMM's KnoxAuthMiddlewareStack): the session,
//! permission and scope check is `trmm_authz`'s, the one trmm-api's extractors make; this module only renders
//! its [`Denial`] as an error frame and a close code.

use std::net::IpAddr;

use actix_ws::{CloseCode, CloseReason, Session};
use serde_json::{json, Value};
use trmm_authz::perms::{Authenticated, Permission};
use trmm_authz::{Denial, Identity};
use trmm_db::agents::AgentRef;

/// Why a socket is refused: sent as `{"error", "status"}`, then the socket is closed with `close_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP-like status in the error frame.
    pub status: u16,
    /// Human-readable reason.
    pub message: String,
    /// Websocket close code, as upstream: 4401 without a valid token, 4003 when refused (4004: unknown agent).
    pub close_code: u16,
}

impl Refusal {
    /// The error frame.
    pub fn frame(&self) -> Value {
        json!({ "error": self.message, "status": self.status })
    }
}

impl From<Denial> for Refusal {
    fn from(denial: Denial) -> Self {
        let status = denial.status();
        let (message, close_code) = match denial {
            Denial::Db(e) => {
                tracing::error!(error = %e, "websocket authorization failed");
                ("A server error occurred.".to_owned(), 1011)
            }
            Denial::NotFound => ("Agent not found.".to_owned(), 4004),
            other => (other.to_string(), if status == 401 { 4401 } else { 4003 }),
        };
        Refusal {
            status,
            message,
            close_code,
        }
    }
}

impl From<trmm_db::DbError> for Refusal {
    fn from(e: trmm_db::DbError) -> Self {
        Denial::Db(e).into()
    }
}

/// Sends the refusal's error frame and closes the socket with its code.
pub async fn refuse(mut session: Session, refusal: &Refusal) {
    let _ = session.text(refusal.frame().to_string()).await;
    let reason = CloseReason {
        code: CloseCode::Other(refusal.close_code),
        description: Some(refusal.message.clone()),
    };
    let _ = session.close(Some(reason)).await;
}

/// The user behind `query`'s token, connecting from `ip`: a full session of a user allowed on the dashboard
/// (upstream's dashinfo consumer refuses anonymous and `block_dashboard_login` users).
pub async fn authenticate(
    pool: &trmm_db::Pool,
    query: &str,
    ip: Option<IpAddr>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Identity, Refusal> {
    let token = trmm_authz::query_token(query).ok_or(Denial::NoCredentials)?;
    let db = pool.get().await.map_err(trmm_db::DbError::from)?;
    Ok(trmm_authz::authorize::<Authenticated>(&db, Some(token), ip, now).await?)
}

/// The user behind `query`'s token, connecting from `ip`, if that user holds `P` and may see agent `agent_id`.
pub async fn authorize<P: Permission>(
    pool: &trmm_db::Pool,
    query: &str,
    ip: Option<IpAddr>,
    agent_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Identity, AgentRef), Refusal> {
    let token = trmm_authz::query_token(query);
    if token.is_none() {
        return Err(Denial::NoCredentials.into());
    }
    let db = pool.get().await.map_err(trmm_db::DbError::from)?;
    Ok(trmm_authz::authorize_agent::<P>(&db, token, ip, agent_id, now).await?)
}
