//! Checks from the agent's side, as the unmodified Go agent calls the endpoints: due checks, templated script
//! inputs, result bodies of every type evaluated, refused reports, and the alert engine's bookkeeping behind them.

mod common;

use common::checks::{fixture, DISK};
use common::{bravo_at_other, count};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_agent_gets_due_checks_and_every_go_result_body_is_evaluated() {
    let f = fixture().await;
    for body in [
        DISK,
        r#"{"check_type":"cpuload","warning_threshold":70,"error_threshold":90}"#,
        r#"{"check_type":"ping","name":"gw","ip":"10.0.0.1","alert_severity":"error"}"#,
        r#"{"check_type":"winsvc","svc_name":"cron","svc_display_name":"Cron"}"#,
        r#"{"check_type":"eventlog","name":"e","log_name":"System","event_type":"ERROR","event_id":7,
            "fail_when":"contains","number_of_events_b4_alert":1,"search_last_days":1}"#,
    ] {
        assert_eq!(f.add(serde_json::from_str(body).unwrap()).await.0, StatusCode::OK);
    }
    let due = f.runner("checkrunner").await;
    assert_eq!(due["checks"].as_array().unwrap().len(), 5);
    let interval = due["check_interval"].as_i64().unwrap();
    assert!((121..=180).contains(&interval), "{interval}");
    let (disk, cpu, ping, svc, evt) = (
        f.check_id("diskspace").await,
        f.check_id("cpuload").await,
        f.check_id("ping").await,
        f.check_id("winsvc").await,
        f.check_id("eventlog").await,
    );
    let ok = (StatusCode::OK, json!("ok"));
    assert_eq!(
        f.report(
            disk,
            json!({"more_info": "Total: 10 GB, Free: 9 GB", "percent_used": 10.0, "exists": true})
        )
        .await,
        ok
    );
    assert_eq!(f.report(cpu, json!({"percent": 42})).await, ok);
    assert_eq!(
        f.report(ping, json!({"status": "failing", "output": "timeout"})).await,
        ok
    );
    assert_eq!(
        f.report(svc, json!({"status": "passing", "more_info": "Status: running"}))
            .await,
        ok
    );
    let log =
        json!([{"source": "kernel", "eventType": "ERROR", "eventID": 7, "message": "oops", "time": "t", "uid": 1}]);
    assert_eq!(f.report(evt, json!({"log": log})).await, ok);
    // Reported checks are no longer due; runchecks/ hands out all of them with the plain interval.
    assert_eq!(f.runner("checkrunner").await["checks"], json!([]));
    let all = f.runner("runchecks").await;
    assert_eq!(
        (all["checks"].as_array().unwrap().len(), &all["check_interval"]),
        (5, &json!(120))
    );
    let checks = f.checks().await;
    let status = |kind: &str| {
        let c = checks.iter().find(|c| c["check_type"] == kind).unwrap();
        c["check_result"]["status"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        ["diskspace", "cpuload", "ping", "winsvc", "eventlog"].map(status),
        ["passing", "passing", "failing", "passing", "failing"].map(String::from)
    );
    assert_eq!(count(&f.api, "SELECT count(*) FROM check_history").await, 5);
    // History of the disk check: percent free, newest first.
    let result = checks.iter().find(|c| c["check_type"] == "diskspace").unwrap()["check_result"]["id"].clone();
    let (status, points) = f
        .api
        .call(
            Method::PATCH,
            &format!("/checks/{result}/history/"),
            Some(&f.admin),
            Some(json!({"timeFilter": 1})),
        )
        .await;
    assert_eq!((status, &points[0]["y"]), (StatusCode::OK, &json!(90)));
}

