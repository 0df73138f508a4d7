//! A rolling bundle upgrade behind nginx: two real `sportello serve` replicas behind Debian's
//! nginx (configured with `deploy/nginx/sportello-proxy.conf`, on loopback) are replaced, one
//! after the other, by replicas serving a new bundle while a load generator sends mixed
//! requests. No request may fail (no non-2xx answer, no transport error), and afterwards every
//! answer names the new bundle's version. This is the procedure the README documents: start the
//! replacement in the replica's other slot, wait for `/readyz`, SIGTERM the old one, wait for it
//! to exit after draining. Also: a replica serves, and reloads, a bundle it cannot write (the
//! read-only volume of the Kubernetes Deployment).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_sportello");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The nginx binary, or a failure that says how to install it: this test never skips.
fn nginx() -> PathBuf {
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("nginx is missing: `apt-get install -y nginx` (scripts/test installs it); tests/it/rolling.rs needs it"))
}

fn build(inputs: &[&Path], out: &Path) -> String {
    let mut cmd = Command::new(BIN);
    // In the bundle's parent: whatever `build` writes beside the bundle stays out of the checkout.
    cmd.arg("build").arg("--out").arg(out).arg("--input").args(inputs).current_dir(out.parent().unwrap());
    let res = cmd.output().unwrap();
    assert!(res.status.success(), "build failed: {}", String::from_utf8_lossy(&res.stderr));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    manifest["content_hash"].as_str().unwrap()[..12].to_string()
}

/// Whether this process runs as root (nginx then needs a `user` for its workers).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

fn term(pid: u32) {
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success(), "kill -TERM {pid}");
}

/// A process killed (SIGTERM, then SIGKILL) when dropped, so a failing test leaves none behind.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Proc {
        let err = std::fs::File::create(&log).unwrap();
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).spawn().unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        Proc { name: name.to_string(), child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `url` answers 200; fails if the process exits first or after 60 s.
    async fn wait_ready(&mut self, url: &str) {
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(r) = client.get(url).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}) before it was ready:\n{}", self.name, self.logs());
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{} not ready after 60 s:\n{}", self.name, self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to exit (at most `limit`).
    async fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        term(self.child.id());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            assert!(start.elapsed() < limit, "{} still running {limit:?} after SIGTERM:\n{}", self.name, self.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let start = Instant::now();
            while self.child.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn replica(name: &str, bundle: &Path, port: u16, dir: &Path) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--bundle")
        .arg(bundle)
        // Every request comes from nginx on loopback: one client, which the per-client limit
        // would throttle. (In production: --trusted-proxy with nginx's address instead.)
        .args(["--rate-limit", "0"])
        .env("RUST_LOG", "warn");
    Proc::spawn(name, &mut cmd, dir.join(format!("{name}.log")))
}

/// nginx in the foreground with the shipped proxy settings, an upstream of the four slots, no
/// access log, everything it writes in `dir`.
fn nginx_conf(dir: &Path, listen: u16, slots: &[u16]) -> String {
    let servers: String = slots.iter().map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;\n")).collect();
    let user = if is_root() { "user nobody nogroup;\n" } else { "" };
    let d = dir.display();
    let proxy = Path::new(ROOT).join("deploy/nginx/sportello-proxy.conf");
    let proxy = proxy.display();
    format!(
        "daemon off;\n{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n    access_log off;\n\
         \x20   client_body_temp_path {d}/client_body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
         \x20   upstream sportello {{\n{servers}        keepalive 32;\n        keepalive_timeout 5s;\n    }}\n\
         \x20   server {{\n        listen 127.0.0.1:{listen};\n        access_log off;\n        location / {{\n            include {proxy};\n        }}\n    }}\n}}\n"
    )
}

/// What the load generator saw.
#[derive(Default)]
struct Seen {
    /// Answers by bundle version, per phase of the upgrade.
    by_phase: BTreeMap<usize, BTreeMap<String, usize>>,
    non_2xx: Vec<String>,
    transport: Vec<String>,
}

