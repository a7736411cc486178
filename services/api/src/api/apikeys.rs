//! API keys (TRMM accounts/views.py::GetAddAPIKeys and GetUpdateDeleteAPIKey; server-api.md 3.2). A request with
//! `X-API-KEY: <key>` acts as the key's user (`trmm_authz::api_key`).
//!
//! Beyond upstream, which stores keys in plaintext and lists them: the key is generated here, returned once in the
//! create response, and stored only as its digest and its first characters.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use trmm_db::api_keys::{self, ApiKey, KeyChanges, NewKey};
use trmm_db::{ApiKeyId, DbError, GenericClient, UserId};

use crate::api::audit::{self, Change};
use crate::api::drf_time;
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListApiKeys, ManageApiKeys};
use crate::auth::{Authed, Identity};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

/// Upstream's auto-audit writes the lower-cased class name.
const OBJECT: &str = "apikey";
/// How many of a key's characters are stored and listed, so that a user can tell keys apart.
const PREFIX_LEN: usize = 8;

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/accounts/apikeys/", routes::get().to(list))
        .route("/accounts/apikeys/", routes::post().to(create))
        .route("/accounts/apikeys/{pk:\\d+}/", routes::put().to(update))
        .route("/accounts/apikeys/{pk:\\d+}/", routes::delete().to(delete));
}

/// A key as the list shows it: upstream's `APIKeySerializer` (`__all__` plus `username`), except that `key` is
/// never listed (upstream lists every key in plaintext); `key_prefix`, its first characters, stands in for it,
/// and `last_used` is added.
fn view(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "username": k.username,
        "created_by": k.created_by,
        "created_time": drf_time(k.created_time),
        "modified_by": k.modified_by,
        "modified_time": drf_time(k.modified_time),
        "name": k.name,
        "key_prefix": k.key_prefix,
        "expiration": k.expiration.map(drf_time),
        "last_used": k.last_used.map(drf_time),
        "user": k.user,
    })
}

/// What the audit log keeps of a key (upstream's `APIKeyAuditSerializer`): never the key, nor its prefix.
fn audited(k: &ApiKey) -> Value {
    json!({ "name": k.name, "username": k.username, "expiration": k.expiration.map(drf_time) })
}

/// The fields a create or an edit sends; every one is optional on an edit, and `key` is ignored (immutable).
struct Fields {
    name: Option<String>,
    user: Option<UserId>,
    expiration: Option<Option<DateTime<Utc>>>,
}

fn fields(body: &Value, creating: bool) -> ApiResult<Fields> {
    let mut f = Form::new(form::object(body)?);
    if creating {
        f.require("name");
        f.require("user");
    }
    let name = f.string("name", 25, false).map(|n| n.trim().to_owned());
    let user = match f.pk("user") {
        Some(None) => {
            f.error("user", "This field may not be null.");
            None
        }
        user => user.flatten().map(UserId),
    };
    let expiration = f.datetime("expiration");
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    Ok(Fields { name, user, expiration })
}

/// A write's refusal in upstream's serializer messages: a taken name, or a user that does not exist.
fn refused(e: DbError, user: Option<UserId>) -> ApiError {
    match user {
        Some(user) if e.is_foreign_key_violation() => ApiError::field("user", form::invalid_pk(user.0)),
        _ if e.is_unique_violation() => ApiError::field("name", "api key with this name already exists."),
        _ => e.into(),
    }
}

/// A key acts as its user, so whoever hands one out must be allowed to act as that user. Beyond upstream: only a
/// superuser gives a superuser's account a key (else `can_manage_api_keys` would be a way to become one), and
/// users the accounts endpoints do not show (the installer user) get none.
async fn check_owner(db: &impl GenericClient, caller: &Identity, user: UserId) -> ApiResult<()> {
    if trmm_db::users::get(db, user).await?.is_none() {
        return Err(ApiError::field("user", form::invalid_pk(user.0)));
    }
    if !caller.is_superuser() && trmm_db::users::is_superuser(db, user).await? {
        return Err(trmm_authz::Denial::NoPermission.into());
    }
    Ok(())
}

async fn list(caller: Authed<ListApiKeys>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let keys = api_keys::list(&db).await?;
    Ok(HttpResponse::Ok().json(keys.iter().map(view).collect::<Vec<_>>()))
}

/// Answers the new key as the list shows it plus `key`, the only time the key is ever sent (upstream answers
/// "The API Key was added" and lists the key afterwards).
async fn create(caller: Authed<ManageApiKeys>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let Fields {
        name: Some(name),
        user: Some(user),
        expiration,
    } = fields(&body, true)?
    else {
        return Err(ApiError::Internal("validated API key lacks a field".into()));
    };
    let key = trmm_auth::generate_api_key();
    let new = NewKey {
        name: &name,
        digest: &trmm_auth::digest_token(&key),
        prefix: &key[..PREFIX_LEN],
        user,
        expiration: expiration.flatten(),
    };
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    check_owner(&tx, &caller.identity, user).await?;
    let id = api_keys::create(&tx, &new, who)
        .await
        .map_err(|e| refused(e, Some(user)))?;
    let created = stored(&tx, id).await?;
    let change = Change::add(OBJECT, format!("{who} added {OBJECT} {name}"), audited(&created));
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    let mut body = view(&created);
    body["key"] = json!(key);
    Ok(HttpResponse::Ok().json(body))
}

/// Edits the name, user and expiration (partially, as upstream); a `key` in the body is ignored.
async fn update(
    caller: Authed<ManageApiKeys>,
    req: HttpRequest,
    pk: web::Path<i32>,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let Fields { name, user, expiration } = fields(&body, false)?;
    let changes = KeyChanges {
        name: name.as_deref(),
        user,
        expiration,
    };
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = api_keys::get(&tx, ApiKeyId(*pk)).await?.ok_or(ApiError::NotFound)?;
    if let Some(user) = user {
        check_owner(&tx, &caller.identity, user).await?;
    }
    api_keys::update(&tx, before.id, &changes, who)
        .await
        .map_err(|e| refused(e, user))?;
    let after = stored(&tx, before.id).await?;
    let (before, after) = (audited(&before), audited(&after));
    // Upstream writes a modify row only when something changed.
    if before != after {
        let message = format!("{who} modified {OBJECT} {}", after["name"].as_str().unwrap_or_default());
        let change = Change::modify(OBJECT, message, before, after);
        audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    } else {
        tx.commit().await?;
    }
    Ok(HttpResponse::Ok().json("The API Key was edited"))
}

async fn delete(caller: Authed<ManageApiKeys>, req: HttpRequest, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let key = api_keys::get(&tx, ApiKeyId(*pk)).await?.ok_or(ApiError::NotFound)?;
    api_keys::delete(&tx, key.id).await?;
    let who = caller.identity.username();
    let change = Change::delete(OBJECT, format!("{who} deleted {OBJECT} {}", key.name), audited(&key));
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("The API Key was deleted"))
}

/// The key just written in this transaction.
async fn stored(db: &impl trmm_db::GenericClient, id: ApiKeyId) -> ApiResult<ApiKey> {
    let key = api_keys::get(db, id).await?;
    key.ok_or_else(|| ApiError::Internal(format!("API key {id} vanished while being written")))
}
