//! Command functions that run processes: rawcmd (plain, timeout, streaming), killproc, rebootnow.

mod common;

use std::time::Instant;

use common::{collect_until, processes_running, request, running, wait_until, SECS_30, SECS_5};
use trmm_db::history::HistoryType;
use trmm_protocol::nats::{decode, encode, Command, RunScriptResponse, StreamChunk};

fn rawcmd(command: &str, timeout: i64) -> Command {
    Command {
        run_as_user: Some(false),
        ..Command::new("rawcmd", timeout)
            .with("shell", "/bin/bash")
            .with("command", command)
    }
}

#[tokio::test]
async fn rawcmd_returns_stdout_then_stderr() {
    let (fx, agent, client) = running().await;
    let out: String = request(&client, fx.agent_id(), &rawcmd("echo hello", 10), SECS_30).await;
    assert_eq!(out.trim(), "hello", "{}", agent.log());
    let out: String = request(
        &client,
        fx.agent_id(),
        &rawcmd("echo out; echo err >&2; exit 4", 10),
        SECS_30,
    )
    .await;
    assert_eq!(out, "out\n\nerr\n");

    // With a history id the same text is also PATCHed to histresult/.
    let hist = fx.history(HistoryType::CmdRun, "echo recorded").await;
    let cmd = Command {
        id: Some(hist),
        ..rawcmd("echo recorded", 10)
    };
    let out: String = request(&client, fx.agent_id(), &cmd, SECS_30).await;
    assert_eq!(out, "recorded\n");
    wait_until("the history result", SECS_5, || async {
        fx.history_results(hist).await.0.is_some()
    })
    .await;
    assert_eq!(
        fx.history_results(hist).await.0.as_deref(),
        Some("recorded\n"),
        "{}",
        agent.log()
    );
}

#[tokio::test]
async fn rawcmd_timeout_kills_the_whole_process_group() {
    let (fx, agent, client) = running().await;
    // A unique duration tells this test's sleep apart from any other on the machine.
    let secs = format!("30.{}", std::process::id());
    let cmd = rawcmd(&format!("echo started; sleep {secs}; echo never"), 2);
    let started = Instant::now();
    let out: String = request(&client, fx.agent_id(), &cmd, SECS_5).await;
    assert!(started.elapsed() < SECS_5);
    assert!(out.starts_with("started\n"), "{out}");
    assert!(out.contains("Timed out after 2 seconds"), "{out}");
    assert!(!out.contains("never"), "{out}");
    // bash was not the only victim: its child sleep is gone too.
    wait_until("the sleep to be gone", SECS_5, || async {
        processes_running(&["sleep", &secs]).is_empty()
    })
    .await;
    assert!(processes_running(&["sleep", &secs]).is_empty(), "{}", agent.log());
}

#[tokio::test]
async fn streaming_rawcmd_publishes_lines_in_order_then_done() {
    let (fx, agent, client) = running().await;
    let subject = format!("{}.cmdoutput.c0ffee", fx.agent_id());
    let mut output = client.subscribe(subject).await.unwrap();
    client.flush().await.unwrap();
    // Sent as the server's CommandStreamConsumer does: a publish, with stream and cmd_id.
    let cmd = Command {
        stream: Some(true),
        ..rawcmd(
            "for i in 1 2 3; do echo line$i; sleep 0.1; done; echo oops >&2; exit 7",
            10,
        )
        .with("cmd_id", "c0ffee")
    };
    client
        .publish(fx.agent_id().to_owned(), encode(&cmd).unwrap().into())
        .await
        .unwrap();

    let msgs = collect_until(&mut output, SECS_30, |m| {
        m.last()
            .is_some_and(|last| decode::<StreamChunk>(&last.payload).is_ok_and(|c| c.done))
    })
    .await;
    let chunks: Vec<StreamChunk> = msgs.iter().map(|m| decode(&m.payload).unwrap()).collect();
    let lines: Vec<&str> = chunks.iter().filter(|c| !c.done).map(|c| c.line.as_str()).collect();
    assert_eq!(lines, ["line1", "line2", "line3", "oops"], "{}", agent.log());
    let done = chunks.last().unwrap();
    assert!(done.done);
    assert_eq!(done.exit_code, 7);
}

#[tokio::test]
async fn killproc_kills_a_spawned_child() {
    let (fx, _agent, client) = running().await;
    let mut victim = std::process::Command::new("sleep").arg("300").spawn().unwrap();
    let cmd = Command {
        procpid: Some(victim.id() as i32),
        ..Command::new("killproc", 15)
    };
    let ok: String = request(&client, fx.agent_id(), &cmd, SECS_5).await;
    assert_eq!(ok, "ok");
    wait_until("the victim to die", SECS_5, || {
        let gone = victim.try_wait().unwrap().is_some();
        async move { gone }
    })
    .await;

    let missing = Command {
        procpid: Some(i32::MAX),
        ..Command::new("killproc", 15)
    };
    let err: String = request(&client, fx.agent_id(), &missing, SECS_5).await;
    assert_eq!(err, "process does not exist");
}

#[tokio::test]
async fn rebootnow_replies_ok_then_runs_the_reboot_command() {
    let (fx, agent, client) = running().await;
    let marker = fx.dir.path().join("rebooted");
    assert!(!marker.exists());
    let ok: String = request(&client, fx.agent_id(), &Command::new("rebootnow", 10), SECS_5).await;
    assert_eq!(ok, "ok");
    wait_until("the reboot command to run", SECS_5, || async { marker.exists() }).await;
    assert!(agent.log().contains("running power command"));
}

#[tokio::test]
async fn runscript_executes_the_code_with_args_and_env_then_removes_it() {
    let (fx, agent, client) = running().await;
    let script = |func: &str| Command {
        script_args: Some(vec!["hi".into()]),
        env_vars: Some(vec!["FOO=bar".into()]),
        run_as_user: Some(false),
        ..Command::new(func, 10)
            .with("shell", "shell")
            .with("code", "#!/bin/sh\r\necho \"$1 $FOO\"\r\necho bad >&2\r\nexit 3\r\n")
    };
    let full: RunScriptResponse = request(&client, fx.agent_id(), &script("runscriptfull"), SECS_30).await;
    assert_eq!(full.stdout, "hi bar\n", "{}", agent.log());
    assert_eq!(full.stderr, "bad\n");
    assert_eq!(full.retcode, 3);
    assert!(full.execution_time > 0.0);
    let short: String = request(&client, fx.agent_id(), &script("runscript"), SECS_30).await;
    assert_eq!(short, "hi bar\nbad\n");

    let hist = fx.history(HistoryType::ScriptRun, "sleeper").await;
    let timeout = Command {
        id: Some(hist),
        ..Command::new("runscriptfull", 1)
            .with("shell", "shell")
            .with("code", "#!/bin/sh\nsleep 20\n")
    };
    let timed_out: RunScriptResponse = request(&client, fx.agent_id(), &timeout, SECS_5).await;
    assert_eq!(timed_out.retcode, 98);
    assert_eq!(timed_out.id, hist);
    assert!(
        timed_out.stderr.ends_with("Timed out after 1 seconds"),
        "{}",
        timed_out.stderr
    );
    wait_until("the script history", SECS_5, || async {
        fx.history_results(hist).await.1.is_some()
    })
    .await;
    let stored = fx.history_results(hist).await.1.unwrap();
    assert_eq!(stored["retcode"], 98);
    assert_eq!(stored["id"], hist);
    let left: Vec<_> = std::fs::read_dir(fx.dir.path().join("scripts")).unwrap().collect();
    assert!(left.is_empty(), "script files left behind: {left:?}");
}
