//! Idle memory and CPU of `trmm-agent svc` connected to a real trmm-api and nats-server. A measurement, not
//! a check, so it is ignored by default. Run it against a release build:
//!
//! ```text
//! cargo build --release -p trmm-agent
//! TRMM_AGENT_MEASURE_BIN=$CARGO_TARGET_DIR/release/trmm-agent TRMM_AGENT_MEASURE_SECS=60 \
//!   cargo test -p trmm-agent --test footprint -- --ignored --nocapture
//! ```

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{wait_for_ping, Fixture, AGENT_BIN};

/// VmRSS and VmHWM in KiB, and utime+stime in clock ticks, of `pid`.
fn sample(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let stat = trmm_agent::commands::procs::parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap())
        .unwrap();
    (kib("VmRSS:"), kib("VmHWM:"), stat.utime + stat.stime)
}

#[tokio::test]
#[ignore = "measurement; see the module docs"]
async fn idle_footprint_of_svc() {
    let bin = std::env::var_os("TRMM_AGENT_MEASURE_BIN").map_or_else(|| PathBuf::from(AGENT_BIN), PathBuf::from);
    let secs: u64 = std::env::var("TRMM_AGENT_MEASURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let fx = Fixture::enrolled(&["--no-public-ip"]).await;
    let agent = fx.spawn_svc_with(&bin);
    let client = fx.client().await;
    wait_for_ping(&client, fx.agent_id(), Duration::from_secs(30)).await;
    // Let the start-up telemetry finish before the idle window starts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_start, _, ticks_start) = sample(agent.pid());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (rss_end, hwm, ticks_end) = sample(agent.pid());
    let elapsed = started.elapsed().as_secs_f64();
    let ticks_per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).unwrap().unwrap() as f64;
    let cpu_secs = (ticks_end - ticks_start) as f64 / ticks_per_sec;
    println!(
        "binary {}\nidle window {elapsed:.1} s: VmRSS {rss_start} KiB -> {rss_end} KiB, VmHWM {hwm} KiB, \
         CPU {cpu_secs:.2} s ({:.3}% of one core)",
        bin.display(),
        cpu_secs / elapsed * 100.0
    );
    println!("--- agent log ---\n{}", agent.log());
}
