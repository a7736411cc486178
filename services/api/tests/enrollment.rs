//! Agent enrollment exactly as the Tactical RMM Go agent performs it (agent-protocol.md 3.2 and 3.8).

mod common;

use chrono::Duration;
use common::{agent_id, api_with_acme_hq, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn full_enrollment_as_the_go_agent_does_it() {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;

    // install.go: GET then POST /api/v3/installer/.
    let (status, body) = api.get("/api/v3/installer/", &installer).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    let (status, body) = api
        .post("/api/v3/installer/", &installer, json!({"version": "2.9.1"}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));

    // newagent: exactly {pk, token} with a 40-hex token, served as JSON.
    let id = agent_id(1);
    let (status, headers, text) = api
        .call_raw(
            Method::POST,
            "/api/v3/newagent/",
            Some(&installer),
            &json!({"agent_id": id, "hostname": "web01", "site": site, "monitoring_type": "server",
                    "mesh_node_id": "", "description": "", "goarch": "amd64", "plat": "linux"})
            .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2);
    let pk = body["pk"].as_i64().unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 40);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));

    // The agent's own endpoints, authenticated by its token.
    let (status, headers, text) = api
        .call_raw(Method::GET, &format!("/api/v3/{id}/config/"), Some(&token), "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let config: trmm_protocol::rest::AgentCheckInConfig = serde_json::from_str(&text).unwrap();
    assert!((30..=60).contains(&config.checkin_hello));
    for v in [
        config.checkin_agentinfo,
        config.checkin_winsvc,
        config.checkin_pubip,
        config.checkin_disks,
        config.checkin_sw,
        config.checkin_wmi,
        config.checkin_syncmesh,
    ] {
        assert!(v > 0);
    }

    let (status, body) = api.get(&format!("/api/v3/{id}/checkinterval/"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["agent"], pk);
    let interval = body["check_interval"].as_i64().unwrap();
    assert!((121..=180).contains(&interval), "{interval}");
    assert_eq!(body.as_object().unwrap().len(), 2);

    let (status, body) = api.get(&format!("/api/v3/{id}/checkrunner/"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["agent"], pk);
    assert_eq!(body["checks"], json!([]));
    assert!(body["check_interval"].as_i64().unwrap() > 0);
    let (status, body) = api.get(&format!("/api/v3/{id}/runchecks/"), &token).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"agent": pk, "check_interval": 120, "checks": []})
        )
    );

    let check_result = |body: Value| api.call(Method::PATCH, "/api/v3/checkrunner/", Some(&token), Some(body));
    let (status, body) = check_result(json!({"id": 1, "status": "passing"})).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!("Agent upgrade required"))
    );
    let (status, _) = check_result(json!({"id": 1, "agent_id": id})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for (path, body) in [
        ("/api/v3/checkin/", json!({"agent_id": id})),
        (
            "/api/v3/syncmesh/",
            json!({"func": "syncmesh", "agent_id": id, "nodeid": "node-123\n"}),
        ),
        (
            "/api/v3/software/",
            json!({"agent_id": id, "software": [{"name": "curl", "version": "8"}]}),
        ),
    ] {
        let (status, resp) = api.post(path, &token, body).await;
        assert_eq!((status, resp), (StatusCode::OK, json!("ok")), "{path}");
    }

    // The agent shows up in the dashboard, enrolled just now.
    let (status, detail) = api.get(&format!("/agents/{id}/"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["hostname"], "web01");
    assert_eq!(detail["mesh_node_id"], "node-123");
    assert_eq!(detail["site"], site);
    assert_eq!(detail["status"], "online");
    let conn = api.db.pool().get().await.unwrap();
    assert_eq!(
        trmm_db::audit::count(&conn, "agent_install", common::ADMIN)
            .await
            .unwrap(),
        1
    );
    let software: Value = conn
        .query_one(
            "SELECT software FROM installed_software WHERE agent_pk = $1",
            &[&(pk as i32)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(software[0]["name"], "curl");
}

#[tokio::test]
async fn unknown_or_expired_installer_tokens_are_401() {
    let (api, _, _, site, installer) = api_with_acme_hq().await;

    let (status, body) = api.get("/api/v3/installer/", "not-a-token").await;
    assert_eq!(
        (status, body),
        (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid token."}))
    );

    api.clock.advance(Duration::hours(25));
    assert_eq!(
        api.get("/api/v3/installer/", &installer).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = api.newagent(&installer, &agent_id(2), "h", site).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn installer_version_gate_and_token_scope() {
    let (api, admin, _, _, installer) = api_with_acme_hq().await;

    let (status, body) = api
        .post("/api/v3/installer/", &installer, json!({"version": "2.8.0"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!("Old installer detected (version 2.8.0 ). Latest version is 2.9.0 Please generate a new installer from the RMM")
    );
    let (status, body) = api.post("/api/v3/installer/", &installer, json!({})).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!("Invalid data")));

    // An installer token opens nothing on the dashboard nor on agent endpoints.
    assert_eq!(api.get("/agents/", &installer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.get("/clients/", &installer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get(&format!("/api/v3/{}/config/", agent_id(3)), &installer).await.0,
        StatusCode::UNAUTHORIZED
    );
    // It is bound to its site.
    let (_, other_site) = api.client_with_site(&admin, "Other", "Branch").await;
    let (status, _) = api.newagent(&installer, &agent_id(4), "h", other_site).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn duplicate_agent_id_is_400_with_the_upstream_message() {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    api.enroll(&installer, &agent_id(5), "first", site).await;
    let (status, body) = api.newagent(&installer, &agent_id(5), "second", site).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!("Agent already exists. Remove old agent first if trying to re-install")
    );
    let (_, agents) = api.get("/agents/", &admin).await;
    assert_eq!(agents.as_array().unwrap().len(), 1);
    assert_eq!(agents[0]["hostname"], "first");
}

#[tokio::test]
async fn the_agent_id_in_the_url_is_never_trusted() {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    let (a_id, b_id) = (agent_id(10), agent_id(11));
    let (pk_a, token_a) = api.enroll(&installer, &a_id, "alpha", site).await;
    let (pk_b, _) = api.enroll(&installer, &b_id, "bravo", site).await;
    assert_ne!(pk_a, pk_b);

    // A's token with B's id in the URL: answered for A.
    let (status, body) = api.get(&format!("/api/v3/{b_id}/checkinterval/"), &token_a).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["agent"], pk_a);
    let (_, body) = api.get(&format!("/api/v3/{b_id}/checkrunner/"), &token_a).await;
    assert_eq!(body["agent"], pk_a);
    // A write with B's id in the body lands on A only.
    let (status, _) = api
        .post(
            "/api/v3/syncmesh/",
            &token_a,
            json!({"agent_id": b_id, "nodeid": "from-a"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get(&format!("/agents/{a_id}/"), &admin).await.1["mesh_node_id"],
        "from-a"
    );
    assert_eq!(api.get(&format!("/agents/{b_id}/"), &admin).await.1["mesh_node_id"], "");
}

#[tokio::test]
async fn installer_command_for_our_agent_and_the_tactical_agent() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (client, site) = api.client_with_site(&admin, "Acme", "HQ").await;
    let windows = json!({"installMethod": "manual", "client": client, "site": site, "expires": 2,
                         "agenttype": "workstation", "plat": "windows", "goarch": "amd64",
                         "api": "https://rmm.example.net", "rdp": 1, "ping": 0, "power": 0});
    let (status, body) = api.post("/agents/installer/", &admin, windows).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cmd = body["cmd"].as_str().unwrap();
    assert!(
        cmd.contains("tacticalrmm.exe\" -m install --api https://rmm.example.net"),
        "{cmd}"
    );
    assert!(cmd.contains(&format!(
        "--client-id {client} --site-id {site} --agent-type workstation --auth "
    )));
    assert!(cmd.contains("--rdp"));
    assert!(body["url"]
        .as_str()
        .unwrap()
        .ends_with("tacticalagent-v2.9.1-windows-amd64.exe"));

    let linux = json!({"installMethod": "manual", "client": client, "site": site, "expires": 2,
                       "agenttype": "server", "plat": "linux"});
    let (_, body) = api.post("/agents/installer/", &admin, linux).await;
    let cmd = body["cmd"].as_str().unwrap();
    assert!(
        cmd.starts_with("trmm-agent install --api https://api.example.com --client-id"),
        "{cmd}"
    );
    assert!(cmd.ends_with("--nats-url nats://127.0.0.1:4222"));
    assert!(body["tactical_cmd"].as_str().unwrap().contains("-m install"));

    let (other_client, _) = api.client_with_site(&admin, "Other", "Branch").await;
    let elsewhere = json!({"installMethod": "manual", "client": other_client, "site": site, "expires": 2,
                           "agenttype": "server"});
    let (status, _) = api.post("/agents/installer/", &admin, elsewhere).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
