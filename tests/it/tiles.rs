//! The tile pyramid: in every tile the counts add up to the public desks inside its bounds
//! (brute force), zoom 14 holds every public desk once, tiles agree with `/api/v1/points`,
//! `/tiles/…` answers with ETag, 304, 204 and 400, tiles swap with the bundle on reload, and
//! independent readers open what `build` writes: GDAL's MVT driver (`ogrinfo`) reads `.mvt`
//! tiles, and protomaps' Python PMTiles reader (`scripts/test` installs both) reads the archive.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use sportello::http::AppState;
use sportello::index::Snapshot;
use sportello::model::Audience;
use sportello::tiles::{MAX_ZOOM, TileCoord};

use crate::support::{Server, all_desks, embedded, get, get_with, synthetic};

const BIN: &str = env!("CARGO_BIN_EXE_sportello");

/// The slippy-map tile of (lon, lat) in degrees at `z`, by the textbook formula (not the
/// server's code).
fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let lat = lat.clamp(-85.0511, 85.0511).to_radians();
    let x = ((lon + 180.0) / 360.0 * n).floor().min(n - 1.0);
    let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor().min(n - 1.0);
    (x as u32, y as u32)
}

/// `[west, south, east, north]` of a tile, by the textbook formula.
fn bounds_of(z: u8, x: u32, y: u32) -> [f64; 4] {
    let n = f64::from(1u32 << z);
    let lon = |x: f64| x / n * 360.0 - 180.0;
    let lat = |y: f64| (std::f64::consts::PI * (1.0 - 2.0 * y / n)).sinh().atan().to_degrees();
    [lon(f64::from(x)), lat(f64::from(y + 1)), lon(f64::from(x + 1)), lat(f64::from(y))]
}

/// Every GeoJSON tile of a snapshot, parsed.
fn geojson_tiles(s: &Snapshot) -> BTreeMap<TileCoord, serde_json::Value> {
    let a = &s.tiles.geojson;
    a.tiles().map(|(c, b)| (c, serde_json::from_slice(&a.plain(&b).unwrap()).unwrap())).collect()
}

/// Desks a tile's features stand for: a cluster its `point_count`, a desk 1.
fn represented(tile: &serde_json::Value) -> u64 {
    tile["features"].as_array().unwrap().iter().map(|f| if f["properties"]["cluster"] == true { f["properties"]["point_count"].as_u64().unwrap() } else { 1 }).sum()
}

#[test]
fn in_every_tile_the_counts_add_up_to_the_public_desks_inside_it() {
    let s = embedded();
    let public: Vec<(f64, f64)> = all_desks(&s).iter().filter(|d| d.audience == Audience::Public).map(|d| (d.position.lon.degrees(), d.position.lat.degrees())).collect();
    assert!(public.len() < s.len(), "the sample has union-only desks, which tiles leave out");
    let tiles = geojson_tiles(&s);
    for (c, tile) in &tiles {
        let [w, so, e, n] = bounds_of(c.z, c.x, c.y);
        let inside = public.iter().filter(|&&(lon, lat)| lon >= w && lon < e && lat > so && lat <= n).count() as u64;
        assert_eq!(represented(tile), inside, "tile {c:?}");
    }
    // And no public desk is missing: the non-empty tiles are exactly the tiles holding one.
    let expected: BTreeSet<TileCoord> = (0..=MAX_ZOOM)
        .flat_map(|z| public.iter().map(move |&(lon, lat)| (z, tile_of(lon, lat, z))))
        .map(|(z, (x, y))| TileCoord::new(z, x, y).unwrap())
        .collect();
    assert_eq!(tiles.keys().copied().collect::<BTreeSet<_>>(), expected);
    let mvt: BTreeSet<TileCoord> = s.tiles.mvt.tiles().map(|(c, _)| c).collect();
    assert_eq!(mvt, expected, "both archives hold the same tiles");
    assert_eq!(s.manifest.tiles, expected.len());
}

