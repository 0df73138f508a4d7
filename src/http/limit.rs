//! The per-client request rate limit: a GCRA bucket per client (the `governor` crate), answering
//! `429` with `Retry-After` once a client has used its burst faster than the sustained rate.
//!
//! Clients are told apart by their address (behind a trusted proxy, the forwarded one), an IPv6
//! address by its /64 network (one subscriber holds a whole /64). The limiter keeps only a hash of
//! that key, salted with a random value drawn when the process starts, so its memory holds no
//! address; buckets idle long enough to be full again are dropped every minute. Nothing here logs.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Requests per second and burst per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests a client may make at once before the sustained rate applies.
    pub burst: NonZeroU32,
}

/// The limiter shared by every connection.
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<u64>,
    salt: std::collections::hash_map::RandomState,
    clock: DefaultClock,
}

impl RateLimit {
    pub fn new(q: RateQuota) -> Self {
        let clock = DefaultClock::default();
        let quota = Quota::per_second(q.per_second).allow_burst(q.burst);
        RateLimit { limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()), salt: Default::default(), clock }
    }

    /// Counts one request of `client`: `Err(wait)` when it is over its quota, with the time
    /// until its next request would be accepted.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let key = self.salt.hash_one(network(client));
        self.limiter.check_key(&key).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the buckets of clients idle long enough to be full again; returns how many remain.
    pub fn forget_idle(&self) -> usize {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.limiter.len()
    }
}

/// What tells clients apart: an IPv4 address, or an IPv6 address's /64 network (an IPv4-mapped
/// IPv6 address counts as IPv4).
fn network(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => (u128::from(v6) >> 64) | 1 << 127,
        },
    }
}

/// Seconds to put in `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(per_second: u32, burst: u32) -> RateQuota {
        RateQuota { per_second: NonZeroU32::new(per_second).unwrap(), burst: NonZeroU32::new(burst).unwrap() }
    }

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let l = RateLimit::new(quota(1, 3));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let wait = l.check(a).expect_err("over the burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        // Another client is not affected.
        assert!(l.check("192.0.2.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn an_ipv6_subscriber_is_one_client() {
        let l = RateLimit::new(quota(1, 2));
        assert!(l.check("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(l.check("2001:db8:1:2:ffff::9".parse().unwrap()).is_ok());
        assert!(l.check("2001:db8:1:2::abcd".parse().unwrap()).is_err(), "same /64");
        assert!(l.check("2001:db8:1:3::1".parse().unwrap()).is_ok(), "another /64");
        // An IPv4-mapped address is the IPv4 client.
        assert!(l.check("198.51.100.7".parse().unwrap()).is_ok());
        assert!(l.check("::ffff:198.51.100.7".parse().unwrap()).is_ok());
        assert!(l.check("198.51.100.7".parse().unwrap()).is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }
}
