//! What the back end is told about the caller: `X-Forwarded-For` (always appended),
//! `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Real-IP` and `Forwarded` (RFC 7239).
//!
//! A caller can send any of these. They are believed only from a trusted proxy (a peer whose
//! address is in `--trusted-proxies`): then the gateway adds its own hop to what the proxy
//! said. From anyone else, what they sent is replaced by what the gateway saw. The caller's
//! address is formatted once per connection, not per request.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::header::{HeaderMap, HeaderName, HeaderValue};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// An address range, `10.0.0.0/8` or `2001:db8::/32` (a bare address is one host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not an address or CIDR range such as 10.0.0.0/8"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{text}': the prefix length must be 0 to {max}"))?,
        };
        Ok(Self {
            network: network.to_canonical(),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The caller as the back end hears of it, made once per connection and kept inline (no heap
/// of its own: one of these lives with every idle connection).
#[derive(Debug)]
pub(crate) struct Client {
    /// The peer's address as text, in the first `len` bytes (IPv6 in full is 39).
    text: [u8; 39],
    len: u8,
    /// IPv6: the `for=` node of a `Forwarded` element quotes it in brackets.
    v6: bool,
    /// The peer is a trusted proxy: what it says about the caller is believed.
    trusted: bool,
}

impl Client {
    /// The caller at `ip`, trusted when a range of `trusted` holds it.
    pub(crate) fn new(ip: IpAddr, trusted: &[Cidr]) -> Self {
        use std::io::Write as _;
        let ip = ip.to_canonical();
        let mut text = [0u8; 39];
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        // An address's text always fits: 15 bytes for IPv4, at most 39 for IPv6.
        let len = match write!(cursor, "{ip}") {
            Ok(()) => u8::try_from(cursor.position()).unwrap_or(0),
            Err(_) => 0,
        };
        Self {
            text,
            len,
            v6: ip.is_ipv6(),
            trusted: trusted.iter().any(|c| c.contains(ip)),
        }
    }

    /// The address as text.
    fn ip(&self) -> &[u8] {
        &self.text[..usize::from(self.len)]
    }
}

/// The forwarding headers the gateway writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    ForwardedFor,
    Proto,
    Host,
    RealIp,
    Forwarded,
}

impl Field {
    /// Every one of them.
    pub(crate) const ALL: [Field; 5] = [
        Field::ForwardedFor,
        Field::Proto,
        Field::Host,
        Field::RealIp,
        Field::Forwarded,
    ];

    pub(crate) fn name(self) -> &'static HeaderName {
        match self {
            Field::ForwardedFor => &X_FORWARDED_FOR,
            Field::Proto => &X_FORWARDED_PROTO,
            Field::Host => &X_FORWARDED_HOST,
            Field::RealIp => &X_REAL_IP,
            Field::Forwarded => &FORWARDED,
        }
    }

    /// Which one `name` (any case) is.
    pub(crate) fn of(name: &[u8]) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.name().as_str().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// What the caller sent of the forwarding headers, in order.
#[derive(Debug, Default)]
pub(crate) struct Sent<'a> {
    pub(crate) forwarded_for: Vec<&'a [u8]>,
    pub(crate) proto: Option<&'a [u8]>,
    pub(crate) host: Option<&'a [u8]>,
    pub(crate) real_ip: Option<&'a [u8]>,
    pub(crate) forwarded: Vec<&'a [u8]>,
}

impl<'a> Sent<'a> {
    /// Notes one header the caller sent, if it is a forwarding header.
    pub(crate) fn note(&mut self, field: Field, value: &'a [u8]) {
        match field {
            Field::ForwardedFor => {
                if !value.trim_ascii().is_empty() {
                    self.forwarded_for.push(value);
                }
            }
            Field::Proto => self.proto = self.proto.or(Some(value)),
            Field::Host => self.host = self.host.or(Some(value)),
            Field::RealIp => self.real_ip = self.real_ip.or(Some(value)),
            Field::Forwarded => self.forwarded.push(value),
        }
    }
}

/// Calls `emit` with each forwarding header the back end gets (a value in parts, to be
/// concatenated), for a request the gateway received from `client` over `proto` for `host`.
/// Both HTTP/1.1 paths write through this one rule.
pub(crate) fn each(
    client: &Client,
    sent: &Sent<'_>,
    host: Option<&[u8]>,
    proto: &'static str,
    mut emit: impl FnMut(Field, &[&[u8]]),
) {
    let ip = client.ip();
    // X-Forwarded-For: every hop appends itself (a caller's own entries stay, on the left,
    // where a back end knows to distrust them).
    if sent.forwarded_for.is_empty() {
        emit(Field::ForwardedFor, &[ip]);
    } else {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(sent.forwarded_for.len() * 2 + 1);
        for v in &sent.forwarded_for {
            parts.push(v);
            parts.push(b", ");
        }
        parts.push(ip);
        emit(Field::ForwardedFor, &parts);
    }
    let host = host.filter(|h| !h.contains(&b'"') && !h.contains(&b'\\'));
    // for=NODE;proto=PROTO[;host="HOST"], an IPv6 node quoted in brackets.
    let (open, close): (&[u8], &[u8]) = if client.v6 {
        (b"\"[", b"]\"")
    } else {
        (b"", b"")
    };
    let element: [&[u8]; 9] = match host {
        Some(h) => [
            b"for=",
            open,
            ip,
            close,
            b";proto=",
            proto.as_bytes(),
            b";host=\"",
            h,
            b"\"",
        ],
        None => [
            b"for=",
            open,
            ip,
            close,
            b";proto=",
            proto.as_bytes(),
            b"",
            b"",
            b"",
        ],
    };
    if client.trusted {
        // A trusted proxy's account of the caller stands; the gateway adds its hop.
        emit(Field::Proto, &[sent.proto.unwrap_or(proto.as_bytes())]);
        if let Some(h) = sent.host.or(host) {
            emit(Field::Host, &[h]);
        }
        emit(Field::RealIp, &[sent.real_ip.unwrap_or(ip)]);
        for f in &sent.forwarded {
            emit(Field::Forwarded, &[f]);
        }
    } else {
        emit(Field::Proto, &[proto.as_bytes()]);
        if let Some(h) = host {
            emit(Field::Host, &[h]);
        }
        emit(Field::RealIp, &[ip]);
    }
    emit(Field::Forwarded, &element);
}

/// Sets the forwarding headers of a request the gateway received from `client` over `proto`
/// for `host`, in a header map (the hyper path).
pub(crate) fn apply(
    headers: &mut HeaderMap,
    client: &Client,
    host: Option<HeaderValue>,
    proto: &'static str,
) {
    let mut owned: Vec<(Field, HeaderValue)> = Vec::new();
    for field in Field::ALL {
        for value in headers.get_all(field.name()) {
            owned.push((field, value.clone()));
        }
        headers.remove(field.name());
    }
    let mut sent = Sent::default();
    for (field, value) in &owned {
        sent.note(*field, value.as_bytes());
    }
    each(
        client,
        &sent,
        host.as_ref().map(HeaderValue::as_bytes),
        proto,
        |field, parts| {
            if let Ok(value) = HeaderValue::from_bytes(&parts.concat()) {
                headers.append(field.name().clone(), value);
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn all(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn ranges_parse_and_contain() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("10.1.2.3".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "x", "::/129", "10.0.0.0/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_caller_cannot_say_who_it_is() {
        let mut h = map(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("x-real-ip", "1.1.1.1"),
            ("forwarded", "for=1.1.1.1;proto=https"),
        ]);
        let client = Client::new("192.0.2.7".parse().unwrap(), &[]);
        apply(
            &mut h,
            &client,
            Some(HeaderValue::from_static("api.example")),
            "http",
        );
        assert_eq!(all(&h, "x-forwarded-for"), ["1.1.1.1, 2.2.2.2, 192.0.2.7"]);
        assert_eq!(all(&h, "x-forwarded-proto"), ["http"]);
        assert_eq!(all(&h, "x-forwarded-host"), ["api.example"]);
        assert_eq!(all(&h, "x-real-ip"), ["192.0.2.7"]);
        assert_eq!(
            all(&h, "forwarded"),
            ["for=192.0.2.7;proto=http;host=\"api.example\""]
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_and_the_gateway_adds_its_hop() {
        let mut h = map(&[
            ("x-forwarded-for", "198.51.100.9"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "api.example"),
            ("x-real-ip", "198.51.100.9"),
            ("forwarded", "for=198.51.100.9;proto=https"),
        ]);
        let client = Client::new(
            "10.0.0.5".parse().unwrap(),
            &["10.0.0.0/8".parse().unwrap()],
        );
        apply(
            &mut h,
            &client,
            Some(HeaderValue::from_static("internal")),
            "http",
        );
        assert_eq!(all(&h, "x-forwarded-for"), ["198.51.100.9, 10.0.0.5"]);
        assert_eq!(all(&h, "x-forwarded-proto"), ["https"]);
        assert_eq!(all(&h, "x-forwarded-host"), ["api.example"]);
        assert_eq!(all(&h, "x-real-ip"), ["198.51.100.9"]);
        assert_eq!(
            all(&h, "forwarded"),
            [
                "for=198.51.100.9;proto=https",
                "for=10.0.0.5;proto=http;host=\"internal\""
            ]
        );
        // IPv6 nodes are quoted in brackets.
        let mut h = HeaderMap::new();
        apply(
            &mut h,
            &Client::new("2001:db8::1".parse().unwrap(), &[]),
            None,
            "https",
        );
        assert_eq!(all(&h, "forwarded"), ["for=\"[2001:db8::1]\";proto=https"]);
    }
}
