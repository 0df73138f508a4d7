//! Log output written off the request path. A request thread that logs only appends the formatted
//! line to a shared buffer (one uncontended lock and a copy, no system call); a background thread
//! writes what has gathered every [`FLUSH_EVERY`], in one `write`. Under a flood, lines beyond
//! [`MAX_BUFFERED`] bytes are dropped and counted, rather than slowing answers or growing memory.
//!
//! `tracing-appender`'s non-blocking writer does the same job with a channel and a wake-up of its
//! thread per line; measured with `benches/logcost.sh`, neither it nor this buffer was what made
//! the access log expensive (the formatting was, see below), but this one needs no extra crate
//! and never wakes a thread from the request's path.
//!
//! The access log, one line per request, does not go through `tracing`'s formatter at all: that
//! cost about 1.5 µs a line, a fifth of a whole `/healthz` answer. [`access`] writes the same line
//! (text or JSON, the layout `tracing-subscriber` gives every other line) straight into the
//! buffer, with the timestamp's date and time formatted once a second. `RUST_LOG` still decides
//! whether it is written (`sportello::access` at `info`).
//!
//! This module decides *how* lines are written, never *what* they hold: the access log's fields
//! are chosen in `http::observe` so that no address, position or search text is ever logged.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait in the buffer before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes held at most between two writes (about 30,000 access-log lines); beyond it lines are
/// dropped and counted.
pub const MAX_BUFFERED: usize = 4 << 20;

struct Shared {
    lines: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    /// Set when the guard is dropped; the condition variable wakes the writer at once.
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A `tracing_subscriber` writer: each event's line goes to the shared buffer.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Writes out what is buffered when dropped, and stops the writer thread.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer to `out` (in practice standard error) and the guard that flushes it. Lines reach
/// `out` at most [`FLUSH_EVERY`] after they were logged, and all of them when the guard drops.
pub fn batched<W: Write + Send + 'static>(out: W) -> (BatchedWriter, FlushGuard) {
    let shared = Arc::new(new_shared());
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_loop(&s, out))
        .expect("the log writer thread starts");
    (BatchedWriter { shared: shared.clone() }, FlushGuard { shared, thread: Some(thread) })
}

fn new_shared() -> Shared {
    Shared { lines: Mutex::new(Vec::with_capacity(64 * 1024)), dropped: AtomicU64::new(0), stop: Mutex::new(false), wake: Condvar::new() }
}

fn write_loop<W: Write>(s: &Shared, mut out: W) {
    let mut spare = Vec::with_capacity(64 * 1024);
    loop {
        let stopping = {
            let stop = s.stop.lock().unwrap_or_else(|e| e.into_inner());
            let (stop, _) = s.wake.wait_timeout_while(stop, FLUSH_EVERY, |stop| !*stop).unwrap_or_else(|e| e.into_inner());
            *stop
        };
        std::mem::swap(&mut *s.lines.lock().unwrap_or_else(|e| e.into_inner()), &mut spare);
        let dropped = s.dropped.swap(0, Ordering::Relaxed);
        // A log that cannot be written (a closed stderr) must not stop the server: drop it.
        let _ = out.write_all(&spare);
        if dropped > 0 {
            let _ = writeln!(out, "log: {dropped} line(s) dropped: more were logged than could be written");
        }
        let _ = out.flush();
        // Keep the allocation, unless one burst made it much larger than usual.
        spare.clear();
        spare.shrink_to(1 << 20);
        if stopping {
            return;
        }
    }
}

