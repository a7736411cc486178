//! Client side of the AgentGateway: how dashboard actions reach agents, with gRPC outcomes mapped to
//! Tactical RMM's answers.

use std::time::Duration;

use serde_json::Value;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use trmm_rpc::gateway::agent_gateway_client::AgentGatewayClient;
use trmm_rpc::gateway::{AgentRequest, Command, DisconnectRequest, PingRequest, PublishRequest};

use crate::error::ApiError;

/// TRMM's answer whenever an agent does not reply (agents/views.py: `notify_error("Unable to contact the agent")`).
pub const UNREACHABLE: &str = "Unable to contact the agent";

/// A cheaply cloneable AgentGateway client that connects on first use.
#[derive(Clone)]
pub struct Gateway {
    client: AgentGatewayClient<Channel>,
}

impl Gateway {
    /// A client for `url` (e.g. http://127.0.0.1:50051); fails only on a malformed URL.
    pub fn lazy(url: &str) -> Result<Gateway, String> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("invalid gateway URL {url:?}: {e}"))?
            .connect_timeout(Duration::from_secs(3));
        Ok(Gateway {
            client: AgentGatewayClient::new(endpoint.connect_lazy()),
        })
    }

    fn map(status: tonic::Status) -> ApiError {
        match status.code() {
            Code::DeadlineExceeded => ApiError::BadRequest(UNREACHABLE.into()),
            Code::FailedPrecondition => ApiError::BadRequest(format!("{UNREACHABLE}: the agent is offline")),
            Code::InvalidArgument => ApiError::BadRequest(status.message().to_owned()),
            _ => ApiError::Unavailable(format!("The agent gateway is unavailable: {}", status.message())),
        }
    }

    /// Whether the agent answers a ping within `timeout`.
    pub async fn ping(&self, agent_id: &str, timeout: Duration) -> Result<bool, ApiError> {
        let req = PingRequest {
            agent_id: agent_id.to_owned(),
            timeout_ms: timeout.as_millis() as u32,
        };
        Ok(self
            .client
            .clone()
            .ping(req)
            .await
            .map_err(Self::map)?
            .into_inner()
            .online)
    }

    /// Sends a command and returns the agent's reply as JSON.
    pub async fn request(&self, agent_id: &str, command: Command, timeout: Duration) -> Result<Value, ApiError> {
        let req = AgentRequest {
            agent_id: agent_id.to_owned(),
            command: Some(command),
            timeout_ms: timeout.as_millis() as u32,
        };
        let reply = self.client.clone().request(req).await.map_err(Self::map)?.into_inner();
        serde_json::from_str(&reply.json).map_err(|e| ApiError::Internal(format!("gateway reply: {e}")))
    }

    /// Like [`Gateway::request`], but `Ok(None)` when the agent is not connected (to queue the command instead).
    pub async fn request_unless_offline(
        &self,
        agent_id: &str,
        command: Command,
        timeout: Duration,
    ) -> Result<Option<Value>, ApiError> {
        let req = AgentRequest {
            agent_id: agent_id.to_owned(),
            command: Some(command),
            timeout_ms: timeout.as_millis() as u32,
        };
        let reply = match self.client.clone().request(req).await {
            Ok(reply) => reply.into_inner(),
            Err(status) if status.code() == Code::FailedPrecondition => return Ok(None),
            Err(status) => return Err(Self::map(status)),
        };
        serde_json::from_str(&reply.json)
            .map(Some)
            .map_err(|e| ApiError::Internal(format!("gateway reply: {e}")))
    }

    /// Sends a command without waiting for a reply.
    pub async fn publish(&self, agent_id: &str, command: Command) -> Result<(), ApiError> {
        let req = PublishRequest {
            agent_id: agent_id.to_owned(),
            command: Some(command),
        };
        self.client.clone().publish(req).await.map_err(Self::map)?;
        Ok(())
    }

    /// Drops the agent's NATS connections; returns how many were closed.
    pub async fn disconnect(&self, agent_id: &str) -> Result<u32, ApiError> {
        let req = DisconnectRequest {
            agent_id: agent_id.to_owned(),
        };
        Ok(self
            .client
            .clone()
            .disconnect(req)
            .await
            .map_err(Self::map)?
            .into_inner()
            .connections_closed)
    }
}

/// A command envelope with a function name and the agent-side timeout in seconds.
pub fn command(func: &str, timeout_secs: i64) -> Command {
    Command {
        func: func.to_owned(),
        timeout_secs,
        ..Default::default()
    }
}

/// Builder helpers for envelopes.
pub trait CommandExt {
    /// Asks the agent to report its result to this AgentHistory row through `histresult`.
    fn with_history(self, id: i64) -> Self;
}

impl CommandExt for Command {
    fn with_history(mut self, id: i64) -> Self {
        self.history_id = Some(id);
        self
    }
}
