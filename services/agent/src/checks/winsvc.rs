//! winsvc (Go agent `WinSvcCheck`) with a systemd unit for the Windows service: its state comes from
//! `systemctl show`, and a stopped unit is started with `systemctl start` when the check says so.

use std::path::Path;
use std::time::Duration;

use trmm_protocol::checks::{CheckDefinition, StatusResult};

use crate::commands::output;
use crate::commands::services::{status as windows_status, valid_name};

/// How long reading a unit's state may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a start may take (systemctl waits for the start job to finish).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What to do after the first look at the unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Report this.
    Report(StatusResult),
    /// The unit is not running and the check asks for a start.
    Start,
}

/// Checks the unit named by `svc_name`.
pub async fn check(systemctl: &Path, def: &CheckDefinition) -> StatusResult {
    let unit = def.svc_name.as_deref().unwrap_or_default();
    let before = state(systemctl, unit).await;
    match decide(def, &before) {
        Verdict::Report(result) => result,
        Verdict::Start => {
            let after = match start(systemctl, unit).await {
                Ok(()) => state(systemctl, unit).await,
                Err(e) => Err(e),
            };
            if let Err(e) = &after {
                tracing::warn!(unit, error = %e, "winsvc check: the unit did not start");
            }
            after_start(before.as_deref().unwrap_or("unknown"), &after)
        }
    }
}

/// Upstream's decision on the first reading: missing units pass only with `pass_if_svc_not_exist`, running
/// ones pass, starting ones pass with `pass_if_start_pending`; any other state fails, or is started first
/// with `restart_if_stopped`.
pub fn decide(def: &CheckDefinition, state: &Result<&'static str, String>) -> Verdict {
    let state = match state {
        Ok(s) => *s,
        Err(e) => return Verdict::Report(status(def.pass_if_svc_not_exist, e.clone())),
    };
    let more_info = format!("Status: {state}");
    if state == "running" || (state == "start_pending" && def.pass_if_start_pending.unwrap_or(false)) {
        Verdict::Report(status(true, more_info))
    } else if def.restart_if_stopped.unwrap_or(false) {
        Verdict::Start
    } else {
        Verdict::Report(status(false, more_info))
    }
}

/// The result after a start: passing if the unit is running (or still starting: the start was accepted)
/// when read again. Upstream reports "Status: running" for any accepted start without looking; reading
/// again also catches a unit that exits right after starting. A failed start keeps the first reading.
pub fn after_start(before: &str, after: &Result<&'static str, String>) -> StatusResult {
    match after {
        Ok(s) => status(matches!(*s, "running" | "start_pending"), format!("Status: {s}")),
        Err(_) => status(false, format!("Status: {before}")),
    }
}

fn status(passing: bool, more_info: String) -> StatusResult {
    StatusResult {
        status: if passing { "passing" } else { "failing" }.to_owned(),
        output: None,
        more_info: Some(more_info),
    }
}

/// The unit's state in the Windows vocabulary (`running`, `start_pending`, `stopped`, …); Err with the
/// text the dashboard shows when there is no such unit or systemctl cannot tell.
pub async fn state(systemctl: &Path, unit: &str) -> Result<&'static str, String> {
    if !valid_name(unit) {
        return Err(format!("Invalid service name {unit:?}"));
    }
    let args = [
        "show",
        "--no-pager",
        "--property=LoadState,ActiveState,SubState",
        "--",
        unit,
    ];
    let out = output::capture(systemctl, &args, QUERY_TIMEOUT).await?;
    if out.exit_code != 0 {
        return Err(failure("show", unit, out.exit_code, &out.stderr));
    }
    parse_state(unit, &out.stdout)
}

/// `systemctl show` properties → state. systemd reports a unit it does not know as `LoadState=not-found`
/// and a crashed unit waiting for its automatic restart as `activating/auto-restart`, which is not starting
/// in the Windows sense: it is down.
pub fn parse_state(unit: &str, text: &str) -> Result<&'static str, String> {
    let prop = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_default()
    };
    match (prop("LoadState"), prop("ActiveState"), prop("SubState")) {
        ("not-found", _, _) | ("", _, _) => Err(format!("Unit {unit} could not be found.")),
        (_, "activating", "auto-restart") => Ok("stopped"),
        (_, active, _) => Ok(windows_status(active)),
    }
}

