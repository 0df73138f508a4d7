//! The operator base map (`serve --basemap FILE.pmtiles`): a PMTiles base map the test builds
//! itself (the sample's MVT pyramid, packed with the `pmtiles` writer and an attribution) is
//! served by the real binary and read through HTTP Range requests by an independent client,
//! protomaps' Python reader (`scripts/test` installs it in `target/pytools`), which finds every
//! tile with the bytes of the file; `206`, `416`, `304`, `If-Range`, `HEAD`, `404`, the
//! description at `operator.json`, bad files refused at start and kept out on reload.

use std::path::{Path, PathBuf};
use std::process::Command;

use sportello::tiles::Format;

use crate::support::{Server, embedded, get};

const BIN: &str = env!("CARGO_BIN_EXE_sportello");
const ATTRIBUTION: &str = "© sportello test base map";

/// Writes a PMTiles v3 base map of the sample's MVT tiles to `path`; returns its tile count.
fn write_basemap(path: &Path) -> usize {
    use pmtiles::{Compression, PmTilesWriter, TileType};
    let s = embedded();
    let archive = s.tiles.archive(Format::Mvt);
    let meta = serde_json::json!({"name": "test base map", "attribution": ATTRIBUTION, "vector_layers": [{"id": "desks", "fields": {}}]});
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = PmTilesWriter::new(TileType::Mvt)
        .precompressed(Compression::Gzip)
        .internal_compression(Compression::Gzip)
        .min_zoom(0)
        .max_zoom(14)
        .bounds(6.5, 36.5, 18.5, 47.1)
        .center(9.19, 45.46)
        .center_zoom(6)
        .metadata(meta.to_string())
        .create(&mut out)
        .unwrap();
    let mut n = 0;
    for (c, bytes) in archive.tiles() {
        w.add_tile(pmtiles::TileCoord::new(c.z, c.x, c.y).unwrap(), &bytes).unwrap();
        n += 1;
    }
    w.finalize().unwrap();
    n
}

fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools/bin/python3")
}

/// protomaps' reader, given a `get_bytes` that asks the server for each range: every tile read
/// over HTTP against every tile read from the file itself.
const READER: &str = r#"
import json, sys, urllib.request
from pmtiles.reader import Reader, MmapSource, all_tiles
url, path = sys.argv[1], sys.argv[2]
asked = []
def over_http(offset, length):
    req = urllib.request.Request(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 206, r.status
        size = int(r.headers["Content-Range"].split("/")[1])
        end = min(offset + length, size) - 1
        assert r.headers["Content-Range"] == f"bytes {offset}-{end}/{size}", r.headers["Content-Range"]
        assert r.headers.get("Content-Encoding") is None
        asked.append(length)
        return r.read()
r = Reader(over_http)
h = r.header()
meta = r.metadata()
remote = dict(all_tiles(over_http))
with open(path, "rb") as f:
    local = dict(all_tiles(MmapSource(f)))
milan = r.get(14, 8610, 5863)
print(json.dumps({
    "requests": len(asked), "largest": max(asked), "tiles": len(remote), "same": remote == local,
    "tile_type": h["tile_type"].value, "min_zoom": h["min_zoom"], "max_zoom": h["max_zoom"],
    "attribution": meta["attribution"], "milan": milan is not None and milan == local[(14, 8610, 5863)],
}))
"#;

#[tokio::test]
async fn the_python_pmtiles_reader_reads_the_served_base_map_through_range_requests() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("region.pmtiles");
    let tiles = write_basemap(&file);
    let len = std::fs::metadata(&file).unwrap().len();
    // The environment variable, as an operator's unit file would set it. The reader below asks
    // for every tile of the archive one by one, far beyond a client's burst: no rate limit.
    let server = Server::start(&["--rate-limit", "0"], &[("SPORTELLO_BASEMAP", file.to_str().unwrap()), ("RUST_LOG", "warn")]).await;
    let url = format!("{}/basemap/operator.pmtiles", server.base);

    let run = Command::new(python()).arg("-c").arg(READER).arg(&url).arg(&file).output().expect("the PMTiles reader runs: scripts/test installs it in target/pytools");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let got: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(got["tiles"], tiles, "{got}");
    assert!(tiles > 20, "{tiles}");
    assert_eq!(got["same"], true, "{got}");
    assert_eq!(got["milan"], true, "{got}");
    assert_eq!((got["tile_type"].as_u64(), got["min_zoom"].as_u64(), got["max_zoom"].as_u64()), (Some(1), Some(0), Some(14)));
    assert_eq!(got["attribution"], ATTRIBUTION);
    // Only ranges travelled, never the whole file.
    assert!(got["largest"].as_u64().unwrap() < len, "{got}");

    let c = reqwest::Client::new();
    let info: serde_json::Value = c.get(format!("{}/basemap/operator.json", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        info,
        serde_json::json!({"available": true, "url": "/basemap/operator.pmtiles", "tile_type": "mvt", "minzoom": 0, "maxzoom": 14,
            "bounds": [6.5, 36.5, 18.5, 47.1], "attribution": ATTRIBUTION, "layers": ["desks"]})
    );

    let bytes = std::fs::read(&file).unwrap();
    // The whole file.
    let whole = c.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    let h = whole.headers().clone();
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["content-type"], "application/vnd.pmtiles");
    assert!(h["cache-control"].to_str().unwrap().starts_with("public"), "{h:?}");
    assert!(h.get("content-encoding").is_none());
    let etag = h["etag"].to_str().unwrap().to_string();
    assert_eq!(whole.bytes().await.unwrap(), bytes);
    // A range, a suffix, an open end.
    for (range, from, to) in [("bytes=0-126", 0, 126), ("bytes=-100", len - 100, len - 1), ("bytes=1000-", 1000, len - 1)] {
        let r = c.get(&url).header("range", range).send().await.unwrap();
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(r.headers()["content-range"], format!("bytes {from}-{to}/{len}").as_str());
        assert_eq!(r.headers()["content-length"], (to - from + 1).to_string().as_str());
        assert_eq!(r.headers()["etag"], etag.as_str());
        assert_eq!(&r.bytes().await.unwrap()[..], &bytes[from as usize..=to as usize], "{range}");
    }
    // Unsatisfiable or unservable ranges.
    for range in [format!("bytes={len}-"), "bytes=0-1,10-20".to_string(), "pages=1-2".to_string()] {
        let r = c.get(&url).header("range", &range).send().await.unwrap();
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(r.headers()["content-range"], format!("bytes */{len}").as_str());
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: serde_json::Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().contains("Range"), "{p}");
    }
    // Validators: 304 for the same copy; If-Range with an old tag sends the whole new file.
    let r = c.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag.as_str());
    let r = c.get(&url).header("range", "bytes=0-9").header("if-range", &etag).send().await.unwrap();
    assert_eq!(r.status(), 206);
    let r = c.get(&url).header("range", "bytes=0-9").header("if-range", "\"an-old-copy\"").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len() as u64, len);
    // HEAD: the headers of the answer, no body.
    let r = c.head(&url).header("range", "bytes=0-126").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-length"], "127");
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c.head(&url).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-length"].to_str().unwrap()), (200, len.to_string().as_str()));
    // No query parameters.
    let r = c.get(format!("{url}?z=1")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    server.stop();
}

