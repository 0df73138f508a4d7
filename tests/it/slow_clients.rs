//! Slow and greedy clients cannot starve the server: half-open connections are closed when their
//! request head is late, and connections beyond the cap are shed with `503` + `Retry-After`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Server;

/// A client that sends its request head one byte a second.
async fn dribble(port: u16, until: Instant) -> Option<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let head = b"GET /api/v1/nearest?lat=45&lon=9 HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for &b in head.iter().cycle() {
        if Instant::now() >= until || s.write_all(&[b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Some(s)
}

/// Whether the server closed `s` (end of stream or reset) within `wait`.
async fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn a_thousand_half_open_connections_do_not_slow_ordinary_requests() {
    let server = Server::start(&["--header-timeout", "4"], &[("RUST_LOG", "warn")]).await;
    let port = server.port;
    let opened = Instant::now();
    let slow: Vec<_> = (0..1000).map(|_| tokio::spawn(dribble(port, opened + Duration::from_millis(3_000)))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Ordinary requests, each on a new connection, while the slow ones hold theirs.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut took = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let res = client.get(format!("{}/api/v1/nearest?lat=45.46&lon=9.19&k=3", server.base)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
        took.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    took.sort();
    let median = took[took.len() / 2];
    assert!(median <= Duration::from_millis(50), "median {median:?} with 1,000 slow connections open");

    // The server drops every slow connection once its head is 4 s late.
    let mut streams = Vec::new();
    for h in slow {
        streams.extend(h.await.unwrap());
    }
    assert!(streams.len() >= 990, "{} slow connections opened", streams.len());
    let wait = (opened + Duration::from_secs(7)).saturating_duration_since(Instant::now());
    let mut open = 0;
    for s in &mut streams {
        if !closed_by_server(s, wait.max(Duration::from_millis(10))).await {
            open += 1;
        }
    }
    assert_eq!(open, 0, "{open} slow connections still open after the header timeout");
}

#[tokio::test]
async fn connections_over_the_cap_are_shed_with_retry_after() {
    // A long head deadline: on a loaded machine the idle connections must not be closed (and
    // their slots freed) by the header timeout before the probes arrive.
    let server = Server::start(&["--max-connections", "20", "--header-timeout", "120"], &[("RUST_LOG", "warn")]).await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(("127.0.0.1", server.port)).await.unwrap());
    }
    // The server may not have accepted all 20 yet (a busy machine): ask until it sheds. The
    // request is written by hand: the server answers a shed connection before reading it, and an
    // HTTP client library may report such an early answer as an error instead of returning it.
    let start = Instant::now();
    let answer = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await;
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut got)).await;
        let text = String::from_utf8_lossy(&got).to_string();
        if text.starts_with("HTTP/1.1 503") {
            break text;
        }
        // A slot was free: the readiness check's keep-alive connection may have held one while
        // the idle connections were opened (one of those was then shed) and released it since.
        // Take the free slot with one more idle connection, as a crowd of slow clients would.
        if idle.len() < 40 {
            idle.push(TcpStream::connect(("127.0.0.1", server.port)).await.unwrap());
        }
        if start.elapsed() > Duration::from_secs(20) {
            // Say what the idle connections look like from here: closed by the server, or open.
            let mut closed = 0;
            for c in &mut idle {
                let mut b = [0u8; 1];
                if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(10), c.read(&mut b)).await {
                    closed += 1;
                }
            }
            panic!("20 idle connections held ({closed} of them closed by the server), yet no request was shed (last answer {text:?})");
        }
    };
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("\r\nretry-after: 1\r\n"), "{answer}");
    assert!(lower.contains("\r\ncontent-type: application/problem+json\r\n"), "{answer}");
    let p: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(p["status"], 503);

    // Once the idle connections go, the server answers again.
    drop(idle);
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let start = Instant::now();
    loop {
        let res = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "still shedding after the idle connections closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let server = Server::start(&[], &[("RUST_LOG", "warn")]).await;
    let client = reqwest::Client::new();
    let big = "x".repeat(40 * 1024);
    let res = client.get(format!("{}/healthz", server.base)).header("x-big", big).send().await;
    match res {
        Ok(r) => assert_eq!(r.status(), 431, "a 40 KB header is refused"),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.to_string().contains("closed"), "{e}"),
    }
    let res = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(res.status(), 200, "the server still answers");
}
