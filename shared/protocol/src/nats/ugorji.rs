//! A msgpack writer that reproduces the Go agent's ugorji encoder byte for byte (agent-protocol.md 4.1):
//! strings as fixstr/str16/str32 (never str8), non-negative integers above 127 as *signed* int16/32/64,
//! nil for nil slices. Tests and the load generator use it to speak exactly like a real agent.

use serde_json::Value;

/// Encodes a JSON value as the Go agent would encode the equivalent Go struct.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

fn write_len(out: &mut Vec<u8>, len: usize, fix: u8, fix_max: usize, b16: u8, b32: u8) {
    if len <= fix_max {
        out.push(fix | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn write_int(out: &mut Vec<u8>, v: i64) {
    match v {
        0..=127 => out.push(v as u8),
        -32..=-1 => out.push(v as i8 as u8),
        -128..=-33 => {
            out.push(0xd0);
            out.push(v as i8 as u8);
        }
        _ if i16::try_from(v).is_ok() => {
            out.push(0xd1);
            out.extend_from_slice(&(v as i16).to_be_bytes());
        }
        _ if i32::try_from(v).is_ok() => {
            out.push(0xd2);
            out.extend_from_slice(&(v as i32).to_be_bytes());
        }
        _ => {
            out.push(0xd3);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                write_int(out, i);
            } else if let Some(u) = n.as_u64() {
                out.push(0xcf);
                out.extend_from_slice(&u.to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.as_f64().unwrap_or_default().to_be_bytes());
            }
        }
        Value::String(s) => {
            // ugorji's old-spec string encoding: fixstr up to 31 bytes, then str16/str32; str8 never.
            write_len(out, s.len(), 0xa0, 31, 0xda, 0xdb);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            write_len(out, items.len(), 0x90, 15, 0xdc, 0xdd);
            items.iter().for_each(|i| write(out, i));
        }
        Value::Object(map) => {
            write_len(out, map.len(), 0x80, 15, 0xde, 0xdf);
            for (k, v) in map {
                write(out, &Value::String(k.clone()));
                write(out, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nats::{AgentInfo, Disks, Hello, Telemetry, TelemetryKind, WinServices, Wmi};
    use serde_json::json;

    #[test]
    fn strings_over_31_bytes_use_str16_and_ints_over_127_are_signed() {
        let id = "a".repeat(40);
        let bytes = encode(&json!({"agent_id": id, "boot_time": 1_700_000_000_i64, "n": 200}));
        assert_eq!(&bytes[10..13], &[0xda, 0x00, 40]);
        assert!(bytes.windows(5).any(|w| w == [0xd2, 0x65, 0x53, 0xf1, 0x00]));
        assert!(bytes.windows(3).any(|w| w == [0xd1, 0x00, 0xc8]));
    }

    #[test]
    fn go_agent_telemetry_decodes() {
        let id = "qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdF";
        let hello = encode(&json!({"agent_id": id, "version": "2.9.1"}));
        assert_eq!(
            Telemetry::decode(TelemetryKind::Hello, &hello).unwrap(),
            Telemetry::Hello(Hello {
                agent_id: id.into(),
                version: "2.9.1".into()
            })
        );
        let info = encode(&json!({"agent_id": id, "logged_in_username": "", "hostname": "web01",
            "operating_system": "Debian 12 x86_64 6.1.0", "plat": "linux", "total_ram": 16,
            "boot_time": 1_700_000_000_i64, "needs_reboot": false, "goarch": "amd64"}));
        let Telemetry::AgentInfo(AgentInfo {
            total_ram, boot_time, ..
        }) = Telemetry::decode(TelemetryKind::AgentInfo, &info).unwrap()
        else {
            panic!("not agentinfo")
        };
        assert_eq!((total_ram, boot_time), (16.0, 1_700_000_000));
        // Go nil slices arrive as msgpack nil.
        let disks = encode(&json!({"agent_id": id, "disks": null}));
        assert_eq!(
            Telemetry::decode(TelemetryKind::Disks, &disks).unwrap(),
            Telemetry::Disks(Disks {
                agent_id: id.into(),
                disks: vec![]
            })
        );
        let svcs = encode(&json!({"agent_id": id, "services": []}));
        assert_eq!(
            Telemetry::decode(TelemetryKind::WinSvc, &svcs).unwrap(),
            Telemetry::WinSvc(WinServices {
                agent_id: id.into(),
                services: vec![]
            })
        );
        let wmi_value = json!({"cpu": [[{"Name": "Intel", "NumberOfCores": 4.0}]], "bios": [[{"SerialNumber": "X"}]]});
        let wmi = encode(&json!({"agent_id": id, "wmi": wmi_value}));
        assert_eq!(
            Telemetry::decode(TelemetryKind::Wmi, &wmi).unwrap(),
            Telemetry::Wmi(Wmi {
                agent_id: id.into(),
                wmi: wmi_value
            })
        );
    }

    #[test]
    fn literal_hello_bytes_from_the_go_agent() {
        // ugorji output for NatsMessage{Agentid: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn", Version: "2.9.1"}.
        let mut bytes = vec![0x82, 0xa8];
        bytes.extend_from_slice(b"agent_id");
        bytes.extend_from_slice(&[0xda, 0x00, 0x28]);
        bytes.extend_from_slice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn");
        bytes.push(0xa7);
        bytes.extend_from_slice(b"version");
        bytes.push(0xa5);
        bytes.extend_from_slice(b"2.9.1");
        let hello = json!({"agent_id": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn", "version": "2.9.1"});
        assert_eq!(encode(&hello), bytes);
        assert!(matches!(
            Telemetry::decode(TelemetryKind::Hello, &bytes),
            Ok(Telemetry::Hello(_))
        ));
    }
}
