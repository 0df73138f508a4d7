//! Checks one record, in the GeoJSON Feature shape, and turns it into a [`ContactPoint`]; reports
//! every fault of the record at once (not just the first), each with the field and a reason. No
//! value is altered or defaulted silently: what is not valid is refused, with a hint where one helps.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{
    Access, Address, Audience, ContactPoint, Contacts, Domain, Fees, GeoPoint, Language, Wheelchair,
};

use super::countries;

/// A fault in one field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

const FEATURE_MEMBERS: &[&str] = &["type", "id", "geometry", "properties", "bbox"];
const PROPERTIES: &[&str] = &[
    "name", "organization", "audience", "languages", "domains", "address", "contacts",
    "opening_hours", "timezone", "access", "fees", "description", "updated",
];
const ADDRESS: &[&str] = &["street", "postcode", "city", "country"];
const CONTACTS: &[&str] = &["phone", "email", "website", "whatsapp", "signal", "telegram"];
const ACCESS: &[&str] = &["walk_in", "appointment", "phone", "online", "wheelchair"];

struct Checker {
    problems: Vec<FieldProblem>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(FieldProblem { field: field.into(), reason: reason.into() });
    }

    fn unknown_members(&mut self, prefix: &str, obj: &Map<String, Value>, known: &[&str]) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                let hint = known
                    .iter()
                    .map(|k| (strsim::levenshtein(k, key), *k))
                    .filter(|(d, _)| *d <= 3)
                    .min()
                    .map(|(_, k)| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                let list = known.join(", ");
                if key.is_empty() {
                    // The path would be empty (or end in a dot): name the field by its quotes.
                    self.fail(format!("{prefix}\"\""), format!("unknown field with an empty name; known fields are: {list}"));
                } else {
                    self.fail(format!("{prefix}{key}"), format!("unknown field{hint}; known fields are: {list}"));
                }
            }
        }
    }

    /// A required, non-empty string.
    fn required_str(&mut self, obj: &Map<String, Value>, prefix: &str, key: &str) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => {
                self.fail(format!("{prefix}{key}"), "missing (required)");
                None
            }
            Some(v) => self.string(v, &format!("{prefix}{key}")),
        }
    }

    fn optional_str(&mut self, obj: &Map<String, Value>, prefix: &str, key: &str) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.string(v, &format!("{prefix}{key}")),
        }
    }

    fn string(&mut self, v: &Value, field: &str) -> Option<String> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.fail(field, "is empty");
                None
            }
            Value::String(s) => Some(s.clone()),
            other => {
                self.fail(field, format!("must be a string, got {}", kind(other)));
                None
            }
        }
    }

    fn optional_bool(&mut self, obj: &Map<String, Value>, prefix: &str, key: &str) -> Option<bool> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.fail(format!("{prefix}{key}"), format!("must be true or false, got {}", kind(other)));
                None
            }
        }
    }

    fn object<'v>(&mut self, v: Option<&'v Value>, field: &str, required: bool) -> Option<&'v Map<String, Value>> {
        match v {
            None | Some(Value::Null) => {
                if required {
                    self.fail(field, "missing (required)");
                }
                None
            }
            Some(Value::Object(o)) => Some(o),
            Some(other) => {
                self.fail(field, format!("must be an object, got {}", kind(other)));
                None
            }
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the feature's `id` if it is a usable string, for naming the record in reports.
pub fn record_id(feature: &Value) -> Option<String> {
    feature.get("id").and_then(Value::as_str).map(str::to_string)
}

/// Whether `id` is a valid stable identifier: `[A-Za-z0-9][A-Za-z0-9._-]*`, 1 to 128 characters
/// (safe in a URL path without escaping).
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

/// Why `oh` is not valid `opening_hours` syntax, if it is not. Desks repeat a few schedules
/// ("Mo-Fr 09:00-13:00"), and the grammar's parser is the costliest check of a record (measured:
/// 10 % of a build's CPU), so each thread remembers the verdicts on the last few thousand texts.
fn opening_hours_error(oh: &str) -> Option<String> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    const REMEMBERED: usize = 4096;
    thread_local! {
        static VERDICTS: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
    }
    if let Some(v) = VERDICTS.with(|m| m.borrow().get(oh).cloned()) {
        return v;
    }
    let verdict = oh.parse::<opening_hours::OpeningHours>().err().map(|e| oh_error(&e.to_string()));
    VERDICTS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= REMEMBERED {
            m.clear();
        }
        m.insert(oh.to_string(), verdict.clone());
    });
    verdict
}

