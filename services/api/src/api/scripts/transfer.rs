//! Our extension (no upstream equivalent): `GET /scripts/export/` returns every user script with its body as a
//! JSON array; `POST /scripts/import/` takes such an array and creates or updates user scripts by name, all or
//! nothing.

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};
use trmm_db::scripts::{self, ScriptFields};
use trmm_db::ScriptId;

use super::{fields, snapshot};
use crate::api::audit::{self, Change};
use crate::api::form;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListScripts, ManageScripts};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/scripts/export/", routes::get().to(export))
        .route("/scripts/import/", routes::post().to(import));
}

/// One exported script: its fields and the body's SHA-256, which import checks when present.
#[derive(Serialize)]
struct Exported {
    #[serde(flatten)]
    fields: ScriptFields,
    script_hash: String,
}

async fn export(caller: Authed<ListScripts>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let items: Vec<Exported> = scripts::list_user_scripts(&db)
        .await?
        .into_iter()
        .map(|s| Exported {
            fields: s.fields,
            script_hash: s.script_hash,
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

/// What one valid import item will do.
struct Planned {
    existing: Option<(ScriptId, ScriptFields)>,
    fields: ScriptFields,
}

/// An import item checked on its own: its object and fields, or its errors.
type Parsed<'a> = Result<(&'a Map<String, Value>, ScriptFields), Map<String, Value>>;

fn item_error(key: &str, msg: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.to_owned(), json!([msg]));
    m
}

/// Validates every item against the current library. Errors come back DRF-style for `many=True`: one
/// object per item, empty for the valid ones.
async fn plan(db: &impl trmm_db::GenericClient, body: &Value) -> ApiResult<Vec<Planned>> {
    let Value::Array(items) = body else {
        return Err(ApiError::field(
            "non_field_errors",
            "Expected a list of items but got type \"dict\".",
        ));
    };
    let parsed: Vec<Parsed<'_>> = items
        .iter()
        .map(|item| {
            let map = form::object(item).map_err(|_| item_error("non_field_errors", "Expected a dictionary."))?;
            Ok((map, fields::apply(map, ScriptFields::default(), true)?))
        })
        .collect();
    let names: Vec<String> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().map(|(_, f)| f.name.clone()))
        .collect();
    let mut existing: HashMap<String, Vec<ScriptId>> = HashMap::new();
    for (name, id) in scripts::user_scripts_named(db, &names).await? {
        existing.entry(name).or_default().push(id);
    }
    let mut seen = HashSet::new();
    let mut plans = Vec::with_capacity(items.len());
    let mut errors = Vec::with_capacity(items.len());
    for p in parsed {
        let outcome = match p {
            Err(e) => Err(e),
            Ok((map, f)) => plan_one(db, map, f, &existing, &mut seen).await?,
        };
        match outcome {
            Ok(planned) => {
                plans.push(planned);
                errors.push(Value::Object(Map::new()));
            }
            Err(e) => errors.push(Value::Object(e)),
        }
    }
    if plans.len() == items.len() {
        Ok(plans)
    } else {
        Err(ApiError::Invalid(Value::Array(errors)))
    }
}

async fn plan_one(
    db: &impl trmm_db::GenericClient,
    map: &Map<String, Value>,
    parsed: ScriptFields,
    existing: &HashMap<String, Vec<ScriptId>>,
    seen: &mut HashSet<String>,
) -> ApiResult<Result<Planned, Map<String, Value>>> {
    if !seen.insert(parsed.name.clone()) {
        return Ok(Err(item_error(
            "name",
            "This name appears more than once in the import.",
        )));
    }
    let current = match existing.get(&parsed.name).map(Vec::as_slice) {
        None | Some([]) => None,
        Some([id]) => scripts::get(db, *id).await?.map(|s| (s.id, s.fields)),
        Some(_) => {
            return Ok(Err(item_error(
                "name",
                "Several user scripts have this name; rename them before importing.",
            )))
        }
    };
    // An update changes only the fields the item carries, like PUT /scripts/<pk>/.
    let fields = match &current {
        Some((_, base)) => match fields::apply(map, base.clone(), false) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        },
        None => parsed,
    };
    if let Some(hash) = map.get("script_hash").filter(|h| !h.is_null()) {
        if hash.as_str() != Some(scripts::hash(&fields.script_body).as_str()) {
            return Ok(Err(item_error(
                "script_hash",
                "Does not match the SHA-256 of script_body.",
            )));
        }
    }
    Ok(Ok(Planned {
        existing: current,
        fields,
    }))
}

async fn import(caller: Authed<ManageScripts>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let plans = plan(&tx, &body).await?;
    let (mut added, mut updated) = (0, 0);
    for p in &plans {
        let f = &p.fields;
        let change = match &p.existing {
            Some((id, before)) => {
                scripts::update(&tx, *id, f, who).await?;
                updated += 1;
                let message = format!("{who} modified script {} (import)", f.name);
                Change::modify("script", message, snapshot(*id, before), snapshot(*id, f))
            }
            None => {
                let id = scripts::create(&tx, scripts::USER_DEFINED, None, f, who).await?;
                added += 1;
                Change::add(
                    "script",
                    format!("{who} added script {} (import)", f.name),
                    snapshot(id, f),
                )
            }
        };
        audit::record(&tx, &caller.state, &req, &caller.identity, change).await?;
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(format!(
        "{} script(s) imported: {added} added, {updated} updated",
        plans.len()
    )))
}
