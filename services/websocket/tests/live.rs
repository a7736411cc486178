//! `/ws/dashinfo/` and `/ws/events/` against the whole path an event takes: agents on a real nats-server behind
//! the auth callout, presence in trmm-nats-api, check results in trmm-api, and the sockets in trmm-websocket.

mod socket;
mod stack;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stack::{next, next_within, user, Stack, DEADLINE};
use trmm_api::testing::agent_id;
use trmm_authz::{INVALID_TOKEN, NO_CREDENTIALS, NO_PERMISSION};

/// How soon after a presence change the dashboard must hear of it.
const PROMPTLY: Duration = Duration::from_secs(2);

/// An enrolled agent: (agent id, token).
async fn enroll(s: &Stack, n: u32, hostname: &str, client: i64, site: i64) -> (String, String) {
    let installer = s.api.installer_token(&s.admin, client, site).await;
    let id = agent_id(n);
    let (_, token) = s.api.enroll(&installer, &id, hostname, site).await;
    (id, token)
}

async fn set_seen(s: &Stack, hostname: &str, ago: &str, monitoring_type: &str) {
    let conn = s.api.db.pool().get().await.unwrap();
    let sql = "UPDATE agents SET last_seen = now() - $2::text::interval, monitoring_type = $3 WHERE hostname = $1";
    conn.execute(sql, &[&hostname, &ago, &monitoring_type]).await.unwrap();
}

