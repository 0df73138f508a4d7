//! `sportello export`: a bundle's desks written back out, as the GeoJSON `build` reads or as Open
//! Referral HSDS 3.0 JSON (an array of organizations, valid against the published
//! `schema/compiled/organization.json`).
//!
//! HSDS shape: one organization per distinct `organization` name; per desk one physical location
//! (its position, address, languages, phones, schedules, accessibility) and one service offered
//! there (its name, description, contacts, fees), linked by a service_at_location. HSDS ids are
//! UUIDs, so each is derived from the desk id (UUID version 8 over a BLAKE3 hash: the same desk
//! always gets the same ids) and the desk id itself is the location's `external_identifier`.
//! What HSDS has no field for (audience, the exact OpenStreetMap hours, time zone, access, fees,
//! messaging handles, the description in every language) travels in attributes of the
//! `sportello-fields` taxonomy, and the domains in attributes of `sportello-domains`; the HSDS
//! reader (`ingest::hsds`) reads them back, so export → build gives the same desks.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::ingest::hsds::{DOMAIN_TAXONOMY, FIELD_TAXONOMY, ID_TYPE};
use crate::model::ContactPoint;
use crate::model::taxonomy::Taxonomy;

/// A stable UUID for `what` (a kind and a key, e.g. `location:it-milano-anolf`).
fn uuid(what: &str) -> String {
    let h = blake3::hash(format!("sportello-hsds:{what}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    uuid::Uuid::new_v8(b).hyphenated().to_string()
}

/// An attribute of one of this project's taxonomies on the entity `link_id`.
fn attribute(link: &str, link_type: &str, taxonomy: &str, code: &str, name: &str, language: Option<&str>, value: Option<&str>) -> Value {
    let term_key = format!("{taxonomy}:{code}:{}", language.unwrap_or(""));
    let mut term = json!({
        "id": uuid(&format!("term:{term_key}")),
        "code": code,
        "name": name,
        "description": name,
        "taxonomy": taxonomy,
    });
    if let Some(l) = language {
        term["language"] = json!(l);
    }
    let mut a = json!({
        "id": uuid(&format!("attribute:{link}:{term_key}")),
        "link_id": link,
        "link_type": link_type,
        "link_entity": link_type,
        "taxonomy_term_id": term["id"].clone(),
        "taxonomy_term": term,
    });
    if let Some(v) = value {
        a["value"] = json!(v);
    }
    a
}

/// Weekly HSDS schedules (`freq` WEEKLY, `byday`, `opens_at`, `closes_at`) from the desk's
/// OpenStreetMap hours, evaluated with the `opening-hours` crate over a week without public
/// holidays (HSDS cannot say "closed on holidays"; the exact hours travel in an attribute).
fn schedules(p: &ContactPoint, location: &str) -> Vec<Value> {
    use chrono::{Duration, NaiveDate, NaiveTime};
    let Some(oh) = p.opening_hours.as_deref().and_then(|s| s.parse::<opening_hours::OpeningHours>().ok()) else {
        return Vec::new();
    };
    const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    // A Monday with no public holiday in the week after it anywhere in Europe.
    let monday = NaiveDate::from_ymd_opt(2025, 3, 3).expect("valid date");
    let mut per_interval: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for (i, day) in DAYS.iter().enumerate() {
        let start = (monday + Duration::days(i as i64)).and_time(NaiveTime::MIN);
        let end = start + Duration::days(1);
        for r in oh.iter_range(start, end) {
            if r.kind != opening_hours::RuleKind::Open || r.range.start >= r.range.end {
                continue;
            }
            let to = if r.range.end >= end { "23:59".to_string() } else { r.range.end.format("%H:%M").to_string() };
            per_interval.entry((r.range.start.format("%H:%M").to_string(), to)).or_default().push(day);
        }
    }
    per_interval
        .into_iter()
        .map(|((opens, closes), days)| {
            let byday = days.join(",");
            json!({
                "id": uuid(&format!("schedule:{}:{byday}:{opens}-{closes}", p.id)),
                "location_id": location,
                "freq": "WEEKLY",
                "wkst": "MO",
                "byday": byday,
                "opens_at": opens,
                "closes_at": closes,
                "description": format!("Opening hours (OpenStreetMap syntax): {}", p.opening_hours.as_deref().unwrap_or("")),
            })
        })
        .collect()
}

/// One location, service and service_at_location for desk `p` of organization `org_id`.
fn desk(p: &ContactPoint, org_id: &str, t: &Taxonomy) -> (Value, Value) {
    let loc_id = uuid(&format!("location:{}", p.id));
    let svc_id = uuid(&format!("service:{}", p.id));
    let fields = |code: &str, value: &str| attribute(&loc_id, "location", FIELD_TAXONOMY, code, code, None, Some(value));
    let mut loc_attrs = vec![fields("audience", p.audience.as_str())];
    if let Some(oh) = &p.opening_hours {
        loc_attrs.push(fields("opening_hours", oh));
    }
    if let Some(tz) = &p.timezone {
        loc_attrs.push(fields("timezone", tz));
    }
    if let Some(f) = p.fees {
        loc_attrs.push(fields("fees", f.as_str()));
    }
    if let Some(u) = &p.updated {
        loc_attrs.push(fields("updated", u));
    }
    let a = &p.access;
    for (k, v) in [("walk_in", a.walk_in), ("appointment", a.appointment), ("phone", a.phone), ("online", a.online)] {
        if let Some(v) = v {
            loc_attrs.push(fields(&format!("access.{k}"), if v { "true" } else { "false" }));
        }
    }
    if let Some(w) = a.wheelchair {
        loc_attrs.push(fields("access.wheelchair", w.as_str()));
    }
    let c = &p.contacts;
    for (k, v) in [("phone", &c.phone), ("email", &c.email), ("website", &c.website), ("whatsapp", &c.whatsapp), ("signal", &c.signal), ("telegram", &c.telegram)] {
        if let Some(v) = v {
            loc_attrs.push(fields(&format!("contacts.{k}"), v));
        }
    }
    for (lang, text) in &p.description {
        loc_attrs.push(attribute(&loc_id, "location", FIELD_TAXONOMY, "description", "description", Some(lang), Some(text)));
    }
    let languages: Vec<Value> = p
        .languages
        .iter()
        .map(|l| {
            let mut v = json!({"id": uuid(&format!("language:{}:{}", p.id, l.as_str())), "location_id": loc_id, "code": l.as_str()});
            if let Some(name) = isolang::Language::from_639_1(l.as_str()).or_else(|| isolang::Language::from_639_3(l.as_str())) {
                v["name"] = json!(name.to_name());
            }
            v
        })
        .collect();
    let mut phones = Vec::new();
    if let Some(n) = &c.phone {
        phones.push(json!({"id": uuid(&format!("phone:{}", p.id)), "location_id": loc_id, "number": n, "type": "voice"}));
    }
    if let Some(n) = &c.whatsapp {
        phones.push(json!({"id": uuid(&format!("whatsapp:{}", p.id)), "location_id": loc_id, "number": n, "type": "text", "description": "WhatsApp"}));
    }
    let street = p.address.street.clone().unwrap_or_default();
    let address = json!({
        "id": uuid(&format!("address:{}", p.id)),
        "location_id": loc_id,
        "address_1": street,
        "city": p.address.city,
        "state_province": "",
        "postal_code": p.address.postcode.clone().unwrap_or_default(),
        "country": p.address.country,
        "address_type": "physical",
    });
    let mut location = json!({
        "id": loc_id,
        "location_type": "physical",
        "organization_id": org_id,
        "name": p.name,
        "latitude": p.position.lat.degrees(),
        "longitude": p.position.lon.degrees(),
        "external_identifier": p.id,
        "external_identifier_type": ID_TYPE,
        "languages": languages,
        "addresses": [address],
        "phones": phones,
        "schedules": schedules(p, &loc_id),
        "attributes": loc_attrs,
    });
    if let Some(w) = a.wheelchair {
        location["accessibility"] = json!([{
            "id": uuid(&format!("accessibility:{}", p.id)),
            "location_id": loc_id,
            "description": format!("wheelchair access: {}", w.as_str()),
        }]);
    }
    let english = p.description.get("en").or_else(|| p.description.values().next());
    let domain_attrs: Vec<Value> = p
        .domains
        .iter()
        .map(|d| attribute(&svc_id, "service", DOMAIN_TAXONOMY, d.code(), t.label(*d, "en"), None, None))
        .collect();
    let mut service = json!({
        "id": svc_id,
        "organization_id": org_id,
        "name": p.name,
        "status": "active",
        "service_at_locations": [{
            "id": uuid(&format!("service_at_location:{}", p.id)),
            "service_id": svc_id,
            "location_id": loc_id,
        }],
        "languages": p.languages.iter().map(|l| json!({"id": uuid(&format!("service-language:{}:{}", p.id, l.as_str())), "service_id": svc_id, "code": l.as_str()})).collect::<Vec<_>>(),
        "attributes": domain_attrs,
    });
    let s = service.as_object_mut().expect("an object");
    if let Some(d) = english {
        s.insert("description".into(), json!(d));
    }
    if let Some(e) = &c.email {
        s.insert("email".into(), json!(e));
    }
    if let Some(w) = &c.website {
        s.insert("url".into(), json!(w));
    }
    if let Some(f) = p.fees {
        let said = match f.as_str() {
            "free" => "free",
            "membership" => "free for members of the union; membership may be required",
            _ => "a fee may be charged",
        };
        s.insert("fees_description".into(), json!(said));
    }
    (location, service)
}

/// The desks as HSDS 3.0 organizations (an array; see the module documentation).
pub fn hsds(desks: &[ContactPoint], t: &Taxonomy) -> Value {
    let mut orgs: BTreeMap<&str, Vec<&ContactPoint>> = BTreeMap::new();
    for d in desks {
        orgs.entry(d.organization.as_str()).or_default().push(d);
    }
    let out: Vec<Value> = orgs
        .into_iter()
        .map(|(name, ds)| {
            let org_id = uuid(&format!("organization:{name}"));
            let (locations, services): (Vec<Value>, Vec<Value>) = ds.iter().map(|d| desk(d, &org_id, t)).unzip();
            let mut cities: Vec<&str> = ds.iter().map(|d| d.address.city.as_str()).collect();
            cities.sort_unstable();
            cities.dedup();
            let mut o = Map::new();
            o.insert("id".into(), json!(org_id));
            o.insert("name".into(), json!(name));
            o.insert("description".into(), json!(format!("{name}: {} help desk(s) for migrant workers in {}", ds.len(), cities.join(", "))));
            o.insert("locations".into(), json!(locations));
            o.insert("services".into(), json!(services));
            Value::Object(o)
        })
        .collect();
    Value::Array(out)
}