async fn start(systemctl: &Path, unit: &str) -> Result<(), String> {
    let out = output::capture(systemctl, &["start", "--", unit], START_TIMEOUT).await?;
    if out.exit_code != 0 {
        return Err(failure("start", unit, out.exit_code, &out.stderr));
    }
    Ok(())
}

fn failure(verb: &str, unit: &str, code: i32, stderr: &str) -> String {
    match stderr.trim() {
        "" => format!("systemctl {verb} {unit} exited with {code}"),
        text => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trmm_protocol::checks::CheckType;

    fn def(not_exist: bool, start_pending: bool, restart: bool) -> CheckDefinition {
        let json = serde_json::json!({
            "id": 1, "check_type": "winsvc", "svc_name": "ssh.service",
            "pass_if_svc_not_exist": not_exist, "pass_if_start_pending": start_pending,
            "restart_if_stopped": restart,
        });
        let d: CheckDefinition = serde_json::from_value(json).unwrap();
        assert_eq!(d.check_type, CheckType::Winsvc);
        d
    }

    fn report(passing: bool, more_info: &str) -> Verdict {
        Verdict::Report(status(passing, more_info.to_owned()))
    }

    #[test]
    fn the_decision_table_is_upstreams() {
        let missing: Result<&'static str, String> = Err("Unit x could not be found.".into());
        let cases = [
            // (pass_if_svc_not_exist, pass_if_start_pending, restart_if_stopped, state) → verdict
            (
                (false, false, false, missing.clone()),
                report(false, "Unit x could not be found."),
            ),
            ((true, false, true, missing), report(true, "Unit x could not be found.")),
            ((false, false, false, Ok("running")), report(true, "Status: running")),
            ((false, false, true, Ok("running")), report(true, "Status: running")),
            (
                (false, true, false, Ok("start_pending")),
                report(true, "Status: start_pending"),
            ),
            (
                (false, false, false, Ok("start_pending")),
                report(false, "Status: start_pending"),
            ),
            ((false, false, true, Ok("start_pending")), Verdict::Start),
            ((false, false, false, Ok("stopped")), report(false, "Status: stopped")),
            ((true, true, false, Ok("stopped")), report(false, "Status: stopped")),
            ((false, false, true, Ok("stopped")), Verdict::Start),
            ((false, false, true, Ok("stop_pending")), Verdict::Start),
        ];
        for ((not_exist, pending, restart, state), want) in cases {
            let got = decide(&def(not_exist, pending, restart), &state);
            assert_eq!(got, want, "{not_exist} {pending} {restart} {state:?}");
        }
        // Nulls from the server read as false.
        let mut d = def(false, false, false);
        (d.pass_if_start_pending, d.restart_if_stopped) = (None, None);
        assert_eq!(decide(&d, &Ok("stopped")), report(false, "Status: stopped"));
    }

    #[test]
    fn a_start_passes_when_the_unit_is_up_afterwards() {
        assert_eq!(
            after_start("stopped", &Ok("running")),
            status(true, "Status: running".into())
        );
        assert_eq!(
            after_start("stopped", &Ok("start_pending")),
            status(true, "Status: start_pending".into())
        );
        assert_eq!(
            after_start("stopped", &Ok("stopped")),
            status(false, "Status: stopped".into())
        );
        assert_eq!(
            after_start("stopped", &Err("Job failed".into())),
            status(false, "Status: stopped".into())
        );
    }

    #[test]
    fn systemctl_show_maps_to_windows_states() {
        let show = |load: &str, active: &str, sub: &str| {
            parse_state(
                "x.service",
                &format!("LoadState={load}\nActiveState={active}\nSubState={sub}\n"),
            )
        };
        assert_eq!(show("loaded", "active", "running"), Ok("running"));
        assert_eq!(show("loaded", "active", "exited"), Ok("running"));
        assert_eq!(show("loaded", "activating", "start"), Ok("start_pending"));
        assert_eq!(show("loaded", "activating", "auto-restart"), Ok("stopped"));
        assert_eq!(show("loaded", "inactive", "dead"), Ok("stopped"));
        assert_eq!(show("loaded", "failed", "failed"), Ok("stopped"));
        assert_eq!(show("masked", "inactive", "dead"), Ok("stopped"));
        assert_eq!(
            show("not-found", "inactive", "dead"),
            Err("Unit x.service could not be found.".into())
        );
        assert_eq!(parse_state("x", ""), Err("Unit x could not be found.".into()));
    }
}
