//! Entry points of the fuzz harnesses: one function per fuzz target, called with the raw bytes of
//! one input both by the AFL binaries in `fuzz/` and by the regression tests that replay every
//! seed and every crash reproducer in CI (`tests/it/fuzz_regressions.rs`). Each one must never
//! panic on any input; it panics only when a property it checks fails, which is the bug a fuzzer
//! reports. The properties are the contract's, not just "no crash": readers either report a
//! problem with its place and reason or give records that validate again, parsers give a request
//! within its bounds or an error naming a parameter, and a bundle is refused or answers queries
//! with well-formed JSON. Not part of the public API.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::http::body;
use crate::index::bundle::{self, Progress};
use crate::pipeline::EMBEDDED_SAMPLE;
use crate::index::{BundleError, Snapshot};
use crate::ingest::{Format, Ingester, Record};
use crate::model::feature::PointFeature;
use crate::query::params::{self, MAX_LANGS, MAX_PLACE_CHARS, MAX_PLACES, MAX_QUERY_CHARS, MAX_RESULTS};
use crate::query::viewport::{MAX_VIEWPORT_PX, MAX_ZOOM, size_px};
use crate::query::{self as q, DomainsRequest, LocateRequest, NearestRequest, ParamError, SearchRequest, ViewportRequest};

/// Longest reason a parameter error may give: it repeats at most 40 characters of what was sent.
const MAX_REASON_CHARS: usize = 240;

/// The GeoJSON reader on one file's bytes.
pub fn geojson_reader(data: &[u8]) {
    reader(data, Format::GeoJson);
}

/// The CSV reader on one file's bytes.
pub fn csv_reader(data: &[u8]) {
    reader(data, Format::Csv);
}

fn reader(data: &[u8], format: Format) {
    const NAME: &str = "fuzz-input";
    let mut ing = Ingester::new();
    let mut seen = 0u64;
    ing.read_bytes(NAME, format, data, &mut |n| seen += n);
    let out = ing.finish();
    let input = &out.inputs[0];
    assert_eq!(out.inputs.len(), 1, "one summary per file");
    assert_eq!(input.records as u64, seen, "every record is reported to the progress callback");
    assert_eq!(input.valid, out.points.len(), "valid records are the points given");
    assert_eq!(input.records - input.valid, out.invalid_records, "every record is valid or counted invalid");
    for p in &out.problems {
        assert_eq!(p.file, NAME, "a problem names its file: {p}");
        assert!(!p.reason.trim().is_empty(), "a problem gives a reason: {p:?}");
        match p.record {
            Record::File => assert!(p.field.is_none(), "a file problem names no field: {p}"),
            Record::Location(_) => assert!(p.field.is_some(), "an HSDS location's problem names its field: {p}"),
            Record::Feature(_) | Record::Row(_) => {
                assert!(p.line.is_some(), "a record's problem names its line: {p}");
                assert!(p.field.as_deref().is_some_and(|f| !f.is_empty()), "a record's problem names its field: {p}");
            }
        }
    }
    // Every record counted invalid has at least one problem of its own.
    let records_with_problems =
        out.problems.iter().filter(|p| p.record != Record::File).map(|p| format!("{:?}", p.record)).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(records_with_problems.len(), out.invalid_records, "one or more problems per invalid record");
    let mut ids = std::collections::HashSet::new();
    for point in &out.points {
        assert!(ids.insert(point.id.clone()), "ids are unique: {}", point.id);
        // What a bundle stores for the desk reads back as the same valid desk.
        let stored = serde_json::to_value(PointFeature { point, distance_m: None }).expect("a desk serialises");
        match crate::ingest::validate::feature(&stored) {
            Ok(again) => assert_eq!(&again, point, "a stored desk reads back unchanged"),
            Err(e) => panic!("desk {} as stored does not validate: {e:?}", point.id),
        }
    }
}

