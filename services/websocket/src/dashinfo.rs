//! `/ws/dashinfo/?access_token=<token>`: the dashboard's agent-count chip (upstream core/consumers.py::DashInfo).
//!
//! Right after the socket opens, and then every 30 s, the server sends the agents the user's role sees:
//! `{"action": "dashboard.agentcount", "data": {"total_server_count", "total_server_offline_count",
//! "total_workstation_count", "total_workstation_offline_count"}}`, "offline" being every agent not online
//! (offline or overdue, as the agent table computes status). Upstream's `days_until_cert_expires` is left out:
//! TLS ends at the front (nginx or the Ingress), whose certificate this service does not see, and a missing key
//! keeps the dashboard's expiry chip hidden. What the browser sends is ignored. Refusals as for every dashboard
//! socket: a missing or invalid token closes with 4401, a user barred from the dashboard with 4003.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use trmm_authz::Identity;
use trmm_db::counts::{self, AgentCounts};

use crate::live::{self, Live, Next};
use crate::Ctx;

/// The upgrade handler.
pub async fn socket(req: HttpRequest, body: web::Payload, ctx: web::Data<Ctx>) -> actix_web::Result<HttpResponse> {
    live::upgrade(&req, body, &ctx, serve)
}

async fn serve(ctx: Ctx, mut live: Live, mut who: Identity) {
    loop {
        if let Some(frame) = agent_count(&ctx, &who).await {
            if !live.send(frame).await {
                return;
            }
        }
        match live.next(&ctx, std::future::pending::<()>()).await {
            Next::Tick(again) => who = *again,
            Next::Item(()) => {}
            Next::End => break,
        }
    }
    live.close().await;
}

/// The counts frame; None (logged) when Postgres cannot count, as upstream skips a failed computation.
async fn agent_count(ctx: &Ctx, who: &Identity) -> Option<String> {
    let counted = async {
        let db = ctx.pool.get().await.map_err(trmm_db::DbError::from)?;
        counts::agents(&db, &who.visibility(), ctx.clock.now()).await
    };
    match counted.await {
        Ok(c) => Some(frame(&c)),
        Err(e) => {
            tracing::warn!(error = %e, "agent counts not sent");
            None
        }
    }
}

fn frame(c: &AgentCounts) -> String {
    // Upstream counts an agent never seen as neither online nor offline; here it is offline, as in the table.
    let not_online = |s: counts::ByStatus| s.offline + s.overdue;
    json!({
        "action": "dashboard.agentcount",
        "data": {
            "total_server_count": c.servers.total(),
            "total_server_offline_count": not_online(c.servers),
            "total_workstation_count": c.workstations.total(),
            "total_workstation_offline_count": not_online(c.workstations),
        }
    })
    .to_string()
}
