//! `/core/customfields/` and `/core/keystore/` (TRMM core/views.py; server-api.md 3.7, 5.2, 5.4), plus the
//! custom field values that agent, client and site edits carry.

mod customfields;
mod keystore;
pub(crate) mod values;

use actix_web::web;

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(customfields::configure).configure(keystore::configure);
}
