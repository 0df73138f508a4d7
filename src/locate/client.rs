//! The client's address behind reverse proxies. `Forwarded` (RFC 7239) and `X-Forwarded-For` are
//! believed only when the connection comes from a configured trusted proxy; the chain is then
//! read from the right, skipping trusted proxies, and the first other address is the client's.
//! Anyone can write these headers, so from any other peer they are ignored.

use std::net::IpAddr;

use ipnet::IpNet;

/// The trusted proxies: addresses or networks in CIDR notation.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `127.0.0.1` or `::1`; a bare address is a one-address network.
    pub fn parse(items: &[String]) -> Result<TrustedProxies, String> {
        items
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("trusted proxy `{s}` is not an IP address or CIDR network"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = super::ip::canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client's address: `peer` itself unless `peer` is a trusted proxy, in which case the
/// rightmost untrusted address of `Forwarded` (preferred) or `X-Forwarded-For`. A malformed or
/// obfuscated entry (`for=unknown`, `for=_hidden`) ends the walk: the address is then unknown
/// and `None` is returned rather than a guess.
pub fn client_address(peer: IpAddr, forwarded: Option<&str>, x_forwarded_for: Option<&str>, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = super::ip::canonical(peer);
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let chain: Vec<Option<IpAddr>> = if let Some(f) = forwarded {
        f.split(',').map(forwarded_for).collect()
    } else if let Some(x) = x_forwarded_for {
        x.split(',').map(|a| parse_addr(a.trim())).collect()
    } else {
        return Some(peer);
    };
    for hop in chain.into_iter().rev() {
        match hop {
            Some(ip) if trusted.contains(ip) => continue,
            Some(ip) => return Some(super::ip::canonical(ip)),
            None => return None,
        }
    }
    // Every hop is a trusted proxy: the request started inside.
    Some(peer)
}

/// The `for=` node of one `Forwarded` element.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| parse_addr(v.trim().trim_matches('"'))).flatten()
    })
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:80`
/// or a bare IPv6 address.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    s.rsplit_once(':').and_then(|(a, port)| port.parse::<u16>().ok().and(a.parse::<std::net::Ipv4Addr>().ok())).map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_untrusted_peers_are_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(client_address(ip("81.2.69.160"), Some("for=2.2.2.2"), Some("3.3.3.3"), &none), Some(ip("81.2.69.160")));
        let t = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        assert_eq!(client_address(ip("81.2.69.160"), None, Some("3.3.3.3"), &t), Some(ip("81.2.69.160")));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        // A client can prepend anything; only the hop the trusted proxy added counts.
        assert_eq!(client_address(ip("10.0.0.2"), None, Some("6.6.6.6, 81.2.69.160, 10.0.0.9"), &t), Some(ip("81.2.69.160")));
        assert_eq!(
            client_address(ip("::1"), Some(r#"for=6.6.6.6, for="[2a02:8071::1]:4711";proto=https"#), None, &t),
            Some(ip("2a02:8071::1"))
        );
        assert_eq!(client_address(ip("::ffff:10.1.1.1"), None, Some("81.2.69.160:5000"), &t), Some(ip("81.2.69.160")));
        assert_eq!(client_address(ip("10.0.0.2"), Some("for=unknown"), None, &t), None);
        assert_eq!(client_address(ip("10.0.0.2"), None, None, &t), Some(ip("10.0.0.2")));
        assert_eq!(client_address(ip("10.0.0.2"), None, Some("10.0.0.3"), &t), Some(ip("10.0.0.2")));
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    }
}
