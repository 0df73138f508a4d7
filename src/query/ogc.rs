//! The selection and paging behind OGC API – Features (`/ogc/collections/contact-points/items`):
//! which desks a request matches, how many, and which of them one page holds. Pure, over the
//! same [`Snapshot`] (ordinals, filter bits, R-tree, stored features) as `/api/v1`.
//!
//! Items are listed in the bundle's own order (ordinals, which the build sorts along a
//! space-filling curve, so a page holds desks near one another). A page is `offset` and
//! `limit` over that order; `next` and `prev` are the neighbouring offsets. An offset names a
//! position in one bundle version: a reload between two pages may shift the list (the answer's
//! `X-Bundle-Version` header says which version a page came from).

use crate::index::Snapshot;
use crate::index::spatial::LonLatBox;
use crate::query::params::{Filters, ParamError, Params, err, shown};

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 10;
/// Most items a page holds; a larger `limit` is served as this many (the standard lets a
/// server return fewer than asked), with `next` links for the rest.
pub const MAX_LIMIT: usize = 1000;
/// A `bbox` holding more than one desk in this many is answered by a pass over all desks in
/// list order instead of sorting the R-tree's answer.
const TREE_SHARE: usize = 16;
/// Largest `offset` accepted.
pub const MAX_OFFSET: usize = u32::MAX as usize;

/// The parameters `/items` takes: the standard's (`bbox`, `limit`, `datetime`, `f`), the paging
/// position (`offset`, in the `next` and `prev` links) and the API's filters.
pub const ITEMS_PARAMS: &[&str] = &["bbox", "limit", "offset", "datetime", "f", "lang", "domain", "audience"];

/// `GET /ogc/collections/contact-points/items`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsRequest {
    /// WGS84 longitude/latitude box; `min_lon > max_lon` crosses the antimeridian.
    pub bbox: Option<LonLatBox>,
    /// Items asked for per page, 1 to [`MAX_LIMIT`] (larger asks are clamped to it).
    pub limit: usize,
    pub offset: usize,
    /// The `datetime` given, checked (RFC 3339 instant or interval); desks have no temporal
    /// geometry, so it selects nothing out.
    pub datetime: Option<String>,
    /// `lang`, `domain`, `audience` as in `/api/v1` (`audience` defaults to `public`).
    pub filters: Filters,
    /// Whether `audience` was given (so links repeat it).
    pub audience_given: bool,
}

/// Checks an RFC 3339 date-time, or `..`/empty for an open end of an interval.
fn instant(v: &str, open_ok: bool) -> bool {
    (open_ok && (v.is_empty() || v == "..")) || chrono::DateTime::parse_from_rfc3339(v).is_ok()
}

impl ItemsRequest {
    pub fn from_query(raw: Option<&str>) -> Result<ItemsRequest, ParamError> {
        let p = Params::parse(raw, ITEMS_PARAMS)?;
        let bbox = p.get("bbox").map(parse_bbox).transpose()?;
        let limit = match p.get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n >= 1 => (n.min(MAX_LIMIT as u64)) as usize,
                // Digits beyond u64 are still a (huge) whole number: the most a page holds.
                Err(_) if v.trim().bytes().all(|b| b.is_ascii_digit()) && v.trim().len() > 1 => MAX_LIMIT,
                _ => return Err(err("limit", format!("`{}` must be a whole number from 1 (larger than {MAX_LIMIT} is served as {MAX_LIMIT})", shown(v)))),
            },
        };
        let offset = p.integer("offset", 0, MAX_OFFSET, 0)?;
        let datetime = match p.get("datetime") {
            None => None,
            Some(v) => {
                let ok = match v.split_once('/') {
                    None => instant(v, false),
                    Some((a, b)) => instant(a, true) && instant(b, true) && !((a.is_empty() || a == "..") && (b.is_empty() || b == "..")),
                };
                if !ok {
                    return Err(err("datetime", format!("`{}` is not an RFC 3339 date-time (2026-12-02T08:00:00Z) or an interval of two (`..` for an open end)", shown(v))));
                }
                Some(v.to_string())
            }
        };
        match p.get("f") {
            None | Some("json") | Some("html") => {}
            Some(v) => return Err(err("f", format!("`{}` must be `json` or `html`", shown(v)))),
        }
        Ok(ItemsRequest { bbox, limit, offset, datetime, filters: p.filters()?, audience_given: p.get("audience").is_some() })
    }

    /// The query string of this request at another `offset` (for `next`, `prev` and `self`),
    /// with `f` as given.
    pub fn query_at(&self, offset: usize, f: Option<&str>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(b) = &self.bbox {
            q.append_pair("bbox", &format!("{},{},{},{}", b.min_lon, b.min_lat, b.max_lon, b.max_lat));
        }
        filter_pairs(&self.filters, self.audience_given, &mut q);
        if let Some(d) = &self.datetime {
            q.append_pair("datetime", d);
        }
        q.append_pair("limit", &self.limit.to_string());
        q.append_pair("offset", &offset.to_string());
        if let Some(f) = f {
            q.append_pair("f", f);
        }
        q.finish()
    }
}

