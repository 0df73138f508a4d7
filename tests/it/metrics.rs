//! `/metrics`: Prometheus text with requests by route template and status, latency, the bundle
//! served, reloads and rate-limited requests; and no label that a client's input could fill.

use crate::support::Server;

#[tokio::test]
async fn metrics_count_by_route_template_and_hold_nothing_a_client_sent() {
    let server = Server::start(&["--rate-limit", "1", "--rate-burst", "5", "--trusted-proxy", "127.0.0.1"], &[("RUST_LOG", "trace")]).await;
    let c = reqwest::Client::new();
    let base = &server.base;
    let secrets = ["45.123456", "9.876543", "parolasegreta", "Pordenone", "198.51.100.77", "it-milano-anolf"];
    for path in [
        "/api/v1/nearest?lat=45.123456&lon=9.876543".to_string(),
        "/api/v1/search?q=parolasegreta&place=Pordenone".to_string(),
        "/api/v1/points/it-milano-anolf".to_string(),
        "/parolasegreta/45.123456".to_string(),
        "/api/v1/nearest?lat=45.123456&lon=9.876543".to_string(),
        "/api/v1/nearest?lat=45.123456&lon=9.876543".to_string(),
    ] {
        c.get(format!("{base}{path}")).header("x-forwarded-for", "198.51.100.77").send().await.unwrap();
    }
    let res = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    for line in [
        "sportello_http_requests_total{route=\"/api/v1/nearest\",status=\"200\"} 2",
        "sportello_http_requests_total{route=\"/api/v1/points/{id}\",status=\"200\"} 1",
        "sportello_http_requests_total{route=\"(unmatched)\",status=\"404\"} 1",
        "sportello_http_requests_total{route=\"/api/v1/nearest\",status=\"429\"} 1",
        "sportello_rate_limited_requests_total 1",
        "sportello_bundle_desks 72",
        "sportello_shed_connections_total 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("sportello_http_request_duration_seconds_bucket{le=\""), "{text}");
    let ready: serde_json::Value = c.get(format!("{base}/readyz")).send().await.unwrap().json().await.unwrap();
    assert!(text.contains(&format!("sportello_bundle_info{{version=\"{}\"}} 1", ready["bundle"].as_str().unwrap())), "{text}");
    let logs = server.stop();
    for secret in secrets {
        assert!(!text.contains(secret), "`{secret}` in /metrics:\n{text}");
        assert!(!logs.contains(secret), "`{secret}` in the logs:\n{logs}");
    }
}
