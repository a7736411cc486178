//! `agent-agentinfo`: host name, OS string, RAM, boot time, logged-in user, pending reboot (Go agent
//! `GetAgentInfo` on unix, which reads the same kernel files through gopsutil).

use std::path::Path;
use std::time::Duration;

use trmm_protocol::nats::AgentInfo;

/// The Go agent's fallback when the RAM size is unknown.
const FALLBACK_RAM_GIB: f64 = 8.0;
/// The Go agent's fallback boot time.
const FALLBACK_BOOT_TIME: i64 = 1000;
/// Debian/Ubuntu's marker for a pending reboot.
const REBOOT_REQUIRED: &str = "/var/run/reboot-required";
/// RHEL-family tool that exits 1 when a reboot is needed.
const NEEDS_RESTARTING: &str = "/usr/bin/needs-restarting";

/// Collects the `agent-agentinfo` message.
pub fn agent_info(agent_id: String) -> AgentInfo {
    let total_ram = read("/proc/meminfo")
        .and_then(|t| parse_mem_total(&t))
        .map_or(FALLBACK_RAM_GIB, total_ram_gib);
    let boot_time = read("/proc/stat")
        .and_then(|t| parse_btime(&t))
        .unwrap_or(FALLBACK_BOOT_TIME);
    AgentInfo {
        agent_id,
        logged_in_username: logged_in_user(),
        hostname: hostname(),
        operating_system: operating_system(),
        plat: crate::PLAT.to_owned(),
        total_ram,
        boot_time,
        needs_reboot: needs_reboot(),
        goarch: crate::goarch().to_owned(),
    }
}

/// The kernel's host name.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `"<Title(platform)> <platformVersion> <kernelArch> <kernelVersion>"`, e.g.
/// `"Debian 12.5 x86_64 6.1.0-18-amd64"`.
pub fn operating_system() -> String {
    let (platform, version) = platform_info();
    let uts = nix::sys::utsname::uname().ok();
    let arch = uts
        .as_ref()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_default();
    let kernel = uts
        .as_ref()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    os_string(&platform, &version, &arch, &kernel)
}

