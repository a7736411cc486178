use crate::secret::SecretError;

/// Why a notification was not delivered, and whether trying again later may help ([`NotifyError::is_transient`]).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The channel lacks settings (upstream's "not configured" answers); permanent until an admin fixes them.
    #[error("{0}")]
    NotConfigured(String),
    /// The other side failed in a way that may pass: no connection, a timeout, a 4xx SMTP reply, HTTP 429 or 5xx.
    #[error("{0}")]
    Transient(String),
    /// The other side refused for good, or the request itself is bad: a 5xx SMTP reply (e.g. failed login), an
    /// HTTP 4xx, an invalid address, URL or JSON template.
    #[error("{0}")]
    Permanent(String),
    /// A stored secret cannot be decrypted.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The settings could not be read.
    #[error("reading the notification settings: {0}")]
    Db(#[from] trmm_db::DbError),
}

impl NotifyError {
    /// True when the same notification may succeed if sent again later (with backoff).
    pub fn is_transient(&self) -> bool {
        match self {
            NotifyError::Transient(_) => true,
            NotifyError::Db(e) => e.is_unavailable(),
            NotifyError::NotConfigured(_) | NotifyError::Permanent(_) | NotifyError::Secret(_) => false,
        }
    }
}
