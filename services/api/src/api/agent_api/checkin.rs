//! Endpoints an enrolled agent calls: config, check-in hooks and software.

use actix_web::HttpResponse;
use rand::Rng;
use serde_json::Value;
use trmm_protocol::rest::{AgentCheckInConfig, SoftwareRequest, SyncMeshRequest};

use crate::auth::AgentAuth;
use crate::error::ApiResult;
use crate::json::Json;

fn between(lo: u32, hi: u32) -> u32 {
    rand::thread_rng().gen_range(lo..=hi)
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
    trmm_db::agents::set_mesh_node_id(&db, agent.agent.pk, body.nodeid.trim()).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `POST /api/v3/software/`: replaces the installed-software list.
pub(super) async fn software(agent: AgentAuth, Json(body): Json<SoftwareRequest>) -> ApiResult<HttpResponse> {
    let db = agent.state.conn().await?;
    trmm_db::software::upsert(&db, agent.agent.pk, &Value::Array(body.software)).await?;
    Ok(HttpResponse::Ok().json("ok"))
}
