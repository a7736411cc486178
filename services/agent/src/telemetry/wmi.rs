//! `agent-wmi` on unix (Go agent `GetWMIInfo`): local IPs, physical disks, CPU models, make/model, GPUs
//! and serial number, read from the kernel's interfaces and /sys instead of ghw/gopsutil.

use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Value};

use super::disks::byte_count_si;

/// The unix `wmi` map.
pub fn collect() -> Value {
    let gpus = gpus();
    // Upstream sends "" instead of a list when the only card could not be named.
    let gpus = if gpus.len() == 1 && gpus[0] == "unknown unknown" {
        Value::String(String::new())
    } else {
        json!(gpus)
    };
    json!({
        "local_ips": local_ips(),
        "disks": physical_disks(Path::new("/sys/block")),
        "cpus": std::fs::read_to_string("/proc/cpuinfo").map(|t| cpu_models(&t)).unwrap_or_default(),
        "make_model": make_model(),
        "gpus": gpus,
        "serialnumber": serial_number(),
    })
}

/// Every interface address in CIDR form except loopback, e.g. `10.0.0.5/24`.
pub fn local_ips() -> Vec<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ifa in addrs {
        let (Some(addr), Some(mask)) = (ifa.address, ifa.netmask) else {
            continue;
        };
        let (ip, prefix) = if let (Some(a), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            (IpAddr::V4(a.ip()), m.ip().to_bits().count_ones())
        } else if let (Some(a), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            (IpAddr::V6(a.ip()), m.ip().to_bits().count_ones())
        } else {
            continue;
        };
        let cidr = format!("{ip}/{prefix}");
        if cidr.contains("127.0.") || cidr.contains("::1/128") {
            continue;
        }
        out.push(cidr);
    }
    out
}

/// Distinct CPU model names from /proc/cpuinfo, in order.
pub fn cpu_models(cpuinfo: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if key.trim() == "model name" && !value.is_empty() && !out.iter().any(|m| m == value) {
            out.push(value.to_owned());
        }
    }
    out
}

/// ghw-style disk descriptions (`"<vendor> <model> <controller> <type> <name> <size>"` with "unknown"
/// removed) for every non-removable block device except loop and ram disks.
pub fn physical_disks(sys_block: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sys_block) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.contains("ram"))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let dir = sys_block.join(&name);
            if read_trim(&dir.join("removable")).as_deref() == Some("1") {
                return None;
            }
            let sectors: u64 = read_trim(&dir.join("size"))?.parse().ok()?;
            let rotational = read_trim(&dir.join("queue/rotational"));
            let (controller, drive_type) = disk_types(&name, rotational.as_deref());
            let vendor = read_trim(&dir.join("device/vendor")).unwrap_or_else(|| "unknown".into());
            let model = read_trim(&dir.join("device/model")).unwrap_or_else(|| "unknown".into());
            Some(describe_disk(
                &vendor,
                &model,
                controller,
                drive_type,
                &name,
                sectors * 512,
            ))
        })
        .collect()
}

/// The Go agent's disk line, with every "unknown" removed.
pub fn describe_disk(vendor: &str, model: &str, controller: &str, drive_type: &str, name: &str, size: u64) -> String {
    let line = format!(
        "{vendor} {model} {controller} {drive_type} {name} {}",
        byte_count_si(size)
    );
    line.replace("unknown", "").trim().to_owned()
}

/// ghw's `(storage controller, drive type)` from the kernel name and the rotational flag.
fn disk_types(name: &str, rotational: Option<&str>) -> (&'static str, &'static str) {
    let (controller, drive) = if name.starts_with("nvme") {
        ("NVMe", "SSD")
    } else if name.starts_with("sd") {
        ("SCSI", "HDD")
    } else if name.starts_with("hd") {
        ("IDE", "HDD")
    } else if name.starts_with("vd") || name.starts_with("xvd") {
        ("virtio", "HDD")
    } else if name.starts_with("mmcblk") {
        ("MMC", "SSD")
    } else if name.starts_with("sr") {
        ("SCSI", "ODD")
    } else if name.starts_with("fd") {
        ("Unknown", "FDD")
    } else {
        ("Unknown", "Unknown")
    };
    if drive == "HDD" && rotational == Some("0") {
        return (controller, "SSD");
    }
    (controller, drive)
}

