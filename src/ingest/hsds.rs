//! Open Referral HSDS 3.0 input, in its JSON form: organizations with their services, locations,
//! service_at_location links, languages, phones, schedules and addresses (a single organization,
//! an array of them, an API page `{"contents": [...]}`, or services with their organization).
//!
//! Every *physical* location becomes one desk record, written in this project's GeoJSON shape and
//! handed to the one validator, so an HSDS desk is checked exactly like a GeoJSON one. A desk
//! carries what is found at its location: its own languages, phones, schedules and accessibility,
//! and those of the services offered there (through `service_at_locations`) and of its
//! organization. HSDS taxonomy terms and service texts become domain codes through the mapping
//! table `data/hsds-mapping.json`; what cannot be mapped is reported as a warning (a term, a
//! language name, a schedule) and never dropped silently. Exports written by `sportello export
//! --format hsds` carry the fields HSDS has no place for in attributes of the `sportello`
//! taxonomies, which are read back first, so an export rebuilds to the same desks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// An HSDS object (organization, service, location…).
type Obj = Map<String, Value>;
/// An opening interval, `HH:MM` to `HH:MM`.
type Interval = (String, String);

use super::{RawRecord, Record};
use crate::model::Domain;

/// The taxonomy of the attributes that carry this project's domain codes (`code` = the domain).
pub const DOMAIN_TAXONOMY: &str = "sportello-domains";
/// The taxonomy of the attributes that carry the desk fields HSDS has no place for (`code` = the
/// field's path, `value` = its value; `description` texts with the term's `language`).
pub const FIELD_TAXONOMY: &str = "sportello-fields";
/// `external_identifier_type` of a location whose `external_identifier` is the desk's id.
pub const ID_TYPE: &str = "sportello-id";

/// A warning: (location's id if known, field, reason). The desk is still built.
pub type Warning = (Option<String>, Option<String>, String);

#[derive(Deserialize)]
struct Mapping {
    domains: BTreeMap<String, Vec<String>>,
    languages: BTreeMap<String, String>,
}

/// The mapping table: for each domain, the words and phrases (lower case, English) that name it
/// in HSDS taxonomy terms and service texts; and language names that ISO 639's English names miss.
struct Table {
    domains: Vec<(Domain, Vec<String>)>,
    languages: BTreeMap<String, String>,
}

static MAPPING: LazyLock<Table> = LazyLock::new(|| {
    let m: Mapping = serde_json::from_str(include_str!("../../data/hsds-mapping.json")).expect("data/hsds-mapping.json is valid");
    let domains = m
        .domains
        .into_iter()
        .map(|(code, words)| (Domain::parse(&code).unwrap_or_else(|| panic!("data/hsds-mapping.json: unknown domain `{code}`")), words))
        .collect();
    Table { domains, languages: m.languages }
});

/// Feeds one record per physical location to `sink` and every warning to `warn`; a file-level
/// error is (line, reason).
pub(crate) fn read(bytes: &[u8], sink: &mut dyn FnMut(RawRecord), warn: &mut dyn FnMut(Warning)) -> Result<(), (Option<u64>, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| (None, format!("not UTF-8 text: {e}")))?;
    let doc: Value = serde_json::from_str(text).map_err(|e| (Some(e.line() as u64), format!("not valid JSON: {e}")))?;
    let items: Vec<&Value> = match &doc {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.get("contents").is_some_and(Value::is_array) => o["contents"].as_array().into_iter().flatten().collect(),
        Value::Object(_) => vec![&doc],
        _ => return Err((Some(1), "not HSDS JSON: expected an organization, an array of organizations or services, or a page with `contents`".into())),
    };
    let mut n = 0usize;
    for (i, item) in items.into_iter().enumerate() {
        let Some(o) = item.as_object() else {
            return Err((None, format!("item #{i} is not an object: HSDS organizations and services are JSON objects")));
        };
        // A service (it has a `status`) brings its organization; an organization its services.
        let (org, services): (Option<&Obj>, Vec<&Obj>) = if o.contains_key("status") {
            (o.get("organization").and_then(Value::as_object), vec![o])
        } else {
            (Some(o), o.get("services").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object).collect())
        };
        for loc in locations(org, &services) {
            let kind = loc.get("location_type").and_then(Value::as_str).unwrap_or("");
            let id = loc.get("id").and_then(Value::as_str).map(str::to_string);
            if kind != "physical" {
                let what = if kind.is_empty() { "has no location_type".to_string() } else { format!("is a {kind} location") };
                warn((id, Some("location_type".into()), format!("{what}: only physical locations are desks, so it is not one")));
                continue;
            }
            // Lines mean something only in a file laid out on lines (not the joined tabular form).
            let line = id.as_deref().filter(|_| text.contains('\n')).and_then(|id| line_of(text, id));
            let mut w = |field: &str, reason: String| warn((id.clone(), Some(field.to_string()), reason));
            let feature = desk(org, &services, loc, &mut w);
            sink(RawRecord { line, record: Record::Location(n), feature, field_name: hsds_field });
            n += 1;
        }
    }
    Ok(())
}

