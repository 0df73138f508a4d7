//! OGC API – Features under `/ogc`: the documents, links and media types the standard requires;
//! paging through `next` links (no desk twice, none missing, counts right), `bbox` and the
//! filters against brute force; `404`s and bad parameters; and real clients against the real
//! binary: GDAL's OAPIF driver (`ogrinfo`, Debian's `gdal-bin`) lists every desk with its
//! attributes across pages, OWSLib (PyPI, pinned, in `target/pytools`) reads the collections
//! and the items, and openapi-spec-validator (PyPI) accepts the API definition. `scripts/test` installs them
//! when missing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use sportello::http::AppState;
use sportello::index::Snapshot;
use sportello::model::{Audience, ContactPoint};

use crate::support::{Answer, Server, all_desks, embedded, get, get_with, synthetic};

const ITEMS: &str = "/ogc/collections/contact-points/items";

fn link<'a>(doc: &'a serde_json::Value, rel: &str) -> Option<&'a serde_json::Value> {
    doc["links"].as_array().unwrap().iter().find(|l| l["rel"] == rel)
}

/// The path and query of an absolute link (`http://localhost/ogc/…` → `/ogc/…`).
fn local(href: &str) -> String {
    let u = url::Url::parse(href).unwrap_or_else(|e| panic!("{href}: {e}"));
    assert_eq!(u.host_str(), Some("example.org"), "{href}");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

async fn ask(s: &Arc<Snapshot>, uri: &str) -> Answer {
    get_with(AppState::shared(s.clone()), uri, &[("host", "example.org")]).await
}

/// Every page from `first` on, following `next` links: the ids in order, and checks on each page.
async fn walk(s: &Arc<Snapshot>, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut uri = first.to_string();
    let mut matched = None;
    for page in 0.. {
        assert!(page < 10_000, "paging does not end");
        let a = ask(s, &uri).await;
        assert_eq!(a.status, 200, "{uri}: {}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.content_type(), "application/geo+json");
        let v = a.json();
        assert_eq!(v["type"], "FeatureCollection");
        let features = v["features"].as_array().unwrap();
        assert_eq!(v["numberReturned"].as_u64(), Some(features.len() as u64));
        let n = v["numberMatched"].as_u64().unwrap();
        assert_eq!(*matched.get_or_insert(n), n, "numberMatched changed between pages");
        assert!(chrono::DateTime::parse_from_rfc3339(v["timeStamp"].as_str().unwrap()).is_ok());
        let self_href = local(link(&v, "self").unwrap()["href"].as_str().unwrap());
        assert!(self_href.starts_with(ITEMS) && self_href.ends_with("f=json"), "{self_href}");
        assert_eq!(link(&v, "alternate").unwrap()["type"], "text/html");
        assert_eq!(link(&v, "collection").unwrap()["type"], "application/json");
        if page > 0 {
            assert!(link(&v, "prev").is_some(), "{uri}: no prev link");
        }
        ids.extend(features.iter().map(|f| f["id"].as_str().unwrap().to_string()));
        match link(&v, "next") {
            Some(next) => {
                assert_eq!(next["type"], "application/geo+json");
                uri = local(next["href"].as_str().unwrap());
            }
            None => break,
        }
    }
    assert_eq!(ids.len() as u64, matched.unwrap(), "{first}: the pages hold numberMatched desks");
    ids
}

/// The ids of `desks` passing `keep`, sorted.
fn ids_where(desks: &[ContactPoint], keep: impl Fn(&ContactPoint) -> bool) -> Vec<String> {
    let mut v: Vec<String> = desks.iter().filter(|d| keep(d)).map(|d| d.id.clone()).collect();
    v.sort();
    v
}

fn sorted_unique(ids: &[String], what: &str) -> Vec<String> {
    let set: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "{what}: a desk came twice");
    set.into_iter().cloned().collect()
}

#[tokio::test]
async fn landing_conformance_api_and_collection_carry_the_required_links_and_types() {
    let s = embedded();
    let a = ask(&s, "/ogc").await;
    assert_eq!((a.status.as_u16(), a.content_type()), (200, "application/json"));
    let v = a.json();
    // OWSLib asks for it with a trailing slash.
    assert_eq!(ask(&s, "/ogc/").await.json(), v);
    for (rel, kind) in [
        ("self", "application/json"),
        ("alternate", "text/html"),
        ("service-desc", "application/vnd.oai.openapi+json;version=3.0"),
        ("service-doc", "text/html"),
        ("conformance", "application/json"),
        ("data", "application/json"),
    ] {
        let l = link(&v, rel).unwrap_or_else(|| panic!("no {rel} link: {v}"));
        assert_eq!(l["type"], kind, "{rel}");
        let target = ask(&s, &local(l["href"].as_str().unwrap())).await;
        assert_eq!(target.status, 200, "{rel} link");
        assert!(target.content_type().starts_with(kind), "{rel}: {} is not {kind}", target.content_type());
    }

    let c = ask(&s, "/ogc/conformance").await.json();
    for class in ["core", "geojson", "oas30", "html"] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{class}");
        assert!(c["conformsTo"].as_array().unwrap().iter().any(|u| u == &uri), "{class}: {c}");
    }

    let api = ask(&s, "/ogc/api").await;
    assert_eq!(api.content_type(), "application/vnd.oai.openapi+json;version=3.0");
    let api = api.json();
    assert!(api["openapi"].as_str().unwrap().starts_with("3.0"));
    assert_eq!(api["servers"][0]["url"], "http://example.org/ogc");
    for p in ["/", "/conformance", "/api", "/collections", "/collections/contact-points", "/collections/contact-points/items", "/collections/contact-points/items/{featureId}"] {
        assert!(api["paths"][p]["get"]["responses"]["200"].is_object(), "{p} is not described");
    }
    assert_eq!(api["components"]["parameters"]["limit"]["schema"]["maximum"], 1000);
    assert_eq!(api["components"]["parameters"]["limit"]["schema"]["default"], 10);

    // The collection, alone and in the list, with the extent of every desk (brute force).
    let desks = all_desks(&s);
    let lons = desks.iter().map(|d| d.position.lon.degrees());
    let lats = desks.iter().map(|d| d.position.lat.degrees());
    let want = [lons.clone().fold(f64::MAX, f64::min), lats.clone().fold(f64::MAX, f64::min), lons.fold(f64::MIN, f64::max), lats.fold(f64::MIN, f64::max)];
    let list = ask(&s, "/ogc/collections").await.json();
    assert!(link(&list, "self").is_some() && link(&list, "alternate").is_some());
    let one = ask(&s, "/ogc/collections/contact-points").await.json();
    assert_eq!(list["collections"][0], one);
    assert_eq!(one["id"], "contact-points");
    assert_eq!(one["itemType"], "feature");
    assert_eq!(one["extent"]["spatial"]["crs"], "http://www.opengis.net/def/crs/OGC/1.3/CRS84");
    let got: Vec<f64> = one["extent"]["spatial"]["bbox"][0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(got, want);
    let items = one["links"].as_array().unwrap().iter().filter(|l| l["rel"] == "items").map(|l| l["type"].as_str().unwrap()).collect::<Vec<_>>();
    assert_eq!(items, ["application/geo+json", "text/html"]);

    // HTML, asked by `f` or by a browser's Accept.
    for (uri, accept) in [("/ogc?f=html", "application/json"), ("/ogc", "text/html,application/xhtml+xml,*/*;q=0.8"), ("/ogc/collections/contact-points/items?f=html", "*/*")] {
        let a = get_with(AppState::shared(s.clone()), uri, &[("host", "example.org"), ("accept", accept)]).await;
        assert_eq!((a.status.as_u16(), a.content_type()), (200, "text/html; charset=utf-8"), "{uri}");
        assert!(String::from_utf8(a.body).unwrap().starts_with("<!DOCTYPE html>"));
    }
}

#[tokio::test]
async fn paging_lists_every_desk_once_for_each_audience() {
    let s = embedded();
    let desks = all_desks(&s);
    let public = ids_where(&desks, |d| d.audience == Audience::Public);
    let unions = ids_where(&desks, |d| d.audience == Audience::Unions);
    let every = ids_where(&desks, |_| true);
    assert!(!unions.is_empty());
    for (query, want) in [("limit=7", &public), ("limit=10&audience=public", &public), ("limit=3&audience=unions", &unions), ("limit=9&audience=all", &every), ("limit=1000&audience=all", &every)] {
        let ids = walk(&s, &format!("{ITEMS}?{query}")).await;
        assert_eq!(&sorted_unique(&ids, query), want, "{query}");
    }
    // The default page is 10 desks; the previous page of the second is the first.
    let first = ask(&s, ITEMS).await.json();
    assert_eq!(first["features"].as_array().unwrap().len(), 10);
    assert!(link(&first, "prev").is_none());
    let second = ask(&s, &local(link(&first, "next").unwrap()["href"].as_str().unwrap())).await.json();
    let back = ask(&s, &local(link(&second, "prev").unwrap()["href"].as_str().unwrap())).await.json();
    assert_eq!(back["features"], first["features"]);
    // Past the end: an empty page that still counts the matches.
    let past = ask(&s, &format!("{ITEMS}?offset=5000")).await.json();
    assert_eq!((past["numberReturned"].as_u64(), past["numberMatched"].as_u64()), (Some(0), Some(public.len() as u64)));
    assert!(link(&past, "next").is_none());
}

#[tokio::test]
async fn bbox_and_filters_select_what_brute_force_selects() {
    let s = synthetic();
    let desks = all_desks(&s);
    let speaks_any = |d: &ContactPoint, langs: &[&str]| langs.iter().any(|l| d.speaks(l));
    let offers_any = |d: &ContactPoint, codes: &[&str]| d.domains.iter().any(|x| codes.contains(&x.code()));
    let inside = |d: &ContactPoint, [w, so, e, n]: [f64; 4]| {
        let (lon, lat) = (d.position.lon.degrees(), d.position.lat.degrees());
        let lon_ok = if w <= e { (w..=e).contains(&lon) } else { lon >= w || lon <= e };
        lon_ok && (so..=n).contains(&lat)
    };
    let cases: Vec<(String, Vec<String>)> = vec![
        ("bbox=7,44,13,47".into(), ids_where(&desks, |d| d.audience == Audience::Public && inside(d, [7.0, 44.0, 13.0, 47.0]))),
        ("bbox=7,44,0,13,47,0&audience=all".into(), ids_where(&desks, |d| inside(d, [7.0, 44.0, 13.0, 47.0]))),
        ("bbox=-5,35,3,45&lang=ar,ti&audience=all".into(), ids_where(&desks, |d| inside(d, [-5.0, 35.0, 3.0, 45.0]) && speaks_any(d, &["ar", "ti"]))),
        ("lang=ti".into(), ids_where(&desks, |d| d.audience == Audience::Public && speaks_any(d, &["ti"]))),
        ("domain=housing,health&audience=unions".into(), ids_where(&desks, |d| d.audience == Audience::Unions && offers_any(d, &["housing", "health"]))),
        ("bbox=170,-10,-170,10&audience=all".into(), ids_where(&desks, |d| inside(d, [170.0, -10.0, -170.0, 10.0]))),
        // Most of the desks: answered by one pass in list order, not through the R-tree.
        ("bbox=-30,30,12,70&lang=en".into(), ids_where(&desks, |d| d.audience == Audience::Public && inside(d, [-30.0, 30.0, 12.0, 70.0]) && speaks_any(d, &["en"]))),
    ];
    for (query, want) in cases {
        // Synthetic desks are all in Europe: only the box over the antimeridian is empty.
        assert_eq!(want.is_empty(), query.starts_with("bbox=170"), "{query}");
        let ids = walk(&s, &format!("{ITEMS}?limit=1000&{query}")).await;
        assert_eq!(sorted_unique(&ids, &query), want, "{query}");
    }
    // A limit over the maximum is served as the maximum, with a next link.
    let big = ask(&s, &format!("{ITEMS}?limit=5000&audience=all")).await.json();
    assert_eq!(big["numberReturned"], 1000);
    assert_eq!(big["numberMatched"], desks.len());
    assert!(local(link(&big, "next").unwrap()["href"].as_str().unwrap()).contains("limit=1000&offset=1000"));
}

#[tokio::test]
async fn one_desk_by_id_unknown_ids_and_bad_parameters() {
    let s = embedded();
    let desks = all_desks(&s);
    let union_desk = desks.iter().find(|d| d.audience == Audience::Unions).unwrap();
    let a = ask(&s, &format!("{ITEMS}/{}", union_desk.id)).await;
    assert_eq!((a.status.as_u16(), a.content_type()), (200, "application/geo+json"));
    let v = a.json();
    assert_eq!(v["id"], union_desk.id.as_str());
    assert_eq!(v["type"], "Feature");
    assert_eq!(v["properties"]["audience"], "unions");
    assert!(local(link(&v, "self").unwrap()["href"].as_str().unwrap()).starts_with(&format!("{ITEMS}/{}", union_desk.id)));
    assert_eq!(local(link(&v, "collection").unwrap()["href"].as_str().unwrap()), "/ogc/collections/contact-points?f=json");
    // The same desk as `/api/v1/points/{id}`, links aside.
    let mut plain = v.clone();
    plain.as_object_mut().unwrap().remove("links");
    assert_eq!(plain, get(&s, &format!("/api/v1/points/{}", union_desk.id)).await.json());

    for uri in [format!("{ITEMS}/no-such-desk"), "/ogc/collections/desks".to_string(), "/ogc/collections/desks/items".to_string()] {
        let a = ask(&s, &uri).await;
        assert_eq!((a.status.as_u16(), a.content_type()), (404, "application/problem+json"), "{uri}");
    }
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=-3", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=1,2,3,4,5", "bbox"),
        ("bbox=1,50,3,40", "bbox"),
        ("bbox=1,2,200,4", "bbox"),
        ("datetime=yesterday", "datetime"),
        ("datetime=../..", "datetime"),
        ("f=xml", "f"),
        ("lang=klingon", "lang"),
        ("domain=visa", "domain"),
        ("audience=everyone", "audience"),
        ("color=red", "color"),
        ("limit=5&limit=6", "limit"),
        ("open_now=true", "open_now"),
    ] {
        let a = ask(&s, &format!("{ITEMS}?{query}")).await;
        assert_eq!((a.status.as_u16(), a.content_type()), (400, "application/problem+json"), "{query}");
        assert_eq!(a.json()["invalid_params"][0]["name"], param, "{query}");
    }
    // Valid datetimes are accepted (desks have no temporal geometry, so nothing is dropped).
    let all = ask(&s, &format!("{ITEMS}?limit=1")).await.json()["numberMatched"].clone();
    for d in ["2026-12-02T08:00:00Z", "2020-01-01T00:00:00Z/..", "../2030-01-01T00:00:00+01:00"] {
        let q: String = form_urlencoded::byte_serialize(d.as_bytes()).collect();
        let a = ask(&s, &format!("{ITEMS}?limit=1&datetime={q}")).await;
        assert_eq!(a.status, 200, "{d}");
        assert_eq!(a.json()["numberMatched"], all);
    }
    // The other documents take only `f` and the filters (which GDAL repeats on every request).
    for uri in ["/ogc?k=1", "/ogc/conformance?bbox=1,2,3,4", "/ogc/collections?f=pdf", "/ogc/api?audience=nobody"] {
        assert_eq!(ask(&s, uri).await.status, 400, "{uri}");
    }
    let filtered = ask(&s, "/ogc/collections/contact-points?audience=all&lang=ar").await.json();
    let items = link(&filtered, "items").unwrap()["href"].as_str().unwrap();
    assert!(items.ends_with("/items?lang=ar&audience=all&f=json"), "{items}");
    // A forwarded scheme counts only from a trusted proxy; the Host names the links.
    let a = get_with(AppState::shared(s.clone()), "/ogc", &[("host", "desks.example.net:8443"), ("x-forwarded-proto", "https")]).await.json();
    assert_eq!(link(&a, "self").unwrap()["href"], "http://desks.example.net:8443/ogc?f=json");
    let a = get_with(AppState::shared(s.clone()), "/ogc", &[("host", "evil\"><script>")]).await.json();
    assert!(link(&a, "self").unwrap()["href"].as_str().unwrap().starts_with("http://localhost/"));
}

