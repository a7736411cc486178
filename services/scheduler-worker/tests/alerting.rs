//! Alert notifications end to end on trmm-worker: availability alerts from the periodic outage and resolve jobs,
//! email to a real SMTP server (aiosmtpd) and SMS to a local HTTP server that speaks Twilio's message-create API,
//! each sent exactly once with two workers, retried when the other side fails, and sent once when the worker
//! sending it is killed mid-send.

mod stack;

use std::path::Path;
use std::time::Duration;

use stack::{eventually, metric, runs, Stack, AGENT};
use tokio::net::TcpListener;
use trmm_db::core_settings::Secret;
use trmm_jobs::PeriodicJob;
use trmm_testkit::free_port;
use trmm_testkit::http_receiver::HttpReceiver;
use trmm_testkit::smtp::{mails, wait_for_mails, SmtpSecurity, SmtpServer};

const DEADLINE: Duration = Duration::from_secs(60);
const TWILIO_CREATED: &str = r#"{"sid": "SM0123456789abcdef", "status": "queued"}"#;
const UNAVAILABLE: &str = r#"{"code": 20503, "message": "Service unavailable"}"#;

/// The agent, overdue since 09:20 (its overdue time is 30 minutes), with email and text alerts on.
async fn overdue_agent(stack: &Stack) {
    stack.sql(AGENT).await;
    stack
        .sql(
            "UPDATE agents SET last_seen = '2030-01-01T09:20:00Z', overdue_email_alert = true,
                overdue_text_alert = true WHERE id = 1",
        )
        .await;
}

/// Mail through the plain relay on `smtp_port`; SMS through Twilio at `twilio` (a token, encrypted).
async fn settings(stack: &Stack, smtp_port: u16, twilio: Option<&str>) {
    stack
        .sql(&format!(
            "UPDATE core_settings SET smtp_host = '127.0.0.1', smtp_port = {smtp_port}, smtp_requires_auth = false,
                smtp_from_email = 'rmm@example.com', email_alert_recipients = '{{ops@example.com}}',
                sms_alert_recipients = '{{+15550001111}}', twilio_number = '+15559990000',
                twilio_account_sid = 'AC0123', twilio_api_url = '{}'",
            twilio.unwrap_or("http://127.0.0.1:9")
        ))
        .await;
    let notifier = trmm_notify::Notifier::new(
        trmm_notify::secret::SecretKey::from_hex(trmm_testkit::SECRET_KEY).unwrap(),
        Vec::new(),
    );
    let db = stack.db.pool().get().await.unwrap();
    notifier
        .store_secret(&db, Secret::TwilioToken, "twilio-token")
        .await
        .unwrap();
}

async fn count(stack: &Stack, sql: &str) -> i64 {
    let db = stack.db.pool().get().await.unwrap();
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// Waits until every notification owed so far is done.
async fn all_done(stack: &Stack, expected: i64) {
    eventually("every notification delivered", || async {
        count(
            stack,
            "SELECT count(*) FROM alert_notifications WHERE done_at IS NOT NULL",
        )
        .await
            == expected
            && count(stack, "SELECT count(*) FROM alert_notifications").await == expected
    })
    .await;
}

fn subjects(maildir: &Path) -> Vec<String> {
    let mut subjects: Vec<String> = mails(maildir)
        .iter()
        .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned)))
        .collect();
    subjects.sort();
    subjects
}

