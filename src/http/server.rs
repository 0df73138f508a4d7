//! The public listener: accepts connections under limits that keep slow or greedy clients from
//! starving everyone else — a deadline for a request's head (which also closes idle keep-alive
//! connections), a cap on head size, and a cap on open connections beyond which new ones are shed
//! with `503` and `Retry-After` instead of queueing. Each request carries its peer address as
//! [`ConnectInfo`] for the locate endpoint; nothing here logs it.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Largest request head (request line and headers), in bytes. Browsers send 1–3 KB.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Connection limits of the public listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; further ones are answered `503` and closed.
    pub max_connections: usize,
    /// Time a client has to send a whole request head, from the connection's start or from the
    /// end of its previous answer (so it also closes idle keep-alive connections).
    pub header_timeout: Duration,
    /// Longest time the server spends answering one request before it answers `503`.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: 4096, header_timeout: Duration::from_secs(10), request_timeout: Duration::from_secs(10) }
    }
}

/// Body of the answer to a connection over the cap.
const SHED_BODY: &str = r#"{"type":"about:blank","title":"Busy","status":503,"detail":"too many connections at once; try again in a moment"}"#;

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then lets open requests
/// finish (for at most 10 seconds).
/// Connections shed at the cap are counted in `shed`.
pub async fn run(listener: TcpListener, app: Router, limits: Limits, shed_count: prometheus_client::metrics::counter::Counter, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .max_concurrent_streams(64)
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let app = app.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        limits.request_timeout,
    ));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait a moment
                    // rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(target: "sportello::shed", "connection limit reached; shedding a connection");
            shed_count.inc();
            tokio::spawn(shed(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(req.map(Body::new)).await.unwrap_or_else(|e| match e {})) }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("connections still open after 10 s; closing them"),
    }
}

/// Answers `503` with `Retry-After` before reading the request, and closes, spending at most a
/// second on a client that does not read or stop sending.
async fn shed(mut stream: TcpStream) {
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/problem+json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{SHED_BODY}",
        SHED_BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent before closing: closing with unread data resets the
        // connection, and the client would see an error instead of the answer.
        let mut sink = [0u8; 4096];
        let mut left = MAX_HEAD_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}
