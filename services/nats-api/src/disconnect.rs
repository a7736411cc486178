//! Dropping a deleted agent's live NATS connections through the server's system account
//! (`$SYS.REQ.SERVER.PING.CONNZ` to find them, `$SYS.REQ.SERVER.<id>.KICK` to close them).

use std::time::Duration;

use serde_json::{json, Value};

/// Closes every connection whose user is `agent_id`; returns how many were closed.
pub async fn agent(nats: &async_nats::Client, agent_id: &str) -> Result<u32, String> {
    let query = json!({ "user": agent_id, "state": "open" }).to_string();
    let inbox = nats.new_inbox();
    let mut replies = nats
        .subscribe(inbox.clone())
        .await
        .map_err(|e| format!("cannot subscribe for CONNZ replies: {e}"))?;
    nats.publish_with_reply("$SYS.REQ.SERVER.PING.CONNZ", inbox, query.into())
        .await
        .map_err(|e| format!("CONNZ request failed: {e}"))?;
    let mut closed = 0;
    // Every server of a cluster answers; collect answers for a short while.
    while let Ok(Some(msg)) =
        tokio::time::timeout(Duration::from_millis(500), futures_util::StreamExt::next(&mut replies)).await
    {
        let Ok(reply) = serde_json::from_slice::<Value>(&msg.payload) else {
            continue;
        };
        let Some(server_id) = reply.pointer("/server/id").and_then(Value::as_str) else {
            continue;
        };
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
                Ok(_) => closed += 1,
                Err(e) => tracing::warn!(agent_id, cid, error = %e, "KICK failed"),
            }
        }
    }
    Ok(closed)
}
