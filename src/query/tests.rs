//! Unit tests of the query layer that need a fixed clock: opening hours in the desk's own time
//! zone and public holidays.

use chrono::{TimeZone, Utc};

use super::*;
use crate::index::spatial::AudienceFilter;
use crate::model::{Address, Audience, ContactPoint, Domain, GeoPoint, Language};

fn desk(id: &str, lat: f64, lon: f64, country: &str, hours: Option<&str>, tz: Option<&str>) -> ContactPoint {
    ContactPoint {
        id: id.into(),
        position: GeoPoint::new(lat, lon).unwrap(),
        name: id.into(),
        organization: "Test".into(),
        audience: Audience::Public,
        languages: vec![Language::new("en").unwrap()],
        domains: vec![Domain::WorkRights],
        address: Address { street: None, postcode: None, city: "X".into(), country: country.into() },
        contacts: Default::default(),
        opening_hours: hours.map(str::to_string),
        timezone: tz.map(str::to_string),
        access: Default::default(),
        fees: None,
        description: Default::default(),
        updated: None,
    }
}

#[test]
fn open_now_is_evaluated_in_the_desks_own_time_zone() {
    let rome = desk("rome", 41.9, 12.5, "IT", Some("Mo-Fr 09:00-17:00"), None);
    let nyc = desk("nyc", 40.71, -74.0, "US", Some("Mo-Fr 09:00-17:00"), None);
    let explicit = desk("tokyo-hours", 41.9, 12.5, "IT", Some("Mo-Fr 09:00-17:00"), Some("Asia/Tokyo"));
    // Monday 23 November 2026, 08:30 UTC: 09:30 in Rome, 03:30 in New York, 17:30 in Tokyo.
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).unwrap();
    assert_eq!(open::timezone(&rome), chrono_tz::Europe::Rome);
    assert!(open::is_open(&rome, now));
    assert!(!open::is_open(&nyc, now));
    assert!(!open::is_open(&explicit, now));
    // No hours: not known to be open.
    assert!(!open::is_open(&desk("none", 41.9, 12.5, "IT", None, None), now));
}

#[test]
fn public_holidays_close_desks_with_ph_off() {
    let d = desk("rome", 41.9, 12.5, "IT", Some("Mo-Fr 09:00-17:00; PH off"), None);
    // Friday 25 December 2026, 10:00 UTC (11:00 in Rome): Christmas Day.
    let christmas = Utc.with_ymd_and_hms(2026, 12, 25, 10, 0, 0).unwrap();
    let day_before = Utc.with_ymd_and_hms(2026, 12, 24, 10, 0, 0).unwrap();
    assert!(!open::is_open(&d, christmas));
    assert!(open::is_open(&d, day_before));
}

#[test]
fn open_now_filters_before_k() {
    let points = vec![
        desk("closed-near", 41.90, 12.50, "IT", Some("Sa 09:00-12:00"), None),
        desk("open-far", 41.95, 12.55, "IT", Some("Mo-Fr 09:00-17:00"), None),
        desk("open-farther", 42.5, 13.0, "IT", Some("24/7"), None),
    ];
    let s = crate::index::Snapshot::in_memory(points, Vec::new(), "test").unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).unwrap();
    let mut req = NearestRequest {
        at: GeoPoint::new(41.9, 12.5).unwrap(),
        place: None,
        k: 1,
        max_m: None,
        filters: Filters { open_now: true, audience: AudienceFilter::All, ..Filters::default() },
    };
    let ids = |hits: Vec<Hit>| hits.iter().map(|h| s.desks.desk(h.ord).unwrap().id).collect::<Vec<_>>();
    assert_eq!(ids(nearest(&s, &req, now)), vec!["open-far"]);
    req.k = 3;
    assert_eq!(ids(nearest(&s, &req, now)), vec!["open-far", "open-farther"]);
    req.filters.open_now = false;
    assert_eq!(ids(nearest(&s, &req, now))[0], "closed-near");
}

#[test]
fn todays_hours_are_the_desks_local_day() {
    let d = desk("milan", 45.46, 9.19, "IT", Some("Mo-Fr 09:00-13:00; Tu,Th 09:00-13:00,14:30-17:30; PH off"), None);
    // Tuesday 24 November 2026, 23:30 UTC is already Wednesday 00:30 in Milan: Wednesday's hours.
    let late = Utc.with_ymd_and_hms(2026, 11, 24, 23, 30, 0).unwrap();
    let t = open::today(&d, late);
    assert_eq!(t.open_now, Some(false));
    assert_eq!(t.hours, vec![("09:00".to_string(), "13:00".to_string())]);
    // Tuesday 15:00 in Milan: open, two intervals.
    let tue = Utc.with_ymd_and_hms(2026, 11, 24, 14, 0, 0).unwrap();
    let t = open::today(&d, tue);
    assert_eq!(t.open_now, Some(true));
    assert_eq!(t.hours, vec![("09:00".into(), "13:00".into()), ("14:30".into(), "17:30".into())]);
    // Christmas: closed all day.
    let xmas = Utc.with_ymd_and_hms(2026, 12, 25, 10, 0, 0).unwrap();
    assert_eq!(open::today(&d, xmas), open::Today { open_now: Some(false), hours: vec![] });
    // Always open ends at midnight; no hours at all: unknown.
    assert_eq!(open::today(&desk("a", 45.46, 9.19, "IT", Some("24/7"), None), tue).hours, vec![("00:00".into(), "24:00".into())]);
    assert_eq!(open::today(&desk("n", 45.46, 9.19, "IT", None, None), tue).open_now, None);
}
