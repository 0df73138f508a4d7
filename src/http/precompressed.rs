//! Bytes that are the same for every client — the widget's scripts and stylesheet, the pages'
//! stylesheet — compressed once at the best levels (brotli 11, gzip 9) instead of at the
//! compression layer's fastest level on every request: a browser's first view then downloads
//! the smallest form, and the server spends no CPU per request on them.
//!
//! The compressed forms are made off the request path, on a blocking thread started by the
//! first request for the asset; until they exist, the answer goes out uncompressed from here and
//! the router's compression layer compresses it as before. Responsible only for choosing the
//! form a request may take (`Accept-Encoding`, via [`super::encoding::weight`]; brotli whenever
//! it is accepted, a server may pick any accepted coding) and holding the forms and the asset's
//! validator; the handlers answer `304` and set the headers.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, HeaderValue, header};

use super::encoding::weight;

/// One asset and its compressed forms, once made.
pub struct Precompressed {
    identity: &'static [u8],
    started: AtomicBool,
    forms: OnceLock<Forms>,
    etag: OnceLock<String>,
}

struct Forms {
    br: Vec<u8>,
    gzip: Vec<u8>,
}

/// What to send: the body and its `Content-Encoding` (none for identity).
pub struct Chosen {
    pub body: &'static [u8],
    pub coding: Option<&'static str>,
}

impl Precompressed {
    pub const fn new(identity: &'static [u8]) -> Precompressed {
        Precompressed { identity, started: AtomicBool::new(false), forms: OnceLock::new(), etag: OnceLock::new() }
    }

    /// A strong validator of the asset, quoted: one for every form (caches keep the forms apart
    /// by `Vary: Accept-Encoding`).
    pub fn etag(&'static self) -> &'static str {
        self.etag.get_or_init(|| format!("\"{}\"", &blake3::hash(self.identity).to_hex()[..16]))
    }

    /// Makes the compressed forms now, on this thread (tests and warm-up call it; requests start
    /// it in the background).
    pub fn make(&'static self) {
        self.forms.get_or_init(|| Forms { br: brotli_best(self.identity), gzip: gzip_best(self.identity) });
    }

    /// The smallest form `request` accepts that exists already: brotli, else gzip, else the bytes
    /// as they are (left to the compression layer). The first call starts making the forms.
    pub fn choose(&'static self, request: &HeaderMap) -> Chosen {
        match self.forms.get() {
            Some(f) if weight(request, "br") > 0.0 => Chosen { body: &f.br, coding: Some("br") },
            Some(f) if weight(request, "gzip") > 0.0 => Chosen { body: &f.gzip, coding: Some("gzip") },
            Some(_) => Chosen { body: self.identity, coding: None },
            None => {
                if !self.started.swap(true, Ordering::AcqRel) {
                    // A runtime's blocking pool when there is one, else a thread of its own.
                    let make = move || self.make();
                    match tokio::runtime::Handle::try_current() {
                        Ok(rt) => drop(rt.spawn_blocking(make)),
                        Err(_) => drop(std::thread::spawn(make)),
                    }
                }
                Chosen { body: self.identity, coding: None }
            }
        }
    }
}

fn brotli_best(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 64 << 10, 11, 22);
        w.write_all(bytes).expect("writing to memory");
    }
    out
}

fn gzip_best(bytes: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::best());
    w.write_all(bytes).expect("writing to memory");
    w.finish().expect("writing to memory")
}

/// Sets `Content-Encoding` (when compressed) and `Vary: Accept-Encoding` on an answer's headers.
pub fn mark(headers: &mut HeaderMap, coding: Option<&'static str>) {
    if let Some(c) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c));
    }
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    static ASSET: Precompressed = Precompressed::new(b"body { color: #222; } body { color: #222; } body { color: #222; }");

    fn ae(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn each_form_decompresses_to_the_asset_and_is_one_the_client_takes() {
        ASSET.make();
        let br = ASSET.choose(&ae("gzip, deflate, br, zstd"));
        assert_eq!(br.coding, Some("br"));
        let mut plain = Vec::new();
        brotli_decompressor::Decompressor::new(br.body, 4096).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, ASSET.identity);

        let gz = ASSET.choose(&ae("gzip;q=0.5, br;q=0"));
        assert_eq!(gz.coding, Some("gzip"));
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(gz.body).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, ASSET.identity);

        for refused in ["identity", "br;q=0, gzip;q=0", "deflate", "zstd"] {
            let c = ASSET.choose(&ae(refused));
            assert_eq!((c.coding, c.body), (None, ASSET.identity), "{refused}");
        }
        assert_eq!(ASSET.choose(&HeaderMap::new()).coding, None);
    }
}
