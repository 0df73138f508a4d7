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
    read_from(bytes, &|| Ok(bytes), sink).0
}

/// Feeds each feature of the FeatureCollection read from `input` to `sink` as it is read, and
/// gives `input` back (read to its end when the file is sound).
///
/// The fast way: [`Scanner`] finds where each feature starts and ends in large reads, and
/// serde_json parses the feature from those bytes. If the file is not what that expects, it is
/// read again from the start (`reopen`) by serde_json alone (a byte at a time, several times
/// slower), whose report is the one given: the place and reason of the first fault; nothing
/// more is handed to `sink` then.
pub(crate) fn read_from<R: Read>(input: R, reopen: &dyn Fn() -> std::io::Result<R>, sink: &mut dyn FnMut(RawRecord)) -> (Result<(), FileError>, R) {
    let mut scanner = Scanner::new(input);
    let result = scanner.collection(sink);
    let input = scanner.input;
    match result {
        Ok(()) => (Ok(()), input),
        Err(fault) => {
            let diagnosis = match reopen() {
                Ok(again) => read_slowly(again, &mut |_| {}).err(),
                Err(_) => None,
            };
            (Err(diagnosis.unwrap_or(fault)), input)
        }
    }
}

/// Finds the features of a FeatureCollection in a stream without parsing them: strings (with
/// their escapes) and bracket depth are followed, every other byte left to serde_json, which
/// parses each feature, the `type` and every foreign member from the bytes found here. The
/// buffer holds the feature being read and what is left of the last read, so memory does not
/// grow with the file.
struct Scanner<R> {
    input: R,
    /// Read bytes are `buf[..end]`; the rest is room for the next read.
    buf: Vec<u8>,
    end: usize,
    /// Where reading is in `buf`.
    pos: usize,
    eof: bool,
    /// Newlines before `buf[counted]`.
    line: u64,
    counted: usize,
}

const READ_SIZE: usize = 1 << 20;

impl<R: Read> Scanner<R> {
    fn new(input: R) -> Self {
        Scanner { input, buf: Vec::new(), end: 0, pos: 0, eof: false, line: 0, counted: 0 }
    }

    fn fault(&mut self, what: &str) -> FileError {
        let line = self.line_at(self.pos.min(self.end));
        (Some(line), format!("not valid JSON: {what}"))
    }

    /// The 1-based line of `buf[at]` (`at` not before anything asked earlier).
    fn line_at(&mut self, at: usize) -> u64 {
        self.line += self.buf[self.counted..at].iter().filter(|&&b| b == b'\n').count() as u64;
        self.counted = at;
        self.line + 1
    }

