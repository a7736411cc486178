//! StreamCommand: a `rawcmd` whose output lines the agent publishes to `<agent_id>.cmdoutput.<cmd_id>` as they
//! are produced (agents ≥ 2.10; agent-protocol.md 2.3), relayed to the gRPC caller in order.

use std::time::Duration;

use async_nats::{RequestErrorKind, Subject};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tonic::Status;
use trmm_protocol::calls::AgentCall;
use trmm_protocol::nats::{self, StreamChunk};
use trmm_rpc::gateway::{CommandOutput, StreamCommandRequest};

use super::{envelope, timeout_of};

/// How long the final chunk may trail the agent's reply (they travel on different subscriptions).
const DONE_GRACE: Duration = Duration::from_secs(2);

/// What the agent published on the output subject: a map, or (upstream allows it) a bare string chunk.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Chunk {
    Full(StreamChunk),
    Text(String),
}

/// Subscribes to the output subject, then sends the command as a request (so a missing agent is reported at
/// once), and relays output until the chunk marked done, the deadline, or the caller going away.
pub async fn start(
    nats: &async_nats::Client,
    r: StreamCommandRequest,
) -> Result<impl Stream<Item = Result<CommandOutput, Status>> + Send + 'static, Status> {
    let agent = envelope::subject(&r.agent_id)?;
    let AgentCall::RawCmd(mut command) = envelope::call(&r.envelope)? else {
        return Err(Status::invalid_argument("only rawcmd output can be streamed"));
    };
    let cmd_id = format!("{:032x}", rand::random::<u128>());
    command.stream_id = Some(cmd_id.clone());
    let default = Duration::from_secs(command.timeout.max(1) as u64 + 2);
    let timeout = timeout_of(r.timeout_ms, default);
    let payload = envelope::encode(&command.into())?;
    // Same connection as the command below, so the server has the subscription before the agent can publish.
    let output = nats
        .subscribe(format!("{agent}.cmdoutput.{cmd_id}"))
        .await
        .map_err(|e| Status::unavailable(format!("NATS subscribe failed: {e}")))?;
    let (tx, rx) = mpsc::channel(256);
    let nats = nats.clone();
    tokio::spawn(async move {
        let request = async_nats::Request::new()
            .payload(payload.into())
            .timeout(Some(timeout));
        let reply = nats.send_request(Subject::from(agent.clone()), request);
        relay(reply, output, tx, timeout, &agent).await;
    });
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
}

async fn relay(
    reply: impl std::future::Future<Output = Result<async_nats::Message, async_nats::RequestError>>,
    mut output: async_nats::Subscriber,
    tx: mpsc::Sender<Result<CommandOutput, Status>>,
    timeout: Duration,
    agent: &str,
) {
    tokio::pin!(reply);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    // The whole reply of an agent that does not stream (older agents answer only at the end).
    let mut replied: Option<String> = None;
    let mut streamed = false;
    loop {
        tokio::select! {
            answer = &mut reply, if replied.is_none() => {
                match answer {
                    Ok(msg) => {
                        let text = nats::decode::<String>(&msg.payload).unwrap_or_default();
                        replied = Some(text);
                        deadline.as_mut().reset(tokio::time::Instant::now() + DONE_GRACE);
                    }
                    Err(e) => {
                        let status = match e.kind() {
                            RequestErrorKind::NoResponders => Status::failed_precondition(format!("agent {agent} is offline")),
                            RequestErrorKind::TimedOut => Status::deadline_exceeded(format!("agent {agent} did not finish within {timeout:?}")),
                            RequestErrorKind::Other => Status::unavailable(format!("NATS request failed: {e}")),
                        };
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                }
            }
            msg = output.next() => {
                let Some(msg) = msg else { return };
                let out = match nats::decode::<Chunk>(&msg.payload) {
                    Ok(Chunk::Full(c)) => CommandOutput { line: c.line, done: c.done, exit_code: c.exit_code },
                    Ok(Chunk::Text(line)) => CommandOutput { line: line.trim_end_matches('\n').to_owned(), ..Default::default() },
                    Err(e) => {
                        tracing::debug!(agent, error = %e, "undecodable output chunk dropped");
                        continue;
                    }
                };
                let done = out.done;
                streamed = true;
                if tx.send(Ok(out)).await.is_err() || done {
                    return;
                }
            }
            () = &mut deadline => {
                match replied.take() {
                    // Output was streamed but its end was lost: close with an unknown exit code.
                    Some(_) if streamed => {
                        let _ = tx.send(Ok(CommandOutput { line: String::new(), done: true, exit_code: -1 })).await;
                    }
                    // No stream came: relay the reply, with -1 because such agents do not report the exit code.
                    Some(text) => {
                        for line in text.lines() {
                            if tx.send(Ok(CommandOutput { line: line.to_owned(), ..Default::default() })).await.is_err() {
                                return;
                            }
                        }
                        let _ = tx.send(Ok(CommandOutput { line: String::new(), done: true, exit_code: -1 })).await;
                    }
                    None => {
                        let _ = tx.send(Err(Status::deadline_exceeded(format!("agent {agent} did not finish within {timeout:?}")))).await;
                    }
                }
                return;
            }
            () = tx.closed() => return,
        }
    }
}