/// Formats the OS string the way the Go agent does.
pub fn os_string(platform: &str, version: &str, arch: &str, kernel: &str) -> String {
    format!("{} {version} {arch} {kernel}", title(platform))
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of every word.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_is_separator = true;
    for c in s.chars() {
        if prev_is_separator {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_is_separator = !(c.is_alphanumeric() || c == '_');
    }
    out
}

/// `(platform, version)` the way gopsutil's `PlatformInformation` derives them for the common distributions:
/// Debian-family from `/etc/debian_version` and `/etc/lsb-release`, Alpine from `/etc/alpine-release`,
/// everything else from `/etc/os-release` `ID` and `VERSION_ID`.
pub fn platform_info() -> (String, String) {
    let lsb = read("/etc/lsb-release")
        .map(|t| parse_key_values(&t))
        .unwrap_or_default();
    let lsb_get = |key: &str| {
        lsb.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if let Some(debian_version) = read("/etc/debian_version").filter(|t| !t.trim().is_empty()) {
        return match lsb_get("DISTRIB_ID").as_str() {
            "Ubuntu" => ("ubuntu".into(), lsb_get("DISTRIB_RELEASE")),
            "LinuxMint" => ("linuxmint".into(), lsb_get("DISTRIB_RELEASE")),
            _ => {
                let platform = if Path::new("/usr/bin/raspi-config").exists() {
                    "raspbian"
                } else {
                    "debian"
                };
                let version = debian_version.lines().next().unwrap_or("").to_owned();
                (platform.into(), version)
            }
        };
    }
    if let Some(alpine) = read("/etc/alpine-release") {
        return ("alpine".into(), alpine.lines().next().unwrap_or("").to_owned());
    }
    let os_release = read("/etc/os-release")
        .or_else(|| read("/usr/lib/os-release"))
        .map(|t| parse_key_values(&t))
        .unwrap_or_default();
    let get = |key: &str| {
        os_release
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    (get("ID"), get("VERSION_ID"))
}

/// `KEY=value` lines (os-release, lsb-release) with optional quotes.
pub fn parse_key_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.trim().split_once('='))
        .map(|(k, v)| {
            let v = v.trim().trim_matches('"').trim_matches('\'');
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

/// `MemTotal` of /proc/meminfo in bytes.
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let value: u64 = fields.next()?.parse().ok()?;
    let factor = match fields.next() {
        Some("kB") => 1024,
        Some(_) => return None,
        None => 1,
    };
    Some(value * factor)
}

/// GiB rounded up, as the server stores it in an integer column.
pub fn total_ram_gib(bytes: u64) -> f64 {
    bytes.div_ceil(1 << 30) as f64
}

/// `btime` (boot time, unix seconds) of /proc/stat.
pub fn parse_btime(stat: &str) -> Option<i64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// First user with a login session in utmp, or "" (the Go agent's unix behaviour).
pub fn logged_in_user() -> String {
    read_utmp()
        .map(|bytes| parse_utmp_first_user(&bytes))
        .unwrap_or_default()
}

/// The raw utmp file, if the system keeps one.
pub fn read_utmp() -> Option<Vec<u8>> {
    ["/var/run/utmp", "/run/utmp"]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
}

/// glibc's `struct utmp` on 64-bit Linux: 384 bytes, `ut_type` at 0, `ut_line[32]` at 8, `ut_user[32]` at
/// 44, `ut_host[256]` at 76.
pub const UTMP_RECORD: usize = 384;
const UTMP_LINE: std::ops::Range<usize> = 8..40;
const UTMP_USER: std::ops::Range<usize> = 44..76;
const UTMP_HOST: std::ops::Range<usize> = 76..332;
/// `ut_type` of a login session.
pub const USER_PROCESS: i16 = 7;

/// One login session from utmp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtmpSession {
    /// Login name.
    pub user: String,
    /// Terminal: `tty1`, `pts/0`, `:0`, ...
    pub line: String,
    /// Remote host or X display ("" for local terminals).
    pub host: String,
}

impl UtmpSession {
    /// A session at the machine itself (virtual console or local X display) rather than over the network.
    pub fn is_console(&self) -> bool {
        self.line.starts_with("tty")
            || self.line.starts_with(':')
            || self.line == "console"
            || self.host.starts_with(':')
    }
}

/// Every `USER_PROCESS` entry with a user name, in file order.
pub fn utmp_sessions(bytes: &[u8]) -> Vec<UtmpSession> {
    let field = |rec: &[u8], range: std::ops::Range<usize>| {
        let raw = &rec[range];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    };
    bytes
        .chunks_exact(UTMP_RECORD)
        .filter(|rec| i16::from_ne_bytes([rec[0], rec[1]]) == USER_PROCESS)
        .map(|rec| UtmpSession {
            user: field(rec, UTMP_USER),
            line: field(rec, UTMP_LINE),
            host: field(rec, UTMP_HOST),
        })
        .filter(|s| !s.user.is_empty())
        .collect()
}

/// The first `USER_PROCESS` entry's user name in a utmp file.
pub fn parse_utmp_first_user(bytes: &[u8]) -> String {
    utmp_sessions(bytes)
        .into_iter()
        .next()
        .map(|s| s.user)
        .unwrap_or_default()
}

/// A reboot is pending: Debian's marker file, or `needs-restarting -r` exiting 1 on RHEL.
pub fn needs_reboot() -> bool {
    if Path::new(REBOOT_REQUIRED).exists() {
        return true;
    }
    if !Path::new(NEEDS_RESTARTING).exists() {
        return false;
    }
    let child = std::process::Command::new(NEEDS_RESTARTING)
        .arg("-r")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    // needs-restarting is normally instant; never let a hung one wedge telemetry.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code() == Some(1),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total_in_bytes_and_gib_rounded_up() {
        let text = "MemTotal:       24684084 kB\nMemFree:        12585640 kB\n";
        let bytes = parse_mem_total(text).unwrap();
        assert_eq!(bytes, 24_684_084 * 1024);
        assert_eq!(total_ram_gib(bytes), 24.0);
        assert_eq!(total_ram_gib(1 << 30), 1.0);
        assert_eq!(total_ram_gib((1 << 30) + 1), 2.0);
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn btime_from_proc_stat() {
        let text = "cpu  10 0 5 100 0 0 0 0 0 0\ncpu0 10 0 5 100 0 0 0 0 0 0\nintr 1 2\nctxt 99\nbtime 1714567890\nprocesses 12\n";
        assert_eq!(parse_btime(text), Some(1_714_567_890));
        assert_eq!(parse_btime("cpu 1 2 3\n"), None);
    }

    #[test]
    fn os_string_titles_the_platform() {
        assert_eq!(
            os_string("debian", "12.5", "x86_64", "6.1.0-18-amd64"),
            "Debian 12.5 x86_64 6.1.0-18-amd64"
        );
        assert_eq!(
            os_string("ubuntu", "22.04", "aarch64", "5.15.0"),
            "Ubuntu 22.04 aarch64 5.15.0"
        );
        assert_eq!(title("opensuse-leap"), "Opensuse-Leap");
        assert_eq!(title(""), "");
    }

    #[test]
    fn os_release_values_lose_their_quotes() {
        let kv = parse_key_values("NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID='9.3'\n\n# c\n");
        assert!(kv.contains(&("ID".into(), "rocky".into())));
        assert!(kv.contains(&("VERSION_ID".into(), "9.3".into())));
    }

    #[test]
    fn utmp_first_user_process() {
        let mut file = vec![0u8; UTMP_RECORD * 3];
        // A boot record, then a login, then another login.
        file[0..2].copy_from_slice(&2i16.to_ne_bytes());
        file[44..50].copy_from_slice(b"reboot");
        let rec = UTMP_RECORD;
        file[rec..rec + 2].copy_from_slice(&USER_PROCESS.to_ne_bytes());
        file[rec + 44..rec + 49].copy_from_slice(b"alice");
        let rec = 2 * UTMP_RECORD;
        file[rec..rec + 2].copy_from_slice(&USER_PROCESS.to_ne_bytes());
        file[rec + 44..rec + 47].copy_from_slice(b"bob");
        assert_eq!(parse_utmp_first_user(&file), "alice");
        assert_eq!(parse_utmp_first_user(&file[..UTMP_RECORD]), "");
    }
}
