//! The script library, snippets and our JSON import/export (server-api.md 1.8, 3.9).

mod common;

use common::{assert_deleted, column, keys, script_audit_rows, script_id, user, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_db::scripts::hash as sha256_hex;

#[tokio::test]
async fn script_crud_shapes_and_success_strings() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let body = "#!/bin/sh\ndf -h \"$1\"\n";
    let (status, msg) = api
        .post(
            "/scripts/",
            &admin,
            json!({"name": "Disk", "shell": "shell", "category": "Maint", "script_body": body, "args": ["-a"],
               "env_vars": ["A=1", "B=x=y"], "default_timeout": 30, "supported_platforms": ["linux"],
               "run_as_user": false, "description": "disk usage", "script_type": "builtin"}),
        )
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("Disk was added!")));
    for more in [
        json!({"name": "Alpha", "category": "Maint"}),
        json!({"name": "Zed", "category": "Admin"}),
        json!({"name": "Loose"}),
    ] {
        api.post("/scripts/", &admin, more).await;
    }

    let (status, table) = api.get("/scripts/", &admin).await;
    assert_eq!(status, StatusCode::OK);
    // Ordered by category, then name; uncategorised last.
    assert_eq!(column(&table, "name"), ["Zed", "Alpha", "Disk", "Loose"]);
    let listed = [
        "args",
        "category",
        "default_timeout",
        "description",
        "env_vars",
        "favorite",
        "filename",
        "hidden",
        "id",
        "name",
        "run_as_user",
        "script_type",
        "shell",
        "supported_platforms",
        "syntax",
    ];
    assert_eq!(keys(&table[2]), listed);
    // Uploads are always user scripts, whatever the body says.
    assert_eq!(table[2]["script_type"], "userdefined");
    assert_eq!(table[3]["shell"], "powershell");
    assert_eq!(table[3]["default_timeout"], 90);

    let id = script_id(&api, &admin, "Disk").await;
    let (status, detail) = api.get(&format!("/scripts/{id}/"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    // The detail has the body and its hash in place of the type.
    let mut shown: Vec<&str> = listed.into_iter().filter(|k| *k != "script_type").collect();
    shown.extend(["script_body", "script_hash"]);
    shown.sort_unstable();
    assert_eq!(keys(&detail), shown);
    assert_eq!(detail["script_body"], body);
    assert_eq!(detail["script_hash"], sha256_hex(body));
    assert_eq!(detail["env_vars"], json!(["A=1", "B=x=y"]));
    assert_eq!(detail["supported_platforms"], json!(["linux"]));

    let (status, msg) = api
        .put(
            &format!("/scripts/{id}/"),
            &admin,
            json!({"script_body": "echo new", "favorite": true, "category": null}),
        )
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("Disk was edited!")));
    let (_, detail) = api.get(&format!("/scripts/{id}/"), &admin).await;
    assert_eq!(detail["script_hash"], sha256_hex("echo new"));
    assert_eq!(
        (detail["favorite"].clone(), detail["category"].clone()),
        (json!(true), Value::Null)
    );
    assert_eq!(
        detail["args"],
        json!(["-a"]),
        "fields left out of a PUT keep their value"
    );

    assert_deleted(&api, &admin, &format!("/scripts/{id}/"), json!("Disk was deleted!")).await;
    assert_eq!(api.get("/scripts/99999/", &admin).await.0, StatusCode::NOT_FOUND);
    // 4 adds, 1 modify, 1 delete.
    assert_eq!(script_audit_rows(&api).await, 6);
}

