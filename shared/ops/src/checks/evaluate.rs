//! What an agent report means (upstream `CheckResult.handle_check`, jobs-and-realtime.md 3.2): a pure function of
//! the check, the previous result and the report.

use serde_json::{json, Value};
use trmm_db::checks::{Check, CheckResultRow, Evaluated};
use trmm_protocol::checks::{CheckReport, CheckStatus, CheckType, DiskResult, ScriptResult, Severity, StatusResult};

/// cpu/memory keep this many samples and decide on their average.
pub const HISTORY_SAMPLES: usize = 15;

/// Why a report cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReportError {
    /// The agent-decided status is neither passing nor failing.
    #[error("\"{0}\" is not a valid check status")]
    Status(String),
    /// The report's shape does not fit the check's type.
    #[error("the result does not fit a {0} check")]
    Mismatch(&'static str),
}

/// Python's `str[:60]` (characters, not bytes).
fn first_60(s: &str) -> String {
    s.chars().take(60).collect()
}

fn failing_if(failed: bool) -> i32 {
    i32::from(failed)
}

fn base(status: CheckStatus, prev: &CheckResultRow) -> Evaluated {
    Evaluated {
        status: status.as_str().to_owned(),
        alert_severity: None,
        more_info: None,
        history: prev.history.clone(),
        extra_details: None,
        stdout: None,
        stderr: None,
        retcode: None,
        execution_time: None,
        y: None,
        results: None,
    }
}

/// A threshold counts only when set and non-zero (upstream tests it for truth).
fn set(t: Option<i32>) -> Option<i32> {
    t.filter(|t| *t > 0)
}

fn percent(check: &Check, kind: CheckType, prev: &CheckResultRow, sample: i32) -> Evaluated {
    let mut history = prev.history.clone();
    history.push(sample);
    let excess = history.len().saturating_sub(HISTORY_SAMPLES);
    history.drain(..excess);
    // Python's int(mean(...)) truncates toward zero.
    let sum: i64 = history.iter().map(|v| i64::from(*v)).sum();
    let avg = (sum / i64::try_from(history.len()).unwrap_or(1)) as i32;
    let f = &check.fields;
    let severity = if set(f.error_threshold).is_some_and(|t| avg > t) {
        Some(Severity::Error)
    } else if set(f.warning_threshold).is_some_and(|t| avg > t) {
        Some(Severity::Warning)
    } else {
        None
    };
    let what = if kind == CheckType::Memory {
        "Memory Usage"
    } else {
        "CPU Load"
    };
    let mut e = base(status_of(severity), prev);
    e.alert_severity = severity.map(|s| s.as_str().to_owned());
    e.more_info = Some(format!("Average {what}: {avg}%"));
    e.history = history;
    e.y = Some(sample);
    e
}

fn status_of(severity: Option<Severity>) -> CheckStatus {
    if severity.is_some() {
        CheckStatus::Failing
    } else {
        CheckStatus::Passing
    }
}

fn disk(check: &Check, prev: &CheckResultRow, r: &DiskResult) -> Evaluated {
    let f = &check.fields;
    if !r.exists {
        let mut e = base(CheckStatus::Failing, prev);
        e.alert_severity = Some(Severity::Error.as_str().to_owned());
        let info = format!("Disk {} does not exist", f.disk.as_deref().unwrap_or_default());
        e.results = Some(Value::String(info.clone()));
        e.more_info = Some(info);
        return e;
    }
    // Python 3's round() rounds halves to even; thresholds are percent free.
    let free = 100 - r.percent_used.round_ties_even() as i32;
    let severity = if set(f.error_threshold).is_some_and(|t| free < t) {
        Some(Severity::Error)
    } else if set(f.warning_threshold).is_some_and(|t| free < t) {
        Some(Severity::Warning)
    } else {
        None
    };
    let mut e = base(status_of(severity), prev);
    e.alert_severity = severity.map(|s| s.as_str().to_owned());
    e.more_info = Some(r.more_info.clone());
    e.y = Some(free);
    e
}

