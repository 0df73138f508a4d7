//! The HTTP contract: GeoJSON answers, problem+json errors that name the parameter, clusters,
//! CORS, compression, and a real server on a loopback socket.

use std::sync::Arc;

use sportello::http::AppState;
use sportello::model::Domain;

use crate::support::{Answer, embedded, get, get_with, minimal_desk, snapshot_of, synthetic};

fn features(a: &Answer) -> Vec<serde_json::Value> {
    let v = a.json();
    assert_eq!(v["type"], "FeatureCollection");
    // Valid GeoJSON by the geojson crate's reading, too.
    let fc: geojson::FeatureCollection = serde_json::from_value(v.clone()).expect("valid GeoJSON");
    assert_eq!(fc.features.len(), v["features"].as_array().unwrap().len());
    v["features"].as_array().unwrap().clone()
}

#[tokio::test]
async fn nearest_arabic_family_reunification_near_milan() {
    let a = get(&embedded(), "/api/v1/nearest?lat=45.4642&lon=9.19&k=3&lang=ar&domain=family-reunification").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type(), "application/geo+json");
    let f = features(&a);
    assert_eq!(f.len(), 3);
    let mut last = -1.0;
    for feat in &f {
        let p = &feat["properties"];
        let d = p["distance_m"].as_f64().expect("distance_m");
        assert!(d >= last, "nearest first");
        last = d;
        assert!(p["languages"].as_array().unwrap().iter().any(|l| l == "ar"));
        assert!(p["domains"].as_array().unwrap().iter().any(|l| l == "family-reunification"));
        assert_eq!(p["audience"], "public");
        assert!(feat["id"].is_string());
        let c = feat["geometry"]["coordinates"].as_array().unwrap();
        assert!((c[0].as_f64().unwrap() - 9.0).abs() < 5.0 && (c[1].as_f64().unwrap() - 45.0).abs() < 5.0, "[lon, lat] order");
    }
}

#[tokio::test]
async fn max_km_and_audience_filters() {
    let s = embedded();
    let a = get(&s, "/api/v1/nearest?lat=45.4642&lon=9.19&k=100&max_km=50").await;
    for f in features(&a) {
        assert!(f["properties"]["distance_m"].as_f64().unwrap() <= 50_000.0);
    }
    let unions = get(&s, "/api/v1/nearest?lat=50.85&lon=4.35&k=100&audience=unions").await;
    let uf = features(&unions);
    assert!(!uf.is_empty());
    assert!(uf.iter().all(|f| f["properties"]["audience"] == "unions"));
    let all = get(&s, "/api/v1/nearest?lat=50.85&lon=4.35&k=100&audience=all").await;
    assert_eq!(features(&all).len(), s.len().min(100));
}

#[tokio::test]
async fn bad_parameters_answer_400_problem_json_naming_the_parameter() {
    let s = embedded();
    let cases: &[(&str, &str)] = &[
        ("/api/v1/nearest?lon=9.19", "lat"),
        ("/api/v1/nearest?lat=abc&lon=9.19", "lat"),
        ("/api/v1/nearest?lat=45&lon=181", "lon"),
        ("/api/v1/nearest?lat=NaN&lon=9", "lat"),
        ("/api/v1/nearest?lat=inf&lon=9", "lat"),
        ("/api/v1/nearest?lat=45&lon=9&k=0", "k"),
        ("/api/v1/nearest?lat=45&lon=9&k=101", "k"),
        ("/api/v1/nearest?lat=45&lon=9&k=-1", "k"),
        ("/api/v1/nearest?lat=45&lon=9&max_km=-3", "max_km"),
        ("/api/v1/nearest?lat=45&lon=9&lang=english", "lang"),
        ("/api/v1/nearest?lat=45&lon=9&lang=ar,", "lang"),
        ("/api/v1/nearest?lat=45&lon=9&domain=family-reunion", "domain"),
        ("/api/v1/nearest?lat=45&lon=9&audience=everyone", "audience"),
        ("/api/v1/nearest?lat=45&lon=9&open_now=yes", "open_now"),
        ("/api/v1/nearest?lat=45&lon=9&colour=red", "colour"),
        ("/api/v1/nearest?lat=45&lat=46&lon=9", "lat"),
        ("/api/v1/points?bbox=1,2,3", "bbox"),
        ("/api/v1/points?bbox=9,46,10,45", "bbox"),
        ("/api/v1/points?bbox=45,9,46,200", "bbox"),
        ("/api/v1/points?zoom=3", "bbox"),
        ("/api/v1/points?bbox=9,45,10,46&zoom=23", "zoom"),
        ("/api/v1/search?q=lavoro&lat=45", "lon"),
        ("/api/v1/search?q=lavoro&limit=1000", "limit"),
        ("/api/v1/domains?ui=klingon", "ui"),
        ("/api/v1/points/it-milano-anolf?x=1", "x"),
    ];
    for (uri, param) in cases {
        let a = get(&s, uri).await;
        assert_eq!(a.status, 400, "{uri}");
        assert_eq!(a.content_type(), "application/problem+json", "{uri}");
        let p = a.json();
        assert_eq!(p["status"], 400);
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("`{param}`")), "{uri}: detail {detail:?} names {param}");
        assert_eq!(p["invalid_params"][0]["name"], *param, "{uri}");
    }
    let a = get(&s, "/api/v1/nearest?lat=45&lon=9&domain=family-reunion").await;
    assert!(a.json()["detail"].as_str().unwrap().contains("did you mean `family-reunification`"));
}

