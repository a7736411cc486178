//! One delivery: the email, SMS or action a notification row stands for, with the words of
//! `trmm_ops::alerts::messages` and the senders of trmm-notify.

use trmm_db::alerts::notifications::{self, Kind, Leased};
use trmm_db::alerts::templates::{self, AlertTemplate, TemplateAction};
use trmm_db::alerts::{self, ActionOutput, Alert};
use trmm_db::checks::{self, Check, CheckResultRow};
use trmm_db::{DbError, GenericClient, UrlActionId};
use trmm_notify::mail::Email;
use trmm_notify::webhook::{self, RestAction};
use trmm_notify::NotifyError;
use trmm_ops::alerts::messages::{self, CheckContext, Text};
use trmm_ops::templates::Context;
use trmm_protocol::calls::RunScriptFull;

use super::NotifyContext;

/// Agents tried for an action whose own agent is not connected (upstream `run_on_any`).
const ANY_AGENT_CANDIDATES: i64 = 25;

/// A finished delivery.
pub(super) struct Done {
    /// What happened, for the row.
    pub outcome: String,
    /// Whether something went out (stamps the alert's `*_sent`).
    pub delivered: bool,
}

/// A failed attempt.
pub(super) struct Failed {
    /// Why.
    pub reason: String,
    /// Whether trying again later may help.
    pub transient: bool,
}

impl From<NotifyError> for Failed {
    fn from(e: NotifyError) -> Self {
        Failed {
            transient: e.is_transient(),
            reason: e.to_string(),
        }
    }
}

impl From<DbError> for Failed {
    fn from(e: DbError) -> Self {
        Failed {
            transient: true,
            reason: format!("database: {e}"),
        }
    }
}

fn done(outcome: impl Into<String>, delivered: bool) -> Result<Done, Failed> {
    Ok(Done {
        outcome: outcome.into(),
        delivered,
    })
}

fn transient(reason: impl Into<String>) -> Failed {
    Failed {
        reason: reason.into(),
        transient: true,
    }
}

/// What a delivery is about.
struct Subject {
    alert: Alert,
    template: Option<AlertTemplate>,
    check: Option<(Check, Option<CheckResultRow>)>,
}

impl Subject {
    fn text(&self, kind: Kind) -> Text {
        let check = self.check.as_ref().map(|(check, result)| CheckContext {
            check,
            result: result.as_ref(),
        });
        messages::text(&self.alert, kind, check)
    }
}

async fn subject(db: &impl GenericClient, n: &Leased) -> Result<Option<Subject>, DbError> {
    let Some(alert) = alerts::get(db, n.alert).await? else {
        return Ok(None);
    };
    let template = match alert.agent {
        Some(agent) => templates::for_agent(db, agent).await?,
        None => None,
    };
    let check = match (alert.agent, alert.assigned_check) {
        (Some(agent), Some(id)) => match checks::get(db, id).await? {
            Some(check) => {
                let results = checks::results_for_agent(db, agent).await?;
                let result = results.into_iter().find(|r| r.assigned_check == id);
                Some((check, result))
            }
            None => None,
        },
        _ => None,
    };
    Ok(Some(Subject { alert, template, check }))
}

/// Delivers the notification `n` holds.
pub(super) async fn deliver(ctx: &NotifyContext, n: &Leased) -> Result<Done, Failed> {
    let db = ctx.pool.get().await.map_err(DbError::from)?;
    let Some(s) = subject(&db, n).await? else {
        return done("skipped: the alert is gone", false);
    };
    let key = format!("trmm-alert-{}-{}-{}", n.alert.0, n.kind.as_str(), n.round);
    match n.kind {
        Kind::Email | Kind::ResolvedEmail => email(ctx, &db, &s, n.kind, &key).await,
        Kind::Sms | Kind::ResolvedSms => sms(ctx, &db, &s, n).await,
        Kind::Action | Kind::ResolvedAction => {
            let resolved = n.kind == Kind::ResolvedAction;
            let Some(t) = &s.template else {
                return done("skipped: no alert template applies any more", false);
            };
            let action = if resolved {
                &t.fields.resolved_action
            } else {
                &t.fields.action
            };
            drop(db);
            let out = action_run(ctx, n, &s.alert, action, resolved).await?;
            let db = ctx.pool.get().await.map_err(DbError::from)?;
            alerts::set_action_output(&db, s.alert.id, resolved, &out.output).await?;
            out.result
        }
    }
}

