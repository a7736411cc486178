//! Every check type through `Executor::run_one` on this machine: disk, memory and cpu from /proc and statvfs,
//! ping over a real ICMP socket, scripts through the script runner, and winsvc/eventlog through stand-in
//! `systemctl`/`journalctl` scripts (the test machine has no systemd as PID 1 and no journald), plus one test
//! against the real ones where systemd runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use trmm_agent::checks::{runner, Executor};
use trmm_protocol::checks::{CheckDefinition, CheckReport, EventLogResult, ScriptResult, StatusResult};
use trmm_runtime::clock::{Clock, SystemClock};

const AGENT_ID: &str = "qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdF";

/// Always the same instant, so journalctl's `--since` is known.
#[derive(Debug)]
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn executor(tools: &Path) -> Executor {
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

fn check(fields: Value) -> CheckDefinition {
    let mut def = json!({"id": 11, "agent": 3});
    def.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    serde_json::from_value(def).unwrap()
}

fn write_tool(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

async fn run(exec: &Executor, def: &CheckDefinition) -> CheckReport {
    let body = exec.run_one(def).await.expect("a result");
    assert_eq!((body.id, body.agent_id.as_str()), (i64::from(def.id), AGENT_ID));
    body.result
}

async fn status_of(exec: &Executor, def: &CheckDefinition) -> StatusResult {
    match run(exec, def).await {
        CheckReport::Service(s) | CheckReport::Ping(s) => s,
        other => panic!("not a status result: {other:?}"),
    }
}

#[tokio::test]
async fn disk_memory_and_cpu_of_this_machine() {
    let tools = tempfile::tempdir().unwrap();
    let exec = executor(tools.path());
    let CheckReport::Disk(root) = run(&exec, &check(json!({"check_type": "diskspace", "disk": "/"}))).await else {
        panic!("not a disk result")
    };
    assert!(root.exists);
    assert!((0.0..=100.0).contains(&root.percent_used), "{root:?}");
    assert!(
        root.more_info.starts_with("Total: ") && root.more_info.contains(", Free: "),
        "{root:?}"
    );
    // A path inside a mount is measured as its file system.
    let inside = json!({"check_type": "diskspace", "disk": tools.path().to_str().unwrap()});
    let CheckReport::Disk(tmp) = run(&exec, &check(inside)).await else {
        panic!()
    };
    assert!(tmp.exists, "{tmp:?}");
    let missing = json!({"check_type": "diskspace", "disk": "/no/such/disk"});
    let CheckReport::Disk(gone) = run(&exec, &check(missing)).await else {
        panic!()
    };
    assert_eq!(
        (gone.exists, gone.more_info.as_str()),
        (false, "Disk /no/such/disk does not exist")
    );

    for kind in ["memory", "cpuload"] {
        let CheckReport::Percent(p) = run(&exec, &check(json!({"check_type": kind}))).await else {
            panic!("not a percent")
        };
        assert!((0..=100).contains(&p.percent), "{kind}: {p:?}");
    }
    let body = exec.run_one(&check(json!({"check_type": "memory"}))).await.unwrap();
    let sent = serde_json::to_value(&body).unwrap();
    assert_eq!(sent.as_object().unwrap().len(), 3, "{sent}");
    assert!(sent["percent"].is_i64(), "{sent}");
}

#[tokio::test]
async fn cpuload_stops_with_the_agent() {
    let tools = tempfile::tempdir().unwrap();
    let mut exec = executor(tools.path());
    exec.cpu_window = Duration::from_secs(600);
    exec.shutdown.cancel();
    let cpu = check(json!({"check_type": "cpuload"}));
    let stopped = tokio::time::timeout(Duration::from_secs(10), exec.run_one(&cpu));
    assert_eq!(stopped.await.expect("cancelled promptly"), None);
}

#[tokio::test]
async fn ping_loopback_and_an_unresolvable_host() {
    let tools = tempfile::tempdir().unwrap();
    let exec = executor(tools.path());
    let v6 = std::net::UdpSocket::bind("[::1]:0").is_ok();
    let hosts: &[&str] = if v6 { &["127.0.0.1", "::1"] } else { &["127.0.0.1"] };
    if !v6 {
        eprintln!("::1 skipped: no IPv6 loopback here");
    }
    for host in hosts {
        let s = status_of(&exec, &check(json!({"check_type": "ping", "ip": host}))).await;
        let output = s.output.unwrap_or_default();
        assert_eq!(s.status, "passing", "{host}: {output}");
        assert!(
            output.contains(&format!("556 bytes from {host}: icmp_seq=0 time=")),
            "{output}"
        );
        assert!(output.contains(&format!("--- {host} ping statistics ---")), "{output}");
        assert!(
            output.contains("3 packets transmitted, 3 packets received, 0% packet loss"),
            "{output}"
        );
        assert!(output.contains("round-trip min/avg/max/stddev = "), "{output}");
    }
    let s = status_of(&exec, &check(json!({"check_type": "ping", "ip": "nosuchhost.invalid"}))).await;
    assert_eq!(s.status, "failing");
    assert!(s.output.unwrap().starts_with("lookup nosuchhost.invalid: "));
    // The body the Go agent sends: status and output, nothing else.
    let body = exec
        .run_one(&check(json!({"check_type": "ping", "ip": ""})))
        .await
        .unwrap();
    let sent = serde_json::to_value(&body).unwrap();
    let mut keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["agent_id", "id", "output", "status"]);
}

#[tokio::test]
async fn ping_falls_back_to_the_system_ping() {
    let tools = tempfile::tempdir().unwrap();
    let stand_in = write_tool(
        tools.path(),
        "ping",
        "#!/bin/sh\nprintf '%s\\n' \"$*\" > \"$(dirname \"$0\")/ping.args\"\n\
         echo 'PING 127.0.0.1 (127.0.0.1) 548(576) bytes of data.'\n\
         echo '556 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms'\n\
         echo '3 packets transmitted, 1 received, 66.6667% packet loss, time 2030ms'\n",
    );
    let addr = "127.0.0.1".parse().unwrap();
    let (passing, output) = trmm_agent::checks::ping::command::ping(&stand_in, addr).await.unwrap();
    assert!(!passing, "two of three lost");
    assert!(output.contains("3 packets transmitted, 1 received"), "{output}");
    let args = std::fs::read_to_string(tools.path().join("ping.args")).unwrap();
    assert_eq!(args.trim(), "-c 3 -s 548 -w 5 127.0.0.1");
    let missing = trmm_agent::checks::ping::command::ping(&tools.path().join("nope"), addr).await;
    assert!(missing.unwrap_err().contains("nope"));

    let Some(real) = trmm_agent::commands::interpreter::find_program("ping") else {
        eprintln!("real ping skipped: no ping binary here");
        return;
    };
    let (passing, output) = trmm_agent::checks::ping::command::ping(&real, addr).await.unwrap();
    assert!(passing, "{output}");
}

#[tokio::test]
async fn script_checks_use_the_checks_args_env_and_timeout() {
    let tools = tempfile::tempdir().unwrap();
    let exec = executor(tools.path());
    let script = |code: &str, timeout: Value| {
        check(json!({
            "check_type": "script", "timeout": timeout,
            "script": {"code": code, "shell": "shell", "run_as_user": false, "env_vars": ["WHO=script"]},
            "script_args": ["one", "two words"], "env_vars": ["WHO=check"],
        }))
    };
    let code = "#!/bin/sh\necho \"$1|$2|$WHO\"\necho warn >&2\nexit 3\n";
    let CheckReport::Script(r) = run(&exec, &script(code, json!(30))).await else {
        panic!()
    };
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str(), r.retcode),
        ("one|two words|check\n", "warn\n", 3)
    );
    assert!(r.runtime > 0.0 && r.runtime < 30.0, "{r:?}");
    // No timeout: killed at once, as the Go agent's zero-length context does.
    let CheckReport::Script(r) = run(&exec, &script("#!/bin/sh\nsleep 5\n", Value::Null)).await else {
        panic!()
    };
    assert_eq!(r.retcode, 98, "{r:?}");
    assert!(r.stderr.ends_with("Timed out after 0 seconds"), "{r:?}");
    let no_script = check(json!({"check_type": "script", "timeout": 30}));
    let CheckReport::Script(r) = run(&exec, &no_script).await else {
        panic!()
    };
    assert_eq!(
        r,
        ScriptResult {
            stdout: String::new(),
            stderr: "The check has no script".into(),
            retcode: 1,
            runtime: 0.0
        }
    );
    assert_eq!(std::fs::read_dir(tools.path().join("scripts")).unwrap().count(), 0);
}

