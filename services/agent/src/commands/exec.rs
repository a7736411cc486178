//! Runs a child process the way the Go agent's `CmdV2` does on unix: its own process group, output
//! captured line by line (each line gets "\n"), and on timeout the whole group is killed, exit code 98
//! and "\nTimed out after N seconds" appended to stderr. Output is cleaned of NULs and invalid UTF-8
//! (Go's `CleanString`) and capped per stream with a visible truncation marker.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::output::Collected;
pub use super::output::{clean, truncation_marker};
use super::runas::RunAs;

/// Exit code the Go agent reports for a command that hit its timeout.
pub const TIMEOUT_EXIT_CODE: i32 = 98;
/// Longest line passed on in one piece; longer ones are split so one line cannot exhaust memory.
const MAX_LINE: usize = 64 * 1024;
/// Output kept per stream unless the caller says otherwise; a reply must fit in one NATS message.
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;
/// How long to wait for pipes to close after the process group was killed.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra `KEY=VALUE` environment entries, appended to the agent's environment.
    pub env: Vec<String>,
    /// Seconds before the process group is killed; 0 or less kills at once, as upstream does.
    pub timeout_secs: i64,
}

/// How to run it, beyond the command itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes of output kept per stream; the rest is counted and replaced by [`truncation_marker`].
    pub max_output: usize,
    /// Run as this user instead of the agent's own.
    pub run_as: Option<RunAs>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_output: DEFAULT_MAX_OUTPUT,
            run_as: None,
        }
    }
}

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Result of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output, each line terminated by "\n".
    pub stdout: String,
    /// Standard error (plus the start error or timeout notice).
    pub stderr: String,
    /// Exit code; 98 on timeout, -1 when killed by a signal or not started.
    pub exit_code: i32,
    /// The timeout fired and the process group was killed.
    pub timed_out: bool,
}

impl Output {
    /// The unix `rawcmd` reply: stdout, then "\n" + stderr if there is any.
    pub fn combined(&self) -> String {
        let mut out = self.stdout.clone();
        if !self.stderr.is_empty() {
            out.push('\n');
            out.push_str(&self.stderr);
        }
        out
    }
}

/// Runs `spec` with the default [`Options`]; see [`run_with`].
pub async fn run(spec: &Spec, lines: Option<mpsc::Sender<(Pipe, String)>>, shutdown: &CancellationToken) -> Output {
    run_with(spec, &Options::default(), lines, shutdown).await
}

/// Runs `spec`; every line is also sent to `lines` (if given) as it arrives. When `shutdown` fires the
/// command is left running and what it wrote so far is returned.
pub async fn run_with(
    spec: &Spec,
    options: &Options,
    lines: Option<mpsc::Sender<(Pipe, String)>>,
    shutdown: &CancellationToken,
) -> Output {
    let Some((program, args)) = spec.argv.split_first() else {
        return not_started("no command given");
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(user) = &options.run_as {
        user.apply(&mut cmd);
    }
    for entry in &spec.env {
        if let Some((k, v)) = entry.split_once('=') {
            cmd.env(k, v);
        }
    }
    // A group of its own, so a timeout can kill everything the command started.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match spawn(&mut cmd).await {
        Ok(c) => c,
        Err(e) => return not_started(&format!("{program}: {e}")),
    };
    let pgid = child.id();
    let (tx, mut rx) = mpsc::channel::<(Pipe, Vec<u8>)>(64);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(read_lines(out, Pipe::Stdout, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(read_lines(err, Pipe::Stderr, tx));
    }

    let mut collected = Collected::new(lines, options.max_output);
    let deadline = tokio::time::sleep(Duration::from_secs(spec.timeout_secs.max(0) as u64));
    tokio::pin!(deadline);
    let (mut status, mut pipes_open, mut timed_out, mut stopping) = (None, true, spec.timeout_secs <= 0, false);
    while !timed_out && !stopping && (status.is_none() || pipes_open) {
        tokio::select! {
            line = rx.recv(), if pipes_open => match line {
                Some((pipe, bytes)) => collected.push(pipe, &bytes).await,
                None => pipes_open = false,
            },
            s = child.wait(), if status.is_none() => status = Some(s),
            () = &mut deadline => timed_out = true,
            () = shutdown.cancelled() => stopping = true,
        }
    }

    let exit_code = if stopping {
        // Like the Go agent under systemd's KillMode=process, work in progress outlives the agent: the
        // command may well be the one that restarts or updates it.
        collected.finish();
        collected
            .stderr
            .push_str("\nThe agent is stopping; the command was left running");
        -1
    } else if timed_out {
        kill_group(pgid);
        let _ = child.wait().await;
        // Whatever the group wrote before it died is still in the pipes.
        let drain = async {
            while let Some((pipe, bytes)) = rx.recv().await {
                collected.push(pipe, &bytes).await;
            }
        };
        let _ = tokio::time::timeout(DRAIN_AFTER_KILL, drain).await;
        collected.finish();
        collected
            .stderr
            .push_str(&format!("\nTimed out after {} seconds", spec.timeout_secs));
        TIMEOUT_EXIT_CODE
    } else {
        collected.finish();
        match status {
            Some(Ok(s)) => s.code().unwrap_or(-1),
            Some(Err(e)) => {
                collected.stderr.insert_str(0, &format!("{e}\n"));
                -1
            }
            None => -1,
        }
    };
    Output {
        stdout: collected.stdout,
        stderr: collected.stderr,
        exit_code,
        timed_out,
    }
}

/// Spawns, retrying "text file busy": a script just written can still be open in a process another
/// thread is forking (the Go agent retries the same way).
async fn spawn(cmd: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ETXTBSY as i32) && attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

fn not_started(error: &str) -> Output {
    Output {
        stderr: format!("{error}\n"),
        exit_code: -1,
        ..Output::default()
    }
}

#[cfg(unix)]
fn kill_group(pgid: Option<u32>) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    if let Err(e) = killpg(Pid::from_raw(pgid), Signal::SIGKILL) {
        tracing::debug!(pgid, error = %e, "process group already gone");
    }
}

