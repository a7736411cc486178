//! Helpers shared through `#[path]` by the script, snippet, custom-field and key-store tests.
// Each test binary uses a different subset.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_api::testing::{TestApi, TOTP_SECRET};

/// Sends `body` with the dashboard `token`.
pub async fn send(api: &TestApi, token: &str, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    api.call(method, path, Some(token), Some(body)).await
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// Creates user `name` with a role holding `flags`, logs in with password and TOTP, and returns the token.
pub async fn user_with_flags(api: &TestApi, name: &str, flags: &[&str]) -> String {
    let conn = api.db.pool().get().await.unwrap();
    let role = trmm_db::roles::create(&**conn, &format!("{name}-role"), flags)
        .await
        .unwrap();
    let password = format!("{name} password");
    let hash = trmm_auth::hash_password(&password).unwrap();
    let email = format!("{name}@example.com");
    trmm_db::users::upsert_superuser(&**conn, name, &email, &hash, Some(TOTP_SECRET), false)
        .await
        .unwrap();
    conn.execute(
        "UPDATE users SET is_superuser = false, role_id = $1 WHERE username = $2",
        &[&role.0, &name],
    )
    .await
    .unwrap();
    let (status, login) = api
        .call(
            Method::POST,
            "/v2/login/",
            None,
            Some(json!({"username": name, "password": password, "twofactor": api.totp_now()})),
        )
        .await;
    assert!(status.is_success(), "{login}");
    login["token"].as_str().unwrap().to_owned()
}
