//! `/scripts/snippets/`: code referenced from script bodies as `{{name}}` (upstream snippets are not audited).

use actix_web::{web, HttpResponse};
use serde_json::{Map, Value};
use trmm_db::snippets::{self, SnippetFields};
use trmm_db::SnippetId;

use crate::api::form::{self, Form};
use crate::api::routes::Routes;
use crate::auth::perms::{ListScripts, ManageScripts};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, UniqueAs};
use crate::json::Json;
use trmm_ops::templates::SHELLS;

const SAVED: &str = "Script snippet was saved successfully";

pub(super) fn configure(cfg: &mut Routes) {
    resource_routes!(cfg, "/scripts/snippets/", "{pk:\\d+}/");
}

/// Applies the fields present in `map` onto `base` (ScriptSnippetSerializer: name unique and at most 40
/// characters, desc at most 50, code kept untrimmed).
fn apply(map: &Map<String, Value>, mut base: SnippetFields, creating: bool) -> ApiResult<SnippetFields> {
    let mut f = Form::new(map);
    if creating {
        f.require("name");
    }
    if let Some(v) = f.string("name", 40, false) {
        base.name = v.trim().to_owned();
    }
    if let Some(v) = f.string("desc", 50, true) {
        base.desc = v;
    }
    if let Some(v) = f.string("code", usize::MAX, true) {
        base.code = v;
    }
    if let Some(v) = f.choice("shell", &SHELLS) {
        base.shell = v;
    }
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    Ok(base)
}

fn name_taken() -> ApiError {
    ApiError::field("name", "script snippet with this name already exists.")
}

async fn list(caller: Authed<ListScripts>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    Ok(HttpResponse::Ok().json(snippets::list(&db).await?))
}

async fn create(caller: Authed<ManageScripts>, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let empty = SnippetFields {
        name: String::new(),
        desc: String::new(),
        code: String::new(),
        shell: "powershell".into(),
    };
    let f = apply(form::object(&body)?, empty, true)?;
    let db = caller.state.conn().await?;
    snippets::create(&db, &f).await.unique_as(name_taken)?;
    Ok(HttpResponse::Ok().json(SAVED))
}

async fn get(caller: Authed<ListScripts>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let snippet = snippets::get(&db, SnippetId(*pk)).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(snippet))
}

async fn update(caller: Authed<ManageScripts>, pk: web::Path<i32>, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let db = caller.state.conn().await?;
    let snippet = snippets::get(&db, SnippetId(*pk)).await?.ok_or(ApiError::NotFound)?;
    let f = apply(map, snippet.fields, false)?;
    if !snippets::update(&db, snippet.id, &f).await.unique_as(name_taken)? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Ok().json(SAVED))
}

async fn delete(caller: Authed<ManageScripts>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    if !snippets::delete(&db, SnippetId(*pk)).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Ok().json("Script snippet was deleted successfully"))
}
