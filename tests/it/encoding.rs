//! Compressed answers are the uncompressed ones: the real server on loopback, many random
//! requests (nearest, viewports, search, tiles, pages), each asked for with no compression and
//! with every coding a client may ask for; every compressed answer must decompress to exactly
//! the uncompressed bytes, and carry only a `Content-Encoding` the request accepted.

use std::io::Read;
use std::process::Command;

use rand::{RngExt, SeedableRng};

use crate::support::Server;

const BIN: &str = env!("CARGO_BIN_EXE_sportello");

/// The `Accept-Encoding` values tried on every request (`None`: no header at all).
const ASKS: &[Option<&str>] = &[
    None,
    Some("gzip"),
    Some("deflate"),
    Some("br"),
    Some("zstd"),
    Some("gzip, deflate, br, zstd"),
    Some("br;q=1.0, gzip;q=0.5, *;q=0"),
    Some("gzip;q=0, deflate, br"),
    Some("gzip;q=0, deflate;q=0, br;q=0, zstd;q=0"),
    Some("identity"),
    Some("identity;q=0, gzip"),
    Some("*"),
    Some("*;q=0, zstd"),
    Some("x-gzip"),
];

/// Whether `ask` accepts `coding` (own entry, else `*`), written apart from the server's parser.
fn accepts(ask: Option<&str>, coding: &str) -> bool {
    let Some(ask) = ask else { return false };
    let mut own = None;
    let mut star = None;
    for item in ask.split(',') {
        let mut it = item.split(';');
        let name = it.next().unwrap().trim().to_ascii_lowercase();
        let q: f32 = it.find_map(|p| p.trim().strip_prefix("q=").map(|v| v.parse().unwrap())).unwrap_or(1.0);
        let name = if name == "x-gzip" { "gzip".to_string() } else { name };
        if name == coding {
            own = Some(q);
        } else if name == "*" {
            star = Some(q);
        }
    }
    own.or(star).is_some_and(|q| q > 0.0)
}

fn decode(coding: &str, b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => flate2::read::GzDecoder::new(b).read_to_end(&mut out).map(|_| ()),
        "deflate" => flate2::read::ZlibDecoder::new(b).read_to_end(&mut out).map(|_| ()),
        "br" => brotli_decompressor::Decompressor::new(b, 4096).read_to_end(&mut out).map(|_| ()),
        "zstd" => zstd::stream::read::Decoder::new(b).and_then(|mut d| d.read_to_end(&mut out)).map(|_| ()),
        other => panic!("unknown Content-Encoding {other:?}"),
    }
    .unwrap_or_else(|e| panic!("the {coding} answer does not decompress: {e}"));
    out
}

