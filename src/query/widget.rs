//! What the map widget needs beyond the public API: the state today of the desks it lists (open
//! now, today's hours, in each desk's own time zone, computed by the same code as the pages), and
//! the checked parameters of its iframe form `/embed`. Pure: no HTTP types, no index logic beyond
//! looking desks up by id.

use chrono::{DateTime, Utc};

use super::ParamError;
use super::open::{self, Today};
use super::params::{MAX_LANGS, MAX_RESULTS, Params};
use crate::index::Snapshot;
use crate::model::{Domain, GeoPoint, Language, Taxonomy};

fn err(name: &str, reason: impl Into<String>) -> ParamError {
    ParamError { name: name.to_string(), reason: reason.into() }
}

/// A refused value as an error repeats it: at most 40 characters.
fn shown(v: &str) -> String {
    let mut s: String = v.chars().take(40).collect();
    if v.chars().count() > 40 {
        s.push('…');
    }
    s
}

/// `GET /widget/today?ids=a,b,c`: at most [`MAX_RESULTS`] desk ids (a widget lists at most that
/// many desks), repeats counted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodayRequest {
    pub ids: Vec<String>,
}

impl TodayRequest {
    pub fn from_query(raw: Option<&str>) -> Result<Self, ParamError> {
        let p = Params::parse(raw, &["ids"])?;
        let v = p.get("ids").ok_or_else(|| err("ids", "required: the desk ids, comma-separated"))?;
        let mut ids: Vec<String> = Vec::new();
        for id in v.split(',').map(str::trim) {
            if id.is_empty() || id.len() > 200 {
                return Err(err("ids", format!("`{}` is not a desk id", shown(id))));
            }
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
            if ids.len() > MAX_RESULTS {
                return Err(err("ids", format!("lists more than {MAX_RESULTS} ids")));
            }
        }
        Ok(TodayRequest { ids })
    }
}

/// Each known desk of `r` with its state at `now` ([`open::today`]), in the order asked; unknown
/// ids are left out (the desk may have gone in a reload since the list was made).
pub fn today_of(s: &Snapshot, r: &TodayRequest, now: DateTime<Utc>) -> Vec<(String, Today)> {
    r.ids
        .iter()
        .filter_map(|id| super::point(s, id).and_then(|ord| Some((id.clone(), open::today(&s.desks.desk(ord)?, now)))))
        .collect()
}

/// The parameters of `/embed` (the iframe form of the widget), each becoming the `data-`
/// attribute of the same meaning: `lang` (UI language, one of the 30), `center` (`lat,lon`),
/// `zoom` (0–18), `domain`, `audience` and `lang_filter` (the presets).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbedRequest {
    pub lang: Option<String>,
    /// Latitude and longitude, in degrees.
    pub center: Option<GeoPoint>,
    pub zoom: Option<u8>,
    pub domains: Vec<Domain>,
    /// `public`, `unions` or `all`.
    pub audience: Option<&'static str>,
    pub langs: Vec<String>,
}

/// Highest zoom `/embed` starts at.
pub const MAX_EMBED_ZOOM: u8 = 18;

impl EmbedRequest {
    pub fn from_query(raw: Option<&str>, taxonomy: &Taxonomy) -> Result<Self, ParamError> {
        let p = Params::parse(raw, &["lang", "center", "zoom", "domain", "audience", "lang_filter"])?;
        let mut r = EmbedRequest::default();
        if let Some(v) = p.get("lang") {
            let code = v.trim();
            if taxonomy.ui_language(code).is_none() {
                return Err(err("lang", format!("`{}` is not one of the 30 interface languages", shown(code))));
            }
            r.lang = Some(code.to_string());
        }
        if let Some(v) = p.get("center") {
            let bad = || err("center", format!("`{}` must be `lat,lon` in degrees, e.g. 45.46,9.19", shown(v)));
            let (lat, lon) = v.split_once(',').ok_or_else(bad)?;
            let (lat, lon) = (lat.trim().parse::<f64>().map_err(|_| bad())?, lon.trim().parse::<f64>().map_err(|_| bad())?);
            r.center = Some(GeoPoint::new(lat, lon).map_err(|e| err("center", e))?);
        }
        if let Some(v) = p.get("zoom") {
            r.zoom = Some(v.trim().parse::<u8>().ok().filter(|z| *z <= MAX_EMBED_ZOOM).ok_or_else(|| {
                err("zoom", format!("`{}` must be a whole number from 0 to {MAX_EMBED_ZOOM}", shown(v)))
            })?);
        }
        if let Some(v) = p.get("domain") {
            for c in v.split(',').map(str::trim) {
                let d = Domain::parse(c).ok_or_else(|| err("domain", format!("`{}` is not a service domain; see /api/v1/domains", shown(c))))?;
                if !r.domains.contains(&d) {
                    r.domains.push(d);
                }
            }
        }
        if let Some(v) = p.get("audience") {
            r.audience = Some(match v.trim() {
                "public" => "public",
                "unions" => "unions",
                "all" => "all",
                other => return Err(err("audience", format!("`{}` must be `public`, `unions` or `all`", shown(other)))),
            });
        }
        if let Some(v) = p.get("lang_filter") {
            for c in v.split(',').map(str::trim) {
                let l = Language::new(c).map_err(|e| err("lang_filter", e))?;
                if !r.langs.iter().any(|x| x == l.as_str()) {
                    r.langs.push(l.as_str().to_string());
                }
                if r.langs.len() > MAX_LANGS {
                    return Err(err("lang_filter", format!("lists more than {MAX_LANGS} codes")));
                }
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_parameters_are_checked_and_name_the_one_at_fault() {
        let t = Taxonomy::embedded();
        let r = EmbedRequest::from_query(Some("lang=ar&center=45.46,9.19&zoom=12&domain=housing,health&audience=all&lang_filter=ar,fr"), t).unwrap();
        assert_eq!(r.lang.as_deref(), Some("ar"));
        assert_eq!(r.zoom, Some(12));
        assert_eq!(r.domains, vec![Domain::parse("housing").unwrap(), Domain::parse("health").unwrap()]);
        assert_eq!(r.langs, vec!["ar", "fr"]);
        for (q, name) in [
            ("lang=xx", "lang"),
            ("center=91,0", "center"),
            ("center=abc", "center"),
            ("zoom=19", "zoom"),
            ("domain=nope", "domain"),
            ("audience=everyone", "audience"),
            ("lang_filter=Arabic", "lang_filter"),
            ("colour=red", "colour"),
        ] {
            assert_eq!(EmbedRequest::from_query(Some(q), t).unwrap_err().name, name, "{q}");
        }
    }

    #[test]
    fn today_takes_at_most_the_largest_list() {
        let many: Vec<String> = (0..=MAX_RESULTS).map(|i| format!("d{i}")).collect();
        assert_eq!(TodayRequest::from_query(Some(&format!("ids={}", many.join(",")))).unwrap_err().name, "ids");
        assert_eq!(TodayRequest::from_query(Some("ids=a,a,b")).unwrap().ids, vec!["a", "b"]);
        assert_eq!(TodayRequest::from_query(None).unwrap_err().name, "ids");
        assert_eq!(TodayRequest::from_query(Some("ids=a,,b")).unwrap_err().name, "ids");
    }
}
