//! The operations the product offers — nearest, viewport, search, one desk, the taxonomy, tiles — written
//! against a [`Snapshot`]. Pure and synchronous: no HTTP or async types, so they are unit-testable
//! and reusable by the CLI. Every filter applies before `k` or `limit`.

pub mod list;
pub mod locate;
pub mod ogc;
pub mod open;
pub mod params;
pub mod search;
pub mod viewport;
pub mod widget;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::index::Snapshot;
use crate::index::spatial::{Entry, Filter};
use crate::index::text::Facets;
use crate::model::Domain;
pub use locate::{locate_ip, locate_place};
pub use list::{LIST_DESKS, ListAnswer, ShownDesk};
pub use params::{DomainsRequest, Filters, ListRequest, LocateRequest, NearestRequest, ParamError, SearchRequest, TileRequest, ViewportRequest};
pub use search::{DISTANCE_HALF_KM, FacetScope, NEED_SHARE, SearchAnswer, search};
pub use viewport::{Viewport, viewport};

/// One desk in an answer, with its distance in metres when the query had a position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub ord: u32,
    pub distance_m: Option<f64>,
}

/// A failure inside the engine (not the caller's fault).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("text index: {0}")]
    Text(#[from] tantivy::TantivyError),
}

/// The spatial filter and the record-level checks (rare languages, opening hours) as one predicate.
fn predicate<'a>(s: &'a Snapshot, f: &'a Filters, now: DateTime<Utc>) -> impl FnMut(&Entry) -> bool + 'a {
    let compiled: Filter = compile(s, f);
    move |e: &Entry| {
        compiled.matches(e, || {
            s.desks.desk(e.ord).is_some_and(|p| compiled.rare_langs().iter().any(|l| p.speaks(l)))
        }) && (!f.open_now || s.desks.desk(e.ord).is_some_and(|p| open::is_open(&p, now)))
    }
}

fn compile(s: &Snapshot, f: &Filters) -> Filter {
    s.spatial.filter(&f.langs, &f.domains, f.audience)
}

/// The `k` nearest desks that pass the filters, nearest first, by great-circle distance.
pub fn nearest(s: &Snapshot, r: &NearestRequest, now: DateTime<Utc>) -> Vec<Hit> {
    let at = r.at;
    let accepts = compile(s, &r.filters).masks();
    s.spatial
        .nearest(at.lat.degrees(), at.lon.degrees(), r.k, r.max_m, accepts, predicate(s, &r.filters, now), |ord| {
            s.desks.distance_m(&at, ord)
        })
        .into_iter()
        .map(|(ord, d)| Hit { ord, distance_m: Some(d) })
        .collect()
}

/// Facet counts by code from counts by bit; desks with languages that have no bit of their own
/// are read back to count those exactly.
fn facets(s: &Snapshot, c: &crate::index::text::BitCounts) -> Facets {
    let mut f = Facets::default();
    for (code, n) in s.spatial.lang_codes().iter().zip(c.langs) {
        if n > 0 {
            f.languages.insert(code.clone(), n);
        }
    }
    for &ord in &c.rare {
        for l in s.desks.desk(ord).map(|p| p.languages).unwrap_or_default() {
            if !s.spatial.has_lang_bit(l.as_str()) {
                *f.languages.entry(l.to_string()).or_default() += 1;
            }
        }
    }
    for (d, n) in Domain::ALL.iter().zip(c.domains) {
        if n > 0 {
            f.domains.insert(d.code().to_string(), n);
        }
    }
    f
}

/// One desk by id: its ordinal.
pub fn point(s: &Snapshot, id: &str) -> Option<u32> {
    s.desks.ord_of(id)
}

/// A domain with its label in the requested UI language.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DomainLabel {
    pub code: &'static str,
    pub label: String,
    /// How many desks of the current data offer it.
    pub desks: usize,
}

/// The taxonomy in `ui` (English where `ui` has no translation), with the language actually used.
pub fn domains(s: &Snapshot, r: &DomainsRequest) -> (String, bool, Vec<DomainLabel>) {
    let t = s.taxonomy;
    let ui = if t.ui_language(&r.ui).is_some() { r.ui.clone() } else { "en".to_string() };
    let rtl = t.ui_language(&ui).is_some_and(|l| l.rtl);
    let list = Domain::ALL
        .iter()
        .map(|&d| DomainLabel {
            code: d.code(),
            label: t.label(d, &ui).to_string(),
            desks: s.manifest.counts.domains.get(d.code()).copied().unwrap_or(0),
        })
        .collect();
    (ui, rtl, list)
}

/// A tile as the bundle stores it.
pub struct StoredTile<'a> {
    /// The stored bytes, gzip-compressed when `gzipped`.
    pub bytes: bytes::Bytes,
    pub gzipped: bool,
    archive: &'a crate::tiles::Archive,
}

impl StoredTile<'_> {
    /// The tile's plain bytes (decompressed when stored compressed).
    pub fn plain(&self) -> Result<Vec<u8>, crate::tiles::ArchiveError> {
        self.archive.plain(&self.bytes)
    }
}

/// One tile of the bundle's pyramid, or `None` when the tile holds no public desk.
pub fn tile<'a>(s: &'a Snapshot, r: &TileRequest) -> Option<StoredTile<'a>> {
    let archive = s.tiles.archive(r.format);
    archive.get(r.coord).map(|bytes| StoredTile { bytes, gzipped: archive.gzipped(), archive })
}

/// The TileJSON 3.0 document of the bundle's pyramid.
pub fn tilejson(s: &Snapshot) -> &[u8] {
    &s.tiles.tilejson
}

#[cfg(test)]
mod tests;
