//! Reading desks from data files (GeoJSON FeatureCollections, CSV and Open Referral HSDS 3.0 JSON),
//! with validation that reports every bad record with its place and reason. Nothing here is dropped or altered silently: a record
//! is either accepted as it is, or listed in [`Ingested::problems`].

pub mod countries;
pub mod csv;
pub mod geojson;
pub mod hsds;
pub mod hsds_tabular;
pub mod problem;
pub mod validate;

use std::collections::HashMap;
use std::path::Path;


use crate::model::ContactPoint;
pub use problem::{Problem, Record};

/// Where a valid record came from, so duplicates can point at the first one.
#[derive(Debug, Clone)]
struct Origin {
    file: std::sync::Arc<str>,
    line: Option<u64>,
    record: Record,
}

pub use crate::model::InputSummary;

/// The result of reading all inputs: the valid desks, in input order, and every problem.
#[derive(Debug, Default)]
pub struct Ingested {
    pub points: Vec<ContactPoint>,
    pub problems: Vec<Problem>,
    pub inputs: Vec<InputSummary>,
    /// Number of records with at least one problem.
    pub invalid_records: usize,
    /// What was read but could not be used, without making a record invalid (an HSDS taxonomy
    /// term that maps to no domain, a language name without a code, a virtual location…).
    pub warnings: Vec<Problem>,
}

/// One record as read from a file, before validation.
pub(crate) struct RawRecord {
    pub line: Option<u64>,
    pub record: Record,
    pub feature: serde_json::Value,
    /// Maps a GeoJSON field path to the name the file uses (CSV column), for reports.
    pub field_name: fn(&str) -> String,
}

/// Hashes the bytes read through it.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The input format, from the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    GeoJson,
    Csv,
    /// Open Referral HSDS 3.0, JSON form (`.hsds.json`).
    Hsds,
    /// Open Referral HSDS 3.0, tabular form: a `datapackage.json` beside its CSV files.
    HsdsTabular,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".hsds.json") || name.ends_with(".hsds") {
            return Some(Format::Hsds);
        }
        if name == "datapackage.json" {
            return Some(Format::HsdsTabular);
        }
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "geojson" | "json" => Some(Format::GeoJson),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// Accumulates records from any number of files, checking each and catching duplicate ids.
/// The valid desks are kept in [`Ingested::points`], or handed one by one to a sink
/// ([`Ingester::streaming`]) by a build that cannot hold them all.
#[derive(Default)]
pub struct Ingester<'s> {
    out: Ingested,
    seen: HashMap<String, Origin>,
    sink: Option<&'s mut dyn FnMut(ContactPoint)>,
}

impl<'s> Ingester<'s> {
    pub fn new() -> Self {
        Self::default()
    }

    /// An ingester that hands every valid desk to `sink`, in input order, instead of keeping it.
    pub fn streaming(sink: &'s mut dyn FnMut(ContactPoint)) -> Self {
        Ingester { sink: Some(sink), ..Self::default() }
    }

