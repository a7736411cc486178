//! What the dashboard boots with (`GET /core/version/`, `GET /core/dashinfo/`) and the monitoring endpoint
//! (`GET /core/v2/status/` behind `TRMM_MONITORING_TOKEN`), against real Postgres and Redis.

mod common;

use std::time::Duration;

use common::{agent_id, api_with_acme_hq, user, wait_until, TestApi, Wiring};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use trmm_testkit::NatsServer;

const MON_TOKEN: &str = "monitoring-token-for-tests";

#[tokio::test]
async fn version_is_the_servers_and_every_user_may_read_it() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    let viewer = user(&api, "viewer", &[], None).await;
    for token in [&admin, &viewer] {
        let (status, body) = api.get("/core/version/", token).await;
        assert_eq!((status, body), (StatusCode::OK, json!(env!("CARGO_PKG_VERSION"))));
    }
    let (status, body) = api.call(Method::GET, "/core/version/", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn dashinfo_has_the_users_preferences_and_the_servers_switches() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    let (status, info) = api.get("/core/dashinfo/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let version = env!("CARGO_PKG_VERSION");
    let expected = json!({
        "trmm_version": version, "latest_trmm_ver": version,
        "dark_mode": true, "show_community_scripts": true, "dbl_click_action": "editagent",
        "default_agent_tbl_tab": "server", "url_action": null, "client_tree_sort": "alphafail",
        "client_tree_splitter": 11, "loading_bar_color": "red", "clear_search_when_switching": true,
        "hosted": false, "date_format": null, "default_date_format": "MMM-DD-YYYY - HH:mm",
        "token_is_expired": false, "open_ai_integration_enabled": false,
        "dash_info_color": "info", "dash_positive_color": "positive", "dash_negative_color": "negative",
        "dash_warning_color": "warning",
        "run_cmd_placeholder_text": {"cmd": "rmdir /S /Q C:\\Windows\\System32",
            "powershell": "Remove-Item -Recurse -Force C:\\Windows\\System32", "shell": "rm -rf --no-preserve-root /"},
        "server_scripts_enabled": false, "web_terminal_enabled": false, "block_local_user_logon": false,
        "sso_enabled": false,
    });
    assert_eq!(info, expected);

    // Preferences are the caller's own (as PATCH /accounts/users/ui/ stores them); the default date format is the
    // global setting.
    let viewer = user(&api, "viewer", &[], None).await;
    let action = json!({"name": "Open", "desc": "", "pattern": "https://example.com/{{agent.hostname}}"});
    assert_eq!(api.post("/core/urlaction/", &admin, action).await.0, StatusCode::OK);
    let action = common::count(&api, "SELECT max(id)::bigint FROM url_actions").await;
    let prefs = json!({"dark_mode": false, "date_format": "YYYY-MM-DD", "client_tree_splitter": 20,
                       "agent_dblclick_action": "urlaction", "url_action": action});
    let (status, body) = api
        .call(Method::PATCH, "/accounts/users/ui/", Some(&viewer), Some(prefs))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    let (status, body) = api
        .put("/core/settings/", &admin, json!({"date_format": "DD/MM/YYYY"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mine = |info: &Value| {
        json!([
            info["dark_mode"],
            info["date_format"],
            info["client_tree_splitter"],
            info["dbl_click_action"],
            info["url_action"],
            info["default_date_format"]
        ])
    };
    let (status, info) = api.get("/core/dashinfo/", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(
        mine(&info),
        json!([false, "YYYY-MM-DD", 20, "urlaction", action, "DD/MM/YYYY"])
    );
    let (_, info) = api.get("/core/dashinfo/", &admin).await;
    assert_eq!(mine(&info), json!([true, null, 11, "editagent", null, "DD/MM/YYYY"]));

    // Upstream refuses the installer user with an empty 400; nobody without a session gets anything.
    let conn = api.db.pool().get().await.unwrap();
    conn.execute(
        "UPDATE users SET is_installer_user = true WHERE username = 'viewer'",
        &[],
    )
    .await
    .unwrap();
    let (status, body) = api.get("/core/dashinfo/", &viewer).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!("")));
    let (status, _) = api.call(Method::GET, "/core/dashinfo/", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// `GET /core/v2/status/` with `X-Mon-Token: token` (None: no header).
async fn status(api: &TestApi, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = api.http.get(format!("{}/core/v2/status/", api.url));
    if let Some(token) = token {
        req = req.header("X-Mon-Token", token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn without_a_configured_token_the_status_endpoint_does_not_exist() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    for token in [None, Some(""), Some(MON_TOKEN), Some(admin.as_str())] {
        let (code, body) = status(&api, token).await;
        assert_eq!((code, body), (StatusCode::NOT_FOUND, json!({"detail": "Not found."})));
    }
}

#[tokio::test]
async fn the_status_endpoint_refuses_a_missing_or_wrong_token() {
    let api = TestApi::start_with(|s| s.monitoring_token = Some(trmm_auth::digest_token(MON_TOKEN))).await;
    let admin = api.admin_token().await;
    let cases = [
        (None, "Missing X-Mon-Token header"),
        (Some(""), "Not authenticated"),
        (Some("monitoring-token-for-test"), "Not authenticated"),
        (Some(admin.as_str()), "Not authenticated"),
    ];
    for (token, detail) in cases {
        let (code, body) = status(&api, token).await;
        assert_eq!(
            (code, body),
            (StatusCode::UNAUTHORIZED, json!({ "detail": detail })),
            "{token:?}"
        );
    }
    // A dashboard session is no monitoring token either.
    let (code, _) = api.get("/core/v2/status/", &admin).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_status_reports_versions_counts_and_dependencies() {
    let nats = NatsServer::start().await;
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let port = trmm_testkit::free_port();
    let nc = async_nats::connect(nats.url()).await.unwrap();
    let gateway = trmm_nats_api::gateway::Gateway::new(nc, Default::default(), |_| Box::pin(async { Ok(0) }));
    let listen = format!("127.0.0.1:{port}").parse().unwrap();
    tokio::spawn(trmm_nats_api::gateway::serve(listen, gateway, stop.clone()));
    let wiring = Wiring {
        gateway_url: Some(format!("http://127.0.0.1:{port}")),
        ..Wiring::default()
    };
    let digest = trmm_auth::digest_token(MON_TOKEN);
    let api = TestApi::start_wired(|s| s.monitoring_token = Some(digest), wiring).await;
    let admin = api.admin_token().await;
    let (client, site) = api.client_with_site(&admin, "Acme", "HQ").await;
    api.client_with_site(&admin, "Other", "Main").await;
    let installer = api.installer_token(&admin, client, site).await;
    for (n, host) in [(1, "online"), (2, "offline"), (3, "overdue"), (4, "never")] {
        api.enroll(&installer, &agent_id(n), host, site).await;
    }
    let conn = api.db.pool().get().await.unwrap();
    let seen = "UPDATE agents SET last_seen = now() - $2::text::interval WHERE hostname = $1";
    for (host, ago) in [
        ("online", "1 minute"),
        ("offline", "10 minutes"),
        ("overdue", "2 hours"),
    ] {
        conn.execute(seen, &[&host, &ago]).await.unwrap();
    }
    let sql = "UPDATE agents SET last_seen = NULL WHERE hostname = 'never';
               UPDATE agents SET monitoring_type = 'workstation' WHERE hostname = 'overdue'";
    conn.batch_execute(sql).await.unwrap();

    let (code, body) = status(&api, Some(MON_TOKEN)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let queues = json!({"bulk": 0, "notify": 0, "periodic": 0, "run_pending": 0, "script_email": 0});
    let expected = json!({
        "version": env!("CARGO_PKG_VERSION"), "latest_agent_version": "2.9.1",
        "agent_count": 4, "online_agent_count": 1, "offline_agent_count": 2, "overdue_agent_count": 1,
        "client_count": 2, "site_count": 2,
        "postgres_ping": true, "redis_ping": true, "nats_std_ping": true, "agent_gateway_ping": true,
        "agent_presence_synced": false,
        "celery_queue_len": 0, "celery_queue_health": "healthy", "job_queues": queues,
    });
    assert_eq!(body, expected);

    // A waiting job is counted in its queue.
    let redis = redis::Client::open(trmm_testkit::redis_url()).unwrap();
    let redis = redis::aio::ConnectionManager::new(redis).await.unwrap();
    trmm_jobs::enqueue(redis, api.redis.prefix(), trmm_jobs::Notify { notification_id: 1 })
        .await
        .unwrap();
    let (_, body) = status(&api, Some(MON_TOKEN)).await;
    assert_eq!(
        (body["celery_queue_len"].clone(), body["job_queues"]["notify"].clone()),
        (json!(1), json!(1))
    );

    // The gateway gone (once its connections are closed): NATS is not known to be reachable any more; the rest
    // still answers.
    stop.cancel();
    drop(nats);
    let api = &api;
    wait_until(
        "the status to report the gateway down",
        Duration::from_secs(20),
        || async move {
            let (code, b) = status(api, Some(MON_TOKEN)).await;
            let deps = json!([b["nats_std_ping"], b["agent_gateway_ping"], b["postgres_ping"]]);
            code == StatusCode::OK && deps == json!([false, false, true])
        },
    )
    .await;
}
