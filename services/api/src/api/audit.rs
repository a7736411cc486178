//! Audit rows for dashboard changes (TRMM's BaseAuditModel writes add/modify/delete rows on every save).

use actix_web::HttpRequest;
use serde_json::Value;
use trmm_db::audit::{self, AuditEntry};

use crate::auth::{self, Identity};
use crate::error::ApiResult;
use crate::state::AppState;

/// What changed, for one audit row.
pub struct Change<'a> {
    /// `add`, `modify` or `delete`.
    pub action: &'a str,
    /// `client`, `site`, `agent`, ...
    pub object_type: &'a str,
    /// Summary shown in the audit log.
    pub message: String,
    /// State before.
    pub before: Option<Value>,
    /// State after.
    pub after: Option<Value>,
    /// `(hostname, agent_id)` when the change concerns an agent.
    pub agent: Option<(&'a str, &'a str)>,
}

impl<'a> Change<'a> {
    /// An `add` row.
    pub fn add(object_type: &'a str, message: String, after: Value) -> Self {
        Change {
            action: "add",
            object_type,
            message,
            before: None,
            after: Some(after),
            agent: None,
        }
    }

    /// A `modify` row.
    pub fn modify(object_type: &'a str, message: String, before: Value, after: Value) -> Self {
        Change {
            action: "modify",
            object_type,
            message,
            before: Some(before),
            after: Some(after),
            agent: None,
        }
    }

    /// A `delete` row.
    pub fn delete(object_type: &'a str, message: String, before: Value) -> Self {
        Change {
            action: "delete",
            object_type,
            message,
            before: Some(before),
            after: None,
            agent: None,
        }
    }

    /// Names the agent the change concerns.
    pub fn on_agent(mut self, hostname: &'a str, agent_id: &'a str) -> Self {
        self.agent = Some((hostname, agent_id));
        self
    }
}

/// [`record`]s the change in `tx` and commits it, so that the row exists exactly when the change does.
pub async fn commit(
    tx: deadpool_postgres::Transaction<'_>,
    state: &AppState,
    req: &HttpRequest,
    who: &Identity,
    change: Change<'_>,
) -> ApiResult<()> {
    record(&tx, state, req, who, change).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes an audit row for a change made by `who` in request `req`.
pub async fn record(
    db: &impl trmm_db::GenericClient,
    state: &AppState,
    req: &HttpRequest,
    who: &Identity,
    change: Change<'_>,
) -> ApiResult<()> {
    audit::insert(
        db,
        &AuditEntry {
            username: who.username(),
            agent: change.agent.map(|a| a.0),
            agent_id: change.agent.map(|a| a.1),
            action: change.action,
            object_type: change.object_type,
            before_value: change.before,
            after_value: change.after,
            message: change.message,
            debug_info: Some(auth::debug_info(req, state)),
        },
    )
    .await?;
    Ok(())
}
