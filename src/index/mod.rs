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
