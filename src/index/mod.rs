//! The indexes a query runs against, and the bundle that holds them: `spatial` (R-tree),
//! `clusters` (viewport cluster pyramid), `facets` (counts per service domain), `store` (pre-serialised desks, kept in `mapped` files), `packed` (the same desks as DEFLATE tokens, joined into compressed answers), `text` (tantivy; `read_only`, the directory it is read through, never written), and `bundle` (on-disk format, versioning, loading into one immutable
//! [`Snapshot`]).

pub mod bundle;
pub mod clusters;
pub mod packed;
pub mod facets;
pub mod mapped;
pub mod read_only;
pub mod spatial;
pub mod store;
pub mod text;

pub use bundle::{BundleError, Manifest, Snapshot};

/// Asks the CPU to start loading `items` into its cache, so that they are there when read a
/// little later: the R-tree's queued nodes, an answer's desks' tokens.
pub(crate) fn prefetch<T>(items: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(items);
        let start = items.as_ptr() as *const i8;
        let mut off = 0;
        while off < bytes {
            // SAFETY: a prefetch is a hint without effect on memory or faults; the address is
            // inside the live slice.
            unsafe { std::arch::x86_64::_mm_prefetch(start.wrapping_add(off), std::arch::x86_64::_MM_HINT_T0) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = items;
}