/// A bundle of synthetic desks (its tile pyramid inside), built by the real binary into `dir`.
fn bundle(dir: &std::path::Path) -> std::path::PathBuf {
    let input = dir.join("synth.geojson");
    let out = dir.join("bundle");
    assert!(Command::new(BIN).args(["synth", "--count", "4000", "--seed", "3", "--out", input.to_str().unwrap()]).status().unwrap().success());
    let built = Command::new(BIN)
        .current_dir(dir)
        .args(["build", "--no-tiles", "--input", input.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    out
}

/// Random requests of every kind that answers data or pages.
fn paths(rng: &mut rand_chacha::ChaCha8Rng, ids: &[String]) -> Vec<String> {
    const CITIES: [(f64, f64); 5] = [(45.4642, 9.19), (52.52, 13.405), (48.8566, 2.3522), (40.4168, -3.7038), (44.4268, 26.1025)];
    let mut out = Vec::new();
    for _ in 0..12 {
        let (lat, lon) = CITIES[rng.random_range(0..CITIES.len())];
        let (lat, lon) = (lat + rng.random_range(-0.5..0.5), lon + rng.random_range(-0.5..0.5));
        let k = [1, 3, 10, 50, 100][rng.random_range(0..5)];
        let lang = if rng.random_bool(0.3) { "&lang=ti,ar" } else { "" };
        out.push(format!("/api/v1/nearest?lat={lat:.5}&lon={lon:.5}&k={k}{lang}"));
        let w = [0.02, 0.15, 1.0, 8.0][rng.random_range(0..4)];
        let zoom = rng.random_range(3..=15);
        out.push(format!("/api/v1/points?bbox={:.5},{:.5},{:.5},{:.5}&zoom={zoom}", lon - w, lat - w / 2.0, lon + w, lat + w / 2.0));
        let q = ["lavoro", "housing", "Familiennachzug", "житло", "permesso di soggiorno"][rng.random_range(0..5)];
        out.push(format!("/api/v1/search?q={}&limit={}&lat={lat:.4}&lon={lon:.4}", urlencode(q), rng.random_range(1..=50)));
        let z = rng.random_range(4..=12u32);
        let n = 2f64.powi(z as i32);
        let (x, y) = (((lon + 180.0) / 360.0 * n) as u32, ((1.0 - (lat.to_radians().tan() + 1.0 / lat.to_radians().cos()).ln() / std::f64::consts::PI) / 2.0 * n) as u32);
        out.push(format!("/tiles/{z}/{x}/{y}.geojson"));
        out.push(format!("/tiles/{z}/{x}/{y}.mvt"));
        out.push(format!("/list?lat={lat:.4}&lon={lon:.4}"));
        out.push(format!("/d/{}", ids[rng.random_range(0..ids.len())]));
    }
    // Answers without desks, and errors.
    out.push("/api/v1/nearest?lat=0&lon=-30&k=5&max_km=1".into());
    out.push("/api/v1/points?bbox=-30,0,-29.9,0.1&zoom=12".into());
    out.push("/api/v1/nearest?lat=91&lon=0".into());
    out.push("/api/v1/domains".into());
    out
}

/// Whether the answer to `path` depends on the time of day (opening hours shown as open or
/// closed now).
fn clocked(path: &str) -> bool {
    path.starts_with("/list") || path.starts_with("/d/")
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn every_coding_decompresses_to_the_uncompressed_answer() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path());
    let server = Server::start(&["--bundle", bundle.to_str().unwrap(), "--rate-limit", "0"], &[]).await;
    // No automatic decompression: the test reads the bytes as sent.
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let ids: Vec<String> = {
        let fc: serde_json::Value = client.get(format!("{}/api/v1/nearest?lat=45.46&lon=9.19&k=100", server.base)).send().await.unwrap().json().await.unwrap();
        fc["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(10);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for path in paths(&mut rng, &ids) {
        let url = format!("{}{path}", server.base);
        let plain = client.get(&url).header("accept-encoding", "identity").send().await.unwrap();
        let status = plain.status();
        assert!(plain.headers().get("content-encoding").is_none(), "{path}: identity asked, got {:?}", plain.headers().get("content-encoding"));
        let mut plain = plain.bytes().await.unwrap();
        for ask in ASKS {
            let mut req = client.get(&url);
            if let Some(a) = ask {
                req = req.header("accept-encoding", *a);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), status, "{path} with {ask:?}");
            let coding = res.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_string());
            let vary = res.headers().get_all("vary").iter().map(|v| v.to_str().unwrap().to_ascii_lowercase()).collect::<Vec<_>>().join(",");
            let wire = res.bytes().await.unwrap();
            let body = match &coding {
                Some(c) => {
                    assert!(accepts(*ask, c), "{path}: sent {c} to Accept-Encoding {ask:?}");
                    assert!(vary.contains("accept-encoding"), "{path}: a {c} answer without Vary: Accept-Encoding ({vary:?})");
                    decode(c, &wire)
                }
                None => wire.to_vec(),
            };
            *seen.entry(coding.clone().unwrap_or_else(|| "identity".into())).or_default() += 1;
            if body != plain && clocked(&path) {
                // The pages say which desks are open now: a minute may have turned between the
                // two requests (CI failed so at 24,492 vs 24,666 bytes). Ask again, uncompressed;
                // a wrong coding still fails, since it cannot match the page of either moment.
                plain = client.get(&url).header("accept-encoding", "identity").send().await.unwrap().bytes().await.unwrap();
            }
            assert!(body == plain, "{path} with {ask:?} ({coding:?}): {} bytes after decoding, {} uncompressed", body.len(), plain.len());
        }
    }
    // Every coding was really exercised.
    for c in ["gzip", "deflate", "br", "zstd", "identity"] {
        assert!(seen.get(c).copied().unwrap_or(0) > 0, "no {c} answer among {seen:?}");
    }
    // Desks go out as zstd to a browser (it takes zstd as willingly as gzip), joined gzip to a
    // client that prefers gzip or has no zstd; both within the size target of gzip -6.
    let url = format!("{}/api/v1/nearest?lat=45.46&lon=9.19&k=10", server.base);
    let plain = client.get(&url).send().await.unwrap().bytes().await.unwrap();
    let gzip6 = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        std::io::Write::write_all(&mut e, b).unwrap();
        e.finish().unwrap().len()
    };
    for (ask, coding) in [("gzip, deflate, br, zstd", "zstd"), ("gzip, deflate, br", "gzip"), ("zstd;q=0.5, gzip", "gzip"), ("zstd, deflate", "zstd")] {
        let res = client.get(&url).header("accept-encoding", ask).send().await.unwrap();
        assert_eq!(res.headers()["content-encoding"], coding, "{ask}");
        let sent = res.bytes().await.unwrap();
        assert_eq!(decode(coding, &sent), plain, "{ask}");
        assert!(sent.len() as f64 <= 1.15 * gzip6(&plain) as f64, "{ask}: {} bytes sent, gzip -6 {}", sent.len(), gzip6(&plain));
    }
    // A viewport of clusters only (no desk) is joined into gzip, also for a browser (the joiner
    // writes clusters faster than zstd compresses them), and is the uncompressed answer.
    let url = format!("{}/api/v1/points?bbox=-10,35,30,60&zoom=4", server.base);
    let plain = client.get(&url).send().await.unwrap().bytes().await.unwrap();
    let fc: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    let ids: Vec<&str> = fc["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert!(plain.len() >= 1024 && !ids.is_empty() && ids.iter().all(|id| id.starts_with("cluster/")), "a large answer of clusters only: {ids:?}");
    let z = client.get(&url).header("accept-encoding", "gzip, deflate, br, zstd").send().await.unwrap();
    assert_eq!(z.headers()["content-encoding"], "gzip");
    let sent = z.bytes().await.unwrap();
    assert_eq!(decode("gzip", &sent), plain);
    assert!(sent.len() as f64 <= 1.15 * gzip6(&plain) as f64, "clusters: {} bytes sent, gzip -6 {}", sent.len(), gzip6(&plain));
    server.stop();
}

/// The precompressed answers are about as small as gzip -6 of the same bytes: a regression
/// guard for the size target (within 15 % is the target on the benchmark's data; here it is
/// checked loosely on a small bundle).
#[tokio::test]
async fn precompressed_answers_are_near_gzip_6() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path());
    let server = Server::start(&["--bundle", bundle.to_str().unwrap(), "--rate-limit", "0"], &[]).await;
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let (mut sent, mut six) = (0usize, 0usize);
    for path in ["/api/v1/nearest?lat=45.46&lon=9.19&k=10", "/api/v1/nearest?lat=52.5&lon=13.4&k=50", "/api/v1/points?bbox=9.1,45.4,9.3,45.5&zoom=14"] {
        let url = format!("{}{path}", server.base);
        let plain = client.get(&url).send().await.unwrap().bytes().await.unwrap();
        let gz = client.get(&url).header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(gz.headers()["content-encoding"], "gzip");
        sent += gz.bytes().await.unwrap().len();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(&plain).unwrap();
        six += e.finish().unwrap().len();
    }
    assert!((sent as f64) < 1.25 * six as f64, "precompressed {sent} B, gzip -6 {six} B");
    server.stop();
}
