//! Which `Host` names the admin listener answers to. A page on any web site can make a browser
//! send requests to 127.0.0.1 under the site's own name once its DNS answer changes to that
//! address (DNS rebinding); the browser then treats the portal as the site's own origin. The
//! `Host` header still carries the site's name, so answering only to IP literals, `localhost`
//! and names the operator chose takes that door away.

use std::net::{Ipv4Addr, Ipv6Addr};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use http::{StatusCode, header};

use crate::{ApiError, AppState, portal};

/// A name given in `--admin-allowed-hosts` that is not a DNS host name.
#[derive(Debug, thiserror::Error)]
#[error(
    "'{0}' is not a host name: give names like admin.example.com, without scheme, port or path"
)]
pub struct InvalidHostName(String);

/// The names (besides IP literals and `localhost`) the admin listener answers to.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts {
    /// Lower case, without a trailing dot.
    names: Vec<String>,
}

impl AllowedHosts {
    /// IP literals and `localhost`, plus `names` (case-insensitive; empty entries are
    /// skipped, so a trailing comma is harmless).
    ///
    /// # Errors
    /// [`InvalidHostName`] for an entry that is not a host name (a port, a scheme, a space).
    pub fn new<S: AsRef<str>>(names: &[S]) -> Result<Self, InvalidHostName> {
        let mut out = Vec::new();
        for name in names {
            let name = name.as_ref().trim();
            if name.is_empty() {
                continue;
            }
            let normal = normalise(name);
            if !is_host_name(&normal) {
                return Err(InvalidHostName(name.to_string()));
            }
            out.push(normal);
        }
        Ok(Self { names: out })
    }

    /// Whether a `Host` header value (or URI authority: `name[:port]`, `[v6][:port]`) names
    /// this listener.
    pub fn allows(&self, authority: &str) -> bool {
        let Some(host) = host_of(authority) else {
            return false;
        };
        if let Some(v6) = host.strip_prefix('[') {
            return v6
                .strip_suffix(']')
                .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok());
        }
        if host.parse::<Ipv4Addr>().is_ok() {
            return true;
        }
        let host = normalise(host);
        host == "localhost" || self.names.contains(&host)
    }
}

fn normalise(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.to_ascii_lowercase()
}

/// Letters, digits and hyphens in dot-separated labels of 1 to 63 characters.
fn is_host_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The host part of `name[:port]` or `[v6][:port]`, brackets kept; `None` when the port is
/// not digits or an unbracketed name has a colon.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        (
            host,
            rest.strip_prefix(':').or(rest.is_empty().then_some("")),
        )
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, Some("")),
        }
    };
    let port = port?;
    (!host.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(host)
}

/// Refuses requests addressed to any other name, before anything else looks at them: 421 with
/// the API's error body, or a short page for the portal. A request must name its host (in
/// `Host`, or in the URI as HTTP/2 does); every name it gives must be allowed.
pub(crate) async fn require_allowed_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // HTTP/2 names the host in :authority, which becomes the URI's; so does an absolute-form
    // HTTP/1.1 request target, which could otherwise name one host and `Host` another.
    let in_uri = request.uri().authority().map(|a| Some(a.as_str()));
    let in_headers = request.headers().get_all(header::HOST).into_iter();
    let mut named = false;
    let mut allowed = true;
    for name in in_headers.map(|v| v.to_str().ok()).chain(in_uri) {
        named = true;
        allowed &= name.is_some_and(|n| state.allowed_hosts.allows(n));
    }
    if named && allowed {
        return next.run(request).await;
    }
    tracing::debug!(
        path = request.uri().path(),
        "refused a request to a host name this listener does not answer to"
    );
    if portal::owns(request.uri().path()) {
        return (StatusCode::MISDIRECTED_REQUEST, Html(WRONG_HOST_PAGE)).into_response();
    }
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "HostNotAllowed",
        "this admin listener answers to its IP address, localhost, and the names in \
         --admin-allowed-hosts (GATEHOUSE_ADMIN_ALLOWED_HOSTS) only; the request named another \
         host, or none",
    )
    .into_response()
}

/// The portal's answer to a request for another host name: nothing of the request is echoed.
const WRONG_HOST_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Wrong address · Gatehouse</title></head><body><h1>Wrong address</h1>\
<p>This Gatehouse portal answers only at its IP address, at <code>localhost</code>, and at the \
host names its operator allowed with <code>--admin-allowed-hosts</code>. Open it at one of \
those.</p></body></html>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_and_localhost_are_allowed_by_default() {
        let hosts = AllowedHosts::default();
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8001",
            "10.1.2.3:80",
            "[::1]",
            "[::1]:8001",
            "[2001:db8::7]:443",
            "localhost",
            "LOCALHOST:8001",
            "localhost.:8001",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "",
            ":8001",
            "evil.example",
            "evil.example:8001",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "127.1",
            "0x7f000001",
            "::1",
            "[::1",
            "[not-ip]:80",
            "[::1]x",
            "127.0.0.1:80a",
            "127.0.0.1:80:80",
            "a b",
        ] {
            assert!(!hosts.allows(refused), "{refused:?}");
        }
    }

    #[test]
    fn operators_name_more_hosts() {
        let hosts = AllowedHosts::new(&["Admin.Example.com.", " gate ", ""]).unwrap();
        assert!(hosts.allows("admin.example.com:8001"));
        assert!(hosts.allows("ADMIN.EXAMPLE.COM"));
        assert!(hosts.allows("gate"));
        assert!(!hosts.allows("example.com"));
        assert!(!hosts.allows("x.admin.example.com"));
        for bad in [
            "admin.example.com:8001",
            "https://admin",
            "a b",
            "-a",
            "a..b",
            "*.example.com",
        ] {
            let e = AllowedHosts::new(&[bad]).unwrap_err();
            assert!(e.to_string().contains(bad.trim()), "{e}");
        }
    }
}
