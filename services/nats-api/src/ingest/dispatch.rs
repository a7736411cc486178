//! Turns one NATS message on `<agent_id>` into what to do with it (agent-protocol.md 1.3–1.5).

use trmm_protocol::nats::{Hello, Telemetry, TelemetryKind};
use trmm_protocol::AgentId;

use super::metrics::DropReason;

/// Longest version the `agents.version` column (varchar(255)) holds; a longer one would fail the whole batch.
const MAX_VERSION_CHARS: usize = 255;

/// What to do with a message.
#[derive(Debug)]
pub enum Outcome {
    /// Not telemetry: the server's own commands to the agent (reply `_INBOX…` or none). Not counted.
    Ignore,
    /// Telemetry that is not written.
    Drop {
        /// The reply tag it carried.
        kind: TelemetryKind,
        /// Why.
        reason: DropReason,
        /// For the (rate-limited) log line.
        detail: String,
    },
    /// A heartbeat for the batcher.
    Hello(Hello),
    /// Any other kind, written directly.
    Write(Telemetry),
}

/// Classifies a message published on `subject` with `reply`; payloads above `max_bytes` are not decoded.
pub fn classify(subject: &str, reply: Option<&str>, payload: &[u8], max_bytes: usize) -> Outcome {
    let Some(kind) = reply.and_then(TelemetryKind::from_tag) else {
        return Outcome::Ignore;
    };
    let drop = |reason, detail: String| Outcome::Drop { kind, reason, detail };
    if payload.len() > max_bytes {
        return drop(
            DropReason::Oversized,
            format!("{} bytes, limit {max_bytes}", payload.len()),
        );
    }
    let telemetry = match Telemetry::decode(kind, payload) {
        Ok(telemetry) => telemetry,
        Err(e) => return drop(DropReason::Malformed, e.to_string()),
    };
    if telemetry.agent_id() != subject {
        // The claimed id is the sender's to choose: keep the log line short whatever it sent.
        let claimed: String = telemetry.agent_id().chars().take(64).collect();
        return drop(DropReason::AgentMismatch, format!("payload agent_id {claimed:?}"));
    }
    // The one agent id rule (no agent with another id can exist); it also keeps NULs, which Postgres rejects in
    // text and which would fail every heartbeat batch they land in, out of the writers.
    if let Err(e) = AgentId::parse(telemetry.agent_id()) {
        return drop(DropReason::Malformed, format!("agent_id: {e}"));
    }
    match telemetry {
        Telemetry::Hello(hello) if hello.version.contains('\0') => {
            drop(DropReason::Malformed, "NUL in version".to_owned())
        }
        Telemetry::Hello(hello) if hello.version.chars().count() > MAX_VERSION_CHARS => {
            drop(DropReason::Malformed, "version longer than 255 characters".to_owned())
        }
        Telemetry::Hello(hello) => Outcome::Hello(hello),
        other => Outcome::Write(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use trmm_protocol::nats::ugorji;

    const AGENT: &str = "ZxcvbnmasdfghjklqwertyuiopZxcvbnmasdfghj";

    fn hello(agent_id: &str, version: &str) -> Vec<u8> {
        ugorji::encode(&json!({"agent_id": agent_id, "version": version}))
    }

    fn reason(outcome: Outcome) -> Option<DropReason> {
        match outcome {
            Outcome::Drop { reason, .. } => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn server_commands_are_ignored() {
        let payload = hello(AGENT, "2.9.1");
        assert!(matches!(classify(AGENT, None, &payload, 1024), Outcome::Ignore));
        assert!(matches!(
            classify(AGENT, Some("_INBOX.abc.def"), &payload, 1024),
            Outcome::Ignore
        ));
    }

    #[test]
    fn a_hello_goes_to_the_batcher() {
        let outcome = classify(AGENT, Some("agent-hello"), &hello(AGENT, "2.9.1"), 1024);
        let Outcome::Hello(hello) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!((hello.agent_id.as_str(), hello.version.as_str()), (AGENT, "2.9.1"));
    }

    #[test]
    fn other_kinds_are_written_directly() {
        let payload = ugorji::encode(&json!({"agent_id": AGENT, "public_ip": "203.0.113.7"}));
        let outcome = classify(AGENT, Some("agent-publicip"), &payload, 1024);
        assert!(matches!(outcome, Outcome::Write(Telemetry::PublicIp(_))), "{outcome:?}");
    }

    #[test]
    fn bad_messages_are_dropped_with_a_reason() {
        let good = hello(AGENT, "2.9.1");
        let tag = Some("agent-hello");
        assert_eq!(reason(classify(AGENT, tag, &good, 4)), Some(DropReason::Oversized));
        assert_eq!(
            reason(classify(AGENT, tag, &[0xc1, 0xff], 1024)),
            Some(DropReason::Malformed)
        );
        let wrong_shape = ugorji::encode(&json!({"agent_id": AGENT}));
        assert_eq!(
            reason(classify(AGENT, tag, &wrong_shape, 1024)),
            Some(DropReason::Malformed)
        );
        let other = "QwertyuiopQwertyuiopQwertyuiopQwertyuiop";
        assert_eq!(
            reason(classify(other, tag, &good, 1024)),
            Some(DropReason::AgentMismatch)
        );
        let nul = hello(AGENT, "2.9\0.1");
        assert_eq!(reason(classify(AGENT, tag, &nul, 1024)), Some(DropReason::Malformed));
        let long = hello(AGENT, &"9".repeat(256));
        assert_eq!(reason(classify(AGENT, tag, &long, 1024)), Some(DropReason::Malformed));
    }

    #[test]
    fn ids_no_agent_can_have_are_dropped() {
        let tag = Some("agent-hello");
        for bad in [
            "agentA",
            "ZxcvbnmasdfghjklqwertyuiopZxcvbnmasdfgh\0",
            "ZxcvbnmasdfghjklqwertyuiopZxcvbnmasdfgh j",
        ] {
            let outcome = classify(bad, tag, &hello(bad, "2.9.1"), 1024);
            assert_eq!(reason(outcome), Some(DropReason::Malformed), "{bad:?}");
        }
    }
}
