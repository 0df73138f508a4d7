//! The HTTP surface (axum): routes, thin handlers, privacy-preserving request logging, the
//! per-client rate limit, CORS and compression. A handler parses its parameters, calls one query function and serialises the
//! answer; no index logic lives here.

pub mod admin;
pub mod basemap;
pub mod body;
pub mod encoding;
pub mod error;
mod handlers;
pub mod limit;
pub mod metrics;
pub mod openapi;
pub mod ogc;
pub mod ogc_api;
pub mod pages;
pub mod precompressed;
pub mod server;
pub mod widget;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::index::Snapshot;
use crate::index::bundle::Verification;
use crate::locate::GeoIp;
use crate::locate::client::{TrustedProxies, client_address};
use limit::{RateLimit, RateQuota};

/// Shared state: the current snapshot and IP databases, each swapped whole on reload.
#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// The IP-location databases (none by default).
    pub geoip: Arc<ArcSwap<GeoIp>>,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` headers are believed.
    pub trusted: Arc<TrustedProxies>,
    /// Text searches that may run at once (one per core). A search waits for a slot without
    /// holding a thread, so one whose client has gone is dropped before it costs anything.
    pub search_slots: Arc<tokio::sync::Semaphore>,
    /// The per-client request rate limit (none: unlimited).
    pub rate_limit: Option<Arc<RateLimit>>,
    /// The web origins allowed to read answers from their pages (none: every origin).
    pub cors_origins: Option<Arc<Vec<HeaderValue>>>,
    /// When the snapshot served was swapped in.
    pub loaded_at: Arc<ArcSwap<chrono::DateTime<chrono::Utc>>>,
    /// What `/metrics` exposes.
    pub metrics: Arc<metrics::Metrics>,
    /// The operator's PMTiles base map (`serve --basemap`), swapped whole on reload.
    pub basemap: Arc<arc_swap::ArcSwapOption<crate::basemap::Basemap>>,
}

impl AppState {
    pub fn new(s: Snapshot) -> Self {
        Self::shared(Arc::new(s))
    }

    /// State over a snapshot that is already shared.
    pub fn shared(s: Arc<Snapshot>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        AppState {
            snapshot: Arc::new(ArcSwap::new(s)),
            geoip: Arc::new(ArcSwap::from_pointee(GeoIp::default())),
            trusted: Arc::new(TrustedProxies::default()),
            search_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            rate_limit: None,
            cors_origins: None,
            loaded_at: Arc::new(ArcSwap::from_pointee(chrono::Utc::now())),
            metrics: Arc::new(metrics::Metrics::default()),
            basemap: Arc::new(arc_swap::ArcSwapOption::empty()),
        }
    }

    /// The same state with IP-location databases and trusted proxies.
    pub fn with_locate(mut self, geoip: GeoIp, trusted: TrustedProxies) -> Self {
        self.geoip = Arc::new(ArcSwap::from_pointee(geoip));
        self.trusted = Arc::new(trusted);
        self
    }

    /// The same state with answers readable only from the pages of `origins` (each
    /// `scheme://host[:port]`, checked by [`parse_origin`]); an empty list allows every origin.
    pub fn with_cors_origins(mut self, origins: Vec<HeaderValue>) -> Self {
        self.cors_origins = (!origins.is_empty()).then(|| Arc::new(origins));
        self
    }

    /// The same state serving `map` at `/basemap/operator.pmtiles`.
    pub fn with_basemap(mut self, map: Option<crate::basemap::Basemap>) -> Self {
        self.basemap = Arc::new(arc_swap::ArcSwapOption::new(map.map(Arc::new)));
        self
    }

    /// The same state with a per-client rate limit.
    pub fn with_rate_limit(mut self, quota: Option<RateQuota>) -> Self {
        self.rate_limit = quota.map(|q| Arc::new(RateLimit::new(q)));
        self
    }
}

