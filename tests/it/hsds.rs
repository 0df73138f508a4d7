//! Open Referral HSDS 3.0: `export --format hsds` validates against the published schema (checked
//! by PyPI's `jsonschema`, not by this project), export → build keeps every field, and the
//! specification's own example (JSON and tabular forms) is read as the reader promises: bad
//! coordinates are a bad record, unmapped terms and languages are warnings.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sportello"))
}

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hsds").join(p)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("sportello runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Validates `doc` against the published compiled organization schema; (passed, report).
fn validate(doc: &Path) -> (bool, String) {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools/bin/python3");
    let out = Command::new(&python)
        .arg(data("validate.py"))
        .arg(data("organization.schema.json"))
        .arg(doc)
        .output()
        .expect("the schema check runs: scripts/test installs jsonschema in target/pytools");
    (out.status.success(), text(&out))
}

fn build(inputs: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.arg("build").arg("--out").arg(out).arg("--no-tiles").args(extra);
    for i in inputs {
        cmd.arg("--input").arg(i);
    }
    run(&mut cmd)
}

fn export(format: &str, bundle: Option<&Path>, out: &Path) {
    let mut cmd = bin();
    cmd.args(["export", "--format", format, "--out"]).arg(out);
    if let Some(b) = bundle {
        cmd.arg("--bundle").arg(b);
    }
    let o = run(&mut cmd);
    assert!(o.status.success(), "export failed: {}", text(&o));
}

/// Features by id, from a GeoJSON export.
fn features(path: &Path) -> std::collections::BTreeMap<String, Value> {
    let fc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    fc["features"].as_array().unwrap().iter().map(|f| (f["id"].as_str().unwrap().to_string(), f.clone())).collect()
}

/// Export as HSDS, check it against the schema, build from it, and compare every desk with the
/// original, field by field.
fn round_trip(original_bundle: Option<&Path>, dir: &Path) -> usize {
    let hsds = dir.join("desks.hsds.json");
    export("hsds", original_bundle, &hsds);
    let (ok, report) = validate(&hsds);
    assert!(ok, "the export does not validate against HSDS 3.0:\n{report}");
    let rebuilt = dir.join("rebuilt");
    let o = build(&[&hsds], &rebuilt, &[]);
    assert!(o.status.success(), "building from the export failed: {}", text(&o));
    assert!(!text(&o).contains("warning:"), "an export reads back without warnings: {}", text(&o));
    let (before, after) = (dir.join("before.geojson"), dir.join("after.geojson"));
    export("geojson", original_bundle, &before);
    export("geojson", Some(&rebuilt), &after);
    let (a, b) = (features(&before), features(&after));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same desks");
    for (id, f) in &a {
        assert_eq!(f, &b[id], "desk {id} changed in the round trip");
    }
    a.len()
}

#[test]
fn the_sample_exports_as_valid_hsds_and_builds_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(round_trip(None, dir.path()), 72);
}

#[test]
fn synthetic_desks_with_every_field_round_trip_through_hsds() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth.geojson");
    let o = run(bin().args(["synth", "--count", "150", "--seed", "11", "--out"]).arg(&synth));
    assert!(o.status.success(), "{}", text(&o));
    // Every optional field occurs somewhere in the input, so the round trip is tested on each.
    let fc: Value = serde_json::from_slice(&std::fs::read(&synth).unwrap()).unwrap();
    let mut fc = fc;
    let feats = fc["features"].as_array_mut().unwrap();
    feats[0]["properties"]["timezone"] = json!("Europe/Rome");
    feats[1]["properties"]["contacts"]["signal"] = json!("+39 333 000 0000");
    feats[2]["properties"]["contacts"]["telegram"] = json!("@desk_example");
    feats[3]["properties"]["audience"] = json!("unions");
    feats[3]["properties"]["access"] = json!({"walk_in": false, "appointment": true, "phone": true, "online": false, "wheelchair": "limited"});
    feats[4]["properties"]["address"]["street"] = json!("Via Roma 1, scala B");
    std::fs::write(&synth, serde_json::to_vec(&fc).unwrap()).unwrap();
    let bundle = dir.path().join("bundle");
    let o = build(&[&synth], &bundle, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(round_trip(Some(&bundle), dir.path()), 150);
}

