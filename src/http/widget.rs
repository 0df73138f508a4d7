//! The map widget's routes: its built script and stylesheet (`src/widget/dist/`, embedded), its
//! strings per language, today's state of the desks it lists, the default Natural Earth base map's
//! tiles, the demo page that embeds it as a partner would (`/demo`) and its iframe form (`/embed`).
//! Handlers only parse, look up and serve bytes or render; what a request selects comes from
//! `query::widget`, `natural_earth` and the pages' catalog.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::precompressed::{self, Precompressed};
use super::pages::i18n::{Catalog, EMBEDDED_UI, Ui};
use super::pages::render;
use crate::natural_earth::BaseMap;
use crate::model::Taxonomy;
use crate::query::ParamError;
use crate::query::widget::{EmbedRequest, TodayRequest, today_of};

/// The built widget, embedded (rebuilt and compared byte for byte by `scripts/test`).
pub const WIDGET_JS: &[u8] = include_bytes!("../widget/dist/widget.js");
pub const WIDGET_CSS: &[u8] = include_bytes!("../widget/dist/widget.css");
/// The renderer of the operator's PMTiles base map, which the widget loads only when there is one.
pub const OPERATOR_BASEMAP_JS: &[u8] = include_bytes!("../widget/dist/operator-basemap.js");

/// The policy of the widget's HTML pages: scripts, styles, images and requests only from this
/// origin, nothing inline, no eval. `frame-ancestors` is added per page.
const WIDGET_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'";

fn hash16(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..16].to_string()
}

/// Whether the request's `If-None-Match` names `etag` (quoted), weakly or not, or `*`.
fn fresh(request: &HeaderMap, etag: &str) -> bool {
    request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').map(str::trim).any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
    })
}

/// Bytes that are the same for everyone, with a strong `ETag` (`304` when the client has them).
/// `privacy_headers` makes them cacheable.
fn asset(request: &HeaderMap, etag: &str, body: impl Into<axum::body::Body>, content_type: &'static str) -> Response {
    let mut res = if fresh(request, etag) { StatusCode::NOT_MODIFIED.into_response() } else { (StatusCode::OK, body.into()).into_response() };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    res
}

/// `GET` of an embedded file (no query parameters): in the smallest form the request accepts
/// (see [`Precompressed`]), with its strong `ETag` and `304`.
fn static_asset(request: &HeaderMap, query: Option<&str>, file: &'static Precompressed, content_type: &'static str) -> Result<Response, ApiError> {
    crate::query::params::no_params(query)?;
    let chosen = file.choose(request);
    let mut res = asset(request, file.etag(), chosen.body, content_type);
    let coding = if res.status() == StatusCode::OK { chosen.coding } else { None };
    precompressed::mark(res.headers_mut(), coding);
    Ok(res)
}

static JS: Precompressed = Precompressed::new(WIDGET_JS);
static CSS: Precompressed = Precompressed::new(WIDGET_CSS);
static OPERATOR_JS: Precompressed = Precompressed::new(OPERATOR_BASEMAP_JS);

