//! Route registration that also records what it registers: every module adds its routes through [`Routes`],
//! so [`registered`] lists every method and path trmm-api serves, and the authorization test can insist that
//! each one has a row (a new route without one fails it).

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder};

/// One method on one path, as registered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Registered {
    /// HTTP method.
    pub method: String,
    /// actix path pattern, e.g. `/agents/{agent_id}/` or `/alerts/{pk:\d+}/`.
    pub path: String,
}

/// A route for one method, remembering which (actix's own `Route` does not say).
pub struct MethodRoute {
    method: Method,
    route: actix_web::Route,
}

impl MethodRoute {
    /// Sets the handler, as `actix_web::Route::to`.
    pub fn to<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        MethodRoute {
            method: self.method,
            route: self.route.to(handler),
        }
    }
}

macro_rules! methods {
    ($($name:ident => $method:ident),*) => {$(
        #[doc = concat!("A `", stringify!($method), "` route.")]
        pub fn $name() -> MethodRoute {
            MethodRoute { method: Method::$method, route: web::$name() }
        }
    )*};
}

methods!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

/// The app's service config (absent when only listing) and what was registered so far.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    seen: Vec<Registered>,
}

impl<'a> Routes<'a> {
    /// Registers into `cfg`.
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Routes {
            cfg: Some(cfg),
            seen: Vec::new(),
        }
    }

    /// Adds one route, as `ServiceConfig::route`.
    pub fn route(&mut self, path: &str, route: MethodRoute) -> &mut Self {
        self.seen.push(Registered {
            method: route.method.to_string(),
            path: path.to_owned(),
        });
        if let Some(cfg) = self.cfg.as_mut() {
            cfg.route(path, route.route);
        }
        self
    }

    /// Lets a submodule add its routes, as `ServiceConfig::configure`.
    pub fn configure(&mut self, f: impl FnOnce(&mut Routes<'a>)) -> &mut Self {
        f(self);
        self
    }
}

/// Every route `configure` registers, without an app.
pub fn registered(configure: impl FnOnce(&mut Routes<'_>)) -> Vec<Registered> {
    let mut routes = Routes {
        cfg: None,
        seen: Vec::new(),
    };
    configure(&mut routes);
    routes.seen
}
