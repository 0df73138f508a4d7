//! Content negotiation for answers made of desks and clusters: reads `Accept-Encoding` (RFC
//! 9110 §12.5.3, with q-values) and compresses here instead of in the router's compression layer.
//!
//! The choice: an answer mostly of desks goes out as zstd level 1, with a context kept per
//! thread, when the client takes zstd at least as willingly as gzip and deflate (browsers list
//! all of them): faster and smaller than joining. Otherwise — and for answers mostly of
//! clusters, which the joiner writes faster than zstd compresses them — gzip, else deflate
//! (zlib, as browsers read it), joined from the desks' precompressed tokens and the clusters'
//! template ([`crate::index::packed`]) even when the client also lists `br` — a server may pick
//! any coding the client accepts. A client that accepts none of them gets the answer
//! uncompressed from here, and the compression layer (fast level) then serves `br` or identity
//! as it asks. Every answer says `Vary: Accept-Encoding`.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::body::{self, Placing};
use crate::index::Snapshot;
use crate::index::packed::Wrapper;

/// The weight the request's `Accept-Encoding` gives `coding` (0 to 1): its own entry, else
/// `*`'s, else 0. (`x-gzip` is gzip, RFC 9110 §8.4.1.3.)
pub(crate) fn weight(request: &HeaderMap, coding: &str) -> f32 {
    let mut own = None;
    let mut star = None;
    for item in request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')) {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        // A malformed weight counts as 0: never send what the client may have refused.
        let q = parts
            .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .map_or(1.0, |q| q.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0));
        let is = name.eq_ignore_ascii_case(coding) || (coding == "gzip" && name.eq_ignore_ascii_case("x-gzip"));
        if is {
            own = Some(own.map_or(q, |o: f32| o.max(q)));
        } else if name == "*" {
            star = Some(q);
        }
    }
    own.or(star).unwrap_or(0.0)
}

/// The precompressed coding to answer with, if any.
pub fn choose(request: &HeaderMap) -> Option<Wrapper> {
    let (gzip, deflate) = (weight(request, "gzip"), weight(request, "deflate"));
    if gzip > 0.0 && gzip >= deflate {
        Some(Wrapper::Gzip)
    } else if deflate > 0.0 {
        Some(Wrapper::Zlib)
    } else {
        None
    }
}

thread_local! {
    /// A zstd context per thread, kept: the compression layer makes one per answer, which cost
    /// more than compressing (36 µs of server time for an 11 KB answer).
    static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// `body` as one zstd frame at level 1, or None if zstd fails.
fn zstd_fast(body: &[u8]) -> Option<Vec<u8>> {
    ZSTD.with_borrow_mut(|z| {
        if z.is_none() {
            *z = zstd::bulk::Compressor::new(1).ok();
        }
        z.as_mut()?.compress(body).ok()
    })
}

/// Whether an answer made mostly of desks goes out as zstd: the client takes zstd at least as
/// willingly as gzip and deflate. zstd level 1 with a kept context compresses a nearest answer
/// of ten desks faster than the joiner joins it, and smaller (1.04–1.05 of gzip -6 against
/// 1.11); the joiner stays for clients without zstd, and for clusters, which it writes faster.
fn zstd_wins(request: &HeaderMap) -> bool {
    let z = weight(request, "zstd");
    z > 0.0 && z >= weight(request, "gzip").max(weight(request, "deflate"))
}

/// The answer's body, compressed when the client takes zstd, gzip or deflate and the answer
/// holds desks or clusters; other answers (no feature at all) are left to the compression
/// layer. With its `Content-Encoding` and `Vary`.
pub fn respond(s: &Snapshot, request: &HeaderMap, answer: Placing, make: impl FnOnce(Vec<u8>) -> Response) -> Response {
    let joined = !answer.placed.is_empty() || !answer.clusters.is_empty();
    let cluster_bytes: usize = answer.clusters.iter().map(|c| c.len()).sum();
    let zstd = joined && cluster_bytes * 2 < answer.body.len() && zstd_wins(request);
    let wrapper = if joined && !zstd { choose(request) } else { None };
    let mut res = match wrapper {
        None if zstd => match zstd_fast(&answer.body) {
            Some(z) => {
                let mut res = make(z);
                res.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("zstd"));
                res
            }
            None => make(answer.body),
        },
        Some(w) => {
            let bytes = body::compress(s, &answer, w);
            let mut res = make(bytes);
            let coding = match w {
                Wrapper::Gzip => "gzip",
                Wrapper::Zlib => "deflate",
            };
            res.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            res
        }
        None => make(answer.body),
    };
    let h = res.headers_mut();
    if !h.get_all(header::VARY).iter().any(|v| v.as_bytes().eq_ignore_ascii_case(b"accept-encoding")) {
        h.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ae(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn gzip_wins_whenever_it_is_accepted() {
        assert_eq!(choose(&ae("gzip, deflate, br, zstd")), Some(Wrapper::Gzip));
        assert_eq!(choose(&ae("br;q=1.0, gzip;q=0.5")), Some(Wrapper::Gzip));
        assert_eq!(choose(&ae("*")), Some(Wrapper::Gzip));
        assert_eq!(choose(&ae("X-GZIP")), Some(Wrapper::Gzip));
        assert_eq!(choose(&HeaderMap::new()), None);
    }

    #[test]
    fn zstd_wins_when_taken_as_willingly_as_gzip_and_deflate() {
        assert!(zstd_wins(&ae("gzip, deflate, br, zstd")));
        assert!(zstd_wins(&ae("zstd")));
        assert!(zstd_wins(&ae("*")));
        assert!(zstd_wins(&ae("gzip;q=0.5, zstd;q=0.5")));
        assert!(!zstd_wins(&ae("gzip, deflate, br")));
        assert!(!zstd_wins(&ae("zstd;q=0.5, gzip")));
        assert!(!zstd_wins(&ae("zstd;q=0.5, deflate;q=0.8")));
        assert!(!zstd_wins(&ae("zstd;q=0, *")));
        assert!(!zstd_wins(&HeaderMap::new()));
    }

    #[test]
    fn q_values_are_honoured() {
        assert_eq!(choose(&ae("gzip;q=0, deflate")), Some(Wrapper::Zlib));
        assert_eq!(choose(&ae("gzip;q=0.2, deflate;q=0.8")), Some(Wrapper::Zlib));
        assert_eq!(choose(&ae("*;q=0, br")), None);
        assert_eq!(choose(&ae("br, zstd")), None);
        assert_eq!(choose(&ae("identity")), None);
        assert_eq!(choose(&ae("gzip;q=0, *")), Some(Wrapper::Zlib), "* covers deflate, not the refused gzip");
        assert_eq!(choose(&ae("gzip;q=nonsense")), None, "a malformed weight refuses");
        assert_eq!(choose(&ae("gzip;q=2")), None, "out of range refuses");
    }
}