/// `GET /widget.js`.
#[utoipa::path(get, path = "/widget.js", tag = "widget", description = "The widget's script (the committed build), strong `ETag`.",
    responses(
        (status = 200, description = "JavaScript", body = String, content_type = "text/javascript; charset=utf-8"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 400, description = "A parameter is unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn js(headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    static_asset(&headers, q.as_deref(), &JS, "text/javascript; charset=utf-8")
}

/// `GET /widget/operator-basemap.js`.
#[utoipa::path(get, path = "/widget/operator-basemap.js", tag = "widget",
    description = "The renderer of the operator's PMTiles base map (the committed build), loaded by the widget only when `/basemap/operator.json` says there is one; strong `ETag`.",
    responses(
        (status = 200, description = "JavaScript", body = String, content_type = "text/javascript; charset=utf-8"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 400, description = "A parameter is unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn operator_basemap_js(headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    static_asset(&headers, q.as_deref(), &OPERATOR_JS, "text/javascript; charset=utf-8")
}

/// `GET /widget.css`.
#[utoipa::path(get, path = "/widget.css", tag = "widget", description = "The widget's stylesheet (loaded in each widget's shadow root), strong `ETag`.",
    responses(
        (status = 200, description = "CSS", body = String, content_type = "text/css; charset=utf-8"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 400, description = "A parameter is unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn css(headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    static_asset(&headers, q.as_deref(), &CSS, "text/css; charset=utf-8")
}

#[derive(Serialize)]
struct LanguageOut<'a> {
    code: &'a str,
    native: &'a str,
    rtl: bool,
}

#[derive(Serialize)]
struct UiOut<'a> {
    ui: &'a str,
    native: &'a str,
    rtl: bool,
    strings: &'a serde_json::Value,
    /// The 30 interface languages, in the taxonomy's order.
    languages: Vec<LanguageOut<'a>>,
}

/// Each language's answer to `/widget/ui/{code}.json`, made once.
fn ui_bodies() -> &'static HashMap<String, (String, Vec<u8>)> {
    static B: OnceLock<HashMap<String, (String, Vec<u8>)>> = OnceLock::new();
    B.get_or_init(|| {
        let file: serde_json::Value = serde_json::from_str(EMBEDDED_UI).expect("embedded ui.json is valid (tested)");
        let catalog = Catalog::embedded();
        let languages: Vec<LanguageOut> = catalog.langs.iter().map(|l| LanguageOut { code: &l.code, native: &l.native, rtl: l.rtl }).collect();
        catalog
            .langs
            .iter()
            .map(|l| {
                let strings = &file["strings"][&l.code];
                let out = UiOut { ui: &l.code, native: &l.native, rtl: l.rtl, strings, languages: languages.iter().map(|x| LanguageOut { ..*x }).collect() };
                let body = serde_json::to_vec(&out).expect("serialisable");
                (l.code.clone(), (format!("\"{}\"", hash16(&body)), body))
            })
            .collect()
    })
}

