//! Locating a person without asking: from the IP address (MaxMind DB files in both layouts,
//! written here with a real MMDB writer), and from a place name (the embedded gazetteer). The
//! trusted-proxy rule, the unknown cases, and `place=` on nearest and search.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Writer};
use serde::Serialize;
use sportello::http::{AppState, router};
use sportello::locate::GeoIp;
use sportello::locate::client::TrustedProxies;
use tower::ServiceExt;

use crate::support::{Answer, Server, embedded, get};

// GeoIP2/GeoLite2 City layout.
#[derive(Serialize)]
struct CityRecord {
    city: Option<Names>,
    country: IsoCode,
    location: Location,
}
#[derive(Serialize)]
struct Names {
    names: std::collections::BTreeMap<&'static str, &'static str>,
}
#[derive(Serialize)]
struct IsoCode {
    iso_code: &'static str,
}
#[derive(Serialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    accuracy_radius: u16,
}

// DB-IP Lite City layout as published by ip-location-db: flat, 32-bit float coordinates.
#[derive(Serialize)]
struct FlatRecord {
    city: &'static str,
    country_code: &'static str,
    state1: &'static str,
    latitude: f32,
    longitude: f32,
    postcode: &'static str,
    timezone: &'static str,
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn write(path: &Path, w: &Writer) {
    std::fs::write(path, w.to_bytes().unwrap()).unwrap();
}

/// A GeoLite2-City file (IPv6 tree, IPv4 under ::/96): London, Cologne, and a country-only record.
fn geolite2(dir: &Path) -> PathBuf {
    let mut w = Writer::builder("GeoLite2-City").ip_version(IpVersion::V6).languages(["en", "it", "de"]).build();
    let london = CityRecord {
        city: Some(Names { names: [("en", "London"), ("it", "Londra"), ("de", "London")].into() }),
        country: IsoCode { iso_code: "GB" },
        location: Location { latitude: 51.5142, longitude: -0.0931, accuracy_radius: 10 },
    };
    w.insert(net("81.2.69.0/24"), &london).unwrap();
    let cologne = CityRecord {
        city: Some(Names { names: [("en", "Cologne"), ("de", "Köln")].into() }),
        country: IsoCode { iso_code: "DE" },
        location: Location { latitude: 50.9375, longitude: 6.9603, accuracy_radius: 20 },
    };
    w.insert(net("2a02:8070::/31"), &cologne).unwrap();
    let sweden = CityRecord { city: None, country: IsoCode { iso_code: "SE" }, location: Location { latitude: 62.0, longitude: 15.0, accuracy_radius: 500 } };
    w.insert(net("89.160.20.0/24"), &sweden).unwrap();
    let path = dir.join("GeoLite2-City.mmdb");
    write(&path, &w);
    path
}

fn flat(city: &'static str, country_code: &'static str, latitude: f32, longitude: f32) -> FlatRecord {
    FlatRecord { city, country_code, state1: "", latitude, longitude, postcode: "", timezone: "" }
}

/// The two DB-IP files, one per address family, as ip-location-db names them.
fn dbip(dir: &Path) -> (PathBuf, PathBuf) {
    let mut v4 = Writer::builder("city ipv4").ip_version(IpVersion::V4).build();
    v4.insert(net("151.38.39.0/24"), &flat("Vigevano", "IT", 45.314_1, 8.854_37)).unwrap();
    v4.insert(net("185.3.32.0/22"), &flat("", "BG", 42.7, 25.5)).unwrap();
    let mut v6 = Writer::builder("city ipv6").ip_version(IpVersion::V6).ipv4_aliasing(mmdb_writer::Ipv4Aliasing::Disabled).build();
    v6.insert(net("2a01:4f8::/32"), &flat("Nuremberg", "DE", 49.4478, 11.0683)).unwrap();
    let (p4, p6) = (dir.join("dbip-city-ipv4.mmdb"), dir.join("dbip-city-ipv6.mmdb"));
    write(&p4, &v4);
    write(&p6, &v6);
    (p4, p6)
}

async fn locate_from(state: AppState, uri: &str, peer: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let res = router(state).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec();
    Answer { status, headers, body }
}

fn state_with(files: &[PathBuf], trusted: &[&str]) -> AppState {
    let trusted = TrustedProxies::parse(&trusted.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    AppState::shared(embedded()).with_locate(GeoIp::open(files).unwrap(), trusted)
}

fn unknown_reason(a: &Answer) -> String {
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["status"], "unknown", "{v}");
    assert!(v["geometry"].is_null(), "{v}");
    v["properties"]["reason"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn both_mmdb_layouts_decode_and_the_family_picks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (v4, v6) = dbip(dir.path());
    let state = state_with(&[v6, v4, geolite2(dir.path())], &[]);

    let a = locate_from(state.clone(), "/api/v1/locate", "151.38.39.114:50000", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type(), "application/geo+json");
    assert_eq!(a.headers["cache-control"], "no-store");
    let v = a.json();
    assert_eq!(v["status"], "approximate");
    assert_eq!(v["geometry"]["coordinates"], serde_json::json!([8.85437, 45.3141]), "32-bit floats rounded to 5 decimals");
    let p = &v["properties"];
    assert_eq!((p["place"].as_str(), p["country"].as_str(), p["source"].as_str()), (Some("Vigevano"), Some("IT"), Some("ip")));
    assert_eq!(p["accuracy_km"], 50.0);
    assert_eq!(p["attribution"], "IP Geolocation by DB-IP");
    assert_eq!(p["attribution_url"], "https://db-ip.com");

    // An IPv4 peer seen through a dual-stack socket.
    let a = locate_from(state.clone(), "/api/v1/locate", "[::ffff:151.38.39.114]:1", &[]).await;
    assert_eq!(a.json()["properties"]["place"], "Vigevano");
    // IPv6 from the IPv6 file; a record without a city is country-level.
    let a = locate_from(state.clone(), "/api/v1/locate", "[2a01:4f8:1:2::3]:1", &[]).await;
    assert_eq!(a.json()["properties"]["place"], "Nuremberg");
    let a = locate_from(state.clone(), "/api/v1/locate", "185.3.33.1:1", &[]).await;
    let v = a.json();
    assert!(v["properties"]["place"].is_null());
    assert_eq!(v["properties"]["accuracy_km"], 500.0);

    // GeoLite2 City: names in the UI language, English otherwise; its own accuracy radius.
    let a = locate_from(state.clone(), "/api/v1/locate?ui=it", "81.2.69.160:1", &[]).await;
    let v = a.json();
    assert_eq!(v["properties"]["place"], "Londra");
    assert_eq!(v["properties"]["accuracy_km"], 10.0);
    assert_eq!(v["geometry"]["coordinates"], serde_json::json!([-0.0931, 51.5142]));
    assert!(v["properties"]["attribution"].as_str().unwrap().contains("GeoLite2"), "{v}");
    let a = locate_from(state.clone(), "/api/v1/locate?ui=fr", "81.2.69.160:1", &[]).await;
    assert_eq!(a.json()["properties"]["place"], "London");
    let a = locate_from(state.clone(), "/api/v1/locate?ui=de", "[2a02:8071:aa::1]:1", &[]).await;
    assert_eq!(a.json()["properties"]["place"], "Köln");
    let a = locate_from(state.clone(), "/api/v1/locate", "89.160.20.128:1", &[]).await;
    let v = a.json();
    assert_eq!(v["properties"]["country"], "SE");
    assert_eq!(v["properties"]["accuracy_km"], 500.0);
}

#[tokio::test]
async fn unknown_is_an_answer_not_an_error_or_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let (v4, v6) = dbip(dir.path());
    // No database at all.
    let none = AppState::shared(embedded());
    assert_eq!(unknown_reason(&locate_from(none.clone(), "/api/v1/locate", "151.38.39.114:1", &[]).await), "no-database");
    // Without a peer address (the router driven in-process).
    assert_eq!(unknown_reason(&get(&embedded(), "/api/v1/locate").await), "no-database");
    let state = state_with(&[v4, v6], &[]);
    for peer in ["127.0.0.1:1", "10.1.2.3:1", "192.168.1.20:1", "[::1]:1", "[fe80::1]:1", "[fd12::1]:1", "100.64.0.1:1", "192.0.2.1:1"] {
        assert_eq!(unknown_reason(&locate_from(state.clone(), "/api/v1/locate", peer, &[]).await), "not-public-address", "{peer}");
    }
    for peer in ["1.1.1.1:1", "[2001:4860::1]:1"] {
        assert_eq!(unknown_reason(&locate_from(state.clone(), "/api/v1/locate", peer, &[]).await), "not-found", "{peer}");
    }
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let (v4, v6) = dbip(dir.path());
    let files = [v4, v6];
    // Untrusted: a spoofed header has no effect, whichever way it is written.
    let open = state_with(&files, &[]);
    for h in [("x-forwarded-for", "151.38.39.114"), ("forwarded", "for=151.38.39.114")] {
        let a = locate_from(open.clone(), "/api/v1/locate", "127.0.0.1:1", &[h]).await;
        assert_eq!(unknown_reason(&a), "not-public-address", "{h:?}");
        let a = locate_from(open.clone(), "/api/v1/locate", "[2a01:4f8::9]:1", &[h]).await;
        assert_eq!(a.json()["properties"]["place"], "Nuremberg", "{h:?}");
    }
    // Trusted: the address the proxy forwards is located, whatever the client put before it.
    let proxied = state_with(&files, &["127.0.0.1", "10.0.0.0/8"]);
    let a = locate_from(proxied.clone(), "/api/v1/locate", "127.0.0.1:1", &[("x-forwarded-for", "2a01:4f8::9, 151.38.39.114, 10.0.0.7")]).await;
    assert_eq!(a.json()["properties"]["place"], "Vigevano");
    let a = locate_from(proxied.clone(), "/api/v1/locate", "127.0.0.1:1", &[("forwarded", "for=\"[2a01:4f8::9]:443\";proto=https")]).await;
    assert_eq!(a.json()["properties"]["place"], "Nuremberg");
    let a = locate_from(proxied.clone(), "/api/v1/locate", "127.0.0.1:1", &[("forwarded", "for=_hidden")]).await;
    assert_eq!(unknown_reason(&a), "address-hidden-by-proxy");
    // A peer outside the trusted list is itself the client.
    let a = locate_from(proxied, "/api/v1/locate", "151.38.39.114:1", &[("x-forwarded-for", "2a01:4f8::9")]).await;
    assert_eq!(a.json()["properties"]["place"], "Vigevano");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.mmdb");
    std::fs::write(&bad, b"not a database").unwrap();
    let e = GeoIp::open(&[bad]).unwrap_err().to_string();
    assert!(e.contains("broken.mmdb") && e.contains("MaxMind DB"), "{e}");
    let e = GeoIp::open(&[dir.path().join("missing.mmdb")]).unwrap_err().to_string();
    assert!(e.contains("missing.mmdb"), "{e}");
}

fn candidates(a: &Answer) -> Vec<(String, String, u64)> {
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    a.json()["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (p["main_name"].as_str().unwrap().to_string(), p["country"].as_str().unwrap().to_string(), p["population"].as_u64().unwrap())
        })
        .collect()
}