#[tokio::test]
async fn invalid_scripts_are_400s_that_change_nothing() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let cases = [
        (
            json!({"name": "x", "shell": "bash"}),
            json!({"shell": ["\"bash\" is not a valid choice."]}),
        ),
        (
            json!({"name": "x", "default_timeout": 0}),
            json!({"default_timeout": ["Ensure this value is greater than or equal to 1."]}),
        ),
        (
            json!({"name": "x", "default_timeout": -5}),
            json!({"default_timeout": ["Ensure this value is greater than or equal to 1."]}),
        ),
        (
            json!({"name": "x", "args": "-a -b"}),
            json!({"args": ["Expected a list of items but got type \"str\"."]}),
        ),
        (
            json!({"name": "x", "args": ["ok", 5]}),
            json!({"args": {"1": ["Not a valid string."]}}),
        ),
        (
            json!({"name": "x", "env_vars": ["GOOD=1", "BAD", "=v", "HAS SPACE=1"]}),
            json!({"env_vars": {
                "1": ["\"BAD\" is not a KEY=VALUE environment variable."],
                "2": ["\"=v\" is not a KEY=VALUE environment variable."],
                "3": ["\"HAS SPACE=1\" is not a KEY=VALUE environment variable."]}}),
        ),
        (
            json!({"name": "x", "supported_platforms": ["linux", "beos"]}),
            json!({"supported_platforms": {"1": ["\"beos\" is not a valid choice."]}}),
        ),
        (json!({"shell": "cmd"}), json!({"name": ["This field is required."]})),
        (json!({"name": "  "}), json!({"name": ["This field may not be blank."]})),
        (
            json!({"name": "x", "favorite": "yes", "shell": "zsh"}),
            json!({"favorite": ["Must be a valid boolean."], "shell": ["\"zsh\" is not a valid choice."]}),
        ),
        (
            json!(["not", "an", "object"]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
    ];
    for (body, expected) in &cases {
        let (status, got) = api.post("/scripts/", &admin, body.clone()).await;
        assert_eq!((status, &got), (StatusCode::BAD_REQUEST, expected), "POST {body}");
    }
    let (_, table) = api.get("/scripts/", &admin).await;
    assert_eq!(table, json!([]));

    api.post(
        "/scripts/",
        &admin,
        json!({"name": "Keep", "shell": "python", "script_body": "print(1)"}),
    )
    .await;
    let id = script_id(&api, &admin, "Keep").await;
    let (_, before) = api.get(&format!("/scripts/{id}/"), &admin).await;
    for (body, expected) in &cases[..7] {
        let mut body = body.clone();
        body["script_body"] = json!("changed");
        let (status, got) = api.put(&format!("/scripts/{id}/"), &admin, body.clone()).await;
        assert_eq!((status, &got), (StatusCode::BAD_REQUEST, expected), "PUT {body}");
    }
    assert_eq!(api.get(&format!("/scripts/{id}/"), &admin).await.1, before);
    // Only the one add was audited.
    assert_eq!(script_audit_rows(&api).await, 1);
}

#[tokio::test]
async fn community_scripts_only_change_favorite_and_hidden_and_filters_apply() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    {
        let conn = api.db.pool().get().await.unwrap();
        let f = trmm_db::scripts::ScriptFields {
            name: "Community".into(),
            category: Some("Community".into()),
            script_body: "Get-Date".into(),
            ..Default::default()
        };
        trmm_db::scripts::create(&conn, trmm_db::scripts::BUILTIN, Some("guid-1"), &f, "loader")
            .await
            .unwrap();
    }
    api.post("/scripts/", &admin, json!({"name": "Mine", "hidden": true}))
        .await;
    let id = script_id(&api, &admin, "Community").await;

    let (status, msg) = api
        .put(&format!("/scripts/{id}/"), &admin, json!({"name": "Renamed"}))
        .await;
    assert_eq!(
        (status, msg),
        (StatusCode::BAD_REQUEST, json!("Community scripts cannot be edited."))
    );
    let (status, _) = api
        .put(
            &format!("/scripts/{id}/"),
            &admin,
            json!({"favorite": true, "name": "Renamed", "script_body": "rm -rf /"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    api.put(&format!("/scripts/{id}/"), &admin, json!({"hidden": true}))
        .await;
    let (_, detail) = api.get(&format!("/scripts/{id}/"), &admin).await;
    assert_eq!(
        (
            &detail["name"],
            &detail["script_body"],
            &detail["favorite"],
            &detail["hidden"]
        ),
        (&json!("Community"), &json!("Get-Date"), &json!(true), &json!(true))
    );
    let (status, msg) = api.delete(&format!("/scripts/{id}/"), &admin).await;
    assert_eq!(
        (status, msg),
        (StatusCode::BAD_REQUEST, json!("Community scripts cannot be deleted"))
    );

    // Both are hidden: the plain list is empty.
    for (query, expected) in [
        ("", vec![]),
        ("?showHiddenScripts=true", vec!["Community", "Mine"]),
        ("?showHiddenScripts=true&showCommunityScripts=false", vec!["Mine"]),
    ] {
        let (_, list) = api.get(&format!("/scripts/{query}"), &admin).await;
        assert_eq!(column(&list, "name"), expected, "{query}");
    }
}

#[tokio::test]
async fn script_permissions_follow_list_and_manage_flags() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    api.post("/scripts/", &admin, json!({"name": "S"})).await;
    let id = script_id(&api, &admin, "S").await;
    let viewer = user(&api, "viewer", &["can_list_scripts"], None).await;
    for path in [
        "/scripts/".to_owned(),
        format!("/scripts/{id}/"),
        format!("/scripts/{id}/download/"),
        "/scripts/snippets/".into(),
        "/scripts/export/".into(),
    ] {
        assert_eq!(api.get(&path, &viewer).await.0, StatusCode::OK, "{path}");
    }
    let forbidden = [
        (Method::POST, "/scripts/".to_owned(), json!({"name": "T"})),
        (Method::PUT, format!("/scripts/{id}/"), json!({"name": "T"})),
        (Method::DELETE, format!("/scripts/{id}/"), Value::Null),
        (Method::POST, "/scripts/snippets/".into(), json!({"name": "T"})),
        (Method::POST, "/scripts/import/".into(), json!([])),
    ];
    for (method, path, body) in forbidden {
        let (status, _) = api.call(method.clone(), &path, Some(&viewer), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    let nobody = user(&api, "nobody", &[], None).await;
    assert_eq!(api.get("/scripts/", &nobody).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.get("/scripts/", "bogus").await.0, StatusCode::UNAUTHORIZED);
}
