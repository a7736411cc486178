use chrono::Utc;
use trmm_db::checks::{Check, CheckFields, CheckId, CheckResultRow, ResultId};
use trmm_db::{AgentPk, ClientId, SiteId};
use trmm_protocol::checks::{CheckReport, CheckType};

use super::*;

fn check(kind: &str, f: CheckFields) -> Check {
    Check {
        id: CheckId(1),
        agent: Some(AgentPk(1)),
        policy: None,
        overridden_by_policy: false,
        check_type: kind.into(),
        fields: f,
        script_name: None,
        site: Some(SiteId(1)),
        client: Some(ClientId(1)),
        created_by: None,
        created_time: Utc::now(),
        modified_by: None,
        modified_time: Utc::now(),
    }
}

fn prev(history: Vec<i32>) -> CheckResultRow {
    CheckResultRow {
        id: ResultId(1),
        agent: AgentPk(1),
        agent_id: "a".into(),
        assigned_check: CheckId(1),
        status: "pending".into(),
        alert_severity: None,
        more_info: None,
        last_run: None,
        fail_count: 0,
        outage_history: None,
        extra_details: None,
        stdout: None,
        stderr: None,
        retcode: None,
        execution_time: None,
        history,
        site: SiteId(1),
        client: ClientId(1),
    }
}

