//! Running a script on one agent (Tactical RMM agents/views.py::run_script, scripts/views.py::TestScript): the
//! limits, the call the agent gets, its history row, and what each output mode does with the result.

use std::time::Duration;

use trmm_db::agents::AgentRef;
use trmm_db::history::{self, NewScriptRun};
use trmm_db::{core_settings, custom_fields, jobs, CustomFieldId, GenericClient, ScriptId};
use trmm_jobs::{QueuedRun, QueuedShown, ScriptEmail, ScriptEmailPayload};
use trmm_protocol::calls::{RunScript, RunScriptFull, RunScriptResponse, Script};

use crate::queue::{Delivered, Ops};
use crate::{record, templates, OpsError};

/// Longest script timeout accepted, in seconds.
pub const MAX_TIMEOUT: i64 = 86_400;
/// Seconds the server waits beyond the agent-side timeout (upstream `req_timeout = timeout + 3`).
pub const REPLY_GRACE: u64 = 3;
/// The output modes of the RunScript dialog.
pub const OUTPUTS: [&str; 5] = ["wait", "email", "collector", "note", "forget"];
/// Deno flags sent with every script (upstream settings.DENO_DEFAULT_PERMISSIONS default).
const DENO_DEFAULT_PERMISSIONS: &str = "--allow-all";

/// The timeout if it is within 1..=[`MAX_TIMEOUT`] seconds.
pub fn check_timeout(timeout: i64) -> Result<i64, OpsError> {
    if (1..=MAX_TIMEOUT).contains(&timeout) {
        Ok(timeout)
    } else {
        Err(OpsError::field(
            "timeout",
            format!("Timeout must be between 1 and {MAX_TIMEOUT} seconds."),
        ))
    }
}

/// How long to wait for the reply of a script that may run `timeout` seconds.
pub fn reply_wait(timeout: i64) -> Duration {
    Duration::from_secs(timeout.max(0) as u64 + REPLY_GRACE)
}

/// A script as upstream's Agent.run_script sends it (the agent-side timeout is the user's); `args` and
/// `env_vars` are expanded already.
pub fn call(
    code: String,
    shell: &str,
    timeout: i64,
    (args, env_vars): (Vec<String>, Vec<String>),
    run_as_user: bool,
) -> Script {
    Script {
        code,
        shell: shell.to_owned(),
        timeout,
        args,
        env_vars,
        run_as_user,
        history_id: None,
        nushell_enable_config: false,
        deno_default_permissions: DENO_DEFAULT_PERMISSIONS.to_owned(),
    }
}

/// A library script's call: `timeout`, `args` and `env_vars` default to the script's own; snippets are expanded,
/// template variables are not (they differ per agent: [`crate::templates::expand_script_inputs`]).
pub async fn library_call(
    db: &impl GenericClient,
    script: &trmm_db::scripts::Script,
    timeout: Option<i64>,
    (args, env_vars): (Option<Vec<String>>, Option<Vec<String>>),
    run_as_user: bool,
) -> Result<Script, OpsError> {
    let s = &script.fields;
    let timeout = timeout
        .map(check_timeout)
        .transpose()?
        .unwrap_or(i64::from(s.default_timeout));
    let inputs = (
        args.unwrap_or_else(|| s.args.clone()),
        env_vars.unwrap_or_else(|| s.env_vars.clone()),
    );
    let code = templates::expand_snippets(db, &s.script_body).await?;
    Ok(call(code, &s.shell, timeout, inputs, run_as_user))
}

/// What becomes of a run's output (the RunScript dialog's choices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The reply is the answer.
    Wait,
    /// trmm-worker runs it and mails the result.
    Email {
        /// `default` (core settings' alert recipients, read when sending) or `custom`.
        mode: String,
        /// Recipients in `custom` mode.
        emails: Vec<String>,
    },
    /// The result fills a custom field of the agent.
    Collector {
        /// The field.
        field: CustomFieldId,
        /// All of stdout instead of its last line.
        all_output: bool,
    },
    /// The result becomes an agent note.
    Note,
    /// Sent, not waited for.
    Forget,
}

/// The RunScript dialog's output fields, as sent.
#[derive(Debug, Clone)]
pub struct OutputRequest<'a> {
    /// `wait`, `email`, `collector`, `note` or `forget`.
    pub output: &'a str,
    /// The collector's custom field.
    pub custom_field: Option<i32>,
    /// The collector keeps all of stdout.
    pub save_all_output: bool,
    /// `default` or `custom` (upstream's `emailMode`).
    pub email_mode: Option<&'a str>,
    /// Custom recipients.
    pub emails: Vec<String>,
}

impl OutputRequest<'_> {
    /// The output mode, once what it names exists (the custom field, mail recipients).
    pub async fn check(self, db: &impl GenericClient) -> Result<Output, OpsError> {
        match self.output {
            "wait" => Ok(Output::Wait),
            "note" => Ok(Output::Note),
            "forget" => Ok(Output::Forget),
            "collector" => {
                let id = self
                    .custom_field
                    .ok_or_else(|| OpsError::field("custom_field", "This field is required."))?;
                if custom_fields::get(db, CustomFieldId(id)).await?.is_none() {
                    let message = format!("Invalid pk \"{id}\" - object does not exist.");
                    return Err(OpsError::field("custom_field", message));
                }
                Ok(Output::Collector {
                    field: CustomFieldId(id),
                    all_output: self.save_all_output,
                })
            }
            "email" => check_mail(db, self.email_mode.unwrap_or("default"), self.emails).await,
            other => Err(OpsError::not_a_choice("output", other)),
        }
    }
}

