//! What the dashboard's template views show around a template's own settings: who made it, what its actions
//! are called, where it is assigned, and whether the ids a template edit names exist.

use std::collections::HashMap;

use crate::GenericClient;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{AlertTemplateId, DbError};

/// The bookkeeping and relations of one template.
#[derive(Debug, Clone)]
pub struct Usage {
    /// Who added it.
    pub created_by: Option<String>,
    /// When.
    pub created_time: DateTime<Utc>,
    /// Who changed it last.
    pub modified_by: Option<String>,
    /// When.
    pub modified_time: DateTime<Utc>,
    /// Name of the failure action's script.
    pub action_script: Option<String>,
    /// Name of the failure action's URL action.
    pub action_rest: Option<String>,
    /// Name of the resolve action's script.
    pub resolved_action_script: Option<String>,
    /// Name of the resolve action's URL action.
    pub resolved_action_rest: Option<String>,
    /// Whether the core settings name it as the default template.
    pub is_default: bool,
    /// How many clients and sites it is assigned to (policies arrive with the policies issue).
    pub assignments: i64,
}

fn from_row(row: &Row) -> Usage {
    from_row! { row, Usage {
        created_by, created_time, modified_by, modified_time, action_script, action_rest, resolved_action_script,
        resolved_action_rest, is_default, assignments,
    } }
}

/// The usage of every template, or of `only`.
pub async fn usage(
    db: &impl GenericClient,
    only: Option<AlertTemplateId>,
) -> Result<HashMap<AlertTemplateId, Usage>, DbError> {
    let rows = db
        .query(
            "SELECT t.id, t.created_by, t.created_time, t.modified_by, t.modified_time,
                sa.name AS action_script, ua.name AS action_rest,
                rsa.name AS resolved_action_script, rua.name AS resolved_action_rest,
                EXISTS (SELECT 1 FROM core_settings cs WHERE cs.alert_template_id = t.id) AS is_default,
                (SELECT count(*) FROM clients c WHERE c.alert_template_id = t.id)
                    + (SELECT count(*) FROM sites s WHERE s.alert_template_id = t.id) AS assignments
             FROM alert_templates t
             LEFT JOIN scripts sa ON sa.id = t.action_id LEFT JOIN url_actions ua ON ua.id = t.action_rest_id
             LEFT JOIN scripts rsa ON rsa.id = t.resolved_action_id
             LEFT JOIN url_actions rua ON rua.id = t.resolved_action_rest_id
             WHERE $1::int IS NULL OR t.id = $1",
            &[&only.map(|t| t.0)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (AlertTemplateId(r.get("id")), from_row(r)))
        .collect())
}

/// A kind of object a template names by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// An action script.
    Script,
    /// A webhook.
    UrlAction,
    /// An excluded client.
    Client,
    /// An excluded site.
    Site,
    /// An excluded agent (by its integer key).
    Agent,
}

impl Reference {
    fn table(self) -> &'static str {
        match self {
            Reference::Script => "scripts",
            Reference::UrlAction => "url_actions",
            Reference::Client => "clients",
            Reference::Site => "sites",
            Reference::Agent => "agents",
        }
    }
}

/// The first of `ids`, in their order, that names no object of that kind.
pub async fn first_missing(db: &impl GenericClient, kind: Reference, ids: &[i32]) -> Result<Option<i32>, DbError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT u.id FROM unnest($1::int[]) WITH ORDINALITY AS u (id, n)
         WHERE NOT EXISTS (SELECT 1 FROM {} x WHERE x.id = u.id) ORDER BY u.n LIMIT 1",
        kind.table()
    );
    Ok(db.query_opt(&sql, &[&ids]).await?.map(|r| r.get(0)))
}