impl Write for BatchedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut lines = self.shared.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() + buf.len() > MAX_BUFFERED {
            drop(lines);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            lines.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How lines are laid out: as `tracing-subscriber`'s default text format, or its JSON format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Where [`access`] writes, once [`install_access_log`] has been called.
static ACCESS: OnceLock<(BatchedWriter, Format)> = OnceLock::new();

/// Sends access-log lines to `writer` in `format` (the program's log output). Without it, they
/// go through `tracing` like every other event. The first call wins.
pub fn install_access_log(writer: BatchedWriter, format: Format) {
    let _ = ACCESS.set((writer, format));
}

/// Logs one answered request: method, route template, status and the time it took. `route` is
/// one of the router's templates (never a concrete path), so it needs no escaping.
pub fn access(method: &str, route: &str, status: u16, micros: u64) {
    if !tracing::enabled!(target: "sportello::access", tracing::Level::INFO) {
        return;
    }
    let Some((writer, format)) = ACCESS.get() else {
        tracing::info!(target: "sportello::access", method, route, status, micros, "request");
        return;
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut lines = writer.shared.lines.lock().unwrap_or_else(|e| e.into_inner());
    if lines.len() + 256 > MAX_BUFFERED {
        drop(lines);
        writer.shared.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut ts = [0u8; 27];
    timestamp(now, &mut ts);
    let mut n = itoa::Buffer::new();
    let mut m = itoa::Buffer::new();
    let (status, micros) = (n.format(status).as_bytes(), m.format(micros).as_bytes());
    let parts: [&[u8]; 11] = match format {
        Format::Text => [&ts, b"  INFO sportello::access: request method=", method.as_bytes(), b" route=\"", route.as_bytes(), b"\" status=", status, b" micros=", micros, b"\n", b""],
        Format::Json => [b"{\"timestamp\":\"", &ts, b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"method\":\"", method.as_bytes(), b"\",\"route\":\"", route.as_bytes(), b"\",\"status\":", status, b",\"micros\":", micros, b"},\"target\":\"sportello::access\"}\n"],
    };
    for p in parts {
        lines.extend_from_slice(p);
    }
}

thread_local! {
    /// The whole second last formatted on this thread, and its text up to the fraction
    /// (`2026-12-02T01:22:59.`).
    static SECOND: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
}

/// `since_epoch` as RFC 3339 UTC with microseconds, `2026-12-02T01:22:59.666039Z`.
fn timestamp(since_epoch: Duration, out: &mut [u8; 27]) {
    let secs = since_epoch.as_secs();
    let (cached, mut head) = SECOND.get();
    if cached != secs {
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp(secs as i64, 0).unwrap_or_default();
        let text = t.format("%Y-%m-%dT%H:%M:%S.").to_string();
        head.copy_from_slice(&text.as_bytes()[..20]);
        SECOND.set((secs, head));
    }
    out[..20].copy_from_slice(&head);
    let mut us = since_epoch.subsec_micros();
    for i in (20..26).rev() {
        out[i] = b'0' + (us % 10) as u8;
        us /= 10;
    }
    out[26] = b'Z';
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes a test can read while the writer thread owns it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        let mut out = [0u8; 27];
        timestamp(Duration::new(1_795_915_379, 666_039_123), &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), "2026-11-29T01:22:59.666039Z");
        // The same second again, from the cache, and the next one.
        timestamp(Duration::new(1_795_915_379, 7_000), &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), "2026-11-29T01:22:59.000007Z");
        timestamp(Duration::new(1_795_915_380, 0), &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), "2026-11-29T01:23:00.000000Z");
        let parsed = chrono::DateTime::parse_from_rfc3339(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(parsed.timestamp(), 1_795_915_380);
    }

    #[test]
    fn lines_arrive_soon_whole_and_in_order_and_all_at_drop() {
        let sink = Sink::default();
        let (mut w, guard) = batched(sink.clone());
        w.write_all(b"one\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "a line was not written within 5 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        for i in 0..1000 {
            writeln!(w, "line {i}").unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let expected: String = std::iter::once("one\n".to_string()).chain((0..1000).map(|i| format!("line {i}\n"))).collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn a_flood_is_dropped_and_counted_not_buffered_without_bound() {
        // The writer without its thread: nothing drains the buffer.
        let shared = Arc::new(new_shared());
        let mut w = BatchedWriter { shared: shared.clone() };
        let mut line = vec![b'x'; 1023];
        line.push(b'\n');
        let n = 2 * MAX_BUFFERED / line.len();
        for _ in 0..n {
            w.write_all(&line).unwrap();
        }
        let kept = shared.lines.lock().unwrap().len();
        assert_eq!(kept, MAX_BUFFERED, "the buffer holds whole lines up to its bound");
        assert_eq!(shared.dropped.load(Ordering::Relaxed) as usize, n - MAX_BUFFERED / line.len());
        // What the writer thread then writes: the lines kept, and how many were not.
        let sink = Sink::default();
        let (w, guard) = batched(sink.clone());
        std::mem::swap(&mut *w.shared.lines.lock().unwrap(), &mut *shared.lines.lock().unwrap());
        w.shared.dropped.store(shared.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().filter(|l| l.len() == 1023).count(), MAX_BUFFERED / line.len());
        assert!(text.ends_with(&format!("log: {} line(s) dropped: more were logged than could be written\n", n - MAX_BUFFERED / line.len())), "{}", &text[text.len() - 100..]);
    }
}
