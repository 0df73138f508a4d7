//! OGC API – Features Part 1 (Core, GeoJSON, HTML, OpenAPI 3.0) under `/ogc`, for GIS tools
//! (QGIS, GDAL/OGR, OWSLib): the landing page, conformance, the API definition, the one
//! collection `contact-points` and its items. Handlers parse, call one function of
//! `query::ogc`, and serialise: JSON (`application/json`, items as `application/geo+json`) or,
//! with `f=html` or a browser's `Accept`, a plain HTML page.
//!
//! Links are absolute, built from the request's `Host` (and, from a `--trusted-proxy` only, the
//! scheme it forwards), as GIS clients follow them as given.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::handlers::BUNDLE_VERSION;
use crate::index::Snapshot;
use crate::query::ogc::{self, DocRequest, ItemsRequest};

/// The collection's id.
pub const COLLECTION: &str = "contact-points";
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const JSON: &str = "application/json";
const GEOJSON: &str = "application/geo+json";
const HTML: &str = "text/html";
/// The media type of the API definition.
pub const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";

/// The conformance classes this server implements.
pub const CONFORMANCE: [&str; 4] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
];

/// Where links point and in which format the answer is written.
struct Ctx {
    /// `scheme://host[:port]`.
    base: String,
    html: bool,
    /// The filters a document was asked with (a query string, maybe empty), kept in its links.
    filters: String,
}

