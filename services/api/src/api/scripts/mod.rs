//! The script library (TRMM scripts/views.py; server-api.md 3.9): the script table, script CRUD, download with
//! snippets expanded, snippets, and our JSON export/import.

mod fields;
mod snippets;
mod transfer;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::scripts::{self, ScriptFields};
use trmm_db::ScriptId;

use super::audit::{self, Change};
use super::form;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListScripts, ManageScripts};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

/// Registers the routes of this module. Fixed paths come before `{pk}`, which only matches digits.
pub fn configure(cfg: &mut Routes) {
    let cfg = cfg.configure(snippets::configure).configure(transfer::configure);
    resource_routes!(cfg, "/scripts/", "{pk:\\d+}/").route("/scripts/{pk:\\d+}/download/", routes::get().to(download));
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(rename = "showCommunityScripts")]
    show_community: Option<String>,
    #[serde(rename = "showHiddenScripts")]
    show_hidden: Option<String>,
}

async fn list(caller: Authed<ListScripts>, params: web::Query<ListParams>) -> ApiResult<HttpResponse> {
    // Upstream: community scripts are shown unless the flag is "false" or empty; hidden ones only for "true".
    let community = params
        .show_community
        .as_deref()
        .is_none_or(|v| !v.is_empty() && v != "false");
    let hidden = params.show_hidden.as_deref() == Some("true");
    let db = caller.state.conn().await?;
    Ok(HttpResponse::Ok().json(scripts::list(&db, community, hidden).await?))
}

/// A script's audit snapshot: every field except the body, which can be large; the hash identifies it.
fn snapshot(id: ScriptId, f: &ScriptFields) -> Value {
    let mut v = json!(f);
    if let Value::Object(map) = &mut v {
        map.remove("script_body");
        map.insert("id".into(), json!(id));
        map.insert("script_hash".into(), json!(scripts::hash(&f.script_body)));
    }
    v
}

async fn create(caller: Authed<ManageScripts>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let f = fields::apply(map, ScriptFields::default(), true).map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    // Uploads are always user scripts; community scripts cannot be created through the API.
    let id = scripts::create(&tx, scripts::USER_DEFINED, None, &f, who).await?;
    let change = Change::add("script", format!("{who} added script {}", f.name), snapshot(id, &f));
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{} was added!", f.name)))
}

async fn get(caller: Authed<ListScripts>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let script = scripts::get(&db, ScriptId(*pk)).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(script))
}

async fn update(
    caller: Authed<ManageScripts>,
    req: HttpRequest,
    pk: web::Path<i32>,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let script = scripts::get_for_update(&tx, ScriptId(*pk))
        .await?
        .ok_or(ApiError::NotFound)?;
    let edit = if script.script_type == scripts::BUILTIN {
        // Community scripts: only favorite and hidden change (upstream takes one of them; we take both).
        let only: serde_json::Map<String, Value> = map
            .iter()
            .filter(|(k, _)| *k == "favorite" || *k == "hidden")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if only.is_empty() {
            return Err(ApiError::BadRequest("Community scripts cannot be edited.".into()));
        }
        only
    } else {
        map.clone()
    };
    let f = fields::apply(&edit, script.fields.clone(), false).map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    let who = caller.identity.username();
    scripts::update(&tx, script.id, &f, who).await?;
    let change = Change::modify(
        "script",
        format!("{who} modified script {}", f.name),
        snapshot(script.id, &script.fields),
        snapshot(script.id, &f),
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{} was edited!", f.name)))
}

async fn delete(caller: Authed<ManageScripts>, req: HttpRequest, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let script = scripts::get_for_update(&tx, ScriptId(*pk))
        .await?
        .ok_or(ApiError::NotFound)?;
    if script.script_type == scripts::BUILTIN {
        return Err(ApiError::BadRequest("Community scripts cannot be deleted".into()));
    }
    scripts::delete(&tx, script.id).await?;
    let who = caller.identity.username();
    let name = &script.fields.name;
    let change = Change::delete(
        "script",
        format!("{who} deleted script {name}"),
        snapshot(script.id, &script.fields),
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{name} was deleted!")))
}

#[derive(Deserialize)]
struct DownloadParams {
    with_snippets: Option<String>,
}

/// File extension of a shell's scripts (upstream scripts/views.py::download).
fn extension(shell: &str) -> &'static str {
    match shell {
        "powershell" => ".ps1",
        "cmd" => ".bat",
        "python" => ".py",
        "shell" => ".sh",
        "nushell" => ".nu",
        "deno" => ".ts",
        _ => "",
    }
}

async fn download(
    caller: Authed<ListScripts>,
    pk: web::Path<i32>,
    params: web::Query<DownloadParams>,
) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let script = scripts::get(&db, ScriptId(*pk)).await?.ok_or(ApiError::NotFound)?;
    let f = &script.fields;
    // Upstream expands snippets unless the parameter is exactly "false".
    let code = if params.with_snippets.as_deref() == Some("false") {
        f.script_body.clone()
    } else {
        trmm_ops::templates::expand_snippets(&db, &f.script_body).await?
    };
    Ok(HttpResponse::Ok().json(json!({
        "filename": format!("{}{}", f.name, extension(&f.shell)),
        "code": code,
    })))
}
