//! Stored custom field values (agent/client/site) and the per-agent view template expansion reads.

use crate::GenericClient;
use serde_json::Value;

use super::FieldModel;
use crate::{AgentPk, ClientId, CustomFieldId, DbError, SiteId};

/// The object a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// An agent.
    Agent(AgentPk),
    /// A client.
    Client(ClientId),
    /// A site.
    Site(SiteId),
}

impl Parent {
    /// The model of fields this object can hold.
    pub fn model(self) -> FieldModel {
        match self {
            Parent::Agent(_) => FieldModel::Agent,
            Parent::Client(_) => FieldModel::Client,
            Parent::Site(_) => FieldModel::Site,
        }
    }

    fn raw(self) -> i32 {
        match self {
            Parent::Agent(a) => a.0,
            Parent::Client(c) => c.0,
            Parent::Site(s) => s.0,
        }
    }
}

/// One stored value, with its field's type so it can be read back as TRMM's single `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValue {
    /// Primary key of the value row.
    pub id: i32,
    /// The field.
    pub field: CustomFieldId,
    /// Raw primary key of the agent, client or site holding it.
    pub parent: i32,
    /// The field's type.
    pub field_type: String,
    /// Value of text/number/single/datetime fields.
    pub string_value: Option<String>,
    /// Value of checkbox fields.
    pub bool_value: bool,
    /// Value of multiple fields.
    pub multiple_value: Vec<String>,
}

impl FieldValue {
    /// The list for `multiple`, the bool for `checkbox`, else the string (TRMM `AgentCustomField.value`).
    pub fn value(&self) -> Value {
        match self.field_type.as_str() {
            "multiple" => Value::from(self.multiple_value.clone()),
            "checkbox" => Value::Bool(self.bool_value),
            _ => self.string_value.clone().map_or(Value::Null, Value::String),
        }
    }
}

/// The values of every object of `model` whose raw primary key is in `parents`, ordered by field display order.
pub async fn values(db: &impl GenericClient, model: FieldModel, parents: &[i32]) -> Result<Vec<FieldValue>, DbError> {
    let (table, parent) = model.table();
    let sql = format!(
        r#"SELECT v.id, v.field_id, v.{parent} AS parent, f.type, v.string_value, v.bool_value, v.multiple_value
           FROM {table} v JOIN custom_fields f ON f.id = v.field_id
           WHERE v.{parent} = ANY($1) ORDER BY f."order", f.id"#
    );
    let rows = db.query(&sql, &[&parents]).await?;
    Ok(rows
        .iter()
        .map(|r| FieldValue {
            id: r.get("id"),
            field: CustomFieldId(r.get("field_id")),
            parent: r.get("parent"),
            field_type: r.get("type"),
            string_value: r.get("string_value"),
            bool_value: r.get("bool_value"),
            multiple_value: r.get("multiple_value"),
        })
        .collect())
}

/// A value to write; `None` leaves that part of an existing value alone.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInput {
    /// The field.
    pub field: CustomFieldId,
    /// New string value.
    pub string_value: Option<String>,
    /// New checkbox value.
    pub bool_value: Option<bool>,
    /// New multiple value.
    pub multiple_value: Option<Vec<String>>,
}

/// Creates or updates one value of `parent` (one row per object and field).
pub async fn set_value(db: &impl GenericClient, parent: Parent, v: &ValueInput) -> Result<(), DbError> {
    let (table, column) = parent.model().table();
    let sql = format!(
        "INSERT INTO {table} AS t ({column}, field_id, string_value, bool_value, multiple_value)
         VALUES ($1, $2, $3, COALESCE($4, false), COALESCE($5, '{{}}'::text[]))
         ON CONFLICT ({column}, field_id) DO UPDATE SET
            string_value = CASE WHEN $3::text IS NULL THEN t.string_value ELSE EXCLUDED.string_value END,
            bool_value = COALESCE($4, t.bool_value),
            multiple_value = COALESCE($5, t.multiple_value)"
    );
    db.execute(
        &sql,
        &[
            &parent.raw(),
            &v.field.0,
            &v.string_value,
            &v.bool_value,
            &v.multiple_value,
        ],
    )
    .await?;
    Ok(())
}

/// A custom field as template expansion needs it: the definition's defaults and the value (if any) held by
/// the agent, its site or its client, depending on the field's model.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateField {
    /// What the field belongs to.
    pub model: FieldModel,
    /// Field name, as written after `{{agent.` etc.
    pub name: String,
    /// Field type.
    pub field_type: String,
    /// Whether the agent/site/client holds a value row for it.
    pub has_value: bool,
    /// Stored string value.
    pub string_value: Option<String>,
    /// Stored checkbox value.
    pub bool_value: bool,
    /// Stored multiple value.
    pub multiple_value: Option<Vec<String>>,
    /// Default of text-like fields.
    pub default_value_string: Option<String>,
    /// Default of checkboxes.
    pub default_value_bool: bool,
    /// Default of multiple fields.
    pub default_values_multiple: Vec<String>,
}

/// Every custom field with the value held by this agent (agent fields), its site (site fields) or its client
/// (client fields), in one query; without an agent (or site) those fields have their defaults only.
pub async fn template_fields(
    db: &impl GenericClient,
    agent: Option<AgentPk>,
    site: Option<SiteId>,
    client: ClientId,
) -> Result<Vec<TemplateField>, DbError> {
    let (agent, site) = (agent.map(|a| a.0), site.map(|s| s.0));
    let rows = db
        .query(
            "SELECT f.model, f.name, f.type, f.default_value_string, f.default_value_bool, f.default_values_multiple,
                    COALESCE(av.id, sv.id, cv.id) IS NOT NULL AS has_value,
                    COALESCE(av.string_value, sv.string_value, cv.string_value) AS string_value,
                    COALESCE(av.bool_value, sv.bool_value, cv.bool_value, false) AS bool_value,
                    COALESCE(av.multiple_value, sv.multiple_value, cv.multiple_value) AS multiple_value
             FROM custom_fields f
             LEFT JOIN agent_custom_fields av ON f.model = 'agent' AND av.field_id = f.id AND av.agent_pk = $1
             LEFT JOIN site_custom_fields sv ON f.model = 'site' AND sv.field_id = f.id AND sv.site_id = $2
             LEFT JOIN client_custom_fields cv ON f.model = 'client' AND cv.field_id = f.id AND cv.client_id = $3",
            &[&agent, &site, &client.0],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(TemplateField {
                model: FieldModel::parse(r.get("model"))?,
                name: r.get("name"),
                field_type: r.get("type"),
                has_value: r.get("has_value"),
                string_value: r.get("string_value"),
                bool_value: r.get("bool_value"),
                multiple_value: r.get("multiple_value"),
                default_value_string: r.get("default_value_string"),
                default_value_bool: r.get("default_value_bool"),
                default_values_multiple: r.get("default_values_multiple"),
            })
        })
        .collect())
}
