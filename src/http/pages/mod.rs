//! The server-rendered pages that work without JavaScript: `/list` (the nearest desks, with a
//! form), `/d/{id}` (a desk's shareable page) and their stylesheet, in the 30 interface languages.
//! Handlers parse, call one query function (`query::list::list` or `query::list::desk`, which use
//! the API's own ranking) and render; statuses come from `http/error.rs`.

pub mod i18n;
pub mod render;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::error::{PageStatus, page};
use super::handlers::BUNDLE_VERSION;
use super::precompressed::{self, Precompressed};
use crate::index::Snapshot;
use crate::model::Taxonomy;
use crate::query::{self, ListAnswer, ListRequest, params};
use i18n::{Catalog, Ui};
use render::{Echo, Problem, Results};

/// The pages' Content-Security-Policy: only our own stylesheet loads, nothing runs, forms go
/// only to us, and no other site may frame the pages (a partner that frames the list page will
/// need its origin added here).
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// How long a text search on the list page may wait for a free slot.
const SEARCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

/// A rendered page with its headers: its own policy, the language negotiation it varies on and,
/// when data was read, the bundle version.
fn answer(kind: PageStatus, html: String, s: Option<&Snapshot>) -> Response {
    let mut res = page(kind, html);
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(header::VARY, HeaderValue::from_static("accept-language"));
    if let Some(v) = s.and_then(|s| HeaderValue::from_str(s.version()).ok()) {
        h.insert(BUNDLE_VERSION, v);
    }
    res
}

/// `GET /list`: the form, and the desks nearest to a place or position (or matching text).
#[utoipa::path(get, path = "/list", tag = "pages",
    description = "The nearest desks as a server-rendered HTML page with a form; works without JavaScript.",
    params(
        ("place" = Option<String>, Query, max_length = 100, description = "A town name"),
        ("lat" = Option<f64>, Query, minimum = -90, maximum = 90), ("lon" = Option<f64>, Query, minimum = -180, maximum = 180),
        ("q" = Option<String>, Query, max_length = 200, description = "Words for the need"),
        ("lang" = Option<String>, Query, description = "Language spoken at the desk"),
        ("domain" = Option<String>, Query, description = "Need (domain code)"),
        ("ui" = Option<String>, Query, description = "The page's language (else the browser's)")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html; charset=utf-8"),
        (status = 400, description = "The form again, with the error at its field", body = String, content_type = "text/html; charset=utf-8"),
    (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    (status = 503, description = "Busy; see `Retry-After`", content((String = "text/html; charset=utf-8"), (crate::http::openapi::Problem = "application/problem+json"))),
    ))]
pub async fn list(State(st): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let catalog = Catalog::embedded();
    let tax = Taxonomy::embedded();
    let echo = Echo::from_query(raw.as_deref());
    let ui: &Ui = catalog.choose(Some(echo.ui.as_str()), accept_language(&headers));
    let render = |problem: Option<&Problem>, found: Option<&Results>| render::list_page(ui, catalog, tax, &echo, problem, found);
    let req = match ListRequest::from_query(raw.as_deref()) {
        Ok(r) => r,
        Err(e) => return answer(PageStatus::BadInput, render(Some(&Problem::from_param(&e)), None), None),
    };
    let s = st.snapshot.load_full();
    let now = chrono::Utc::now();
    let found = if query::list::searches(&req) {
        let Ok(Ok(slot)) = tokio::time::timeout(SEARCH_WAIT, st.search_slots.clone().acquire_owned()).await else {
            return answer(PageStatus::Busy, render(Some(&Problem::Busy), None), None);
        };
        let (snap, code) = (s.clone(), ui.code.clone());
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            query::list::list(&snap, &req, &code, now)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    } else {
        query::list::list(&s, &req, &ui.code, now).map_err(|e| e.to_string())
    };
    match found {
        Err(reason) => {
            tracing::error!(%reason, "list page failed");
            answer(PageStatus::Internal, render(Some(&Problem::Internal), None), None)
        }
        Ok(ListAnswer::Form) => answer(PageStatus::Ok, render(None, None), Some(&s)),
        Ok(ListAnswer::PlaceNotFound(text)) => answer(PageStatus::BadInput, render(Some(&Problem::PlaceNotFound(text)), None), Some(&s)),
        Ok(ListAnswer::Desks { desks, place, understood }) => {
            let positioned = place.is_some() || !echo.lat.is_empty();
            let r = Results { desks: &desks, place: place.as_ref(), positioned, understood: &understood };
            answer(PageStatus::Ok, render(None, Some(&r)), Some(&s))
        }
    }
}

