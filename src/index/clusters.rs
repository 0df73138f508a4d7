//! Precomputed clusters for map viewports: for every zoom up to [`PYRAMID_MAX_ZOOM`], the desks
//! grouped in 64-pixel Web-Mercator grid cells, with count, mean position, bounding box and one
//! member, per audience. A crowded viewport is answered by reading the cells it covers — a few
//! hundred lookups — instead of visiting every desk in it.
//!
//! Cells nest: a cell at zoom z is exactly 2 × 2 cells at z + 1, so the pyramid is built by one sort
//! of the desks at the top zoom and merging upwards. Unfiltered queries (the audience aside) read
//! it; filtered ones group the desks they find the same way, so both give the same answer.

use crate::model::Audience;
use crate::model::feature::ClusterFeature;

use super::spatial::Entry;

/// Highest zoom with precomputed cells; above it a viewport is small enough to scan.
pub const PYRAMID_MAX_ZOOM: u8 = 14;
/// Side of a cluster cell, in screen pixels (256-pixel tiles).
pub const CELL_PX: f64 = 64.0;

/// Web-Mercator world pixel coordinates of (lon, lat) in degrees at `zoom` (256-pixel tiles).
pub fn world_px(lon: f64, lat: f64, zoom: u8) -> (f64, f64) {
    let size = 256.0 * f64::from(1u32 << zoom);
    let lat = lat.clamp(-85.051_128_78, 85.051_128_78).to_radians();
    let x = (lon + 180.0) / 360.0 * size;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * size;
    (x.clamp(0.0, size - 1e-9), y.clamp(0.0, size - 1e-9))
}

/// (longitude, latitude) in degrees of world pixel (x, y) at `zoom`.
pub fn lon_lat_of_px(x: f64, y: f64, zoom: u8) -> (f64, f64) {
    let size = 256.0 * f64::from(1u32 << zoom);
    let lon = x / size * 360.0 - 180.0;
    let n = std::f64::consts::PI * (1.0 - 2.0 * y / size);
    (lon, n.sinh().atan().to_degrees())
}

/// The grid cell of (lon, lat) at `zoom`, as (column, row).
pub fn cell_of(lon: f64, lat: f64, zoom: u8) -> (u32, u32) {
    let (x, y) = world_px(lon, lat, zoom);
    ((x / CELL_PX) as u32, (y / CELL_PX) as u32)
}

/// Number of cells across the world, along either axis, at `zoom`.
pub fn cells_per_axis(zoom: u8) -> u32 {
    (256u32 << zoom) / CELL_PX as u32
}

fn key(cx: u32, cy: u32) -> u64 {
    (u64::from(cy) << 32) | u64::from(cx)
}

/// The desks of one grid cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub cx: u32,
    pub cy: u32,
    pub count: u32,
    /// The member with the lowest ordinal (the desk itself when `count` is 1).
    pub first: u32,
    pub sum_lon: f64,
    pub sum_lat: f64,
    /// Members' bounding box: min lon, min lat, max lon, max lat.
    pub bbox: [f32; 4],
}

impl Cell {
    fn single(cx: u32, cy: u32, ord: u32, lon: f64, lat: f64) -> Cell {
        let (x, y) = (lon as f32, lat as f32);
        Cell { cx, cy, count: 1, first: ord, sum_lon: lon, sum_lat: lat, bbox: [x, y, x, y] }
    }

    /// Adds `o`'s members to this cell's.
    pub fn absorb(&mut self, o: &Cell) {
        self.count += o.count;
        self.first = self.first.min(o.first);
        self.sum_lon += o.sum_lon;
        self.sum_lat += o.sum_lat;
        self.bbox = [self.bbox[0].min(o.bbox[0]), self.bbox[1].min(o.bbox[1]), self.bbox[2].max(o.bbox[2]), self.bbox[3].max(o.bbox[3])];
    }

    /// Mean position of the members, (lon, lat) in degrees.
    pub fn centroid(&self) -> (f64, f64) {
        (self.sum_lon / f64::from(self.count), self.sum_lat / f64::from(self.count))
    }

    /// This cell of zoom `zoom` as a cluster marker at its members' mean position, breaking apart
    /// one zoom higher (at most `max_zoom`). Viewport answers and tiles both draw clusters so.
    pub fn feature(&self, zoom: u8, max_zoom: u8) -> ClusterFeature {
        let (lon, lat) = self.centroid();
        ClusterFeature {
            zoom,
            cx: self.cx,
            cy: self.cy,
            lon,
            lat,
            point_count: self.count as usize,
            expansion_zoom: (zoom + 1).min(max_zoom),
            bbox: self.bbox.map(f64::from),
        }
    }
}