async fn first_town(q: &str) -> (String, String) {
    let a = get(&embedded(), &format!("/api/v1/locate?place={}", urlencode(q))).await;
    let c = candidates(&a);
    assert!(!c.is_empty(), "no candidate for {q}");
    (c[0].0.clone(), c[0].1.clone())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn towns_are_found_by_local_names_exonyms_and_other_scripts() {
    let turin = first_town("Turin").await;
    assert_eq!(turin.1, "IT");
    for q in ["Torino", "Turín", "Турин", "تورينو", "torino", "TURIN"] {
        assert_eq!(first_town(q).await, turin, "{q}");
    }
    let bucharest = first_town("București").await;
    assert_eq!(bucharest.1, "RO");
    for q in ["Bucharest", "Bukarest", "Бухарест", "Bucuresti"] {
        assert_eq!(first_town(q).await, bucharest, "{q}");
    }
    let koln = first_town("Köln").await;
    assert_eq!(koln, ("Köln".to_string(), "DE".to_string()));
    for q in ["Koln", "köln", "KÖLN"] {
        assert_eq!(first_town(q).await, koln, "{q}");
    }
    for (q, town, country) in [("Pordenone", "Pordenone", "IT"), ("Muggia", "Muggia", "IT"), ("Liege", "Liège", "BE"), ("Ljubljana", "Ljubljana", "SI")] {
        assert_eq!(first_town(q).await, (town.to_string(), country.to_string()), "{q}");
    }
}

#[tokio::test]
async fn prefixes_complete_and_candidates_are_ranked() {
    let s = embedded();
    let c = candidates(&get(&s, "/api/v1/locate?place=Ljubl").await);
    assert_eq!(c[0].0, "Ljubljana");
    assert!(c.len() > 1 && c.len() <= 5, "{c:?}");
    // Several candidates, larger towns first among equal matches.
    let c = candidates(&get(&s, "/api/v1/locate?place=San&limit=20").await);
    assert_eq!(c.len(), 20);
    // Closeness to a bias changes the order.
    let far = candidates(&get(&s, "/api/v1/locate?place=Sankt&limit=3").await);
    let near = candidates(&get(&s, "/api/v1/locate?place=Sankt&limit=3&lat=47.4&lon=9.6").await);
    assert_ne!(far, near, "a bias near Lake Constance reorders");
    // Names in the UI language's script.
    // GeoNames' alternates carry no language: the promise is the script, not the spelling.
    let cyrillic = |n: &serde_json::Value| n.as_str().unwrap().chars().all(|c| ('\u{400}'..='\u{4ff}').contains(&c) || c == ' ' || c == '-');
    for ui in ["ru", "uk", "bg", "sr"] {
        let a = get(&s, &format!("/api/v1/locate?place=Torino&ui={ui}")).await;
        let name = &a.json()["features"][0]["properties"]["name"];
        assert!(cyrillic(name), "{ui}: {name}");
    }
    let a = get(&s, "/api/v1/locate?place=Torino&ui=ar").await;
    assert_eq!(a.json()["features"][0]["properties"]["name"], "تورينو");
    let a = get(&s, "/api/v1/locate?place=Torino&ui=el").await;
    assert_eq!(a.json()["features"][0]["properties"]["name"], "Τορίνο");
    let a = get(&s, "/api/v1/locate?place=Torino&ui=it").await;
    assert_eq!(a.json()["features"][0]["properties"]["name"], "Torino");
    assert!(a.json()["attribution"].as_str().unwrap().contains("GeoNames"));
    // Nothing matches: an empty answer, not an error.
    let a = get(&s, "/api/v1/locate?place=Qqqxzzy").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["features"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_gazetteer_covers_europe() {
    let g = sportello::locate::gazetteer::embedded();
    let have = g.countries();
    let want = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO CH GB AL BA ME MK RS XK MD UA TR";
    let missing: Vec<&str> = want.split(' ').filter(|c| !have.iter().any(|h| h == c)).collect();
    assert!(missing.is_empty(), "countries without towns: {missing:?}");
    assert!(g.len() > 15_000, "{} towns", g.len());
}

#[tokio::test]
async fn nearest_and_search_take_a_place_instead_of_a_position() {
    let s = embedded();
    let a = get(&s, "/api/v1/nearest?place=Pordenone&k=3").await;
    assert_eq!(a.status, 200);
    let v = a.json();
    let place = &v["understood_place"];
    assert_eq!(place["name"], "Pordenone");
    assert_eq!(place["country"], "IT");
    let (lon, lat) = (place["coordinates"][0].as_f64().unwrap(), place["coordinates"][1].as_f64().unwrap());
    let same = get(&s, &format!("/api/v1/nearest?lat={lat}&lon={lon}&k=3")).await.json();
    assert_eq!(v["features"], same["features"], "place= answers as its town's position");
    assert!(same.get("understood_place").is_none());

    let a = get(&s, "/api/v1/search?q=ricongiungimento&place=Pordenone&limit=3").await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["understood_place"]["name"], "Pordenone");
    assert!(v["features"][0]["properties"]["distance_m"].is_number());

    for (uri, param) in [
        ("/api/v1/nearest?place=Qqqxzzy", "place"),
        ("/api/v1/nearest?place=Pordenone&lat=45&lon=12", "place"),
        ("/api/v1/locate?lat=45", "lat"),
        ("/api/v1/locate?place=Roma&limit=21", "limit"),
        ("/api/v1/locate?place=Roma&ui=xx1", "ui"),
    ] {
        let a = get(&s, uri).await;
        assert_eq!(a.status, 400, "{uri}");
        assert_eq!(a.json()["invalid_params"][0]["name"], param, "{uri}");
    }
    let long = "a".repeat(101);
    let a = get(&s, &format!("/api/v1/locate?place={long}")).await;
    assert_eq!(a.json()["invalid_params"][0]["name"], "place");
}

/// The real binary with databases and a trusted proxy, logging at its most verbose: the log holds
/// no address, position or place typed; SIGHUP reloads the databases.
#[tokio::test]
async fn the_server_locates_without_logging_and_reloads_databases() {
    let dir = tempfile::tempdir().unwrap();
    let (v4, v6) = dbip(dir.path());
    let geoip = format!("{},{}", v4.display(), v6.display());
    // The databases from the environment, the trusted proxy from the config file.
    let config = dir.path().join("sportello.toml");
    std::fs::write(&config, "trusted_proxy = [\"127.0.0.1\"]\nmax_connections = 100\n").unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()], &[("RUST_LOG", "trace"), ("SPORTELLO_GEOIP", &geoip)]).await;
    let client = reqwest::Client::new();
    let get = |path: &str, xff: &str| client.get(format!("{}{path}", server.base)).header("x-forwarded-for", xff.to_string()).send();
    let v: serde_json::Value = get("/api/v1/locate", "151.38.39.114").await.unwrap().json().await.unwrap();
    assert_eq!(v["properties"]["place"], "Vigevano");
    let res = get("/api/v1/locate?place=Pordenone", "151.38.39.114").await.unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = get("/api/v1/nearest?place=Muggia&k=2", "2a01:4f8::77").await.unwrap();
    assert_eq!(res.status(), 200);
    let res = get("/api/v1/search?q=lavorosegreto&place=Pordenone", "2a01:4f8::77").await.unwrap();
    assert_eq!(res.status(), 200);

    // Replace the IPv4 file (write aside, rename over) and reload.
    let mut w = Writer::builder("city ipv4").ip_version(IpVersion::V4).build();
    w.insert(net("151.38.39.0/24"), &flat("Pavia", "IT", 45.19, 9.16)).unwrap();
    let aside = dir.path().join("next.mmdb");
    write(&aside, &w);
    std::fs::rename(&aside, &v4).unwrap();
    assert!(std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap().success());
    let start = std::time::Instant::now();
    loop {
        let v: serde_json::Value = get("/api/v1/locate", "151.38.39.114").await.unwrap().json().await.unwrap();
        if v["properties"]["place"] == "Pavia" {
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "not reloaded: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let logs = server.stop();
    assert!(logs.contains("IP databases reloaded"), "{logs}");
    for secret in ["151.38.39", "2a01:4f8", "Vigevano", "Pavia", "Pordenone", "Muggia", "45.31", "8.854", "lavorosegreto"] {
        assert!(!logs.contains(secret), "`{secret}` in the log:\n{logs}");
    }
}

#[test]
fn serve_refuses_a_bad_config_or_database_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "geoip_files = [\"x.mmdb\"]\n").unwrap();
    let bad_db = dir.path().join("broken.mmdb");
    std::fs::write(&bad_db, b"nope").unwrap();
    for (args, needle) in [
        (vec!["--config".to_string(), config.display().to_string()], "geoip_files"),
        (vec!["--geoip".to_string(), bad_db.display().to_string()], "broken.mmdb"),
        (vec!["--trusted-proxy".to_string(), "10.0.0.0/99".to_string()], "10.0.0.0/99"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
