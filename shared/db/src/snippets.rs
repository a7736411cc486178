//! Script snippets (Tactical RMM `scripts.ScriptSnippet`): code pasted into script bodies as `{{name}}`.

use std::collections::HashMap;

use crate::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;

use crate::{DbError, SnippetId};

/// The writable fields of a snippet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnippetFields {
    /// Unique name, referenced as `{{name}}` (at most 40 characters).
    pub name: String,
    /// Short description (at most 50 characters).
    pub desc: String,
    /// The code that replaces the reference.
    pub code: String,
    /// Shell the snippet is written for.
    pub shell: String,
}

/// A stored snippet; serializes as TRMM's `ScriptSnippetSerializer` (`__all__`).
#[derive(Debug, Clone, Serialize)]
pub struct Snippet {
    /// Primary key.
    pub id: SnippetId,
    /// The fields.
    #[serde(flatten)]
    pub fields: SnippetFields,
}

fn from_row(row: &Row) -> Snippet {
    from_row! { row, Snippet { id, fields: from_row! { row, SnippetFields { name, desc, code, shell } } } }
}

/// Every snippet, by name.
pub async fn list(db: &impl GenericClient) -> Result<Vec<Snippet>, DbError> {
    let rows = db
        .query(
            r#"SELECT id, name, "desc", code, shell FROM script_snippets ORDER BY name"#,
            &[],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// One snippet.
pub async fn get(db: &impl GenericClient, id: SnippetId) -> Result<Option<Snippet>, DbError> {
    let row = db
        .query_opt(
            r#"SELECT id, name, "desc", code, shell FROM script_snippets WHERE id = $1"#,
            &[&id.0],
        )
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// Inserts a snippet; a duplicate name is a unique violation.
pub async fn create(db: &impl GenericClient, f: &SnippetFields) -> Result<SnippetId, DbError> {
    let row = db
        .query_one(
            r#"INSERT INTO script_snippets (name, "desc", code, shell) VALUES ($1, $2, $3, $4) RETURNING id"#,
            &[&f.name, &f.desc, &f.code, &f.shell],
        )
        .await?;
    Ok(SnippetId(row.get(0)))
}

/// Overwrites a snippet; a duplicate name is a unique violation.
pub async fn update(db: &impl GenericClient, id: SnippetId, f: &SnippetFields) -> Result<bool, DbError> {
    let n = db
        .execute(
            r#"UPDATE script_snippets SET name = $2, "desc" = $3, code = $4, shell = $5 WHERE id = $1"#,
            &[&id.0, &f.name, &f.desc, &f.code, &f.shell],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes a snippet.
pub async fn delete(db: &impl GenericClient, id: SnippetId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "script_snippets", &id.0).await
}

/// Name → code of every snippet, for expanding script bodies.
pub async fn code_by_name(db: &impl GenericClient) -> Result<HashMap<String, String>, DbError> {
    let rows = db.query("SELECT name, code FROM script_snippets", &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
