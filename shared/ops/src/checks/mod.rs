//! Checks implemented once: their rules, how the agent receives them (`checkrunner/`), and what a reported
//! result does (evaluation, history, summary, and the alert engine), all in the caller's transaction.

mod evaluate;
mod rules;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use trmm_db::agents::AgentRef;
use trmm_db::alerts::Subject;
use trmm_db::checks::{self, Check, CheckId, RunnableCheck};
use trmm_db::GenericClient;
use trmm_protocol::checks::{CheckDefinition, CheckReport, CheckScript, CheckStatus, CheckType, Severity};

pub use evaluate::{alert_severity, evaluate, ReportError, HISTORY_SAMPLES};
pub use rules::{duplicate_message, is_singular, readable_desc, validate};

use crate::alerts;
use crate::templates::{expand_script_inputs, expand_snippets};
use crate::OpsError;

/// Checks never run closer together than this (upstream `Agent.check_run_interval`).
pub const MIN_RUN_INTERVAL: i32 = 15;

/// Upstream `CHECK_INTERVAL_JITTER`: seconds added so a fleet does not report in step.
fn jitter() -> i32 {
    rand::thread_rng().gen_range(1..=60)
}

/// The agent's check interval, lowered to its quickest check (never below 15 s), plus jitter.
pub fn run_interval(agent_interval: i32, checks: &[RunnableCheck]) -> i32 {
    let quickest = checks
        .iter()
        .map(|c| c.check.fields.run_interval)
        .filter(|i| *i > 0 && *i < agent_interval)
        .min()
        .map_or(agent_interval, |i| i.max(MIN_RUN_INTERVAL));
    quickest + jitter()
}

/// Whether a check is due: never run, or its interval (the agent's when unset) has passed since the last run.
pub fn is_due(c: &RunnableCheck, agent_interval: i32, now: DateTime<Utc>) -> bool {
    let every = match c.check.fields.run_interval {
        0 => agent_interval,
        i => i,
    };
    c.last_run
        .is_none_or(|last| last < now - Duration::seconds(i64::from(every)))
}

/// A check as the agent receives it: script arguments and environment templated for the agent, snippets
/// expanded in the script body.
pub async fn definition(
    db: &impl GenericClient,
    agent: &AgentRef,
    c: &RunnableCheck,
) -> Result<CheckDefinition, OpsError> {
    let f = &c.check.fields;
    let shell = c.script_shell.clone().unwrap_or_else(|| "shell".into());
    let (script_args, env_vars) = expand_script_inputs(db, agent, &shell, &f.script_args, &f.env_vars).await?;
    let script = match &c.script_body {
        Some(body) => Some(CheckScript {
            code: expand_snippets(db, body).await?,
            shell,
            run_as_user: c.script_run_as_user.unwrap_or_default(),
            env_vars: c.script_env_vars.clone().unwrap_or_default(),
            script_hash: c.script_hash.clone(),
        }),
        None => None,
    };
    Ok(CheckDefinition {
        id: c.check.id.0,
        agent: c.check.agent.map(|a| a.0),
        check_type: CheckType::parse(&c.check.check_type).unwrap_or(CheckType::Unknown),
        run_interval: f.run_interval,
        alert_severity: f.alert_severity.as_deref().and_then(Severity::parse),
        warning_threshold: f.warning_threshold,
        error_threshold: f.error_threshold,
        disk: f.disk.clone(),
        ip: f.ip.clone(),
        script,
        script_args,
        env_vars,
        info_return_codes: f.info_return_codes.clone(),
        warning_return_codes: f.warning_return_codes.clone(),
        success_return_codes: f.success_return_codes.clone(),
        timeout: f.timeout,
        svc_name: f.svc_name.clone(),
        pass_if_start_pending: f.pass_if_start_pending,
        pass_if_svc_not_exist: f.pass_if_svc_not_exist,
        restart_if_stopped: f.restart_if_stopped,
        log_name: f.log_name.clone(),
        event_id: f.event_id,
        event_id_is_wildcard: f.event_id_is_wildcard,
        event_type: f.event_type.clone(),
        event_source: f.event_source.clone(),
        event_message: f.event_message.clone(),
        fail_when: f.fail_when.clone(),
        search_last_days: f.search_last_days,
        number_of_events_b4_alert: f.number_of_events_b4_alert,
        managed_by_policy: c.check.policy.is_some(),
    })
}

