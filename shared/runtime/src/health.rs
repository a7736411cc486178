//! Readiness and metrics state of a service, and the `/healthz`, `/readyz` and `/metrics` routes.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::{http::header, web, App, HttpResponse, HttpServer};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Content type of the OpenMetrics text that `/metrics` returns (Prometheus scrapes it natively).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How often services re-check a connected dependency for `/readyz`.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// How long the standalone health server waits for open connections after shutdown.
const SERVER_SHUTDOWN_TIMEOUT_SECS: u64 = 2;

/// Cheaply cloneable readiness + metrics state of one service.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    service: &'static str,
    dependencies: Mutex<BTreeMap<&'static str, bool>>,
    registry: Mutex<Registry>,
    dependency_up: Family<DependencyLabel, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabel {
    dependency: &'static str,
}

impl Health {
    /// Creates the state for `service` with no dependencies (ready) and the built-in
    /// `trmm_dependency_up{dependency=...}` gauge.
    pub fn new(service: &'static str) -> Self {
        let dependency_up = Family::<DependencyLabel, Gauge>::default();
        let mut registry = Registry::default();
        registry.register(
            "trmm_dependency_up",
            "Whether a dependency of this service is currently usable (1) or not (0)",
            dependency_up.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                service,
                dependencies: Mutex::new(BTreeMap::new()),
                registry: Mutex::new(registry),
                dependency_up,
            }),
        }
    }

    /// Name of the service this state belongs to.
    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// Records whether a named dependency ("postgres", "redis", "nats") is currently usable.
    ///
    /// The first call for a name registers it; register every dependency as `false` at startup
    /// so the service is not ready before it has connected.
    pub fn set_ready(&self, dependency: &'static str, ok: bool) {
        let previous = lock(&self.inner.dependencies).insert(dependency, ok);
        self.inner
            .dependency_up
            .get_or_create(&DependencyLabel { dependency })
            .set(i64::from(ok));
        match (previous, ok) {
            (Some(true), false) => {
                tracing::warn!(dependency, "dependency is down; service not ready")
            }
            (Some(false), true) => tracing::info!(dependency, "dependency is up"),
            _ => {}
        }
    }

    /// True iff every registered dependency is ok.
    pub fn is_ready(&self) -> bool {
        lock(&self.inner.dependencies).values().all(|ok| *ok)
    }

    /// Every registered dependency and whether it is ok, sorted by name.
    pub fn dependencies(&self) -> BTreeMap<&'static str, bool> {
        lock(&self.inner.dependencies).clone()
    }

    /// Registers a prometheus-client metric (name, help, metric) in this service's registry.
    ///
    /// Keep a clone of the metric to update it; counters get the `_total` suffix when rendered.
    pub fn register<M: Metric>(&self, name: &str, help: &str, metric: M) {
        lock(&self.inner.registry).register(name, help, metric);
    }

    /// Spawns a loop that runs `check` every `every` and records the result under `dependency`
    /// until shutdown.
    ///
    /// A check still running after `every` (or one second, if longer) counts as failed, so a hung
    /// connection cannot leave the service looking ready.
    pub fn watch<F, Fut>(&self, dependency: &'static str, every: Duration, shutdown: CancellationToken, check: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        let health = self.clone();
        let limit = every.max(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let ok = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    result = tokio::time::timeout(limit, check()) => result.unwrap_or(false),
                };
                health.set_ready(dependency, ok);
            }
        });
    }

    fn render_metrics(&self) -> Result<String, std::fmt::Error> {
        let mut body = String::new();
        encode(&mut body, &lock(&self.inner.registry))?;
        Ok(body)
    }
}

/// [`Health::register`]s a clone of each metric: `register_metrics!(health; "name", "help" => metric; ...)`.
#[macro_export]
macro_rules! register_metrics {
    ($health:expr; $($name:literal, $help:literal => $metric:expr;)*) => {
        $($health.register($name, $help, $metric.clone());)*
    };
}

/// Adds GET /healthz, /readyz and /metrics to an actix-web app (`App::new().configure(configure(health))`).
pub fn configure(health: Health) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(health))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics));
    }
}

/// Runs a standalone HTTP server with only those three routes until `shutdown` is cancelled.
///
/// Fails at once if `listen` cannot be bound.
pub async fn serve(listen: SocketAddr, health: Health, shutdown: CancellationToken) -> std::io::Result<()> {
    let server = HttpServer::new(move || App::new().configure(configure(health.clone())))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(SERVER_SHUTDOWN_TIMEOUT_SECS)
        .bind(listen)?
        .run();
    tracing::info!(%listen, "serving /healthz, /readyz and /metrics");
    let handle = server.handle();
    let stop = tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    let result = server.await;
    stop.abort();
    result
}

/// The health endpoints could not be served; the usual cause is an address already in use.
#[derive(Debug, thiserror::Error)]
#[error("serving the health endpoints on {listen} (set {variable} to a free address)")]
pub struct ServeError {
    listen: SocketAddr,
    variable: &'static str,
    #[source]
    source: std::io::Error,
}

/// [`serve`] for a service whose `listen` address comes from the setting `variable`, which its error names.
pub async fn serve_setting(
    listen: SocketAddr,
    variable: &'static str,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    serve(listen, health, shutdown).await.map_err(|source| ServeError {
        listen,
        variable,
        source,
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(health: web::Data<Health>) -> HttpResponse {
    let dependencies = health.dependencies();
    let down: Vec<&str> = dependencies
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(name, _)| *name)
        .collect();
    let states: BTreeMap<&str, &str> = dependencies
        .iter()
        .map(|(name, ok)| (*name, if *ok { "up" } else { "down" }))
        .collect();
    if down.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready", "dependencies": states }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "down": down, "dependencies": states }))
    }
}

async fn metrics(health: web::Data<Health>) -> HttpResponse {
    match health.render_metrics() {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, METRICS_CONTENT_TYPE))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "cannot render metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// A panic while holding one of these locks cannot leave the maps half-updated (single inserts),
/// so a poisoned lock is still safe to use.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
