//! Audit rows for dashboard changes and actions (TRMM's BaseAuditModel writes add/modify/delete rows on every save
//! of an audited model; views write the explicit ones, server-api.md 2.7). A handler describes the row as a
//! [`Change`] and hands it to [`record`] or [`commit`], which add who acted and where the request came from.

use actix_web::HttpRequest;
use serde::Serialize;
use serde_json::Value;
use trmm_db::agents::AgentRef;
use trmm_db::audit::{self, AuditEntry};
use trmm_db::{ClientId, SiteId};

use crate::auth::{self, Identity};
use crate::error::ApiResult;
use crate::state::AppState;

/// Bookkeeping that every save changes; a modification of nothing else writes no row (upstream compares the
/// values serialized before the save stamps them).
const BOOKKEEPING: [&str; 2] = ["modified_time", "modified_by"];

/// What changed, for one audit row.
pub struct Change<'a> {
    /// `add`, `modify`, `delete`, or an explicit action such as `execute_script`.
    pub action: &'a str,
    /// `client`, `site`, `agent`, ...: upstream's lower-cased model name.
    pub object_type: &'a str,
    /// Summary shown in the audit log.
    pub message: String,
    /// State before.
    pub before: Option<Value>,
    /// State after.
    pub after: Option<Value>,
    /// `(hostname, agent_id)` when the change concerns an agent.
    pub agent: Option<(&'a str, &'a str)>,
    /// The client, and site if any, the change concerns; an existing agent's is found from the agent.
    pub place: Option<(ClientId, Option<SiteId>)>,
}

impl<'a> Change<'a> {
    /// A row for an explicit action, without values.
    pub fn action(action: &'a str, object_type: &'a str, message: String) -> Self {
        Change {
            action,
            object_type,
            message,
            before: None,
            after: None,
            agent: None,
            place: None,
        }
    }

    /// An `add` row.
    pub fn add(object_type: &'a str, message: String, after: Value) -> Self {
        Change::action("add", object_type, message).with_after(after)
    }

    /// A `modify` row; it is written only if `before` and `after` differ beyond [`BOOKKEEPING`].
    pub fn modify(object_type: &'a str, message: String, before: Value, after: Value) -> Self {
        Change {
            before: Some(before),
            ..Change::action("modify", object_type, message).with_after(after)
        }
    }

    /// A `delete` row.
    pub fn delete(object_type: &'a str, message: String, before: Value) -> Self {
        Change {
            before: Some(before),
            ..Change::action("delete", object_type, message)
        }
    }

    /// Sets the value after the change or action.
    pub fn with_after(self, after: Value) -> Self {
        Change {
            after: Some(after),
            ..self
        }
    }

    /// Names the agent the change concerns.
    pub fn on_agent(self, hostname: &'a str, agent_id: &'a str) -> Self {
        Change {
            agent: Some((hostname, agent_id)),
            ..self
        }
    }

    /// Names the agent the change concerns, if any.
    pub fn on(self, agent: Option<&'a AgentRef>) -> Self {
        match agent {
            Some(a) => self.on_agent(&a.hostname, &a.agent_id),
            None => self,
        }
    }

    /// Places the row at a client (a change of the client itself).
    pub fn at_client(self, client: ClientId) -> Self {
        Change {
            place: Some((client, None)),
            ..self
        }
    }

    /// Places the row at a site of `client` (a change of the site, or of an agent that is gone afterwards).
    pub fn at_site(self, client: ClientId, site: SiteId) -> Self {
        Change {
            place: Some((client, Some(site))),
            ..self
        }
    }

    /// Whether a `modify` with values changed nothing but bookkeeping (one without values is an event).
    fn is_noop(&self) -> bool {
        let stripped = |v: &Option<Value>| {
            let mut v = v.clone();
            if let Some(Value::Object(map)) = &mut v {
                BOOKKEEPING.iter().for_each(|k| drop(map.remove(*k)));
            }
            v
        };
        self.action == "modify" && self.before.is_some() && stripped(&self.before) == stripped(&self.after)
    }
}

/// An object's audit value: its JSON without `keys` (what is derived from other rows, or too large to keep).
pub fn snapshot(object: impl Serialize, keys: &[&str]) -> ApiResult<Value> {
    let mut v = serde_json::to_value(object)?;
    if let Value::Object(map) = &mut v {
        keys.iter().for_each(|k| drop(map.remove(*k)));
    }
    Ok(v)
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

/// Writes an audit row for a change made by `who` in request `req` (none for a modification of nothing).
pub async fn record(
    db: &impl trmm_db::GenericClient,
    state: &AppState,
    req: &HttpRequest,
    who: &Identity,
    change: Change<'_>,
) -> ApiResult<()> {
    if change.is_noop() {
        return Ok(());
    }
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
            client: change.place.map(|p| p.0),
            site: change.place.and_then(|p| p.1),
        },
    )
    .await?;
    Ok(())
}