    /// Reads more, dropping what was consumed before `keep` once that is more than a read's worth;
    /// false at the end of the input.
    fn fill(&mut self, keep: usize) -> Result<bool, FileError> {
        if self.eof {
            return Ok(false);
        }
        if keep > READ_SIZE {
            self.line_at(keep);
            self.buf.copy_within(keep..self.end, 0);
            self.end -= keep;
            self.pos -= keep;
            self.counted -= keep;
        }
        if self.buf.len() < self.end + READ_SIZE {
            self.buf.resize(self.end + READ_SIZE, 0);
        }
        let n = loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err((None, format!("cannot read the file: {e}"))),
            }
        };
        self.end += n;
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// The next byte that is not white space (not consumed), or None at the end.
    fn peek(&mut self) -> Result<Option<u8>, FileError> {
        loop {
            while self.pos < self.end {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                    b => return Ok(Some(b)),
                }
            }
            if !self.fill(self.pos)? {
                return Ok(None);
            }
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), FileError> {
        if self.peek()? == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fault(&format!("expected `{}`", b as char)))
        }
    }

    /// After a member or an element: true past a `,` (another follows), false past `close`.
    fn more(&mut self, close: u8) -> Result<bool, FileError> {
        match self.peek()? {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.fault(&format!("expected `,` or `{}`", close as char))),
        }
    }

    /// Skips one value from `pos` (the next byte is not white space); its range in `buf`.
    fn value(&mut self) -> Result<(usize, usize), FileError> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        // How far past `pos` the value goes so far (`pos` itself moves if a read drops bytes).
        let mut len = 0;
        loop {
            let i = self.pos + len;
            if i == self.end {
                if !self.fill(self.pos)? {
                    if in_string || depth > 0 || len == 0 {
                        return Err(self.fault("unexpected end of the file"));
                    }
                    break;
                }
                continue;
            }
            let b = self.buf[i];
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if depth == 0 {
                        len += 1;
                        break;
                    }
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth == 0 => break,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            len += 1;
                            break;
                        }
                    }
                    b',' | b' ' | b'\t' | b'\n' | b'\r' | b':' if depth == 0 => break,
                    _ => {}
                }
            }
            len += 1;
        }
        let start = self.pos;
        self.pos += len;
        Ok((start, self.pos))
    }

    /// The top-level object, each feature handed to `sink` as soon as it is found.
    fn collection(&mut self, sink: &mut dyn FnMut(RawRecord)) -> Result<(), FileError> {
        let (mut kind, mut features) = (None, None);
        self.expect(b'{')?;
        if self.peek()? == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                if self.peek()? != Some(b'"') {
                    return Err(self.fault("key must be a string"));
                }
                let (a, b) = self.value()?;
                let key: String = serde_json::from_slice(&self.buf[a..b]).map_err(|e| self.fault(&e.to_string()))?;
                self.expect(b':')?;
                if self.peek()?.is_none() {
                    return Err(self.fault("unexpected end of the file"));
                }
                let seen = match key.as_str() {
                    "type" => kind.is_some(),
                    "features" => features.is_some(),
                    _ => false,
                };
                if seen {
                    return Err(self.fault(&format!("duplicate field `{key}`")));
                }
                match key.as_str() {
                    "features" => features = Some(self.features(sink)?),
                    _ => {
                        let (a, b) = self.value()?;
                        let v = &self.buf[a..b];
                        if key == "type" {
                            let t: Option<String> = serde_json::from_slice(v).map_err(|e| self.fault(&e.to_string()))?;
                            kind = Some(t);
                        } else {
                            serde_json::from_slice::<IgnoredAny>(v).map_err(|e| self.fault(&e.to_string()))?;
                        }
                    }
                }
                if !self.more(b'}')? {
                    break;
                }
            }
        }
        if self.peek()?.is_some() {
            return Err(self.fault("trailing characters"));
        }
        if kind.flatten().as_deref() != Some("FeatureCollection") {
            return Err((Some(1), "not a GeoJSON FeatureCollection: the top-level `type` must be \"FeatureCollection\"".into()));
        }
        if features != Some(true) {
            return Err((Some(1), "the FeatureCollection has no `features` array".into()));
        }
        Ok(())
    }

    /// The `features` member: `null` (false), or the array (true), its features handed on.
    fn features(&mut self, sink: &mut dyn FnMut(RawRecord)) -> Result<bool, FileError> {
        if self.peek()? == Some(b'n') {
            let (a, b) = self.value()?;
            serde_json::from_slice::<()>(&self.buf[a..b]).map_err(|e| self.fault(&e.to_string()))?;
            return Ok(false);
        }
        self.expect(b'[')?;
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(true);
        }
        for i in 0.. {
            if self.peek()?.is_none() {
                return Err(self.fault("unexpected end of the file"));
            }
            let (a, b) = self.value()?;
            let line = self.line_at(a);
            // Any fault in the feature (bad syntax, a number beyond f64 such as `1e400`) is
            // reported by the slow reading, where it is.
            let feature = serde_json::from_slice(&self.buf[a..b]).map_err(|e| (Some(line + e.line() as u64 - 1), format!("feature #{i}: not valid JSON: {e}")))?;
            sink(RawRecord { line: Some(line), record: Record::Feature(i), feature, field_name: property_path });
            if !self.more(b']')? {
                break;
            }
        }
        Ok(true)
    }
}

