//! Bundles: the immutable, versioned output of `sportello build`, and the in-memory [`Snapshot`] a
//! server answers from.
//!
//! Layout of a bundle directory:
//! - `manifest.json` — format version, counts, BLAKE3 of the other files, build time, inputs;
//! - `points.geojson` — every desk, one feature per line, in ordinal order (valid build input, and
//!   the bytes the API serves);
//! - `points.packed` — every feature as DEFLATE tokens and the segments they share (see
//!   [`super::packed`]), from which gzip and deflate answers are joined without compressing;
//!   every feature's tokens decoded and compared with it as the build writes them (loading
//!   checks the hash and the structure);
//! - `desks.bin` — where each feature starts, each desk's position and filter fields, and the
//!   language table: the desks' tables without parsing any JSON;
//! - `tree.bin` — the R-tree `build` bulk-loaded from them (bincode of its nodes), read back at
//!   start instead of bulk-loading again, and checked to hold exactly `desks.bin`'s elements;
//! - `text/` — the tantivy index, joined to the desks by ordinal;
//! - `tiles.mvt.pmtiles`, `tiles.geojson.pmtiles` — the public desks' tile pyramid (zooms 0–14) as
//!   Mapbox Vector Tiles and as GeoJSON, PMTiles v3 archives (see [`crate::tiles`]), served at
//!   `/tiles/…` so tiles always come from the bundle every other answer comes from.
//!
//! A bundle is written into a temporary sibling directory, synced, and swapped into place only
//! when complete, by one atomic exchange of the two directory entries (`renameat2` with
//! `RENAME_EXCHANGE`), so `DIR` always names a whole bundle: the old one, then the new one. A
//! build killed at any moment leaves the previous bundle intact; the next build of the same
//! `DIR` (holding `.DIR.lock` while it runs, so two builds never interleave) removes what it left
//! behind.
//! Opening ([`Snapshot::open`]) checks the format version, the counts, the small files' hashes and
//! everything that keeps answers in bounds; the large files' hashes are [`Snapshot::verify`]'s,
//! which `serve` runs after its start and every other loader before use ([`Snapshot::load`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::clusters::ClusterIndex;
use super::facets::{self, NeedCounts};
use super::mapped::{FileBytes, SharedFile};
use super::packed::{self, PackedFeatures, PackedWriter, Segments};
use super::spatial::{Entry, SpatialIndex};
use super::store::{self, DeskStore};
use super::text::{DeskBits, TextBuilder, TextIndex};
use crate::model::{Audience, ContactPoint, InputSummary, Taxonomy};
use crate::tiles::{self, Archive, Format as TileFormat, TileDesk, TileJson, TileSet, tree};

/// Version of the on-disk layout; a loader refuses any other.
pub const FORMAT_VERSION: u32 = 7;


#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}: not a sportello bundle (no manifest.json)")]
    NotABundle(PathBuf),
    #[error("{path}: bundle format {found} is not supported (this build reads format {FORMAT_VERSION}); rebuild it")]
    Version { path: PathBuf, found: u32 },
    #[error("{path}: bundle is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("text index: {0}")]
    Text(#[from] tantivy::TantivyError),
    #[error("tiles: {0}")]
    Tiles(String),
    #[error("{0}")]
    Other(String),
}

impl From<tiles::TileError> for BundleError {
    fn from(e: tiles::TileError) -> Self {
        BundleError::Tiles(e.to_string())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io { path: path.to_path_buf(), source }
}

/// Record counts of a bundle.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub points: usize,
    pub public: usize,
    pub unions: usize,
    pub languages: BTreeMap<String, usize>,
    pub domains: BTreeMap<String, usize>,
}

impl Counts {
    pub fn of(points: &[ContactPoint]) -> Counts {
        let mut c = Counts::default();
        for p in points {
            c.add(p);
        }
        c
    }

