//! Mail over SMTP as the core settings say (upstream core/models.py::CoreSettings.send_mail): STARTTLS and LOGIN
//! when `smtp_requires_auth`, else a plain relay, except `smtp-relay.gmail.com`, which gets STARTTLS without a
//! login. Plain-text bodies; no implicit TLS (port 465), as upstream.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};
use trmm_db::core_settings::MailSettings;

use crate::NotifyError;

/// Longest an SMTP conversation may take (upstream: 20 s per socket operation).
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Google's relay takes STARTTLS without a login (upstream special-cases this host name).
const GMAIL_RELAY: &str = "smtp-relay.gmail.com";

/// How the conversation is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// EHLO, STARTTLS, LOGIN.
    StartTlsLogin,
    /// EHLO, STARTTLS, no login.
    StartTls,
    /// No TLS, no login: a relay that trusts the network.
    Plain,
}

impl Security {
    /// The security upstream uses for `host` and `requires_auth`.
    pub fn of(host: &str, requires_auth: bool) -> Security {
        if requires_auth {
            Security::StartTlsLogin
        } else if host.eq_ignore_ascii_case(GMAIL_RELAY) {
            Security::StartTls
        } else {
            Security::Plain
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, Default)]
pub struct Email<'a> {
    /// Recipients; empty means the settings' default recipients.
    pub to: &'a [String],
    /// Sender address instead of the settings' (an alert template's `email_from`).
    pub from: Option<&'a str>,
    /// Subject.
    pub subject: &'a str,
    /// Plain-text body.
    pub body: &'a str,
    /// Makes the `Message-ID` a function of this key, so that a resend of the same notification carries the
    /// same id and receiving systems can drop the duplicate.
    pub idempotency_key: Option<&'a str>,
}

/// Sends mail with the core settings (their password already decrypted).
#[derive(Clone)]
pub struct Mailer {
    settings: MailSettings,
    password: Option<String>,
    extra_roots: Arc<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.settings.smtp_host)
            .field("port", &self.settings.smtp_port)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `settings` with the decrypted `password`, trusting `extra_roots` (PEM) besides the public
    /// roots for STARTTLS.
    pub fn new(settings: MailSettings, password: Option<String>, extra_roots: Arc<Vec<Vec<u8>>>) -> Mailer {
        Mailer {
            settings,
            password,
            extra_roots,
        }
    }

    /// The settings' default recipients (`email_alert_recipients`).
    pub fn default_recipients(&self) -> &[String] {
        &self.settings.email_alert_recipients
    }

    /// Whether the settings suffice to send (upstream `email_is_configured`): sender, host and port, plus user
    /// and password when a login is required.
    pub fn is_configured(&self) -> bool {
        let s = &self.settings;
        let base = !s.smtp_from_email.is_empty() && !s.smtp_host.is_empty() && s.smtp_port > 0;
        let login = !s.smtp_host_user.is_empty() && self.password.as_deref().is_some_and(|p| !p.is_empty());
        base && (!s.smtp_requires_auth || login)
    }

    /// Sends `email` to its recipients, or to the default ones when it names none.
    pub async fn send(&self, email: &Email<'_>) -> Result<(), NotifyError> {
        if !self.is_configured() {
            return Err(NotifyError::NotConfigured("SMTP messaging not configured.".into()));
        }
        let to = if email.to.is_empty() {
            self.default_recipients()
        } else {
            email.to
        };
        if to.is_empty() {
            return Err(NotifyError::NotConfigured(
                "There needs to be at least one email recipient configured".into(),
            ));
        }
        let message = self.message(email, to)?;
        self.transport()?.send(message).await.map_err(classify)?;
        Ok(())
    }

    fn message(&self, email: &Email<'_>, to: &[String]) -> Result<Message, NotifyError> {
        let from = email.from.unwrap_or(&self.settings.smtp_from_email);
        let address: lettre::Address = from
            .parse()
            .map_err(|e| NotifyError::Permanent(format!("sender {from:?}: {e}")))?;
        let name = self.settings.smtp_from_name.clone().filter(|n| !n.is_empty());
        let mut builder = Message::builder()
            .from(Mailbox::new(name, address.clone()))
            .subject(email.subject)
            .header(ContentType::TEXT_PLAIN);
        if let Some(key) = email.idempotency_key {
            builder = builder.message_id(Some(message_id(key, address.domain())));
        }
        for recipient in to {
            let parsed = recipient
                .parse()
                .map_err(|e| NotifyError::Permanent(format!("recipient {recipient:?}: {e}")))?;
            builder = builder.to(Mailbox::new(None, parsed));
        }
        builder
            .body(email.body.to_owned())
            .map_err(|e| NotifyError::Permanent(format!("building the message: {e}")))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
        let s = &self.settings;
        let host = s.smtp_host.as_str();
        let port = u16::try_from(s.smtp_port)
            .map_err(|_| NotifyError::Permanent(format!("SMTP port {} is out of range", s.smtp_port)))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(SMTP_TIMEOUT));
        let security = Security::of(host, s.smtp_requires_auth);
        if security != Security::Plain {
            builder = builder.tls(Tls::Required(self.tls(host)?));
        }
        if security == Security::StartTlsLogin {
            let password = self.password.clone().unwrap_or_default();
            builder = builder.credentials(Credentials::new(s.smtp_host_user.clone(), password));
        }
        Ok(builder.build())
    }

    fn tls(&self, host: &str) -> Result<TlsParameters, NotifyError> {
        let mut params = TlsParameters::builder(host.to_owned());
        for pem in self.extra_roots.iter() {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| NotifyError::Permanent(format!("the extra SMTP CA certificate: {e}")))?;
            params = params.add_root_certificate(cert);
        }
        params
            .build_rustls()
            .map_err(|e| NotifyError::Permanent(format!("TLS settings for {host}: {e}")))
    }
}

