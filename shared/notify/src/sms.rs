//! SMS through Twilio's REST API (upstream core/models.py::CoreSettings.send_sms, which uses Twilio's client):
//! `POST {api_url}/2010-04-01/Accounts/{sid}/Messages.json`, HTTP basic auth `sid:token`, form fields `To`,
//! `From`, `Body`; one call per recipient. The base URL is a setting, so any Twilio-compatible API will do.

use std::time::Duration;

use serde::Deserialize;
use trmm_db::core_settings::SmsSettings;

use crate::NotifyError;

/// Longest one API call may take.
pub const TWILIO_TIMEOUT: Duration = Duration::from_secs(15);

/// Sends SMS with the core settings (their token already decrypted).
#[derive(Clone)]
pub struct Twilio {
    settings: SmsSettings,
    token: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("api_url", &self.settings.twilio_api_url)
            .finish_non_exhaustive()
    }
}

/// What Twilio answers to a message create: the message's SID on success, `code` and `message` on failure.
#[derive(Debug, Deserialize)]
struct Answer {
    sid: Option<String>,
    code: Option<i64>,
    message: Option<String>,
}

impl Twilio {
    /// A sender for `settings` with the decrypted `token`.
    pub fn new(settings: SmsSettings, token: Option<String>, http: reqwest::Client) -> Twilio {
        Twilio { settings, token, http }
    }

    /// The settings' default recipients (`sms_alert_recipients`).
    pub fn default_recipients(&self) -> &[String] {
        &self.settings.sms_alert_recipients
    }

    /// Whether SID, token and number are all set (upstream `sms_is_configured`).
    pub fn is_configured(&self) -> bool {
        self.credentials().is_some()
    }

    /// (SID, token, sender number), when all are set.
    fn credentials(&self) -> Option<(&str, &str, &str)> {
        Some((
            set(&self.settings.twilio_account_sid)?,
            set(&self.token)?,
            set(&self.settings.twilio_number)?,
        ))
    }

    /// Sends `body` to one number; returns the message SID Twilio assigned.
    pub async fn send(&self, to: &str, body: &str) -> Result<String, NotifyError> {
        let Some((sid, token, from)) = self.credentials() else {
            return Err(NotifyError::NotConfigured(
                "Sms alerting is not setup correctly.".into(),
            ));
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{sid}/Messages.json",
            self.settings.twilio_api_url.trim_end_matches('/')
        );
        let response = self
            .http
            .post(&url)
            .basic_auth(sid, Some(token))
            .form(&[("To", to), ("From", from), ("Body", body)])
            .timeout(TWILIO_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| transport_error(&e))?;
        let answer: Option<Answer> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return answer
                .and_then(|a| a.sid)
                .ok_or_else(|| NotifyError::Permanent(format!("Twilio answered {status} without a message SID")));
        }
        let detail = match answer {
            Some(Answer {
                message: Some(message),
                code,
                ..
            }) => format!("{message}{}", code.map(|c| format!(" (code {c})")).unwrap_or_default()),
            _ => text.chars().take(200).collect(),
        };
        let error = format!("Twilio answered {status}: {detail}");
        if status.as_u16() == 429 || status.is_server_error() {
            Err(NotifyError::Transient(error))
        } else {
            Err(NotifyError::Permanent(error))
        }
    }
}

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// No answer at all (connection refused, timeout, broken response): worth another try.
fn transport_error(e: &reqwest::Error) -> NotifyError {
    if e.is_builder() {
        return NotifyError::Permanent(format!("the Twilio API URL is unusable: {e}"));
    }
    NotifyError::Transient(format!("Twilio did not answer: {e}"))
}
