//! `?access_token=` authentication of dashboard websockets (TRMM's KnoxAuthMiddlewareStack), with the session
//! and role rules trmm-api applies to REST calls (both go through `trmm_db::access`).

use chrono::Utc;
use serde_json::{json, Value};
use trmm_db::access::{self, Access};
use trmm_db::agents::AgentRef;
use trmm_db::sessions;

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
    fn new(status: u16, message: &str) -> Refusal {
        Refusal {
            status,
            message: message.to_owned(),
            close_code: match status {
                401 => 4401,
                404 => 4004,
                _ => 4003,
            },
        }
    }

    /// The error frame.
    pub fn frame(&self) -> Value {
        json!({ "error": self.message, "status": self.status })
    }
}

impl From<trmm_db::DbError> for Refusal {
    fn from(e: trmm_db::DbError) -> Self {
        tracing::error!(error = %e, "websocket authorization failed");
        Refusal {
            status: 500,
            message: "A server error occurred.".into(),
            close_code: 1011,
        }
    }
}

/// The token in a query string: upstream takes what follows `access_token=`; a later `&param` is not part of it.
pub fn token(query: &str) -> Option<&str> {
    let (_, rest) = query.split_once("access_token=")?;
    let token = rest.split('&').next().unwrap_or_default();
    (!token.is_empty()).then_some(token)
}

/// The user behind `query`'s token, if that user holds `flag` and may see agent `agent_id`.
pub async fn authorize(
    pool: &trmm_db::Pool,
    query: &str,
    flag: &str,
    agent_id: &str,
) -> Result<(Access, AgentRef), Refusal> {
    let token = token(query).ok_or_else(|| Refusal::new(401, "Authentication credentials were not provided."))?;
    let db = pool.get().await.map_err(trmm_db::DbError::from)?;
    let who = access::by_session(&**db, &trmm_auth::digest_token(token), Utc::now())
        .await?
        .ok_or_else(|| Refusal::new(401, "Invalid token."))?;
    if who.session.scope != sessions::Scope::Full {
        return Err(Refusal::new(
            403,
            "Two-factor authentication must be set up before this token can be used.",
        ));
    }
    if who.session.user.block_dashboard_login || !who.has(flag) {
        return Err(Refusal::new(403, "You do not have permission to perform this action."));
    }
    let agent = trmm_db::agents::find_by_agent_id(&**db, agent_id)
        .await?
        .ok_or_else(|| Refusal::new(404, "Agent not found."))?;
    if !who.visibility().allows_site(agent.client, agent.site) {
        return Err(Refusal::new(403, "You do not have permission to perform this action."));
    }
    Ok((who, agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_taken_from_the_query() {
        assert_eq!(token("access_token=abc"), Some("abc"));
        assert_eq!(token("x=1&access_token=abc&y=2"), Some("abc"));
        assert_eq!(token("access_token="), None);
        assert_eq!(token(""), None);
    }
}
