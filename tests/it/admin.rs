//! Reloading without a restart: `POST /admin/reload` on the admin listener only, with the token;
//! every answer names the bundle version it came from; a bundle that fails to load is refused
//! and the old one keeps serving; `/readyz` reports the version and its age; answers the same
//! for everyone carry the version as `ETag` and answer `304`; a bundle that fails the check of its
//! large files after a start stops serving until a good one is reloaded.

use std::path::Path;
use std::process::Command;

use crate::support::{Server, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_sportello");
const TOKEN: &str = "correct-horse-battery-staple";

fn build(input: &Path, out: &Path) {
    let res = Command::new(BIN).args(["build", "--no-tiles", "--input", input.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
}

fn version(res: &reqwest::Response) -> String {
    res.headers()["x-bundle-version"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn reload_through_the_admin_listener_with_the_token_only() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    build(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.geojson"), &bundle);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let admin_port = free_port();
    let admin_addr = format!("127.0.0.1:{admin_port}");
    let server = Server::start(
        &["--bundle", bundle.to_str().unwrap(), "--admin-listen", &admin_addr, "--admin-token-file", token_file.to_str().unwrap()],
        &[("RUST_LOG", "info")],
    )
    .await;
    let c = reqwest::Client::new();
    let ready = c.get(format!("{}/readyz", server.base)).send().await.unwrap();
    let first = version(&ready);
    let r: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(r["bundle"], first.as_str());
    assert!(r["age_s"].as_i64().unwrap() >= 0 && r["built_at"].is_string() && r["loaded_at"].is_string(), "{r}");
    let near = c.get(format!("{}/api/v1/nearest?lat=45.46&lon=9.19", server.base)).send().await.unwrap();
    assert_eq!(version(&near), first);

    // Answers the same for everyone: ETag is the version, and a revalidation costs a 304.
    let domains = c.get(format!("{}/api/v1/domains", server.base)).send().await.unwrap();
    let etag = domains.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{first}\""));
    let again = c.get(format!("{}/api/v1/domains", server.base)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["cache-control"], "public, max-age=300");

    // Not on the public port, and not without the token.
    let admin = format!("http://{admin_addr}/admin/reload");
    assert_eq!(c.post(format!("{}/admin/reload", server.base)).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
    let none = c.post(&admin).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_eq!(c.post(&admin).bearer_auth("correct-horse-battery-stapler").send().await.unwrap().status(), 401);

    // A new bundle in the same place: the reload swaps it in.
    let synth = dir.path().join("synth.geojson");
    assert!(Command::new(BIN).args(["synth", "--count", "300", "--seed", "4", "--out", synth.to_str().unwrap()]).status().unwrap().success());
    build(&synth, &bundle);
    let ok = c.post(&admin).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    let second = body["bundle"].as_str().unwrap().to_string();
    assert_eq!(body["previous"], first.as_str());
    assert_ne!(second, first);
    let near = c.get(format!("{}/api/v1/nearest?lat=45.46&lon=9.19", server.base)).send().await.unwrap();
    assert_eq!(version(&near), second);
    let again = c.get(format!("{}/api/v1/domains", server.base)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 200, "the old ETag no longer matches");

    // A damaged bundle is refused; the one loaded keeps serving.
    std::fs::write(bundle.join("desks.bin"), b"not a desk store").unwrap();
    let bad = c.post(&admin).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(bad.status(), 500);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(p["bundle"], second.as_str());
    assert!(p["detail"].as_str().unwrap().contains("previous one still serves"), "{p}");
    let near = c.get(format!("{}/api/v1/nearest?lat=45.46&lon=9.19", server.base)).send().await.unwrap();
    assert_eq!(near.status(), 200);
    assert_eq!(version(&near), second);
    let logs = server.stop();
    assert!(logs.contains("reload failed; still serving the previous bundle"), "{logs}");
}

#[test]
fn the_admin_listener_needs_a_token_and_a_port_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "secret\n").unwrap();
    let port = free_port();
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(["serve", "--listen", &format!("127.0.0.1:{port}")]).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = run(&["--admin-listen", "127.0.0.1:0"]);
    assert!(e.contains("--admin-token-file"), "{e}");
    let e = run(&["--admin-listen", "127.0.0.1:0", "--admin-token-file", short.to_str().unwrap()]);
    assert!(e.contains("at least 16 characters"), "{e}");
    let long = dir.path().join("long");
    std::fs::write(&long, TOKEN).unwrap();
    let e = run(&["--admin-listen", &format!("127.0.0.1:{port}"), "--admin-token-file", long.to_str().unwrap()]);
    assert!(e.contains("port of its own"), "{e}");
}

/// `serve` answers as soon as a bundle is open and checks its large files' hashes afterwards: a
/// bundle damaged on disk (same sizes, so it opens) is found within moments, from then on every
/// request but the probes and the metrics is answered 503, `/readyz` says why, and a reload of a
/// good bundle serves again.
#[tokio::test]
async fn a_bundle_that_fails_its_check_after_the_start_stops_serving_until_a_good_reload() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.geojson");
    build(&sample, &bundle);
    let points = bundle.join("points.geojson");
    let text = std::fs::read_to_string(&points).unwrap();
    std::fs::write(&points, text.replacen("Milano", "Mailan", 1)).unwrap();
    let server = Server::start(&["--bundle", bundle.to_str().unwrap()], &[("RUST_LOG", "info")]).await;
    let c = reqwest::Client::new();
    let readyz = || async { c.get(format!("{}/readyz", server.base)).send().await.unwrap() };
    let start = std::time::Instant::now();
    let failed = loop {
        let r = readyz().await;
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap();
        match body["verified"].as_str().unwrap() {
            "pending" => assert_eq!(status, 200, "{body}"),
            "failed" => break (status, body),
            other => panic!("a damaged bundle was {other}: {body}"),
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the check did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(failed.0, 503);
    assert_eq!(failed.1["status"], "damaged");
    assert!(failed.1["reason"].as_str().unwrap().contains("points.geojson does not match its hash"), "{}", failed.1);
    for path in ["/api/v1/nearest?lat=45.46&lon=9.19", "/api/v1/points?bbox=9,45,10,46", "/list?lat=45.46&lon=9.19", "/tiles/tiles.json"] {
        let r = c.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(r.status(), 503, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json", "{path}");
    }
    assert_eq!(c.get(format!("{}/healthz", server.base)).send().await.unwrap().status(), 200);
    let metrics = c.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("bundle_verified -1"), "{metrics}");

    // A good bundle in the same place, and SIGHUP: checked whole before it is swapped in.
    build(&sample, &bundle);
    assert!(Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap().success());
    let start = std::time::Instant::now();
    loop {
        let r = readyz().await;
        if r.status() == 200 {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["verified"], "passed", "{body}");
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the reload did not happen");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(c.get(format!("{}/api/v1/nearest?lat=45.46&lon=9.19", server.base)).send().await.unwrap().status(), 200);
    let metrics = c.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("bundle_verified 1"), "{metrics}");
    let logs = server.stop();
    assert!(logs.contains("bundle failed its check"), "{logs}");
    assert!(!logs.contains("Mailan"), "no feature's text in the logs");
}

/// A good bundle passes its check after the start; `/readyz` and `/metrics` say so.
#[tokio::test]
async fn a_good_bundle_passes_its_check_after_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    build(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.geojson"), &bundle);
    let server = Server::start(&["--bundle", bundle.to_str().unwrap()], &[("RUST_LOG", "info")]).await;
    let c = reqwest::Client::new();
    let start = std::time::Instant::now();
    loop {
        let body: serde_json::Value = c.get(format!("{}/readyz", server.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["status"], "ready", "{body}");
        if body["verified"] == "passed" {
            break;
        }
        assert_eq!(body["verified"], "pending", "{body}");
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the check did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let metrics = c.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("bundle_verified 1"), "{metrics}");
    assert!(server.stop().contains("bundle verified"));
}

/// With `--check-before-ready` (as the Kubernetes deployment sets it) the whole bundle is checked
/// before the port opens: a damaged one stops the start with the reason, a good one serves
/// already checked.
#[tokio::test]
async fn check_before_ready_refuses_a_damaged_bundle_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.geojson");
    build(&sample, &bundle);
    let server = Server::start(&["--bundle", bundle.to_str().unwrap()], &[("SPORTELLO_CHECK_BEFORE_READY", "true")]).await;
    let body: serde_json::Value = reqwest::get(format!("{}/readyz", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!(body["verified"], "passed", "checked before the first answer: {body}");
    server.stop();

    let packed = bundle.join("points.packed");
    let mut bytes = std::fs::read(&packed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&packed, bytes).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--check-before-ready", "--listen", &format!("127.0.0.1:{}", free_port()), "--bundle", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("points.packed does not match its hash"), "{err}");
}
