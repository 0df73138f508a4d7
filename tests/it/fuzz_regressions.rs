//! The fuzz targets' seed corpora (`fuzz/corpus/<target>/`) and every crash or hang reproducer the
//! fuzzers found (`tests/data/fuzz/<target>/`), replayed through the same harnesses the AFL
//! binaries call (`sportello::fuzzing`), so each bug fixed stays fixed without AFL in CI. A
//! harness panics when a property it checks fails.

use std::path::{Path, PathBuf};

use sportello::fuzzing;

/// A fuzz target's harness: one input's bytes; panics when a property fails.
type Harness = fn(&[u8]);

/// The harness of each fuzz target, by the target's name.
const TARGETS: &[(&str, Harness)] = &[
    ("geojson_reader", fuzzing::geojson_reader),
    ("csv_reader", fuzzing::csv_reader),
    ("query_string", fuzzing::query_string),
    ("bundle_desks", fuzzing::bundle_desks),
    ("bundle_manifest", fuzzing::bundle_manifest),
    ("tile_archive", fuzzing::tile_archive),
    ("tile_pyramid", fuzzing::tile_pyramid),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn harness(target: &str) -> Harness {
    TARGETS.iter().find(|(t, _)| *t == target).unwrap_or_else(|| panic!("no fuzz target `{target}`")).1
}

/// Replays one reproducer of `target`, by file name under `tests/data/fuzz/<target>/`.
fn replay(target: &str, file: &str) {
    let path = root().join("tests/data/fuzz").join(target).join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    harness(target)(&bytes);
}

#[test]
fn every_seed_and_reproducer_passes_its_harness() {
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let seeds = files(&root().join("fuzz/corpus").join(target));
        assert!(!seeds.is_empty(), "fuzz/corpus/{target}/ has seeds");
        for path in seeds.iter().chain(&files(&root().join("tests/data/fuzz").join(target))) {
            let bytes = std::fs::read(path).unwrap();
            if let Err(e) = std::panic::catch_unwind(|| run(&bytes)) {
                let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                panic!("{}: {}", path.display(), msg.unwrap_or_default());
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 20, "only {replayed} files replayed");
}

#[test]
fn the_sample_bundle_as_built_now_passes_both_bundle_harnesses() {
    // The committed bundle seeds lag behind when the format or the sample changes; the ones built
    // now reach every query (each is replayed only when it differs from the committed seed).
    let (desks, manifest) = fuzzing::bundle_seeds();
    let committed = |path: &str| std::fs::read(root().join(path)).unwrap_or_default();
    if desks != committed("fuzz/corpus/bundle_desks/sample_desks.bin") {
        fuzzing::bundle_desks(&desks);
    }
    let unstamped = |bytes: &[u8]| {
        let mut m: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        m.as_object_mut().map(|o| o.remove("built_at"));
        m
    };
    if unstamped(&manifest) != unstamped(&committed("fuzz/corpus/bundle_manifest/sample_manifest.json")) {
        fuzzing::bundle_manifest(&manifest);
    }
}

#[test]
fn a_desk_count_whose_sizes_overflow_is_refused_not_a_panic() {
    replay("bundle_desks", "desk_count_overflows.bin");
}

#[test]
fn a_language_table_of_four_billion_codes_is_refused_before_anything_is_allocated() {
    // It used to abort the process (a 96 GiB allocation), so a reload would kill a server.
    replay("bundle_desks", "four_billion_languages.bin");
}

#[test]
fn an_error_repeats_a_huge_max_km_as_typed_not_as_300_digits() {
    replay("query_string", "max_km_1e300");
}

#[test]
fn an_error_repeats_at_most_40_characters_of_a_long_bbox() {
    replay("query_string", "bbox_of_sixty_numbers");
    replay("query_string", "bbox_min_lon_1e300");
}

#[test]
fn a_number_beyond_f64_in_a_feature_is_a_problem_with_its_line_not_a_panic() {
    replay("geojson_reader", "number_beyond_f64.geojson");
    let mut ing = sportello::ingest::Ingester::new();
    let bytes = std::fs::read(root().join("tests/data/fuzz/geojson_reader/number_beyond_f64.geojson")).unwrap();
    ing.read_bytes("f.geojson", sportello::ingest::Format::GeoJson, &bytes, &mut |_| {});
    let problems: Vec<String> = ing.finish().problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("f.geojson:2: feature #0: not valid JSON: number out of range"), "{problems:?}");
}

#[test]
fn a_member_with_an_empty_name_is_reported_by_a_field_that_can_be_seen() {
    replay("geojson_reader", "empty_member_names.geojson");
    let mut ing = sportello::ingest::Ingester::new();
    let bytes = std::fs::read(root().join("tests/data/fuzz/geojson_reader/empty_member_names.geojson")).unwrap();
    ing.read_bytes("f.geojson", sportello::ingest::Format::GeoJson, &bytes, &mut |_| {});
    let fields: Vec<String> = ing.finish().problems.iter().filter_map(|p| p.field.clone()).collect();
    assert!(fields.contains(&"\"\"".to_string()) && fields.contains(&"address.\"\"".to_string()), "{fields:?}");
}