/// The line where `"id": "<id>"` first appears, for reports.
fn line_of(text: &str, id: &str) -> Option<u64> {
    let quoted = format!("\"{id}\"");
    let mut from = 0;
    while let Some(at) = text[from..].find(&quoted).map(|p| p + from) {
        let before = text[..at].trim_end();
        if before.ends_with(':') && before[..before.len() - 1].trim_end().ends_with("\"id\"") {
            return Some(text[..at].bytes().filter(|&b| b == b'\n').count() as u64 + 1);
        }
        from = at + quoted.len();
    }
    None
}

/// The HSDS field a report about a desk field points at.
fn hsds_field(field: &str) -> String {
    let f = match field {
        "id" => "id (or external_identifier)",
        "geometry" | "geometry.coordinates" | "geometry.type" => "latitude/longitude",
        "name" => "name",
        "organization" => "organization.name",
        "audience" => "attributes (sportello-fields: audience)",
        "languages" => "languages",
        "domains" => "services.attributes.taxonomy_term (see data/hsds-mapping.json)",
        "address" => "addresses",
        "address.street" => "addresses.address_1",
        "address.postcode" => "addresses.postal_code",
        "address.city" => "addresses.city",
        "address.country" => "addresses.country",
        "contacts.phone" => "phones.number",
        "contacts.email" => "email",
        "contacts.website" => "url (or website)",
        "opening_hours" => "schedules",
        "timezone" => "attributes (sportello-fields: timezone)",
        "fees" => "fees_description / cost_options",
        "description" => "description",
        other => return format!("attributes (sportello-fields: {other})"),
    };
    f.to_string()
}

/// Every location of an organization and of its services, once each (by id), in order of
/// appearance; links by `location_id` are resolved against the organization's locations.
fn locations<'a>(org: Option<&'a Obj>, services: &[&'a Obj]) -> Vec<&'a Obj> {
    let mut out: Vec<&Obj> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |l: &'a Obj, out: &mut Vec<&'a Obj>| {
        match l.get("id").and_then(Value::as_str) {
            Some(id) if !seen.insert(id.to_string()) => {}
            _ => out.push(l),
        }
    };
    for l in org.and_then(|o| o.get("locations")).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object) {
        add(l, &mut out);
    }
    for s in services {
        for sal in array(s, "service_at_locations") {
            if let Some(l) = sal.get("location").and_then(Value::as_object) {
                add(l, &mut out);
            }
        }
    }
    out
}

fn array<'a>(o: &'a Obj, key: &str) -> impl Iterator<Item = &'a Obj> {
    o.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object)
}

fn text<'a>(o: &'a Obj, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// A service and its service_at_location link.
type Offer<'a> = (&'a Obj, &'a Obj);

/// The services offered at `loc`, with the service_at_location link of each.
fn services_at<'a>(services: &[&'a Obj], loc: &Obj) -> Vec<Offer<'a>> {
    let Some(id) = loc.get("id").and_then(Value::as_str) else { return Vec::new() };
    let mut out = Vec::new();
    for s in services {
        for sal in array(s, "service_at_locations") {
            let linked = text(sal, "location_id").or_else(|| sal.get("location").and_then(Value::as_object).and_then(|l| text(l, "id")));
            if linked == Some(id) {
                out.push((*s, sal));
            }
        }
    }
    out
}