/// `<hash of the key@sender domain>`: stable for one key, unguessable from outside.
fn message_id(key: &str, domain: &str) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("<{}@{domain}>", &digest[..40])
}

/// A 5xx reply (e.g. a refused login or recipient) or a bad request is permanent; everything else (no
/// connection, a timeout, TLS trouble, a 4xx reply) may pass.
fn classify(e: lettre::transport::smtp::Error) -> NotifyError {
    if e.is_permanent() || e.is_client() {
        NotifyError::Permanent(e.to_string())
    } else {
        NotifyError::Transient(e.to_string())
    }
}

/// Whether `text` looks like a mail address (Django's EmailField accepts it): something before the last `@`,
/// a dotted domain after it, no spaces or control characters.
pub fn valid_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_follows_upstream() {
        assert_eq!(Security::of("smtp.example.com", true), Security::StartTlsLogin);
        assert_eq!(Security::of("smtp-relay.gmail.com", true), Security::StartTlsLogin);
        assert_eq!(Security::of("smtp-relay.gmail.com", false), Security::StartTls);
        assert_eq!(Security::of("SMTP-RELAY.GMAIL.COM", false), Security::StartTls);
        assert_eq!(Security::of("10.0.0.5", false), Security::Plain);
    }

    #[test]
    fn message_ids_depend_only_on_the_key() {
        let a = message_id("alert:7:email:0", "example.com");
        assert_eq!(a, message_id("alert:7:email:0", "example.com"));
        assert_ne!(a, message_id("alert:7:email:1", "example.com"));
        assert!(a.starts_with('<') && a.ends_with("@example.com>"), "{a}");
    }

    #[test]
    fn addresses() {
        assert!(valid_address("ops@example.com"));
        for bad in [
            "ops",
            "@example.com",
            "ops@example",
            "ops@.com",
            "ops@example.com.",
            "o ps@example.com",
        ] {
            assert!(!valid_address(bad), "{bad}");
        }
    }
}
