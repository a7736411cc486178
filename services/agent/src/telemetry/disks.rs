//! `agent-disks`: mounted block-device file systems and their usage (Go agent `GetDisks` on unix, i.e.
//! gopsutil `disk.Partitions(false)` + `disk.Usage`).

use std::collections::HashSet;

use trmm_protocol::nats::Disk;

/// File systems that are always physical even if /proc/filesystems is unreadable (gopsutil adds zfs).
const FALLBACK_PHYSICAL: [&str; 8] = ["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "zfs", "f2fs"];

/// Usage of every mounted physical file system, one entry per device.
pub fn disks() -> Vec<Disk> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let physical = std::fs::read_to_string("/proc/filesystems")
        .map(|t| physical_fstypes(&t))
        .unwrap_or_else(|_| FALLBACK_PHYSICAL.map(String::from).to_vec());
    let mut seen = HashSet::new();
    parse_mounts(&mounts)
        .into_iter()
        .filter(|m| keep(m, &physical))
        // Bind mounts repeat a device; the dashboard shows devices.
        .filter(|m| seen.insert(m.device.clone()))
        .filter_map(|m| usage(&m))
        .collect()
}

/// One line of /proc/mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Source device, e.g. `/dev/sda1`.
    pub device: String,
    /// Mount point.
    pub mountpoint: String,
    /// File system type.
    pub fstype: String,
}

/// Parses /proc/mounts, undoing the kernel's octal escapes (`\040` for a space).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            Some(Mount {
                device: unescape(f.next()?),
                mountpoint: unescape(f.next()?),
                fstype: f.next()?.to_owned(),
            })
        })
        .collect()
}

/// File system types not marked `nodev` in /proc/filesystems, plus zfs (gopsutil `getFileSystems`).
pub fn physical_fstypes(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("nodev"))
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    out.push("zfs".to_owned());
    out
}

fn keep(m: &Mount, physical: &[String]) -> bool {
    m.device != "none"
        && physical.iter().any(|p| p == &m.fstype)
        && !m.device.contains("dev/loop")
        && !m.device.contains("devfs")
}

fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok().and_then(|s| u8::from_str_radix(s, 8).ok()));
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn usage(m: &Mount) -> Option<Disk> {
    let u = Usage::of(m.mountpoint.as_str()).ok()?;
    Some(Disk {
        device: m.device.clone(),
        fstype: m.fstype.clone(),
        total: byte_count_si(u.total),
        used: byte_count_si(u.used),
        free: byte_count_si(u.free),
        // Truncated like Go's int().
        percent: u.used_percent() as i64,
    })
}

/// gopsutil's `disk.Usage` of the file system holding a path, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Size of the file system.
    pub total: u64,
    /// Available to non-root users.
    pub free: u64,
    /// In use (the root reserve counts as neither used nor free).
    pub used: u64,
}

impl Usage {
    /// statvfs of `path`.
    pub fn of(path: &str) -> nix::Result<Usage> {
        let st = nix::sys::statvfs::statvfs(path)?;
        let frsize = st.fragment_size() as u64;
        Ok(Usage {
            total: st.blocks() as u64 * frsize,
            free: st.blocks_available() as u64 * frsize,
            used: (st.blocks() as u64).saturating_sub(st.blocks_free() as u64) * frsize,
        })
    }

    /// gopsutil's `UsedPercent`: used of what non-root users can use.
    pub fn used_percent(&self) -> f64 {
        if self.used + self.free == 0 {
            return 0.0;
        }
        self.used as f64 / (self.used + self.free) as f64 * 100.0
    }
}

/// The Go agent's `ByteCountSI`: 1024-based steps with k/M/G/T/P/E labels and one decimal.
pub fn byte_count_si(bytes: u64) -> String {
    const UNIT: u64 = 1024;
    if bytes < UNIT {
        return format!("{bytes} B");
    }
    let (mut div, mut exp) = (UNIT, 0usize);
    let mut n = bytes / UNIT;
    while n >= UNIT {
        div *= UNIT;
        exp += 1;
        n /= UNIT;
    }
    let label = b"kMGTPE"[exp] as char;
    format!("{:.1} {label}B", bytes as f64 / div as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_count_si_matches_the_go_agent() {
        assert_eq!(byte_count_si(0), "0 B");
        assert_eq!(byte_count_si(1023), "1023 B");
        assert_eq!(byte_count_si(1024), "1.0 kB");
        assert_eq!(byte_count_si(1536), "1.5 kB");
        assert_eq!(byte_count_si(1024 * 1024), "1.0 MB");
        assert_eq!(byte_count_si(499_430_400_000), "465.1 GB");
        assert_eq!(byte_count_si(u64::MAX), "16.0 EB");
    }

    #[test]
    fn physical_mounts_only() {
        let mounts = "proc /proc proc rw 0 0\n\
                      /dev/vda / ext4 rw 0 0\n\
                      /dev/loop0 /snap/core squashfs ro 0 0\n\
                      tmpfs /run tmpfs rw 0 0\n\
                      /dev/sdb1 /mnt/my\\040disk xfs rw 0 0\n\
                      none /x ext4 rw 0 0\n";
        let fs = physical_fstypes("nodev\tsysfs\nnodev\ttmpfs\n\text4\n\tsquashfs\n\txfs\nnodev\tproc\n");
        assert_eq!(fs, ["ext4", "squashfs", "xfs", "zfs"]);
        let kept: Vec<Mount> = parse_mounts(mounts).into_iter().filter(|m| keep(m, &fs)).collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].device, "/dev/vda");
        assert_eq!(kept[1].mountpoint, "/mnt/my disk");
        assert_eq!(kept[1].fstype, "xfs");
    }

    #[test]
    fn used_percent_is_of_what_users_can_use() {
        let pct = |used, free| Usage { total: 0, free, used }.used_percent();
        assert_eq!(pct(1, 3), 25.0);
        assert_eq!(pct(0, 0), 0.0);
        assert_eq!(pct(5, 0), 100.0);
        // agent-disks truncates like Go's int().
        assert_eq!(pct(1, 2) as i64, 33);
    }
}
