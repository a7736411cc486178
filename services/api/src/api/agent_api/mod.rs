//! The agent-facing REST API under `/api/v3/` (agent-protocol.md 3.2). Paths keep their trailing slashes;
//! the `<agentid>` segment is accepted but never trusted: the token names the agent.

mod checkin;
mod checks;
mod install;
mod results;

use crate::api::routes::{self, Routes};

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    cfg.route("/api/v3/installer/", routes::get().to(install::check_token))
        .route("/api/v3/installer/", routes::post().to(install::check_version))
        .route("/api/v3/newagent/", routes::post().to(install::new_agent))
        .route("/api/v3/checkin/", routes::post().to(checkin::checkin))
        .route("/api/v3/syncmesh/", routes::post().to(checkin::sync_mesh))
        .route("/api/v3/software/", routes::post().to(checkin::software))
        .route("/api/v3/checkrunner/", routes::patch().to(checks::check_result))
        .route("/api/v3/{agentid}/config/", routes::get().to(checkin::config))
        .route(
            "/api/v3/{agentid}/checkinterval/",
            routes::get().to(checks::check_interval),
        )
        .route("/api/v3/{agentid}/checkrunner/", routes::get().to(checks::check_runner))
        .route("/api/v3/{agentid}/runchecks/", routes::get().to(checks::run_checks))
        .route(
            "/api/v3/{histpk}/{agentid}/histresult/",
            routes::patch().to(results::history_result),
        );
}
