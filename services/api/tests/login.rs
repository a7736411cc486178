//! Login with 2FA as Tactical RMM's dashboard performs it, against real Postgres and Redis.

mod common;

use chrono::Duration;
use common::{TestApi, ADMIN, ADMIN_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn checkcreds(api: &TestApi, username: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"username": username, "password": password});
    api.call(Method::POST, "/v2/checkcreds/", None, Some(body)).await
}

async fn audit_count(api: &TestApi, action: &str, username: &str) -> i64 {
    let conn = api.db.pool().get().await.unwrap();
    trmm_db::audit::count(&conn, action, username).await.unwrap()
}

#[tokio::test]
async fn bad_password_is_400_bad_credentials_with_an_audit_row() {
    let api = TestApi::start().await;
    let (status, body) = checkcreds(&api, ADMIN, "nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!("Bad credentials"));
    assert_eq!(audit_count(&api, "failed_login", ADMIN).await, 1);

    let (status, body) = api.login(ADMIN, ADMIN_PASSWORD, "000000").await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!("Bad credentials")));
    assert_eq!(audit_count(&api, "failed_login", ADMIN).await, 2);
    assert_eq!(audit_count(&api, "login", ADMIN).await, 0);
}

#[tokio::test]
async fn password_and_totp_give_a_working_token() {
    let api = TestApi::start().await;
    let (status, body) = checkcreds(&api, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"totp": true}));

    let (status, body) = api.login(ADMIN, ADMIN_PASSWORD, &api.totp_now()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], ADMIN);
    assert_eq!(body["name"], json!(null));
    assert!(body["expiry"].as_str().unwrap().ends_with('Z'));
    let token = body["token"].as_str().unwrap();
    assert_eq!(api.get("/agents/", token).await, (StatusCode::OK, json!([])));
    assert_eq!(audit_count(&api, "login", ADMIN).await, 1);
}

#[tokio::test]
async fn a_user_without_totp_gets_a_token_that_only_sets_up_totp() {
    let api = TestApi::start().await;
    let hash = trmm_auth::hash_password("another password").unwrap();
    let conn = api.db.pool().get().await.unwrap();
    trmm_db::users::upsert_superuser(&conn, "newbie", "n@example.com", &hash, None, false)
        .await
        .unwrap();

    let (status, body) = checkcreds(&api, "newbie", "another password").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["totp"], json!(false));
    let setup_token = body["token"].as_str().unwrap().to_owned();

    // The setup token cannot list agents or clients.
    let (status, body) = api.get("/agents/", &setup_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["detail"].as_str().unwrap().contains("Two-factor"));
    assert_eq!(api.get("/clients/", &setup_token).await.0, StatusCode::FORBIDDEN);

    // It can set up TOTP, once.
    let (status, body) = api
        .call(Method::POST, "/accounts/users/setup_totp/", Some(&setup_token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let secret = body["totp_key"].as_str().unwrap().to_owned();
    assert!(body["qr_url"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/api.example.com:newbie?secret="));
    let (_, again) = api
        .call(Method::POST, "/accounts/users/setup_totp/", Some(&setup_token), None)
        .await;
    assert_eq!(again, json!(false));
    // Still no dashboard access with that token: a real login with the code is needed.
    assert_eq!(api.get("/agents/", &setup_token).await.0, StatusCode::FORBIDDEN);

    let now = trmm_api::clock::Clock::now(&*api.clock).timestamp() as u64;
    let code = trmm_auth::totp_code(&secret, now).unwrap();
    let (status, body) = api.login("newbie", "another password", &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        api.get("/agents/", body["token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_and_logged_out_tokens_are_401() {
    let api = TestApi::start().await;
    let token = api.admin_token().await;
    // Sliding expiry: used within 5 h the token lives on.
    api.clock.advance(Duration::hours(4));
    assert_eq!(api.get("/agents/", &token).await.0, StatusCode::OK);
    api.clock.advance(Duration::hours(4));
    assert_eq!(api.get("/agents/", &token).await.0, StatusCode::OK);
    // Unused for more than 5 h it expires.
    api.clock.advance(Duration::hours(5) + Duration::minutes(1));
    let (status, body) = api.get("/agents/", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "Invalid token."}));

    let token = api.admin_token().await;
    let (status, _) = api.call(Method::POST, "/logout/", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/agents/", &token).await.0, StatusCode::UNAUTHORIZED);

    let (status, body) = api.call(Method::GET, "/agents/", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "Authentication credentials were not provided."}));
}

#[tokio::test]
async fn eleventh_checkcreds_in_a_minute_is_429() {
    let api = TestApi::start().await;
    for i in 0..10 {
        let (status, _) = checkcreds(&api, ADMIN, &format!("wrong{i}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {i}");
    }
    let (status, body) = checkcreds(&api, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body["detail"].as_str().unwrap().starts_with("Request was throttled."));
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limit_follows_the_address_the_proxy_saw() {
    let api = TestApi::start_with(|s| s.trust_proxy_headers = true).await;
    let attempt = |xff: &'static str| {
        let http = api.http.clone();
        let url = format!("{}/v2/checkcreds/", api.url);
        async move {
            http.post(url)
                .header("X-Forwarded-For", xff)
                .json(&json!({"username": ADMIN, "password": "wrong"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for _ in 0..10 {
        assert_eq!(attempt("9.9.9.9, 203.0.113.5").await, StatusCode::BAD_REQUEST);
    }
    // A forged first entry does not reset the count: the proxy appended the real address last.
    assert_eq!(attempt("8.8.8.8, 203.0.113.5").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attempt("9.9.9.9, 203.0.113.6").await, StatusCode::BAD_REQUEST);
}
