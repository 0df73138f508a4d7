//! Bundles: the immutable, versioned output of `sportello build`, and the in-memory [`Snapshot`] a
//! server answers from.
//!
//! Layout of a bundle directory:
//! - `manifest.json` — format version, counts, BLAKE3 of `points.geojson`, build time, inputs;
//! - `points.geojson` — every desk, one feature per line, in ordinal order (rebuildable as input);
//! - `text/` — the tantivy index, joined to the points by ordinal.
//!
//! A bundle is written into a temporary sibling directory and renamed into place only when
//! complete, so a reader never sees half of one. Loading checks the format version, the hash and
//! the counts before anything is served.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::spatial::SpatialIndex;
use super::text::TextIndex;
use crate::ingest::{self, Format, InputSummary};
use crate::model::feature::PointFeature;
use crate::model::{Audience, ContactPoint, Taxonomy};

/// Version of the on-disk layout; a loader refuses any other.
pub const FORMAT_VERSION: u32 = 1;

/// The default dataset compiled into the binary.
pub const EMBEDDED_SAMPLE: &[u8] = include_bytes!("../../data/sample.geojson");

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
    #[error("{0}")]
    Other(String),
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
    fn of(points: &[ContactPoint]) -> Counts {
        let mut c = Counts { points: points.len(), ..Default::default() };
        for p in points {
            match p.audience {
                Audience::Public => c.public += 1,
                Audience::Unions => c.unions += 1,
            }
            for l in &p.languages {
                *c.languages.entry(l.to_string()).or_default() += 1;
            }
            for d in &p.domains {
                *c.domains.entry(d.code().to_string()).or_default() += 1;
            }
        }
        c
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub sportello_version: String,
    /// RFC 3339, UTC.
    pub built_at: String,
    /// BLAKE3 of `points.geojson`, hex; also the bundle's version string.
    pub content_hash: String,
    pub counts: Counts,
    pub inputs: Vec<InputSummary>,
    /// Invalid records left out with `--skip-invalid` (0 for a strict build).
    pub skipped_invalid: usize,
}

/// Everything one version of the data answers from; shared read-only by all requests.
pub struct Snapshot {
    pub manifest: Manifest,
    /// Every desk, by ordinal (shared with closures that outlive a borrow, such as search scorers).
    pub points: Arc<Vec<ContactPoint>>,
    pub by_id: HashMap<String, u32>,
    pub spatial: SpatialIndex,
    pub text: TextIndex,
    pub taxonomy: &'static Taxonomy,
    /// Where it came from: a bundle path, or `embedded`.
    pub source: String,
}

impl Snapshot {
    fn assemble(points: Vec<ContactPoint>, text: TextIndex, manifest: Manifest, source: String) -> Snapshot {
        let by_id = points.iter().enumerate().map(|(i, p)| (p.id.clone(), i as u32)).collect();
        let spatial = SpatialIndex::build(&points);
        Snapshot { manifest, points: Arc::new(points), by_id, spatial, text, taxonomy: Taxonomy::embedded(), source }
    }

    /// Builds a snapshot in memory (text index in RAM) from valid points.
    pub fn in_memory(points: Vec<ContactPoint>, inputs: Vec<InputSummary>, source: &str) -> Result<Snapshot, BundleError> {
        let text = TextIndex::build(&points, None, Taxonomy::embedded(), &mut |_| {})?;
        let hash = hash_points(&points)?;
        let manifest = manifest(&points, inputs, 0, hash);
        Ok(Self::assemble(points, text, manifest, source.to_string()))
    }

    /// The embedded illustrative dataset, indexed in memory.
    pub fn embedded() -> Result<Snapshot, BundleError> {
        let mut ing = ingest::Ingester::new();
        ing.read_bytes("data/sample.geojson (embedded)", Format::GeoJson, EMBEDDED_SAMPLE, &mut |_| {});
        let ing = ing.finish();
        if let Some(p) = ing.problems.first() {
            return Err(BundleError::Other(format!("the embedded sample is invalid: {p}")));
        }
        Self::in_memory(ing.points, ing.inputs, "embedded")
    }