    /// Counts one more desk.
    pub fn add(&mut self, p: &ContactPoint) {
        self.points += 1;
        match p.audience {
            Audience::Public => self.public += 1,
            Audience::Unions => self.unions += 1,
        }
        for l in &p.languages {
            *self.languages.entry(l.to_string()).or_default() += 1;
        }
        for d in &p.domains {
            *self.domains.entry(d.code().to_string()).or_default() += 1;
        }
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub sportello_version: String,
    /// RFC 3339, UTC.
    pub built_at: String,
    /// BLAKE3 of `points.geojson`, hex; its first 12 digits are the bundle's version.
    pub content_hash: String,
    /// BLAKE3 of `desks.bin`, hex.
    pub desks_hash: String,
    /// BLAKE3 of `points.packed`, hex.
    pub packed_hash: String,
    /// BLAKE3 of `tree.bin`, hex.
    pub tree_hash: String,
    /// Non-empty tiles of the pyramid (each in both archives).
    pub tiles: usize,
    /// BLAKE3 of `tiles.mvt.pmtiles`, hex.
    pub tiles_mvt_hash: String,
    /// BLAKE3 of `tiles.geojson.pmtiles`, hex.
    pub tiles_geojson_hash: String,
    pub counts: Counts,
    pub inputs: Vec<InputSummary>,
    /// Invalid records left out with `--skip-invalid` (0 for a strict build).
    pub skipped_invalid: usize,
}

/// Everything one version of the data answers from; shared read-only by all requests.
pub struct Snapshot {
    pub manifest: Manifest,
    /// Every desk, by ordinal (shared with closures that outlive a borrow, such as search scorers).
    pub desks: Arc<DeskStore>,
    /// The same desks as DEFLATE tokens, for compressed answers.
    pub packed: PackedFeatures,
    pub spatial: SpatialIndex,
    /// Precomputed viewport clusters.
    pub clusters: ClusterIndex,
    /// Every desk's filter bits, by ordinal (facet counts).
    pub bits: Arc<Vec<DeskBits>>,
    /// Counts over the desks offering each domain, per audience.
    pub need_counts: NeedCounts,
    pub text: TextIndex,
    /// The tile pyramid of the public desks.
    pub tiles: TileSet,
    pub taxonomy: &'static Taxonomy,
    /// Where it came from: a bundle path, or `embedded`.
    pub source: String,
    /// The tile archives' files, for [`Snapshot::verify`] (none for a snapshot built in memory).
    archive_files: Option<[SharedFile; 2]>,
    /// The outcome of [`Snapshot::verify`] once it has run (a snapshot built in memory is
    /// verified by construction).
    verified: OnceLock<Result<(), String>>,
}

/// Where a snapshot's check of its large files stands (see [`Snapshot::open`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification<'a> {
    /// Not run yet, or running: answers are served meanwhile.
    Pending,
    Passed,
    /// Why the bundle was found damaged: nothing more is served from it.
    Failed(&'a str),
}

impl Snapshot {
    /// Builds a snapshot in memory (text index in RAM) from valid points.
    pub fn in_memory(mut points: Vec<ContactPoint>, inputs: Vec<InputSummary>, source: &str) -> Result<Snapshot, BundleError> {
        spatial_order(&mut points);
        let text = TextIndex::build(&points, None, Taxonomy::embedded(), &mut |_| {})?;
        let desks = DeskStore::from_points(&points);
        let packed = PackedFeatures::build(&desks.trimmed_features().collect::<Vec<_>>());
        let (entries, langs) = SpatialIndex::entries(&points);
        let desks_bin = encode_desks(desks.offsets(), desks.positions(), desks.id_index(), &entries, &langs);
        let clusters = ClusterIndex::build(&entries, desks.positions());
        let pyramid = TileFiles::make(&points.iter().map(TileDesk::of).collect::<Vec<_>>(), &clusters)?;
        let spatial = SpatialIndex::from_entries(entries.clone(), langs);
        let mut tree_bin = Vec::new();
        spatial.write(&mut tree_bin).map_err(BundleError::Other)?;
        let hashes = Hashes {
            content: hash_of(desks.geojson()),
            desks: hash_of(&desks_bin),
            packed: hash_of(&packed.encode()),
            tree: hash_of(&tree_bin),
            tiles_mvt: hash_of(&pyramid.mvt),
            tiles_geojson: hash_of(&pyramid.geojson),
        };
        let manifest = manifest(Counts::of(&points), inputs, 0, hashes, pyramid.tiles);
        let bits = bits_of(&entries);
        Ok(Snapshot {
            manifest,
            need_counts: NeedCounts::build(&bits),
            bits,
            clusters,
            tiles: pyramid.into_set()?,
            desks: Arc::new(desks),
            packed,
            spatial,
            text,
            taxonomy: Taxonomy::embedded(),
            source: source.to_string(),
            archive_files: None,
            verified: OnceLock::from(Ok(())),
        })
    }

    /// Loads the bundle in `dir` and checks all of it ([`Snapshot::open`], then
    /// [`Snapshot::verify`]): what a reload swaps in, and what every command but `serve`'s
    /// first start reads.
    pub fn load(dir: &Path) -> Result<Snapshot, BundleError> {
        let s = Snapshot::open(dir)?;
        s.verify()?;
        Ok(s)
    }

