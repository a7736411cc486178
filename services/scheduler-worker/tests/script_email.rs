//! Emailed script runs end to end: trmm-api queues the job on real Redis, trmm-worker runs the script through
//! the AgentGateway over a real nats-server and mails the result to a real SMTP server (aiosmtpd, a maildir
//! sink); a failed send is retried without running the script again.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::mail::{smtp_settings, wait_for_mail, Smtp};
use support::{responders, seed, suite, Seen, Suite, DEADLINE};
use trmm_api::testing::wait_until;
use trmm_testkit::free_port;

/// An agent answering scripts, a script "Echo", and its id.
async fn agent_and_script(s: &Suite) -> (String, Seen, i32) {
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let id = seed(&s.api, site, 1, 1).await.remove(0);
    let seen = responders(&s.nats.url(), std::slice::from_ref(&id), false).await;
    let body = json!({"name": "Echo", "shell": "shell", "script_body": "echo \"$@\""});
    let (status, _) = s.api.call(Method::POST, "/scripts/", Some(&s.admin), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let db = s.api.db.pool().get().await.unwrap();
    let row = db
        .query_one("SELECT id FROM scripts WHERE name = 'Echo'", &[])
        .await
        .unwrap();
    (id, seen, row.get(0))
}

async fn run_script(s: &Suite, agent: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/agents/{agent}/runscript/");
    s.api.call(Method::POST, &path, Some(&s.admin), Some(body)).await
}

async fn script_results(s: &Suite) -> Option<Value> {
    let db = s.api.db.pool().get().await.unwrap();
    let row = db
        .query_opt(
            "SELECT script_results FROM agent_history WHERE type = 'script_run'",
            &[],
        )
        .await
        .unwrap();
    row.and_then(|r| r.get(0))
}

fn script_runs(seen: &Seen) -> usize {
    let seen = seen.lock().unwrap();
    seen.iter().filter(|(_, c)| c.func == "runscriptfull").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn results_are_mailed_to_the_default_recipients() {
    let s = suite(true, &[]).await;
    let (agent, seen, script) = agent_and_script(&s).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let maildir = dir.path().join("maildir");
    let _smtp = Smtp::start(port, &maildir).await;

    smtp_settings(&s, port, &[]).await;
    let base = json!({"script": script, "output": "email", "args": ["hello", "mail"], "timeout": 5});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let (status, body) = run_script(&s, &agent, with(json!({"emailMode": "default"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = run_script(&s, &agent, with(json!({"emailMode": "bulk"}))).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"emailMode": ["\"bulk\" is not a valid choice."]})
        )
    );
    let (status, body) = run_script(&s, &agent, with(json!({"emailMode": "custom", "emails": []}))).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"emails": ["This list may not be empty."]})
        )
    );
    let (status, _) = run_script(&s, &agent, with(json!({"emailMode": "custom", "emails": ["nope"]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(script_results(&s).await, None, "refused requests record nothing");

    smtp_settings(&s, port, &["ops@example.com", "lead@example.com"]).await;
    let (status, body) = run_script(&s, &agent, with(json!({"emailMode": "default"}))).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Echo will now be run on sim-1")));

    let mail = wait_for_mail(&maildir).await;
    assert!(mail.contains("Subject: sim-1 Echo Results"), "{mail}");
    assert!(mail.contains("To: ops@example.com, lead@example.com"), "{mail}");
    assert!(mail.contains("From: TRMM <rmm@example.com>"), "{mail}");
    assert!(mail.contains("Return code: 0"), "{mail}");
    assert!(mail.contains("Stdout: hello mail"), "{mail}");
    let stored = script_results(&s).await.expect("the history row has the script result");
    assert_eq!(stored["stdout"], "hello mail");
    assert_eq!(script_runs(&seen), 1);
    let db = s.api.db.pool().get().await.unwrap();
    assert_eq!(trmm_db::audit::count(&db, "execute_script", "admin").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_send_is_retried_without_running_the_script_again() {
    let s = suite(true, &[]).await;
    let (agent, seen, script) = agent_and_script(&s).await;
    let port = free_port();
    smtp_settings(&s, port, &[]).await;

    // A broken mail server: it accepts connections and hangs up before the greeting.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = tries.clone();
    let broken = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });

    let body = json!({"script": script, "output": "email", "emailMode": "custom",
                      "emails": ["someone@example.com"], "args": ["retried"], "timeout": 5});
    let (status, body) = run_script(&s, &agent, body).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Echo will now be run on sim-1")));
    wait_until("two failed sends", DEADLINE, || async {
        tries.load(Ordering::SeqCst) >= 2
    })
    .await;
    assert_eq!(script_results(&s).await.unwrap()["stdout"], "retried");
    broken.abort();
    let _ = broken.await;

    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let _smtp = Smtp::start(port, &maildir).await;
    let mail = wait_for_mail(&maildir).await;
    assert!(mail.contains("To: someone@example.com"), "{mail}");
    assert!(mail.contains("Stdout: retried"), "{mail}");
    assert_eq!(script_runs(&seen), 1, "the script ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_that_fails_every_attempt_ends_in_the_debug_log() {
    let s = suite(true, &[]).await;
    let (agent, _, script) = agent_and_script(&s).await;
    // Nothing listens there: every attempt fails to connect.
    smtp_settings(&s, free_port(), &[]).await;

    let body = json!({"script": script, "output": "email", "emailMode": "custom",
                      "emails": ["someone@example.com"], "args": ["lost"], "timeout": 5});
    let (status, _) = run_script(&s, &agent, body).await;
    assert_eq!(status, StatusCode::OK);
    let db = s.api.db.pool().get().await.unwrap();
    let entries = "SELECT log_level, log_type, message, agent_pk IS NOT NULL FROM debug_logs";
    wait_until("the failed job's debug log entry", DEADLINE, || async {
        !db.query(entries, &[]).await.unwrap().is_empty()
    })
    .await;
    let row = db.query_one(entries, &[]).await.unwrap();
    let message: String = row.get(2);
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, bool>(3)),
        ("error".into(), "scripting".into(), true)
    );
    assert!(message.starts_with("Emailing the results of script run "), "{message}");
    let job = db
        .query_one("SELECT outcome FROM jobs WHERE kind = 'script_email'", &[])
        .await
        .unwrap();
    assert!(job.get::<_, Option<String>>(0).unwrap().starts_with("failed: "));
}
