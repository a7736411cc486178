//! NATS, an in-process AgentGateway and trmm-api wired to it, for tests that reach agents through the API.
#![allow(dead_code)]

use tokio_util::sync::CancellationToken;
use trmm_api::testing::TestApi;
use trmm_testkit::NatsServer;

pub struct Suite {
    pub api: TestApi,
    pub nats: NatsServer,
    pub admin: String,
    pub client: i64,
    pub site: i64,
    pub installer: String,
    _shutdown: tokio_util::sync::DropGuard,
}

/// NATS, an in-process AgentGateway and the API wired to it.
pub async fn suite() -> Suite {
    let nats = NatsServer::start().await;
    let nc = async_nats::connect(nats.url()).await.unwrap();
    let shutdown = CancellationToken::new();
    let port = trmm_testkit::free_port();
    let listen = format!("127.0.0.1:{port}").parse().unwrap();
    let gateway = trmm_nats_api::gateway::Gateway::new(nc, Default::default(), |_| Box::pin(async { Ok(0) }));
    tokio::spawn(trmm_nats_api::gateway::serve(listen, gateway, shutdown.clone()));
    let api = TestApi::start_with_gateway(format!("http://127.0.0.1:{port}")).await;
    let admin = api.admin_token().await;
    let (client, site) = api.client_with_site(&admin, "Acme", "HQ").await;
    let installer = api.installer_token(&admin, client, site).await;
    Suite {
        api,
        nats,
        admin,
        client,
        site,
        installer,
        _shutdown: shutdown.drop_guard(),
    }
}
