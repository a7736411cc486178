//! `/accounts/` (TRMM accounts/views.py, accounts/urls.py; server-api.md 2.2–2.8, 3.2): login with TOTP, users,
//! password and 2FA resets, UI preferences, roles and sessions.

mod login;
mod reset;
mod roles;
mod sessions;
mod users;

use serde_json::{Map, Value};
use trmm_db::{sessions as session_db, GenericClient, UserId};

use crate::api::audit::Change;
use crate::api::routes::Routes;
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    cfg.configure(login::configure)
        .configure(users::configure)
        .configure(reset::configure)
        .configure(roles::configure)
        .configure(sessions::configure);
}

/// What the user object of audit rows is called.
const USER: &str = "user";

/// A `modify` audit row about a user that carries only its message: resets and ended sessions have no values
/// worth showing, and passwords and TOTP keys must never be shown.
fn user_event(message: String) -> Change<'static> {
    Change::action("modify", USER, message)
}

/// Refused with `message` when `target` is the protected root user and someone else is acting on it (TRMM
/// accounts/utils.py::is_root_user).
fn refuse_root(state: &AppState, caller: &Identity, target: &str, message: &str) -> ApiResult<()> {
    let is_root = state.settings.root_user.as_deref() == Some(target);
    if is_root && caller.username() != target {
        return Err(ApiError::BadRequest(message.to_owned()));
    }
    Ok(())
}

/// Beyond upstream, which protects only the root user named at install: only a superuser acts on a superuser,
/// so that an account manager cannot take one over by resetting its password and 2FA.
async fn refuse_superuser(db: &impl GenericClient, caller: &Identity, target: UserId) -> ApiResult<()> {
    if caller.user.id != target && !caller.is_superuser() && trmm_db::users::is_superuser(db, target).await? {
        return Err(trmm_authz::Denial::NoPermission.into());
    }
    Ok(())
}

/// Ends the sessions of `user` after its password, role or access changed, except the caller's own session
/// when users act on themselves (they stay signed in; their other devices do not).
async fn revoke_sessions(db: &impl GenericClient, caller: &Identity, user: UserId) -> ApiResult<()> {
    let keep = caller.session_digest().filter(|_| caller.user.id == user);
    session_db::revoke_for_user(db, user, keep).await?;
    Ok(())
}

/// Adds the password's weaknesses for `username` to `errors` (field `password`, Django's messages).
fn check_password(errors: &mut Map<String, Value>, password: &str, username: &str) {
    let problems = trmm_auth::password_problems(password, username);
    if !problems.is_empty() {
        errors.insert("password".to_owned(), Value::from(problems));
    }
}

/// `errors` as the 400 a serializer raises, if there are any.
fn invalid(errors: Map<String, Value>) -> ApiResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(Value::Object(errors)))
    }
}
