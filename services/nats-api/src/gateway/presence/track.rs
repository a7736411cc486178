//! Keeps [`Presence`] current from the system account: `$SYS.ACCOUNT.<acc>.CONNECT`/`DISCONNECT` events as they
//! come, and a paged CONNZ snapshot of the account's connections at start and after each reconnect to NATS.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, Event, Message};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use trmm_runtime::health::Health;

use super::{ConnKey, Presence};

/// The `/readyz` dependency: presence is synchronised with NATS.
pub const DEPENDENCY: &str = "presence";
/// How long the first CONNZ answer may take.
const FIRST_ANSWER: Duration = Duration::from_secs(2);
/// Once one server answered, how long to wait for another (every server of a cluster answers the PING).
const MORE_ANSWERS: Duration = Duration::from_millis(250);
/// Connections per CONNZ page.
const PAGE: usize = 4096;
/// Pages overlap by this much: a connection that closes between two pages shifts the later ones down by one.
const OVERLAP: usize = 64;
/// Longest wait before retrying a failed snapshot.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// What to track.
#[derive(Debug, Clone)]
pub struct Tracking {
    /// The account agents land in (the auth callout's TRMM_NATS_AGENT_ACCOUNT).
    pub account: String,
    /// Static users of that account that are services, not agents (e.g. trmm-service).
    pub services: Vec<String>,
}

impl Tracking {
    /// Callout users are named after their agent; the static service users are not agents.
    fn agent<'a>(&self, user: &'a str, kind: &str) -> Option<&'a str> {
        let is_agent = kind == "Client" && !user.is_empty() && !self.services.iter().any(|s| s == user);
        is_agent.then_some(user)
    }
}

/// A client in a connect/disconnect advisory (nats-server's ClientInfo).
#[derive(Deserialize)]
struct Advisory {
    server: ServerInfo,
    client: ClientInfo,
}

#[derive(Deserialize)]
struct ServerInfo {
    id: String,
}

#[derive(Deserialize)]
struct ClientInfo {
    id: u64,
    #[serde(default)]
    user: String,
    #[serde(default)]
    kind: String,
}

