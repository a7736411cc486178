//! Script snippets and their expansion, and our JSON export/import of the script library (server-api.md 1.8, 3.9).

mod common;

use common::{find, keys, script_audit_rows, script_id, TestApi};
use reqwest::StatusCode;
use serde_json::json;
use trmm_db::scripts::hash as sha256_hex;

#[tokio::test]
async fn snippets_crud_and_expansion_in_download() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (status, msg) = api
        .post(
            "/scripts/snippets/",
            &admin,
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
        let (status, got) = api.post("/scripts/snippets/", &admin, body.clone()).await;
        assert_eq!((status, &got), (StatusCode::BAD_REQUEST, expected), "{body}");
    }
    api.post("/scripts/snippets/", &admin, json!({"name": "Other", "code": "true"}))
        .await;
    let (_, list) = api.get("/scripts/snippets/", &admin).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let helper = find(&list, "name", "Helper");
    assert_eq!(keys(helper), ["code", "desc", "id", "name", "shell"]);
    let helper_path = format!("/scripts/snippets/{}/", helper["id"]);
    // Renaming onto another snippet's name collides too.
    let (status, got) = api.put(&helper_path, &admin, json!({"name": "Other"})).await;
    assert_eq!(
        (status, got),
        (
            StatusCode::BAD_REQUEST,
            json!({"name": ["script snippet with this name already exists."]})
        )
    );

    let body = "#!/bin/sh\n{{Helper}}\nlog hi {{agent.hostname}} {{ Missing }}\n";
    api.post(
        "/scripts/",
        &admin,
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

    let (status, msg) = api
        .put(
            &helper_path,
            &admin,
            json!({"code": "log() { printf '%s\\n' \"$*\"; }"}),
        )
        .await;
    assert_eq!(
        (status, msg),
        (StatusCode::OK, json!("Script snippet was saved successfully"))
    );
    let (_, dl) = api.get(&format!("/scripts/{id}/download/"), &admin).await;
    assert!(dl["code"].as_str().unwrap().contains("printf '%s\\n'"), "{dl}");
    let (_, one) = api.get(&helper_path, &admin).await;
    assert_eq!(
        (one["name"].clone(), one["desc"].clone()),
        (json!("Helper"), json!("logging"))
    );

    let (status, msg) = api.delete(&helper_path, &admin).await;
    assert_eq!(
        (status, msg),
        (StatusCode::OK, json!("Script snippet was deleted successfully"))
    );
    let (_, dl) = api.get(&format!("/scripts/{id}/download/"), &admin).await;
    assert_eq!(dl["code"], body, "an unknown snippet name stays as written");
    assert_eq!(api.get(&helper_path, &admin).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn export_import_round_trip_is_all_or_nothing() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    api.post(
        "/scripts/",
        &admin,
        json!({"name": "One", "shell": "python", "category": "A", "script_body": "print(1)\n  ",
               "args": ["--x"], "env_vars": ["K=V"], "default_timeout": 15, "supported_platforms": ["windows"],
               "run_as_user": true, "syntax": "one [--x]"}),
    )
    .await;
    api.post(
        "/scripts/",
        &admin,
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
    let (status, msg) = fresh.post("/scripts/import/", &fresh_admin, exported.clone()).await;
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
    let (status, msg) = api.post("/scripts/import/", &admin, json!(batch)).await;
    assert_eq!(
        (status, msg),
        (StatusCode::OK, json!("3 script(s) imported: 1 added, 2 updated"))
    );
    let (_, after) = api.get("/scripts/export/", &admin).await;
    assert_eq!(after.as_array().unwrap().len(), 3);
    assert_eq!(find(&after, "name", "Two")["script_body"], "echo two");

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
    let (status, errors) = api.post("/scripts/import/", &admin, bad).await;
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
    let (status, got) = api.post("/scripts/import/", &admin, json!({"name": "x"})).await;
    assert_eq!(
        (status, got),
        (
            StatusCode::BAD_REQUEST,
            json!({"non_field_errors": ["Expected a list of items but got type \"dict\"."]})
        )
    );
}