    /// Loads the bundle in `dir` with the checks that keep every answer bounded and every
    /// access in range: the format version, the manifest, `desks.bin` (read whole, hashed and
    /// decoded), the counts, the structure of `points.packed`, of the tile archives and of the
    /// text index, and the feature offsets against the size of `points.geojson`. Not yet checked:
    /// the hashes of the large files (`points.geojson`, `points.packed`, the tile archives) and
    /// where each feature sits, which read every page of 14 GB at ten million desks; that is
    /// [`Snapshot::verify`]'s. Until it has passed, a damaged file can give a wrong answer but
    /// never a panic or an unbounded one (the joiner follows only tokens that give the
    /// feature's bytes; a feature that does not read back matches no filter).
    pub fn open(dir: &Path) -> Result<Snapshot, BundleError> {
        let started = std::time::Instant::now();
        let lap = |what: &str| tracing::debug!(ms = started.elapsed().as_millis() as u64, "load: {what}");
        let mpath = dir.join("manifest.json");
        if !mpath.is_file() {
            return Err(BundleError::NotABundle(dir.to_path_buf()));
        }
        let corrupt = |reason: String| BundleError::Corrupt { path: dir.to_path_buf(), reason };
        let mtext = std::fs::read(&mpath).map_err(io(&mpath))?;
        let version: serde_json::Value =
            serde_json::from_slice(&mtext).map_err(|e| corrupt(format!("manifest.json: {e}")))?;
        let found = version.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found != FORMAT_VERSION {
            return Err(BundleError::Version { path: dir.to_path_buf(), found });
        }
        let manifest: Manifest = serde_json::from_value(version).map_err(|e| corrupt(format!("manifest.json: {e}")))?;

        let read_checked = |name: &str, hash: &str| -> Result<Vec<u8>, BundleError> {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            if hash_of(&bytes) != hash {
                return Err(corrupt(format!("{name} does not match its hash in the manifest")));
            }
            Ok(bytes)
        };
        // The large files are mapped, not copied (see `mapped`); their hashes are `verify`'s.
        let map = |name: &str| -> Result<FileBytes, BundleError> {
            let path = dir.join(name);
            FileBytes::map(&path).map_err(io(&path))
        };
        let desks_bin = read_checked("desks.bin", &manifest.desks_hash)?;
        let decoded = decode_desks(&desks_bin).map_err(|e| corrupt(format!("desks.bin: {e}")))?;
        drop(desks_bin);
        lap("read, verified and decoded desks.bin");
        if decoded.positions.len() != manifest.counts.points {
            return Err(corrupt(format!(
                "manifest counts {} desks, desks.bin holds {}",
                manifest.counts.points,
                decoded.positions.len()
            )));
        }
        let DecodedDesks { langs, offsets, positions, entries, by_id } = decoded;
        let bits = bits_of(&entries);
        let tree_bin = read_checked("tree.bin", &manifest.tree_hash)?;
        // The R-tree and the clusters need only desks.bin: build them, one per core, while the
        // other files are opened.
        let (clusters, spatial, opened) = std::thread::scope(|scope| {
            let spatial = scope.spawn(|| {
                let tree = SpatialIndex::read(&tree_bin, &entries, langs).map_err(|e| corrupt(format!("tree.bin: {e}")));
                lap("r-tree read");
                tree
            });
            let clusters = scope.spawn(|| {
                let clusters = ClusterIndex::build(&entries, &positions);
                lap("clusters built");
                clusters
            });
            let opened = (|| -> Result<_, BundleError> {
                let archive = |name: &str| {
                    let file = SharedFile(Arc::new(map(name)?));
                    let parsed = Archive::parse(bytes::Bytes::from_owner(file.clone())).map_err(|e| corrupt(format!("{name}: {e}")))?;
                    Ok::<_, BundleError>((parsed, file))
                };
                let ((mvt, mvt_file), (geojson, geojson_file)) = (archive(MVT_ARCHIVE)?, archive(GEOJSON_ARCHIVE)?);
                if mvt.len() != manifest.tiles || geojson.len() != manifest.tiles {
                    return Err(corrupt(format!("manifest counts {} tiles, the archives hold {} and {}", manifest.tiles, mvt.len(), geojson.len())));
                }
                let tiles = TileSet::new(mvt, geojson, tiles::SERVED_BASE).map_err(|e| corrupt(format!("{MVT_ARCHIVE}: {e}")))?;
                let packed = PackedFeatures::open(map("points.packed")?, positions.len()).map_err(|e| corrupt(format!("points.packed: {e}")))?;
                let text = TextIndex::open(&dir.join("text"), Taxonomy::embedded())?;
                Ok((tiles, [mvt_file, geojson_file], packed, text, map("points.geojson")?))
            })();
            let clusters = clusters.join().expect("cluster build does not panic");
            (clusters, spatial.join().expect("reading the R-tree does not panic"), opened)
        });
        drop(tree_bin);
        let spatial = spatial?;
        let (tiles, archive_files, packed, text, geojson) = opened?;
        let desks = DeskStore::from_parts(geojson, offsets, positions, by_id)
            .map_err(|e| corrupt(format!("points.geojson: {e}")))?;
        lap("clusters and r-tree built; files opened");
        if text.num_docs() as usize != desks.len() {
            return Err(corrupt(format!("text index holds {} documents for {} desks", text.num_docs(), desks.len())));
        }
        tracing::debug!(
            bytes_per_desk = spatial.heap_bytes() as f64 / desks.len().max(1) as f64,
            "spatial index memory"
        );
        Ok(Snapshot {
            manifest,
            need_counts: NeedCounts::build(&bits),
            bits,
            clusters,
            desks: Arc::new(desks),
            packed,
            spatial,
            text,
            tiles,
            taxonomy: Taxonomy::embedded(),
            source: dir.display().to_string(),
            archive_files: Some(archive_files),
            verified: OnceLock::new(),
        })
    }

    /// Checks what [`Snapshot::open`] left: the large files against their hashes in the
    /// manifest, and where each feature sits. Reads every page of them (then gives the pages
    /// back to the page cache). The outcome is kept ([`Snapshot::verification`]); a second call
    /// returns it without checking again.
    pub fn verify(&self) -> Result<(), BundleError> {
        let corrupt = |reason: String| BundleError::Corrupt { path: PathBuf::from(&self.source), reason };
        if let Some(done) = self.verified.get() {
            return done.clone().map_err(corrupt);
        }
        let started = std::time::Instant::now();
        let m = &self.manifest;
        let Some([mvt, geojson]) = &self.archive_files else { return Ok(()) };
        // One file at a time on this thread, each piece's pages given back once hashed: the check
        // leaves no more resident than a piece, and takes one core.
        let files: [(&str, &FileBytes, &str); 4] = [
            ("points.geojson", self.desks.geojson_file(), &m.content_hash),
            ("points.packed", self.packed.file(), &m.packed_hash),
            (MVT_ARCHIVE, &mvt.0, &m.tiles_mvt_hash),
            (GEOJSON_ARCHIVE, &geojson.0, &m.tiles_geojson_hash),
        ];
        let outcome = files
            .iter()
            .find(|(name, bytes, hash)| {
                let same = bytes.hash_releasing() == *hash;
                tracing::debug!(ms = started.elapsed().as_millis() as u64, "verify: {name} hashed");
                !same
            })
            .map(|(name, _, _)| format!("{name} does not match its hash in the manifest"))
            .map_or_else(|| self.desks.check_placement().map_err(|e| format!("points.geojson: {e}")), Err);
        self.desks.release_resident();
        self.packed.release_resident();
        tracing::debug!(ms = started.elapsed().as_millis() as u64, ok = outcome.is_ok(), "bundle verified");
        let outcome = self.verified.get_or_init(|| outcome);
        outcome.clone().map_err(corrupt)
    }

