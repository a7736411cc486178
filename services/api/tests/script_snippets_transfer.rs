//! Script snippets and their expansion, and our JSON export/import of the script library (server-api.md 1.8, 3.9).

mod common;
#[path = "support/helpers.rs"]
mod helpers;

use common::TestApi;
use helpers::keys;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn post(api: &TestApi, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    api.call(Method::POST, path, Some(token), Some(body)).await
}

async fn put(api: &TestApi, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    api.call(Method::PUT, path, Some(token), Some(body)).await
}

fn sha256_hex(s: &str) -> String {
    trmm_db::scripts::hash(s)
}

/// The id of the script called `name` in the (full) script table.
async fn script_id(api: &TestApi, token: &str, name: &str) -> i64 {
    let (_, all) = api
        .get("/scripts/?showCommunityScripts=true&showHiddenScripts=true", token)
        .await;
    all.as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn script_audit_rows(api: &TestApi) -> i64 {
    let conn = api.db.pool().get().await.unwrap();
    conn.query_one("SELECT count(*) FROM audit_logs WHERE object_type = 'script'", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn snippets_crud_and_expansion_in_download() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (status, msg) = post(
        &api,
        &admin,
        "/scripts/snippets/",
        json!({"name": "Helper", "desc": "logging", "code": "log() { echo \"$@\"; }", "shell": "shell"}),
    )
    .await;
    assert_eq!(
        (status, msg),
        (StatusCode::OK, json!("Script snippet was saved successfully"))
    );
    let cases = [
        (
            json!({"name": "Helper", "code": "x"}),
            json!({"name": ["script snippet with this name already exists."]}),
        ),
        (
            json!({"name": "n".repeat(41)}),
            json!({"name": ["Ensure this field has no more than 40 characters."]}),
        ),
        (
            json!({"name": "ok", "desc": "d".repeat(51)}),
            json!({"desc": ["Ensure this field has no more than 50 characters."]}),
        ),
        (
            json!({"name": "ok", "shell": "fish"}),
            json!({"shell": ["\"fish\" is not a valid choice."]}),
        ),
        (json!({"code": "x"}), json!({"name": ["This field is required."]})),
    ];
    for (body, expected) in &cases {
        let (status, got) = post(&api, &admin, "/scripts/snippets/", body.clone()).await;
        assert_eq!((status, &got), (StatusCode::BAD_REQUEST, expected), "{body}");
    }
    post(
        &api,
        &admin,
        "/scripts/snippets/",
        json!({"name": "Other", "code": "true"}),
    )
    .await;
    let (_, list) = api.get("/scripts/snippets/", &admin).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let helper = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Helper")
        .unwrap()
        .clone();
    assert_eq!(keys(&helper), ["code", "desc", "id", "name", "shell"]);
    let helper_id = helper["id"].as_i64().unwrap();
    // Renaming onto another snippet's name collides too.
    let (status, got) = put(
        &api,
        &admin,
        &format!("/scripts/snippets/{helper_id}/"),
        json!({"name": "Other"}),
    )
    .await;
    assert_eq!(
        (status, got),
        (
            StatusCode::BAD_REQUEST,
            json!({"name": ["script snippet with this name already exists."]})
        )
    );

    let body = "#!/bin/sh\n{{Helper}}\nlog hi {{agent.hostname}} {{ Missing }}\n";
    post(
        &api,
        &admin,
        "/scripts/",
        json!({"name": "Uses", "shell": "shell", "script_body": body}),
    )
    .await;
    let id = script_id(&api, &admin, "Uses").await;
    let (status, dl) = api.get(&format!("/scripts/{id}/download/"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        dl,
        json!({"filename": "Uses.sh",
               "code": "#!/bin/sh\nlog() { echo \"$@\"; }\nlog hi {{agent.hostname}} {{ Missing }}\n"})
    );
    let (_, raw) = api
        .get(&format!("/scripts/{id}/download/?with_snippets=false"), &admin)
        .await;
    assert_eq!(raw["code"], body);

    let (status, msg) = put(
        &api,
        &admin,
        &format!("/scripts/snippets/{helper_id}/"),
        json!({"code": "log() { printf '%s\\n' \"$*\"; }"}),
    )
    .await;
    assert_eq!(
        (status, msg),
        (StatusCode::OK, json!("Script snippet was saved successfully"))
    );
    let (_, dl) = api.get(&format!("/scripts/{id}/download/"), &admin).await;
    assert!(dl["code"].as_str().unwrap().contains("printf '%s\\n'"), "{dl}");
    let (_, one) = api.get(&format!("/scripts/snippets/{helper_id}/"), &admin).await;
    assert_eq!(
        (one["name"].clone(), one["desc"].clone()),
        (json!("Helper"), json!("logging"))
    );

    let (status, msg) = api
        .call(
            Method::DELETE,
            &format!("/scripts/snippets/{helper_id}/"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (status, msg),
        (StatusCode::OK, json!("Script snippet was deleted successfully"))
    );
    let (_, dl) = api.get(&format!("/scripts/{id}/download/"), &admin).await;
    assert_eq!(dl["code"], body, "an unknown snippet name stays as written");
    assert_eq!(
        api.get(&format!("/scripts/snippets/{helper_id}/"), &admin).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn export_import_round_trip_is_all_or_nothing() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    post(
        &api,
        &admin,
        "/scripts/",
        json!({"name": "One", "shell": "python", "category": "A", "script_body": "print(1)\n  ",
               "args": ["--x"], "env_vars": ["K=V"], "default_timeout": 15, "supported_platforms": ["windows"],
               "run_as_user": true, "syntax": "one [--x]"}),
    )
    .await;
    post(
        &api,
        &admin,
        "/scripts/",
        json!({"name": "Two", "shell": "cmd", "script_body": "echo 2"}),
    )
    .await;

    let (status, exported) = api.get("/scripts/export/", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let items = exported.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["script_body"], "print(1)\n  ");
    assert_eq!(items[0]["script_hash"], sha256_hex("print(1)\n  "));

    // Into an empty library: everything is created as it was.
    let fresh = TestApi::start().await;
    let fresh_admin = fresh.admin_token().await;
    let (status, msg) = post(&fresh, &fresh_admin, "/scripts/import/", exported.clone()).await;
    assert_eq!(
        (status, msg),
        (StatusCode::OK, json!("2 script(s) imported: 2 added, 0 updated"))
    );
    assert_eq!(fresh.get("/scripts/export/", &fresh_admin).await.1, exported);
    assert_eq!(script_audit_rows(&fresh).await, 2, "every imported script is audited");

    // Back into the original: matched by name and updated, nothing duplicated.
    let mut changed = exported.clone();
    changed[1]["script_body"] = json!("echo two");
    changed[1]["script_hash"] = json!(sha256_hex("echo two"));
    let mut batch = changed.as_array().unwrap().clone();
    batch.push(json!({"name": "Three", "shell": "deno", "script_body": "console.log(3)"}));
    let (status, msg) = post(&api, &admin, "/scripts/import/", json!(batch)).await;
    assert_eq!(
        (status, msg),
        (StatusCode::OK, json!("3 script(s) imported: 1 added, 2 updated"))
    );
    let (_, after) = api.get("/scripts/export/", &admin).await;
    assert_eq!(after.as_array().unwrap().len(), 3);
    let two = after.as_array().unwrap().iter().find(|s| s["name"] == "Two").unwrap();
    assert_eq!(two["script_body"], "echo two");

    // One bad item rejects the whole batch, with DRF's many=True error list.
    let before = api.get("/scripts/export/", &admin).await.1;
    let bad = json!([
        {"name": "Two", "script_body": "echo should not land"},
        {"name": "Four", "shell": "bash"},
        {"name": "Five", "script_body": "x", "script_hash": sha256_hex("y")},
        {"name": "Six"},
        {"name": "Six"},
        "nope",
    ]);
    let (status, errors) = post(&api, &admin, "/scripts/import/", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors,
        json!([
            {},
            {"shell": ["\"bash\" is not a valid choice."]},
            {"script_hash": ["Does not match the SHA-256 of script_body."]},
            {},
            {"name": ["This name appears more than once in the import."]},
            {"non_field_errors": ["Expected a dictionary."]},
        ])
    );
    assert_eq!(api.get("/scripts/export/", &admin).await.1, before);
    let (status, got) = post(&api, &admin, "/scripts/import/", json!({"name": "x"})).await;
    assert_eq!(
        (status, got),
        (
            StatusCode::BAD_REQUEST,
            json!({"non_field_errors": ["Expected a list of items but got type \"dict\"."]})
        )
    );
}
