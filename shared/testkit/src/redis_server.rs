//! A throwaway redis-server on a chosen port, for outage tests (the shared Redis must stay up).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly spawned redis-server may take to answer PING.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A redis-server process that keeps nothing on disk, killed on drop (drop it to simulate an outage).
pub struct RedisServer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts redis-server on 127.0.0.1:`port` and waits until it answers PING.
    pub async fn start_on(port: u16) -> RedisServer {
        let dir = tempfile::tempdir().expect("creating a temp dir for redis-server");
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning redis-server (apt-get install redis-server)");
        let mut server = RedisServer { child, _dir: dir };
        let deadline = Instant::now() + START_DEADLINE;
        while !answers_ping(port) {
            if let Some(status) = server.child.try_wait().expect("polling redis-server") {
                panic!("redis-server exited with {status} before answering PING");
            }
            assert!(Instant::now() < deadline, "redis-server on {port} never answered PING");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 5];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG"
}
