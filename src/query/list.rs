//! The list page's operation: the desks `/list` shows, found by the very functions the API uses
//! (`locate_place` for a town name, `nearest` for a position, `search` for text or filters alone),
//! so the page, the widget and `/api/v1/nearest` or `/api/v1/search` never disagree. Also one
//! desk for its page. Each desk comes back with what a page shows about it today. Pure: no HTTP.

use chrono::{DateTime, Utc};

use super::open::{self, Today};
use super::params::{ListRequest, LocateRequest, NearestRequest, SearchRequest};
use super::{QueryError, locate_place, nearest, search};
use crate::index::Snapshot;
use crate::locate::Candidate;
use crate::model::{ContactPoint, Domain, GeoPoint};

/// Desks on one list page: the API's `k` and `limit` for the same request.
pub const LIST_DESKS: usize = 10;

/// A desk as a page shows it: its record, its distance from the position asked about (metres)
/// and its hours today in its own time zone.
#[derive(Debug, Clone)]
pub struct ShownDesk {
    pub desk: ContactPoint,
    pub distance_m: Option<f64>,
    pub today: Today,
}

/// What the list page answers.
#[derive(Debug, Clone)]
pub enum ListAnswer {
    /// Nothing was asked: the form alone.
    Form,
    /// `place` matched no town.
    PlaceNotFound(String),
    Desks {
        desks: Vec<ShownDesk>,
        /// The town `place` was understood as.
        place: Option<Candidate>,
        /// The needs the text `q` was understood as.
        understood: Vec<Domain>,
    },
}

/// Desk `ord` as the list shows it; None for a feature that does not read back (see
/// [`crate::index::store::DeskStore::desk`]), which the list leaves out.
fn shown(s: &Snapshot, ord: u32, distance_m: Option<f64>, now: DateTime<Utc>) -> Option<ShownDesk> {
    let desk = s.desks.desk(ord)?;
    let today = open::today(&desk, now);
    Some(ShownDesk { desk, distance_m, today })
}

/// The list page's desks for `r`, in UI language `ui` (for the town name shown); at most
/// [`LIST_DESKS`]. With a position (from `lat`/`lon` or the town) and no text: `nearest`; with
/// text or without a position: `search`.
pub fn list(s: &Snapshot, r: &ListRequest, ui: &str, now: DateTime<Utc>) -> Result<ListAnswer, QueryError> {
    if r.is_empty() {
        return Ok(ListAnswer::Form);
    }
    let mut at: Option<GeoPoint> = r.at;
    let mut place = None;
    if let Some(text) = &r.place {
        let ask = LocateRequest { place: Some(text.clone()), ui: ui.to_string(), bias: None, limit: 1 };
        let Some(town) = locate_place(&ask).into_iter().next() else {
            return Ok(ListAnswer::PlaceNotFound(text.clone()));
        };
        match GeoPoint::new(town.lat, town.lon) {
            Ok(p) => at = Some(p),
            Err(_) => return Ok(ListAnswer::PlaceNotFound(text.clone())),
        }
        place = Some(town);
    }
    let (hits, understood) = match (at, &r.q) {
        (Some(at), None) => {
            let req = NearestRequest { at, place: place.clone(), k: LIST_DESKS, max_m: None, filters: r.filters.clone() };
            (nearest(s, &req, now), Vec::new())
        }
        _ => {
            let req = SearchRequest { q: r.q.clone(), at, place: place.clone(), limit: LIST_DESKS, filters: r.filters.clone() };
            let a = search(s, &req, now)?;
            (a.hits, a.understood)
        }
    };
    let desks = hits.iter().filter_map(|h| shown(s, h.ord, h.distance_m, now)).collect();
    Ok(ListAnswer::Desks { desks, place, understood })
}

/// One desk by id, for its own page.
pub fn desk(s: &Snapshot, id: &str, now: DateTime<Utc>) -> Option<ShownDesk> {
    super::point(s, id).and_then(|ord| shown(s, ord, None, now))
}

/// Whether [`list`] will run a text search for `r` (the HTTP layer bounds those).
pub fn searches(r: &ListRequest) -> bool {
    !r.is_empty() && (r.q.is_some() || (r.at.is_none() && r.place.is_none()))
}
