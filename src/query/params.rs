//! Parsing of query-string parameters into typed requests. Pure (no HTTP types) so the HTTP layer
//! and the `query` CLI share it. Every error names the parameter and says what is wrong; unknown
//! and repeated parameters are errors, not ignored.

use std::collections::HashMap;

use crate::index::spatial::{AudienceFilter, LonLatBox};
use crate::locate::{Candidate, gazetteer};
use crate::model::{Audience, Domain, GeoPoint, Language};
use crate::query::viewport::{MAX_VIEWPORT_PX, MAX_ZOOM, largest_zoom_within, size_px};

/// A bad parameter: its name and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{name}`: {reason}")]
pub struct ParamError {
    pub name: String,
    pub reason: String,
}

pub(crate) fn err(name: &str, reason: impl Into<String>) -> ParamError {
    ParamError { name: name.to_string(), reason: reason.into() }
}

/// Largest `k` of `nearest` and `limit` of `search`.
pub const MAX_RESULTS: usize = 100;
/// Longest accepted search text, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Longest accepted place name, in characters.
pub const MAX_PLACE_CHARS: usize = 100;
/// Most town candidates `locate?place=` returns, and its default.
pub const MAX_PLACES: usize = gazetteer::MAX_CANDIDATES;
const DEFAULT_PLACES: usize = 5;
/// Half the Earth's circumference: no two points are farther apart.
const MAX_KM: f64 = 20_038.0;
/// Most codes a `lang` list may hold (the taxonomy has 30 languages; desks list a few more).
pub const MAX_LANGS: usize = 32;
/// Characters of a refused value repeated in an error.
const SHOWN_CHARS: usize = 40;

/// `v` as an error repeats it: at most [`SHOWN_CHARS`] characters.
pub(crate) fn shown(v: &str) -> String {
    if v.chars().count() <= SHOWN_CHARS {
        v.to_string()
    } else {
        format!("{}…", v.chars().take(SHOWN_CHARS).collect::<String>())
    }
}

/// The items of a comma-separated list, trimmed, without repeats, at most `max` (an empty item
/// stays, for its parser to refuse).
fn list<'a>(name: &str, v: &'a str, max: usize) -> Result<Vec<&'a str>, ParamError> {
    let mut items: Vec<&str> = Vec::new();
    for item in v.split(',').map(str::trim) {
        if !items.contains(&item) {
            items.push(item);
        }
        if items.len() > max {
            return Err(err(name, format!("lists more than {max} codes")));
        }
    }
    Ok(items)
}

