//! Active dashboard sessions (TRMM GetDeleteActiveLoginSessionsPerUser, DeleteActiveLoginSession; server-api.md
//! 2.8): listed with creation, expiry, last use and client IP; ended one by one or all at once.

use actix_web::{web, HttpRequest, HttpResponse};
use trmm_db::users::{self, UserRow};
use trmm_db::{sessions, GenericClient, UserId};

use super::user_event;
use crate::api::audit;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListAccounts, ManageAccounts};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/accounts/users/{pk:\\d+}/sessions/", routes::get().to(list))
        .route("/accounts/users/{pk:\\d+}/sessions/", routes::delete().to(end_all))
        .route("/accounts/sessions/{digest}/", routes::delete().to(end_one));
}

async fn user(db: &impl GenericClient, pk: i32) -> ApiResult<UserRow> {
    users::get(db, UserId(pk)).await?.ok_or(ApiError::NotFound)
}

async fn list(caller: Authed<ListAccounts>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let user = user(&db, *pk).await?;
    let live = sessions::list_for_user(&db, user.id, caller.state.now()).await?;
    Ok(HttpResponse::Ok().json(live))
}

async fn end_all(caller: Authed<ManageAccounts>, req: HttpRequest, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let user = user(&tx, *pk).await?;
    let n = sessions::revoke_for_user(&tx, user.id, None).await?;
    let who = caller.identity.username();
    let change = user_event(format!("{who} ended {n} session(s) of {}", user.username));
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `<digest>` is the hex digest the session list shows; anything else names no session (404).
async fn end_one(
    caller: Authed<ManageAccounts>,
    req: HttpRequest,
    digest: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let digest = hex::decode(digest.as_str()).map_err(|_| ApiError::NotFound)?;
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let owner = sessions::delete(&tx, &digest).await?.ok_or(ApiError::NotFound)?;
    let who = caller.identity.username();
    let change = user_event(format!("{who} ended a session of {owner}"));
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}
