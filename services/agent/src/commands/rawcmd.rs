//! `rawcmd`: `<shell split on spaces> -c <command>` with a timeout. The reply is stdout + ("\n" + stderr);
//! with `id` != 0 the same text is PATCHed to `histresult/`. With `stream: true` and `payload.cmd_id`
//! (agents ≥ 2.10) each line is also published to `<agent_id>.cmdoutput.<cmd_id>`, ending with `done`.

use reqwest::Method;
use serde_json::json;
use tokio::sync::mpsc;
use trmm_protocol::calls::RawCmd;
use trmm_protocol::nats::{self, StreamChunk};

use super::exec::{self, Pipe, Spec};
use super::Request;

/// The Go agent's default shell (`NewCMDOpts`).
const DEFAULT_SHELL: &str = "/bin/bash";

/// Runs the command and answers.
pub async fn handle(req: &Request, cmd: RawCmd) {
    let agent = &req.agent;
    let shell = Some(cmd.shell.as_str())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(DEFAULT_SHELL);
    let mut argv: Vec<String> = shell.split_whitespace().map(String::from).collect();
    argv.push("-c".into());
    argv.push(cmd.command);
    let spec = Spec {
        argv,
        env: Vec::new(),
        timeout_secs: cmd.timeout,
    };

    let stream_subject = cmd
        .stream_id
        .map(|id| format!("{}.cmdoutput.{id}", agent.config.agent_id));
    let output = match &stream_subject {
        Some(subject) => run_streaming(req, &spec, subject).await,
        None => exec::run(&spec, None, &agent.shutdown).await,
    };

    let result = output.combined();
    req.respond(&result).await;
    if let Some(id) = cmd.history_id {
        report_history(req, id, &result).await;
    }
}

async fn run_streaming(req: &Request, spec: &Spec, subject: &str) -> exec::Output {
    let nats = req.agent.nats.clone();
    let (tx, mut rx) = mpsc::channel::<(Pipe, String)>(256);
    let subject_owned = subject.to_owned();
    // One publisher keeps the lines in order.
    let publisher = tokio::spawn(async move {
        while let Some((_, line)) = rx.recv().await {
            publish_chunk(&nats, &subject_owned, &line, false, 0).await;
        }
    });
    let output = exec::run(spec, Some(tx), &req.agent.shutdown).await;
    let _ = publisher.await;
    if output.timed_out {
        let notice = format!("Timed out after {} seconds", spec.timeout_secs);
        publish_chunk(&req.agent.nats, subject, &notice, false, 0).await;
    }
    publish_chunk(&req.agent.nats, subject, "", true, i64::from(output.exit_code)).await;
    output
}

async fn publish_chunk(nats: &async_nats::Client, subject: &str, line: &str, done: bool, exit_code: i64) {
    let chunk = StreamChunk {
        line: line.to_owned(),
        done,
        exit_code,
    };
    let bytes = match nats::encode(&chunk) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an output line");
            return;
        }
    };
    if let Err(e) = nats.publish(subject.to_owned(), bytes.into()).await {
        tracing::warn!(subject, error = %e, "output line not published");
    }
}

/// `PATCH /api/v3/<id>/<agent_id>/histresult/` with `{"results": <reply text>}`.
async fn report_history(req: &Request, id: i64, result: &str) {
    let agent = &req.agent;
    let path = format!("/api/v3/{id}/{}/histresult/", agent.config.agent_id);
    if let Err(e) = agent.api.send(Method::PATCH, &path, &json!({"results": result})).await {
        tracing::warn!(error = %e, "command history not recorded");
    }
}