fn python() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools/bin/python3")
}

/// `ogrinfo ARGS…`'s standard output; GDAL must be installed (`scripts/test` installs it).
fn ogrinfo(args: &[&str]) -> String {
    let out = Command::new("ogrinfo").args(args).output().expect("ogrinfo runs: install gdal-bin (scripts/test does)");
    assert!(out.status.success(), "ogrinfo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The values ogrinfo prints for every feature's attribute `name`.
fn ogr_values(report: &str, name: &str) -> Vec<String> {
    let prefix = format!("  {name} (");
    report.lines().filter_map(|l| l.strip_prefix(&prefix)).filter_map(|l| l.split_once(") = ")).map(|(_, v)| v.to_string()).collect()
}

#[tokio::test]
async fn gdal_and_owslib_read_every_desk_over_the_real_server() {
    // The embedded sample, as `serve` with no bundle serves it.
    let s = embedded();
    let desks = all_desks(&s);
    let public: Vec<&ContactPoint> = desks.iter().filter(|d| d.audience == Audience::Public).collect();
    let server = Server::start(&["--rate-limit", "0"], &[("RUST_LOG", "warn")]).await;
    let landing = format!("OAPIF:{}/ogc", server.base);

    // The summary: one layer, its count from numberMatched, its fields, its extent.
    let summary = ogrinfo(&["-ro", "-al", "-so", &landing]);
    assert!(summary.contains("using driver `OAPIF' successful"), "{summary}");
    assert!(summary.contains("Layer name: contact-points"), "{summary}");
    assert!(summary.contains(&format!("Feature Count: {}", public.len())), "{summary}");
    for field in ["name: String", "organization: String", "audience: String", "languages: StringList", "domains: StringList", "address: String(JSON)", "opening_hours: String"] {
        assert!(summary.contains(field), "{field}: {summary}");
    }

    // Every public desk, ten a page, with its attributes and position.
    let report = ogrinfo(&["-ro", "-al", "-oo", "PAGE_SIZE=10", &landing, "contact-points"]);
    let features = report.lines().filter(|l| l.starts_with("OGRFeature(contact-points):")).count();
    assert_eq!(features, public.len(), "{report}");
    let mut ids = ogr_values(&report, "id");
    let names = ogr_values(&report, "name");
    let langs = ogr_values(&report, "languages");
    assert_eq!((ids.len(), names.len(), langs.len()), (public.len(), public.len(), public.len()));
    for ((id, name), l) in ids.iter().zip(&names).zip(&langs) {
        let d = public.iter().find(|d| &d.id == id).unwrap_or_else(|| panic!("{id} is not a public desk"));
        assert_eq!(name, &d.name);
        let codes: Vec<&str> = d.languages.iter().map(|l| l.as_str()).collect();
        assert_eq!(l, &format!("({}:{})", codes.len(), codes.join(",")), "{id}");
    }
    let points = report.lines().filter(|l| l.trim_start().starts_with("POINT (")).count();
    assert_eq!(points, public.len());
    ids.sort();
    assert_eq!(sorted_unique(&ids, "ogrinfo"), ids_where(&desks, |d| d.audience == Audience::Public));

    // With audience=all in the URL (GDAL repeats it on every request): every desk.
    let all = ogrinfo(&["-ro", "-al", "-oo", "PAGE_SIZE=10", &format!("{landing}?audience=all"), "contact-points"]);
    let mut ids = ogr_values(&all, "id");
    ids.sort();
    assert_eq!(sorted_unique(&ids, "ogrinfo audience=all"), ids_where(&desks, |_| true));

    // OWSLib: the collections, the collection, pages of items, one item, the API definition.
    let script = r#"
import json, sys
from owslib.ogcapi.features import Features
w = Features(sys.argv[1])
out = {"conformance": w.conformance()["conformsTo"], "collections": [c["id"] for c in w.collections()["collections"]]}
c = w.collection("contact-points")
out["extent"] = c["extent"]["spatial"]["bbox"][0]
for audience in ("public", "all"):
    ids, offset, matched = [], 0, None
    while True:
        page = w.collection_items("contact-points", limit=8, offset=offset, audience=audience)
        matched = page["numberMatched"]
        ids += [f["id"] for f in page["features"]]
        if not any(l["rel"] == "next" for l in page["links"]):
            break
        offset += 8
    out[audience] = {"ids": ids, "matched": matched}
one = w.collection_item("contact-points", out["all"]["ids"][-1])
out["one"] = {"id": one["id"], "name": one["properties"]["name"]}
out["bbox"] = len(w.collection_items("contact-points", bbox=[9.0, 45.3, 9.4, 45.6], limit=100)["features"])
# The API definition, checked against the OpenAPI 3.0 schema by openapi-spec-validator.
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
api = w.api()
validate(api)
out["openapi"] = api["openapi"]
broken = dict(api, paths={"/": {"get": {"responses": {"200": {}}}}})
try:
    validate(broken)
    out["broken_refused"] = False
except OpenAPIValidationError:
    out["broken_refused"] = True
print(json.dumps(out))
"#;
    let run = Command::new(python()).arg("-c").arg(script).arg(format!("{}/ogc", server.base)).output().expect("OWSLib runs: scripts/test installs it in target/pytools");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let got: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(got["collections"], serde_json::json!(["contact-points"]));
    assert!(got["conformance"].as_array().unwrap().iter().any(|c| c.as_str().unwrap().ends_with("/conf/geojson")));
    assert_eq!(got["extent"].as_array().unwrap().len(), 4);
    for (audience, keep) in [("public", Some(Audience::Public)), ("all", None)] {
        let ids: Vec<String> = got[audience]["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        let want = ids_where(&desks, |d| keep.is_none_or(|a| d.audience == a));
        assert_eq!(got[audience]["matched"], want.len());
        assert_eq!(sorted_unique(&ids, audience), want, "OWSLib {audience}");
    }
    let last = got["one"]["id"].as_str().unwrap();
    assert_eq!(got["one"]["name"], desks.iter().find(|d| d.id == last).unwrap().name.as_str());
    let milan = desks.iter().filter(|d| d.audience == Audience::Public && (9.0..=9.4).contains(&d.position.lon.degrees()) && (45.3..=45.6).contains(&d.position.lat.degrees())).count();
    assert!(milan > 0);
    assert_eq!(got["bbox"], milan);
    assert_eq!(got["openapi"], "3.0.3");
    assert_eq!(got["broken_refused"], true, "the validator must refuse a response without a description");
    server.stop();
}

proptest::proptest! {
    /// Any query string gives a bounded request or an error naming a parameter it holds.
    #[test]
    fn any_items_query_is_a_bounded_request_or_names_its_parameter(
        pairs in proptest::collection::vec((
            proptest::sample::select(vec!["bbox", "limit", "offset", "datetime", "f", "lang", "domain", "audience", "k", ""]),
            "[-0-9a-z.,/:+ ]{0,24}",
        ), 0..5)
    ) {
        let raw = pairs.iter().map(|(k, v)| format!("{k}={}", form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>())).collect::<Vec<_>>().join("&");
        match sportello::query::ogc::ItemsRequest::from_query(Some(&raw)) {
            Ok(r) => {
                proptest::prop_assert!((1..=sportello::query::ogc::MAX_LIMIT).contains(&r.limit));
                let page = sportello::query::ogc::items(&embedded(), &r);
                proptest::prop_assert!(page.ords.len() <= r.limit);
                proptest::prop_assert!(page.ords.len() <= page.matched);
            }
            Err(e) => {
                proptest::prop_assert!(pairs.iter().any(|(k, _)| *k == e.name), "{raw}: {e}");
                proptest::prop_assert!(e.reason.chars().count() <= 240, "{e}");
            }
        }
    }
}