    /// Where the check of the large files stands.
    pub fn verification(&self) -> Verification<'_> {
        match self.verified.get() {
            None => Verification::Pending,
            Some(Ok(())) => Verification::Passed,
            Some(Err(why)) => Verification::Failed(why),
        }
    }

    /// The bundle's version: the first 12 hex digits of its content hash.
    pub fn version(&self) -> &str {
        &self.manifest.content_hash[..12.min(self.manifest.content_hash.len())]
    }

    /// Number of desks.
    pub fn len(&self) -> usize {
        self.desks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.desks.is_empty()
    }
}

/// The filter bits of `entries` (given by ordinal).
fn bits_of(entries: &[Entry]) -> Arc<Vec<DeskBits>> {
    Arc::new(entries.iter().map(|e| DeskBits { langs: e.langs, domains: e.domains, audience: facets::audience_bit(e.audience) }).collect())
}

fn hash_of(bytes: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update_rayon(bytes);
    h.finalize().to_hex().to_string()
}

/// BLAKE3 of each file of a bundle, hex.
struct Hashes {
    content: String,
    desks: String,
    packed: String,
    tree: String,
    tiles_mvt: String,
    tiles_geojson: String,
}

fn manifest(counts: Counts, inputs: Vec<InputSummary>, skipped: usize, hashes: Hashes, tiles: usize) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        sportello_version: env!("CARGO_PKG_VERSION").to_string(),
        built_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        content_hash: hashes.content,
        desks_hash: hashes.desks,
        packed_hash: hashes.packed,
        tree_hash: hashes.tree,
        tiles,
        tiles_mvt_hash: hashes.tiles_mvt,
        tiles_geojson_hash: hashes.tiles_geojson,
        counts,
        inputs,
        skipped_invalid: skipped,
    }
}

/// The bundle's MVT archive.
pub const MVT_ARCHIVE: &str = "tiles.mvt.pmtiles";
/// The bundle's GeoJSON archive.
pub const GEOJSON_ARCHIVE: &str = "tiles.geojson.pmtiles";

/// The tile pyramid of a bundle's points, encoded: how many tiles, and both archives.
struct TileFiles {
    tiles: usize,
    mvt: Vec<u8>,
    geojson: Vec<u8>,
}

impl TileFiles {
    /// The pyramid of `points` (by ordinal), cut from `clusters` built from them.
    fn make(points: &[TileDesk], clusters: &ClusterIndex) -> Result<TileFiles, BundleError> {
        let (mut mvt, mut geojson) = (std::io::Cursor::new(Vec::new()), std::io::Cursor::new(Vec::new()));
        let tiles = write_archives(points, clusters, &TileJson::of(points), &mut mvt, &mut geojson)?;
        Ok(TileFiles { tiles, mvt: mvt.into_inner(), geojson: geojson.into_inner() })
    }

    /// The archives, read back as a server reads them.
    fn into_set(self) -> Result<TileSet, BundleError> {
        let parse = |b: Vec<u8>| Archive::parse(b.into()).map_err(|e| BundleError::Tiles(e.to_string()));
        TileSet::new(parse(self.mvt)?, parse(self.geojson)?, tiles::SERVED_BASE).map_err(|e| BundleError::Tiles(e.to_string()))
    }
}

/// Writes the tile pyramid of `desks` (cut from `clusters`) as the two archives, one zoom at a
/// time, so only one zoom's tiles are held; how many tiles.
fn write_archives(desks: &[TileDesk], clusters: &ClusterIndex, meta: &TileJson, mvt: impl Write + std::io::Seek, geojson: impl Write + std::io::Seek) -> Result<usize, BundleError> {
    let archive_error = |e: tiles::ArchiveError| BundleError::Tiles(e.to_string());
    let mut m = tiles::archive::ArchiveWriter::create(mvt, TileFormat::Mvt, meta).map_err(archive_error)?;
    let mut g = tiles::archive::ArchiveWriter::create(geojson, TileFormat::GeoJson, meta).map_err(archive_error)?;
    let mut count = 0;
    tiles::generate_each(desks, clusters, &mut |t| -> Result<(), BundleError> {
        m.add(&t).map_err(archive_error)?;
        g.add(&t).map_err(archive_error)?;
        count += 1;
        Ok(())
    })?;
    m.finish().map_err(archive_error)?;
    g.finish().map_err(archive_error)?;
    Ok(count)
}

const DESKS_MAGIC: &[u8; 8] = b"SPTLDSK1";

/// `desks.bin`, little-endian: magic, desk count (u64), language table (u32 count, then each code
/// as u8 length + bytes), feature offsets ((count + 1) × u64), positions (count × f64 lat, f64
/// lon), filter fields (count × u64 language mask, u32 domain mask, u8 audience), and the
/// ordinals sorted by id (count × u32).
fn encode_desks(offsets: &[u64], positions: &[[f64; 2]], by_id: &[u32], entries: &[Entry], langs: &[String]) -> Vec<u8> {
    let n = positions.len();
    let mut out = Vec::with_capacity(16 + n * 45);
    out.extend_from_slice(DESKS_MAGIC);
    out.extend_from_slice(&(n as u64).to_le_bytes());
    out.extend_from_slice(&(langs.len() as u32).to_le_bytes());
    for l in langs {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    for o in offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }
    for p in positions {
        out.extend_from_slice(&p[0].to_le_bytes());
        out.extend_from_slice(&p[1].to_le_bytes());
    }
    for e in entries {
        out.extend_from_slice(&e.langs.to_le_bytes());
        out.extend_from_slice(&e.domains.to_le_bytes());
        out.push(match e.audience {
            Audience::Public => 0,
            Audience::Unions => 1,
        });
    }
    for o in by_id {
        out.extend_from_slice(&o.to_le_bytes());
    }
    out
}

