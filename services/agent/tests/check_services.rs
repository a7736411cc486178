//! winsvc and eventlog checks through stand-in `systemctl`/`journalctl` scripts (the test machine has no
//! systemd as PID 1 and no journald), the real journalctl where installed, and the real systemd and journald
//! where systemd runs.

mod check_support;

use std::path::Path;
use std::sync::Arc;

use check_support::*;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use trmm_protocol::checks::{CheckReport, EventLogResult, StatusResult};

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
