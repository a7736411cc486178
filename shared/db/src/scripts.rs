//! The script library (Tactical RMM `scripts.Script`): user scripts and community (`builtin`) scripts.

use crate::GenericClient;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::{DbError, ScriptId};

/// `userdefined` scripts are the users' own; `builtin` ones are community scripts (only favorite/hidden change).
pub const USER_DEFINED: &str = "userdefined";
/// Script type of community scripts.
pub const BUILTIN: &str = "builtin";

/// Every field of a script a user can write, with TRMM's names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptFields {
    /// Display name (not unique).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// File name of a community script.
    pub filename: Option<String>,
    /// shell, python, powershell, cmd, nushell or deno.
    pub shell: String,
    /// Default arguments.
    pub args: Vec<String>,
    /// Default `KEY=VALUE` environment variables.
    pub env_vars: Vec<String>,
    /// Usage text shown in the dashboard.
    pub syntax: Option<String>,
    /// Starred in the dashboard.
    pub favorite: bool,
    /// Grouping in the script table.
    pub category: Option<String>,
    /// The code, with `{{snippet}}` references unexpanded.
    pub script_body: String,
    /// Seconds before a run is abandoned.
    pub default_timeout: i32,
    /// Hidden from the script table unless asked for.
    pub hidden: bool,
    /// windows / linux / darwin; empty means all.
    pub supported_platforms: Vec<String>,
    /// Run as the logged-in user instead of SYSTEM (Windows).
    pub run_as_user: bool,
}

impl Default for ScriptFields {
    fn default() -> Self {
        ScriptFields {
            name: String::new(),
            description: None,
            filename: None,
            shell: "powershell".into(),
            args: Vec::new(),
            env_vars: Vec::new(),
            syntax: None,
            favorite: false,
            category: None,
            script_body: String::new(),
            default_timeout: 90,
            hidden: false,
            supported_platforms: Vec::new(),
            run_as_user: false,
        }
    }
}

impl ScriptFields {
    /// The fields as $1..$14, then `rest`: one list, so `create` and `update` cannot bind them in different orders.
    fn params<'a>(&'a self, rest: &[&'a (dyn ToSql + Sync)]) -> Vec<&'a (dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &self.name,
            &self.description,
            &self.filename,
            &self.shell,
            &self.args,
            &self.env_vars,
            &self.syntax,
            &self.favorite,
            &self.category,
            &self.script_body,
            &self.default_timeout,
            &self.hidden,
            &self.supported_platforms,
            &self.run_as_user,
        ];
        params.extend_from_slice(rest);
        params
    }
}

/// A stored script; serializes as TRMM's `ScriptSerializer` (body and hash included, no type).
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    /// Primary key.
    pub id: ScriptId,
    /// `userdefined` or `builtin`.
    #[serde(skip)]
    pub script_type: String,
    /// Community script id.
    #[serde(skip)]
    pub guid: Option<String>,
    /// The writable fields.
    #[serde(flatten)]
    pub fields: ScriptFields,
    /// SHA-256 hex of `script_body`.
    pub script_hash: String,
}

/// A row of the script table (TRMM `ScriptTableSerializer`: no body).
#[derive(Debug, Clone, Serialize)]
pub struct ScriptSummary {
    /// Primary key.
    pub id: ScriptId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// `userdefined` or `builtin`.
    pub script_type: String,
    /// Interpreter.
    pub shell: String,
    /// Default arguments.
    pub args: Vec<String>,
    /// Grouping.
    pub category: Option<String>,
    /// Starred.
    pub favorite: bool,
    /// Seconds.
    pub default_timeout: i32,
    /// Usage text.
    pub syntax: Option<String>,
    /// Community file name.
    pub filename: Option<String>,
    /// Hidden from the table by default.
    pub hidden: bool,
    /// Platforms; empty means all.
    pub supported_platforms: Vec<String>,
    /// Run as the logged-in user.
    pub run_as_user: bool,
    /// Default environment variables.
    pub env_vars: Vec<String>,
}