fn report(kind: CheckType, body: &str) -> CheckReport {
    CheckReport::parse(kind, format!(r#"{{"id":1,"agent_id":"a",{body}}}"#).as_bytes()).unwrap()
}

fn thresholds(warning: i32, error: i32) -> CheckFields {
    CheckFields {
        warning_threshold: Some(warning),
        error_threshold: Some(error),
        ..CheckFields::default()
    }
}

#[test]
fn cpu_decides_on_the_average_of_the_last_15_samples_not_on_one() {
    let cpu = check("cpuload", thresholds(70, 90));
    // Fourteen quiet samples and one spike: the average stays low.
    let e = evaluate(
        &cpu,
        &prev(vec![10; 14]),
        &report(CheckType::Cpuload, r#""percent":100"#),
    )
    .unwrap();
    assert_eq!((e.status.as_str(), e.history.len()), ("passing", 15));
    assert_eq!(e.more_info.as_deref(), Some("Average CPU Load: 16%"));
    assert_eq!(e.y, Some(100));
    // A sustained high load fails with error; the oldest sample drops out.
    let e = evaluate(
        &cpu,
        &prev(vec![95; 15]),
        &report(CheckType::Cpuload, r#""percent":95"#),
    )
    .unwrap();
    assert_eq!(
        (e.status.as_str(), e.alert_severity.as_deref()),
        ("failing", Some("error"))
    );
    assert_eq!(e.history, vec![95; 15]);
    let mem = check("memory", thresholds(70, 90));
    let e = evaluate(&mem, &prev(vec![80; 3]), &report(CheckType::Memory, r#""percent":80"#)).unwrap();
    assert_eq!(
        (e.status.as_str(), e.alert_severity.as_deref()),
        ("failing", Some("warning"))
    );
    assert_eq!(e.more_info.as_deref(), Some("Average Memory Usage: 80%"));
}

#[test]
fn disk_thresholds_are_percent_free() {
    let disk = check("diskspace", thresholds(25, 10));
    let at = |used: &str| {
        evaluate(
            &disk,
            &prev(vec![]),
            &report(
                CheckType::Diskspace,
                &format!(r#""more_info":"m","percent_used":{used},"exists":true"#),
            ),
        )
        .unwrap()
    };
    let e = at("50");
    assert_eq!((e.status.as_str(), e.y), ("passing", Some(50)));
    let e = at("80");
    assert_eq!(
        (e.status.as_str(), e.alert_severity.as_deref()),
        ("failing", Some("warning"))
    );
    let e = at("95.5");
    // 95.5 rounds half to even (96): 4% free.
    assert_eq!((e.alert_severity.as_deref(), e.y), (Some("error"), Some(4)));
    let e = evaluate(
        &disk,
        &prev(vec![]),
        &report(
            CheckType::Diskspace,
            r#""more_info":"","percent_used":0,"exists":false"#,
        ),
    )
    .unwrap();
    assert_eq!(
        (e.status.as_str(), e.alert_severity.as_deref()),
        ("failing", Some("error"))
    );
}

#[test]
fn script_return_codes_map_to_info_warning_success_and_error() {
    let f = CheckFields {
        info_return_codes: vec![3],
        warning_return_codes: vec![2],
        success_return_codes: vec![5],
        ..CheckFields::default()
    };
    let s = check("script", f);
    let run = |code: i64| {
        evaluate(
            &s,
            &prev(vec![]),
            &report(
                CheckType::Script,
                &format!(r#""stdout":"out","stderr":"","retcode":{code},"runtime":1.23456"#),
            ),
        )
        .unwrap()
    };
    let sev = |e: &Evaluated| (e.status.clone(), e.alert_severity.clone());
    assert_eq!(sev(&run(3)), ("failing".into(), Some("info".into())));
    assert_eq!(sev(&run(2)), ("failing".into(), Some("warning".into())));
    assert_eq!(sev(&run(5)), ("passing".into(), None));
    assert_eq!(sev(&run(0)), ("passing".into(), None));
    let e = run(1);
    assert_eq!(sev(&e), ("failing".into(), Some("error".into())));
    assert_eq!(e.execution_time.as_deref(), Some("1.2346"));
    assert_eq!(e.y, Some(1));
}

#[test]
fn ping_service_and_eventlog_follow_the_agent_and_the_match_count() {
    let ping = check("ping", CheckFields::default());
    let e = evaluate(
        &ping,
        &prev(vec![]),
        &report(CheckType::Ping, r#""status":"failing","output":"timeout""#),
    )
    .unwrap();
    assert_eq!(
        (e.status.as_str(), e.more_info.as_deref(), e.y),
        ("failing", Some("timeout"), Some(1))
    );
    let bad = evaluate(
        &ping,
        &prev(vec![]),
        &report(CheckType::Ping, r#""status":"weird","output":"""#),
    );
    assert_eq!(bad, Err(ReportError::Status("weird".into())));
    let svc = check("winsvc", CheckFields::default());
    let e = evaluate(
        &svc,
        &prev(vec![]),
        &report(CheckType::Winsvc, r#""status":"passing","more_info":"Status: running""#),
    )
    .unwrap();
    assert_eq!(e.status, "passing");
    let found = r#""log":[{"source":"s","eventType":"ERROR","eventID":1,"message":"m","time":"t","uid":1}]"#;
    let contains = check(
        "eventlog",
        CheckFields {
            fail_when: Some("contains".into()),
            number_of_events_b4_alert: Some(1),
            ..CheckFields::default()
        },
    );
    let e = evaluate(&contains, &prev(vec![]), &report(CheckType::Eventlog, found)).unwrap();
    assert_eq!(
        (e.status.as_str(), e.results.clone()),
        ("failing", Some(json!("Events Found:1")))
    );
    let mut not_contains = contains.clone();
    not_contains.fields.fail_when = Some("not_contains".into());
    let e = evaluate(
        &not_contains,
        &prev(vec![]),
        &report(CheckType::Eventlog, r#""log":[]"#),
    )
    .unwrap();
    assert_eq!(e.status, "failing");
    let e = evaluate(&not_contains, &prev(vec![]), &report(CheckType::Eventlog, found)).unwrap();
    assert_eq!(e.status, "passing");
}

#[test]
fn a_report_of_another_type_is_refused() {
    let cpu = check("cpuload", thresholds(70, 90));
    let r = report(CheckType::Ping, r#""status":"passing","output":"""#);
    assert_eq!(evaluate(&cpu, &prev(vec![]), &r), Err(ReportError::Mismatch("cpuload")));
}
