//! Dashboard sessions (server-api.md 2.8): listed with creation, expiry, last use and client IP, ended one at a time
//! or all together, and ended for a user whose password, role, 2FA or access changes; `block_dashboard_login`
//! refuses checkcreds, login and sessions.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::accounts::{member, session, user_id};
use common::{keys, TestApi, ADMIN, TOTP_SECRET};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_api::clock::Clock;

const PASSWORD: &str = "a long pass phrase";

fn invalid_token() -> (StatusCode, Value) {
    (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid token."}))
}

/// Whether `token` still opens a session (an endpoint any signed-in user may call).
async fn works(api: &TestApi, token: &str) -> bool {
    let (status, body) = api
        .call(Method::PATCH, "/accounts/users/ui/", Some(token), Some(json!({})))
        .await;
    match status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => false,
        other => panic!("{other}: {body}"),
    }
}

/// Creates `name` through the API with [`PASSWORD`] and the test TOTP secret, so that it can log in.
async fn loginable(api: &TestApi, admin: &str, name: &str) -> i64 {
    let body = json!({"username": name, "email": "", "password": PASSWORD});
    assert_eq!(api.post("/accounts/users/", admin, body).await.0, StatusCode::OK);
    let conn = api.db.pool().get().await.unwrap();
    let sql = "UPDATE users SET totp_key = $1 WHERE username = $2";
    conn.execute(sql, &[&TOTP_SECRET, &name]).await.unwrap();
    user_id(api, name).await
}

async fn login(api: &TestApi, name: &str, password: &str) -> (StatusCode, Value) {
    api.login(name, password, &api.totp_now()).await
}

