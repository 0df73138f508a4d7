//! The desk store: every desk's GeoJSON Feature, serialised once (at build), kept as bytes and
//! served as they are; a flat table of positions for exact distances; and the id → ordinal map.
//! Answers are assembled by copying these bytes and splicing in `distance_m`, so no record is
//! parsed or re-serialised per request. A full [`ContactPoint`] is parsed back only for the rare
//! checks that need one (opening hours, languages without a filter bit).

use super::mapped::FileBytes;
use crate::model::feature::PointFeature;
use crate::model::{ContactPoint, GeoPoint};

/// All desks of one snapshot, by ordinal.
pub struct DeskStore {
    /// A GeoJSON FeatureCollection, one feature per line (the bundle's `points.geojson`, mapped
    /// from the bundle or built in memory).
    geojson: FileBytes,
    /// Where the first feature starts, then where each feature ends; the next one starts after
    /// the separator `,\n`.
    offsets: Vec<u64>,
    /// (latitude, longitude) in degrees, by ordinal.
    positions: Vec<[f64; 2]>,
    /// Ordinals sorted by id, for finding a desk by id with a binary search.
    by_id: Vec<u32>,
}

/// Why stored bytes do not make a desk store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("feature {0} is not where the index says it is")]
    Misplaced(usize),
    #[error("the id index is not a permutation of the desks")]
    IdIndex,
    #[error("the id index is not in order of the ids, or two desks share an id")]
    IdOrder,
    #[error("{0} offsets for {1} positions")]
    Counts(usize, usize),
}

const PREFIX: &[u8] = b"{\"type\":\"Feature\",\"id\":\"";
/// What `points.geojson` holds before the first feature, between two, and after the last.
pub const HEADER: &[u8] = b"{\"type\":\"FeatureCollection\",\"features\":[\n";
pub const SEP: &[u8] = b",\n";
pub const TRAILER: &[u8] = b"\n]}\n";

/// Where feature `i` starts (saturating: a damaged offset is caught by the checks that follow).
fn start_of(offsets: &[u64], i: usize) -> usize {
    let at = usize::try_from(offsets[i]).unwrap_or(usize::MAX);
    if i == 0 { at } else { at.saturating_add(SEP.len()) }
}

/// Desk `p`'s stored feature, as `points.geojson` holds it on the desk's line: appended to `out`.
pub fn write_stored(p: &ContactPoint, out: &mut Vec<u8>) {
    serde_json::to_writer(out, &PointFeature { point: p, distance_m: None }).expect("writing to a Vec cannot fail");
}

/// A record read back from its stored feature (written by [`write_stored`] from a validated
/// record, so it reads back with the model's own serde types), its position from the geometry.
pub fn read_stored(feature: &[u8]) -> Result<ContactPoint, String> {
    #[derive(serde::Deserialize)]
    struct Geometry {
        coordinates: [f64; 2],
    }
    #[derive(serde::Deserialize)]
    struct Stored {
        id: String,
        geometry: Geometry,
        properties: ContactPoint,
    }
    let f: Stored = serde_json::from_slice(feature).map_err(|e| e.to_string())?;
    let [lon, lat] = f.geometry.coordinates;
    let position = GeoPoint::new(lat, lon).map_err(|e| e.to_string())?;
    Ok(ContactPoint { id: f.id, position, ..f.properties })
}

