//! `/core/` (TRMM core/views.py; server-api.md 3.7, 5.1–5.5): the dashboard's boot data, the monitoring status,
//! global settings and test messages, custom fields, the key store and URL actions, plus the custom field values
//! that agent, client and site edits carry.

mod customfields;
mod dashboard;
mod keystore;
mod messaging;
mod settings;
mod status;
mod urlactions;
pub(crate) mod values;

use crate::api::routes::Routes;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    cfg.configure(customfields::configure)
        .configure(dashboard::configure)
        .configure(status::configure)
        .configure(keystore::configure)
        .configure(settings::configure)
        .configure(messaging::configure)
        .configure(urlactions::configure);
}
