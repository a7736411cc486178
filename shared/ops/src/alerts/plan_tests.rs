use chrono::{Duration, Utc};
use trmm_db::alerts::templates::{AlertTemplate, KindSettings, TemplateAction, TemplateFields};
use trmm_db::alerts::{ActionOutput, Alert};
use trmm_db::core_settings::AlertGates;
use trmm_db::{AlertId, AlertTemplateId};
use trmm_protocol::checks::Severity;

use super::*;

const GATES: AlertGates = AlertGates {
    notify_on_info_alerts: false,
    notify_on_warning_alerts: true,
};

fn alert() -> Alert {
    Alert {
        id: AlertId(1),
        agent: None,
        assigned_check: None,
        assigned_task: None,
        alert_type: "check".into(),
        message: None,
        alert_time: Utc::now(),
        snoozed: false,
        snooze_until: None,
        resolved: false,
        resolved_on: None,
        severity: "error".into(),
        hidden: true,
        email_sent: None,
        resolved_email_sent: None,
        sms_sent: None,
        resolved_sms_sent: None,
        action: ActionOutput::default(),
        resolved_action: ActionOutput::default(),
        agent_id: None,
        hostname: None,
        client_name: None,
        site_name: None,
        site: None,
        client: None,
    }
}

fn template(check: KindSettings, action: TemplateAction) -> AlertTemplate {
    AlertTemplate {
        id: AlertTemplateId(1),
        fields: TemplateFields {
            name: "t".into(),
            is_active: true,
            action,
            check,
            ..TemplateFields::default()
        },
    }
}

fn inputs(flags: Flags, severity: Severity, template: Option<&AlertTemplate>) -> Inputs<'_> {
    Inputs {
        kind: Kind::Check,
        flags,
        severity,
        template,
        gates: GATES,
    }
}

const EMAIL: Flags = Flags {
    email: true,
    text: false,
    dashboard: false,
};

#[test]
fn nothing_is_created_when_nobody_listens() {
    assert!(!inputs(Flags::default(), Severity::Error, None).should_create());
    assert!(inputs(EMAIL, Severity::Error, None).should_create());
    let always = template(
        KindSettings {
            always_alert: Some(true),
            ..KindSettings::default()
        },
        TemplateAction::default(),
    );
    assert!(inputs(Flags::default(), Severity::Error, Some(&always)).should_create());
    let webhook = template(
        KindSettings {
            script_actions: true,
            ..KindSettings::default()
        },
        TemplateAction {
            action_type: "rest".into(),
            rest: Some(1),
            ..TemplateAction::default()
        },
    );
    assert!(inputs(Flags::default(), Severity::Error, Some(&webhook)).should_create());
}

#[test]
fn email_goes_once_then_as_a_periodic_reminder() {
    let now = Utc::now();
    let t = template(
        KindSettings {
            periodic_alert_days: 1,
            ..KindSettings::default()
        },
        TemplateAction::default(),
    );
    let i = inputs(EMAIL, Severity::Error, Some(&t));
    let mut a = alert();
    assert_eq!(failure(&i, &a, now).email, Send::First);
    a.email_sent = Some(now - Duration::hours(2));
    assert_eq!(failure(&i, &a, now).email, Send::No);
    a.email_sent = Some(now - Duration::days(2));
    assert_eq!(failure(&i, &a, now).email, Send::Reminder { days: 1 });
    assert_eq!(failure(&i, &a, now).sms, Send::No);
}

#[test]
fn severity_gates_and_template_lists_decide_who_hears() {
    let now = Utc::now();
    // Info alerts do not notify unless the core settings allow it.
    assert_eq!(
        failure(&inputs(EMAIL, Severity::Info, None), &alert(), now).email,
        Send::No
    );
    // A template without lists emails errors and warnings of checks, and shows info too.
    let t = template(KindSettings::default(), TemplateAction::default());
    let all = Flags {
        email: true,
        text: true,
        dashboard: true,
    };
    let mut gates_open = inputs(all, Severity::Info, Some(&t));
    gates_open.gates.notify_on_info_alerts = true;
    let p = failure(&gates_open, &alert(), now);
    assert_eq!((p.email, p.hidden), (Send::No, false));
    // A list narrows it.
    let only_errors = template(
        KindSettings {
            email_severities: vec!["error".into()],
            ..KindSettings::default()
        },
        TemplateAction::default(),
    );
    let p = failure(&inputs(all, Severity::Warning, Some(&only_errors)), &alert(), now);
    assert_eq!((p.email, p.sms), (Send::No, Send::First));
}

#[test]
fn actions_run_once_and_webhooks_respect_the_gates() {
    let now = Utc::now();
    let hook = template(
        KindSettings {
            script_actions: true,
            ..KindSettings::default()
        },
        TemplateAction {
            action_type: "rest".into(),
            rest: Some(1),
            ..TemplateAction::default()
        },
    );
    let mut a = alert();
    assert!(failure(&inputs(Flags::default(), Severity::Error, Some(&hook)), &a, now).action);
    assert!(!failure(&inputs(Flags::default(), Severity::Info, Some(&hook)), &a, now).action);
    a.action.run = Some(now);
    assert!(!failure(&inputs(Flags::default(), Severity::Error, Some(&hook)), &a, now).action);
    let server = template(
        KindSettings {
            script_actions: true,
            ..KindSettings::default()
        },
        TemplateAction {
            action_type: "server".into(),
            script: Some(trmm_db::ScriptId(1)),
            ..TemplateAction::default()
        },
    );
    assert!(!failure(&inputs(Flags::default(), Severity::Error, Some(&server)), &alert(), now).action);
}

#[test]
fn resolution_emails_follow_the_template_or_the_overdue_flag() {
    let on_resolved = template(
        KindSettings {
            email_on_resolved: true,
            ..KindSettings::default()
        },
        TemplateAction::default(),
    );
    let p = resolve(&inputs(Flags::default(), Severity::Error, Some(&on_resolved)), &alert());
    assert!(p.email && !p.sms && !p.action);
    assert!(!resolve(&inputs(EMAIL, Severity::Error, None), &alert()).email);
    let mut availability = inputs(EMAIL, Severity::Error, None);
    availability.kind = Kind::Availability;
    assert!(resolve(&availability, &alert()).email);
    let mut sent = alert();
    sent.resolved_email_sent = Some(Utc::now());
    assert!(!resolve(&availability, &sent).email);
}
