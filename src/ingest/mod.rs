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

use serde::{Deserialize, Serialize};

use crate::model::ContactPoint;
pub use problem::{Problem, Record};

/// Where a valid record came from, so duplicates can point at the first one.
#[derive(Debug, Clone)]
struct Origin {
    file: String,
    line: Option<u64>,
    record: Record,
}

/// What one input file held.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputSummary {
    pub file: String,
    /// BLAKE3 of the file's bytes.
    pub blake3: String,
    pub records: usize,
    pub valid: usize,
}

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
#[derive(Default)]
pub struct Ingester {
    out: Ingested,
    seen: HashMap<String, Origin>,
}

impl Ingester {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one file from disk.
    pub fn read_file(&mut self, path: &Path, on_record: &mut dyn FnMut(u64)) {
        let name = path.display().to_string();
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
        let (mut records, mut valid) = (0, 0);
        let mut sink = |raw: RawRecord| {
            records += 1;
            on_record(1);
            if self.accept(name, raw) {
                valid += 1;
            }
        };
        let mut warnings = Vec::new();
        let result = match format {
            Format::GeoJson => geojson::read(bytes, &mut sink),
            Format::Csv => csv::read(bytes, &mut sink),
            Format::Hsds => hsds::read(bytes, &mut sink, &mut |w| warnings.push(w)),
            Format::HsdsTabular => Err((None, "a datapackage.json is read from its folder (Ingester::read_file)".into())),
        };
        for (id, field, reason) in warnings {
            self.out.warnings.push(Problem { file: name.to_string(), line: None, record: Record::File, id, field, reason });
        }
        if let Err((line, reason)) = result {
            self.file_problem(name, line, reason);
        }
        self.out.inputs.push(InputSummary {
            file: name.to_string(),
            blake3: blake3::hash(bytes).to_hex().to_string(),
            records,
            valid,
        });
    }

    fn file_problem(&mut self, file: &str, line: Option<u64>, reason: String) {
        self.out.problems.push(Problem { file: file.into(), line, record: Record::File, id: None, field: None, reason });
    }

    fn accept(&mut self, file: &str, raw: RawRecord) -> bool {
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
                        _ => first.file.clone(),
                    };
                    let p = problem(Some((raw.field_name)("id")), format!("duplicate id: already used by {at}"));
                    self.out.problems.push(p);
                    self.out.invalid_records += 1;
                    return false;
                }
                self.seen.insert(
                    point.id.clone(),
                    Origin { file: file.to_string(), line: raw.line, record: raw.record.clone() },
                );
                self.out.points.push(point);
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