/// Every endpoint's query-string parser on one query string (the bytes as UTF-8; others are not
/// a request's query).
pub fn query_string(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let raw = Some(raw);
    const FILTERS: &[&str] = &["lang", "domain", "audience", "open_now"];
    let with_filters = |own: &[&'static str]| own.iter().chain(FILTERS).copied().collect::<Vec<_>>();

    if let Some(r) = checked(NearestRequest::from_query(raw), &with_filters(&["lat", "lon", "place", "ui", "k", "max_km"])) {
        assert!((1..=MAX_RESULTS).contains(&r.k), "k {} out of bounds", r.k);
        if let Some(m) = r.max_m {
            assert!(m.is_finite() && m > 0.0 && m <= 20_038_000.0, "max_m {m}");
        }
        filters(&r.filters);
    }
    if let Some(r) = checked(ViewportRequest::from_query(raw), &with_filters(&["bbox", "zoom"])) {
        let b = r.bbox;
        for v in [b.min_lon, b.max_lon] {
            assert!((-180.0..=180.0).contains(&v), "longitude {v}");
        }
        for v in [b.min_lat, b.max_lat] {
            assert!((-90.0..=90.0).contains(&v), "latitude {v}");
        }
        assert!(b.min_lat <= b.max_lat, "latitudes in order");
        if let Some(z) = r.zoom {
            assert!(z <= MAX_ZOOM, "zoom {z}");
            let (w, h) = size_px(&b, z);
            assert!(w.max(h) <= MAX_VIEWPORT_PX, "viewport of {w} × {h} px at zoom {z}");
        }
        filters(&r.filters);
    }
    if let Some(r) = checked(SearchRequest::from_query(raw), &with_filters(&["q", "lat", "lon", "place", "ui", "limit"])) {
        assert!((1..=MAX_RESULTS).contains(&r.limit), "limit {}", r.limit);
        if let Some(text) = &r.q {
            assert!(text.chars().count() <= MAX_QUERY_CHARS && !text.trim().is_empty(), "q {text:?}");
        }
        filters(&r.filters);
    }
    if let Some(r) = checked(LocateRequest::from_query(raw), &["place", "ui", "lat", "lon", "limit"]) {
        assert!((1..=MAX_PLACES).contains(&r.limit), "limit {}", r.limit);
        if let Some(place) = &r.place {
            assert!(place.chars().count() <= MAX_PLACE_CHARS, "place {place:?}");
            let found = q::locate_place(&r);
            assert!(found.len() <= r.limit, "{} candidates for limit {}", found.len(), r.limit);
            let answer = body::places(&found);
            serde_json::from_slice::<Value>(&answer).expect("the candidates are JSON");
        } else {
            assert!(r.bias.is_none(), "a bias only with a place");
        }
        assert!(crate::model::Language::new(&r.ui).is_ok(), "ui {:?}", r.ui);
    }
    if let Some(r) = checked(DomainsRequest::from_query(raw), &["ui"]) {
        assert!(crate::model::Language::new(&r.ui).is_ok(), "ui {:?}", r.ui);
    }
    checked(params::no_params(raw), &[]);
}

/// A parse's result: the request, or `None` after checking the error names one of `allowed` (or
/// the unknown parameter, cut to 40 characters) and gives a short reason.
fn checked<T>(r: Result<T, ParamError>, allowed: &[&str]) -> Option<T> {
    let e = match r {
        Ok(v) => return Some(v),
        Err(e) => e,
    };
    assert!(!e.name.is_empty() && e.name.chars().count() <= 40, "error names a parameter: {e:?}");
    assert!(
        allowed.contains(&e.name.as_str()) || e.reason.starts_with("unknown parameter"),
        "error names a parameter the endpoint takes: {e:?}"
    );
    let reason = e.reason.chars().count();
    assert!(reason > 0 && reason <= MAX_REASON_CHARS, "reason of {reason} characters: {e:?}");
    None
}

fn filters(f: &q::Filters) {
    assert!(f.langs.len() <= MAX_LANGS, "{} languages", f.langs.len());
    assert!(f.domains.len() <= crate::model::Domain::ALL.len(), "{} domains", f.domains.len());
    for l in &f.langs {
        assert!(crate::model::Language::new(l).is_ok(), "lang {l:?}");
    }
}

/// A bundle built from the embedded sample, and a directory to damage copies of it in.
struct Fixture {
    base: PathBuf,
    work: PathBuf,
    manifest: Value,
}

struct NoProgress;
impl Progress for NoProgress {
    fn phase(&mut self, _: &str, _: u64) {}
    fn inc(&mut self, _: u64) {}
}

/// The fixture, built once per process. The base bundle sits in the temporary directory under a
/// name that holds the sample's hash and the format version, so runs share it; it is written
/// atomically, so processes building it at once do not clash.
fn fixture() -> &'static Mutex<Fixture> {
    static FIXTURE: OnceLock<Mutex<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tag = &blake3::hash(EMBEDDED_SAMPLE).to_hex()[..12];
        let base = std::env::temp_dir().join(format!("sportello-fuzz-base-{}-{tag}", bundle::FORMAT_VERSION));
        if Snapshot::load(&base).is_err() {
            let mut ing = Ingester::new();
            ing.read_bytes("sample.geojson", Format::GeoJson, EMBEDDED_SAMPLE, &mut |_| {});
            let ing = ing.finish();
            bundle::write(ing.points, ing.inputs, 0, &base, &mut NoProgress).expect("the sample bundle is written");
        }
        let manifest = serde_json::from_slice(&std::fs::read(base.join("manifest.json")).expect("manifest")).expect("manifest is JSON");
        // A fuzzer ends its processes without running destructors: each one's work directory is
        // named by its process id, and those of processes that are gone are removed here.
        const WORK: &str = "sportello-fuzz-work-";
        for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(WORK)
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let work = std::env::temp_dir().join(format!("{WORK}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir(&work).expect("a work directory");
        Mutex::new(Fixture { base, work, manifest })
    })
}

