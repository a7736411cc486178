//! A NUL character in any string field, path segment or query parameter of any route is a 400 with Tactical
//! RMM's "Null characters are not allowed.", never a 500 (Postgres cannot store NUL), and changes nothing.

mod common;

use common::{agent_id, api_with_acme_hq, count, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MESSAGE: &str = "Null characters are not allowed.";

/// Who calls a route.
#[derive(Clone, Copy)]
enum Caller {
    Nobody,
    Admin,
    Installer,
    Agent,
}

/// One route: method, path (a `{name}` segment is a path parameter) and a body with the route's string fields.
struct Route(Method, &'static str, Caller, Option<Value>);

fn routes(id: &str, client: i64, site: i64) -> Vec<Route> {
    use Caller::*;
    use Method as M;
    let script = json!({"name": "s", "shell": "shell", "category": "c", "description": "d", "code": "echo",
                        "args": ["a"], "env_vars": ["A=1"], "default_timeout": 90, "syntax": "x", "filename": "f"});
    let snippet = json!({"name": "s", "desc": "d", "code": "c", "shell": "shell"});
    let field = json!({"model": "agent", "type": "text", "name": "f", "default_value_string": "x",
                       "options": ["a"], "default_values_multiple": ["b"]});
    let keystore = json!({"name": "k", "value": "v"});
    let apikey = json!({"name": "k", "user": 1, "expiration": "2030-01-01T00:00:00Z"});
    let template = json!({"name": "t", "action_args": ["a"], "email_recipients": ["a@b.c"], "email_from": "a@b.c",
                          "check_email_alert_severity": ["error"]});
    vec![
        Route(M::GET, "/", Nobody, None),
        Route(
            M::POST,
            "/v2/checkcreds/",
            Nobody,
            Some(json!({"username": "admin", "password": "p"})),
        ),
        Route(
            M::POST,
            "/v2/login/",
            Nobody,
            Some(json!({"username": "admin", "password": "p", "twofactor": "1"})),
        ),
        Route(M::POST, "/accounts/users/setup_totp/", Admin, None),
        Route(M::POST, "/logout/", Admin, None),
        Route(M::GET, "/accounts/users/", Admin, None),
        Route(
            M::POST,
            "/accounts/users/",
            Admin,
            Some(
                json!({"username": "u", "email": "u@example.com", "password": "a long phrase",
                        "first_name": "f", "last_name": "l", "date_format": "d"}),
            ),
        ),
        Route(M::GET, "/accounts/{pk}/users/", Admin, None),
        Route(
            M::PUT,
            "/accounts/{pk}/users/",
            Admin,
            Some(json!({"username": "u", "first_name": "f", "email": "u@example.com", "date_format": "d"})),
        ),
        Route(M::DELETE, "/accounts/{pk}/users/", Admin, None),
        Route(
            M::POST,
            "/accounts/users/reset/",
            Admin,
            Some(json!({"id": "1", "password": "a long phrase"})),
        ),
        Route(M::PUT, "/accounts/users/reset/", Admin, Some(json!({"id": "1"}))),
        Route(
            M::POST,
            "/accounts/users/reset_totp/",
            Admin,
            Some(json!({"id": "1", "password": "a long phrase"})),
        ),
        Route(M::PUT, "/accounts/users/reset_totp/", Admin, Some(json!({"id": "1"}))),
        Route(
            M::PUT,
            "/accounts/resetpw/",
            Admin,
            Some(json!({"password": "a long phrase"})),
        ),
        Route(M::PUT, "/accounts/reset2fa/", Admin, None),
        Route(
            M::PATCH,
            "/accounts/users/ui/",
            Admin,
            Some(json!({"agent_dblclick_action": "editagent", "loading_bar_color": "red", "date_format": "d"})),
        ),
        Route(M::GET, "/accounts/users/{pk}/sessions/", Admin, None),
        Route(M::DELETE, "/accounts/users/{pk}/sessions/", Admin, None),
        Route(M::DELETE, "/accounts/sessions/{digest}/", Admin, None),
        Route(M::GET, "/accounts/roles/", Admin, None),
        Route(M::POST, "/accounts/roles/", Admin, Some(json!({"name": "r"}))),
        Route(M::GET, "/accounts/roles/{pk}/", Admin, None),
        Route(M::PUT, "/accounts/roles/{pk}/", Admin, Some(json!({"name": "r2"}))),
        Route(M::DELETE, "/accounts/roles/{pk}/", Admin, None),
        Route(M::GET, "/accounts/apikeys/", Admin, None),
        Route(M::POST, "/accounts/apikeys/", Admin, Some(apikey.clone())),
        Route(M::PUT, "/accounts/apikeys/{pk}/", Admin, Some(apikey)),
        Route(M::DELETE, "/accounts/apikeys/{pk}/", Admin, None),
        Route(M::GET, "/clients/", Admin, None),
        Route(
            M::POST,
            "/clients/",
            Admin,
            Some(json!({"client": {"name": "N"}, "site": {"name": "S"}})),
        ),
        Route(M::GET, "/clients/{client}/", Admin, None),
        Route(
            M::PUT,
            "/clients/{client}/",
            Admin,
            Some(json!({"client": {"name": "N2"}})),
        ),
        Route(M::DELETE, "/clients/{client}/", Admin, None),
        Route(M::GET, "/clients/sites/", Admin, None),
        Route(
            M::POST,
            "/clients/sites/",
            Admin,
            Some(json!({"site": {"client": client, "name": "S2"}})),
        ),
        Route(M::GET, "/clients/sites/{site}/", Admin, None),
        Route(
            M::PUT,
            "/clients/sites/{site}/",
            Admin,
            Some(json!({"site": {"name": "S3"}})),
        ),
        Route(M::DELETE, "/clients/sites/{site}/", Admin, None),
        Route(M::GET, "/agents/", Admin, None),
        Route(
            M::POST,
            "/agents/installer/",
            Admin,
            Some(json!({"installMethod": "manual", "client": client,
            "site": site, "expires": 24, "agenttype": "server", "plat": "linux", "goarch": "amd64",
            "api": "https://api.example.com", "fileName": "trmm.exe"})),
        ),
        Route(M::GET, "/agents/{agent}/", Admin, None),
        Route(
            M::PUT,
            "/agents/{agent}/",
            Admin,
            Some(json!({"description": "d", "monitoring_type": "server"})),
        ),
        Route(M::DELETE, "/agents/{agent}/", Admin, None),
        Route(M::GET, "/agents/{agent}/ping/", Admin, None),
        Route(
            M::POST,
            "/agents/{agent}/cmd/",
            Admin,
            Some(json!({"shell": "/bin/bash", "cmd": "ls", "timeout": 30,
            "custom_shell": "sh", "run_as_user": false})),
        ),
        Route(M::POST, "/agents/{agent}/wmi/", Admin, None),
        Route(M::GET, "/agents/{agent}/processes/", Admin, None),
        Route(M::DELETE, "/agents/{agent}/processes/{pid}/", Admin, None),
        Route(M::POST, "/agents/{agent}/reboot/", Admin, None),
        Route(M::POST, "/agents/{agent}/shutdown/", Admin, None),
        Route(
            M::POST,
            "/agents/{agent}/recover/",
            Admin,
            Some(json!({"mode": "mesh"})),
        ),
        Route(
            M::POST,
            "/agents/{agent}/runscript/",
            Admin,
            Some(json!({"script": 1, "output": "wait",
            "args": ["a"], "env_vars": ["A=1"], "timeout": 30, "email_mode": "default", "emails": ["a@b.c"]})),
        ),
        Route(
            M::POST,
            "/scripts/{agent}/test/",
            Admin,
            Some(json!({"code": "echo", "shell": "shell",
            "args": ["a"], "env_vars": ["A=1"], "timeout": 30, "run_as_user": false})),
        ),
        Route(
            M::POST,
            "/agents/actions/bulk/",
            Admin,
            Some(json!({"mode": "command", "target": "agents",
            "agents": [id], "mon_type": "all", "os_type": "all", "cmd": "ls", "shell": "cmd", "timeout": 30})),
        ),
        Route(M::GET, "/agents/history/", Admin, None),
        Route(M::GET, "/agents/{agent}/history/", Admin, None),
        Route(M::GET, "/agents/scripthistory/", Admin, None),
        Route(M::GET, "/agents/notes/", Admin, None),
        Route(
            M::POST,
            "/agents/notes/",
            Admin,
            Some(json!({"agent_id": id, "note": "n"})),
        ),
        Route(M::GET, "/agents/{agent}/notes/", Admin, None),
        Route(M::GET, "/agents/notes/{pk}/", Admin, None),
        Route(M::PUT, "/agents/notes/{pk}/", Admin, Some(json!({"note": "n"}))),
        Route(M::DELETE, "/agents/notes/{pk}/", Admin, None),
        Route(M::GET, "/logs/pendingactions/", Admin, None),
        Route(M::DELETE, "/logs/pendingactions/{pk}/", Admin, None),
        Route(
            M::PATCH,
            "/logs/audit/",
            Admin,
            Some(
                json!({"agentFilter": [id], "userFilter": ["admin"], "actionFilter": ["login"],
            "objectFilter": ["user"], "pagination": {"sortBy": "entry_time"}}),
            ),
        ),
        Route(
            M::PATCH,
            "/logs/debug/",
            Admin,
            Some(json!({"agentFilter": id, "logLevelFilter": "info", "logTypeFilter": "scripting"})),
        ),
        Route(M::GET, "/checks/", Admin, None),
        Route(
            M::POST,
            "/checks/",
            Admin,
            Some(
                json!({"agent": id, "check_type": "ping", "name": "n", "ip": "10.0.0.1", "disk": "d",
                        "svc_name": "s", "event_source": "e", "event_message": "m", "script_args": ["a"]}),
            ),
        ),
        Route(M::GET, "/checks/{pk}/", Admin, None),
        Route(
            M::PUT,
            "/checks/{pk}/",
            Admin,
            Some(json!({"name": "n", "ip": "10.0.0.2"})),
        ),
        Route(M::DELETE, "/checks/{pk}/", Admin, None),
        Route(M::POST, "/checks/{pk}/reset/", Admin, None),
        Route(M::PATCH, "/checks/{pk}/history/", Admin, Some(json!({"timeFilter": 1}))),
        Route(M::POST, "/checks/{agent}/resetall/", Admin, None),
        Route(M::POST, "/checks/{agent}/run/", Admin, None),
        Route(M::POST, "/checks/{target}/{pk}/csbulkrun/", Admin, None),
        Route(M::GET, "/agents/{agent}/checks/", Admin, None),
        Route(M::GET, "/agents/{agent}/pendingactions/", Admin, None),
        Route(M::GET, "/services/{agent}/", Admin, None),
        Route(M::GET, "/services/{agent}/{svc}/", Admin, None),
        Route(
            M::POST,
            "/services/{agent}/{svc}/",
            Admin,
            Some(json!({"sv_action": "start"})),
        ),
        Route(M::GET, "/software/", Admin, None),
        Route(M::GET, "/software/{agent}/", Admin, None),
        Route(M::PUT, "/software/{agent}/", Admin, None),
        Route(M::GET, "/scripts/", Admin, None),
        Route(M::POST, "/scripts/", Admin, Some(script.clone())),
        Route(M::GET, "/scripts/{pk}/", Admin, None),
        Route(M::PUT, "/scripts/{pk}/", Admin, Some(script.clone())),
        Route(M::DELETE, "/scripts/{pk}/", Admin, None),
        Route(M::GET, "/scripts/{pk}/download/", Admin, None),
        Route(M::GET, "/scripts/export/", Admin, None),
        Route(M::POST, "/scripts/import/", Admin, Some(json!([script]))),
        Route(M::GET, "/scripts/snippets/", Admin, None),
        Route(M::POST, "/scripts/snippets/", Admin, Some(snippet.clone())),
        Route(M::GET, "/scripts/snippets/{pk}/", Admin, None),
        Route(M::PUT, "/scripts/snippets/{pk}/", Admin, Some(snippet)),
        Route(M::DELETE, "/scripts/snippets/{pk}/", Admin, None),
        Route(M::GET, "/core/version/", Admin, None),
        Route(M::GET, "/core/dashinfo/", Admin, None),
        Route(M::GET, "/core/v2/status/", Nobody, None),
        Route(M::GET, "/core/customfields/", Admin, None),
        Route(M::POST, "/core/customfields/", Admin, Some(field.clone())),
        Route(M::PATCH, "/core/customfields/", Admin, Some(json!({"model": "agent"}))),
        Route(M::GET, "/core/customfields/{pk}/", Admin, None),
        Route(M::PUT, "/core/customfields/{pk}/", Admin, Some(field)),
        Route(M::DELETE, "/core/customfields/{pk}/", Admin, None),
        Route(M::GET, "/core/settings/", Admin, None),
        Route(
            M::PUT,
            "/core/settings/",
            Admin,
            Some(
                json!({"smtp_from_email": "a@example.com", "smtp_host": "h", "smtp_host_password": "p",
                        "twilio_auth_token": "t", "email_alert_recipients": ["b@example.com"],
                        "default_time_zone": "UTC", "date_format": "YYYY"}),
            ),
        ),
        Route(M::POST, "/core/emailtest/", Admin, None),
        Route(M::POST, "/core/smstest/", Admin, None),
        Route(M::GET, "/core/urlaction/", Admin, None),
        Route(
            M::POST,
            "/core/urlaction/",
            Admin,
            Some(
                json!({"name": "u", "desc": "d", "pattern": "https://example.com/{{agent.hostname}}",
                        "action_type": "web"}),
            ),
        ),
        Route(
            M::PUT,
            "/core/urlaction/{pk}/",
            Admin,
            Some(json!({"name": "u2", "pattern": "https://e.com/"})),
        ),
        Route(M::DELETE, "/core/urlaction/{pk}/", Admin, None),
        Route(
            M::PATCH,
            "/core/urlaction/run/",
            Admin,
            Some(json!({"action": 1, "agent_id": id})),
        ),
        Route(
            M::POST,
            "/core/urlaction/run/test/",
            Admin,
            Some(
                json!({"pattern": "http://127.0.0.1:9/", "rest_body": "{}", "rest_headers": "{}",
                        "rest_method": "post", "run_instance_type": "agent", "run_instance_id": id}),
            ),
        ),
        Route(M::GET, "/core/keystore/", Admin, None),
        Route(M::POST, "/core/keystore/", Admin, Some(keystore.clone())),
        Route(M::PUT, "/core/keystore/{pk}/", Admin, Some(keystore)),
        Route(M::DELETE, "/core/keystore/{pk}/", Admin, None),
        Route(
            M::PATCH,
            "/alerts/",
            Admin,
            Some(json!({"severityFilter": ["error"], "timeFilter": "1"})),
        ),
        Route(
            M::POST,
            "/alerts/bulk/",
            Admin,
            Some(json!({"bulk_action": "snooze", "alerts": [1], "snooze_days": "1"})),
        ),
        Route(M::GET, "/alerts/{pk}/", Admin, None),
        Route(
            M::PUT,
            "/alerts/{pk}/",
            Admin,
            Some(json!({"type": "snooze", "snooze_days": "1"})),
        ),
        Route(M::DELETE, "/alerts/{pk}/", Admin, None),
        Route(M::GET, "/alerts/templates/", Admin, None),
        Route(M::POST, "/alerts/templates/", Admin, Some(template.clone())),
        Route(M::GET, "/alerts/templates/{pk}/", Admin, None),
        Route(M::PUT, "/alerts/templates/{pk}/", Admin, Some(template)),
        Route(M::DELETE, "/alerts/templates/{pk}/", Admin, None),
        Route(M::GET, "/alerts/templates/{pk}/related/", Admin, None),
        Route(M::GET, "/api/v3/installer/", Installer, None),
        Route(
            M::POST,
            "/api/v3/installer/",
            Installer,
            Some(json!({"version": "2.9.1"})),
        ),
        Route(
            M::POST,
            "/api/v3/newagent/",
            Installer,
            Some(json!({"agent_id": agent_id(9), "hostname": "h",
            "site": site, "monitoring_type": "server", "mesh_node_id": "m", "description": "d",
            "goarch": "amd64", "plat": "linux"})),
        ),
        Route(M::POST, "/api/v3/checkin/", Agent, Some(json!({"agent_id": id}))),
        Route(
            M::POST,
            "/api/v3/syncmesh/",
            Agent,
            Some(json!({"agent_id": id, "nodeid": "n"})),
        ),
        Route(
            M::POST,
            "/api/v3/software/",
            Agent,
            Some(json!({"agent_id": id,
            "software": [{"name": "n", "version": "v", "publisher": "p"}]})),
        ),
        Route(
            M::PATCH,
            "/api/v3/checkrunner/",
            Agent,
            Some(json!({"id": 1, "agent_id": id, "status": "passing",
            "more_info": "m"})),
        ),
        Route(M::GET, "/api/v3/{agent}/config/", Agent, None),
        Route(M::GET, "/api/v3/{agent}/checkinterval/", Agent, None),
        Route(M::GET, "/api/v3/{agent}/checkrunner/", Agent, None),
        Route(M::GET, "/api/v3/{agent}/runchecks/", Agent, None),
        Route(
            M::PATCH,
            "/api/v3/{pk}/{agent}/histresult/",
            Agent,
            Some(json!({"results": "r",
            "script_results": {"stdout": "o", "stderr": "e", "retcode": 0}})),
        ),
    ]
}

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