#[test]
fn zoom_14_holds_every_public_desk_once_with_its_fields() {
    let s = embedded();
    let desks: BTreeMap<String, _> = all_desks(&s).into_iter().map(|d| (d.id.clone(), d)).collect();
    let mut seen = BTreeMap::new();
    for (c, tile) in geojson_tiles(&s) {
        for f in tile["features"].as_array().unwrap() {
            let p = &f["properties"];
            if p["cluster"] == true {
                assert!(c.z < MAX_ZOOM, "a cluster at zoom {}", c.z);
                continue;
            }
            let d = &desks[p["id"].as_str().unwrap()];
            assert_eq!(d.audience, Audience::Public, "{} is not public", d.id);
            assert_eq!(f["id"], d.id.as_str());
            assert_eq!(p["name"], d.name.as_str());
            assert_eq!(p["audience"], "public");
            let codes = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect::<Vec<_>>();
            assert_eq!(codes(&p["domains"]), d.domains.iter().map(|x| x.code().to_string()).collect::<Vec<_>>());
            assert_eq!(codes(&p["languages"]), d.languages.iter().map(|x| x.to_string()).collect::<Vec<_>>());
            let at = f["geometry"]["coordinates"].as_array().unwrap();
            assert_eq!((at[0].as_f64().unwrap(), at[1].as_f64().unwrap()), (d.position.lon.degrees(), d.position.lat.degrees()));
            if c.z == MAX_ZOOM {
                *seen.entry(d.id.clone()).or_insert(0) += 1;
                assert_eq!((c.x, c.y), tile_of(d.position.lon.degrees(), d.position.lat.degrees(), MAX_ZOOM));
            }
        }
    }
    let public: BTreeSet<&String> = desks.values().filter(|d| d.audience == Audience::Public).map(|d| &d.id).collect();
    assert_eq!(seen.keys().collect::<BTreeSet<_>>(), public);
    assert!(seen.values().all(|&n| n == 1), "a desk twice at zoom 14: {seen:?}");
}

#[tokio::test]
async fn tiles_hold_the_clusters_the_viewport_api_answers() {
    let s = synthetic();
    let mut compared = 0;
    for (c, tile) in geojson_tiles(&s) {
        // The API lists desks one by one up to 200; above that it clusters in the same cells.
        if c.z == MAX_ZOOM || represented(&tile) <= 200 {
            continue;
        }
        let [w, so, e, n] = bounds_of(c.z, c.x, c.y);
        let uri = format!("/api/v1/points?bbox={w},{so},{e},{n}&zoom={}&audience=public", c.z);
        let api = get(&s, &uri).await.json();
        let key = |f: &serde_json::Value| {
            let p = &f["properties"];
            let at = &f["geometry"]["coordinates"];
            (f["id"].as_str().unwrap().to_string(), p["point_count"].as_u64().unwrap_or(1), p["expansion_zoom"].as_u64(), at[0].to_string(), at[1].to_string())
        };
        let mut from_api: Vec<_> = api["features"].as_array().unwrap().iter().map(key).collect();
        let mut from_tile: Vec<_> = tile["features"].as_array().unwrap().iter().map(key).collect();
        from_api.sort();
        from_tile.sort();
        assert_eq!(from_api, from_tile, "tile {c:?}");
        assert_eq!(api["point_count"].as_u64().unwrap(), represented(&tile));
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} tiles were crowded enough to compare");
}

/// The z14 tile of ANOLF Milano (9.19, 45.4642), alone in it.
const MILANO: (u32, u32) = (8610, 5863);

