//! Runs a service binary as a child process, or a service's `run` function in-process, and talks to its health
//! endpoints (used by every service's tests).

use std::future::Future;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
        Service {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
            http: http_client(),
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

    /// Waits until `/healthz` answers, then until `/readyz` and `/metrics` report each of `deps` up.
    pub async fn wait_until_up(&mut self, deps: &[&str]) {
        assert!(self.wait_for_status("/healthz", 200).await.contains("ok"));
        let ready = self.wait_for_status("/readyz", 200).await;
        let metrics = self.wait_for_status("/metrics", 200).await;
        for dep in deps {
            assert!(ready.contains(&format!("\"{dep}\":\"up\"")), "{ready}");
            let gauge = format!("trmm_dependency_up{{dependency=\"{dep}\"}} 1");
            assert!(metrics.contains(&gauge), "{metrics}");
        }
    }

    /// Waits until the service is alive but not ready with `dep` down, and has logged a retry at least twice.
    pub async fn wait_until_retrying(&mut self, dep: &str) {
        self.wait_for_status("/healthz", 200).await;
        self.wait_for_answer("/readyz", 503, &format!("\"down\":[\"{dep}\"]"))
            .await;
        self.wait_for_log("cannot connect; retrying", 2).await;
        self.assert_running();
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

    /// Sends SIGTERM and fails unless the process exits 0 within [`EXIT_DEADLINE`].
    pub async fn stop(&mut self) {
        let status = self.terminate().await;
        assert!(status.success(), "exit status {status}");
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

/// A service's `run` function on a task of the test's runtime, with its health listener on a free port.
pub struct InProcess {
    base_url: String,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    http: reqwest::Client,
}

impl InProcess {
    /// Parses `args` (the binary's name first) and `--listen` on a free port as the service's flags, and spawns
    /// `run` with them.
    pub fn start<C, F>(args: &[&str], run: impl FnOnce(C, CancellationToken) -> F) -> InProcess
    where
        C: clap::Parser,
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listen = format!("127.0.0.1:{}", crate::free_port());
        let config = C::try_parse_from(args.iter().copied().chain(["--listen", &listen])).expect("parsing flags");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(config, shutdown.clone()));
        InProcess {
            base_url: format!("http://{listen}"),
            shutdown,
            task,
            http: http_client(),
        }
    }

    /// Base URL of the service's HTTP listener.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// Polls `/readyz` until it answers 200, failing if `run` returns first.
    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.base_url);
        poll_answer(&self.http, &url, 200, "", || {
            assert!(!self.task.is_finished(), "run returned early")
        })
        .await;
    }

    /// The body of a GET of `path` (e.g. `/metrics`).
    pub async fn get(&self, path: &str) -> String {
        let url = format!("{}{path}", self.base_url);
        let response = self.http.get(&url).send().await.expect("GET on the service");
        response.text().await.expect("reading the answer")
    }

    /// Ends the service as a kill would: its `run` future is dropped wherever it is, so nothing it does on a
    /// graceful shutdown happens; only then are the helper tasks it spawned told to stop.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        self.shutdown.cancel();
    }

    /// Cancels the service and fails unless `run` returns Ok within [`EXIT_DEADLINE`].
    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(EXIT_DEADLINE, self.task)
            .await
            .expect("run did not return after cancel");
        result.expect("run panicked").expect("run failed");
    }
}

/// A client that gives up on a hung listener instead of outliving the test's deadline.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("building an HTTP client")
}

/// Polls `url` until it answers with `status` and a body containing `needle`, and returns that
/// body; `check` runs before each try so a caller can fail fast (e.g. when the service died).
async fn poll_answer(http: &reqwest::Client, url: &str, status: u16, needle: &str, mut check: impl FnMut()) -> String {
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
