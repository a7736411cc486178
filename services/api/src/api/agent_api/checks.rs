//! The check endpoints an agent calls (agent-protocol.md 3.4–3.5, jobs-and-realtime.md 3.1–3.3): when to run
//! checks, which ones, and where their results go.

use actix_web::HttpResponse;
use trmm_ops::checks::{self as ops_checks};
use trmm_protocol::checks::CheckRunnerResponse;
use trmm_protocol::rest::{CheckIntervalResponse, CheckResultIds};

use crate::auth::AgentAuth;
use crate::error::{ApiError, ApiResult};
use crate::json::{parse, Body};

/// `GET /api/v3/<agentid>/checkinterval/`: the agent's interval, lowered to its quickest check, plus jitter.
pub(super) async fn check_interval(agent: AgentAuth) -> ApiResult<HttpResponse> {
    let db = agent.state.conn().await?;
    let checks = trmm_db::checks::runnable(&db, agent.agent.pk).await?;
    Ok(HttpResponse::Ok().json(CheckIntervalResponse {
        agent: agent.agent.pk.0,
        check_interval: ops_checks::run_interval(agent.agent.check_interval, &checks),
    }))
}

/// The agent's checks as it runs them; only the due ones unless `all`.
async fn definitions(agent: &AgentAuth, all: bool) -> ApiResult<(i32, CheckRunnerResponse)> {
    let db = agent.state.conn().await?;
    let checks = trmm_db::checks::runnable(&db, agent.agent.pk).await?;
    let interval = agent.agent.check_interval;
    let now = agent.state.now();
    let mut out = Vec::new();
    for c in checks.iter().filter(|c| all || ops_checks::is_due(c, interval, now)) {
        out.push(ops_checks::definition(&db, &agent.agent, c).await?);
    }
    let next = ops_checks::run_interval(interval, &checks);
    Ok((
        next,
        CheckRunnerResponse {
            agent: agent.agent.pk.0,
            check_interval: next,
            checks: out,
        },
    ))
}

/// `GET /api/v3/<agentid>/checkrunner/`: the checks that are due (never run, or their interval has passed).
pub(super) async fn check_runner(agent: AgentAuth) -> ApiResult<HttpResponse> {
    let (_, resp) = definitions(&agent, false).await?;
    Ok(HttpResponse::Ok().json(resp))
}

/// `GET /api/v3/<agentid>/runchecks/`: every check, for an immediate run; the interval is the agent's own,
/// without jitter.
pub(super) async fn run_checks(agent: AgentAuth) -> ApiResult<HttpResponse> {
    let (_, mut resp) = definitions(&agent, true).await?;
    resp.check_interval = agent.agent.check_interval;
    Ok(HttpResponse::Ok().json(resp))
}

/// `PATCH /api/v3/checkrunner/`: one check result. It must name one of the calling agent's checks; it is
/// evaluated, recorded and handed to the alert engine in one transaction, and the notifications it owes go to
/// trmm-worker once committed.
pub(super) async fn check_result(agent: AgentAuth, Body(body): Body) -> ApiResult<HttpResponse> {
    let ids: CheckResultIds = parse(&body)?;
    // Upstream answers agents too old to send agent_id this way.
    let Some(reporter) = ids.agent_id.as_deref() else {
        return Err(ApiError::BadRequest("Agent upgrade required".into()));
    };
    if reporter != agent.agent.agent_id {
        return Err(ApiError::BadRequest("The result names another agent".into()));
    }
    let mut db = agent.state.conn().await?;
    let tx = db.transaction().await?;
    let check = ops_checks::reported_check(&tx, &agent.agent, ids.id).await?;
    let recorded = ops_checks::record(&tx, &agent.agent, &check, &body, agent.state.now()).await?;
    tx.commit().await?;
    let ops = agent.state.ops();
    recorded.alerts.after_commit(&ops.jobs, &ops.events).await;
    Ok(HttpResponse::Ok().json("ok"))
}
