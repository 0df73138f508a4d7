//! Map-viewport ("small-scale localization") queries: the desks inside a bounding box, or — when a
//! viewport holds more than [`CLUSTER_ABOVE`] of them — clusters: desks grouped in 64-pixel
//! Web-Mercator grid cells at the requested zoom, a cell being drawn when its members' mean
//! position lies in the viewport. Unfiltered viewports (the audience aside) read the precomputed
//! cells of [`crate::index::clusters`]; filtered ones group the desks they find in the same cells,
//! so both paths give the same answer.
//!
//! Answers are bounded: a viewport may not be larger than [`MAX_VIEWPORT_PX`] on a side at the
//! zoom it asks for, so no answer holds more than [`MAX_FEATURES`] features.

use chrono::{DateTime, Utc};

use super::{Hit, ViewportRequest, predicate};
use crate::index::Snapshot;
use crate::index::clusters::{CELL_PX, Cell, PYRAMID_MAX_ZOOM, cell_of, cells_per_axis, group, lon_lat_of_px, world_px};
use crate::index::spatial::{AudienceFilter, LonLatBox};
use crate::model::feature::ClusterFeature;

/// A viewport with more matching desks than this is answered with clusters.
pub const CLUSTER_ABOVE: usize = 200;
/// Highest zoom.
pub const MAX_ZOOM: u8 = 22;

/// What a viewport holds: single desks and clusters.
#[derive(Debug, Clone, Default)]
pub struct Viewport {
    pub points: Vec<Hit>,
    pub clusters: Vec<ClusterFeature>,
    /// The zoom the clustering used.
    pub zoom: u8,
}

/// Largest side, in screen pixels, of a viewport at the zoom it asks for (a 4K screen is 3840
/// pixels wide). With 64-pixel cells this bounds a clustered answer to 65 × 65 features.
pub const MAX_VIEWPORT_PX: f64 = 4096.0;
/// The most features a `points` answer can hold: cells of a [`MAX_VIEWPORT_PX`] box, partial cells
/// at both edges included. Below [`CLUSTER_ABOVE`] desks the answer lists them one by one instead.
pub const MAX_FEATURES: usize = 65 * 65;
/// The zoom a viewport gets when it names none: the box fills about this many pixels.
const DEFAULT_VIEWPORT_PX: f64 = 1024.0;

/// Width and height in screen pixels (256-pixel Web-Mercator tiles) of `b` drawn at `zoom`.
/// Latitudes beyond the Mercator limit (±85.05°) count as the limit.
pub fn size_px(b: &LonLatBox, zoom: u8) -> (f64, f64) {
    let world = 256.0 * f64::from(1u32 << zoom);
    let (_, y_top) = world_px(0.0, b.max_lat, zoom);
    let (_, y_bottom) = world_px(0.0, b.min_lat, zoom);
    (b.lon_span() / 360.0 * world, (y_bottom - y_top).abs())
}

/// The largest zoom (0–[`MAX_ZOOM`]) at which `b` is at most `px` pixels on its longer side; 0
/// when even zoom 0 is larger.
pub fn largest_zoom_within(b: &LonLatBox, px: f64) -> u8 {
    (0..=MAX_ZOOM)
        .rev()
        .find(|&z| {
            let (w, h) = size_px(b, z);
            w.max(h) <= px
        })
        .unwrap_or(0)
}

/// The zoom at which `b` fills about 1024 pixels on its longer side.
pub fn fitting_zoom(b: &LonLatBox) -> u8 {
    largest_zoom_within(b, DEFAULT_VIEWPORT_PX)
}

/// Column ranges (one, or two across the antimeridian) and the row range of the cells a box
/// touches at `zoom`.
fn cell_ranges(b: &LonLatBox, zoom: u8) -> (Vec<(u32, u32)>, (u32, u32)) {
    let (cx0, cy0) = cell_of(b.min_lon, b.max_lat, zoom);
    let (cx1, cy1) = cell_of(b.max_lon, b.min_lat, zoom);
    let last = cells_per_axis(zoom) - 1;
    let cols = if b.min_lon <= b.max_lon { vec![(cx0, cx1)] } else { vec![(cx0, last), (0, cx1)] };
    (cols, (cy0, cy1))
}

/// The box made of whole cells that covers `b` at `zoom`.
fn grown(b: &LonLatBox, zoom: u8) -> LonLatBox {
    let (cols, (cy0, cy1)) = cell_ranges(b, zoom);
    let (first, last) = (cols[0].0, cols[cols.len() - 1].1);
    let (min_lon, max_lat) = lon_lat_of_px(f64::from(first) * CELL_PX, f64::from(cy0) * CELL_PX, zoom);
    let (max_lon, min_lat) = lon_lat_of_px(f64::from(last + 1) * CELL_PX, f64::from(cy1 + 1) * CELL_PX, zoom);
    // Cells at the Mercator limit stand for everything beyond it.
    let min_lat = if cy1 + 1 >= cells_per_axis(zoom) { -90.0 } else { min_lat };
    let max_lat = if cy0 == 0 { 90.0 } else { max_lat };
    LonLatBox { min_lon: min_lon.max(-180.0), min_lat, max_lon: max_lon.min(180.0), max_lat }
}

/// The desks in the viewport that pass the filters, clustered when there are too many.
pub fn viewport(s: &Snapshot, r: &ViewportRequest, now: DateTime<Utc>) -> Viewport {
    let zoom = r.zoom.unwrap_or_else(|| fitting_zoom(&r.bbox));
    let f = &r.filters;
    let lon_lat = |ord: u32| {
        let (lat, lon) = s.desks.lat_lon(ord);
        (lon, lat)
    };
    let unfiltered = f.langs.is_empty() && f.domains.is_empty() && !f.open_now;
    let cells: Vec<Cell> = if unfiltered && zoom <= PYRAMID_MAX_ZOOM {
        let audience = match f.audience {
            AudienceFilter::Only(a) => Some(a),
            AudienceFilter::All => None,
        };
        let (cols, rows) = cell_ranges(&r.bbox, zoom);
        cols.into_iter().flat_map(|c| s.clusters.cells(zoom, c, rows, audience)).collect()
    } else {
        let scan = s.spatial.within(grown(&r.bbox, zoom), predicate(s, f, now), lon_lat);
        group(
            scan.map(|e| {
                let (lon, lat) = lon_lat(e.ord);
                (e.ord, lon, lat)
            }),
            zoom,
        )
    };
    let shown: Vec<Cell> = cells
        .into_iter()
        .filter(|c| {
            let (lon, lat) = c.centroid();
            r.bbox.contains(lon, lat)
        })
        .collect();
    let total: usize = shown.iter().map(|c| c.count as usize).sum();
    if total <= CLUSTER_ABOVE {
        // Few enough to draw one by one: exactly the desks inside the box.
        let mut ords: Vec<u32> = s.spatial.within(r.bbox, predicate(s, f, now), lon_lat).map(|e| e.ord).collect();
        ords.sort_unstable();
        let points = ords.into_iter().map(|ord| Hit { ord, distance_m: None }).collect();
        return Viewport { points, clusters: Vec::new(), zoom };
    }
    let mut out = Viewport { zoom, ..Default::default() };
    for c in shown {
        if c.count == 1 {
            out.points.push(Hit { ord: c.first, distance_m: None });
        } else {
            out.clusters.push(c.feature(zoom, MAX_ZOOM));
        }
    }
    out.points.sort_by_key(|h| h.ord);
    out
}