/// Groups desks given as (ordinal, lon, lat) into cells at `zoom`, sorted by row then column;
/// each cell's members are added in order of their ordinals.
pub fn group(desks: impl Iterator<Item = (u32, f64, f64)>, zoom: u8) -> Vec<Cell> {
    let desks: Vec<(u32, f64, f64)> = desks.collect();
    // Sorted as (cell, ordinal, where the desk is) — 16 bytes, not the cell itself.
    let mut keyed: Vec<(u64, u32, u32)> = desks
        .iter()
        .enumerate()
        .map(|(i, &(ord, lon, lat))| {
            let (cx, cy) = cell_of(lon, lat, zoom);
            (key(cx, cy), ord, i as u32)
        })
        .collect();
    keyed.sort_unstable();
    let mut out: Vec<Cell> = Vec::with_capacity(keyed.len() / 2 + 1);
    let mut last = None;
    for (k, _, i) in keyed {
        let (ord, lon, lat) = desks[i as usize];
        let c = Cell::single(k as u32, (k >> 32) as u32, ord, lon, lat);
        match out.last_mut() {
            Some(cell) if last == Some(k) => cell.absorb(&c),
            _ => out.push(c),
        }
        last = Some(k);
    }
    out
}

/// Cells sorted by (key, lowest ordinal), those of one key merged in that order.
fn merge_sorted(keyed: Vec<(u64, Cell)>) -> Vec<Cell> {
    let mut out: Vec<(u64, Cell)> = Vec::with_capacity(keyed.len() / 2 + 1);
    for (k, c) in keyed {
        match out.last_mut() {
            Some((lk, last)) if *lk == k => last.absorb(&c),
            _ => out.push((k, c)),
        }
    }
    out.into_iter().map(|(_, c)| c).collect()
}

/// The cells one zoom lower than `finer` (sorted by row then column), in the same order: each
/// parent row is the merge of its two child rows, and each cell absorbs its (up to four)
/// children in order of their lowest ordinal — the cells, and their sums, that grouping the
/// members directly in that order would give, without a sort.
fn coarser(finer: &[Cell]) -> Vec<Cell> {
    let mut out = Vec::with_capacity(finer.len() / 2 + 1);
    let mut children: Vec<Cell> = Vec::with_capacity(4);
    let mut i = 0;
    while i < finer.len() {
        let row = finer[i].cy / 2;
        let end = i + finer[i..].partition_point(|c| c.cy / 2 == row);
        let mid = i + finer[i..end].partition_point(|c| c.cy == finer[i].cy);
        let (a, b) = (&finer[i..mid], &finer[mid..end]);
        let (mut x, mut y) = (0, 0);
        while x < a.len() || y < b.len() {
            let col = match (a.get(x), b.get(y)) {
                (Some(p), Some(q)) => (p.cx / 2).min(q.cx / 2),
                (Some(p), None) => p.cx / 2,
                (None, Some(q)) => q.cx / 2,
                (None, None) => unreachable!("the loop runs while one row has cells"),
            };
            children.clear();
            while x < a.len() && a[x].cx / 2 == col {
                children.push(a[x]);
                x += 1;
            }
            while y < b.len() && b[y].cx / 2 == col {
                children.push(b[y]);
                y += 1;
            }
            children.sort_unstable_by_key(|c| c.first);
            let mut cell = Cell { cx: col, cy: row, ..children[0] };
            for c in &children[1..] {
                cell.absorb(c);
            }
            out.push(cell);
        }
        i = end;
    }
    out
}

/// Cells of every zoom 0..=[`PYRAMID_MAX_ZOOM`] for one audience.
struct Pyramid {
    levels: Vec<Vec<Cell>>,
}

impl Pyramid {
    fn build(desks: impl Iterator<Item = (u32, f64, f64)>) -> Pyramid {
        let top = group(desks, PYRAMID_MAX_ZOOM);
        let mut levels = vec![top];
        for _ in 0..PYRAMID_MAX_ZOOM {
            let next = coarser(levels.last().expect("one level"));
            levels.push(next);
        }
        levels.reverse();
        Pyramid { levels }
    }

    /// Cells at `zoom` with columns in `cx` and rows in `cy` (inclusive).
    fn range(&self, zoom: u8, cx: (u32, u32), cy: (u32, u32)) -> impl Iterator<Item = &Cell> {
        let level = &self.levels[zoom as usize];
        (cy.0..=cy.1).flat_map(move |row| {
            let start = level.partition_point(|c| key(c.cx, c.cy) < key(cx.0, row));
            let end = level.partition_point(|c| key(c.cx, c.cy) <= key(cx.1, row));
            level[start..end].iter()
        })
    }
}

