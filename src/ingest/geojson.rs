//! GeoJSON input: one FeatureCollection per file; foreign members at the top are allowed and kept
//! out of the records. Each feature's starting line is computed so reports can point at it.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{RawRecord, Record};

#[derive(Deserialize)]
struct Collection<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow)]
    features: Option<Vec<&'a RawValue>>,
}

/// Feeds each feature of a FeatureCollection to `sink`; a file-level error is (line, reason).
pub(crate) fn read(bytes: &[u8], sink: &mut dyn FnMut(RawRecord)) -> Result<(), (Option<u64>, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        (Some(line), format!("not UTF-8 text: {e}"))
    })?;
    let coll: Collection = serde_json::from_str(text)
        .map_err(|e| (Some(e.line() as u64), format!("not valid JSON: {e}")))?;
    if coll.kind.as_deref() != Some("FeatureCollection") {
        return Err((Some(1), "not a GeoJSON FeatureCollection: the top-level `type` must be \"FeatureCollection\"".into()));
    }
    let Some(features) = coll.features else {
        return Err((Some(1), "the FeatureCollection has no `features` array".into()));
    };
    let (mut line, mut scanned) = (1u64, 0usize);
    for (i, raw) in features.into_iter().enumerate() {
        let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        line += text.as_bytes()[scanned..offset].iter().filter(|&&b| b == b'\n').count() as u64;
        scanned = offset;
        // A raw value is well-formed JSON, but its numbers are not yet read: one beyond the range
        // of f64 (`1e400`) fails here, and is reported where it is.
        let feature = serde_json::from_str(raw.get())
            .map_err(|e| (Some(line + e.line() as u64 - 1), format!("feature #{i}: not valid JSON: {e}")))?;
        sink(RawRecord { line: Some(line), record: Record::Feature(i), feature, field_name: property_path });
    }
    Ok(())
}

/// GeoJSON reports name fields as paths inside `properties` (or `id`, `geometry…`).
fn property_path(field: &str) -> String {
    field.to_string()
}
