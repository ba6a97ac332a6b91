//! The checks RFC 9112 asks of a server on an HTTP/1.x request head that hyper leaves to us.
//!
//! hyper refuses malformed heads, conflicting Content-Lengths and a `chunked` that is not the
//! last transfer coding before the request reaches the handler. What it does not check, a
//! careful edge proxy must, since every request that passes here is forwarded: a back end
//! or a cache that reads the host differently would route or key it differently.
//!
//! - Host (RFC 9112 §3.2): an HTTP/1.1 request carries exactly one, and a Host of any version
//!   is a valid `host[:port]`.
//! - Userinfo in an absolute-form target (`http://user@host/`) is refused (RFC 9110 §4.2.4:
//!   it disguises the authority).
//! - Transfer-Encoding is exactly `chunked`. hyper decodes a body whose last coding is
//!   `chunked` and ignores the others, and the gateway drops the hop-by-hop header, so the
//!   back end would get `gzip` bytes it was never told about: a coding the gateway does not
//!   implement gets 501 (RFC 9112 §6.1). `chunked` twice (in one line or two) is refused with
//!   400: it MUST NOT be applied twice (§6.1), and a recipient that decodes twice reads
//!   another body than one that decodes once.
//!
//! HTTP/2 requests are left to h2, which checks its pseudo-headers itself.

use http::header::{self, HeaderMap};
use http::{Uri, Version};

use crate::error::{Failure, Kind};

/// Refuses a request head that RFC 9112 says a server must not act on.
pub(crate) fn check(version: Version, uri: &Uri, headers: &HeaderMap) -> Result<(), Failure> {
    if !matches!(
        version,
        Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11
    ) {
        return Ok(());
    }
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => {
            return Err(Failure::new(
                Kind::InvalidHost,
                "an HTTP/1.1 request without Host",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Failure::new(Kind::InvalidHost, "more than one Host header"));
        }
        (Some(host), None) if !valid_host(host.as_bytes()) => {
            return Err(Failure::new(
                Kind::InvalidHost,
                "a Host that is no host[:port]",
            ));
        }
        _ => {}
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Failure::new(
            Kind::InvalidHost,
            "userinfo in the request target",
        ));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        check_transfer_codings(headers)?;
    }
    Ok(())
}

/// The codings of every Transfer-Encoding line, read as one list (RFC 9110 §5.3).
fn check_transfer_codings(headers: &HeaderMap) -> Result<(), Failure> {
    let mut chunked = 0;
    let mut other = false;
    let codings = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        // Empty list elements do not count (RFC 9110 §5.6.1.2).
        .filter(|c| !c.is_empty());
    for coding in codings {
        if coding.eq_ignore_ascii_case(b"chunked") {
            chunked += 1;
        } else {
            other = true;
        }
    }
    if chunked > 1 {
        return Err(Failure::new(
            Kind::InvalidTransferEncoding,
            "chunked more than once",
        ));
    }
    if other {
        return Err(Failure::new(
            Kind::UnsupportedTransferCoding,
            "a transfer coding other than chunked",
        ));
    }
    Ok(())
}

/// Whether `value` is `uri-host [":" port]` (RFC 3986 §3.2.2, §3.2.3) with a non-empty host,
/// as an `http` URI requires (RFC 9110 §4.2.1). Checked byte by byte: no allocation on the
/// request path.
pub(crate) fn valid_host(value: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        // IP-literal: an IPv6 address or IPvFuture, loosely; what matters is that nothing
        // outside the brackets but a port follows.
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..end];
        let literal_ok = !literal.is_empty()
            && literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'));
        if !literal_ok {
            return false;
        }
        (&value[..end + 2], &rest[end + 1..])
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        (&value[..end], &value[end..])
    };
    if host.is_empty() {
        return false;
    }
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    let host_ok = host.starts_with(b"[")
        || host.iter().all(|&b| {
            // reg-name / IPv4address: unreserved, pct-encoded, sub-delims.
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static [u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn refused(version: Version, uri: &str, pairs: &[(&'static str, &'static [u8])]) -> bool {
        check(version, &uri.parse().unwrap(), &headers(pairs)).is_err()
    }

    #[test]
    fn hosts_are_host_and_optional_port() {
        for good in [
            &b"api.example"[..],
            b"api.example:8443",
            b"API-1.example.",
            b"127.0.0.1:80",
            b"[::1]",
            b"[2001:db8::1]:443",
            b"host:",
        ] {
            assert!(valid_host(good), "{}", String::from_utf8_lossy(good));
        }
        for bad in [
            &b""[..],
            b":80",
            b"gw example",
            b"user@api.example",
            b"api.example:80x",
            b"api.example/path",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"api\\example",
            b"a\"b",
        ] {
            assert!(!valid_host(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        let v11 = Version::HTTP_11;
        assert!(!refused(v11, "/x", &[("host", b"api.example")]));
        assert!(refused(v11, "/x", &[]));
        assert!(refused(
            v11,
            "/x",
            &[("host", b"a.example"), ("host", b"a.example")]
        ));
        assert!(refused(v11, "/x", &[("host", b"gw example")]));
        assert!(refused(v11, "/x", &[("host", b"")]));
    }

    #[test]
    fn http10_may_omit_host_but_not_repeat_it() {
        let v10 = Version::HTTP_10;
        assert!(!refused(v10, "/x", &[]));
        assert!(refused(v10, "/x", &[("host", b"a"), ("host", b"b")]));
        assert!(refused(v10, "/x", &[("host", b"a b")]));
    }

    #[test]
    fn userinfo_in_an_absolute_target_is_refused() {
        let v11 = Version::HTTP_11;
        let host = [("host", &b"api.example"[..])];
        assert!(!refused(v11, "http://api.example/x", &host));
        assert!(refused(v11, "http://user@api.example/x", &host));
        assert!(refused(v11, "http://user:pw@api.example/x", &host));
    }

    fn coding_refusal(lines: &[&'static [u8]]) -> Option<Kind> {
        let pairs: Vec<_> = lines.iter().map(|l| ("transfer-encoding", *l)).collect();
        let host = [("host", &b"api.example"[..])];
        let all: Vec<_> = host.iter().copied().chain(pairs).collect();
        check(Version::HTTP_11, &"/x".parse().unwrap(), &headers(&all))
            .err()
            .map(|f| f.kind)
    }

    #[test]
    fn transfer_encoding_is_chunked_once_and_alone() {
        assert_eq!(coding_refusal(&[b"chunked"]), None);
        assert_eq!(coding_refusal(&[b"Chunked"]), None);
        assert_eq!(coding_refusal(&[b" chunked ,"]), None);
        for twice in [&[&b"chunked, chunked"[..]][..], &[b"chunked", b"CHUNKED"]] {
            assert_eq!(
                coding_refusal(twice),
                Some(Kind::InvalidTransferEncoding),
                "{twice:?}"
            );
        }
        for other in [
            &[&b"gzip, chunked"[..]][..],
            &[b"gzip", b"chunked"],
            &[b"x-custom;q=1, chunked"],
        ] {
            assert_eq!(
                coding_refusal(other),
                Some(Kind::UnsupportedTransferCoding),
                "{other:?}"
            );
        }
    }

    #[test]
    fn http2_is_left_to_h2() {
        assert!(!refused(Version::HTTP_2, "http://api.example/x", &[]));
    }
}
