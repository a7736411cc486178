//! A NUL character in any string field, path segment or query parameter of any route is a 400 with Tactical
//! RMM's "Null characters are not allowed.", never a 500 (Postgres cannot store NUL), and changes nothing.

mod common;

use common::{agent_id, api_with_acme_hq, count, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MESSAGE: &str = "Null characters are not allowed.";

#[path = "nul_everywhere/routes.rs"]
mod routes;

use routes::{routes, Caller, Route};

/// Every body with one string (value or list item) replaced by one holding a NUL, in turn.
fn with_one_nul(body: &Value) -> Vec<Value> {
    match body {
        Value::String(s) => vec![Value::String(format!("{s}\u{0}x"))],
        Value::Array(items) => (0..items.len())
            .flat_map(|i| {
                with_one_nul(&items[i]).into_iter().map(move |v| {
                    let mut copy = items.clone();
                    copy[i] = v;
                    Value::Array(copy)
                })
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, item)| {
                with_one_nul(item).into_iter().map(|v| {
                    let mut copy = map.clone();
                    copy.insert(k.clone(), v);
                    Value::Object(copy)
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The path with each parameter filled in, and once per parameter with that one holding a NUL.
fn paths(template: &str, fill: impl Fn(&str) -> String) -> (String, Vec<String>) {
    let segments: Vec<&str> = template.split('/').collect();
    let render = |nul_at: Option<usize>| {
        let parts: Vec<String> = segments
            .iter()
            .enumerate()
            .map(
                |(i, seg)| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if nul_at == Some(i) => format!("{}%00", fill(name)),
                    Some(name) => fill(name),
                    None => (*seg).to_owned(),
                },
            )
            .collect();
        parts.join("/")
    };
    let params = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.starts_with('{'))
        .map(|(i, _)| render(Some(i)));
    (render(None), params.collect())
}

#[test]
fn the_table_has_one_row_per_route() {
    let registered = trmm_api::api::registered_routes().len();
    let table = routes("a", 1, 1);
    let mut distinct: Vec<String> = table.iter().map(|r| format!("{} {}", r.0, r.1)).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!((table.len(), distinct.len()), (registered, registered));
}

/// Note, check, check result and alert 1: the routes that load their object before reading the body (as DRF's
/// `get_object` comes before its serializer) answer 404 for a missing one, whatever the body holds.
async fn objects_numbered_one(api: &TestApi, admin: &str, agent: &str, pk: i64, token: &str) {
    let note = json!({"agent_id": agent, "note": "n"});
    assert_eq!(api.post("/agents/notes/", admin, note).await.0, StatusCode::OK);
    let check = json!({"agent": agent, "check_type": "memory", "warning_threshold": 70, "error_threshold": 90});
    assert_eq!(api.post("/checks/", admin, check).await.0, StatusCode::OK);
    let result = json!({"id": 1, "agent_id": agent, "percent": 50});
    let reported = api
        .call(Method::PATCH, "/api/v3/checkrunner/", Some(token), Some(result))
        .await;
    assert_eq!(reported.0, StatusCode::OK, "{}", reported.1);
    let db = api.db.pool().get().await.unwrap();
    let sql = "INSERT INTO alerts (agent_id, alert_type, severity, message) VALUES ($1, 'availability', 'error', 'm')";
    db.execute(sql, &[&(pk as i32)]).await.unwrap();
}

#[tokio::test]
async fn a_nul_anywhere_is_a_400_never_a_500() {
    let (api, admin, client, site, installer) = api_with_acme_hq().await;
    let id = agent_id(1);
    let (pk, agent_token) = api.enroll(&installer, &id, "alpha", site).await;
    objects_numbered_one(&api, &admin, &id, pk, &agent_token).await;
    let before = count(
        &api,
        "SELECT (SELECT count(*) FROM clients) + (SELECT count(*) FROM agents)",
    )
    .await;

    let mut checked = 0;
    for Route(method, template, caller, body) in routes(&id, client, site) {
        let token = match caller {
            Caller::Nobody => None,
            Caller::Admin => Some(admin.as_str()),
            Caller::Installer => Some(installer.as_str()),
            Caller::Agent => Some(agent_token.as_str()),
        };
        let fill = |name: &str| match name {
            "client" => client.to_string(),
            "site" => site.to_string(),
            "agent" => id.clone(),
            "svc" => "spooler".to_owned(),
            _ => "1".to_owned(),
        };
        let (path, nul_paths) = paths(template, fill);
        let body_text = body.as_ref().map_or_else(String::new, Value::to_string);
        let mut cases: Vec<(String, String, &str)> = Vec::new();
        for nul_path in nul_paths {
            cases.push((nul_path, body_text.clone(), "path"));
        }
        cases.push((format!("{path}?search=a%00b"), body_text.clone(), "query"));
        for bad in body.as_ref().map(with_one_nul).unwrap_or_default() {
            cases.push((path.clone(), bad.to_string(), "body"));
        }
        for (target, sent, what) in cases {
            let (status, headers, text) = api.call_raw(method.clone(), &target, token, &sent).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{method} {target} ({what}) {sent}: {text}"
            );
            assert_eq!(headers["content-type"], "application/json", "{method} {target}");
            assert!(text.contains(MESSAGE), "{method} {target} ({what}) {sent}: {text}");
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked} cases");

    let after = count(
        &api,
        "SELECT (SELECT count(*) FROM clients) + (SELECT count(*) FROM agents)",
    )
    .await;
    assert_eq!(before, after, "nothing changed");
    // Query fields are named, as DRF names a filter's field.
    let (status, body) = api.get("/agents/?client=1%00", &admin).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"client": [MESSAGE]})));
    // A body field is named where it sits.
    let (status, body) = api
        .post(
            "/clients/",
            &admin,
            json!({"client": {"name": "a\u{0}"}, "site": {"name": "S"}}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"client": {"name": [MESSAGE]}}))
    );
}
