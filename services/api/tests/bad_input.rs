//! Malformed JSON, wrong types and missing fields on every endpoint are a 400 with a JSON body, never a 500,
//! and change nothing.

mod common;

use common::{agent_id, api_with_acme_hq, count, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CLIENTS: &str = "SELECT count(*) FROM clients";

#[tokio::test]
async fn every_endpoint_rejects_bad_bodies_with_a_json_400() {
    let (api, admin, client, site, installer) = api_with_acme_hq().await;
    let id = agent_id(1);
    let (_, agent_token) = api.enroll(&installer, &id, "alpha", site).await;

    // (method, path, credential, wrong-typed body, body missing a required field or None if all are optional)
    let cases: Vec<(Method, String, &str, Value, Option<Value>)> = vec![
        (
            Method::POST,
            "/v2/checkcreds/".into(),
            "",
            json!({"username": 5, "password": []}),
            Some(json!({"username": "admin"})),
        ),
        (
            Method::POST,
            "/v2/login/".into(),
            "",
            json!({"username": "admin", "password": "x", "twofactor": 123456}),
            Some(json!({"username": "admin", "password": "x"})),
        ),
        (
            Method::POST,
            "/clients/".into(),
            &admin,
            json!({"client": {"name": 1}, "site": {"name": "x"}}),
            Some(json!({"client": {"name": "New"}})),
        ),
        (
            Method::PUT,
            format!("/clients/{client}/"),
            &admin,
            json!({"client": {"name": ["x"]}}),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/clients/sites/".into(),
            &admin,
            json!({"site": {"client": "one", "name": "x"}}),
            Some(json!({"site": {"name": "x"}})),
        ),
        (
            Method::PUT,
            format!("/clients/sites/{site}/"),
            &admin,
            json!({"site": {"name": false}}),
            Some(json!({})),
        ),
        (
            Method::PUT,
            format!("/agents/{id}/"),
            &admin,
            json!({"offline_time": "ten"}),
            None,
        ),
        (
            Method::POST,
            "/agents/installer/".into(),
            &admin,
            json!({"installMethod": "manual", "client": "a", "site": site, "expires": 1, "agenttype": "server"}),
            Some(json!({"installMethod": "manual", "site": site})),
        ),
        (
            Method::POST,
            "/api/v3/installer/".into(),
            &installer,
            json!({"version": 291}),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/api/v3/newagent/".into(),
            &installer,
            json!({"agent_id": agent_id(2), "hostname": "h", "site": "1", "monitoring_type": "server"}),
            Some(json!({"agent_id": agent_id(2), "hostname": "h"})),
        ),
        (
            Method::POST,
            "/api/v3/syncmesh/".into(),
            &agent_token,
            json!({"nodeid": 42}),
            Some(json!({"agent_id": id})),
        ),
        (
            Method::POST,
            "/api/v3/software/".into(),
            &agent_token,
            json!({"software": "lots"}),
            Some(json!({"agent_id": id})),
        ),
        (
            Method::PATCH,
            "/api/v3/checkrunner/".into(),
            &agent_token,
            json!({"id": "one", "agent_id": id}),
            Some(json!({"status": "passing"})),
        ),
        (Method::POST, "/api/v3/checkin/".into(), &agent_token, json!([]), None),
        (
            Method::PUT,
            format!("/clients/{client}/"),
            &admin,
            json!({"client": {"alert_template": "none"}}),
            None,
        ),
        (
            Method::PATCH,
            "/alerts/".into(),
            &admin,
            json!({"clientFilter": "Acme"}),
            None,
        ),
        (
            Method::POST,
            "/alerts/bulk/".into(),
            &admin,
            json!({"bulk_action": "resolve", "alerts": "all"}),
            Some(json!({"bulk_action": "resolve"})),
        ),
        (
            Method::POST,
            "/alerts/templates/".into(),
            &admin,
            json!({"name": ["t"]}),
            Some(json!({"is_active": true})),
        ),
    ];
    let before = count(&api, CLIENTS).await;

    for (method, path, token, wrong, missing) in cases {
        let token = (!token.is_empty()).then_some(token);
        let mut bodies = vec![
            ("malformed", "{\"not json".to_owned()),
            ("wrong type", wrong.to_string()),
        ];
        if let Some(m) = missing {
            bodies.push(("missing field", m.to_string()));
        }
        for (what, body) in bodies {
            let (status, headers, text) = api.call_raw(method.clone(), &path, token, &body).await;
            if what == "wrong type" && path == "/api/v3/checkin/" {
                // The check-in body is ignored upstream; any JSON is fine.
                assert_eq!(status, StatusCode::OK);
                continue;
            }
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {what}: {text}");
            assert_eq!(headers["content-type"], "application/json", "{method} {path} {what}");
            serde_json::from_str::<Value>(&text).unwrap_or_else(|_| panic!("{method} {path} {what}: not JSON: {text}"));
        }
    }

    for path in [
        "/agents/?page=abc",
        "/agents/?client=x",
        "/agents/?ordering=password",
        "/agents/?page_size=100000",
    ] {
        let (status, body) = api.get(path, &admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(body.is_string(), "{path}: {body}");
    }
    let (status, _) = api
        .delete(&format!("/clients/{client}/?move_to_site=abc"), &admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(api.get("/clients/abc/", &admin).await.0, StatusCode::NOT_FOUND);

    // Nothing changed.
    let after = count(&api, CLIENTS).await;
    assert_eq!(before, after);
    let (_, agents) = api.get("/agents/", &admin).await;
    assert_eq!(agents.as_array().unwrap().len(), 1);
    assert_eq!(agents[0]["hostname"], "alpha");
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    let api = TestApi::start().await;
    let (status, body) = api.call(Method::GET, "/no/such/path/", None, None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "Not found."})));
    let (status, body) = api.call(Method::GET, "/", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
}