/// Appends `lang`, `domain` and (when it was given) `audience` as a request gave them.
fn filter_pairs(f: &Filters, audience_given: bool, q: &mut form_urlencoded::Serializer<String>) {
    if !f.langs.is_empty() {
        q.append_pair("lang", &f.langs.join(","));
    }
    if !f.domains.is_empty() {
        q.append_pair("domain", &f.domains.iter().map(|d| d.code()).collect::<Vec<_>>().join(","));
    }
    if audience_given {
        q.append_pair("audience", audience_code(f));
    }
}

/// The parameters of the documents other than `/items` (landing page, conformance, API,
/// collections, one desk): `f`, and the filters `lang`, `domain` and `audience`, which GIS
/// clients given a URL with a query string (`OAPIF:http://host/ogc?audience=all`) repeat on
/// every request. The filters are checked like `/items`' and carried into the `items` links.
#[derive(Debug, Clone, PartialEq)]
pub struct DocRequest {
    pub f: Option<String>,
    /// The filters as a query string (empty when none), for the links to `/items`.
    pub filters: String,
}

impl DocRequest {
    pub fn from_query(raw: Option<&str>) -> Result<DocRequest, ParamError> {
        let p = Params::parse(raw, &["f", "lang", "domain", "audience"])?;
        let f = match p.get("f") {
            None => None,
            Some(v @ ("json" | "html")) => Some(v.to_string()),
            Some(v) => return Err(err("f", format!("`{}` must be `json` or `html`", shown(v)))),
        };
        let mut q = form_urlencoded::Serializer::new(String::new());
        filter_pairs(&p.filters()?, p.get("audience").is_some(), &mut q);
        Ok(DocRequest { f, filters: q.finish() })
    }
}

/// `public`, `unions` or `all`.
pub fn audience_code(f: &Filters) -> &'static str {
    use crate::index::spatial::AudienceFilter;
    use crate::model::Audience;
    match f.audience {
        AudienceFilter::All => "all",
        AudienceFilter::Only(Audience::Public) => "public",
        AudienceFilter::Only(Audience::Unions) => "unions",
    }
}

/// `bbox=minLon,minLat,maxLon,maxLat` (or the 3-D form with heights after each corner's
/// latitude, which are ignored), in WGS84 degrees (CRS84).
fn parse_bbox(b: &str) -> Result<LonLatBox, ParamError> {
    let typed: Vec<&str> = b.split(',').map(str::trim).collect();
    let nums: Vec<f64> = typed.iter().filter_map(|x| x.parse::<f64>().ok().filter(|f| f.is_finite())).collect();
    if nums.len() != typed.len() || !(nums.len() == 4 || nums.len() == 6) {
        return Err(err("bbox", format!("`{}` must be four numbers, minLon,minLat,maxLon,maxLat (or six, with heights)", shown(b))));
    }
    let (min_lon, min_lat, max_lon, max_lat) = if nums.len() == 4 { (nums[0], nums[1], nums[2], nums[3]) } else { (nums[0], nums[1], nums[3], nums[4]) };
    for (v, what) in [(min_lon, "minLon"), (max_lon, "maxLon")] {
        if !(-180.0..=180.0).contains(&v) {
            return Err(err("bbox", format!("{what} {} is outside -180..180", shown(&v.to_string()))));
        }
    }
    for (v, what) in [(min_lat, "minLat"), (max_lat, "maxLat")] {
        if !(-90.0..=90.0).contains(&v) {
            return Err(err("bbox", format!("{what} {} is outside -90..90 (order is minLon,minLat,maxLon,maxLat)", shown(&v.to_string()))));
        }
    }
    if min_lat > max_lat {
        return Err(err("bbox", "minLat is above maxLat"));
    }
    Ok(LonLatBox { min_lon, min_lat, max_lon, max_lat })
}

