//! PublishMany: one batch of commands to many agents, each phase sent with one flush.
//!
//! With replies awaited, presence decides who is sent the command: agents that are not connected are OFFLINE at
//! once. Only when presence is not tracked (no NATS system account) are the agents pinged first, over the same
//! inbox subscription, because NATS cannot tell an absent agent from a silent one (trmm-nats-api's telemetry
//! subscription `*` matches every agent subject, so it never answers "no responders").

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_nats::{Client, Message, StatusCode, Subscriber};
use futures_util::StreamExt;
use tokio::time::Instant;
use tonic::Status;
use trmm_protocol::calls::{AgentCall, Ping};
use trmm_protocol::nats;
use trmm_rpc::gateway::{Delivery, DeliveryOutcome, PublishManyReply, PublishManyRequest};

use super::{envelope, timeout_of, Presence, DEFAULT_PING_TIMEOUT, MAX_REQUEST_TIMEOUT};

/// Serves a PublishMany request: fire and forget, or collecting every agent's outcome.
pub async fn publish_many(
    nats: &Client,
    presence: &Presence,
    request: PublishManyRequest,
) -> Result<PublishManyReply, Status> {
    if request.reply_timeout_ms == 0 {
        return fire_and_forget(nats, request).await;
    }
    let probe_timeout = timeout_of(request.probe_timeout_ms, DEFAULT_PING_TIMEOUT);
    let reply_timeout = timeout_of(request.reply_timeout_ms, MAX_REQUEST_TIMEOUT);
    let mut deliveries = Vec::with_capacity(request.messages.len());
    let mut sendable = Vec::new();
    for (i, m) in request.messages.into_iter().enumerate() {
        let encoded = envelope::subject(&m.agent_id).and_then(|s| Ok((s, envelope::checked(&m.envelope)?)));
        deliveries.push(Delivery {
            agent_id: m.agent_id,
            outcome: DeliveryOutcome::Offline.into(),
            ..Delivery::default()
        });
        match encoded {
            Ok((subject, payload)) => sendable.push((i, subject, payload)),
            Err(status) => set(&mut deliveries[i], DeliveryOutcome::Invalid, status.message()),
        }
    }
    let inbox = nats.new_inbox();
    let mut replies = nats
        .subscribe(format!("{inbox}.>"))
        .await
        .map_err(|e| Status::unavailable(format!("NATS subscribe failed: {e}")))?;

    let ids: Vec<String> = sendable.iter().map(|(i, ..)| deliveries[*i].agent_id.clone()).collect();
    let present: HashSet<usize> = match presence.connected(&ids).await {
        Some(connected) => {
            let connected: HashSet<&String> = connected.into_iter().collect();
            let present = sendable
                .iter()
                .filter(|(i, ..)| connected.contains(&deliveries[*i].agent_id));
            present.map(|(i, ..)| *i).collect()
        }
        None => probe(nats, &mut replies, &inbox, &sendable, probe_timeout).await?,
    };
    let mut commands = Vec::new();
    for (i, subject, payload) in sendable {
        if present.contains(&i) {
            deliveries[i].outcome = DeliveryOutcome::Timeout.into();
            commands.push((i, subject, payload));
        }
    }
    let published = commands.len() as u32;
    let answered = exchange(
        nats,
        &mut replies,
        &format!("{inbox}.c"),
        commands.into_iter(),
        reply_timeout,
    )
    .await?;
    for (i, reply) in answered {
        let delivery = &mut deliveries[i];
        match reply {
            // The agent went away between its presence check (or pong) and its command.
            Reply::NoResponders => set(delivery, DeliveryOutcome::Offline, ""),
            Reply::Payload(bytes) => match nats::decode::<serde::de::IgnoredAny>(&bytes) {
                Ok(_) => {
                    set(delivery, DeliveryOutcome::Replied, "");
                    delivery.reply = bytes;
                }
                Err(e) => set(
                    delivery,
                    DeliveryOutcome::Unreadable,
                    &format!("agent reply is not msgpack: {e}"),
                ),
            },
        }
    }
    Ok(PublishManyReply {
        published,
        failed: Vec::new(),
        deliveries,
    })
}