impl DeskStore {
    /// Serialises `points` as the bundle's `points.geojson` and indexes it.
    pub fn from_points(points: &[ContactPoint]) -> DeskStore {
        let mut geojson = Vec::with_capacity(points.len() * 700 + 64);
        let mut offsets = Vec::with_capacity(points.len() + 1);
        geojson.extend_from_slice(HEADER);
        offsets.push(geojson.len() as u64);
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                geojson.extend_from_slice(SEP);
            }
            write_stored(p, &mut geojson);
            offsets.push(geojson.len() as u64);
        }
        geojson.extend_from_slice(TRAILER);
        let positions = points.iter().map(|p| [p.position.lat.degrees(), p.position.lon.degrees()]).collect();
        let mut by_id: Vec<u32> = (0..points.len() as u32).collect();
        by_id.sort_unstable_by(|&a, &b| points[a as usize].id.cmp(&points[b as usize].id));
        let store = DeskStore::from_parts(geojson.into(), offsets, positions, by_id).expect("freshly written features are in bounds");
        debug_assert!(store.check_placement().is_ok(), "freshly written features are well placed");
        store
    }

    /// Rebuilds a store from a bundle's parts. Checks what keeps every later access in bounds,
    /// from the offsets alone (no page of the features is read): offsets in order, inside the
    /// file and far enough apart for a feature's shortest form; the id index a permutation.
    /// Whether each feature is where the offsets say, and the ids in order, is
    /// [`DeskStore::check_placement`]'s, which reads the whole file.
    pub fn from_parts(geojson: FileBytes, offsets: Vec<u64>, positions: Vec<[f64; 2]>, by_id: Vec<u32>) -> Result<DeskStore, StoreError> {
        let n = positions.len();
        if offsets.len() != n + 1 || by_id.len() != n {
            return Err(StoreError::Counts(offsets.len(), n));
        }
        if offsets[0] != HEADER.len() as u64 {
            return Err(StoreError::Misplaced(0));
        }
        for i in 0..n {
            let (start, end) = (start_of(&offsets, i), usize::try_from(offsets[i + 1]).unwrap_or(usize::MAX));
            if start.checked_add(PREFIX.len() + 2).is_none_or(|min| end < min) {
                return Err(StoreError::Misplaced(i));
            }
        }
        if usize::try_from(offsets[n]).ok().and_then(|end| end.checked_add(TRAILER.len())) != Some(geojson.len()) {
            return Err(StoreError::Misplaced(n.saturating_sub(1)));
        }
        let mut seen = vec![false; n];
        for &o in &by_id {
            match seen.get_mut(o as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err(StoreError::IdIndex),
            }
        }
        Ok(DeskStore { geojson, offsets, positions, by_id })
    }

    /// Checks that the features are the lines between the header and the trailer, in order:
    /// each starts with the feature prefix and is followed by the separator (the last by the
    /// trailer), and a raw newline is only ever a separator's, so every feature is one whole
    /// line; and that the id index is in order of the ids. Reads every page of the file.
    pub fn check_placement(&self) -> Result<(), StoreError> {
        let (geojson, offsets, n) = (&self.geojson, &self.offsets, self.len());
        if !geojson.starts_with(HEADER) {
            return Err(StoreError::Misplaced(0));
        }
        // One pass in file order, the pages behind it given back as it goes (see
        // `FileBytes::release_range`); the ids are copied out for the order check, which would
        // otherwise read the file in id order, every page of it at random.
        let mut released = 0;
        let (mut ids, mut id_ends) = (Vec::new(), Vec::with_capacity(n + 1));
        id_ends.push(0);
        for i in 0..n {
            let (start, end) = (start_of(offsets, i), offsets[i + 1] as usize);
            if start - released > 64 << 20 {
                geojson.release_range(released..start);
                released = start;
            }
            let after: &[u8] = if i + 1 < n { SEP } else { TRAILER };
            let placed = geojson[start..end].starts_with(PREFIX)
                && geojson[start..end].ends_with(b"}}")
                && geojson.get(end..end + after.len()) == Some(after);
            if !placed {
                return Err(StoreError::Misplaced(i));
            }
            ids.extend_from_slice(self.id(i as u32).as_bytes());
            id_ends.push(ids.len());
        }
        let id = |o: u32| &ids[id_ends[o as usize]..id_ends[o as usize + 1]];
        if self.by_id.windows(2).any(|w| id(w[0]) >= id(w[1])) {
            return Err(StoreError::IdOrder);
        }
        Ok(())
    }

    /// Gives back the pages of a mapped `points.geojson` that loading read (see
    /// [`FileBytes::release_resident`]).
    pub fn release_resident(&self) {
        self.geojson.release_resident();
    }

    /// The ordinals sorted by id, as stored in the bundle.
    pub fn id_index(&self) -> &[u32] {
        &self.by_id
    }

    /// Desk `ord`'s id, read from its stored feature.
    pub fn id(&self, ord: u32) -> &str {
        let rest = &self.feature(ord)[PREFIX.len()..];
        let len = rest.iter().position(|&b| b == b'"').unwrap_or(0);
        // Ids are ASCII by validation; a damaged one reads as empty and matches nothing.
        std::str::from_utf8(&rest[..len]).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The whole FeatureCollection, as written to `points.geojson`.
    pub fn geojson(&self) -> &[u8] {
        &self.geojson
    }

    /// The same bytes as the file they were mapped from (or the buffer they were built in).
    pub fn geojson_file(&self) -> &FileBytes {
        &self.geojson
    }

    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    pub fn positions(&self) -> &[[f64; 2]] {
        &self.positions
    }

    /// Desk `ord`'s GeoJSON Feature, as bytes.
    pub fn feature(&self, ord: u32) -> &[u8] {
        let i = ord as usize;
        &self.geojson[start_of(&self.offsets, i)..self.offsets[i + 1] as usize]
    }

    /// Every desk's feature without its last two bytes (the `}}` that close `properties` and
    /// the feature, before which an answer may splice `distance_m`), by ordinal: what
    /// [`super::packed`] compresses.
    pub fn trimmed_features(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len() as u32).map(|o| {
            let f = self.feature(o);
            &f[..f.len() - 2]
        })
    }

    /// Desk `ord`'s (latitude, longitude) in degrees.
    pub fn lat_lon(&self, ord: u32) -> (f64, f64) {
        let p = self.positions[ord as usize];
        (p[0], p[1])
    }

    /// Great-circle distance in metres from `at` to desk `ord`.
    pub fn distance_m(&self, at: &GeoPoint, ord: u32) -> f64 {
        let (lat, lon) = self.lat_lon(ord);
        crate::model::haversine_m(at.lat.degrees(), at.lon.degrees(), lat, lon)
    }

    pub fn ord_of(&self, id: &str) -> Option<u32> {
        self.by_id.binary_search_by(|&o| self.id(o).cmp(id)).ok().map(|i| self.by_id[i])
    }

    /// Desk `ord` as a full record, read back from its stored feature (for the rare checks that
    /// need more than the index holds) and its position. The feature was written by
    /// [`DeskStore::from_points`] from a validated record, so it reads back with the model's own
    /// serde types; reading input files, and their validation, is `ingest`'s, not the store's.
    /// None only for a feature that does not read back: a damaged bundle whose hash is still
    /// being checked (see [`super::bundle::Snapshot::open`]); callers count it as not matching.
    pub fn desk(&self, ord: u32) -> Option<ContactPoint> {
        #[derive(serde::Deserialize)]
        struct Stored {
            id: String,
            properties: ContactPoint,
        }
        let f: Stored = serde_json::from_slice(self.feature(ord)).ok()?;
        let (lat, lon) = self.lat_lon(ord);
        let position = GeoPoint::new(lat, lon).ok()?;
        Some(ContactPoint { id: f.id, position, ..f.properties })
    }

    /// Appends desk `ord`'s feature to `out`, with `distance_m` (rounded metres) when given.
    pub fn write_feature(&self, ord: u32, distance_m: Option<f64>, out: &mut Vec<u8>) {
        let f = self.feature(ord);
        match distance_m {
            // A stored feature ends with `}}`: the close of `properties`, then of the feature.
            Some(d) => {
                out.extend_from_slice(&f[..f.len() - 2]);
                out.extend_from_slice(b",\"distance_m\":");
                let mut buf = itoa::Buffer::new();
                out.extend_from_slice(buf.format(d.round() as u64).as_bytes());
                out.extend_from_slice(b"}}");
            }
            None => out.extend_from_slice(f),
        }
    }
}