/// This project's own fields carried in `sportello-fields` attributes: (code, language, value).
fn own_fields(objs: &[&Obj]) -> Vec<(String, Option<String>, String)> {
    let mut out = Vec::new();
    for o in objs {
        for a in array(o, "attributes") {
            let Some(term) = a.get("taxonomy_term").and_then(Value::as_object) else { continue };
            if text(term, "taxonomy") != Some(FIELD_TAXONOMY) {
                continue;
            }
            if let (Some(code), Some(value)) = (text(term, "code"), a.get("value").and_then(Value::as_str)) {
                out.push((code.to_string(), text(term, "language").map(str::to_string), value.to_string()));
            }
        }
    }
    out
}

/// The desk record for one physical location, in the project's GeoJSON shape.
fn desk(org: Option<&Obj>, services: &[&Obj], loc: &Obj, warn: &mut dyn FnMut(&str, String)) -> Value {
    let here = services_at(services, loc);
    let svcs: Vec<&Obj> = here.iter().map(|(s, _)| *s).collect();
    let mut everything: Vec<&Obj> = vec![loc];
    everything.extend(here.iter().flat_map(|(s, sal)| [*s, *sal]));
    let own = own_fields(&everything);
    let field = |code: &str| own.iter().find(|(c, _, _)| c == code).map(|(_, _, v)| v.clone());

    let id = match (text(loc, "external_identifier_type"), text(loc, "external_identifier")) {
        (Some(ID_TYPE), Some(ext)) => Some(ext.to_string()),
        _ => text(loc, "id").map(str::to_string),
    };
    let org_name = org.and_then(|o| text(o, "name"));
    let name = text(loc, "name").or_else(|| svcs.first().and_then(|s| text(s, "name"))).or(org_name);

    let mut props = Map::new();
    if let Some(n) = name {
        props.insert("name".into(), json!(n));
    }
    if let Some(o) = org_name {
        props.insert("organization".into(), json!(o));
    }
    props.insert("audience".into(), json!(field("audience").unwrap_or_else(|| "public".into())));
    props.insert("languages".into(), json!(languages(&everything, org, warn)));
    props.insert("domains".into(), json!(domains(&svcs, loc, warn)));
    if let Some(a) = address(loc) {
        props.insert("address".into(), a);
    }
    props.insert("contacts".into(), contacts(loc, &svcs, org, &field));
    match field("opening_hours") {
        Some(oh) => {
            props.insert("opening_hours".into(), json!(oh));
        }
        None => {
            let mut schedules: Vec<&Obj> = array(loc, "schedules").collect();
            for (s, sal) in &here {
                schedules.extend(array(sal, "schedules"));
                schedules.extend(array(s, "schedules"));
            }
            if let Some(oh) = opening_hours(&schedules, warn) {
                props.insert("opening_hours".into(), json!(oh));
            }
        }
    }
    if let Some(tz) = field("timezone") {
        props.insert("timezone".into(), json!(tz));
    }
    props.insert("access".into(), access(loc, &field));
    if let Some(f) = field("fees").or_else(|| fees(&svcs)) {
        props.insert("fees".into(), json!(f));
    }
    props.insert("description".into(), description(&own, loc, &svcs, org));
    if let Some(u) = field("updated").or_else(|| svcs.iter().filter_map(|s| text(s, "last_modified")).max().map(|d| d.chars().take(10).collect())) {
        props.insert("updated".into(), json!(u));
    }
    let geometry = match (loc.get("latitude").and_then(Value::as_f64), loc.get("longitude").and_then(Value::as_f64)) {
        (Some(lat), Some(lon)) => json!({"type": "Point", "coordinates": [lon, lat]}),
        _ => Value::Null,
    };
    let mut f = Map::new();
    f.insert("type".into(), json!("Feature"));
    if let Some(id) = id {
        f.insert("id".into(), json!(id));
    }
    f.insert("geometry".into(), geometry);
    f.insert("properties".into(), Value::Object(props));
    Value::Object(f)
}

