//! trmm-notify: how trmm-rs reaches people. Mail over SMTP ([`mail`]), SMS through Twilio's REST API ([`sms`]) and
//! webhooks from URL actions ([`webhook`]), each failing with a [`NotifyError`] that says whether a retry may
//! help; plus the encryption of the SMTP password and Twilio token at rest ([`secret`]).
//!
//! [`Notifier`] is what a service holds: built once from [`NotifyArgs`], it loads the core settings, decrypts
//! their secrets and hands out a ready [`mail::Mailer`] or [`sms::Twilio`].

mod error;
pub mod mail;
mod notifier;
pub mod secret;
pub mod sms;
pub mod webhook;

pub use error::NotifyError;
pub use notifier::{ConfigError, Notifier, NotifyArgs};
pub use secret::{SecretError, SecretKey};
