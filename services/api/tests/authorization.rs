//! Who may call what, over every route trmm-api registers: the table below has a row per route (a route
//! without one fails `every_registered_route_has_a_row`), each row names the permission flag that opens it
//! (server-api.md 2.4 and section 3), a role scoped to one client never reaches another client's objects
//! (2.5), and an API key opens what its user's session opens, except logging in, the session's own routes and
//! the agent API.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{agent_id, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[path = "authorization/table.rs"]
mod table;

use table::{Access, Obj, Row, ROUTES};

/// A registered actix pattern with its regex parts dropped, as the table writes it.
fn normalize(pattern: &str) -> String {
    pattern
        .replace("{agent_id:[^/]{21,}}", "{agent_id}")
        .replace("{pk:\\d+}", "{pk}")
}

#[test]
fn every_registered_route_has_a_row() {
    let registered: BTreeSet<(String, String)> = trmm_api::api::registered_routes()
        .into_iter()
        .map(|r| (r.method, normalize(&r.path)))
        .collect();
    let unnormalized: Vec<_> = registered.iter().filter(|(_, p)| p.contains(':')).collect();
    assert!(
        unnormalized.is_empty(),
        "teach normalize() these patterns: {unnormalized:?}"
    );
    let rows: BTreeSet<(String, String)> = ROUTES.iter().map(|r| (r.0.to_owned(), r.1.to_owned())).collect();
    assert_eq!(rows.len(), ROUTES.len(), "a route has two rows");
    let missing: Vec<_> = registered.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in tests/authorization/table.rs: {missing:?}"
    );
    assert!(stale.is_empty(), "rows for routes that do not exist: {stale:?}");
}

