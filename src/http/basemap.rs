//! `GET|HEAD /basemap/operator.pmtiles` and `GET /basemap/operator.json`: the operator's PMTiles
//! base map from this server's own origin, so a street map needs no request to anyone else.
//!
//! The file is served with single HTTP Range requests (RFC 9110 §14: `206` with
//! `Content-Range`, `416` for a range that cannot be served, `Accept-Ranges: bytes`), validated
//! by a strong `ETag` (`If-None-Match` → `304`, `If-Range` that does not match → the whole file).
//! Range parsing is the `http-range-header` crate's; the bytes are read from the open file in
//! chunks of [`CHUNK`], off the async threads, so an answer never holds more than one chunk in
//! memory whatever its length.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use super::error::{ApiError, problem};
use crate::basemap::Basemap;
use crate::query::params;

/// The URL the base map is served at, as `operator.json` names it.
pub const URL: &str = "/basemap/operator.pmtiles";
/// The media type PMTiles files are served with.
pub const PMTILES: &str = "application/vnd.pmtiles";
/// Bytes read from the file at a time.
pub const CHUNK: u64 = 256 << 10;

/// The description of the operator base map for the widget: `{"available": false}` without one.
#[utoipa::path(get, path = "/basemap/operator.json", tag = "tiles",
    description = "Whether the operator configured a PMTiles base map (`serve --basemap`), and its tile type, zooms, bounds, attribution and vector layers.",
    responses(
        (status = 200, description = "`{\"available\": false}`, or the base map's description", body = Object, content_type = "application/json"),
        (status = 400, description = "A parameter was given (none is taken)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn info(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    params::no_params(q.as_deref())?;
    let body = match st.basemap.load_full() {
        None => serde_json::json!({"available": false}),
        Some(b) => serde_json::json!({
            "available": true,
            "url": URL,
            "tile_type": b.info.tile_type,
            "minzoom": b.info.minzoom,
            "maxzoom": b.info.maxzoom,
            "bounds": b.info.bounds,
            "attribution": b.info.attribution,
            "layers": b.info.layers,
        }),
    };
    let mut res = (StatusCode::OK, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(res)
}

/// What to answer a request for the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    NotModified,
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// The reason, for the problem's detail.
    Unsatisfiable(&'static str),
}

/// Whether an entity-tag list (`If-None-Match`) names `etag` (weakly) or is `*`.
fn names_etag(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

/// Decides the answer from the request's headers, for a file of `len` bytes with validator
/// `etag` last modified at `modified` (an HTTP date).
pub fn plan(headers: &HeaderMap, len: u64, etag: &str, modified: Option<&str>) -> Plan {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::IF_NONE_MATCH).is_some_and(|v| names_etag(v, etag)) {
        return Plan::NotModified;
    }
    let Some(range) = text(header::RANGE) else { return Plan::Whole };
    // If-Range: the range only if the client's copy is this one (a strong comparison; a date
    // must be the file's own), else the whole file.
    if let Some(cond) = text(header::IF_RANGE) {
        let cond = cond.trim();
        let same = if cond.starts_with('"') { cond == etag } else { Some(cond) == modified };
        if !same {
            return Plan::Whole;
        }
    }
    let Ok(parsed) = http_range_header::parse_range_header(range) else {
        return Plan::Unsatisfiable("the Range header is not `bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX`");
    };
    match parsed.validate(len) {
        Ok(ranges) if ranges.len() == 1 => Plan::Part { start: *ranges[0].start(), end: *ranges[0].end() },
        Ok(_) => Plan::Unsatisfiable("one range at a time"),
        Err(_) => Plan::Unsatisfiable("the range is outside the file"),
    }
}

/// The file's bytes `start..start + len`, read a chunk at a time off the async threads. Ends the
/// answer with an error (the connection is cut) if the file can no longer give them.
fn stream(map: Arc<Basemap>, start: u64, len: u64) -> Body {
    let chunks = futures_util::stream::unfold((map, start, len), |(map, at, left)| async move {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK) as usize;
        let m = map.clone();
        let read = tokio::task::spawn_blocking(move || m.read(at, n)).await;
        let item = match read {
            Ok(Ok(b)) if b.len() == n => return Some((Ok(Bytes::from(b)), (map, at + n as u64, left - n as u64))),
            Ok(Ok(_)) => std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the base map file is shorter than when it was opened"),
            Ok(Err(e)) => e,
            Err(e) => std::io::Error::other(e),
        };
        tracing::error!(error = %item, "reading the base map failed");
        Some((Err(item), (map, at, 0)))
    });
    Body::from_stream(chunks)
}

/// `GET|HEAD /basemap/operator.pmtiles`.
#[utoipa::path(get, path = "/basemap/operator.pmtiles", tag = "tiles",
    description = "The operator's PMTiles base map, from this origin, with HTTP Range requests (`206`), `ETag`, `If-Range` and `If-None-Match`.",
    responses(
        (status = 200, description = "The whole file", body = Vec<u8>, content_type = "application/vnd.pmtiles"),
        (status = 206, description = "The range asked for", body = Vec<u8>, content_type = "application/vnd.pmtiles"),
        (status = 304, description = "Unchanged"),
        (status = 404, description = "No base map is configured", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range cannot be satisfied", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 400, description = "A parameter was given (none is taken)", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn file(State(st): State<AppState>, method: Method, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    params::no_params(q.as_deref())?;
    let Some(map) = st.basemap.load_full() else {
        return Err(ApiError::NotFound("no operator base map is configured (serve --basemap FILE.pmtiles); see /basemap/operator.json".into()));
    };
    let modified = map.modified.map(httpdate::fmt_http_date);
    let len = map.len;
    let (status, range) = match plan(&headers, len, &map.etag, modified.as_deref()) {
        Plan::NotModified => (StatusCode::NOT_MODIFIED, None),
        Plan::Whole => (StatusCode::OK, Some((0, len))),
        Plan::Part { start, end } => (StatusCode::PARTIAL_CONTENT, Some((start, end - start + 1))),
        Plan::Unsatisfiable(why) => {
            let mut res = problem(StatusCode::RANGE_NOT_SATISFIABLE, "Range not satisfiable", &format!("header `Range`: {why} ({len} bytes)"), None);
            insert(&mut res, header::CONTENT_RANGE, &format!("bytes */{len}"));
            insert(&mut res, header::ACCEPT_RANGES, "bytes");
            return Ok(res);
        }
    };
    let mut res = match range {
        Some((start, n)) if method != Method::HEAD && n > 0 => stream(map.clone(), start, n).into_response(),
        _ => Body::empty().into_response(),
    };
    *res.status_mut() = status;
    insert(&mut res, header::ACCEPT_RANGES, "bytes");
    insert(&mut res, header::ETAG, &map.etag);
    if let Some(m) = &modified {
        insert(&mut res, header::LAST_MODIFIED, m);
    }
    if let Some((start, n)) = range {
        insert(&mut res, header::CONTENT_TYPE, PMTILES);
        insert(&mut res, header::CONTENT_LENGTH, &n.to_string());
        if status == StatusCode::PARTIAL_CONTENT {
            insert(&mut res, header::CONTENT_RANGE, &format!("bytes {start}-{}/{len}", start + n - 1));
        }
    }
    Ok(res)
}

fn insert(res: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn ranges_conditions_and_refusals() {
        let e = "\"abc\"";
        let date = "Wed, 02 Dec 2026 06:00:00 GMT";
        let p = |h: &[(&'static str, &str)]| plan(&headers(h), 1000, e, Some(date));
        assert_eq!(p(&[]), Plan::Whole);
        assert_eq!(p(&[("range", "bytes=0-126")]), Plan::Part { start: 0, end: 126 });
        assert_eq!(p(&[("range", "bytes=990-")]), Plan::Part { start: 990, end: 999 });
        assert_eq!(p(&[("range", "bytes=-10")]), Plan::Part { start: 990, end: 999 });
        assert_eq!(p(&[("range", "bytes=900-5000")]), Plan::Part { start: 900, end: 999 });
        assert!(matches!(p(&[("range", "bytes=1000-1001")]), Plan::Unsatisfiable(_)));
        assert!(matches!(p(&[("range", "bytes=0-1,5-6")]), Plan::Unsatisfiable(_)));
        assert!(matches!(p(&[("range", "lines=1-2")]), Plan::Unsatisfiable(_)));
        assert_eq!(p(&[("if-none-match", e), ("range", "bytes=0-1")]), Plan::NotModified);
        assert_eq!(p(&[("if-none-match", "\"old\", W/\"abc\"")]), Plan::NotModified);
        assert_eq!(p(&[("if-range", e), ("range", "bytes=0-1")]), Plan::Part { start: 0, end: 1 });
        assert_eq!(p(&[("if-range", "\"old\""), ("range", "bytes=0-1")]), Plan::Whole);
        assert_eq!(p(&[("if-range", date), ("range", "bytes=0-1")]), Plan::Part { start: 0, end: 1 });
        assert_eq!(p(&[("if-range", "Tue, 01 Dec 2026 06:00:00 GMT"), ("range", "bytes=0-1")]), Plan::Whole);
    }
}
