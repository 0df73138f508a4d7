//! Where a person approximately is, without asking them: from their IP address ([`ip`], MaxMind
//! DB files) or from a place name they type ([`gazetteer`]). Everything is computed in memory and
//! thrown away: nothing here logs, counts or stores an address, a position or a name typed.

pub mod client;
pub mod gazetteer;
pub mod ip;

pub use gazetteer::{Candidate, Gazetteer};
pub use ip::{GeoIp, GeoIpError, IpLocation, Unknown};
