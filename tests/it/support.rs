//! Shared helpers: the embedded snapshot, in-memory snapshots of given desks, and a `get` that
//! drives the router without a socket.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use sportello::http::{AppState, router};
use sportello::index::Snapshot;
use sportello::model::ContactPoint;
use tower::ServiceExt;

pub fn embedded() -> Arc<Snapshot> {
    static S: OnceLock<Arc<Snapshot>> = OnceLock::new();
    S.get_or_init(|| Arc::new(Snapshot::embedded().expect("embedded dataset loads"))).clone()
}

pub fn snapshot_of(points: Vec<ContactPoint>) -> Snapshot {
    Snapshot::in_memory(points, Vec::new(), "test").expect("snapshot builds")
}

/// A synthetic snapshot of 5 000 desks, built once.
pub fn synthetic() -> Arc<Snapshot> {
    static S: OnceLock<Arc<Snapshot>> = OnceLock::new();
    S.get_or_init(|| Arc::new(snapshot_of(sportello::synth::desks(5_000, 7)))).clone()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

pub async fn get_with(state: AppState, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = router(state).oneshot(req.body(Body::empty()).expect("request")).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.expect("body").to_vec();
    Answer { status, headers, body }
}

pub async fn get(snapshot: &Arc<Snapshot>, uri: &str) -> Answer {
    let state = AppState::shared(snapshot.clone());
    get_with(state, uri, &[]).await
}

/// A valid desk with the least data: Italian-speaking, work rights, public.
pub fn minimal_desk(id: &str, lat: f64, lon: f64) -> ContactPoint {
    use sportello::model::*;
    ContactPoint {
        id: id.to_string(),
        position: GeoPoint::new(lat, lon).expect("valid position"),
        name: format!("Desk {id}"),
        organization: "Test".into(),
        audience: Audience::Public,
        languages: vec![Language::new("it").unwrap()],
        domains: vec![Domain::WorkRights],
        address: Address { street: None, postcode: None, city: "Testville".into(), country: "IT".into() },
        contacts: Contacts::default(),
        opening_hours: None,
        timezone: None,
        access: Access::default(),
        fees: None,
        description: Default::default(),
        updated: None,
    }
}

/// Every desk of a snapshot as full records, by ordinal (parsed back from the store).
pub fn all_desks(s: &Snapshot) -> Vec<ContactPoint> {
    (0..s.len() as u32).map(|i| s.desks.desk(i)).collect()
}