#[tokio::test]
async fn tiles_are_served_with_etag_304_204_and_400() {
    let s = embedded();
    let version = s.version().to_string();
    let (x, y) = MILANO;
    let state = || AppState::shared(s.clone());
    let mvt = get_with(state(), &format!("/tiles/14/{x}/{y}.mvt"), &[]).await;
    assert_eq!(mvt.status, 200);
    assert_eq!(mvt.content_type(), "application/vnd.mapbox-vector-tile");
    assert_eq!(mvt.headers["cache-control"], "public, max-age=300");
    assert_eq!(mvt.headers["x-bundle-version"], version.as_str());
    let etag = mvt.headers["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{version}-14-{x}-{y}-mvt\""));
    assert!(mvt.body.windows(15).any(|w| w == b"it-milano-anolf"), "the desk's id is in the tile");
    let again = get_with(state(), &format!("/tiles/14/{x}/{y}.mvt"), &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    // To a client that takes gzip the stored bytes go as they are, under their own ETag.
    let gz = get_with(state(), &format!("/tiles/14/{x}/{y}.mvt"), &[("accept-encoding", "br;q=0, gzip")]).await;
    assert_eq!(gz.headers["content-encoding"], "gzip");
    assert_eq!(gz.headers["vary"], "accept-encoding");
    assert_eq!(gz.headers["etag"].to_str().unwrap(), format!("\"{version}-14-{x}-{y}-mvt-gz\""));
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain).unwrap();
    assert_eq!(plain, mvt.body);

    let geo = get_with(state(), &format!("/tiles/14/{x}/{y}.geojson"), &[]).await;
    assert_eq!(geo.content_type(), "application/geo+json");
    assert_eq!(geo.json()["features"][0]["id"], "it-milano-anolf");

    // An empty tile inside the pyramid: 204, cacheable too.
    let empty = get_with(state(), "/tiles/14/0/0.mvt", &[]).await;
    assert_eq!(empty.status, 204);
    assert_eq!(empty.headers["cache-control"], "public, max-age=300");

    for (uri, param) in [
        ("/tiles/15/0/0.mvt", "z"),
        ("/tiles/-1/0/0.mvt", "z"),
        ("/tiles/2/4/0.mvt", "x"),
        ("/tiles/2/0/4.geojson", "y"),
        ("/tiles/2/0/1e1.mvt", "y"),
        ("/tiles/2/0/0.png", "format"),
        ("/tiles/2/0/0", "format"),
        ("/tiles/2/0/0.mvt?lang=ar", "lang"),
    ] {
        let bad = get(&s, uri).await;
        assert_eq!(bad.status, 400, "{uri}");
        assert_eq!(bad.content_type(), "application/problem+json", "{uri}");
        assert_eq!(bad.json()["invalid_params"][0]["name"], param, "{uri}");
        assert_eq!(bad.headers["cache-control"], "no-store", "{uri}");
    }

    let tj = get(&s, "/tiles/tiles.json").await;
    assert_eq!(tj.status, 200);
    assert_eq!(tj.content_type(), "application/json");
    let tj = tj.json();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(tj["tiles"][0], "/tiles/{z}/{x}/{y}.mvt");
    assert_eq!(tj["geojson_tiles"][0], "/tiles/{z}/{x}/{y}.geojson");
    assert_eq!((tj["minzoom"].as_u64(), tj["maxzoom"].as_u64()), (Some(0), Some(14)));
    assert_eq!(tj["vector_layers"][0]["id"], "desks");

    let metrics = String::from_utf8(get_with(AppState::shared(s.clone()), "/metrics", &[]).await.body).unwrap();
    assert!(metrics.contains("route=\"/tiles/{z}/{x}/{y}\""), "{metrics}");
}

