//! Privacy: a real server process, logging at the most verbose level, never writes a request's
//! coordinates, search words or client address; no cookies; personal answers are not cacheable.

use crate::support::Server;

#[tokio::test]
async fn no_location_search_text_or_ip_in_logs() {
    let server = Server::start(&[], &[("RUST_LOG", "trace")]).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
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
    let logs = server.stop();
    assert!(logs.contains("sportello::access"), "access log present:\n{logs}");
    for secret in ["45.123456", "9.876543", "999.5", secret_word] {
        assert!(!logs.contains(secret), "`{secret}` leaked into the logs:\n{logs}");
    }
    for line in logs.lines().filter(|l| l.contains("sportello::access")) {
        assert!(!line.contains("127.0.0.1"), "client address in access log: {line}");
    }
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_without_request_data() {
    let server = Server::start(&["--log-format", "json"], &[("RUST_LOG", "debug")]).await;
    let c = reqwest::Client::new();
    c.get(format!("{}/api/v1/search?q=parolasegreta&lat=45.123456&lon=9.876543", server.base)).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = server.stop();
    let mut access = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["target"] == "sportello::access" && v["fields"]["route"] == "/api/v1/search" {
            access += 1;
            assert_eq!(v["fields"]["status"], 200, "{line}");
        }
    }
    assert!(access >= 1, "no access log line:\n{logs}");
    for secret in ["parolasegreta", "45.123456", "9.876543"] {
        assert!(!logs.contains(secret), "`{secret}` in the logs:\n{logs}");
    }
}
