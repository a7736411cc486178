//! cpuload and memory (Go agent `CPULoadCheck`, `MemCheck`): whole percents of the machine.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::commands::system::cpu_load;

/// CPU busy percent over `window` (/proc/stat deltas); None if the agent stops first or /proc is unreadable.
pub async fn cpu_percent(shutdown: &CancellationToken, window: Duration) -> Option<i32> {
    let percent = cpu_load(shutdown, window).await;
    if percent.is_none() && !shutdown.is_cancelled() {
        tracing::warn!("cpuload check: /proc/stat is unreadable");
    }
    percent.and_then(|p| i32::try_from(p).ok())
}

/// Memory in use, rounded: (total − available) / total.
pub fn memory_percent() -> Option<i32> {
    let parsed = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| used_memory_percent(&text));
    if parsed.is_none() {
        tracing::warn!("memory check: /proc/meminfo is unreadable");
    }
    parsed
}

/// The percent from /proc/meminfo text. Kernels before 3.14 have no MemAvailable; free + buffers + cache
/// stands in for it there, as `free` does.
pub fn used_memory_percent(meminfo: &str) -> Option<i32> {
    let field = |name: &str| {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let total = field("MemTotal").filter(|t| *t > 0)?;
    let available = field("MemAvailable")
        .or_else(|| Some(field("MemFree")? + field("Buffers").unwrap_or(0) + field("Cached").unwrap_or(0)))?;
    let used = total.saturating_sub(available);
    Some((used as f64 / total as f64 * 100.0).round() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_used_is_total_less_available_rounded() {
        let text = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4100000 kB\n";
        assert_eq!(used_memory_percent(text), Some(74));
        let old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 100 kB\n";
        assert_eq!(used_memory_percent(old), Some(75));
        assert_eq!(used_memory_percent("MemTotal: 0 kB\nMemAvailable: 0 kB\n"), None);
        assert_eq!(used_memory_percent(""), None);
    }
}
