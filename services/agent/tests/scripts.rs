//! `runscript`/`runscriptfull` through the real agent (agent-protocol.md 5.3): interpreters, args and env,
//! exit codes, timeouts that kill the whole process group, output cleaning and capping, run-as-user, and
//! a script directory that is empty again after every run.

mod common;

use std::time::Instant;

use common::{processes_running, request, running, Fixture, SECS_30, SECS_5};
use trmm_protocol::nats::{Command, RunScriptResponse};

fn script(shell: &str, code: &str, timeout: i64) -> Command {
    Command {
        run_as_user: Some(false),
        ..Command::new("runscriptfull", timeout)
            .with("shell", shell)
            .with("code", code)
    }
}

async fn run(fx: &Fixture, client: &async_nats::Client, cmd: &Command) -> RunScriptResponse {
    request(client, fx.agent_id(), cmd, SECS_30).await
}

/// Nothing may be left in the script directory, whatever happened to the script.
fn assert_script_dir_empty(fx: &Fixture) {
    let dir = fx.dir.path().join("scripts");
    let left: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
}

#[tokio::test]
async fn bash_and_python_scripts_get_args_env_and_report_exit_codes() {
    let (fx, agent, client) = running().await;
    let with_args = |cmd: Command| Command {
        script_args: Some(vec!["one".into(), "two words".into()]),
        env_vars: Some(vec!["GREETING=hello".into(), "EQ=a=b".into()]),
        ..cmd
    };

    // No shebang: bash runs it. CRLF line ends are normalised first.
    let bash = with_args(script(
        "shell",
        "echo \"$GREETING $1|$2 $EQ\"\r\necho warn >&2\r\nexit 3\r\n",
        10,
    ));
    let out = run(&fx, &client, &bash).await;
    assert_eq!(out.stdout, "hello one|two words a=b\n", "{}", agent.log());
    assert_eq!((out.stderr.as_str(), out.retcode), ("warn\n", 3));

    let python = with_args(script(
        "python",
        "import os, sys\nprint(os.environ['GREETING'], sys.argv[1:])\nsys.exit(4)\n",
        20,
    ));
    let out = run(&fx, &client, &python).await;
    assert_eq!(out.stdout, "hello ['one', 'two words']\n", "{}", out.stderr);
    assert_eq!(out.retcode, 4);

    // A shebang is honoured, as upstream execs the file itself.
    let shebang = script("shell", "#!/bin/sh\r\necho \"sh:$0\" | grep -c trmm\r\n", 10);
    let out = run(&fx, &client, &shebang).await;
    assert_eq!((out.stdout.as_str(), out.retcode), ("1\n", 0), "{}", out.stderr);

    // runscript answers one string: stdout then stderr.
    let short = Command {
        func: "runscript".into(),
        ..script("shell", "echo out; echo err >&2", 10)
    };
    let text: String = request(&client, fx.agent_id(), &short, SECS_30).await;
    assert_eq!(text, "out\nerr\n");
    assert_script_dir_empty(&fx);
}

#[tokio::test]
async fn a_timeout_kills_the_whole_group_within_seconds() {
    let (fx, agent, client) = running().await;
    // Unique durations tell this test's sleeps apart from any other on the machine.
    let (bg, fg) = (
        format!("30.{}1", std::process::id()),
        format!("30.{}2", std::process::id()),
    );
    let cmd = script(
        "shell",
        &format!("echo started\nsleep {bg} &\nsleep {fg}\necho never\n"),
        2,
    );
    let started = Instant::now();
    let out: RunScriptResponse = request(&client, fx.agent_id(), &cmd, SECS_5).await;
    assert!(started.elapsed() < SECS_5);
    assert_eq!(out.retcode, 98, "{}", agent.log());
    assert_eq!(out.stdout, "started\n");
    assert!(out.stderr.ends_with("\nTimed out after 2 seconds"), "{}", out.stderr);
    // The reply leaves after the kill, so nothing of the group may remain.
    for secs in [&bg, &fg] {
        assert!(processes_running(&["sleep", secs]).is_empty(), "sleep {secs} survived");
    }
    assert_script_dir_empty(&fx);
}

#[tokio::test]
async fn output_is_cleaned_and_capped_with_a_marker() {
    let (fx, agent, client) = running().await;
    let dirty = script("shell", "printf 'a\\000b\\377c\\n'; printf 'x\\000y\\n' >&2", 10);
    let out = run(&fx, &client, &dirty).await;
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("abc\n", "xy\n"));

    // 8 MiB of output: the reply still arrives (it must fit the NATS server's 1 MiB max_payload here).
    let huge = script("shell", "head -c 8388608 /dev/zero | tr '\\0' 'x' | fold -w 100", 30);
    let out = run(&fx, &client, &huge).await;
    assert_eq!(out.retcode, 0, "{}", agent.log());
    assert!(out.stdout.len() < 1024 * 1024, "{}", out.stdout.len());
    assert!(out.stdout.starts_with(&format!("{}\n", "x".repeat(100))));
    let marker = out.stdout.lines().last().unwrap();
    assert!(
        marker.starts_with("[trmm-agent: output truncated at ") && marker.ends_with(" more bytes were dropped]"),
        "{marker}"
    );
    assert_script_dir_empty(&fx);
}

#[tokio::test]
async fn unsupported_requests_get_a_clear_error_reply() {
    let (fx, _agent, client) = running().await;
    let out = run(&fx, &client, &script("fish", "echo hi", 10)).await;
    assert_eq!(out.retcode, 65);
    assert!(out.stderr.starts_with("Unsupported shell \"fish\""), "{}", out.stderr);

    let out = run(&fx, &client, &script("cmd", "@echo off\r\necho hi\r\n", 10)).await;
    assert_eq!(out.retcode, 85);
    assert!(out.stderr.contains("Windows"), "{}", out.stderr);

    if trmm_agent::commands::interpreter::find_program("pwsh").is_none() {
        let out = run(&fx, &client, &script("powershell", "Write-Output hi", 10)).await;
        assert_eq!(out.retcode, 85);
        assert!(out.stderr.contains("pwsh"), "{}", out.stderr);
    }

    // run_as_user: the logged-in user, or a refusal that says why when nobody is logged in.
    let as_user = Command {
        run_as_user: Some(true),
        ..script("shell", "id -un", 10)
    };
    let out = run(&fx, &client, &as_user).await;
    let logged_in = trmm_agent::telemetry::info::logged_in_user();
    if logged_in.is_empty() {
        assert_eq!(out.retcode, 1);
        assert_eq!(out.stderr, trmm_agent::commands::runas::NO_USER);
    } else {
        assert_eq!(out.retcode, 0, "{}", out.stderr);
        assert!(!out.stdout.trim().is_empty());
    }
    assert_script_dir_empty(&fx);
}
