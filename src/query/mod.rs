//! The operations the product offers — nearest, viewport, search, one desk, the taxonomy — written
//! against a [`Snapshot`]. Pure and synchronous: no HTTP or async types, so they are unit-testable
//! and reusable by the CLI. Every filter applies before `k` or `limit`.

pub mod locate;
pub mod open;
pub mod params;
pub mod viewport;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::index::Snapshot;
use crate::index::spatial::{AudienceFilter, Entry, Filter};
use crate::index::text::{Adjust, Facets, Needs, TextFilter};
use crate::model::Domain;
pub use locate::{locate_ip, locate_place};
pub use params::{DomainsRequest, Filters, LocateRequest, NearestRequest, ParamError, SearchRequest, ViewportRequest};
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
            let p = s.desks.desk(e.ord);
            compiled.rare_langs().iter().any(|l| p.speaks(l))
        }) && (!f.open_now || open::is_open(&s.desks.desk(e.ord), now))
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

/// The answer to a text search.
#[derive(Debug, Clone)]
pub struct SearchAnswer {
    pub hits: Vec<Hit>,
    /// How many desks matched in all (before `limit`).
    pub total: usize,
    pub facets: Facets,
    /// Service domains the text was understood to ask for, strongest first.
    pub understood: Vec<Domain>,
    /// The town `place=` was understood as.
    pub place: Option<crate::locate::Candidate>,
}

/// How far a desk can be before distance halves its text score, in kilometres.
pub const DISTANCE_HALF_KM: f64 = 10.0;
/// An understood need ranks its desks first when its weight is at least this share of the
/// strongest need's: "family reunification" asks for one need, not for every domain one of its
/// words also appears in.
pub const NEED_SHARE: f32 = 0.75;

/// The needs that rank first: the understood domains within [`NEED_SHARE`] of the strongest,
/// with their weights.
fn needs(expansions: &[(Domain, f32)]) -> Needs {
    let best = expansions.first().map_or(0.0, |e| e.1);
    Needs(expansions.iter().filter(|e| e.1 >= best * NEED_SHARE).map(|&(d, w)| (1u32 << d.index(), w)).collect())
}

/// Text search over names, organisations, cities and descriptions, and over the taxonomy's
/// synonyms in every language. Desks offering the needs the text was understood as come first
/// (nearest first with a position, else by text score); then the other matches by text score,
/// × 1 / (1 + km / [`DISTANCE_HALF_KM`]) with a position. See [`crate::index::text::rank`].
pub fn search(s: &Snapshot, r: &SearchRequest, now: DateTime<Utc>) -> Result<SearchAnswer, QueryError> {
    let filter = TextFilter {
        langs: r.filters.langs.clone(),
        domains: r.filters.domains.clone(),
        audience: match r.filters.audience {
            AudienceFilter::Only(a) => Some(a),
            AudienceFilter::All => None,
        },
    };
    let keep = r.filters.open_now.then(|| {
        let desks = s.desks.clone();
        Arc::new(move |ord: u32| open::is_open(&desks.desk(ord), now)) as Arc<dyn Fn(u32) -> bool + Send + Sync>
    });
    let weight = r.at.map(|at| {
        let desks = s.desks.clone();
        Arc::new(move |ord: u32| {
            let km = desks.distance_m(&at, ord) / 1000.0;
            (1.0 / (1.0 + km / DISTANCE_HALF_KM)) as f32
        }) as Arc<dyn Fn(u32) -> f32 + Send + Sync>
    });
    let expansions = r.q.as_deref().map(|q| s.text.expand_domains(q)).unwrap_or_default();
    let needs = needs(&expansions);
    let adjust = Adjust { keep, weight, needs, bits: s.bits.clone() };
    let result = s.text.search(r.q.as_deref(), &expansions, &filter, &adjust, r.limit)?;
    let hits = result
        .hits
        .iter()
        .map(|h| Hit { ord: h.ord, distance_m: r.at.map(|at| s.desks.distance_m(&at, h.ord)) })
        .collect();
    let understood = expansions.into_iter().map(|(d, _)| d).collect();
    Ok(SearchAnswer { hits, total: result.counts.matches, facets: facets(s, &result.counts), understood, place: r.place.clone() })
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
        for l in s.desks.desk(ord).languages {
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

#[cfg(test)]
mod tests;
