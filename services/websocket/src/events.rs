//! `/ws/events/?access_token=<token>` (beyond Tactical RMM, whose dashboard polls): changes pushed as they
//! happen, one JSON text frame each, in the shape of `trmm_protocol::events::Event`:
//!
//! * `{"action": "events.ready", "data": {}}` first: every change from here on will be pushed, so a dashboard
//!   that reads the current state (REST) after this frame misses nothing;
//! * `{"action": "agent.online" | "agent.offline", "data": {agent_id, hostname, client, site, at}}`: the agent's
//!   NATS connection opened, or its last one closed (from trmm-nats-api's presence);
//! * `{"action": "alert.opened" | "alert.resolved", "data": {id, agent_id, hostname, client, site, alert_type,
//!   severity, message, hidden, assigned_check, at}}`: from the alert engine (check results in trmm-api,
//!   availability in trmm-worker) and from users resolving alerts;
//! * `{"action": "history.finished", "data": {id, agent_id, hostname, client, site, type, at}}`: a command or
//!   script run got its result (read it from `/agents/<agent_id>/history/`);
//! * `{"action": "events.missed", "data": {"count": N}}`: this socket fell behind and N events were skipped;
//!   re-read what is shown.
//!
//! A user hears only of agents its role's clients and sites include, and only of what it may list: agent status
//! with `can_list_agents`, alerts with `can_list_alerts`, history with `can_list_agent_history`. The session is
//! checked again every 30 s, so a changed role applies and a revoked session ends the socket. Refusals as for
//! every dashboard socket (4401 without a valid token, 4003 for a user barred from the dashboard). What the
//! browser sends is ignored.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use trmm_authz::perms::{ListAgentHistory, ListAgents, ListAlerts};
use trmm_authz::Identity;
use trmm_db::roles::Scope;
use trmm_db::{ClientId, SiteId};
use trmm_protocol::events::{Event, Topic};

use crate::live::{self, Live, Next};
use crate::Ctx;

/// The upgrade handler.
pub async fn socket(req: HttpRequest, body: web::Payload, ctx: web::Data<Ctx>) -> actix_web::Result<HttpResponse> {
    live::upgrade(&req, body, &ctx, serve)
}

/// What one user may hear of.
struct Audience {
    who: Identity,
    scope: Scope,
}

impl Audience {
    fn new(who: Identity) -> Self {
        let scope = who.visibility();
        Audience { who, scope }
    }

    fn hears(&self, event: &Event) -> bool {
        let permitted = match event.topic() {
            Topic::Agents => self.who.holds::<ListAgents>(),
            Topic::Alerts => self.who.holds::<ListAlerts>(),
            Topic::History => self.who.holds::<ListAgentHistory>(),
        };
        let agent = event.agent();
        permitted && self.scope.allows_site(ClientId(agent.client), SiteId(agent.site))
    }
}

async fn serve(ctx: Ctx, mut live: Live, who: Identity) {
    let mut events = ctx.hub.subscribe();
    let mut audience = Audience::new(who);
    if !live
        .send(json!({"action": "events.ready", "data": {}}).to_string())
        .await
    {
        return;
    }
    loop {
        let frame = match live.next(&ctx, events.recv()).await {
            Next::Tick(who) => {
                audience = Audience::new(*who);
                continue;
            }
            Next::Item(Ok(event)) if audience.hears(&event) => serde_json::to_string(&*event).unwrap_or_default(),
            Next::Item(Ok(_)) => continue,
            Next::Item(Err(RecvError::Lagged(count))) => {
                json!({"action": "events.missed", "data": {"count": count}}).to_string()
            }
            Next::Item(Err(RecvError::Closed)) | Next::End => break,
        };
        if !live.send(frame).await {
            return;
        }
    }
    live.close().await;
}
