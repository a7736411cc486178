//! Shared by this crate's integration tests: the harness in `trmm_api::testing` (feature `testing`, shared with
//! trmm-agent's and trmm-worker's tests) and the helpers several suites use.
// Each test binary uses a different subset.
#![allow(dead_code)]

pub mod accounts;
pub mod alert_templates;
pub mod checks;
pub mod gateway;
pub mod logs;

use reqwest::StatusCode;
use serde_json::{json, Value};
pub use trmm_api::testing::*;

/// Signs the admin in and creates client Acme with site HQ and an installer for HQ; returns (admin token, client,
/// site, installer token).
pub async fn acme_hq(api: &TestApi) -> (String, i64, i64, String) {
    let admin = api.admin_token().await;
    let (client, site) = api.client_with_site(&admin, "Acme", "HQ").await;
    let installer = api.installer_token(&admin, client, site).await;
    (admin, client, site, installer)
}

/// A fresh API with [`acme_hq`]; returns it and what `acme_hq` returns.
pub async fn api_with_acme_hq() -> (TestApi, String, i64, i64, String) {
    let api = TestApi::start().await;
    let (admin, client, site, installer) = acme_hq(&api).await;
    (api, admin, client, site, installer)
}

/// Creates client Other with site Main and enrolls agent 2, "bravo", there; returns (agent_id, pk, site).
pub async fn bravo_at_other(api: &TestApi, admin: &str) -> (String, i64, i64) {
    let (other, main) = api.client_with_site(admin, "Other", "Main").await;
    let installer = api.installer_token(admin, other, main).await;
    let bravo = agent_id(2);
    let (pk, _) = api.enroll(&installer, &bravo, "bravo", main).await;
    (bravo, pk, main)
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// The `key` string of every item of a JSON list.
pub fn column<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    let items = list.as_array().unwrap().iter();
    items.map(|item| item[key].as_str().unwrap()).collect()
}

/// The item of a JSON list whose `key` is `value`.
pub fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    let found = list.as_array().unwrap().iter().find(|item| item[key] == value);
    found.unwrap_or_else(|| panic!("no {key} = {value} in {list}"))
}

/// The one number a count query returns.
pub async fn count(api: &TestApi, sql: &str) -> i64 {
    let conn = api.db.pool().get().await.unwrap();
    conn.query_one(sql, &[]).await.unwrap().get(0)
}

/// The one text a query returns.
pub async fn text(api: &TestApi, sql: &str) -> String {
    let conn = api.db.pool().get().await.unwrap();
    conn.query_one(sql, &[]).await.unwrap().get(0)
}

/// Every row of every table of the database, as Postgres prints it (bytea as `\x` and hex).
pub async fn database_text(api: &TestApi) -> String {
    let sql = "SELECT string_agg(query_to_xml(format('SELECT t::text AS r FROM %I t', table_name), false, false, '')
                                 ::text, E'\\n')
               FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'";
    text(api, sql).await
}

/// Creates non-superuser `name` with a role holding `flags`, limited to `client` when given, logs in with
/// password and TOTP, and returns the dashboard token.
pub async fn user(api: &TestApi, name: &str, flags: &[&str], client: Option<i64>) -> String {
    let conn = api.db.pool().get().await.unwrap();
    let role = trmm_db::roles::create(&conn, name, flags).await.unwrap();
    if let Some(client) = client {
        let sql = "INSERT INTO role_clients (role_id, client_id) VALUES ($1, $2)";
        conn.execute(sql, &[&role.0, &(client as i32)]).await.unwrap();
    }
    let password = format!("{name} password");
    let hash = trmm_auth::hash_password(&password).unwrap();
    let email = format!("{name}@example.com");
    trmm_db::users::upsert_superuser(&conn, name, &email, &hash, Some(TOTP_SECRET), false)
        .await
        .unwrap();
    let sql = "UPDATE users SET is_superuser = false, role_id = $1 WHERE username = $2";
    conn.execute(sql, &[&role.0, &name]).await.unwrap();
    let (status, login) = api.login(name, &password, &api.totp_now()).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    login["token"].as_str().unwrap().to_owned()
}

/// Creates a custom field and returns its id.
pub async fn custom_field(api: &TestApi, token: &str, body: Value) -> i64 {
    let (status, msg) = api.post("/core/customfields/", token, body.clone()).await;
    assert_eq!((status, msg), (StatusCode::OK, json!("ok")), "{body}");
    let (_, all) = api.get("/core/customfields/", token).await;
    let mut fields = all.as_array().unwrap().iter();
    let field = fields.find(|f| f["name"] == body["name"] && f["model"] == body["model"]);
    field.unwrap()["id"].as_i64().unwrap()
}

/// [`custom_field`] for each body, in order.
pub async fn custom_fields<const N: usize>(api: &TestApi, token: &str, bodies: [Value; N]) -> [i64; N] {
    let mut ids = [0; N];
    for (id, body) in ids.iter_mut().zip(bodies) {
        *id = custom_field(api, token, body).await;
    }
    ids
}

/// Deletes `path` as `token`, which must answer 200 with `answer`, after which a GET of it is a 404.
pub async fn assert_deleted(api: &TestApi, token: &str, path: &str, answer: Value) {
    assert_eq!(api.delete(path, token).await, (StatusCode::OK, answer), "DELETE {path}");
    assert_eq!(
        api.get(path, token).await.0,
        StatusCode::NOT_FOUND,
        "GET {path} after its DELETE"
    );
}

/// The id of the script called `name` in the (full) script table.
pub async fn script_id(api: &TestApi, token: &str, name: &str) -> i64 {
    let (_, all) = api
        .get("/scripts/?showCommunityScripts=true&showHiddenScripts=true", token)
        .await;
    find(&all, "name", name)["id"].as_i64().unwrap()
}

/// How many audit rows name a script.
pub async fn script_audit_rows(api: &TestApi) -> i64 {
    count(api, "SELECT count(*) FROM audit_logs WHERE object_type = 'script'").await
}