#[tokio::test]
async fn an_overdue_agent_alerts_once_by_email_and_sms_with_two_workers_and_resolves_when_it_returns() {
    let stack = Stack::new("2030-01-01T10:00:00Z").await;
    overdue_agent(&stack).await;
    let maildir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _smtp = SmtpServer::start(port, &maildir.path().join("mail"), SmtpSecurity::Plain).await;
    let twilio = HttpReceiver::start(201, TWILIO_CREATED).await;
    settings(&stack, port, Some(&twilio.url())).await;
    let (_a, _b) = (stack.worker().await, stack.worker().await);
    // Three outage runs (upstream re-evaluates overdue agents every 150 s) owe the email and the SMS once.
    for due in ["2030-01-01T10:00:00Z", "2030-01-01T10:02:30Z", "2030-01-01T10:05:00Z"] {
        stack.set_clock(due);
        stack.enqueue(PeriodicJob::AgentOutages, due).await;
        eventually("the outage run", || async {
            count(&stack, "SELECT count(*) FROM alerts").await == 1
        })
        .await;
        // The sends finish before the test clock jumps past their 180 s lease, as they would in real time
        // (a jump while one is in flight let the other worker take it over and send it again).
        all_done(&stack, 2).await;
    }
    let mail = wait_for_mails(&maildir.path().join("mail"), 1).await;
    assert!(
        mail[0].contains("Subject: Acme, HQ, host-a - data overdue"),
        "{}",
        mail[0]
    );
    assert!(
        mail[0].contains("Data has not been received from client Acme, site HQ, agent host-a"),
        "{}",
        mail[0]
    );
    let sms = twilio.wait_for(1).await;
    assert_eq!(sms[0].path, "/2010-04-01/Accounts/AC0123/Messages.json");
    assert!(sms[0].text().contains("To=%2B15550001111"), "{}", sms[0].text());
    let open = count(
        &stack,
        "SELECT count(*) FROM alerts WHERE NOT resolved AND alert_type = 'availability' AND NOT hidden",
    )
    .await;
    assert_eq!(open, 0, "no dashboard flag: the alert stays hidden");
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM alerts WHERE NOT resolved AND email_sent IS NOT NULL AND sms_sent IS NOT NULL"
        )
        .await,
        1
    );

    // The agent is back: the resolve run closes the alert and sends the recovery email and SMS, once.
    stack
        .sql("UPDATE agents SET last_seen = '2030-01-01T10:06:00Z' WHERE id = 1")
        .await;
    for due in ["2030-01-01T10:06:40Z", "2030-01-01T10:08:00Z"] {
        stack.set_clock(due);
        stack.enqueue(PeriodicJob::ResolveAlerts, due).await;
    }
    eventually("the alert resolved", || async {
        count(&stack, "SELECT count(*) FROM alerts WHERE resolved").await == 1
    })
    .await;
    all_done(&stack, 4).await;
    assert_eq!(
        subjects(&maildir.path().join("mail")),
        ["Acme, HQ, host-a - data overdue", "Acme, HQ, host-a - data received"]
    );
    assert_eq!(twilio.received().len(), 2);
    assert!(
        twilio.received()[1].text().contains("data+received"),
        "{}",
        twilio.received()[1].text()
    );
}

#[tokio::test]
async fn a_failing_twilio_and_an_absent_smtp_server_are_retried_until_each_message_goes_once() {
    let stack = Stack::new("2030-01-01T10:00:00Z").await;
    overdue_agent(&stack).await;
    let twilio = HttpReceiver::start(201, TWILIO_CREATED).await;
    twilio.answer_next(503, UNAVAILABLE);
    let port = free_port();
    settings(&stack, port, Some(&twilio.url())).await;
    let _worker = stack.worker().await;
    stack.enqueue(PeriodicJob::AgentOutages, "2030-01-01T10:00:00Z").await;
    // Nothing listens on the SMTP port yet: the email fails and is given back for a retry.
    eventually("a failed email attempt", || async {
        count(
            &stack,
            "SELECT count(*) FROM alert_notifications WHERE kind = 'email' AND last_error IS NOT NULL",
        )
        .await
            == 1
    })
    .await;
    let maildir = tempfile::tempdir().unwrap();
    let _smtp = SmtpServer::start(port, &maildir.path().join("mail"), SmtpSecurity::Plain).await;
    // The sweep hands the email to a worker again once its next attempt is due.
    stack.set_clock("2030-01-01T10:30:00Z");
    stack
        .enqueue(PeriodicJob::NotificationSweep, "2030-01-01T10:30:00Z")
        .await;
    all_done(&stack, 2).await;
    assert_eq!(wait_for_mails(&maildir.path().join("mail"), 1).await.len(), 1);
    let requests = twilio.received();
    assert_eq!(requests.len(), 2, "one refused by Twilio, one accepted");
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM alert_notifications WHERE outcome LIKE 'sent%' AND attempts >= 2"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_worker_killed_while_sending_an_email_leaves_it_to_another_that_sends_it_once() {
    let stack = Stack::new("2030-01-01T10:00:00Z").await;
    overdue_agent(&stack).await;
    stack
        .sql("UPDATE agents SET overdue_text_alert = false WHERE id = 1")
        .await;
    // An SMTP server that takes the connection and never answers: the send hangs.
    let hole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    settings(&stack, hole.local_addr().unwrap().port(), None).await;
    let first = stack.worker().await;
    stack.enqueue(PeriodicJob::AgentOutages, "2030-01-01T10:00:00Z").await;
    let (_conn, _) = tokio::time::timeout(DEADLINE, hole.accept()).await.unwrap().unwrap();
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM alert_notifications WHERE lease_until IS NOT NULL"
        )
        .await,
        1
    );
    first.kill().await;
    // A real server from now on; the dead worker's lease runs out and the sweep gives the email to another.
    let maildir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _smtp = SmtpServer::start(port, &maildir.path().join("mail"), SmtpSecurity::Plain).await;
    stack.sql(&format!("UPDATE core_settings SET smtp_port = {port}")).await;
    let _second = stack.worker().await;
    stack.set_clock("2030-01-01T10:05:00Z");
    stack
        .enqueue(PeriodicJob::NotificationSweep, "2030-01-01T10:05:00Z")
        .await;
    all_done(&stack, 1).await;
    // Another sweep finds nothing left to do.
    stack.set_clock("2030-01-01T10:06:00Z");
    stack
        .enqueue(PeriodicJob::NotificationSweep, "2030-01-01T10:06:00Z")
        .await;
    stack.enqueue(PeriodicJob::AgentOutages, "2030-01-01T10:05:00Z").await;
    eventually("the runs after delivery", || async {
        count(&stack, "SELECT count(*) FROM alerts WHERE email_sent IS NOT NULL").await == 1
    })
    .await;
    assert_eq!(wait_for_mails(&maildir.path().join("mail"), 1).await.len(), 1);
    assert_eq!(mails(&maildir.path().join("mail")).len(), 1);
}