/// Validates one feature. On success the contact point; otherwise every problem found.
pub fn feature(v: &Value) -> Result<ContactPoint, Vec<FieldProblem>> {
    let mut c = Checker { problems: Vec::new() };
    let Some(obj) = v.as_object() else {
        c.fail("feature", format!("must be a GeoJSON Feature object, got {}", kind(v)));
        return Err(c.problems);
    };
    c.unknown_members("", obj, FEATURE_MEMBERS);
    match obj.get("type") {
        Some(Value::String(t)) if t == "Feature" => {}
        Some(other) => c.fail("type", format!("must be \"Feature\", got {other}")),
        None => c.fail("type", "missing (must be \"Feature\")"),
    }
    let id = match obj.get("id") {
        None | Some(Value::Null) => {
            c.fail("id", "missing: every desk needs a stable string id");
            None
        }
        Some(Value::String(s)) if valid_id(s) => Some(s.clone()),
        Some(Value::String(s)) => {
            c.fail("id", format!("`{s}` is not a valid id: use 1 to 128 letters, digits, `.`, `_` or `-`, starting with a letter or digit"));
            None
        }
        Some(Value::Number(n)) => {
            c.fail("id", format!("must be a string; write \"{n}\" in quotes"));
            None
        }
        Some(other) => {
            c.fail("id", format!("must be a string, got {}", kind(other)));
            None
        }
    };

    let props = c.object(obj.get("properties"), "properties", true);
    let country = props
        .and_then(|p| p.get("address"))
        .and_then(|a| a.get("country"))
        .and_then(Value::as_str);
    let position = geometry(&mut c, obj.get("geometry"), country);

    let Some(p) = props else {
        return Err(c.problems);
    };
    c.unknown_members("", p, PROPERTIES);
    let name = c.required_str(p, "", "name");
    let organization = c.required_str(p, "", "organization");
    let audience = match c.required_str(p, "", "audience") {
        Some(a) => Audience::parse(&a).or_else(|| {
            c.fail("audience", format!("`{a}` is not an audience: use `public` or `unions`"));
            None
        }),
        None => None,
    };
    let languages = code_list(&mut c, p.get("languages"), "languages", Language::new);
    let domains = code_list(&mut c, p.get("domains"), "domains", |s| {
        Domain::parse(s).ok_or_else(|| match Domain::closest(s) {
            Some(d) => format!("unknown service domain `{s}` (did you mean `{d}`?)"),
            None => format!("unknown service domain `{s}`; see data/taxonomy.json for the 19 codes"),
        })
    });
    let address = address(&mut c, p.get("address"));
    let contacts = contacts(&mut c, p.get("contacts"));
    let opening_hours = c.optional_str(p, "", "opening_hours");
    if let Some(oh) = &opening_hours
        && let Some(msg) = opening_hours_error(oh)
    {
        c.fail("opening_hours", format!("not valid OpenStreetMap opening_hours syntax: {msg}"));
    }
    let timezone = c.optional_str(p, "", "timezone");
    if let Some(tz) = &timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        c.fail("timezone", format!("`{tz}` is not an IANA time zone name (e.g. `Europe/Rome`)"));
    }
    let access = access(&mut c, p.get("access"));
    let fees = c.optional_str(p, "", "fees").and_then(|f| {
        Fees::parse(&f).or_else(|| {
            c.fail("fees", format!("`{f}` is not a fee kind: use `free`, `membership` or `fee`"));
            None
        })
    });
    let description = description(&mut c, p.get("description"));
    let updated = c.optional_str(p, "", "updated");
    if let Some(u) = &updated
        && chrono::NaiveDate::parse_from_str(u, "%Y-%m-%d").is_err()
    {
        c.fail("updated", format!("`{u}` is not a date in the form YYYY-MM-DD"));
    }

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    match (id, position, name, organization, audience, languages, domains, address) {
        (Some(id), Some(position), Some(name), Some(organization), Some(audience), Some(languages), Some(domains), Some(address)) => {
            Ok(ContactPoint {
                id,
                position,
                name,
                organization,
                audience,
                languages,
                domains,
                address,
                contacts,
                opening_hours,
                timezone,
                access,
                fees,
                description,
                updated,
            })
        }
        _ => unreachable!("every missing part was reported as a problem"),
    }
}

