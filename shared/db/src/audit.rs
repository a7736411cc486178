//! The audit log (Tactical RMM `logs.AuditLog`): insert-only.

use crate::GenericClient;
use serde_json::Value;

use crate::DbError;

/// One audit row to write.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry<'a> {
    /// Who acted (a username, or the agent's hostname for agent actions).
    pub username: &'a str,
    /// Hostname of the agent concerned.
    pub agent: Option<&'a str>,
    /// agent_id of the agent concerned.
    pub agent_id: Option<&'a str>,
    /// `login`, `failed_login`, `add`, `modify`, `delete`, `agent_install`, ...
    pub action: &'a str,
    /// `user`, `agent`, `client`, `site`, ...
    pub object_type: &'a str,
    /// State before the change.
    pub before_value: Option<Value>,
    /// State after the change.
    pub after_value: Option<Value>,
    /// Human-readable summary.
    pub message: String,
    /// `{ip, url, method, ...}` of the request.
    pub debug_info: Option<Value>,
}

/// Upstream cuts messages to 253 characters plus "..".
fn clip(message: &str) -> String {
    if message.chars().count() <= 255 {
        return message.to_owned();
    }
    let mut s: String = message.chars().take(253).collect();
    s.push_str("..");
    s
}

/// Appends a row to the audit log.
pub async fn insert(db: &impl GenericClient, e: &AuditEntry<'_>) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO audit_logs (username, agent, agent_id, action, object_type, before_value, after_value, message,
                                 debug_info)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &e.username,
            &e.agent,
            &e.agent_id,
            &e.action,
            &e.object_type,
            &e.before_value,
            &e.after_value,
            &clip(&e.message),
            &e.debug_info,
        ],
    )
    .await?;
    Ok(())
}

/// Number of rows with this action and username (used by operators' checks and tests).
pub async fn count(db: &impl GenericClient, action: &str, username: &str) -> Result<i64, DbError> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM audit_logs WHERE action = $1 AND username = $2",
            &[&action, &username],
        )
        .await?
        .get(0))
}
