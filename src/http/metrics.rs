//! Prometheus metrics for `/metrics`: requests by route template and status, latency by route,
//! the bundle served (version, age, desks), reloads, rate-limited requests and shed connections.
//!
//! Labels are only route templates (`/api/v1/points/{id}`, never a concrete path), status codes,
//! a bundle version and a reload outcome: no coordinate, address, query text or typed id can
//! become a label, whatever a client sends.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::index::Snapshot;
use crate::index::bundle::Verification;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// The route templates of the router, and last, what matched none: all that logs and metrics
/// may name.
pub const ROUTES: &[&str] = &[
    "/api/v1/nearest",
    "/api/v1/points",
    "/api/v1/points/{id}",
    "/api/v1/search",
    "/api/v1/domains",
    "/api/v1/locate",
    "/healthz",
    "/readyz",
    "/metrics",
    "/",
    "/list",
    "/d/{id}",
    "/assets/pages.css",
    "/tiles/tiles.json",
    "/tiles/{z}/{x}/{y}",
    "/openapi.json",
    "/basemap/operator.pmtiles",
    "/basemap/operator.json",
    "/ogc",
    "/ogc/",
    "/ogc/conformance",
    "/ogc/api",
    "/ogc/collections",
    "/ogc/collections/{collection_id}",
    "/ogc/collections/{collection_id}/items",
    "/ogc/collections/{collection_id}/items/{feature_id}",
    "/widget.js",
    "/widget.css",
    "/widget/operator-basemap.js",
    "/widget/ui/{file}",
    "/widget/today",
    "/basemap/natural-earth/{z}/{x}/{y}",
    "/demo",
    "/embed",
    "(unmatched)",
];

/// The index in [`ROUTES`] of a matched route template (`None`: matched nothing).
pub fn route_index(matched: Option<&str>) -> usize {
    matched.and_then(|m| ROUTES.iter().position(|r| *r == m)).unwrap_or(ROUTES.len() - 1)
}

/// Statuses whose counters are kept at hand (others go through the family's map).
const COMMON: [u16; 8] = [200, 304, 400, 404, 429, 500, 503, 401];

/// Every metric of the server, registered once.
pub struct Metrics {
    registry: Registry,
    /// Per route: its latency histogram and its counters for [`COMMON`] statuses, so counting
    /// a request takes no lock or map lookup.
    at_hand: Vec<(Histogram, [Counter; COMMON.len()])>,
    requests: Family<RouteStatus, Counter>,
    bundle: Family<Version, Gauge>,
    bundle_age: Gauge,
    desks: Gauge,
    verified: Gauge,
    reloads: Family<Outcome, Counter>,
    /// Requests answered 429 by the rate limit.
    pub rate_limited: Counter,
    /// Connections answered 503 at the connection cap.
    pub shed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sportello");
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register("http_requests", "Requests answered, by route template and status", requests.clone());
        let latency = Family::<Route, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.5, 12)));
        registry.register("http_request_duration_seconds", "Time to answer a request, by route template", latency.clone());
        let bundle = Family::<Version, Gauge>::default();
        registry.register("bundle_info", "The bundle served (1 for its version)", bundle.clone());
        let bundle_age = Gauge::default();
        registry.register("bundle_age_seconds", "Seconds since the bundle served was built", bundle_age.clone());
        let desks = Gauge::default();
        registry.register("bundle_desks", "Desks in the bundle served", desks.clone());
        let verified = Gauge::default();
        registry.register("bundle_verified", "The check of the bundle's large files: 1 passed, 0 running, -1 failed", verified.clone());
        let reloads = Family::<Outcome, Counter>::default();
        registry.register("reloads", "Bundle and IP database reloads, by outcome (ok or refused)", reloads.clone());
        let rate_limited = Counter::default();
        registry.register("rate_limited_requests", "Requests answered 429 by the per-client rate limit", rate_limited.clone());
        let shed = Counter::default();
        registry.register("shed_connections", "Connections answered 503 at the connection cap", shed.clone());
        let at_hand = ROUTES
            .iter()
            .map(|&route| {
                let h = latency.get_or_create(&Route { route }).clone();
                (h, COMMON.map(|status| requests.get_or_create(&RouteStatus { route, status }).clone()))
            })
            .collect();
        Metrics { registry, at_hand, requests, bundle, bundle_age, desks, verified, reloads, rate_limited, shed }
    }
}

impl Metrics {
    /// Counts one answered request of route `route` (an index in [`ROUTES`]).
    pub fn request(&self, route: usize, status: u16, seconds: f64) {
        let (latency, counters) = &self.at_hand[route.min(ROUTES.len() - 1)];
        latency.observe(seconds);
        match COMMON.iter().position(|&c| c == status) {
            Some(i) => {
                counters[i].inc();
            }
            None => {
                self.requests.get_or_create(&RouteStatus { route: ROUTES[route.min(ROUTES.len() - 1)], status }).inc();
            }
        }
    }

    /// Counts a reload: `ok` when everything loaded, else `refused`.
    pub fn reload(&self, ok: bool) {
        self.reloads.get_or_create(&Outcome { outcome: if ok { "ok" } else { "refused" } }).inc();
    }

    /// The text exposition of every metric, with the bundle's gauges taken from `s` now.
    pub fn render(&self, s: &Snapshot) -> String {
        self.bundle.clear();
        self.bundle.get_or_create(&Version { version: s.version().to_string() }).set(1);
        let age = chrono::DateTime::parse_from_rfc3339(&s.manifest.built_at).map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds().max(0));
        self.bundle_age.set(age.unwrap_or(0));
        self.desks.set(s.len() as i64);
        self.verified.set(match s.verification() {
            Verification::Passed => 1,
            Verification::Pending => 0,
            Verification::Failed(_) => -1,
        });
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
