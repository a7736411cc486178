//! What the check tests share: an executor over a temp dir of stand-in tools, check definitions from JSON,
//! and the stand-in `systemctl` and `journalctl`.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use trmm_agent::checks::Executor;
use trmm_protocol::checks::{CheckDefinition, CheckReport, StatusResult};
use trmm_runtime::clock::{Clock, SystemClock};

/// The agent every result names.
pub const AGENT_ID: &str = "qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdF";

/// Always the same instant, so journalctl's `--since` is known.
#[derive(Debug)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// An executor whose tools and script directory are in `tools`, with a short cpu sample.
pub fn executor(tools: &Path) -> Executor {
    Executor {
        agent_id: AGENT_ID.into(),
        systemctl: tools.join("systemctl"),
        journalctl: tools.join("journalctl"),
        script_dir: Some(tools.join("scripts")),
        cpu_window: Duration::from_millis(200),
        ping_program: tools.join("ping"),
        clock: SystemClock::shared(),
        shutdown: CancellationToken::new(),
    }
}

/// A check definition: `fields` over an id and an agent.
pub fn check(fields: Value) -> CheckDefinition {
    let mut def = json!({"id": 11, "agent": 3});
    def.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    serde_json::from_value(def).unwrap()
}

/// Writes an executable script `name` into `dir`.
pub fn write_tool(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Runs `def`, which must report, and checks the envelope.
pub async fn run(exec: &Executor, def: &CheckDefinition) -> CheckReport {
    let body = exec.run_one(def).await.expect("a result");
    assert_eq!((body.id, body.agent_id.as_str()), (i64::from(def.id), AGENT_ID));
    body.result
}

/// The result of a ping or winsvc check.
pub async fn status_of(exec: &Executor, def: &CheckDefinition) -> StatusResult {
    match run(exec, def).await {
        CheckReport::Service(s) | CheckReport::Ping(s) => s,
        other => panic!("not a status result: {other:?}"),
    }
}

/// systemctl whose `show` prints the properties in `<dir>/state`, and whose `start` makes the unit running
/// unless `<dir>/start-fails` exists; every call is recorded in `<dir>/calls`.
pub const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
printf '%s\n' "$*" >> "$dir/calls"
case "$1" in
show) cat "$dir/state" ;;
start)
    if [ -e "$dir/start-fails" ]; then echo "Job for $3 failed because the control process exited with error code." >&2; exit 1; fi
    printf 'LoadState=loaded\nActiveState=active\nSubState=running\n' > "$dir/state" ;;
*) echo "unexpected call: $*" >&2; exit 2 ;;
esac
"#;

/// What the stand-in systemctl shows next.
pub fn set_state(dir: &Path, load: &str, active: &str, sub: &str) {
    let text = format!("LoadState={load}\nActiveState={active}\nSubState={sub}\n");
    std::fs::write(dir.join("state"), text).unwrap();
}

/// The stand-in systemctl's calls since the last look.
pub fn calls(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
    std::fs::remove_file(dir.join("calls")).ok();
    text.lines().map(String::from).collect()
}

/// journalctl printing `<dir>/journal` and recording its arguments in `<dir>/args`; exits 1 without a journal.
pub const FAKE_JOURNALCTL: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
printf '%s\n' "$*" > "$dir/args"
if [ ! -e "$dir/journal" ]; then echo "No journal files were found." >&2; exit 1; fi
cat "$dir/journal"
"#;

/// `journalctl -o json` newest first: two sshd entries (auth), sudo (authpriv), the kernel.
pub const JOURNAL: &str = r#"{"__REALTIME_TIMESTAMP":"1796637600000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"sshd","_SYSTEMD_UNIT":"ssh.service","SYSLOG_FACILITY":"4","_TRANSPORT":"syslog","MESSAGE":"Failed password for root from 10.0.0.9 port 2222 ssh2"}
{"__REALTIME_TIMESTAMP":"1796637500000000","PRIORITY":"6","SYSLOG_IDENTIFIER":"sshd","_SYSTEMD_UNIT":"ssh.service","SYSLOG_FACILITY":"4","_TRANSPORT":"syslog","MESSAGE":"Accepted publickey for admin"}
{"__REALTIME_TIMESTAMP":"1796637400000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"sudo","SYSLOG_FACILITY":"10","_TRANSPORT":"syslog","MESSAGE":"Failed password: 3 incorrect attempts"}
{"__REALTIME_TIMESTAMP":"1796637300000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"kernel","_TRANSPORT":"kernel","MESSAGE":"Failed to mount /data"}
"#;
