//! Checks through the dashboard endpoints: shapes, Tactical RMM's validation messages, reset, run now, scope,
//! and the agent table's check summary and template. The agent's side is in check_results.rs.

mod common;

use common::checks::{fixture, DISK};
use common::{count, user};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn every_check_type_is_added_listed_and_described_as_upstream() {
    let f = fixture().await;
    for (body, added) in [
        (
            DISK,
            "Disk Space Check: Drive / -  Warning Threshold: 25% Error Threshold: 10% was added!",
        ),
        (
            r#"{"check_type":"cpuload","warning_threshold":70,"error_threshold":90}"#,
            "CPU Load Check -  Warning Threshold: 70% Error Threshold: 90% was added!",
        ),
        (
            r#"{"check_type":"memory","warning_threshold":0,"error_threshold":90}"#,
            "Memory Check -  Error Threshold: 90% was added!",
        ),
        (
            r#"{"check_type":"ping","name":"gw","ip":"10.0.0.1"}"#,
            "Ping Check: gw was added!",
        ),
        (
            r#"{"check_type":"winsvc","svc_name":"cron","svc_display_name":"Cron","pass_if_start_pending":true}"#,
            "Service Check: Cron was added!",
        ),
        (
            r#"{"check_type":"eventlog","name":"ssh","log_name":"Security","event_id_is_wildcard":true,"event_id":4625,
            "event_type":"ERROR","fail_when":"contains","search_last_days":1}"#,
            "Event Log Check: ssh was added!",
        ),
    ] {
        let (status, msg) = f.add(serde_json::from_str(body).unwrap()).await;
        assert_eq!((status, msg), (StatusCode::OK, json!(added)));
    }
    let all = f.checks().await;
    assert_eq!(all.len(), 6);
    let event = all.iter().find(|c| c["check_type"] == "eventlog").unwrap();
    // A wildcard event check stores event id 0, as upstream.
    assert_eq!(event["event_id"], 0);
    let disk = all.iter().find(|c| c["check_type"] == "diskspace").unwrap();
    for key in [
        "id",
        "agent",
        "policy",
        "readable_desc",
        "check_result",
        "alert_template",
        "assigned_tasks",
        "fails_b4_alert",
        "run_interval",
        "info_return_codes",
        "created_time",
    ] {
        assert!(disk.get(key).is_some(), "missing {key} in {disk}");
    }
    assert_eq!(disk["check_result"], json!({}));
    let (status, one) = f.api.get(&format!("/checks/{}/", disk["id"]), &f.admin).await;
    assert_eq!((status, &one["disk"]), (StatusCode::OK, &json!("/")));
    let (status, list) = f.api.get("/checks/", &f.admin).await;
    assert_eq!((status, list.as_array().unwrap().len()), (StatusCode::OK, 6));
}

