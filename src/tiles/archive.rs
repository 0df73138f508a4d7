//! PMTiles v3 archives of the pyramid: written with the `pmtiles` crate (tiles gzip-compressed by
//! [`super::generate`], directories by the writer, the pyramid's [`TileJson`] as metadata), and
//! read back from memory.
//!
//! The crate reads archives only asynchronously and keeps directory offsets private, so reading
//! is done here, synchronously, from the archive's bytes: the 127-byte header, then every
//! directory (root and leaves, varint-encoded per the v3 specification) into one sorted table,
//! checked against the archive's sections. A tile lookup is then one binary search, and a tile's
//! bytes are a slice of the archive (still gzip-compressed), copied nowhere.

use std::io::{Cursor, Read};

use bytes::Bytes;
use integer_encoding::VarInt;
use pmtiles::{Compression, PmTilesWriter, TileType};

use super::{Format, MAX_ZOOM, Tile, TileCoord, TileJson};

/// Why bytes are not a usable archive.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ArchiveError(pub String);

fn bad(reason: impl Into<String>) -> ArchiveError {
    ArchiveError(reason.into())
}

const HEADER_LEN: usize = 127;
const GZIP: u8 = 2;
const NO_COMPRESSION: u8 = 1;
/// Deepest chain of leaf directories followed (writers use one level).
const MAX_DEPTH: usize = 4;
/// Largest decompressed directory, metadata or tile accepted.
const MAX_INFLATED: u64 = 64 << 20;

/// The PMTiles archive of `tiles` in `format`, described by `meta`.
pub fn write(tiles: &[Tile], format: Format, meta: &TileJson) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Cursor::new(Vec::new());
    let mut w = ArchiveWriter::create(&mut out, format, meta)?;
    for t in tiles {
        w.add(t)?;
    }
    w.finish()?;
    Ok(out.into_inner())
}

/// Writes a PMTiles archive tile by tile, in tile-id order, into `W` (a file, for a build that
/// does not hold its pyramid): the writer keeps the directory, not the tiles.
pub struct ArchiveWriter<W: std::io::Write + std::io::Seek> {
    w: pmtiles::PmTilesStreamWriter<W>,
    format: Format,
}

impl<W: std::io::Write + std::io::Seek> ArchiveWriter<W> {
    /// An archive of tiles in `format`, described by `meta`.
    pub fn create(out: W, format: Format, meta: &TileJson) -> Result<Self, ArchiveError> {
        let kind = match format {
            Format::Mvt => TileType::Mvt,
            // GeoJSON has no PMTiles tile type of its own.
            Format::GeoJson => TileType::Unknown,
        };
        let [west, south, east, north] = meta.bounds;
        let w = PmTilesWriter::new(kind)
            .precompressed(Compression::Gzip)
            .internal_compression(Compression::Gzip)
            .min_zoom(0)
            .max_zoom(MAX_ZOOM)
            .bounds(west, south, east, north)
            .center(meta.center[0], meta.center[1])
            .center_zoom(meta.center[2] as u8)
            .metadata(meta.metadata())
            .create(out)
            .map_err(|e| pm(format, e))?;
        Ok(ArchiveWriter { w, format })
    }

    /// Adds `t` (in this archive's format).
    pub fn add(&mut self, t: &Tile) -> Result<(), ArchiveError> {
        let coord = pmtiles::TileCoord::new(t.coord.z, t.coord.x, t.coord.y).map_err(|e| pm(self.format, e))?;
        let data = match self.format {
            Format::Mvt => &t.mvt_gz,
            Format::GeoJson => &t.geojson_gz,
        };
        self.w.add_tile(coord, data).map_err(|e| pm(self.format, e))
    }

    /// Writes the directories and the header.
    pub fn finish(self) -> Result<(), ArchiveError> {
        self.w.finalize().map_err(|e| pm(self.format, e))
    }
}

fn pm(format: Format, e: pmtiles::PmtError) -> ArchiveError {
    bad(format!("writing the {} archive: {e}", format.extension()))
}

/// One directory entry: `run_length` tiles from `tile_id` on share the bytes at `offset` (in the
/// data section); a run length of 0 points to a leaf directory instead.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    tile_id: u64,
    offset: u64,
    length: u32,
    run_length: u32,
}

