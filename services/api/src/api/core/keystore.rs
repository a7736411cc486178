//! The global key store, read by scripts as `{{global.name}}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use trmm_db::keystore;
use trmm_db::KeyStoreId;

use crate::api::audit::{self, Change};
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{EditGlobalKeystore, ViewGlobalKeystore};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, UniqueAs};
use crate::json::Json;

// Upstream's auto-audit writes the class name "globalkvstore"; we write AuditObjType's "keystore", the value the
// dashboard's audit filter offers.
const OBJECT: &str = "keystore";

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/core/keystore/", routes::get().to(list))
        .route("/core/keystore/", routes::post().to(create))
        .route("/core/keystore/{pk:\\d+}/", routes::put().to(update))
        .route("/core/keystore/{pk:\\d+}/", routes::delete().to(delete));
}

/// Validated `(name, value)`; either may be absent on an edit.
fn fields(body: &Value, creating: bool) -> ApiResult<(Option<String>, Option<String>)> {
    let mut f = Form::new(form::object(body)?);
    if creating {
        f.require("name");
        f.require("value");
    }
    let name = f.string("name", 25, false).map(|n| n.trim().to_owned());
    let value = f.string("value", usize::MAX, false);
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    Ok((name, value))
}

fn name_taken() -> ApiError {
    ApiError::field("name", "global kv store with this name already exists.")
}

async fn list(caller: Authed<ViewGlobalKeystore>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    Ok(HttpResponse::Ok().json(keystore::list(&db).await?))
}

// Audit rows name the key but never carry its value: the store holds secrets.
async fn create(
    caller: Authed<EditGlobalKeystore>,
    req: HttpRequest,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let (Some(name), Some(value)) = fields(&body, true)? else {
        return Err(ApiError::Internal("validated key store entry lacks a field".into()));
    };
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let id = keystore::create(&tx, &name, &value, who).await.unique_as(name_taken)?;
    let change = Change::add(
        OBJECT,
        format!("{who} added key {name}"),
        json!({ "id": id, "name": name }),
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

async fn update(
    caller: Authed<EditGlobalKeystore>,
    req: HttpRequest,
    pk: web::Path<i32>,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let (name, value) = fields(&body, false)?;
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = keystore::get(&tx, KeyStoreId(*pk)).await?.ok_or(ApiError::NotFound)?;
    keystore::update(&tx, before.id, name.as_deref(), value.as_deref(), who)
        .await
        .unique_as(name_taken)?;
    let new_name = name.unwrap_or_else(|| before.name.clone());
    let change = Change::modify(
        OBJECT,
        format!("{who} modified key {new_name}"),
        json!({ "id": before.id, "name": before.name }),
        json!({ "id": before.id, "name": new_name, "value_changed": value.is_some_and(|v| v != before.value) }),
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

async fn delete(caller: Authed<EditGlobalKeystore>, req: HttpRequest, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let entry = keystore::get(&tx, KeyStoreId(*pk)).await?.ok_or(ApiError::NotFound)?;
    keystore::delete(&tx, entry.id).await?;
    let who = caller.identity.username();
    let change = Change::delete(
        OBJECT,
        format!("{who} deleted key {}", entry.name),
        json!({ "id": entry.id, "name": entry.name }),
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}
