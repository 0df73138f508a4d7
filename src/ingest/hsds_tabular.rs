//! Open Referral HSDS 3.0 in its tabular form: a `datapackage.json` whose `resources` name the CSV
//! files (`organizations.csv`, `services.csv`, `locations.csv`, `service_at_location.csv`,
//! `languages.csv`, `phones.csv`, `schedules.csv`, `addresses.csv`, `accessibility.csv`,
//! `attributes.csv`, `taxonomy_terms.csv`, `cost_options.csv`). The tables are joined by their ids
//! into the nested JSON form, which [`super::hsds`] then reads, so both forms give the same desks.
//! A table the package does not list is taken as empty; one it lists but that cannot be read is
//! a file problem.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

type Row = Map<String, Value>;

/// Fields that HSDS types as numbers; every other cell is a string. Empty cells are left out.
const NUMBERS: &[&str] = &["latitude", "longitude", "amount", "extension", "timezone", "count", "interval", "minimum_age", "maximum_age", "year_incorporated"];

/// The nested HSDS JSON (an array of organizations) for the package described by
/// `datapackage` (the bytes of `datapackage.json` in `dir`); an error names the file and reason.
pub(crate) fn read(dir: &Path, datapackage: &[u8]) -> Result<Value, (Option<u64>, String)> {
    let pkg: Value = serde_json::from_slice(datapackage).map_err(|e| (Some(e.line() as u64), format!("datapackage.json is not valid JSON: {e}")))?;
    let resources = pkg.get("resources").and_then(Value::as_array).ok_or((None, "datapackage.json has no `resources` list".to_string()))?;
    let mut tables: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for r in resources {
        let (Some(name), Some(path)) = (r.get("name").and_then(Value::as_str), r.get("path").and_then(Value::as_str)) else { continue };
        if Path::new(path).is_absolute() || path.split(['/', '\\']).any(|p| p == "..") {
            return Err((None, format!("resource `{name}`: path `{path}` leaves the package's folder")));
        }
        let file = dir.join(path);
        if !file.exists() {
            continue;
        }
        tables.insert(name.to_string(), rows(&file)?);
    }
    Ok(nest(&tables))
}

fn rows(file: &Path) -> Result<Vec<Row>, (Option<u64>, String)> {
    let place = file.display().to_string();
    let mut r = csv::ReaderBuilder::new().flexible(false).from_path(file).map_err(|e| (None, format!("{place}: cannot read: {e}")))?;
    let headers = r.headers().map_err(|e| (Some(1), format!("{place}: bad header: {e}")))?.clone();
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| (e.position().map(|p| p.line()), format!("{place}: {e}")))?;
        let mut row = Row::new();
        for (h, cell) in headers.iter().zip(rec.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let v = if NUMBERS.contains(&h) {
                match cell.parse::<f64>() {
                    Ok(n) => serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null),
                    Err(_) => return Err((Some(i as u64 + 2), format!("{place}: row {}: `{h}` must be a number, got `{cell}`", i + 1))),
                }
            } else {
                Value::String(cell.to_string())
            };
            row.insert(h.to_string(), v);
        }
        out.push(row);
    }
    Ok(out)
}

fn get<'a>(t: &'a BTreeMap<String, Vec<Row>>, name: &str) -> &'a [Row] {
    t.get(name).map(Vec::as_slice).unwrap_or_default()
}

fn is(row: &Row, key: &str, id: &str) -> bool {
    row.get(key).and_then(Value::as_str) == Some(id)
}

fn id(row: &Row) -> &str {
    row.get("id").and_then(Value::as_str).unwrap_or("")
}

/// `rows` of `table` whose `key` is `owner`, as a JSON array.
fn children(t: &BTreeMap<String, Vec<Row>>, table: &str, key: &str, owner: &str, attach: &dyn Fn(Row) -> Row) -> Value {
    Value::Array(get(t, table).iter().filter(|r| is(r, key, owner)).cloned().map(attach).map(Value::Object).collect())
}

