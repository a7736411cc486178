//! The browser's side of a dashboard websocket, and the services behind it, for the websocket suites.
// Each test binary uses a different part of it.
#![allow(dead_code)]

use std::time::Duration;

use clap::Parser;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use trmm_testkit::{free_port, NatsServer};

/// Serves an AgentGateway over `nats` on a free port until `stop`; returns its address.
pub async fn start_gateway(nats: &NatsServer, stop: &CancellationToken) -> String {
    let gateway = format!("127.0.0.1:{}", free_port());
    let client = async_nats::connect(nats.url()).await.unwrap();
    let gw = trmm_nats_api::gateway::Gateway::new(client, Default::default(), |_| Box::pin(async { Ok(0) }));
    tokio::spawn(trmm_nats_api::gateway::serve(
        gateway.parse().unwrap(),
        gw,
        stop.clone(),
    ));
    gateway
}

/// Runs trmm-websocket over `database_url` and the AgentGateway at `gateway` on a free port until `stop`, its
/// configuration adjusted by `tweak`; returns its address.
pub fn start_websocket(
    database_url: &str,
    gateway: &str,
    stop: &CancellationToken,
    tweak: impl FnOnce(&mut trmm_websocket::Config),
) -> String {
    let listen = format!("127.0.0.1:{}", free_port());
    let args = ["trmm-websocket", "--database-url", database_url, "--listen", &listen];
    let mut config = trmm_websocket::Config::try_parse_from(args).unwrap();
    config.gateway.gateway_url = format!("http://{gateway}");
    tweak(&mut config);
    tokio::spawn(trmm_websocket::run(config, stop.clone()));
    listen
}

/// A client websocket.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a frame may take to come.
const FRAME_DEADLINE: Duration = Duration::from_secs(20);

/// The next text frame as JSON, or `{"closed": code}` for a close frame.
pub async fn next_frame(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(FRAME_DEADLINE, ws.next())
            .await
            .expect("no frame in time")
            .expect("socket closed")
            .unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(c) => return json!({ "closed": c.map(|c| u16::from(c.code)) }),
            _ => continue,
        }
    }
}
