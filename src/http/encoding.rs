//! Content negotiation for answers made of desks: reads `Accept-Encoding` (RFC 9110 §12.5.3, with
//! q-values) and, when the client takes gzip or deflate, answers with a stream joined from the
//! desks' precompressed tokens ([`crate::index::packed`]) instead of compressing per request.
//!
//! The choice: among the codings the client accepts (q > 0), gzip, else deflate (zlib, as
//! browsers read it), even when it also lists `br` or `zstd` — a server may pick any coding
//! the client accepts, and gzip is the one joined from precompressed tokens. A client that
//! accepts neither gets the answer uncompressed from here, and the router's compression layer
//! (fast level) then serves `br` or identity as it asks. Clusters are joined too: their text
//! follows one template, so each is written as matches to the one before it. Every answer says
//! `Vary: Accept-Encoding`.

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

/// The answer's body, compressed when the client takes gzip or deflate and the answer holds
/// desks or clusters; other answers (no feature at all) are left to the compression layer.
/// With its `Content-Encoding` and `Vary`.
pub fn respond(s: &Snapshot, request: &HeaderMap, answer: Placing, make: impl FnOnce(Vec<u8>) -> Response) -> Response {
    let joined = !answer.placed.is_empty() || !answer.clusters.is_empty();
    let wrapper = if joined { choose(request) } else { None };
    let mut res = match wrapper {
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
