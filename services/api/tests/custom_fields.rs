//! Custom field definitions and their values on agents, clients and sites (server-api.md 3.7, 5.2).

mod common;

use common::{agent_id, assert_deleted, custom_fields, find, keys, user, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// `PATCH /core/customfields/`: upstream's search by model.
async fn search(api: &TestApi, token: &str, body: Value) -> (StatusCode, Value) {
    api.call(Method::PATCH, "/core/customfields/", Some(token), Some(body))
        .await
}

#[tokio::test]
async fn custom_field_crud_and_patch_search() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let fields = [
        json!({"model": "agent", "name": "Owner", "order": 2}),
        json!({"model": "agent", "name": "Tags", "type": "multiple", "options": ["a", "b"], "order": 1}),
        json!({"model": "client", "name": "Owner", "type": "checkbox"}),
    ];
    let [owner, ..] = custom_fields(&api, &admin, fields).await;

    let (status, one) = api.get(&format!("/core/customfields/{owner}/"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        keys(&one),
        [
            "created_by",
            "created_time",
            "default_value_bool",
            "default_value_string",
            "default_values_multiple",
            "hide_in_summary",
            "hide_in_ui",
            "id",
            "model",
            "modified_by",
            "modified_time",
            "name",
            "options",
            "order",
            "required",
            "type"
        ]
    );
    assert_eq!(
        (one["type"].clone(), one["created_by"].clone()),
        (json!("text"), json!("admin"))
    );
    assert!(one["created_time"].as_str().unwrap().ends_with('Z'));

    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{}.{}", f["model"].as_str().unwrap(), f["name"].as_str().unwrap()))
            .collect()
    };
    assert_eq!(
        names(&api.get("/core/customfields/?model=agent", &admin).await.1),
        ["agent.Tags", "agent.Owner"]
    );
    let (status, found) = search(&api, &admin, json!({"model": "client"})).await;
    assert_eq!(
        (status, names(&found)),
        (StatusCode::OK, vec!["client.Owner".to_owned()])
    );
    let (status, msg) = search(&api, &admin, json!({})).await;
    assert_eq!(
        (status, msg),
        (StatusCode::BAD_REQUEST, json!("The request was invalid"))
    );
    assert_eq!(api.get("/core/customfields/?model=nope", &admin).await.1, json!([]));

    let bad = [
        (
            json!({"model": "agent", "name": "Owner"}),
            json!({"non_field_errors": ["The fields model, name must make a unique set."]}),
        ),
        (
            json!({"model": "policy", "name": "X"}),
            json!({"model": ["\"policy\" is not a valid choice."]}),
        ),
        (
            json!({"model": "agent", "name": "X", "type": "json"}),
            json!({"type": ["\"json\" is not a valid choice."]}),
        ),
        (json!({"name": "X"}), json!({"model": ["This field is required."]})),
        (
            json!({"model": "site", "name": "X", "options": "a,b"}),
            json!({"options": ["Expected a list of items but got type \"str\"."]}),
        ),
    ];
    for (body, expected) in &bad {
        let (status, got) = api.post("/core/customfields/", &admin, body.clone()).await;
        assert_eq!((status, &got), (StatusCode::BAD_REQUEST, expected), "{body}");
    }
    assert_eq!(
        api.get("/core/customfields/", &admin).await.1.as_array().unwrap().len(),
        3
    );

    let (status, msg) = api
        .put(
            &format!("/core/customfields/{owner}/"),
            &admin,
            json!({"default_value_string": "nobody", "required": true}),
        )
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("ok")));
    let (_, one) = api.get(&format!("/core/customfields/{owner}/"), &admin).await;
    assert_eq!(
        (one["default_value_string"].clone(), one["required"].clone()),
        (json!("nobody"), json!(true))
    );
    let (status, _) = api
        .put(&format!("/core/customfields/{owner}/"), &admin, json!({"name": "Tags"}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "renaming onto another field of the model collides"
    );

    assert_deleted(&api, &admin, &format!("/core/customfields/{owner}/"), json!("ok")).await;

    let viewer = user(&api, "viewer", &["can_view_customfields"], None).await;
    assert_eq!(api.get("/core/customfields/", &viewer).await.0, StatusCode::OK);
    let (status, _) = search(&api, &viewer, json!({"model": "agent"})).await;
    assert_eq!(status, StatusCode::OK, "PATCH is a read");
    let (status, _) = api
        .post("/core/customfields/", &viewer, json!({"model": "agent", "name": "Y"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn values_on_agents_clients_and_sites_show_in_get_output() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let fields = [
        json!({"model": "agent", "name": "Owner"}),
        json!({"model": "agent", "name": "Managed", "type": "checkbox"}),
        json!({"model": "agent", "name": "Tags", "type": "multiple"}),
        json!({"model": "client", "name": "Contract"}),
        json!({"model": "site", "name": "Floor", "type": "number"}),
    ];
    let [owner, managed, tags, contract, floor] = custom_fields(&api, &admin, fields).await;

    let (status, msg) = api
        .post(
            "/clients/",
            &admin,
            json!({"client": {"name": "Acme"}, "site": {"name": "HQ"},
               "custom_fields": [{"field": contract, "string_value": "gold"}]}),
        )
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("Acme was added")));
    let (_, clients) = api.get("/clients/", &admin).await;
    let (client, site) = (
        clients[0]["id"].as_i64().unwrap(),
        clients[0]["sites"][0]["id"].as_i64().unwrap(),
    );
    let cf = &clients[0]["custom_fields"];
    assert_eq!(keys(&cf[0]), ["client", "field", "id", "value"]);
    assert_eq!(
        (&cf[0]["field"], &cf[0]["client"], &cf[0]["value"]),
        (&json!(contract), &json!(client), &json!("gold"))
    );

    // PUT upserts: one row per (client, field), the latest value wins.
    api.put(
        &format!("/clients/{client}/"),
        &admin,
        json!({"client": {}, "custom_fields": [{"field": contract, "string_value": "platinum"}]}),
    )
    .await;
    let (_, one) = api.get(&format!("/clients/{client}/"), &admin).await;
    assert_eq!(one["custom_fields"].as_array().unwrap().len(), 1);
    assert_eq!(one["custom_fields"][0]["value"], "platinum");

    let (status, _) = api
        .put(
            &format!("/clients/sites/{site}/"),
            &admin,
            json!({"site": {}, "custom_fields": [{"field": floor, "string_value": 3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, s) = api.get(&format!("/clients/sites/{site}/"), &admin).await;
    assert_eq!(
        s["custom_fields"],
        json!([{"id": s["custom_fields"][0]["id"], "field": floor, "site": site, "value": "3"}])
    );
    let branch =
        json!({"site": {"client": client, "name": "Branch"}, "custom_fields": [{"field": floor, "string_value": "1"}]});
    let (status, _) = api.post("/clients/sites/", &admin, branch).await;
    assert_eq!(status, StatusCode::OK);
    let (_, sites) = api.get("/clients/sites/", &admin).await;
    assert_eq!(find(&sites, "name", "Branch")["custom_fields"][0]["value"], "1");
    let (_, tree) = api.get("/clients/", &admin).await;
    assert_eq!(
        tree[0]["sites"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["custom_fields"] != json!([]))
            .count(),
        2
    );

    let id = agent_id(1);
    api.enroll(&api.installer_token(&admin, client, site).await, &id, "web-01", site)
        .await;
    let (status, _) = api
        .put(
            &format!("/agents/{id}/"),
            &admin,
            json!({"custom_fields": [
                {"field": owner, "string_value": "Ops"},
                {"field": managed, "bool_value": true},
                {"field": tags, "multiple_value": ["a", "b"]},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail) = api.get(&format!("/agents/{id}/"), &admin).await;
    let values: Vec<(Value, Value)> = detail["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["field"].clone(), v["value"].clone()))
        .collect();
    assert_eq!(
        values,
        [
            (json!(owner), json!("Ops")),
            (json!(managed), json!(true)),
            (json!(tags), json!(["a", "b"]))
        ]
    );
    assert_eq!(keys(&detail["custom_fields"][0]), ["agent", "field", "id", "value"]);
    let (_, table) = api.get("/agents/", &admin).await;
    assert_eq!(table[0]["custom_fields"], detail["custom_fields"]);

    // A field of another model, or none at all, is a 400 and nothing of the edit lands.
    for bad in [
        json!({"field": contract, "string_value": "x"}),
        json!({"field": 9999, "string_value": "x"}),
    ] {
        let edit =
            json!({"description": "changed", "custom_fields": [{"field": owner, "string_value": "Changed"}, bad]});
        let (status, body) = api.put(&format!("/agents/{id}/"), &admin, edit).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["custom_fields"][0].is_string(), "{body}");
    }
    let (_, again) = api.get(&format!("/agents/{id}/"), &admin).await;
    assert_eq!(
        (again["custom_fields"].clone(), again["description"].clone()),
        (detail["custom_fields"].clone(), detail["description"].clone())
    );

    // Deleting a field deletes its values.
    api.delete(&format!("/core/customfields/{managed}/"), &admin).await;
    let (_, detail) = api.get(&format!("/agents/{id}/"), &admin).await;
    assert_eq!(detail["custom_fields"].as_array().unwrap().len(), 2);
    // The model of a field with values is fixed.
    let (status, _) = api
        .put(
            &format!("/core/customfields/{owner}/"),
            &admin,
            json!({"model": "site"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
