//! Criterion benchmarks of the query layer on deterministic synthetic bundles (`sportello synth`,
//! seed 1): nearest (k = 1 and 10; unfiltered, with the 1-in-16 language `ti`, with a domain;
//! and k = 10 at random points, plain and joined into gzip),
//! viewports with clustering at zooms 5, 10 and 14, text search, compressing answers (joined from
//! the precompressed desks, and gzip -1 / -6 of the same bytes), and bundle load. Query points are
//! chosen by density: a dense city (Milan), a small town (Pordenone), an empty sea (Bay of Biscay).
//! Each measurement includes serialising the answer, as a handler would.
//!
//! Sizes come from `SPORTELLO_BENCH_SIZES` (default `100000`; e.g. `100000,1000000,10000000`).
//! Bundles are built once and kept under `target/bench-data/`. Run with `cargo bench --bench queries`.
//! Under `cargo test` (no `--bench` flag) it runs every benchmark once on 2 000 desks.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sportello::http::body;
use sportello::index::{Snapshot, bundle};
use sportello::model::{Domain, GeoPoint};
use sportello::query::{self, Filters, NearestRequest, SearchRequest, ViewportRequest};

const PLACES: &[(&str, f64, f64)] =
    &[("dense-city", 45.4642, 9.19), ("small-town", 45.9564, 12.6615), ("empty-sea", 45.5, -6.0)];

struct NoProgress;
impl bundle::Progress for NoProgress {
    fn phase(&mut self, _: &str, _: u64) {}
    fn inc(&mut self, _: u64) {}
}

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn sizes() -> Vec<usize> {
    if !bench_mode() {
        return vec![2_000];
    }
    std::env::var("SPORTELLO_BENCH_SIZES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("SPORTELLO_BENCH_SIZES: comma-separated counts"))
        .collect()
}

/// The bundle of `n` synthetic desks (seed 1), built on first use.
fn bundle_dir(n: usize) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-data/bundle-{n}-1"));
    // Built once and kept; rebuilt when it is of an older bundle format.
    if !dir.join("manifest.json").is_file() || Snapshot::load(&dir).is_err() {
        eprintln!("building {}", dir.display());
        let desks = sportello::synth::desks(n, 1);
        bundle::write(desks, Vec::new(), 0, &dir, &mut NoProgress).expect("bench bundle builds");
    }
    dir
}

fn at(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).expect("valid place")
}

fn nearest(c: &mut Criterion, s: &Snapshot, n: usize) {
    let now = chrono::Utc::now();
    let mut g = c.benchmark_group(format!("nearest/{n}"));
    let filters = [
        ("all", Filters::default()),
        ("lang-ti", Filters { langs: vec!["ti".into()], ..Filters::default() }),
        ("domain-trafficking", Filters { domains: vec![Domain::TraffickingExploitation], ..Filters::default() }),
    ];
    for k in [1, 10] {
        for (fname, f) in &filters {
            for (place, lat, lon) in PLACES {
                let req = NearestRequest { at: at(*lat, *lon), place: None, k, max_m: None, filters: f.clone() };
                g.bench_function(BenchmarkId::new(format!("k{k}/{fname}"), place), |b| {
                    b.iter(|| body::nearest(s, &query::nearest(s, black_box(&req), now), None))
                });
            }
        }
    }
    g.finish();
}

/// Nearest at random points (the load benchmark's region, lon −10…30, lat 36…60), one point per
/// iteration from a fixed list: unlike the fixed places above, the tree's nodes and the desks'
/// bytes are mostly not in the cache, as under real traffic. Plain, and joined into gzip as a
/// browser's request is answered.
fn nearest_random(c: &mut Criterion, s: &Snapshot, n: usize) {
    use rand::{RngExt, SeedableRng};
    use sportello::index::packed::Wrapper;
    let now = chrono::Utc::now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20240601);
    let reqs: Vec<NearestRequest> = (0..4096)
        .map(|_| {
            let (lat, lon) = (rng.random_range(36.0..60.0), rng.random_range(-10.0..30.0));
            NearestRequest { at: at(lat, lon), place: None, k: 10, max_m: None, filters: Filters::default() }
        })
        .collect();
    // What the joined answers weigh against gzip -6 of the same bodies (the size target: 1.15).
    let mut ratios: Vec<f64> = reqs
        .iter()
        .take(256)
        .map(|r| {
            use std::io::Write;
            let a = body::nearest_placed(s, &query::nearest(s, r, now), None);
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(&a.body).expect("in memory");
            body::compress(s, &a, Wrapper::Gzip).len() as f64 / e.finish().expect("in memory").len() as f64
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    eprintln!("nearest-random/{n}: joined / gzip -6, median of 256 answers: {:.3}", ratios[ratios.len() / 2]);
    let mut g = c.benchmark_group(format!("nearest-random/{n}"));
    let mut i = 0;
    g.bench_function("k10/plain", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            body::nearest(s, &query::nearest(s, black_box(&reqs[i]), now), None)
        })
    });
    g.bench_function("k10/joined", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            let a = body::nearest_placed(s, &query::nearest(s, black_box(&reqs[i]), now), None);
            body::compress(s, &a, Wrapper::Gzip)
        })
    });
    g.finish();
}

