//! `runscript` and `runscriptfull` on unix (Go agent `RunScript`, agent-protocol.md 5.3). The code (CRLF →
//! LF) is written to a fresh private directory (0700, random name) under the script directory, run by the
//! interpreter its shell calls for, and the directory is removed afterwards whatever happened. Timeouts kill
//! the whole process group: exit code 98 and "\nTimed out after N seconds" on stderr, as upstream.

use std::path::{Path, PathBuf};
use std::time::Instant;

use reqwest::Method;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use trmm_protocol::calls::{RunScriptResponse, Script};

use super::exec::{self, Options, Spec};
use super::interpreter::{self, ScriptError, EXIT_ERROR, EXIT_SETUP};
use super::runas::{self, RunAs};
use super::Request;

/// Room left in a NATS reply for everything but the two output streams (keys, notices, marker).
const REPLY_OVERHEAD: usize = 16 * 1024;

/// A script to run, as the envelope describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Job {
    /// `shell`, `python`, `powershell`, `cmd`, `nushell` or `deno`.
    pub shell: String,
    /// The script text.
    pub code: String,
    /// Arguments after the script path.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries added to the environment.
    pub env: Vec<String>,
    /// Seconds before the process group is killed (0 kills at once, as upstream).
    pub timeout_secs: i64,
    /// Run as the logged-in user.
    pub run_as_user: bool,
    /// Let nushell read the agent's nushell config.
    pub nushell_enable_config: bool,
    /// deno permission flags unless `DENO_PERMISSIONS=` is among the env entries.
    pub deno_default_permissions: String,
}

impl Job {
    /// The job a script call asks for.
    pub fn from_script(script: Script) -> Job {
        Job {
            shell: script.shell,
            code: script.code,
            args: script.args,
            env: script.env_vars,
            timeout_secs: script.timeout,
            run_as_user: script.run_as_user,
            nushell_enable_config: script.nushell_enable_config,
            deno_default_permissions: script.deno_default_permissions,
        }
    }
}

/// Runs the script; `full` selects the `runscriptfull` reply (a map) over `runscript` (a string).
pub async fn handle(req: &Request, script: Script, full: bool) {
    let started = Instant::now();
    let id = script.history_id.unwrap_or(0);
    let job = Job::from_script(script);
    let agent = &req.agent;
    let max_output = reply_budget(agent.nats.server_info().max_payload);
    let result = run(&job, agent.config.script_dir.as_deref(), max_output, &agent.shutdown).await;
    let (stdout, stderr, retcode) = streams(result);
    let response = RunScriptResponse {
        stdout,
        stderr,
        retcode,
        execution_time: started.elapsed().as_secs_f64(),
        id,
    };
    if full {
        req.respond(&response).await;
    } else {
        req.respond(&format!("{}{}", response.stdout, response.stderr)).await;
    }
    if response.id != 0 {
        let path = format!("/api/v3/{}/{}/histresult/", response.id, agent.config.agent_id);
        let body = json!({ "script_results": response });
        if let Err(e) = agent.api.send(Method::PATCH, &path, &body).await {
            tracing::warn!(error = %e, "script history not recorded");
        }
    }
}

/// stdout, stderr and the return code of a run; a script that could not run has only stderr.
pub fn streams(result: Result<exec::Output, ScriptError>) -> (String, String, i64) {
    match result {
        Ok(out) => (out.stdout, out.stderr, i64::from(out.exit_code)),
        Err(e) => (String::new(), e.message, e.code),
    }
}

/// Bytes of output kept per stream so that the reply fits in one message of the connected NATS server
/// (a reply over its max_payload is dropped and the server sees a timeout).
pub fn reply_budget(max_payload: usize) -> usize {
    if max_payload == 0 {
        return exec::DEFAULT_MAX_OUTPUT;
    }
    (max_payload.saturating_sub(REPLY_OVERHEAD) / 2).clamp(1024, exec::DEFAULT_MAX_OUTPUT)
}

/// Resolves the user and the script directory, then [`execute`]s.
pub async fn run(
    job: &Job,
    script_dir: Option<&Path>,
    max_output: usize,
    shutdown: &CancellationToken,
) -> Result<exec::Output, ScriptError> {
    let run_as = if job.run_as_user {
        let user = runas::logged_in_user().map_err(|message| ScriptError {
            code: EXIT_ERROR,
            message,
        })?;
        // Already that user (an agent not running as root): nothing to switch.
        (user.uid != nix::unistd::geteuid().as_raw()).then_some(user)
    } else {
        None
    };
    let base = script_dir_or_default(script_dir)?;
    execute(job, &base, max_output, run_as, shutdown).await
}

/// Runs `job` from a private directory under `base` and removes that directory afterwards.
pub async fn execute(
    job: &Job,
    base: &Path,
    max_output: usize,
    run_as: Option<RunAs>,
    shutdown: &CancellationToken,
) -> Result<exec::Output, ScriptError> {
    let code = normalize(&job.code);
    let mut env = job.env.clone();
    let plan = interpreter::plan(job, &code, &mut env, interpreter::find_program)?;
    let dir = RunDir::create(base, run_as.as_ref())?;
    let file = dir.write(&code, plan.suffix, run_as.as_ref())?;
    let mut argv = plan.prefix;
    argv.push(file.display().to_string());
    argv.extend(job.args.iter().cloned());
    let spec = Spec {
        argv,
        env,
        timeout_secs: job.timeout_secs,
    };
    let options = Options { max_output, run_as };
    let out = exec::run_with(&spec, &options, None, shutdown).await;
    drop(dir);
    Ok(out)
}