/// The base bundle's `desks.bin` and `manifest.json`, the seeds of the bundle targets.
pub fn bundle_seeds() -> (Vec<u8>, Vec<u8>) {
    let f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    (std::fs::read(f.base.join("desks.bin")).expect("desks.bin"), std::fs::read(f.base.join("manifest.json")).expect("manifest"))
}

/// Writes a bundle into the work directory: `desks.bin`, `tree.bin` and `manifest.json` as
/// given, the rest linked to the base bundle's files.
fn stage(f: &Fixture, desks: &[u8], tree: &[u8], manifest: &[u8]) -> PathBuf {
    let dir = f.work.join("bundle");
    if !dir.exists() {
        std::fs::create_dir(&dir).expect("bundle directory");
        for name in ["points.geojson", "points.packed", bundle::MVT_ARCHIVE, bundle::GEOJSON_ARCHIVE, "text"] {
            std::os::unix::fs::symlink(f.base.join(name), dir.join(name)).expect("link to the base bundle");
        }
    }
    std::fs::write(dir.join("desks.bin"), desks).expect("desks.bin written");
    std::fs::write(dir.join("tree.bin"), tree).expect("tree.bin written");
    std::fs::write(dir.join("manifest.json"), manifest).expect("manifest written");
    dir
}

/// The bundle loader on a `desks.bin` of these bytes, with the manifest's hash of it recomputed to
/// match (and its desk count set to the count the file claims, and the tree a build would make of
/// it beside it), so the input reaches the decoder and the queries:
/// a damaged file with a matching hash must still be refused, or served safely.
pub fn bundle_desks(data: &[u8]) {
    let f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    let mut manifest = f.manifest.clone();
    manifest["desks_hash"] = Value::String(blake3::hash(data).to_hex().to_string());
    if let Some(n) = data.get(8..16) {
        manifest["counts"]["points"] = Value::from(u64::from_le_bytes(n.try_into().expect("8 bytes")));
    }
    // The tree a build would write from these tables, so they reach the queries.
    let tree = bundle::tree_for_desks_bin(data).unwrap_or_else(|| std::fs::read(f.base.join("tree.bin")).expect("tree.bin"));
    manifest["tree_hash"] = Value::String(blake3::hash(&tree).to_hex().to_string());
    let dir = stage(&f, data, &tree, &serde_json::to_vec(&manifest).expect("manifest serialises"));
    load_and_query(&dir);
}

/// The bundle loader on a `manifest.json` of these bytes, beside the base bundle's good files.
pub fn bundle_manifest(data: &[u8]) {
    let f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    let desks = std::fs::read(f.base.join("desks.bin")).expect("desks.bin");
    let tree = std::fs::read(f.base.join("tree.bin")).expect("tree.bin");
    let dir = stage(&f, &desks, &tree, data);
    load_and_query(&dir);
}

/// Opens the bundle in `dir` as `serve` does at its start: a refusal must say which bundle and
/// why; an opened one must answer every kind of query within its bounds, without a panic, both
/// before its large files are checked ([`Snapshot::verify`]) and after; once they have passed,
/// every answer is JSON.
fn load_and_query(dir: &Path) {
    let refused = |e: BundleError| {
        let msg = e.to_string();
        match e {
            BundleError::Text(_) | BundleError::Other(_) => {}
            _ => assert!(msg.contains(&dir.display().to_string()), "a refusal names the bundle: {msg}"),
        }
        assert!(msg.len() < 2000, "a refusal is short: {} bytes", msg.len());
    };
    let s = match Snapshot::open(dir) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    query_all(&s, false);
    match s.verify() {
        Ok(()) => query_all(&s, true),
        Err(e) => refused(e),
    }
}

