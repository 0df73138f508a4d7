//! GeoJSON input: one FeatureCollection per file; foreign members at the top are allowed and kept
//! out of the records. The file is read as a stream, each feature handed on as soon as it is
//! read, so a file of any size is read in constant memory; each feature's starting line is
//! counted so reports can point at it.

use std::cell::Cell;
use std::fmt;
use std::io::Read;
use std::rc::Rc;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{RawRecord, Record};

/// A file-level error: the line, when known, and the reason.
type FileError = (Option<u64>, String);

/// Feeds each feature of a FeatureCollection held in memory to `sink`.
pub(crate) fn read(bytes: &[u8], sink: &mut dyn FnMut(RawRecord)) -> Result<(), FileError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        return Err((Some(line), format!("not UTF-8 text: {e}")));
    }
    read_from(bytes, sink)
}

/// Feeds each feature of the FeatureCollection read from `input` to `sink` as it is read.
pub(crate) fn read_from(input: impl Read, sink: &mut dyn FnMut(RawRecord)) -> Result<(), FileError> {
    let newlines = Rc::new(Cell::new(0u64));
    let reader = LineCounter { inner: input, newlines: newlines.clone() };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failed = None;
    let seed = CollectionSeed { sink, newlines: &newlines, failed: &mut failed };
    let parsed = seed.deserialize(&mut de).and_then(|c| de.end().map(|_| c));
    if let Some(f) = failed {
        return Err(f);
    }
    let (kind, features) = parsed.map_err(|e| (Some(e.line() as u64), format!("not valid JSON: {e}")))?;
    if kind.as_deref() != Some("FeatureCollection") {
        return Err((Some(1), "not a GeoJSON FeatureCollection: the top-level `type` must be \"FeatureCollection\"".into()));
    }
    if !features {
        return Err((Some(1), "the FeatureCollection has no `features` array".into()));
    }
    Ok(())
}

/// Counts the newlines of the bytes read through it. serde_json reads its input a byte at a
/// time and stops right after a value, so the count is exact at the end of each feature.
struct LineCounter<R> {
    inner: R,
    newlines: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.newlines.set(self.newlines.get() + lines);
        Ok(n)
    }
}

/// The top-level object: its `type`, and whether it had a `features` array (whose features are
/// handed to the sink while it is read).
struct CollectionSeed<'a, 'b> {
    sink: &'a mut dyn FnMut(RawRecord),
    newlines: &'a Cell<u64>,
    failed: &'b mut Option<FileError>,
}

impl<'de> DeserializeSeed<'de> for CollectionSeed<'_, '_> {
    type Value = (Option<String>, bool);
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CollectionSeed<'_, '_> {
    type Value = (Option<String>, bool);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut kind, mut features) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" if kind.is_some() => return Err(A::Error::duplicate_field("type")),
                "type" => kind = Some(map.next_value::<Option<String>>()?),
                "features" if features.is_some() => return Err(A::Error::duplicate_field("features")),
                "features" => {
                    let seed = FeaturesSeed { sink: &mut *self.sink, newlines: self.newlines, failed: &mut *self.failed };
                    features = Some(map.next_value_seed(seed)?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((kind.flatten(), features.unwrap_or(false)))
    }
}

/// The `features` member: `null` (no array), or the array, each feature handed on as read.
struct FeaturesSeed<'a, 'b> {
    sink: &'a mut dyn FnMut(RawRecord),
    newlines: &'a Cell<u64>,
    failed: &'b mut Option<FileError>,
}

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_, '_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of GeoJSON features")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut i = 0;
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let text = raw.get();
            // The reader has just passed the feature's last byte.
            let line = 1 + self.newlines.get() - text.bytes().filter(|&b| b == b'\n').count() as u64;
            // A raw value is well-formed JSON, but its numbers are not yet read: one beyond the
            // range of f64 (`1e400`) fails here, and is reported where it is.
            let feature = match serde_json::from_str(text) {
                Ok(f) => f,
                Err(e) => {
                    *self.failed = Some((Some(line + e.line() as u64 - 1), format!("feature #{i}: not valid JSON: {e}")));
                    return Err(A::Error::custom("stopped at an unreadable feature"));
                }
            };
            (self.sink)(RawRecord { line: Some(line), record: Record::Feature(i), feature, field_name: property_path });
            i += 1;
        }
        Ok(true)
    }
}

/// GeoJSON reports name fields as paths inside `properties` (or `id`, `geometry…`).
fn property_path(field: &str) -> String {
    field.to_string()
}