/// Upstream run_script_email_results_task takes the list as given; an empty recipient list is refused here
/// rather than mailing nobody.
async fn check_mail(db: &impl GenericClient, mode: &str, emails: Vec<String>) -> Result<Output, OpsError> {
    match mode {
        "custom" if emails.is_empty() => return Err(OpsError::field("emails", "This list may not be empty.")),
        "custom" => {
            if let Some(bad) = emails.iter().find(|e| !trmm_notify::mail::valid_address(e)) {
                return Err(OpsError::field(
                    "emails",
                    format!("\"{bad}\" is not a valid email address."),
                ));
            }
        }
        "default" => {
            if core_settings::mail(db).await?.email_alert_recipients.is_empty() {
                return Err(OpsError::Refused(
                    "No email alert recipients are set in Global Settings; choose custom emails.".into(),
                ));
            }
        }
        other => return Err(OpsError::not_a_choice("emailMode", other)),
    }
    Ok(Output::Email {
        mode: mode.to_owned(),
        emails,
    })
}

/// A library script to run on one agent.
#[derive(Debug, Clone)]
pub struct ScriptRun<'a> {
    /// The agent.
    pub agent: &'a AgentRef,
    /// The library script.
    pub script: ScriptId,
    /// Its name.
    pub name: &'a str,
    /// Who runs it.
    pub username: &'a str,
    /// What the agent gets (expanded, no history id yet).
    pub call: Script,
    /// What becomes of the output.
    pub output: Output,
    /// Beyond upstream: an offline agent gets the script as a pending action instead of an error.
    pub queue_if_offline: bool,
}

/// The answer to a script run.
#[derive(Debug, Clone, PartialEq)]
pub enum Ran {
    /// The agent's reply (`wait`, `collector`, `note`).
    Results(RunScriptResponse),
    /// A sentence for the dashboard: started (`email`, `forget`) or queued.
    Said(String),
}

impl Ops {
    /// Writes the run's history row, then does what its output mode asks; a result is recorded exactly once
    /// whether the reply or the agent's `histresult` comes first.
    pub async fn run_script(&self, run: ScriptRun<'_>) -> Result<Ran, OpsError> {
        let ScriptRun {
            agent,
            script,
            name,
            username,
            call,
            output,
            queue_if_offline,
        } = run;
        if matches!(output, Output::Email { .. }) {
            self.jobs.require_connected()?;
        }
        let (custom_field, all_output) = match &output {
            Output::Collector { field, all_output } => (Some(*field), *all_output),
            _ => (None, false),
        };
        let new = NewScriptRun {
            script: Some(script),
            username,
            custom_field,
            collector_all_output: all_output,
            save_to_agent_note: output == Output::Note,
        };
        let hist = history::create_script_run(&self.conn().await?, agent.pk, &new).await?;
        let call = Script {
            history_id: Some(hist),
            ..call
        };
        let wait = reply_wait(call.timeout);
        let started = format!("{name} will now be run on {}", agent.hostname);
        let label = output_label(&output);
        let queued = queue_if_offline.then_some(|command| QueuedRun {
            history_id: hist,
            timeout: wait.as_secs() as i64,
            description: format!("Run script: {name}"),
            command,
            shown: QueuedShown::Script {
                script: script.0,
                script_name: name.to_owned(),
                output: label.to_owned(),
            },
        });
        let delivered = match output {
            Output::Email { mode, emails } => {
                let payload = ScriptEmailPayload {
                    history_id: hist,
                    emails,
                    email_mode: mode,
                    script: RunScriptFull(call),
                };
                self.email(agent, payload).await?;
                return Ok(Ran::Said(started));
            }
            // Upstream publishes and loses the script of an offline agent.
            Output::Forget => match self.send_or_queue(agent, RunScript(call), queued).await? {
                Delivered::Done(()) => return Ok(Ran::Said(started)),
                Delivered::Queued(said) => return Ok(Ran::Said(said)),
            },
            // The structured reply keeps stdout, stderr and the exit code apart.
            Output::Wait | Output::Collector { .. } | Output::Note => {
                self.call_or_queue(agent, RunScriptFull(call), wait, queued).await?
            }
        };
        match delivered {
            Delivered::Done(results) => {
                record::script_reply(&mut self.conn().await?, &self.events, agent, hist, &results).await?;
                Ok(Ran::Results(results))
            }
            Delivered::Queued(said) => Ok(Ran::Said(said)),
        }
    }

    /// Hands an emailed run to trmm-worker: its payload in Postgres, its entry on Redis; when Redis refuses the
    /// entry, the job and the run are marked failed.
    async fn email(&self, agent: &AgentRef, payload: ScriptEmailPayload) -> Result<(), OpsError> {
        let hist = payload.history_id;
        let job_id = jobs::create(&self.conn().await?, ScriptEmailPayload::KIND, &payload).await?;
        let Err(e) = self.jobs.push(ScriptEmail { job_id: job_id.0 }).await else {
            return Ok(());
        };
        let db = self.conn().await?;
        jobs::finish(&db, job_id, "failed: the job queue (Redis) was unavailable").await?;
        record::text(
            &db,
            &self.events,
            hist,
            agent.pk,
            "error: the job queue (Redis) was unavailable",
        )
        .await?;
        Err(e)
    }
}

fn output_label(output: &Output) -> &'static str {
    match output {
        Output::Wait => "wait",
        Output::Email { .. } => "email",
        Output::Collector { .. } => "collector",
        Output::Note => "note",
        Output::Forget => "forget",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert!(check_timeout(0).is_err());
        assert_eq!(check_timeout(MAX_TIMEOUT).unwrap(), MAX_TIMEOUT);
        assert!(check_timeout(MAX_TIMEOUT + 1).is_err());
        assert_eq!(reply_wait(30), Duration::from_secs(33));
    }
}
