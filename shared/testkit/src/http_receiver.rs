//! A local HTTP server standing in for a third-party service (Twilio's API, a webhook endpoint): it records
//! every request and answers with queued responses, then with a default one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

type Answer = (u16, String);

/// The server; stops when dropped.
pub struct HttpReceiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    queued: Arc<Mutex<VecDeque<Answer>>>,
    task: JoinHandle<()>,
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpReceiver {
    /// Listens on a free loopback port; answers `status` with the JSON `body` unless an answer is queued.
    pub async fn start(status: u16, body: &str) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the HTTP receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let queued: Arc<Mutex<VecDeque<Answer>>> = Arc::new(Mutex::new(VecDeque::new()));
        let default = (status, body.to_owned());
        let (seen, next) = (received.clone(), queued.clone());
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (seen, next, default) = (seen.clone(), next.clone(), default.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(conn).await else {
                        return;
                    };
                    let (request, mut conn) = request;
                    // Answers go out in the order requests were recorded.
                    let answer = {
                        seen.lock().unwrap().push(request);
                        next.lock().unwrap().pop_front().unwrap_or(default)
                    };
                    let _ = write_answer(&mut conn, answer).await;
                });
            }
        });
        HttpReceiver {
            addr,
            received,
            queued,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next request with `status` and the JSON `body` (queued answers go first, in order).
    pub fn answer_next(&self, status: u16, body: &str) {
        self.queued.lock().unwrap().push_back((status, body.to_owned()));
    }

    /// The requests so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let seen = self.received();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "expected {n} requests, got {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn read_request(mut conn: TcpStream) -> Option<(Received, TcpStream)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    let request = Received {
        method,
        path,
        headers,
        body,
    };
    Some((request, conn))
}

async fn write_answer(conn: &mut TcpStream, (status, body): Answer) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}
