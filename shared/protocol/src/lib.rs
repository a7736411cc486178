//! The Tactical RMM agent wire protocol as typed serde models: the JSON bodies of the agent REST API
//! (`/api/v3/...`), the msgpack messages carried over NATS, and the interpretation of agent-reported
//! inventory; plus the server's own dashboard events (`events`), which travel over NATS too.

mod agent_id;
pub mod calls;
pub mod checks;
pub mod events;
pub mod hardware;
pub mod nats;
pub mod rest;

pub use agent_id::{AgentId, AgentIdError};