/// systemctl whose `show` prints the properties in `<dir>/state`, and whose `start` makes the unit running
/// unless `<dir>/start-fails` exists; every call is recorded in `<dir>/calls`.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
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

fn set_state(dir: &Path, load: &str, active: &str, sub: &str) {
    let text = format!("LoadState={load}\nActiveState={active}\nSubState={sub}\n");
    std::fs::write(dir.join("state"), text).unwrap();
}

fn calls(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
    std::fs::remove_file(dir.join("calls")).ok();
    text.lines().map(String::from).collect()
}

#[tokio::test]
async fn winsvc_reads_and_starts_units_through_systemctl() {
    let tools = tempfile::tempdir().unwrap();
    let dir = tools.path();
    write_tool(dir, "systemctl", FAKE_SYSTEMCTL);
    let exec = executor(dir);
    let svc = |flags: Value| {
        let mut fields = json!({"check_type": "winsvc", "svc_name": "nginx.service"});
        fields
            .as_object_mut()
            .unwrap()
            .extend(flags.as_object().unwrap().clone());
        check(fields)
    };
    let show = "show --no-pager --property=LoadState,ActiveState,SubState -- nginx.service";
    let verdict = |s: StatusResult| (s.status, s.more_info.unwrap_or_default());

    set_state(dir, "loaded", "active", "running");
    let s = status_of(&exec, &svc(json!({}))).await;
    assert_eq!(verdict(s), ("passing".into(), "Status: running".into()));
    assert_eq!(calls(dir), [show]);

    set_state(dir, "loaded", "activating", "start");
    let s = status_of(&exec, &svc(json!({"pass_if_start_pending": true}))).await;
    assert_eq!(verdict(s), ("passing".into(), "Status: start_pending".into()));

    set_state(dir, "loaded", "failed", "failed");
    let s = status_of(&exec, &svc(json!({"restart_if_stopped": false}))).await;
    assert_eq!(verdict(s), ("failing".into(), "Status: stopped".into()));
    assert_eq!(calls(dir), [show, show]);

    std::fs::write(dir.join("start-fails"), "").unwrap();
    let s = status_of(&exec, &svc(json!({"restart_if_stopped": true}))).await;
    assert_eq!(verdict(s), ("failing".into(), "Status: stopped".into()));
    assert_eq!(calls(dir), [show, "start -- nginx.service"]);

    std::fs::remove_file(dir.join("start-fails")).unwrap();
    let s = status_of(&exec, &svc(json!({"restart_if_stopped": true}))).await;
    assert_eq!(verdict(s), ("passing".into(), "Status: running".into()));
    assert_eq!(calls(dir), [show, "start -- nginx.service", show]);

    set_state(dir, "not-found", "inactive", "dead");
    for (pass, status) in [(false, "failing"), (true, "passing")] {
        let s = status_of(
            &exec,
            &svc(json!({"pass_if_svc_not_exist": pass, "restart_if_stopped": true})),
        )
        .await;
        assert_eq!(
            verdict(s),
            (status.into(), "Unit nginx.service could not be found.".into())
        );
    }
    // A name that could be an option never reaches systemctl.
    calls(dir);
    let s = status_of(&exec, &check(json!({"check_type": "winsvc", "svc_name": "--now"}))).await;
    assert_eq!(s.status, "failing");
    assert!(calls(dir).is_empty());
}

