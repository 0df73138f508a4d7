//! `/openapi.json` describes every route of the router, and a schemathesis run (PyPI, the tool
//! nobody on this project wrote) against the real server finds no 5xx and no answer that breaks
//! the description: undocumented statuses, content types or bodies that fail their schemas.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::Server;

/// The route templates the router is built with, read from its source (`.route("…", …)`).
fn router_routes() -> BTreeSet<String> {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/mod.rs")).unwrap();
    let mut out = BTreeSet::new();
    for part in src.split(".route(\"").skip(1) {
        out.insert(part.split('"').next().unwrap().to_string());
    }
    assert!(out.len() > 10, "the router's routes were found: {out:?}");
    out
}

#[tokio::test]
async fn every_route_of_the_router_is_described_and_counted() {
    let server = Server::start(&[], &[("RUST_LOG", "warn")]).await;
    let doc: serde_json::Value = reqwest::get(format!("{}/openapi.json", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    for r in router_routes() {
        assert!(paths.contains(&r), "route {r} is not in /openapi.json (add #[utoipa::path] to its handler and list it in http::openapi::ApiDoc)");
        assert!(sportello::http::metrics::ROUTES.contains(&r.as_str()), "route {r} is not in metrics::ROUTES, so logs and metrics would call it (unmatched)");
    }
    for p in &paths {
        assert!(router_routes().contains(p), "/openapi.json describes {p}, which the router does not serve");
    }
    // Every operation says what its errors look like.
    for (p, item) in doc["paths"].as_object().unwrap() {
        let responses = item["get"]["responses"].as_object().unwrap_or_else(|| panic!("{p} has no GET"));
        assert!(!responses.is_empty(), "{p}");
        if p.starts_with("/api/") {
            assert!(responses.contains_key("400") && responses.contains_key("429"), "{p} documents its 400 and 429");
        }
    }
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_description() {
    // Rate limiting off: schemathesis sends hundreds of requests from one address.
    let server = Server::start(&["--rate-limit", "0"], &[("RUST_LOG", "warn")]).await;
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis/bin/schemathesis");
    let url = format!("{}/openapi.json", server.base);
    // schemathesis keeps a cache in its working directory: not in the checkout.
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path().to_path_buf();
    // Run off the test's runtime thread, which must stay free while the server answers.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&tool)
            .current_dir(&cwd)
            .args(["run", &url])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
            .args(["--max-examples", "30", "--seed", "20261202", "--workers", "1", "--no-color"])
            .output()
            .expect("schemathesis runs: scripts/test installs it in target/schemathesis")
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    // It really tested the operations (a run that tested nothing would also exit 0).
    let tested = text.lines().find(|l| l.trim_start().starts_with("Tested:")).unwrap_or_default().to_string();
    let n: usize = tested.split(':').nth(1).and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    assert!(n >= 25, "schemathesis tested {n} operations:\n{text}");
    let generated = text.lines().skip_while(|l| l.trim() != "Test cases:").nth(1).unwrap_or_default().trim().to_string();
    let cases: usize = generated.split_whitespace().next().and_then(|t| t.parse().ok()).unwrap_or(0);
    assert!(cases >= 300, "only {cases} test cases:\n{text}");
    println!("schemathesis: {tested} operations, {generated}");
}
