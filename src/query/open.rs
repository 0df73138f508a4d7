//! "Open now": evaluates a desk's OpenStreetMap `opening_hours` at a given instant in the desk's own
//! time zone (its `timezone`, or the zone its position lies in) with its country's public holidays.

use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use opening_hours::localization::{Country, TzLocation};
use opening_hours::{Context, OpeningHours};

use crate::model::ContactPoint;

static TZ_FINDER: LazyLock<tzf_rs::DefaultFinder> = LazyLock::new(tzf_rs::DefaultFinder::new);

/// The desk's time zone: its explicit `timezone`, else the zone at its position, else UTC.
pub fn timezone(p: &ContactPoint) -> Tz {
    if let Some(tz) = p.timezone.as_deref().and_then(|t| t.parse().ok()) {
        return tz;
    }
    let name = TZ_FINDER.get_tz_name(p.position.lon.degrees(), p.position.lat.degrees());
    name.parse().unwrap_or(Tz::UTC)
}

/// Whether `p` is open at `now`. A desk without opening hours is not known to be open.
pub fn is_open(p: &ContactPoint, now: DateTime<Utc>) -> bool {
    let Some(oh) = p.opening_hours.as_deref().and_then(|s| s.parse::<OpeningHours>().ok()) else {
        return false;
    };
    let tz = timezone(p);
    let mut ctx = Context::default();
    if let Ok(country) = Country::from_str(&p.address.country) {
        ctx = ctx.with_holidays(country.holidays());
    }
    let oh = oh.with_context(ctx.with_locale(TzLocation::new(tz)));
    oh.is_open(now.with_timezone(&tz))
}

/// What a desk's hours say about the desk's local day at `now`: whether it is open now and the
/// times it opens that day, in its own time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Today {
    /// `None` when the desk gives no opening hours.
    pub open_now: Option<bool>,
    /// The day's open intervals as local `HH:MM` pairs, in order (`"24:00"` ends a day open
    /// until midnight). Empty: closed all day (or hours unknown).
    pub hours: Vec<(String, String)>,
}

/// The desk's hours on its local day at `now` (see [`Today`]), with its country's holidays.
pub fn today(p: &ContactPoint, now: DateTime<Utc>) -> Today {
    use chrono::TimeZone;
    let Some(oh) = p.opening_hours.as_deref().and_then(|s| s.parse::<OpeningHours>().ok()) else {
        return Today { open_now: None, hours: Vec::new() };
    };
    let tz = timezone(p);
    let mut ctx = Context::default();
    if let Ok(country) = Country::from_str(&p.address.country) {
        ctx = ctx.with_holidays(country.holidays());
    }
    let oh = oh.with_context(ctx.with_locale(TzLocation::new(tz)));
    let local = now.with_timezone(&tz);
    let day = local.date_naive();
    let midnight = |d: chrono::NaiveDate| tz.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN)).earliest();
    let (Some(start), Some(end)) = (midnight(day), day.succ_opt().and_then(midnight)) else {
        return Today { open_now: Some(oh.is_open(local)), hours: Vec::new() };
    };
    let hours = oh
        .iter_range(start, end)
        .filter(|r| r.kind == opening_hours::RuleKind::Open && r.range.start < r.range.end)
        .map(|r| {
            let to = if r.range.end >= end { "24:00".to_string() } else { r.range.end.format("%H:%M").to_string() };
            (r.range.start.format("%H:%M").to_string(), to)
        })
        .collect();
    Today { open_now: Some(oh.is_open(local)), hours }
}
