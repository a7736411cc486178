//! Custom fields (Tactical RMM `core.CustomField`) and their values on agents, clients and sites
//! (`AgentCustomField`, `ClientCustomField`, `SiteCustomField`; server-api.md 5.2).

mod values;

pub use values::{set_value, template_fields, values, FieldValue, Parent, TemplateField, ValueInput};

use std::collections::HashMap;

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::{CustomFieldId, DbError};

/// The kind of object a custom field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldModel {
    /// Agents.
    Agent,
    /// Clients.
    Client,
    /// Sites.
    Site,
}

impl FieldModel {
    /// The stored name: `agent`, `client` or `site`.
    pub fn as_str(self) -> &'static str {
        self.name_ref()
    }

    /// The stored name as a static reference, which a statement's parameter list can borrow.
    fn name_ref(self) -> &'static &'static str {
        match self {
            FieldModel::Agent => &"agent",
            FieldModel::Client => &"client",
            FieldModel::Site => &"site",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<FieldModel> {
        Some(match s {
            "agent" => FieldModel::Agent,
            "client" => FieldModel::Client,
            "site" => FieldModel::Site,
            _ => return None,
        })
    }

    /// (value table, parent column) of this model's values; static strings, never user input.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            FieldModel::Agent => ("agent_custom_fields", "agent_pk"),
            FieldModel::Client => ("client_custom_fields", "client_id"),
            FieldModel::Site => ("site_custom_fields", "site_id"),
        }
    }
}

/// Value types of a custom field.
pub const FIELD_TYPES: [&str; 6] = ["text", "number", "single", "multiple", "checkbox", "datetime"];

/// The writable part of a field definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldSpec {
    /// Display order.
    pub order: i32,
    /// What the field belongs to.
    pub model: FieldModel,
    /// One of [`FIELD_TYPES`].
    #[serde(rename = "type")]
    pub field_type: String,
    /// Choices of single and multiple fields.
    pub options: Vec<String>,
    /// Unique per model (at most 100 characters).
    pub name: String,
    /// The dashboard requires a value.
    pub required: bool,
    /// Default of text-like fields.
    pub default_value_string: Option<String>,
    /// Default of checkbox fields.
    pub default_value_bool: bool,
    /// Default of multiple fields.
    pub default_values_multiple: Vec<String>,
    /// Not shown in the UI.
    pub hide_in_ui: bool,
    /// Not shown in the agent summary.
    pub hide_in_summary: bool,
}

impl Default for FieldSpec {
    fn default() -> Self {
        FieldSpec {
            order: 0,
            model: FieldModel::Agent,
            field_type: "text".into(),
            options: Vec::new(),
            name: String::new(),
            required: false,
            default_value_string: None,
            default_value_bool: false,
            default_values_multiple: Vec::new(),
            hide_in_ui: false,
            hide_in_summary: false,
        }
    }
}

impl FieldSpec {
    /// The spec as $1..$11, then `rest`: one list, so `create` and `update` cannot bind it in different orders.
    fn params<'a>(&'a self, rest: &[&'a (dyn ToSql + Sync)]) -> Vec<&'a (dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &self.order,
            self.model.name_ref(),
            &self.field_type,
            &self.options,
            &self.name,
            &self.required,
            &self.default_value_string,
            &self.default_value_bool,
            &self.default_values_multiple,
            &self.hide_in_ui,
            &self.hide_in_summary,
        ];
        params.extend_from_slice(rest);
        params
    }
}

/// A field definition; serializes as TRMM's `CustomFieldSerializer` (`__all__`).
#[derive(Debug, Clone, Serialize)]
pub struct CustomField {
    /// Primary key.
    pub id: CustomFieldId,
    /// The definition.
    #[serde(flatten)]
    pub spec: FieldSpec,
    /// Who created it.
    pub created_by: Option<String>,
    /// When it was created.
    pub created_time: DateTime<Utc>,
    /// Who changed it last.
    pub modified_by: Option<String>,
    /// When it was changed last.
    pub modified_time: DateTime<Utc>,
}

const SELECT: &str = r#"SELECT id, "order", model, type, options, name, required, default_value_string,
    default_value_bool, default_values_multiple, hide_in_ui, hide_in_summary,
    created_by, created_time, modified_by, modified_time FROM custom_fields"#;

fn from_row(row: &Row) -> CustomField {
    from_row! { row, CustomField {
        id,
        spec: from_row! { row, FieldSpec {
            order, model: FieldModel::parse(row.get("model")).unwrap_or(FieldModel::Agent), field_type = "type",
            options, name, required, default_value_string, default_value_bool, default_values_multiple, hide_in_ui,
            hide_in_summary,
        } },
        created_by, created_time, modified_by, modified_time,
    } }
}

/// Every field definition, or those of one model, by display order.
pub async fn list(db: &impl GenericClient, model: Option<FieldModel>) -> Result<Vec<CustomField>, DbError> {
    let sql = format!(r#"{SELECT} WHERE $1::text IS NULL OR model = $1 ORDER BY "order", id"#);
    let rows = db.query(&sql, &[&model.map(FieldModel::as_str)]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// One field definition.
pub async fn get(db: &impl GenericClient, id: CustomFieldId) -> Result<Option<CustomField>, DbError> {
    let sql = format!("{SELECT} WHERE id = $1");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// Inserts a field; a duplicate (model, name) is a unique violation.
pub async fn create(db: &impl GenericClient, s: &FieldSpec, by: &str) -> Result<CustomFieldId, DbError> {
    let row = db
        .query_one(
            r#"INSERT INTO custom_fields ("order", model, type, options, name, required, default_value_string,
                    default_value_bool, default_values_multiple, hide_in_ui, hide_in_summary, created_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id"#,
            &s.params(&[&by]),
        )
        .await?;
    Ok(CustomFieldId(row.get(0)))
}

/// Overwrites a definition (callers merge partial edits first).
pub async fn update(db: &impl GenericClient, id: CustomFieldId, s: &FieldSpec, by: &str) -> Result<bool, DbError> {
    let n = db
        .execute(
            r#"UPDATE custom_fields SET "order" = $1, model = $2, type = $3, options = $4, name = $5, required = $6,
                    default_value_string = $7, default_value_bool = $8, default_values_multiple = $9,
                    hide_in_ui = $10, hide_in_summary = $11, modified_by = $12, modified_time = now()
               WHERE id = $13"#,
            &s.params(&[&by, &id.0]),
        )
        .await?;
    Ok(n == 1)
}

/// Deletes a definition and, by cascade, every value of it.
pub async fn delete(db: &impl GenericClient, id: CustomFieldId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "custom_fields", &id.0).await
}

/// Number of values stored for a field (on objects of its current model).
pub async fn value_count(db: &impl GenericClient, id: CustomFieldId, model: FieldModel) -> Result<i64, DbError> {
    let (table, _) = model.table();
    let sql = format!("SELECT count(*) FROM {table} WHERE field_id = $1");
    Ok(db.query_one(&sql, &[&id.0]).await?.get(0))
}

/// Field id → (model, type) for the given ids that exist.
pub async fn kinds(
    db: &impl GenericClient,
    ids: &[CustomFieldId],
) -> Result<HashMap<CustomFieldId, (FieldModel, String)>, DbError> {
    let raw: Vec<i32> = ids.iter().map(|i| i.0).collect();
    let rows = db
        .query("SELECT id, model, type FROM custom_fields WHERE id = ANY($1)", &[&raw])
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((CustomFieldId(r.get(0)), (FieldModel::parse(r.get(1))?, r.get(2)))))
        .collect())
}