/// Every kind of query on `s`, each answer within its bounds; JSON when `verified`.
fn query_all(s: &Snapshot, verified: bool) {
    let json = |what: &str, bytes: &[u8]| {
        if !verified {
            return;
        }
        if let Err(e) = serde_json::from_slice::<Value>(bytes) {
            panic!("{what}: the answer is not JSON ({e}): {}", String::from_utf8_lossy(&bytes[..bytes.len().min(400)]));
        }
    };
    let now = Utc.with_ymd_and_hms(2026, 10, 14, 10, 30, 0).single().expect("a valid time");
    let queries = [
        "",
        "lang=ar",
        "lang=ti,wo,fa&domain=family-reunification,housing&audience=all",
        "audience=unions&open_now=true",
        "lang=xh&domain=health&audience=all&open_now=true",
    ];
    for (lat, lon) in [(45.4642, 9.19), (0.0, 0.0), (89.9, 179.9), (-89.9, -180.0), (50.85, 4.35)] {
        for filter in queries {
            let raw = format!("lat={lat}&lon={lon}&k=100&{filter}");
            let r = NearestRequest::from_query(Some(&raw)).expect("a valid nearest");
            let hits = q::nearest(s, &r, now);
            assert!(hits.len() <= r.k, "nearest gave {} for k {}", hits.len(), r.k);
            json("nearest", &body::nearest(s, &hits, None));
            // The answer joined from the stored tokens inflates to the same bytes.
            let placed = body::nearest_placed(s, &hits, None);
            let gz = body::compress(s, &placed, crate::index::packed::Wrapper::Gzip);
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).expect("a joined answer is valid gzip");
            assert_eq!(plain, placed.body, "a joined answer inflates to its body");
        }
    }
    for bbox in ["-180,-90,180,90", "170,-10,-170,10", "9,45,10,46"] {
        for zoom in ["", "&zoom=0", "&zoom=3"] {
            for filter in queries {
                let raw = format!("bbox={bbox}{zoom}&{filter}");
                let Ok(r) = ViewportRequest::from_query(Some(&raw)) else { continue };
                let v = q::viewport(s, &r, now);
                assert!(v.points.len() + v.clusters.len() <= crate::query::viewport::MAX_FEATURES, "viewport too large");
                json("viewport", &body::viewport(s, &v));
            }
        }
    }
    for text in ["", "q=lavoro", "q=family%20reunification&lat=45.46&lon=9.19", "q=asilo&lat=-33.9&lon=18.4"] {
        for filter in queries {
            let r = SearchRequest::from_query(Some(&format!("{text}&{filter}&limit=100"))).expect("a valid search");
            if let Ok(a) = q::search(s, &r, now) {
                assert!(a.hits.len() <= r.limit, "search gave {} for limit {}", a.hits.len(), r.limit);
                json("search", &body::search(s, &a));
            }
        }
    }
    for ord in 0..s.len().min(1000) as u32 {
        let id = s.desks.id(ord).to_string();
        if let Some(found) = q::point(s, &id) {
            json("point", &body::point(s, found));
        }
    }
    let (ui, rtl, list) = q::domains(s, &DomainsRequest { ui: "ar".into() });
    json("domains", &body::domains(&ui, rtl, &list));
}

/// The PMTiles archive reader (what `serve` runs on a bundle's `tiles.*.pmtiles`) on any bytes:
/// it refuses them with a reason or gives an archive whose every listed tile is found again by
/// its coordinates, with the same bytes, and whose tiles decompress or are refused — never a
/// panic, never a slice outside the archive.
pub fn tile_archive(data: &[u8]) {
    use crate::tiles::{Archive, TileCoord};
    let a = match Archive::parse(bytes::Bytes::copy_from_slice(data)) {
        Ok(a) => a,
        Err(e) => {
            assert!(!e.0.trim().is_empty(), "a refused archive says why");
            return;
        }
    };
    let _ = a.metadata().len();
    let mut listed = 0usize;
    for (coord, stored) in a.tiles().take(5_000) {
        listed += 1;
        let found = a.get(coord).unwrap_or_else(|| panic!("tile {coord:?} is listed but not found"));
        assert_eq!(found, stored, "tile {coord:?}: found bytes differ from the listed ones");
        let _ = a.plain(&found);
    }
    assert!(listed <= a.len(), "more tiles listed than the archive counts");
    for z in 0..=crate::tiles::MAX_ZOOM {
        let last = (1u32 << z) - 1;
        for (x, y) in [(0, 0), (last, last), (last / 2, last / 3)] {
            if let Some(c) = TileCoord::new(z, x, y)
                && let Some(b) = a.get(c)
            {
                let _ = a.plain(&b);
            }
        }
    }
}