async fn email(
    ctx: &NotifyContext,
    db: &impl GenericClient,
    s: &Subject,
    kind: Kind,
    key: &str,
) -> Result<Done, Failed> {
    let mailer = ctx.notifier.mailer(db).await?;
    let to: &[String] = match &s.template {
        Some(t) if !t.fields.email_recipients.is_empty() => &t.fields.email_recipients,
        _ => &[],
    };
    if to.is_empty() && mailer.default_recipients().is_empty() {
        return done("skipped: no email recipients", false);
    }
    let text = s.text(kind);
    let email = Email {
        to,
        from: s
            .template
            .as_ref()
            .and_then(|t| t.fields.email_from.as_deref())
            .filter(|f| !f.is_empty()),
        subject: &text.subject,
        body: &text.body,
        idempotency_key: Some(key),
    };
    match mailer.send(&email).await {
        Ok(()) => done("sent", true),
        Err(NotifyError::NotConfigured(why)) => done(format!("skipped: {why}"), false),
        Err(e) => Err(e.into()),
    }
}

/// Texts every number not reached yet; one failing number does not hold back the others (upstream logs and
/// goes on). A retry texts only the numbers a transient failure left out.
async fn sms(ctx: &NotifyContext, db: &impl GenericClient, s: &Subject, n: &Leased) -> Result<Done, Failed> {
    let twilio = ctx.notifier.twilio(db).await?;
    let to = match &s.template {
        Some(t) if !t.fields.text_recipients.is_empty() => t.fields.text_recipients.clone(),
        _ => twilio.default_recipients().to_vec(),
    };
    if to.is_empty() {
        return done("skipped: no SMS recipients", false);
    }
    let reached = notifications::sms_sent_to(db, n.id).await?;
    let text = s.text(n.kind);
    let (mut retry, mut refused) = (Vec::new(), Vec::new());
    for number in to.iter().filter(|t| !reached.contains(t)) {
        match twilio.send(number, &text.sms).await {
            Ok(_) => notifications::sms_reached(db, n.id, number).await?,
            Err(NotifyError::NotConfigured(why)) => return done(format!("skipped: {why}"), false),
            Err(e) if e.is_transient() => retry.push(format!("{number}: {e}")),
            Err(e) => refused.push(format!("{number}: {e}")),
        }
    }
    if !retry.is_empty() {
        return Err(transient(retry.join("; ")));
    }
    let sent = notifications::sms_sent_to(db, n.id).await?.len();
    match (sent, refused.is_empty()) {
        (0, false) => Err(Failed {
            transient: false,
            reason: refused.join("; "),
        }),
        (_, true) => done(format!("sent to {sent} numbers"), true),
        (_, false) => done(format!("sent to {sent} numbers; refused: {}", refused.join("; ")), true),
    }
}

/// An action's output to store on the alert, and what becomes of the row.
struct ActionRun {
    output: ActionOutput,
    result: Result<Done, Failed>,
}

async fn action_run(
    ctx: &NotifyContext,
    n: &Leased,
    alert: &Alert,
    action: &TemplateAction,
    resolved: bool,
) -> Result<ActionRun, Failed> {
    match (action.action_type.as_str(), action.rest, action.script) {
        ("rest", Some(rest), _) => rest_action(ctx, alert, UrlActionId(rest)).await,
        ("script", _, Some(_)) => script_action(ctx, n, alert, action, resolved).await,
        _ => Ok(ActionRun {
            output: ActionOutput::default(),
            // Server-side scripts are a later issue; the plan never owes them, a template edited since may.
            result: done(format!("skipped: a {} action cannot run", action.action_type), false),
        }),
    }
}

