//! Reloading without a restart: `POST /admin/reload` on the admin listener only, with the token;
//! every answer names the bundle version it came from; a bundle that fails to load is refused
//! and the old one keeps serving; `/readyz` reports the version and its age; answers the same
//! for everyone carry the version as `ETag` and answer `304`.

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
