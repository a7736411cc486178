//! Agent work implemented once for every service that does it (trmm-api, trmm-websocket, trmm-worker): what a
//! shell command request is and how its run starts, and how an agent's result is recorded.

pub mod command;
pub mod record;