/// What recording a report did.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The check's new status.
    pub status: CheckStatus,
    /// Consecutive failures now.
    pub fail_count: i32,
    /// What the alert engine did, for after the commit.
    pub alerts: alerts::Changed,
}

/// The check a report names, refused unless it is one of the reporting agent's.
pub async fn reported_check(db: &impl GenericClient, agent: &AgentRef, id: i64) -> Result<Check, OpsError> {
    let check = match i32::try_from(id) {
        Ok(id) => checks::get(db, CheckId(id)).await?,
        Err(_) => None,
    };
    match check {
        Some(c) if c.agent == Some(agent.pk) => Ok(c),
        Some(_) => Err(OpsError::Refused("This check does not belong to this agent".into())),
        None => Err(OpsError::NotFound),
    }
}

/// Records one report of `check` from `agent` (run inside a transaction): evaluates it against the previous
/// result, stores result, history point and summary, then lets the alert engine open or resolve the check's
/// alert (upstream jobs-and-realtime.md 3.3).
pub async fn record(
    db: &impl GenericClient,
    agent: &AgentRef,
    check: &Check,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Recorded, OpsError> {
    let kind = CheckType::parse(&check.check_type).unwrap_or(CheckType::Unknown);
    let report = CheckReport::parse(kind, body).map_err(|e| OpsError::Refused(format!("Invalid check result: {e}")))?;
    let prev = checks::lock(db, agent.pk, check.id).await?;
    let evaluated = evaluate(check, &prev, &report).map_err(|e| OpsError::Refused(e.to_string()))?;
    let fail_count = checks::record(db, &prev, &evaluated, now).await?;
    let subject = Subject::Check(agent.pk, check.id);
    let status = CheckStatus::parse(&evaluated.status).unwrap_or(CheckStatus::Pending);
    let alerts = match status {
        CheckStatus::Failing if fail_count >= check.fields.fails_b4_alert => {
            let severity = alert_severity(check, evaluated.alert_severity.as_deref());
            alerts::failure(db, subject, alerts::Cause::Check { check, severity }, now).await?
        }
        CheckStatus::Passing => alerts::resolve(db, subject, now).await?,
        _ => alerts::Changed::default(),
    };
    Ok(Recorded {
        status,
        fail_count,
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_interval_follows_the_quickest_check_but_never_below_15_seconds() {
        let with = |interval: i32| -> RunnableCheck {
            let mut c: RunnableCheck = crate::checks::tests_support::runnable();
            c.check.fields.run_interval = interval;
            c
        };
        for _ in 0..20 {
            let i = run_interval(120, &[with(0)]);
            assert!((121..=180).contains(&i), "{i}");
            let i = run_interval(120, &[with(60), with(0)]);
            assert!((61..=120).contains(&i), "{i}");
            let i = run_interval(120, &[with(5)]);
            assert!((16..=75).contains(&i), "{i}");
        }
    }

    #[test]
    fn a_check_is_due_when_never_run_or_its_interval_passed() {
        let now = Utc::now();
        let mut c = crate::checks::tests_support::runnable();
        assert!(is_due(&c, 120, now));
        c.last_run = Some(now - Duration::seconds(60));
        assert!(!is_due(&c, 120, now));
        c.check.fields.run_interval = 30;
        assert!(is_due(&c, 120, now));
    }
}

#[cfg(test)]
mod tests_support {
    use chrono::Utc;
    use trmm_db::checks::{Check, CheckFields, CheckId, RunnableCheck};
    use trmm_db::AgentPk;

    pub fn runnable() -> RunnableCheck {
        RunnableCheck {
            check: Check {
                id: CheckId(1),
                agent: Some(AgentPk(1)),
                policy: None,
                overridden_by_policy: false,
                check_type: "cpuload".into(),
                fields: CheckFields::default(),
                script_name: None,
                site: None,
                client: None,
                created_by: None,
                created_time: Utc::now(),
                modified_by: None,
                modified_time: Utc::now(),
            },
            last_run: None,
            script_body: None,
            script_shell: None,
            script_run_as_user: None,
            script_env_vars: None,
            script_hash: None,
        }
    }
}
