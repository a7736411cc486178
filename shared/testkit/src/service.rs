//! Runs a service binary as a child process and talks to its health endpoints (used by every service's tests).

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// How long a service may take to exit after SIGTERM.
pub const EXIT_DEADLINE: Duration = Duration::from_secs(10);

/// A running service process, killed on drop; its output goes to a temp file that is printed
/// when the test fails.
pub struct Service {
    child: Child,
    base_url: String,
    log: tempfile::NamedTempFile,
    http: reqwest::Client,
}

impl Service {
    /// Starts `bin` with its health server on a free port (`listen_var`) and the given environment.
    ///
    /// Inherited `TRMM_*` variables are removed so that the developer's shell cannot leak in.
    pub fn start(bin: &str, listen_var: &str, env: &[(&str, String)]) -> Service {
        let port = crate::free_port();
        let log = tempfile::NamedTempFile::new().expect("creating a temp log file");
        let mut command = Command::new(bin);
        for (name, _) in std::env::vars_os().filter(|(name, _)| name.to_string_lossy().starts_with("TRMM_")) {
            command.env_remove(name);
        }
        let child = command
            .env(listen_var, format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log.as_file().try_clone().expect("sharing the log file"))
            .stderr(log.as_file().try_clone().expect("sharing the log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {bin}: {e}"));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("building an HTTP client");
        Service {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
            http,
        }
    }

    /// Base URL of the service's HTTP listener.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// Everything the service has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Polls `path` until it answers with `status`, and returns the body of that answer.
    pub async fn wait_for_status(&mut self, path: &str, status: u16) -> String {
        self.wait_for_answer(path, status, "").await
    }

    /// Polls `path` until it answers with `status` and a body containing `needle`.
    pub async fn wait_for_answer(&mut self, path: &str, status: u16, needle: &str) -> String {
        let url = format!("{}{path}", self.base_url);
        let child = &mut self.child;
        poll_answer(&self.http, &url, status, needle, || assert_running(child)).await
    }

    /// Waits until the log contains `needle` at least `times` times (e.g. repeated retry warnings).
    pub async fn wait_for_log(&mut self, needle: &str, times: usize) {
        let deadline = Instant::now() + DEADLINE;
        while self.log().matches(needle).count() < times {
            self.assert_running();
            assert!(Instant::now() < deadline, "log never showed {needle:?} {times} times");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails the test (the log is shown on drop) if the process has exited.
    pub fn assert_running(&mut self) {
        assert_running(&mut self.child);
    }

    /// Sends SIGTERM and returns the exit status, failing if the process outlives [`EXIT_DEADLINE`].
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM").await
    }

    /// Sends `signal` (a name such as `INT`) and returns the exit status, failing if the process
    /// outlives [`EXIT_DEADLINE`].
    pub async fn signal(&mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -{signal} failed");
        self.wait_for_exit().await
    }

    /// Waits for the process to exit by itself, failing after [`EXIT_DEADLINE`].
    pub async fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("polling the service process") {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {EXIT_DEADLINE:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // eprintln! (not a raw stderr write) so libtest shows it with the failing test.
            eprintln!("--- service log ---\n{}", self.log());
        }
    }
}

/// Polls `url` until it answers with `status` and a body containing `needle`, and returns that
/// body; `check` runs before each try so a caller can fail fast (e.g. when the service died).
pub async fn poll_answer(
    http: &reqwest::Client,
    url: &str,
    status: u16,
    needle: &str,
    mut check: impl FnMut(),
) -> String {
    let deadline = Instant::now() + DEADLINE;
    let mut last = None;
    loop {
        check();
        if let Ok(response) = http.get(url).send().await {
            let got = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if got == status && body.contains(needle) {
                return body;
            }
            last = Some((got, body));
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer {status} with {needle:?} within {DEADLINE:?}; last answer {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_running(child: &mut Child) {
    if let Some(status) = child.try_wait().expect("polling the service process") {
        panic!("service exited early with {status}");
    }
}
