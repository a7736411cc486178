//! `/core/urlaction/`: CRUD with TRMM's validation and permissions, web actions filled in for an agent, site or
//! client in the caller's scope (audited), and rest actions tested against a local webhook receiver.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_testkit::http_receiver::HttpReceiver;

async fn action_id(api: &TestApi, admin: &str, name: &str) -> i64 {
    let (_, list) = api.get("/core/urlaction/", admin).await;
    find(&list, "name", name)["id"].as_i64().unwrap()
}

#[tokio::test]
async fn crud_with_validation_and_permissions() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let runner = user(&api, "runner", &["can_run_urlactions"], None).await;
    let body = json!({"name": "Remote", "pattern": "https://rc.example.com/{{agent.hostname}}", "desc": "remote"});
    assert_eq!(
        api.post("/core/urlaction/", &admin, body.clone()).await,
        (StatusCode::OK, json!("ok"))
    );
    let denied = (
        StatusCode::FORBIDDEN,
        json!({"detail": "You do not have permission to perform this action."}),
    );
    assert_eq!(api.post("/core/urlaction/", &runner, body).await, denied);

    let (status, list) = api.get("/core/urlaction/", &runner).await;
    assert_eq!(status, StatusCode::OK);
    let item = &list[0];
    assert_eq!(
        (
            item["name"].clone(),
            item["action_type"].clone(),
            item["rest_method"].clone()
        ),
        (json!("Remote"), json!("web"), json!("post"))
    );
    let id = item["id"].as_i64().unwrap();
    let path = format!("/core/urlaction/{id}/");

    let bad = [
        (json!({"name": ""}), json!({"name": ["This field may not be blank."]})),
        (
            json!({"action_type": "ftp"}),
            json!({"action_type": ["\"ftp\" is not a valid choice."]}),
        ),
        (
            json!({"rest_method": "trace"}),
            json!({"rest_method": ["\"trace\" is not a valid choice."]}),
        ),
    ];
    for (body, answer) in bad {
        assert_eq!(api.put(&path, &admin, body).await, (StatusCode::BAD_REQUEST, answer));
    }
    let missing = api.post("/core/urlaction/", &admin, json!({"desc": "x"})).await;
    assert_eq!(
        missing,
        (
            StatusCode::BAD_REQUEST,
            json!({"name": ["This field is required."], "pattern": ["This field is required."]})
        )
    );
    assert_eq!(api.put(&path, &runner, json!({"name": "x"})).await, denied);
    assert_eq!(
        api.put(&path, &admin, json!({"action_type": "rest", "rest_method": "put"}))
            .await
            .0,
        StatusCode::OK
    );
    let (_, list) = api.get("/core/urlaction/", &admin).await;
    assert_eq!(
        (list[0]["action_type"].clone(), list[0]["name"].clone()),
        (json!("rest"), json!("Remote"))
    );
    assert_eq!(api.delete(&path, &runner).await, denied);
    assert_eq!(api.delete(&path, &admin).await, (StatusCode::OK, json!("ok")));
    assert_eq!(api.delete(&path, &admin).await.0, StatusCode::NOT_FOUND);
    let audited = count(&api, "SELECT count(*) FROM audit_logs WHERE object_type = 'urlaction'").await;
    assert_eq!(audited, 3);
}

#[tokio::test]
async fn web_actions_are_filled_in_for_objects_in_scope_and_audited() {
    let (api, admin, client, site, installer) = api_with_acme_hq().await;
    let alpha = agent_id(1);
    api.enroll(&installer, &alpha, "alpha", site).await;
    let (bravo, _, other_site) = bravo_at_other(&api, &admin).await;
    let pattern = "https://rc.example.com/{{agent.hostname}}/{{site.name}}/{{client.name}} x";
    api.post("/core/urlaction/", &admin, json!({"name": "RC", "pattern": pattern}))
        .await;
    let action = action_id(&api, &admin, "RC").await;
    let acme_only = user(&api, "acme", &["can_run_urlactions"], Some(client)).await;

    let run = |body: Value| api.call(Method::PATCH, "/core/urlaction/run/", Some(&acme_only), Some(body));
    let (status, url) = run(json!({"action": action, "agent_id": alpha})).await;
    assert_eq!(
        (status, url),
        (StatusCode::OK, json!("https://rc.example.com/alpha/HQ/Acme%20x"))
    );
    let (_, url) = run(json!({"action": action, "site": site})).await;
    assert_eq!(url, json!("https://rc.example.com//HQ/Acme%20x"));
    let (_, url) = run(json!({"action": action, "client": client})).await;
    assert_eq!(url, json!("https://rc.example.com///Acme%20x"));

    assert_eq!(
        run(json!({"action": action, "agent_id": bravo})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        run(json!({"action": action, "site": other_site})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        run(json!({"action": 999, "agent_id": alpha})).await.0,
        StatusCode::NOT_FOUND
    );
    let nothing = run(json!({"action": action})).await;
    assert_eq!(
        nothing,
        (StatusCode::BAD_REQUEST, json!("received an incorrect request"))
    );
    let audited = count(&api, "SELECT count(*) FROM audit_logs WHERE action = 'url_action'").await;
    assert_eq!(audited, 3, "one row per filled-in URL");
}

#[tokio::test]
async fn rest_actions_are_tested_against_the_webhook_receiver() {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    let alpha = agent_id(1);
    api.enroll(&installer, &alpha, "alpha", site).await;
    api.post("/core/keystore/", &admin, json!({"name": "hook_token", "value": "k3y"}))
        .await;
    let hook = HttpReceiver::start(202, "accepted").await;
    let body = json!({
        "pattern": format!("{}/hook/{{{{agent.hostname}}}}", hook.url()),
        "rest_method": "post",
        "rest_body": "{\"text\": \"{{agent.hostname}} at {{site.name}}\"}",
        "rest_headers": "{\"Authorization\": \"Bearer {{global.hook_token}}\"}",
        "run_instance_type": "agent",
        "run_instance_id": alpha,
    });
    let (status, answer) = api.post("/core/urlaction/run/test/", &admin, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let expected_body = json!({"text": "alpha at HQ"}).to_string();
    assert_eq!(
        answer,
        json!({"url": format!("{}/hook/alpha", hook.url()), "result": "accepted", "body": expected_body})
    );
    let seen = hook.wait_for(1).await;
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/hook/alpha")
    );
    assert_eq!(seen[0].header("authorization"), Some("Bearer k3y"));
    assert_eq!(seen[0].text(), expected_body);

    let mut bad_json = body.clone();
    bad_json["rest_body"] = json!("{not json");
    let (status, answer) = api.post("/core/urlaction/run/test/", &admin, bad_json).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer.as_str().unwrap().contains("the body is not valid JSON"),
        "{answer}"
    );
    let mut bad_method = body.clone();
    bad_method["rest_method"] = json!("trace");
    let answer = api.post("/core/urlaction/run/test/", &admin, bad_method).await;
    assert_eq!(
        answer,
        (
            StatusCode::BAD_REQUEST,
            json!({"rest_method": ["\"trace\" is not a valid choice."]})
        )
    );
    assert_eq!(hook.received().len(), 1, "refused tests send nothing");

    let nobody = user(&api, "nobody", &[], None).await;
    assert_eq!(
        api.post("/core/urlaction/run/test/", &nobody, body).await.0,
        StatusCode::FORBIDDEN
    );
}
