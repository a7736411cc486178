//! Presence from nats-server itself: agents authenticated by the auth callout are known connected from the
//! system account's CONNECT/DISCONNECT events and CONNZ snapshots, across restarts of trmm-nats-api and of
//! nats-server, and with two replicas.

mod auth_support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_support::{Client, Suite, DEADLINE};
use futures_util::StreamExt;
use serde_json::json;
use trmm_protocol::calls::RawCmd;
use trmm_protocol::nats;
use trmm_rpc::client::{GatewayClient, GatewayError};

/// How fast a presence answer must be.
const AT_ONCE: Duration = Duration::from_secs(1);

/// An authenticated stand-in agent answering ping and rawcmd, recording the functions it received.
struct Agent {
    client: Client,
    responder: tokio::task::JoinHandle<()>,
    funcs: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    async fn connect(suite: &Suite, agent_id: &str, token: &str) -> Agent {
        let client = suite.connect(agent_id, token).await.expect("the agent connects");
        let mut commands = trmm_testkit::agent_commands(&client.nats, agent_id).await;
        let funcs = Arc::<Mutex<Vec<String>>>::default();
        let (seen, nats) = (funcs.clone(), client.nats.clone());
        let responder = tokio::spawn(async move {
            while let Some((msg, cmd)) = commands.next().await {
                seen.lock().unwrap().push(cmd.func.clone());
                let reply = if cmd.func == "ping" {
                    json!("pong")
                } else {
                    json!(cmd.payload.get("command"))
                };
                if let Some(to) = msg.reply {
                    let _ = nats.publish(to, nats::encode(&reply).unwrap().into()).await;
                }
            }
        });
        Agent {
            client,
            responder,
            funcs,
        }
    }

    /// Closes the connection: every handle on it goes, as when the agent's process stops.
    async fn leave(self) {
        self.responder.abort();
        let _ = self.responder.await;
        self.client.nats.drain().await.unwrap();
    }
}

fn rawcmd(cmd: &str) -> RawCmd {
    RawCmd {
        command: cmd.into(),
        shell: "bash".into(),
        timeout: 30,
        ..RawCmd::default()
    }
}

/// Waits (polling, with a deadline) until the gateway reports exactly `expected` connected among `ids`.
async fn wait_connected(gateway: &GatewayClient, ids: &[&String], expected: &[&String], within: Duration) {
    let ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    let expected: HashSet<String> = expected.iter().map(|s| (*s).clone()).collect();
    let start = Instant::now();
    loop {
        let got = gateway.connected(ids.clone()).await;
        if got.as_ref() == Ok(&expected) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "connected {got:?}, expected {expected:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A command to `agent_id` fails as offline at once, though its timeout is 30 s.
async fn assert_offline_at_once(gateway: &GatewayClient, agent_id: &str) {
    let start = Instant::now();
    let err = gateway
        .call(agent_id, rawcmd("hostname"), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(err, GatewayError::Offline);
    assert!(!gateway.ping(agent_id, Duration::from_secs(30)).await.unwrap());
    assert!(start.elapsed() < AT_ONCE, "{:?}", start.elapsed());
}

#[tokio::test]
async fn connected_agents_are_known_from_nats_events_and_absent_ones_are_offline_at_once() {
    let suite = Suite::start().await;
    let gateway = suite.gateway(None);
    let [(here, here_token), (away, _)] = suite.add_agents().await;
    // The services' own user in the agents' account is not an agent.
    let service_user = suite.auth.service().0.to_owned();

    let connected_at = Instant::now();
    let agent = Agent::connect(&suite, &here, &here_token).await;
    wait_connected(&gateway, &[&here, &away, &service_user], &[&here], AT_ONCE).await;
    assert!(connected_at.elapsed() < AT_ONCE);

    // trmm-nats-api subscribes to every agent subject for telemetry, so NATS alone would let this wait 30 s.
    assert_offline_at_once(&gateway, &away).await;
    assert!(gateway.ping(&here, Duration::from_secs(2)).await.unwrap());
    let reply = gateway
        .call(&here, rawcmd("uptime"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(reply, "uptime");

    // Bulk: no ping first; the absent agent is offline at once, the connected one is sent its command.
    agent.funcs.lock().unwrap().clear();
    let messages = [&here, &away]
        .iter()
        .map(|id| ((*id).clone(), rawcmd("bulk")))
        .collect();
    let start = Instant::now();
    let outcomes = gateway.call_many(messages, Duration::from_secs(30)).await.unwrap();
    assert!(start.elapsed() < AT_ONCE, "{:?}", start.elapsed());
    assert_eq!(outcomes, [Ok("bulk".to_owned()), Err(GatewayError::Offline)]);
    assert_eq!(*agent.funcs.lock().unwrap(), ["rawcmd"]);

    // Disconnecting is seen too.
    agent.leave().await;
    wait_connected(&gateway, &[&here, &away], &[], AT_ONCE).await;
    assert_offline_at_once(&gateway, &here).await;
}

#[tokio::test]
async fn an_agent_holding_two_connections_stays_connected_until_both_close() {
    let suite = Suite::start().await;
    let gateway = suite.gateway(None);
    let [(id, token), (marker, marker_token)] = suite.add_agents().await;
    let first = Agent::connect(&suite, &id, &token).await;
    let second = Agent::connect(&suite, &id, &token).await;
    let marker_agent = Agent::connect(&suite, &marker, &marker_token).await;
    wait_connected(&gateway, &[&id, &marker], &[&id, &marker], DEADLINE).await;
    first.leave().await;
    // DISCONNECT events arrive in order: once the marker's is processed, so is the first connection's.
    marker_agent.leave().await;
    wait_connected(&gateway, &[&id, &marker], &[&id], DEADLINE).await;
    second.leave().await;
    wait_connected(&gateway, &[&id], &[], DEADLINE).await;
}

#[tokio::test]
async fn presence_survives_restarts_of_nats_api_and_nats_server() {
    let mut suite = Suite::start().await;
    let [(here, here_token), (away, _)] = suite.add_agents().await;
    let _agent = Agent::connect(&suite, &here, &here_token).await;
    wait_connected(&suite.gateway(None), &[&here, &away], &[&here], DEADLINE).await;

    // A restarted trmm-nats-api learns the connections from its CONNZ snapshot (no event repeats them).
    suite.nats_api.stop().await;
    let (_replacement, port) = suite.start_nats_api().await;
    let gateway = suite.gateway(Some(port));
    wait_connected(&gateway, &[&here, &away], &[&here], AT_ONCE).await;
    assert_offline_at_once(&gateway, &away).await;

    // After a nats-server restart the agent reconnects (a CONNECT event, or the re-snapshot) and the absent one
    // stays offline.
    suite.nats.restart().await;
    wait_connected(&gateway, &[&here, &away], &[&here], DEADLINE).await;
    assert_offline_at_once(&gateway, &away).await;
}

#[tokio::test]
async fn two_replicas_agree() {
    let suite = Suite::start().await;
    let (_second, port) = suite.start_nats_api().await;
    let replicas = [suite.gateway(None), suite.gateway(Some(port))];
    let [(id, token), (away, _)] = suite.add_agents().await;
    let agent = Agent::connect(&suite, &id, &token).await;
    for gateway in &replicas {
        wait_connected(gateway, &[&id, &away], &[&id], AT_ONCE).await;
        assert_offline_at_once(gateway, &away).await;
    }
    agent.leave().await;
    for gateway in &replicas {
        wait_connected(gateway, &[&id], &[], AT_ONCE).await;
    }
}