struct DecodedDesks {
    langs: Vec<String>,
    offsets: Vec<u64>,
    positions: Vec<[f64; 2]>,
    entries: Vec<Entry>,
    by_id: Vec<u32>,
}

/// Bytes `desks.bin` holds per desk after the language table: an offset (u64), a position (two
/// f64), the filter fields (u64, u32, u8) and an ordinal of the id index (u32).
const DESK_BYTES: usize = 8 + 16 + 13 + 4;
/// Domain mask bits in use: one per domain of the taxonomy.
const DOMAIN_BITS: u32 = (1 << crate::model::Domain::ALL.len()) - 1;

/// Reads a byte string from the front.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The next `len` bytes, or "truncated" when there are fewer.
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let s = self.at.checked_add(len).and_then(|end| self.b.get(self.at..end)).ok_or("truncated")?;
        self.at += len;
        Ok(s)
    }
}

/// Reads `desks.bin`, trusting nothing in it: every length is checked against the bytes that are
/// there before anything is allocated, so a damaged file (even one whose hash was made to match)
/// is refused with a reason, never a panic or an allocation of what a count claims.
/// The `tree.bin` a build writes beside a `desks.bin` of these bytes, when they decode (for the
/// fuzz harness, which gives the tree the damaged tables it is given).
pub fn tree_for_desks_bin(b: &[u8]) -> Option<Vec<u8>> {
    let d = decode_desks(b).ok()?;
    let mut out = Vec::new();
    SpatialIndex::from_entries(d.entries, d.langs).write(&mut out).ok()?;
    Some(out)
}

fn decode_desks(b: &[u8]) -> Result<DecodedDesks, String> {
    let mut cursor = Cursor { b, at: 0 };
    let mut take = |len: usize| cursor.take(len);
    if take(8)? != DESKS_MAGIC {
        return Err("not a desks file".into());
    }
    let u64_of = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
    let n = u64_of(take(8)?);
    let nl = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
    // Bit 63 of a language mask stands for every language without a bit of its own.
    if nl > 63 {
        return Err(format!("a language table of {nl} codes (at most 63)"));
    }
    let mut langs: Vec<String> = Vec::with_capacity(nl);
    for i in 0..nl {
        let len = take(1)?[0] as usize;
        let code = std::str::from_utf8(take(len)?).map_err(|_| format!("language {i} is not UTF-8"))?;
        crate::model::Language::new(code).map_err(|e| format!("language {i}: {e}"))?;
        if langs.iter().any(|l| l == code) {
            return Err(format!("language `{code}` is in the table twice"));
        }
        langs.push(code.to_string());
    }
    // What follows is 8 bytes and DESK_BYTES per desk, exactly.
    let rest = b.len() - cursor.at;
    let mut take = |len: usize| cursor.take(len);
    if rest < 8 || !(rest - 8).is_multiple_of(DESK_BYTES) || ((rest - 8) / DESK_BYTES) as u64 != n {
        return Err(format!("{rest} bytes after the language table do not hold the {n} desks the file counts"));
    }
    let n = n as usize;
    let lang_bits = if nl == 0 { 0 } else { u64::MAX >> (64 - nl) } | 1 << 63;
    let offsets = take((n + 1) * 8)?.chunks_exact(8).map(u64_of).collect();
    let positions: Vec<[f64; 2]> = take(n * 16)?
        .chunks_exact(16)
        .map(|c| [f64::from_le_bytes(c[..8].try_into().expect("8")), f64::from_le_bytes(c[8..].try_into().expect("8"))])
        .collect();
    let fields = take(n * 13)?;
    let mut entries = Vec::with_capacity(n);
    for (i, c) in fields.chunks_exact(13).enumerate() {
        let audience = match c[12] {
            0 => Audience::Public,
            1 => Audience::Unions,
            other => return Err(format!("desk {i}: audience byte {other}")),
        };
        let [lat, lon] = positions[i];
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return Err(format!("desk {i}: position out of range"));
        }
        let langs_mask = u64_of(&c[..8]);
        if langs_mask & !lang_bits != 0 {
            return Err(format!("desk {i}: language bits beyond the table of {nl}"));
        }
        let domains = u32::from_le_bytes(c[8..12].try_into().expect("4"));
        if domains & !DOMAIN_BITS != 0 {
            return Err(format!("desk {i}: domain bits beyond the {} domains", crate::model::Domain::ALL.len()));
        }
        entries.push(SpatialIndex::entry(i as u32, lat, lon, langs_mask, domains, audience));
    }
    let by_id = take(n * 4)?.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4"))).collect();
    Ok(DecodedDesks { langs, offsets, positions, entries, by_id })
}

/// Progress callbacks of a build: a phase name and a total, then increments.
pub trait Progress {
    fn phase(&mut self, name: &str, total: u64);
    fn inc(&mut self, n: u64);
}

/// Orders desks along a Z-order (Morton) curve of their position, ties by id, so desks near each
/// other on the map sit near each other in memory: an answer's features are then read from a few
/// places instead of ten random ones. Deterministic, so builds stay reproducible.
pub fn spatial_order(points: &mut [ContactPoint]) {
    points.sort_by_cached_key(|p| (spatial_key(p), p.id.clone()));
}

