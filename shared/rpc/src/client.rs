//! The one typed AgentGateway client of trmm-api, trmm-worker and trmm-websocket: calls are `trmm_protocol`'s typed
//! agent calls, replies their typed replies, and gRPC outcomes become [`GatewayError`] variants.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::gateway::agent_gateway_client::AgentGatewayClient;
use trmm_protocol::calls::{self, AgentCall, Call, RawCmd};
use trmm_protocol::events::Event;

use crate::gateway::{
    AgentRequest, CommandOutput, ConnectedRequest, DeliveryOutcome, DisconnectRequest, PingRequest, PresenceEvent,
    PublishEventsRequest, PublishManyRequest, PublishRequest, StatusRequest, StreamCommandRequest, Targeted,
    WatchEventsRequest, WatchPresenceRequest,
};

/// Why a call through the gateway did not produce the agent's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The agent is not connected to NATS (no subscriber on its subject).
    #[error("the agent is offline")]
    Offline,
    /// The agent is connected but did not answer in time.
    #[error("the agent did not answer in time")]
    Timeout,
    /// The request itself was refused (bad agent id, bad command).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The gateway or NATS cannot be reached; worth retrying later.
    #[error("the agent gateway is unavailable: {0}")]
    Unavailable(String),
    /// The agent answered with something that is not valid msgpack/JSON.
    #[error("unreadable agent reply: {0}")]
    BadReply(String),
}

impl GatewayError {
    /// Whether retrying later may succeed (the gateway, not the agent, was the problem).
    pub fn is_transient(&self) -> bool {
        matches!(self, GatewayError::Unavailable(_))
    }
}

impl From<Status> for GatewayError {
    fn from(status: Status) -> Self {
        match status.code() {
            Code::FailedPrecondition => GatewayError::Offline,
            Code::DeadlineExceeded => GatewayError::Timeout,
            Code::InvalidArgument => GatewayError::Invalid(status.message().to_owned()),
            Code::DataLoss => GatewayError::BadReply(status.message().to_owned()),
            _ => GatewayError::Unavailable(status.message().to_owned()),
        }
    }
}

/// A cheaply cloneable AgentGateway client that connects on first use and reconnects by itself.
#[derive(Clone, Debug)]
pub struct GatewayClient {
    inner: AgentGatewayClient<Channel>,
}

impl GatewayClient {
    /// A client for `url` (e.g. `http://127.0.0.1:50051`); fails only on a malformed URL.
    pub fn lazy(url: &str) -> Result<GatewayClient, GatewayError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| GatewayError::Invalid(format!("gateway URL {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(3));
        Ok(GatewayClient {
            inner: AgentGatewayClient::new(endpoint.connect_lazy()),
        })
    }

    /// The plain gRPC stub, for what the typed methods do not offer (tests of the gateway's own checks).
    pub fn raw(&self) -> AgentGatewayClient<Channel> {
        self.inner.clone()
    }

    /// Whether the agent answers a ping within `timeout`.
    pub async fn ping(&self, agent_id: &str, timeout: Duration) -> Result<bool, GatewayError> {
        let req = PingRequest {
            agent_id: agent_id.to_owned(),
            timeout_ms: millis(timeout),
        };
        Ok(self.inner.clone().ping(req).await?.into_inner().online)
    }

    /// Sends `call` and returns the agent's typed reply.
    pub async fn call<C: Call>(&self, agent_id: &str, call: C, timeout: Duration) -> Result<C::Reply, GatewayError> {
        self.request(agent_id, call, timeout, false).await
    }

    /// [`GatewayClient::call`] with the call's own timeout (upstream's wait for each function; a command's or
    /// script's own timeout).
    pub async fn call_default<C: Call>(&self, agent_id: &str, call: C) -> Result<C::Reply, GatewayError> {
        let timeout = call.clone().into().default_timeout();
        self.call(agent_id, call, timeout).await
    }

    /// [`GatewayClient::call`] for work that is queued when the agent is offline: an absent agent is
    /// [`GatewayError::Offline`] at once, never a timeout (the gateway asks the agent itself only where it does
    /// not track presence).
    pub async fn call_queueable<C: Call>(
        &self,
        agent_id: &str,
        call: C,
        timeout: Duration,
    ) -> Result<C::Reply, GatewayError> {
        self.request(agent_id, call, timeout, true).await
    }

    async fn request<C: Call>(
        &self,
        agent_id: &str,
        call: C,
        timeout: Duration,
        queueable: bool,
    ) -> Result<C::Reply, GatewayError> {
        let req = AgentRequest {
            agent_id: agent_id.to_owned(),
            envelope: envelope(call)?,
            timeout_ms: millis(timeout),
            queueable,
        };
        let reply = self.inner.clone().request(req).await?.into_inner();
        calls::decode_reply::<C>(&reply.msgpack).map_err(|e| GatewayError::BadReply(e.to_string()))
    }

    /// Sends `call` without waiting for an answer.
    pub async fn send(&self, agent_id: &str, call: impl Into<AgentCall>) -> Result<(), GatewayError> {
        self.publish(agent_id, call.into(), false).await
    }

    /// [`GatewayClient::send`] for work that is queued when the agent is offline (see
    /// [`GatewayClient::call_queueable`]).
    pub async fn send_queueable(&self, agent_id: &str, call: impl Into<AgentCall>) -> Result<(), GatewayError> {
        self.publish(agent_id, call.into(), true).await
    }

    async fn publish(&self, agent_id: &str, call: AgentCall, queueable: bool) -> Result<(), GatewayError> {
        let req = PublishRequest {
            agent_id: agent_id.to_owned(),
            envelope: envelope(call)?,
            queueable,
        };
        self.inner.clone().publish(req).await?;
        Ok(())
    }

    /// Sends each agent its call through one PublishMany: connected agents are sent the call and get `timeout`
    /// to reply, the others are [`GatewayError::Offline`] at once. One outcome per call, in order.
    pub async fn call_many<C: Call>(
        &self,
        calls: Vec<(String, C)>,
        timeout: Duration,
    ) -> Result<Vec<Result<C::Reply, GatewayError>>, GatewayError> {
        let messages = calls
            .into_iter()
            .map(|(agent_id, call)| {
                Ok(Targeted {
                    agent_id,
                    envelope: envelope(call)?,
                })
            })
            .collect::<Result<Vec<_>, GatewayError>>()?;
        let req = PublishManyRequest {
            messages,
            reply_timeout_ms: millis(timeout).max(1),
            probe_timeout_ms: 0,
        };
        let reply = self.inner.clone().publish_many(req).await?.into_inner();
        Ok(reply
            .deliveries
            .into_iter()
            .map(|d| match d.outcome() {
                DeliveryOutcome::Replied => {
                    calls::decode_reply::<C>(&d.reply).map_err(|e| GatewayError::BadReply(e.to_string()))
                }
                DeliveryOutcome::Timeout => Err(GatewayError::Timeout),
                DeliveryOutcome::Offline => Err(GatewayError::Offline),
                DeliveryOutcome::Invalid => Err(GatewayError::Invalid(d.detail)),
                DeliveryOutcome::Unreadable | DeliveryOutcome::Unspecified => Err(GatewayError::BadReply(d.detail)),
            })
            .collect())
    }

    /// Runs `command` with streamed output; the stream ends after the item with `done == true`, or with an
    /// error. `timeout` zero means the command's own timeout + 2 s.
    pub async fn stream_command(
        &self,
        agent_id: &str,
        command: RawCmd,
        timeout: Duration,
    ) -> Result<impl Stream<Item = Result<CommandOutput, GatewayError>> + Send + 'static, GatewayError> {
        let req = StreamCommandRequest {
            agent_id: agent_id.to_owned(),
            envelope: envelope(command)?,
            timeout_ms: millis(timeout),
        };
        let stream = self.inner.clone().stream_command(req).await?.into_inner();
        Ok(stream.map(|item| item.map_err(GatewayError::from)))
    }