/// A PMTiles archive in memory, its directories decoded.
pub struct Archive {
    bytes: Bytes,
    data_offset: u64,
    tile_compression: u8,
    tile_type: u8,
    /// Tile entries only, sorted by tile id.
    entries: Vec<Entry>,
    metadata: String,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The section `[offset, offset + length)` of `b`, or why it is not inside.
fn section<'a>(b: &'a [u8], offset: u64, length: u64, what: &str) -> Result<&'a [u8], ArchiveError> {
    let end = offset.checked_add(length).filter(|&e| e <= b.len() as u64).ok_or_else(|| bad(format!("{what} lies outside the archive")))?;
    Ok(&b[offset as usize..end as usize])
}

/// Decompresses gzip bytes, refusing more than [`MAX_INFLATED`].
pub fn gunzip(b: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Vec::with_capacity(b.len() * 4);
    flate2::read::GzDecoder::new(b).take(MAX_INFLATED + 1).read_to_end(&mut out).map_err(|e| bad(format!("gzip: {e}")))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(bad("inflates to more than 64 MiB"));
    }
    Ok(out)
}

fn inflate(b: &[u8], compression: u8, what: &str) -> Result<Vec<u8>, ArchiveError> {
    match compression {
        GZIP => gunzip(b).map_err(|e| bad(format!("{what}: {e}"))),
        NO_COMPRESSION => Ok(b.to_vec()),
        other => Err(bad(format!("{what}: unsupported compression {other}"))),
    }
}

/// Decodes one directory: entry count, then tile-id deltas, run lengths, lengths and offsets.
fn directory(b: &[u8]) -> Result<Vec<Entry>, ArchiveError> {
    let mut at = 0usize;
    let mut next = || -> Result<u64, ArchiveError> {
        let (v, used) = u64::decode_var(&b[at..]).ok_or_else(|| bad("directory is truncated"))?;
        at += used;
        Ok(v)
    };
    let n = next()? as usize;
    if n > b.len() {
        return Err(bad("directory counts more entries than it has bytes"));
    }
    let mut entries = vec![Entry { tile_id: 0, offset: 0, length: 0, run_length: 0 }; n];
    let mut id = 0u64;
    for e in entries.iter_mut() {
        id = id.checked_add(next()?).ok_or_else(|| bad("tile id overflows"))?;
        e.tile_id = id;
    }
    let small = |v: u64, what: &str| u32::try_from(v).map_err(|_| bad(format!("{what} too large")));
    for e in entries.iter_mut() {
        e.run_length = small(next()?, "run length")?;
    }
    for e in entries.iter_mut() {
        e.length = small(next()?, "length")?;
    }
    for i in 0..n {
        let v = next()?;
        entries[i].offset = if v == 0 && i > 0 { entries[i - 1].offset + u64::from(entries[i - 1].length) } else { v.checked_sub(1).ok_or_else(|| bad("first offset is 0"))? };
    }
    if at != b.len() {
        return Err(bad("directory has trailing bytes"));
    }
    Ok(entries)
}

impl Archive {
    /// Reads and checks the archive in `bytes`.
    pub fn parse(bytes: Bytes) -> Result<Archive, ArchiveError> {
        let b = &bytes[..];
        if b.len() < HEADER_LEN || &b[..7] != b"PMTiles" {
            return Err(bad("not a PMTiles archive"));
        }
        if b[7] != 3 {
            return Err(bad(format!("PMTiles version {} (only 3 is read)", b[7])));
        }
        let (root_offset, root_length) = (u64_at(b, 8), u64_at(b, 16));
        let (meta_offset, meta_length) = (u64_at(b, 24), u64_at(b, 32));
        let (leaf_offset, leaf_length) = (u64_at(b, 40), u64_at(b, 48));
        let (data_offset, data_length) = (u64_at(b, 56), u64_at(b, 64));
        let (internal, tile_compression, tile_type) = (b[97], b[98], b[99]);
        section(b, data_offset, data_length, "the tile data")?;
        let leaves = section(b, leaf_offset, leaf_length, "the leaf directories")?;
        let metadata = inflate(section(b, meta_offset, meta_length, "the metadata")?, internal, "metadata")?;
        let metadata = String::from_utf8(metadata).map_err(|_| bad("metadata is not UTF-8"))?;

        let mut entries = Vec::new();
        let mut pending = vec![(inflate(section(b, root_offset, root_length, "the root directory")?, internal, "root directory")?, 0usize)];
        while let Some((dir, depth)) = pending.pop() {
            for e in directory(&dir)? {
                if e.run_length == 0 {
                    if depth + 1 > MAX_DEPTH {
                        return Err(bad("leaf directories nest too deep"));
                    }
                    let leaf = section(leaves, e.offset, u64::from(e.length), "a leaf directory")?;
                    pending.push((inflate(leaf, internal, "leaf directory")?, depth + 1));
                } else {
                    if e.length == 0 || e.offset.saturating_add(u64::from(e.length)) > data_length {
                        return Err(bad(format!("tile {} lies outside the tile data", e.tile_id)));
                    }
                    entries.push(e);
                }
            }
        }
        entries.sort_by_key(|e| e.tile_id);
        if entries.windows(2).any(|w| w[0].tile_id + u64::from(w[0].run_length) > w[1].tile_id) {
            return Err(bad("directory entries overlap"));
        }
        Ok(Archive { bytes, data_offset, tile_compression, tile_type, entries, metadata })
    }

