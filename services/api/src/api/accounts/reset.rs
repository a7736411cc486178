//! Password and 2FA resets, by an admin for anyone (TRMM UserActions) or by users for themselves (ResetPass,
//! Reset2FA), and the user's dashboard preferences (UserUI).

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use trmm_authz::Denial;
use trmm_db::users::{self, UiPrefs, UserRow};
use trmm_db::{url_actions, GenericClient, UrlActionId, UserId};

use super::{check_password, invalid, refuse_root, refuse_superuser, revoke_sessions, user_event};
use crate::api::audit;
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{Authenticated, ManageAccounts};
use crate::auth::{Authed, Identity};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

pub(super) fn configure(cfg: &mut Routes) {
    // Upstream routes both paths to one view: POST sets a password, PUT clears 2FA, whichever path is used.
    cfg.route("/accounts/users/reset/", routes::post().to(reset_password))
        .route("/accounts/users/reset/", routes::put().to(reset_totp))
        .route("/accounts/users/reset_totp/", routes::post().to(reset_password))
        .route("/accounts/users/reset_totp/", routes::put().to(reset_totp))
        .route("/accounts/resetpw/", routes::put().to(own_password))
        .route("/accounts/reset2fa/", routes::put().to(own_totp))
        .route("/accounts/users/ui/", routes::patch().to(ui_prefs));
}

const ROOT_REFUSED: &str = "The root user cannot be modified from the UI";

type Caller = Authed<Authenticated>;

/// The user the body's `id` names, which the caller must be or manage (TRMM AccountsPerms: "allow users to reset
/// their own password/2fa"); a caller without can_manage_accounts gets a 403 for anyone else.
async fn named_user(caller: &Caller, db: &impl GenericClient, body: &Map<String, Value>) -> ApiResult<UserRow> {
    let id = match body.get("id") {
        None => Err(ApiError::field("id", "This field is required.")),
        Some(Value::Null) => Err(ApiError::field("id", "This field may not be null.")),
        Some(v) => form::pk(v).map(UserId).map_err(|msg| ApiError::field("id", msg)),
    };
    let me = &caller.identity;
    let on_self = id.as_ref().ok() == Some(&me.user.id);
    if !on_self && !me.holds::<ManageAccounts>() {
        return Err(Denial::NoPermission.into());
    }
    if on_self {
        refuse_api_key(me)?;
    }
    let user = users::get(db, id?).await?.ok_or(ApiError::NotFound)?;
    refuse_root(&caller.state, me, &user.username, ROOT_REFUSED)?;
    refuse_superuser(db, me, user.id).await?;
    Ok(user)
}

/// A key's holder must not take over its user's dashboard login by changing the user's own password or 2FA.
/// Checked here, not only by path in `session_only`: the router also matches percent-encoded paths.
fn refuse_api_key(me: &Identity) -> ApiResult<()> {
    match me.via {
        trmm_authz::Via::ApiKey(_) => Err(ApiError::Forbidden(crate::auth::session_only::REFUSED)),
        trmm_authz::Via::Session { .. } => Ok(()),
    }
}

/// A new password for `username` from the body's `password` field, hashed once it is strong enough.
fn new_password(body: &Map<String, Value>, username: &str) -> ApiResult<String> {
    let mut f = Form::new(body);
    f.require("password");
    let password = f.string("password", 1024, false);
    let mut errors = f.finish().err().unwrap_or_default();
    if let Some(password) = &password {
        check_password(&mut errors, password, username);
    }
    invalid(errors)?;
    let password = password.ok_or_else(|| ApiError::Internal("validated password missing".into()))?;
    Ok(trmm_auth::hash_password(&password)?)
}

async fn reset_password(caller: Caller, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let body = form::object(&body)?;
    let mut db = caller.state.conn().await?;
    let user = named_user(&caller, &db, body).await?;
    let hash = new_password(body, &user.username)?;
    let who = caller.identity.username();
    let tx = db.transaction().await?;
    users::set_password(&tx, user.id, &hash, who).await?;
    revoke_sessions(&tx, &caller.identity, user.id).await?;
    let change = user_event(format!("{who} reset the password of {}", user.username));
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

async fn reset_totp(caller: Caller, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let user = named_user(&caller, &db, form::object(&body)?).await?;
    let who = caller.identity.username();
    let tx = db.transaction().await?;
    users::clear_totp(&tx, user.id, who).await?;
    // 2FA is enforced by the server: sessions opened with the old key must not outlive it.
    revoke_sessions(&tx, &caller.identity, user.id).await?;
    let change = user_event(format!("{who} reset the two-factor key of {}", user.username));
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    let message = format!(
        "{}'s Two-Factor key was reset. Have them sign in again to setup",
        user.username
    );
    Ok(HttpResponse::Ok().json(message))
}

async fn own_password(caller: Caller, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    refuse_api_key(&caller.identity)?;
    let hash = new_password(form::object(&body)?, caller.identity.username())?;
    let (me, who) = (&caller.identity, caller.identity.username());
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    users::set_password(&tx, me.user.id, &hash, who).await?;
    revoke_sessions(&tx, me, me.user.id).await?;
    let change = user_event(format!("{who} changed their password"));
    audit::commit(tx, &caller.state, &req, me, change).await?;
    Ok(HttpResponse::Ok().json("Password was reset."))
}

async fn own_totp(caller: Caller, req: HttpRequest) -> ApiResult<HttpResponse> {
    refuse_api_key(&caller.identity)?;
    let (me, who) = (&caller.identity, caller.identity.username());
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    users::clear_totp(&tx, me.user.id, who).await?;
    // As for an admin's reset: sessions opened with the old key must not outlive it (this one stays).
    revoke_sessions(&tx, me, me.user.id).await?;
    let change = user_event(format!("{who} reset their two-factor key"));
    audit::commit(tx, &caller.state, &req, me, change).await?;
    Ok(HttpResponse::Ok().json("2FA was reset. Log out and back in to setup."))
}

/// Upstream's UserUISerializer also takes `block_dashboard_login`, letting users lock themselves out; here only
/// account managers set it (`PUT /accounts/<pk>/users/`), so it is ignored.
async fn ui_prefs(caller: Caller, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let mut f = Form::new(form::object(&body)?);
    let db = caller.state.conn().await?;
    let url_action = f.pk("url_action");
    if let Some(Some(id)) = url_action {
        if url_actions::get(&db, UrlActionId(id)).await?.is_none() {
            f.error("url_action", form::invalid_pk(id));
        }
    }
    let prefs = UiPrefs {
        dark_mode: f.boolean("dark_mode"),
        show_community_scripts: f.boolean("show_community_scripts"),
        agent_dblclick_action: f.choice(
            "agent_dblclick_action",
            &["editagent", "takecontrol", "remotebg", "urlaction"],
        ),
        url_action: url_action.map(|a| a.map(UrlActionId)),
        default_agent_tbl_tab: f.choice("default_agent_tbl_tab", &["server", "workstation", "mixed"]),
        client_tree_sort: f.choice("client_tree_sort", &["alphafail", "alpha"]),
        client_tree_splitter: f
            .int_within("client_tree_splitter", 0, i16::MAX.into(), false)
            .flatten()
            .and_then(|n| i16::try_from(n).ok()),
        loading_bar_color: f.string("loading_bar_color", 255, false),
        clear_search_when_switching: f.boolean("clear_search_when_switching"),
        date_format: f.text("date_format", 30, true, true),
    };
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    users::set_ui_prefs(&db, caller.identity.user.id, &prefs).await?;
    Ok(HttpResponse::Ok().json("ok"))
}
