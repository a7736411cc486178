//! The alert engine (upstream `alerts/models.py`, jobs-and-realtime.md 4): opens, updates and resolves alerts
//! and records the notifications and actions each change owes, in the caller's transaction. Nothing is sent
//! here: trmm-worker delivers what is owed ([`trmm_db::alerts::notifications`]), and the dashboards hear of
//! opened and resolved alerts, once the caller has committed ([`Changed::after_commit`]).

pub mod availability;
pub mod messages;
pub mod plan;

use chrono::{DateTime, Utc};
use trmm_db::alerts::notifications::{self, Kind as Owed, NotificationId};
use trmm_db::alerts::templates::{self, AlertTemplate};
use trmm_db::alerts::{self, AgentFacts, Alert, Subject};
use trmm_db::checks::Check;
use trmm_db::{core_settings, GenericClient};
use trmm_protocol::checks::Severity;

use trmm_protocol::events::Event;

use crate::checks::readable_desc;
use crate::events::{alert_event, Events};
use crate::{JobQueue, OpsError};
use plan::{Flags, Inputs, Kind, Send};

/// What an alert change leaves for after its transaction commits.
#[derive(Debug, Clone, Default)]
pub struct Changed {
    /// Notifications now owed.
    pub owed: Vec<NotificationId>,
    /// Alerts opened or resolved.
    pub events: Vec<Event>,
}

impl Changed {
    /// Once committed: the notifications go to trmm-worker, the events to the dashboards.
    pub async fn after_commit(self, jobs: &JobQueue, events: &Events) {
        jobs.hand_over(&self.owed).await;
        for event in self.events {
            events.publish(event);
        }
    }
}

/// Why an alert opens.
#[derive(Debug, Clone, Copy)]
pub enum Cause<'a> {
    /// The agent is overdue.
    Availability,
    /// A check failed with this severity.
    Check {
        /// The check.
        check: &'a Check,
        /// Its severity now.
        severity: Severity,
    },
}

struct Facts {
    agent: AgentFacts,
    template: Option<AlertTemplate>,
    gates: core_settings::AlertGates,
}

async fn facts(db: &impl GenericClient, subject: Subject) -> Result<Option<Facts>, OpsError> {
    let pk = match subject {
        Subject::Availability(a) | Subject::Check(a, _) => a,
    };
    let Some(agent) = alerts::agent_facts(db, pk).await? else {
        return Ok(None);
    };
    Ok(Some(Facts {
        agent,
        template: templates::for_agent(db, pk).await?,
        gates: core_settings::alert_gates(db).await?,
    }))
}

fn availability_flags(a: &AgentFacts) -> Flags {
    Flags {
        email: a.overdue_email_alert,
        text: a.overdue_text_alert,
        dashboard: a.overdue_dashboard_alert,
    }
}

fn check_flags(c: &Check) -> Flags {
    Flags {
        email: c.fields.email_alert,
        text: c.fields.text_alert,
        dashboard: c.fields.dashboard_alert,
    }
}

async fn owe(
    db: &impl GenericClient,
    alert: &Alert,
    kind: Owed,
    send: Send,
    now: DateTime<Utc>,
    out: &mut Vec<NotificationId>,
) -> Result<(), OpsError> {
    let round = match send {
        Send::No => return Ok(()),
        Send::First => 0,
        // Reminders are timed from the outbox, not from delivery: while a round is undelivered (the other
        // side is down) or was owed less than `days` ago, no further round piles up behind it.
        Send::Reminder { days } => match notifications::last_round(db, alert.id, kind).await? {
            Some(last) if last.done && last.created < now - chrono::Duration::days(i64::from(days)) => last.round + 1,
            Some(_) => return Ok(()),
            None => 0,
        },
    };
    out.extend(notifications::owe(db, alert.id, kind, round, now).await?);
    Ok(())
}

fn first(wanted: bool) -> Send {
    if wanted {
        Send::First
    } else {
        Send::No
    }
}