/// journalctl printing `<dir>/journal` and recording its arguments in `<dir>/args`; exits 1 without a journal.
const FAKE_JOURNALCTL: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
printf '%s\n' "$*" > "$dir/args"
if [ ! -e "$dir/journal" ]; then echo "No journal files were found." >&2; exit 1; fi
cat "$dir/journal"
"#;

const JOURNAL: &str = r#"{"__REALTIME_TIMESTAMP":"1796637600000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"sshd","_SYSTEMD_UNIT":"ssh.service","SYSLOG_FACILITY":"4","_TRANSPORT":"syslog","MESSAGE":"Failed password for root from 10.0.0.9 port 2222 ssh2"}
{"__REALTIME_TIMESTAMP":"1796637500000000","PRIORITY":"6","SYSLOG_IDENTIFIER":"sshd","_SYSTEMD_UNIT":"ssh.service","SYSLOG_FACILITY":"4","_TRANSPORT":"syslog","MESSAGE":"Accepted publickey for admin"}
{"__REALTIME_TIMESTAMP":"1796637400000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"sudo","SYSLOG_FACILITY":"10","_TRANSPORT":"syslog","MESSAGE":"Failed password: 3 incorrect attempts"}
{"__REALTIME_TIMESTAMP":"1796637300000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"kernel","_TRANSPORT":"kernel","MESSAGE":"Failed to mount /data"}
"#;

#[tokio::test]
async fn eventlog_reads_the_journal_through_journalctl() {
    let tools = tempfile::tempdir().unwrap();
    let dir = tools.path();
    write_tool(dir, "journalctl", FAKE_JOURNALCTL);
    std::fs::write(dir.join("journal"), JOURNAL).unwrap();
    let mut exec = executor(dir);
    let now = Utc.with_ymd_and_hms(2026, 12, 8, 10, 0, 0).unwrap();
    exec.clock = Arc::new(FixedClock(now));
    let evt = |log: &str, source: &str, message: &str| {
        check(json!({
            "check_type": "eventlog", "log_name": log, "event_type": "ERROR", "event_id": 0,
            "event_id_is_wildcard": true, "event_source": source, "event_message": message,
            "search_last_days": 2, "fail_when": "contains", "number_of_events_b4_alert": 1,
        }))
    };
    let log_of = |r: CheckReport| match r {
        CheckReport::EventLog(EventLogResult { log }) => log,
        other => panic!("not an eventlog result: {other:?}"),
    };

    let found = log_of(run(&exec, &evt("Security", "", "Failed")).await);
    let summary: Vec<(&str, i64)> = found.iter().map(|e| (e.source.as_str(), e.uid)).collect();
    assert_eq!(summary, [("sshd", 1), ("sudo", 3)]);
    assert_eq!(found[0].time, "2026-12-07 10:00:00 +0000 UTC");
    let args = std::fs::read_to_string(dir.join("args")).unwrap();
    assert_eq!(
        args.trim(),
        "--no-pager --output=json --reverse --lines=10000 --since=@1796551200 SYSLOG_FACILITY=4 SYSLOG_FACILITY=10"
    );

    let found = log_of(run(&exec, &evt("Security", "sshd", "")).await);
    assert_eq!(found.len(), 1, "only the ERROR one: {found:?}");
    let found = log_of(run(&exec, &evt("System", "kern", "Failed")).await);
    assert_eq!(found[0].message, "Failed to mount /data");
    assert!(log_of(run(&exec, &evt("Application", "kern", "")).await).is_empty());
    assert!(log_of(run(&exec, &evt("Setup", "", "")).await).is_empty());

    // An unreadable journal has no events, as an unreadable event log upstream.
    std::fs::remove_file(dir.join("journal")).unwrap();
    let body = exec.run_one(&evt("Security", "", "")).await.unwrap();
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"id": 11, "agent_id": AGENT_ID, "log": []})
    );
}

