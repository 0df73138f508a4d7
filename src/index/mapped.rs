//! A bundle's large files — the stored features (`points.geojson`), their DEFLATE tokens
//! (`points.packed`) and the tile archives — as
//! read-only memory maps instead of copies on the heap: the kernel pages them in as requests
//! touch them and may drop them again under memory pressure (they are clean file pages), so a
//! server's own memory no longer grows with the size of the features. Files built in memory (the
//! embedded sample) stay on the heap; both are read through one type.
//!
//! Mapping is sound only because a bundle is never changed in place: `build` writes a new bundle
//! beside the old one and swaps the directories, and the old files are removed, not rewritten,
//! so a mapping keeps seeing the bytes that were hashed when it was loaded (the same holds for
//! the text index, which tantivy maps the same way). An operator must not edit bundle files in
//! place; the README says so.

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

/// Bytes read from a bundle: a private read-only mapping of a file, or a buffer.
pub enum FileBytes {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl FileBytes {
    /// Maps the file at `path` read-only (an empty file is an empty buffer: nothing to map).
    pub fn map(path: &Path) -> std::io::Result<FileBytes> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(FileBytes::Owned(Vec::new()));
        }
        // SAFETY: the mapping is read-only and private, and bundle files are never modified or
        // truncated in place (see the module's documentation): what is mapped stays what it was.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        // Answers read a few features scattered over the file: no read-ahead.
        map.advise(memmap2::Advice::Random)?;
        Ok(FileBytes::Mapped(map))
    }
}

impl FileBytes {
    /// Gives the pages read so far (by the hash and the checks at load) back to the kernel's
    /// page cache: the mapping stays, later reads fault the pages in again from the cache or the
    /// file. Without this a freshly loaded server would count every checked page as its own.
    pub fn release_resident(&self) {
        if let FileBytes::Mapped(m) = self {
            // SAFETY: for a private read-only mapping of a file, MADV_DONTNEED only drops this
            // process's copies of the pages; the next read sees the file's bytes again, which are
            // unchanged (see the module's documentation). A refusal only leaves them resident.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }
}

impl FileBytes {
    /// [`FileBytes::release_resident`] for the pages of `range` only (rounded inwards to whole
    /// pages): for a pass over the whole file that keeps only its last piece resident.
    pub fn release_range(&self, range: std::ops::Range<usize>) {
        if let FileBytes::Mapped(m) = self {
            const PAGE: usize = 4096;
            let start = range.start.div_ceil(PAGE) * PAGE;
            let end = (range.end.min(m.len()) / PAGE) * PAGE;
            if start < end {
                // SAFETY: as for `release_resident`, on a sub-range of the same mapping.
                let _ = unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start) };
            }
        }
    }

    /// Asks the kernel to read the pages of `range` ahead (the mapping is advised random, so
    /// a pass in order would otherwise read a cold file a page at a time).
    fn will_need(&self, range: std::ops::Range<usize>) {
        if let FileBytes::Mapped(m) = self {
            let end = range.end.min(m.len());
            let start = (range.start / 4096) * 4096;
            if start < end {
                let _ = m.advise_range(memmap2::Advice::WillNeed, start, end - start);
            }
        }
    }

    /// BLAKE3 of the bytes, hex, read in pieces on this thread, the next piece read ahead and
    /// each piece's pages given back after it is hashed: checking a large file leaves no more of
    /// it resident than two pieces.
    pub fn hash_releasing(&self) -> String {
        const PIECE: usize = 64 << 20;
        let mut h = blake3::Hasher::new();
        let mut at = 0;
        self.will_need(0..PIECE);
        while at < self.len() {
            let end = (at + PIECE).min(self.len());
            self.will_need(end..end + PIECE);
            h.update(&self[at..end]);
            self.release_range(at..end);
            at = end;
        }
        h.finalize().to_hex().to_string()
    }
}

/// A shared [`FileBytes`], as the owner of a [`bytes::Bytes`] (the tile archives), so the file
/// can still be reached as a `FileBytes` for checking it.
#[derive(Clone)]
pub struct SharedFile(pub std::sync::Arc<FileBytes>);

impl AsRef<[u8]> for SharedFile {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Owned(v) => v,
            FileBytes::Mapped(m) => m,
        }
    }
}

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<Vec<u8>> for FileBytes {
    fn from(v: Vec<u8>) -> FileBytes {
        FileBytes::Owned(v)
    }
}

impl std::fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if matches!(self, FileBytes::Mapped(_)) { "mapped" } else { "owned" };
        write!(f, "FileBytes({how}, {} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_file_reads_as_its_bytes_before_and_after_its_pages_are_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("points.geojson");
        let bytes: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mapped = FileBytes::map(&path).unwrap();
        assert!(matches!(mapped, FileBytes::Mapped(_)));
        assert_eq!(&mapped[..], &bytes[..]);
        mapped.release_resident();
        assert_eq!(&mapped[..], &bytes[..], "released pages read back from the file");
        // The directory entry may go (a newer build's swap removes the old files): the mapping stays.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(mapped[1_000_000..1_000_008], bytes[1_000_000..1_000_008]);

        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert!(FileBytes::map(&empty).unwrap().is_empty());
        assert!(FileBytes::map(&dir.path().join("absent")).is_err());
    }
}