/// Whether a `Host` value is a plain `host[:port]` (so it cannot inject anything into links).
fn plain_host(h: &str) -> bool {
    !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

impl Ctx {
    fn new(st: &AppState, peer: Option<Extension<ConnectInfo<SocketAddr>>>, uri: &Uri, headers: &HeaderMap, f: Option<&str>, filters: &str) -> Ctx {
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let host = text(header::HOST).or_else(|| uri.authority().map(|a| a.as_str())).filter(|h| plain_host(h)).unwrap_or("localhost");
        let from_proxy = peer.is_some_and(|Extension(ConnectInfo(a))| st.trusted.contains(a.ip()));
        let forwarded_https = from_proxy
            && (text(header::HeaderName::from_static("x-forwarded-proto")).is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
                || text(header::FORWARDED).is_some_and(|f| f.to_ascii_lowercase().contains("proto=https")));
        let scheme = if forwarded_https { "https" } else { "http" };
        let html = match f {
            Some("html") => true,
            Some(_) => false,
            // A browser asks for HTML first; GIS clients ask for JSON or anything.
            None => text(header::ACCEPT).is_some_and(|a| {
                let first = a.split(',').next().unwrap_or("").trim();
                first.starts_with(HTML) || first.starts_with("application/xhtml")
            }),
        };
        Ctx { base: format!("{scheme}://{host}"), html, filters: filters.to_string() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` with the document's filters and `f`.
    fn link(&self, path: &str, f: &str) -> String {
        if self.filters.is_empty() { self.url(&format!("{path}?f={f}")) } else { self.url(&format!("{path}?{}&f={f}", self.filters)) }
    }

    /// `self` and `alternate` links of a document at `path` (with `query`, else the document's
    /// filters, before `f`).
    fn self_links(&self, path: &str, query: &str, title: &str) -> Vec<Value> {
        let query = if query.is_empty() { self.filters.as_str() } else { query };
        let sep = if query.is_empty() { String::new() } else { format!("{query}&") };
        let json_type = if path.ends_with("/items") || path.contains("/items/") { GEOJSON } else { JSON };
        let as_json = json!({"href": self.url(&format!("{path}?{sep}f=json")), "rel": if self.html { "alternate" } else { "self" }, "type": json_type, "title": format!("{title} as JSON")});
        let as_html = json!({"href": self.url(&format!("{path}?{sep}f=html")), "rel": if self.html { "self" } else { "alternate" }, "type": HTML, "title": format!("{title} as HTML")});
        vec![as_json, as_html]
    }
}

fn with_type(mut res: Response, content_type: &'static str, s: Option<&Snapshot>) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    if let Some(v) = s.and_then(|s| HeaderValue::from_str(s.version()).ok()) {
        h.insert(BUNDLE_VERSION, v);
    }
    res
}

fn json_answer(v: &Value, content_type: &'static str, s: Option<&Snapshot>) -> Response {
    with_type((StatusCode::OK, v.to_string()).into_response(), content_type, s)
}

fn html_answer(page: Markup, s: Option<&Snapshot>) -> Response {
    with_type((StatusCode::OK, page.into_string()).into_response(), "text/html; charset=utf-8", s)
}

/// A plain HTML page: a title, a description, its links and, for lists of desks, a table.
fn page(title: &str, description: &str, links: &[Value], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { (title) } }
            body {
                h1 { (title) }
                p { (description) }
                (body)
                h2 { "Links" }
                ul {
                    @for l in links {
                        li { a href=(l["href"].as_str().unwrap_or("")) { (l["title"].as_str().unwrap_or("")) } " (" (l["rel"].as_str().unwrap_or("")) ", " (l["type"].as_str().unwrap_or("")) ")" }
                    }
                }
            }
        }
    }
}

/// `GET /ogc`: the landing page.
#[utoipa::path(get, path = "/ogc", tag = "ogc",
    description = "The landing page of OGC API – Features; its own OpenAPI 3.0 definition is at `/ogc/api`.",
    params(("f" = Option<String>, Query, description = "`json` or `html` (else from `Accept`)", pattern = "^(json|html)$"), crate::http::openapi::OgcFilters),
    responses(
        (status = 200, description = "The document", content((Object = "application/json"), (String = "text/html; charset=utf-8"))),
        (status = 400, description = "A parameter is unknown, repeated or malformed", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection or feature", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn landing(State(st): State<AppState>, peer: Option<Extension<ConnectInfo<SocketAddr>>>, uri: Uri, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let r = DocRequest::from_query(q.as_deref())?;
    let c = Ctx::new(&st, peer, &uri, &headers, r.f.as_deref(), &r.filters);
    let mut links = c.self_links("/ogc", "", "This document");
    links.extend([
        json!({"href": c.link("/ogc/api", "json"), "rel": "service-desc", "type": OPENAPI, "title": "The API definition (OpenAPI 3.0)"}),
        json!({"href": c.link("/ogc/api", "html"), "rel": "service-doc", "type": HTML, "title": "The API documentation"}),
        json!({"href": c.link("/ogc/conformance", "json"), "rel": "conformance", "type": JSON, "title": "Conformance classes"}),
        json!({"href": c.link("/ogc/collections", "json"), "rel": "data", "type": JSON, "title": "Collections"}),
    ]);
    let title = "sportello: help desks for migrant workers";
    let description = "The help desks of a European network of trade-union desks and partner NGOs and cities, with the languages they speak and the needs they help with, as OGC API – Features.";
    if c.html {
        return Ok(html_answer(page(title, description, &links, html! {}), None));
    }
    Ok(json_answer(&json!({"title": title, "description": description, "links": links}), JSON, None))
}

/// `GET /ogc/conformance`.
#[utoipa::path(get, path = "/ogc/conformance", tag = "ogc",
    description = "The conformance classes of OGC API – Features; its own OpenAPI 3.0 definition is at `/ogc/api`.",
    params(("f" = Option<String>, Query, description = "`json` or `html` (else from `Accept`)", pattern = "^(json|html)$"), crate::http::openapi::OgcFilters),
    responses(
        (status = 200, description = "The document", content((Object = "application/json"), (String = "text/html; charset=utf-8"))),
        (status = 400, description = "A parameter is unknown, repeated or malformed", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection or feature", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn conformance(State(st): State<AppState>, peer: Option<Extension<ConnectInfo<SocketAddr>>>, uri: Uri, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let r = DocRequest::from_query(q.as_deref())?;
    let c = Ctx::new(&st, peer, &uri, &headers, r.f.as_deref(), &r.filters);
    let links = c.self_links("/ogc/conformance", "", "Conformance classes");
    if c.html {
        let body = html! { ul { @for u in CONFORMANCE { li { (u) } } } };
        return Ok(html_answer(page("Conformance classes", "The parts of OGC API – Features this server implements.", &links, body), None));
    }
    Ok(json_answer(&json!({"conformsTo": CONFORMANCE, "links": links}), JSON, None))
}

/// The collection's description.
fn collection(c: &Ctx, s: &Snapshot) -> Value {
    let mut links = c.self_links(&format!("/ogc/collections/{COLLECTION}"), "", "The help desks");
    links.extend([
        json!({"href": c.link(&format!("/ogc/collections/{COLLECTION}/items"), "json"), "rel": "items", "type": GEOJSON, "title": "The help desks as GeoJSON"}),
        json!({"href": c.link(&format!("/ogc/collections/{COLLECTION}/items"), "html"), "rel": "items", "type": HTML, "title": "The help desks as HTML"}),
    ]);
    let mut v = json!({
        "id": COLLECTION,
        "title": "Help desks",
        "description": format!("Help desks (contact points) for migrant workers: {} public desks, listed by default, and {} for union representatives only (audience=unions, or audience=all for every desk). Filters: lang, domain, audience, as in /api/v1.", s.manifest.counts.public, s.manifest.counts.unions),
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": links,
    });
    if let Some(e) = ogc::extent(s) {
        v["extent"] = json!({"spatial": {"bbox": [e], "crs": CRS84}});
    }
    v
}

fn collection_html(v: &Value) -> Markup {
    html! {
        @if let Some(b) = v["extent"]["spatial"]["bbox"][0].as_array() {
            p { "Extent (west, south, east, north, degrees): " (b.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")) }
        }
        p { a href=(v["links"][3]["href"].as_str().unwrap_or("")) { "The desks" } }
    }
}

/// `GET /ogc/collections`.
#[utoipa::path(get, path = "/ogc/collections", tag = "ogc",
    description = "The collections of OGC API – Features; its own OpenAPI 3.0 definition is at `/ogc/api`.",
    params(("f" = Option<String>, Query, description = "`json` or `html` (else from `Accept`)", pattern = "^(json|html)$"), crate::http::openapi::OgcFilters),
    responses(
        (status = 200, description = "The document", content((Object = "application/json"), (String = "text/html; charset=utf-8"))),
        (status = 400, description = "A parameter is unknown, repeated or malformed", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection or feature", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn collections(State(st): State<AppState>, peer: Option<Extension<ConnectInfo<SocketAddr>>>, uri: Uri, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let r = DocRequest::from_query(q.as_deref())?;
    let c = Ctx::new(&st, peer, &uri, &headers, r.f.as_deref(), &r.filters);
    let s = st.snapshot.load();
    let links = c.self_links("/ogc/collections", "", "Collections");
    let one = collection(&c, &s);
    if c.html {
        let body = html! {
            h2 { a href=(c.link(&format!("/ogc/collections/{COLLECTION}"), "html")) { (one["title"].as_str().unwrap_or("")) } }
            p { (one["description"].as_str().unwrap_or("")) }
            (collection_html(&one))
        };
        return Ok(html_answer(page("Collections", "The data this server offers.", &links, body), Some(&s)));
    }
    Ok(json_answer(&json!({"links": links, "collections": [one]}), JSON, Some(&s)))
}

/// `GET /ogc/collections/{collectionId}`: only `contact-points` exists.
#[utoipa::path(get, path = "/ogc/collections/{collection_id}", tag = "ogc",
    description = "The collection `contact-points` with its extent, in OGC API – Features; its own OpenAPI 3.0 definition is at `/ogc/api`.",
    params(("collection_id" = String, Path, description = "The one collection: `contact-points`"), ("f" = Option<String>, Query, description = "`json` or `html` (else from `Accept`)", pattern = "^(json|html)$"), crate::http::openapi::OgcFilters),
    responses(
        (status = 200, description = "The document", content((Object = "application/json"), (String = "text/html; charset=utf-8"))),
        (status = 400, description = "A parameter is unknown, repeated or malformed", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection or feature", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn collection_doc(
    State(st): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let r = DocRequest::from_query(q.as_deref())?;
    known_collection(&id)?;
    let c = Ctx::new(&st, peer, &uri, &headers, r.f.as_deref(), &r.filters);
    let s = st.snapshot.load();
    let v = collection(&c, &s);
    if c.html {
        let links: Vec<Value> = v["links"].as_array().cloned().unwrap_or_default();
        return Ok(html_answer(page("Help desks", v["description"].as_str().unwrap_or(""), &links, collection_html(&v)), Some(&s)));
    }
    Ok(json_answer(&v, JSON, Some(&s)))
}

fn known_collection(id: &str) -> Result<(), ApiError> {
    if id == COLLECTION {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no collection has this id; the one collection is `{COLLECTION}`")))
    }
}

/// The summary of a desk's feature for HTML tables: id, name, city, country, languages, domains.
fn summary(feature: &[u8]) -> [String; 6] {
    let v: Value = serde_json::from_slice(feature).unwrap_or(Value::Null);
    let p = &v["properties"];
    let list = |x: &Value| x.as_array().map(|a| a.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default();
    let text = |x: &Value| x.as_str().unwrap_or("").to_string();
    [text(&v["id"]), text(&p["name"]), text(&p["address"]["city"]), text(&p["address"]["country"]), list(&p["languages"]), list(&p["domains"])]
}

fn desks_table(s: &Snapshot, ords: &[u32], c: &Ctx) -> Markup {
    html! {
        table {
            thead { tr { th { "id" } th { "name" } th { "city" } th { "country" } th { "languages" } th { "domains" } } }
            tbody {
                @for &o in ords {
                    @let [id, name, city, country, langs, domains] = summary(s.desks.feature(o));
                    tr {
                        td { a href=(c.url(&format!("/ogc/collections/{COLLECTION}/items/{id}?f=html"))) { (id) } }
                        td { (name) } td { (city) } td { (country) } td { (langs) } td { (domains) }
                    }
                }
            }
        }
    }
}

/// `GET /ogc/collections/{collectionId}/items`: one page of desks.
#[utoipa::path(get, path = "/ogc/collections/{collection_id}/items", tag = "ogc",
    description = "Desks of the collection, a page at a time (`next` links), with `numberMatched` and `numberReturned`, in OGC API – Features; its own OpenAPI 3.0 definition is at `/ogc/api`.",
    params(("collection_id" = String, Path, description = "The one collection: `contact-points`"), ("f" = Option<String>, Query, description = "`json` or `html` (else from `Accept`)", pattern = "^(json|html)$"), crate::http::openapi::OgcFilters, ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat (or with heights)"), ("limit" = Option<u32>, Query, minimum = 1, description = "Desks per page (default 10; over 1000 served as 1000)"), ("offset" = Option<u32>, Query, description = "Desks to skip (the `next` link sets it)"), ("datetime" = Option<String>, Query, description = "Accepted and ignored: the desks have no time")),
    responses(
        (status = 200, description = "The document", content((Object = "application/geo+json"), (String = "text/html; charset=utf-8"))),
        (status = 400, description = "A parameter is unknown, repeated or malformed", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection or feature", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn items(
    State(st): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let req = ItemsRequest::from_query(q.as_deref())?;
    known_collection(&id)?;
    let f = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()).find(|(k, _)| k == "f").map(|(_, v)| v.into_owned());
    let c = Ctx::new(&st, peer, &uri, &headers, f.as_deref(), "");
    let s = st.snapshot.load();
    let page_of = ogc::items(&s, &req);
    let path = format!("/ogc/collections/{COLLECTION}/items");
    let query = req.query_at(req.offset, None);
    let mut links = c.self_links(&path, &query, "This page");
    let fmt = if c.html { "html" } else { "json" };
    let kind = if c.html { HTML } else { GEOJSON };
    if let Some(n) = page_of.next() {
        links.push(json!({"href": c.url(&format!("{path}?{}", req.query_at(n, Some(fmt)))), "rel": "next", "type": kind, "title": "Next page"}));
    }
    if let Some(p) = page_of.prev() {
        links.push(json!({"href": c.url(&format!("{path}?{}", req.query_at(p, Some(fmt)))), "rel": "prev", "type": kind, "title": "Previous page"}));
    }
    links.push(json!({"href": c.url(&format!("/ogc/collections/{COLLECTION}?f={fmt}")), "rel": "collection", "type": if c.html { HTML } else { JSON }, "title": "The collection"}));
    let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if c.html {
        let description = format!("Desks {} to {} of {} matching.", (page_of.offset + 1).min(page_of.matched), page_of.offset + page_of.ords.len(), page_of.matched);
        return Ok(html_answer(page("Help desks", &description, &links, desks_table(&s, &page_of.ords, &c)), Some(&s)));
    }
    let mut out = Vec::with_capacity(256 + page_of.ords.len() * 900);
    out.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    for (i, &o) in page_of.ords.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        s.desks.write_feature(o, None, &mut out);
    }
    out.extend_from_slice(b"],");
    let tail = json!({"numberMatched": page_of.matched, "numberReturned": page_of.ords.len(), "timeStamp": stamp, "links": links});
    // The members after `features`, without the object's braces.
    let tail = tail.to_string();
    out.extend_from_slice(&tail.as_bytes()[1..]);
    Ok(with_type((StatusCode::OK, out).into_response(), GEOJSON, Some(&s)))
}

/// `GET /ogc/collections/{collectionId}/items/{featureId}`: one desk, whatever its audience.
#[utoipa::path(get, path = "/ogc/collections/{collection_id}/items/{feature_id}", tag = "ogc",
    description = "One desk, in OGC API – Features; its own OpenAPI 3.0 definition is at `/ogc/api`.",
    params(("collection_id" = String, Path, description = "The one collection: `contact-points`"), ("feature_id" = String, Path, description = "A desk id"), ("f" = Option<String>, Query, description = "`json` or `html` (else from `Accept`)", pattern = "^(json|html)$"), crate::http::openapi::OgcFilters),
    responses(
        (status = 200, description = "The document", content((Object = "application/geo+json"), (String = "text/html; charset=utf-8"))),
        (status = 400, description = "A parameter is unknown, repeated or malformed", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection or feature", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn item(
    State(st): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path((id, feature)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let r = DocRequest::from_query(q.as_deref())?;
    known_collection(&id)?;
    let c = Ctx::new(&st, peer, &uri, &headers, r.f.as_deref(), &r.filters);
    let s = st.snapshot.load();
    let Some(ord) = ogc::item(&s, &feature) else {
        return Err(ApiError::NotFound("no desk has this id".into()));
    };
    let desk_id = s.desks.id(ord).to_string();
    let mut links = c.self_links(&format!("/ogc/collections/{COLLECTION}/items/{desk_id}"), "", "This desk");
    links.push(json!({"href": c.url(&format!("/ogc/collections/{COLLECTION}?f=json")), "rel": "collection", "type": JSON, "title": "The collection"}));
    if c.html {
        let [_, name, ..] = summary(s.desks.feature(ord));
        return Ok(html_answer(page(&name, "One help desk.", &links, desks_table(&s, &[ord], &c)), Some(&s)));
    }
    let feature = s.desks.feature(ord);
    // A stored feature ends with the close of `properties` and of the feature: add `links`.
    let mut out = Vec::with_capacity(feature.len() + 512);
    out.extend_from_slice(&feature[..feature.len() - 1]);
    out.extend_from_slice(b",\"links\":");
    out.extend_from_slice(Value::Array(links).to_string().as_bytes());
    out.push(b'}');
    Ok(with_type((StatusCode::OK, out).into_response(), GEOJSON, Some(&s)))
}

/// `GET /ogc/api`: the OpenAPI 3.0 definition of the `/ogc` endpoints (or, as HTML, a page
/// listing them: the `service-doc`).
#[utoipa::path(get, path = "/ogc/api", tag = "ogc",
    description = "The OpenAPI 3.0 definition of OGC API – Features; its own OpenAPI 3.0 definition is at `/ogc/api`.",
    params(("f" = Option<String>, Query, description = "`json` or `html` (else from `Accept`)", pattern = "^(json|html)$"), crate::http::openapi::OgcFilters),
    responses(
        (status = 200, description = "The document", content((Object = "application/vnd.oai.openapi+json;version=3.0"), (String = "text/html; charset=utf-8"))),
        (status = 400, description = "A parameter is unknown, repeated or malformed", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection or feature", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn api(State(st): State<AppState>, peer: Option<Extension<ConnectInfo<SocketAddr>>>, uri: Uri, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let r = DocRequest::from_query(q.as_deref())?;
    let c = Ctx::new(&st, peer, &uri, &headers, r.f.as_deref(), &r.filters);
    let doc = super::ogc_api::definition(&c.url("/ogc"));
    if c.html {
        let links = c.self_links("/ogc/api", "", "The API definition");
        let body = html! {
            @if let Some(paths) = doc["paths"].as_object() {
                @for (p, ops) in paths {
                    h2 { "GET /ogc" (p) }
                    p { (ops["get"]["summary"].as_str().unwrap_or("")) }
                    @if let Some(params) = ops["get"]["parameters"].as_array() {
                        ul {
                            @for prm in params {
                                @let prm = super::ogc_api::resolve(&doc, prm);
                                li { code { (prm["name"].as_str().unwrap_or("")) } ": " (prm["description"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        };
        return Ok(html_answer(page("sportello OGC API – Features", "The endpoints under /ogc and their parameters.", &links, body), None));
    }
    Ok(json_answer(&doc, OPENAPI, None))
}
