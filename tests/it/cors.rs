//! Who may read answers from a web page: every origin by default, or only the configured partner
//! origins; and the security headers every answer carries.

use sportello::http::{AppState, parse_origin};

use crate::support::{embedded, get_with};

const PARTNER: &str = "https://www.comune.pordenone.it";

#[tokio::test]
async fn every_origin_may_read_by_default() {
    let a = get_with(AppState::shared(embedded()), "/api/v1/domains", &[("origin", "https://anyone.example")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn only_configured_partner_origins_may_read() {
    let state = || AppState::shared(embedded()).with_cors_origins(vec![parse_origin(PARTNER).unwrap(), parse_origin("http://localhost:3000/").unwrap()]);
    let ok = get_with(state(), "/api/v1/domains", &[("origin", PARTNER)]).await;
    assert_eq!(ok.headers["access-control-allow-origin"], PARTNER);
    let local = get_with(state(), "/api/v1/domains", &[("origin", "http://localhost:3000")]).await;
    assert_eq!(local.headers["access-control-allow-origin"], "http://localhost:3000");
    let other = get_with(state(), "/api/v1/domains", &[("origin", "https://evil.example")]).await;
    assert!(other.headers.get("access-control-allow-origin").is_none(), "{:?}", other.headers);
    // A lookalike is another origin.
    let lookalike = get_with(state(), "/api/v1/domains", &[("origin", "https://www.comune.pordenone.it.evil.example")]).await;
    assert!(lookalike.headers.get("access-control-allow-origin").is_none());
}

#[test]
fn an_origin_is_scheme_host_and_port_only() {
    assert_eq!(parse_origin("https://Example.org/").unwrap(), "https://example.org");
    assert_eq!(parse_origin("https://example.org:8443").unwrap(), "https://example.org:8443");
    for bad in ["example.org", "ftp://example.org", "https://example.org/widget", "https://example.org/?a=1", "https://u@example.org", "*"] {
        let e = parse_origin(bad).expect_err(bad);
        assert!(e.contains(bad), "{e}");
    }
}

#[tokio::test]
async fn answers_carry_security_headers() {
    for uri in ["/api/v1/domains", "/api/v1/nearest?lat=45.46&lon=9.19", "/api/v1/nearest?lat=91&lon=0", "/nowhere"] {
        let a = get_with(AppState::shared(embedded()), uri, &[]).await;
        assert_eq!(a.headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'", "{uri}");
        assert_eq!(a.headers["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(a.headers["referrer-policy"], "no-referrer", "{uri}");
    }
}

#[tokio::test]
async fn a_malformed_partner_origin_stops_the_server_with_its_reason() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"))
        .args(["serve", "--listen", "127.0.0.1:0", "--cors-origin", "https://ok.example,www.comune.pordenone.it"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--cors-origin") && err.contains("www.comune.pordenone.it"), "{err}");
}
