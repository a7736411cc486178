//! Extractors for the object a `{pk}` path segment names, checked against the caller's clients and sites.

use std::future::Future;
use std::marker::PhantomData;

use actix_web::HttpRequest;
use trmm_authz::perms::Permission;
use trmm_authz::Identity;
use trmm_db::alerts::Alert;
use trmm_db::clients::ClientRow;
use trmm_db::notes::Note;
use trmm_db::pending::Action;
use trmm_db::roles::Scope;
use trmm_db::sites::SiteRow;
use trmm_db::{ClientId, DbError, SiteId};

use super::dashboard::prepare;
use crate::error::ApiError;
use crate::state::AppState;

/// What a `{pk}` path segment may name: how it is loaded and how the caller's access to it is checked.
pub trait Target: Sized + 'static {
    /// The object `pk` names, once `identity` may act on it: unknown is a 404, outside the scope a 403.
    fn resolve(identity: &Identity, db: &trmm_db::Client, pk: &str) -> impl Future<Output = Result<Self, ApiError>>;
}

/// An object that lives in one site of one client, so the role's client/site lists decide who may touch it.
pub trait ScopedObject: Sized + 'static {
    /// Loads the object a `{pk}` path segment names; `None` (a 404) when it does not exist or `pk` cannot be
    /// one of its ids.
    fn load(db: &trmm_db::Client, pk: &str) -> impl Future<Output = Result<Option<Self>, DbError>>;
    /// The client and site the object belongs to.
    fn place(&self) -> (ClientId, SiteId);
}

impl<T: ScopedObject> Target for T {
    async fn resolve(identity: &Identity, db: &trmm_db::Client, pk: &str) -> Result<Self, ApiError> {
        let target = T::load(db, pk).await?.ok_or(ApiError::NotFound)?;
        let (client, site) = target.place();
        identity.allow_site(client, site)?;
        Ok(target)
    }
}

/// Objects fetched by their id, placed by their client field and the given site field.
macro_rules! scoped_by_id {
    ($($ty:ty: $get:path, $site:ident;)*) => {$(
        impl ScopedObject for $ty {
            async fn load(db: &trmm_db::Client, pk: &str) -> Result<Option<Self>, DbError> {
                let Ok(id) = pk.parse() else { return Ok(None) };
                $get(db, id).await
            }

            fn place(&self) -> (ClientId, SiteId) {
                (self.client, self.$site)
            }
        }
    )*};
}

scoped_by_id! {
    SiteRow: trmm_db::sites::get, id;
    Note: trmm_db::notes::get, site;
    Action: trmm_db::pending::get, site;
}

/// A check, placed by its agent. Policy checks (the policies issue) have no agent: only unrestricted users
/// reach them.
impl ScopedObject for trmm_db::checks::Check {
    async fn load(db: &trmm_db::Client, pk: &str) -> Result<Option<Self>, DbError> {
        let Ok(id) = pk.parse() else { return Ok(None) };
        trmm_db::checks::get(db, trmm_db::checks::CheckId(id)).await
    }

    fn place(&self) -> (ClientId, SiteId) {
        (self.client.unwrap_or(ClientId(0)), self.site.unwrap_or(SiteId(0)))
    }
}

/// A check's result on one agent (the `pk` of reset and history URLs).
impl ScopedObject for trmm_db::checks::CheckResultRow {
    async fn load(db: &trmm_db::Client, pk: &str) -> Result<Option<Self>, DbError> {
        let Ok(id) = pk.parse() else { return Ok(None) };
        trmm_db::checks::get_result(db, trmm_db::checks::ResultId(id)).await
    }

    fn place(&self) -> (ClientId, SiteId) {
        (self.client, self.site)
    }
}

/// An alert is placed by its agent; custom alerts have none and are open to every role (upstream
/// alerts/permissions.py::_has_perm_on_alert).
impl Target for Alert {
    async fn resolve(identity: &Identity, db: &trmm_db::Client, pk: &str) -> Result<Self, ApiError> {
        let id = pk.parse().map_err(|_| ApiError::NotFound)?;
        let alert = trmm_db::alerts::get(db, id).await?.ok_or(ApiError::NotFound)?;
        if let (Some(client), Some(site)) = (alert.client, alert.site) {
            identity.allow_site(client, site)?;
        }
        Ok(alert)
    }
}

/// The `{pk}` path segment (routes without one name nothing: 404).
fn pk(req: &HttpRequest) -> Result<String, ApiError> {
    req.match_info().get("pk").map(str::to_owned).ok_or(ApiError::NotFound)
}

/// A user with permission `P` and the object `T` named by `{pk}`, inside the user's clients/sites (for scoped
/// objects, TRMM `_has_perm_on_site` through the object's site).
pub struct Scoped<P: Permission, T: Target> {
    /// Who is calling.
    pub identity: Identity,
    /// Shared state.
    pub state: AppState,
    /// The object.
    pub target: T,
    _perm: PhantomData<P>,
}

/// A site named by `{pk}` that the user may see.
pub type ScopedSite<P> = Scoped<P, SiteRow>;

/// A user with permission `P` acting on the whole client named by `{pk}`.
pub type ScopedClient<P> = Scoped<P, WholeClient>;

/// A user with permission `P` and the client named by `{pk}` as that user's client tree shows it.
pub type VisibleClient<P> = Scoped<P, ClientInTree>;

impl<P: Permission, T: Target> Scoped<P, T> {
    /// The session, the permission and the object, on one pooled connection.
    async fn resolve(req: &HttpRequest) -> Result<Self, ApiError> {
        let (state, db, credentials) = prepare(req).await?;
        let ip = super::client_ip(req, &state);
        let identity = trmm_authz::authorize_with::<P>(&db, credentials, ip, state.now()).await?;
        let target = T::resolve(&identity, &db, &pk(req)?).await?;
        Ok(Scoped {
            identity,
            state,
            target,
            _perm: PhantomData,
        })
    }
}

from_request_by!(impl<P: Permission, T: Target> Scoped<P, T> => Scoped::<P, T>::resolve);

fn client_id(pk: &str) -> Result<ClientId, ApiError> {
    pk.parse().map(ClientId).map_err(|_| ApiError::NotFound)
}

/// A client with all its sites, which the user's role must hold as a whole (TRMM `_has_perm_on_client`): a role
/// holding only some of its sites gets a 403 (checked before existence, as upstream's permission class), an
/// unknown client a 404.
pub struct WholeClient(pub ClientRow);

impl Target for WholeClient {
    async fn resolve(identity: &Identity, db: &trmm_db::Client, pk: &str) -> Result<Self, ApiError> {
        let id = client_id(pk)?;
        identity.allow_client(id)?;
        let client = trmm_db::clients::get(db, id, &Scope::all()).await?;
        client.map(WholeClient).ok_or(ApiError::NotFound)
    }
}

/// A client visible when granted as a whole or when one of its sites is (TRMM `filter_by_role` for Client: the
/// parent of a visible site is visible too), carrying only the user's sites.
pub struct ClientInTree(pub ClientRow);

impl Target for ClientInTree {
    async fn resolve(identity: &Identity, db: &trmm_db::Client, pk: &str) -> Result<Self, ApiError> {
        let id = client_id(pk)?;
        let client = trmm_db::clients::get(db, id, &identity.visibility())
            .await?
            .ok_or(ApiError::NotFound)?;
        if client.sites.is_empty() {
            identity.allow_client(id)?;
        }
        Ok(ClientInTree(client))
    }
}