    /// Loads and checks the bundle in `dir`.
    pub fn load(dir: &Path) -> Result<Snapshot, BundleError> {
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
        let ppath = dir.join("points.geojson");
        let bytes = std::fs::read(&ppath).map_err(io(&ppath))?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        if hash != manifest.content_hash {
            return Err(corrupt("points.geojson does not match the manifest's content_hash".into()));
        }
        let mut ing = ingest::Ingester::new();
        ing.read_bytes(&ppath.display().to_string(), Format::GeoJson, &bytes, &mut |_| {});
        let ing = ing.finish();
        if let Some(p) = ing.problems.first() {
            return Err(corrupt(format!("{p}")));
        }
        if ing.points.len() != manifest.counts.points {
            return Err(corrupt(format!(
                "manifest counts {} points, points.geojson holds {}",
                manifest.counts.points,
                ing.points.len()
            )));
        }
        let text = TextIndex::open(&dir.join("text"), Taxonomy::embedded())?;
        if text.num_docs() as usize != ing.points.len() {
            return Err(corrupt(format!("text index holds {} documents for {} points", text.num_docs(), ing.points.len())));
        }
        Ok(Self::assemble(ing.points, text, manifest, dir.display().to_string()))
    }

    /// The bundle's version: the first 12 hex digits of its content hash.
    pub fn version(&self) -> &str {
        &self.manifest.content_hash[..12.min(self.manifest.content_hash.len())]
    }
}

fn manifest(points: &[ContactPoint], inputs: Vec<InputSummary>, skipped: usize, hash: String) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        sportello_version: env!("CARGO_PKG_VERSION").to_string(),
        built_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        content_hash: hash,
        counts: Counts::of(points),
        inputs,
        skipped_invalid: skipped,
    }
}

/// Writes the points as a FeatureCollection, one feature per line, and returns the BLAKE3 hash.
fn write_points(points: &[ContactPoint], out: impl Write) -> std::io::Result<String> {
    struct Hashing<W> {
        inner: W,
        hasher: blake3::Hasher,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hasher.update(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let mut w = Hashing { inner: out, hasher: blake3::Hasher::new() };
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            w.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut w, &PointFeature { point: p, distance_m: None })?;
    }
    w.write_all(b"\n]}\n")?;
    w.flush()?;
    Ok(w.hasher.finalize().to_hex().to_string())
}

fn hash_points(points: &[ContactPoint]) -> Result<String, BundleError> {
    write_points(points, std::io::sink()).map_err(|e| BundleError::Other(e.to_string()))
}

/// Progress callbacks of a build: a phase name and a total, then increments.
pub trait Progress {
    fn phase(&mut self, name: &str, total: u64);
    fn inc(&mut self, n: u64);
}

/// Writes a bundle of `points` to `out`, atomically. An existing bundle at `out` is replaced as a
/// whole; any other existing path is refused.
pub fn write(
    points: &[ContactPoint],
    inputs: Vec<InputSummary>,
    skipped: usize,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<Manifest, BundleError> {
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
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.tmp-")).tempdir_in(&parent).map_err(io(&parent))?;

    progress.phase("writing points", points.len() as u64);
    let ppath = tmp.path().join("points.geojson");
    let file = File::create(&ppath).map_err(io(&ppath))?;
    let mut bw = BufWriter::with_capacity(1 << 20, file);
    let hash = write_points(points, &mut bw).map_err(io(&ppath))?;
    bw.into_inner().map_err(|e| BundleError::Io { path: ppath.clone(), source: e.into_error() })?.sync_all().map_err(io(&ppath))?;
    progress.inc(points.len() as u64);

    progress.phase("indexing text", points.len() as u64);
    let tdir = tmp.path().join("text");
    std::fs::create_dir(&tdir).map_err(io(&tdir))?;
    TextIndex::build(points, Some(&tdir), Taxonomy::embedded(), &mut |n| progress.inc(n))?;

    let manifest = manifest(points, inputs, skipped, hash);
    let mpath = tmp.path().join("manifest.json");
    let mut mf = File::create(&mpath).map_err(io(&mpath))?;
    serde_json::to_writer_pretty(&mut mf, &manifest).map_err(|e| BundleError::Other(e.to_string()))?;
    mf.write_all(b"\n").map_err(io(&mpath))?;
    mf.sync_all().map_err(io(&mpath))?;

    // Swap into place: the old bundle (if any) moves aside, the new one takes its name.
    let tmp_path = tmp.keep();
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(io(out))?;
        if let Err(e) = std::fs::rename(&tmp_path, out) {
            let _ = std::fs::rename(&old, out);
            return Err(BundleError::Io { path: out.to_path_buf(), source: e });
        }
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    } else {
        std::fs::rename(&tmp_path, out).map_err(io(out))?;
    }
    Ok(manifest)
}
