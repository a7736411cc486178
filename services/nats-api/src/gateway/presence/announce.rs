//! Presence changes as dashboard events: `agent.online` / `agent.offline` on `trmm.events.agent`, each with the
//! agent's client and site so that trmm-websocket can keep it from users whose role does not see the agent.
//!
//! Every replica of trmm-nats-api announces what it sees, so with several replicas a change is announced once by
//! each (trmm-websocket forwards only the first). A replica's first snapshot after it starts is not announced:
//! it tells who is connected, not what changed; later snapshots (after a NATS reconnect) are, since what they
//! correct did change while events were missed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio_util::sync::CancellationToken;
use trmm_protocol::events::{AgentTag, Event, Presence as Change};
use trmm_rpc::gateway::PresenceEvent;

use super::Presence;

/// Most changes looked up in Postgres at once.
const BATCH: usize = 500;

/// Announces presence changes until `shutdown`, from the moment this is called (the returned future does the
/// work); a change that cannot be announced (Postgres unreachable, NATS refusing, or this loop falling behind) is
/// counted in `dropped`, never retried.
pub fn announce(
    presence: Presence,
    nats: async_nats::Client,
    pool: trmm_db::Pool,
    dropped: Counter,
    shutdown: CancellationToken,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let changes = presence.events.subscribe();
    run(presence, changes, nats, pool, dropped, shutdown)
}

async fn run(
    presence: Presence,
    mut changes: Receiver<PresenceEvent>,
    nats: async_nats::Client,
    pool: trmm_db::Pool,
    dropped: Counter,
    shutdown: CancellationToken,
) {
    let synced = tokio::select! {
        synced = presence.first_sync() => synced,
        () = shutdown.cancelled() => return,
    };
    if !synced {
        return;
    }
    // What the first snapshot found is already queued: not a change.
    while !matches!(changes.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
    loop {
        let first = tokio::select! {
            first = changes.recv() => first,
            () = shutdown.cancelled() => return,
        };
        let batch = match first {
            Ok(first) => more(&mut changes, first, &dropped),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "presence changes not announced: too many at once");
                dropped.inc_by(missed);
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if let Err(e) = publish(&nats, &pool, &batch).await {
            tracing::warn!(error = %e, changes = batch.len(), "presence changes not announced");
            dropped.inc_by(batch.len() as u64);
        }
    }
}

/// `first` and whatever else is waiting, up to [`BATCH`].
fn more(changes: &mut Receiver<PresenceEvent>, first: PresenceEvent, dropped: &Counter) -> Vec<PresenceEvent> {
    let mut batch = vec![first];
    while batch.len() < BATCH {
        match changes.try_recv() {
            Ok(e) => batch.push(e),
            Err(TryRecvError::Lagged(missed)) => {
                dropped.inc_by(missed);
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    batch
}

async fn publish(nats: &async_nats::Client, pool: &trmm_db::Pool, batch: &[PresenceEvent]) -> anyhow::Result<()> {
    let ids: Vec<String> = batch.iter().map(|e| e.agent_id.clone()).collect();
    let agents = trmm_db::agents::find_many_by_agent_id(&pool.get().await?, &ids).await?;
    let agents: HashMap<&str, &trmm_db::agents::AgentRef> = agents.iter().map(|a| (a.agent_id.as_str(), a)).collect();
    for change in batch {
        // An agent deleted meanwhile belongs to no client: nobody is told.
        let Some(agent) = agents.get(change.agent_id.as_str()) else {
            continue;
        };
        let presence = Change {
            agent: AgentTag {
                agent_id: agent.agent_id.clone(),
                hostname: agent.hostname.clone(),
                client: agent.client.0,
                site: agent.site.0,
            },
            at: DateTime::<Utc>::from_timestamp_millis(change.at_unix_ms).unwrap_or_default(),
        };
        let event = if change.online {
            Event::AgentOnline(presence)
        } else {
            Event::AgentOffline(presence)
        };
        nats.publish(event.subject(), event.to_json().into()).await?;
    }
    Ok(())
}
