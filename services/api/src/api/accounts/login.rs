//! Login with TOTP, logout and 2FA setup (TRMM accounts/views.py, tacticalrmm/urls.py; server-api.md 2.2–2.3).
//!
//! Unlike Tactical RMM, 2FA is enforced by the server: a user without TOTP gets from checkcreds only a
//! short-lived token that can do nothing but set up TOTP and log out.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use trmm_db::audit::{self, AuditEntry};
use trmm_db::sessions::{self, NewSession, Scope};
use trmm_db::users::{self, User};

use crate::api::routes::{self, Routes};
use crate::auth::{self, TotpSetupUser};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::ratelimit;
use crate::state::AppState;

/// Lifetime of the token a user without 2FA gets; it cannot be refreshed.
const TOTP_SETUP_TTL: Duration = Duration::minutes(15);
const BAD_CREDENTIALS: &str = "Bad credentials";

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/v2/checkcreds/", routes::post().to(check_creds))
        .route("/v2/login/", routes::post().to(login))
        .route("/logout/", routes::post().to(logout))
        .route("/accounts/users/setup_totp/", routes::post().to(setup_totp));
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
    twofactor: String,
}

#[derive(Serialize)]
struct TokenResponse {
    expiry: DateTime<Utc>,
    token: String,
}

/// Writes the audit row and the fail2ban-friendly log line of a failed login, then answers 400.
async fn reject(state: &AppState, req: &HttpRequest, username: &str, reason: &str) -> ApiError {
    let ip = auth::client_ip(req, state);
    // fail2ban: failregex = failed login .* ip=<HOST>
    tracing::warn!(target: "trmm_api::security", username, ip = %ip.map_or("-".into(), |i| i.to_string()), reason, "failed login");
    let entry = AuditEntry {
        username,
        action: "failed_login",
        object_type: "user",
        message: format!("{username}: {reason}"),
        debug_info: Some(auth::debug_info(req, state)),
        ..Default::default()
    };
    match state.conn().await {
        Ok(db) => {
            if let Err(e) = audit::insert(&db, &entry).await {
                return e.into();
            }
        }
        Err(e) => return e.into(),
    }
    ApiError::BadRequest(BAD_CREDENTIALS.into())
}

/// The user `username`, if `password` is theirs, once the client IP is within its rate limit for `action`; wrong
/// credentials are [`reject`]ed.
async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    action: &str,
    username: &str,
    password: &str,
) -> ApiResult<User> {
    ratelimit::check(state, action, auth::client_ip(req, state)).await?;
    match verify_user(state, username, password).await? {
        Some(user) => Ok(user),
        None => Err(reject(state, req, username, "Credentials were rejected").await),
    }
}

/// Checks username and password; a user refused the dashboard is treated like a wrong password.
async fn verify_user(state: &AppState, username: &str, password: &str) -> ApiResult<Option<User>> {
    let db = state.conn().await?;
    let Some(user) = users::find_by_username(&db, username).await? else {
        // Hash anyway so response time does not reveal which usernames exist.
        let _ = trmm_auth::hash_password(password);
        return Ok(None);
    };
    let ok = trmm_auth::verify_password(password, &user.password_hash)?;
    Ok((ok && user.is_active && !user.block_dashboard_login).then_some(user))
}

async fn issue_token(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    scope: Scope,
    ttl: Duration,
) -> ApiResult<TokenResponse> {
    let token = trmm_auth::generate_token();
    let now = state.now();
    let session = NewSession {
        user: user.id,
        digest: &trmm_auth::digest_token(&token),
        scope,
        created: now,
        expiry: now + ttl,
        ip: auth::client_ip(req, state),
    };
    let db = state.conn().await?;
    sessions::create(&db, &session).await?;
    Ok(TokenResponse {
        expiry: session.expiry,
        token,
    })
}

async fn check_creds(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<Credentials>,
) -> ApiResult<HttpResponse> {
    let user = authenticate(&state, &req, "checkcreds", &body.username, &body.password).await?;
    if user.totp_key.is_some() {
        return Ok(HttpResponse::Ok().json(json!({ "totp": true })));
    }
    let TokenResponse { expiry, token } = issue_token(&state, &req, &user, Scope::TotpSetup, TOTP_SETUP_TTL).await?;
    Ok(HttpResponse::Ok().json(json!({ "expiry": expiry, "token": token, "totp": false })))
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let user = authenticate(&state, &req, "login", &body.username, &body.password).await?;
    let now = state.now();
    let totp_ok = match &user.totp_key {
        Some(key) => trmm_auth::verify_totp(key, &body.twofactor, now.timestamp().max(0) as u64).unwrap_or(false),
        None => false,
    };
    if !totp_ok {
        return Err(reject(&state, &req, &body.username, "Two Factor token rejected").await);
    }
    let TokenResponse { expiry, token } =
        issue_token(&state, &req, &user, Scope::Full, crate::auth::SESSION_TTL).await?;
    let db = state.conn().await?;
    users::record_login(&db, user.id, now, auth::client_ip(&req, &state)).await?;
    audit::insert(
        &db,
        &AuditEntry {
            username: &user.username,
            action: "login",
            object_type: "user",
            message: format!("{} logged in successfully", user.username),
            debug_info: Some(auth::debug_info(&req, &state)),
            ..Default::default()
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "expiry": expiry, "token": token, "username": user.username, "name": null })))
}

async fn logout(caller: TotpSetupUser) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    sessions::delete(&db, &caller.identity.session_digest).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn setup_totp(caller: TotpSetupUser) -> ApiResult<HttpResponse> {
    let user = &caller.identity.user;
    if user.totp_key.is_some() {
        return Ok(HttpResponse::Ok().json(false));
    }
    let secret = trmm_auth::generate_totp_secret();
    let db = caller.state.conn().await?;
    if !users::set_totp_key_if_unset(&db, user.id, &secret).await? {
        return Ok(HttpResponse::Ok().json(false));
    }
    let issuer = issuer(&caller.state.settings.public_url);
    let qr_url = format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}",
        url_escape(&issuer),
        url_escape(&user.username),
        url_escape(&issuer)
    );
    Ok(HttpResponse::Ok().json(json!({ "username": user.username, "totp_key": secret, "qr_url": qr_url })))
}

/// The host part of the public URL names this server in authenticator apps.
fn issuer(public_url: &str) -> String {
    let rest = public_url.split_once("://").map_or(public_url, |(_, r)| r);
    rest.split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("trmm-rs")
        .to_owned()
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