/// The mixed requests: nearest (with and without filters), viewports, searches, one desk.
fn paths() -> Vec<String> {
    let mut p = Vec::new();
    for (lat, lon) in [(45.4642, 9.19), (41.9, 12.5), (37.98, 23.73), (50.85, 4.35), (42.7, 23.32), (46.05, 14.5)] {
        p.push(format!("/api/v1/nearest?lat={lat}&lon={lon}&k=5"));
        p.push(format!("/api/v1/nearest?lat={lat}&lon={lon}&k=3&lang=ar,en&audience=all"));
        p.push(format!("/api/v1/points?bbox={},{},{},{}", lon - 1.0, lat - 0.7, lon + 1.0, lat + 0.7));
    }
    for q in ["lavoro", "permesso%20di%20soggiorno", "family%20reunification", "logement"] {
        p.push(format!("/api/v1/search?q={q}&limit=5"));
    }
    p.push("/api/v1/points/it-milano-anolf".into());
    p.push("/api/v1/domains?ui=fr".into());
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_upgrade_to_a_new_bundle_behind_nginx_without_a_failed_request() {
    let nginx_bin = nginx();
    let dir = tempfile::tempdir().unwrap();
    // nginx's workers run as `nobody` when the test is root: they must reach the temp paths.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    // Bundle A: the sample. Bundle B: the sample less its last desk, so the versions differ.
    let sample = Path::new(ROOT).join("data/sample.geojson");
    let version_a = build(&[&sample], &dir.path().join("bundle-a"));
    let mut fc: serde_json::Value = serde_json::from_slice(&std::fs::read(&sample).unwrap()).unwrap();
    let removed = fc["features"].as_array_mut().unwrap().pop().unwrap();
    assert_ne!(removed["id"], "it-milano-anolf", "the desk the load asks for stays in bundle B");
    let smaller = dir.path().join("smaller.geojson");
    std::fs::write(&smaller, serde_json::to_vec(&fc).unwrap()).unwrap();
    let version_b = build(&[&smaller], &dir.path().join("bundle-b"));
    assert_ne!(version_a, version_b);

    // Two slots per replica: its current port and the one its replacement starts on.
    let slots: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let (a1_port, a2_port, b1_port, b2_port) = (slots[0], slots[1], slots[2], slots[3]);
    let mut a1 = replica("a1", &dir.path().join("bundle-a"), a1_port, dir.path());
    let mut a2 = replica("a2", &dir.path().join("bundle-a"), a2_port, dir.path());
    a1.wait_ready(&format!("http://127.0.0.1:{a1_port}/readyz")).await;
    a2.wait_ready(&format!("http://127.0.0.1:{a2_port}/readyz")).await;

    let listen = free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), listen, &slots)).unwrap();
    let mut cmd = Command::new(&nginx_bin);
    cmd.arg("-p").arg(dir.path()).arg("-c").arg(&conf).arg("-e").arg(dir.path().join("nginx-error.log"));
    let mut proxy = Proc::spawn("nginx", &mut cmd, dir.path().join("nginx-stderr.log"));
    let base = format!("http://127.0.0.1:{listen}");
    proxy.wait_ready(&format!("{base}/healthz")).await;

    // The load: 6 clients, each on its own keep-alive connections, cycling through the mix with a
    // short pause after each answer (a few hundred requests a second in all), so the busy
    // replicas do not starve the start of their replacements.
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let urls: Arc<Vec<String>> = Arc::new(paths().into_iter().map(|p| format!("{base}{p}")).collect());
    let mut clients = Vec::new();
    for n in 0..6 {
        let (stop, phase, seen, urls) = (stop.clone(), phase.clone(), seen.clone(), urls.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
            let mut i = n * 7;
            while !stop.load(Ordering::Relaxed) {
                let url = &urls[i % urls.len()];
                i += 1;
                let p = phase.load(Ordering::Relaxed);
                let outcome = match client.get(url).send().await {
                    Ok(res) => {
                        let status = res.status();
                        let version = res.headers().get("x-bundle-version").and_then(|v| v.to_str().ok()).unwrap_or("none").to_string();
                        match res.bytes().await {
                            Ok(_) if status.is_success() => Ok(version),
                            Ok(body) => Err((true, format!("{status} for {url}: {}", String::from_utf8_lossy(&body)))),
                            Err(e) => Err((false, format!("reading {url}: {e:?}"))),
                        }
                    }
                    Err(e) => Err((false, format!("{url}: {e:?}"))),
                };
                {
                    let mut s = seen.lock().unwrap();
                    match outcome {
                        Ok(v) => *s.by_phase.entry(p).or_default().entry(v).or_default() += 1,
                        Err((true, e)) => s.non_2xx.push(e),
                        Err((false, e)) => s.transport.push(e),
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }

    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // As a Deployment rolls (maxSurge 1, maxUnavailable 0): the first replacement starts in its
    // replica's other slot and becomes ready, and nginx finds it within its fail_timeout (1 s);
    // then the first old replica is stopped while the second replacement starts, then the second
    // old one. Each old replica is stopped while nginx still sends it requests, and must finish
    // what it has and exit.
    phase.store(1, Ordering::Relaxed);
    let mut b1 = replica("b1", &dir.path().join("bundle-b"), b1_port, dir.path());
    b1.wait_ready(&format!("http://127.0.0.1:{b1_port}/readyz")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    phase.store(2, Ordering::Relaxed);
    let mut b2 = replica("b2", &dir.path().join("bundle-b"), b2_port, dir.path());
    let (status, drained) = a1.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "a1 exited with {status} on SIGTERM:\n{}", a1.logs());
    eprintln!("a1 stopped {drained:?} after SIGTERM");
    b2.wait_ready(&format!("http://127.0.0.1:{b2_port}/readyz")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    phase.store(3, Ordering::Relaxed);
    let (status, drained) = a2.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "a2 exited with {status} on SIGTERM:\n{}", a2.logs());
    eprintln!("a2 stopped {drained:?} after SIGTERM");

    phase.store(4, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let elapsed = started.elapsed();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let total: usize = seen.by_phase.values().flat_map(|m| m.values()).sum::<usize>() + seen.non_2xx.len() + seen.transport.len();
    let retries = std::fs::read_to_string(dir.path().join("nginx-error.log")).unwrap_or_default().lines().filter(|l| l.contains("upstream")).count();
    eprintln!(
        "{total} requests in {elapsed:.1?} ({:.0}/s); by phase and version: {:?}; nginx logged {retries} upstream errors it retried",
        total as f64 / elapsed.as_secs_f64(),
        seen.by_phase
    );
    assert!(seen.non_2xx.is_empty(), "{} non-2xx answers, e.g. {:?}", seen.non_2xx.len(), &seen.non_2xx[..seen.non_2xx.len().min(5)]);
    assert!(seen.transport.is_empty(), "{} transport errors, e.g. {:?}", seen.transport.len(), &seen.transport[..seen.transport.len().min(5)]);
    assert!(total >= 300, "the load generator sent only {total} requests: the upgrade was hardly under load");
    // Before the upgrade only A answered; while replica 1 was replaced both did; at the end only B.
    let only = |p: usize, v: &str| seen.by_phase.get(&p).is_some_and(|m| m.len() == 1 && m.contains_key(v));
    assert!(only(0, &version_a), "before the upgrade: {:?}", seen.by_phase.get(&0));
    assert!(seen.by_phase.get(&2).is_some_and(|m| m.contains_key(&version_a) && m.contains_key(&version_b)), "while replica 1 stopped, both bundles served: {:?}", seen.by_phase.get(&2));
    assert!(only(4, &version_b), "after the upgrade only bundle B answers: {:?}", seen.by_phase.get(&4));

    // Afterwards, every answer, whichever replica gives it, names bundle B.
    let client = reqwest::Client::new();
    for (i, url) in urls.iter().cycle().take(60).enumerate() {
        let res = client.get(url).send().await.unwrap();
        assert!(res.status().is_success(), "request {i} after the upgrade: {} for {url}", res.status());
        assert_eq!(res.headers()["x-bundle-version"], version_b.as_str(), "request {i} after the upgrade: {url}");
    }
    let (status, _) = proxy.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "nginx exited with {status}:\n{}", std::fs::read_to_string(dir.path().join("nginx-error.log")).unwrap_or_default());
    drop((b1, b2));
}

/// Every file under `dir` with its size, to see that nothing was added or changed.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                out.push((e.path(), meta.len()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_replica_serves_and_reloads_a_bundle_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    build(&[&Path::new(ROOT).join("data/sample.geojson")], &bundle);
    let before = listing(&bundle);
    // Read-only for the server: as root, the server runs as `nobody` on files it does not own
    // (root may write anywhere); otherwise the files lose their write bits.
    let mut cmd = if is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        assert!(Command::new("chmod").args(["-R", "a-w"]).arg(&bundle).status().unwrap().success());
        Command::new(BIN)
    };
    let port = free_port();
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]).arg("--bundle").arg(&bundle).env("RUST_LOG", "info").current_dir("/");
    let mut server = Proc::spawn("read-only replica", &mut cmd, dir.path().join("server.log"));
    let base = format!("http://127.0.0.1:{port}");
    server.wait_ready(&format!("{base}/readyz")).await;
    let c = reqwest::Client::new();
    for path in ["/api/v1/nearest?lat=45.46&lon=9.19&k=3", "/api/v1/search?q=lavoro&limit=3", "/api/v1/points?bbox=5,40,20,50"] {
        let res = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    // SIGHUP loads the bundle again from the same read-only files.
    assert!(Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().unwrap().success());
    let start = Instant::now();
    while !server.logs().contains("bundle reloaded") {
        assert!(!server.logs().contains("reload failed"), "reload of a read-only bundle failed:\n{}", server.logs());
        assert!(start.elapsed() < Duration::from_secs(30), "no reload after SIGHUP:\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.get(format!("{base}/api/v1/search?q=casa&limit=3")).send().await.unwrap().status(), 200);
    let (status, _) = server.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "exit {status}:\n{}", server.logs());
    assert_eq!(listing(&bundle), before, "the server wrote into its bundle");
    if !is_root() {
        let _ = Command::new("chmod").args(["-R", "u+w"]).arg(&bundle).status();
    }
}

/// What SIGTERM starts (`serve` maps it to this shutdown future): the listener stops accepting at
/// once, a request being answered is finished and delivered, and then the server returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_and_accepts_no_more() {
    use axum::routing::get;
    use sportello::http::server::{Limits, run};

    let app = axum::Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "finished"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, app, Limits::default(), Default::default(), async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let url = format!("http://{addr}/slow");
    let in_flight = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(url).send().await?.text().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // No new connection is accepted while the slow request is still being answered.
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "a connection was accepted after shutdown began");
    // In `serve` the process ends when this returns: it must wait for the request.
    assert!(!server.is_finished(), "the server returned with a request still being answered");
    assert_eq!(in_flight.await.unwrap().expect("the request in flight is answered"), "finished");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("the server returns once its requests are done").unwrap();
    assert!(asked.elapsed() < Duration::from_secs(5));
}
