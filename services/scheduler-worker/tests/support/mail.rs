//! A real SMTP server for the worker's mail tests: aiosmtpd storing every message in a maildir.

use std::path::Path;

use trmm_testkit::smtp::{wait_for_mails, SmtpSecurity, SmtpServer};

use super::Suite;

/// aiosmtpd on 127.0.0.1:`port` storing every message in the maildir `maildir`, a plain relay; killed on drop.
pub struct Smtp {
    _server: SmtpServer,
}

impl Smtp {
    pub async fn start(port: u16, maildir: &Path) -> Smtp {
        let _server = SmtpServer::start(port, maildir, SmtpSecurity::Plain).await;
        Smtp { _server }
    }
}

pub async fn wait_for_mail(maildir: &Path) -> String {
    wait_for_mails(maildir, 1).await.remove(0)
}

/// Points the core settings at the SMTP server on `port` (plain relay).
pub async fn smtp_settings(s: &Suite, port: u16, recipients: &[&str]) {
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
