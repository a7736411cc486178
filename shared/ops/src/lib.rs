//! Agent work implemented once for every service that does it (trmm-api, trmm-websocket, trmm-worker): what a
//! command or script request is and how its run starts, sending it or queueing it for an offline agent, bulk
//! runs, template expansion, how an agent's result is recorded, and the dashboard events those changes publish.

pub mod alerts;
pub mod bulk;
pub mod checks;
pub mod command;
mod error;
pub mod events;
pub mod queue;
pub mod record;
pub mod script;
pub mod templates;

pub use error::OpsError;
pub use queue::{Delivered, JobQueue, Ops};
