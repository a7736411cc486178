//! script checks (Go agent `ScriptCheck`): the check's script through the `runscript` runner, with the
//! check's own arguments, environment and timeout.

use std::time::Instant;

use trmm_protocol::checks::{CheckDefinition, ScriptResult};

use super::Executor;
use crate::commands::exec::DEFAULT_MAX_OUTPUT;
use crate::commands::interpreter::EXIT_ERROR;
use crate::commands::script::{self, Job};

/// Runs the check's script; `runtime` is the whole run in seconds, as upstream measures it.
pub async fn check(executor: &Executor, def: &CheckDefinition) -> ScriptResult {
    let started = Instant::now();
    let Some(job) = job(def) else {
        return ScriptResult {
            stdout: String::new(),
            stderr: "The check has no script".to_owned(),
            retcode: EXIT_ERROR,
            runtime: 0.0,
        };
    };
    let result = script::run(
        &job,
        executor.script_dir.as_deref(),
        DEFAULT_MAX_OUTPUT,
        &executor.shutdown,
    )
    .await;
    let (stdout, stderr, retcode) = script::streams(result);
    ScriptResult {
        stdout,
        stderr,
        retcode,
        runtime: started.elapsed().as_secs_f64(),
    }
}

/// The run a check asks for. Its `env_vars` and `script_args` are used, not the script's own (upstream).
/// A null or 0 timeout kills the script at once with exit code 98, as the Go agent's zero-length context
/// does; the dashboard always sets one.
pub fn job(def: &CheckDefinition) -> Option<Job> {
    let script = def.script.as_ref()?;
    Some(Job {
        shell: script.shell.clone(),
        code: script.code.clone(),
        args: def.script_args.clone(),
        env: def.env_vars.clone(),
        timeout_secs: i64::from(def.timeout.unwrap_or(0)),
        run_as_user: script.run_as_user,
        ..Job::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_decides_args_env_and_timeout() {
        let json = serde_json::json!({
            "id": 2, "check_type": "script",
            "script": {"code": "exit 2", "shell": "shell", "run_as_user": false, "env_vars": ["S=1"]},
            "script_args": ["-x"], "env_vars": ["A=1"], "timeout": null,
        });
        let def: CheckDefinition = serde_json::from_value(json).unwrap();
        let job = job(&def).unwrap();
        assert_eq!(
            (job.args, job.env, job.timeout_secs),
            (vec!["-x".to_owned()], vec!["A=1".to_owned()], 0)
        );
        assert_eq!((job.shell.as_str(), job.code.as_str()), ("shell", "exit 2"));
    }
}