    /// Reads one file from disk. GeoJSON is read as a stream (a build of millions of desks never
    /// holds the file); the other formats are read whole.
    pub fn read_file(&mut self, path: &Path, on_record: &mut dyn FnMut(u64)) {
        let name = path.display().to_string();
        if Format::of(path) == Some(Format::GeoJson) {
            // Hashed below the buffer, so in large reads.
            let open = || std::fs::File::open(path).map(|f| std::io::BufReader::with_capacity(1 << 20, Hashing { inner: f, hasher: blake3::Hasher::new() }));
            let input = match open() {
                Ok(f) => f,
                Err(e) => return self.file_problem(&name, None, format!("cannot read the file: {e}")),
            };
            self.read_with(&name, on_record, move |sink, _| {
                let (result, mut input) = geojson::read_from(input, &open, sink);
                // What the reader left (the rest after a fault) is hashed too, so the summary
                // names the whole file.
                let drained = std::io::copy(&mut input, &mut std::io::sink());
                let hash = drained.map(|_| input.get_ref().hasher.finalize().to_hex().to_string()).unwrap_or_else(|e| format!("unreadable: {e}"));
                (result, hash)
            });
            return;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                self.file_problem(&name, None, format!("cannot read the file: {e}"));
                return;
            }
        };
        match Format::of(path) {
            // The tables are joined into the JSON form; the package's summary hashes that.
            Some(Format::HsdsTabular) => match hsds_tabular::read(path.parent().unwrap_or(Path::new(".")), &bytes) {
                Ok(v) => self.read_bytes(&name, Format::Hsds, v.to_string().as_bytes(), on_record),
                Err((line, reason)) => self.file_problem(&name, line, reason),
            },
            Some(f) => self.read_bytes(&name, f, &bytes, on_record),
            None => self.file_problem(
                &name,
                None,
                "unknown file type: use .geojson (or .json) for a GeoJSON FeatureCollection, .csv for CSV, .hsds.json or a datapackage.json for Open Referral HSDS 3.0".into(),
            ),
        }
    }

    /// Reads one file already in memory; `name` is how reports refer to it.
    pub fn read_bytes(&mut self, name: &str, format: Format, bytes: &[u8], on_record: &mut dyn FnMut(u64)) {
        self.read_with(name, on_record, |sink, warnings| {
            let result = match format {
                Format::GeoJson => geojson::read(bytes, sink),
                Format::Csv => csv::read(bytes, sink),
                Format::Hsds => hsds::read(bytes, sink, &mut |w| warnings.push(w)),
                Format::HsdsTabular => Err((None, "a datapackage.json is read from its folder (Ingester::read_file)".into())),
            };
            (result, blake3::hash(bytes).to_hex().to_string())
        });
    }

    /// Runs a format's reader (`parse`, which feeds records to a sink, may warn, and gives the
    /// file's BLAKE3 once it is read), checks every record, and sums the file up. The reader runs
    /// on a thread of its own, handing records over in batches, so reading and checking share the
    /// machine's cores; records are checked in the order they were read.
    fn read_with(
        &mut self,
        name: &str,
        on_record: &mut dyn FnMut(u64),
        parse: impl FnOnce(&mut dyn FnMut(RawRecord), &mut Vec<hsds::Warning>) -> (Result<(), (Option<u64>, String)>, String) + Send,
    ) {
        const BATCH: usize = 512;
        let (mut records, mut valid) = (0, 0);
        let file: std::sync::Arc<str> = name.into();
        let ((result, hash), warnings) = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<RawRecord>>(16);
            let reader = s.spawn(move || {
                let mut warnings = Vec::new();
                let mut batch = Vec::with_capacity(BATCH);
                let out = parse(
                    &mut |raw| {
                        batch.push(raw);
                        if batch.len() == BATCH {
                            // A closed channel means the checking side has gone: nothing to do.
                            let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                        }
                    },
                    &mut warnings,
                );
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                (out, warnings)
            });
            for batch in rx {
                for raw in batch {
                    records += 1;
                    on_record(1);
                    if self.accept(&file, raw) {
                        valid += 1;
                    }
                }
            }
            reader.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        for (id, field, reason) in warnings {
            self.out.warnings.push(Problem { file: name.to_string(), line: None, record: Record::File, id, field, reason });
        }
        if let Err((line, reason)) = result {
            self.file_problem(name, line, reason);
        }
        self.out.inputs.push(InputSummary { file: name.to_string(), blake3: hash, records, valid });
    }

    fn file_problem(&mut self, file: &str, line: Option<u64>, reason: String) {
        self.out.problems.push(Problem { file: file.into(), line, record: Record::File, id: None, field: None, reason });
    }

    fn accept(&mut self, file: &std::sync::Arc<str>, raw: RawRecord) -> bool {
        let id = validate::record_id(&raw.feature);
        let problem = |field: Option<String>, reason: String| Problem {
            file: file.to_string(),
            line: raw.line,
            record: raw.record.clone(),
            id: id.clone(),
            field,
            reason,
        };
        match validate::feature(&raw.feature) {
            Ok(point) => {
                if let Some(first) = self.seen.get(&point.id) {
                    let at = match (&first.record, first.line) {
                        (Record::Feature(i), Some(l)) => format!("feature #{i} at {}:{l}", first.file),
                        (Record::Row(r), Some(l)) => format!("row {r} at {}:{l}", first.file),
                        (Record::Location(n), _) => format!("location #{n} of {}", first.file),
                        _ => first.file.to_string(),
                    };
                    let p = problem(Some((raw.field_name)("id")), format!("duplicate id: already used by {at}"));
                    self.out.problems.push(p);
                    self.out.invalid_records += 1;
                    return false;
                }
                self.seen.insert(
                    point.id.clone(),
                    Origin { file: file.clone(), line: raw.line, record: raw.record.clone() },
                );
                match &mut self.sink {
                    Some(sink) => sink(point),
                    None => self.out.points.push(point),
                }
                true
            }
            Err(fields) => {
                self.out.invalid_records += 1;
                for f in fields {
                    let p = problem(Some((raw.field_name)(&f.field)), f.reason);
                    self.out.problems.push(p);
                }
                false
            }
        }
    }

    pub fn finish(self) -> Ingested {
        self.out
    }
}

/// Reads every file in `paths`.
pub fn read_files(paths: &[impl AsRef<Path>], on_record: &mut dyn FnMut(u64)) -> Ingested {
    let mut ing = Ingester::new();
    for p in paths {
        ing.read_file(p.as_ref(), on_record);
    }
    ing.finish()
}
