//! The alert template endpoints (/alerts/templates/ CRUD): the serializer's shape and defaults, action names
//! and settings flags, partial edits, DRF validation messages, permissions and audit rows.

mod common;

use common::alert_templates::{create, edit, get, LIST};
use common::{agent_id, api_with_acme_hq, count, keys, user, TestApi};
use reqwest::StatusCode;
use serde_json::{json, Value};
use trmm_db::scripts::{self, ScriptFields};

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
    let id = scripts::create(&db, scripts::USER_DEFINED, None, &fields, "admin")
        .await
        .unwrap();
    i64::from(id.0)
}

async fn audit_rows(api: &TestApi, action: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM audit_logs WHERE object_type = 'alerttemplate' AND action = '{action}'");
    count(api, &sql).await
}

/// Asserts each `(key, value)` of `expected` in `t`.
fn assert_fields(t: &Value, expected: &[(&str, Value)]) {
    for (key, value) in expected {
        assert_eq!(&t[*key], value, "{key} in {t}");
    }
}

/// AlertTemplateSerializer's keys, sorted.
const TEMPLATE_KEYS: &str = "\
    action action_args action_env_vars action_name action_rest action_timeout action_type agent_always_alert \
    agent_always_email agent_always_text agent_email_on_resolved agent_periodic_alert_days agent_script_actions \
    agent_settings agent_text_on_resolved applied_count check_always_alert check_always_email check_always_text \
    check_dashboard_alert_severity check_email_alert_severity check_email_on_resolved check_periodic_alert_days \
    check_script_actions check_settings check_text_alert_severity check_text_on_resolved core_settings created_by \
    created_time default_template email_from email_recipients exclude_servers exclude_workstations \
    excluded_agents excluded_clients excluded_sites id is_active modified_by modified_time name resolved_action \
    resolved_action_args resolved_action_env_vars resolved_action_name resolved_action_rest \
    resolved_action_timeout resolved_action_type task_always_alert task_always_email task_always_text \
    task_dashboard_alert_severity task_email_alert_severity task_email_on_resolved task_periodic_alert_days \
    task_script_actions task_settings task_text_alert_severity task_text_on_resolved text_recipients";

#[tokio::test]
async fn a_new_template_has_every_field_with_upstreams_defaults() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    create(&api, &admin, json!({"name": "Minimal"})).await;
    let (status, all) = api.get(LIST, &admin).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(keys(&all[0]), TEMPLATE_KEYS.split_whitespace().collect::<Vec<_>>());
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
    assert_fields(&all[0], &defaults);
    assert!(all[0]["created_time"].as_str().unwrap().ends_with('Z'), "{all}");
    assert_eq!(audit_rows(&api, "add").await, 1);
}

