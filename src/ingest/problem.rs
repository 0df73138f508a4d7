//! A data problem found while reading input: where it is (file, line, record, id, field) and why,
//! in words a data maintainer understands.

use std::fmt;

/// Which record of a file a problem belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The whole file (unreadable, not a FeatureCollection, bad CSV header…).
    File,
    /// The n-th feature (0-based) of a GeoJSON FeatureCollection.
    Feature(usize),
    /// The n-th data row (1-based, header not counted) of a CSV file.
    Row(usize),
    /// The n-th physical location (0-based, in reading order) of an HSDS file.
    Location(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based line where the record starts, when known.
    pub line: Option<u64>,
    pub record: Record,
    /// The record's id, when it has a readable one.
    pub id: Option<String>,
    /// The field (GeoJSON property path, or CSV column) at fault.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        match self.record {
            Record::File => {}
            Record::Feature(i) => write!(f, ": feature #{i}")?,
            Record::Row(r) => write!(f, ": row {r}")?,
            Record::Location(n) => write!(f, ": location #{n}")?,
        }
        if let Some(id) = &self.id {
            write!(f, " (id `{id}`)")?;
        }
        if let Some(field) = &self.field {
            let what = if matches!(self.record, Record::Row(_)) { "column" } else { "field" };
            write!(f, ", {what} `{field}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}