/// One server's answer to a CONNZ request.
#[derive(Deserialize)]
struct ConnzReply {
    server: Option<ServerInfo>,
    data: Option<Connz>,
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Connz {
    #[serde(default)]
    total: usize,
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    connections: Vec<ConnInfo>,
}

#[derive(Debug, Deserialize)]
struct ConnInfo {
    cid: u64,
    #[serde(default)]
    authorized_user: String,
    #[serde(default)]
    kind: String,
}

/// Tracks until `shutdown`. `nats` is the system-account client; `nats_events` its connection events (a reconnect
/// means events may have been missed, so a fresh snapshot is taken).
pub async fn track(
    presence: Presence,
    nats: Client,
    mut nats_events: mpsc::UnboundedReceiver<Event>,
    tracking: Tracking,
    health: Health,
    shutdown: CancellationToken,
) {
    let _end_watches = presence.stopped.clone().drop_guard();
    health.set_ready(DEPENDENCY, false);
    let account = &tracking.account;
    let subscribed = async {
        let connects = nats.subscribe(format!("$SYS.ACCOUNT.{account}.CONNECT")).await?;
        let disconnects = nats.subscribe(format!("$SYS.ACCOUNT.{account}.DISCONNECT")).await?;
        Ok::<_, async_nats::SubscribeError>((connects, disconnects))
    };
    let (mut connects, mut disconnects) = match subscribed.await {
        Ok(subs) => subs,
        Err(e) => {
            tracing::error!(error = %e, "presence: cannot subscribe to the NATS connect events; presence untracked");
            return;
        }
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut snapshots = Snapshots {
        nats: nats.clone(),
        tracking: tracking.clone(),
        presence: presence.clone(),
        done: done_tx,
        current: 0,
        running: None,
        failures: 0,
    };
    let mut retry_at: Option<Instant> = None;
    if nats.connection_state() == State::Connected {
        snapshots.start();
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(event) = nats_events.recv() => match event {
                Event::Connected => {
                    presence.lost();
                    health.set_ready(DEPENDENCY, false);
                    snapshots.start();
                }
                Event::Disconnected => {
                    presence.lost();
                    health.set_ready(DEPENDENCY, false);
                    snapshots.cancel();
                }
                _ => {}
            },
            Some(msg) = connects.next() => {
                if let Some((key, agent_id)) = advisory(&msg, &tracking) {
                    presence.connect(key, &agent_id);
                }
            }
            Some(msg) = disconnects.next() => {
                if let Some((key, _)) = advisory(&msg, &tracking) {
                    presence.disconnect(key);
                }
            }
            Some((n, result)) = done_rx.recv() => {
                if n != snapshots.current {
                    continue;
                }
                snapshots.running = None;
                match result {
                    Ok(listed) => {
                        tracing::info!(connections = listed.len(), "presence synchronised with NATS");
                        presence.finish_snapshot(listed);
                        health.set_ready(DEPENDENCY, true);
                        snapshots.failures = 0;
                    }
                    Err(e) => {
                        snapshots.failures += 1;
                        let wait = Duration::from_millis(250 << snapshots.failures.min(7)).min(MAX_RETRY);
                        tracing::warn!(error = %e, retry_in = ?wait, "presence: CONNZ snapshot failed");
                        retry_at = Some(Instant::now() + wait);
                    }
                }
            }
            () = sleep_until(retry_at), if retry_at.is_some() => {
                retry_at = None;
                if nats.connection_state() == State::Connected {
                    snapshots.start();
                }
            }
        }
    }
    snapshots.cancel();
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// What a snapshot found: every open agent connection, or why it failed.
type Snapshot = Result<Vec<(ConnKey, String)>, String>;

/// The snapshot in flight, numbered so that the result of a cancelled one is ignored.
struct Snapshots {
    nats: Client,
    tracking: Tracking,
    presence: Presence,
    done: mpsc::UnboundedSender<(u64, Snapshot)>,
    current: u64,
    running: Option<tokio::task::AbortHandle>,
    failures: u32,
}

impl Snapshots {
    fn start(&mut self) {
        self.cancel();
        self.current += 1;
        let (n, nats, tracking, presence, done) = (
            self.current,
            self.nats.clone(),
            self.tracking.clone(),
            self.presence.clone(),
            self.done.clone(),
        );
        let task = tokio::spawn(async move {
            let result = snapshot(&nats, &tracking, &presence).await;
            let _ = done.send((n, result));
        });
        self.running = Some(task.abort_handle());
    }

    fn cancel(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
    }
}

/// The (connection, agent) an advisory is about, if the client is an agent.
fn advisory(msg: &Message, tracking: &Tracking) -> Option<(ConnKey, String)> {
    let a: Advisory = match serde_json::from_slice(&msg.payload) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(subject = %msg.subject, error = %e, "presence: unreadable NATS advisory dropped");
            return None;
        }
    };
    let agent_id = tracking.agent(&a.client.user, &a.client.kind)?;
    Some(((a.server.id, a.client.id), agent_id.to_owned()))
}

/// Every open agent connection of the account on every server, read page by page.
async fn snapshot(nats: &Client, tracking: &Tracking, presence: &Presence) -> Snapshot {
    // The event subscriptions reach the server before the snapshot is taken.
    nats.flush().await.map_err(|e| format!("NATS flush failed: {e}"))?;
    presence.begin_snapshot();
    let first = gather(nats, &query(tracking, 0)).await?;
    let mut listed = Vec::new();
    for (server_id, mut page) in first {
        loop {
            let (offset, got) = (page.offset, page.connections.len());
            let total = page.total;
            listed.extend(page.connections.into_iter().filter_map(|c| {
                let agent_id = tracking.agent(&c.authorized_user, &c.kind)?.to_owned();
                Some(((server_id.clone(), c.cid), agent_id))
            }));
            if got == 0 || offset + got >= total {
                break;
            }
            let next = offset + got - OVERLAP.min(got / 2);
            page = next_page(nats, &server_id, &query(tracking, next)).await?;
        }
    }
    // Overlapping pages list some connections twice.
    listed.sort_unstable();
    listed.dedup();
    Ok(listed)
}

