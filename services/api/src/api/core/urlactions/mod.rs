//! `/core/urlaction/`: URL actions (upstream core/views.py::GetAddURLAction, UpdateDeleteURLAction), dashboard
//! links (`web`) and webhooks (`rest`); running them is in [`run`].

mod run;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use trmm_db::url_actions::{self, UrlActionFields};
use trmm_db::UrlActionId;

use crate::api::audit::{self, Change};
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{EditCoreSettings, RunUrlActions};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

const OBJECT: &str = "urlaction";

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/core/urlaction/", routes::get().to(list))
        .route("/core/urlaction/", routes::post().to(create))
        .route("/core/urlaction/{pk:\\d+}/", routes::put().to(update))
        .route("/core/urlaction/{pk:\\d+}/", routes::delete().to(delete))
        .configure(run::configure);
}

/// Applies the fields present in `body` onto `f` (every one required when `creating`).
fn apply(body: &Value, f: &mut UrlActionFields, creating: bool) -> ApiResult<()> {
    let mut form = Form::new(form::object(body)?);
    if creating {
        form.require("name");
        form.require("pattern");
    }
    if let Some(v) = form.string("name", 25, false) {
        f.name = v.trim().to_owned();
    }
    if let Some(v) = form.text("desc", usize::MAX, true, true) {
        f.desc = v;
    }
    if let Some(v) = form.string("pattern", usize::MAX, false) {
        f.pattern = v;
    }
    if let Some(v) = form.choice("action_type", &["web", "rest"]) {
        f.action_type = v;
    }
    if let Some(v) = form.choice("rest_method", &trmm_notify::webhook::METHODS) {
        f.rest_method = v;
    }
    if let Some(v) = form.text("rest_body", usize::MAX, true, true) {
        f.rest_body = v.unwrap_or_default();
    }
    if let Some(v) = form.text("rest_headers", usize::MAX, true, true) {
        f.rest_headers = v.unwrap_or_default();
    }
    form.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))
}

async fn list(caller: Authed<RunUrlActions>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    Ok(HttpResponse::Ok().json(url_actions::list(&db).await?))
}

async fn create(
    caller: Authed<EditCoreSettings>,
    req: HttpRequest,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let mut fields = UrlActionFields {
        name: String::new(),
        desc: None,
        pattern: String::new(),
        action_type: "web".into(),
        rest_method: "post".into(),
        rest_body: String::new(),
        rest_headers: String::new(),
    };
    apply(&body, &mut fields, true)?;
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let id = url_actions::create(&tx, &fields, who).await?;
    let mut after = serde_json::to_value(&fields)?;
    after["id"] = json!(id);
    let change = Change::add(OBJECT, format!("{who} added url action {}", fields.name), after);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

async fn update(
    caller: Authed<EditCoreSettings>,
    req: HttpRequest,
    pk: web::Path<UrlActionId>,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = url_actions::get(&tx, *pk).await?.ok_or(ApiError::NotFound)?;
    let mut fields = before.fields();
    apply(&body, &mut fields, false)?;
    url_actions::update(&tx, before.id, &fields, who).await?;
    let message = format!("{who} modified url action {}", fields.name);
    let change = Change::modify(
        OBJECT,
        message,
        serde_json::to_value(before.fields())?,
        serde_json::to_value(&fields)?,
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

async fn delete(
    caller: Authed<EditCoreSettings>,
    req: HttpRequest,
    pk: web::Path<UrlActionId>,
) -> ApiResult<HttpResponse> {
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let action = url_actions::get(&tx, *pk).await?.ok_or(ApiError::NotFound)?;
    url_actions::delete(&tx, action.id).await?;
    let message = format!("{who} deleted url action {}", action.name);
    let change = Change::delete(OBJECT, message, serde_json::to_value(action.fields())?);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}