#[cfg(not(unix))]
fn kill_group(_pgid: Option<u32>) {}

async fn read_lines<R: AsyncRead + Unpin>(pipe: R, which: Pipe, tx: mpsc::Sender<(Pipe, Vec<u8>)>) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let room = MAX_LINE - line.len();
        let (take, complete) = match buf.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len().min(room), line.len() + buf.len() >= MAX_LINE),
        };
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if complete {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if tx.send((which, std::mem::take(&mut line))).await.is_err() {
                return;
            }
        }
    }
    if !line.is_empty() {
        let _ = tx.send((which, line)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout_secs: i64) -> Spec {
        Spec {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec!["TRMM_TEST_VAR=value=with=equals".into()],
            timeout_secs,
        }
    }

    #[tokio::test]
    async fn captures_both_pipes_and_the_exit_code() {
        let out = run(
            &sh("echo out; echo err >&2; printf last; echo $TRMM_TEST_VAR; exit 3", 10),
            None,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(out.stdout, "out\nlastvalue=with=equals\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.exit_code, 3);
        assert_eq!(out.combined(), "out\nlastvalue=with=equals\n\nerr\n");
    }

    #[tokio::test]
    async fn missing_program_reports_the_start_error() {
        let spec = Spec {
            argv: vec!["/nonexistent/prog".into()],
            env: vec![],
            timeout_secs: 5,
        };
        let out = run(&spec, None, &CancellationToken::new()).await;
        assert_eq!(out.exit_code, -1);
        assert!(out.stderr.contains("/nonexistent/prog"), "{}", out.stderr);
    }

    #[tokio::test]
    async fn zero_timeout_kills_at_once() {
        let out = run(&sh("sleep 5", 0), None, &CancellationToken::new()).await;
        assert!(out.timed_out);
        assert_eq!(out.exit_code, TIMEOUT_EXIT_CODE);
        assert!(out.stderr.ends_with("Timed out after 0 seconds"));
    }

    #[tokio::test]
    async fn stopping_the_agent_leaves_the_command_running() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("done");
        let stop = CancellationToken::new();
        stop.cancel();
        let out = run(&sh(&format!("sleep 0.3; touch {}", marker.display()), 30), None, &stop).await;
        assert_eq!(out.exit_code, -1);
        assert!(out.stderr.contains("left running"), "{}", out.stderr);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !marker.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the command did not finish on its own"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn output_past_the_cap_is_replaced_by_a_marker() {
        let options = Options {
            max_output: 100,
            run_as: None,
        };
        let spec = sh("for i in $(seq 1 50); do echo line$i; done; echo short >&2; exit 0", 10);
        let out = run_with(&spec, &options, None, &CancellationToken::new()).await;
        let (kept, marker) = out.stdout.split_at(100);
        assert!(kept.starts_with("line1\nline2\n"), "{kept}");
        // "line1\n" .. "line50\n" are 9*6 + 41*7 = 341 bytes; 100 were kept, cut mid-line.
        assert_eq!(marker, format!("\n{}", truncation_marker(100, 241)));
        assert_eq!(out.stderr, "short\n");
        assert_eq!(out.exit_code, 0);
    }
}
