//! Installer token probe, installer version check and agent registration.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use trmm_db::agents::{self, NewAgent};
use trmm_db::audit::{self, AuditEntry};
use trmm_protocol::rest::{NewAgentRequest, NewAgentResponse};
use trmm_protocol::AgentId;

use crate::auth::{self, InstallerAuth};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::version::Version;

/// `GET /api/v3/installer/`: 200 "ok" for a valid installer token (the extractor answers 401 otherwise).
pub(super) async fn check_token(_installer: InstallerAuth) -> HttpResponse {
    HttpResponse::Ok().json("ok")
}

/// `POST /api/v3/installer/`: accepts agents at or above the configured minimum version.
pub(super) async fn check_version(installer: InstallerAuth, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    // TRMM apiv3/views.py::Installer: a missing version is "Invalid data".
    let raw = body
        .get("version")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::BadRequest("Invalid data".into()))?;
    let version: Version = raw.parse().map_err(|_| ApiError::BadRequest("Invalid data".into()))?;
    let min = &installer.state.settings.min_agent_version;
    if &version < min {
        // Upstream wording, including its odd spacing.
        return Err(ApiError::BadRequest(format!(
            "Old installer detected (version {raw} ). Latest version is {min} Please generate a new installer from the RMM"
        )));
    }
    Ok(HttpResponse::Ok().json("ok"))
}

fn check_len(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("Ensure this field has no more than {max} characters."),
        ));
    }
    Ok(())
}

/// `POST /api/v3/newagent/`: registers the agent and its token in one transaction.
pub(super) async fn new_agent(
    installer: InstallerAuth,
    req: HttpRequest,
    Json(body): Json<NewAgentRequest>,
) -> ApiResult<HttpResponse> {
    if body.agent_id.trim().is_empty() {
        return Err(ApiError::field("agent_id", "This field may not be blank."));
    }
    // An id that could never be a NATS user and subject, or a URL segment, would enrol an agent that can neither
    // connect nor be deleted.
    let agent_id = AgentId::parse(body.agent_id.as_str()).map_err(|e| ApiError::field("agent_id", e.to_string()))?;
    check_len("hostname", &body.hostname, 255)?;
    check_len("description", &body.description, 255)?;
    if body.monitoring_type != "server" && body.monitoring_type != "workstation" {
        return Err(ApiError::field(
            "monitoring_type",
            format!("\"{}\" is not a valid choice.", body.monitoring_type),
        ));
    }
    let plat = if body.plat.is_empty() {
        "windows"
    } else {
        body.plat.as_str()
    };
    if !["windows", "linux", "darwin"].contains(&plat) {
        return Err(ApiError::field("plat", format!("\"{plat}\" is not a valid choice.")));
    }
    let grant = &installer.grant;
    // Installer tokens are bound to the site they were generated for (upstream knox tokens are not).
    if body.site != grant.site.0 {
        return Err(ApiError::BadRequest("This installer is not valid for that site".into()));
    }

    let token = trmm_auth::generate_agent_token();
    let installed_by = grant.created_by.clone().unwrap_or_else(|| "installer".into());
    let new = NewAgent {
        agent_id: agent_id.as_str(),
        hostname: &body.hostname,
        site: grant.site,
        monitoring_type: &body.monitoring_type,
        mesh_node_id: &body.mesh_node_id,
        description: &body.description,
        plat,
        goarch: &body.goarch,
    };
    let state = &installer.state;
    let mut db = state.conn().await?;
    let tx = db.transaction().await?;
    let pk = match agents::create_with_token(&tx, &new, &trmm_auth::digest_token(&token), state.now(), &installed_by)
        .await
    {
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::BadRequest(
                "Agent already exists. Remove old agent first if trying to re-install".into(),
            ))
        }
        other => other?,
    };
    audit::insert(
        &tx,
        &AuditEntry {
            username: &installed_by,
            agent: Some(&body.hostname),
            agent_id: Some(&body.agent_id),
            action: "agent_install",
            object_type: "agent",
            after_value: Some(json!({ "agent_id": body.agent_id, "hostname": body.hostname, "site": grant.site })),
            message: format!(
                "{} ({}) was installed with installer {}",
                body.hostname, body.agent_id, grant.id
            ),
            debug_info: Some(auth::debug_info(&req, state)),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(agent_id = %body.agent_id, hostname = %body.hostname, "agent enrolled");
    Ok(HttpResponse::Ok().json(NewAgentResponse { pk: pk.0, token }))
}
