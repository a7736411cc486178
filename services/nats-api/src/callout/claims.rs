//! The claim bodies of the auth callout exchange (nats-io/jwt v2 `authorization_claims.go`,
//! `user_claims.go`, `types.go`): the server's request, our response and the user JWT inside it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `aud` of every authorization request the server sends.
pub const REQUEST_AUDIENCE: &str = "nats-authorization-request";

/// `nats` of an authorization request (`jwt.AuthorizationRequest`); fields we do not use are skipped.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthRequest {
    /// The server asking.
    pub server_id: ServerId,
    /// Public user nkey the server generated for this connection; the answer must be about it.
    pub user_nkey: String,
    /// Who connects.
    #[serde(default)]
    pub client_info: ClientInfo,
    /// What the client sent in CONNECT.
    #[serde(default)]
    pub connect_opts: ConnectOpts,
}

/// `jwt.ServerID`.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerId {
    /// Public server nkey: the request's signer and the response's audience.
    pub id: String,
    /// Public curve key the response may be encrypted for.
    #[serde(default)]
    pub xkey: String,
}

/// `jwt.ClientInformation`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientInfo {
    /// Remote address.
    #[serde(default)]
    pub host: String,
    /// Connection id (`cid` in CONNZ).
    #[serde(default)]
    pub id: u64,
}

/// `jwt.ConnectOptions`.
#[derive(Clone, Default, Deserialize)]
pub struct ConnectOpts {
    /// CONNECT `user`: the agent id.
    #[serde(default)]
    pub user: String,
    /// CONNECT `pass`: the agent token.
    #[serde(default)]
    pub pass: String,
    /// CONNECT `name`.
    #[serde(default)]
    pub name: String,
}

impl std::fmt::Debug for ConnectOpts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOpts")
            .field("user", &self.user)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `nats` of an authorization response (`jwt.AuthorizationResponse`): a user JWT or an error.
#[derive(Debug, Clone, Serialize)]
pub struct AuthResponse {
    /// The user JWT when allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Why not, when refused (the server logs it; the client only sees "Authorization Violation").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(rename = "type")]
    claim_type: &'static str,
    version: u8,
}

impl AuthResponse {
    /// Lets the connection in as the user of `jwt`.
    pub fn allow(jwt: String) -> Self {
        AuthResponse {
            jwt: Some(jwt),
            error: None,
            claim_type: "authorization_response",
            version: 2,
        }
    }

    /// Refuses the connection.
    pub fn deny(error: &str) -> Self {
        AuthResponse {
            jwt: None,
            error: Some(error.to_owned()),
            claim_type: "authorization_response",
            version: 2,
        }
    }
}

/// `nats` of a user JWT (`jwt.User`).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Subjects it may publish to.
    #[serde(rename = "pub")]
    pub publish: Permission,
    /// Subjects it may subscribe to.
    #[serde(rename = "sub")]
    pub subscribe: Permission,
    /// Replies to requests it received (allow_responses).
    pub resp: ResponsePermission,
    /// No limit (-1) on subscriptions, data and payload beyond the server's own.
    subs: i64,
    data: i64,
    payload: i64,
    #[serde(rename = "type")]
    claim_type: &'static str,
    version: u8,
}

/// `jwt.Permission`.
#[derive(Debug, Clone, Serialize)]
pub struct Permission {
    /// Allowed subjects.
    pub allow: Vec<String>,
}

/// `jwt.ResponsePermission`: `ttl` is a Go `time.Duration`, i.e. nanoseconds.
#[derive(Debug, Clone, Serialize)]
pub struct ResponsePermission {
    /// Replies allowed per received request.
    pub max: u32,
    /// How long after the request a reply is allowed, in nanoseconds.
    pub ttl: u64,
}

impl User {
    /// What an agent may do: publish on `<id>` and `<id>.>`, subscribe to `<id>`, and answer each
    /// request it received once within `reply_window` (Tactical RMM's `nats-rmm.conf`, minus the
    /// publish-anything of `tacticalrmm`).
    pub fn agent(agent_id: &str, reply_window: Duration) -> Self {
        User {
            publish: Permission {
                allow: vec![agent_id.to_owned(), format!("{agent_id}.>")],
            },
            subscribe: Permission {
                allow: vec![agent_id.to_owned()],
            },
            resp: ResponsePermission {
                max: 1,
                ttl: u64::try_from(reply_window.as_nanos()).unwrap_or(u64::MAX),
            },
            subs: -1,
            data: -1,
            payload: -1,
            claim_type: "user",
            version: 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_user_has_the_agent_permissions() {
        let user = serde_json::to_value(User::agent("ABC", Duration::from_secs(60))).unwrap();
        assert_eq!(
            user,
            serde_json::json!({
                "pub": {"allow": ["ABC", "ABC.>"]},
                "sub": {"allow": ["ABC"]},
                "resp": {"max": 1, "ttl": 60_000_000_000u64},
                "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2
            })
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let opts = ConnectOpts {
            user: "u".into(),
            pass: "secret".into(),
            name: "n".into(),
        };
        assert!(!format!("{opts:?}").contains("secret"));
    }
}
