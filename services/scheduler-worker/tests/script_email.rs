//! Emailed script runs end to end: trmm-api queues the job on real Redis, trmm-worker runs the script through
//! the AgentGateway over a real nats-server and mails the result to a real SMTP server (aiosmtpd, a maildir
//! sink); a failed send is retried without running the script again.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{responders, seed, suite, Seen, Suite, DEADLINE};
use trmm_api::testing::wait_until;
use trmm_testkit::free_port;

/// A Python with aiosmtpd: TRMM_TEST_AIOSMTPD (scripts/test.sh sets it), else the venv scripts/lib.sh makes.
fn aiosmtpd_python() -> PathBuf {
    if let Some(path) = std::env::var_os("TRMM_TEST_AIOSMTPD") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache"));
    let python = cache.join("trmm-rs/aiosmtpd-venv/bin/python");
    assert!(
        python.exists(),
        "no aiosmtpd: set TRMM_TEST_AIOSMTPD to a python that has it, or run scripts/test.sh once, or \
         `python3 -m venv {0} && {0}/bin/pip install aiosmtpd`",
        cache.join("trmm-rs/aiosmtpd-venv").display()
    );
    python
}

/// aiosmtpd on 127.0.0.1:`port` storing every message in the maildir `maildir` (which it creates: Python's
/// Maildir only makes its subfolders for a folder that does not exist yet); killed on drop.
struct Smtp(Child);

impl Smtp {
    async fn start(port: u16, maildir: &Path) -> Smtp {
        let child = Command::new(aiosmtpd_python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .spawn()
            .expect("starting aiosmtpd");
        let smtp = Smtp(child);
        wait_until("aiosmtpd to listen", DEADLINE, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        smtp
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The messages delivered to the maildir so far.
fn mails(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect()
}

async fn wait_for_mail(maildir: &Path) -> String {
    wait_until("the script results mail", DEADLINE, || async {
        !mails(maildir).is_empty()
    })
    .await;
    mails(maildir).remove(0)
}

/// Points the core settings at the SMTP server on `port` (plain relay).
async fn smtp_settings(s: &Suite, port: u16, recipients: &[&str]) {
    let db = s.api.db.pool().get().await.unwrap();
    let recipients: Vec<String> = recipients.iter().map(|r| (*r).to_owned()).collect();
    db.execute(
        "UPDATE core_settings SET smtp_host = '127.0.0.1', smtp_port = $1, smtp_requires_auth = false,
                smtp_from_email = 'rmm@example.com', smtp_from_name = 'TRMM', email_alert_recipients = $2",
        &[&i32::from(port), &recipients],
    )
    .await
    .unwrap();
}

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
    assert_eq!(
        trmm_db::audit::count(&**db, "execute_script", "admin").await.unwrap(),
        1
    );
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
