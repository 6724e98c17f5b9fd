//! IP networks in CIDR notation for allow-lists and trusted proxies.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address and a prefix length (`10.0.0.0/8`, `2001:db8::/32`).
///
/// A bare address (`203.0.113.9`, `2001:db8::1`) is a network of one host. IPv4-mapped IPv6
/// networks (`::ffff:10.0.0.0/104`) are stored as the IPv4 network they map (`10.0.0.0/8`), and
/// [`contains`](Cidr::contains) treats an IPv4-mapped client address (`::ffff:10.1.2.3`, what a
/// dual-stack socket reports for an IPv4 peer) as the IPv4 address it is. An IPv6 network never
/// contains an IPv4 address: allow everything with `0.0.0.0/0` and `::/0` together.
///
/// ```
/// use postback::guard::Cidr;
///
/// let net: Cidr = "10.0.0.0/8".parse()?;
/// assert!(net.contains("10.200.0.1".parse()?));
/// assert!(net.contains("::ffff:10.200.0.1".parse()?));
/// assert!(!net.contains("11.0.0.1".parse()?));
/// assert_eq!(net.to_string(), "10.0.0.0/8");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// A network from its first address and prefix length.
    ///
    /// # Errors
    ///
    /// [`ParseCidrError::BadPrefix`] when the prefix is longer than the address (33 for IPv4,
    /// 129 for IPv6); [`ParseCidrError::HostBits`] when the address has bits set past the prefix
    /// (`10.1.0.0` with prefix 8), which usually means a typo.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, ParseCidrError> {
        let (addr, prefix) = canonical_net(addr, prefix);
        let max = max_prefix(addr);
        if prefix > max {
            return Err(ParseCidrError::BadPrefix {
                input: format!("{addr}/{prefix}").into(),
                max,
            });
        }
        let net = Cidr {
            addr: mask(addr, prefix),
            prefix,
        };
        if net.addr == addr {
            Ok(net)
        } else {
            Err(ParseCidrError::HostBits {
                input: format!("{addr}/{prefix}").into(),
                network: net,
            })
        }
    }

    /// Parses `1.2.3.4`, `10.0.0.0/8`, `2001:db8::/32` or `::ffff:10.0.0.0/104`.
    ///
    /// # Errors
    ///
    /// - `""`: [`ParseCidrError::Empty`];
    /// - `10.0.0.256/8`, `fe80::1%eth0`, ` 10.0.0.1`: [`ParseCidrError::BadAddress`];
    /// - `10.0.0.0/33`, `10.0.0.0/x`, `10.0.0.0/`: [`ParseCidrError::BadPrefix`];
    /// - `10.1.2.3/8`: [`ParseCidrError::HostBits`] (the network is `10.0.0.0/8`).
    ///
    /// ```
    /// use postback::guard::Cidr;
    ///
    /// let err = Cidr::parse("10.1.2.3/8").unwrap_err();
    /// assert_eq!(err.to_string(), "`10.1.2.3/8` has host bits set: the network is `10.0.0.0/8`");
    /// ```
    pub fn parse(input: &str) -> Result<Self, ParseCidrError> {
        if input.is_empty() {
            return Err(ParseCidrError::Empty);
        }
        let (addr_text, prefix_text) = match input.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (input, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| ParseCidrError::BadAddress {
            input: input.into(),
        })?;
        let max = max_prefix(addr);
        let prefix =
            match prefix_text {
                None => max,
                Some(p) => parse_prefix(p).filter(|&p| p <= max).ok_or_else(|| {
                    ParseCidrError::BadPrefix {
                        input: input.into(),
                        max,
                    }
                })?,
            };
        Cidr::new(addr, prefix).map_err(|err| match err {
            ParseCidrError::HostBits { network, .. } => ParseCidrError::HostBits {
                input: input.into(),
                network,
            },
            other => other,
        })
    }

    /// Parses a list separated by commas and/or whitespace, as kept in a config file:
    /// `"10.0.0.0/8, 192.0.2.7 2001:db8::/32"`. An empty list is `Ok(vec![])`.
    ///
    /// # Errors
    ///
    /// The first item that [`Cidr::parse`] refuses, with that item's text.
    pub fn parse_list(input: &str) -> Result<Vec<Cidr>, ParseCidrError> {
        input
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|item| !item.is_empty())
            .map(Cidr::parse)
            .collect()
    }

    /// The network's first address.
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    #[must_use]
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network; an IPv4-mapped IPv6 `ip` counts as IPv4.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = ParseCidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cidr::parse(s)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl From<IpAddr> for Cidr {
    /// The network holding only this address.
    fn from(addr: IpAddr) -> Self {
        let addr = addr.to_canonical();
        Cidr {
            addr,
            prefix: max_prefix(addr),
        }
    }
}

/// Why an IP address or CIDR network was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseCidrError {
    /// The input was empty.
    #[error("empty ip address or cidr network")]
    Empty,
    /// The part before `/` is not an IPv4 or IPv6 address (zone ids and spaces are refused).
    #[error("`{input}` is not an ip address or cidr network")]
    #[non_exhaustive]
    BadAddress {
        /// The refused input.
        input: Box<str>,
    },
    /// The part after `/` is not a whole number from 0 to the address length.
    #[error("prefix length in `{input}` is not a number from 0 to {max}")]
    #[non_exhaustive]
    BadPrefix {
        /// The refused input.
        input: Box<str>,
        /// The longest prefix the address family allows (32 or 128).
        max: u8,
    },
    /// The address has bits set past the prefix, so it is not the network's first address.
    #[error("`{input}` has host bits set: the network is `{network}`")]
    #[non_exhaustive]
    HostBits {
        /// The refused input.
        input: Box<str>,
        /// The network the prefix describes, probably what was meant.
        network: Cidr,
    },
}

fn parse_prefix(text: &str) -> Option<u8> {
    // `u8::from_str` accepts a leading `+`; a prefix is digits only, at most three of them.
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Stores an IPv4-mapped IPv6 network as IPv4, so one rule covers both socket kinds.
fn canonical_net(addr: IpAddr, prefix: u8) -> (IpAddr, u8) {
    match addr {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), prefix - 96),
            None => (addr, prefix),
        },
        _ => (addr, prefix),
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let keep = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}