fn build(input: &Path, out: &Path, tiles: &Path) {
    let res = Command::new(BIN)
        .args(["build", "--input", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--tiles", tiles.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.geojson")
}

#[tokio::test]
async fn tiles_swap_with_the_bundle_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, tiles) = (dir.path().join("bundle"), dir.path().join("tiles"));
    build(&sample(), &bundle, &tiles);
    let server = Server::start(&["--bundle", bundle.to_str().unwrap()], &[("RUST_LOG", "warn")]).await;
    // No pooled connections: the server closes idle ones while the next build runs.
    let c = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let (x, y) = MILANO;
    let url = format!("{}/tiles/14/{x}/{y}.geojson", server.base);
    let first = c.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let v1 = first.headers()["x-bundle-version"].to_str().unwrap().to_string();
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(body["features"][0]["id"], "it-milano-anolf");

    // The same place, other data: Milan's desk renamed.
    let text = std::fs::read_to_string(sample()).unwrap().replace("ANOLF Milano – Sportello migranti", "ANOLF Milano – Sportello (renamed)");
    let changed = dir.path().join("changed.geojson");
    std::fs::write(&changed, text).unwrap();
    build(&changed, &bundle, &tiles);
    let kill = Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(kill.success());
    let start = std::time::Instant::now();
    let renamed = loop {
        let r = c.get(&url).header("if-none-match", &etag).send().await.unwrap();
        if r.status() == 200 {
            break r;
        }
        assert_eq!(r.status(), 304);
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the reload did not happen");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_ne!(renamed.headers()["x-bundle-version"].to_str().unwrap(), v1);
    assert_ne!(renamed.headers()["etag"].to_str().unwrap(), etag);
    let body: serde_json::Value = renamed.json().await.unwrap();
    assert_eq!(body["features"][0]["properties"]["name"], "ANOLF Milano – Sportello (renamed)");
    // The static tree was rebuilt with it.
    let file = std::fs::read_to_string(tiles.join(format!("14/{x}/{y}.geojson"))).unwrap();
    assert!(file.contains("(renamed)"));
    server.stop();
}

