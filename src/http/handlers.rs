//! Route handlers: parse, call one query function, serialise. Nothing else.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{AppState, body, encoding};
use crate::index::Snapshot;
use crate::index::bundle::Verification;
use crate::locate::client::client_address;
use crate::query::{self, DomainsRequest, LocateRequest, NearestRequest, SearchRequest, TileRequest, ViewportRequest, params};

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
    let fresh = matches_etag(request, &etag);
    let mut res = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { json(make(), content_type) };
    name_version(&mut res, s);
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// Whether the request's `If-None-Match` names `etag` (quoted) or `*`.
fn matches_etag(request: &HeaderMap, etag: &str) -> bool {
    request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').map(str::trim).any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
    })
}

/// Whether the request's `Accept-Encoding` takes gzip (named or `*`, with a weight above 0).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let weight = parts.find_map(|p| p.strip_prefix("q=")).map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && weight > 0.0
    })
}

const GEOJSON: &str = "application/geo+json";
/// How long a search may wait for a free slot before the server answers 503.
const SEARCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const JSON: &str = "application/json";

#[utoipa::path(get, path = "/api/v1/nearest", tag = "desks",
    description = "The `k` desks nearest to a position (or to a town given as `place`), nearest first by great-circle distance, each with `distance_m`.",
    params(super::openapi::Position,
        ("k" = Option<u32>, Query, minimum = 1, maximum = 100, description = "How many desks (default 10)"),
        ("max_km" = Option<f64>, Query, exclusive_minimum = 0, maximum = 20038, description = "Leave out desks farther away (km)"),
        super::openapi::Filters),
    responses(
        (status = 200, description = "Desks, nearest first", body = super::openapi::NearestAnswer, content_type = "application/geo+json"),
        (status = 400, description = "A parameter is missing, unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn nearest(State(st): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = NearestRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let hits = query::nearest(&s, &req, chrono::Utc::now());
    let answer = body::nearest_placed(&s, &hits, req.place.as_ref());
    Ok(encoding::respond(&s, &headers, answer, |bytes| from_bundle(&s, bytes, GEOJSON)))
}

#[utoipa::path(get, path = "/api/v1/points", tag = "desks",
    description = "The desks in a viewport; over 200, grouped in 64-pixel cells at `zoom` (clusters with `point_count`).",
    params(
        ("bbox" = String, Query, description = "minLon,minLat,maxLon,maxLat in degrees; minLon > maxLon crosses the antimeridian", example = "9.0,45.3,9.4,45.6"),
        ("zoom" = Option<u8>, Query, minimum = 0, maximum = 22, description = "Map zoom; the box may be at most 4096 pixels on a side at it (default: the zoom at which it fills about 1024 pixels)"),
        super::openapi::Filters),
    responses(
        (status = 200, description = "Desks and clusters", body = super::openapi::ViewportAnswer, content_type = "application/geo+json"),
        (status = 400, description = "A parameter is missing, unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn viewport(State(st): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = ViewportRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let v = query::viewport(&s, &req, chrono::Utc::now());
    let answer = body::viewport_placed(&s, &v);
    Ok(encoding::respond(&s, &headers, answer, |bytes| from_bundle(&s, bytes, GEOJSON)))
}

#[utoipa::path(get, path = "/api/v1/search", tag = "desks",
    description = "Desks for a need said in words, in any of 30 languages: the desks offering the needs the text was understood as first (nearer first with a position), then desks that only share words with it.",
    params(
        ("q" = Option<String>, Query, max_length = 200, description = "What the person needs, as typed", example = "ricongiungimento familiare"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "How many desks (default 20)"),
        super::openapi::Position, super::openapi::Filters),
    responses(
        (status = 200, description = "Ranked desks, what was understood, counts", body = super::openapi::SearchAnswer, content_type = "application/geo+json"),
        (status = 400, description = "A parameter is missing, unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn search(State(st): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = SearchRequest::from_query(q.as_deref())?;
    let slot = tokio::time::timeout(SEARCH_WAIT, st.search_slots.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(|_| ApiError::Internal("search slots closed".into()))?;
    let s = st.snapshot.load_full();
    let used = s.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        query::search(&s, &req, chrono::Utc::now()).map(|a| body::search_placed(&s, &a))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("search task: {e}")))??;
    Ok(encoding::respond(&used, &headers, answer, |bytes| from_bundle(&used, bytes, GEOJSON)))
}

#[utoipa::path(get, path = "/api/v1/points/{id}", tag = "desks",
    description = "One desk.",
    params(("id" = String, Path, description = "The desk's id", example = "it-milano-anolf")),
    responses(
        (status = 200, description = "The desk", body = super::openapi::Desk, content_type = "application/geo+json"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 404, description = "No desk has this id", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 400, description = "A parameter is missing, unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn point(State(st): State<AppState>, Path(id): Path<String>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    params::no_params(q.as_deref())?;
    let s = st.snapshot.load();
    match query::point(&s, &id) {
        Some(ord) => Ok(cacheable(&s, &headers, || body::point(&s, ord), GEOJSON)),
        None => Err(ApiError::NotFound("no desk has this id".into())),
    }
}

#[utoipa::path(get, path = "/api/v1/domains", tag = "desks",
    description = "The 19 service domains with their labels in a UI language and the desks offering each.",
    params(("ui" = Option<String>, Query, description = "UI language code (English when it has no translation)", example = "ar")),
    responses(
        (status = 200, description = "The taxonomy", body = super::openapi::DomainsAnswer, content_type = "application/json"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 400, description = "A parameter is missing, unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn domains(State(st): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = DomainsRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let (ui, rtl, list) = query::domains(&s, &req);
    Ok(cacheable(&s, &headers, || body::domains(&ui, rtl, &list), JSON))
}

/// `locate`: town candidates for `place=`, else the approximate position of the caller's address
/// (the peer, or behind a trusted proxy the address it forwards). The address is used for the
/// lookup and dropped; it is never logged.
#[utoipa::path(get, path = "/api/v1/locate", tag = "locate",
    description = "Without `place`: the caller's approximate position from their IP address, computed in memory and thrown away (`status: unknown` when it cannot be known, never an error). With `place`: towns whose names match, best first.",
    params(
        ("place" = Option<String>, Query, max_length = 100, description = "A town name or its beginning", example = "Ljubl"),
        ("ui" = Option<String>, Query, description = "Language of the names shown", example = "sl"),
        ("lat" = Option<f64>, Query, minimum = -90, maximum = 90, description = "With `place` and `lon`: towns near here rank higher"),
        ("lon" = Option<f64>, Query, minimum = -180, maximum = 180, description = "With `place` and `lat`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 20, description = "With `place`: most towns (default 5)")),
    responses(
        (status = 200, description = "A position, or towns", body = super::openapi::LocateAnswer, content_type = "application/geo+json"),
        (status = 400, description = "A parameter is missing, unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
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

/// One tile of the bundle's pyramid. Stored gzip-compressed, it is sent as stored to clients that
/// take gzip, decompressed to the others. Its strong `ETag` names the bundle version, the tile
/// and the encoding sent; `If-None-Match` with it answers `304`. An empty tile inside the
/// pyramid answers `204`.
#[utoipa::path(get, path = "/tiles/{z}/{x}/{y}", tag = "tiles",
    description = "One tile of the bundle's pyramid (XYZ scheme, zooms 0–14): `{y}` is the row and the format, `.mvt` (Mapbox Vector Tile) or `.geojson`. Sent gzip-compressed as stored to clients that take gzip.",
    params(
        ("z" = u8, Path, minimum = 0, maximum = 14, description = "Zoom"),
        ("x" = u32, Path, description = "Column, 0 to 2^z − 1"),
        ("y" = String, Path, description = "Row, 0 to 2^z − 1, and the format", example = "5863.mvt")),
    responses(
        (status = 200, description = "The tile", content((Vec<u8> = "application/vnd.mapbox-vector-tile"), (Object = "application/geo+json"))),
        (status = 204, description = "No public desk in this tile"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 400, description = "A parameter is missing, unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn tile(State(st): State<AppState>, Path((z, x, file)): Path<(String, String, String)>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = TileRequest::from_path(&z, &x, &file, q.as_deref())?;
    let s = st.snapshot.load();
    let found = query::tile(&s, &req);
    let c = req.coord;
    let gzip = found.as_ref().is_some_and(|t| t.gzipped) && accepts_gzip(&headers);
    let etag = format!("\"{}-{}-{}-{}-{}{}\"", s.version(), c.z, c.x, c.y, req.format.extension(), if gzip { "-gz" } else { "" });
    let mut res = match found {
        _ if matches_etag(&headers, &etag) => StatusCode::NOT_MODIFIED.into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
        Some(t) if gzip => {
            let mut res = (StatusCode::OK, t.bytes).into_response();
            res.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            res
        }
        Some(t) => (StatusCode::OK, t.plain().map_err(|e| ApiError::Internal(format!("tile: {e}")))?).into_response(),
    };
    let ok = res.status() == StatusCode::OK;
    let h = res.headers_mut();
    if ok {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(req.format.content_type()));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    name_version(&mut res, &s);
    Ok(res)
}

/// The TileJSON 3.0 document of the pyramid.
#[utoipa::path(get, path = "/tiles/tiles.json", tag = "tiles",
    description = "TileJSON 3.0 of the tile pyramid.",
    responses(
        (status = 200, description = "TileJSON", body = super::openapi::TileJson, content_type = "application/json"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 400, description = "A parameter is missing, unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn tilejson(State(st): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    params::no_params(q.as_deref())?;
    let s = st.snapshot.load();
    Ok(cacheable(&s, &headers, || query::tilejson(&s).to_vec(), JSON))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", description = "Liveness: 200 while the process runs.",
    responses((status = 200, description = "Alive", body = super::openapi::Health, content_type = "application/json")))]
pub async fn healthz() -> Response {
    json(b"{\"status\":\"ok\"}".to_vec(), JSON)
}

/// Readiness: the bundle served, when it was built and how old it is, and when it was loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations", description = "Readiness: the bundle served, its age, when it was loaded and whether its files passed their check.",
    responses(
        (status = 200, description = "Ready", body = super::openapi::Readiness, content_type = "application/json"),
        (status = 503, description = "The bundle failed its check: nothing but the probes is served", body = super::openapi::Readiness, content_type = "application/json"),
    ))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let s = st.snapshot.load();
    let now = chrono::Utc::now();
    let age = chrono::DateTime::parse_from_rfc3339(&s.manifest.built_at).ok().map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0));
    let (status, verified, reason) = match s.verification() {
        Verification::Pending => ("ready", "pending", None),
        Verification::Passed => ("ready", "passed", None),
        Verification::Failed(why) => ("damaged", "failed", Some(why)),
    };
    let b = serde_json::json!({
        "status": status,
        "verified": verified,
        "reason": reason,
        "bundle": s.version(),
        "built_at": s.manifest.built_at,
        "age_s": age,
        "loaded_at": st.loaded_at.load().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "points": s.len(),
        "source": s.source,
    });
    let mut res = from_bundle(&s, b.to_string().into_bytes(), JSON);
    if reason.is_some() {
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    res
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", tag = "operations", description = "Prometheus metrics (text format). Labels are route templates and statuses only.",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    let text = st.metrics.render(&st.snapshot.load());
    let mut res = (StatusCode::OK, text).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    res
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", description = "This description (OpenAPI 3.1).",
    responses((status = 200, description = "The description", body = Object, content_type = "application/json")))]
pub async fn openapi() -> Response {
    json(super::openapi::json().to_vec(), JSON)
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see the README for the API".into())
}