/// `GET /d/{id}?ui=`: one desk's page, with its Open Graph preview.
#[utoipa::path(get, path = "/d/{id}", tag = "pages",
    description = "One desk's shareable page, with Open Graph tags for a preview in messaging apps.",
    params(("id" = String, Path, description = "The desk's id"), ("ui" = Option<String>, Query, description = "The page's language")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html; charset=utf-8"),
        (status = 400, description = "A bad parameter", body = String, content_type = "text/html; charset=utf-8"),
        (status = 404, description = "No desk has this id", body = String, content_type = "text/html; charset=utf-8"),
    (status = 429, description = "Over the per-client rate limit", body = crate::http::openapi::Problem, content_type = "application/problem+json"),
    (status = 503, description = "Busy; see `Retry-After`", content((String = "text/html; charset=utf-8"), (crate::http::openapi::Problem = "application/problem+json"))),
    ))]
pub async fn desk(State(st): State<AppState>, Path(id): Path<String>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let catalog = Catalog::embedded();
    let echo = Echo::from_query(raw.as_deref());
    let ui = catalog.choose(Some(echo.ui.as_str()), accept_language(&headers));
    let here = |code: &str| format!("/list?ui={code}");
    if let Err(e) = params::Params::parse(raw.as_deref(), &["ui"]) {
        return answer(PageStatus::BadInput, render::message_page(ui, catalog, Some(&Problem::Param(e.name)), &here), None);
    }
    let s = st.snapshot.load();
    match query::list::desk(&s, &id, chrono::Utc::now()) {
        Some(d) => answer(PageStatus::Ok, render::desk_page(ui, catalog, Taxonomy::embedded(), &d), Some(&s)),
        None => answer(PageStatus::NotFound, render::message_page(ui, catalog, None, &here), Some(&s)),
    }
}

/// `GET /assets/pages.css`.
#[utoipa::path(get, path = "/assets/pages.css", tag = "pages", description = "The pages' stylesheet.",
    responses((status = 200, description = "CSS", body = String, content_type = "text/css; charset=utf-8")))]
pub async fn css(headers: HeaderMap) -> Response {
    static CSS: Precompressed = Precompressed::new(render::CSS.as_bytes());
    let chosen = CSS.choose(&headers);
    let mut res = chosen.body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    precompressed::mark(res.headers_mut(), chosen.coding);
    res
}

/// `GET /`: `303` to the widget's demo page (which links to `/list` for people without
/// JavaScript), keeping `ui`; a query asking for desks (`place`, `lat`, `lang`…, as links to `/`
/// made before the widget carried) goes on to `/list` with it.
#[utoipa::path(get, path = "/", tag = "pages", description = "Leads a newcomer on (`303 See Other`): to `/demo` keeping `ui`, or to `/list` with a query that asks for desks.",
    responses((status = 303, description = "See `Location`")))]
pub async fn root(RawQuery(raw): RawQuery) -> Redirect {
    let Some(q) = raw.filter(|q| !q.is_empty()) else { return Redirect::to("/demo") };
    if form_urlencoded::parse(q.as_bytes()).all(|(k, _)| k == "ui") {
        Redirect::to(&format!("/demo?{q}"))
    } else {
        Redirect::to(&format!("/list?{q}"))
    }
}
