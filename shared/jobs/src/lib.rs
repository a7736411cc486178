//! Background jobs: the payloads trmm-api enqueues and trmm-worker runs, and the Redis queues (apalis) they
//! travel on. A job only names work already recorded in Postgres, so losing Redis delays work but never
//! loses what was asked for (docs/architecture: Postgres is the one source of truth).

pub mod periodic;

use apalis::prelude::TaskSink;
use apalis_redis::{Config, RedisStorage};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

pub use periodic::{Periodic, PeriodicJob};

/// A bulk command or script (`POST /agents/actions/bulk/`): the `bulk_runs` row and one history row per agent
/// exist already; the worker sends the command to every agent still without a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkRun {
    /// Primary key of `bulk_runs`.
    pub run_id: i64,
}

/// What every agent of a bulk run is sent: one call (its history id set per agent) and, for a script whose
/// arguments use template variables, each agent's expanded inputs (`bulk_runs.command` and `.per_agent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkWork {
    /// The call.
    pub call: trmm_protocol::calls::AgentCall,
    /// Script inputs by history id, where they differ per agent.
    pub per_agent: PerAgentInputs,
}

/// A script's arguments and environment as expanded for one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptInputs {
    /// Arguments.
    pub script_args: Vec<String>,
    /// `KEY=VALUE` environment.
    pub env_vars: Vec<String>,
}

/// [`ScriptInputs`] by history id (JSON object keys are the ids as text).
pub type PerAgentInputs = std::collections::BTreeMap<i64, ScriptInputs>;

/// A script run whose result is emailed (`POST /agents/<agent_id>/runscript/` with `output: email`): the queue
/// entry names the `jobs` row that holds its [`ScriptEmailPayload`]; the worker runs the script unless the
/// run's history row has its result, then sends the mail (upstream `run_script_email_results_task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptEmail {
    /// Primary key of the `jobs` row.
    pub job_id: i64,
}

/// What an emailed script run needs, kept in Postgres (`jobs.payload`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptEmailPayload {
    /// The `agent_history` row of the run (sent to the agent as the envelope's `id`).
    pub history_id: i64,
    /// Recipients when `email_mode` is `custom`.
    pub emails: Vec<String>,
    /// `default` (core settings' `email_alert_recipients`, read when sending) or `custom`.
    pub email_mode: String,
    /// The script as prepared at request time (snippets and template variables expanded, as upstream hands the
    /// task its arguments), its history id set.
    pub script: trmm_protocol::calls::RunScriptFull,
}

impl ScriptEmailPayload {
    /// `jobs.kind` of these payloads.
    pub const KIND: &'static str = "script_email";
}

/// An agent has queued work (pending actions) since a moment when it may just have come back: the worker runs
/// its queue now if it is connected. Presence events start a returning agent's queue; this entry covers an agent
/// that came back between the API seeing it offline and the action being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPending {
    /// The agent's `agent_id`.
    pub agent_id: String,
}

/// A command or script queued for an offline agent: the `details` of a `runcmd` / `runscript` pending action,
/// written by trmm-api and run by trmm-worker once the agent is back; the dashboard shows these fields as they
/// are (server-api.md 3.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedRun {
    /// The AgentHistory row that receives the result.
    pub history_id: i64,
    /// Seconds to wait for the agent's reply when it runs.
    pub timeout: i64,
    /// Shown in the pending-actions list, e.g. "Run command: uptime".
    pub description: String,
    /// The call to send, its history id set.
    pub command: trmm_protocol::calls::AgentCall,
    /// What the dashboard shows of it.
    #[serde(flatten)]
    pub shown: QueuedShown,
}

/// The dashboard's view of a queued run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QueuedShown {
    /// `runcmd`.
    Command {
        /// The command line.
        cmd: String,
        /// The shell.
        shell: String,
    },
    /// `runscript`.
    Script {
        /// The library script.
        script: i32,
        /// Its name.
        script_name: String,
        /// `wait`, `collector`, `note` or `forget`.
        output: String,
    },
}

