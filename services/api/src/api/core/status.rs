//! `GET /core/v2/status/` (upstream core/views.py::status_v2): monitoring JSON for uptime tools, behind the
//! token of `TRMM_MONITORING_TOKEN` in the `X-Mon-Token` header. Upstream's keys where they exist; what trmm-rs
//! cannot know from here (the host's disk and memory, the TLS certificate, MeshCentral, systemd units) is left
//! out rather than made up. Every dependency is asked at once, each for at most [`PROBE_TIMEOUT`], so the answer
//! comes even when one of them hangs; one that does not answer is reported down (its counts `null`).

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use trmm_db::counts;
use trmm_db::roles::Scope;

use crate::api::routes::{self, Routes};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::version::{AGENT_VERSION, TRMM_VERSION};

/// How long each dependency may take to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Upstream calls the job queue unhealthy from this many waiting jobs on.
const QUEUE_UNHEALTHY: u64 = 100;

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/core/v2/status/", routes::get().to(status));
}

/// Without a configured token the endpoint does not exist (404, as upstream's optional endpoints are not routed
/// when off), so a server that has none does not invite guesses; a missing or wrong token is upstream's 401.
fn authorize(req: &HttpRequest, state: &AppState) -> ApiResult<()> {
    let expected = state.settings.monitoring_token.as_deref().ok_or(ApiError::NotFound)?;
    let given = req
        .headers()
        .get("X-Mon-Token")
        .ok_or(ApiError::Unauthorized("Missing X-Mon-Token header"))?;
    let given = given.to_str().unwrap_or_default();
    if trmm_auth::token_matches(given, expected) {
        Ok(())
    } else {
        tracing::warn!(target: "trmm_api::security", "monitoring request with a wrong X-Mon-Token");
        Err(ApiError::Unauthorized("Not authenticated"))
    }
}

async fn status(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    authorize(&req, &state)?;
    let (database, queues, gateway) = tokio::join!(database(&state), queues(&state), async {
        tokio::time::timeout(PROBE_TIMEOUT, state.gateway.status()).await
    });
    let (postgres_ping, agents, clients, sites) = match database {
        Some((agents, (clients, sites))) => (true, Some(agents.all()), Some(clients), Some(sites)),
        None => (false, None, None, None),
    };
    let waiting: Option<u64> = queues.as_ref().map(|q| q.values().sum());
    let gateway = gateway.ok().and_then(Result::ok);
    Ok(HttpResponse::Ok().json(json!({
        "version": TRMM_VERSION,
        "latest_agent_version": AGENT_VERSION,
        "agent_count": agents.map(|a| a.total()),
        "online_agent_count": agents.map(|a| a.online),
        "offline_agent_count": agents.map(|a| a.offline),
        "overdue_agent_count": agents.map(|a| a.overdue),
        "client_count": clients,
        "site_count": sites,
        "postgres_ping": postgres_ping,
        "redis_ping": queues.is_some(),
        // The gateway (trmm-nats-api) holds the NATS connection: NATS is reachable if it says so.
        "nats_std_ping": gateway.is_some_and(|g| g.nats_reachable),
        "agent_gateway_ping": gateway.is_some(),
        "agent_presence_synced": gateway.is_some_and(|g| g.presence_synced),
        // Upstream's names for the job queue, which is apalis on Redis here.
        "celery_queue_len": waiting,
        "celery_queue_health": if waiting.is_some_and(|n| n < QUEUE_UNHEALTHY) { "healthy" } else { "unhealthy" },
        "job_queues": queues,
    })))
}

/// Agents by status, clients and sites, if Postgres answers in time.
async fn database(state: &AppState) -> Option<(counts::AgentCounts, (i64, i64))> {
    let probe = async {
        let db = state.conn().await?;
        let agents = counts::agents(&db, &Scope::all(), state.now()).await?;
        Ok::<_, trmm_db::DbError>((agents, counts::clients_and_sites(&db).await?))
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(found)) => Some(found),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "status: Postgres did not answer");
            None
        }
        Err(_) => None,
    }
}

/// Jobs waiting in each queue, if Redis answers in time.
async fn queues(state: &AppState) -> Option<BTreeMap<&'static str, u64>> {
    let conn = state.redis.get()?.clone();
    let prefix = &state.settings.redis_prefix;
    match tokio::time::timeout(PROBE_TIMEOUT, trmm_jobs::waiting(conn, prefix)).await {
        Ok(Ok(waiting)) => Some(waiting.into_iter().collect()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "status: Redis did not answer");
            None
        }
        Err(_) => None,
    }
}
