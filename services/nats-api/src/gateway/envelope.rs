//! Turns a gRPC `Command` into the msgpack envelope the agent decodes (agent-protocol.md 2.1).

use tonic::Status;
use trmm_protocol::nats;
use trmm_rpc::gateway::Command;

/// Subjects are agent ids; anything that could address other subjects (dots, wildcards, spaces) is refused.
pub fn subject(agent_id: &str) -> Result<String, Status> {
    let ok = !agent_id.is_empty()
        && agent_id.len() <= 200
        && agent_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(agent_id.to_owned())
    } else {
        Err(Status::invalid_argument(format!("invalid agent id {agent_id:?}")))
    }
}

/// Encodes the envelope; `timeout` is always present and payload values are strings by construction.
pub fn encode(command: Option<Command>) -> Result<Vec<u8>, Status> {
    let c = command.ok_or_else(|| Status::invalid_argument("command is required"))?;
    if c.func.is_empty() {
        return Err(Status::invalid_argument("command.func is required"));
    }
    let lists = |v: Vec<String>| (c.always_send_lists || !v.is_empty()).then_some(v);
    let msg = nats::Command {
        func: c.func,
        timeout: c.timeout_secs,
        payload: c.payload.into_iter().collect(),
        script_args: lists(c.script_args),
        procpid: c.procpid,
        taskpk: c.taskpk,
        id: c.history_id,
        code: c.code,
        run_as_user: c.run_as_user,
        env_vars: lists(c.env_vars),
        nushell_enable_config: c.nushell_enable_config,
        deno_default_permissions: c.deno_default_permissions,
        stream: c.stream,
        ..Default::default()
    };
    nats::encode(&msg).map_err(|e| Status::internal(format!("encoding the command: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_cannot_address_other_subjects() {
        assert!(subject("qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdF").is_ok());
        for bad in ["", "a.b", "*", ">", "a b", "a\r\nPUB x"] {
            assert!(subject(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn envelope_round_trips_through_the_agent_decoder() {
        let cmd = Command {
            func: "runscript".into(),
            timeout_secs: 30,
            payload: [
                ("code".to_owned(), "echo hi".to_owned()),
                ("shell".to_owned(), "shell".to_owned()),
            ]
            .into(),
            history_id: Some(12),
            always_send_lists: true,
            ..Default::default()
        };
        let decoded: nats::Command = nats::decode(&encode(Some(cmd)).unwrap()).unwrap();
        assert_eq!(decoded.func, "runscript");
        assert_eq!(decoded.timeout, 30);
        assert_eq!(decoded.id, Some(12));
        assert_eq!(decoded.script_args, Some(vec![]));
        assert_eq!(decoded.payload["shell"], "shell");
        assert!(encode(None).is_err());
    }
}
