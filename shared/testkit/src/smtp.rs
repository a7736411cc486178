//! A real SMTP server for mail tests: aiosmtpd storing every message in a maildir, as a plain relay or with
//! STARTTLS (a self-signed certificate for `localhost`) and a required LOGIN.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// aiosmtpd's Controller with the options the tests need: argv = host port maildir cert key user password
/// (empty strings for "none"); it prints "ready" once it accepts connections.
const SERVER: &str = r#"
import signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, maildir, cert, key, user, password = sys.argv[1:8]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
          and auth_data.password.decode() == password)
    return AuthResult(success=ok, handled=False)

options = {}
if cert:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    options.update(tls_context=context, require_starttls=True)
if user:
    options.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(cert))
controller = Controller(Mailbox(maildir), hostname=host, port=int(port), **options)
controller.start()
print("ready", flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
controller.stop()
"#;

/// How the server wants to be spoken to.
#[derive(Debug, Clone)]
pub enum SmtpSecurity {
    /// No TLS, no login.
    Plain,
    /// STARTTLS with a certificate for `localhost` (see [`SmtpServer::ca_pem`]), then LOGIN as `user`.
    StartTlsLogin {
        /// Login name.
        user: String,
        /// Password.
        password: String,
    },
}

/// aiosmtpd on 127.0.0.1; killed on drop.
pub struct SmtpServer {
    child: Child,
    ca_pem: Option<Vec<u8>>,
    _certs: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

impl SmtpServer {
    /// Starts the server on `port`, storing messages in the maildir `maildir` (which it creates: Python's
    /// Maildir only makes its subfolders for a folder that does not exist yet).
    pub async fn start(port: u16, maildir: &Path, security: SmtpSecurity) -> SmtpServer {
        let certs = tempfile::tempdir().expect("a temp dir for the certificate");
        let (mut cert, mut key, mut user, mut password, mut ca_pem) = Default::default();
        if let SmtpSecurity::StartTlsLogin { user: u, password: p } = security {
            let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
            let (cert_path, key_path) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
            std::fs::write(&cert_path, generated.cert.pem()).unwrap();
            std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();
            ca_pem = Some(generated.cert.pem().into_bytes());
            (cert, key, user, password) = (path_text(&cert_path), path_text(&key_path), u, p);
        }
        let mut child = Command::new(aiosmtpd_python())
            .args(["-c", SERVER, "127.0.0.1", &port.to_string(), &path_text(maildir)])
            .args([cert, key, user, password])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting aiosmtpd");
        let stdout = child.stdout.take().expect("aiosmtpd's stdout");
        let ready = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .expect("aiosmtpd did not start within 30 s")
            .unwrap()
            .unwrap_or_default();
        assert_eq!(line.trim(), "ready", "aiosmtpd failed to start");
        SmtpServer {
            child,
            ca_pem,
            _certs: certs,
        }
    }

    /// The certificate the server presents (PEM), to trust as a CA; None for a plain server.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temp path").to_owned()
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

/// Waits (up to 30 s) until at least `n` messages arrived; returns them all.
pub async fn wait_for_mails(maildir: &Path, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let delivered = mails(maildir);
        if delivered.len() >= n {
            return delivered;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "expected {n} mails, got {}",
            delivered.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
