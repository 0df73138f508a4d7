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
