//! Hardware strings derived from an agent's `wmi_detail`, as the dashboard shows them.
//! Mirrors the properties of TRMM agents/models.py::Agent (cpu_model, graphics, local_ips, make_model,
//! physical_disks, serial_number), including their fallback texts.

use serde::Serialize;
use serde_json::Value;

/// The hardware columns of the agent table and detail view.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HardwareSummary {
    /// One entry per CPU.
    pub cpu_model: Vec<String>,
    /// Graphics adapters, comma-joined.
    pub graphics: String,
    /// Local IPs, comma-joined (IPv4 only on Windows).
    pub local_ips: String,
    /// "Vendor Model".
    pub make_model: String,
    /// One entry per physical disk.
    pub physical_disks: Vec<String>,
    /// BIOS serial number.
    pub serial_number: String,
}

/// Windows WMI values are arrays of single-element arrays of maps: `[[{..}], [{..}]]`; finds `key` in one group.
fn wmi_prop<'a>(group: &'a Value, key: &str) -> Option<&'a Value> {
    group.as_array()?.iter().find_map(|m| m.get(key))
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    Some(
        v?.as_array()?
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Summarises `wmi_detail` for an agent of platform `plat`.
pub fn summarize(plat: &str, wmi: Option<&Value>) -> HardwareSummary {
    let empty = Value::Null;
    let wmi = wmi.unwrap_or(&empty);
    if plat == "linux" || plat == "darwin" {
        posix(wmi)
    } else {
        windows(wmi)
    }
}

fn posix(wmi: &Value) -> HardwareSummary {
    let gpus = strings(wmi.get("gpus"));
    HardwareSummary {
        cpu_model: strings(wmi.get("cpus")).unwrap_or_else(|| vec!["unknown cpu model".into()]),
        // The Go agent sends "" instead of a list when it found no GPU.
        graphics: match (gpus, wmi.get("gpus")) {
            (Some(g), _) if !g.is_empty() => g.join(", "),
            (_, Some(_)) => "No graphics cards".into(),
            _ => "Error getting graphics cards".into(),
        },
        local_ips: strings(wmi.get("local_ips"))
            .map(|ips| ips.join(", "))
            .unwrap_or_else(|| "error getting local ips".into()),
        make_model: wmi
            .get("make_model")
            .and_then(Value::as_str)
            .map_or_else(|| "error getting make/model".into(), str::to_owned),
        physical_disks: strings(wmi.get("disks")).unwrap_or_else(|| vec!["unknown disk".into()]),
        serial_number: wmi
            .get("serialnumber")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    }
}

fn windows(wmi: &Value) -> HardwareSummary {
    let groups = |key: &str| wmi.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let text = |g: &Value, k: &str| wmi_prop(g, k).and_then(Value::as_str).map(str::to_owned);

    let mut cpu_model: Vec<String> = groups("cpu")
        .iter()
        .filter_map(|cpu| {
            let name = text(cpu, "Name")?;
            let cores = wmi_prop(cpu, "NumberOfCores").and_then(Value::as_f64);
            let threads = wmi_prop(cpu, "NumberOfLogicalProcessors").and_then(Value::as_f64);
            Some(match (cores, threads) {
                (Some(c), Some(t)) => format!("{name}, {c}C/{t}T"),
                _ => name,
            })
        })
        .collect();
    if cpu_model.is_empty() {
        cpu_model.push("unknown cpu model".into());
    }

    let captions: Vec<String> = groups("graphics").iter().filter_map(|g| text(g, "Caption")).collect();
    let (rdp, real): (Vec<_>, Vec<_>) = captions
        .into_iter()
        .partition(|c| c.to_lowercase().contains("microsoft remote display adapter"));
    let graphics = if real.is_empty() && !rdp.is_empty() {
        "Microsoft Remote Display Adapter".to_owned()
    } else {
        real.join(", ")
    };

    let ips: Vec<String> = groups("network_config")
        .iter()
        .filter_map(|g| wmi_prop(g, "IPAddress").and_then(Value::as_array).cloned())
        .flatten()
        .filter_map(|ip| {
            ip.as_str()
                .filter(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
                .map(str::to_owned)
        })
        .collect();
    let local_ips = if ips.is_empty() {
        "error getting local ips".to_owned()
    } else {
        ips.join(", ")
    };

    let physical_disks: Vec<String> = groups("disk")
        .iter()
        .filter_map(|d| {
            let iface = text(d, "InterfaceType")?;
            if iface == "USB" {
                return None;
            }
            let size = wmi_prop(d, "Size").and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))?;
            Some(format!(
                "{} {}GB {iface}",
                text(d, "Caption")?,
                (size / 1_073_741_824.0).round()
            ))
        })
        .collect();

    HardwareSummary {
        cpu_model,
        graphics,
        local_ips,
        make_model: windows_make_model(wmi).unwrap_or_else(|| "unknown make/model".into()),
        physical_disks: if physical_disks.is_empty() {
            vec!["unknown disk".into()]
        } else {
            physical_disks
        },
        serial_number: wmi
            .pointer("/bios/0/0/SerialNumber")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    }
}

