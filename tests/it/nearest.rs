//! Nearest-desk correctness: the R-tree answer equals a brute-force great-circle ranking (ties
//! aside) for any filter combination, across the antimeridian and near the poles.

use proptest::prelude::*;
use sportello::index::spatial::{AudienceFilter, SpatialIndex};
use sportello::model::{Audience, ContactPoint, Domain, GeoPoint, Language};
use sportello::query::{self, Filters, NearestRequest};

use crate::support::{embedded, synthetic};

/// 80 valid codes: more than the 63 that get their own bit, so the shared "rare" bit is exercised.
const CODES: &[&str] = &[
    "ar", "fa", "ps", "ur", "ti", "so", "am", "uk", "ru", "tr", "sq", "ro", "bg", "el", "sl", "sr", "hr", "zh",
    "bn", "pa", "tl", "wo", "fr", "en", "it", "es", "pt", "de", "nl", "pl", "cs", "sk", "hu", "fi", "sv", "da",
    "no", "et", "lv", "lt", "ga", "mt", "eu", "ca", "gl", "cy", "is", "lb", "mk", "bs", "ka", "hy", "az", "kk",
    "uz", "ky", "tg", "tk", "mn", "ne", "si", "ta", "te", "ml", "kn", "mr", "gu", "hi", "th", "vi", "id", "ms",
    "km", "lo", "my", "sw", "ha", "yo", "ig", "zu",
];

fn desk(i: usize, lat: f64, lon: f64, langs: &[usize], domains: &[usize], unions: bool) -> ContactPoint {
    let mut p = crate::support::minimal_desk(&format!("d{i}"), lat, lon);
    p.languages = langs.iter().map(|&l| Language::new(CODES[l % CODES.len()]).unwrap()).collect();
    p.languages.dedup();
    p.domains = domains.iter().map(|&d| Domain::ALL[d % 19]).collect();
    p.domains.sort();
    p.domains.dedup();
    p.audience = if unions { Audience::Unions } else { Audience::Public };
    p
}

/// Positions biased towards the hard places: the poles and the antimeridian.
fn position() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        (-90.0..=90.0f64, -180.0..=180.0f64),
        (80.0..=90.0f64, -180.0..=180.0f64),
        (-90.0..=-80.0f64, -180.0..=180.0f64),
        (-60.0..=60.0f64, prop_oneof![170.0..=180.0f64, -180.0..=-170.0f64]),
    ]
}

fn brute_force(
    points: &[ContactPoint],
    at: GeoPoint,
    k: usize,
    max_m: Option<f64>,
    langs: &[String],
    domains: &[Domain],
    audience: AudienceFilter,
) -> Vec<(u32, f64)> {
    let mut all: Vec<(u32, f64)> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| langs.is_empty() || langs.iter().any(|l| p.speaks(l)))
        .filter(|(_, p)| domains.is_empty() || domains.iter().any(|d| p.domains.contains(d)))
        .filter(|(_, p)| match audience {
            AudienceFilter::All => true,
            AudienceFilter::Only(a) => p.audience == a,
        })
        .map(|(i, p)| (i as u32, at.distance_m(&p.position)))
        .filter(|(_, d)| max_m.is_none_or(|m| *d <= m))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