#[tokio::test]
async fn without_a_base_map_the_file_is_404_and_the_description_says_so() {
    let s = embedded();
    let r = get(&s, "/basemap/operator.pmtiles").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type(), "application/problem+json");
    assert!(r.json()["detail"].as_str().unwrap().contains("--basemap"));
    assert_eq!(r.headers["cache-control"], "no-store");
    let r = get(&s, "/basemap/operator.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"available": false}));
}

/// `serve --basemap FILE`'s exit status and standard error.
fn serve_with(file: &Path) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:1", "--basemap"])
        .arg(file)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_base_maps_are_refused_at_start_naming_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.pmtiles");
    write_basemap(&good);
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("text.pmtiles", b"this is not a PMTiles archive, but it is long enough to hold a header of one hundred and twenty-seven bytes, or so one hopes; and a little more".to_vec(), "no `PMTiles` magic"),
        ("short.pmtiles", bytes[..60].to_vec(), "too short"),
        ("v2.pmtiles", [&b"PMTiles\x02"[..], &bytes[8..]].concat(), "version 2"),
        ("cut.pmtiles", bytes[..bytes.len() / 2].to_vec(), "lies outside the file"),
        ("unknown-type.pmtiles", { let mut b = bytes.clone(); b[99] = 0; b }, "tile type is unknown"),
    ];
    for (name, content, reason) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let (code, err) = serve_with(&path);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(err.contains(path.to_str().unwrap()) && err.contains(reason), "{name}: {err}");
    }
    let (code, err) = serve_with(&dir.path().join("missing.pmtiles"));
    assert_eq!(code, Some(1));
    assert!(err.contains("missing.pmtiles") && err.contains("No such file"), "{err}");
}

#[tokio::test]
async fn a_reload_keeps_the_old_base_map_when_the_new_file_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("region.pmtiles");
    write_basemap(&file);
    let server = Server::start(&["--basemap", file.to_str().unwrap()], &[("RUST_LOG", "warn")]).await;
    let c = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = format!("{}/basemap/operator.pmtiles", server.base);
    let etag = |r: &reqwest::Response| r.headers()["etag"].to_str().unwrap().to_string();
    let first = etag(&c.head(&url).send().await.unwrap());
    let hup = || assert!(Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap().success());

    // A broken file renamed over the path: refused, the old one keeps serving, whole.
    let broken = dir.path().join("broken.tmp");
    std::fs::write(&broken, b"PMTiles\x03 and nothing else").unwrap();
    std::fs::rename(&broken, &file).unwrap();
    hup();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(etag(&r), first);
    assert!(r.bytes().await.unwrap().len() > 1000);

    // A good new file: served after the next reload, under a new validator.
    let fresh = dir.path().join("fresh.tmp");
    write_basemap(&fresh);
    std::fs::rename(&fresh, &file).unwrap();
    hup();
    let start = std::time::Instant::now();
    loop {
        let r = c.head(&url).header("if-none-match", &first).send().await.unwrap();
        if r.status() == 200 {
            assert_ne!(etag(&r), first);
            break;
        }
        assert_eq!(r.status(), 304);
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the reload did not happen");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = server.stop();
    assert!(log.contains("base map reload failed"), "{log}");
}