/// Feeds each feature of the FeatureCollection read from `input` to `sink`, serde_json reading
/// the whole document a byte at a time: the reference reading, whose reports name the first
/// fault's place and reason as serde_json sees it.
fn read_slowly(input: impl Read, sink: &mut dyn FnMut(RawRecord)) -> Result<(), FileError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes a read, so the scanner refills mid-value.
    struct Trickle<'a> {
        b: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.b.len());
            buf[..n].copy_from_slice(&self.b[..n]);
            self.b = &self.b[n..];
            Ok(n)
        }
    }

    type Outcome = (Result<(), FileError>, Vec<(Option<u64>, serde_json::Value)>);

    fn fast(doc: &[u8], step: usize) -> Outcome {
        let mut got = Vec::new();
        let r = read_from(Trickle { b: doc, step }, &|| Ok(Trickle { b: doc, step }), &mut |raw| got.push((raw.line, raw.feature))).0;
        (r, got)
    }

    fn slow(doc: &[u8]) -> Outcome {
        let mut got = Vec::new();
        let r = read_slowly(doc, &mut |raw| got.push((raw.line, raw.feature)));
        (r, got)
    }

    /// The scanner's reading agrees with serde_json's own: the same features at the same lines,
    /// or the same report.
    fn agree(doc: &str) {
        let s = slow(doc.as_bytes());
        for step in [1, 7, 4096, usize::MAX] {
            let f = fast(doc.as_bytes(), step);
            match (&s.0, &f.0) {
                (Ok(()), Ok(())) => assert_eq!(f.1, s.1, "features of {doc:?} (reads of {step})"),
                _ => assert_eq!(f.0, s.0, "outcome of {doc:?} (reads of {step})"),
            }
        }
    }

    #[test]
    fn the_scanner_reads_what_serde_json_reads() {
        let docs = [
            r#"{"type":"FeatureCollection","features":[]}"#,
            "{\n \"type\" : \"FeatureCollection\" ,\n \"features\" : [\n {\"type\":\"Feature\",\"id\":\"a\"} ,\n\n {\"id\":\"b\",\"x\":[1,2,{\"y\":\"]}\\\"\"}]}\n ]\n}\n",
            r#"{"name":"x","bbox":[1,2,3,4],"features":[{"s":"a \\\" [ { } ] \\\\"}],"crs":null,"type":"FeatureCollection"}"#,
            r#"{"features":[{"n":1e400}],"type":"FeatureCollection"}"#,
            r#"{"type":"FeatureCollection","features":null}"#,
            r#"{"type":"FeatureCollection"}"#,
            r#"{"type":"Feature","features":[]}"#,
            r#"{"type":"FeatureCollection","features":[{"a":1},]}"#,
            r#"{"type":"FeatureCollection","features":[{"a":1}{"b":2}]}"#,
            r#"{"type":"FeatureCollection","features":[{"a":1}]} x"#,
            r#"{"type":"FeatureCollection","features":[{"a":1}"#,
            r#"{"type":"FeatureCollection","features":[{"a":"unterminated}]}"#,
            r#"{"type":"FeatureCollection","features":[{"type": "Feature",,}]}"#,
            r#"{"type":"FeatureCollection","type":"FeatureCollection","features":[]}"#,
            r#"{"type":"FeatureCollection","features":[],"features":[]}"#,
            r#"{"type":"FeatureCollection","features":[1, "two", null, [3]]}"#,
            r#"{type:"FeatureCollection"}"#,
            r#"[]"#,
            "",
            "   ",
            r#"{"type":"FeatureCollection","features":[{"a":"\u00e9\ud83d\ude00"}],"x":{"deep":[[[[]]]]}}"#,
        ];
        for d in docs {
            agree(d);
        }
        // Every prefix of a small document, and every one-byte deletion: each reading either
        // fails the same way or reads the same features.
        let doc = "{\"type\": \"FeatureCollection\", \"extra\": {\"k\": [1, 2]},\n\"features\": [\n {\"id\": \"a\", \"p\": {\"s\": \"x\\\"y\"}},\n {\"id\": \"b\"}\n]}\n";
        for i in 0..doc.len() {
            agree(&doc[..i]);
            agree(&format!("{}{}", &doc[..i], &doc[i + 1..]));
        }
    }

    #[test]
    fn features_larger_than_a_read_keep_their_lines() {
        // Past the 1 MB read size, with features that straddle reads.
        let big = "x".repeat(300_000);
        let mut doc = String::from("{\"type\":\"FeatureCollection\",\"features\":[\n");
        for i in 0..12 {
            if i > 0 {
                doc.push_str(",\n\n");
            }
            doc.push_str(&format!("{{\"id\":\"f{i}\",\"pad\":\"{big}\",\n\"n\":{i}}}"));
        }
        doc.push_str("\n]}\n");
        agree(&doc);
        let (r, got) = fast(doc.as_bytes(), usize::MAX);
        assert!(r.is_ok());
        assert_eq!(got.len(), 12);
        assert_eq!(got[3].0, Some(2 + 3 * 3), "each feature starts two lines after the last one's start");
    }
}
