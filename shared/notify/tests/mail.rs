//! Mail against a real SMTP server (aiosmtpd): STARTTLS with LOGIN, a plain relay, and the failures a sender
//! must tell apart (refused login: permanent; nobody listening: transient).

use std::path::Path;
use std::sync::Arc;

use trmm_db::core_settings::MailSettings;
use trmm_notify::mail::{Email, Mailer};
use trmm_testkit::free_port;
use trmm_testkit::smtp::{mails, wait_for_mails, SmtpSecurity, SmtpServer};

fn settings(host: &str, port: u16, requires_auth: bool) -> MailSettings {
    MailSettings {
        email_alert_recipients: vec!["ops@example.com".into()],
        smtp_from_email: "rmm@example.com".into(),
        smtp_from_name: Some("TRMM Alerts".into()),
        smtp_host: host.into(),
        smtp_port: i32::from(port),
        smtp_host_user: "mailer".into(),
        smtp_host_password_enc: None,
        smtp_requires_auth: requires_auth,
    }
}

fn login() -> SmtpSecurity {
    SmtpSecurity::StartTlsLogin {
        user: "mailer".into(),
        password: "s3cret pass".into(),
    }
}

async fn tls_server(maildir: &Path) -> (SmtpServer, u16) {
    let port = free_port();
    (SmtpServer::start(port, maildir, login()).await, port)
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[tokio::test]
async fn starttls_and_login_deliver_with_the_display_name_and_a_stable_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let (smtp, port) = tls_server(&maildir).await;
    let roots = Arc::new(vec![smtp.ca_pem().unwrap().to_vec()]);
    let mailer = Mailer::new(settings("localhost", port, true), Some("s3cret pass".into()), roots);
    assert!(mailer.is_configured());

    let to = ["lead@example.com".to_owned(), "oncall@example.com".to_owned()];
    let email = Email {
        to: &to,
        subject: "Acme, HQ, web-01 - data overdue",
        body: "Data has not been received.",
        idempotency_key: Some("alert:7:email:0"),
        ..Email::default()
    };
    mailer.send(&email).await.unwrap();
    mailer.send(&email).await.unwrap();

    let delivered = wait_for_mails(&maildir, 2).await;
    let first = &delivered[0];
    assert_eq!(
        header(first, "From"),
        Some("\"TRMM Alerts\" <rmm@example.com>"),
        "{first}"
    );
    assert_eq!(
        header(first, "To"),
        Some("lead@example.com, oncall@example.com"),
        "{first}"
    );
    assert_eq!(
        header(first, "Subject"),
        Some("Acme, HQ, web-01 - data overdue"),
        "{first}"
    );
    assert!(first.contains("Data has not been received."), "{first}");
    let id = header(first, "Message-ID").expect("a Message-ID");
    assert!(id.ends_with("@example.com>"), "{id}");
    assert_eq!(
        header(&delivered[1], "Message-ID"),
        Some(id),
        "the same key, the same id"
    );
}

#[tokio::test]
async fn a_refused_login_is_permanent_and_an_untrusted_certificate_fails() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let (smtp, port) = tls_server(&maildir).await;
    let roots = Arc::new(vec![smtp.ca_pem().unwrap().to_vec()]);
    let email = Email {
        subject: "s",
        body: "b",
        ..Email::default()
    };

    let wrong = Mailer::new(settings("localhost", port, true), Some("wrong".into()), roots);
    let e = wrong.send(&email).await.unwrap_err();
    assert!(!e.is_transient(), "{e}");
    assert!(e.to_string().contains("535"), "{e}");

    let untrusting = Mailer::new(
        settings("localhost", port, true),
        Some("s3cret pass".into()),
        Arc::default(),
    );
    let e = untrusting.send(&email).await.unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    assert!(mails(&maildir).is_empty(), "nothing was delivered");
}

#[tokio::test]
async fn a_plain_relay_takes_mail_for_the_default_recipients_without_login() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let port = free_port();
    let _smtp = SmtpServer::start(port, &maildir, SmtpSecurity::Plain).await;
    let mut relay = settings("127.0.0.1", port, false);
    relay.smtp_from_name = None;
    let mailer = Mailer::new(relay, None, Arc::default());
    assert!(mailer.is_configured(), "a relay needs no password");
    let email = Email {
        subject: "relayed",
        body: "hello",
        ..Email::default()
    };
    mailer.send(&email).await.unwrap();
    let delivered = wait_for_mails(&maildir, 1).await;
    assert_eq!(header(&delivered[0], "To"), Some("ops@example.com"));
    assert_eq!(header(&delivered[0], "From"), Some("rmm@example.com"));
}

#[tokio::test]
async fn nobody_listening_is_transient_and_missing_settings_are_not_configured() {
    let email = Email {
        subject: "s",
        body: "b",
        ..Email::default()
    };
    let down = Mailer::new(settings("127.0.0.1", free_port(), false), None, Arc::default());
    let e = down.send(&email).await.unwrap_err();
    assert!(e.is_transient(), "{e}");

    let no_password = Mailer::new(settings("127.0.0.1", free_port(), true), None, Arc::default());
    assert!(!no_password.is_configured());
    let e = no_password.send(&email).await.unwrap_err();
    assert_eq!(e.to_string(), "SMTP messaging not configured.");
    assert!(!e.is_transient());

    let mut nobody = settings("127.0.0.1", free_port(), false);
    nobody.email_alert_recipients.clear();
    let e = Mailer::new(nobody, None, Arc::default())
        .send(&email)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "There needs to be at least one email recipient configured"
    );
}
