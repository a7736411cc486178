//! The AgentGateway over real NATS and Postgres: typed errors, bulk publish and presence streaming.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use trmm_nats_api::gateway::{serve, Gateway, Presence};
use trmm_protocol::calls::{AgentCall, RawCmd};
use trmm_protocol::nats;
use trmm_rpc::gateway::agent_gateway_client::AgentGatewayClient;
use trmm_rpc::gateway::{
    AgentReply, AgentRequest, ConnectedRequest, DeliveryOutcome, PingRequest, PublishManyRequest, Targeted,
    WatchPresenceRequest,
};
use trmm_testkit::NatsServer;

struct Harness {
    nats: NatsServer,
    client: AgentGatewayClient<tonic::transport::Channel>,
    presence: Presence,
    _stop: tokio_util::sync::DropGuard,
}

async fn harness() -> Harness {
    harness_with(Presence::default()).await
}

async fn harness_with(presence: Presence) -> Harness {
    let nats = NatsServer::start().await;
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let port = trmm_testkit::free_port();
    let stop = CancellationToken::new();
    let gateway = Gateway::new(conn, presence.clone(), |_| Box::pin(async { Ok(0) }));
    tokio::spawn(serve(
        format!("127.0.0.1:{port}").parse().unwrap(),
        gateway,
        stop.clone(),
    ));
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = loop {
        match AgentGatewayClient::connect(endpoint.clone()).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("gateway never came up: {e}"),
        }
    };
    Harness {
        nats,
        client,
        presence,
        _stop: stop.drop_guard(),
    }
}

/// Answers ping with "pong" and echoes rawcmd's command; `sleep` never answers.
async fn fake_agent(url: &str, agent_id: &str) {
    let client = async_nats::connect(url).await.unwrap();
    let mut commands = trmm_testkit::agent_commands(&client, agent_id).await;
    tokio::spawn(async move {
        while let Some((msg, cmd)) = commands.next().await {
            let reply = match cmd.func.as_str() {
                "ping" => json!("pong"),
                "rawcmd" if cmd.payload.get("command").map(String::as_str) == Some("sleep") => continue,
                "rawcmd" => json!(cmd.payload["command"]),
                _ => continue,
            };
            if let Some(to) = msg.reply {
                client.publish(to, nats::encode(&reply).unwrap().into()).await.unwrap();
            }
        }
    });
}

/// Answers every command with "pong"/its command like [`fake_agent`], recording the functions it received.
async fn recording_agent(url: &str, agent_id: &str) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let client = async_nats::connect(url).await.unwrap();
    let mut commands = trmm_testkit::agent_commands(&client, agent_id).await;
    let funcs = std::sync::Arc::<std::sync::Mutex<Vec<String>>>::default();
    let seen = funcs.clone();
    tokio::spawn(async move {
        while let Some((msg, cmd)) = commands.next().await {
            seen.lock().unwrap().push(cmd.func.clone());
            let reply = if cmd.func == "ping" {
                json!("pong")
            } else {
                json!(cmd.payload["command"])
            };
            if let Some(to) = msg.reply {
                client.publish(to, nats::encode(&reply).unwrap().into()).await.unwrap();
            }
        }
    });
    funcs
}

impl Harness {
    /// AgentGateway.Request of [`rawcmd`]`(command)` for `agent_id`, waiting at most `timeout_ms`.
    async fn request(&self, agent_id: &str, command: &str, timeout_ms: u32) -> Result<AgentReply, tonic::Status> {
        let request = AgentRequest {
            agent_id: agent_id.into(),
            envelope: rawcmd(command),
            timeout_ms,
            queueable: false,
        };
        self.client
            .clone()
            .request(request)
            .await
            .map(tonic::Response::into_inner)
    }
}

impl Harness {
    /// AgentGateway.Ping of `agent_id`, waiting at most `timeout_ms`: whether it answered.
    async fn ping(&self, agent_id: &str, timeout_ms: u32) -> bool {
        let request = PingRequest {
            agent_id: agent_id.into(),
            timeout_ms,
        };
        self.client.clone().ping(request).await.unwrap().into_inner().online
    }
}

fn rawcmd(command: &str) -> Vec<u8> {
    let call: AgentCall = RawCmd {
        command: command.into(),
        shell: "bash".into(),
        timeout: 5,
        ..RawCmd::default()
    }
    .into();
    call.encode().unwrap()
}

