//! The HTTP surface (axum): routes, thin handlers, privacy-preserving request logging, CORS and
//! compression. A handler parses its parameters, calls one query function and serialises the
//! answer; no index logic lives here.

pub mod body;
pub mod error;
mod handlers;
pub mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};

use crate::index::Snapshot;

/// Shared state: the current snapshot, swapped whole on reload.
#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Text searches that may run at once (one per core). A search waits for a slot without
    /// holding a thread, so one whose client has gone is dropped before it costs anything.
    pub search_slots: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(s: Snapshot) -> Self {
        Self::shared(Arc::new(s))
    }

    /// State over a snapshot that is already shared.
    pub fn shared(s: Arc<Snapshot>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        AppState { snapshot: Arc::new(ArcSwap::new(s)), search_slots: Arc::new(tokio::sync::Semaphore::new(cores)) }
    }
}

/// The whole application router, without a socket (tests call it with `oneshot`).
pub fn router(state: AppState) -> Router {
    let cors = CorsLayer::new().allow_origin(Any).allow_methods([Method::GET, Method::HEAD, Method::OPTIONS]);
    Router::new()
        .route("/api/v1/nearest", get(handlers::nearest))
        .route("/api/v1/points", get(handlers::viewport))
        .route("/api/v1/points/{id}", get(handlers::point))
        .route("/api/v1/search", get(handlers::search))
        .route("/api/v1/domains", get(handlers::domains))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .fallback(handlers::not_found)
        .with_state(state)
        .layer(middleware::from_fn(privacy_headers))
        .layer(middleware::from_fn(log_request))
        .layer(CompressionLayer::new())
        .layer(cors)
}

/// Logs method, route template, status and latency — never the query string, the concrete path
/// (ids aside, it may carry search words), headers or the client's address.
async fn log_request(req: Request, next: Next) -> Response {
    if !tracing::enabled!(target: "sportello::access", tracing::Level::INFO) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "(unmatched)".into());
    let start = Instant::now();
    let res = next.run(req).await;
    tracing::info!(
        target: "sportello::access",
        method = %method,
        route = %route,
        status = res.status().as_u16(),
        micros = start.elapsed().as_micros() as u64,
        "request"
    );
    res
}

/// Only answers that are the same for everyone — the taxonomy and a single desk — may be cached.
/// Answers that depend on where someone is or what they look for must not be stored by browsers
/// or proxies (a shared phone or PC would keep them), nor may health checks or errors. No
/// referrer leaves the widget.
async fn privacy_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let shared = path == "/api/v1/domains" || path.starts_with("/api/v1/points/");
    let mut res = next.run(req).await;
    let cacheable = shared && res.status().is_success();
    let h = res.headers_mut();
    let cache = if cacheable { "public, max-age=300" } else { "no-store" };
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static(cache));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    res
}

/// Runs the server on `listen` until SIGINT or SIGTERM. With a bundle path, SIGHUP reloads it and
/// swaps it in atomically; a bundle that fails to load leaves the current one serving.
pub async fn serve(state: AppState, listen: SocketAddr, bundle: Option<PathBuf>, limits: server::Limits) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let local = listener.local_addr()?;
    {
        let s = state.snapshot.load();
        tracing::info!(addr = %local, source = %s.source, version = %s.version(), points = s.len(), "serving");
    }
    #[cfg(unix)]
    if let Some(dir) = bundle {
        let snap = state.snapshot.clone();
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
            while hup.recv().await.is_some() {
                let d = dir.clone();
                match tokio::task::spawn_blocking(move || Snapshot::load(&d)).await {
                    Ok(Ok(s)) => {
                        tracing::info!(version = %s.version(), points = s.len(), "bundle reloaded");
                        snap.store(Arc::new(s));
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "reload failed; still serving the previous bundle"),
                    Err(e) => tracing::error!(error = %e, "reload task failed"),
                }
            }
        });
    }
    server::run(listener, router(state), limits, shutdown()).await;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