/// The tile encoder on the valid desks of a GeoJSON file: at every zoom the tiles together stand
/// for every public desk exactly once (a cluster for its `point_count`, a desk for one), each
/// desk or cluster in the tile its cell belongs to; at the top zoom every public desk is its own
/// feature, with its id; every tile is well-formed GeoJSON and non-empty.
pub fn tile_pyramid(data: &[u8]) {
    use crate::index::clusters::{ClusterIndex, cell_of};
    use crate::index::spatial::SpatialIndex;
    use crate::index::store::DeskStore;
    use crate::model::Audience;
    use crate::tiles::MAX_ZOOM;
    let mut ing = Ingester::new();
    ing.read_bytes("fuzz-input", Format::GeoJson, data, &mut |_| {});
    let mut points = ing.finish().points;
    points.truncate(400);
    if points.is_empty() {
        return;
    }
    bundle::spatial_order(&mut points);
    let desks = DeskStore::from_points(&points);
    let (entries, _) = SpatialIndex::entries(&points);
    let clusters = ClusterIndex::build(&entries, desks.positions());
    let tile_desks: Vec<_> = points.iter().map(crate::tiles::TileDesk::of).collect();
    let tiles = crate::tiles::generate(&tile_desks, &clusters).unwrap_or_else(|e| panic!("valid desks could not be encoded: {e}"));
    let public: Vec<&crate::model::ContactPoint> = points.iter().filter(|p| p.audience == Audience::Public).collect();
    let mut per_zoom = vec![0u64; usize::from(MAX_ZOOM) + 1];
    let mut top_ids: Vec<String> = Vec::new();
    for t in &tiles {
        let plain = crate::tiles::archive::gunzip(&t.geojson_gz).unwrap_or_else(|e| panic!("tile {:?} does not inflate: {e}", t.coord));
        let v: Value = serde_json::from_slice(&plain).unwrap_or_else(|e| panic!("tile {:?} is not JSON: {e}", t.coord));
        let features = v["features"].as_array().unwrap_or_else(|| panic!("tile {:?} has no features array", t.coord));
        assert!(!features.is_empty(), "an empty tile {:?} was written", t.coord);
        assert_eq!(features.len(), t.features, "tile {:?}: feature count", t.coord);
        let z = t.coord.z;
        for f in features {
            let p = &f["properties"];
            let n = if p["cluster"] == true { p["point_count"].as_u64().expect("a cluster has a point_count") } else { 1 };
            assert!(n >= 1, "a feature stands for no desk");
            let at = f["geometry"]["coordinates"].as_array().expect("a point");
            let (lon, lat) = (at[0].as_f64().expect("lon"), at[1].as_f64().expect("lat"));
            // Coordinates are written with 6 decimals, so a desk within 1e-6° of a tile's edge may
            // be drawn just across it.
            let near = [-2e-6, 0.0, 2e-6];
            let inside = near.iter().any(|dx| near.iter().any(|dy| {
                let (cx, cy) = cell_of(lon + dx, lat + dy, z);
                (cx / 4, cy / 4) == (t.coord.x, t.coord.y)
            }));
            assert!(inside, "a feature at {lon},{lat} lies outside its tile {:?}", t.coord);
            per_zoom[usize::from(z)] += n;
            if z == MAX_ZOOM {
                assert_ne!(p["cluster"], true, "a cluster at the top zoom");
                top_ids.push(f["id"].as_str().expect("a desk has its id").to_string());
            }
        }
    }
    for (z, n) in per_zoom.iter().enumerate() {
        assert_eq!(*n, public.len() as u64, "zoom {z}: the tiles stand for {n} desks, not {}", public.len());
    }
    top_ids.sort();
    let mut want: Vec<String> = public.iter().map(|p| p.id.to_string()).collect();
    want.sort();
    assert_eq!(top_ids, want, "the top zoom holds every public desk once");
}
