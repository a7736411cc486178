//! Dashboard and agent REST API, one module per Tactical RMM resource.

mod accounts;
mod agent_api;
pub mod agents;
mod alerts;
mod apikeys;
mod audit;
mod checks;
mod clients;
mod core;
mod form;
mod logs;
pub(crate) mod pending;
pub mod routes;
mod scripts;
mod services;
mod software;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use routes::Routes;

/// Registers every route, plus DRF-shaped errors for bad query strings, bad paths and unknown URLs.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .default_service(web::to(not_found));
    every_route(&mut Routes::new(cfg));
}

/// Every method and path trmm-api serves.
pub fn registered_routes() -> Vec<routes::Registered> {
    routes::registered(every_route)
}

fn every_route(cfg: &mut Routes) {
    cfg.route("/", routes::get().to(root))
        .configure(accounts::configure)
        .configure(apikeys::configure)
        .configure(clients::configure)
        .configure(agents::configure)
        .configure(checks::configure)
        .configure(agent_api::configure)
        .configure(alerts::configure)
        .configure(scripts::configure)
        .configure(core::configure)
        .configure(logs::configure)
        .configure(pending::configure)
        .configure(services::configure)
        .configure(software::configure);
}

/// `GET /`: liveness probe kept from Tactical RMM.
async fn root() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A timestamp the way DRF renders it: ISO 8601, "Z", microseconds only when there are any.
pub(crate) fn drf_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let precision = if t.timestamp_subsec_nanos() == 0 {
        chrono::SecondsFormat::Secs
    } else {
        chrono::SecondsFormat::Micros
    };
    t.to_rfc3339_opts(precision, true)
}