/// The whole application router, without a socket (tests call it with `oneshot`).
pub fn router(state: AppState) -> Router {
    let origins = match &state.cors_origins {
        Some(list) => AllowOrigin::list(list.iter().cloned()),
        None => AllowOrigin::from(Any),
    };
    let cors = CorsLayer::new().allow_origin(origins).allow_methods([Method::GET, Method::HEAD, Method::OPTIONS]);
    Router::new()
        .route("/api/v1/nearest", get(handlers::nearest))
        .route("/api/v1/points", get(handlers::viewport))
        .route("/api/v1/points/{id}", get(handlers::point))
        .route("/api/v1/search", get(handlers::search))
        .route("/api/v1/domains", get(handlers::domains))
        .route("/api/v1/locate", get(handlers::locate))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(handlers::openapi))
        .route("/", get(pages::root))
        .route("/list", get(pages::list))
        .route("/d/{id}", get(pages::desk))
        .route("/assets/pages.css", get(pages::css))
        .route("/tiles/tiles.json", get(handlers::tilejson))
        .route("/tiles/{z}/{x}/{y}", get(handlers::tile))
        .route("/basemap/operator.pmtiles", get(basemap::file))
        .route("/basemap/operator.json", get(basemap::info))
        .route("/ogc", get(ogc::landing))
        // OWSLib asks for the landing page with a trailing slash.
        .route("/ogc/", get(ogc::landing))
        .route("/ogc/conformance", get(ogc::conformance))
        .route("/ogc/api", get(ogc::api))
        .route("/ogc/collections", get(ogc::collections))
        .route("/ogc/collections/{collection_id}", get(ogc::collection_doc))
        .route("/ogc/collections/{collection_id}/items", get(ogc::items))
        .route("/ogc/collections/{collection_id}/items/{feature_id}", get(ogc::item))
        .route("/widget.js", get(widget::js))
        .route("/widget.css", get(widget::css))
        .route("/widget/operator-basemap.js", get(widget::operator_basemap_js))
        .route("/widget/ui/{file}", get(widget::ui))
        .route("/widget/today", get(widget::today))
        .route("/basemap/natural-earth/{z}/{x}/{y}", get(widget::basemap_tile))
        .route("/demo", get(widget::demo))
        .route("/embed", get(widget::embed))
        .fallback(handlers::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), refuse_damaged))
        .with_state(state.clone())
        .layer(middleware::from_fn(privacy_headers))
        .layer(middleware::from_fn_with_state(state, observe))
        // On-the-fly compression at the fastest level, for answers not joined from precompressed
        // desks (see `encoding`); it leaves an answer that has a Content-Encoding alone. Never a
        // PMTiles file: its Range answers address the file's own bytes.
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(DefaultPredicate::new().and(NotForContentType::const_new(basemap::PMTILES))),
        )
        .layer(cors)
}

/// Counts the request in the metrics and logs method, route template, status and latency —
/// never the query string, the concrete path (ids aside, it may carry search words), headers or
/// the client's address.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = metrics::route_index(req.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let start = Instant::now();
    let res = next.run(req).await;
    let elapsed = start.elapsed();
    st.metrics.request(route, res.status().as_u16(), elapsed.as_secs_f64());
    // An extension method is any token a client likes, so it is logged only as "OTHER".
    let known = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS, Method::PATCH];
    let method = if known.contains(&method) { method.as_str() } else { "OTHER" };
    crate::logging::access(method, metrics::ROUTES[route], res.status().as_u16(), elapsed.as_micros() as u64);
    res
}

/// Answers `503` to every request but the probes and the metrics once the bundle served has
/// failed its check ([`Snapshot::verify`], run after the first start): a damaged bundle serves
/// nothing more until a reload swaps in a good one. Why is logged, and given by `/readyz`.
async fn refuse_damaged(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path != "/healthz" && path != "/readyz" && path != "/metrics" && matches!(st.snapshot.load().verification(), Verification::Failed(_)) {
        return error::problem(StatusCode::SERVICE_UNAVAILABLE, "Bundle damaged", "the data this server loaded failed its check; it answers again once the operator reloads a good bundle", None);
    }
    next.run(req).await
}

/// Answers `429` with `Retry-After` to a client over its quota. Health and readiness probes are
/// never limited (a load balancer's probes all come from a few addresses), nor requests that did
/// not come through a socket (tests calling the router directly).
async fn rate_limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limiter) = st.rate_limit.as_deref() else { return next.run(req).await };
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" || path == "/metrics" {
        return next.run(req).await;
    }
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return next.run(req).await;
    };
    let headers = req.headers();
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    // Behind a trusted proxy, the forwarded client; when the proxy hid it, the proxy itself.
    let client = client_address(peer.ip(), header(header::FORWARDED), header(header::HeaderName::from_static("x-forwarded-for")), &st.trusted)
        .unwrap_or(peer.ip());
    match limiter.check(client) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            st.metrics.rate_limited.inc();
            let secs = limit::retry_after_secs(wait);
            let detail = format!("too many requests from this address; try again in {secs} s");
            let mut res = error::problem(StatusCode::TOO_MANY_REQUESTS, "Too many requests", &detail, None);
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            res
        }
    }
}

/// Only answers that are the same for everyone — the taxonomy, a single desk, tiles — may be cached.
/// Answers that depend on where someone is or what they look for must not be stored by browsers
/// or proxies (a shared phone or PC would keep them), nor may health checks or errors. No
/// referrer leaves the widget.
async fn privacy_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let shared = path == "/api/v1/domains"
        || path.starts_with("/api/v1/points/")
        || path.starts_with("/d/")
        || path.starts_with("/assets/")
        || path.starts_with("/tiles/")
        || path.starts_with("/basemap/operator.")
        || path == "/widget.js"
        || path == "/widget.css"
        || path == "/widget/operator-basemap.js"
        || path.starts_with("/widget/ui/")
        || path.starts_with("/basemap/natural-earth/");
    let mut res = next.run(req).await;
    let cacheable = shared && (res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED);
    let h = res.headers_mut();
    let cache = if cacheable { "public, max-age=300" } else { "no-store" };
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static(cache));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    // Answers are data, never pages: nothing in them may run, load or be framed. HTML pages
    // bring their own policy (see `pages::PAGE_CSP`).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    }
    res
}

