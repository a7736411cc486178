//! The global key store, and template-variable expansion against the database (server-api.md 5.3, 5.4).

mod common;

use common::{agent_id, api_with_acme_hq, custom_fields, keys, user, TestApi};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn keystore_crud_validation_and_permissions() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (status, msg) = api
        .post("/core/keystore/", &admin, json!({"name": "api_key", "value": "s3cr3t"}))
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("ok")));
    let bad = [
        (
            json!({"name": "api_key", "value": "x"}),
            json!({"name": ["global kv store with this name already exists."]}),
        ),
        (json!({"name": "other"}), json!({"value": ["This field is required."]})),
        (
            json!({"name": "n".repeat(26), "value": "x"}),
            json!({"name": ["Ensure this field has no more than 25 characters."]}),
        ),
        (
            json!({"name": "", "value": "x"}),
            json!({"name": ["This field may not be blank."]}),
        ),
    ];
    for (body, expected) in &bad {
        let (status, got) = api.post("/core/keystore/", &admin, body.clone()).await;
        assert_eq!((status, &got), (StatusCode::BAD_REQUEST, expected), "{body}");
    }
    let (status, list) = api.get("/core/keystore/", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        keys(&list[0]),
        [
            "created_by",
            "created_time",
            "id",
            "modified_by",
            "modified_time",
            "name",
            "value"
        ]
    );
    let pk = list[0]["id"].as_i64().unwrap();
    let (status, msg) = api
        .put(&format!("/core/keystore/{pk}/"), &admin, json!({"value": "rotated"}))
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("ok")));
    let (_, list) = api.get("/core/keystore/", &admin).await;
    assert_eq!(
        (list[0]["name"].clone(), list[0]["value"].clone()),
        (json!("api_key"), json!("rotated"))
    );
    assert_eq!(list[0]["modified_by"], "admin");
    {
        // The audit trail names the key but never records its value.
        let conn = api.db.pool().get().await.unwrap();
        let rows = conn
            .query(
                "SELECT after_value::text FROM audit_logs WHERE object_type = 'keystore'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows
            .iter()
            .all(|r| !r.get::<_, String>(0).contains("s3cr3t") && !r.get::<_, String>(0).contains("rotated")));
    }

    let viewer = user(&api, "viewer", &["can_view_global_keystore"], None).await;
    assert_eq!(api.get("/core/keystore/", &viewer).await.0, StatusCode::OK);
    let (status, _) = api
        .put(&format!("/core/keystore/{pk}/"), &viewer, json!({"value": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, msg) = api.delete(&format!("/core/keystore/{pk}/"), &admin).await;
    assert_eq!((status, msg), (StatusCode::OK, json!("ok")));
    assert_eq!(api.get("/core/keystore/", &admin).await.1, json!([]));
    let (status, _) = api.delete(&format!("/core/keystore/{pk}/"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn templates_expand_from_the_database() {
    let (api, admin, client, site, installer) = api_with_acme_hq().await;
    let id = agent_id(7);
    api.enroll(&installer, &id, "web-01", site).await;
    let fields = [
        json!({"model": "agent", "name": "Owner", "default_value_string": "nobody"}),
        json!({"model": "client", "name": "Contract"}),
        json!({"model": "agent", "name": "Patch Day", "default_value_string": "Tue"}),
        json!({"model": "agent", "name": "Managed", "type": "checkbox", "default_value_bool": true}),
        json!({"model": "site", "name": "Racks", "type": "multiple", "default_values_multiple": ["r1", "r2"]}),
    ];
    let [owner, contract, ..] = custom_fields(&api, &admin, fields).await;
    api.post("/core/keystore/", &admin, json!({"name": "token", "value": "it's"}))
        .await;
    api.put(
        &format!("/agents/{id}/"),
        &admin,
        json!({"custom_fields": [{"field": owner, "string_value": "O'Neil"}]}),
    )
    .await;
    api.put(
        &format!("/clients/{client}/"),
        &admin,
        json!({"client": {}, "custom_fields": [{"field": contract, "string_value": "gold"}]}),
    )
    .await;

    let conn = api.db.pool().get().await.unwrap();
    let agent = trmm_db::agents::find_by_agent_id(&conn, &id).await.unwrap().unwrap();
    let args: Vec<String> = [
        "-Host {{agent.hostname}}",
        "{{agent.Owner}}",
        "{{ agent.Patch Day }}",
        "{{agent.Managed}}",
        "{{client.name}}/{{site.name}}/{{client.Contract}}",
        "{{site.Racks}}",
        "{{global.token}}",
        "{{agent.nothing}}|{{global.nothing}}",
        "{{agent.site.client.name}}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = vec![
        "TOKEN={{global.token}}".to_owned(),
        "HOST={{agent.hostname}}".to_owned(),
    ];
    let (ps, ps_env) = trmm_ops::templates::expand_script_inputs(&conn, &agent, "powershell", &args, &env)
        .await
        .unwrap();
    assert_eq!(
        ps,
        [
            "-Host 'web-01'",
            "'O''Neil'",
            "'Tue'",
            "$True",
            "'Acme'/'HQ'/'gold'",
            "'r1,r2'",
            "'it''s'",
            "|",
            "'Acme'"
        ]
    );
    assert_eq!(ps_env, ["TOKEN=it''s", "HOST=web-01"]);
    let cmd = trmm_ops::templates::expand_args(&conn, &agent, "cmd", &args)
        .await
        .unwrap();
    assert_eq!(
        cmd,
        [
            "-Host web-01",
            "O'Neil",
            "Tue",
            "1",
            "Acme/HQ/gold",
            "r1,r2",
            "it's",
            "|",
            "Acme"
        ]
    );
    let env = trmm_ops::templates::expand_env_vars(&conn, &agent, "shell", &env)
        .await
        .unwrap();
    assert_eq!(env, ["TOKEN=it's", "HOST=web-01"]);
    // Nothing to expand: returned as is.
    let plain = vec!["a".to_owned(), "{b}".to_owned()];
    assert_eq!(
        trmm_ops::templates::expand_args(&conn, &agent, "shell", &plain)
            .await
            .unwrap(),
        plain
    );
}