/// The agents (by message index) that answer a ping within `timeout`: presence is not tracked.
async fn probe(
    nats: &Client,
    replies: &mut Subscriber,
    inbox: &str,
    sendable: &[(usize, String, Vec<u8>)],
    timeout: Duration,
) -> Result<HashSet<usize>, Status> {
    let ping = envelope::encode(&AgentCall::Ping(Ping))?;
    let pings = sendable
        .iter()
        .map(|(i, subject, _)| (*i, subject.clone(), ping.clone()));
    let ponged = exchange(nats, replies, &format!("{inbox}.p"), pings, timeout).await?;
    Ok(ponged.into_iter().filter(|(_, r)| is_pong(r)).map(|(i, _)| i).collect())
}

fn set(delivery: &mut Delivery, outcome: DeliveryOutcome, detail: &str) {
    delivery.outcome = outcome.into();
    detail.clone_into(&mut delivery.detail);
}

/// What came back on one reply subject.
enum Reply {
    Payload(Vec<u8>),
    NoResponders,
}

fn is_pong(reply: &Reply) -> bool {
    matches!(reply, Reply::Payload(p) if nats::decode::<String>(p).is_ok_and(|s| s == "pong"))
}

/// Publishes each message with the reply subject `<prefix>.<index>`, then collects replies on `replies` until every
/// message has one or `timeout` has passed since the flush. Replies of an earlier phase (other prefix) are ignored.
async fn exchange(
    nats: &Client,
    replies: &mut Subscriber,
    prefix: &str,
    messages: impl Iterator<Item = (usize, String, Vec<u8>)>,
    timeout: Duration,
) -> Result<HashMap<usize, Reply>, Status> {
    let mut expected = 0;
    for (i, subject, payload) in messages {
        nats.publish_with_reply(subject, format!("{prefix}.{i}"), payload.into())
            .await
            .map_err(|e| Status::unavailable(format!("NATS publish failed: {e}")))?;
        expected += 1;
    }
    let mut got = HashMap::with_capacity(expected);
    if expected == 0 {
        return Ok(got);
    }
    nats.flush()
        .await
        .map_err(|e| Status::unavailable(format!("NATS flush failed: {e}")))?;
    let deadline = Instant::now() + timeout;
    while got.len() < expected {
        let msg = match tokio::time::timeout_at(deadline, replies.next()).await {
            Ok(Some(msg)) => msg,
            Ok(None) => return Err(Status::unavailable("the NATS connection closed")),
            Err(_) => break,
        };
        if let Some((i, reply)) = reply_of(prefix, msg) {
            got.entry(i).or_insert(reply);
        }
    }
    Ok(got)
}

fn reply_of(prefix: &str, msg: Message) -> Option<(usize, Reply)> {
    let i = msg.subject.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()?;
    let reply = if msg.status == Some(StatusCode::NO_RESPONDERS) {
        Reply::NoResponders
    } else {
        Reply::Payload(msg.payload.to_vec())
    };
    Some((i, reply))
}

async fn fire_and_forget(nats: &Client, request: PublishManyRequest) -> Result<PublishManyReply, Status> {
    let mut published = 0;
    let mut failed = Vec::new();
    for m in request.messages {
        let sent = match (envelope::subject(&m.agent_id), envelope::checked(&m.envelope)) {
            (Ok(subject), Ok(payload)) => nats.publish(subject, payload.into()).await.is_ok(),
            _ => false,
        };
        if sent {
            published += 1;
        } else {
            failed.push(m.agent_id);
        }
    }
    // One flush for the whole batch: messages leave in as few writes as possible.
    nats.flush().await.map_err(|e| Status::unavailable(e.to_string()))?;
    Ok(PublishManyReply {
        published,
        failed,
        deliveries: Vec::new(),
    })
}