#[tokio::test]
async fn lists_are_capped_and_refused_values_are_not_echoed_whole() {
    let s = embedded();
    let langs: Vec<String> = sportello::model::Taxonomy::embedded().languages.iter().map(|l| l.code.clone()).collect();
    let many = format!("{},hu,fi,cs", langs.join(","));
    let a = get(&s, &format!("/api/v1/nearest?lat=45&lon=9&lang={many}")).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["invalid_params"][0]["name"], "lang");
    assert!(a.json()["detail"].as_str().unwrap().contains("more than 32"), "{:?}", a.json());
    // Repeats count once: 40 times the same domain is one domain.
    let same = vec!["housing"; 40].join(",");
    assert_eq!(get(&s, &format!("/api/v1/nearest?lat=45&lon=9&domain={same}")).await.status, 200);
    // A refused value is repeated in the error at most 40 characters long.
    let long = "x".repeat(5_000);
    for uri in [
        format!("/api/v1/nearest?lat={long}&lon=9"),
        format!("/api/v1/nearest?lat=45&lon=9&k={long}"),
        format!("/api/v1/nearest?lat=45&lon=9&lang={long}"),
        format!("/api/v1/nearest?lat=45&lon=9&domain={long}"),
        format!("/api/v1/nearest?lat=45&lon=9&audience={long}"),
        format!("/api/v1/nearest?lat=45&lon=9&open_now={long}"),
        format!("/api/v1/domains?ui={long}"),
        format!("/api/v1/nearest?lat=45&lon=9&{long}=1"),
    ] {
        let a = get(&s, &uri).await;
        assert_eq!(a.status, 400, "{}", &uri[..60]);
        let detail = a.json()["detail"].as_str().unwrap().to_string();
        assert!(detail.len() < 400, "{} bytes: {detail}", detail.len());
    }
}

#[tokio::test]
async fn odd_input_never_panics() {
    let s = embedded();
    let long = "a".repeat(10_000);
    let uris = [
        "/api/v1/nearest?lat=%FF%FE&lon=9".to_string(),
        "/api/v1/nearest?%00=1".to_string(),
        "/api/v1/nearest?lat=1e308&lon=1e308".to_string(),
        "/api/v1/nearest?lat=-0&lon=-0".to_string(),
        "/api/v1/nearest?lat=90&lon=180&k=100".to_string(),
        "/api/v1/nearest?lat=-90&lon=-180&k=100&max_km=20038".to_string(),
        format!("/api/v1/search?q={long}"),
        "/api/v1/search?q=%F0%9F%98%80%20%D8%B9%D9%85%D9%84".to_string(),
        "/api/v1/points?bbox=-180,-90,180,90&zoom=0".to_string(),
        "/api/v1/points?bbox=180,-90,-180,90".to_string(),
        "/api/v1/points?bbox=0,0,0,0&zoom=22".to_string(),
        "/api/v1/points/%2e%2e%2f".to_string(),
        format!("/api/v1/points/{long}"),
    ];
    for u in &uris {
        let a = get(&s, u).await;
        assert!(a.status.is_success() || a.status.is_client_error(), "{u}: {}", a.status);
        if a.status.is_client_error() {
            assert_eq!(a.content_type(), "application/problem+json", "{u}");
        }
    }
}

