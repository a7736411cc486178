//! The gRPC AgentGateway (`proto/agent_gateway.proto`): how the API, worker and websocket services reach agents.

mod envelope;
mod events;
mod many;
mod presence;
mod stream;

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_nats::{RequestErrorKind, Subject};
use futures_util::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status};
use trmm_protocol::calls::{AgentCall, Ping};
use trmm_protocol::nats;
use trmm_rpc::gateway::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use trmm_rpc::gateway::{
    AgentReply, AgentRequest, CommandOutput, ConnectedReply, ConnectedRequest, DisconnectReply, DisconnectRequest,
    PingReply, PingRequest, PresenceEvent, PublishEventsReply, PublishEventsRequest, PublishManyReply,
    PublishManyRequest, PublishReply, PublishRequest, StatusReply, StatusRequest, StreamCommandRequest,
    WatchEventsRequest, WatchPresenceRequest,
};

pub use presence::{announce, track, Lookup, Presence, Tracking, DEPENDENCY as PRESENCE_DEPENDENCY};

/// Upstream pings with a 2 s timeout (agents/views.py ping).
const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Most agent ids one Connected call may ask about (a page of the agent table is at most 1000).
const MAX_CONNECTED_IDS: usize = 10_000;
/// Longest request the gateway waits for (scripts may run for an hour).
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);
/// Where `Status` asks nats-server for a round trip (nobody answers it: "no responders" is the answer).
const STATUS_PROBE: &str = "trmm.gateway.status";

/// The gateway service state.
pub struct Gateway {
    nats: async_nats::Client,
    presence: Presence,
    disconnect: Box<dyn Fn(String) -> futures_util::future::BoxFuture<'static, Result<u32, String>> + Send + Sync>,
    /// Cancelled by [`serve`]'s shutdown: ends the event streams, which tonic's graceful shutdown waits for.
    stopping: CancellationToken,
}

impl Gateway {
    /// A gateway publishing through `nats`; `disconnect` drops an agent's connections.
    pub fn new<F>(nats: async_nats::Client, presence: Presence, disconnect: F) -> Self
    where
        F: Fn(String) -> futures_util::future::BoxFuture<'static, Result<u32, String>> + Send + Sync + 'static,
    {
        Gateway {
            nats,
            presence,
            disconnect: Box::new(disconnect),
            stopping: CancellationToken::new(),
        }
    }

    /// FAILED_PRECONDITION at once when presence knows the agent is not connected: NATS itself cannot tell (the
    /// telemetry subscription `*` matches every agent subject, so there is never "no responders"). Where presence
    /// is not known (no NATS system account, or not re-synchronised in time) the call goes ahead and NATS decides,
    /// unless the caller must `confirm` the agent is there (work queued for offline agents, an interactive command
    /// stream): then a ping decides, so that no caller has to probe an agent itself.
    async fn require_connected(&self, agent_id: &str, confirm: bool) -> Result<(), Status> {
        match self.presence.lookup(agent_id).await {
            Lookup::Connected => Ok(()),
            Lookup::Offline => Err(offline(agent_id)),
            Lookup::Unknown if !confirm => Ok(()),
            Lookup::Unknown if self.answers_ping(agent_id, DEFAULT_PING_TIMEOUT).await? => Ok(()),
            Lookup::Unknown => Err(offline(agent_id)),
        }
    }

    /// Whether the agent answers a NATS ping within `timeout`.
    async fn answers_ping(&self, agent_id: &str, timeout: Duration) -> Result<bool, Status> {
        let payload = envelope::encode(&AgentCall::Ping(Ping))?;
        match self.send(agent_id, payload, timeout).await {
            Ok(reply) => Ok(nats::decode::<String>(&reply).is_ok_and(|s| s == "pong")),
            Err(status) if matches!(status.code(), Code::DeadlineExceeded | Code::FailedPrecondition) => Ok(false),
            Err(status) => Err(status),
        }
    }

    async fn request(&self, r: AgentRequest) -> Result<Vec<u8>, Status> {
        let timeout = timeout_of(r.timeout_ms, Duration::from_secs(30));
        let payload = envelope::checked(&r.envelope)?;
        let agent_id = &r.agent_id;
        self.require_connected(agent_id, r.queueable).await?;
        self.send(agent_id, payload, timeout).await
    }

