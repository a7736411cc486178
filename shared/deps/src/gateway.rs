//! The AgentGateway (served by trmm-nats-api): TRMM_GATEWAY_URL.

use trmm_rpc::client::GatewayClient;

use crate::SettingsError;

/// Where the AgentGateway is.
#[derive(Clone, Debug, clap::Args)]
pub struct GatewayArgs {
    /// URL of the AgentGateway gRPC service (served by trmm-nats-api), through which agents are reached.
    #[arg(long, env = "TRMM_GATEWAY_URL", default_value = "http://127.0.0.1:50051")]
    pub gateway_url: String,
}

impl GatewayArgs {
    /// The client; it connects on first use and reconnects by itself.
    pub fn client(&self) -> Result<GatewayClient, SettingsError> {
        GatewayClient::lazy(&self.gateway_url).map_err(SettingsError::Gateway)
    }
}
