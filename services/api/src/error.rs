//! The one API error type. It renders Tactical RMM's error bodies exactly: `notify_error` is a 400 with a bare
//! JSON string, serializer errors are a 400 `{field: [msg]}`, and DRF's own errors are `{"detail": ...}`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};
use trmm_rpc::client::GatewayError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a bare JSON string body (TRMM tacticalrmm/helpers.py::notify_error).
    #[error("{0}")]
    BadRequest(String),
    /// 400 with a DRF serializer-style body, e.g. `{"name": ["This field is required."]}`.
    #[error("invalid request: {0}")]
    Invalid(Value),
    /// 401 `{"detail": ...}` with `WWW-Authenticate: Token`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403 `{"detail": ...}`.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404 `{"detail": "Not found."}`.
    #[error("not found")]
    NotFound,
    /// 413 `{"detail": ...}`: the body is larger than the given number of bytes.
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    /// 429 `{"detail": "Request was throttled. Expected available in N seconds."}`.
    #[error("throttled for {0} s")]
    Throttled(u64),
    /// 503 `{"detail": ...}` with `Retry-After`: a service this request needs (the database, the agent gateway)
    /// is down; the detail names it.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 `{field: [message]}` for one field.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(json!({ field: [message.into()] }))
    }
}

/// A write's database error as the API reports it.
pub trait UniqueAs<T> {
    /// A unique violation (the caller picked a taken name) becomes the 400 `duplicate` builds; any other error a 500.
    fn unique_as(self, duplicate: impl FnOnce() -> ApiError) -> ApiResult<T>;
}

impl<T> UniqueAs<T> for Result<T, trmm_db::DbError> {
    fn unique_as(self, duplicate: impl FnOnce() -> ApiError) -> ApiResult<T> {
        self.map_err(|e| if e.is_unique_violation() { duplicate() } else { e.into() })
    }
}

/// TRMM's answer whenever an agent does not reply (agents/views.py: `notify_error("Unable to contact the agent")`).
pub const UNREACHABLE: &str = "Unable to contact the agent";

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Offline => ApiError::BadRequest(format!("{UNREACHABLE}: the agent is offline")),
            GatewayError::Timeout => ApiError::BadRequest(UNREACHABLE.into()),
            GatewayError::BadReply(why) => {
                tracing::warn!(%why, "unexpected agent reply");
                ApiError::BadRequest(UNREACHABLE.into())
            }
            GatewayError::Invalid(why) => ApiError::BadRequest(why),
            GatewayError::Unavailable(why) => ApiError::Unavailable(format!("The agent gateway is unavailable: {why}")),
        }
    }
}

/// Agent work's refusals and failures in Tactical RMM's shapes.
impl From<trmm_ops::OpsError> for ApiError {
    fn from(e: trmm_ops::OpsError) -> Self {
        use trmm_ops::OpsError;
        match e {
            OpsError::Field { field, message } => ApiError::field(field, message),
            OpsError::Refused(message) => ApiError::BadRequest(message),
            OpsError::NotFound => ApiError::NotFound,
            OpsError::Db(e) => e.into(),
            OpsError::Agent(e) => e.into(),
            OpsError::Internal(why) => ApiError::Internal(why),
            OpsError::QueueUnavailable => ApiError::Unavailable(e.to_string()),
        }
    }
}

/// Serializing a value the server built cannot fail short of a bug.
impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::Internal(format!("serializing: {e}"))
    }
}

/// What a 503 for a database outage says; the cause is logged, never sent.
pub const DATABASE_UNAVAILABLE: &str = "The database is unavailable.";

/// Seconds a client is told to wait before retrying after a 503.
const RETRY_AFTER_SECS: u32 = 5;

impl From<trmm_db::DbError> for ApiError {
    fn from(e: trmm_db::DbError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(cause = %e, "database unavailable");
            ApiError::Unavailable(DATABASE_UNAVAILABLE.to_owned())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl From<trmm_db::PgError> for ApiError {
    fn from(e: trmm_db::PgError) -> Self {
        trmm_db::DbError::from(e).into()
    }
}

impl From<trmm_auth::PasswordError> for ApiError {
    fn from(e: trmm_auth::PasswordError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::BadRequest(msg) => json!(msg),
            ApiError::Invalid(v) => v.clone(),
            ApiError::Unauthorized(detail) | ApiError::Forbidden(detail) => {
                json!({ "detail": detail })
            }
            ApiError::NotFound => json!({ "detail": "Not found." }),
            ApiError::TooLarge(_) => json!({ "detail": "Request body too large." }),
            ApiError::Throttled(secs) => {
                json!({ "detail": format!("Request was throttled. Expected available in {secs} seconds.") })
            }
            ApiError::Unavailable(detail) => json!({ "detail": detail }),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                json!({ "detail": "A server error occurred." })
            }
        };
        if !matches!(self, ApiError::Internal(_)) {
            tracing::info!(status = self.status_code().as_u16(), error = %self, "request rejected");
        }
        let mut resp = HttpResponse::build(self.status_code());
        if let ApiError::Unauthorized(_) = self {
            resp.insert_header((header::WWW_AUTHENTICATE, "Token"));
        }
        if let ApiError::Throttled(secs) = self {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let ApiError::Unavailable(_) = self {
            resp.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        resp.json(body)
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
