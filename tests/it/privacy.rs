//! Privacy: a real server process, logging at the most verbose level, never writes a request's
//! coordinates, search words or client address; no cookies; personal answers are not cacheable.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sportello");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn no_location_search_text_or_ip_in_logs() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let start = Instant::now();
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(60), "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secret_word = "segretissimoparola";
    let urls = [
        format!("{base}/api/v1/nearest?lat=45.123456&lon=9.876543&k=3"),
        format!("{base}/api/v1/search?q={secret_word}&lat=45.123456&lon=9.876543"),
        format!("{base}/api/v1/points?bbox=9.876543,45.123456,9.98,45.2"),
        format!("{base}/api/v1/nearest?lat=45.123456&lon=999.5"),
        format!("{base}/api/v1/search/{secret_word}"),
    ];
    for u in &urls {
        let res = client.get(u).send().await.unwrap();
        assert!(res.headers().get("set-cookie").is_none(), "{u} sets a cookie");
        if u.contains("/api/v1/nearest?") && res.status().is_success() {
            assert_eq!(res.headers()["cache-control"], "no-store");
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(logs.contains("sportello::access"), "access log present:\n{logs}");
    for secret in ["45.123456", "9.876543", "999.5", secret_word] {
        assert!(!logs.contains(secret), "`{secret}` leaked into the logs:\n{logs}");
    }
    for line in logs.lines().filter(|l| l.contains("sportello::access")) {
        assert!(!line.contains("127.0.0.1"), "client address in access log: {line}");
    }
}