/// One pyramid per audience.
pub struct ClusterIndex {
    public: Pyramid,
    unions: Pyramid,
}

impl ClusterIndex {
    /// Builds the pyramids from the R-tree's elements and each desk's (lat, lon) in degrees.
    pub fn build(entries: &[Entry], positions: &[[f64; 2]]) -> ClusterIndex {
        let of = |a: Audience| {
            entries.iter().filter(move |e| e.audience == a).map(|e| {
                let [lat, lon] = positions[e.ord as usize];
                (e.ord, lon, lat)
            })
        };
        ClusterIndex { public: Pyramid::build(of(Audience::Public)), unions: Pyramid::build(of(Audience::Unions)) }
    }

    /// Every cell at `zoom` (at most [`PYRAMID_MAX_ZOOM`]) of one audience, sorted by row then
    /// column: what the tile pyramid is cut from.
    pub fn level(&self, zoom: u8, audience: Audience) -> &[Cell] {
        let p = match audience {
            Audience::Public => &self.public,
            Audience::Unions => &self.unions,
        };
        &p.levels[zoom as usize]
    }

    /// The cells at `zoom` (at most [`PYRAMID_MAX_ZOOM`]) in the given column and row ranges, for
    /// one audience or (`None`) both, merged.
    pub fn cells(&self, zoom: u8, cx: (u32, u32), cy: (u32, u32), audience: Option<Audience>) -> Vec<Cell> {
        match audience {
            Some(Audience::Public) => self.public.range(zoom, cx, cy).copied().collect(),
            Some(Audience::Unions) => self.unions.range(zoom, cx, cy).copied().collect(),
            None => {
                let mut keyed: Vec<(u64, Cell)> = self
                    .public
                    .range(zoom, cx, cy)
                    .chain(self.unions.range(zoom, cx, cy))
                    .map(|c| (key(c.cx, c.cy), *c))
                    .collect();
                keyed.sort_unstable_by_key(|(k, c)| (*k, c.first));
                merge_sorted(keyed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// The pyramid as it was first built: every level sorted whole by (cell, lowest ordinal) and
    /// merged in that order.
    fn sorted_levels(desks: &[(u32, f64, f64)]) -> Vec<Vec<Cell>> {
        let mut keyed: Vec<(u64, Cell)> = desks
            .iter()
            .map(|&(ord, lon, lat)| {
                let (cx, cy) = cell_of(lon, lat, PYRAMID_MAX_ZOOM);
                (key(cx, cy), Cell::single(cx, cy, ord, lon, lat))
            })
            .collect();
        keyed.sort_unstable_by_key(|(k, c)| (*k, c.first));
        let mut levels = vec![merge_sorted(keyed)];
        for _ in 0..PYRAMID_MAX_ZOOM {
            let mut keyed: Vec<(u64, Cell)> = levels
                .last()
                .unwrap()
                .iter()
                .map(|c| (key(c.cx / 2, c.cy / 2), Cell { cx: c.cx / 2, cy: c.cy / 2, ..*c }))
                .collect();
            keyed.sort_unstable_by_key(|(k, c)| (*k, c.first));
            levels.push(merge_sorted(keyed));
        }
        levels.reverse();
        levels
    }

    #[test]
    fn merged_levels_are_the_sorted_ones_bit_for_bit() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for n in [0usize, 1, 2, 50, 5_000] {
            // Crowded towns, scattered desks and the edges of the map, in a shuffled order.
            let mut desks: Vec<(u32, f64, f64)> = (0..n as u32)
                .map(|ord| match ord % 3 {
                    0 => (ord, 9.19 + rng.random_range(-0.02..0.02), 45.46 + rng.random_range(-0.02..0.02)),
                    1 => (ord, rng.random_range(-180.0..180.0), rng.random_range(-90.0..90.0)),
                    _ => (ord, [-180.0, 179.999_999, 0.0][ord as usize % 3], [-89.9, 89.9, 0.0][ord as usize % 3]),
                })
                .collect();
            for i in (1..desks.len()).rev() {
                desks.swap(i, rng.random_range(0..=i));
            }
            let want = sorted_levels(&desks);
            let got = Pyramid::build(desks.iter().copied()).levels;
            assert_eq!(got.len(), want.len());
            for (z, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{n} desks, zoom {z}");
            }
        }
    }
}
