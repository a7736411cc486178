//! AgentGateway StreamCommand over a real nats-server: output relayed in order until `done`, older agents that
//! only reply, and the typed errors.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use trmm_nats_api::gateway::{serve, Gateway};
use trmm_protocol::calls::{AgentCall, RawCmd, RunScript, Script};
use trmm_protocol::nats::{self, StreamChunk};
use trmm_rpc::client::{GatewayClient, GatewayError};
use trmm_rpc::gateway::CommandOutput;
use trmm_rpc::gateway::StreamCommandRequest;
use trmm_testkit::NatsServer;

const STREAMING: &str = "streamingqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const REPLY_ONLY: &str = "replyonlyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const SILENT: &str = "silentqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";

async fn gateway(nats: &NatsServer) -> (GatewayClient, tokio_util::sync::DropGuard) {
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let port = trmm_testkit::free_port();
    let stop = CancellationToken::new();
    let gw = Gateway::new(conn, Default::default(), |_| Box::pin(async { Ok(0) }));
    tokio::spawn(serve(format!("127.0.0.1:{port}").parse().unwrap(), gw, stop.clone()));
    let client = GatewayClient::lazy(&format!("http://127.0.0.1:{port}")).unwrap();
    // Wait for the server: a ping to nobody answers "offline" once it listens.
    for _ in 0..200 {
        if client.ping(SILENT, Duration::from_millis(100)).await.is_ok() {
            return (client, stop.drop_guard());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the gateway never came up");
}

/// `streaming` publishes each word of the command as a line, then done with exit code 3, then replies;
/// otherwise the agent only replies with the command text (as the 2.9.1 Go agent does); silent answers nothing but
/// pings.
async fn agent(url: &str, agent_id: &'static str) {
    let client = async_nats::connect(url).await.unwrap();
    let mut commands = trmm_testkit::agent_commands(&client, agent_id).await;
    tokio::spawn(async move {
        while let Some((msg, cmd)) = commands.next().await {
            // Connected agents answer the gateway's ping (it pings first when presence is not tracked).
            if cmd.func == "ping" {
                if let Some(reply) = msg.reply {
                    client
                        .publish(reply, nats::encode("pong").unwrap().into())
                        .await
                        .unwrap();
                }
                continue;
            }
            let text = cmd.payload.get("command").cloned().unwrap_or_default();
            if agent_id == SILENT {
                continue;
            }
            if agent_id == STREAMING {
                assert_eq!(cmd.stream, Some(true));
                let subject = format!("{agent_id}.cmdoutput.{}", cmd.payload["cmd_id"]);
                for word in text.split(' ') {
                    let chunk = StreamChunk {
                        line: word.into(),
                        done: false,
                        exit_code: 0,
                    };
                    client
                        .publish(subject.clone(), nats::encode(&chunk).unwrap().into())
                        .await
                        .unwrap();
                }
                // A bare string chunk, which upstream also accepts.
                client
                    .publish(subject.clone(), nats::encode("tail\n").unwrap().into())
                    .await
                    .unwrap();
                let done = StreamChunk {
                    line: String::new(),
                    done: true,
                    exit_code: 3,
                };
                client
                    .publish(subject, nats::encode(&done).unwrap().into())
                    .await
                    .unwrap();
            }
            if let Some(reply) = msg.reply {
                let all = text.replace(' ', "\n");
                client.publish(reply, nats::encode(&all).unwrap().into()).await.unwrap();
            }
        }
    });
}

fn rawcmd(text: &str, timeout: i64) -> RawCmd {
    RawCmd {
        command: text.into(),
        shell: "/bin/bash".into(),
        timeout,
        ..RawCmd::default()
    }
}

async fn collect(
    client: &GatewayClient,
    agent_id: &str,
    text: &str,
    timeout: i64,
) -> Vec<Result<CommandOutput, GatewayError>> {
    // Refused at once (an absent agent) or ended by an error: either way the last item.
    match client
        .stream_command(agent_id, rawcmd(text, timeout), Duration::ZERO)
        .await
    {
        Ok(stream) => stream.collect().await,
        Err(e) => vec![Err(e)],
    }
}

fn line(l: &str) -> Result<CommandOutput, GatewayError> {
    Ok(CommandOutput {
        line: l.into(),
        done: false,
        exit_code: 0,
    })
}

fn done(exit_code: i64) -> Result<CommandOutput, GatewayError> {
    Ok(CommandOutput {
        line: String::new(),
        done: true,
        exit_code,
    })
}

/// What the gateway relays of the command `text` sent to a fresh stand-in agent `agent_id`.
async fn relayed(agent_id: &'static str, text: &str) -> Vec<Result<CommandOutput, GatewayError>> {
    let nats = NatsServer::start().await;
    let (client, _stop) = gateway(&nats).await;
    agent(&nats.url(), agent_id).await;
    collect(&client, agent_id, text, 5).await
}

#[tokio::test]
async fn output_is_relayed_in_order_until_done() {
    let got = relayed(STREAMING, "one two three").await;
    assert_eq!(got, [line("one"), line("two"), line("three"), line("tail"), done(3)]);
}

#[tokio::test]
async fn an_agent_that_only_replies_gets_its_reply_as_lines() {
    let got = relayed(REPLY_ONLY, "alpha beta").await;
    assert_eq!(got, [line("alpha"), line("beta"), done(-1)]);
}

#[tokio::test]
async fn typed_errors() {
    let nats = NatsServer::start().await;
    let (client, _stop) = gateway(&nats).await;
    agent(&nats.url(), SILENT).await;
    assert_eq!(
        collect(&client, "nobodyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "x", 5).await,
        [Err(GatewayError::Offline)]
    );
    assert_eq!(collect(&client, SILENT, "x", 1).await, [Err(GatewayError::Timeout)]);
    let script = AgentCall::from(RunScript(Script {
        code: "x".into(),
        timeout: 5,
        ..Script::default()
    }));
    let request = StreamCommandRequest {
        agent_id: SILENT.into(),
        envelope: script.encode().unwrap(),
        timeout_ms: 0,
    };
    let refused = client.raw().stream_command(request).await.err().map(GatewayError::from);
    assert!(matches!(refused, Some(GatewayError::Invalid(_))), "{refused:?}");
    let bad_subject = client.stream_command("a.b", rawcmd("x", 5), Duration::ZERO).await.err();
    assert!(matches!(bad_subject, Some(GatewayError::Invalid(_))), "{bad_subject:?}");
}
