//! Every answer is bounded: no request, however large its box or fine its zoom, can make the
//! server build an answer larger than the documented limits.

use std::sync::{Arc, OnceLock};

use rand::{RngExt, SeedableRng};
use sportello::index::Snapshot;
use sportello::index::spatial::LonLatBox;
use sportello::query::viewport::{MAX_FEATURES, MAX_VIEWPORT_PX, size_px};

use crate::support::{get, minimal_desk, snapshot_of};

/// 16,384 desks on a regular 128 × 128 grid over the whole world: every viewport is crowded.
fn world_grid() -> Arc<Snapshot> {
    static S: OnceLock<Arc<Snapshot>> = OnceLock::new();
    S.get_or_init(|| {
        let desks = (0..128 * 128)
            .map(|i| {
                let (col, row) = (f64::from(i % 128), f64::from(i / 128));
                minimal_desk(&format!("g{i}"), -84.0 + row * 168.0 / 127.0, -179.5 + col * 359.0 / 127.0)
            })
            .collect();
        Arc::new(snapshot_of(desks))
    })
    .clone()
}

/// Tried as a new user would: the whole world at zoom 22 answered 668 MB on a 1M-desk bundle.
#[tokio::test]
async fn regression_world_viewport_at_zoom_22_is_refused() {
    let s = world_grid();
    for zoom in [22, 14, 5] {
        let a = get(&s, &format!("/api/v1/points?bbox=-180,-85,180,85&zoom={zoom}")).await;
        assert_eq!(a.status, 400, "zoom {zoom}");
        let p = a.json();
        assert_eq!(p["invalid_params"][0]["name"], "zoom");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("use zoom 4 or less"), "{detail}");
    }
    let a = get(&s, "/api/v1/points?bbox=-180,-85,180,85&zoom=4").await;
    assert_eq!(a.status, 200);
    let n = a.json()["features"].as_array().unwrap().len();
    assert!(n > 2_000 && n <= MAX_FEATURES, "{n} features");
}

#[tokio::test]
async fn viewport_answers_never_exceed_the_feature_limit() {
    let s = world_grid();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (mut refused, mut answered) = (0, 0);
    for _ in 0..300 {
        let lon0: f64 = rng.random_range(-180.0..180.0);
        let lon1: f64 = rng.random_range(-180.0..180.0);
        let lat0: f64 = rng.random_range(-90.0..90.0);
        let lat1: f64 = rng.random_range(-90.0..90.0);
        let (min_lat, max_lat) = (lat0.min(lat1), lat0.max(lat1));
        let zoom: u8 = rng.random_range(0..=22);
        let b = LonLatBox { min_lon: lon0, min_lat, max_lon: lon1, max_lat };
        let (w, h) = size_px(&b, zoom);
        let uri = format!("/api/v1/points?bbox={lon0},{min_lat},{lon1},{max_lat}&zoom={zoom}");
        let a = get(&s, &uri).await;
        if w.max(h) > MAX_VIEWPORT_PX {
            assert_eq!(a.status, 400, "{uri}");
            assert_eq!(a.json()["invalid_params"][0]["name"], "zoom", "{uri}");
            refused += 1;
        } else {
            assert_eq!(a.status, 200, "{uri}");
            let n = a.json()["features"].as_array().unwrap().len();
            assert!(n <= MAX_FEATURES, "{uri}: {n} features");
            answered += 1;
        }
        // Without a zoom, the server picks one that fits.
        let a = get(&s, &format!("/api/v1/points?bbox={lon0},{min_lat},{lon1},{max_lat}")).await;
        assert_eq!(a.status, 200, "no zoom: {uri}");
    }
    assert!(refused > 50 && answered > 50, "both kinds exercised: {refused} refused, {answered} answered");
}