    /// The bytes stored for `coord` (compressed as [`Archive::gzipped`] says), or `None` when the
    /// tile is empty.
    pub fn get(&self, coord: TileCoord) -> Option<Bytes> {
        let id = coord.id();
        let i = self.entries.partition_point(|e| e.tile_id <= id).checked_sub(1)?;
        let e = self.entries[i];
        (id < e.tile_id + u64::from(e.run_length)).then(|| {
            let start = (self.data_offset + e.offset) as usize;
            self.bytes.slice(start..start + e.length as usize)
        })
    }

    /// Whether tiles are stored gzip-compressed (else as they are).
    pub fn gzipped(&self) -> bool {
        self.tile_compression == GZIP
    }

    /// The tile type byte of the header (1: MVT, 0: other).
    pub fn tile_type(&self) -> u8 {
        self.tile_type
    }

    /// The metadata JSON.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// Every tile in the archive with its stored bytes, in tile-id order.
    pub fn tiles(&self) -> impl Iterator<Item = (TileCoord, Bytes)> + '_ {
        self.entries.iter().flat_map(move |e| {
            (0..u64::from(e.run_length)).filter_map(move |k| {
                let id = pmtiles::TileId::new(e.tile_id + k).ok()?;
                let c = pmtiles::TileCoord::from(id);
                let coord = TileCoord::new(c.z(), c.x(), c.y())?;
                let start = (self.data_offset + e.offset) as usize;
                Some((coord, self.bytes.slice(start..start + e.length as usize)))
            })
        })
    }

    /// Number of tiles addressed.
    pub fn len(&self) -> usize {
        self.entries.iter().map(|e| e.run_length as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The archive's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// A tile's stored bytes made plain (decompressed when the archive compresses tiles).
    pub fn plain(&self, stored: &[u8]) -> Result<Vec<u8>, ArchiveError> {
        inflate(stored, self.tile_compression, "tile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::clusters::ClusterIndex;
    use crate::index::spatial::SpatialIndex;

    fn archive_of(n: usize) -> (Vec<Tile>, Vec<u8>) {
        let points = crate::synth::desks(n, 3);
        let (entries, _) = SpatialIndex::entries(&points);
        let positions: Vec<[f64; 2]> = points.iter().map(|p| [p.position.lat.degrees(), p.position.lon.degrees()]).collect();
        let desks: Vec<_> = points.iter().map(crate::tiles::TileDesk::of).collect();
        let tiles = super::super::generate(&desks, &ClusterIndex::build(&entries, &positions)).unwrap();
        let bytes = write(&tiles, Format::Mvt, &TileJson::of(&desks)).unwrap();
        (tiles, bytes)
    }

    #[test]
    fn every_tile_written_is_read_back() {
        // Enough tiles for leaf directories.
        let (tiles, bytes) = archive_of(20_000);
        let a = Archive::parse(bytes.into()).unwrap();
        assert_eq!(a.len(), tiles.len());
        assert!(a.gzipped() && a.tile_type() == 1);
        for t in &tiles {
            let stored = a.get(t.coord).unwrap_or_else(|| panic!("{:?} missing", t.coord));
            assert_eq!(a.plain(&stored).unwrap(), gunzip(&t.mvt_gz).unwrap());
        }
        assert!(a.get(TileCoord::new(14, 0, 0).unwrap()).is_none());
        assert_eq!(TileJson::from_metadata(a.metadata()).unwrap().maxzoom, MAX_ZOOM);
    }

    #[test]
    fn damaged_archives_are_refused_without_panicking() {
        let (_, bytes) = archive_of(300);
        for len in [0, 10, 126, 127, 200, bytes.len() / 2] {
            assert!(Archive::parse(Bytes::copy_from_slice(&bytes[..len])).is_err(), "truncated to {len}");
        }
        // Every single-byte change to the header and the root directory either still reads or is
        // refused; none panics.
        let root_end = (127 + u64_at(&bytes, 16)) as usize;
        for i in 0..root_end.min(bytes.len()) {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = Archive::parse(b.into());
            }
        }
    }
}
