//! Criterion benchmarks of locating a person: a town by name, exonym, other script, prefix (the
//! autocompletion case, including a two-letter prefix that matches thousands of names), and an IP
//! address in MaxMind DB files. The IP databases are written here (DB-IP's flat layout, 32-bit
//! float coordinates, 400,000 IPv4 /24 and 200,000 IPv6 /48 networks) unless
//! `SPORTELLO_BENCH_GEOIP` names real files (comma-separated, e.g. the DB-IP Lite City pair).
//! Run with `cargo bench --bench locate`; under `cargo test` each runs once on small data.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use mmdb_writer::ipnet::{IpNet, Ipv4Net, Ipv6Net};
use mmdb_writer::{IpVersion, Value, Writer};
use rand::{RngExt, SeedableRng};
use sportello::locate::{GeoIp, gazetteer};

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn places(c: &mut Criterion) {
    let g = gazetteer::embedded();
    let mut group = c.benchmark_group("place");
    /// Name, text typed, bias (lat, lon).
    type Case = (&'static str, &'static str, Option<(f64, f64)>);
    let cases: [Case; 7] = [
        ("exact-local-name", "Pordenone", None),
        ("exonym", "Bukarest", None),
        ("cyrillic", "Бухарест", None),
        ("folded-diacritics", "Koln", None),
        ("prefix-5", "Ljubl", None),
        ("prefix-2-worst", "Sa", None),
        ("prefix-3-with-bias", "San", Some((45.65, 13.78))),
    ];
    for (name, text, bias) in cases {
        group.bench_function(name, |b| b.iter(|| g.lookup(black_box(text), "it", bias, 5)));
    }
    group.finish();
}

fn flat_record(rng: &mut impl rand::Rng) -> Value {
    Value::map([
        ("city", Value::from("Somewhere")),
        ("country_code", Value::from("IT")),
        ("latitude", Value::Float(rng.random_range(36.0f32..70.0))),
        ("longitude", Value::Float(rng.random_range(-10.0f32..40.0))),
        ("state1", Value::from("")),
        ("postcode", Value::from("")),
        ("timezone", Value::from("")),
    ])
}

/// Synthetic DB-IP-like files and addresses inside their networks.
fn synthetic_geoip(dir: &std::path::Path) -> (Vec<PathBuf>, Vec<IpAddr>) {
    let (n4, n6) = if bench_mode() { (400_000, 200_000) } else { (5_000, 2_000) };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut v4 = Writer::builder("city ipv4").ip_version(IpVersion::V4).build();
    let mut v6 = Writer::builder("city ipv6").ip_version(IpVersion::V6).ipv4_aliasing(mmdb_writer::Ipv4Aliasing::Disabled).build();
    let mut probes = Vec::new();
    for _ in 0..n4 {
        let a = Ipv4Addr::from(rng.random_range(0x0100_0000u32..0xDF00_0000) & 0xFFFF_FF00);
        v4.insert_value(IpNet::V4(Ipv4Net::new(a, 24).unwrap()), flat_record(&mut rng)).unwrap();
        if probes.len() < 1_000 {
            probes.push(IpAddr::V4(Ipv4Addr::from(u32::from(a) | 77)));
        }
    }
    for _ in 0..n6 {
        let a = Ipv6Addr::from((0x2a00u128 << 112) | (u128::from(rng.random::<u32>()) << 80));
        v6.insert_value(IpNet::V6(Ipv6Net::new(a, 48).unwrap()), flat_record(&mut rng)).unwrap();
        if probes.len() < 2_000 {
            probes.push(IpAddr::V6(Ipv6Addr::from(u128::from(a) | 0x1234)));
        }
    }
    let (p4, p6) = (dir.join("dbip-city-ipv4.mmdb"), dir.join("dbip-city-ipv6.mmdb"));
    std::fs::write(&p4, v4.to_bytes().unwrap()).unwrap();
    std::fs::write(&p6, v6.to_bytes().unwrap()).unwrap();
    (vec![p4, p6], probes)
}

fn ips(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (files, probes) = match std::env::var("SPORTELLO_BENCH_GEOIP") {
        Ok(list) => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
            let probes = (0..2_000)
                .map(|i| {
                    if i % 2 == 0 {
                        IpAddr::V4(Ipv4Addr::from(rng.random_range(0x0100_0000u32..0xDF00_0000)))
                    } else {
                        IpAddr::V6(Ipv6Addr::from((0x2a00u128 << 112) | u128::from(rng.random::<u64>()) << 64))
                    }
                })
                .collect();
            (list.split(',').map(PathBuf::from).collect(), probes)
        }
        Err(_) => synthetic_geoip(dir.path()),
    };
    let geoip = GeoIp::open(&files).expect("bench databases open");
    let mut group = c.benchmark_group("ip");
    let mut i = 0usize;
    group.bench_function("lookup", |b| {
        b.iter(|| {
            i = (i + 1) % probes.len();
            let _ = black_box(geoip.lookup(black_box(probes[i]), "en"));
        })
    });
    group.finish();
}

criterion_group!(benches, places, ips);
criterion_main!(benches);
