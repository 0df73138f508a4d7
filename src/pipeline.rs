//! The offline rebuild's pipeline, above `ingest/` and `index/`: input files are read and
//! validated by `ingest`, the valid desks spilled to a temporary file and put in bundle order
//! here, then indexed and written by `index`, which never reads an input file itself. Also the embedded illustrative dataset, read and indexed in memory for
//! `serve` and `query` without a bundle.

use std::io::Write;
use std::path::Path;

use crate::index::bundle::{self, Counts, EachDesk, OrderedDesks};
use crate::index::store;
use crate::index::{BundleError, Snapshot};
use crate::ingest::{Format, Ingested, Ingester};
use crate::model::ContactPoint;

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

/// The valid desks of a build, read from its inputs and spilled to an unnamed temporary file as
/// their stored features, so that a build holds a few dozen bytes per desk rather than the
/// records: each desk's place in the file, its place on the Z-order curve and its id. Once every
/// input is read the desks are put in bundle order ([`crate::index::bundle::spatial_order`]'s
/// order: curve, then id) and read back one by one by the bundle writer.
pub struct Spill {
    out: std::io::BufWriter<std::fs::File>,
    /// Where each desk's feature starts in the file; the last entry is the file's length.
    starts: Vec<u64>,
    keys: Vec<u64>,
    ids: Vec<u8>,
    id_ends: Vec<usize>,
    counts: Counts,
    /// Desks (by place in the file) in bundle order, once sealed.
    order: Vec<u32>,
    buf: Vec<u8>,
    /// The first write that failed (the ingester's sink cannot return it).
    failed: Option<std::io::Error>,
}

impl Spill {
    /// A spill in a new unnamed file in `dir` (gone when the spill is dropped, or the process
    /// ends, however it ends).
    pub fn create(dir: &Path) -> std::io::Result<Spill> {
        let file = tempfile::tempfile_in(dir)?;
        Ok(Spill {
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            starts: vec![0],
            keys: Vec::new(),
            ids: Vec::new(),
            id_ends: vec![0],
            counts: Counts::default(),
            order: Vec::new(),
            buf: Vec::new(),
            failed: None,
        })
    }

    /// Adds a valid desk.
    pub fn push(&mut self, p: ContactPoint) {
        if self.failed.is_some() {
            return;
        }
        if self.keys.len() >= u32::MAX as usize {
            self.failed = Some(std::io::Error::other("more than 4,294,967,295 desks"));
            return;
        }
        self.buf.clear();
        store::write_stored(&p, &mut self.buf);
        if let Err(e) = self.out.write_all(&self.buf) {
            self.failed = Some(e);
            return;
        }
        self.starts.push(self.starts[self.starts.len() - 1] + self.buf.len() as u64);
        self.keys.push(bundle::spatial_key(&p));
        self.ids.extend_from_slice(p.id.as_bytes());
        self.id_ends.push(self.ids.len());
        self.counts.add(&p);
    }

    /// Ends the reading: the file flushed, the desks put in bundle order.
    pub fn seal(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.out.flush()?;
        let (keys, ids, ends) = (&self.keys, &self.ids, &self.id_ends);
        let id = |i: u32| &ids[ends[i as usize]..ends[i as usize + 1]];
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]).then_with(|| id(a).cmp(id(b))));
        self.order = order;
        self.keys = Vec::new();
        self.ids = Vec::new();
        self.id_ends = Vec::new();
        Ok(())
    }

    /// The stored feature of the desk at place `i` of the file, into `buf`.
    fn read(&self, i: u32, buf: &mut Vec<u8>) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let (start, end) = (self.starts[i as usize], self.starts[i as usize + 1]);
        buf.resize((end - start) as usize, 0);
        self.out.get_ref().read_exact_at(buf, start)
    }
}

fn spill_error(e: std::io::Error) -> BundleError {
    BundleError::Other(format!("the build's temporary file: {e}"))
}

impl OrderedDesks for Spill {
    fn len(&self) -> usize {
        self.order.len()
    }

    fn counts(&self) -> Counts {
        self.counts.clone()
    }

    fn feature(&mut self, ord: usize, buf: &mut Vec<u8>) -> Result<(), BundleError> {
        self.read(self.order[ord], buf).map_err(spill_error)
    }