/// `ogrinfo -ro -al FILE`'s output; GDAL must be installed (`scripts/test` installs `gdal-bin`).
fn ogrinfo(file: &Path) -> String {
    let out = Command::new("ogrinfo").args(["-ro", "-al"]).arg(file).output().expect("ogrinfo runs: install gdal-bin (scripts/test does)");
    assert!(out.status.success(), "ogrinfo {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The `(name, value)` pairs ogrinfo prints for every feature's attribute `name`.
fn ogr_values(report: &str, name: &str) -> Vec<String> {
    let prefix = format!("  {name} (");
    report.lines().filter_map(|l| l.strip_prefix(&prefix)).filter_map(|l| l.split_once(") = ")).map(|(_, v)| v.to_string()).collect()
}

#[test]
fn gdal_reads_the_mvt_tiles_and_the_pmtiles_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, tiles) = (dir.path().join("bundle"), dir.path().join("tiles"));
    build(&sample(), &bundle, &tiles);
    let s = Snapshot::load(&bundle).unwrap();

    // A z14 tile: ANOLF Milano alone, with its fields.
    let (x, y) = MILANO;
    let report = ogrinfo(&tiles.join(format!("14/{x}/{y}.mvt")));
    assert!(report.contains("using driver `MVT' successful"), "{report}");
    assert!(report.contains("Layer name: desks") && report.contains("Feature Count: 1"), "{report}");
    assert_eq!(ogr_values(&report, "id"), ["it-milano-anolf"]);
    assert_eq!(ogr_values(&report, "name"), ["ANOLF Milano – Sportello migranti"]);
    assert_eq!(ogr_values(&report, "domains"), ["family-reunification,residence-permits,orientation,language-courses,community"]);
    // GDAL georeferences from the z/x/y path: the point is Milan's, in Web-Mercator metres.
    let point = report.lines().find_map(|l| l.trim().strip_prefix("POINT (")).unwrap();
    let xy: Vec<f64> = point.trim_end_matches(')').split(' ').map(|v| v.parse().unwrap()).collect();
    let (mx, my) = (9.19f64.to_radians() * 6_378_137.0, (std::f64::consts::FRAC_PI_4 + 45.4642f64.to_radians() / 2.0).tan().ln() * 6_378_137.0);
    assert!((xy[0] - mx).abs() < 20.0 && (xy[1] - my).abs() < 20.0, "{point} vs {mx} {my}");

    // Every tile of zoom 5: GDAL finds the same features and counts as the GeoJSON tiles.
    let geo = geojson_tiles(&s);
    for (c, tile) in geo.iter().filter(|(c, _)| c.z == 5) {
        let report = ogrinfo(&tiles.join(format!("5/{}/{}.mvt", c.x, c.y)));
        let features = tile["features"].as_array().unwrap();
        let mut ids = ogr_values(&report, "id");
        let mut want: Vec<String> = features.iter().map(|f| f["id"].as_str().unwrap().to_string()).collect();
        ids.sort();
        want.sort();
        assert_eq!(ids, want, "tile {c:?}");
        let counts: u64 = ogr_values(&report, "point_count").iter().map(|v| v.parse::<u64>().unwrap()).sum();
        let singles = features.iter().filter(|f| f["properties"]["cluster"] != true).count() as u64;
        assert_eq!(counts + singles, represented(tile), "tile {c:?}");
    }

    // The archive, read by protomaps' own reader: every tile, the same bytes as the tree's files,
    // the same as the bundle's archive; one tile taken out opens in GDAL.
    let archive = tiles.join("desks.pmtiles");
    assert_eq!(std::fs::read(&archive).unwrap(), std::fs::read(bundle.join("tiles.mvt.pmtiles")).unwrap());
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools/bin/python3");
    let out_dir = dir.path().join("from-archive");
    let script = r#"
import gzip, json, os, sys
from pmtiles.reader import Reader, MmapSource, all_tiles
path, out = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    get = MmapSource(f)
    r = Reader(get)
    h = r.header()
    meta = r.metadata()
    n = 0
    for (z, x, y), data in all_tiles(get):
        n += 1
        d = os.path.join(out, str(z), str(x))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{y}.mvt"), "wb") as t:
            t.write(gzip.decompress(data) if h["tile_compression"].value == 2 else data)
    print(json.dumps({"tiles": n, "tile_type": h["tile_type"].value, "min_zoom": h["min_zoom"], "max_zoom": h["max_zoom"], "layer": meta["vector_layers"][0]["id"]}))
"#;
    let run = Command::new(&python).arg("-c").arg(script).arg(&archive).arg(&out_dir).output().expect("the PMTiles reader runs: scripts/test installs it in target/pytools");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary, serde_json::json!({"tiles": s.manifest.tiles, "tile_type": 1, "min_zoom": 0, "max_zoom": 14, "layer": "desks"}));
    for c in geo.keys() {
        let rel = format!("{}/{}/{}.mvt", c.z, c.x, c.y);
        assert_eq!(std::fs::read(out_dir.join(&rel)).unwrap(), std::fs::read(tiles.join(&rel)).unwrap(), "{rel}");
    }
    let report = ogrinfo(&out_dir.join(format!("14/{x}/{y}.mvt")));
    assert_eq!(ogr_values(&report, "id"), ["it-milano-anolf"]);
}

#[test]
fn build_refuses_a_tile_directory_that_holds_something_else() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = dir.path().join("tiles");
    std::fs::create_dir(&tiles).unwrap();
    std::fs::write(tiles.join("notes.txt"), "mine").unwrap();
    let res = Command::new(BIN)
        .args(["build", "--input", sample().to_str().unwrap(), "--out", dir.path().join("b").to_str().unwrap(), "--tiles", tiles.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("not a tile directory"), "{}", String::from_utf8_lossy(&res.stderr));
    assert!(!dir.path().join("b").exists(), "nothing written");
    assert_eq!(std::fs::read_to_string(tiles.join("notes.txt")).unwrap(), "mine");

    // A directory with only a README (as in the repository) is taken, and the README kept.
    std::fs::remove_file(tiles.join("notes.txt")).unwrap();
    std::fs::write(tiles.join("README.md"), "# tiles\n").unwrap();
    build(&sample(), &dir.path().join("b"), &tiles);
    assert_eq!(std::fs::read_to_string(tiles.join("README.md")).unwrap(), "# tiles\n");
    assert!(tiles.join("tiles.json").is_file() && tiles.join("0/0/0.mvt").is_file());
    let left: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert!(left.iter().all(|n| !n.contains(".tmp-")), "{left:?}");
}
