//! Why agent work was refused or failed; each service words it in its own protocol (trmm-api: one `From`).

use trmm_db::DbError;
use trmm_rpc::client::GatewayError;

use crate::command::CmdError;

/// Why agent work was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// One request field is refused (a DRF field error).
    #[error("{field}: {message}")]
    Field {
        /// The field at fault.
        field: &'static str,
        /// Upstream's wording.
        message: String,
    },
    /// The request is refused as a whole (upstream's bare-string 400).
    #[error("{0}")]
    Refused(String),
    /// The object the request names does not exist (a 404).
    #[error("not found")]
    NotFound,
    /// Postgres.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Reaching the agent.
    #[error(transparent)]
    Agent(#[from] GatewayError),
    /// A bug on the server's side (never the request's fault).
    #[error("{0}")]
    Internal(String),
    /// Redis did not take the job; what was written for it is marked failed.
    #[error("The job queue (Redis) is unavailable; try again shortly.")]
    QueueUnavailable,
}

impl OpsError {
    /// A field error.
    pub fn field(field: &'static str, message: impl Into<String>) -> OpsError {
        OpsError::Field {
            field,
            message: message.into(),
        }
    }

    /// Upstream's "not a valid choice" for `value` in `field`.
    pub fn not_a_choice(field: &'static str, value: &str) -> OpsError {
        OpsError::field(field, format!("\"{value}\" is not a valid choice."))
    }
}

impl From<CmdError> for OpsError {
    fn from(e: CmdError) -> Self {
        OpsError::field(e.field(), e.field_message())
    }
}
