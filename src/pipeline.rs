//! The offline rebuild's pipeline, above `ingest/` and `index/`: input files are read and
//! validated by `ingest`, and the valid desks indexed and written by `index`, which never reads an
//! input file itself. Also the embedded illustrative dataset, read and indexed in memory for
//! `serve` and `query` without a bundle.

use crate::index::{BundleError, Snapshot};
use crate::ingest::{Format, Ingester};

/// The default dataset compiled into the binary.
pub const EMBEDDED_SAMPLE: &[u8] = include_bytes!("../data/sample.geojson");

/// The embedded illustrative dataset, validated and indexed in memory.
pub fn embedded() -> Result<Snapshot, BundleError> {
    let mut ing = Ingester::new();
    ing.read_bytes("data/sample.geojson (embedded)", Format::GeoJson, EMBEDDED_SAMPLE, &mut |_| {});
    let ing = ing.finish();
    if let Some(p) = ing.problems.first() {
        return Err(BundleError::Other(format!("the embedded sample is invalid: {p}")));
    }
    Snapshot::in_memory(ing.points, ing.inputs, "embedded")
}
