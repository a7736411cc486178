//! Assigning alert templates to clients and sites (PUT /clients/<pk>/ and /clients/sites/<pk>/ as the
//! dashboard sends them), /alerts/templates/<pk>/related/, and the template in force for an agent
//! (site, then client, then the core default; inactive and excluding templates skipped).

mod common;

use common::alert_templates::{create, edit, get, make_default, LIST};
use common::{agent_id, api_with_acme_hq, count};
use reqwest::StatusCode;
use serde_json::{json, Value};
use trmm_db::alerts::templates;
use trmm_db::AgentPk;

#[tokio::test]
async fn clients_and_sites_take_templates_and_related_lists_them() {
    let (api, admin, acme, hq, _) = api_with_acme_hq().await;
    let t = create(&api, &admin, json!({"name": "Managed"})).await;
    let assign = json!({"client": {"id": acme, "alert_template": t}});
    let answer = api.put(&format!("/clients/{acme}/"), &admin, assign).await;
    assert_eq!(answer, (StatusCode::OK, json!("Acme was updated")));
    let assign = json!({"site": {"id": hq, "alert_template": t}});
    let answer = api.put(&format!("/clients/sites/{hq}/"), &admin, assign).await;
    assert_eq!(answer, (StatusCode::OK, json!("HQ was updated")));
    let (_, tree) = api.get("/clients/", &admin).await;
    assert_eq!(tree[0]["alert_template"], t);
    assert_eq!(tree[0]["sites"][0]["alert_template"], t);

    let related = format!("{LIST}{t}/related/");
    let (status, body) = api.get(&related, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["name"], &body["policies"]), (&json!("Managed"), &json!([])));
    assert_eq!(
        body["clients"],
        json!([{"id": acme, "name": "Acme", "alert_template": t}])
    );
    let site = json!({"id": hq, "name": "HQ", "client": acme, "client_name": "Acme", "alert_template": t});
    assert_eq!(body["sites"], json!([site]));
    assert_eq!(body["default_template"], false);
    make_default(&api, &admin, t).await;
    assert_eq!(api.get(&related, &admin).await.1["default_template"], true);
    let listed = get(&api, &admin, t).await;
    assert_eq!(
        (&listed["applied_count"], &listed["default_template"]),
        (&json!(2), &json!(true))
    );
}

#[tokio::test]
async fn a_bad_assignment_is_refused_and_null_removes_the_template() {
    let (api, admin, acme, _, _) = api_with_acme_hq().await;
    let t = create(&api, &admin, json!({"name": "Managed"})).await;
    let client = format!("/clients/{acme}/");
    let assign = json!({"client": {"id": acme, "alert_template": t}});
    assert_eq!(api.put(&client, &admin, assign).await.0, StatusCode::OK);
    let refused = [
        (json!(999), "Invalid pk \"999\" - object does not exist."),
        (json!(true), "Incorrect type. Expected pk value, received bool."),
        (json!("x"), "Incorrect type. Expected pk value, received str."),
    ];
    for (value, message) in refused {
        let body = json!({"client": {"name": "Renamed", "alert_template": value}});
        let answer = (StatusCode::BAD_REQUEST, json!({"alert_template": [message]}));
        assert_eq!(api.put(&client, &admin, body).await, answer);
    }
    let (_, tree) = api.get("/clients/", &admin).await;
    assert_eq!(
        (&tree[0]["name"], &tree[0]["alert_template"]),
        (&json!("Acme"), &json!(t))
    );

    let unassign = json!({"client": {"id": acme, "alert_template": null}});
    assert_eq!(api.put(&client, &admin, unassign).await.0, StatusCode::OK);
    assert_eq!(get(&api, &admin, t).await["applied_count"], 0);
    let sql = "SELECT count(*) FROM audit_logs WHERE object_type = 'client' AND action = 'modify'
               AND after_value->'alert_template' = 'null' AND before_value->>'alert_template' IS NOT NULL";
    assert_eq!(count(&api, sql).await, 1);
    let assign = json!({"client": {"id": acme, "alert_template": t}});
    assert_eq!(api.put(&client, &admin, assign).await.0, StatusCode::OK);
    let rename = json!({"client": {"name": "Acme Corp"}});
    assert_eq!(api.put(&client, &admin, rename).await.0, StatusCode::OK);
    let (_, tree) = api.get("/clients/", &admin).await;
    assert_eq!(tree[0]["alert_template"], t, "a PUT without the field leaves it");
}

#[tokio::test]
async fn the_template_in_force_follows_what_the_endpoints_assign() {
    let (api, admin, acme, hq, installer) = api_with_acme_hq().await;
    let (pk, _) = api.enroll(&installer, &agent_id(1), "alpha", hq).await;
    let in_force = || async {
        let db = api.db.pool().get().await.unwrap();
        let t = templates::for_agent(&db, AgentPk(pk as i32)).await.unwrap();
        t.map(|t| t.fields.name)
    };
    let default = create(&api, &admin, json!({"name": "Default"})).await;
    let for_client = create(&api, &admin, json!({"name": "Client"})).await;
    let for_site = create(&api, &admin, json!({"name": "Site"})).await;
    assert_eq!(in_force().await, None);
    make_default(&api, &admin, default).await;
    assert_eq!(in_force().await.as_deref(), Some("Default"));
    let body = json!({"client": {"id": acme, "alert_template": for_client}});
    assert_eq!(
        api.put(&format!("/clients/{acme}/"), &admin, body).await.0,
        StatusCode::OK
    );
    assert_eq!(in_force().await.as_deref(), Some("Client"));
    let body = json!({"site": {"id": hq, "alert_template": for_site}});
    assert_eq!(
        api.put(&format!("/clients/sites/{hq}/"), &admin, body).await.0,
        StatusCode::OK
    );
    assert_eq!(in_force().await.as_deref(), Some("Site"));

    let steps: [(i64, Value, Option<&str>); 8] = [
        (for_site, json!({"is_active": false}), Some("Client")),
        (for_site, json!({"is_active": true}), Some("Site")),
        (for_site, json!({"excluded_clients": [acme]}), Some("Client")),
        (for_client, json!({"excluded_agents": [pk]}), Some("Default")),
        (default, json!({"exclude_servers": true}), None),
        (
            default,
            json!({"exclude_servers": false, "exclude_workstations": true}),
            Some("Default"),
        ),
        (
            for_client,
            json!({"excluded_agents": [], "excluded_sites": [hq]}),
            Some("Default"),
        ),
        (for_client, json!({"excluded_sites": []}), Some("Client")),
    ];
    for (id, body, expected) in steps {
        edit(&api, &admin, id, body.clone()).await;
        assert_eq!(in_force().await.as_deref(), expected, "after {body}");
    }
    let deleted = api.delete(&format!("{LIST}{for_client}/"), &admin).await;
    assert_eq!(deleted.0, StatusCode::OK);
    assert_eq!(in_force().await.as_deref(), Some("Default"));
}