/// `GET /widget/ui/{code}.json`: the widget's strings in one of the 30 languages (the pages'
/// `data/ui.json`), its native name and direction, and the list of languages to pick from.
#[utoipa::path(get, path = "/widget/ui/{file}", tag = "widget", description = "The widget's strings in one of the 30 interface languages, its direction, and the languages to pick from.",
    params(("file" = String, Path, description = "`{code}.json`, e.g. `ar.json`", example = "ar.json")),
    responses(
        (status = 200, description = "`ui`, `native`, `rtl`, `strings`, `languages`", body = Object, content_type = "application/json"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 400, description = "A parameter is unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the 30 languages", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn ui(Path(file): Path<String>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    crate::query::params::no_params(q.as_deref())?;
    let code = file.strip_suffix(".json").unwrap_or(&file);
    let Some((etag, body)) = ui_bodies().get(code) else {
        return Err(ApiError::NotFound(format!("no interface language `{}`; there are 30, see /api/v1/domains", code.chars().take(40).collect::<String>())));
    };
    Ok(asset(&headers, etag, body.clone(), "application/json"))
}

/// `GET /widget/today?ids=`: whether each desk is open now and its hours today, in its own time
/// zone with its country's holidays (`{"id": {"open_now": true|false|null, "hours": [["09:00",
/// "13:00"], …]}}`, in the order asked; unknown ids left out). Depends on the time, so `no-store`.
#[utoipa::path(get, path = "/widget/today", tag = "widget", description = "Whether each desk is open now and its hours today, in its own time zone with its country's holidays; unknown ids are left out.",
    params(("ids" = String, Query, description = "Up to 100 desk ids, comma-separated", example = "it-milano-anolf")),
    responses(
        (status = 200, description = "`{\"id\": {\"open_now\": true|false|null, \"hours\": [[\"09:00\", \"13:00\"]]}}`", body = Object, content_type = "application/json"),
        (status = 400, description = "A parameter is unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn today(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = TodayRequest::from_query(q.as_deref())?;
    let s = st.snapshot.load();
    let found = today_of(&s, &req, chrono::Utc::now());
    let mut out = serde_json::Map::new();
    for (id, t) in found {
        out.insert(id, serde_json::json!({ "open_now": t.open_now, "hours": t.hours }));
    }
    let mut res = (StatusCode::OK, serde_json::to_vec(&out).unwrap_or_default()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(s.version()) {
        res.headers_mut().insert(super::handlers::BUNDLE_VERSION, v);
    }
    Ok(res)
}

/// `GET /basemap/natural-earth/{z}/{x}/{y}.json`: one tile of the default base map; `204` for open
/// sea; `400` naming `z`, `x`, `y` or `format` otherwise.
#[utoipa::path(get, path = "/basemap/natural-earth/{z}/{x}/{y}", tag = "widget", description = "A tile of the default Natural Earth base map (zooms 0–6; clients overzoom the last): geojson-vt features in tile units.",
    params(
        ("z" = u8, Path, minimum = 0, maximum = 6, description = "Zoom"),
        ("x" = u32, Path, description = "Column, 0 to 2^z − 1"),
        ("y" = String, Path, description = "Row, 0 to 2^z − 1, then `.json`", example = "22.json")),
    responses(
        (status = 200, description = "The tile's features", body = [Object], content_type = "application/json"),
        (status = 204, description = "Open sea: nothing to draw"),
        (status = 304, description = "Unchanged (`If-None-Match` held the `ETag`)"),
        (status = 400, description = "A parameter is unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn basemap_tile(Path((z, x, file)): Path<(String, String, String)>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    crate::query::params::no_params(q.as_deref())?;
    let bad = |name: &str, reason: String| ApiError::BadParam(ParamError { name: name.to_string(), reason });
    let Some(y) = file.strip_suffix(".json") else {
        return Err(bad("format", "the base map's tiles are `{z}/{x}/{y}.json`".into()));
    };
    let number = |name: &str, v: &str| v.parse::<u32>().map_err(|_| bad(name, format!("`{}` is not a whole number", v.chars().take(40).collect::<String>())));
    let (z, x, y) = (number("z", &z)?, number("x", &x)?, number("y", y)?);
    let b = BaseMap::embedded();
    b.check(z, x, y).map_err(|e| bad(e.name, e.reason))?;
    let etag = format!("\"{}-{z}-{x}-{y}\"", b.hash);
    Ok(match b.tile(z, x, y) {
        Some(text) => asset(&headers, &etag, text, "application/json"),
        None => {
            let mut res = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                res.headers_mut().insert(header::ETAG, v);
            }
            res
        }
    })
}

/// The `data-` attributes of a widget's placeholder (see the README's "Widget" section).
#[derive(Default)]
struct Attrs {
    lang: String,
    center: Option<String>,
    zoom: Option<String>,
    domain: Option<String>,
    audience: Option<String>,
    lang_filter: Option<String>,
    embedded: bool,
}

/// The widget's placeholder as a partner writes it.
fn widget_div(a: &Attrs, list_link: &str, ui: &Ui) -> Markup {
    html! {
        div data-sportello="" data-lang=(a.lang) data-center=[a.center.as_deref()] data-zoom=[a.zoom.as_deref()]
            data-domain=[a.domain.as_deref()] data-audience=[a.audience.as_deref()] data-lang-filter=[a.lang_filter.as_deref()]
            data-embedded=[a.embedded.then_some("true")] {
            // Shown only until the widget starts (its shadow root then takes the place).
            p { a href=(list_link) { (ui.s.widget_no_js) } }
        }
    }
}

fn html_answer(status: StatusCode, html: String, frame_ancestors: &str) -> Response {
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("{WIDGET_CSP}; frame-ancestors {frame_ancestors}")) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-language"));
    res
}

/// `GET /demo?ui=`: a page that embeds the widget as a partner site would (the same snippet),
/// with a visible link to `/list` for people without JavaScript.
#[utoipa::path(get, path = "/demo", tag = "widget", description = "A page that embeds the widget as a partner would, with a link to `/list`.",
    params(("ui" = Option<String>, Query, description = "The page's language")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html; charset=utf-8"),
        (status = 400, description = "A parameter is unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn demo(headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let p = crate::query::params::Params::parse(q.as_deref(), &["ui"])?;
    let catalog = Catalog::embedded();
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let ui = catalog.choose(p.get("ui"), accept);
    let list = format!("/list?ui={}", ui.code);
    let attrs = Attrs { lang: ui.code.clone(), center: Some("45.4642,9.19".into()), zoom: Some("12".into()), ..Attrs::default() };
    let main = html! {
        h1 { (ui.s.page_title) }
        p { (ui.s.intro) }
        p { (ui.s.widget_demo_intro) }
        p { a href=(list) { (ui.s.widget_no_js) } }
        (widget_div(&attrs, &list, ui))
        script src="/widget.js" defer {}
    };
    let html = render::layout(ui, catalog, &ui.s.page_title, html! {}, &|code| format!("/demo?ui={code}"), main);
    Ok(html_answer(StatusCode::OK, html, "'none'"))
}

/// `GET /embed?lang=&center=&zoom=&domain=&audience=&lang_filter=`: the widget alone, for an
/// iframe. Framable by the configured partner origins (`--cors-origin`), by any site when none
/// are configured.
#[utoipa::path(get, path = "/embed", tag = "widget", description = "The widget alone, for an iframe; framable by the configured partner origins (any when none are).",
    params(
        ("lang" = Option<String>, Query, description = "Interface language, one of the 30"),
        ("center" = Option<String>, Query, description = "`lat,lon` in degrees", example = "45.46,9.19"),
        ("zoom" = Option<u8>, Query, minimum = 0, maximum = 18),
        ("domain" = Option<String>, Query, description = "Preset service domains, comma-separated"),
        ("audience" = Option<super::openapi::AudienceParam>, Query),
        ("lang_filter" = Option<String>, Query, description = "Preset languages the desks speak, comma-separated")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html; charset=utf-8"),
        (status = 400, description = "A parameter is unknown, repeated or malformed; `detail` and `invalid_params` name it", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client rate limit; see `Retry-After`", body = super::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn embed(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let tax = Taxonomy::embedded();
    let r = EmbedRequest::from_query(q.as_deref(), tax)?;
    let catalog = Catalog::embedded();
    let ui = catalog.choose(r.lang.as_deref(), None);
    let attrs = Attrs {
        lang: ui.code.clone(),
        center: r.center.map(|c| format!("{},{}", c.lat.degrees(), c.lon.degrees())),
        zoom: r.zoom.map(|z| z.to_string()),
        domain: (!r.domains.is_empty()).then(|| r.domains.iter().map(|d| d.code()).collect::<Vec<_>>().join(",")),
        audience: r.audience.map(str::to_string),
        lang_filter: (!r.langs.is_empty()).then(|| r.langs.join(",")),
        embedded: true,
    };
    let list = format!("/list?ui={}", ui.code);
    let html = html! {
        (maud::DOCTYPE)
        html lang=(ui.code) dir=(ui.dir()) class="spw-embed" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (ui.s.page_title) " – sportello" }
                link rel="stylesheet" href={ "/assets/pages.css?v=" (render::css_version()) };
            }
            body {
                main {
                    h1 class="sp-visually-hidden" { (ui.s.page_title) }
                    (widget_div(&attrs, &list, ui))
                }
                script src="/widget.js" defer {}
            }
        }
    }
    .into_string();
    let ancestors = match &st.cors_origins {
        Some(list) => list.iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(" "),
        None => "*".to_string(),
    };
    Ok(html_answer(StatusCode::OK, html, &ancestors))
}