fn windows_make_model(wmi: &Value) -> Option<String> {
    let first = |key: &str| wmi.get(key).and_then(|v| v.get(0));
    let text = |g: Option<&Value>, k: &str| wmi_prop(g?, k).and_then(Value::as_str).map(str::to_owned);
    let comp_sys = first("comp_sys");
    let comp_sys_prod = first("comp_sys_prod");
    let (Some(mut make), Some(mut model)) = (text(comp_sys_prod, "Vendor"), text(comp_sys, "Model")) else {
        return text(comp_sys_prod, "Version");
    };
    if model.to_lowercase().contains("to be filled") {
        let board = first("base_board");
        make = text(board, "Manufacturer")?;
        model = text(board, "Product")?;
    }
    if make.eq_ignore_ascii_case("lenovo") {
        if let Some(family) = text(comp_sys, "SystemFamily").filter(|f| !f.to_lowercase().contains("to be filled")) {
            model = family;
        }
    }
    Some(format!("{make} {model}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unix_keys_from_the_go_agent() {
        let wmi = json!({"local_ips": ["10.0.0.5/24", "fe80::1/64"], "disks": ["sda 100 GB"], "cpus": ["AMD EPYC"],
                         "make_model": "QEMU Standard PC", "gpus": "", "serialnumber": "n/a"});
        let s = summarize("linux", Some(&wmi));
        assert_eq!(s.cpu_model, vec!["AMD EPYC"]);
        assert_eq!(s.graphics, "No graphics cards");
        assert_eq!(s.local_ips, "10.0.0.5/24, fe80::1/64");
        assert_eq!(s.make_model, "QEMU Standard PC");
        assert_eq!(s.serial_number, "n/a");
    }

    #[test]
    fn windows_double_wrapped_arrays() {
        let wmi = json!({
            "cpu": [[{"Name": "Intel i7", "NumberOfCores": 4.0, "NumberOfLogicalProcessors": 8.0}]],
            "graphics": [[{"Caption": "Microsoft Remote Display Adapter"}], [{"Caption": "NVIDIA T400"}]],
            "network_config": [[{"IPAddress": ["192.168.1.10", "fe80::2"]}], [{"IPAddress": null}]],
            "disk": [[{"InterfaceType": "SCSI", "Caption": "Samsung SSD", "Size": "512105932800"}],
                     [{"InterfaceType": "USB", "Caption": "Stick", "Size": "1"}]],
            "comp_sys": [[{"Model": "OptiPlex 7090"}]],
            "comp_sys_prod": [[{"Vendor": "Dell Inc."}]],
            "bios": [[{"SerialNumber": "ABC123"}]]
        });
        let s = summarize("windows", Some(&wmi));
        assert_eq!(s.cpu_model, vec!["Intel i7, 4C/8T"]);
        assert_eq!(s.graphics, "NVIDIA T400");
        assert_eq!(s.local_ips, "192.168.1.10");
        assert_eq!(s.physical_disks, vec!["Samsung SSD 477GB SCSI"]);
        assert_eq!(s.make_model, "Dell Inc. OptiPlex 7090");
        assert_eq!(s.serial_number, "ABC123");
    }

    #[test]
    fn missing_inventory_uses_upstream_fallbacks() {
        let s = summarize("windows", None);
        assert_eq!(s.cpu_model, vec!["unknown cpu model"]);
        assert_eq!(s.make_model, "unknown make/model");
        assert_eq!(s.local_ips, "error getting local ips");
    }
}