/// Chassis vendor and version, as ghw reports them ("unknown" for unreadable fields).
pub fn make_model() -> String {
    let dmi = Path::new("/sys/class/dmi/id");
    let vendor = read_trim(&dmi.join("chassis_vendor")).unwrap_or_else(|| "unknown".into());
    let version = read_trim(&dmi.join("chassis_version")).unwrap_or_else(|| "unknown".into());
    format!("{vendor} {version}")
}

/// The system serial number (root-only readable), or "n/a".
pub fn serial_number() -> String {
    read_trim(Path::new("/sys/class/dmi/id/product_serial"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "n/a".into())
}

/// `"<vendor> <product>"` per DRM card, named from the PCI id database when one is installed.
pub fn gpus() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/class/drm") else {
        return Vec::new();
    };
    let mut cards: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix("card")
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    cards.sort();
    let db = [
        "/usr/share/misc/pci.ids",
        "/usr/share/hwdata/pci.ids",
        "/usr/share/pci.ids",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .unwrap_or_default();
    cards
        .into_iter()
        .filter_map(|card| {
            let dev = Path::new("/sys/class/drm").join(card).join("device");
            let vendor = read_trim(&dev.join("vendor"))?;
            let device = read_trim(&dev.join("device"))?;
            let (v, d) = pci_names(&db, &hex_id(&vendor), &hex_id(&device));
            Some(format!("{} {}", v.unwrap_or("unknown"), d.unwrap_or("unknown")))
        })
        .collect()
}

fn hex_id(sysfs: &str) -> String {
    sysfs.trim_start_matches("0x").to_ascii_lowercase()
}

/// Vendor and device names from pci.ids text (`vvvv  Vendor` lines, `\tdddd  Device` below them).
pub fn pci_names<'a>(db: &'a str, vendor: &str, device: &str) -> (Option<&'a str>, Option<&'a str>) {
    let mut vendor_name = None;
    for line in db.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if !line.starts_with('\t') {
            if vendor_name.is_some() {
                break;
            }
            if let Some(rest) = line.strip_prefix(vendor) {
                vendor_name = Some(rest.trim());
            }
            continue;
        }
        if vendor_name.is_some() && !line.starts_with("\t\t") {
            if let Some(rest) = line[1..].strip_prefix(device) {
                return (vendor_name, Some(rest.trim()));
            }
        }
    }
    (vendor_name, None)
}

fn read_trim(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_models_are_distinct() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_models(text), ["AMD EPYC 7B13"]);
        assert!(cpu_models("processor : 0\nHardware : BCM2835\n").is_empty());
    }

    #[test]
    fn disk_line_drops_unknown() {
        assert_eq!(
            describe_disk("unknown", "unknown", "virtio", "HDD", "vda", 107_374_182_400),
            "virtio HDD vda 100.0 GB"
        );
        assert_eq!(
            describe_disk("ATA", "Samsung SSD 860", "SCSI", "SSD", "sda", 500_107_862_016),
            "ATA Samsung SSD 860 SCSI SSD sda 465.8 GB"
        );
        assert_eq!(disk_types("sda", Some("0")), ("SCSI", "SSD"));
        assert_eq!(disk_types("nvme0n1", Some("0")), ("NVMe", "SSD"));
    }

    #[test]
    fn pci_ids_lookup() {
        let db = "# comment\n8086  Intel Corporation\n\t1234  Other\n\t3e92  UHD Graphics 630\n\t\t1028 0859  Sub\n10de  NVIDIA Corporation\n\t1c82  GP107\n";
        assert_eq!(
            pci_names(db, "8086", "3e92"),
            (Some("Intel Corporation"), Some("UHD Graphics 630"))
        );
        assert_eq!(pci_names(db, "10de", "ffff"), (Some("NVIDIA Corporation"), None));
        assert_eq!(pci_names(db, "1af4", "0001"), (None, None));
    }
}