fn viewport(c: &mut Criterion, s: &Snapshot, n: usize) {
    let now = chrono::Utc::now();
    let mut g = c.benchmark_group(format!("viewport/{n}"));
    for zoom in [5u8, 10, 14] {
        for (place, lat, lon) in PLACES {
            // A 1024 × 768-pixel map centred on the place.
            let w = 1024.0 * 360.0 / (256.0 * f64::from(1u32 << zoom));
            let h = w * 0.75 * lat.to_radians().cos();
            let bbox = format!("{},{},{},{}", lon - w / 2.0, (lat - h / 2.0).max(-90.0), lon + w / 2.0, (lat + h / 2.0).min(90.0));
            let req = ViewportRequest::from_query(Some(&format!("bbox={bbox}&zoom={zoom}"))).expect("valid viewport");
            g.bench_function(BenchmarkId::new(format!("z{zoom}"), place), |b| {
                b.iter(|| body::viewport(s, &query::viewport(s, black_box(&req), now)))
            });
        }
    }
    g.finish();
}

fn search(c: &mut Criterion, s: &Snapshot, n: usize) {
    let now = chrono::Utc::now();
    let mut g = c.benchmark_group(format!("search/{n}"));
    let cases = [
        ("permesso-di-soggiorno", "permesso di soggiorno", None),
        ("family-reunification-near-milan", "family reunification", Some(at(45.4642, 9.19))),
        ("arabic-housing", "سكن", None),
        ("city-name-near", "Pordenone", Some(at(45.9564, 12.6615))),
        ("two-needs", "робота", None),
        ("need-and-name-word", "permesso di soggiorno Milano", None),
        ("housing-lang-filter", "housing", None),
    ];
    for (name, q, pos) in cases {
        let filters = if name == "housing-lang-filter" {
            Filters { langs: vec!["ar".into()], ..Filters::default() }
        } else {
            Filters::default()
        };
        let req = SearchRequest { q: Some(q.into()), at: pos, place: None, limit: 10, filters };
        g.bench_function(name, |b| b.iter(|| body::search(s, &query::search(s, black_box(&req), now).expect("search runs"))));
    }
    g.finish();
}

/// Compressing answers: nearest k = 10 at the dense city and a city viewport at zoom 12, joined
/// from the precompressed desks (gzip) against flate2's gzip at levels 1 and 6 of the same body.
fn compress(c: &mut Criterion, s: &Snapshot, n: usize) {
    use std::io::Write;
    use sportello::index::packed::Wrapper;
    let now = chrono::Utc::now();
    let mut g = c.benchmark_group(format!("compress/{n}"));
    let near = NearestRequest::from_query(Some("lat=45.4642&lon=9.19&k=10")).expect("valid nearest");
    let view = ViewportRequest::from_query(Some("bbox=9.115,45.414,9.265,45.514&zoom=12")).expect("valid viewport");
    let answers = [
        ("nearest-k10", body::nearest_placed(s, &query::nearest(s, &near, now), None)),
        ("viewport-z12", body::viewport_placed(s, &query::viewport(s, &view, now))),
    ];
    for (name, a) in &answers {
        let flate = |level: u32| {
            let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(a.body.len() / 3), flate2::Compression::new(level));
            e.write_all(&a.body).expect("in memory");
            e.finish().expect("in memory")
        };
        eprintln!("{name}: {} B, joined {} B, gzip -1 {} B, gzip -6 {} B", a.body.len(), body::compress(s, a, Wrapper::Gzip).len(), flate(1).len(), flate(6).len());
        g.bench_function(format!("{name}/joined"), |b| b.iter(|| body::compress(s, black_box(a), Wrapper::Gzip)));
        g.bench_function(format!("{name}/gzip-1"), |b| b.iter(|| flate(black_box(1))));
        g.bench_function(format!("{name}/gzip-6"), |b| b.iter(|| flate(black_box(6))));
    }
    g.finish();
}

fn load(c: &mut Criterion, dir: &std::path::Path, n: usize) {
    let mut g = c.benchmark_group(format!("load/{n}"));
    g.sample_size(10);
    g.bench_function("bundle", |b| b.iter(|| Snapshot::load(black_box(dir)).expect("bundle loads")));
    g.finish();
}

fn all(c: &mut Criterion) {
    for n in sizes() {
        let dir = bundle_dir(n);
        let s = Snapshot::load(&dir).expect("bench bundle loads");
        nearest(c, &s, n);
        nearest_random(c, &s, n);
        viewport(c, &s, n);
        search(c, &s, n);
        compress(c, &s, n);
        load(c, &dir, n);
    }
}

criterion_group!(benches, all);
criterion_main!(benches);
