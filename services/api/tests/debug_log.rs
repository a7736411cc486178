//! The debug log as trmm-api writes and serves it (server-api.md 1.10, 3.8): agent requests the API refuses become
//! `agent_issues` entries, at most one a minute per agent, route and status; `agent_debug_level` gates what is
//! kept; `PATCH /logs/debug/` filters by type, level and agent, within the caller's role scope.

mod common;

use common::{agent_id, api_with_acme_hq, bravo_at_other, count, user, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_db::debug_log::{self, Level, LogType, NewEntry};

/// `PATCH /logs/debug/` as `token`, which must answer 200.
async fn debug(api: &TestApi, token: &str, body: Value) -> Vec<Value> {
    let (status, rows) = api.call(Method::PATCH, "/logs/debug/", Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows.as_array().unwrap().clone()
}

fn messages(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["message"].as_str().unwrap()).collect()
}

/// A check result naming another agent, which the API refuses with a 400.
async fn foreign_result(api: &TestApi, token: &str) {
    let body = json!({"id": 1, "agent_id": agent_id(99), "status": "passing"});
    let (status, _) = api
        .call(Method::PATCH, "/api/v3/checkrunner/", Some(token), Some(body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

const ENTRIES: &str = "SELECT count(*) FROM debug_logs";

#[tokio::test]
async fn refused_agent_requests_are_logged_filtered_and_gated_by_level() {
    let (api, admin, _, hq, installer) = api_with_acme_hq().await;
    let alpha = agent_id(1);
    let (_, token) = api.enroll(&installer, &alpha, "alpha", hq).await;
    let (bravo, _, _) = bravo_at_other(&api, &admin).await;

    foreign_result(&api, &token).await;
    // The same refusal again within the minute is counted into the next entry, not written.
    foreign_result(&api, &token).await;
    let path = format!("/api/v3/999/{alpha}/histresult/");
    let (status, _) = api
        .call(Method::PATCH, &path, Some(&token), Some(json!({"results": "x"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(count(&api, ENTRIES).await, 2);

    let rows = debug(&api, &admin, json!({})).await;
    assert_eq!(
        common::keys(&rows[0]),
        ["agent", "entry_time", "id", "log_level", "log_type", "message"]
    );
    assert_eq!(
        messages(&rows),
        [
            "PATCH /api/v3/{histpk}/{agentid}/histresult/ answered 404 Not Found: not found",
            "PATCH /api/v3/checkrunner/ answered 400 Bad Request: The result names another agent"
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r["agent"] == "alpha" && r["log_type"] == "agent_issues"));
    assert!(rows.iter().all(|r| r["log_level"] == "warning"));

    // Only what reaches agent_debug_level is kept.
    let (status, body) = api
        .put("/core/settings/", &admin, json!({"agent_debug_level": "error"}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    assert_eq!(api.get("/core/settings/", &admin).await.1["agent_debug_level"], "error");
    let (status, _) = api
        .call(Method::POST, "/api/v3/software/", Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(count(&api, ENTRIES).await, 2, "a warning is below the level");
    let conn = api.db.pool().get().await.unwrap();
    let entry = |level, message| NewEntry {
        agent: None,
        level,
        log_type: LogType::SystemIssues,
        message,
    };
    assert!(!debug_log::insert(&conn, &entry(Level::Warning, "kept back"))
        .await
        .unwrap());
    assert!(
        debug_log::insert(&conn, &entry(Level::Error, "the mail server is gone"))
            .await
            .unwrap()
    );
    assert!(debug_log::insert(&conn, &entry(Level::Critical, "the disk is full"))
        .await
        .unwrap());

    // Filters: level, type (the dashboard's "windows_updates" too), agent.
    let only = |body: Value| {
        let api = &api;
        let admin = &admin;
        async move { messages(&debug(api, admin, body).await).len() }
    };
    assert_eq!(only(json!({"logLevelFilter": "warning"})).await, 2);
    assert_eq!(only(json!({"logLevelFilter": "error"})).await, 1);
    assert_eq!(only(json!({"logTypeFilter": "agent_issues"})).await, 2);
    assert_eq!(
        only(json!({"logTypeFilter": "system_issues", "logLevelFilter": null})).await,
        2
    );
    assert_eq!(only(json!({"logTypeFilter": "windows_updates"})).await, 0);
    assert_eq!(only(json!({"agentFilter": alpha})).await, 2);
    assert_eq!(only(json!({"agentFilter": bravo})).await, 0);
    assert_eq!(only(json!({})).await, 4);

    // A role limited to client Other sees the entries about no agent, not alpha's (client Acme).
    let tech = user(
        &api,
        "tech",
        &["can_view_debuglogs"],
        Some(other_client(&api, &admin).await),
    )
    .await;
    let rows = debug(&api, &tech, json!({})).await;
    assert_eq!(messages(&rows), ["the disk is full", "the mail server is gone"]);
    assert!(debug(&api, &tech, json!({"agentFilter": alpha})).await.is_empty());
}

/// The id of client "Other".
async fn other_client(api: &TestApi, admin: &str) -> i64 {
    let (_, clients) = api.get("/clients/", admin).await;
    common::find(&clients, "name", "Other")["id"].as_i64().unwrap()
}

#[tokio::test]
async fn bad_filters_and_levels_are_400s_and_the_permission_is_required() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    let cases = [
        (
            json!({"logLevelFilter": "loud"}),
            json!({"logLevelFilter": ["\"loud\" is not a valid choice."]}),
        ),
        (
            json!({"logTypeFilter": 3}),
            json!({"logTypeFilter": ["\"3\" is not a valid choice."]}),
        ),
        (
            json!({"agentFilter": ["a"]}),
            json!({"agentFilter": ["Not a valid string."]}),
        ),
        (
            json!("all"),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
    ];
    for (body, answer) in cases {
        let sent = body.to_string();
        let got = api.call(Method::PATCH, "/logs/debug/", Some(&admin), Some(body)).await;
        assert_eq!(got, (StatusCode::BAD_REQUEST, answer), "{sent}");
    }
    let (status, body) = api
        .put("/core/settings/", &admin, json!({"agent_debug_level": "loud"}))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"agent_debug_level": ["\"loud\" is not a valid choice."]})
        )
    );
    assert_eq!(api.get("/core/settings/", &admin).await.1["agent_debug_level"], "info");

    let nosy = user(&api, "nosy", &["can_view_auditlogs"], None).await;
    let (status, _) = api
        .call(Method::PATCH, "/logs/debug/", Some(&nosy), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