#[tokio::test]
async fn the_real_journalctl_takes_the_arguments() {
    let Some(journalctl) = trmm_agent::commands::interpreter::find_program("journalctl") else {
        eprintln!("skipped: no journalctl here");
        return;
    };
    use trmm_agent::checks::eventlog::{read, LogName};
    for log in [LogName::Application, LogName::System, LogName::Security] {
        let since = Utc::now() - chrono::Duration::days(1);
        // With or without journal files, a bad argument would make journalctl fail.
        let events = read(&journalctl, log, Some(since)).await;
        assert!(events.is_ok(), "{log:?}: {events:?}");
    }
}

#[tokio::test]
async fn against_the_real_systemd_and_journald() {
    if !Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: no systemd here");
        return;
    }
    let tools = tempfile::tempdir().unwrap();
    let mut exec = executor(tools.path());
    exec.systemctl = "systemctl".into();
    exec.journalctl = "journalctl".into();
    let journald = check(json!({"check_type": "winsvc", "svc_name": "systemd-journald.service"}));
    let s = status_of(&exec, &journald).await;
    assert_eq!(
        (s.status.as_str(), s.more_info.as_deref()),
        ("passing", Some("Status: running"))
    );
    let ghost = check(json!({"check_type": "winsvc", "svc_name": "trmm-no-such-unit.service"}));
    assert_eq!(status_of(&exec, &ghost).await.status, "failing");
    let info = check(json!({
        "check_type": "eventlog", "log_name": "System", "event_type": "INFO",
        "event_id_is_wildcard": true, "search_last_days": 30,
    }));
    let CheckReport::EventLog(r) = run(&exec, &info).await else {
        panic!()
    };
    assert!(r
        .log
        .iter()
        .enumerate()
        .all(|(i, e)| e.uid > i as i64 && e.event_type == "INFO"));
}

