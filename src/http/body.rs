//! The JSON bodies of the API's answers: GeoJSON FeatureCollections with the foreign members the
//! contract adds (`facets`, `zoom`…). Shared by the HTTP handlers and the `query` CLI.

use serde::Serialize;

use crate::index::Snapshot;
use crate::index::text::Facets;
use crate::model::ContactPoint;
use crate::model::feature::{ClusterFeature, PointFeature};
use crate::query::{DomainLabel, Hit, SearchAnswer, Viewport};

fn features<'a>(s: &'a Snapshot, hits: &[Hit]) -> Vec<PointFeature<'a>> {
    hits.iter().map(|h| PointFeature { point: &s.points[h.ord as usize], distance_m: h.distance_m }).collect()
}

#[derive(Serialize)]
struct Collection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<PointFeature<'a>>,
}

/// `nearest`: desks nearest first, each with `distance_m`.
pub fn nearest(s: &Snapshot, hits: &[Hit]) -> Vec<u8> {
    to_vec(&Collection { kind: "FeatureCollection", features: features(s, hits) })
}

#[derive(Serialize)]
#[serde(untagged)]
enum ViewportFeature<'a> {
    Point(PointFeature<'a>),
    Cluster(&'a ClusterFeature),
}

#[derive(Serialize)]
struct ViewportBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<ViewportFeature<'a>>,
    zoom: u8,
    /// Desks in the viewport, counting every cluster's members.
    point_count: usize,
}

/// `points`: single desks and clusters in the viewport.
pub fn viewport(s: &Snapshot, v: &Viewport) -> Vec<u8> {
    let mut f: Vec<ViewportFeature> = features(s, &v.points).into_iter().map(ViewportFeature::Point).collect();
    f.extend(v.clusters.iter().map(ViewportFeature::Cluster));
    let point_count = v.points.len() + v.clusters.iter().map(|c| c.point_count).sum::<usize>();
    to_vec(&ViewportBody { kind: "FeatureCollection", features: f, zoom: v.zoom, point_count })
}

#[derive(Serialize)]
struct SearchBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<PointFeature<'a>>,
    /// Matches in all, before `limit`.
    total: usize,
    facets: &'a Facets,
    /// The service domains the search text was understood to ask for.
    understood_domains: Vec<&'static str>,
}

/// `search`: ranked desks, the total, facet counts and the domains the text was read as.
pub fn search(s: &Snapshot, a: &SearchAnswer) -> Vec<u8> {
    to_vec(&SearchBody {
        kind: "FeatureCollection",
        features: features(s, &a.hits),
        total: a.total,
        facets: &a.facets,
        understood_domains: a.understood.iter().map(|d| d.code()).collect(),
    })
}

/// One desk as a Feature.
pub fn point(p: &ContactPoint) -> Vec<u8> {
    to_vec(&PointFeature { point: p, distance_m: None })
}

#[derive(Serialize)]
struct DomainsBody<'a> {
    ui: &'a str,
    rtl: bool,
    domains: &'a [DomainLabel],
}

/// The taxonomy in one UI language.
pub fn domains(ui: &str, rtl: bool, list: &[DomainLabel]) -> Vec<u8> {
    to_vec(&DomainsBody { ui, rtl, domains: list })
}

fn to_vec(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).expect("answers serialise: no maps with non-string keys, no failing Serialize impls")
}
