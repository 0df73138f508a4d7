//! Route handlers: parse, call one query function, serialise. Nothing else.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{AppState, body};
use crate::locate::client::client_address;
use crate::query::{self, DomainsRequest, LocateRequest, NearestRequest, SearchRequest, ViewportRequest, params};

fn json(bytes: Vec<u8>, content_type: &'static str) -> Response {
    let mut res = (StatusCode::OK, bytes).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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
    Ok(json(body::nearest(&s, &hits, req.place.as_ref()), GEOJSON))
}

pub async fn viewport(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = ViewportRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let v = query::viewport(&s, &req, chrono::Utc::now());
    Ok(json(body::viewport(&s, &v), GEOJSON))
}

pub async fn search(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = SearchRequest::from_query(q.as_deref())?;
    let slot = tokio::time::timeout(SEARCH_WAIT, st.search_slots.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(|_| ApiError::Internal("search slots closed".into()))?;
    let s = st.snapshot.load_full();
    let bytes = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        query::search(&s, &req, chrono::Utc::now()).map(|a| body::search(&s, &a))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("search task: {e}")))??;
    Ok(json(bytes, GEOJSON))
}

pub async fn point(State(st): State<AppState>, Path(id): Path<String>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    params::no_params(q.as_deref())?;
    let s = st.snapshot.load();
    match query::point(&s, &id) {
        Some(ord) => Ok(json(body::point(&s, ord), GEOJSON)),
        None => Err(ApiError::NotFound("no desk has this id".into())),
    }
}

pub async fn domains(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = DomainsRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let (ui, rtl, list) = query::domains(&s, &req);
    Ok(json(body::domains(&ui, rtl, &list), JSON))
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

pub async fn readyz(State(st): State<AppState>) -> Response {
    let s = st.snapshot.load();
    let b = serde_json::json!({"status": "ready", "bundle": s.version(), "points": s.len(), "source": s.source});
    json(b.to_string().into_bytes(), JSON)
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see the README for the API".into())
}
