//! Route handlers: parse, call one query function, serialise. Nothing else.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{AppState, body};
use crate::index::Snapshot;
use crate::locate::client::client_address;
use crate::query::{self, DomainsRequest, LocateRequest, NearestRequest, SearchRequest, ViewportRequest, params};

fn json(bytes: Vec<u8>, content_type: &'static str) -> Response {
    let mut res = (StatusCode::OK, bytes).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// The header naming the bundle version an answer was made from.
pub const BUNDLE_VERSION: &str = "x-bundle-version";

/// An answer made from snapshot `s`, naming its bundle version.
fn from_bundle(s: &Snapshot, bytes: Vec<u8>, content_type: &'static str) -> Response {
    let mut res = json(bytes, content_type);
    name_version(&mut res, s);
    res
}

fn name_version(res: &mut Response, s: &Snapshot) {
    if let Ok(v) = HeaderValue::from_str(s.version()) {
        res.headers_mut().insert(BUNDLE_VERSION, v);
    }
}

/// An answer that is the same for everyone for one bundle version (the taxonomy, one desk):
/// its `ETag` is the version, and a request whose `If-None-Match` holds it gets `304`.
fn cacheable(s: &Snapshot, request: &HeaderMap, make: impl FnOnce() -> Vec<u8>, content_type: &'static str) -> Response {
    let etag = format!("\"{}\"", s.version());
    let fresh = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').map(str::trim).any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag.as_str()))
    });
    let mut res = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { json(make(), content_type) };
    name_version(&mut res, s);
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

const GEOJSON: &str = "application/geo+json";
/// How long a search may wait for a free slot before the server answers 503.
const SEARCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const JSON: &str = "application/json";

pub async fn nearest(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = NearestRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let hits = query::nearest(&s, &req, chrono::Utc::now());
    Ok(from_bundle(&s, body::nearest(&s, &hits, req.place.as_ref()), GEOJSON))
}

pub async fn viewport(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = ViewportRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let v = query::viewport(&s, &req, chrono::Utc::now());
    Ok(from_bundle(&s, body::viewport(&s, &v), GEOJSON))
}

pub async fn search(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = SearchRequest::from_query(q.as_deref())?;
    let slot = tokio::time::timeout(SEARCH_WAIT, st.search_slots.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(|_| ApiError::Internal("search slots closed".into()))?;
    let s = st.snapshot.load_full();
    let used = s.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        query::search(&s, &req, chrono::Utc::now()).map(|a| body::search(&s, &a))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("search task: {e}")))??;
    Ok(from_bundle(&used, bytes, GEOJSON))
}

pub async fn point(State(st): State<AppState>, Path(id): Path<String>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    params::no_params(q.as_deref())?;
    let s = st.snapshot.load();
    match query::point(&s, &id) {
        Some(ord) => Ok(cacheable(&s, &headers, || body::point(&s, ord), GEOJSON)),
        None => Err(ApiError::NotFound("no desk has this id".into())),
    }
}

pub async fn domains(State(st): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = DomainsRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let (ui, rtl, list) = query::domains(&s, &req);
    Ok(cacheable(&s, &headers, || body::domains(&ui, rtl, &list), JSON))
}

/// `locate`: town candidates for `place=`, else the approximate position of the caller's address
/// (the peer, or behind a trusted proxy the address it forwards). The address is used for the
/// lookup and dropped; it is never logged.
pub async fn locate(
    State(st): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let req = LocateRequest::from_query(q.as_deref())?;
    if req.place.is_some() {
        return Ok(json(body::places(&query::locate_place(&req)), GEOJSON));
    }
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let client = peer.and_then(|Extension(ConnectInfo(addr))| {
        client_address(addr.ip(), header(header::FORWARDED), header(header::HeaderName::from_static("x-forwarded-for")), &st.trusted)
    });
    let found = query::locate_ip(&st.geoip.load(), client, &req.ui);
    Ok(json(body::ip_location(&found), GEOJSON))
}

pub async fn healthz() -> Response {
    json(b"{\"status\":\"ok\"}".to_vec(), JSON)
}

/// Readiness: the bundle served, when it was built and how old it is, and when it was loaded.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let s = st.snapshot.load();
    let now = chrono::Utc::now();
    let age = chrono::DateTime::parse_from_rfc3339(&s.manifest.built_at).ok().map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0));
    let b = serde_json::json!({
        "status": "ready",
        "bundle": s.version(),
        "built_at": s.manifest.built_at,
        "age_s": age,
        "loaded_at": st.loaded_at.load().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "points": s.len(),
        "source": s.source,
    });
    from_bundle(&s, b.to_string().into_bytes(), JSON)
}

/// Prometheus metrics (text format).
pub async fn metrics(State(st): State<AppState>) -> Response {
    let text = st.metrics.render(&st.snapshot.load());
    let mut res = (StatusCode::OK, text).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    res
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see the README for the API".into())
}
