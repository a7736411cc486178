//! Checks end to end through the REST API: the dashboard endpoints (shapes, Tactical RMM's validation messages,
//! scope), and the agent endpoints as the unmodified Go agent calls them (due checks, results of every type),
//! with the alert engine's bookkeeping behind them.

mod common;

use common::{api_with_acme_hq, bravo_at_other, count, user, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Fixture {
    api: TestApi,
    admin: String,
    agent: String,
    token: String,
}

async fn fixture() -> Fixture {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    let agent = common::agent_id(1);
    let (_, token) = api.enroll(&installer, &agent, "alpha", site).await;
    Fixture {
        api,
        admin,
        agent,
        token,
    }
}

impl Fixture {
    async fn add(&self, body: Value) -> (StatusCode, Value) {
        let mut body = body;
        body["agent"] = json!(self.agent);
        self.api.post("/checks/", &self.admin, body).await
    }

    async fn checks(&self) -> Vec<Value> {
        let (status, list) = self
            .api
            .get(&format!("/agents/{}/checks/", self.agent), &self.admin)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array().unwrap().clone()
    }

    async fn check_id(&self, kind: &str) -> i64 {
        let all = self.checks().await;
        all.iter().find(|c| c["check_type"] == kind).unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// The agent's GET of `checkrunner/` (due) or `runchecks/` (all).
    async fn runner(&self, endpoint: &str) -> Value {
        let path = format!("/api/v3/{}/{endpoint}/", self.agent);
        let (status, body) = self.api.call(Method::GET, &path, Some(&self.token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The agent's PATCH of one result, with the fields the Go agent sends.
    async fn report(&self, id: i64, fields: Value) -> (StatusCode, Value) {
        let mut body = json!({"id": id, "agent_id": self.agent});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.api
            .call(Method::PATCH, "/api/v3/checkrunner/", Some(&self.token), Some(body))
            .await
    }
}

const DISK: &str =
    r#"{"check_type":"diskspace","disk":"/","warning_threshold":25,"error_threshold":10,"email_alert":true}"#;

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
