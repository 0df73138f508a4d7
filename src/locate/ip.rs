//! Approximate position from an IP address, read from MaxMind DB files with the `maxminddb`
//! crate. Two record layouts decode: MaxMind's GeoIP2/GeoLite2 City (nested `location`, `city`,
//! `country`) and the flat layout of DB-IP Lite City as published by ip-location-db
//! (`latitude`, `longitude` as 32-bit floats, `city`, `country_code`), whose files are split by
//! address family. Lookups happen in memory; nothing here logs or keeps an address.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use maxminddb::Reader;
use serde::Deserialize;

/// A database that could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("{path}: {reason}")]
    Open { path: PathBuf, reason: String },
}

/// Whose data a database holds, for the attribution its licence requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// DB-IP Lite (CC BY 4.0): "IP Geolocation by DB-IP" must be shown with a link.
    DbIp,
    /// MaxMind GeoLite2 (GeoLite2 EULA) or GeoIP2.
    MaxMind,
    /// Any other database in one of the two layouts.
    Other,
}

impl Provider {
    /// The attribution text and link to show wherever a position from this database is used.
    pub fn attribution(self) -> (&'static str, &'static str) {
        match self {
            Provider::DbIp => ("IP Geolocation by DB-IP", "https://db-ip.com"),
            Provider::MaxMind => ("This product includes GeoLite2 data created by MaxMind", "https://www.maxmind.com"),
            Provider::Other => ("IP geolocation database configured by the operator", ""),
        }
    }
}

/// Accuracy reported for a DB-IP record, which states none: city-level records, in kilometres.
pub const DBIP_CITY_ACCURACY_KM: f64 = 50.0;
/// Accuracy reported for a record that names a country but no city, in kilometres.
pub const COUNTRY_ACCURACY_KM: f64 = 500.0;

/// An approximate position.
#[derive(Debug, Clone, PartialEq)]
pub struct IpLocation {
    /// Degrees, WGS84.
    pub lat: f64,
    /// Degrees, WGS84.
    pub lon: f64,
    /// Radius in kilometres within which the person probably is.
    pub accuracy_km: f64,
    /// ISO 3166-1 alpha-2, when the database has it.
    pub country: Option<String>,
    /// The town, in the requested language when the database has it.
    pub place: Option<String>,
    pub provider: Provider,
}

/// Why no position is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// No database is configured.
    NoDatabase,
    /// A private, loopback, link-local, documentation or other special-purpose address.
    NotPublic,
    /// No database covers the address, or its record has no position.
    NotFound,
    /// A trusted proxy forwarded the request but hid or garbled the client's address.
    Hidden,
}

impl Unknown {
    pub fn code(self) -> &'static str {
        match self {
            Unknown::NoDatabase => "no-database",
            Unknown::NotPublic => "not-public-address",
            Unknown::NotFound => "not-found",
            Unknown::Hidden => "address-hidden-by-proxy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    City,
    Flat,
}

struct Db {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
    /// 4: IPv4 addresses only; 6: both (IPv4 through the mapped subtree).
    ip_version: u16,
    layout: Layout,
    provider: Provider,
}

/// The configured databases, in the order given.
#[derive(Default)]
pub struct GeoIp {
    dbs: Vec<Db>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.dbs.iter().map(|d| (&d.path, d.ip_version, d.layout, d.provider))).finish()
    }
}

// The two layouts, read with borrowed strings (no allocation per lookup but the answer's).
#[derive(Deserialize)]
struct CityRecord<'a> {
    #[serde(borrow, default)]
    city: Option<Names<'a>>,
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(default)]
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    names: std::collections::BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<Degrees>,
    longitude: Option<Degrees>,
    accuracy_radius: Option<u16>,
}

#[derive(Deserialize)]
struct FlatRecord<'a> {
    latitude: Option<Degrees>,
    longitude: Option<Degrees>,
    #[serde(borrow, default)]
    city: Option<&'a str>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
}

/// A coordinate in degrees, stored as a 32-bit float (DB-IP) or a 64-bit double (GeoIP2): the
/// decoder is strict about the stored type, so both are accepted here.
#[derive(Debug, Clone, Copy)]
struct Degrees(f64);