/// A desk's place on the Z-order curve of [`spatial_order`] (ties are broken by id).
pub fn spatial_key(p: &ContactPoint) -> u64 {
    fn spread(v: u32) -> u64 {
        // Interleave: bit i of v goes to bit 2i.
        let mut x = u64::from(v);
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        x = (x | (x << 2)) & 0x3333_3333_3333_3333;
        (x | (x << 1)) & 0x5555_5555_5555_5555
    }
    let x = ((p.position.lon.degrees() + 180.0) / 360.0 * f64::from(u32::MAX)) as u32;
    let y = ((p.position.lat.degrees() + 90.0) / 180.0 * f64::from(u32::MAX)) as u32;
    spread(x) | (spread(y) << 1)
}

/// Writes a bundle of `points` to `out`, atomically, in [`spatial_order`]. An existing bundle at
/// `out` is replaced as a whole; any other existing path is refused.
pub fn write(points: Vec<ContactPoint>, inputs: Vec<InputSummary>, skipped: usize, out: &Path, progress: &mut dyn Progress) -> Result<Manifest, BundleError> {
    write_with_tiles(points, inputs, skipped, out, None, progress).map(|(m, _)| m)
}

/// Where `build` writes the static copy of the tile pyramid.
#[derive(Debug, Clone, Copy)]
pub struct TreeOptions<'a> {
    /// The directory (replaced atomically; see [`tree::check_target`]).
    pub dir: &'a Path,
    /// The URL the directory will be served at, for `tiles.json` (e.g. `/tiles` or
    /// `https://cdn.example.org/desks`).
    pub base_url: &'a str,
}

/// [`write`], and when `tree` is given, the static tile tree too (after the bundle; both are
/// checked before anything is written).
pub fn write_with_tiles(
    mut points: Vec<ContactPoint>,
    inputs: Vec<InputSummary>,
    skipped: usize,
    out: &Path,
    tree: Option<TreeOptions>,
    progress: &mut dyn Progress,
) -> Result<(Manifest, Option<tree::TreeSummary>), BundleError> {
    spatial_order(&mut points);
    write_ordered(&mut InMemory(&points), inputs, skipped, out, tree, progress)
}

/// What [`OrderedDesks::each`] calls with each desk: its ordinal, stored feature and record.
pub type EachDesk<'a> = dyn FnMut(usize, &[u8], &ContactPoint) -> Result<(), BundleError> + 'a;

/// Desks in bundle order, as [`write_ordered`] takes them: each desk's stored feature (its line
/// of `points.geojson`, see [`store::write_stored`]) with its record, once each in order, and
/// any desk's feature on demand (for the sample the shared segments are learnt from).
pub trait OrderedDesks {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The desks' counts (their languages' frequencies give the filter bits before the first
    /// desk is written).
    fn counts(&self) -> Counts;
    /// Desk `ord`'s stored feature, into `buf` (cleared first).
    fn feature(&mut self, ord: usize, buf: &mut Vec<u8>) -> Result<(), BundleError>;
    /// Calls `f` with every desk in order: its ordinal, stored feature and record.
    fn each(&mut self, f: &mut EachDesk) -> Result<(), BundleError>;
}

/// Desks held in memory, already in bundle order.
struct InMemory<'a>(&'a [ContactPoint]);

impl OrderedDesks for InMemory<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn counts(&self) -> Counts {
        Counts::of(self.0)
    }
    fn feature(&mut self, ord: usize, buf: &mut Vec<u8>) -> Result<(), BundleError> {
        buf.clear();
        store::write_stored(&self.0[ord], buf);
        Ok(())
    }
    fn each(&mut self, f: &mut EachDesk) -> Result<(), BundleError> {
        let mut buf = Vec::new();
        for (ord, p) in self.0.iter().enumerate() {
            buf.clear();
            store::write_stored(p, &mut buf);
            f(ord, &buf, p)?;
        }
        Ok(())
    }
}

/// A file being written, hashed and counted as it goes.
struct HashedFile {
    out: std::io::BufWriter<File>,
    hasher: blake3::Hasher,
    written: u64,
}

impl HashedFile {
    fn create(path: &Path) -> Result<HashedFile, BundleError> {
        let f = File::create(path).map_err(io(path))?;
        Ok(HashedFile { out: std::io::BufWriter::with_capacity(1 << 20, f), hasher: blake3::Hasher::new(), written: 0 })
    }

    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.hasher.update(b);
        self.written += b.len() as u64;
        self.out.write_all(b)
    }

    /// Flushes and syncs the file; its hash.
    fn finish(self) -> std::io::Result<String> {
        let f = self.out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(self.hasher.finalize().to_hex().to_string())
    }
}

