//! `agents` (one real NATS connection per simulated agent) and `flood` (heartbeats for many agents over a
//! few connections). Both speak the Go agent's wire format (ugorji msgpack, reply field as type tag).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use rand::Rng;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use trmm_protocol::nats::{self, ugorji, Command, TelemetryKind};

use crate::seed::Creds;

/// Longest run accepted, in seconds.
const MAX_DURATION: u64 = 3600;

/// Options of `agents`.
#[derive(clap::Args)]
pub struct AgentsArgs {
    /// NATS URL (loopback only in benchmarks).
    #[arg(long)]
    nats_url: String,
    /// Credentials file written by `seed`.
    #[arg(long)]
    creds: PathBuf,
    /// Use only the first N agents of the file.
    #[arg(long)]
    limit: Option<usize>,
    /// Seconds between heartbeats of one agent (jittered ±50%).
    #[arg(long, default_value_t = 30)]
    hello_interval: u64,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Connections opened at once while ramping up.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
}

/// Options of `flood`.
#[derive(clap::Args)]
pub struct FloodArgs {
    /// NATS URL (loopback only in benchmarks).
    #[arg(long)]
    nats_url: String,
    /// NATS user allowed to publish on every agent subject (a server service credential).
    #[arg(long, env = "TRMM_NATS_USER")]
    user: Option<String>,
    /// Its password.
    #[arg(long, env = "TRMM_NATS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Credentials file written by `seed` (only the agent ids are used).
    #[arg(long)]
    creds: PathBuf,
    /// Use only the first N agents.
    #[arg(long)]
    limit: Option<usize>,
    /// Heartbeats per second, in total.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// NATS connections to spread the load over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

fn hello(agent_id: &str) -> Vec<u8> {
    ugorji::encode(&json!({ "agent_id": agent_id, "version": "2.9.1" }))
}

/// Connects as the agent, with its own credentials.
async fn connect(url: String, creds: &Creds) -> anyhow::Result<async_nats::Client> {
    Ok(
        async_nats::ConnectOptions::with_user_and_password(creds.agent_id.clone(), creds.token.clone())
            .name(creds.agent_id.clone())
            .connect(url)
            .await?,
    )
}

/// One connected simulated agent: answers pings and sends heartbeats until `stop`.
async fn simulate(
    client: async_nats::Client,
    creds: Creds,
    interval: Duration,
    stop: CancellationToken,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let mut commands = client.subscribe(creds.agent_id.clone()).await?;
    let responder = client.clone();
    let stop_responder = stop.clone();
    tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                () = stop_responder.cancelled() => return,
                m = commands.next() => match m { Some(m) => m, None => return },
            };
            let (Some(reply), Ok(cmd)) = (msg.reply, nats::decode::<Command>(&msg.payload)) else {
                continue;
            };
            let answer = match cmd.func.as_str() {
                "ping" => "pong",
                "rawcmd" | "sysinfo" | "runchecks" => "ok",
                _ => continue,
            };
            let _ = responder
                .publish(reply, nats::encode(answer).unwrap_or_default().into())
                .await;
        }
    });
    let tag = TelemetryKind::Hello.tag();
    loop {
        client
            .publish_with_reply(creds.agent_id.clone(), tag, hello(&creds.agent_id).into())
            .await?;
        sent.fetch_add(1, Ordering::Relaxed);
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(interval.mul_f64(jitter)) => {}
        }
    }
    client.flush().await?;
    Ok(())
}

pub async fn run_agents(args: AgentsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration <= MAX_DURATION,
        "--duration is limited to {MAX_DURATION} s"
    );
    let creds = crate::read_creds(&args.creds, args.limit)?;
    let stop = CancellationToken::new();
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let connected = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(creds.len());
    for c in creds {
        let (url, stop, sent, permits, connected) = (
            args.nats_url.clone(),
            stop.clone(),
            sent.clone(),
            permits.clone(),
            connected.clone(),
        );
        let interval = Duration::from_secs(args.hello_interval.max(1));
        tasks.push(tokio::spawn(async move {
            // Hold the permit only while connecting: ramp-up is throttled, steady state is not.
            let permit = permits.acquire_owned().await;
            let client = connect(url, &c).await?;
            connected.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            simulate(client, c, interval, stop, sent).await
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stop.cancel();
    let mut failed = 0;
    for t in tasks {
        if !matches!(t.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let sent = sent.load(Ordering::Relaxed);
    println!(
        "agents: {} ran, {failed} failed; {sent} heartbeats in {secs:.1} s ({:.0}/s)",
        connected.load(Ordering::Relaxed),
        sent as f64 / secs
    );
    anyhow::ensure!(failed == 0, "{failed} simulated agents failed");
    Ok(())
}

pub async fn run_flood(args: FloodArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration <= MAX_DURATION,
        "--duration is limited to {MAX_DURATION} s"
    );
    let ids: Vec<String> = crate::read_creds(&args.creds, args.limit)?
        .into_iter()
        .map(|c| c.agent_id)
        .collect();
    anyhow::ensure!(!ids.is_empty(), "no agents in {}", args.creds.display());
    let payloads: Arc<Vec<(String, Vec<u8>)>> = Arc::new(ids.iter().map(|id| (id.clone(), hello(id))).collect());
    let mut clients = Vec::new();
    for _ in 0..args.connections.max(1) {
        let opts = match (&args.user, &args.password) {
            (Some(u), Some(p)) => async_nats::ConnectOptions::with_user_and_password(u.clone(), p.clone()),
            _ => async_nats::ConnectOptions::new(),
        };
        clients.push(
            opts.name("trmm-loadgen")
                .connect(args.nats_url.clone())
                .await
                .context("connecting to NATS")?,
        );
    }
    let tick = Duration::from_millis(10);
    let per_tick = (args.rate as f64 * tick.as_secs_f64()).max(1.0);
    let started = Instant::now();
    let end = started + Duration::from_secs(args.duration);
    let mut sent: u64 = 0;
    let mut owed = 0.0;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while Instant::now() < end {
        ticker.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            let (id, payload) = &payloads[(sent as usize) % payloads.len()];
            let client = &clients[(sent as usize) % clients.len()];
            client
                .publish_with_reply(id.clone(), TelemetryKind::Hello.tag(), payload.clone().into())
                .await?;
            sent += 1;
            owed -= 1.0;
        }
    }
    for c in &clients {
        c.flush().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "flood: {sent} heartbeats for {} agents in {secs:.1} s ({:.0}/s)",
        payloads.len(),
        sent as f64 / secs
    );
    Ok(())
}