#[tokio::test]
async fn results_that_do_not_belong_or_do_not_parse_are_refused_and_change_nothing() {
    let f = fixture().await;
    f.add(serde_json::from_str(DISK).unwrap()).await;
    let disk = f.check_id("diskspace").await;
    let (bravo, _, _) = bravo_at_other(&f.api, &f.admin).await;
    let (status, _) = f
        .api
        .post(
            "/checks/",
            &f.admin,
            json!({"check_type": "memory", "agent": bravo, "error_threshold": 50}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let theirs: i64 = count(&f.api, "SELECT id::bigint FROM checks WHERE check_type = 'memory'").await;
    let bad = |answer: &str| (StatusCode::BAD_REQUEST, json!(answer));
    assert_eq!(
        f.report(theirs, json!({"percent": 99})).await,
        bad("This check does not belong to this agent")
    );
    let path = "/api/v3/checkrunner/";
    let (status, body) = f
        .api
        .call(Method::PATCH, path, Some(&f.token), Some(json!({"id": disk})))
        .await;
    assert_eq!((status, body), bad("Agent upgrade required"));
    let (status, _) = f.report(disk, json!({"percent_used": "lots"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(f.report(999_999, json!({"percent": 1})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(count(&f.api, "SELECT count(*) FROM check_history").await, 0);
    assert_eq!(
        count(&f.api, "SELECT count(*) FROM check_results WHERE last_run IS NOT NULL").await,
        0
    );
}

#[tokio::test]
async fn a_failing_check_opens_one_alert_owes_one_email_and_resolves_when_it_passes() {
    let f = fixture().await;
    f.add(serde_json::from_str(DISK).unwrap()).await;
    let disk = f.check_id("diskspace").await;
    let full = json!({"more_info": "Total: 10 GB, Free: 0.5 GB", "percent_used": 95.0, "exists": true});
    for _ in 0..3 {
        f.report(disk, full.clone()).await;
    }
    assert_eq!(
        count(
            &f.api,
            "SELECT count(*) FROM alerts WHERE NOT resolved AND severity = 'error'"
        )
        .await,
        1
    );
    assert_eq!(count(&f.api, "SELECT fail_count::bigint FROM check_results").await, 3);
    // Three failing runs owe the email once.
    assert_eq!(
        count(&f.api, "SELECT count(*) FROM alert_notifications WHERE kind = 'email'").await,
        1
    );
    let summary = count(&f.api, "SELECT failing::bigint FROM agent_check_summary").await;
    assert_eq!(summary, 1);
    f.report(disk, json!({"more_info": "fine", "percent_used": 20.0, "exists": true}))
        .await;
    assert_eq!(count(&f.api, "SELECT count(*) FROM alerts WHERE resolved").await, 1);
    assert_eq!(
        count(&f.api, "SELECT passing::bigint FROM agent_check_summary").await,
        1
    );
    // Without a template nothing asks for a resolved email (upstream's check_email_on_resolved).
    assert_eq!(count(&f.api, "SELECT count(*) FROM alert_notifications").await, 1);
}

#[tokio::test]
async fn script_checks_reach_the_agent_with_their_inputs_templated_for_it() {
    let f = fixture().await;
    let script = json!({"name": "probe", "shell": "shell", "script_body": "echo {{snippet}}", "default_timeout": 30});
    assert_eq!(f.api.post("/scripts/", &f.admin, script).await.0, StatusCode::OK);
    let script = common::script_id(&f.api, &f.admin, "probe").await;
    let (status, msg) = f
        .add(
            json!({"check_type": "script", "script": script, "script_args": ["-n", "{{agent.hostname}}"],
                    "env_vars": ["HOST={{agent.hostname}}"], "timeout": 20, "info_return_codes": [3]}),
        )
        .await;
    assert_eq!((status, msg), (StatusCode::OK, json!("Script Check: probe was added!")));
    let all = f.runner("runchecks").await;
    let check = &all["checks"][0];
    assert_eq!(check["script_args"], json!(["-n", "'alpha'"]));
    assert_eq!(check["env_vars"], json!(["HOST=alpha"]));
    assert_eq!(
        (&check["script"]["code"], &check["script"]["shell"]),
        (&json!("echo {{snippet}}"), &json!("shell"))
    );
    assert_eq!(
        (&check["timeout"], &check["info_return_codes"]),
        (&json!(20), &json!([3]))
    );
    let id = check["id"].as_i64().unwrap();
    f.report(id, json!({"stdout": "x", "stderr": "", "retcode": 3, "runtime": 0.25}))
        .await;
    let checks = f.checks().await;
    let result = &checks[0]["check_result"];
    assert_eq!(
        (&result["status"], &result["alert_severity"], &result["execution_time"]),
        (&json!("failing"), &json!("info"), &json!("0.2500"))
    );
}