impl Write for HashedFile {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.put(b)?;
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Writes `bytes` to a new file at `path`, synced.
fn put_file(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// BLAKE3 of the file at `path`, read in pieces.
fn hash_file(path: &Path) -> Result<String, BundleError> {
    let mut h = blake3::Hasher::new();
    h.update_reader(File::open(path).map_err(io(path))?).map_err(io(path))?;
    Ok(h.finalize().to_hex().to_string())
}

/// Writes the bundle of `desks` (in bundle order) to `out` atomically, and the static tile tree
/// when asked. Each desk is read once and goes straight to every file that holds it (features,
/// tokens, text index); what stays in memory until the end is a few dozen bytes per desk
/// (position, filter fields, id, what its tiles show), so a bundle of any size is written
/// without holding its records.
pub fn write_ordered(
    desks: &mut dyn OrderedDesks,
    inputs: Vec<InputSummary>,
    skipped: usize,
    out: &Path,
    tree: Option<TreeOptions>,
    progress: &mut dyn Progress,
) -> Result<(Manifest, Option<tree::TreeSummary>), BundleError> {
    if let Some(t) = tree {
        tree::check_target(t.dir)?;
    }
    if out.exists() && !out.join("manifest.json").is_file() {
        let empty = out.is_dir() && std::fs::read_dir(out).map_err(io(out))?.next().is_none();
        if !empty {
            return Err(BundleError::Other(format!(
                "{}: exists and is not a bundle; refusing to replace it (choose another --out)",
                out.display()
            )));
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle");
    let _lock = lock_and_clean(&parent, name)?;
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.tmp-")).tempdir_in(&parent).map_err(io(&parent))?;
    let at = |file: &str| tmp.path().join(file);

    let n = desks.len();
    let counts = desks.counts();
    progress.phase("learning shared segments", 1);
    let mut buf = Vec::new();
    let mut sample = Vec::new();
    for ord in packed::sample_ords(n) {
        desks.feature(ord, &mut buf)?;
        sample.push(buf[..buf.len().saturating_sub(2)].to_vec());
    }
    let segments = Segments::learn(&sample.iter().map(Vec::as_slice).collect::<Vec<_>>());
    drop(sample);

    progress.phase("writing points, tokens and text", n as u64);
    let (packed_path, geojson_path) = (at("points.packed"), at("points.geojson"));
    let mut packer = PackedWriter::create(File::create(&packed_path).map_err(io(&packed_path))?, segments, n).map_err(io(&packed_path))?;
    let mut geojson = HashedFile::create(&geojson_path)?;
    geojson.put(store::HEADER).map_err(io(&geojson_path))?;
    let tdir = at("text");
    std::fs::create_dir(&tdir).map_err(io(&tdir))?;
    let mut text = TextBuilder::create(Some(&tdir))?;
    let (lang_bits, langs) = SpatialIndex::lang_bits(counts.languages.iter().map(|(l, c)| (l.as_str(), *c)));
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(geojson.written);
    let mut positions = Vec::with_capacity(n);
    let mut entries = Vec::with_capacity(n);
    let mut tile_desks = Vec::with_capacity(n);
    let (mut ids, mut id_ends) = (Vec::new(), Vec::with_capacity(n + 1));
    id_ends.push(0usize);
    desks.each(&mut |ord, feature, p| {
        if ord != positions.len() || ord >= n {
            return Err(BundleError::Other(format!("desk {ord} came out of order (expected {} of {n})", positions.len())));
        }
        if ord > 0 {
            geojson.put(store::SEP).map_err(io(&geojson_path))?;
        }
        geojson.put(feature).map_err(io(&geojson_path))?;
        offsets.push(geojson.written);
        packer.add(&feature[..feature.len().saturating_sub(2)]).map_err(io(&packed_path))?;
        text.add(ord, p)?;
        positions.push([p.position.lat.degrees(), p.position.lon.degrees()]);
        entries.push(SpatialIndex::entry_of(ord as u32, p, &lang_bits));
        tile_desks.push(TileDesk::of(p));
        ids.extend_from_slice(p.id.as_bytes());
        id_ends.push(ids.len());
        if ord % 4096 == 4095 {
            progress.inc(4096);
        }
        Ok(())
    })?;
    if positions.len() != n {
        return Err(BundleError::Other(format!("{} desks written of {n}", positions.len())));
    }
    progress.inc(n as u64 % 4096);
    geojson.put(store::TRAILER).map_err(io(&geojson_path))?;
    let content_hash = geojson.finish().map_err(io(&geojson_path))?;
    packer.finish().map_err(io(&packed_path))?;

    let id = |o: u32| &ids[id_ends[o as usize]..id_ends[o as usize + 1]];
    let mut by_id: Vec<u32> = (0..n as u32).collect();
    by_id.sort_unstable_by(|&a, &b| id(a).cmp(id(b)));
    drop((ids, id_ends));
    let desks_bin = encode_desks(&offsets, &positions, &by_id, &entries, &langs);
    put_file(&at("desks.bin"), &desks_bin)?;
    // The R-tree, bulk-loaded once here so that no server start has to.
    let tree_path = at("tree.bin");
    let tree_hash = {
        let spatial = SpatialIndex::from_entries(entries.clone(), langs.clone());
        let mut f = HashedFile::create(&tree_path)?;
        // Hashed in large pieces, not one small write per field.
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, &mut f);
        spatial.write(&mut buffered).map_err(|e| BundleError::Other(format!("{}: {e}", tree_path.display())))?;
        buffered.flush().map_err(io(&tree_path))?;
        drop(buffered);
        f.finish().map_err(io(&tree_path))?
    };

    drop((offsets, by_id));

    progress.phase("indexing text", 1);
    text.finish(Taxonomy::embedded())?;
    progress.inc(1);

    progress.phase("making tiles", n as u64);
    let clusters = ClusterIndex::build(&entries, &positions);
    drop((entries, positions));
    let meta = TileJson::of(&tile_desks);
    let (mvt_path, geojson_path) = (at(MVT_ARCHIVE), at(GEOJSON_ARCHIVE));
    let mut mvt_file = File::create(&mvt_path).map_err(io(&mvt_path))?;
    let mut geojson_file = File::create(&geojson_path).map_err(io(&geojson_path))?;
    let tiles = write_archives(&tile_desks, &clusters, &meta, &mut mvt_file, &mut geojson_file)?;
    mvt_file.sync_all().map_err(io(&mvt_path))?;
    geojson_file.sync_all().map_err(io(&geojson_path))?;
    drop((tile_desks, clusters));
    progress.inc(n as u64);

    let hashes = Hashes {
        content: content_hash,
        desks: hash_of(&desks_bin),
        packed: hash_file(&packed_path)?,
        tree: tree_hash,
        tiles_mvt: hash_file(&at(MVT_ARCHIVE))?,
        tiles_geojson: hash_file(&at(GEOJSON_ARCHIVE))?,
    };
    let manifest = manifest(counts, inputs, skipped, hashes, tiles);
    let mpath = at("manifest.json");
    let mut mf = File::create(&mpath).map_err(io(&mpath))?;
    serde_json::to_writer_pretty(&mut mf, &manifest).map_err(|e| BundleError::Other(e.to_string()))?;
    mf.write_all(b"\n").map_err(io(&mpath))?;
    mf.sync_all().map_err(io(&mpath))?;

    readable_by_all(tmp.path())?;
    sync_dir(tmp.path())?;
    sync_dir(&tdir)?;
    // Swap into place.
    let tmp_path = tmp.keep();
    if out.exists() {
        swap(&tmp_path, out)?;
        // `tmp_path` now holds the old bundle.
        std::fs::remove_dir_all(&tmp_path).map_err(io(&tmp_path))?;
    } else {
        std::fs::rename(&tmp_path, out).map_err(io(out))?;
    }
    sync_dir(&parent)?;
    let summary = match tree {
        Some(t) => {
            progress.phase("writing the tile tree", tiles as u64);
            // From the archives just written, as a server maps them.
            let archive = |name: &str| {
                let path = out.join(name);
                let bytes = FileBytes::map(&path).map_err(io(&path))?;
                Archive::parse(bytes::Bytes::from_owner(bytes)).map_err(|e| BundleError::Tiles(format!("{name}: {e}")))
            };
            let summary = tree::write(t.dir, &archive(MVT_ARCHIVE)?, &archive(GEOJSON_ARCHIVE)?, &meta.document(t.base_url))?;
            progress.inc(tiles as u64);
            Some(summary)
        }
        None => None,
    };
    Ok((manifest, summary))
}

/// Makes a bundle readable by every user — directories 0755, files 0644 — where its temporary
/// directory and the text index's files are created private (0700, 0600): the server usually runs
/// as another user than the build (a service user, a container's), and a bundle is published data.
#[cfg(unix)]
fn readable_by_all(dir: &Path) -> Result<(), BundleError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io(dir))?;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            readable_by_all(&path)?;
        } else {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).map_err(io(&path))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn readable_by_all(_dir: &Path) -> Result<(), BundleError> {
    Ok(())
}

/// The lock a build holds on its bundle's name: `.NAME.lock` beside it, removed when the build
/// ends (ended or failed; a killed build leaves it, unlocked, and the next one takes it over).
pub(crate) struct BuildLock {
    path: PathBuf,
    _file: File,
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        // Still holding the lock: a build waiting on this file sees it unlinked and starts over.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes `.NAME.lock` in `parent` (waiting while another build of the same bundle holds it), then
/// removes what builds of `NAME` killed earlier left behind: `.NAME.tmp-*` and `.NAME.old-*`.
pub(crate) fn lock_and_clean(parent: &Path, name: &str) -> Result<BuildLock, BundleError> {
    use std::os::unix::fs::MetadataExt;
    let path = parent.join(format!(".{name}.lock"));
    let file = loop {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            tracing::warn!(bundle = %parent.join(name).display(), "waiting for another build of this bundle to finish");
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| io(&path)(e.into()))?;
        }
        // The lock counts only if the file is still the one at `path` (the build that held it
        // removes it when it ends).
        let held = file.metadata().map_err(io(&path))?;
        match std::fs::metadata(&path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => break file,
            _ => continue,
        }
    };
    let lock = BuildLock { path, _file: file };
    for entry in std::fs::read_dir(parent).map_err(io(parent))? {
        let entry = entry.map_err(io(parent))?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if file.starts_with(&format!(".{name}.tmp-")) || file.starts_with(&format!(".{name}.old-")) {
            let p = entry.path();
            tracing::warn!(path = %p.display(), "removing what an interrupted build left behind");
            let gone = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            gone.map_err(io(&p))?;
        }
    }
    Ok(lock)
}

/// Exchanges the directory entries `new` and `out` in one step, so `out` is never missing. Where
/// the system cannot exchange, `out` moves aside and `new` takes its name (a moment without
/// `out`, which a reader retries).
pub(crate) fn swap(new: &Path, out: &Path) -> Result<(), BundleError> {
    #[cfg(target_os = "linux")]
    match rustix::fs::renameat_with(rustix::fs::CWD, new, rustix::fs::CWD, out, rustix::fs::RenameFlags::EXCHANGE) {
        Ok(()) => return Ok(()),
        // Filesystems without the exchange answer EINVAL; old kernels ENOSYS.
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
        Err(e) => return Err(BundleError::Io { path: out.to_path_buf(), source: e.into() }),
    }
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle");
    let aside = out.with_file_name(format!(".{name}.old-{}", std::process::id()));
    std::fs::rename(out, &aside).map_err(io(out))?;
    if let Err(e) = std::fs::rename(new, out) {
        let _ = std::fs::rename(&aside, out);
        return Err(BundleError::Io { path: out.to_path_buf(), source: e });
    }
    std::fs::rename(&aside, new).map_err(io(new))
}

/// Makes a directory's entries durable (its new files and renames survive a power cut).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BundleError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
