//! URL actions (Tactical RMM `core.URLAction`): dashboard links (`web`) and webhooks (`rest`).

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;

use crate::{DbError, UrlActionId};

/// One URL action; serializes as upstream's `URLActionSerializer` (`__all__`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UrlAction {
    /// Primary key.
    pub id: UrlActionId,
    /// Name shown in menus.
    pub name: String,
    /// Description.
    pub desc: Option<String>,
    /// The URL template.
    pub pattern: String,
    /// `web` or `rest`.
    pub action_type: String,
    /// `get`, `post`, `put`, `delete` or `patch` (rest only).
    pub rest_method: String,
    /// JSON body template (rest only).
    pub rest_body: String,
    /// JSON headers template (rest only).
    pub rest_headers: String,
    /// Who created it.
    pub created_by: Option<String>,
    /// When it was created.
    pub created_time: DateTime<Utc>,
    /// Who changed it last.
    pub modified_by: Option<String>,
    /// When it was changed last.
    pub modified_time: DateTime<Utc>,
}

/// The fields a create or an edit writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UrlActionFields {
    /// Name.
    pub name: String,
    /// Description.
    pub desc: Option<String>,
    /// URL template.
    pub pattern: String,
    /// `web` or `rest`.
    pub action_type: String,
    /// HTTP method of a rest action.
    pub rest_method: String,
    /// Body template.
    pub rest_body: String,
    /// Headers template.
    pub rest_headers: String,
}

impl UrlAction {
    /// The writable fields, to change and write back.
    pub fn fields(&self) -> UrlActionFields {
        UrlActionFields {
            name: self.name.clone(),
            desc: self.desc.clone(),
            pattern: self.pattern.clone(),
            action_type: self.action_type.clone(),
            rest_method: self.rest_method.clone(),
            rest_body: self.rest_body.clone(),
            rest_headers: self.rest_headers.clone(),
        }
    }
}

const SELECT: &str = "SELECT id, name, \"desc\", pattern, action_type, rest_method, rest_body, rest_headers,
    created_by, created_time, modified_by, modified_time FROM url_actions";

fn from_row(r: &Row) -> UrlAction {
    from_row! { r, UrlAction {
        id, name, desc, pattern, action_type, rest_method, rest_body, rest_headers, created_by, created_time,
        modified_by, modified_time,
    } }
}

/// Every action, by id.
pub async fn list(db: &impl GenericClient) -> Result<Vec<UrlAction>, DbError> {
    let sql = format!("{SELECT} ORDER BY id");
    Ok(db.query(&sql, &[]).await?.iter().map(from_row).collect())
}

/// One action.
pub async fn get(db: &impl GenericClient, id: UrlActionId) -> Result<Option<UrlAction>, DbError> {
    let sql = format!("{SELECT} WHERE id = $1");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// Inserts an action.
pub async fn create(db: &impl GenericClient, f: &UrlActionFields, by: &str) -> Result<UrlActionId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO url_actions (name, \"desc\", pattern, action_type, rest_method, rest_body, rest_headers,
                                      created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &f.name,
                &f.desc,
                &f.pattern,
                &f.action_type,
                &f.rest_method,
                &f.rest_body,
                &f.rest_headers,
                &by,
            ],
        )
        .await?;
    Ok(UrlActionId(row.get(0)))
}

/// Overwrites an action's fields.
pub async fn update(db: &impl GenericClient, id: UrlActionId, f: &UrlActionFields, by: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE url_actions SET name = $2, \"desc\" = $3, pattern = $4, action_type = $5, rest_method = $6,
                rest_body = $7, rest_headers = $8, modified_by = $9, modified_time = now()
         WHERE id = $1",
        &[
            &id.0,
            &f.name,
            &f.desc,
            &f.pattern,
            &f.action_type,
            &f.rest_method,
            &f.rest_body,
            &f.rest_headers,
            &by,
        ],
    )
    .await?;
    Ok(())
}

/// Deletes an action (alert templates that used it lose it: `ON DELETE SET NULL`).
pub async fn delete(db: &impl GenericClient, id: UrlActionId) -> Result<(), DbError> {
    db.execute("DELETE FROM url_actions WHERE id = $1", &[&id.0]).await?;
    Ok(())
}
