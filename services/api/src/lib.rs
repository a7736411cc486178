//! trmm-api: Tactical RMM's dashboard REST API and agent REST API over Postgres.

/// Chains the five routes of a resource onto `$cfg`: list and create at `$list`, get, update and delete at
/// `$list` + `$one`, served by the calling module's functions of those names.
macro_rules! resource_routes {
    ($cfg:expr, $list:literal, $one:literal) => {
        $cfg.route($list, $crate::api::routes::get().to(list))
            .route($list, $crate::api::routes::post().to(create))
            .route(concat!($list, $one), $crate::api::routes::get().to(get))
            .route(concat!($list, $one), $crate::api::routes::put().to(update))
            .route(concat!($list, $one), $crate::api::routes::delete().to(delete))
    };
}

pub mod api;
pub mod auth;
pub mod config;
pub mod debug_log;
pub mod error;
pub mod json;
mod nul;
mod ratelimit;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;
pub mod version;

/// The injectable clock, shared by every service; re-exported for this crate's users.
pub use trmm_runtime::clock;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{middleware, web, App, HttpServer};
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use trmm_runtime::health::{self, Health};

use crate::state::AppState;

/// Name used in logs and metrics.
pub const SERVICE: &str = "trmm-api";

/// Connects to Redis in the background, retrying with backoff, and keeps the `redis` readiness current.
/// The API serves meanwhile; only rate limiting waits for Redis (and limits per process until then).
pub fn connect_redis(
    redis: &trmm_deps::RedisArgs,
    cell: Arc<OnceCell<ConnectionManager>>,
    health: &Health,
    shutdown: CancellationToken,
) {
    match redis.client() {
        Ok(client) => trmm_deps::redis::connect_in_background(client, cell, health, shutdown),
        Err(e) => {
            health.set_ready(trmm_deps::redis::DEPENDENCY, false);
            tracing::error!(error = %e, "login rate limits are per process only");
        }
    }
}

/// Binds the API on `listen` and returns the bound address and the server future; the server stops
/// gracefully when `shutdown` is cancelled.
pub fn bind(
    state: AppState,
    listen: SocketAddr,
    health: Health,
    workers: Option<usize>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let data = web::Data::new(state);
    let throttle = web::Data::new(debug_log::Throttle::default());
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(throttle.clone())
            .wrap(middleware::from_fn(debug_log::agent_failures))
            .wrap(middleware::from_fn(auth::refuse_api_keys))
            .wrap(middleware::from_fn(nul::reject_in_url))
            .wrap(
                middleware::Logger::new("%a \"%r\" %s %b %Dms")
                    .exclude("/healthz")
                    .exclude("/readyz"),
            )
            .configure(health::configure(health.clone()))
            .configure(api::configure)
    })
    .disable_signals()
    .shutdown_timeout(10)
    .client_request_timeout(Duration::from_secs(15));
    if let Some(n) = workers {
        server = server.workers(n);
    }
    let server = server.bind(listen)?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    Ok((addr, server))
}