#[tokio::test]
async fn one_point_by_id_and_404s() {
    let s = embedded();
    let a = get(&s, "/api/v1/points/it-milano-anolf").await;
    assert_eq!(a.status, 200);
    let f = a.json();
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["id"], "it-milano-anolf");
    assert!(f["properties"].get("distance_m").is_none());
    let a = get(&s, "/api/v1/points/no-such-desk").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.content_type(), "application/problem+json");
    let a = get(&s, "/api/v2/everything").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.content_type(), "application/problem+json");
}

/// (id, desks) of every feature of a viewport answer: a cluster counts its members, a desk 1.
fn shown(a: &Answer) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = features(a)
        .iter()
        .map(|x| {
            let n = if x["properties"]["cluster"] == true { x["properties"]["point_count"].as_u64().unwrap() } else { 1 };
            (x["id"].as_str().unwrap().to_string(), n)
        })
        .collect();
    v.sort();
    v
}

/// Brute force: group every matching desk of the world into 64-pixel cells at `zoom`, keep the
/// cells whose members' mean lies in the box.
fn expected_cells(desks: &[sportello::model::ContactPoint], zoom: u8, bbox: [f64; 4]) -> Vec<(String, u64)> {
    use std::collections::BTreeMap;
    let mut cells: BTreeMap<(u32, u32), (u64, f64, f64, String)> = BTreeMap::new();
    for p in desks {
        let (lon, lat) = (p.position.lon.degrees(), p.position.lat.degrees());
        let k = sportello::index::clusters::cell_of(lon, lat, zoom);
        let e = cells.entry(k).or_insert((0, 0.0, 0.0, p.id.clone()));
        e.0 += 1;
        e.1 += lon;
        e.2 += lat;
    }
    let mut v: Vec<(String, u64)> = cells
        .into_iter()
        .filter(|(_, (n, sx, sy, _))| {
            let (x, y) = (sx / *n as f64, sy / *n as f64);
            (bbox[0]..=bbox[2]).contains(&x) && (bbox[1]..=bbox[3]).contains(&y)
        })
        .map(|((cx, cy), (n, _, _, id))| if n == 1 { (id, 1) } else { (format!("cluster/{zoom}/{cx}/{cy}"), n) })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn viewport_clusters_when_crowded_as_brute_force_grouping_says() {
    let s = synthetic();
    let desks = crate::support::all_desks(&s);
    let public: Vec<_> = desks.iter().filter(|p| p.audience == sportello::model::Audience::Public).cloned().collect();
    for (zoom, bbox) in [(4u8, [-11.0, 34.0, 31.0, 62.0]), (6, [0.0, 40.0, 20.0, 52.0]), (9, [-1.5, 51.0, 1.0, 52.0])] {
        let uri = format!("/api/v1/points?bbox={},{},{},{}&zoom={zoom}", bbox[0], bbox[1], bbox[2], bbox[3]);
        let a = get(&s, &uri).await;
        assert_eq!(a.status, 200);
        let got = shown(&a);
        assert!(got.iter().any(|(id, _)| id.starts_with("cluster/")), "{uri}: clustered");
        assert_eq!(got, expected_cells(&public, zoom, bbox), "{uri}");
        let total: u64 = got.iter().map(|(_, n)| n).sum();
        assert_eq!(a.json()["point_count"].as_u64().unwrap(), total);
        // The precomputed path (no filter) and the scanning path (a filter every desk passes)
        // give the same answer.
        let all_domains: Vec<&str> = Domain::ALL.iter().map(|d| d.code()).collect();
        let scanned = get(&s, &format!("{uri}&domain={}", all_domains.join(","))).await;
        assert_eq!(shown(&scanned), got, "{uri}: scan = pyramid");
    }
    // With a filter, the same grouping of the matching desks.
    let housing: Vec<_> = public.iter().filter(|p| p.domains.contains(&Domain::Housing)).cloned().collect();
    let a = get(&s, "/api/v1/points?bbox=-11,34,31,62&zoom=5&domain=housing").await;
    assert_eq!(shown(&a), expected_cells(&housing, 5, [-11.0, 34.0, 31.0, 62.0]));
    // A street-level viewport shows single desks, with the filters applied.
    let a = get(&s, "/api/v1/points?bbox=9.17,45.45,9.21,45.48&zoom=15&domain=housing").await;
    for x in features(&a) {
        assert!(x["properties"].get("cluster").is_none());
        assert!(x["properties"]["domains"].as_array().unwrap().iter().any(|d| d == "housing"));
    }
}

#[tokio::test]
async fn viewport_across_the_antimeridian() {
    let points = vec![
        minimal_desk("east", -17.0, 179.5),
        minimal_desk("west", -17.0, -179.5),
        minimal_desk("far", -17.0, 170.0),
    ];
    let s = Arc::new(snapshot_of(points));
    let a = get(&s, "/api/v1/points?bbox=179,-18,-179,-16").await;
    let mut ids: Vec<String> = features(&a).iter().map(|f| f["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    assert_eq!(ids, vec!["east", "west"]);
}

#[tokio::test]
async fn search_answers_with_facets_and_understood_domains() {
    let a = get(&embedded(), "/api/v1/search?q=regroupement%20familial&lat=50.63&lon=5.57&limit=5").await;
    assert_eq!(a.status, 200);
    let v = a.json();
    features(&a);
    assert_eq!(v["understood_domains"][0], "family-reunification");
    assert!(v["facets"]["languages"].is_object() && v["facets"]["domains"].is_object());
    assert!(v["total"].as_u64().unwrap() >= v["features"].as_array().unwrap().len() as u64);
    for f in v["features"].as_array().unwrap() {
        assert!(f["properties"]["distance_m"].is_number());
    }
}

#[tokio::test]
async fn domains_in_a_ui_language_with_fallback() {
    let s = embedded();
    let fr = get(&s, "/api/v1/domains?ui=fr").await.json();
    assert_eq!(fr["ui"], "fr");
    assert_eq!(fr["domains"].as_array().unwrap().len(), 19);
    let t = sportello::model::Taxonomy::embedded();
    assert_eq!(fr["domains"][4]["label"], t.label(Domain::FamilyReunification, "fr"));
    let ar = get(&s, "/api/v1/domains?ui=ar").await.json();
    assert_eq!(ar["rtl"], true);
    let ja = get(&s, "/api/v1/domains?ui=ja").await.json();
    assert_eq!(ja["ui"], "en", "a language without labels falls back to English");
}

#[tokio::test]
async fn cors_compression_and_cache_headers() {
    let s = embedded();
    let state = AppState::shared(s.clone());
    let a = get_with(
        state.clone(),
        "/api/v1/nearest?lat=45.4642&lon=9.19&k=50&audience=all",
        &[("origin", "https://www.comune.milano.it"), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["access-control-allow-origin"], "*");
    assert_eq!(a.headers["content-encoding"], "gzip");
    assert_eq!(a.headers["cache-control"], "no-store");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a.body[..]), &mut raw).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["features"].as_array().unwrap().len(), 50);
    let d = get_with(state.clone(), "/api/v1/domains", &[]).await;
    assert!(d.headers["cache-control"].to_str().unwrap().starts_with("public"));
    let one = get_with(state.clone(), "/api/v1/points/it-milano-anolf", &[]).await;
    assert!(one.headers["cache-control"].to_str().unwrap().starts_with("public"));
    for uri in ["/readyz", "/healthz", "/api/v1/points/no-such-desk", "/api/v1/search?q=lavoro", "/api/v1/points?bbox=9,45,10,46"] {
        let a = get_with(state.clone(), uri, &[]).await;
        assert_eq!(a.headers["cache-control"], "no-store", "{uri}");
    }
}

#[tokio::test]
async fn a_real_server_on_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::shared(embedded());
    tokio::spawn(async move { axum::serve(listener, sportello::http::router(state)).await.unwrap() });
    let base = format!("http://{addr}");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = reqwest::get(format!("{base}/readyz")).await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["points"], 72);
    let res = reqwest::get(format!("{base}/api/v1/nearest?lat=42.6977&lon=23.3219&k=2")).await.unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["features"][0]["properties"]["address"]["country"], "BG");
}

/// With every search slot taken, a search waits a moment, then answers 503 with Retry-After
/// instead of queueing work without bound.
#[tokio::test]
async fn searches_beyond_the_slots_are_refused_with_503() {
    let mut state = AppState::shared(embedded());
    state.search_slots = Arc::new(tokio::sync::Semaphore::new(0));
    let a = get_with(state.clone(), "/api/v1/search?q=lavoro", &[]).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.content_type(), "application/problem+json");
    assert_eq!(a.headers["retry-after"], "1");
    // Nearest does not depend on search slots.
    let n = get_with(state, "/api/v1/nearest?lat=45&lon=9", &[]).await;
    assert_eq!(n.status, 200);
}
