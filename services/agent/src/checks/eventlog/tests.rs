use super::*;

fn def(event_type: &str, id: i32, wildcard: bool, source: &str, message: &str) -> CheckDefinition {
    let json = serde_json::json!({
        "id": 5, "check_type": "eventlog", "log_name": "System", "event_type": event_type,
        "event_id": id, "event_id_is_wildcard": wildcard, "event_source": source,
        "event_message": message, "search_last_days": 1,
    });
    serde_json::from_value(json).unwrap()
}

fn event(event_type: &str, id: u32, source: &str, message: &str) -> EventLogMsg {
    EventLogMsg {
        source: source.into(),
        event_type: event_type.into(),
        event_id: id,
        message: message.into(),
        time: String::new(),
        uid: 1,
    }
}

/// `EventLogCheck`'s loop body as upstream writes it, branch for branch.
fn upstream_appends(d: &CheckDefinition, i: &EventLogMsg) -> usize {
    let (src, msg) = (
        d.event_source.clone().unwrap_or_default(),
        d.event_message.clone().unwrap_or_default(),
    );
    let (wild, id) = (d.event_id_is_wildcard, d.event_id.unwrap_or(0) as i64);
    let mut n = 0;
    if i.event_type != d.event_type.clone().unwrap_or_default() {
        return 0;
    }
    if !wild && i.event_id as i64 != id {
        return 0;
    }
    if src.is_empty() && msg.is_empty() && (wild || i.event_id as i64 == id) {
        n += 1;
    }
    if !src.is_empty() && !msg.is_empty() {
        if (wild || i.event_id as i64 == id) && i.source.contains(&src) && i.message.contains(&msg) {
            n += 1;
        }
        return n;
    }
    if !src.is_empty() && i.source.contains(&src) && (wild || i.event_id as i64 == id) {
        n += 1;
    }
    if !msg.is_empty() && i.message.contains(&msg) && (wild || i.event_id as i64 == id) {
        n += 1;
    }
    n
}

