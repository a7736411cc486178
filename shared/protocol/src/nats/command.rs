//! Server → agent commands (`NatsMsg`, agent/rpc.go) and the shapes of their replies.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::calls::SchedTaskPayload;

fn nil_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The command envelope sent to subject `<agent_id>`. `payload` values are always strings and `timeout` is
/// always present, because the Go agent fails to decode anything else and treats a missing timeout as 0
/// (kill at once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// What to do: ping, rawcmd, runscript, sysinfo, ...
    pub func: String,
    /// Seconds the agent may spend.
    #[serde(default, deserialize_with = "nil_as_default")]
    pub timeout: i64,
    /// Function arguments, all strings.
    #[serde(
        default,
        deserialize_with = "nil_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub payload: BTreeMap<String, String>,
    /// Script arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_args: Option<Vec<String>>,
    /// Process to kill (`killproc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procpid: Option<i32>,
    /// Task to run (`runtask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taskpk: Option<i64>,
    /// AgentHistory row to report the result to via `histresult` (0 or absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Uninstall script (`uninstall`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Run as the logged-in user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<bool>,
    /// `KEY=VALUE` environment for scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<Vec<String>>,
    /// Let nushell read its config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nushell_enable_config: Option<bool>,
    /// deno permission flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deno_default_permissions: Option<String>,
    /// Stream `rawcmd` output to `<agent_id>.cmdoutput.<cmd_id>` (agents ≥ 2.10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// The task for `schedtask` (whole) and `delschedtask` (only `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedtaskpayload: Option<SchedTaskPayload>,
    /// Windows update ids (`installwinupdates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guids: Option<Vec<String>>,
    /// Package name (`installwithchoco`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choco_prog_name: Option<String>,
    /// Pending action the choco result is reported to (`installwithchoco`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_action_pk: Option<i64>,
    /// Automatic updates on or off (`patchmgmt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_mgmt: Option<bool>,
}

impl Command {
    /// A command with only a function name and timeout.
    pub fn new(func: impl Into<String>, timeout: i64) -> Command {
        Command {
            func: func.into(),
            timeout,
            ..Default::default()
        }
    }

    /// Adds a payload entry.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Command {
        self.payload.insert(key.to_owned(), value.into());
        self
    }
}

/// One entry of the `procs` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Executable name.
    pub name: String,
    /// Process id.
    pub pid: i64,
    /// Resident memory in bytes.
    pub membytes: u64,
    /// Owner.
    pub username: String,
    /// Index in the list.
    pub id: i64,
    /// CPU use, formatted "%.1f".
    pub cpu_percent: String,
}

/// Reply of `runscriptfull` and body of `histresult` for scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunScriptResponse {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code (98 for a timeout).
    pub retcode: i64,
    /// Seconds.
    pub execution_time: f64,
    /// AgentHistory id.
    pub id: i64,
}

/// Reply of `winsvcaction` and `editwinsvc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceActionResponse {
    /// Whether it worked.
    pub success: bool,
    /// Why not.
    pub errormsg: String,
}

/// One entry of the `softwarelist` reply (agent-protocol.md 4.5); every field is a string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinSoftwareList {
    /// Product (package) name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Publisher (package maintainer or vendor).
    pub publisher: String,
    /// `"%02d-%d-%02d"` year-month-day, month not zero-padded; "" when unknown.
    pub install_date: String,
    /// Installed size as `ByteCountSI`, e.g. "7.0 MB".
    pub size: String,
    /// Where it was installed from.
    pub source: String,
    /// Install location.
    pub location: String,
    /// Command that removes it.
    pub uninstall: String,
}

/// A streamed `rawcmd` output message on `<agent_id>.cmdoutput.<cmd_id>` (agents ≥ 2.10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamChunk {
    /// One line of output.
    pub line: String,
    /// True on the last message.
    pub done: bool,
    /// Exit code, on the last message.
    pub exit_code: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nats::{decode, encode};

    #[test]
    fn envelope_is_a_named_map_with_string_payload_and_timeout() {
        let cmd = Command::new("rawcmd", 30)
            .with("command", "echo hi")
            .with("shell", "/bin/bash");
        let bytes = encode(&Command {
            id: Some(7),
            run_as_user: Some(false),
            ..cmd
        })
        .unwrap();
        let v: rmpv::Value = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
        let map = v.as_map().unwrap();
        let keys: Vec<&str> = map.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(keys, ["func", "timeout", "payload", "id", "run_as_user"]);
        let payload = &map[2].1;
        assert!(payload.as_map().unwrap().iter().all(|(_, v)| v.is_str()));
    }

    #[test]
    fn decodes_what_python_msgpack_sends() {
        // msgpack.dumps({"func": "ping", "timeout": 2, "payload": None}) with use_bin_type=True.
        let bytes = [
            0x83, 0xa4, b'f', b'u', b'n', b'c', 0xa4, b'p', b'i', b'n', b'g', 0xa7, b't', b'i', b'm', b'e', b'o', b'u',
            b't', 0x02, 0xa7, b'p', b'a', b'y', b'l', b'o', b'a', b'd', 0xc0,
        ];
        let cmd: Command = decode(&bytes).unwrap();
        assert_eq!(cmd, Command::new("ping", 2));
    }

    #[test]
    fn a_non_string_payload_value_fails_like_the_go_agent() {
        let bytes = encode(&serde_json::json!({"func": "rawcmd", "timeout": 5, "payload": {"command": 5}})).unwrap();
        assert!(decode::<Command>(&bytes).is_err());
    }
}
