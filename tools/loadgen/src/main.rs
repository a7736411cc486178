//! trmm-loadgen: simulates many Tactical RMM agents against a trmm-rs suite, for benchmarks.
//! Load goes only to the URLs given on the command line; every run is bounded in count and time.

mod agents;
mod checks;
mod http;
mod seed;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// trmm-loadgen: enrolls simulated agents, connects them over NATS, sends heartbeats and answers pings.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Insert N agents with tokens straight into Postgres and write their credentials (JSON lines).
    Seed(seed::SeedArgs),
    /// Run simulated agents: one authenticated NATS connection each, heartbeats on a schedule, pings answered.
    Agents(agents::AgentsArgs),
    /// Publish heartbeats for many agents at a fixed rate over a few connections (ingestion throughput).
    Flood(agents::FloodArgs),
    /// Measure request latency of an API path (p50/p99).
    Http(http::HttpArgs),
    /// Give agents eight checks each and send their results at a fixed rate (p50/p99 of the agent API).
    Checks(checks::ChecksArgs),
}

/// Reads the JSON-lines credentials file written by `seed`.
pub fn read_creds(path: &PathBuf, limit: Option<usize>) -> anyhow::Result<Vec<seed::Creds>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let creds: Result<Vec<seed::Creds>, _> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect();
    let mut creds = creds.context("parsing the credentials file")?;
    if let Some(n) = limit {
        creds.truncate(n);
    }
    Ok(creds)
}

#[tokio::main]
async fn main() -> ExitCode {
    trmm_runtime::telemetry::init_tracing("trmm-loadgen");
    let result = match Cli::parse().command {
        Cmd::Seed(a) => seed::run(a).await,
        Cmd::Agents(a) => agents::run_agents(a).await,
        Cmd::Flood(a) => agents::run_flood(a).await,
        Cmd::Http(a) => http::run(a).await,
        Cmd::Checks(a) => checks::run(a).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trmm-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