#[test]
fn the_schema_check_refuses_what_breaks_the_standard() {
    // The check must be able to fail: a non-UUID id and a missing required name are caught.
    let dir = tempfile::tempdir().unwrap();
    let hsds = dir.path().join("desks.hsds.json");
    export("hsds", None, &hsds);
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&hsds).unwrap()).unwrap();
    doc[0]["locations"][0]["id"] = json!("it-milano-anolf");
    doc[1].as_object_mut().unwrap().remove("name");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (ok, report) = validate(&bad);
    assert!(!ok, "{report}");
    assert!(report.contains("is not a 'uuid'"), "{report}");
    assert!(report.contains("'name' is a required property"), "{report}");
    // And the specification's own example passes it.
    let (ok, report) = validate(&data("organization_full.hsds.json"));
    assert!(ok, "{report}");
}

/// The specification's example with its placeholder position and quoted phone numbers replaced.
fn fixed_example() -> Value {
    let mut o: Value = serde_json::from_slice(&std::fs::read(data("organization_full.hsds.json")).unwrap()).unwrap();
    fn fix(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.contains_key("latitude") {
                    m.insert("latitude".into(), json!(40.7128));
                    m.insert("longitude".into(), json!(-74.006));
                }
                if m.contains_key("number") {
                    m.insert("number".into(), json!("+1 212 555 0100"));
                }
                m.values_mut().for_each(fix);
            }
            Value::Array(a) => a.iter_mut().for_each(fix),
            _ => {}
        }
    }
    fix(&mut o);
    o
}

#[test]
fn the_specifications_example_is_refused_for_its_coordinates_in_both_forms() {
    let dir = tempfile::tempdir().unwrap();
    for input in [data("organization_full.hsds.json"), data("tabular/datapackage.json")] {
        let o = build(&[&input], &dir.path().join("b"), &[]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(t.contains("location #0 (id `3a19ff88-4620-4d17-9830-ac1d859eb5d5`), field `latitude/longitude`: latitude 100 is out of range"), "{t}");
        assert!(t.contains("field `phones.number`"), "{t}");
        assert!(t.contains("nothing written (strict build"), "{t}");
        assert!(!dir.path().join("b").exists());
        // --skip-invalid lists it still, and with no valid desk writes nothing.
        let o = build(&[&input], &dir.path().join("b"), &["--skip-invalid"]);
        let t = text(&o);
        assert!(t.contains("latitude 100 is out of range") && t.contains("no valid desks"), "{t}");
        assert_eq!(o.status.code(), Some(2));
    }
    // In the JSON form, the report points at the location's line.
    let o = build(&[&data("organization_full.hsds.json")], &dir.path().join("b"), &[]);
    assert!(text(&o).contains("organization_full.hsds.json:65: location #0"), "{}", text(&o));
}

#[test]
fn a_location_becomes_a_desk_with_what_is_found_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("example.hsds.json");
    std::fs::write(&input, serde_json::to_vec_pretty(&fixed_example()).unwrap()).unwrap();
    let bundle = dir.path().join("bundle");
    let o = build(&[&input], &bundle, &[]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // A taxonomy term that maps to no domain is a warning, and the build goes on.
    assert!(t.contains("warning:") && t.contains("taxonomy term `name` (taxonomy `taxonomy`) maps to no service domain"), "{t}");
    let q = run(bin().args(["query", "--bundle"]).arg(&bundle).args(["point", "3a19ff88-4620-4d17-9830-ac1d859eb5d5"]));
    let f: Value = serde_json::from_slice(&q.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&q)));
    let p = &f["properties"];
    assert_eq!(f["geometry"]["coordinates"], json!([-74.006, 40.7128]));
    assert_eq!(p["name"], "MyCity Civic Center");
    assert_eq!(p["organization"], "Example Organization Inc.");
    assert_eq!(p["languages"], json!(["ur"]));
    assert!(p["domains"].as_array().unwrap().contains(&json!("psychosocial")), "{p}");
    assert_eq!(p["opening_hours"], "Th,Fr 10:00-18:00");
    assert_eq!(p["address"], json!({"street": "1-30 Main Street, MyVillage", "postcode": "ABC 1234", "city": "MyCity", "country": "US"}));
    assert_eq!(p["contacts"]["phone"], "+1 212 555 0100");
    assert_eq!(p["contacts"]["email"], "email@example.com");
    assert_eq!(p["access"]["wheelchair"], "yes", "the accessibility text names wheelchair access");
    assert_eq!(p["fees"], "fee", "a cost option with an amount");
    assert!(p["description"]["en"].as_str().unwrap().starts_with("Counselling Services"));
}

