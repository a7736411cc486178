//! One authorization model for the services dashboard users talk to (trmm-api over REST, trmm-websocket over
//! `?access_token=` sockets): the permission markers, the session token or API key -> [`Identity`] resolution, the
//! client/site scope check and the client-IP rule. Both services call the same functions, so a user one of them
//! refuses the other refuses too, for the same reason; each service only renders a [`Denial`] its own way. API keys
//! are REST's alone: websockets take sessions only ([`authorize`]).

mod denial;
mod identity;
mod ip;
pub mod perms;
mod tokens;

pub use denial::{Denial, INVALID_TOKEN, KEY_EXPIRED, NO_CREDENTIALS, NO_PERMISSION, TOTP_REQUIRED, USER_INACTIVE};
pub use identity::{
    agent_in_scope, api_key, authorize, authorize_agent, authorize_with, session, Identity, Via, SESSION_TTL,
};
pub use ip::{client_ip, ProxyArgs};
pub use tokens::{bearer_token, credentials, query_token, Credentials, API_KEY_HEADER};
