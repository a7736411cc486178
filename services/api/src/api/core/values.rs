//! Custom field values carried by agent, client and site edits as
//! `custom_fields: [{field, string_value | bool_value | multiple_value}]`, and rendered back in their GET output
//! as `[{id, field, agent | client | site, value}]` (TRMM AgentCustomFieldSerializer and its client/site twins).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::custom_fields::{self, FieldModel, Parent, ValueInput};
use trmm_db::{CustomFieldId, GenericClient};

use crate::error::{ApiError, ApiResult};

/// One value as the dashboard sends it. Number fields may arrive as JSON numbers, so `string_value` is loose.
#[derive(Debug, Deserialize)]
pub struct CustomFieldEdit {
    field: i32,
    #[serde(default)]
    string_value: Option<Value>,
    #[serde(default)]
    bool_value: Option<bool>,
    #[serde(default)]
    multiple_value: Option<Vec<String>>,
}

/// Checks that every edit names an existing field of `model` and returns what to write. Run before any other
/// write of the request, so a bad list changes nothing.
pub async fn validate(
    db: &impl GenericClient,
    model: FieldModel,
    edits: Option<&[CustomFieldEdit]>,
) -> ApiResult<Vec<ValueInput>> {
    let Some(edits) = edits.filter(|e| !e.is_empty()) else {
        return Ok(Vec::new());
    };
    let ids: Vec<CustomFieldId> = edits.iter().map(|e| CustomFieldId(e.field)).collect();
    let kinds = custom_fields::kinds(db, &ids).await?;
    edits
        .iter()
        .map(|e| {
            let id = CustomFieldId(e.field);
            match kinds.get(&id) {
                None => Err(ApiError::field(
                    "custom_fields",
                    format!("Invalid pk \"{id}\" - object does not exist."),
                )),
                Some((m, _)) if *m != model => Err(ApiError::field(
                    "custom_fields",
                    format!("Custom field {id} belongs to {}s, not {}s.", m.as_str(), model.as_str()),
                )),
                Some(_) => Ok(ValueInput {
                    field: id,
                    string_value: match &e.string_value {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        Some(_) => return Err(ApiError::field("custom_fields", "string_value: Not a valid string.")),
                    },
                    bool_value: e.bool_value,
                    multiple_value: e.multiple_value.clone(),
                }),
            }
        })
        .collect()
}

/// Writes validated values onto one agent, client or site.
pub async fn write(db: &impl GenericClient, parent: Parent, values: &[ValueInput]) -> ApiResult<()> {
    for v in values {
        custom_fields::set_value(db, parent, v).await?;
    }
    Ok(())
}

/// The rendered values of every object of `model` in `parents` (raw primary keys), by parent.
pub async fn render(
    db: &impl GenericClient,
    model: FieldModel,
    parents: &[i32],
) -> ApiResult<HashMap<i32, Vec<Value>>> {
    let mut out: HashMap<i32, Vec<Value>> = HashMap::new();
    if parents.is_empty() {
        return Ok(out);
    }
    for v in custom_fields::values(db, model, parents).await? {
        let mut item = json!({ "id": v.id, "field": v.field, "value": v.value() });
        item[model.as_str()] = json!(v.parent);
        out.entry(v.parent).or_default().push(item);
    }
    Ok(out)
}

/// Fills `custom_fields` of a client tree (clients and their sites) in two queries.
pub async fn fill_clients(db: &impl GenericClient, clients: &mut [trmm_db::clients::ClientRow]) -> ApiResult<()> {
    let ids: Vec<i32> = clients.iter().map(|c| c.id.0).collect();
    let mut by_client = render(db, FieldModel::Client, &ids).await?;
    for c in clients.iter_mut() {
        c.custom_fields = by_client.remove(&c.id.0).unwrap_or_default();
    }
    let mut sites: Vec<&mut trmm_db::sites::SiteRow> = clients.iter_mut().flat_map(|c| c.sites.iter_mut()).collect();
    fill_sites(db, &mut sites).await
}

/// Fills `custom_fields` of sites in one query.
pub async fn fill_sites(db: &impl GenericClient, sites: &mut [&mut trmm_db::sites::SiteRow]) -> ApiResult<()> {
    let ids: Vec<i32> = sites.iter().map(|s| s.id.0).collect();
    let mut by_site = render(db, FieldModel::Site, &ids).await?;
    for s in sites.iter_mut() {
        s.custom_fields = by_site.remove(&s.id.0).unwrap_or_default();
    }
    Ok(())
}