/// SHA-256 hex of a script body, as stored in `script_hash`.
pub fn hash(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

const COLUMNS: &str = "id, guid, name, description, filename, shell, script_type, args, env_vars, syntax, favorite,
    category, script_body, script_hash, default_timeout, hidden, supported_platforms, run_as_user";

fn from_row(row: &Row) -> Script {
    from_row! { row, Script {
        id, script_type, guid,
        fields: from_row! { row, ScriptFields {
            name, description, filename, shell, args, env_vars, syntax, favorite, category, script_body,
            default_timeout, hidden, supported_platforms, run_as_user,
        } },
        script_hash,
    } }
}

/// The script table, ordered by category (uncategorised last, as Postgres sorts NULL) then name; community
/// and hidden scripts only when asked for.
pub async fn list(
    db: &impl GenericClient,
    include_builtin: bool,
    include_hidden: bool,
) -> Result<Vec<ScriptSummary>, DbError> {
    let rows = db
        .query(
            "SELECT id, name, description, script_type, shell, args, category, favorite, default_timeout, syntax,
                    filename, hidden, supported_platforms, run_as_user, env_vars
             FROM scripts
             WHERE ($1 OR script_type = 'userdefined') AND ($2 OR NOT hidden)
             ORDER BY category, name, id",
            &[&include_builtin, &include_hidden],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            from_row! { r, ScriptSummary {
                id, name, description, script_type, shell, args, category, favorite, default_timeout, syntax,
                filename, hidden, supported_platforms, run_as_user, env_vars,
            } }
        })
        .collect())
}

/// One script with its body.
pub async fn get(db: &impl GenericClient, id: ScriptId) -> Result<Option<Script>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM scripts WHERE id = $1");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// One script, locked until the surrounding transaction ends (for read-modify-write edits).
pub async fn get_for_update(db: &impl GenericClient, id: ScriptId) -> Result<Option<Script>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM scripts WHERE id = $1 FOR UPDATE");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// Every user script with its body, ordered by category then name (the export).
pub async fn list_user_scripts(db: &impl GenericClient) -> Result<Vec<Script>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM scripts WHERE script_type = 'userdefined' ORDER BY category, name, id");
    Ok(db.query(&sql, &[]).await?.iter().map(from_row).collect())
}

/// Ids of the user scripts with each of these names, as `(name, id)` pairs ordered by id.
pub async fn user_scripts_named(db: &impl GenericClient, names: &[String]) -> Result<Vec<(String, ScriptId)>, DbError> {
    let rows = db
        .query(
            "SELECT name, id FROM scripts WHERE script_type = 'userdefined' AND name = ANY($1) ORDER BY id",
            &[&names],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), ScriptId(r.get(1)))).collect())
}

/// Inserts a script of `script_type` (`userdefined`, or `builtin` for community scripts) and returns its id.
pub async fn create(
    db: &impl GenericClient,
    script_type: &str,
    guid: Option<&str>,
    f: &ScriptFields,
    by: &str,
) -> Result<ScriptId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO scripts (name, description, filename, shell, args, env_vars, syntax, favorite, category,
                                  script_body, default_timeout, hidden, supported_platforms, run_as_user,
                                  script_hash, created_by, script_type, guid)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
            &f.params(&[&hash(&f.script_body), &by, &script_type, &guid]),
        )
        .await?;
    Ok(ScriptId(row.get(0)))
}

/// Overwrites every writable field (callers merge partial edits first); the hash follows the body.
pub async fn update(db: &impl GenericClient, id: ScriptId, f: &ScriptFields, by: &str) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE scripts SET name = $1, description = $2, filename = $3, shell = $4, args = $5, env_vars = $6,
                    syntax = $7, favorite = $8, category = $9, script_body = $10, default_timeout = $11,
                    hidden = $12, supported_platforms = $13, run_as_user = $14, script_hash = $15,
                    modified_by = $16, modified_time = now()
             WHERE id = $17",
            &f.params(&[&hash(&f.script_body), &by, &id.0]),
        )
        .await?;
    Ok(n == 1)
}

/// Deletes a script.
pub async fn delete(db: &impl GenericClient, id: ScriptId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "scripts", &id.0).await
}
