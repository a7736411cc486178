//! diskspace (Go agent `DiskCheck`): gopsutil `disk.Usage` of a mount point, or of any path inside one.

use trmm_protocol::checks::DiskResult;

use crate::telemetry::disks::{byte_count_si, Usage};

/// Usage of the file system holding `disk`; `exists` = false when there is no such path.
pub async fn check(disk: &str) -> DiskResult {
    // A relative path (a Windows drive letter like "C:") would be looked up in the agent's working directory.
    let usage = if disk.starts_with('/') {
        let path = disk.to_owned();
        // statvfs blocks for as long as a hung network file system does.
        tokio::task::spawn_blocking(move || Usage::of(&path).map_err(|e| e.to_string()))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    } else {
        Err("not an absolute path".to_owned())
    };
    match usage {
        Ok(u) => result(&u),
        Err(e) => {
            tracing::debug!(disk, error = %e, "disk check: no such disk");
            DiskResult {
                more_info: format!("Disk {disk} does not exist"),
                percent_used: 0.0,
                exists: false,
            }
        }
    }
}

/// The result for a measured file system.
pub fn result(u: &Usage) -> DiskResult {
    DiskResult {
        more_info: format!("Total: {}, Free: {}", byte_count_si(u.total), byte_count_si(u.free)),
        percent_used: u.used_percent(),
        exists: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_reads_like_the_go_agent() {
        let gib = 1024 * 1024 * 1024;
        let u = Usage {
            total: 100 * gib,
            free: 25 * gib,
            used: 70 * gib,
        };
        let r = result(&u);
        assert_eq!(r.more_info, "Total: 100.0 GB, Free: 25.0 GB");
        // 70 / (70 + 25): the root reserve (5 GiB) counts as neither.
        assert!((r.percent_used - 73.684_210_526).abs() < 1e-6, "{}", r.percent_used);
        assert!(r.exists);
    }

    #[tokio::test]
    async fn a_relative_or_missing_disk_does_not_exist() {
        for disk in ["C:", "", "/no/such/mount/point"] {
            let r = check(disk).await;
            assert!(!r.exists, "{disk}");
            assert_eq!(r.more_info, format!("Disk {disk} does not exist"));
        }
    }
}