/// A failure of `subject` (upstream `handle_alert_failure`): opens the alert if anyone wants to hear of it,
/// updates its severity and visibility, and owes the email, SMS and action the plan asks for. In maintenance mode
/// nothing happens.
pub async fn failure(
    db: &impl GenericClient,
    subject: Subject,
    cause: Cause<'_>,
    now: DateTime<Utc>,
) -> Result<Changed, OpsError> {
    let Some(f) = facts(db, subject).await? else {
        return Ok(Changed::default());
    };
    if f.agent.maintenance_mode {
        return Ok(Changed::default());
    }
    let (kind, flags, severity, message) = match cause {
        Cause::Availability => (
            Kind::Availability,
            availability_flags(&f.agent),
            Severity::Error,
            format!(
                "{} in {}, {} is overdue.",
                f.agent.hostname, f.agent.client_name, f.agent.site_name
            ),
        ),
        Cause::Check { check, severity } => (
            Kind::Check,
            check_flags(check),
            severity,
            format!(
                "{} has a {} check: {} that failed.",
                f.agent.hostname,
                check.check_type,
                readable_desc(check)
            ),
        ),
    };
    let inputs = Inputs {
        kind,
        flags,
        severity,
        template: f.template.as_ref(),
        gates: f.gates,
    };
    let (alert, opened) = match alerts::open_for(db, subject).await? {
        Some(a) => (a, false),
        None if inputs.should_create() => (alerts::open(db, subject, &message, severity.as_str(), now).await?, true),
        None => return Ok(Changed::default()),
    };
    let p = plan::failure(&inputs, &alert, now);
    alerts::set_state(db, alert.id, severity.as_str(), p.hidden).await?;
    let mut changed = Changed::default();
    if opened {
        let shown = Alert {
            severity: severity.as_str().to_owned(),
            hidden: p.hidden,
            ..alert.clone()
        };
        changed.events.extend(alert_event(&shown, true, now));
    }
    let owed = &mut changed.owed;
    owe(db, &alert, Owed::Email, p.email, now, owed).await?;
    owe(db, &alert, Owed::Sms, p.sms, now, owed).await?;
    owe(db, &alert, Owed::Action, first(p.action), now, owed).await?;
    Ok(changed)
}

/// `subject` is fine again (upstream `handle_alert_resolve`): resolves its open alert and owes the resolved
/// email, SMS and action. In maintenance mode the alert stays open.
pub async fn resolve(db: &impl GenericClient, subject: Subject, now: DateTime<Utc>) -> Result<Changed, OpsError> {
    let Some(alert) = alerts::open_for(db, subject).await? else {
        return Ok(Changed::default());
    };
    let Some(f) = facts(db, subject).await? else {
        return Ok(Changed::default());
    };
    if f.agent.maintenance_mode {
        return Ok(Changed::default());
    }
    let (kind, flags) = match subject {
        Subject::Availability(_) => (Kind::Availability, availability_flags(&f.agent)),
        Subject::Check(_, check) => {
            let check = trmm_db::checks::get(db, check).await?;
            (Kind::Check, check.as_ref().map(check_flags).unwrap_or_default())
        }
    };
    let inputs = Inputs {
        kind,
        flags,
        severity: Severity::parse(&alert.severity).unwrap_or(Severity::Warning),
        template: f.template.as_ref(),
        gates: f.gates,
    };
    let p = plan::resolve(&inputs, &alert);
    alerts::resolve(db, alert.id, now).await?;
    let mut changed = Changed {
        owed: Vec::new(),
        events: alert_event(&alert, false, now).into_iter().collect(),
    };
    let owed = &mut changed.owed;
    owe(db, &alert, Owed::ResolvedEmail, first(p.email), now, owed).await?;
    owe(db, &alert, Owed::ResolvedSms, first(p.sms), now, owed).await?;
    owe(db, &alert, Owed::ResolvedAction, first(p.action), now, owed).await?;
    Ok(changed)
}

/// Closes the subject's open alert without notifying anyone (upstream's check reset and dashboard resolve); the
/// dashboards still hear of it.
pub async fn resolve_quietly(
    db: &impl GenericClient,
    subject: Subject,
    now: DateTime<Utc>,
) -> Result<Changed, OpsError> {
    let mut changed = Changed::default();
    if let Some(alert) = alerts::open_for(db, subject).await? {
        alerts::resolve(db, alert.id, now).await?;
        changed.events.extend(alert_event(&alert, false, now));
    }
    Ok(changed)
}

impl crate::JobQueue {
    /// Wakes a worker for each notification now owed (once their transaction is committed). A queue that is down
    /// loses nothing: the rows stay owed and trmm-worker's sweep finds them.
    pub async fn hand_over(&self, owed: &[NotificationId]) {
        for id in owed {
            let job = trmm_jobs::Notify { notification_id: id.0 };
            if let Err(e) = self.push(job).await {
                tracing::warn!(notification_id = id.0, error = %e, "notification left for the sweep");
            }
        }
    }
}
