//! The JSON bodies of the API's answers: GeoJSON FeatureCollections with the foreign members the
//! contract adds (`facets`, `zoom`…). Desks are copied from the store's pre-serialised features,
//! with `distance_m` spliced in; only clusters and the small top-level members are serialised per
//! request. Shared by the HTTP handlers and the `query` CLI.

use serde::Serialize;

use crate::index::Snapshot;
use crate::index::packed::{Placed, Wrapper};
use crate::locate::gazetteer::{self, Candidate, Match};
use crate::locate::{IpLocation, Unknown};
use crate::query::{DomainLabel, Hit, SearchAnswer, Viewport};

/// Bytes of a stored feature, on average, for sizing buffers.
const FEATURE_BYTES: usize = 900;
/// How many clusters (about 230 bytes each) fill [`FEATURE_BYTES`], for sizing buffers with
/// room to spare: a viewport's body then grows without being copied.
const CLUSTERS_PER_FEATURE_BYTES: usize = 3;

fn features(s: &Snapshot, hits: &[Hit], out: &mut Vec<u8>, placed: &mut Vec<Placed>) {
    for (i, h) in hits.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        placed.push(Placed { at: out.len(), ord: h.ord });
        s.desks.write_feature(h.ord, h.distance_m, out);
    }
}

/// An answer's bytes and where the desks' stored features and the clusters sit in them (for
/// [`compress`]).
pub struct Placing {
    pub body: Vec<u8>,
    pub placed: Vec<Placed>,
    pub clusters: Vec<std::ops::Range<usize>>,
}

/// `answer` compressed from the desks' precompressed tokens (see [`crate::index::packed`]); the
/// tokens are compared with the features' bytes until the bundle has passed its check.
pub fn compress(s: &Snapshot, answer: &Placing, wrapper: Wrapper) -> Vec<u8> {
    let trusted = s.verification() == crate::index::bundle::Verification::Passed;
    s.packed.compress_answer(&answer.body, &answer.placed, &answer.clusters, |o| s.desks.feature(o).len() - 2, wrapper, trusted)
}

fn open_collection(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + n * FEATURE_BYTES);
    out.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    out
}

fn member(out: &mut Vec<u8>, name: &str, value: &impl Serialize) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    serde_json::to_writer(&mut *out, value).expect("answers serialise: no failing Serialize impls");
}

/// `nearest`: desks nearest first, each with `distance_m`; `understood_place` when the position
/// came from a place name.
pub fn nearest(s: &Snapshot, hits: &[Hit], place: Option<&Candidate>) -> Vec<u8> {
    nearest_placed(s, hits, place).body
}

/// [`nearest`], with where each desk sits.
pub fn nearest_placed(s: &Snapshot, hits: &[Hit], place: Option<&Candidate>) -> Placing {
    let mut out = open_collection(hits.len());
    let mut placed = Vec::with_capacity(hits.len());
    features(s, hits, &mut out, &mut placed);
    out.push(b']');
    if let Some(c) = place {
        member(&mut out, "understood_place", &understood_place(c));
    }
    out.push(b'}');
    Placing { body: out, placed, clusters: Vec::new() }
}

/// The town a `place=` was understood as.
fn understood_place(c: &Candidate) -> serde_json::Value {
    serde_json::json!({
        "name": c.name,
        "matched": c.matched,
        "country": c.country,
        "population": c.population,
        "geonameid": c.geonameid,
        "coordinates": [c.lon, c.lat],
        "attribution": gazetteer::ATTRIBUTION,
    })
}

/// `locate?place=`: town candidates, best first, as Point features.
pub fn places(candidates: &[Candidate]) -> Vec<u8> {
    let features: Vec<serde_json::Value> = candidates
        .iter()
        .map(|c| {
            serde_json::json!({
                "type": "Feature",
                "id": format!("geonames:{}", c.geonameid),
                "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
                "properties": {
                    "name": c.name,
                    "matched": c.matched,
                    "main_name": c.main_name,
                    "country": c.country,
                    "population": c.population,
                    "match": match c.how { Match::Exact => "exact", Match::Prefix => "prefix", Match::Word => "word" },
                    "source": "gazetteer",
                },
            })
        })
        .collect();
    let body = serde_json::json!({"type": "FeatureCollection", "features": features, "attribution": gazetteer::ATTRIBUTION});
    serde_json::to_vec(&body).expect("JSON values serialise")
}

