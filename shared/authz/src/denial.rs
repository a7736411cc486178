//! Why a dashboard caller is refused, before any service-specific rendering.

/// DRF's message for a request without credentials.
pub const NO_CREDENTIALS: &str = "Authentication credentials were not provided.";
/// DRF/knox's message for an unknown, expired or inactive user's token.
pub const INVALID_TOKEN: &str = "Invalid token.";
/// DRF's message for a missing permission or an object outside the caller's scope.
pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";
/// DRF's message for an API key whose user is disabled (TRMM tacticalrmm/auth.py::APIAuthentication).
pub const USER_INACTIVE: &str = "User inactive or deleted.";
/// An expired API key, in upstream's words, typo included (tacticalrmm/auth.py::APIAuthentication).
pub const KEY_EXPIRED: &str = "The token as expired.";
/// A session from checkcreds for a user without 2FA: it may only set up TOTP.
pub const TOTP_REQUIRED: &str = "Two-factor authentication must be set up before this token can be used.";

/// A refusal: trmm-api renders it as a DRF error response, trmm-websocket as an error frame and a close code.
#[derive(Debug, thiserror::Error)]
pub enum Denial {
    /// No token at all (401).
    #[error("{NO_CREDENTIALS}")]
    NoCredentials,
    /// A token that names no live session of an active user, or an unknown API key (401).
    #[error("{INVALID_TOKEN}")]
    InvalidToken,
    /// An API key of a disabled user (401).
    #[error("{USER_INACTIVE}")]
    UserInactive,
    /// An API key past its expiration (401).
    #[error("{KEY_EXPIRED}")]
    KeyExpired,
    /// A TOTP-setup-only session used for anything else (403).
    #[error("{TOTP_REQUIRED}")]
    TotpRequired,
    /// Missing permission, object outside the caller's clients/sites, or a user barred from dashboard
    /// sessions (403).
    #[error("{NO_PERMISSION}")]
    NoPermission,
    /// The object the request names does not exist (404).
    #[error("not found")]
    NotFound,
    /// The lookup itself failed.
    #[error(transparent)]
    Db(#[from] trmm_db::DbError),
}

impl Denial {
    /// The HTTP status both services report (500 for a failed lookup).
    pub fn status(&self) -> u16 {
        match self {
            Denial::NoCredentials | Denial::InvalidToken | Denial::UserInactive | Denial::KeyExpired => 401,
            Denial::TotpRequired | Denial::NoPermission => 403,
            Denial::NotFound => 404,
            Denial::Db(_) => 500,
        }
    }
}
