//! Map-viewport ("small-scale localization") queries: the desks inside a bounding box, or — when a
//! viewport holds more than [`CLUSTER_ABOVE`] of them — grid clusters in Web-Mercator pixel space at
//! the requested zoom, so a map never receives more markers than it can draw.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Hit, ViewportRequest, predicate};
use crate::index::Snapshot;
use crate::model::feature::ClusterFeature;

/// A viewport with more matching desks than this is answered with clusters.
pub const CLUSTER_ABOVE: usize = 200;
/// Side of a cluster cell, in screen pixels (256-pixel tiles).
pub const CELL_PX: f64 = 64.0;
/// Highest zoom; a cluster still standing there is desks at (almost) the same place.
pub const MAX_ZOOM: u8 = 22;

/// What a viewport holds: single desks and clusters.
#[derive(Debug, Clone, Default)]
pub struct Viewport {
    pub points: Vec<Hit>,
    pub clusters: Vec<ClusterFeature>,
    /// The zoom the clustering used.
    pub zoom: u8,
}

/// Web-Mercator world pixel coordinates of (lon, lat) in degrees at `zoom` (256-pixel tiles).
pub fn world_px(lon: f64, lat: f64, zoom: u8) -> (f64, f64) {
    let size = 256.0 * f64::from(1u32 << zoom);
    let lat = lat.clamp(-85.051_128_78, 85.051_128_78).to_radians();
    let x = (lon + 180.0) / 360.0 * size;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * size;
    (x, y)
}

/// The zoom at which a box `lon_span` degrees wide fills about 1024 pixels.
pub fn fitting_zoom(lon_span: f64) -> u8 {
    if lon_span <= 0.0 {
        return MAX_ZOOM;
    }
    let z = (1024.0 * 360.0 / (256.0 * lon_span)).log2().floor();
    z.clamp(0.0, f64::from(MAX_ZOOM)) as u8
}

/// The desks in the viewport that pass the filters, clustered when there are too many.
pub fn viewport(s: &Snapshot, r: &ViewportRequest, now: DateTime<Utc>) -> Viewport {
    let zoom = r.zoom.unwrap_or_else(|| fitting_zoom(r.bbox.lon_span()));
    let lon_lat = |ord: u32| {
        let (lat, lon) = s.desks.lat_lon(ord);
        (lon, lat)
    };
    let mut ords: Vec<u32> = s.spatial.within(r.bbox, predicate(s, &r.filters, now), lon_lat).map(|e| e.ord).collect();
    ords.sort_unstable();
    if ords.len() <= CLUSTER_ABOVE {
        let points = ords.into_iter().map(|ord| Hit { ord, distance_m: None }).collect();
        return Viewport { points, clusters: Vec::new(), zoom };
    }
    struct Cell {
        n: usize,
        sum_lon: f64,
        sum_lat: f64,
        bbox: [f64; 4],
        first: u32,
    }
    let mut cells: BTreeMap<(u64, u64), Cell> = BTreeMap::new();
    for ord in ords {
        let (lon, lat) = lon_lat(ord);
        let (x, y) = world_px(lon, lat, zoom);
        let key = ((x / CELL_PX) as u64, (y / CELL_PX) as u64);
        let c = cells.entry(key).or_insert(Cell { n: 0, sum_lon: 0.0, sum_lat: 0.0, bbox: [lon, lat, lon, lat], first: ord });
        c.n += 1;
        c.sum_lon += lon;
        c.sum_lat += lat;
        c.bbox = [c.bbox[0].min(lon), c.bbox[1].min(lat), c.bbox[2].max(lon), c.bbox[3].max(lat)];
    }
    let mut out = Viewport { zoom, ..Default::default() };
    for ((cx, cy), c) in cells {
        if c.n == 1 {
            out.points.push(Hit { ord: c.first, distance_m: None });
        } else {
            out.clusters.push(ClusterFeature {
                id: format!("cluster/{zoom}/{cx}/{cy}"),
                lon: c.sum_lon / c.n as f64,
                lat: c.sum_lat / c.n as f64,
                point_count: c.n,
                expansion_zoom: (zoom + 1).min(MAX_ZOOM),
                bbox: c.bbox,
            });
        }
    }
    out.points.sort_by_key(|h| h.ord);
    out
}
