//! `procs` and `killproc` from /proc (Go agent `GetProcsRPC`, `KillProc`).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill as send_signal, Signal};
use nix::unistd::{sysconf, Pid, SysconfVar};
use trmm_protocol::nats::ProcessInfo;

use crate::telemetry::info::parse_btime;

/// Fields of /proc/<pid>/stat the agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// Executable name (`comm`, at most 15 bytes).
    pub comm: String,
    /// Parent pid.
    pub ppid: i32,
    /// User-mode CPU time in clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time in clock ticks.
    pub stime: u64,
    /// Start time in clock ticks after boot.
    pub starttime: u64,
    /// Resident set size in pages.
    pub rss_pages: u64,
}

/// Parses /proc/<pid>/stat; `comm` may contain spaces and parentheses, so fields are counted from the last ')'.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state) of proc(5).
    let field = |n: usize| rest.get(n - 3).copied();
    Some(ProcStat {
        comm,
        ppid: field(4)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
        starttime: field(22)?.parse().ok()?,
        rss_pages: field(24)?.parse().ok()?,
    })
}

/// Real uid from /proc/<pid>/status.
pub fn parse_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// uid → name from /etc/passwd text.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// Every process: name, pid, RSS bytes, owner, list index and lifetime CPU percent (gopsutil `CPUPercent`).
pub fn list() -> Vec<ProcessInfo> {
    let ticks = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100).max(1) as f64;
    let page = sysconf(SysconfVar::PAGE_SIZE).ok().flatten().unwrap_or(4096).max(1) as u64;
    let btime = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_btime(&t))
        .unwrap_or(0) as f64;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let users = std::fs::read_to_string("/etc/passwd")
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    pids()
        .into_iter()
        .enumerate()
        .filter_map(|(index, pid)| {
            let stat = parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
            let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| parse_uid(&s));
            let started = btime + stat.starttime as f64 / ticks;
            let elapsed = now - started;
            let cpu_secs = (stat.utime + stat.stime) as f64 / ticks;
            let cpu = if elapsed > 0.0 { 100.0 * cpu_secs / elapsed } else { 0.0 };
            Some(ProcessInfo {
                name: stat.comm,
                pid: i64::from(pid),
                membytes: stat.rss_pages * page,
                username: uid.and_then(|u| users.get(&u).cloned()).unwrap_or_default(),
                id: index as i64,
                cpu_percent: format!("{cpu:.1}"),
            })
        })
        .collect()
}

fn pids() -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// Kills the direct children of `pid`, then `pid` (SIGKILL). The error text is what the server shows.
pub fn kill(pid: i32) -> Result<(), String> {
    if pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err("process does not exist".to_owned());
    }
    for child in pids().into_iter().filter(|&p| parent_of(p) == Some(pid)) {
        if let Err(e) = send_signal(Pid::from_raw(child), Signal::SIGKILL) {
            tracing::debug!(child, error = %e, "child not killed");
        }
    }
    send_signal(Pid::from_raw(pid), Signal::SIGKILL).map_err(|e| e.desc().to_lowercase())
}

fn parent_of(pid: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_stat(&text)?.ppid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let text = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 1 0 98765 10000000 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.comm, "my (odd) proc");
        assert_eq!(s.ppid, 1);
        assert_eq!((s.utime, s.stime), (250, 50));
        assert_eq!(s.starttime, 98765);
        assert_eq!(s.rss_pages, 2048);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn uid_and_passwd() {
        assert_eq!(parse_uid("Name:\tbash\nUid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        let users = parse_passwd("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\nbroken\n");
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&1000).map(String::as_str), Some("alice"));
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn listing_includes_this_process() {
        let me = i64::from(std::process::id());
        let list = list();
        let entry = list.iter().find(|p| p.pid == me).unwrap();
        assert!(entry.membytes > 0);
        assert!(entry.cpu_percent.parse::<f64>().is_ok());
    }

    #[test]
    fn killing_a_missing_process_is_an_error() {
        assert_eq!(kill(0), Err("process does not exist".to_owned()));
        assert_eq!(kill(i32::MAX), Err("process does not exist".to_owned()));
    }
}