async fn rest_action(ctx: &NotifyContext, alert: &Alert, id: UrlActionId) -> Result<ActionRun, Failed> {
    let db = ctx.pool.get().await.map_err(DbError::from)?;
    let Some(url_action) = trmm_db::url_actions::get(&db, id).await? else {
        return Ok(ActionRun {
            output: ActionOutput::default(),
            result: done("skipped: the URL action is gone", false),
        });
    };
    let Some(context) = Context::load_alert(&db, alert.id).await? else {
        return Err(transient("the alert is gone"));
    };
    drop(db);
    let request = webhook::prepare(
        RestAction {
            pattern: &url_action.pattern,
            method: &url_action.rest_method,
            body: &url_action.rest_body,
            headers: &url_action.rest_headers,
        },
        |t| context.expand_text(t),
    )?;
    let started = std::time::Instant::now();
    let response = webhook::send(ctx.notifier.http(), &request).await?;
    let output = ActionOutput {
        run: Some(ctx.clock.now()),
        stdout: Some(response.text.clone()),
        stderr: Some(String::new()),
        retcode: Some(i64::from(response.status)),
        execution_time: Some(format!("{:.4}", started.elapsed().as_secs_f64())),
    };
    let result = match response.outcome() {
        Ok(()) => done(format!("webhook answered {}", response.status), true),
        Err(e) => Err(e.into()),
    };
    Ok(ActionRun { output, result })
}

async fn script_action(
    ctx: &NotifyContext,
    n: &Leased,
    alert: &Alert,
    action: &TemplateAction,
    resolved: bool,
) -> Result<ActionRun, Failed> {
    let db = ctx.pool.get().await.map_err(DbError::from)?;
    let gone = |what: &str| {
        Ok(ActionRun {
            output: ActionOutput::default(),
            result: done(format!("skipped: the {what} is gone"), false),
        })
    };
    let Some(script_id) = action.script else {
        return gone("script");
    };
    let Some(script) = trmm_db::scripts::get(&db, script_id).await? else {
        return gone("script");
    };
    let Some(context) = Context::load_alert(&db, alert.id).await? else {
        return gone("alert");
    };
    let shell = script.fields.shell.clone();
    let args = action.args.iter().map(|a| context.expand_arg(&shell, a)).collect();
    // Upstream expands alert placeholders in the failure action's environment only.
    let env = action
        .env_vars
        .iter()
        .map(|e| {
            if resolved {
                e.clone()
            } else {
                context.expand_env_var(&shell, e)
            }
        })
        .collect();
    let call = trmm_ops::script::library_call(
        &db,
        &script,
        Some(i64::from(action.timeout)),
        (Some(args), Some(env)),
        false,
    )
    .await
    .map_err(|e| transient(e.to_string()))?;
    let target = target_agent(ctx, &db, alert).await?;
    let Some(target) = target else {
        return Err(transient("no agent is connected to run the alert action on"));
    };
    let wait = trmm_ops::script::reply_wait(i64::from(action.timeout));
    // The script may run its whole timeout: hold the row that long, or another worker would run it again.
    let until = ctx.clock.now() + super::LEASE + chrono::TimeDelta::from_std(wait).unwrap_or(super::LEASE);
    if !notifications::extend(&db, n, until).await? {
        return Err(transient("the notification was taken over"));
    }
    drop(db);
    let reply = ctx
        .gateway
        .call(&target, RunScriptFull(call), wait)
        .await
        .map_err(|e| Failed {
            transient: e.is_transient(),
            reason: format!("running the action on {target}: {e}"),
        })?;
    Ok(ActionRun {
        output: ActionOutput {
            run: Some(ctx.clock.now()),
            stdout: Some(reply.stdout),
            stderr: Some(reply.stderr),
            retcode: Some(reply.retcode),
            execution_time: Some(format!("{:.4}", reply.execution_time)),
        },
        result: done(format!("ran on {target}"), true),
    })
}

/// The alert's own agent when it is connected, else the most recently seen connected agent (upstream
/// `run_on_any`; an availability alert's agent is offline by definition).
async fn target_agent(ctx: &NotifyContext, db: &impl GenericClient, alert: &Alert) -> Result<Option<String>, Failed> {
    let mut candidates: Vec<String> = alert.agent_id.iter().cloned().collect();
    candidates.extend(alerts::online_agents(db, ctx.clock.now(), ANY_AGENT_CANDIDATES).await?);
    let connected = ctx
        .gateway
        .connected(candidates.clone())
        .await
        .map_err(|e| transient(format!("agent presence: {e}")))?;
    Ok(candidates.into_iter().find(|c| connected.contains(c)))
}