/// One page of items.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsPage {
    /// The desks of the page, in list order.
    pub ords: Vec<u32>,
    /// Desks matching the request in all.
    pub matched: usize,
    pub offset: usize,
    pub limit: usize,
}

impl ItemsPage {
    /// The offset of the next page, when there are desks after this one.
    pub fn next(&self) -> Option<usize> {
        (self.offset.saturating_add(self.ords.len()) < self.matched && !self.ords.is_empty()).then(|| self.offset + self.limit)
    }

    /// The offset of the previous page, when this one does not start the list.
    pub fn prev(&self) -> Option<usize> {
        (self.offset > 0).then(|| self.offset.saturating_sub(self.limit).min(self.matched.saturating_sub(1) / self.limit * self.limit))
    }
}

/// The page of desks `r` asks for, and how many match in all. One pass over the desks' filter
/// bits (or over the R-tree's answer for `bbox`), so its cost grows with the desks, not the page.
pub fn items(s: &Snapshot, r: &ItemsRequest) -> ItemsPage {
    let f = super::compile(s, &r.filters);
    let keep = |ord: u32| {
        let b = &s.bits[ord as usize];
        f.matches_bits(b.langs, b.domains, b.audience, || {
            s.desks.desk(ord).is_some_and(|p| f.rare_langs().iter().any(|l| p.speaks(l)))
        })
    };
    let end = r.offset.saturating_add(r.limit);
    let mut ords = Vec::with_capacity(r.limit.min(s.len()));
    let mut matched = 0usize;
    let mut take = |ord: u32| {
        if (r.offset..end).contains(&matched) {
            ords.push(ord);
        }
        matched += 1;
    };
    match r.bbox {
        None => (0..s.len() as u32).filter(|&o| keep(o)).for_each(&mut take),
        Some(b) => {
            let lon_lat = |ord: u32| {
                let (lat, lon) = s.desks.lat_lon(ord);
                (lon, lat)
            };
            // A small box: the R-tree's desks, sorted into list order. A box holding more than
            // [`TREE_SHARE`] of the desks: one pass in list order is cheaper than the sort.
            let cap = s.len() / TREE_SHARE + 1024;
            let mut inside: Vec<u32> = s.spatial.within(b, |_| true, lon_lat).map(|e| e.ord).take(cap + 1).collect();
            if inside.len() > cap {
                (0..s.len() as u32)
                    .filter(|&o| {
                        let (lon, lat) = lon_lat(o);
                        b.contains(lon, lat) && keep(o)
                    })
                    .for_each(&mut take);
            } else {
                inside.retain(|&o| keep(o));
                inside.sort_unstable();
                inside.into_iter().for_each(&mut take);
            }
        }
    }
    ItemsPage { ords, matched, offset: r.offset, limit: r.limit }
}

/// `[west, south, east, north]` in degrees of every desk of the bundle (all audiences), or `None`
/// for an empty bundle.
pub fn extent(s: &Snapshot) -> Option<[f64; 4]> {
    let mut it = s.desks.positions().iter();
    let &[lat, lon] = it.next()?;
    let mut e = [lon, lat, lon, lat];
    for &[lat, lon] in it {
        e = [e[0].min(lon), e[1].min(lat), e[2].max(lon), e[3].max(lat)];
    }
    Some(e)
}

/// One desk by its id, whatever its audience (as `/api/v1/points/{id}`).
pub fn item(s: &Snapshot, id: &str) -> Option<u32> {
    s.desks.ord_of(id)
}
