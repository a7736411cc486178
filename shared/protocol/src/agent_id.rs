//! The agent id: the one rule for which ids may enrol, connect to NATS and send telemetry.
//!
//! An agent id is a NATS subject token (the agent's command subject and its NATS user name), a URL path segment
//! and a database key, so it must be usable as all three: Tactical RMM's agents generate 40 random ASCII
//! letters (`GenerateAgentID`), older ones appended `-<hostname>`. Anything shorter, or holding `/`, `.`, the
//! NATS wildcards `*` `>`, `$`, whitespace or control characters could never connect or be deleted.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Fewest characters of an agent id (upstream's generated ids are 40 letters).
pub const MIN_LEN: usize = 40;
/// Most characters of an agent id (upstream's `agents_agent.agent_id` is a varchar(200)).
pub const MAX_LEN: usize = 200;

/// A validated agent id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AgentId(String);

/// Why a string is not an agent id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentIdError {
    /// Fewer than [`MIN_LEN`] or more than [`MAX_LEN`] characters.
    #[error("an agent id has {MIN_LEN} to {MAX_LEN} characters")]
    Length,
    /// A character other than an ASCII letter, digit, `-` or `_`.
    #[error("an agent id has only letters, digits, '-' and '_'")]
    Character,
}

impl AgentId {
    /// Validates `id`.
    pub fn parse(id: impl Into<String>) -> Result<AgentId, AgentIdError> {
        let id = id.into();
        if !(MIN_LEN..=MAX_LEN).contains(&id.len()) {
            return Err(AgentIdError::Length);
        }
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(AgentIdError::Character);
        }
        Ok(AgentId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for AgentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for AgentId {
    type Err = AgentIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentId::parse(s)
    }
}

impl<'de> Deserialize<'de> for AgentId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        AgentId::parse(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_ids_agents_generate() {
        for id in [
            // The Go agent's GenerateAgentID and trmm-agent's: 40 random ASCII letters.
            "zJrPuWMyXbGsRoqAcTnyeQLvXkqdIXzaNnkPUkBm",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn",
            // Older agents: the random part, then the hostname.
            "ZxcvbnmasdfghjklqwertyuiopZxcvbnmasdfghj-DESKTOP-4F2A_01",
        ] {
            let parsed = AgentId::parse(id).unwrap();
            assert_eq!((parsed.as_str(), parsed.to_string()), (id, id.to_owned()));
        }
        assert!(AgentId::parse("a".repeat(MAX_LEN)).is_ok());
    }

    #[test]
    fn refuses_ids_that_could_never_connect_or_be_deleted() {
        let base = "zJrPuWMyXbGsRoqAcTnyeQLvXkqdIXzaNnkPUkB";
        assert_eq!(AgentId::parse(""), Err(AgentIdError::Length));
        assert_eq!(AgentId::parse("agentA"), Err(AgentIdError::Length));
        assert_eq!(AgentId::parse(&base[..39]), Err(AgentIdError::Length));
        assert_eq!(AgentId::parse("a".repeat(MAX_LEN + 1)), Err(AgentIdError::Length));
        for bad in [
            "/", ".", "*", ">", "$", " ", "\t", "\n", "\0", "\u{7f}", "é", "%", "\\", "?", "#",
        ] {
            assert_eq!(
                AgentId::parse(format!("{base}{bad}")),
                Err(AgentIdError::Character),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deserializing_validates() {
        let ok: AgentId = serde_json::from_str("\"zJrPuWMyXbGsRoqAcTnyeQLvXkqdIXzaNnkPUkBm\"").unwrap();
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            "\"zJrPuWMyXbGsRoqAcTnyeQLvXkqdIXzaNnkPUkBm\""
        );
        let err = serde_json::from_str::<AgentId>("\"zJrPuWMyXbGsRoqAcTnyeQLvXkqdIXzaNnkPUk.>\"").unwrap_err();
        assert!(err.to_string().contains("only letters, digits"), "{err}");
    }
}
