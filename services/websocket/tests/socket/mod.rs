//! The browser's side of a dashboard websocket, for the websocket suites.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

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