#[test]
fn the_filter_is_upstreams() {
    let table = [
        // (check: type, id, wildcard, source, message), event: (type, id, source, message) → kept
        (("ERROR", 0, true, "", ""), ("ERROR", 7, "sshd", "x"), true),
        (("ERROR", 0, true, "", ""), ("WARNING", 7, "sshd", "x"), false),
        (("ERROR", 7, false, "", ""), ("ERROR", 7, "sshd", "x"), true),
        (("ERROR", 7, false, "", ""), ("ERROR", 8, "sshd", "x"), false),
        (("ERROR", 0, true, "ssh", ""), ("ERROR", 1, "sshd", "x"), true),
        (("ERROR", 0, true, "cron", ""), ("ERROR", 1, "sshd", "x"), false),
        (
            ("ERROR", 0, true, "", "Failed"),
            ("ERROR", 1, "sshd", "Failed password"),
            true,
        ),
        (
            ("ERROR", 0, true, "", "failed"),
            ("ERROR", 1, "sshd", "Failed password"),
            false,
        ),
        (
            ("ERROR", 0, true, "ssh", "Failed"),
            ("ERROR", 1, "sshd", "Failed password"),
            true,
        ),
        (
            ("ERROR", 0, true, "ssh", "Accepted"),
            ("ERROR", 1, "sshd", "Failed password"),
            false,
        ),
        (
            ("ERROR", 3, false, "ssh", "Failed"),
            ("ERROR", 4, "sshd", "Failed password"),
            false,
        ),
        (("INFO", 0, true, "", ""), ("Unknown", 0, "", ""), false),
    ];
    for ((t, id, wild, src, msg), (et, eid, es, em), kept) in table {
        let (d, e) = (def(t, id, wild, src, msg), event(et, eid, es, em));
        assert_eq!(matches(&d, &e), kept, "{d:?} {e:?}");
        assert_eq!(upstream_appends(&d, &e), usize::from(kept), "{d:?} {e:?}");
    }
    // And everywhere else on a grid of inputs: never twice, never differently.
    for t in ["ERROR", "INFO"] {
        for (id, wild) in [(0, true), (4, false), (5, false)] {
            for src in ["", "ssh", "cron"] {
                for msg in ["", "Failed", "Accepted"] {
                    let d = def(t, id, wild, src, msg);
                    for e in [
                        event("ERROR", 4, "sshd", "Failed password"),
                        event("INFO", 5, "cron", "Accepted job"),
                    ] {
                        assert_eq!(usize::from(matches(&d, &e)), upstream_appends(&d, &e), "{d:?} {e:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn priorities_become_windows_event_types() {
    for p in 0..=3 {
        assert_eq!(event_type(Some(p)), "ERROR");
    }
    assert_eq!(event_type(Some(4)), "WARNING");
    for p in 5..=7 {
        assert_eq!(event_type(Some(p)), "INFO");
    }
    assert_eq!(event_type(None), "INFO");
}

/// `journalctl -o json` output: sshd (auth facility), the kernel, a user unit, a binary message, a
/// repeated field and a line that is not an entry.
const JOURNAL: &str = r#"{"__REALTIME_TIMESTAMP":"1796637600123456","PRIORITY":"3","SYSLOG_IDENTIFIER":"sshd","_SYSTEMD_UNIT":"ssh.service","SYSLOG_FACILITY":"4","_TRANSPORT":"syslog","MESSAGE":"Failed password for root from 10.0.0.9 port 2222 ssh2"}
{"__REALTIME_TIMESTAMP":"1796637500000000","PRIORITY":"4","SYSLOG_IDENTIFIER":"kernel","_TRANSPORT":"kernel","SYSLOG_FACILITY":"0","MESSAGE":"EXT4-fs warning: mounting fs with errors"}
{"__REALTIME_TIMESTAMP":"1796637400000000","PRIORITY":"6","_SYSTEMD_UNIT":"user@1000.service","_SYSTEMD_USER_UNIT":"app.service","_TRANSPORT":"stdout","MESSAGE":"started","EVENT_ID":"70001"}
{"__REALTIME_TIMESTAMP":"1796637300000000","PRIORITY":"2","SYSLOG_IDENTIFIER":"app","_SYSTEMD_UNIT":"app.service","_TRANSPORT":"journal","MESSAGE":[104,105,255,0],"EVENT_ID":["12","13"]}
-- No entries --
"#;

#[test]
fn journal_entries_become_events() {
    let app = parse(LogName::Application, JOURNAL);
    assert_eq!(app.len(), 3, "{app:?}");
    assert_eq!(
        app[0],
        EventLogMsg {
            source: "sshd".into(),
            event_type: "ERROR".into(),
            event_id: 0,
            message: "Failed password for root from 10.0.0.9 port 2222 ssh2".into(),
            time: "2026-12-07 10:00:00 +0000 UTC".into(),
            uid: 1,
        }
    );
    // No identifier: the unit; EVENT_ID keeps its low 16 bits like a Windows event id.
    assert_eq!(
        (app[1].source.as_str(), app[1].event_id, app[1].uid),
        ("user@1000.service", 4465, 2)
    );
    assert_eq!((app[2].message.as_str(), app[2].event_id), ("hi", 12));

    let system = parse(LogName::System, JOURNAL);
    let sources: Vec<&str> = system.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(sources, ["sshd", "kernel", "app"]);
    assert_eq!(system[1].event_type, "WARNING");

    let security = parse(LogName::Security, JOURNAL);
    assert_eq!(security.len(), 1);
    assert_eq!(security[0].source, "sshd");
}

#[test]
fn journalctl_reads_the_log_newest_first_since_the_window() {
    let since = DateTime::from_timestamp(1_796_637_600, 0);
    assert_eq!(
        journal_args(LogName::Security, since),
        [
            "--no-pager",
            "--output=json",
            "--reverse",
            "--lines=10000",
            "--since=@1796637600",
            "SYSLOG_FACILITY=4",
            "SYSLOG_FACILITY=10"
        ]
    );
    assert_eq!(journal_args(LogName::System, None).last().unwrap(), "--system");
    assert_eq!(journal_args(LogName::Application, None).len(), 4);
    assert_eq!(LogName::parse("Setup"), None);
    assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
}
