//! Acceptance of the monitoring loop with the real trmm-agent (common/stack.rs plus trmm-worker in-process): a
//! disk check on `/` whose error threshold is above the free space fails at the next run-now, opens one alert and
//! sends one email (a real aiosmtpd) and one webhook call (a local HTTP receiver); lowering the threshold makes
//! the next run pass, resolve the alert and send exactly one resolved email. Everything is configured through the
//! dashboard endpoints.

mod common;
#[allow(dead_code)] // shared with e2e.rs, which uses the rest
#[path = "common/stack.rs"]
mod stack;

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stack::{eventually, start_worker, Stack, DEADLINE};
use trmm_testkit::free_port;
use trmm_testkit::http_receiver::HttpReceiver;
use trmm_testkit::smtp::{mails, SmtpSecurity, SmtpServer};

async fn call(stack: &Stack, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = stack.api.call(method, path, Some(&stack.admin), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    answer
}

/// Asks the agent to run its checks now; a run still going answers "busy", so ask until it starts one.
async fn run_now(stack: &Stack, agent: &str) {
    eventually("run now", DEADLINE, async || {
        let (status, answer) = stack
            .api
            .call(Method::POST, &format!("/checks/{agent}/run/"), Some(&stack.admin), None)
            .await;
        (status == StatusCode::OK).then_some(()).ok_or(answer.to_string())
    })
    .await;
}

/// The Subject header of each mail, unfolded.
fn subjects(maildir: &Path) -> Vec<String> {
    mails(maildir)
        .iter()
        .filter_map(|m| {
            let mut lines = m.lines().skip_while(|l| !l.starts_with("Subject: "));
            let first = lines.next()?.strip_prefix("Subject: ")?.to_owned();
            let folded = lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t'));
            Some(folded.fold(first, |s, l| format!("{s} {}", l.trim())))
        })
        .collect()
}

/// Every notification owed so far is done; returns how many there were.
async fn notifications_done(stack: &Stack) -> i64 {
    eventually("notifications delivered", DEADLINE, async || {
        let db = stack.api.db.pool().get().await.unwrap();
        let row = db
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE done_at IS NULL) FROM alert_notifications",
                &[],
            )
            .await
            .unwrap();
        let (all, open): (i64, i64) = (row.get(0), row.get(1));
        (open == 0).then_some(all).ok_or(format!("{open} of {all} open"))
    })
    .await
}

#[tokio::test]
async fn a_failing_disk_check_alerts_by_email_and_webhook_once_and_its_recovery_mails_once() {
    let (stack, config) = Stack::enrolled().await;
    let _agent = stack.spawn_svc(&stack.config_path);
    let id = config.agent_id.clone();
    eventually("agent connected", DEADLINE, async || stack.ping(&id).await).await;
    let _worker = start_worker(&stack, &[]);
    let maildir = tempfile::tempdir().unwrap();
    let maildir = maildir.path().join("mail");
    let port = free_port();
    let _smtp = SmtpServer::start(port, &maildir, SmtpSecurity::Plain).await;
    let hook = HttpReceiver::start(200, "received").await;

    call(
        &stack,
        Method::PUT,
        "/core/settings/",
        json!({"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_requires_auth": false,
               "smtp_from_email": "rmm@example.com", "email_alert_recipients": ["ops@example.com"]}),
    )
    .await;
    call(
        &stack,
        Method::POST,
        "/core/urlaction/",
        json!({"name": "hook", "action_type": "rest", "rest_method": "post",
               "pattern": format!("{}/alert?host={{{{agent.hostname}}}}", hook.url()),
               "rest_body": "{\"text\": \"{{alert.message}}\"}", "rest_headers": ""}),
    )
    .await;
    let actions = call(&stack, Method::GET, "/core/urlaction/", Value::Null).await;
    let action = actions[0]["id"].clone();
    call(
        &stack,
        Method::POST,
        "/alerts/templates/",
        json!({"name": "ops", "action_type": "rest", "action_rest": action, "check_email_on_resolved": true}),
    )
    .await;
    let templates = call(&stack, Method::GET, "/alerts/templates/", Value::Null).await;
    let template = templates[0]["id"].clone();
    call(
        &stack,
        Method::PUT,
        "/core/settings/",
        json!({"alert_template": template}),
    )
    .await;

    call(
        &stack,
        Method::POST,
        "/checks/",
        json!({"agent": id, "check_type": "diskspace", "disk": "/", "error_threshold": 99, "email_alert": true}),
    )
    .await;
    run_now(&stack, &id).await;
    eventually("the failure email and the webhook", DEADLINE, async || {
        let (m, h) = (mails(&maildir).len(), hook.received().len());
        (m >= 1 && h >= 1)
            .then_some(())
            .ok_or(format!("{m} mails, {h} webhook calls"))
    })
    .await;
    assert_eq!(notifications_done(&stack).await, 2, "the email and the action");
    let alerts = call(&stack, Method::PATCH, "/alerts/", json!({})).await;
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(
        (&alerts[0]["alert_type"], &alerts[0]["severity"]),
        (&json!("check"), &json!("error"))
    );
    let call_seen = &hook.received()[0];
    assert_eq!(
        (call_seen.method.as_str(), call_seen.header("content-type")),
        ("POST", Some("application/json"))
    );
    assert!(call_seen.path.starts_with("/alert?host="), "{}", call_seen.path);
    assert!(call_seen.text().contains("that failed."), "{}", call_seen.text());
    assert!(
        subjects(&maildir)[0].contains("Disk Space Check: Drive /"),
        "{:?}",
        subjects(&maildir)
    );

    // Below the free space: the next run passes, resolves the alert and mails its recovery once.
    let checks = call(&stack, Method::GET, &format!("/agents/{id}/checks/"), Value::Null).await;
    let check = checks[0]["id"].clone();
    call(
        &stack,
        Method::PUT,
        &format!("/checks/{check}/"),
        json!({"error_threshold": 1}),
    )
    .await;
    run_now(&stack, &id).await;
    eventually("the alert resolved", DEADLINE, async || {
        let alerts = call(&stack, Method::PATCH, "/alerts/", json!({"resolvedFilter": false})).await;
        alerts
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(())
            .ok_or(alerts.to_string())
    })
    .await;
    assert_eq!(notifications_done(&stack).await, 3, "plus the resolved email");
    let subjects = subjects(&maildir);
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects.iter().any(|s| s.ends_with("Resolved")), "{subjects:?}");
    assert_eq!(
        hook.received().len(),
        1,
        "no resolve action is set: one webhook call in all"
    );
}
