//! The audit log and the debug log (TRMM logs/views.py GetAuditLogs and GetDebugLog; server-api.md 3.8). Pending
//! actions, also under `/logs/`, are [`super::pending`]'s.

mod audit;
mod debug;

use serde_json::{Map, Value};

use crate::api::routes::{self, Routes};
use crate::error::ApiError;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    cfg.route("/logs/audit/", routes::patch().to(audit::list))
        .route("/logs/debug/", routes::patch().to(debug::list));
}

fn invalid(errors: Map<String, Value>) -> ApiError {
    ApiError::Invalid(Value::Object(errors))
}