fn script(check: &Check, prev: &CheckResultRow, r: &ScriptResult) -> Evaluated {
    let f = &check.fields;
    let severity = if f.info_return_codes.contains(&r.retcode) {
        Some(Severity::Info)
    } else if f.warning_return_codes.contains(&r.retcode) {
        Some(Severity::Warning)
    } else if f.success_return_codes.contains(&r.retcode) || r.retcode == 0 {
        None
    } else {
        Some(Severity::Error)
    };
    let execution_time = format!("{:.4}", r.runtime);
    let status = status_of(severity);
    let mut e = base(status, prev);
    e.alert_severity = severity.map(|s| s.as_str().to_owned());
    e.stdout = Some(r.stdout.clone());
    e.stderr = Some(r.stderr.clone());
    e.retcode = Some(r.retcode);
    e.y = Some(failing_if(status == CheckStatus::Failing));
    e.results = Some(json!({
        "retcode": r.retcode,
        "stdout": first_60(&r.stdout),
        "stderr": first_60(&r.stderr),
        "execution_time": execution_time,
    }));
    e.execution_time = Some(execution_time);
    e
}

fn agent_decided(prev: &CheckResultRow, r: &StatusResult, info: Option<&str>) -> Result<Evaluated, ReportError> {
    let status = match CheckStatus::parse(&r.status) {
        Some(s @ (CheckStatus::Passing | CheckStatus::Failing)) => s,
        _ => return Err(ReportError::Status(r.status.clone())),
    };
    let info = info.unwrap_or_default().to_owned();
    let mut e = base(status, prev);
    e.y = Some(failing_if(status == CheckStatus::Failing));
    e.results = Some(Value::String(first_60(&info)));
    e.more_info = Some(info);
    Ok(e)
}

fn eventlog(check: &Check, prev: &CheckResultRow, log: &[trmm_protocol::checks::EventLogMsg]) -> Evaluated {
    let f = &check.fields;
    let enough = !log.is_empty()
        && i64::try_from(log.len()).unwrap_or(i64::MAX) >= i64::from(f.number_of_events_b4_alert.unwrap_or(1));
    let failing = match f.fail_when.as_deref() {
        Some("not_contains") => !enough,
        _ => enough,
    };
    let mut e = base(
        if failing {
            CheckStatus::Failing
        } else {
            CheckStatus::Passing
        },
        prev,
    );
    e.extra_details = Some(json!({ "log": log }));
    e.y = Some(failing_if(failing));
    e.results = Some(Value::String(format!("Events Found:{}", log.len())));
    e
}

/// Evaluates one report of `check` given the previous result.
pub fn evaluate(check: &Check, prev: &CheckResultRow, report: &CheckReport) -> Result<Evaluated, ReportError> {
    let kind = CheckType::parse(&check.check_type).unwrap_or(CheckType::Unknown);
    Ok(match (kind, report) {
        (CheckType::Cpuload | CheckType::Memory, CheckReport::Percent(r)) => percent(check, kind, prev, r.percent),
        (CheckType::Diskspace, CheckReport::Disk(r)) => disk(check, prev, r),
        (CheckType::Script, CheckReport::Script(r)) => script(check, prev, r),
        (CheckType::Ping, CheckReport::Ping(r)) => agent_decided(prev, r, r.output.as_deref())?,
        (CheckType::Winsvc, CheckReport::Service(r)) => agent_decided(prev, r, r.more_info.as_deref())?,
        (CheckType::Eventlog, CheckReport::EventLog(r)) => eventlog(check, prev, &r.log),
        _ => return Err(ReportError::Mismatch(kind.as_str())),
    })
}

/// The severity an alert for this result carries: the result's own for disk, cpu, memory and script checks
/// (warning when unset, as upstream's `CheckResult.save`), the check's otherwise.
pub fn alert_severity(check: &Check, evaluated_severity: Option<&str>) -> Severity {
    let dynamic = CheckType::parse(&check.check_type).is_some_and(CheckType::has_dynamic_severity);
    let stored = if dynamic {
        evaluated_severity
    } else {
        check.fields.alert_severity.as_deref()
    };
    stored.and_then(Severity::parse).unwrap_or(Severity::Warning)
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