    /// A NATS request to the agent's subject, whatever presence says.
    async fn send(&self, agent_id: &str, payload: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, Status> {
        let subject = Subject::from(envelope::subject(agent_id)?);
        let request = async_nats::Request::new()
            .payload(payload.into())
            .timeout(Some(timeout));
        match self.nats.send_request(subject, request).await {
            Ok(msg) => Ok(msg.payload.to_vec()),
            Err(e) => Err(match e.kind() {
                RequestErrorKind::NoResponders => offline(agent_id),
                RequestErrorKind::TimedOut => {
                    Status::deadline_exceeded(format!("agent {agent_id} did not answer within {timeout:?}"))
                }
                RequestErrorKind::Other => Status::unavailable(format!("NATS request failed: {e}")),
            }),
        }
    }
}

fn offline(agent_id: &str) -> Status {
    Status::failed_precondition(format!("agent {agent_id} is offline"))
}

fn timeout_of(ms: u32, default: Duration) -> Duration {
    if ms == 0 {
        default
    } else {
        Duration::from_millis(u64::from(ms)).min(MAX_REQUEST_TIMEOUT)
    }
}

#[tonic::async_trait]
impl AgentGateway for Gateway {
    async fn ping(&self, request: Request<PingRequest>) -> Result<Response<PingReply>, Status> {
        let r = request.into_inner();
        let timeout = timeout_of(r.timeout_ms, DEFAULT_PING_TIMEOUT);
        envelope::subject(&r.agent_id)?;
        if self.presence.lookup(&r.agent_id).await == Lookup::Offline {
            return Ok(Response::new(PingReply {
                online: false,
                round_trip_us: 0,
            }));
        }
        let start = Instant::now();
        let online = self.answers_ping(&r.agent_id, timeout).await?;
        let round_trip_us = if online {
            start.elapsed().as_micros().min(u32::MAX as u128) as u32
        } else {
            0
        };
        Ok(Response::new(PingReply { online, round_trip_us }))
    }

    async fn request(&self, request: Request<AgentRequest>) -> Result<Response<AgentReply>, Status> {
        let reply = Gateway::request(self, request.into_inner()).await?;
        nats::decode::<serde::de::IgnoredAny>(&reply)
            .map_err(|e| Status::data_loss(format!("agent reply is not msgpack: {e}")))?;
        Ok(Response::new(AgentReply { msgpack: reply }))
    }

    async fn publish(&self, request: Request<PublishRequest>) -> Result<Response<PublishReply>, Status> {
        let r = request.into_inner();
        let subject = envelope::subject(&r.agent_id)?;
        let payload = envelope::checked(&r.envelope)?;
        self.require_connected(&r.agent_id, r.queueable).await?;
        self.nats
            .publish(subject, payload.into())
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(PublishReply {}))
    }

    async fn publish_many(&self, request: Request<PublishManyRequest>) -> Result<Response<PublishManyReply>, Status> {
        Ok(Response::new(
            many::publish_many(&self.nats, &self.presence, request.into_inner()).await?,
        ))
    }

    type WatchPresenceStream = Pin<Box<dyn Stream<Item = Result<PresenceEvent, Status>> + Send>>;

    async fn watch_presence(
        &self,
        _request: Request<WatchPresenceRequest>,
    ) -> Result<Response<Self::WatchPresenceStream>, Status> {
        Ok(Response::new(Box::pin(self.presence.watch())))
    }

    async fn disconnect(&self, request: Request<DisconnectRequest>) -> Result<Response<DisconnectReply>, Status> {
        let agent_id = envelope::subject(&request.into_inner().agent_id)?;
        let connections_closed = (self.disconnect)(agent_id).await.map_err(Status::unavailable)?;
        Ok(Response::new(DisconnectReply { connections_closed }))
    }

    async fn connected(&self, request: Request<ConnectedRequest>) -> Result<Response<ConnectedReply>, Status> {
        let agent_ids = request.into_inner().agent_ids;
        if agent_ids.len() > MAX_CONNECTED_IDS {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_CONNECTED_IDS} agent ids per call"
            )));
        }
        let connected = self.presence.connected(&agent_ids).await.ok_or_else(|| {
            Status::unavailable("agent presence is not tracked (no NATS system account) or not synchronised")
        })?;
        Ok(Response::new(ConnectedReply {
            connected: connected.into_iter().cloned().collect(),
        }))
    }

    type StreamCommandStream = Pin<Box<dyn Stream<Item = Result<CommandOutput, Status>> + Send>>;

    async fn stream_command(
        &self,
        request: Request<StreamCommandRequest>,
    ) -> Result<Response<Self::StreamCommandStream>, Status> {
        let r = request.into_inner();
        envelope::subject(&r.agent_id)?;
        // Whoever watches the stream is told of an absent agent at once.
        self.require_connected(&r.agent_id, true).await?;
        let output = stream::start(&self.nats, r).await?;
        Ok(Response::new(Box::pin(output)))
    }

    async fn publish_events(
        &self,
        request: Request<PublishEventsRequest>,
    ) -> Result<Response<PublishEventsReply>, Status> {
        events::publish(&self.nats, request.into_inner().events).await?;
        Ok(Response::new(PublishEventsReply {}))
    }

    type WatchEventsStream = events::Watch;

    async fn watch_events(
        &self,
        _request: Request<WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Ok(Response::new(events::watch(&self.nats, self.stopping.clone()).await?))
    }

    async fn status(&self, _request: Request<StatusRequest>) -> Result<Response<StatusReply>, Status> {
        let nats_reachable = trmm_deps::nats::answers(self.nats.clone(), STATUS_PROBE.to_owned()).await;
        Ok(Response::new(StatusReply {
            nats_reachable,
            presence_synced: self.presence.is_synced(),
        }))
    }
}

/// Serves the gateway on `listen` until `shutdown`.
pub async fn serve(
    listen: SocketAddr,
    mut gateway: Gateway,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    tracing::info!(%listen, "AgentGateway listening");
    gateway.stopping = shutdown.clone();
    tonic::transport::Server::builder()
        .add_service(AgentGatewayServer::new(gateway))
        .serve_with_shutdown(listen, shutdown.cancelled_owned())
        .await
}