/// Every boolean `can_*` column of the roles table.
async fn all_flags(api: &TestApi) -> Vec<String> {
    let db = api.db.pool().get().await.unwrap();
    let sql = "SELECT column_name::text FROM information_schema.columns
               WHERE table_name = 'roles' AND column_name LIKE 'can\\_%' AND data_type = 'boolean'";
    db.query(sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

/// A new non-superuser with a role holding `flags` (scoped to `client` if given).
async fn member(api: &TestApi, name: &str, flags: &[&str], client: Option<i64>) -> i32 {
    let db = api.db.pool().get().await.unwrap();
    let role = trmm_db::roles::create(&db, name, flags).await.unwrap();
    if let Some(client) = client {
        let sql = "INSERT INTO role_clients (role_id, client_id) VALUES ($1, $2)";
        db.execute(sql, &[&role.0, &(client as i32)]).await.unwrap();
    }
    let sql = "INSERT INTO users (username, email, password_hash, is_superuser, role_id, totp_key)
               VALUES ($1::text, $1::text || '@example.com', 'unusable', false, $2, 'X') RETURNING id";
    db.query_one(sql, &[&name, &role.0]).await.unwrap().get(0)
}

/// A dashboard session for a new [`member`]. The session row is written directly: logging in ~90 users would
/// only exercise the login rate limit.
async fn session(api: &TestApi, name: &str, flags: &[&str], client: Option<i64>) -> String {
    let user = member(api, name, flags, client).await;
    api.session(trmm_db::UserId(user), trmm_db::sessions::Scope::Full).await
}

/// `path` with every parameter filled in by `fill`.
fn fill(path: &str, mut fill: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(&fill(&rest[start + 1..end]));
        rest = &rest[end + 1..];
    }
    out + rest
}

/// Parameters of objects that do not exist: a caller with the right flag gets a 404 or a 400, never a change.
fn nowhere(name: &str) -> String {
    match name {
        "agent_id" | "agentid" => "no-such-agent-anywhere-at-all".into(),
        "target" => "client".into(),
        "svcname" => "svc".into(),
        _ => "987654".into(),
    }
}

async fn call(api: &TestApi, row: &Row, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let method = Method::from_bytes(row.0.as_bytes()).unwrap();
    let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
    api.call(method, path, token, body).await
}

/// [`call`] with `X-API-KEY: key` instead of a session.
async fn call_with_key(api: &TestApi, row: &Row, path: &str, key: &str) -> (StatusCode, Value) {
    let method = Method::from_bytes(row.0.as_bytes()).unwrap();
    let mut req = api.http.request(method.clone(), format!("{}{path}", api.url));
    req = req.header("X-API-KEY", key);
    if method != Method::GET && method != Method::DELETE {
        req = req.json(&json!({}));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An API key of a new [`member`], stored as the create endpoint stores one.
async fn api_key(api: &TestApi, name: &str, flags: &[&str]) -> String {
    let user = member(api, name, flags, None).await;
    let db = api.db.pool().get().await.unwrap();
    let key = trmm_auth::generate_api_key();
    let new = trmm_db::api_keys::NewKey {
        name: &format!("key of {user}"),
        digest: &trmm_auth::digest_token(&key),
        prefix: &key[..8],
        user: trmm_db::UserId(user),
        expiration: None,
    };
    trmm_db::api_keys::create(&db, &new, "test").await.unwrap();
    key
}

fn denied(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

#[tokio::test]
async fn each_route_requires_its_flag_and_nothing_more() {
    // The monitoring endpoint exists only with a token configured.
    let api = TestApi::start_with(|s| s.monitoring_token = Some(trmm_auth::digest_token("monitoring"))).await;
    let flags = all_flags(&api).await;
    let forbidden = json!({"detail": trmm_authz::NO_PERMISSION});
    let mut with: BTreeMap<&str, String> = BTreeMap::new();
    let mut without: BTreeMap<&str, String> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (n, row) in ROUTES.iter().enumerate() {
        let path = fill(row.1, nowhere);
        let what = format!("{} {}", row.0, row.1);
        match row.2 {
            Access::Flag(flag) => {
                assert!(flags.iter().any(|f| f == flag), "{what}: no role flag {flag}");
                if !with.contains_key(flag) {
                    with.insert(flag, session(&api, &format!("only_{flag}"), &[flag], None).await);
                    let others: Vec<&str> = flags.iter().map(String::as_str).filter(|f| *f != flag).collect();
                    without.insert(flag, session(&api, &format!("all_but_{flag}"), &others, None).await);
                }
                let (status, body) = call(&api, row, &path, Some(&without[flag])).await;
                if (status, &body) != (StatusCode::FORBIDDEN, &forbidden) {
                    wrong.push(format!("{what} without {flag}: {status} {body}"));
                }
                let (status, body) = call(&api, row, &path, Some(&with[flag])).await;
                if denied(status) {
                    wrong.push(format!("{what} with only {flag}: {status} {body}"));
                }
            }
            Access::Session => {
                let token = session(&api, &format!("plain_{n}"), &[], None).await;
                let (status, body) = call(&api, row, &path, Some(&token)).await;
                if denied(status) {
                    wrong.push(format!("{what} with a session and no flag: {status} {body}"));
                }
                let (status, _) = call(&api, row, &path, None).await;
                if status != StatusCode::UNAUTHORIZED {
                    wrong.push(format!("{what} without credentials: {status}"));
                }
            }
            Access::AgentToken | Access::InstallerToken => {
                let token = session(&api, &format!("dashboard_{n}"), &flags_of(&flags), None).await;
                let (status, body) = call(&api, row, &path, Some(&token)).await;
                if status != StatusCode::UNAUTHORIZED {
                    wrong.push(format!("{what} with a dashboard session: {status} {body}"));
                }
            }
            Access::MonitoringToken => {
                let token = session(&api, &format!("dashboard_{n}"), &flags_of(&flags), None).await;
                for token in [Some(token.as_str()), None] {
                    let (status, body) = call(&api, row, &path, token).await;
                    if status != StatusCode::UNAUTHORIZED {
                        wrong.push(format!("{what} without the monitoring token: {status} {body}"));
                    }
                }
            }
            Access::Public => {
                let (status, body) = call(&api, row, &path, None).await;
                if denied(status) {
                    wrong.push(format!("{what} without credentials: {status} {body}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} routes answered wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Where an API key is refused although a session or a password is taken (trmm-api's auth/session_only.rs):
/// logging in, the session's own endpoints and the user's own credentials.
const SESSION_ONLY: [&str; 6] = [
    "/v2/checkcreds/",
    "/v2/login/",
    "/logout/",
    "/accounts/users/setup_totp/",
    "/accounts/resetpw/",
    "/accounts/reset2fa/",
];

#[tokio::test]
async fn an_api_key_opens_what_a_session_opens_except_session_and_agent_routes() {
    let api = TestApi::start().await;
    let forbidden = json!({"detail": trmm_authz::NO_PERMISSION});
    let refused = json!({"detail": "API keys cannot be used on this endpoint."});
    let plain = api_key(&api, "plain", &[]).await;
    let mut keys: BTreeMap<&str, String> = BTreeMap::new();
    let mut wrong = Vec::new();
    for row in ROUTES {
        let path = fill(row.1, nowhere);
        let what = format!("{} {}", row.0, row.1);
        let key = match row.2 {
            Access::Flag(flag) => {
                if !keys.contains_key(flag) {
                    keys.insert(flag, api_key(&api, &format!("key_{flag}"), &[flag]).await);
                }
                let (status, body) = call_with_key(&api, row, &path, &plain).await;
                if (status, &body) != (StatusCode::FORBIDDEN, &forbidden) {
                    wrong.push(format!("{what} with a key without {flag}: {status} {body}"));
                }
                &keys[flag]
            }
            _ => &plain,
        };
        let agents_only = matches!(row.2, Access::AgentToken | Access::InstallerToken);
        let (status, body) = call_with_key(&api, row, &path, key).await;
        if agents_only || SESSION_ONLY.contains(&row.1) {
            if (status, &body) != (StatusCode::FORBIDDEN, &refused) {
                wrong.push(format!("{what} took an API key: {status} {body}"));
            }
        } else if denied(status) {
            wrong.push(format!("{what} refused its API key: {status} {body}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} routes answered wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn flags_of(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// Client Acme's objects, which a role scoped to client Bravo must not reach.
struct Acme {
    client: i64,
    site: i64,
    agent: String,
    check: i64,
    result: i64,
    alert: i64,
    note: i64,
    pending: i64,
}

async fn acme(api: &TestApi, admin: &str) -> Acme {
    let (client, site) = api
        .client_with_site(admin, "Acme-secret-client", "HQ-secret-site")
        .await;
    let installer = api.installer_token(admin, client, site).await;
    let agent = agent_id(1);
    let (pk, token) = api.enroll(&installer, &agent, "alpha-secret-host", site).await;
    let body = json!({"agent": agent, "check_type": "memory", "warning_threshold": 70, "error_threshold": 90});
    let (status, msg) = api.post("/checks/", admin, body).await;
    assert_eq!(status, StatusCode::OK, "{msg}");
    let check = common::count(api, "SELECT max(id)::bigint FROM checks").await;
    let report = json!({"id": check, "agent_id": agent, "percent": 95});
    let (status, msg) = api
        .call(Method::PATCH, "/api/v3/checkrunner/", Some(&token), Some(report))
        .await;
    assert_eq!(status, StatusCode::OK, "{msg}");
    let result = common::count(api, "SELECT max(id)::bigint FROM check_results").await;
    let (status, msg) = api
        .post(
            "/agents/notes/",
            admin,
            json!({"agent_id": agent, "note": "secret note"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{msg}");
    let note = common::count(api, "SELECT max(id)::bigint FROM agent_notes").await;
    let db = api.db.pool().get().await.unwrap();
    let sql = "INSERT INTO alerts (agent_id, alert_type, severity, message, alert_time)
               VALUES ($1, 'availability', 'error', 'alpha-secret-host is overdue', now()) RETURNING id::bigint";
    let alert = db.query_one(sql, &[&(pk as i32)]).await.unwrap().get(0);
    let sql = "INSERT INTO pending_actions (agent_pk, action_type, details)
               VALUES ($1, 'agentupdate', '{}') RETURNING id::bigint";
    let pending = db.query_one(sql, &[&(pk as i32)]).await.unwrap().get(0);
    Acme {
        client,
        site,
        agent,
        check,
        result,
        alert,
        note,
        pending,
    }
}

impl Acme {
    /// The row's path filled with Acme's object, or None when the route names no client-scoped object.
    fn path(&self, row: &Row) -> Option<String> {
        let pk = match row.3 {
            Obj::Global => return None,
            Obj::Agent => 0,
            Obj::Client => self.client,
            Obj::Site => self.site,
            Obj::Check => self.check,
            Obj::Result => self.result,
            Obj::Alert => self.alert,
            Obj::Note => self.note,
            Obj::Pending => self.pending,
        };
        Some(fill(row.1, |name| match name {
            "agent_id" | "agentid" => self.agent.clone(),
            _ => nowhere(name).replace("987654", &pk.to_string()),
        }))
    }

    /// What of Acme's may not appear in anything a Bravo-scoped user reads.
    fn secrets(&self) -> [&str; 5] {
        [
            "Acme-secret-client",
            "HQ-secret-site",
            "alpha-secret-host",
            "secret note",
            &self.agent,
        ]
    }
}

#[tokio::test]
async fn a_role_scoped_to_one_client_reaches_nothing_of_another() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let acme = acme(&api, &admin).await;
    let (bravo, _) = api.client_with_site(&admin, "Bravo", "Main").await;
    let flags = all_flags(&api).await;
    let shared = session(&api, "bravo", &flags_of(&flags), Some(bravo)).await;
    let mut wrong = Vec::new();
    for (n, row) in ROUTES.iter().enumerate() {
        let token = match row.2 {
            Access::Flag(_) => shared.clone(),
            // Its own session: logout and the session routes may end the one they are called with.
            Access::Session => session(&api, &format!("bravo_{n}"), &flags_of(&flags), Some(bravo)).await,
            _ => continue,
        };
        let what = format!("{} {}", row.0, row.1);
        if let Some(path) = acme.path(row) {
            let (status, body) = call(&api, row, &path, Some(&token)).await;
            if status != StatusCode::FORBIDDEN && status != StatusCode::NOT_FOUND {
                wrong.push(format!("{what} on Acme's object: {status} {body}"));
            }
        } else if (row.0 == "GET" || row.0 == "PATCH") && !row.1.contains('{') {
            let (status, body) = call(&api, row, row.1, Some(&token)).await;
            let text = body.to_string();
            for secret in acme.secrets() {
                if text.contains(secret) {
                    wrong.push(format!("{what} shows {secret:?} ({status})"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} leaks:\n{}", wrong.len(), wrong.join("\n"));
    // Nothing of Acme's changed on the way.
    let (status, agent) = api.get(&format!("/agents/{}/", acme.agent), &admin).await;
    assert_eq!(
        (status, agent["hostname"].as_str()),
        (StatusCode::OK, Some("alpha-secret-host"))
    );
    for (what, sql) in [
        (
            "client",
            format!("SELECT count(*) FROM clients WHERE id = {}", acme.client),
        ),
        ("site", format!("SELECT count(*) FROM sites WHERE id = {}", acme.site)),
        (
            "check",
            format!("SELECT count(*) FROM checks WHERE id = {}", acme.check),
        ),
        (
            "note",
            format!("SELECT count(*) FROM agent_notes WHERE id = {}", acme.note),
        ),
        (
            "open alert",
            format!("SELECT count(*) FROM alerts WHERE id = {} AND NOT resolved", acme.alert),
        ),
        (
            "pending action",
            format!("SELECT count(*) FROM pending_actions WHERE id = {}", acme.pending),
        ),
    ] {
        assert_eq!(common::count(&api, &sql).await, 1, "Acme's {what} changed");
    }
}
