//! Dropping a deleted agent's live NATS connections through the server's system account
//! (`$SYS.REQ.SERVER.PING.CONNZ` to find them, `$SYS.REQ.SERVER.<id>.KICK` to close them). Its
//! reconnects are then refused by the auth callout, which no longer finds the agent.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::{ConnectOptions, ServerAddr};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// How long to keep collecting CONNZ answers: every server of a cluster answers.
const GATHER: Duration = Duration::from_millis(500);

/// A client in the system account (user TRMM_NATS_SYSTEM_USER), connecting in the background so
/// that a NATS outage at startup does not hold the service back. Its connection events go to `events`
/// (presence re-synchronises after each reconnect).
pub async fn system_client(
    url: &ServerAddr,
    user: &str,
    password: &str,
    events: mpsc::UnboundedSender<async_nats::Event>,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    ConnectOptions::with_user_and_password(user.to_owned(), password.to_owned())
        .name(format!("{}-system", crate::SERVICE))
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let _ = events.send(event);
            std::future::ready(())
        })
        .connect(url.clone())
        .await
}

/// Closes every connection whose user is `agent_id` (callout users are named after their agent);
/// returns how many were closed. `nats` must be a system-account client.
pub async fn agent(nats: &async_nats::Client, agent_id: &str) -> Result<u32, String> {
    if nats.connection_state() != State::Connected {
        return Err("not connected to the NATS system account".to_owned());
    }
    // `state` 0 = open connections (ConnzOptions.State is an integer enum).
    let query = json!({ "user": agent_id, "state": 0, "limit": 1024 }).to_string();
    let inbox = nats.new_inbox();
    let mut replies = nats
        .subscribe(inbox.clone())
        .await
        .map_err(|e| format!("cannot subscribe for CONNZ replies: {e}"))?;
    nats.publish_with_reply("$SYS.REQ.SERVER.PING.CONNZ", inbox, query.into())
        .await
        .map_err(|e| format!("CONNZ request failed: {e}"))?;
    nats.flush().await.map_err(|e| format!("CONNZ request failed: {e}"))?;
    let mut closed = 0;
    let mut answered = false;
    while let Ok(Some(msg)) = tokio::time::timeout(GATHER, futures_util::StreamExt::next(&mut replies)).await {
        let Ok(reply) = serde_json::from_slice::<Value>(&msg.payload) else {
            continue;
        };
        if let Some(error) = reply.get("error") {
            return Err(format!("CONNZ refused: {error}"));
        }
        let Some(server_id) = reply.pointer("/server/id").and_then(Value::as_str) else {
            continue;
        };
        answered = true;
        let conns = reply
            .pointer("/data/connections")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for conn in conns {
            let Some(cid) = conn.get("cid").and_then(Value::as_u64) else {
                continue;
            };
            let kick = json!({ "cid": cid }).to_string();
            let subject = format!("$SYS.REQ.SERVER.{server_id}.KICK");
            match nats.request(subject, kick.into()).await {
                Ok(answer) => match serde_json::from_slice::<Value>(&answer.payload) {
                    Ok(v) if v.get("error").is_some() => {
                        tracing::warn!(agent_id, cid, error = %v["error"], "KICK refused")
                    }
                    _ => closed += 1,
                },
                Err(e) => tracing::warn!(agent_id, cid, error = %e, "KICK failed"),
            }
        }
    }
    if !answered {
        return Err("no NATS server answered CONNZ (is TRMM_NATS_SYSTEM_USER in the system account?)".to_owned());
    }
    Ok(closed)
}
