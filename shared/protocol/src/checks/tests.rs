//! Result bodies exactly as the Go agent's `agent/checks.go` sends them, and definitions as the server sends them.

use super::*;

const AGENT: &str = "qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdF";

fn body(fields: &str) -> Vec<u8> {
    format!(r#"{{"id":7,"agent_id":"{AGENT}",{fields}}}"#).into_bytes()
}

#[test]
fn every_go_result_body_reads_as_its_check_type() {
    let disk = body(r#""more_info":"Total: 465.1 GB, Free: 120.0 GB","percent_used":74.19,"exists":true"#);
    assert_eq!(
        CheckReport::parse(CheckType::Diskspace, &disk).unwrap(),
        CheckReport::Disk(DiskResult {
            more_info: "Total: 465.1 GB, Free: 120.0 GB".into(),
            percent_used: 74.19,
            exists: true
        })
    );
    let cpu = body(r#""percent":42"#);
    assert_eq!(
        CheckReport::parse(CheckType::Cpuload, &cpu).unwrap(),
        CheckReport::Percent(PercentResult { percent: 42 })
    );
    let ping = body(r#""status":"failing","output":"Request timeout for icmp_seq 0""#);
    let CheckReport::Ping(p) = CheckReport::parse(CheckType::Ping, &ping).unwrap() else {
        panic!()
    };
    assert_eq!(
        (p.status.as_str(), p.output.as_deref()),
        ("failing", Some("Request timeout for icmp_seq 0"))
    );
    let svc = body(r#""more_info":"Status: stopped","status":"failing""#);
    let CheckReport::Service(s) = CheckReport::parse(CheckType::Winsvc, &svc).unwrap() else {
        panic!()
    };
    assert_eq!(s.more_info.as_deref(), Some("Status: stopped"));
    let script = body(r#""stdout":"ok\n","stderr":"","retcode":2,"runtime":0.5123"#);
    let CheckReport::Script(r) = CheckReport::parse(CheckType::Script, &script).unwrap() else {
        panic!()
    };
    assert_eq!((r.retcode, r.runtime), (2, 0.5123));
    let evt = body(
        r#""log":[{"source":"sshd","eventType":"ERROR","eventID":4625,"message":"Failed password","time":"2026-12-07 10:00:00","uid":1}]"#,
    );
    let CheckReport::EventLog(e) = CheckReport::parse(CheckType::Eventlog, &evt).unwrap() else {
        panic!()
    };
    assert_eq!((e.log[0].event_id, e.log[0].event_type.as_str()), (4625, "ERROR"));
    let none = body(r#""log":null"#);
    let CheckReport::EventLog(e) = CheckReport::parse(CheckType::Eventlog, &none).unwrap() else {
        panic!()
    };
    assert!(e.log.is_empty());
}

#[test]
fn a_body_of_the_wrong_shape_is_an_error() {
    assert!(CheckReport::parse(CheckType::Cpuload, &body(r#""percent":"high""#)).is_err());
    assert!(CheckReport::parse(CheckType::Script, &body(r#""stdout":"x""#)).is_err());
    assert!(CheckReport::parse(CheckType::Unknown, &body(r#""percent":1"#)).is_err());
}

#[test]
fn trmm_agent_sends_what_the_go_agent_sends() {
    let sent = serde_json::to_value(Reported {
        id: 7,
        agent_id: AGENT.to_string(),
        result: StatusResult {
            status: "passing".into(),
            output: Some("pong".into()),
            more_info: None,
        },
    })
    .unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"id": 7, "agent_id": AGENT, "status": "passing", "output": "pong"})
    );
    let disk = serde_json::to_value(Reported {
        id: 1,
        agent_id: AGENT.to_string(),
        result: DiskResult {
            more_info: "m".into(),
            percent_used: 10.5,
            exists: true,
        },
    })
    .unwrap();
    assert_eq!(
        disk,
        serde_json::json!({"id": 1, "agent_id": AGENT, "more_info": "m", "percent_used": 10.5, "exists": true})
    );
}

#[test]
fn every_report_is_sent_untagged_beside_the_envelope() {
    let sent = |result: CheckReport| {
        serde_json::to_string(&Reported {
            id: 7,
            agent_id: AGENT.to_string(),
            result,
        })
        .unwrap()
    };
    let percent = sent(CheckReport::Percent(PercentResult { percent: 42 }));
    assert_eq!(percent, format!(r#"{{"id":7,"agent_id":"{AGENT}","percent":42}}"#));
    let svc = sent(CheckReport::Service(StatusResult {
        status: "failing".into(),
        output: None,
        more_info: Some("Status: stopped".into()),
    }));
    assert_eq!(
        svc,
        format!(r#"{{"id":7,"agent_id":"{AGENT}","status":"failing","more_info":"Status: stopped"}}"#)
    );
    let script = sent(CheckReport::Script(ScriptResult {
        stdout: "ok\n".into(),
        stderr: String::new(),
        retcode: 2,
        runtime: 0.5,
    }));
    assert_eq!(
        script,
        format!(r#"{{"id":7,"agent_id":"{AGENT}","stdout":"ok\n","stderr":"","retcode":2,"runtime":0.5}}"#)
    );
    let events = sent(CheckReport::EventLog(EventLogResult { log: Vec::new() }));
    assert_eq!(events, format!(r#"{{"id":7,"agent_id":"{AGENT}","log":[]}}"#));
    // What is sent reads back as the same report.
    let disk = CheckReport::Disk(DiskResult {
        more_info: "Total: 465.1 GB, Free: 120.0 GB".into(),
        percent_used: 74.19,
        exists: true,
    });
    assert_eq!(
        CheckReport::parse(CheckType::Diskspace, sent(disk.clone()).as_bytes()).unwrap(),
        disk
    );
}

#[test]
fn definitions_read_with_nulls_and_unknown_types() {
    let json = r#"{"agent":3,"check_interval":137,"checks":[
        {"id":1,"agent":3,"check_type":"diskspace","disk":"/","warning_threshold":25,"error_threshold":10,
         "script":null,"script_args":null,"env_vars":[],"alert_severity":"warning","run_interval":0},
        {"id":2,"check_type":"script","script":{"code":"exit 2","shell":"shell","run_as_user":false,
         "env_vars":[],"script_hash":null},"script_args":["-x"],"env_vars":["A=1"],"timeout":30,
         "info_return_codes":[1],"warning_return_codes":[2],"success_return_codes":[]},
        {"id":3,"check_type":"registry"}]}"#;
    let r: CheckRunnerResponse = serde_json::from_str(json).unwrap();
    assert_eq!(r.checks[0].disk.as_deref(), Some("/"));
    assert!(r.checks[0].script_args.is_empty());
    assert_eq!(r.checks[1].script.as_ref().unwrap().code, "exit 2");
    assert_eq!(r.checks[1].warning_return_codes, vec![2]);
    assert_eq!(r.checks[2].check_type, CheckType::Unknown);
}
