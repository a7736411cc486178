//! `/accounts/roles/`: roles, their permission flags and client/site allow-lists (TRMM GetAddRoles,
//! GetUpdateDeleteRole; server-api.md 2.4–2.5). A role's changes apply to its users' next request: the role is
//! read with every session lookup.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;
use trmm_db::roles::{self, RoleFields, RoleRow};
use trmm_db::{ClientId, GenericClient, RoleId, SiteId};

use crate::api::audit::{self, Change};
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListRoles, ManageRoles};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, UniqueAs};
use crate::json::Json;

const ROLE: &str = "role";

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/accounts/roles/", routes::get().to(list))
        .route("/accounts/roles/", routes::post().to(create))
        .route("/accounts/roles/{pk:\\d+}/", routes::get().to(get))
        .route("/accounts/roles/{pk:\\d+}/", routes::put().to(update))
        .route("/accounts/roles/{pk:\\d+}/", routes::delete().to(delete));
}

/// The writable `RoleSerializer` fields of a body: `name` (required, also on an edit, as a full update), the
/// superuser switch, any `can_*` flag of the table, and the client and site allow-lists, which must exist.
async fn fields(db: &impl GenericClient, body: &Value) -> ApiResult<RoleFields> {
    let mut f = Form::new(form::object(body)?);
    f.require("name");
    let name = f.string("name", 255, false).map(|n| n.trim().to_owned());
    let is_superuser = f.boolean("is_superuser");
    let mut flags = Vec::new();
    for flag in roles::flag_names(db).await? {
        if let Some(value) = f.boolean(&flag) {
            flags.push((flag, value));
        }
    }
    let clients = f
        .pk_list("can_view_clients")
        .map(|ids| ids.into_iter().map(ClientId).collect::<Vec<_>>());
    if let Some(missing) = roles::missing_client(db, clients.as_deref().unwrap_or_default()).await? {
        f.error("can_view_clients", form::invalid_pk(missing.0));
    }
    let sites = f
        .pk_list("can_view_sites")
        .map(|ids| ids.into_iter().map(SiteId).collect::<Vec<_>>());
    if let Some(missing) = roles::missing_site(db, sites.as_deref().unwrap_or_default()).await? {
        f.error("can_view_sites", form::invalid_pk(missing.0));
    }
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    Ok(RoleFields {
        name,
        is_superuser,
        flags,
        clients,
        sites,
    })
}

fn name_taken() -> ApiError {
    ApiError::field("name", "role with this name already exists.")
}

/// A role as its audit rows show it (without the user count, which is not part of the role).
fn snapshot(role: &RoleRow) -> ApiResult<Value> {
    let mut value = serde_json::to_value(role)?;
    if let Some(map) = value.as_object_mut() {
        map.remove("user_count");
    }
    Ok(value)
}

async fn list(caller: Authed<ListRoles>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    Ok(HttpResponse::Ok().json(roles::list(&db).await?))
}

async fn get(caller: Authed<ListRoles>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let role = roles::get(&db, RoleId(*pk)).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(role))
}

async fn create(caller: Authed<ManageRoles>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let fields = fields(&db, &body).await?;
    let who = caller.identity.username();
    let tx = db.transaction().await?;
    let id = roles::insert(&tx, &fields, who).await.unique_as(name_taken)?;
    let role = roles::get(&tx, id).await?.ok_or(ApiError::NotFound)?;
    let change = Change::add(ROLE, format!("{who} added role {}", role.name), snapshot(&role)?);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("Role was added"))
}

async fn update(
    caller: Authed<ManageRoles>,
    req: HttpRequest,
    pk: web::Path<i32>,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = roles::get(&tx, RoleId(*pk)).await?.ok_or(ApiError::NotFound)?;
    let fields = fields(&tx, &body).await?;
    let who = caller.identity.username();
    roles::update(&tx, before.id, &fields, who)
        .await
        .unique_as(name_taken)?;
    let after = roles::get(&tx, before.id).await?.ok_or(ApiError::NotFound)?;
    let (before, after) = (snapshot(&before)?, snapshot(&after)?);
    let unchanged = |key: &str| key.starts_with("modified_");
    let changed = before
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| !unchanged(k) && after[k] != *v);
    if changed {
        let message = format!("{who} modified role {}", after["name"].as_str().unwrap_or_default());
        let change = Change::modify(ROLE, message, before, after);
        audit::record(&tx, &caller.state, &req, &caller.identity, change).await?;
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json("Role was edited"))
}

async fn delete(caller: Authed<ManageRoles>, req: HttpRequest, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    roles::lock(&tx, RoleId(*pk)).await?;
    let role = roles::get(&tx, RoleId(*pk)).await?.ok_or(ApiError::NotFound)?;
    // Upstream deletes the role and leaves its users without one (denied everything); refusing keeps an admin
    // from locking a team out by accident.
    if role.user_count > 0 {
        return Err(ApiError::BadRequest(format!(
            "Role {} is assigned to {} user(s) and cannot be deleted. Give them another role first.",
            role.name, role.user_count
        )));
    }
    roles::delete(&tx, role.id).await?;
    let who = caller.identity.username();
    let change = Change::delete(ROLE, format!("{who} deleted role {}", role.name), snapshot(&role)?);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("Role was removed"))
}
