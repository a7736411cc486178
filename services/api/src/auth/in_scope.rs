//! Ids that arrive in a request body or query (a target site, a bulk run's client) rather than in the path:
//! the row is only handed out once the caller's scope allows it, so a handler cannot use it unchecked.

pub use trmm_authz::agent_in_scope as agent;
use trmm_authz::{Denial, Identity};
use trmm_db::sites::SiteRow;
use trmm_db::{ClientId, GenericClient, SiteId};

/// The site `id` if it exists ([`Denial::NotFound`] otherwise) and the caller may see it
/// ([`Denial::NoPermission`] otherwise).
pub async fn site(db: &impl GenericClient, who: &Identity, id: SiteId) -> Result<SiteRow, Denial> {
    let site = trmm_db::sites::get(db, id).await?.ok_or(Denial::NotFound)?;
    who.allow_site(site.client, site.id)?;
    Ok(site)
}

/// The client `id` if the caller's role grants it as a whole (TRMM `_has_perm_on_client`).
pub fn client(who: &Identity, id: ClientId) -> Result<ClientId, Denial> {
    who.allow_client(id)?;
    Ok(id)
}
