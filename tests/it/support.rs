//! Shared helpers: the embedded snapshot, in-memory snapshots of given desks, and a `get` that
//! drives the router without a socket.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use sportello::http::{AppState, router};
use sportello::index::Snapshot;
use sportello::model::ContactPoint;
use tower::ServiceExt;

pub fn embedded() -> Arc<Snapshot> {
    static S: OnceLock<Arc<Snapshot>> = OnceLock::new();
    S.get_or_init(|| Arc::new(sportello::pipeline::embedded().expect("embedded dataset loads"))).clone()
}

pub fn snapshot_of(points: Vec<ContactPoint>) -> Snapshot {
    Snapshot::in_memory(points, Vec::new(), "test").expect("snapshot builds")
}

/// A synthetic snapshot of 5 000 desks, built once.
pub fn synthetic() -> Arc<Snapshot> {
    static S: OnceLock<Arc<Snapshot>> = OnceLock::new();
    S.get_or_init(|| Arc::new(snapshot_of(sportello::synth::desks(5_000, 7)))).clone()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

pub async fn get_with(state: AppState, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = router(state).oneshot(req.body(Body::empty()).expect("request")).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.expect("body").to_vec();
    Answer { status, headers, body }
}

pub async fn get(snapshot: &Arc<Snapshot>, uri: &str) -> Answer {
    let state = AppState::shared(snapshot.clone());
    get_with(state, uri, &[]).await
}

/// A valid desk with the least data: Italian-speaking, work rights, public.
pub fn minimal_desk(id: &str, lat: f64, lon: f64) -> ContactPoint {
    use sportello::model::*;
    ContactPoint {
        id: id.to_string(),
        position: GeoPoint::new(lat, lon).expect("valid position"),
        name: format!("Desk {id}"),
        organization: "Test".into(),
        audience: Audience::Public,
        languages: vec![Language::new("it").unwrap()],
        domains: vec![Domain::WorkRights],
        address: Address { street: None, postcode: None, city: "Testville".into(), country: "IT".into() },
        contacts: Contacts::default(),
        opening_hours: None,
        timezone: None,
        access: Access::default(),
        fees: None,
        description: Default::default(),
        updated: None,
    }
}

/// Every desk of a snapshot as full records, by ordinal (parsed back from the store).
pub fn all_desks(s: &Snapshot) -> Vec<ContactPoint> {
    (0..s.len() as u32).map(|i| s.desks.desk(i).expect("a loaded bundle reads back")).collect()
}

/// A free TCP port on loopback, never the same twice in this test run.
///
/// Ports are handed out below the kernel's ephemeral range (32768 and up on Linux): a port the
/// kernel picks for `bind(0)` is free only until someone else is given it, and the tests open
/// thousands of outgoing connections whose local ports come from that same range. Two servers
/// started on one port made a test talk to the wrong server (a CI run saw an unlimited server
/// answer where one with `--max-connections 20` was expected).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Each test process starts at its own offset, so two test runs on one machine at once (CI
    // beside a developer's run) rarely meet: another process's server on a port this one checked
    // free a moment before would answer in its place.
    let base = 20_000 + (std::process::id() % 100) as u16 * 120;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The real `sportello serve` process on a loopback port, killed when dropped.
pub struct Server {
    pub base: String,
    pub port: u16,
    child: std::process::Child,
    /// Threads reading standard error and output as the server writes them (a pipe left unread
    /// fills up, and then the server's log writer waits for it).
    output: Vec<std::thread::JoinHandle<String>>,
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> Option<std::thread::JoinHandle<String>> {
    let mut pipe = pipe?;
    Some(std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }))
}

impl Server {
    /// Starts `sportello serve --listen 127.0.0.1:PORT ARGS…` with `envs` and waits until
    /// `/readyz` answers. Standard output and error are captured for [`Server::stop`].
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("server starts");
        let output = [drain(child.stderr.take()), drain(child.stdout.take())].into_iter().flatten().collect();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let start = std::time::Instant::now();
        while client.get(format!("{base}/readyz")).send().await.is_err() {
            assert!(start.elapsed() < std::time::Duration::from_secs(60), "server did not start");
            assert!(matches!(child.try_wait(), Ok(None)), "server exited before it was ready");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // Whoever answered must be this server, not another one on the same port.
        assert!(matches!(child.try_wait(), Ok(None)), "server on port {port} exited; another process answered");
        Server { base, port, child, output }
    }

    /// The server's process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server as an operator would (SIGTERM, so it writes out the log lines it still
    /// holds; SIGKILL if it has not exited after 10 s) and returns everything it wrote to standard
    /// output and error.
    pub fn stop(mut self) -> String {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut self.output).into_iter().map(|t| t.join().unwrap_or_default()).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