fn query(tracking: &Tracking, offset: usize) -> String {
    // `state` 0 = open connections; `auth` includes authorized_user.
    json!({ "acc": tracking.account, "state": 0, "auth": true, "offset": offset, "limit": PAGE }).to_string()
}

fn parse(payload: &[u8]) -> Result<Option<(String, Connz)>, String> {
    let reply: ConnzReply = serde_json::from_slice(payload).map_err(|e| format!("unreadable CONNZ answer: {e}"))?;
    if let Some(error) = reply.error {
        return Err(format!("CONNZ refused: {error}"));
    }
    Ok(reply.server.zip(reply.data).map(|(s, d)| (s.id, d)))
}

/// Asks every server for its first page; returns each server's answer.
async fn gather(nats: &Client, query: &str) -> Result<Vec<(String, Connz)>, String> {
    let inbox = nats.new_inbox();
    let mut replies = nats
        .subscribe(inbox.clone())
        .await
        .map_err(|e| format!("cannot subscribe for CONNZ answers: {e}"))?;
    nats.publish_with_reply("$SYS.REQ.SERVER.PING.CONNZ", inbox, query.to_owned().into())
        .await
        .map_err(|e| format!("CONNZ request failed: {e}"))?;
    nats.flush().await.map_err(|e| format!("CONNZ request failed: {e}"))?;
    let mut pages = Vec::new();
    let mut wait = FIRST_ANSWER;
    while let Ok(Some(msg)) = tokio::time::timeout(wait, replies.next()).await {
        if let Some(page) = parse(&msg.payload)? {
            pages.push(page);
            wait = MORE_ANSWERS;
        }
    }
    if pages.is_empty() {
        return Err("no NATS server answered CONNZ (is TRMM_NATS_SYSTEM_USER in the system account?)".to_owned());
    }
    Ok(pages)
}

/// A further page from one server.
async fn next_page(nats: &Client, server_id: &str, query: &str) -> Result<Connz, String> {
    let subject = format!("$SYS.REQ.SERVER.{server_id}.CONNZ");
    let msg = nats
        .request(subject, query.to_owned().into())
        .await
        .map_err(|e| format!("CONNZ page request to {server_id} failed: {e}"))?;
    parse(&msg.payload)?
        .map(|(_, page)| page)
        .ok_or_else(|| format!("empty CONNZ answer from {server_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracking() -> Tracking {
        Tracking {
            account: "APP".into(),
            services: vec!["trmm-service".into()],
        }
    }

    #[test]
    fn only_callout_clients_are_agents() {
        let t = tracking();
        assert_eq!(t.agent("abc", "Client"), Some("abc"));
        assert_eq!(t.agent("trmm-service", "Client"), None);
        assert_eq!(t.agent("", "Client"), None);
        assert_eq!(t.agent("abc", "Leafnode"), None);
    }

    #[test]
    fn reads_connz_answers_and_refusals() {
        let answer = br#"{"server":{"name":"n","host":"h","id":"NABC","ver":"2.10.0"},
            "data":{"server_id":"NABC","now":"2024-01-01T00:00:00Z","num_connections":2,"total":2,"offset":0,
            "limit":4096,"connections":[{"cid":5,"kind":"Client","type":"nats","authorized_user":"agent1",
            "account":"APP"},{"cid":6,"kind":"Client","type":"nats","authorized_user":"trmm-service"}]}}"#;
        let (server, connz) = parse(answer).unwrap().unwrap();
        assert_eq!(server, "NABC");
        assert_eq!(connz.total, 2);
        assert_eq!(connz.connections[0].cid, 5);
        assert_eq!(connz.connections[0].authorized_user, "agent1");
        let refused = br#"{"server":{"id":"NABC"},"error":{"code":403,"description":"forbidden"}}"#;
        assert!(parse(refused).unwrap_err().contains("forbidden"));
        assert!(parse(b"nope").is_err());
    }
}