    /// Drops the agent's NATS connections; returns how many were closed.
    pub async fn disconnect(&self, agent_id: &str) -> Result<u32, GatewayError> {
        let req = DisconnectRequest {
            agent_id: agent_id.to_owned(),
        };
        Ok(self
            .inner
            .clone()
            .disconnect(req)
            .await?
            .into_inner()
            .connections_closed)
    }

    /// The connected ones among `agent_ids` (one call per page of agents).
    pub async fn connected(&self, agent_ids: Vec<String>) -> Result<HashSet<String>, GatewayError> {
        let req = ConnectedRequest { agent_ids };
        let reply = self.inner.clone().connected(req).await?.into_inner();
        Ok(reply.connected.into_iter().collect())
    }

    /// Every agent's current presence, then each change as it happens.
    pub async fn watch_presence(
        &self,
    ) -> Result<impl Stream<Item = Result<PresenceEvent, GatewayError>> + Send + 'static, GatewayError> {
        let stream = self
            .inner
            .clone()
            .watch_presence(WatchPresenceRequest {})
            .await?
            .into_inner();
        Ok(stream.map(|item| item.map_err(GatewayError::from)))
    }
}

/// What the gateway says of its own dependencies (`Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayStatus {
    /// nats-server answered the gateway's round trip.
    pub nats_reachable: bool,
    /// Agent presence is tracked and synchronised.
    pub presence_synced: bool,
}

impl GatewayClient {
    /// Publishes dashboard events on their NATS subjects (all or none: an invalid one refuses the batch).
    pub async fn publish_events(&self, events: &[Event]) -> Result<(), GatewayError> {
        let req = PublishEventsRequest {
            events: events.iter().map(Event::to_json).collect(),
        };
        self.inner.clone().publish_events(req).await?;
        Ok(())
    }

    /// Every dashboard event published from now on; one that cannot be read is a [`GatewayError::BadReply`] item.
    pub async fn watch_events(
        &self,
    ) -> Result<impl Stream<Item = Result<Event, GatewayError>> + Send + 'static, GatewayError> {
        let stream = self
            .inner
            .clone()
            .watch_events(WatchEventsRequest {})
            .await?
            .into_inner();
        Ok(stream.map(|item| {
            let message = item.map_err(GatewayError::from)?;
            Event::from_json(&message.event).map_err(|e| GatewayError::BadReply(e.to_string()))
        }))
    }

    /// Whether the gateway reaches nats-server and knows presence.
    pub async fn status(&self) -> Result<GatewayStatus, GatewayError> {
        let reply = self.inner.clone().status(StatusRequest {}).await?.into_inner();
        Ok(GatewayStatus {
            nats_reachable: reply.nats_reachable,
            presence_synced: reply.presence_synced,
        })
    }
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

/// The envelope of `call`.
fn envelope(call: impl Into<AgentCall>) -> Result<Vec<u8>, GatewayError> {
    call.into().encode().map_err(|e| GatewayError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_typed_errors() {
        assert_eq!(
            GatewayError::from(Status::failed_precondition("x")),
            GatewayError::Offline
        );
        assert_eq!(
            GatewayError::from(Status::deadline_exceeded("x")),
            GatewayError::Timeout
        );
        assert!(GatewayError::from(Status::unavailable("down")).is_transient());
        assert!(!GatewayError::Offline.is_transient());
    }
}
