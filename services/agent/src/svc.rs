//! `trmm-agent svc`: the long-running service. One NATS connection for commands and telemetry, the
//! telemetry schedule, and the check loop, all stopped by one shutdown token.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use trmm_protocol::nats::TelemetryKind;
use trmm_protocol::rest::AgentCheckInConfig;

use crate::api::{Api, ApiError};
use crate::config::AgentConfig;

/// How long stopping waits for the loops and the final NATS flush.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Everything a running agent's tasks share.
pub struct Agent {
    /// The persisted configuration.
    pub config: AgentConfig,
    /// Where it was read from (uninstall deletes it).
    pub config_path: PathBuf,
    /// REST client with the agent token.
    pub api: Api,
    /// The NATS connection.
    pub nats: async_nats::Client,
    /// Cancelled on SIGTERM/SIGINT or after `uninstall`.
    pub shutdown: CancellationToken,
    /// Set while a check run is in progress, so runs never overlap.
    pub checks_running: AtomicBool,
}

/// Runs the service until `shutdown` is cancelled.
pub async fn run(config_path: &Path, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = AgentConfig::load(config_path)?;
    let api = Api::new(&config.api_url, &config.token).context("Failed to build the HTTP client")?;
    let nats = crate::nats::connect_service(&config).await?;
    let commands = nats
        .subscribe(config.agent_id.clone())
        .await
        .context("Failed to subscribe to the agent's command subject")?;
    tracing::info!(agent_id = %config.agent_id, nats = %config.nats_url, api = %config.api_url, version = crate::VERSION, "agent service starting");
    let agent = Arc::new(Agent {
        config,
        config_path: config_path.to_owned(),
        api,
        nats: nats.clone(),
        shutdown: shutdown.clone(),
        checks_running: AtomicBool::new(false),
    });

    let mut tasks = JoinSet::new();
    tasks.spawn(serve_commands(agent.clone(), commands));
    tasks.spawn(telemetry_schedule(agent.clone()));
    tasks.spawn(crate::checks::run_loop(agent.clone()));

    shutdown.cancelled().await;
    tracing::info!("agent service stopping");
    let _ = tokio::time::timeout(STOP_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    if let Err(e) = tokio::time::timeout(STOP_GRACE, nats.flush()).await {
        tracing::debug!(error = %e, "NATS flush did not finish before exit");
    }
    Ok(())
}

/// Each command runs in its own task, as the Go agent runs each in its own goroutine.
async fn serve_commands(agent: Arc<Agent>, mut commands: async_nats::Subscriber) {
    loop {
        let msg = tokio::select! {
            () = agent.shutdown.cancelled() => return,
            msg = commands.next() => msg,
        };
        let Some(msg) = msg else {
            tracing::error!("the NATS command subscription ended");
            return;
        };
        tokio::spawn(crate::commands::handle(agent.clone(), msg));
    }
}

/// The Go agent's defaults for the check-in intervals (seconds), used when the server cannot be asked.
const DEFAULT_RANGES: [(&str, u32, u32); 8] = [
    ("checkin_hello", 30, 60),
    ("checkin_agentinfo", 200, 400),
    ("checkin_winsvc", 2400, 3000),
    ("checkin_pubip", 300, 500),
    ("checkin_disks", 1000, 2000),
    ("checkin_sw", 2800, 3500),
    ("checkin_wmi", 3000, 4000),
    ("checkin_syncmesh", 800, 1200),
];

fn default_interval(key: &str) -> u32 {
    let (_, lo, hi) = DEFAULT_RANGES
        .iter()
        .find(|(k, _, _)| *k == key)
        .copied()
        .unwrap_or((key, 60, 120));
    rand::thread_rng().gen_range(lo..=hi)
}

/// The intervals to use when `GET config/` failed.
pub fn default_checkin_config() -> AgentCheckInConfig {
    AgentCheckInConfig {
        checkin_hello: default_interval("checkin_hello"),
        checkin_agentinfo: default_interval("checkin_agentinfo"),
        checkin_winsvc: default_interval("checkin_winsvc"),
        checkin_pubip: default_interval("checkin_pubip"),
        checkin_disks: default_interval("checkin_disks"),
        checkin_sw: default_interval("checkin_sw"),
        checkin_wmi: default_interval("checkin_wmi"),
        checkin_syncmesh: default_interval("checkin_syncmesh"),
        ..Default::default()
    }
}

/// `GET /api/v3/<agent_id>/config/`. Upstream falls back to its defaults on transport errors and crashes
/// on bad answers (zero tickers); this agent falls back in both cases and never uses a zero interval.
pub async fn fetch_checkin_config(agent: &Agent) -> AgentCheckInConfig {
    let path = format!("/api/v3/{}/config/", agent.config.agent_id);
    let mut config = match agent.api.get::<AgentCheckInConfig>(&path).await {
        Ok(c) => c,
        Err(e) => {
            let unreachable = matches!(e, ApiError::Transport { .. });
            tracing::warn!(error = %e, unreachable, "no usable check-in config from the API; using defaults");
            return default_checkin_config();
        }
    };
    let defaults = default_checkin_config();
    for (value, default) in [
        (&mut config.checkin_hello, defaults.checkin_hello),
        (&mut config.checkin_agentinfo, defaults.checkin_agentinfo),
        (&mut config.checkin_winsvc, defaults.checkin_winsvc),
        (&mut config.checkin_pubip, defaults.checkin_pubip),
        (&mut config.checkin_disks, defaults.checkin_disks),
        (&mut config.checkin_sw, defaults.checkin_sw),
        (&mut config.checkin_wmi, defaults.checkin_wmi),
        (&mut config.checkin_syncmesh, defaults.checkin_syncmesh),
    ] {
        if *value == 0 {
            *value = default;
        }
    }
    config
}

/// Start-up telemetry (the six messages, 100–400 ms apart), then each message on its own interval.
async fn telemetry_schedule(agent: Arc<Agent>) {
    // Commands are already being answered while this runs, so a slow API does not delay them.
    let intervals = fetch_checkin_config(&agent).await;
    tracing::debug!(?intervals, "check-in intervals");
    for kind in TelemetryKind::ALL {
        if intervals.limit_data && matches!(kind, TelemetryKind::WinSvc | TelemetryKind::Wmi) {
            continue;
        }
        spawn_send(&agent, kind);
        let gap = Duration::from_millis(rand::thread_rng().gen_range(100..=400));
        tokio::select! {
            () = agent.shutdown.cancelled() => return,
            () = tokio::time::sleep(gap) => {}
        }
    }
    spawn_mesh_sync(&agent);

    let every = |secs: u32| {
        let period = Duration::from_secs(u64::from(secs.max(1)));
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    };
    let mut hello = every(intervals.checkin_hello);
    let mut info = every(intervals.checkin_agentinfo);
    let mut winsvc = every(intervals.checkin_winsvc);
    let mut pubip = every(intervals.checkin_pubip);
    let mut disks = every(intervals.checkin_disks);
    let mut wmi = every(intervals.checkin_wmi);
    let mut mesh = every(intervals.checkin_syncmesh);
    loop {
        let kind = tokio::select! {
            () = agent.shutdown.cancelled() => return,
            _ = hello.tick() => TelemetryKind::Hello,
            _ = info.tick() => TelemetryKind::AgentInfo,
            _ = winsvc.tick() => TelemetryKind::WinSvc,
            _ = pubip.tick() => TelemetryKind::PublicIp,
            _ = disks.tick() => TelemetryKind::Disks,
            _ = wmi.tick() => TelemetryKind::Wmi,
            _ = mesh.tick() => {
                spawn_mesh_sync(&agent);
                continue;
            }
        };
        spawn_send(&agent, kind);
    }
}

/// Publishes in a task of its own: a slow public IP lookup must never hold up the heartbeat.
fn spawn_send(agent: &Arc<Agent>, kind: TelemetryKind) {
    let agent = agent.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = agent.shutdown.cancelled() => {}
            () = crate::telemetry::send(&agent.nats, &agent.config, kind) => {}
        }
    });
}

fn spawn_mesh_sync(agent: &Arc<Agent>) {
    let agent = agent.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = agent.shutdown.cancelled() => {}
            () = crate::mesh::sync_node_id(&agent) => {}
        }
    });
}
