//! The agent-facing REST API under `/api/v3/` (agent-protocol.md 3.2). Paths keep their trailing slashes;
//! the `<agentid>` segment is accepted but never trusted: the token names the agent.

mod checkin;
mod checks;
mod install;
mod results;

use actix_web::web;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v3/installer/", web::get().to(install::check_token))
        .route("/api/v3/installer/", web::post().to(install::check_version))
        .route("/api/v3/newagent/", web::post().to(install::new_agent))
        .route("/api/v3/checkin/", web::post().to(checkin::checkin))
        .route("/api/v3/syncmesh/", web::post().to(checkin::sync_mesh))
        .route("/api/v3/software/", web::post().to(checkin::software))
        .route("/api/v3/checkrunner/", web::patch().to(checks::check_result))
        .route("/api/v3/{agentid}/config/", web::get().to(checkin::config))
        .route(
            "/api/v3/{agentid}/checkinterval/",
            web::get().to(checks::check_interval),
        )
        .route("/api/v3/{agentid}/checkrunner/", web::get().to(checks::check_runner))
        .route("/api/v3/{agentid}/runchecks/", web::get().to(checks::run_checks))
        .route(
            "/api/v3/{histpk}/{agentid}/histresult/",
            web::patch().to(results::history_result),
        );
}
