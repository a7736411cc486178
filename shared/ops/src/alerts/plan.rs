//! What the alert engine decides (upstream `Alert.handle_alert_failure` / `handle_alert_resolve`,
//! jobs-and-realtime.md 4.1–4.4), as pure functions of the alert, the object's flags, the template and the
//! core gates. The engine turns a plan into rows.

use chrono::{DateTime, Duration, Utc};
use trmm_db::alerts::templates::{AlertTemplate, KindSettings, TemplateAction};
use trmm_db::alerts::Alert;
use trmm_db::core_settings::AlertGates;
use trmm_protocol::checks::Severity;

/// The kinds of alert that exist today (task alerts arrive with tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The agent is overdue.
    Availability,
    /// A check fails.
    Check,
}

/// The object's own notification flags (`overdue_*_alert` on the agent, `*_alert` on the check).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// Email.
    pub email: bool,
    /// Text.
    pub text: bool,
    /// Dashboard.
    pub dashboard: bool,
}

/// Everything a decision depends on besides the alert itself.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Which kind of alert.
    pub kind: Kind,
    /// The object's flags.
    pub flags: Flags,
    /// The severity the failure carries.
    pub severity: Severity,
    /// The template in force, if any.
    pub template: Option<&'a AlertTemplate>,
    /// The core notify gates.
    pub gates: AlertGates,
}

/// Whether to send a notification, and which round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// Nothing to send.
    No,
    /// The first send (round 0).
    First,
    /// A periodic reminder (the next round), due when the last round was owed this many days ago.
    Reminder {
        /// The template's periodic days.
        days: i32,
    },
}

/// What a failure does to an open alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePlan {
    /// The alert's visibility afterwards.
    pub hidden: bool,
    /// Email.
    pub email: Send,
    /// SMS.
    pub sms: Send,
    /// Run the failure action.
    pub action: bool,
}

/// What a resolution owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvePlan {
    /// Resolved email.
    pub email: bool,
    /// Resolved SMS.
    pub sms: bool,
    /// Run the resolve action.
    pub action: bool,
}

impl Inputs<'_> {
    fn settings(&self) -> Option<&KindSettings> {
        self.template.map(|t| match self.kind {
            Kind::Availability => &t.fields.agent,
            Kind::Check => &t.fields.check,
        })
    }

    /// The template's severity list, or upstream's default for the kind when it has none.
    fn allowed(&self, list: impl Fn(&KindSettings) -> &Vec<String>, dashboard: bool) -> bool {
        let Some(settings) = self.settings() else {
            return true;
        };
        let list = list(settings);
        if !list.is_empty() {
            return list.iter().any(|s| s == self.severity.as_str());
        }
        match (self.kind, dashboard) {
            (Kind::Availability, _) => self.severity == Severity::Error,
            (Kind::Check, true) => true,
            (Kind::Check, false) => self.severity != Severity::Info,
        }
    }

    /// Info and warning alerts notify only when the core settings say so (email, SMS and webhooks).
    pub fn gated(&self) -> bool {
        match self.severity {
            Severity::Info => !self.gates.notify_on_info_alerts,
            Severity::Warning => !self.gates.notify_on_warning_alerts,
            Severity::Error => false,
        }
    }

    fn always(&self, pick: impl Fn(&KindSettings) -> Option<bool>) -> bool {
        self.settings().and_then(pick).unwrap_or(false)
    }

    fn actions_on(&self) -> bool {
        self.settings().is_some_and(|s| s.script_actions)
    }

    /// Upstream `should_create_alert`: someone wants to hear of it, or the template has an action to run.
    pub fn should_create(&self) -> bool {
        let f = self.flags;
        let has_action = self
            .template
            .is_some_and(|t| configured(&t.fields.action) || configured(&t.fields.resolved_action));
        f.email
            || f.text
            || f.dashboard
            || self.always(|s| s.always_email)
            || self.always(|s| s.always_text)
            || self.always(|s| s.always_alert)
            || (has_action && self.actions_on())
    }

    /// Whether a template action runs for this alert.
    fn action_runs(&self, action: Option<&TemplateAction>) -> bool {
        let Some(action) = action else { return false };
        self.actions_on()
            && configured(action)
            // Webhooks respect the gates; upstream's script actions do not.
            && !(action.action_type == "rest" && self.gated())
    }
}

/// Whether an action can run: a script on the agent, or a webhook. Server-side scripts are not supported yet
/// (a later issue); a template that asks for one runs nothing.
pub fn configured(action: &TemplateAction) -> bool {
    match action.action_type.as_str() {
        "script" => action.script.is_some(),
        "rest" => action.rest.is_some(),
        _ => false,
    }
}

fn send(wanted: bool, sent: Option<DateTime<Utc>>, periodic_days: i32, now: DateTime<Utc>) -> Send {
    match (wanted, sent) {
        (false, _) => Send::No,
        (true, None) => Send::First,
        (true, Some(at)) if periodic_days > 0 && at < now - Duration::days(i64::from(periodic_days)) => {
            Send::Reminder { days: periodic_days }
        }
        (true, Some(_)) => Send::No,
    }
}

/// Decides what a failure does to its open alert.
pub fn failure(i: &Inputs<'_>, alert: &Alert, now: DateTime<Utc>) -> FailurePlan {
    let dashboard = (i.flags.dashboard || i.always(|s| s.always_alert)) && i.allowed(|s| &s.dashboard_severities, true);
    let email =
        !i.gated() && (i.flags.email || i.always(|s| s.always_email)) && i.allowed(|s| &s.email_severities, false);
    let sms = !i.gated() && (i.flags.text || i.always(|s| s.always_text)) && i.allowed(|s| &s.text_severities, false);
    let days = i.settings().map_or(0, |s| s.periodic_alert_days);
    FailurePlan {
        hidden: alert.hidden && !dashboard,
        email: send(email, alert.email_sent, days, now),
        sms: send(sms, alert.sms_sent, days, now),
        action: alert.action.run.is_none() && i.action_runs(i.template.map(|t| &t.fields.action)),
    }
}

/// Decides what resolving an alert owes. An overdue agent with email (text) alerts on gets the recovery
/// message even without a template, as upstream.
pub fn resolve(i: &Inputs<'_>, alert: &Alert) -> ResolvePlan {
    let availability = i.kind == Kind::Availability;
    let on_resolved_email = i.settings().is_some_and(|s| s.email_on_resolved) || (availability && i.flags.email);
    let on_resolved_text = i.settings().is_some_and(|s| s.text_on_resolved) || (availability && i.flags.text);
    ResolvePlan {
        email: on_resolved_email
            && alert.resolved_email_sent.is_none()
            && !i.gated()
            && i.allowed(|s| &s.email_severities, false),
        sms: on_resolved_text
            && alert.resolved_sms_sent.is_none()
            && !i.gated()
            && i.allowed(|s| &s.text_severities, false),
        action: alert.resolved_action.run.is_none() && i.action_runs(i.template.map(|t| &t.fields.resolved_action)),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