fn geometry(c: &mut Checker, g: Option<&Value>, country: Option<&str>) -> Option<GeoPoint> {
    let g = c.object(g, "geometry", true)?;
    if g.get("type").and_then(Value::as_str) != Some("Point") {
        c.fail("geometry.type", "must be \"Point\": a desk is one place");
        return None;
    }
    let coords = match g.get("coordinates") {
        Some(Value::Array(a)) => a,
        _ => {
            c.fail("geometry.coordinates", "missing: must be [longitude, latitude]");
            return None;
        }
    };
    let nums: Vec<f64> = coords.iter().filter_map(Value::as_f64).collect();
    if nums.len() != coords.len() || nums.len() != 2 {
        c.fail(
            "geometry.coordinates",
            format!("must be exactly two numbers [longitude, latitude], got {}", Value::Array(coords.clone())),
        );
        return None;
    }
    check_position(c, nums[0], nums[1], country, "geometry.coordinates")
}

/// Checks a (longitude, latitude) pair in degrees, catching the swapped order where it is obvious.
fn check_position(
    c: &mut Checker,
    lon: f64,
    lat: f64,
    country: Option<&str>,
    field: &str,
) -> Option<GeoPoint> {
    if !(-90.0..=90.0).contains(&lat) {
        let hint = if (-90.0..=90.0).contains(&lon) && (-180.0..=180.0).contains(&lat) {
            " — the pair looks swapped: GeoJSON order is [longitude, latitude]"
        } else {
            ""
        };
        c.fail(field, format!("latitude {lat} is out of range -90..90{hint}"));
        return None;
    }
    if !(-180.0..=180.0).contains(&lon) {
        c.fail(field, format!("longitude {lon} is out of range -180..180"));
        return None;
    }
    if lat == 0.0 && lon == 0.0 {
        c.fail(field, "[0, 0] is a placeholder, not a desk's position");
        return None;
    }
    if let Some(cc) = country
        && countries::contains(cc, lon, lat) == Some(false)
        && countries::contains(cc, lat, lon) == Some(true)
    {
        c.fail(
            field,
            format!("longitude {lon}, latitude {lat} lies outside {cc}, but swapped it lies inside: latitude and longitude look swapped (GeoJSON order is [longitude, latitude])"),
        );
        return None;
    }
    GeoPoint::new(lat, lon).map_err(|e| c.fail(field, e)).ok()
}

