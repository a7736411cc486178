//! Generated gRPC code for the service-to-service contracts in `proto/`, and a typed AgentGateway client.

pub mod client;

/// AgentGateway, version 1 (`proto/agent_gateway.proto`).
pub mod gateway {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("trmm.gateway.v1");
}