#[test]
fn unmapped_language_names_and_virtual_locations_are_reported_never_dropped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = fixed_example();
    let loc = &mut o["locations"][0];
    loc["languages"] = json!([
        {"id": "9a1d0f4e-0000-4000-8000-000000000001", "name": "Spanish"},
        {"id": "9a1d0f4e-0000-4000-8000-000000000002", "name": "Chinese (Mandarin)"},
        {"id": "9a1d0f4e-0000-4000-8000-000000000003", "name": "Elvish"}
    ]);
    o["locations"].as_array_mut().unwrap().push(json!({"id": "9a1d0f4e-0000-4000-8000-0000000000aa", "location_type": "virtual", "name": "Online help"}));
    let input = dir.path().join("example.hsds.json");
    std::fs::write(&input, serde_json::to_vec_pretty(&o).unwrap()).unwrap();
    let bundle = dir.path().join("bundle");
    let out = build(&[&input], &bundle, &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("language name `Elvish` maps to no ISO 639 code"), "{t}");
    assert!(t.contains("(id `9a1d0f4e-0000-4000-8000-0000000000aa`), field `location_type`: is a virtual location"), "{t}");
    let q = run(bin().args(["query", "--bundle"]).arg(&bundle).args(["point", "3a19ff88-4620-4d17-9830-ac1d859eb5d5"]));
    let f: Value = serde_json::from_slice(&q.stdout).unwrap();
    // The location's own languages by name, then the services' by code.
    assert_eq!(f["properties"]["languages"], json!(["es", "zh", "ur"]));
}

#[test]
fn the_tabular_form_reads_like_the_json_form() {
    let dir = tempfile::tempdir().unwrap();
    // The tabular example, with the same placeholders fixed as in the JSON one.
    let tab = dir.path().join("tab");
    std::fs::create_dir(&tab).unwrap();
    for e in std::fs::read_dir(data("tabular")).unwrap() {
        let e = e.unwrap();
        let mut body = std::fs::read_to_string(e.path()).unwrap();
        if e.file_name() == "locations.csv" {
            body = body.replace(",100,101,", ",40.7128,-74.006,");
        }
        if e.file_name() == "phones.csv" {
            body = body.replace("\"\"\"+44 1234 234567\"\"\"", "+1 212 555 0100");
        }
        std::fs::write(tab.join(e.file_name()), body).unwrap();
    }
    let o = build(&[&tab.join("datapackage.json")], &dir.path().join("bundle"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let q = run(bin().args(["query", "--bundle"]).arg(dir.path().join("bundle")).args(["point", "3a19ff88-4620-4d17-9830-ac1d859eb5d5"]));
    let f: Value = serde_json::from_slice(&q.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&q)));
    let p = &f["properties"];
    assert_eq!(p["name"], "MyCity Civic Center");
    assert_eq!(p["organization"], "Example Organization Inc.", "reached through its service");
    assert_eq!(p["languages"], json!(["ur"]));
    assert_eq!(p["opening_hours"], "Th,Fr 10:00-18:00");
    assert_eq!(p["contacts"]["phone"], "+1 212 555 0100");
    assert_eq!(p["fees"], "fee");
    assert!(p["domains"].as_array().unwrap().contains(&json!("psychosocial")), "{p}");
}