fn nest(t: &BTreeMap<String, Vec<Row>>) -> Value {
    let terms: BTreeMap<&str, &Row> = get(t, "taxonomy_term").iter().map(|r| (id(r), r)).collect();
    let attributes = |owner: &str| {
        children(t, "attribute", "link_id", owner, &|mut a| {
            if let Some(term) = a.get("taxonomy_term_id").and_then(Value::as_str).and_then(|i| terms.get(i)) {
                a.insert("taxonomy_term".into(), Value::Object((*term).clone()));
            }
            a
        })
    };
    let phone = |mut p: Row| {
        let pid = id(&p).to_string();
        p.insert("languages".into(), children(t, "language", "phone_id", &pid, &|r| r));
        p
    };
    let location = |mut l: Row| {
        let lid = id(&l).to_string();
        for (key, table) in [("languages", "language"), ("addresses", "address"), ("schedules", "schedule"), ("accessibility", "accessibility")] {
            l.insert(key.into(), children(t, table, "location_id", &lid, &|r| r));
        }
        l.insert("phones".into(), children(t, "phone", "location_id", &lid, &phone));
        l.insert("attributes".into(), attributes(&lid));
        l
    };
    let locations: BTreeMap<&str, Row> = get(t, "location").iter().map(|l| (id(l), location(l.clone()))).collect();
    let service = |mut s: Row| {
        let sid = id(&s).to_string();
        for (key, table) in [("languages", "language"), ("schedules", "schedule"), ("cost_options", "cost_option")] {
            s.insert(key.into(), children(t, table, "service_id", &sid, &|r| r));
        }
        s.insert("phones".into(), children(t, "phone", "service_id", &sid, &phone));
        s.insert("attributes".into(), attributes(&sid));
        s.insert(
            "service_at_locations".into(),
            children(t, "service_at_location", "service_id", &sid, &|mut sal| {
                let salid = id(&sal).to_string();
                sal.insert("schedules".into(), children(t, "schedule", "service_at_location_id", &salid, &|r| r));
                if let Some(l) = sal.get("location_id").and_then(Value::as_str).and_then(|i| locations.get(i)) {
                    sal.insert("location".into(), Value::Object(l.clone()));
                }
                sal
            }),
        );
        s
    };
    let mut out = Vec::new();
    for org in get(t, "organization") {
        let oid = id(org);
        let mut o = org.clone();
        o.insert("phones".into(), children(t, "phone", "organization_id", oid, &phone));
        o.insert("locations".into(), Value::Array(locations.values().filter(|l| is(l, "organization_id", oid)).cloned().map(Value::Object).collect()));
        o.insert("services".into(), Value::Array(get(t, "service").iter().filter(|s| is(s, "organization_id", oid)).cloned().map(service).map(Value::Object).collect()));
        out.push(Value::Object(o));
    }
    // Services whose organization is not in the package, and locations reached by no
    // organization or service, are still read (and reported by the validator for what they lack).
    let orgs: Vec<&str> = get(t, "organization").iter().map(id).collect();
    let orphans: Vec<Value> = get(t, "service")
        .iter()
        .filter(|s| !s.get("organization_id").and_then(Value::as_str).is_some_and(|o| orgs.contains(&o)))
        .cloned()
        .map(service)
        .map(Value::Object)
        .collect();
    let reached = |lid: &str| {
        get(t, "service_at_location").iter().any(|sal| is(sal, "location_id", lid))
            || locations.get(lid).is_some_and(|l| l.get("organization_id").and_then(Value::as_str).is_some_and(|o| orgs.contains(&o)))
    };
    let lone: Vec<Value> = locations.iter().filter(|(lid, _)| !reached(lid)).map(|(_, l)| Value::Object(l.clone())).collect();
    if !orphans.is_empty() || !lone.is_empty() {
        let mut o = Map::new();
        o.insert("services".into(), Value::Array(orphans));
        o.insert("locations".into(), Value::Array(lone));
        out.push(Value::Object(o));
    }
    Value::Array(out)
}