#[tokio::test]
async fn a_run_sends_each_result_and_keeps_service_checks_in_order() {
    let tools = tempfile::tempdir().unwrap();
    let dir = tools.path();
    write_tool(dir, "systemctl", FAKE_SYSTEMCTL);
    set_state(dir, "loaded", "active", "running");
    write_tool(dir, "journalctl", FAKE_JOURNALCTL);
    std::fs::write(dir.join("journal"), JOURNAL).unwrap();
    let exec = executor(dir);
    let defs: Vec<CheckDefinition> = [
        json!({"id": 1, "check_type": "diskspace", "disk": "/"}),
        json!({"id": 2, "check_type": "memory"}),
        json!({"id": 3, "check_type": "cpuload"}),
        json!({"id": 4, "check_type": "winsvc", "svc_name": "a.service"}),
        json!({"id": 5, "check_type": "winsvc", "svc_name": "b.service"}),
        json!({"id": 6, "check_type": "eventlog", "log_name": "System", "event_type": "ERROR",
               "event_id_is_wildcard": true}),
        json!({"id": 7, "check_type": "winsvc", "svc_name": "c.service"}),
        json!({"id": 8, "check_type": "registry"}),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).unwrap())
    .collect();
    let sent = Mutex::new(Vec::new());
    runner::run_all(&exec, &defs, |body| {
        sent.lock().unwrap().push(body.id);
        async {}
    })
    .await;
    let sent = sent.into_inner().unwrap();
    let mut ids = sent.clone();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7], "each result once; the unknown type skipped");
    let services: Vec<i64> = sent.iter().copied().filter(|id| [4, 5, 7].contains(id)).collect();
    assert_eq!(services, [4, 5, 7]);
    let shows: Vec<String> = calls(dir)
        .into_iter()
        .filter_map(|c| c.rsplit(' ').next().map(String::from))
        .collect();
    assert_eq!(shows, ["a.service", "b.service", "c.service"]);
    assert_eq!(runner::RESULT_PATH, "/api/v3/checkrunner/");
}
