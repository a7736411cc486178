//! The alert template endpoints (/alerts/templates/ CRUD and related) and assigning templates to clients and
//! sites: shapes, DRF validation messages, permissions, audit rows, and the template in force for an agent.

mod common;

use common::{agent_id, api_with_acme_hq, count, find, keys, user, TestApi};
use reqwest::StatusCode;
use serde_json::{json, Value};
use trmm_db::alerts::templates;
use trmm_db::scripts::{self, ScriptFields};
use trmm_db::AgentPk;

const LIST: &str = "/alerts/templates/";

/// Creates a template through the API and returns its id.
async fn template(api: &TestApi, token: &str, body: Value) -> i64 {
    assert_eq!(
        api.post(LIST, token, body.clone()).await,
        (StatusCode::OK, json!("ok")),
        "{body}"
    );
    let (_, all) = api.get(LIST, token).await;
    find(&all, "name", body["name"].as_str().unwrap())["id"]
        .as_i64()
        .unwrap()
}

async fn one(api: &TestApi, token: &str, id: i64) -> Value {
    let (status, body) = api.get(&format!("{LIST}{id}/"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn edit(api: &TestApi, token: &str, id: i64, body: Value) {
    let answer = api.put(&format!("{LIST}{id}/"), token, body.clone()).await;
    assert_eq!(answer, (StatusCode::OK, json!("ok")), "{body}");
}

async fn url_action(api: &TestApi, name: &str) -> i64 {
    let db = api.db.pool().get().await.unwrap();
    let sql = "INSERT INTO url_actions (name, pattern, action_type) VALUES ($1, 'https://hooks.example.com/x', 'rest')
               RETURNING id";
    i64::from(db.query_one(sql, &[&name]).await.unwrap().get::<_, i32>(0))
}

async fn script(api: &TestApi, name: &str) -> i64 {
    let db = api.db.pool().get().await.unwrap();
    let fields = ScriptFields {
        name: name.into(),
        shell: "shell".into(),
        script_body: "#!/bin/sh\n".into(),
        default_timeout: 30,
        ..Default::default()
    };
    let id = scripts::create(&**db, scripts::USER_DEFINED, None, &fields, "admin")
        .await
        .unwrap();
    i64::from(id.0)
}

async fn audit_rows(api: &TestApi, action: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM audit_logs WHERE object_type = 'alerttemplate' AND action = '{action}'");
    count(api, &sql).await
}

const TEMPLATE_KEYS: [&str; 62] = [
    "action",
    "action_args",
    "action_env_vars",
    "action_name",
    "action_rest",
    "action_timeout",
    "action_type",
    "agent_always_alert",
    "agent_always_email",
    "agent_always_text",
    "agent_email_on_resolved",
    "agent_periodic_alert_days",
    "agent_script_actions",
    "agent_settings",
    "agent_text_on_resolved",
    "applied_count",
    "check_always_alert",
    "check_always_email",
    "check_always_text",
    "check_dashboard_alert_severity",
    "check_email_alert_severity",
    "check_email_on_resolved",
    "check_periodic_alert_days",
    "check_script_actions",
    "check_settings",
    "check_text_alert_severity",
    "check_text_on_resolved",
    "core_settings",
    "created_by",
    "created_time",
    "default_template",
    "email_from",
    "email_recipients",
    "exclude_servers",
    "exclude_workstations",
    "excluded_agents",
    "excluded_clients",
    "excluded_sites",
    "id",
    "is_active",
    "modified_by",
    "modified_time",
    "name",
    "resolved_action",
    "resolved_action_args",
    "resolved_action_env_vars",
    "resolved_action_name",
    "resolved_action_rest",
    "resolved_action_timeout",
    "resolved_action_type",
    "task_always_alert",
    "task_always_email",
    "task_always_text",
    "task_dashboard_alert_severity",
    "task_email_alert_severity",
    "task_email_on_resolved",
    "task_periodic_alert_days",
    "task_script_actions",
    "task_settings",
    "task_text_alert_severity",
    "task_text_on_resolved",
    "text_recipients",
];

#[tokio::test]
async fn templates_are_added_listed_edited_and_deleted_with_audit_rows() {
    let (api, admin, acme, _, _) = api_with_acme_hq().await;
    let minimal = template(&api, &admin, json!({"name": "Minimal"})).await;
    let (status, all) = api.get(LIST, &admin).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(keys(&all[0]), TEMPLATE_KEYS);
    let t = &all[0];
    let defaults = [
        ("is_active", json!(true)),
        ("action_type", json!("script")),
        ("action", Value::Null),
        ("action_timeout", json!(15)),
        ("resolved_action_timeout", json!(15)),
        ("agent_script_actions", json!(true)),
        ("agent_always_email", Value::Null),
        ("check_email_alert_severity", json!([])),
        ("excluded_clients", json!([])),
        ("applied_count", json!(0)),
        ("default_template", json!(false)),
        ("agent_settings", json!(false)),
        ("core_settings", json!(false)),
        ("action_name", json!("")),
        ("created_by", json!("admin")),
    ];
    for (key, value) in defaults {
        assert_eq!(t[key], value, "{key}");
    }
    assert!(t["created_time"].as_str().unwrap().ends_with('Z'), "{t}");

    let (hook, cleanup) = (url_action(&api, "Notify").await, script(&api, "Cleanup").await);
    let full = json!({
        "name": "Servers", "action_type": "rest", "action_rest": hook, "resolved_action_type": "script",
        "resolved_action": cleanup, "resolved_action_args": ["-x", "{{agent.hostname}}"],
        "check_email_alert_severity": ["error"], "agent_always_email": true, "email_from": "alerts@example.com",
        "email_recipients": ["ops@example.com"], "excluded_clients": [acme], "exclude_workstations": true,
        "task_periodic_alert_days": 2, "applied_count": 99,
    });
    let servers = template(&api, &admin, full).await;
    let t = one(&api, &admin, servers).await;
    let shown = [
        ("action_name", json!("Notify")),
        ("resolved_action_name", json!("Cleanup")),
        ("resolved_action_args", json!(["-x", "{{agent.hostname}}"])),
        ("agent_settings", json!(true)),
        ("check_settings", json!(true)),
        ("task_settings", json!(true)),
        ("core_settings", json!(true)),
        ("excluded_clients", json!([acme])),
        ("exclude_workstations", json!(true)),
        ("applied_count", json!(0)),
    ];
    for (key, value) in shown {
        assert_eq!(t[key], value, "{key}");
    }

    edit(
        &api,
        &admin,
        servers,
        json!({"name": "Servers 2", "agent_always_email": null, "excluded_clients": []}),
    )
    .await;
    let t = one(&api, &admin, servers).await;
    assert_eq!(
        (t["name"].clone(), t["agent_always_email"].clone()),
        (json!("Servers 2"), Value::Null)
    );
    assert_eq!(
        (t["excluded_clients"].clone(), t["action_rest"].clone()),
        (json!([]), json!(hook))
    );
    assert_eq!(
        (t["agent_settings"].clone(), t["action_name"].clone()),
        (json!(false), json!("Notify"))
    );
    assert_eq!(
        (audit_rows(&api, "add").await, audit_rows(&api, "modify").await),
        (2, 1)
    );

    for id in [minimal, servers] {
        assert_eq!(
            api.delete(&format!("{LIST}{id}/"), &admin).await,
            (StatusCode::OK, json!("ok"))
        );
        assert_eq!(api.get(&format!("{LIST}{id}/"), &admin).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(audit_rows(&api, "delete").await, 2);
    assert_eq!(api.get(LIST, &admin).await, (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn bad_template_bodies_get_drf_messages_and_change_nothing() {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    api.enroll(&installer, &agent_id(1), "alpha", site).await;
    let existing = template(&api, &admin, json!({"name": "Existing"})).await;
    let missing = |field: &str| json!({ field: ["Invalid pk \"999\" - object does not exist."] });
    let cases = [
        (json!({}), json!({"name": ["This field is required."]})),
        (json!({"name": " "}), json!({"name": ["This field may not be blank."]})),
        (
            json!({"name": "x".repeat(101)}),
            json!({"name": ["Ensure this field has no more than 100 characters."]}),
        ),
        (
            json!({"name": "Existing"}),
            json!({"name": ["alert template with this name already exists."]}),
        ),
        (
            json!({"name": "n", "check_email_alert_severity": ["error", "critical"]}),
            json!({"check_email_alert_severity": {"1": ["\"critical\" is not a valid choice."]}}),
        ),
        (
            json!({"name": "n", "action_type": "email"}),
            json!({"action_type": ["\"email\" is not a valid choice."]}),
        ),
        (json!({"name": "n", "action": 999}), missing("action")),
        (
            json!({"name": "n", "resolved_action_rest": 999}),
            missing("resolved_action_rest"),
        ),
        (
            json!({"name": "n", "action": "abc"}),
            json!({"action": ["Incorrect type. Expected pk value, received str."]}),
        ),
        (
            json!({"name": "n", "excluded_clients": [999]}),
            missing("excluded_clients"),
        ),
        (
            json!({"name": "n", "excluded_sites": [site, 999]}),
            missing("excluded_sites"),
        ),
        (
            json!({"name": "n", "excluded_agents": [999]}),
            missing("excluded_agents"),
        ),
        (
            json!({"name": "n", "excluded_agents": 1}),
            json!({"excluded_agents": ["Expected a list of items but got type \"int\"."]}),
        ),
        (
            json!({"name": "n", "action_timeout": 0}),
            json!({"action_timeout": ["Ensure this value is greater than or equal to 1."]}),
        ),
        (
            json!({"name": "n", "check_periodic_alert_days": -1}),
            json!({"check_periodic_alert_days": ["Ensure this value is greater than or equal to 0."]}),
        ),
        (
            json!({"name": "n", "email_from": "nobody"}),
            json!({"email_from": ["Enter a valid email address."]}),
        ),
        (
            json!({"action_type": "x", "is_active": "yes"}),
            json!({"name": ["This field is required."], "action_type": ["\"x\" is not a valid choice."],
                   "is_active": ["Must be a valid boolean."]}),
        ),
    ];
    for (body, answer) in cases {
        assert_eq!(
            api.post(LIST, &admin, body.clone()).await,
            (StatusCode::BAD_REQUEST, answer),
            "{body}"
        );
    }
    assert_eq!(count(&api, "SELECT count(*) FROM alert_templates").await, 1);

    let path = format!("{LIST}{existing}/");
    let before = one(&api, &admin, existing).await;
    let bad = json!({"name": "Renamed", "excluded_sites": [999]});
    assert_eq!(
        api.put(&path, &admin, bad).await,
        (StatusCode::BAD_REQUEST, missing("excluded_sites"))
    );
    template(&api, &admin, json!({"name": "Other"})).await;
    let taken = api.put(&path, &admin, json!({"name": "Other"})).await;
    assert_eq!(
        taken.1,
        json!({"name": ["alert template with this name already exists."]})
    );
    assert_eq!(one(&api, &admin, existing).await, before);
    assert_eq!(audit_rows(&api, "modify").await, 0);
    for missing in ["/alerts/templates/999/", "/alerts/templates/999/related/"] {
        assert_eq!(api.get(missing, &admin).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        api.put("/alerts/templates/999/", &admin, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.delete("/alerts/templates/999/", &admin).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn server_side_actions_need_the_server_script_permission() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    let existing = template(&api, &admin, json!({"name": "Existing"})).await;
    let manager = user(
        &api,
        "manager",
        &["can_list_alerttemplates", "can_manage_alerttemplates"],
        None,
    )
    .await;
    let server = json!({"name": "Server", "action_type": "server"});
    assert_eq!(api.post(LIST, &manager, server.clone()).await.0, StatusCode::FORBIDDEN);
    let path = format!("{LIST}{existing}/");
    assert_eq!(
        api.put(&path, &manager, json!({"resolved_action_type": "server"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    edit(&api, &manager, existing, json!({"action_type": "rest"})).await;

    let flags = [
        "can_list_alerttemplates",
        "can_manage_alerttemplates",
        "can_run_server_scripts",
    ];
    let operator = user(&api, "operator", &flags, None).await;
    template(&api, &operator, server).await;
    let reader = user(&api, "reader", &["can_list_alerttemplates"], None).await;
    assert_eq!(api.get(LIST, &reader).await.0, StatusCode::OK);
    assert_eq!(
        api.post(LIST, &reader, json!({"name": "R"})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(api.delete(&path, &reader).await.0, StatusCode::FORBIDDEN);
    let nobody = user(&api, "nobody", &[], None).await;
    assert_eq!(api.get(LIST, &nobody).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        api.get(&format!("{path}related/"), &nobody).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn clients_and_sites_take_templates_and_related_lists_them() {
    let (api, admin, acme, hq, _) = api_with_acme_hq().await;
    let t = template(&api, &admin, json!({"name": "Managed"})).await;
    let client = format!("/clients/{acme}/");
    let assign = json!({"client": {"id": acme, "alert_template": t}});
    assert_eq!(
        api.put(&client, &admin, assign).await,
        (StatusCode::OK, json!("Acme was updated"))
    );
    let assign = json!({"site": {"id": hq, "alert_template": t}});
    let answer = api.put(&format!("/clients/sites/{hq}/"), &admin, assign).await;
    assert_eq!(answer, (StatusCode::OK, json!("HQ was updated")));
    let (_, tree) = api.get("/clients/", &admin).await;
    assert_eq!(
        (
            tree[0]["alert_template"].clone(),
            tree[0]["sites"][0]["alert_template"].clone()
        ),
        (json!(t), json!(t))
    );

    let (status, related) = api.get(&format!("{LIST}{t}/related/"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{related}");
    assert_eq!(related["policies"], json!([]));
    assert_eq!(
        related["clients"],
        json!([{"id": acme, "name": "Acme", "alert_template": t}])
    );
    let site = json!({"id": hq, "name": "HQ", "client": acme, "client_name": "Acme", "alert_template": t});
    assert_eq!(related["sites"], json!([site]));
    assert_eq!(
        (related["name"].clone(), related["default_template"].clone()),
        (json!("Managed"), json!(false))
    );
    let db = api.db.pool().get().await.unwrap();
    db.execute("UPDATE core_settings SET alert_template_id = $1", &[&(t as i32)])
        .await
        .unwrap();
    let (_, related) = api.get(&format!("{LIST}{t}/related/"), &admin).await;
    assert_eq!(related["default_template"], true);
    let listed = one(&api, &admin, t).await;
    assert_eq!(
        (listed["applied_count"].clone(), listed["default_template"].clone()),
        (json!(2), json!(true))
    );

    let refused = [
        (
            json!(999),
            json!({"alert_template": ["Invalid pk \"999\" - object does not exist."]}),
        ),
        (
            json!(true),
            json!({"alert_template": ["Incorrect type. Expected pk value, received bool."]}),
        ),
    ];
    for (value, answer) in refused {
        let body = json!({"client": {"name": "Renamed", "alert_template": value}});
        assert_eq!(api.put(&client, &admin, body).await, (StatusCode::BAD_REQUEST, answer));
    }
    let (_, tree) = api.get("/clients/", &admin).await;
    assert_eq!(
        (tree[0]["name"].clone(), tree[0]["alert_template"].clone()),
        (json!("Acme"), json!(t))
    );

    let unassign = json!({"client": {"id": acme, "alert_template": null}});
    assert_eq!(api.put(&client, &admin, unassign).await.0, StatusCode::OK);
    assert_eq!(one(&api, &admin, t).await["applied_count"], 1);
    let sql = "SELECT count(*) FROM audit_logs WHERE object_type = 'client' AND action = 'modify'
               AND after_value->'alert_template' = 'null' AND before_value->>'alert_template' IS NOT NULL";
    assert_eq!(count(&api, sql).await, 1);
    let keep = json!({"client": {"name": "Acme Corp"}});
    assert_eq!(api.put(&client, &admin, keep).await.0, StatusCode::OK);
    let (_, tree) = api.get("/clients/", &admin).await;
    assert_eq!(
        tree[0]["alert_template"],
        Value::Null,
        "a PUT without the field leaves it"
    );
}

#[tokio::test]
async fn the_template_in_force_follows_what_the_endpoints_assign() {
    let (api, admin, acme, hq, installer) = api_with_acme_hq().await;
    let (pk, _) = api.enroll(&installer, &agent_id(1), "alpha", hq).await;
    let in_force = || async {
        let db = api.db.pool().get().await.unwrap();
        let t = templates::for_agent(&**db, AgentPk(pk as i32)).await.unwrap();
        t.map(|t| t.fields.name)
    };
    let default = template(&api, &admin, json!({"name": "Default"})).await;
    let for_client = template(&api, &admin, json!({"name": "Client"})).await;
    let for_site = template(&api, &admin, json!({"name": "Site"})).await;
    assert_eq!(in_force().await, None);
    let db = api.db.pool().get().await.unwrap();
    db.execute("UPDATE core_settings SET alert_template_id = $1", &[&(default as i32)])
        .await
        .unwrap();
    assert_eq!(in_force().await.as_deref(), Some("Default"));
    let body = json!({"client": {"id": acme, "alert_template": for_client}});
    assert_eq!(
        api.put(&format!("/clients/{acme}/"), &admin, body).await.0,
        StatusCode::OK
    );
    assert_eq!(in_force().await.as_deref(), Some("Client"));
    let site = format!("/clients/sites/{hq}/");
    let body = json!({"site": {"id": hq, "alert_template": for_site}});
    assert_eq!(api.put(&site, &admin, body).await.0, StatusCode::OK);
    assert_eq!(in_force().await.as_deref(), Some("Site"));

    let steps = [
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
    assert_eq!(
        api.delete(&format!("{LIST}{for_client}/"), &admin).await.0,
        StatusCode::OK
    );
    assert_eq!(in_force().await.as_deref(), Some("Default"));
}
