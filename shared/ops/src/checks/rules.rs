//! The rules a check's settings must follow (upstream `checks/serializers.py::CheckSerializer.validate`), and
//! the text that names a check (`Check.readable_desc`).

use std::net::IpAddr;

use trmm_db::checks::{Check, CheckFields};
use trmm_protocol::checks::CheckType;

use crate::OpsError;

fn refuse(message: impl Into<String>) -> OpsError {
    OpsError::field("non_field_errors", message)
}

/// Threshold rules: at least one set; for disks (percent free) warning above error, for cpu/memory (percent used)
/// warning below error.
fn thresholds(kind: CheckType, f: &CheckFields) -> Result<(), OpsError> {
    let (w, e) = (f.warning_threshold.unwrap_or(0), f.error_threshold.unwrap_or(0));
    if w == 0 && e == 0 {
        return Err(refuse("Warning threshold or Error Threshold must be set"));
    }
    if w > 0 && e > 0 {
        if kind == CheckType::Diskspace && w < e {
            return Err(refuse("Warning threshold must be greater than Error Threshold"));
        }
        if kind != CheckType::Diskspace && w > e {
            return Err(refuse("Warning threshold must be less than Error Threshold"));
        }
    }
    Ok(())
}

/// Upstream's `validators.domain`: dot-separated labels of letters, digits and inner hyphens, ending in an
/// alphabetic (or punycode) top-level label.
fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.strip_suffix('.').unwrap_or(s).split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld_ok = |t: &str| t.starts_with("xn--") || (t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    s.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && labels.last().is_some_and(|t| tld_ok(t))
}

/// Validates the settings of a check of `kind`.
pub fn validate(kind: CheckType, f: &CheckFields) -> Result<(), OpsError> {
    match kind {
        CheckType::Diskspace => {
            if f.disk.as_deref().unwrap_or_default().is_empty() {
                return Err(OpsError::field("disk", "This field is required."));
            }
            thresholds(kind, f)
        }
        CheckType::Cpuload | CheckType::Memory => thresholds(kind, f),
        CheckType::Ping => {
            let ip = f.ip.as_deref().unwrap_or_default();
            if ip.parse::<IpAddr>().is_ok() || is_domain(ip) {
                Ok(())
            } else {
                Err(refuse("Please enter a valid IP address or domain name"))
            }
        }
        CheckType::Script if f.script.is_none() => Err(OpsError::field("script", "This field is required.")),
        CheckType::Winsvc if f.svc_name.as_deref().unwrap_or_default().is_empty() => {
            Err(OpsError::field("svc_name", "This field is required."))
        }
        CheckType::Eventlog if f.log_name.is_none() => Err(OpsError::field("log_name", "This field is required.")),
        _ => Ok(()),
    }
}

/// What upstream says when the agent already has a check like this one.
pub fn duplicate_message(kind: CheckType, f: &CheckFields) -> String {
    match kind {
        CheckType::Diskspace => format!(
            "A disk check for Drive {} already exists!",
            f.disk.as_deref().unwrap_or_default()
        ),
        _ => format!("A {} check for this agent already exists", kind.as_str()),
    }
}

/// Whether an agent may hold only one check of this kind (per disk for disk checks).
pub fn is_singular(kind: CheckType) -> bool {
    matches!(kind, CheckType::Diskspace | CheckType::Cpuload | CheckType::Memory)
}

fn display(kind: CheckType) -> &'static str {
    match kind {
        CheckType::Diskspace => "Disk Space Check",
        CheckType::Ping => "Ping Check",
        CheckType::Cpuload => "CPU Load Check",
        CheckType::Memory => "Memory Check",
        CheckType::Winsvc => "Service Check",
        CheckType::Script => "Script Check",
        CheckType::Eventlog => "Event Log Check",
        CheckType::Unknown => "n/a",
    }
}

fn threshold_text(f: &CheckFields) -> String {
    let mut text = String::new();
    if let Some(w) = f.warning_threshold.filter(|w| *w > 0) {
        text.push_str(&format!(" Warning Threshold: {w}%"));
    }
    if let Some(e) = f.error_threshold.filter(|e| *e > 0) {
        text.push_str(&format!(" Error Threshold: {e}%"));
    }
    text
}

/// Upstream `Check.readable_desc`.
pub fn readable_desc(check: &Check) -> String {
    let kind = CheckType::parse(&check.check_type).unwrap_or(CheckType::Unknown);
    let f = &check.fields;
    let name = f.name.as_deref().unwrap_or("None");
    match kind {
        CheckType::Diskspace => format!(
            "{}: Drive {} - {}",
            display(kind),
            f.disk.as_deref().unwrap_or_default(),
            threshold_text(f)
        ),
        CheckType::Cpuload | CheckType::Memory => format!("{} - {}", display(kind), threshold_text(f)),
        CheckType::Ping | CheckType::Eventlog => format!("{}: {name}", display(kind)),
        CheckType::Winsvc => format!("{}: {}", display(kind), f.svc_display_name.as_deref().unwrap_or("None")),
        CheckType::Script => format!("{}: {}", display(kind), check.script_name.as_deref().unwrap_or("None")),
        CheckType::Unknown => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(w: i32, e: i32) -> CheckFields {
        CheckFields {
            warning_threshold: Some(w),
            error_threshold: Some(e),
            disk: Some("/".into()),
            ..CheckFields::default()
        }
    }

    fn message(r: Result<(), OpsError>) -> String {
        match r {
            Err(OpsError::Field { message, .. }) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn thresholds_follow_upstream() {
        assert!(validate(CheckType::Diskspace, &t(25, 10)).is_ok());
        assert_eq!(
            message(validate(CheckType::Diskspace, &t(10, 25))),
            "Warning threshold must be greater than Error Threshold"
        );
        assert!(validate(CheckType::Cpuload, &t(70, 90)).is_ok());
        assert_eq!(
            message(validate(CheckType::Memory, &t(90, 70))),
            "Warning threshold must be less than Error Threshold"
        );
        assert_eq!(
            message(validate(CheckType::Cpuload, &t(0, 0))),
            "Warning threshold or Error Threshold must be set"
        );
        assert!(validate(CheckType::Cpuload, &t(0, 50)).is_ok());
    }

    #[test]
    fn ping_hosts_are_addresses_or_domains() {
        let ping = |ip: &str| {
            validate(
                CheckType::Ping,
                &CheckFields {
                    ip: Some(ip.into()),
                    ..CheckFields::default()
                },
            )
        };
        for ok in [
            "10.0.0.1",
            "::1",
            "fe80::1",
            "example.com",
            "a-b.example.co.uk",
            "xn--bcher-kva.example",
        ] {
            assert!(ping(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "not a host",
            "-a.com",
            "999.1.1.1.1",
            "a..com",
            "exa_mple.com",
        ] {
            assert_eq!(
                message(ping(bad)),
                "Please enter a valid IP address or domain name",
                "{bad}"
            );
        }
    }
}
