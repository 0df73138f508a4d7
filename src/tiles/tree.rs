//! The static copy of the pyramid for any web host or CDN: `{z}/{x}/{y}.mvt`, `{z}/{x}/{y}.geojson`
//! (plain, uncompressed), `tiles.json` (TileJSON 3.0) and `desks.pmtiles` (the MVT archive, the
//! same bytes as in the bundle).
//!
//! Written like a bundle: into a temporary sibling directory, flushed to disk, then swapped into
//! place in one atomic exchange, so the directory always holds one whole pyramid. Only a
//! directory that is absent, empty, holds nothing but a `README.md`, or holds a pyramid already
//! is replaced; a `README.md` in it is carried over.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Archive;
use crate::index::bundle::{self, BundleError};

/// Name of the MVT archive in the tree.
pub const ARCHIVE: &str = "desks.pmtiles";
/// Name of the TileJSON document in the tree.
pub const TILEJSON: &str = "tiles.json";
const README: &str = "README.md";

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeSummary {
    pub tiles: usize,
    pub mvt_bytes: u64,
    pub geojson_bytes: u64,
    pub archive_bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io { path: path.to_path_buf(), source }
}

/// Refuses `dir` unless it is absent, empty, holds only a `README.md`, or holds a pyramid
/// (`tiles.json` and `desks.pmtiles`).
pub fn check_target(dir: &Path) -> Result<(), BundleError> {
    if !dir.exists() {
        return Ok(());
    }
    let refuse = || {
        BundleError::Other(format!(
            "{}: exists and is not a tile directory (no {TILEJSON} and {ARCHIVE}); refusing to replace it (choose another --tiles)",
            dir.display()
        ))
    };
    if !dir.is_dir() {
        return Err(refuse());
    }
    if dir.join(TILEJSON).is_file() && dir.join(ARCHIVE).is_file() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        if entry.map_err(io(dir))?.file_name() != README {
            return Err(refuse());
        }
    }
    Ok(())
}

/// Writes the tree of the tiles of the `mvt` and `geojson` archives (the bundle's) to `dir`
/// atomically, with the MVT archive itself and the `tilejson`.
pub fn write(dir: &Path, mvt: &Archive, geojson: &Archive, tilejson: &[u8]) -> Result<TreeSummary, BundleError> {
    check_target(dir)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("tiles");
    let _lock = bundle::lock_and_clean(&parent, name)?;
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.tmp-")).tempdir_in(&parent).map_err(io(&parent))?;
    let root = tmp.path();

    let put = |path: &Path, bytes: &[u8]| -> Result<(), BundleError> {
        let mut f = File::create(path).map_err(io(path))?;
        f.write_all(bytes).map_err(io(path))
    };
    let mut summary = TreeSummary { tiles: mvt.len(), archive_bytes: mvt.bytes().len() as u64, ..Default::default() };
    let mut made: HashSet<(u8, u32)> = HashSet::new();
    for (c, stored) in mvt.tiles() {
        let column = root.join(c.z.to_string()).join(c.x.to_string());
        if made.insert((c.z, c.x)) {
            std::fs::create_dir_all(&column).map_err(io(&column))?;
        }
        let fail = |e: String| BundleError::Tiles(format!("tile {}/{}/{}: {e}", c.z, c.x, c.y));
        let plain_mvt = mvt.plain(&stored).map_err(|e| fail(e.to_string()))?;
        let stored_geojson = geojson.get(c).ok_or_else(|| fail("missing from the GeoJSON archive".into()))?;
        let plain_geojson = geojson.plain(&stored_geojson).map_err(|e| fail(e.to_string()))?;
        put(&column.join(format!("{}.mvt", c.y)), &plain_mvt)?;
        put(&column.join(format!("{}.geojson", c.y)), &plain_geojson)?;
        summary.mvt_bytes += plain_mvt.len() as u64;
        summary.geojson_bytes += plain_geojson.len() as u64;
    }
    if geojson.len() != mvt.len() {
        return Err(BundleError::Tiles(format!("the archives hold {} MVT and {} GeoJSON tiles", mvt.len(), geojson.len())));
    }
    put(&root.join(ARCHIVE), mvt.bytes())?;
    put(&root.join(TILEJSON), tilejson)?;
    let readme = dir.join(README);
    if readme.is_file() {
        std::fs::copy(&readme, root.join(README)).map_err(io(&readme))?;
    }
    // One flush of the whole file system instead of one per file: hundreds of thousands of
    // small files.
    let handle = File::open(root).map_err(io(root))?;
    rustix::fs::syncfs(&handle).map_err(|e| io(root)(e.into()))?;

    let tmp_path = tmp.keep();
    if dir.exists() {
        bundle::swap(&tmp_path, dir)?;
        std::fs::remove_dir_all(&tmp_path).map_err(io(&tmp_path))?;
    } else {
        std::fs::rename(&tmp_path, dir).map_err(io(dir))?;
    }
    bundle::sync_dir(&parent)?;
    Ok(summary)
}