#[tokio::test]
async fn bad_checks_get_upstreams_400_and_change_nothing() {
    let f = fixture().await;
    f.add(json!({"check_type": "memory", "warning_threshold": 70, "error_threshold": 90}))
        .await;
    let before = count(&f.api, "SELECT count(*) FROM checks").await;
    for (body, answer) in [
        (
            json!({"check_type": "registry"}),
            json!({"check_type": ["\"registry\" is not a valid choice."]}),
        ),
        (
            json!({"check_type": "memory", "warning_threshold": 60, "error_threshold": 80}),
            json!({"non_field_errors": ["A memory check for this agent already exists"]}),
        ),
        (
            json!({"check_type": "diskspace", "disk": "/", "warning_threshold": 10, "error_threshold": 20}),
            json!({"non_field_errors": ["Warning threshold must be greater than Error Threshold"]}),
        ),
        (
            json!({"check_type": "cpuload", "warning_threshold": 90, "error_threshold": 70}),
            json!({"non_field_errors": ["Warning threshold must be less than Error Threshold"]}),
        ),
        (
            json!({"check_type": "cpuload", "warning_threshold": 0, "error_threshold": 0}),
            json!({"non_field_errors": ["Warning threshold or Error Threshold must be set"]}),
        ),
        (
            json!({"check_type": "ping", "name": "x", "ip": "not a host!"}),
            json!({"non_field_errors": ["Please enter a valid IP address or domain name"]}),
        ),
        (
            json!({"check_type": "cpuload", "warning_threshold": 100, "error_threshold": -1}),
            json!({"warning_threshold": ["Ensure this value is less than or equal to 99."],
                   "error_threshold": ["Ensure this value is greater than or equal to 0."]}),
        ),
        (
            json!({"check_type": "script", "script": 999_999}),
            json!({"script": ["Invalid pk \"999999\" - object does not exist."]}),
        ),
    ] {
        let (status, got) = f.add(body.clone()).await;
        assert_eq!((status, got), (StatusCode::BAD_REQUEST, answer), "{body}");
    }
    let (status, _) = f
        .add(json!({"check_type": "diskspace", "disk": "/", "error_threshold": 5}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, got) = f
        .add(json!({"check_type": "diskspace", "disk": "/", "error_threshold": 7}))
        .await;
    assert_eq!(
        (status, got),
        (
            StatusCode::BAD_REQUEST,
            json!({"non_field_errors": ["A disk check for Drive / already exists!"]})
        )
    );
    assert_eq!(count(&f.api, "SELECT count(*) FROM checks").await, before + 1);
    // An unknown agent is a 404, as upstream's get_object_or_404.
    let (status, _) = f
        .api
        .post(
            "/checks/",
            &f.admin,
            json!({"check_type": "memory", "agent": common::agent_id(9), "error_threshold": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reset_run_now_and_scope() {
    let f = fixture().await;
    f.add(serde_json::from_str(DISK).unwrap()).await;
    let disk = f.check_id("diskspace").await;
    f.report(disk, json!({"more_info": "", "percent_used": 0.0, "exists": false}))
        .await;
    let result = count(&f.api, "SELECT id FROM check_results").await;
    let (status, msg) = f
        .api
        .post(&format!("/checks/{result}/reset/"), &f.admin, json!({}))
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("The check status was reset")));
    assert_eq!(count(&f.api, "SELECT count(*) FROM alerts WHERE NOT resolved").await, 0);
    assert_eq!(
        count(&f.api, "SELECT count(*) FROM check_results WHERE status = 'passing'").await,
        1
    );
    let (status, msg) = f
        .api
        .post(&format!("/checks/{}/resetall/", f.agent), &f.admin, json!({}))
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("All checks status were reset")));
    // No gateway answers in this test: run now reports the agent unreachable.
    let (status, _) = f
        .api
        .post(&format!("/checks/{}/run/", f.agent), &f.admin, json!({}))
        .await;
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::SERVICE_UNAVAILABLE,
        "{status}"
    );
    // A user limited to another client sees none of it.
    let (other, _) = f.api.client_with_site(&f.admin, "Other", "Main").await;
    let limited = user(
        &f.api,
        "limited",
        &["can_list_checks", "can_manage_checks"],
        Some(other),
    )
    .await;
    let (status, list) = f.api.get("/checks/", &limited).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    assert_eq!(
        f.api.get(&format!("/checks/{disk}/"), &limited).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.api.delete(&format!("/checks/{disk}/"), &limited).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, msg) = f.api.delete(&format!("/checks/{disk}/"), &f.admin).await;
    assert_eq!(status, StatusCode::OK, "{msg}");
    assert_eq!(count(&f.api, "SELECT count(*) FROM check_results").await, 0);
}

#[tokio::test]
async fn the_agent_table_shows_the_check_summary_and_the_template_in_force() {
    let f = fixture().await;
    f.add(serde_json::from_str(DISK).unwrap()).await;
    f.add(json!({"check_type": "cpuload", "warning_threshold": 50, "error_threshold": 90}))
        .await;
    f.add(json!({"check_type": "ping", "name": "gw", "ip": "10.0.0.1", "alert_severity": "info"}))
        .await;
    let row = |list: Value| list.as_array().unwrap()[0].clone();
    let (_, list) = f.api.get("/agents/", &f.admin).await;
    let table = row(list);
    assert_eq!(
        (&table["checks"], &table["alert_template"]),
        (
            &json!({"total": 3, "passing": 3, "failing": 0, "warning": 0, "info": 0, "has_failing_checks": false}),
            &Value::Null
        )
    );
    f.report(
        f.check_id("diskspace").await,
        json!({"more_info": "", "percent_used": 0.0, "exists": false}),
    )
    .await;
    f.report(f.check_id("cpuload").await, json!({"percent": 60})).await;
    f.report(f.check_id("ping").await, json!({"status": "failing", "output": "x"}))
        .await;
    let conn = f.api.db.pool().get().await.unwrap();
    let template: i32 = conn
        .query_one(
            "INSERT INTO alert_templates (name, agent_always_email) VALUES ('T', true) RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    conn.execute("UPDATE clients SET alert_template_id = $1", &[&template])
        .await
        .unwrap();
    let (_, list) = f.api.get("/agents/", &f.admin).await;
    let table = row(list);
    assert_eq!(
        table["checks"],
        json!({"total": 3, "passing": 0, "failing": 1, "warning": 1, "info": 1, "has_failing_checks": true})
    );
    assert_eq!(
        table["alert_template"],
        json!({"name": "T", "always_email": true, "always_text": null, "always_alert": null})
    );
    // An inactive template is skipped.
    conn.execute("UPDATE alert_templates SET is_active = false", &[])
        .await
        .unwrap();
    let (_, list) = f.api.get("/agents/", &f.admin).await;
    assert_eq!(row(list)["alert_template"], Value::Null);
}