impl QueuedRun {
    /// The pending action's `action_type`.
    pub fn action_type(&self) -> &'static str {
        match self.shown {
            QueuedShown::Command { .. } => "runcmd",
            QueuedShown::Script { .. } => "runscript",
        }
    }
}

/// Deliver one notification an alert state change owes (`alert_notifications`; the row holds everything, the
/// queue entry only wakes a worker for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// `alert_notifications.id`.
    pub notification_id: i64,
}

/// Why a job could not be queued.
#[derive(Debug, thiserror::Error)]
#[error("queueing the job in Redis failed: {0}")]
pub struct EnqueueError(String);

/// The Redis queue of one job type, under the deployment's key prefix (`TRMM_REDIS_PREFIX`).
pub fn queue_name(prefix: &str, job: &str) -> String {
    format!("{prefix}:jobs:{job}")
}

/// A job type: its payload and the name of its Redis queue.
pub trait Job: Serialize + serde::de::DeserializeOwned + Send + Sync + Unpin + 'static {
    /// The queue's name under the prefix (see [`queue_name`]).
    const QUEUE: &'static str;
}

impl Job for BulkRun {
    const QUEUE: &'static str = "bulk";
}

impl Job for ScriptEmail {
    const QUEUE: &'static str = "script_email";
}

impl Job for RunPending {
    const QUEUE: &'static str = "run_pending";
}

impl Job for Notify {
    const QUEUE: &'static str = "notify";
}

/// The apalis storage of one job type, for pushing (trmm-api) and consuming (trmm-worker).
pub fn storage<J: Job>(conn: ConnectionManager, prefix: &str) -> RedisStorage<J> {
    RedisStorage::new(conn).with_config(Config::default().queue(queue_name(prefix, J::QUEUE)))
}

/// Queues a job.
pub async fn enqueue<J: Job>(conn: ConnectionManager, prefix: &str, job: J) -> Result<(), EnqueueError> {
    storage::<J>(conn, prefix)
        .push(job)
        .await
        .map_err(|e| EnqueueError(e.to_string()))
}

/// The name of every queue a deployment runs.
pub const QUEUES: [&str; 5] = [
    BulkRun::QUEUE,
    ScriptEmail::QUEUE,
    RunPending::QUEUE,
    Notify::QUEUE,
    Periodic::QUEUE,
];

/// How many jobs wait to be taken in each of [`QUEUES`], in that order: apalis keeps a new job in the queue's
/// scheduled set until it is due, then in its active list until a worker takes it.
pub async fn waiting(mut conn: ConnectionManager, prefix: &str) -> Result<Vec<(&'static str, u64)>, redis::RedisError> {
    let mut pipe = redis::pipe();
    for queue in QUEUES {
        let config = Config::default().queue(queue_name(prefix, queue));
        pipe.cmd("LLEN").arg(config.active_jobs_list());
        pipe.cmd("ZCARD").arg(config.scheduled_jobs_set());
    }
    let counts: Vec<u64> = pipe.query_async(&mut conn).await?;
    let per_queue = counts.chunks(2).map(|c| c.iter().sum());
    Ok(QUEUES.into_iter().zip(per_queue).collect())
}

/// Marks this deployment's queues as intact in Redis; true when the mark was missing, which means Redis lost
/// its data since it was set (FLUSHALL, a restart without persistence) or it was never set: every job still
/// unfinished in Postgres then needs its queue entry again.
pub async fn mark_intact(mut conn: ConnectionManager, prefix: &str) -> Result<bool, redis::RedisError> {
    let set: Option<String> = redis::cmd("SET")
        .arg(mark_key(prefix))
        .arg(1)
        .arg("NX")
        .query_async(&mut conn)
        .await?;
    Ok(set.is_some())
}

/// Removes the mark, so that the next [`mark_intact`] finds it missing and the unfinished jobs are queued again.
pub async fn forget_mark(mut conn: ConnectionManager, prefix: &str) -> Result<(), redis::RedisError> {
    redis::cmd("DEL").arg(mark_key(prefix)).query_async(&mut conn).await
}

fn mark_key(prefix: &str) -> String {
    format!("{prefix}:jobs:intact")
}