/// A partner origin for `--cors-origin`: `scheme://host[:port]` with scheme `https` or `http`,
/// nothing after it (a trailing `/` is dropped), as browsers send it in `Origin`.
pub fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let t = text.trim().trim_end_matches('/');
    let u = url::Url::parse(t).map_err(|e| format!("{text:?} is not an origin: {e}"))?;
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
        return Err(format!("{text:?} is not an origin: give scheme and host, e.g. https://www.comune.pordenone.it"));
    }
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err(format!("{text:?} is not an origin: it has more than scheme, host and port"));
    }
    let origin = u.origin().ascii_serialization();
    HeaderValue::from_str(&origin).map_err(|e| format!("{text:?}: {e}"))
}

/// What `serve` reloads on SIGHUP: the bundle directory, the IP-location database files and
/// the operator's base map.
#[derive(Debug, Clone, Default)]
pub struct Reloadable {
    pub bundle: Option<PathBuf>,
    pub geoip: Vec<PathBuf>,
    pub basemap: Option<PathBuf>,
}

/// The admin listener's address and token.
pub struct AdminListen {
    pub listen: SocketAddr,
    pub token: admin::AdminToken,
}

/// Runs the server on `listen` until SIGINT or SIGTERM. SIGHUP, and `POST /admin/reload` on the
/// admin listener when there is one, reload the bundle and the IP databases and swap each in
/// atomically; one that fails to load leaves the current one serving.
pub async fn serve(state: AppState, listen: SocketAddr, reload: Reloadable, limits: server::Limits, admin: Option<AdminListen>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let local = listener.local_addr()?;
    if let Some(a) = admin {
        let admin_listener = tokio::net::TcpListener::bind(a.listen).await?;
        tracing::info!(addr = %admin_listener.local_addr()?, "admin listener");
        let app = admin::router(state.clone(), reload.clone(), a.token);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin_listener, app).await {
                tracing::error!(error = %e, "admin listener failed");
            }
        });
    }
    {
        let s = state.snapshot.load();
        tracing::info!(addr = %local, source = %s.source, version = %s.version(), points = s.len(), "serving");
        for db in state.geoip.load().describe() {
            tracing::info!(database = %db, "IP location");
        }
    }
    #[cfg(unix)]
    if reload.bundle.is_some() || !reload.geoip.is_empty() || reload.basemap.is_some() {
        let st = state.clone();
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
            while hup.recv().await.is_some() {
                reload_all(&st, &reload).await;
            }
        });
    }
    if let Some(limiter) = state.rate_limit.clone() {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                let l = limiter.clone();
                let _ = tokio::task::spawn_blocking(move || l.forget_idle()).await;
            }
        });
    }
    let shed = state.metrics.shed.clone();
    server::run(listener, router(state), limits, shed, shutdown()).await;
    Ok(())
}

/// Loads again what `what` names and swaps in each part that loads; returns why the others were
/// refused (they keep serving the previous version). Logs the outcome, never request data.
async fn reload_all(st: &AppState, what: &Reloadable) -> Vec<String> {
    let mut refused = Vec::new();
    if let Some(dir) = what.bundle.clone() {
        match tokio::task::spawn_blocking(move || Snapshot::load(&dir)).await {
            Ok(Ok(s)) => {
                tracing::info!(version = %s.version(), points = s.len(), "bundle reloaded");
                st.snapshot.store(Arc::new(s));
                st.loaded_at.store(Arc::new(chrono::Utc::now()));
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reload failed; still serving the previous bundle");
                refused.push(format!("bundle refused, the previous one still serves: {e}"));
            }
            Err(e) => {
                tracing::error!(error = %e, "reload task failed");
                refused.push(format!("bundle reload failed: {e}"));
            }
        }
    }
    if !what.geoip.is_empty() {
        let files = what.geoip.clone();
        match tokio::task::spawn_blocking(move || GeoIp::open(&files)).await {
            Ok(Ok(g)) => {
                tracing::info!(databases = g.describe().len(), "IP databases reloaded");
                st.geoip.store(Arc::new(g));
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "IP database reload failed; still using the previous ones");
                refused.push(format!("IP databases refused, the previous ones still serve: {e}"));
            }
            Err(e) => {
                tracing::error!(error = %e, "reload task failed");
                refused.push(format!("IP database reload failed: {e}"));
            }
        }
    }
    if let Some(path) = what.basemap.clone() {
        match tokio::task::spawn_blocking(move || crate::basemap::Basemap::open(&path)).await {
            Ok(Ok(m)) => {
                tracing::info!(tile_type = m.info.tile_type, bytes = m.len, "base map reloaded");
                st.basemap.store(Some(Arc::new(m)));
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "base map reload failed; still serving the previous one");
                refused.push(format!("base map refused, the previous one still serves: {e}"));
            }
            Err(e) => {
                tracing::error!(error = %e, "reload task failed");
                refused.push(format!("base map reload failed: {e}"));
            }
        }
    }
    st.metrics.reload(refused.is_empty());
    refused
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