#[tokio::test]
async fn ping_request_and_typed_errors() {
    let h = harness().await;
    fake_agent(&h.nats.url(), "agentAqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq").await;

    assert!(h.ping("agentAqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 2000).await);
    assert!(!h.ping("nobodyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 2000).await);

    let reply = h
        .request("agentAqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "hello", 2000)
        .await
        .unwrap();
    assert_eq!(nats::decode::<String>(&reply.msgpack).unwrap(), "hello");
    assert_eq!(nats::decode::<String>(&reply.msgpack).unwrap(), "hello");

    let start = Instant::now();
    let err = h
        .request("nobodyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "x", 5000)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "offline must not wait for the timeout"
    );

    let err = h
        .request("agentAqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "sleep", 300)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);

    let err = h.request("a.b", "x", 300).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn publish_many_reaches_every_agent() {
    let mut h = harness().await;
    let listener = async_nats::connect(h.nats.url()).await.unwrap();
    let mut sub = trmm_testkit::subscribe_live(&listener, "*", "probe").await;
    let messages: Vec<Targeted> = (0..2000)
        .map(|i| Targeted {
            agent_id: format!("bulk{i:q<36}"),
            envelope: rawcmd(&format!("job {i}")),
        })
        .collect();
    let reply = h
        .client
        .publish_many(PublishManyRequest {
            messages,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.published, 2000);
    assert!(reply.failed.is_empty());
    let mut got = std::collections::HashSet::new();
    while got.len() < 2000 {
        let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap()
            .unwrap();
        if !msg.subject.starts_with("bulk") {
            continue;
        }
        let cmd: nats::Command = nats::decode(&msg.payload).unwrap();
        assert_eq!(cmd.timeout, 5);
        got.insert(msg.subject.to_string());
    }
}

#[tokio::test]
async fn publish_many_with_replies_accounts_for_every_agent() {
    let mut h = harness().await;
    // As trmm-nats-api's telemetry subscription in a deployment: NATS never says "no responders" for an agent.
    let ingest = async_nats::connect(h.nats.url()).await.unwrap();
    let _telemetry = trmm_testkit::subscribe_live(&ingest, "*", "ingest").await;
    for i in 0..40 {
        fake_agent(&h.nats.url(), &format!("up{i:q<38}")).await;
    }
    let garbage = async_nats::connect(h.nats.url()).await.unwrap();
    let mut garbled = trmm_testkit::subscribe_live(
        &garbage,
        "garbledqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        "garbledqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
    )
    .await;
    tokio::spawn(async move {
        while let Some(msg) = garbled.next().await {
            let is_ping = nats::decode::<nats::Command>(&msg.payload).is_ok_and(|c| c.func == "ping");
            let reply = if is_ping {
                nats::encode(&"pong").unwrap()
            } else {
                vec![0xc1]
            };
            garbage.publish(msg.reply.unwrap(), reply.into()).await.unwrap();
        }
    });
    let mut agents: Vec<(String, &str)> = (0..40).map(|i| (format!("up{i:q<38}"), "hi")).collect();
    agents.extend([
        (format!("up{:q<38}", 0), "sleep"),
        ("goneqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq".into(), "hi"),
        ("garbledqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq".into(), "hi"),
        ("a.b".into(), "hi"),
    ]);
    let messages = agents
        .iter()
        .map(|(id, cmd)| Targeted {
            agent_id: id.clone(),
            envelope: rawcmd(cmd),
        })
        .collect();
    let started = Instant::now();
    let reply = h
        .client
        .publish_many(PublishManyRequest {
            messages,
            reply_timeout_ms: 1500,
            probe_timeout_ms: 1000,
        })
        .await
        .unwrap()
        .into_inner();
    // One probe and one reply window for the whole batch, not one per agent.
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert_eq!(reply.published, 42, "the 40 answering agents, up0 again and garbled");
    let got: Vec<(String, DeliveryOutcome, String)> = reply
        .deliveries
        .iter()
        .map(|d| {
            let detail = match d.outcome() {
                DeliveryOutcome::Replied => nats::decode::<serde_json::Value>(&d.reply).unwrap().to_string(),
                _ => d.detail.clone(),
            };
            (d.agent_id.clone(), d.outcome(), detail)
        })
        .collect();
    let mut expected: Vec<(String, DeliveryOutcome, String)> = (0..40)
        .map(|i| (format!("up{i:q<38}"), DeliveryOutcome::Replied, "\"hi\"".to_owned()))
        .collect();
    expected.push((format!("up{:q<38}", 0), DeliveryOutcome::Timeout, String::new()));
    expected.push((
        "goneqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq".into(),
        DeliveryOutcome::Offline,
        String::new(),
    ));
    assert_eq!(got[..42], expected[..]);
    assert_eq!(
        (got[42].0.as_str(), got[42].1),
        ("garbledqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", DeliveryOutcome::Unreadable)
    );
    assert_eq!(
        got[43],
        (
            "a.b".into(),
            DeliveryOutcome::Invalid,
            "invalid agent id \"a.b\": an agent id has 40 to 200 characters".into()
        )
    );
}

#[tokio::test]
async fn presence_streams_snapshot_and_transitions() {
    let h = harness_with(Presence::tracked()).await;
    h.presence.begin_snapshot();
    h.presence.finish_snapshot(vec![(("S1".into(), 1), "up".into())]);
    let mut client = h.client.clone();
    let mut stream = client
        .watch_presence(WatchPresenceRequest {})
        .await
        .unwrap()
        .into_inner();
    let e = next_event(&mut stream).await;
    assert_eq!((e.agent_id.as_str(), e.online), ("up", true));
    h.presence.connect(("S1".into(), 2), "down");
    let e = next_event(&mut stream).await;
    assert_eq!((e.agent_id.as_str(), e.online), ("down", true));
    h.presence.disconnect(("S1".into(), 1));
    let e = next_event(&mut stream).await;
    assert_eq!((e.agent_id.as_str(), e.online), ("up", false));
    let connected = client
        .connected(ConnectedRequest {
            agent_ids: vec!["up".into(), "down".into(), "never".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .connected;
    assert_eq!(connected, ["down"]);
}

async fn next_event(
    stream: &mut tonic::Streaming<trmm_rpc::gateway::PresenceEvent>,
) -> trmm_rpc::gateway::PresenceEvent {
    let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
    next.unwrap().unwrap().unwrap()
}

#[tokio::test]
async fn tracked_presence_answers_offline_at_once_and_sends_no_pings() {
    let mut h = harness_with(Presence::tracked()).await;
    // As trmm-nats-api's telemetry subscription in a deployment: NATS never says "no responders" for an agent.
    let ingest = async_nats::connect(h.nats.url()).await.unwrap();
    let _telemetry = trmm_testkit::subscribe_live(&ingest, "*", "ingest").await;
    let funcs = recording_agent(&h.nats.url(), "hereqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq").await;
    h.presence.begin_snapshot();
    h.presence.finish_snapshot(vec![(
        ("S1".into(), 1),
        "hereqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq".into(),
    )]);

    let start = Instant::now();
    let err = h
        .request("awayqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "x", 30_000)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(!h.ping("awayqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 30_000).await);
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());

    let reply = h
        .client
        .publish_many(PublishManyRequest {
            messages: [
                "hereqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
                "awayqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
            ]
            .iter()
            .map(|id| Targeted {
                agent_id: (*id).into(),
                envelope: rawcmd("hi"),
            })
            .collect(),
            reply_timeout_ms: 30_000,
            probe_timeout_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    let got: Vec<(&str, DeliveryOutcome)> = reply
        .deliveries
        .iter()
        .map(|d| (d.agent_id.as_str(), d.outcome()))
        .collect();
    assert_eq!(
        got,
        [
            ("hereqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", DeliveryOutcome::Replied),
            ("awayqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", DeliveryOutcome::Offline)
        ]
    );
    assert_eq!(reply.published, 1);
    for (agent_id, code) in [
        ("hereqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", Code::Ok),
        ("awayqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", Code::FailedPrecondition),
    ] {
        let answer = h.client.request(queueable(agent_id, 30_000)).await;
        assert_eq!(answer.err().map_or(Code::Ok, |e| e.code()), code, "{agent_id}");
    }
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(
        *funcs.lock().unwrap(),
        ["rawcmd", "rawcmd"],
        "the commands only, no ping first"
    );
}

fn queueable(agent_id: &str, timeout_ms: u32) -> AgentRequest {
    AgentRequest {
        agent_id: agent_id.into(),
        envelope: rawcmd("hi"),
        timeout_ms,
        queueable: true,
    }
}

#[tokio::test]
async fn untracked_presence_pings_before_queueable_work_only() {
    let mut h = harness().await;
    // A subscriber on every subject, as in a deployment: only a ping tells an absent agent from a silent one.
    let ingest = async_nats::connect(h.nats.url()).await.unwrap();
    let _telemetry = trmm_testkit::subscribe_live(&ingest, "*", "ingest").await;
    let funcs = recording_agent(&h.nats.url(), "hereqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq").await;

    let start = Instant::now();
    let err = h
        .client
        .request(queueable("awayqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 30_000))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    h.client
        .request(queueable("hereqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 5_000))
        .await
        .unwrap();
    assert_eq!(*funcs.lock().unwrap(), ["ping", "rawcmd"]);

    // Work that is not queued is not delayed by a ping: NATS decides (here, the request times out).
    let mut plain = queueable("awayqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 500);
    plain.queueable = false;
    let err = h.client.request(plain).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
}