impl<'de> Deserialize<'de> for Degrees {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Degrees;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a float or a double")
            }
            fn visit_f32<E>(self, v: f32) -> Result<Degrees, E> {
                Ok(Degrees(f64::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Degrees, E> {
                Ok(Degrees(v))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl GeoIp {
    /// Opens every file, checks that it is a MaxMind DB in one of the two layouts, and keeps it in
    /// memory. Any file that fails is an error naming it: a server must not start (or reload)
    /// with a database silently missing.
    pub fn open(paths: &[PathBuf]) -> Result<GeoIp, GeoIpError> {
        let dbs = paths.iter().map(|p| open_one(p)).collect::<Result<_, _>>()?;
        Ok(GeoIp { dbs })
    }

    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// The approximate position of `ip`, with the town's name in `ui` when the database has it.
    /// An IPv4-mapped IPv6 address is looked up as IPv4. Files that hold only IPv4 are skipped
    /// for IPv6 addresses; the first database with a position for the address answers.
    pub fn lookup(&self, ip: IpAddr, ui: &str) -> Result<IpLocation, Unknown> {
        if self.dbs.is_empty() {
            return Err(Unknown::NoDatabase);
        }
        let ip = canonical(ip);
        if !is_public(ip) {
            return Err(Unknown::NotPublic);
        }
        for db in &self.dbs {
            if ip.is_ipv6() && db.ip_version == 4 {
                continue;
            }
            if let Some(found) = db.lookup(ip, ui) {
                return Ok(found);
            }
        }
        Err(Unknown::NotFound)
    }

    /// The databases, for the startup message: path, IP version, layout and provider.
    pub fn describe(&self) -> Vec<String> {
        self.dbs
            .iter()
            .map(|d| format!("{} (IPv{}, {:?} layout, {:?})", d.path.display(), d.ip_version, d.layout, d.provider))
            .collect()
    }
}

fn open_one(path: &Path) -> Result<Db, GeoIpError> {
    let fail = |reason: String| GeoIpError::Open { path: path.to_path_buf(), reason };
    let reader = Reader::open_readfile(path).map_err(|e| fail(format!("not a readable MaxMind DB file: {e}")))?;
    let meta = reader.metadata();
    let ip_version = meta.ip_version;
    if ip_version != 4 && ip_version != 6 {
        return Err(fail(format!("unsupported ip_version {ip_version}")));
    }
    let kind = meta.database_type.to_ascii_lowercase();
    // ip-location-db's files say only "city ipv4": their file names tell whose data they hold.
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let provider = if kind.contains("dbip") || kind.contains("db-ip") || name.contains("dbip") {
        Provider::DbIp
    } else if kind.starts_with("geolite2") || kind.starts_with("geoip2") || name.contains("geolite2") {
        Provider::MaxMind
    } else {
        Provider::Other
    };
    let layout = if kind.contains("city") && (kind.starts_with("geolite2") || kind.starts_with("geoip2")) {
        Layout::City
    } else if let Some(l) = sniff_layout(&reader) {
        l
    } else {
        return Err(fail(format!(
            "database type `{}` has neither the GeoIP2 City layout (location.latitude) nor the flat DB-IP layout (latitude)",
            meta.database_type
        )));
    };
    Ok(Db { path: path.to_path_buf(), reader, ip_version, layout, provider })
}

/// Reads the first records of the database and tells the layout from where the latitude is.
fn sniff_layout(reader: &Reader<Vec<u8>>) -> Option<Layout> {
    let networks = reader.networks(Default::default()).ok()?;
    for item in networks.take(64) {
        let Ok(item) = item else { continue };
        if let Ok(Some(r)) = item.decode::<FlatRecord>()
            && r.latitude.is_some()
        {
            return Some(Layout::Flat);
        }
        if let Ok(Some(r)) = item.decode::<CityRecord>()
            && r.location.is_some_and(|l| l.latitude.is_some())
        {
            return Some(Layout::City);
        }
    }
    None
}

impl Db {
    fn lookup(&self, ip: IpAddr, ui: &str) -> Option<IpLocation> {
        let found = self.reader.lookup(ip).ok()?;
        let (lat, lon, accuracy_km, country, place) = match self.layout {
            Layout::City => {
                let r: CityRecord = found.decode().ok()??;
                let loc = r.location?;
                let place = r.city.and_then(|c| c.names.get(ui).or_else(|| c.names.get("en")).map(|s| s.to_string()));
                let accuracy = loc
                    .accuracy_radius
                    .map(f64::from)
                    .unwrap_or(if place.is_some() { DBIP_CITY_ACCURACY_KM } else { COUNTRY_ACCURACY_KM });
                (loc.latitude?.0, loc.longitude?.0, accuracy, r.country.and_then(|c| c.iso_code).map(str::to_string), place)
            }
            Layout::Flat => {
                let r: FlatRecord = found.decode().ok()??;
                let place = r.city.filter(|c| !c.is_empty()).map(str::to_string);
                let accuracy = if place.is_some() { DBIP_CITY_ACCURACY_KM } else { COUNTRY_ACCURACY_KM };
                (r.latitude?.0, r.longitude?.0, accuracy, r.country_code.filter(|c| !c.is_empty()).map(str::to_string), place)
            }
        };
        let valid = lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        // A record at exactly (0, 0) is a placeholder, not a position.
        if !valid || (lat == 0.0 && lon == 0.0) {
            return None;
        }
        // 32-bit floats carry noise past the 5th decimal (about a metre).
        let round = |v: f64| (v * 1e5).round() / 1e5;
        Some(IpLocation { lat: round(lat), lon: round(lon), accuracy_km, country, place, provider: self.provider })
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as dual-stack sockets report IPv4 peers) as
/// the IPv4 address it carries.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// IANA special-purpose ranges that locate no one: private, shared, loopback, link-local,
/// documentation, benchmarking, multicast, reserved.
const SPECIAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "3fff::/20",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// Whether `ip` is an address a database could place: none of the special-purpose ranges.
pub fn is_public(ip: IpAddr) -> bool {
    static NETS: std::sync::OnceLock<Vec<IpNet>> = std::sync::OnceLock::new();
    let nets = NETS.get_or_init(|| SPECIAL.iter().map(|n| n.parse().expect("valid special-purpose range")).collect());
    let ip = canonical(ip);
    !nets.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for ip in ["10.1.2.3", "192.168.0.1", "127.0.0.1", "100.64.1.1", "192.0.2.7", "::1", "fe80::1", "fd00::1", "2001:db8::5", "::ffff:10.0.0.1", "0.0.0.0", "255.255.255.255"] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["81.2.69.160", "151.38.39.114", "2a02:8071::1", "::ffff:81.2.69.160"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        assert_eq!(canonical("::ffff:81.2.69.160".parse().unwrap()), "81.2.69.160".parse::<Ipv4Addr>().unwrap());
        assert_eq!(canonical("2a02::1".parse().unwrap()), "2a02::1".parse::<Ipv6Addr>().unwrap());
    }
}