    /// The desks are read back and parsed on a thread of their own, in batches, while `f`
    /// writes them on this one.
    fn each(&mut self, f: &mut EachDesk) -> Result<(), BundleError> {
        const BATCH: usize = 256;
        type Batch = Vec<(Vec<u8>, ContactPoint)>;
        let this = &*self;
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Batch, BundleError>>(8);
            let reader = s.spawn(move || {
                for chunk in this.order.chunks(BATCH) {
                    let batch: Result<Batch, BundleError> = chunk
                        .iter()
                        .map(|&i| {
                            let mut buf = Vec::new();
                            this.read(i, &mut buf).map_err(spill_error)?;
                            let p = store::read_stored(&buf).map_err(|e| BundleError::Other(format!("the build's temporary file, desk {i}: {e}")))?;
                            Ok((buf, p))
                        })
                        .collect();
                    let failed = batch.is_err();
                    // A closed channel means the writing side stopped (it reports why).
                    if tx.send(batch).is_err() || failed {
                        return;
                    }
                }
            });
            let mut ord = 0;
            for batch in rx {
                for (buf, p) in batch? {
                    f(ord, &buf, &p)?;
                    ord += 1;
                }
            }
            reader.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            Ok(())
        })
    }
}

/// Reads and checks every input, spilling the valid desks to a temporary file in `dir` (see
/// [`Spill`]); what the files held beyond the desks (problems, warnings, summaries) comes back
/// as [`Ingested`], its `points` empty.
pub fn read(inputs: &[impl AsRef<Path>], dir: &Path, on_record: &mut dyn FnMut(u64)) -> Result<(Ingested, Spill), BundleError> {
    let mut spill = Spill::create(dir).map_err(spill_error)?;
    let ing = {
        let mut sink = |p: ContactPoint| spill.push(p);
        let mut ing = Ingester::streaming(&mut sink);
        for p in inputs {
            ing.read_file(p.as_ref(), on_record);
        }
        ing.finish()
    };
    spill.seal().map_err(spill_error)?;
    Ok((ing, spill))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::bundle::Progress;

    struct Quiet;
    impl Progress for Quiet {
        fn phase(&mut self, _: &str, _: u64) {}
        fn inc(&mut self, _: u64) {}
    }

    /// Every file of the bundle in `dir` (the text index's by name and size: tantivy names its
    /// segments at random), the manifest without its build time.
    fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                let n = std::fs::read_dir(&p).unwrap().count();
                out.push((name, n.to_string().into_bytes()));
            } else if name == "manifest.json" {
                let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                m["built_at"] = serde_json::Value::Null;
                out.push((name, m.to_string().into_bytes()));
            } else {
                out.push((name, std::fs::read(&p).unwrap()));
            }
        }
        out.sort();
        out
    }

    /// The spilled build writes the bundle the in-memory one writes, byte for byte, from inputs
    /// in two files with a bad record, a duplicate id and desks at the same place.
    #[test]
    fn a_spilled_build_is_the_in_memory_build() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.geojson");
        crate::synth::write_geojson(3000, 5, std::fs::File::create(&a).unwrap()).unwrap();
        let b = dir.path().join("b.geojson");
        let text = std::fs::read_to_string(&a).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let f = v["features"].as_array().unwrap();
        let mut twin = f[10].clone();
        twin["id"] = "twin-of-10".into();
        let mut bad = f[11].clone();
        bad["id"] = "bad".into();
        bad["properties"]["languages"] = serde_json::json!(["not a language"]);
        let extra = serde_json::json!({"type": "FeatureCollection", "features": [f[12], twin, bad]});
        std::fs::write(&b, serde_json::to_string_pretty(&extra).unwrap()).unwrap();
        let inputs = [a, b];

        let ing = crate::ingest::read_files(&inputs, &mut |_| {});
        assert_eq!((ing.points.len(), ing.invalid_records), (3001, 2), "{:?}", ing.problems);
        let whole = dir.path().join("whole");
        bundle::write(ing.points, ing.inputs, ing.invalid_records, &whole, &mut Quiet).unwrap();

        let (ing, mut spill) = read(&inputs, dir.path(), &mut |_| {}).unwrap();
        assert!(ing.points.is_empty());
        assert_eq!((spill.len(), ing.invalid_records, ing.problems.len()), (3001, 2, 2));
        let streamed = dir.path().join("streamed");
        bundle::write_ordered(&mut spill, ing.inputs, ing.invalid_records, &streamed, None, &mut Quiet).unwrap();

        assert_eq!(contents(&whole), contents(&streamed));
        let s = Snapshot::load(&streamed).unwrap();
        assert_eq!(s.len(), 3001);
    }
}
