use std::path::PathBuf;
use std::sync::Arc;

use trmm_db::core_settings::{self, Secret};
use trmm_db::GenericClient;

use crate::mail::Mailer;
use crate::secret::{SecretError, SecretKey};
use crate::sms::Twilio;
use crate::NotifyError;

/// The settings trmm-api and trmm-worker share for notifications.
#[derive(Debug, Clone, clap::Args)]
pub struct NotifyArgs {
    /// Key that encrypts the SMTP password and the Twilio token in the database: 64 hex characters (32 random
    /// bytes, e.g. from `openssl rand -hex 32`). Every trmm-api and trmm-worker must have the same one; with
    /// another key the stored secrets must be entered again.
    #[arg(long, env = "TRMM_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// PEM file of CA certificates to trust for SMTP STARTTLS besides the public ones (a mail server with a
    /// private CA).
    #[arg(long, env = "TRMM_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
}

/// Why the notification settings cannot be used; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// TRMM_SECRET_KEY.
    #[error(transparent)]
    Key(#[from] SecretError),
    /// TRMM_SMTP_CA_FILE.
    #[error("TRMM_SMTP_CA_FILE {path}: {why}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

impl NotifyArgs {
    /// The notifier these settings describe.
    pub fn notifier(&self) -> Result<Notifier, ConfigError> {
        let key = SecretKey::from_hex(self.secret_key.as_deref().unwrap_or_default())?;
        let roots = match &self.smtp_ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| ConfigError::CaFile {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
                lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(|e| ConfigError::CaFile {
                    path: path.clone(),
                    why: format!("not a PEM certificate: {e}"),
                })?;
                vec![pem]
            }
            None => Vec::new(),
        };
        Ok(Notifier::new(key, roots))
    }
}

/// Hands out senders built from the current core settings, their secrets decrypted with the key.
#[derive(Debug, Clone)]
pub struct Notifier {
    key: SecretKey,
    smtp_roots: Arc<Vec<Vec<u8>>>,
    http: reqwest::Client,
}

/// Associated data of each secret's ciphertext: the column it belongs to.
fn purpose(secret: Secret) -> &'static str {
    match secret {
        Secret::SmtpPassword => "core_settings.smtp_host_password",
        Secret::TwilioToken => "core_settings.twilio_auth_token",
    }
}

impl Notifier {
    /// A notifier with `key`, trusting the PEM certificates `smtp_roots` for SMTP besides the public roots.
    pub fn new(key: SecretKey, smtp_roots: Vec<Vec<u8>>) -> Notifier {
        Notifier {
            key,
            smtp_roots: Arc::new(smtp_roots),
            http: reqwest::Client::new(),
        }
    }

    /// The HTTP client SMS and webhooks go out with.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Stores `value` as the new `secret` (encrypted), or removes the secret when `value` is empty.
    pub async fn store_secret(&self, db: &impl GenericClient, secret: Secret, value: &str) -> Result<(), NotifyError> {
        let sealed = (!value.is_empty()).then(|| self.key.encrypt(purpose(secret), value));
        core_settings::set_secret(db, secret, sealed.as_deref()).await?;
        Ok(())
    }

    fn open(&self, secret: Secret, sealed: Option<Vec<u8>>) -> Result<Option<String>, NotifyError> {
        Ok(match sealed {
            Some(sealed) => Some(self.key.decrypt(purpose(secret), &sealed)?),
            None => None,
        })
    }

    /// A mailer with the current mail settings.
    pub async fn mailer(&self, db: &impl GenericClient) -> Result<Mailer, NotifyError> {
        let mut settings = core_settings::mail(db).await?;
        let password = self.open(Secret::SmtpPassword, settings.smtp_host_password_enc.take())?;
        Ok(Mailer::new(settings, password, self.smtp_roots.clone()))
    }

    /// A Twilio sender with the current SMS settings.
    pub async fn twilio(&self, db: &impl GenericClient) -> Result<Twilio, NotifyError> {
        let mut settings = core_settings::sms(db).await?;
        let token = self.open(Secret::TwilioToken, settings.twilio_auth_token_enc.take())?;
        Ok(Twilio::new(settings, token, self.http.clone()))
    }
}
