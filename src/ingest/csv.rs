//! CSV input, one desk per row, in one documented column layout (README, "Input formats"). Each
//! row is mapped onto the GeoJSON feature shape and checked by the same validator, so both formats
//! accept and refuse exactly the same things.
//!
//! Columns: `id, lat, lon, name, organization, audience, languages, domains, street, postcode, city,
//! country, phone, email, website, whatsapp, signal, telegram, opening_hours, timezone,
//! access_walk_in, access_appointment, access_phone, access_online, access_wheelchair, fees,
//! updated`, and any number of `description_<lang>`. Lists (`languages`, `domains`) are separated
//! by `;`. An empty cell means "not given".

use serde_json::{Map, Value, json};

use super::{RawRecord, Record};

/// Columns that must be present in the header.
pub const REQUIRED: &[&str] =
    &["id", "lat", "lon", "name", "organization", "audience", "languages", "domains", "city", "country"];
/// Columns that may be present.
pub const OPTIONAL: &[&str] = &[
    "street", "postcode", "phone", "email", "website", "whatsapp", "signal", "telegram",
    "opening_hours", "timezone", "access_walk_in", "access_appointment", "access_phone",
    "access_online", "access_wheelchair", "fees", "updated",
];

pub(crate) fn read(bytes: &[u8], sink: &mut dyn FnMut(RawRecord)) -> Result<(), (Option<u64>, String)> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes);
    let headers = rdr.headers().map_err(|e| (Some(1), format!("cannot read the CSV header: {e}")))?.clone();
    let mut bad = Vec::new();
    for h in &headers {
        let known = REQUIRED.contains(&h) || OPTIONAL.contains(&h) || h.strip_prefix("description_").is_some_and(|l| !l.is_empty());
        if !known {
            bad.push(format!("unknown column `{h}`"));
        }
    }
    for r in REQUIRED {
        if !headers.iter().any(|h| h == *r) {
            bad.push(format!("missing required column `{r}`"));
        }
    }
    if !bad.is_empty() {
        return Err((Some(1), format!("{}; see the README's CSV layout", bad.join(", "))));
    }
    for (n, row) in rdr.records().enumerate() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                return Err((line, format!("malformed CSV: {e}")));
            }
        };
        let line = row.position().map(|p| p.line());
        let cells: Vec<(&str, &str)> = headers.iter().zip(row.iter()).filter(|(_, v)| !v.is_empty()).collect();
        sink(RawRecord { line, record: Record::Row(n + 1), feature: to_feature(&cells), field_name: column_of });
    }
    Ok(())
}

/// Builds the GeoJSON feature shape from the non-empty cells of a row. Values that do not parse
/// (a latitude that is not a number, a boolean that is not true/false) are kept as strings so
/// the validator reports them with the reason.
fn to_feature(cells: &[(&str, &str)]) -> Value {
    let mut props = Map::new();
    let (mut address, mut contacts, mut access, mut description) = (Map::new(), Map::new(), Map::new(), Map::new());
    let (mut lat, mut lon, mut id) = (None, None, None);
    for &(col, v) in cells {
        let s = Value::String(v.to_string());
        match col {
            "id" => id = Some(s),
            "lat" => lat = Some(number(v)),
            "lon" => lon = Some(number(v)),
            "languages" | "domains" => {
                let items = v.split(';').map(|x| Value::String(x.trim().to_string())).collect();
                props.insert(col.into(), Value::Array(items));
            }
            "street" | "postcode" | "city" | "country" => {
                address.insert(col.into(), s);
            }
            "phone" | "email" | "website" | "whatsapp" | "signal" | "telegram" => {
                contacts.insert(col.into(), s);
            }
            "access_wheelchair" => {
                access.insert("wheelchair".into(), s);
            }
            c if c.starts_with("access_") => {
                let b = match v {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => s,
                };
                access.insert(c["access_".len()..].into(), b);
            }
            c if c.starts_with("description_") => {
                description.insert(c["description_".len()..].into(), s);
            }
            c => {
                props.insert(c.into(), s);
            }
        }
    }
    for (key, map) in [("address", address), ("contacts", contacts), ("access", access), ("description", description)] {
        if !map.is_empty() || key == "address" {
            props.insert(key.into(), Value::Object(map));
        }
    }
    let geometry = match (lon, lat) {
        (Some(x), Some(y)) => json!({"type": "Point", "coordinates": [x, y]}),
        _ => Value::Null,
    };
    let mut f = json!({"type": "Feature", "geometry": geometry, "properties": props});
    if let Some(id) = id {
        f["id"] = id;
    }
    f
}

fn number(v: &str) -> Value {
    v.trim().parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)).unwrap_or(Value::String(v.to_string()))
}

/// The CSV column for a GeoJSON field path, for reports.
fn column_of(field: &str) -> String {
    let base = field.split('[').next().unwrap_or(field);
    match base {
        "geometry" | "geometry.coordinates" | "geometry.type" => "lat/lon".into(),
        f if f.starts_with("address.") => f["address.".len()..].into(),
        f if f.starts_with("contacts.") => f["contacts.".len()..].into(),
        f if f.starts_with("access.") => format!("access_{}", &f["access.".len()..]),
        f if f.starts_with("description.") => format!("description_{}", &f["description.".len()..]),
        "address" => "city".into(),
        f => f.into(),
    }
}
