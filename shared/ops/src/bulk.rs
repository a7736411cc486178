//! Bulk runs (Tactical RMM agents/views.py::bulk): one command or script for many agents. trmm-api plans the run
//! and writes it with one history row per agent ([`Ops::create_bulk`]); trmm-worker fans it out ([`work`]) and
//! records every agent's outcome (reply, `timeout` or `offline`).

use std::collections::HashMap;

use trmm_db::agents::AgentRef;
use trmm_db::bulk::{self, NewRun, Run};
use trmm_db::{AgentPk, CustomFieldId, GenericClient};
use trmm_jobs::{BulkRun, BulkWork, PerAgentInputs, ScriptInputs};
use trmm_protocol::calls::{AgentCall, RunScriptFull};

use crate::command::{self, CmdRequest};
use crate::{script, templates, Ops, OpsError};

/// What every agent of a run is sent.
#[derive(Debug, Clone)]
pub struct Plan {
    call: AgentCall,
    reply_timeout: i64,
    command: Option<String>,
    script: Option<(trmm_db::ScriptId, String)>,
}

impl Plan {
    /// A shell command, by the rules of every command ([`CmdRequest::check`]).
    pub fn command(request: CmdRequest<'_>) -> Result<Plan, OpsError> {
        let call = request.check()?;
        Ok(Plan {
            reply_timeout: call.timeout + command::REPLY_GRACE,
            command: Some(call.command.clone()),
            call: call.into(),
            script: None,
        })
    }

    /// A library script; `args`, `env_vars` and `timeout` default to the script's own. Snippets are expanded
    /// here, template variables per agent by [`Ops::create_bulk`].
    pub async fn script(
        db: &impl GenericClient,
        script: &trmm_db::scripts::Script,
        timeout: Option<i64>,
        inputs: (Option<Vec<String>>, Option<Vec<String>>),
        run_as_user: bool,
    ) -> Result<Plan, OpsError> {
        // Upstream bulk_script_task: the script's own run_as_user wins.
        let call = script::library_call(db, script, timeout, inputs, run_as_user || script.fields.run_as_user).await?;
        Ok(Plan {
            reply_timeout: call.timeout + script::REPLY_GRACE as i64,
            command: None,
            script: Some((script.id, script.fields.name.clone())),
            call: RunScriptFull(call).into(),
        })
    }

    /// The dashboard's name for what runs: the script's name, or "Command".
    pub fn what(&self) -> &str {
        self.script.as_ref().map_or("Command", |(_, name)| name)
    }
}

/// What becomes of a bulk script's output besides its history row.
#[derive(Debug, Clone, Copy, Default)]
pub struct BulkOutput {
    /// Custom field that receives it.
    pub custom_field: Option<CustomFieldId>,
    /// The collector keeps all of stdout.
    pub collector_all_output: bool,
    /// It becomes an agent note.
    pub save_to_agent_note: bool,
}

impl Ops {
    /// Writes the run and one history row per agent in `tx`, expanding template variables per agent; returns
    /// the run id. Commit `tx`, then [`Ops::enqueue_bulk`].
    pub async fn create_bulk(
        &self,
        tx: &impl GenericClient,
        username: &str,
        plan: Plan,
        agents: &[AgentRef],
        output: BulkOutput,
    ) -> Result<i64, OpsError> {
        let pks: Vec<AgentPk> = agents.iter().map(|a| a.pk).collect();
        let mode = if plan.script.is_some() { "script" } else { "command" };
        let run = NewRun {
            username,
            mode,
            command: plan.command.as_deref(),
            script: plan.script.as_ref().map(|s| s.0),
            custom_field: output.custom_field,
            collector_all_output: output.custom_field.is_some() && output.collector_all_output,
            save_to_agent_note: output.save_to_agent_note,
            envelope: to_json(&plan.call)?,
            reply_timeout: plan.reply_timeout as i32,
        };
        let (run_id, rows) = bulk::create(tx, &run, &pks).await?;
        let per_agent = per_agent_inputs(tx, &plan.call, agents, &rows).await?;
        if !per_agent.is_empty() {
            bulk::set_per_agent(tx, run_id, &to_json(&per_agent)?).await?;
        }
        Ok(run_id)
    }

    /// Hands the run to trmm-worker; if Redis refuses it, every agent of the run is marked so that none is left
    /// without an outcome.
    pub async fn enqueue_bulk(&self, run_id: i64) -> Result<(), OpsError> {
        let Err(e) = self.jobs.push(BulkRun { run_id }).await else {
            return Ok(());
        };
        bulk::abandon(&self.conn().await?, run_id, "the job queue (Redis) was unavailable").await?;
        Err(e)
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value, OpsError> {
    serde_json::to_value(value).map_err(|e| OpsError::Internal(format!("unserialisable bulk run: {e}")))
}

/// Template variables differ per agent, so a script's inputs are expanded once per agent and kept with the run.
async fn per_agent_inputs(
    db: &impl GenericClient,
    call: &AgentCall,
    agents: &[AgentRef],
    rows: &[(AgentPk, i64)],
) -> Result<PerAgentInputs, OpsError> {
    let AgentCall::RunScriptFull(RunScriptFull(s)) = call else {
        return Ok(PerAgentInputs::new());
    };
    if !s.args.iter().chain(&s.env_vars).any(|a| a.contains("{{")) {
        return Ok(PerAgentInputs::new());
    }
    let by_pk: HashMap<_, _> = agents.iter().map(|a| (a.pk, a)).collect();
    let mut inputs = PerAgentInputs::new();
    for (pk, hist) in rows {
        let Some(agent) = by_pk.get(pk) else { continue };
        let (script_args, env_vars) =
            templates::expand_script_inputs(db, agent, &s.shell, &s.args, &s.env_vars).await?;
        inputs.insert(*hist, ScriptInputs { script_args, env_vars });
    }
    Ok(inputs)
}

/// What the worker sends for `run`, or why it cannot be read.
pub fn work(run: &Run) -> Result<BulkWork, serde_json::Error> {
    Ok(BulkWork {
        call: serde_json::from_value(run.envelope.clone())?,
        per_agent: run
            .per_agent
            .clone()
            .map(serde_json::from_value)
            .transpose()?
            .unwrap_or_default(),
    })
}
