//! Whole-machine functions: `rebootnow`, `shutdown`, `uninstall`, `cpuloadavg`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::exec::{self, Spec};
use super::Request;

/// How long a reboot/shutdown command may run.
const POWER_COMMAND_TIMEOUT: i64 = 60;
/// The CPU sample window of `cpuloadavg` and the cpuload check (gopsutil `cpu.Percent(10s)`).
pub const CPU_SAMPLE: Duration = Duration::from_secs(10);

/// Replies "ok" first (the server must hear back before the machine goes down), then runs `command`.
pub async fn power_action(req: &Request, command: &str) {
    req.respond("ok").await;
    req.flush().await;
    tracing::info!(func = req.func, command, "running power command");
    let spec = Spec {
        argv: vec!["/bin/sh".into(), "-c".into(), command.to_owned()],
        env: Vec::new(),
        timeout_secs: POWER_COMMAND_TIMEOUT,
    };
    // Not tied to the agent's shutdown: stopping the service is part of what the command does.
    let out = exec::run(&spec, None, &CancellationToken::new()).await;
    if out.exit_code != 0 {
        tracing::error!(func = req.func, exit_code = out.exit_code, output = %out.combined(), "power command failed");
    }
}

/// Replies "ok", removes the service and config, then stops the agent.
pub async fn uninstall(req: &Request) {
    req.respond("ok").await;
    req.flush().await;
    let agent = &req.agent;
    tracing::warn!("uninstall requested by the server");
    let removal = crate::service::Removal {
        config_path: agent.config_path.clone(),
        systemd_dir: agent.config.systemd_dir.clone(),
        manage_service: agent.config.manage_service,
    };
    if let Err(e) = crate::service::uninstall(&removal, true).await {
        tracing::error!(error = format!("{e:#}"), "uninstall incomplete");
    }
    agent.shutdown.cancel();
}

/// Busy and total jiffies of the aggregate `cpu` line of /proc/stat (guest time is already in user).
pub fn parse_cpu_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let (idle, iowait, guest, guest_nice) = (get(3), get(4), get(8), get(9));
    let total = v.iter().sum::<u64>().saturating_sub(guest + guest_nice);
    Some((total.saturating_sub(idle + iowait), total))
}

/// Percent of CPU busy between two samples, rounded.
pub fn busy_percent(before: (u64, u64), after: (u64, u64)) -> i64 {
    let busy = after.0.saturating_sub(before.0) as f64;
    let total = after.1.saturating_sub(before.1) as f64;
    if total <= 0.0 {
        return 0;
    }
    (busy / total * 100.0).round().clamp(0.0, 100.0) as i64
}

/// CPU use over `window`; None if the agent is stopping or /proc/stat is unreadable.
pub async fn cpu_load(shutdown: &CancellationToken, window: Duration) -> Option<i64> {
    let sample = || {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_cpu_times(&t))
    };
    let before = sample()?;
    tokio::select! {
        () = shutdown.cancelled() => return None,
        () = tokio::time::sleep(window) => {}
    }
    Some(busy_percent(before, sample()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_exclude_idle_iowait_and_guest() {
        let stat = "cpu  100 10 50 800 40 0 0 0 5 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_cpu_times(stat), Some((160, 1000)));
        assert_eq!(busy_percent((160, 1000), (210, 1100)), 50);
        assert_eq!(busy_percent((1, 1), (1, 1)), 0);
        assert_eq!(parse_cpu_times("intr 1\n"), None);
    }
}
