//! A dependency that is down or saturated gets an honest answer: a database outage or an exhausted pool is a
//! 503 naming the database with `Retry-After` (never a 500), and the login rate limit holds while Redis is away.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{wait_until, TestApi, ADMIN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_testkit::{free_port, RedisServer};

/// A request's status, `Retry-After` and body.
async fn send(
    api: &TestApi,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let (status, headers, body) = api.call_with_headers(method, path, token, body).await;
    let retry = headers.get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry, body)
}

fn assert_database_down(path: &str, (status, retry, body): (StatusCode, Option<String>, Value)) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
    assert_eq!(body, json!({"detail": "The database is unavailable."}), "{path}");
    let retry: u64 = retry
        .unwrap_or_else(|| panic!("{path}: no Retry-After"))
        .parse()
        .unwrap();
    assert!(retry > 0, "{path}");
}

#[tokio::test]
async fn with_postgres_down_every_call_is_a_503_naming_the_database() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;

    api.db.begin_outage().await;
    let creds = json!({"username": ADMIN, "password": "whatever"});
    let login = json!({"username": ADMIN, "password": "whatever", "twofactor": "123456"});
    let calls: [(Method, &str, Option<&str>, Option<Value>); 6] = [
        (Method::POST, "/v2/checkcreds/", None, Some(creds)),
        (Method::POST, "/v2/login/", None, Some(login)),
        (Method::GET, "/clients/", Some(&admin), None),
        (Method::GET, "/agents/", Some(&admin), None),
        (
            Method::POST,
            "/clients/",
            Some(&admin),
            Some(json!({"client": {"name": "X"}, "site": {"name": "Y"}})),
        ),
        (Method::GET, "/api/v3/installer/", Some("a-token-nobody-has"), None),
    ];
    for (method, path, token, body) in calls {
        assert_database_down(path, send(&api, method, path, token, body).await);
    }

    api.db.end_outage().await;
    wait_until("the API to answer again", Duration::from_secs(30), || async {
        api.get("/clients/", &admin).await.0 == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn an_exhausted_pool_is_a_503_not_a_500() {
    let slot = Arc::new(Mutex::new(None));
    let keep = slot.clone();
    let api = TestApi::start_with_deps(&trmm_testkit::redis_url(), move |db| {
        // One connection, and a short wait for it so that the test is quick.
        let mut config = deadpool_postgres::Config::new();
        config.url = Some(db.url().to_owned());
        let mut limits = deadpool_postgres::PoolConfig::new(1);
        limits.timeouts.wait = Some(Duration::from_secs(1));
        config.pool = Some(limits);
        let pool = config
            .create_pool(
                Some(deadpool_postgres::Runtime::Tokio1),
                deadpool_postgres::tokio_postgres::NoTls,
            )
            .unwrap();
        *keep.lock().unwrap() = Some(pool.clone());
        pool
    })
    .await;
    let pool = slot.lock().unwrap().clone().unwrap();
    let admin = api.admin_token().await;

    let held = pool.get().await.unwrap();
    assert_database_down(
        "/clients/",
        send(&api, Method::GET, "/clients/", Some(&admin), None).await,
    );
    drop(held);
    assert_eq!(api.get("/clients/", &admin).await.0, StatusCode::OK);
}

#[tokio::test]
async fn with_redis_down_the_11th_login_attempt_in_a_minute_is_still_refused() {
    let port = free_port();
    let redis = RedisServer::start_on(port).await;
    let api = TestApi::start_with_deps(&format!("redis://127.0.0.1:{port}"), |db| db.pool().clone()).await;
    drop(redis);

    let creds = json!({"username": ADMIN, "password": "guess"});
    for attempt in 1..=10 {
        let (status, _, body) = send(&api, Method::POST, "/v2/checkcreds/", None, Some(creds.clone())).await;
        assert_eq!(
            (status, body),
            (StatusCode::BAD_REQUEST, json!("Bad credentials")),
            "attempt {attempt}"
        );
    }
    let (status, retry, body) = send(&api, Method::POST, "/v2/checkcreds/", None, Some(creds)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("Request was throttled."),
        "{body}"
    );
    assert!(retry.is_some());
}
