//! The static tile pyramid: the public desks clustered per zoom (0–[`MAX_ZOOM`]) in the very cells
//! that answer `/api/v1/points` ([`crate::index::clusters`]), encoded per 256-pixel Web-Mercator
//! tile as Mapbox Vector Tiles 2.1 and as GeoJSON, packed in PMTiles v3 archives (`archive`),
//! and written as a static directory tree for a CDN (`tree`). Pure: no HTTP, no async.
//!
//! `index::bundle` stores the archives in a bundle and loads them into a [`TileSet`]; the query
//! layer reads tiles from it. Tiles are made at build time only (and at start-up for the embedded
//! sample), never per request.

pub mod archive;
pub mod pyramid;
pub mod tree;

use crate::index::clusters::{PYRAMID_MAX_ZOOM, lon_lat_of_px};

pub use archive::{Archive, ArchiveError};
pub use pyramid::{Tile, TileDesk, TileError, TileJson, generate, generate_each};

/// Highest zoom of the pyramid: the cluster pyramid's top, where every desk is its own feature.
pub const MAX_ZOOM: u8 = PYRAMID_MAX_ZOOM;
/// Side of a tile in MVT coordinate units.
pub const EXTENT: u32 = 4096;
/// Name of the one MVT layer.
pub const LAYER: &str = "desks";
/// Side of a tile in screen pixels; a tile holds 4 × 4 cluster cells.
pub const TILE_PX: f64 = 256.0;

/// A tile of the pyramid: zoom `z` (0–[`MAX_ZOOM`]), column `x` and row `y` (0 to 2^z − 1, `y`
/// counted from the north, as in XYZ URLs). Once made, it is inside the pyramid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileCoord {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileCoord {
    /// The tile, or `None` when `z` exceeds [`MAX_ZOOM`] or `x`/`y` are not below 2^z.
    pub fn new(z: u8, x: u32, y: u32) -> Option<TileCoord> {
        (z <= MAX_ZOOM && x < (1 << z) && y < (1 << z)).then_some(TileCoord { z, x, y })
    }

    /// The PMTiles tile id (position on the Hilbert curve of each zoom, zooms in order).
    pub fn id(self) -> u64 {
        pmtiles::TileCoord::new(self.z, self.x, self.y).map(|c| pmtiles::TileId::from(c).value()).expect("a TileCoord is inside the pyramid")
    }

    /// The tile's bounds in degrees: `[west, south, east, north]` (Web-Mercator, so north and
    /// south are at most ±85.0511°).
    pub fn bounds(self) -> [f64; 4] {
        let (x0, y0) = (f64::from(self.x) * TILE_PX, f64::from(self.y) * TILE_PX);
        let (west, north) = lon_lat_of_px(x0, y0, self.z);
        let (east, south) = lon_lat_of_px(x0 + TILE_PX, y0 + TILE_PX, self.z);
        [west, south, east, north]
    }
}

/// The two encodings of a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mvt,
    GeoJson,
}

impl Format {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Mvt => "mvt",
            Format::GeoJson => "geojson",
        }
    }

    /// The media type of the tile's bytes.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Mvt => "application/vnd.mapbox-vector-tile",
            Format::GeoJson => "application/geo+json",
        }
    }
}

/// A bundle's pyramid as served: both archives and the TileJSON.
pub struct TileSet {
    pub mvt: Archive,
    pub geojson: Archive,
    /// The TileJSON 3.0 document served at `/tiles/tiles.json`.
    pub tilejson: Vec<u8>,
}

/// Where `serve` answers tiles: the TileJSON names this URL template.
pub const SERVED_BASE: &str = "/tiles";

impl TileSet {
    /// The tile set of two archives; the TileJSON is made from the MVT archive's metadata, with
    /// tile URLs under `base` (e.g. [`SERVED_BASE`]).
    pub fn new(mvt: Archive, geojson: Archive, base: &str) -> Result<TileSet, ArchiveError> {
        let tilejson = TileJson::from_metadata(mvt.metadata())?.document(base);
        Ok(TileSet { mvt, geojson, tilejson })
    }

    /// The archive of one format.
    pub fn archive(&self, f: Format) -> &Archive {
        match f {
            Format::Mvt => &self.mvt,
            Format::GeoJson => &self.geojson,
        }
    }
}