/// The decoded parameters of one request, checked against the names an endpoint accepts.
pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    /// Decodes `raw` (the query string without `?`), refusing names outside `allowed` and names
    /// given twice.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ParamError> {
        let mut values = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if k.is_empty() {
                continue;
            }
            if !allowed.contains(&k.as_ref()) {
                let shown: String = k.chars().take(40).collect();
                return Err(err(&shown, format!("unknown parameter; this endpoint takes: {}", allowed.join(", "))));
            }
            if values.insert(k.to_string(), v.to_string()).is_some() {
                return Err(err(&k, "given more than once; give it once (lists are comma-separated)"));
            }
        }
        Ok(Params { values })
    }

    /// The raw value, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    fn number(&self, name: &str) -> Result<Option<f64>, ParamError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| err(name, format!("`{}` is not a number", shown(v))))
            })
            .transpose()
    }

    pub(crate) fn integer(&self, name: &str, min: usize, max: usize, default: usize) -> Result<usize, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(err(name, format!("`{}` must be a whole number from {min} to {max}", shown(v)))),
            },
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, ParamError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(err(name, format!("`{}` must be `true` or `false`", shown(v)))),
        }
    }

    /// `lat` and `lon` together: required, or optional (both or neither).
    fn position(&self, required: bool) -> Result<Option<GeoPoint>, ParamError> {
        let lat = self.number("lat")?;
        let lon = self.number("lon")?;
        match (lat, lon) {
            (Some(lat), Some(lon)) => {
                let lat = crate::model::Latitude::new(lat).map_err(|e| err("lat", e))?;
                let lon = crate::model::Longitude::new(lon).map_err(|e| err("lon", e))?;
                Ok(Some(GeoPoint { lat, lon }))
            }
            (None, None) if !required => Ok(None),
            (None, _) => Err(err("lat", if required { "required: the latitude in degrees, -90 to 90" } else { "give lat together with lon" })),
            (_, None) => Err(err("lon", if required { "required: the longitude in degrees, -180 to 180" } else { "give lon together with lat" })),
        }
    }

    /// The UI language (`ui`): a valid code, English when absent.
    fn ui(&self) -> Result<String, ParamError> {
        match self.get("ui") {
            None => Ok("en".to_string()),
            Some(v) => Ok(Language::new(&shown(v.trim())).map_err(|e| err("ui", e))?.as_str().to_string()),
        }
    }

    /// A place name (`place`), trimmed and at most [`MAX_PLACE_CHARS`] characters.
    fn place_text(&self) -> Result<Option<String>, ParamError> {
        let Some(v) = self.get("place") else { return Ok(None) };
        if v.chars().count() > MAX_PLACE_CHARS {
            return Err(err("place", format!("longer than {MAX_PLACE_CHARS} characters")));
        }
        Ok(Some(v.trim().to_string()))
    }

    /// A position from `lat`/`lon`, or from `place` through the gazetteer (the best candidate,
    /// which is returned so the answer can say which town was understood). Not both.
    fn position_or_place(&self, required: bool) -> Result<(Option<GeoPoint>, Option<Candidate>), ParamError> {
        let Some(text) = self.place_text()? else {
            return Ok((self.position(required)?, None));
        };
        if self.get("lat").is_some() || self.get("lon").is_some() {
            return Err(err("place", "give either `place` or `lat` and `lon`, not both"));
        }
        let Some(town) = gazetteer::embedded().lookup(&text, &self.ui()?, None, 1).into_iter().next() else {
            return Err(err("place", format!("no town matches `{text}`; /api/v1/locate?place= suggests names, or give lat and lon")));
        };
        let at = GeoPoint::new(town.lat, town.lon).map_err(|e| err("place", e))?;
        Ok((Some(at), Some(town)))
    }

    pub(crate) fn filters(&self) -> Result<Filters, ParamError> {
        let langs = match self.get("lang") {
            None => Vec::new(),
            Some(v) => list("lang", v, MAX_LANGS)?
                .into_iter()
                .map(|c| Language::new(&shown(c)).map(|l| l.as_str().to_string()).map_err(|e| err("lang", e)))
                .collect::<Result<_, _>>()?,
        };
        let domains = match self.get("domain") {
            None => Vec::new(),
            Some(v) => list("domain", v, Domain::ALL.len())?
                .into_iter()
                .map(|c| {
                    Domain::parse(c).ok_or_else(|| {
                        let hint = Domain::closest(c).map(|d| format!(" (did you mean `{d}`?)")).unwrap_or_default();
                        err("domain", format!("`{}` is not a service domain{hint}; see /api/v1/domains", shown(c)))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let audience = match self.get("audience") {
            None | Some("public") => AudienceFilter::Only(Audience::Public),
            Some("unions") => AudienceFilter::Only(Audience::Unions),
            Some("all") => AudienceFilter::All,
            Some(v) => return Err(err("audience", format!("`{}` must be `public`, `unions` or `all`", shown(v)))),
        };
        Ok(Filters { langs, domains, audience, open_now: self.boolean("open_now")? })
    }
}

/// Filters common to every query. Empty lists mean "any".
#[derive(Debug, Clone, PartialEq)]
pub struct Filters {
    /// The desk speaks any of these language codes.
    pub langs: Vec<String>,
    /// The desk offers any of these domains.
    pub domains: Vec<Domain>,
    pub audience: AudienceFilter,
    /// Only desks whose opening hours say they are open now, in their own time zone.
    pub open_now: bool,
}

impl Default for Filters {
    fn default() -> Self {
        Filters { langs: Vec::new(), domains: Vec::new(), audience: AudienceFilter::Only(Audience::Public), open_now: false }
    }
}

const FILTERS: [&str; 4] = ["lang", "domain", "audience", "open_now"];

fn names(own: &[&'static str]) -> Vec<&'static str> {
    own.iter().copied().chain(FILTERS).collect()
}

/// `nearest`: the `k` desks nearest to `at`, optionally within `max_m` metres.
#[derive(Debug, Clone, PartialEq)]
pub struct NearestRequest {
    pub at: GeoPoint,
    /// The town `place=` was understood as, when the position came from a name.
    pub place: Option<Candidate>,
    pub k: usize,
    pub max_m: Option<f64>,
    pub filters: Filters,
}

impl NearestRequest {
    pub fn from_query(raw: Option<&str>) -> Result<Self, ParamError> {
        let p = Params::parse(raw, &names(&["lat", "lon", "place", "ui", "k", "max_km"]))?;
        let (at, place) = p.position_or_place(true)?;
        let max_m = match p.number("max_km")? {
            Some(km) if km > 0.0 && km <= MAX_KM => Some(km * 1000.0),
            Some(_) => {
                let typed = shown(p.get("max_km").unwrap_or_default().trim());
                return Err(err("max_km", format!("`{typed}` must be more than 0 and at most {MAX_KM} km")));
            }
            None => None,
        };
        Ok(NearestRequest {
            at: at.expect("required position"),
            place,
            k: p.integer("k", 1, MAX_RESULTS, 10)?,
            max_m,
            filters: p.filters()?,
        })
    }
}

/// `points`: the desks inside a viewport, clustered when there are too many for the zoom.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewportRequest {
    pub bbox: LonLatBox,
    /// Map zoom (0–22); when absent, the zoom at which the box fills about 1024 pixels. The box
    /// is at most [`MAX_VIEWPORT_PX`] pixels on a side at this zoom.
    pub zoom: Option<u8>,
    pub filters: Filters,
}

impl ViewportRequest {
    pub fn from_query(raw: Option<&str>) -> Result<Self, ParamError> {
        let p = Params::parse(raw, &names(&["bbox", "zoom"]))?;
        let Some(b) = p.get("bbox") else {
            return Err(err("bbox", "required: minLon,minLat,maxLon,maxLat in degrees"));
        };
        let typed: Vec<&str> = b.split(',').map(str::trim).collect();
        let nums: Vec<f64> = typed.iter().filter_map(|x| x.parse::<f64>().ok().filter(|f| f.is_finite())).collect();
        if nums.len() != 4 || typed.len() != 4 {
            return Err(err("bbox", format!("`{}` must be four numbers: minLon,minLat,maxLon,maxLat", shown(b))));
        }
        let (min_lon, min_lat, max_lon, max_lat) = (nums[0], nums[1], nums[2], nums[3]);
        // Values are repeated as typed (at most 40 characters), not as parsed: `1e300` stays short.
        for (i, what) in [(0, "minLon"), (2, "maxLon")] {
            if !(-180.0..=180.0).contains(&nums[i]) {
                return Err(err("bbox", format!("{what} {} is outside -180..180", shown(typed[i]))));
            }
        }
        for (i, what) in [(1, "minLat"), (3, "maxLat")] {
            if !(-90.0..=90.0).contains(&nums[i]) {
                return Err(err("bbox", format!("{what} {} is outside -90..90 (order is minLon,minLat,maxLon,maxLat)", shown(typed[i]))));
            }
        }
        if min_lat > max_lat {
            return Err(err("bbox", format!("minLat {} is above maxLat {}", shown(typed[1]), shown(typed[3]))));
        }
        let bbox = LonLatBox { min_lon, min_lat, max_lon, max_lat };
        let zoom = match p.get("zoom") {
            None => None,
            Some(_) => Some(p.integer("zoom", 0, usize::from(MAX_ZOOM), 0)? as u8),
        };
        if let Some(z) = zoom {
            let (w, h) = size_px(&bbox, z);
            if w.max(h) > MAX_VIEWPORT_PX {
                let fits = largest_zoom_within(&bbox, MAX_VIEWPORT_PX);
                return Err(err(
                    "zoom",
                    format!(
                        "at zoom {z} this bbox is {:.0} × {:.0} pixels; a viewport may be at most {MAX_VIEWPORT_PX} pixels on a side, so use zoom {fits} or less, or a smaller bbox",
                        w.ceil(),
                        h.ceil()
                    ),
                ));
            }
        }
        Ok(ViewportRequest { bbox, zoom, filters: p.filters()? })
    }
}

/// `search`: text relevance, blended with distance when a position is given.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub q: Option<String>,
    pub at: Option<GeoPoint>,
    /// The town `place=` was understood as, when the position came from a name.
    pub place: Option<Candidate>,
    pub limit: usize,
    pub filters: Filters,
}

impl SearchRequest {
    pub fn from_query(raw: Option<&str>) -> Result<Self, ParamError> {
        let p = Params::parse(raw, &names(&["q", "lat", "lon", "place", "ui", "limit"]))?;
        let q = p.get("q").map(|q| q.trim().to_string());
        if let Some(q) = &q
            && q.chars().count() > MAX_QUERY_CHARS
        {
            return Err(err("q", format!("longer than {MAX_QUERY_CHARS} characters")));
        }
        let (at, place) = p.position_or_place(false)?;
        Ok(SearchRequest { q, at, place, limit: p.integer("limit", 1, MAX_RESULTS, 20)?, filters: p.filters()? })
    }
}

/// `domains`: the taxonomy in one UI language.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainsRequest {
    pub ui: String,
}

impl DomainsRequest {
    pub fn from_query(raw: Option<&str>) -> Result<Self, ParamError> {
        let p = Params::parse(raw, &["ui"])?;
        Ok(DomainsRequest { ui: p.ui()? })
    }
}

/// `locate`: the caller's approximate position from their IP address, or, with `place`, the towns
/// whose names match it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocateRequest {
    /// Text typed, for town candidates; `None` asks for the position of the caller's address.
    pub place: Option<String>,
    /// Language of the names shown.
    pub ui: String,
    /// Towns near here rank higher (only with `place`).
    pub bias: Option<GeoPoint>,
    /// Most candidates (only with `place`).
    pub limit: usize,
}

impl LocateRequest {
    pub fn from_query(raw: Option<&str>) -> Result<Self, ParamError> {
        let p = Params::parse(raw, &["place", "ui", "lat", "lon", "limit"])?;
        let place = p.place_text()?;
        if place.is_none() {
            for name in ["lat", "lon", "limit"] {
                if p.get(name).is_some() {
                    return Err(err(name, "only with `place`: without it, the position comes from the caller's address"));
                }
            }
        }
        Ok(LocateRequest {
            place,
            ui: p.ui()?,
            bias: p.position(false)?,
            limit: p.integer("limit", 1, MAX_PLACES, DEFAULT_PLACES)?,
        })
    }
}

/// Requests that take no parameters still refuse unknown ones.
pub fn no_params(raw: Option<&str>) -> Result<(), ParamError> {
    Params::parse(raw, &[]).map(|_| ())
}

/// The list page (`/list`): a position from `lat`/`lon` or a town name (`place`, looked up by the
/// query, so a name that matches nothing is an answer, not an error; when both are given the
/// name wins, as the form keeps the position it was opened with), optional free text `q`, the
/// filters `lang` and `domain`. `ui`, the page's language, is accepted and left to the page (any
/// value: it falls back to the browser's languages). Public desks only.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    pub place: Option<String>,
    pub at: Option<GeoPoint>,
    pub q: Option<String>,
    pub filters: Filters,
}

impl ListRequest {
    pub fn from_query(raw: Option<&str>) -> Result<Self, ParamError> {
        let p = Params::parse(raw, &["place", "lat", "lon", "q", "lang", "domain", "ui"])?;
        let place = p.place_text()?;
        // A town typed into the form wins over the position the page was opened with.
        let at = if place.is_some() { None } else { p.position(false)? };
        let q = p.get("q").map(|q| q.trim().to_string());
        if let Some(q) = &q
            && q.chars().count() > MAX_QUERY_CHARS
        {
            return Err(err("q", format!("longer than {MAX_QUERY_CHARS} characters")));
        }
        Ok(ListRequest { place, at, q, filters: p.filters()? })
    }

    /// Whether anything was asked at all (a bare `/list` shows only the form).
    pub fn is_empty(&self) -> bool {
        self.place.is_none() && self.at.is_none() && self.q.is_none() && self.filters.langs.is_empty() && self.filters.domains.is_empty()
    }
}

/// `/tiles/{z}/{x}/{y}.mvt|.geojson`: one tile of the pyramid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRequest {
    pub coord: crate::tiles::TileCoord,
    pub format: crate::tiles::Format,
}

