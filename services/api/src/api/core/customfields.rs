//! Custom field definitions. Values live on agents, clients and sites (see `values`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use trmm_db::custom_fields::{self, FieldModel, FieldSpec, FIELD_TYPES};
use trmm_db::CustomFieldId;

use crate::api::audit::{self, Change};
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ManageCustomFields, ViewCustomFields};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, UniqueAs};
use crate::json::Json;

const OBJECT: &str = "customfield";
const MODELS: [&str; 3] = ["client", "site", "agent"];

pub(super) fn configure(cfg: &mut Routes) {
    resource_routes!(cfg, "/core/customfields/", "{pk:\\d+}/").route("/core/customfields/", routes::patch().to(search));
}

/// Applies the fields present in `map` onto `base` (CustomFieldSerializer, `__all__`).
fn apply(map: &Map<String, Value>, mut base: FieldSpec, creating: bool) -> ApiResult<FieldSpec> {
    let mut f = Form::new(map);
    if creating {
        f.require("model");
        f.require("name");
    }
    if let Some(v) = f.integer("order", 0) {
        base.order = v;
    }
    if let Some(m) = f.choice("model", &MODELS).and_then(|m| FieldModel::parse(&m)) {
        base.model = m;
    }
    if let Some(v) = f.choice("type", &FIELD_TYPES) {
        base.field_type = v;
    }
    if let Some(v) = f.string_list("options", |_| None) {
        base.options = v;
    }
    if let Some(v) = f.string("name", 100, false) {
        base.name = v.trim().to_owned();
    }
    if let Some(v) = f.boolean("required") {
        base.required = v;
    }
    if let Some(v) = f.text("default_value_string", usize::MAX, true, true) {
        base.default_value_string = v;
    }
    if let Some(v) = f.boolean("default_value_bool") {
        base.default_value_bool = v;
    }
    if let Some(v) = f.string_list("default_values_multiple", |_| None) {
        base.default_values_multiple = v;
    }
    if let Some(v) = f.boolean("hide_in_ui") {
        base.hide_in_ui = v;
    }
    if let Some(v) = f.boolean("hide_in_summary") {
        base.hide_in_summary = v;
    }
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    Ok(base)
}

fn not_unique() -> ApiError {
    ApiError::field("non_field_errors", "The fields model, name must make a unique set.")
}

#[derive(Deserialize)]
struct ListParams {
    model: Option<String>,
}

/// Fields of one model; an unknown model simply matches nothing, as upstream's filter does.
async fn by_model(caller: &Authed<ViewCustomFields>, model: Option<&str>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let rows = match model.map(FieldModel::parse) {
        Some(None) => Vec::new(),
        Some(Some(m)) => custom_fields::list(&db, Some(m)).await?,
        None => custom_fields::list(&db, None).await?,
    };
    Ok(HttpResponse::Ok().json(rows))
}

async fn list(caller: Authed<ViewCustomFields>, params: web::Query<ListParams>) -> ApiResult<HttpResponse> {
    by_model(&caller, params.model.as_deref()).await
}

/// Upstream's "PATCH as a search": `PATCH /core/customfields/ {model}` lists that model's fields.
async fn search(caller: Authed<ViewCustomFields>, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let Some(model) = body.get("model") else {
        return Err(ApiError::BadRequest("The request was invalid".into()));
    };
    let model = model.as_str().map_or_else(|| model.to_string(), str::to_owned);
    by_model(&caller, Some(&model)).await
}

async fn create(
    caller: Authed<ManageCustomFields>,
    req: HttpRequest,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let spec = apply(form::object(&body)?, FieldSpec::default(), true)?;
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let id = custom_fields::create(&tx, &spec, who).await.unique_as(not_unique)?;
    let mut after = json!(spec);
    after["id"] = json!(id);
    let change = Change::add(OBJECT, format!("{who} added custom field {}", spec.name), after);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

async fn get(caller: Authed<ViewCustomFields>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let field = custom_fields::get(&db, CustomFieldId(*pk))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(field))
}

async fn update(
    caller: Authed<ManageCustomFields>,
    req: HttpRequest,
    pk: web::Path<i32>,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = custom_fields::get(&tx, CustomFieldId(*pk))
        .await?
        .ok_or(ApiError::NotFound)?;
    let spec = apply(map, before.spec.clone(), false)?;
    // Upstream lets the model change and strands the stored values on objects of the old model; we refuse.
    if spec.model != before.spec.model && custom_fields::value_count(&tx, before.id, before.spec.model).await? > 0 {
        return Err(ApiError::BadRequest(
            "The model of a custom field that has values cannot be changed".into(),
        ));
    }
    let who = caller.identity.username();
    custom_fields::update(&tx, before.id, &spec, who)
        .await
        .unique_as(not_unique)?;
    let change = Change::modify(
        OBJECT,
        format!("{who} modified custom field {}", spec.name),
        json!(before.spec),
        json!(spec),
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

async fn delete(caller: Authed<ManageCustomFields>, req: HttpRequest, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let field = custom_fields::get(&tx, CustomFieldId(*pk))
        .await?
        .ok_or(ApiError::NotFound)?;
    custom_fields::delete(&tx, field.id).await?;
    let who = caller.identity.username();
    let change = Change::delete(
        OBJECT,
        format!("{who} deleted custom field {}", field.spec.name),
        json!(field.spec),
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}