/// CRLF → LF (upstream), and no byte-order mark, which would hide a `#!` line from the kernel.
pub fn normalize(code: &str) -> String {
    code.strip_prefix('\u{feff}').unwrap_or(code).replace("\r\n", "\n")
}

/// The configured directory, else the agent binary's own (the Go agent's choice: /tmp is often noexec).
fn script_dir_or_default(configured: Option<&Path>) -> Result<PathBuf, ScriptError> {
    match configured {
        Some(dir) => Ok(dir.to_owned()),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_owned))
            .ok_or_else(|| setup_error("cannot locate the agent binary's directory for scripts".into())),
    }
}

fn setup_error(message: String) -> ScriptError {
    ScriptError {
        code: EXIT_SETUP,
        message,
    }
}

/// A per-run private directory holding the script; removed with everything in it on drop.
struct RunDir {
    path: PathBuf,
}

impl RunDir {
    fn create(base: &Path, owner: Option<&RunAs>) -> Result<RunDir, ScriptError> {
        std::fs::create_dir_all(base)
            .map_err(|e| setup_error(format!("cannot create the script directory {}: {e}", base.display())))?;
        let mut attempts = 0;
        let path = loop {
            let path = base.join(format!("trmm-{}", random_name()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => break path,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
                Err(e) => return Err(setup_error(format!("cannot create {}: {e}", path.display()))),
            }
        };
        let dir = RunDir { path };
        // The directory's mode ignores the umask only when set explicitly.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| setup_error(format!("cannot protect {}: {e}", dir.path.display())))?;
        }
        chown(&dir.path, owner)?;
        Ok(dir)
    }

    fn write(&self, code: &str, suffix: &str, owner: Option<&RunAs>) -> Result<PathBuf, ScriptError> {
        use std::io::Write;
        let path = self.path.join(format!("trmm{}{suffix}", rand::random::<u32>()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o700);
        let written = options.open(&path).and_then(|mut f| {
            f.write_all(code.as_bytes())?;
            f.sync_all()
        });
        written.map_err(|e| setup_error(format!("cannot write the script {}: {e}", path.display())))?;
        chown(&path, owner)?;
        Ok(path)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "script directory not removed");
        }
    }
}

fn random_name() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 12)
}

#[cfg(unix)]
fn chown(path: &Path, owner: Option<&RunAs>) -> Result<(), ScriptError> {
    let Some(user) = owner else { return Ok(()) };
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
        .map_err(|e| setup_error(format!("cannot hand {} to {}: {e}", path.display(), user.user)))
}

#[cfg(not(unix))]
fn chown(_path: &Path, _owner: Option<&RunAs>) -> Result<(), ScriptError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trmm_protocol::calls::{AgentCall, RunScript};
    use trmm_protocol::nats::Command;

    #[test]
    fn code_is_normalized() {
        assert_eq!(normalize("\u{feff}#!/bin/sh\r\necho a\r\n"), "#!/bin/sh\necho a\n");
        assert_eq!(normalize("echo a\n"), "echo a\n");
    }

    #[test]
    fn the_reply_budget_fits_the_server() {
        assert_eq!(reply_budget(0), exec::DEFAULT_MAX_OUTPUT);
        assert_eq!(reply_budget(64 * 1024 * 1024), exec::DEFAULT_MAX_OUTPUT);
        let small = reply_budget(1024 * 1024);
        assert!(2 * small + REPLY_OVERHEAD <= 1024 * 1024, "{small}");
    }

    #[test]
    fn envelope_fields_become_a_job() {
        let cmd = Command {
            script_args: Some(vec!["a".into()]),
            env_vars: Some(vec!["K=V".into()]),
            run_as_user: Some(true),
            deno_default_permissions: Some("--allow-read".into()),
            ..Command::new("runscript", 7)
                .with("shell", "python")
                .with("code", "print(1)")
        };
        let Ok(AgentCall::RunScript(RunScript(script))) = AgentCall::from_envelope(cmd) else {
            panic!("not a runscript envelope");
        };
        let job = Job::from_script(script);
        assert_eq!(job.shell, "python");
        assert_eq!((job.args.len(), job.env.len(), job.timeout_secs), (1, 1, 7));
        assert!(job.run_as_user && !job.nushell_enable_config);
        assert_eq!(job.deno_default_permissions, "--allow-read");
    }

    #[tokio::test]
    async fn the_private_directory_is_gone_afterwards() {
        let base = tempfile::tempdir().unwrap();
        let job = Job {
            shell: "shell".into(),
            code: "#!/bin/sh\nls -ld \"$(dirname \"$0\")\"\n".into(),
            timeout_secs: 10,
            ..Job::default()
        };
        let out = execute(&job, base.path(), 4096, None, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(out.exit_code, 0, "{out:?}");
        assert!(out.stdout.starts_with("drwx------"), "{}", out.stdout);
        assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
    }
}