/// `locate`: the approximate position of the caller's address as a Point feature, or a feature
/// without geometry and `"status": "unknown"` with the reason.
pub fn ip_location(found: &Result<IpLocation, Unknown>) -> Vec<u8> {
    let body = match found {
        Ok(l) => {
            let (text, url) = l.provider.attribution();
            serde_json::json!({
                "type": "Feature",
                "status": "approximate",
                "geometry": {"type": "Point", "coordinates": [l.lon, l.lat]},
                "properties": {
                    "status": "approximate",
                    "source": "ip",
                    "accuracy_km": l.accuracy_km,
                    "country": l.country,
                    "place": l.place,
                    "attribution": text,
                    "attribution_url": url,
                },
            })
        }
        Err(why) => serde_json::json!({
            "type": "Feature",
            "status": "unknown",
            "geometry": null,
            "properties": {"status": "unknown", "source": "ip", "reason": why.code()},
        }),
    };
    serde_json::to_vec(&body).expect("JSON values serialise")
}

/// `points`: single desks and clusters in the viewport; `zoom` and `point_count` (all desks in
/// the viewport, counting every cluster's members).
pub fn viewport(s: &Snapshot, v: &Viewport) -> Vec<u8> {
    viewport_placed(s, v).body
}

/// [`viewport`], with where each desk sits.
pub fn viewport_placed(s: &Snapshot, v: &Viewport) -> Placing {
    let mut out = open_collection(v.points.len() + v.clusters.len().div_ceil(CLUSTERS_PER_FEATURE_BYTES));
    let mut placed = Vec::with_capacity(v.points.len());
    features(s, &v.points, &mut out, &mut placed);
    let mut clusters = Vec::with_capacity(v.clusters.len());
    for (i, c) in v.clusters.iter().enumerate() {
        if i > 0 || !v.points.is_empty() {
            out.push(b',');
        }
        let start = out.len();
        c.write_json(&mut out);
        clusters.push(start..out.len());
    }
    out.push(b']');
    member(&mut out, "zoom", &v.zoom);
    member(&mut out, "point_count", &(v.points.len() + v.clusters.iter().map(|c| c.point_count).sum::<usize>()));
    out.push(b'}');
    Placing { body: out, placed, clusters }
}

/// `search`: ranked desks, the total, facet counts and the domains the text was read as.
pub fn search(s: &Snapshot, a: &SearchAnswer) -> Vec<u8> {
    search_placed(s, a).body
}

/// [`search`], with where each desk sits.
pub fn search_placed(s: &Snapshot, a: &SearchAnswer) -> Placing {
    let mut out = open_collection(a.hits.len());
    let mut placed = Vec::with_capacity(a.hits.len());
    features(s, &a.hits, &mut out, &mut placed);
    out.push(b']');
    member(&mut out, "total", &a.total);
    member(&mut out, "facets", &a.facets);
    member(&mut out, "counted", &a.scope.as_str());
    let understood: Vec<&str> = a.understood.iter().map(|d| d.code()).collect();
    member(&mut out, "understood_domains", &understood);
    if let Some(c) = &a.place {
        member(&mut out, "understood_place", &understood_place(c));
    }
    out.push(b'}');
    Placing { body: out, placed, clusters: Vec::new() }
}

/// One desk as a Feature.
pub fn point(s: &Snapshot, ord: u32) -> Vec<u8> {
    s.desks.feature(ord).to_vec()
}

#[derive(Serialize)]
struct DomainsBody<'a> {
    ui: &'a str,
    rtl: bool,
    domains: &'a [DomainLabel],
}

/// The taxonomy in one UI language.
pub fn domains(ui: &str, rtl: bool, list: &[DomainLabel]) -> Vec<u8> {
    serde_json::to_vec(&DomainsBody { ui, rtl, domains: list }).expect("domains serialise")
}
