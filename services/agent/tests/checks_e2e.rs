//! Checks end to end: checks added through the real trmm-api's dashboard endpoints, the `runchecks` command
//! sent over the real nats-server, and the real agent's results read back from the dashboard. The journal is
//! a stand-in journalctl: the test machine has no journald.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{request, wait_for_ping, wait_until, Fixture, SECS_30, SECS_5};
use reqwest::StatusCode;
use serde_json::{json, Value};
use trmm_protocol::nats::Command;

#[tokio::test]
async fn runchecks_reports_every_check_to_the_api() {
    let tools = tempfile::tempdir().unwrap();
    let journalctl = tools.path().join("journalctl");
    let entry = r#"{"__REALTIME_TIMESTAMP":"1796637600000000","PRIORITY":"2","SYSLOG_IDENTIFIER":"kernel","_TRANSPORT":"kernel","MESSAGE":"I/O error"}"#;
    std::fs::write(&journalctl, format!("#!/bin/sh\necho '{entry}'\n")).unwrap();
    std::fs::set_permissions(&journalctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fx = Fixture::enrolled(&["--no-public-ip", "--journalctl", journalctl.to_str().unwrap()]).await;
    let agent = fx.spawn_svc();
    let client = fx.client().await;
    let id = fx.agent_id().to_owned();
    wait_for_ping(&client, &id, SECS_30).await;
    for body in [
        json!({"check_type": "diskspace", "disk": "/", "warning_threshold": 25, "error_threshold": 10}),
        json!({"check_type": "memory", "warning_threshold": 70, "error_threshold": 90}),
        json!({"check_type": "ping", "name": "loopback", "ip": "127.0.0.1"}),
        json!({"check_type": "eventlog", "name": "e", "log_name": "System", "event_type": "ERROR",
               "event_id_is_wildcard": true, "fail_when": "contains", "number_of_events_b4_alert": 1,
               "search_last_days": 1}),
    ] {
        let mut body = body;
        body["agent"] = json!(id);
        let (status, answer) = fx.api.post("/checks/", &fx.admin, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let ok: String = request(&client, &id, &Command::new("runchecks", 15), SECS_5).await;
    assert_eq!(ok, "ok");

    let checks = || async {
        let (status, list) = fx.api.get(&format!("/agents/{id}/checks/"), &fx.admin).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array().unwrap().clone()
    };
    let reported = |c: &Value| c["check_result"]["last_run"].is_string();
    wait_until("every check reported", SECS_30, || async {
        checks().await.iter().all(reported)
    })
    .await;
    let checks = checks().await;
    let result = |kind: &str| checks.iter().find(|c| c["check_type"] == kind).unwrap()["check_result"].clone();
    let ping = result("ping");
    assert_eq!(ping["status"], "passing", "{ping}; {}", agent.log());
    assert!(
        ping["more_info"]
            .as_str()
            .unwrap()
            .contains("3 packets transmitted, 3 packets received"),
        "{ping}"
    );
    let disk = result("diskspace");
    assert!(disk["more_info"].as_str().unwrap().starts_with("Total: "), "{disk}");
    assert!(result("memory")["history"].as_array().is_some_and(|h| h.len() == 1));
    let events = result("eventlog");
    assert_eq!(events["status"], "failing", "one ERROR event is enough: {events}");
    assert_eq!(events["extra_details"]["log"][0]["message"], "I/O error", "{events}");
}
