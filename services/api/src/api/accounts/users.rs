//! `/accounts/users/` and `/accounts/<pk>/users/`: dashboard users (TRMM GetAddUsers, GetUpdateDeleteUser).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trmm_db::users::{self, UserChanges, UserRow};
use trmm_db::{roles, GenericClient, RoleId, UserId};

use super::{check_password, invalid, refuse_root, refuse_superuser, revoke_sessions, USER};
use crate::api::audit::{self, Change};
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListAccounts, ManageAccounts};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, UniqueAs};
use crate::json::Json;

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/accounts/users/", routes::get().to(list))
        .route("/accounts/users/", routes::post().to(create))
        .route("/accounts/{pk:\\d+}/users/", routes::get().to(get))
        .route("/accounts/{pk:\\d+}/users/", routes::put().to(update))
        .route("/accounts/{pk:\\d+}/users/", routes::delete().to(delete));
}

/// Django's `UnicodeUsernameValidator` message.
const BAD_USERNAME: &str =
    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";

#[derive(Deserialize)]
struct Search {
    search: Option<String>,
}

/// A row of the user list: upstream adds the user's SSO accounts, of which trmm-rs (without SSO) has none.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    user: UserRow,
    social_accounts: [Value; 0],
}

/// The `UserSerializer` fields of a create or an edit, validated into `f` (a role must exist).
async fn changes(db: &impl GenericClient, f: &mut Form<'_>) -> ApiResult<UserChanges> {
    let username = f.string("username", 150, false).map(|u| u.trim().to_owned());
    if username
        .as_deref()
        .is_some_and(|u| !u.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)))
    {
        f.error("username", BAD_USERNAME);
    }
    let email = f.string("email", 254, true).map(|e| e.trim().to_owned());
    if email.as_deref().is_some_and(|e| !e.is_empty() && !valid_email(e)) {
        f.error("email", "Enter a valid email address.");
    }
    let role = f.pk("role");
    if let Some(Some(id)) = role {
        if !roles::exists(db, RoleId(id)).await? {
            f.error("role", form::invalid_pk(id));
        }
    }
    Ok(UserChanges {
        username,
        first_name: f.string("first_name", 150, true).map(|n| n.trim().to_owned()),
        last_name: f.string("last_name", 150, true).map(|n| n.trim().to_owned()),
        email,
        is_active: f.boolean("is_active"),
        role: role.map(|r| r.map(RoleId)),
        block_dashboard_login: f.boolean("block_dashboard_login"),
        date_format: f.text("date_format", 30, true, true),
    })
}

/// One `@`, something before it and a dotted domain without spaces after it (the shape Django's
/// EmailValidator insists on).
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    !local.is_empty() && domain.contains('.') && labels_ok && !email.chars().any(char::is_whitespace)
}

fn snapshot(user: &UserRow) -> ApiResult<Value> {
    Ok(serde_json::to_value(user)?)
}

async fn list(caller: Authed<ListAccounts>, query: web::Query<Search>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let search = query.search.as_deref().filter(|s| !s.is_empty());
    let rows = users::list(&db, search).await?;
    let listed: Vec<Listed> = rows
        .into_iter()
        .map(|user| Listed {
            user,
            social_accounts: [],
        })
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

async fn get(caller: Authed<ListAccounts>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let user = users::get(&db, UserId(*pk)).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(user))
}

async fn create(caller: Authed<ManageAccounts>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let mut f = Form::new(form::object(&body)?);
    for key in ["username", "email", "password"] {
        f.require(key);
    }
    let password = f.string("password", 1024, false);
    let mut db = caller.state.conn().await?;
    let fields = changes(&db, &mut f).await?;
    let mut errors = f.finish().err().unwrap_or_default();
    if let (Some(password), Some(username)) = (&password, &fields.username) {
        check_password(&mut errors, password, username);
    }
    invalid(errors)?;
    let (Some(username), Some(email), Some(password)) = (&fields.username, &fields.email, &password) else {
        return Err(ApiError::Internal("validated user lacks a required field".into()));
    };
    let hash = trmm_auth::hash_password(password)?;
    let who = caller.identity.username();
    let tx = db.transaction().await?;
    // TRMM accounts/views.py GetAddUsers: create_user's IntegrityError.
    let taken = || ApiError::BadRequest(format!("ERROR: User {username} already exists!"));
    let id = users::create(&tx, username, email, &hash, who).await.unique_as(taken)?;
    users::update(&tx, id, &fields, who).await?;
    let user = users::get(&tx, id).await?.ok_or(ApiError::NotFound)?;
    let change = Change::add(USER, format!("{who} added user {username}"), snapshot(&user)?);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(username))
}

async fn update(
    caller: Authed<ManageAccounts>,
    req: HttpRequest,
    pk: web::Path<i32>,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let mut f = Form::new(form::object(&body)?);
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    // Upstream's order: the user (404), the root rule, then the fields.
    let before = users::get(&tx, UserId(*pk)).await?.ok_or(ApiError::NotFound)?;
    refuse_root(
        &caller.state,
        &caller.identity,
        &before.username,
        "The root user cannot be modified from the UI",
    )?;
    refuse_superuser(&tx, &caller.identity, before.id).await?;
    let fields = changes(&tx, &mut f).await?;
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    let who = caller.identity.username();
    let taken = || ApiError::field("username", "A user with that username already exists.");
    users::update(&tx, before.id, &fields, who).await.unique_as(taken)?;
    let after = users::get(&tx, before.id).await?.ok_or(ApiError::NotFound)?;
    // A new role or lost access must not leave sessions running on the old grant.
    let lost_access =
        (before.is_active && !after.is_active) || (!before.block_dashboard_login && after.block_dashboard_login);
    if before.role != after.role || lost_access {
        revoke_sessions(&tx, &caller.identity, before.id).await?;
    }
    if before != after {
        let message = format!("{who} modified user {}", after.username);
        let change = Change::modify(USER, message, snapshot(&before)?, snapshot(&after)?);
        audit::record(&tx, &caller.state, &req, &caller.identity, change).await?;
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json("ok"))
}

async fn delete(caller: Authed<ManageAccounts>, req: HttpRequest, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let user = users::get(&tx, UserId(*pk)).await?.ok_or(ApiError::NotFound)?;
    refuse_root(
        &caller.state,
        &caller.identity,
        &user.username,
        "The root user cannot be deleted from the UI",
    )?;
    refuse_superuser(&tx, &caller.identity, user.id).await?;
    // Its sessions go with it (auth_tokens cascade).
    users::delete(&tx, user.id).await?;
    let who = caller.identity.username();
    let change = Change::delete(USER, format!("{who} deleted user {}", user.username), snapshot(&user)?);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn email_shape() {
        for good in ["a@example.com", "first.last+tag@mail.example.org"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@example.com",
            "a@example",
            "a b@example.com",
            "a@-x.com",
            "a@x..com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
