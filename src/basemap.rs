//! The operator's base map: one PMTiles v3 file (`serve --basemap FILE.pmtiles`), checked when it
//! is opened and then read by byte ranges for `GET /basemap/operator.pmtiles`. It is never read
//! into memory whole (a regional street map is hundreds of megabytes): the file stays open, and
//! a request reads only the range it asks for, so the bytes served are those of the file that
//! was checked even if another file is later renamed over its path (until a reload opens it).
//!
//! Responsible for: the header check, the description the widget reads (`operator.json`), the
//! validator (`ETag`) and positional reads. Knows nothing of HTTP; the Range logic is in
//! `http::basemap`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Bytes of the PMTiles v3 header.
const HEADER_LEN: u64 = 127;
/// The header and the root directory lie within the first 16 KiB (PMTiles v3 specification).
const ROOT_WITHIN: u64 = 16_384;
/// Largest (stored) metadata accepted: it is read whole at start.
const MAX_METADATA: u64 = 1 << 20;

/// Why a file is not a usable base map; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("base map {path}: {reason}")]
pub struct BasemapError {
    pub path: PathBuf,
    pub reason: String,
}

/// What the widget needs to draw the base map, read from the header and the metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasemapInfo {
    /// `png`, `jpg`, `webp`, `avif` or `mvt`.
    pub tile_type: &'static str,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// `[west, south, east, north]` in degrees (WGS84).
    pub bounds: [f64; 4],
    /// The metadata's `attribution`, empty when it has none.
    pub attribution: String,
    /// The ids of the metadata's `vector_layers` (vector maps; empty for rasters or when the
    /// metadata lists none): the widget picks its drawing rules from them.
    pub layers: Vec<String>,
}

/// An opened, checked base map file.
#[derive(Debug)]
pub struct Basemap {
    file: File,
    pub path: PathBuf,
    /// Size of the file in bytes when it was opened.
    pub len: u64,
    /// A strong validator, quoted: a hash of the size, the modification time, the header with
    /// the root directory and the metadata.
    pub etag: String,
    pub modified: Option<std::time::SystemTime>,
    pub info: BasemapInfo,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn degrees_at(b: &[u8], at: usize) -> f64 {
    f64::from(i32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))) / 10_000_000.0
}

impl Basemap {
    /// Opens `path` and checks it is a PMTiles v3 archive a map can draw: the magic and version,
    /// every section inside the file, the root directory within the first 16 KiB, a raster or
    /// vector tile type, zooms and bounds in range, and metadata that is a JSON object.
    pub fn open(path: &Path) -> Result<Basemap, BasemapError> {
        let fail = |reason: String| BasemapError { path: path.to_path_buf(), reason };
        let file = File::open(path).map_err(|e| fail(e.to_string()))?;
        let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        let len = meta.len();
        if len < HEADER_LEN {
            return Err(fail(format!("{len} bytes is too short for a PMTiles header ({HEADER_LEN} bytes)")));
        }
        let mut head = vec![0u8; len.min(ROOT_WITHIN) as usize];
        file.read_exact_at(&mut head, 0).map_err(|e| fail(e.to_string()))?;
        if &head[..7] != b"PMTiles" {
            return Err(fail("not a PMTiles archive (no `PMTiles` magic at the start)".into()));
        }
        if head[7] != 3 {
            return Err(fail(format!("PMTiles version {} (only version 3 is served)", head[7])));
        }
        let section = |at: usize, what: &str| -> Result<(u64, u64), BasemapError> {
            let (offset, length) = (u64_at(&head, at), u64_at(&head, at + 8));
            match offset.checked_add(length) {
                Some(end) if end <= len => Ok((offset, length)),
                _ => Err(fail(format!("the {what} lies outside the file ({len} bytes)"))),
            }
        };
        let (root_offset, root_length) = section(8, "root directory")?;
        let (meta_offset, meta_length) = section(24, "metadata")?;
        section(40, "leaf directories")?;
        section(56, "tile data")?;
        if root_offset + root_length > ROOT_WITHIN || root_length == 0 {
            return Err(fail("the root directory is not within the first 16384 bytes".into()));
        }
        let (internal, tile_type) = (head[97], head[99]);
        let tile_type = match tile_type {
            1 => "mvt",
            2 => "png",
            3 => "jpg",
            4 => "webp",
            5 => "avif",
            0 => return Err(fail("the tile type is unknown (0); a base map holds MVT, PNG, JPEG, WebP or AVIF tiles".into())),
            other => return Err(fail(format!("tile type {other} is not one of PMTiles v3's"))),
        };
        let (minzoom, maxzoom) = (head[100], head[101]);
        if minzoom > maxzoom || maxzoom > 30 {
            return Err(fail(format!("zooms {minzoom} to {maxzoom} are not a range within 0 to 30")));
        }
        let bounds = [degrees_at(&head, 102), degrees_at(&head, 106), degrees_at(&head, 110), degrees_at(&head, 114)];
        let [w, s, e, n] = bounds;
        if !((-180.0..=180.0).contains(&w) && (-180.0..=180.0).contains(&e) && (-90.0..=90.0).contains(&s) && (-90.0..=90.0).contains(&n) && s <= n) {
            return Err(fail(format!("bounds {bounds:?} are not west, south, east, north in degrees")));
        }
        if meta_length > MAX_METADATA {
            return Err(fail(format!("metadata of {meta_length} bytes is over the {MAX_METADATA} accepted")));
        }
        let mut stored = vec![0u8; meta_length as usize];
        file.read_exact_at(&mut stored, meta_offset).map_err(|e| fail(e.to_string()))?;
        let metadata = match internal {
            1 => stored.clone(),
            2 => crate::tiles::archive::gunzip(&stored).map_err(|e| fail(format!("metadata: {e}")))?,
            other => return Err(fail(format!("internal compression {other} is not read (gzip or none)"))),
        };
        let (attribution, layers) = if metadata.is_empty() {
            (String::new(), Vec::new())
        } else {
            let v: serde_json::Value = serde_json::from_slice(&metadata).map_err(|e| fail(format!("metadata is not JSON: {e}")))?;
            let obj = v.as_object().ok_or_else(|| fail("metadata is not a JSON object".into()))?;
            let attribution = obj.get("attribution").and_then(|a| a.as_str()).unwrap_or("").to_string();
            let layers = obj.get("vector_layers").and_then(|l| l.as_array()).map_or_else(Vec::new, |list| {
                list.iter().filter_map(|l| l.get("id").and_then(|id| id.as_str())).map(str::to_string).collect()
            });
            (attribution, layers)
        };
        let modified = meta.modified().ok();
        let mut h = blake3::Hasher::new();
        h.update(&len.to_le_bytes());
        let nanos = modified.and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        h.update(&nanos.to_le_bytes());
        h.update(&head);
        h.update(&stored);
        let etag = format!("\"{}\"", &h.finalize().to_hex()[..20]);
        let info = BasemapInfo { tile_type, minzoom, maxzoom, bounds, attribution, layers };
        Ok(Basemap { file, path: path.to_path_buf(), len, etag, modified, info })
    }

    /// Reads `length` bytes from `offset`; fewer only if the file has shrunk since it was opened
    /// (then the answer is cut short rather than padded).
    pub fn read(&self, offset: u64, length: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; length];
        let mut filled = 0;
        while filled < length {
            match self.file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }
}