/// Language codes spoken at the location: its own and its services' and phones' `languages`
/// (by `code`, else by English name), in order, once each.
fn languages(objs: &[&Obj], org: Option<&Obj>, warn: &mut dyn FnMut(&str, String)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut lists: Vec<&Obj> = Vec::new();
    for o in objs.iter().copied().chain(org) {
        lists.extend(array(o, "languages"));
        for p in array(o, "phones") {
            lists.extend(array(p, "languages"));
        }
    }
    for l in lists {
        let code = match (text(l, "code"), text(l, "name")) {
            (Some(c), _) => Some(c.to_ascii_lowercase()),
            (None, Some(n)) => match language_code(n) {
                Some(c) => Some(c),
                None => {
                    warn("languages", format!("language name `{n}` maps to no ISO 639 code; it is left out (give its `code`, or add it to data/hsds-mapping.json)"));
                    None
                }
            },
            (None, None) => None,
        };
        // HSDS codes may carry a region (`en-GB`); the desk model keeps the language.
        if let Some(c) = code.map(|c| c.split(['-', '_']).next().unwrap_or_default().to_string())
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    out
}

/// An ISO 639 code for an English language name: "Spanish" → `es`, "Chinese (Mandarin)" → `zh`,
/// "Farsi" → `fa`.
pub fn language_code(name: &str) -> Option<String> {
    let lower = name.trim().to_lowercase();
    let (head, inner) = match lower.split_once('(') {
        Some((h, rest)) => (h.trim().to_string(), Some(rest.trim_end_matches(')').trim().to_string())),
        None => (lower.clone(), None),
    };
    let table = &MAPPING.languages;
    for candidate in [Some(lower.clone()), Some(head), inner].into_iter().flatten() {
        if let Some(c) = table.get(&candidate) {
            return Some(c.clone());
        }
        if let Some(l) = isolang::Language::from_name_lowercase(&candidate) {
            return Some(l.to_639_1().map(str::to_string).unwrap_or_else(|| l.to_639_3().to_string()));
        }
    }
    None
}

/// Domain codes for the services at a location: their `sportello-domains` attributes, then the
/// other taxonomy terms and the services' names and descriptions through the mapping table.
fn domains(svcs: &[&Obj], loc: &Obj, warn: &mut dyn FnMut(&str, String)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |d: String, out: &mut Vec<String>| {
        if !out.contains(&d) {
            out.push(d);
        }
    };
    let mut own = false;
    for o in svcs.iter().copied().chain([loc]) {
        for a in array(o, "attributes") {
            let Some(term) = a.get("taxonomy_term").and_then(Value::as_object) else { continue };
            let taxonomy = text(term, "taxonomy").unwrap_or("");
            if taxonomy == FIELD_TAXONOMY {
                continue;
            }
            if taxonomy == DOMAIN_TAXONOMY {
                own = true;
                // An unknown code here is the validator's to report, with a "did you mean".
                if let Some(c) = text(term, "code") {
                    push(c.to_string(), &mut out);
                }
                continue;
            }
            let name = text(term, "name").unwrap_or("");
            let found = mapped(&format!("{name} {}", text(term, "description").unwrap_or("")));
            if found.is_empty() {
                let from = if taxonomy.is_empty() { String::new() } else { format!(" (taxonomy `{taxonomy}`)") };
                warn("domains", format!("taxonomy term `{name}`{from} maps to no service domain (see data/hsds-mapping.json)"));
            }
            for d in found {
                push(d.to_string(), &mut out);
            }
        }
    }
    // An export names its domains exactly; other data is also read from the services' texts.
    if !own {
        for s in svcs {
            let t = [text(s, "name"), text(s, "description")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            for d in mapped(&t) {
                push(d.to_string(), &mut out);
            }
        }
    }
    out
}

/// The domains whose mapping words occur in `text` as whole words (case and accents aside).
pub fn mapped(text: &str) -> Vec<Domain> {
    let words: String = text.to_lowercase().chars().map(|c| if c.is_alphanumeric() || c == '\'' { c } else { ' ' }).collect();
    let padded = format!(" {} ", words.split_whitespace().collect::<Vec<_>>().join(" "));
    MAPPING.domains.iter().filter(|(_, ws)| ws.iter().any(|w| padded.contains(&format!(" {w} ")))).map(|(d, _)| *d).collect()
}

fn address(loc: &Obj) -> Option<Value> {
    let all: Vec<&Obj> = array(loc, "addresses").collect();
    let a = all.iter().find(|a| text(a, "address_type") == Some("physical")).or(all.first())?;
    let mut out = Map::new();
    let street = [text(a, "address_1"), text(a, "address_2")].into_iter().flatten().collect::<Vec<_>>().join(", ");
    if !street.is_empty() {
        out.insert("street".into(), json!(street));
    }
    if let Some(p) = text(a, "postal_code") {
        out.insert("postcode".into(), json!(p));
    }
    if let Some(c) = text(a, "city") {
        out.insert("city".into(), json!(c));
    }
    if let Some(c) = text(a, "country") {
        out.insert("country".into(), json!(c.to_ascii_uppercase()));
    }
    Some(Value::Object(out))
}

fn contacts(loc: &Obj, svcs: &[&Obj], org: Option<&Obj>, field: &dyn Fn(&str) -> Option<String>) -> Value {
    let mut out = Map::new();
    let holders: Vec<&Obj> = [loc].into_iter().chain(svcs.iter().copied()).chain(org).collect();
    let phone = field("contacts.phone").or_else(|| {
        holders.iter().flat_map(|h| array(h, "phones")).find(|p| matches!(text(p, "type"), None | Some("voice" | "cell"))).and_then(|p| text(p, "number")).map(str::to_string)
    });
    let email = field("contacts.email").or_else(|| holders.iter().find_map(|h| text(h, "email")).map(str::to_string));
    let website = field("contacts.website")
        .or_else(|| svcs.iter().find_map(|s| text(s, "url")).or_else(|| text(loc, "url")).or_else(|| org.and_then(|o| text(o, "website"))).map(str::to_string));
    for (k, v) in [("phone", phone), ("email", email), ("website", website), ("whatsapp", field("contacts.whatsapp")), ("signal", field("contacts.signal")), ("telegram", field("contacts.telegram"))] {
        if let Some(v) = v {
            out.insert(k.into(), json!(v));
        }
    }
    Value::Object(out)
}

fn access(loc: &Obj, field: &dyn Fn(&str) -> Option<String>) -> Value {
    let mut out = Map::new();
    for k in ["walk_in", "appointment", "phone", "online"] {
        if let Some(v) = field(&format!("access.{k}")) {
            out.insert(k.into(), json!(v == "true"));
        }
    }
    let wheelchair = field("access.wheelchair").or_else(|| {
        // HSDS describes accessibility in words; "wheelchair" named in it says there is some.
        let said = array(loc, "accessibility").any(|a| {
            [text(a, "description"), text(a, "details")].into_iter().flatten().any(|t| t.to_lowercase().contains("wheelchair"))
        });
        said.then(|| "yes".to_string())
    });
    if let Some(w) = wheelchair {
        out.insert("wheelchair".into(), json!(w));
    }
    Value::Object(out)
}

/// `free` when the services say so; `fee` when one has a cost option with an amount.
fn fees(svcs: &[&Obj]) -> Option<String> {
    if svcs.iter().flat_map(|s| array(s, "cost_options")).any(|c| c.get("amount").and_then(Value::as_f64).is_some_and(|a| a > 0.0)) {
        return Some("fee".into());
    }
    let said_free = svcs.iter().filter_map(|s| text(s, "fees_description")).any(|t| {
        let t = t.to_lowercase();
        t == "free" || t.starts_with("free ") || t.contains("free of charge") || t.contains("no fee") || t.contains("no charge")
    });
    said_free.then(|| "free".into())
}

/// Per-language texts: the export's own (with their languages), else the location's or the first
/// service's or the organization's description, which HSDS does not tag with a language and
/// which is read as English.
fn description(own: &[(String, Option<String>, String)], loc: &Obj, svcs: &[&Obj], org: Option<&Obj>) -> Value {
    let mut out = Map::new();
    for (code, lang, value) in own {
        if code == "description"
            && let Some(l) = lang
        {
            out.insert(l.clone(), json!(value));
        }
    }
    if out.is_empty()
        && let Some(t) = svcs.iter().find_map(|s| text(s, "description")).or_else(|| text(loc, "description")).or_else(|| org.and_then(|o| text(o, "description")))
    {
        out.insert("en".into(), json!(t));
    }
    Value::Object(out)
}

const DAYS: [(&str, &str); 7] = [("MO", "Mo"), ("TU", "Tu"), ("WE", "We"), ("TH", "Th"), ("FR", "Fr"), ("SA", "Sa"), ("SU", "Su")];

/// OpenStreetMap `opening_hours` from weekly HSDS schedules (`freq` WEEKLY, `byday`, `opens_at`,
/// `closes_at`): the intervals of each day, days with the same intervals joined
/// ("Mo,We 09:00-12:00,14:00-17:00; Tu 10:00-12:00"). Schedules that are not weekly opening
/// times are reported and left out.
fn opening_hours(schedules: &[&Obj], warn: &mut dyn FnMut(&str, String)) -> Option<String> {
    let mut per_day: [Vec<Interval>; 7] = Default::default();
    for s in schedules {
        let freq = text(s, "freq").map(str::to_ascii_uppercase);
        let (opens, closes) = (text(s, "opens_at").map(hhmm), text(s, "closes_at").map(hhmm));
        let days: Vec<usize> = text(s, "byday")
            .map(|b| b.split(',').filter_map(|d| DAYS.iter().position(|(k, _)| d.trim().eq_ignore_ascii_case(k))).collect())
            .unwrap_or_default();
        match (freq.as_deref(), opens, closes) {
            (Some("WEEKLY"), Some(Some(o)), Some(Some(c))) if !days.is_empty() && o < c => {
                for d in days {
                    if !per_day[d].contains(&(o.clone(), c.clone())) {
                        per_day[d].push((o.clone(), c.clone()));
                    }
                }
            }
            _ => {
                let id = text(s, "id").unwrap_or("?");
                warn("schedules", format!("schedule `{id}` is not a weekly opening time (freq WEEKLY, byday, opens_at before closes_at); it is left out of opening_hours"));
            }
        }
    }
    for d in &mut per_day {
        d.sort();
    }
    let mut rules: Vec<(Vec<usize>, &Vec<Interval>)> = Vec::new();
    for (d, iv) in per_day.iter().enumerate().filter(|(_, iv)| !iv.is_empty()) {
        match rules.iter_mut().find(|(_, other)| *other == iv) {
            Some((days, _)) => days.push(d),
            None => rules.push((vec![d], iv)),
        }
    }
    if rules.is_empty() {
        return None;
    }
    let text = rules
        .iter()
        .map(|(days, iv)| {
            let days = days.iter().map(|&d| DAYS[d].1).collect::<Vec<_>>().join(",");
            let times = iv.iter().map(|(o, c)| format!("{o}-{c}")).collect::<Vec<_>>().join(",");
            format!("{days} {times}")
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(text)
}

/// `HH:MM` from an HSDS time (`10:00:00`, `10:00`, `10:00:00+01:00`); `None` if it is not one.
fn hhmm(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let ok = b.len() >= 5 && b[2] == b':' && b[..2].iter().chain(&b[3..5]).all(u8::is_ascii_digit);
    let (h, m): (u32, u32) = (t.get(..2)?.parse().ok()?, t.get(3..5)?.parse().ok()?);
    (ok && (h < 24 && m < 60 || h == 24 && m == 0)).then(|| t[..5].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_map_to_codes() {
        assert_eq!(language_code("Spanish").as_deref(), Some("es"));
        assert_eq!(language_code("Chinese (Mandarin)").as_deref(), Some("zh"));
        assert_eq!(language_code("Farsi").as_deref(), Some("fa"));
        assert_eq!(language_code("Tigrinya").as_deref(), Some("ti"));
        assert_eq!(language_code("Klingonese"), None);
    }

    #[test]
    fn weekly_schedules_become_opening_hours() {
        let s: Vec<Value> = vec![
            json!({"id": "a", "freq": "WEEKLY", "byday": "MO,WE", "opens_at": "09:00:00", "closes_at": "12:00:00"}),
            json!({"id": "b", "freq": "WEEKLY", "byday": "MO,WE", "opens_at": "14:00", "closes_at": "17:00"}),
            json!({"id": "c", "freq": "WEEKLY", "byday": "TU", "opens_at": "10:00", "closes_at": "12:00"}),
            json!({"id": "d", "freq": "MONTHLY", "bymonthday": "1", "opens_at": "10:00", "closes_at": "12:00"}),
        ];
        let maps: Vec<&Obj> = s.iter().filter_map(Value::as_object).collect();
        let mut warnings = Vec::new();
        let oh = opening_hours(&maps, &mut |f, r| warnings.push((f.to_string(), r))).unwrap();
        assert_eq!(oh, "Mo,We 09:00-12:00,14:00-17:00; Tu 10:00-12:00");
        assert!(oh.parse::<opening_hours::OpeningHours>().is_ok());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].1.contains("schedule `d`"));
    }

    #[test]
    fn mapping_reads_words_not_parts_of_words() {
        assert!(mapped("Immigration legal services").contains(&Domain::parse("legal-aid").unwrap()));
        assert!(mapped("Emergency Housing").contains(&Domain::parse("housing").unwrap()));
        assert!(mapped("Rehousing").is_empty());
    }
}