#[tokio::test]
async fn templates_name_their_actions_and_an_edit_keeps_what_it_does_not_send() {
    let (api, admin, acme, _, _) = api_with_acme_hq().await;
    let (hook, cleanup) = (url_action(&api, "Notify").await, script(&api, "Cleanup").await);
    let full = json!({
        "name": "Servers", "action_type": "rest", "action_rest": hook, "resolved_action_type": "script",
        "resolved_action": cleanup, "resolved_action_args": ["-x", "{{agent.hostname}}"],
        "check_email_alert_severity": ["error"], "agent_always_email": true, "email_from": "alerts@example.com",
        "email_recipients": ["ops@example.com"], "excluded_clients": [acme], "exclude_workstations": true,
        "task_periodic_alert_days": 2, "applied_count": 99,
    });
    let servers = create(&api, &admin, full).await;
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
    assert_fields(&get(&api, &admin, servers).await, &shown);

    let change = json!({"name": "Servers 2", "agent_always_email": null, "excluded_clients": []});
    edit(&api, &admin, servers, change).await;
    let kept = [
        ("name", json!("Servers 2")),
        ("agent_always_email", Value::Null),
        ("excluded_clients", json!([])),
        ("action_rest", json!(hook)),
        ("agent_settings", json!(false)),
        ("action_name", json!("Notify")),
    ];
    assert_fields(&get(&api, &admin, servers).await, &kept);
    assert_eq!(
        (audit_rows(&api, "add").await, audit_rows(&api, "modify").await),
        (1, 1)
    );

    let path = format!("{LIST}{servers}/");
    assert_eq!(api.delete(&path, &admin).await, (StatusCode::OK, json!("ok")));
    assert_eq!(api.get(&path, &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(audit_rows(&api, "delete").await, 1);
    assert_eq!(api.get(LIST, &admin).await, (StatusCode::OK, json!([])));
}

/// Bodies `POST /alerts/templates/` refuses while a template "Existing" and a site `site` exist, with the
/// answers.
fn refused(site: i64) -> Vec<(Value, Value)> {
    let missing = |field: &str| json!({ field: ["Invalid pk \"999\" - object does not exist."] });
    let at_least =
        |field: &str, n: i32| json!({ field: [format!("Ensure this value is greater than or equal to {n}.")] });
    vec![
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
        (json!({"name": "n", "action_timeout": 0}), at_least("action_timeout", 1)),
        (
            json!({"name": "n", "check_periodic_alert_days": -1}),
            at_least("check_periodic_alert_days", 0),
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
    ]
}

#[tokio::test]
async fn bad_template_bodies_get_drf_messages_and_add_nothing() {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    api.enroll(&installer, &agent_id(1), "alpha", site).await;
    create(&api, &admin, json!({"name": "Existing"})).await;
    for (body, answer) in refused(site) {
        let got = api.post(LIST, &admin, body.clone()).await;
        assert_eq!(got, (StatusCode::BAD_REQUEST, answer), "{body}");
    }
    assert_eq!(count(&api, "SELECT count(*) FROM alert_templates").await, 1);
    assert_eq!(audit_rows(&api, "add").await, 1);
}

#[tokio::test]
async fn a_bad_or_clashing_edit_changes_nothing() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    let existing = create(&api, &admin, json!({"name": "Existing"})).await;
    create(&api, &admin, json!({"name": "Other"})).await;
    let path = format!("{LIST}{existing}/");
    let before = get(&api, &admin, existing).await;
    let bad = json!({"name": "Renamed", "excluded_sites": [999]});
    let answer = json!({"excluded_sites": ["Invalid pk \"999\" - object does not exist."]});
    assert_eq!(api.put(&path, &admin, bad).await, (StatusCode::BAD_REQUEST, answer));
    let taken = json!({"name": ["alert template with this name already exists."]});
    let answer = api.put(&path, &admin, json!({"name": "Other"})).await;
    assert_eq!(answer, (StatusCode::BAD_REQUEST, taken));
    assert_eq!(get(&api, &admin, existing).await, before);
    assert_eq!(audit_rows(&api, "modify").await, 0);

    let unknown = "/alerts/templates/999/";
    assert_eq!(api.get(unknown, &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get(&format!("{unknown}related/"), &admin).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.put(unknown, &admin, json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.delete(unknown, &admin).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn server_side_actions_need_the_server_script_permission() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    let existing = create(&api, &admin, json!({"name": "Existing"})).await;
    let managing = ["can_list_alerttemplates", "can_manage_alerttemplates"];
    let manager = user(&api, "manager", &managing, None).await;
    let server = json!({"name": "Server", "action_type": "server"});
    assert_eq!(api.post(LIST, &manager, server.clone()).await.0, StatusCode::FORBIDDEN);
    let path = format!("{LIST}{existing}/");
    let resolved_on_server = json!({"resolved_action_type": "server"});
    assert_eq!(
        api.put(&path, &manager, resolved_on_server).await.0,
        StatusCode::FORBIDDEN
    );
    edit(&api, &manager, existing, json!({"action_type": "rest"})).await;

    let flags = [managing[0], managing[1], "can_run_server_scripts"];
    let operator = user(&api, "operator", &flags, None).await;
    create(&api, &operator, server).await;
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
