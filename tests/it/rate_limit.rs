//! The per-client rate limit: a client over its burst gets `429` with `Retry-After`, others and
//! health probes are not affected, a forwarded address counts only from a trusted proxy, and no
//! address reaches the logs.

use crate::support::Server;

async fn status(c: &reqwest::Client, url: &str, xff: Option<&str>) -> reqwest::Response {
    let mut r = c.get(url);
    if let Some(x) = xff {
        r = r.header("x-forwarded-for", x);
    }
    r.send().await.expect("answer")
}

#[tokio::test]
async fn a_client_over_its_burst_gets_429_with_retry_after() {
    let server = Server::start(&["--rate-limit", "1", "--rate-burst", "10"], &[("RUST_LOG", "info")]).await;
    let c = reqwest::Client::new();
    let url = format!("{}/api/v1/domains", server.base);
    // The readiness probe the start-up waited on is not counted: ten requests pass.
    for i in 0..10 {
        assert_eq!(status(&c, &url, None).await.status(), 200, "request {i}");
    }
    let over = status(&c, &url, None).await;
    assert_eq!(over.status(), 429);
    let retry: u64 = over.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(over.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = over.json().await.unwrap();
    assert_eq!(body["status"], 429);
    assert!(body["detail"].as_str().unwrap().contains("try again"), "{body}");
    // Probes are never limited.
    assert_eq!(status(&c, &format!("{}/healthz", server.base), None).await.status(), 200);
    assert_eq!(status(&c, &format!("{}/readyz", server.base), None).await.status(), 200);
    // A forwarded address from an untrusted peer changes nothing.
    assert_eq!(status(&c, &url, Some("203.0.113.9")).await.status(), 429);
    // After the wait, the client is served again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    assert_eq!(status(&c, &url, None).await.status(), 200);
    let logs = server.stop();
    assert!(!logs.contains("203.0.113.9"), "a client address reached the logs:\n{logs}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_quota() {
    let server = Server::start(&["--rate-limit", "1", "--rate-burst", "3", "--trusted-proxy", "127.0.0.1"], &[("RUST_LOG", "debug")]).await;
    let c = reqwest::Client::new();
    let url = format!("{}/api/v1/domains", server.base);
    for i in 0..3 {
        assert_eq!(status(&c, &url, Some("198.51.100.1")).await.status(), 200, "first client, request {i}");
    }
    assert_eq!(status(&c, &url, Some("198.51.100.1")).await.status(), 429);
    // Another client behind the same proxy, and another in the same IPv6 /64 as none before.
    assert_eq!(status(&c, &url, Some("198.51.100.2")).await.status(), 200);
    for _ in 0..3 {
        assert_eq!(status(&c, &url, Some("2001:db8:5:6::1")).await.status(), 200);
    }
    assert_eq!(status(&c, &url, Some("2001:db8:5:6::2")).await.status(), 429, "same /64");
    let logs = server.stop();
    for addr in ["198.51.100.1", "198.51.100.2", "2001:db8:5:6"] {
        assert!(!logs.contains(addr), "{addr} reached the logs:\n{logs}");
    }
}
