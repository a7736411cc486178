//! Reads a caller's envelope back into the typed call, so that only calls an agent understands reach NATS.

use tonic::Status;
use trmm_protocol::calls::AgentCall;
use trmm_protocol::AgentId;

/// Subjects are agent ids ([`AgentId`], the rule of enrollment, the auth callout and ingestion): anything that could
/// address other subjects (dots, wildcards, spaces) is refused.
pub fn subject(agent_id: &str) -> Result<String, Status> {
    AgentId::parse(agent_id)
        .map(AgentId::into_string)
        .map_err(|e| Status::invalid_argument(format!("invalid agent id {agent_id:?}: {e}")))
}

/// The call an envelope holds; refused when it is not one.
pub fn call(envelope: &[u8]) -> Result<AgentCall, Status> {
    AgentCall::decode(envelope).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// The envelope to send for `call`.
pub fn encode(call: &AgentCall) -> Result<Vec<u8>, Status> {
    call.encode()
        .map_err(|e| Status::internal(format!("encoding the call: {e}")))
}

/// Checks a caller's envelope and returns it re-encoded from the typed call.
pub fn checked(envelope: &[u8]) -> Result<Vec<u8>, Status> {
    encode(&call(envelope)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trmm_protocol::calls::{RunScript, Script};

    #[test]
    fn agent_ids_cannot_address_other_subjects() {
        assert!(subject("qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdF").is_ok());
        let long = |s: &str| format!("{s:q<40}");
        for bad in [
            "".into(),
            "short".into(),
            long("a.b"),
            long("*"),
            long(">"),
            long("a b"),
            long("a\r\nPUB x"),
        ] {
            assert!(subject(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_calls_pass() {
        let script: AgentCall = RunScript(Script {
            code: "echo hi".into(),
            shell: "shell".into(),
            timeout: 30,
            history_id: Some(12),
            ..Script::default()
        })
        .into();
        let sent = checked(&script.encode().unwrap()).unwrap();
        assert_eq!(AgentCall::decode(&sent).unwrap(), script);
        let unknown = trmm_protocol::nats::encode(&serde_json::json!({"func": "format_c", "timeout": 1})).unwrap();
        assert_eq!(checked(&unknown).unwrap_err().code(), tonic::Code::InvalidArgument);
        assert_eq!(checked(b"").unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