/// Same distances in the same order; the same ids wherever the distance is not tied.
fn assert_same(got: &[(u32, f64)], want: &[(u32, f64)]) {
    assert_eq!(got.len(), want.len(), "got {got:?}\nwant {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g.1 - w.1).abs() < 1e-6, "distance differs: got {got:?}\nwant {want:?}");
    }
    let tied = |d: f64| want.iter().filter(|w| (w.1 - d).abs() < 1e-6).count() > 1;
    for (g, w) in got.iter().zip(want) {
        if !tied(w.1) {
            assert_eq!(g.0, w.0, "got {got:?}\nwant {want:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn nearest_equals_brute_force(
        desks in prop::collection::vec(
            (position(), prop::collection::vec(0..CODES.len(), 1..5), prop::collection::vec(0usize..19, 1..4), prop::bool::weighted(0.3)),
            1..250,
        ),
        at in position(),
        k in 1usize..25,
        max_km in prop::option::of(1.0..20_000.0f64),
        lang_pick in prop::collection::vec(0..CODES.len(), 0..3),
        domain_pick in prop::collection::vec(0usize..19, 0..3),
        audience in prop_oneof![Just(AudienceFilter::All), Just(AudienceFilter::Only(Audience::Public)), Just(AudienceFilter::Only(Audience::Unions))],
    ) {
        let points: Vec<ContactPoint> = desks
            .iter()
            .enumerate()
            .map(|(i, ((lat, lon), l, d, u))| desk(i, *lat, *lon, l, d, *u))
            .collect();
        let index = SpatialIndex::build(&points);
        let langs: Vec<String> = lang_pick.iter().map(|&l| CODES[l].to_string()).collect();
        let domains: Vec<Domain> = domain_pick.iter().map(|&d| Domain::ALL[d]).collect();
        let filter = index.filter(&langs, &domains, audience);
        let at = GeoPoint::new(at.0, at.1).unwrap();
        let max_m = max_km.map(|km| km * 1000.0);
        let got = index.nearest(
            at.lat.degrees(),
            at.lon.degrees(),
            k,
            max_m,
            filter.masks(),
            |e| filter.matches(e, || filter.rare_langs().iter().any(|l| points[e.ord as usize].speaks(l))),
            |ord| at.distance_m(&points[ord as usize].position),
        );
        let want = brute_force(&points, at, k, max_m, &langs, &domains, audience);
        assert_same(&got, &want);
    }
}

/// Through the query layer, on the embedded and the synthetic datasets, with seeded random queries.
#[test]
fn query_nearest_matches_brute_force_on_real_datasets() {
    use rand::{RngExt, SeedableRng};
    for snap in [embedded(), synthetic()] {
        let desks = crate::support::all_desks(&snap);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        for _ in 0..300 {
            let at = GeoPoint::new(rng.random_range(34.0..62.0), rng.random_range(-11.0..30.0)).unwrap();
            let langs: Vec<String> = if rng.random_bool(0.5) { vec![["ar", "ti", "uk", "wo"][rng.random_range(0..4)].into()] } else { vec![] };
            let domains: Vec<Domain> = if rng.random_bool(0.5) { vec![Domain::ALL[rng.random_range(0..19)]] } else { vec![] };
            let audience = [AudienceFilter::All, AudienceFilter::Only(Audience::Public), AudienceFilter::Only(Audience::Unions)][rng.random_range(0..3)];
            let k = rng.random_range(1..=30);
            let max_m = rng.random_bool(0.3).then(|| rng.random_range(1_000.0..500_000.0));
            let req = NearestRequest { at, place: None, k, max_m, filters: Filters { langs: langs.clone(), domains: domains.clone(), audience, open_now: false } };
            let got: Vec<(u32, f64)> = query::nearest(&snap, &req, chrono::Utc::now()).iter().map(|h| (h.ord, h.distance_m.unwrap())).collect();
            let want = brute_force(&desks, at, k, max_m, &langs, &domains, audience);
            assert_same(&got, &want);
        }
    }
}

#[test]
fn antimeridian_and_pole_neighbours_are_found() {
    let points = vec![
        desk(0, 10.0, 179.9, &[0], &[0], false),
        desk(1, 10.0, -179.9, &[0], &[0], false),
        desk(2, 10.0, 170.0, &[0], &[0], false),
        desk(3, 89.9, 0.0, &[0], &[0], false),
        desk(4, 89.9, 180.0, &[0], &[0], false),
    ];
    let index = SpatialIndex::build(&points);
    let f = index.filter(&[], &[], AudienceFilter::All);
    let pts = &points;
    let dist = |at: GeoPoint| move |ord: u32| at.distance_m(&pts[ord as usize].position);
    let at = GeoPoint::new(10.0, -179.95).unwrap();
    let got = index.nearest(10.0, -179.95, 2, None, f.masks(), |e| f.matches(e, || false), dist(at));
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 0], "across the antimeridian");
    let at = GeoPoint::new(89.95, 90.0).unwrap();
    let got = index.nearest(89.95, 90.0, 2, None, f.masks(), |e| f.matches(e, || false), dist(at));
    let mut ids: Vec<u32> = got.iter().map(|g| g.0).collect();
    ids.sort();
    assert_eq!(ids, vec![3, 4], "over the pole");
}