/// (last_used, expiry) of the session of `token`.
async fn stamps(api: &TestApi, token: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    let conn = api.db.pool().get().await.unwrap();
    let sql = "SELECT last_used, expiry FROM auth_tokens WHERE digest = $1";
    let row = conn.query_one(sql, &[&trmm_auth::digest_token(token)]).await.unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn sessions_are_listed_with_their_last_use_and_address() {
    let api = TestApi::start().await;
    let first = api.admin_token().await;
    let second = api.admin_token().await;
    let path = format!("/accounts/users/{}/sessions/", user_id(&api, ADMIN).await);
    let (status, list) = api.get(&path, &first).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 2);
    let entry = &list[1];
    assert_eq!(
        keys(entry),
        ["created", "digest", "expiry", "ip_address", "last_used", "user"]
    );
    assert_eq!(
        (&entry["user"], &entry["ip_address"]),
        (&json!(ADMIN), &json!("127.0.0.1"))
    );
    let digests: Vec<&str> = common::column(&list, "digest");
    assert!(digests.contains(&hex::encode(trmm_auth::digest_token(&second)).as_str()));

    // Expired sessions are not listed.
    api.clock.advance(Duration::hours(6));
    let fresh = session(&api, user_id(&api, ADMIN).await).await;
    let (_, list) = api.get(&path, &fresh).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn last_use_is_written_at_most_once_a_minute() {
    let api = TestApi::start().await;
    let token = api.admin_token().await;
    let (created, _) = stamps(&api, &token).await;

    api.clock.advance(Duration::seconds(30));
    assert!(works(&api, &token).await);
    assert_eq!(stamps(&api, &token).await.0, created, "no write within a minute");

    api.clock.advance(Duration::seconds(31));
    assert!(works(&api, &token).await);
    let (used, expiry) = stamps(&api, &token).await;
    assert!(used - created >= Duration::seconds(61), "{created} {used}");
    assert!(used <= api.clock.now());
    // The expiry slides with it.
    assert_eq!(expiry - used, Duration::hours(5));
}

#[tokio::test]
async fn an_admin_password_reset_ends_the_users_sessions() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let bob = loginable(&api, &admin, "bob").await;
    let (status, body) = login(&api, "bob", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bob_token = body["token"].as_str().unwrap().to_owned();
    assert!(works(&api, &bob_token).await);

    let reset = json!({"id": bob, "password": "another long phrase"});
    assert_eq!(api.post("/accounts/users/reset/", &admin, reset).await.1, json!("ok"));
    assert_eq!(api.get("/accounts/users/", &bob_token).await, invalid_token());
    assert!(works(&api, &admin).await, "the admin's own session is untouched");
    assert_eq!(login(&api, "bob", PASSWORD).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(login(&api, "bob", "another long phrase").await.0, StatusCode::OK);
    let audited = common::count(
        &api,
        "SELECT count(*) FROM audit_logs WHERE message = 'admin reset the password of bob'",
    )
    .await;
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn a_new_role_lost_access_or_a_2fa_reset_end_sessions_too() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let bob = member(&api, "bob", &[]).await;
    let other = member(&api, "other", &[]).await;
    let path = format!("/accounts/{}/users/", bob.id);

    assert_eq!(
        api.put(&path, &admin, json!({"first_name": "Bob"})).await.1,
        json!("ok")
    );
    assert!(works(&api, &bob.token).await, "a name change keeps sessions");
    let edits = [
        (path.as_str(), json!({ "role": other.role })),
        ("/accounts/users/reset_totp/", json!({ "id": bob.id })),
        (path.as_str(), json!({"is_active": false})),
        (path.as_str(), json!({"is_active": true, "block_dashboard_login": true})),
    ];
    let mut token = bob.token.clone();
    for (target, body) in edits {
        assert_eq!(api.put(target, &admin, body.clone()).await.0, StatusCode::OK, "{body}");
        assert!(!works(&api, &token).await, "{body} ended the session");
        token = session(&api, bob.id).await;
    }
    // A blocked user's new session is refused too.
    assert_eq!(api.get("/accounts/users/", &token).await.0, StatusCode::FORBIDDEN);
    assert!(works(&api, &other.token).await, "other users keep theirs");
}

#[tokio::test]
async fn an_own_password_change_keeps_this_session_and_ends_the_others() {
    let api = TestApi::start().await;
    let bob = member(&api, "bob", &[]).await;
    let laptop = session(&api, bob.id).await;
    let body = json!({"password": "a brand new phrase"});
    let (status, message) = api.put("/accounts/resetpw/", &bob.token, body).await;
    assert_eq!((status, message), (StatusCode::OK, json!("Password was reset.")));
    assert!(works(&api, &bob.token).await);
    assert!(!works(&api, &laptop).await);
}

#[tokio::test]
async fn an_own_2fa_reset_keeps_this_session_and_ends_the_others() {
    let api = TestApi::start().await;
    let bob = member(&api, "bob", &[]).await;
    let laptop = session(&api, bob.id).await;
    let (status, _) = api.put("/accounts/reset2fa/", &bob.token, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(works(&api, &bob.token).await);
    assert!(!works(&api, &laptop).await);
}

/// Beyond upstream: an account manager who is not a superuser cannot reset, edit or delete a superuser (upstream
/// protects only its ROOT_USER, so a manager could reset the admin's password and 2FA and sign in as them).
#[tokio::test]
async fn only_a_superuser_acts_on_a_superuser() {
    let api = TestApi::start().await;
    let manager = member(&api, "manager", &["can_list_accounts", "can_manage_accounts"]).await;
    let admin_id = user_id(&api, ADMIN).await;
    let forbidden = (StatusCode::FORBIDDEN, json!({"detail": trmm_authz::NO_PERMISSION}));
    let reset = json!({"id": admin_id, "password": "a brand new phrase"});
    assert_eq!(
        api.post("/accounts/users/reset/", &manager.token, reset).await,
        forbidden
    );
    let totp = json!({"id": admin_id});
    assert_eq!(
        api.put("/accounts/users/reset_totp/", &manager.token, totp).await,
        forbidden
    );
    let path = format!("/accounts/{admin_id}/users/");
    assert_eq!(
        api.put(&path, &manager.token, json!({"email": "x@example.com"})).await,
        forbidden
    );
    assert_eq!(api.delete(&path, &manager.token).await, forbidden);
    let (status, _) = api.login(ADMIN, common::ADMIN_PASSWORD, &api.totp_now()).await;
    assert_eq!(status, StatusCode::OK, "the admin's password and 2FA are unchanged");
}

#[tokio::test]
async fn sessions_are_ended_one_at_a_time_or_all_together() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let viewer = member(&api, "viewer", &["can_list_accounts"]).await;
    let bob = member(&api, "bob", &[]).await;
    let laptop = session(&api, bob.id).await;
    let all = format!("/accounts/users/{}/sessions/", bob.id);
    let one = format!(
        "/accounts/sessions/{}/",
        hex::encode(trmm_auth::digest_token(&bob.token))
    );

    assert_eq!(api.delete(&one, &viewer.token).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.delete(&all, &viewer.token).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.delete(&one, &admin).await, (StatusCode::OK, json!("ok")));
    assert!(!works(&api, &bob.token).await);
    assert!(works(&api, &laptop).await);
    assert_eq!(api.delete(&one, &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.delete("/accounts/sessions/zz/", &admin).await.0,
        StatusCode::NOT_FOUND
    );

    assert_eq!(api.get(&all, &viewer.token).await.1.as_array().unwrap().len(), 1);
    assert_eq!(api.delete(&all, &admin).await, (StatusCode::OK, json!("ok")));
    assert!(!works(&api, &laptop).await);
    assert_eq!(api.get(&all, &viewer.token).await, (StatusCode::OK, json!([])));
    assert_eq!(
        api.get("/accounts/users/999/sessions/", &admin).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.delete("/accounts/users/999/sessions/", &admin).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn block_dashboard_login_refuses_checkcreds_login_and_sessions() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let bob = loginable(&api, &admin, "bob").await;
    let (_, body) = login(&api, "bob", PASSWORD).await;
    let bob_token = body["token"].as_str().unwrap().to_owned();
    let path = format!("/accounts/{bob}/users/");

    assert_eq!(
        api.put(&path, &admin, json!({"block_dashboard_login": true})).await.1,
        json!("ok")
    );
    assert!(!works(&api, &bob_token).await);
    let creds = json!({"username": "bob", "password": PASSWORD});
    let refused = (StatusCode::BAD_REQUEST, json!("Bad credentials"));
    assert_eq!(
        api.call(Method::POST, "/v2/checkcreds/", None, Some(creds)).await,
        refused
    );
    assert_eq!(login(&api, "bob", PASSWORD).await, refused);

    assert_eq!(
        api.put(&path, &admin, json!({"block_dashboard_login": false})).await.1,
        json!("ok")
    );
    assert_eq!(login(&api, "bob", PASSWORD).await.0, StatusCode::OK);
}