#[tokio::test]
async fn reminders_wait_for_the_last_round_and_a_failed_number_alone_is_texted_again() {
    let stack = Stack::new("2030-01-01T10:00:00Z").await;
    overdue_agent(&stack).await;
    // A template that reminds every day and texts two numbers; no email.
    stack
        .sql(
            "UPDATE agents SET overdue_email_alert = false WHERE id = 1;
             INSERT INTO alert_templates (id, name, agent_periodic_alert_days, text_recipients)
                VALUES (1, 'daily', 1, '{+15550001111,+15550002222}');
             UPDATE core_settings SET alert_template_id = 1;",
        )
        .await;
    let twilio = HttpReceiver::start(201, TWILIO_CREATED).await;
    twilio.answer_next(201, TWILIO_CREATED);
    twilio.answer_next(503, UNAVAILABLE);
    settings(&stack, free_port(), Some(&twilio.url())).await;
    let worker = stack.worker().await;
    let outages = |n: u64| {
        let worker = &worker;
        async move { metric(worker, &runs(PeriodicJob::AgentOutages)).await == n }
    };
    stack.enqueue(PeriodicJob::AgentOutages, "2030-01-01T10:00:00Z").await;
    // The second number failed: the SMS is retried for it alone.
    eventually("both numbers texted", || async { twilio.received().len() == 3 }).await;
    let to: Vec<String> = twilio.received().iter().map(|r| r.text()).collect();
    assert!(
        to[0].contains("To=%2B15550001111") && to[1].contains("To=%2B15550002222"),
        "{to:?}"
    );
    assert!(
        to[2].contains("To=%2B15550002222"),
        "only the failed number again: {to:?}"
    );

    // A day on, the daily reminder is owed, and Twilio is down for all of its quick attempts.
    for _ in 0..8 {
        twilio.answer_next(503, UNAVAILABLE);
    }
    stack.set_clock("2030-01-02T11:00:00Z");
    stack.enqueue(PeriodicJob::AgentOutages, "2030-01-02T11:00:00Z").await;
    eventually("the reminder's failed attempts", || async {
        twilio.received().len() == 11
    })
    .await;
    // A further outage run owes nothing while that reminder is undelivered.
    stack.set_clock("2030-01-02T11:02:30Z");
    stack.enqueue(PeriodicJob::AgentOutages, "2030-01-02T11:02:30Z").await;
    eventually("three outage runs", || outages(3)).await;
    stack.set_clock("2030-01-02T11:30:00Z");
    stack
        .enqueue(PeriodicJob::NotificationSweep, "2030-01-02T11:30:00Z")
        .await;
    all_done(&stack, 2).await;
    assert_eq!(twilio.received().len(), 13, "the reminder reached both numbers once");
}
