//! IPv4 CIDR blocks as numbers: parsing, containment and overlap, the
//! arithmetic behind "a subnet lies inside its VPC and overlaps none of its
//! siblings". Pure functions, so the engine can run the check across
//! resources at plan time (a single type's parse sees only its own inputs).

use std::fmt;

/// An IPv4 network, `a.b.c.d/prefix`, with no bits set after the prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    /// The network address, as a number.
    pub network: u32,
    /// The prefix length, 0 to 32.
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// The first address after the block (as u64, so `/0` fits).
    fn end(self) -> u64 {
        u64::from(self.network) + (1u64 << (32 - u32::from(self.prefix)))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.network.to_be_bytes();
        write!(f, "{a}.{b}.{c}.{d}/{}", self.prefix)
    }
}

/// Parses `a.b.c.d/n`: four decimal octets without leading zeros, a prefix
/// of 0 to 32, and a network address (`10.0.0.0/16`, not `10.0.0.1/16`).
/// `Err` says what is wrong.
pub fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let (addr, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` has no `/` and prefix length"))?;
    let number = |part: &str, max: u32, what: &str| -> Result<u32, String> {
        let digits =
            !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit());
        let leading_zero = part.len() > 1 && part.starts_with('0');
        match part.parse::<u32>() {
            Ok(n) if digits && !leading_zero && n <= max => Ok(n),
            _ => Err(format!("`{part}` in `{s}` is not {what} (0 to {max})")),
        }
    };
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() != 4 {
        return Err(format!(
            "`{addr}` in `{s}` is not four dot-separated numbers"
        ));
    }
    let mut network = 0u32;
    for octet in octets {
        network = (network << 8) | number(octet, 255, "an octet")?;
    }
    let prefix = number(prefix, 32, "a prefix length")? as u8;
    let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    if network & host_bits != 0 {
        let network = Ipv4Cidr {
            network: network & !host_bits,
            prefix,
        };
        return Err(format!(
            "`{s}` has bits set after the prefix; the network is {network}"
        ));
    }
    Ok(Ipv4Cidr { network, prefix })
}

/// Whether `outer` holds all of `inner` (a block holds itself).
pub fn cidr_contains(outer: Ipv4Cidr, inner: Ipv4Cidr) -> bool {
    outer.prefix <= inner.prefix
        && u64::from(inner.network) >= u64::from(outer.network)
        && inner.end() <= outer.end()
}

/// Whether two blocks share any address.
pub fn cidr_overlaps(a: Ipv4Cidr, b: Ipv4Cidr) -> bool {
    u64::from(a.network) < b.end() && u64::from(b.network) < a.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        parse_cidr(s).unwrap()
    }

    #[test]
    fn parses_network_addresses_only() {
        assert_eq!(c("10.0.0.0/16").to_string(), "10.0.0.0/16");
        assert_eq!(c("0.0.0.0/0").network, 0);
        assert_eq!(c("255.255.255.255/32").network, u32::MAX);
        for bad in [
            "10.0.0.0",
            "10.0.0/16",
            "10.0.0.256/32",
            "10.0.0.01/32",
            "10.0.0.0/33",
            "10.0.0.0/",
            "a.b.c.d/8",
            "10.0.0.0/-1",
            "",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
        let err = parse_cidr("10.0.0.1/16").unwrap_err();
        assert!(err.contains("10.0.0.0/16"), "{err}");
    }

    #[test]
    fn containment() {
        assert!(cidr_contains(c("10.0.0.0/16"), c("10.0.1.0/24")));
        assert!(cidr_contains(c("10.0.0.0/16"), c("10.0.0.0/16")));
        assert!(cidr_contains(c("0.0.0.0/0"), c("192.168.0.0/16")));
        assert!(!cidr_contains(c("10.0.0.0/16"), c("10.1.0.0/24")));
        assert!(!cidr_contains(c("10.0.1.0/24"), c("10.0.0.0/16")));
        assert!(cidr_contains(c("10.0.255.0/24"), c("10.0.255.255/32")));
    }

    #[test]
    fn overlap() {
        assert!(cidr_overlaps(c("10.0.0.0/16"), c("10.0.128.0/17")));
        assert!(cidr_overlaps(c("10.0.128.0/17"), c("10.0.0.0/16")));
        assert!(!cidr_overlaps(c("10.0.0.0/24"), c("10.0.1.0/24")));
        assert!(cidr_overlaps(c("0.0.0.0/0"), c("1.2.3.4/32")));
        assert!(!cidr_overlaps(
            c("255.255.255.254/32"),
            c("255.255.255.255/32")
        ));
    }
}