fn code_list<T: PartialEq>(
    c: &mut Checker,
    v: Option<&Value>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    let arr = match v {
        None | Some(Value::Null) => {
            c.fail(field, "missing: list at least one code");
            return None;
        }
        Some(Value::Array(a)) if a.is_empty() => {
            c.fail(field, "is empty: list at least one code");
            return None;
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            c.fail(field, format!("must be an array of codes, got {}", kind(other)));
            return None;
        }
    };
    let mut out = Vec::with_capacity(arr.len());
    let mut ok = true;
    for (i, item) in arr.iter().enumerate() {
        let f = format!("{field}[{i}]");
        match item.as_str() {
            Some(s) => match parse(s) {
                Ok(t) if out.contains(&t) => {
                    c.fail(f, format!("`{s}` is listed twice"));
                    ok = false;
                }
                Ok(t) => out.push(t),
                Err(e) => {
                    c.fail(f, e);
                    ok = false;
                }
            },
            None => {
                c.fail(f, format!("must be a string code, got {}", kind(item)));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn address(c: &mut Checker, v: Option<&Value>) -> Option<Address> {
    let a = c.object(v, "address", true)?;
    c.unknown_members("address.", a, ADDRESS);
    let street = c.optional_str(a, "address.", "street");
    let postcode = c.optional_str(a, "address.", "postcode");
    let city = c.required_str(a, "address.", "city");
    let country = c.required_str(a, "address.", "country").and_then(|cc| {
        let valid = cc.len() == 2
            && cc.bytes().all(|b| b.is_ascii_uppercase())
            && celes::Country::from_alpha2(&cc).is_ok();
        if valid {
            Some(cc)
        } else if celes::Country::from_alpha2(&cc).is_ok() || celes::Country::from_alpha3(&cc).is_ok() {
            let fix = celes::Country::from_code(&cc)
                .or_else(|_| celes::Country::from_alpha2(&cc))
                .or_else(|_| celes::Country::from_alpha3(&cc))
                .map(|k| k.alpha2.to_string())
                .unwrap_or_default();
            c.fail("address.country", format!("`{cc}`: use the upper-case ISO 3166-1 alpha-2 code `{fix}`"));
            None
        } else {
            c.fail("address.country", format!("`{cc}` is not an ISO 3166-1 alpha-2 country code"));
            None
        }
    });
    Some(Address { street, postcode, city: city?, country: country? })
}

fn contacts(c: &mut Checker, v: Option<&Value>) -> Contacts {
    let Some(o) = c.object(v, "contacts", false) else {
        return Contacts::default();
    };
    c.unknown_members("contacts.", o, CONTACTS);
    let mut get = |key: &str, check: fn(&str) -> Result<(), String>| {
        let s = c.optional_str(o, "contacts.", key)?;
        match check(&s) {
            Ok(()) => Some(s),
            Err(e) => {
                c.fail(format!("contacts.{key}"), e);
                None
            }
        }
    };
    Contacts {
        phone: get("phone", check_phone),
        email: get("email", check_email),
        website: get("website", check_url),
        whatsapp: get("whatsapp", check_phone),
        signal: get("signal", check_signal),
        telegram: get("telegram", check_telegram),
    }
}

fn access(c: &mut Checker, v: Option<&Value>) -> Access {
    let Some(o) = c.object(v, "access", false) else {
        return Access::default();
    };
    c.unknown_members("access.", o, ACCESS);
    let wheelchair = c.optional_str(o, "access.", "wheelchair").and_then(|w| {
        Wheelchair::parse(&w).or_else(|| {
            c.fail("access.wheelchair", format!("`{w}` is not a wheelchair value: use `yes`, `no` or `limited`"));
            None
        })
    });
    Access {
        walk_in: c.optional_bool(o, "access.", "walk_in"),
        appointment: c.optional_bool(o, "access.", "appointment"),
        phone: c.optional_bool(o, "access.", "phone"),
        online: c.optional_bool(o, "access.", "online"),
        wheelchair,
    }
}

fn description(c: &mut Checker, v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(o) = c.object(v, "description", false) else {
        return out;
    };
    for (lang, text) in o {
        let field = format!("description.{lang}");
        if let Err(e) = Language::new(lang) {
            c.fail(field.clone(), format!("the key must be a language code: {e}"));
        }
        if let Some(t) = c.string(text, &field) {
            out.insert(lang.clone(), t);
        }
    }
    out
}

fn check_phone(s: &str) -> Result<(), String> {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let allowed = s.chars().all(|ch| ch.is_ascii_digit() || " -().".contains(ch) || ch == '+');
    if s.starts_with('+') && s[1..].find('+').is_none() && allowed && (8..=15).contains(&digits) {
        Ok(())
    } else {
        Err(format!("`{s}` is not a phone number in international form (`+` country code, 8 to 15 digits)"))
    }
}

fn check_email(s: &str) -> Result<(), String> {
    let bad = || Err(format!("`{s}` is not an e-mail address"));
    let Some((local, domain)) = s.split_once('@') else {
        return bad();
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|ch| ch.is_alphanumeric() || ch == '-')
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|ch| ch.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(ch));
    let labels: Vec<&str> = domain.split('.').collect();
    if local_ok && labels.len() >= 2 && labels.iter().all(|l| label_ok(l)) {
        Ok(())
    } else {
        bad()
    }
}

fn check_url(s: &str) -> Result<(), String> {
    match url::Url::parse(s) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host_str().is_some_and(|h| h.contains('.')) => Ok(()),
        Ok(u) if u.scheme() != "https" && u.scheme() != "http" => {
            Err(format!("`{s}` is not a web address: it must start with https:// or http://"))
        }
        Ok(_) => Err(format!("`{s}` has no valid host name")),
        Err(e) => Err(format!("`{s}` is not a valid URL: {e}")),
    }
}

fn check_signal(s: &str) -> Result<(), String> {
    if s.starts_with('+') {
        return check_phone(s);
    }
    // Signal user names: 3–32 letters, digits or `_`, a dot, and two or more digits.
    let ok = s.split_once('.').is_some_and(|(name, num)| {
        (3..=32).contains(&name.len())
            && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && num.len() >= 2
            && num.chars().all(|ch| ch.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is neither a phone number in international form nor a Signal user name (`name.01`)"))
    }
}

fn check_telegram(s: &str) -> Result<(), String> {
    if s.starts_with('+') {
        return check_phone(s);
    }
    let name = s.strip_prefix('@').or_else(|| s.strip_prefix("https://t.me/"));
    match name {
        Some(n) if (5..=32).contains(&n.len()) && n.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') => Ok(()),
        _ => Err(format!("`{s}` is not a Telegram contact: use `@username` (5 to 32 letters, digits or `_`), https://t.me/username or a phone number")),
    }
}

/// Turns the opening-hours parser's multi-line report into one line: where, and what was expected.
fn oh_error(report: &str) -> String {
    let at = report
        .split("-->")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pos| pos.split(':').nth(1))
        .map(|col| format!("at character {col}: "))
        .unwrap_or_default();
    let what = report.rsplit("= ").next().map(str::trim).filter(|s| !s.is_empty()).unwrap_or(report.trim());
    format!("{at}{}", what.split_whitespace().collect::<Vec<_>>().join(" "))
}
