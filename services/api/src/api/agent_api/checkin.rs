//! Endpoints an enrolled agent calls: config, check-in hooks, software, check interval and check runner.

use actix_web::HttpResponse;
use rand::Rng;
use serde_json::Value;
use trmm_protocol::checks::CheckRunnerResponse;
use trmm_protocol::rest::{
    AgentCheckInConfig, CheckIntervalResponse, CheckResultIds, SoftwareRequest, SyncMeshRequest,
};

use crate::auth::AgentAuth;
use crate::error::{ApiError, ApiResult};
use crate::json::{parse, Body, Json};

/// Check runs are never scheduled closer than this (TRMM apiv3/views.py::CheckRunnerInterval floor).
const MIN_CHECK_INTERVAL: i32 = 15;

fn between(lo: u32, hi: u32) -> u32 {
    rand::thread_rng().gen_range(lo..=hi)
}

/// Seconds to the next check run: the agent's interval plus 1–60 s of jitter so agents do not align
/// (TRMM CHECK_INTERVAL_JITTER).
fn jittered(interval: i32) -> i32 {
    interval.max(MIN_CHECK_INTERVAL) + rand::thread_rng().gen_range(1..=60)
}

/// `GET /api/v3/<agentid>/config/`: intervals drawn afresh from upstream's ranges on every call
/// (TRMM apiv3/utils.py::get_agent_config); all are positive, because the Go agent panics on a zero ticker.
pub(super) async fn config(agent: AgentAuth) -> HttpResponse {
    let (hello_lo, hello_hi) = agent.state.settings.checkin_hello;
    HttpResponse::Ok().json(AgentCheckInConfig {
        checkin_hello: between(hello_lo, hello_hi),
        checkin_agentinfo: between(200, 400),
        checkin_winsvc: between(2400, 3000),
        checkin_pubip: between(300, 500),
        checkin_disks: between(1000, 2000),
        checkin_sw: between(2800, 3500),
        checkin_wmi: between(3000, 4000),
        checkin_syncmesh: between(800, 1200),
        limit_data: false,
        // Agents must not fetch interpreters from the internet unless an operator asks for it.
        install_nushell: false,
        install_nushell_version: "0.112.2".into(),
        install_nushell_url: String::new(),
        nushell_enable_config: false,
        install_deno: false,
        install_deno_version: "v1.46.3".into(),
        install_deno_url: String::new(),
        deno_default_permissions: "--allow-all".into(),
    })
}

/// `POST /api/v3/checkin/`: the Windows service-start hook; the body is ignored upstream.
pub(super) async fn checkin(_agent: AgentAuth, Json(_body): Json<Value>) -> HttpResponse {
    HttpResponse::Ok().json("ok")
}

/// `POST /api/v3/syncmesh/`: records the MeshCentral node id.
pub(super) async fn sync_mesh(agent: AgentAuth, Json(body): Json<SyncMeshRequest>) -> ApiResult<HttpResponse> {
    let db = agent.state.conn().await?;
    trmm_db::agents::set_mesh_node_id(&**db, agent.agent.pk, body.nodeid.trim()).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `POST /api/v3/software/`: replaces the installed-software list.
pub(super) async fn software(agent: AgentAuth, Json(body): Json<SoftwareRequest>) -> ApiResult<HttpResponse> {
    let db = agent.state.conn().await?;
    trmm_db::software::upsert(&**db, agent.agent.pk, &Value::Array(body.software)).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `GET /api/v3/<agentid>/checkinterval/`.
pub(super) async fn check_interval(agent: AgentAuth) -> HttpResponse {
    HttpResponse::Ok().json(CheckIntervalResponse {
        agent: agent.agent.pk.0,
        check_interval: jittered(agent.agent.check_interval),
    })
}

/// `GET /api/v3/<agentid>/checkrunner/`: the checks that are due. Checks arrive with the checks issue; until
/// then no agent has any, so the list is empty.
pub(super) async fn check_runner(agent: AgentAuth) -> HttpResponse {
    HttpResponse::Ok().json(CheckRunnerResponse {
        agent: agent.agent.pk.0,
        check_interval: jittered(agent.agent.check_interval),
        checks: Vec::new(),
    })
}

/// `GET /api/v3/<agentid>/runchecks/`: every check, for an immediate run (`runchecks` command); the interval is
/// the agent's own, without jitter.
pub(super) async fn run_checks(agent: AgentAuth) -> HttpResponse {
    HttpResponse::Ok().json(CheckRunnerResponse {
        agent: agent.agent.pk.0,
        check_interval: agent.agent.check_interval,
        checks: Vec::new(),
    })
}

/// `PATCH /api/v3/checkrunner/`: a check result. Validated as upstream does; since no check exists yet,
/// every id is unknown and answered 404 like TRMM's `get_object_or_404(Check, ...)`.
pub(super) async fn check_result(_agent: AgentAuth, Body(body): Body) -> ApiResult<HttpResponse> {
    let raw: Value = parse(&body)?;
    if raw.get("agent_id").is_none() {
        return Err(ApiError::BadRequest("Agent upgrade required".into()));
    }
    let _ids: CheckResultIds = parse(&body)?;
    Err(ApiError::NotFound)
}
