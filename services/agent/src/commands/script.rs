//! `runscript` and `runscriptfull` on unix (Go agent `RunScript`, agent-protocol.md 5.3): the code is
//! written to a temp file (CRLF → LF, mode 0770) and executed directly, so it needs a shebang; nushell and
//! deno run through their interpreters. Timeouts behave as in `rawcmd` (exit 98).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use rand::Rng;
use reqwest::Method;
use serde_json::json;
use trmm_protocol::nats::RunScriptResponse;

use super::exec::{self, Spec};
use super::Request;

/// Where the Go agent's installer puts nushell.
const NUSHELL: &str = "/opt/tacticalagent/bin/nu";
/// nushell's config, used when the server asks for it.
const NUSHELL_CONFIG_DIR: &str = "/opt/tacticalagent/etc/nushell";
/// Where the Go agent's installer puts deno.
const DENO: &str = "/opt/tacticalagent/bin/deno";
/// Env entry whose value replaces deno's default permission flags.
const DENO_PERMISSIONS: &str = "DENO_PERMISSIONS=";

/// Runs the script; `full` selects the `runscriptfull` reply (a map) over `runscript` (a string).
pub async fn handle(req: &Request, full: bool) {
    let started = Instant::now();
    let (stdout, stderr, retcode) = match run(req).await {
        Ok(out) => (out.stdout, out.stderr, i64::from(out.exit_code)),
        Err(e) => (String::new(), format!("{e:#}"), 1),
    };
    let response = RunScriptResponse {
        stdout,
        stderr,
        retcode,
        execution_time: started.elapsed().as_secs_f64(),
        id: req.cmd.id.unwrap_or(0),
    };
    if full {
        req.respond(&response).await;
    } else {
        req.respond(&format!("{}{}", response.stdout, response.stderr)).await;
    }
    if response.id != 0 {
        let path = format!("/api/v3/{}/{}/histresult/", response.id, req.agent.config.agent_id);
        let body = json!({ "script_results": response });
        if let Err(e) = req.agent.api.send(Method::PATCH, &path, &body).await {
            tracing::warn!(error = %e, "script history not recorded");
        }
    }
}

async fn run(req: &Request) -> anyhow::Result<exec::Output> {
    let payload = &req.cmd.payload;
    let shell = payload.get("shell").map(String::as_str).unwrap_or_default();
    let code = payload
        .get("code")
        .map(String::as_str)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let dir = script_dir(req.agent.config.script_dir.as_deref())?;
    let script = ScriptFile::create(&dir, &code, shell == "deno")?;
    let args = req.cmd.script_args.clone().unwrap_or_default();
    let mut env = req.cmd.env_vars.clone().unwrap_or_default();
    let file = script.path.display().to_string();
    let mut argv: Vec<String> = match shell {
        "nushell" if req.cmd.nushell_enable_config == Some(true) => vec![
            NUSHELL.into(),
            "--config".into(),
            format!("{NUSHELL_CONFIG_DIR}/config.nu"),
            "--env-config".into(),
            format!("{NUSHELL_CONFIG_DIR}/env.nu"),
        ],
        "nushell" => vec![NUSHELL.into(), "--no-config-file".into()],
        "deno" => {
            let perms = match env.iter().position(|e| e.starts_with(DENO_PERMISSIONS)) {
                Some(i) => env.remove(i)[DENO_PERMISSIONS.len()..].to_owned(),
                None => req.cmd.deno_default_permissions.clone().unwrap_or_default(),
            };
            let mut argv = vec![DENO.to_owned(), "run".into(), "--no-prompt".into()];
            argv.extend(perms.split_whitespace().map(String::from));
            argv
        }
        _ => Vec::new(),
    };
    argv.push(file);
    argv.extend(args);
    let spec = Spec {
        argv,
        env,
        timeout_secs: req.cmd.timeout,
    };
    Ok(exec::run(&spec, None, &req.agent.shutdown).await)
}

/// The configured directory, else the agent binary's own (the Go agent's choice: /tmp is often noexec).
fn script_dir(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match configured {
        Some(dir) => dir.to_owned(),
        None => std::env::current_exe()
            .context("Failed to locate the agent binary for the script directory")?
            .parent()
            .map(Path::to_owned)
            .context("The agent binary has no parent directory")?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    Ok(dir)
}

/// A script written to disk, deleted on drop.
struct ScriptFile {
    path: PathBuf,
}

impl ScriptFile {
    fn create(dir: &Path, code: &str, deno: bool) -> anyhow::Result<ScriptFile> {
        let suffix = if deno { ".ts" } else { "" };
        let path = dir.join(format!("trmm{}{suffix}", rand::thread_rng().gen::<u32>()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o770);
        let mut file = options
            .open(&path)
            .with_context(|| format!("Failed to create the script file {}", path.display()))?;
        let script = ScriptFile { path };
        file.write_all(code.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("Failed to write {}", script.path.display()))?;
        Ok(script)
    }
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "script file not removed");
        }
    }
}