fn counts(servers: i64, servers_offline: i64, workstations: i64, workstations_offline: i64) -> Value {
    json!({"action": "dashboard.agentcount", "data": {
        "total_server_count": servers, "total_server_offline_count": servers_offline,
        "total_workstation_count": workstations, "total_workstation_offline_count": workstations_offline}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashinfo_counts_the_agents_the_role_sees_by_type_and_status() {
    let s = Stack::start().await;
    let (acme, hq) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let (other, main) = s.api.client_with_site(&s.admin, "Other", "Main").await;
    for (n, host, client, site) in [(1, "up", acme, hq), (2, "down", acme, hq), (3, "late", acme, hq)] {
        enroll(&s, n, host, client, site).await;
    }
    enroll(&s, 4, "far", other, main).await;
    set_seen(&s, "up", "1 minute", "server").await;
    set_seen(&s, "down", "10 minutes", "server").await;
    set_seen(&s, "late", "2 hours", "workstation").await;
    set_seen(&s, "far", "1 minute", "server").await;
    let scoped = user(&s.api, "other-only", &[], Some(other), false).await;

    for (token, expected) in [(&s.admin, counts(3, 1, 1, 1)), (&scoped, counts(1, 0, 0, 0))] {
        let url = format!("{}/ws/dashinfo/?access_token={token}", s.ws_url);
        let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
        assert_eq!(next(&mut ws).await, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_without_valid_credentials_are_refused() {
    let s = Stack::start().await;
    let blocked = user(&s.api, "blocked", &["can_list_agents"], None, true).await;
    let cases = [
        ("", NO_CREDENTIALS, 401, 4401),
        ("?access_token=", NO_CREDENTIALS, 401, 4401),
        ("?access_token=nope", INVALID_TOKEN, 401, 4401),
        (&format!("?access_token={blocked}"), NO_PERMISSION, 403, 4003),
    ];
    for path in ["/ws/dashinfo/", "/ws/events/"] {
        for (query, error, status, code) in &cases {
            let url = format!("{}{path}{query}", s.ws_url);
            let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
            assert_eq!(
                next(&mut ws).await,
                json!({"error": error, "status": status}),
                "{path}{query}"
            );
            assert_eq!(next(&mut ws).await, json!({ "closed": code }), "{path}{query}");
        }
    }
}

/// Asserts `frame` is `action` about agent `agent_id` of `client`/`site`.
fn assert_presence(frame: &Value, action: &str, agent_id: &str, client: i64, site: i64) {
    assert_eq!(frame["action"], action, "{frame}");
    let data = &frame["data"];
    assert_eq!(
        (&data["agent_id"], &data["client"], &data["site"]),
        (&json!(agent_id), &json!(client), &json!(site)),
        "{frame}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_stopped_and_started_is_pushed_offline_and_online_at_once() {
    let s = Stack::start().await;
    let (acme, hq) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let (id, token) = enroll(&s, 1, "alpha", acme, hq).await;
    let mut ws = s.events(&s.admin).await;

    let agent = s.connect_agent(&id, &token).await;
    let online = next_within(&mut ws, DEADLINE).await;
    assert_presence(&online, "agent.online", &id, acme, hq);
    assert_eq!(online["data"]["hostname"], "alpha");

    // Stopped: its NATS connection closes (the client's last handle goes; a drain would wait for its next wake-up).
    let stopped = Instant::now();
    drop(agent);
    assert_presence(&next_within(&mut ws, DEADLINE).await, "agent.offline", &id, acme, hq);
    assert!(stopped.elapsed() < PROMPTLY, "offline after {:?}", stopped.elapsed());

    let started = Instant::now();
    let _agent = s.connect_agent(&id, &token).await;
    assert_presence(&next_within(&mut ws, DEADLINE).await, "agent.online", &id, acme, hq);
    assert!(started.elapsed() < PROMPTLY, "online after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_scoped_to_one_client_hears_nothing_of_another() {
    let s = Stack::start().await;
    let (acme, hq) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let (other, main) = s.api.client_with_site(&s.admin, "Other", "Main").await;
    let (alpha, alpha_token) = enroll(&s, 1, "alpha", acme, hq).await;
    let (bravo, bravo_token) = enroll(&s, 2, "bravo", other, main).await;
    let scoped = user(&s.api, "other-only", &["can_list_agents"], Some(other), false).await;
    let mut theirs = s.events(&scoped).await;
    let mut all = s.events(&s.admin).await;

    let agent = s.connect_agent(&alpha, &alpha_token).await;
    assert_presence(&next(&mut all).await, "agent.online", &alpha, acme, hq);
    drop(agent);
    assert_presence(&next(&mut all).await, "agent.offline", &alpha, acme, hq);
    let _bravo = s.connect_agent(&bravo, &bravo_token).await;
    assert_presence(&next(&mut all).await, "agent.online", &bravo, other, main);
    // Events reach every socket in the order they happened: the first the scoped user hears of is bravo.
    assert_presence(&next(&mut theirs).await, "agent.online", &bravo, other, main);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_result_pushes_the_alert_and_a_result_pushes_its_history_entry() {
    let s = Stack::start().await;
    let (acme, hq) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let (id, token) = enroll(&s, 1, "alpha", acme, hq).await;
    let check = json!({"agent": id, "check_type": "diskspace", "disk": "/", "warning_threshold": 25,
                       "error_threshold": 10, "dashboard_alert": true});
    let (status, body) = s.api.post("/checks/", &s.admin, check).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, checks) = s.api.get(&format!("/agents/{id}/checks/"), &s.admin).await;
    let check_id = checks[0]["id"].as_i64().unwrap();
    let mut ws = s.events(&s.admin).await;

    let report = |percent_used: f64| json!({"id": check_id, "agent_id": id, "more_info": "disk", "percent_used": percent_used, "exists": true});
    let path = "/api/v3/checkrunner/";
    let (status, body) = s.api.call(Method::PATCH, path, Some(&token), Some(report(95.0))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let opened = next_within(&mut ws, DEADLINE).await;
    assert_eq!(opened["action"], "alert.opened", "{opened}");
    let data = &opened["data"];
    let alert = (
        &data["agent_id"],
        &data["client"],
        &data["site"],
        &data["alert_type"],
        &data["severity"],
    );
    assert_eq!(
        alert,
        (&json!(id), &json!(acme), &json!(hq), &json!("check"), &json!("error"))
    );
    assert_eq!(
        (&data["assigned_check"], &data["hidden"]),
        (&json!(check_id), &json!(false))
    );

    s.api.call(Method::PATCH, path, Some(&token), Some(report(20.0))).await;
    let resolved = next_within(&mut ws, DEADLINE).await;
    assert_eq!(
        (&resolved["action"], &resolved["data"]["id"]),
        (&json!("alert.resolved"), &data["id"])
    );

    // The agent's report of a command's output finishes its history entry.
    let conn = s.api.db.pool().get().await.unwrap();
    let agent = trmm_db::agents::find_by_agent_id(&conn, &id).await.unwrap().unwrap();
    let kind = trmm_db::history::HistoryType::CmdRun;
    let hist = trmm_db::history::create(&conn, agent.pk, kind, "uptime", "admin")
        .await
        .unwrap();
    let path = format!("/api/v3/{hist}/{id}/histresult/");
    let (status, body) = s
        .api
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"results": "up 3 days"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let finished = next_within(&mut ws, DEADLINE).await;
    assert_eq!(finished["action"], "history.finished", "{finished}");
    let data = &finished["data"];
    let entry = (&data["id"], &data["type"], &data["agent_id"], &data["site"]);
    assert_eq!(entry, (&json!(hist), &json!("cmd_run"), &json!(id), &json!(hq)));
}
