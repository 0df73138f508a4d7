//! The locate operations: the approximate position of an IP address, and the towns a typed name
//! may mean. Thin over [`crate::locate`], so the HTTP layer and the CLI share them.

use std::net::IpAddr;

use super::params::LocateRequest;
use crate::locate::{Candidate, GeoIp, IpLocation, Unknown, gazetteer};

/// The position of `client` (already resolved behind trusted proxies; `None` when a trusted
/// proxy hid it), with the town named in `ui` when the database has it.
pub fn locate_ip(geoip: &GeoIp, client: Option<IpAddr>, ui: &str) -> Result<IpLocation, Unknown> {
    if geoip.is_empty() {
        return Err(Unknown::NoDatabase);
    }
    geoip.lookup(client.ok_or(Unknown::Hidden)?, ui)
}

/// The towns whose names match `r.place`, best first.
pub fn locate_place(r: &LocateRequest) -> Vec<Candidate> {
    let Some(text) = r.place.as_deref() else { return Vec::new() };
    let bias = r.bias.map(|p| (p.lat.degrees(), p.lon.degrees()));
    gazetteer::embedded().lookup(text, &r.ui, bias, r.limit)
}