impl TileRequest {
    /// Parses the path's zoom `z`, column `x` and last segment `{y}.mvt` or `{y}.geojson`; no
    /// query parameters are accepted.
    pub fn from_path(z: &str, x: &str, file: &str, raw: Option<&str>) -> Result<Self, ParamError> {
        use crate::tiles::{Format, MAX_ZOOM, TileCoord};
        no_params(raw)?;
        let whole = |name: &str, v: &str, max: u32| -> Result<u32, ParamError> {
            let n = if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) { None } else { v.parse::<u32>().ok() };
            n.filter(|&n| n <= max).ok_or_else(|| err(name, format!("{:?} is not a whole number from 0 to {max}", shown(v))))
        };
        let z = whole("z", z, u32::from(MAX_ZOOM))? as u8;
        let last = (1u32 << z) - 1;
        let x = whole("x", x, last)?;
        let (y, ext) = file.rsplit_once('.').ok_or_else(|| err("format", "the tile name must end in .mvt or .geojson"))?;
        let format = match ext {
            "mvt" => Format::Mvt,
            "geojson" => Format::GeoJson,
            other => return Err(err("format", format!("{:?} is not a tile format; use .mvt or .geojson", shown(other)))),
        };
        let y = whole("y", y, last)?;
        let coord = TileCoord::new(z, x, y).ok_or_else(|| err("z", "outside the pyramid"))?;
        Ok(TileRequest { coord, format })
    }
}
