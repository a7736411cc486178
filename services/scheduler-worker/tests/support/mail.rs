//! A real SMTP server for the worker's mail tests: aiosmtpd storing every message in a maildir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use trmm_api::testing::wait_until;

use super::{Suite, DEADLINE};

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
pub struct Smtp(Child);

impl Smtp {
    pub async fn start(port: u16, maildir: &Path) -> Smtp {
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
pub fn mails(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect()
}

pub async fn wait_for_mail(maildir: &Path) -> String {
    wait_until("the script results mail", DEADLINE, || async {
        !mails(maildir).is_empty()
    })
    .await;
    mails(maildir).remove(0)
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
