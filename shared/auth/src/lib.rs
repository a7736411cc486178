//! Secrets handling: argon2id passwords and their minimum strength, random bearer tokens stored only as SHA-256
//! digests, and TOTP.

mod password;
mod strength;
mod token;
mod totp;

pub use password::{hash_password, verify_password, PasswordError};
pub use strength::{password_problems, MIN_LENGTH};
pub use token::{
    digest_token, generate_agent_id, generate_agent_token, generate_api_key, generate_token, token_matches, TokenDigest,
};
pub use totp::{generate_totp_secret, totp_code, verify_totp, TotpError};
