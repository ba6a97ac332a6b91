//! Back-end URLs: parsed once at save time so the data path never parses them.

use std::fmt;

/// Scheme of a back-end URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Cleartext HTTP.
    Http,
    /// HTTP over TLS, where client certificates apply.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Why a back-end URL is refused, in a sentence that names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

/// An absolute `http` or `https` URL without query or fragment, split into the parts the
/// gateway needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceUrl {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or IP address, without IPv6 brackets, lower case.
    pub host: String,
    /// Port, explicit or the scheme's default.
    pub port: u16,
    /// Path prefix without a trailing slash (empty for the root).
    pub base_path: String,
    /// `host[:port]` as it goes in the `Host` header (port only when not the default).
    pub authority: String,
}

impl ServiceUrl {
    /// Parses and checks a back-end URL.
    ///
    /// # Errors
    /// [`UrlError`]: a sentence saying what is wrong, for the caller to put in a detail.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        Self::parse_inner(text).map_err(UrlError)
    }

    fn parse_inner(text: &str) -> Result<Self, String> {
        let shown = crate::printable(text);
        let uri: http::Uri = text
            .parse()
            .map_err(|e| format!("'{shown}' is not a valid URL: {e}"))?;
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::Http,
            _ => {
                return Err(format!(
                    "'{shown}' must be an absolute http:// or https:// URL"
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("'{shown}' has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "'{shown}' must not carry user information; use backend credentials instead"
            ));
        }
        let raw_host = authority.host();
        if raw_host.is_empty() {
            return Err(format!("'{shown}' has no host"));
        }
        // `http` parses "h:99999" and "h:abc" as a host with no usable port; refuse them
        // rather than fall back to the default port.
        let text = authority.as_str();
        let port_text = match text.rfind(':') {
            Some(i)
                if !text.ends_with(']') && (!text.starts_with('[') || text[..i].ends_with(']')) =>
            {
                Some(&text[i + 1..])
            }
            _ => None,
        };
        if let Some(p) = port_text
            && p.parse::<u16>().is_err()
        {
            return Err(format!(
                "'{shown}' has an invalid port '{}'",
                crate::printable(p)
            ));
        }
        if uri.query().is_some() {
            return Err(format!("'{shown}' must not have a query string"));
        }
        let host = raw_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = authority
            .port_u16()
            .unwrap_or_else(|| scheme.default_port());
        if port == 0 {
            return Err(format!("'{shown}' has port 0"));
        }
        let host_for_header = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = if port == scheme.default_port() {
            host_for_header
        } else {
            format!("{host_for_header}:{port}")
        };
        Ok(ServiceUrl {
            scheme,
            host,
            port,
            base_path: uri.path().trim_end_matches('/').to_string(),
            authority,
        })
    }

    /// Whether `self` is `prefix` or lies under it: same origin, and the path continues at a
    /// segment boundary. A back end applies to the APIs whose service URL it prefixes.
    pub fn starts_with(&self, prefix: &ServiceUrl) -> bool {
        self.scheme == prefix.scheme
            && self.host == prefix.host
            && self.port == prefix.port
            && (prefix.base_path.is_empty()
                || self.base_path == prefix.base_path
                || self
                    .base_path
                    .strip_prefix(&prefix.base_path)
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority,
            self.base_path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_parts() {
        let u = ServiceUrl::parse("HTTPS://Backend.Example:8443/api/v1/").unwrap();
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!(u.host, "backend.example");
        assert_eq!(u.port, 8443);
        assert_eq!(u.base_path, "/api/v1");
        assert_eq!(u.authority, "backend.example:8443");
        assert_eq!(u.to_string(), "https://backend.example:8443/api/v1");

        let u = ServiceUrl::parse("http://[::1]/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert_eq!(u.authority, "[::1]");
        let u = ServiceUrl::parse("https://[::1]:8443/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8443));
    }

    #[test]
    fn refuses_what_a_backend_url_cannot_be() {
        for bad in [
            "backend.example",
            "ftp://x",
            "https://user:pw@x/",
            "https://x/?q=1",
            "https://x:0/",
            "https://x:99999/",
            "https://x:abc/",
            "https://x:/",
            "",
        ] {
            assert!(ServiceUrl::parse(bad).is_err(), "{bad}");
        }
        let err = ServiceUrl::parse("https://user:secret@x/")
            .unwrap_err()
            .to_string();
        assert!(err.contains("user information"), "{err}");
    }

    #[test]
    fn prefixes_stop_at_segment_boundaries() {
        let base = ServiceUrl::parse("https://b.example/api").unwrap();
        let root = ServiceUrl::parse("https://b.example").unwrap();
        for (url, expected) in [
            ("https://b.example/api", true),
            ("https://b.example/api/v1", true),
            ("https://b.example/apiv2", false),
            ("http://b.example/api", false),
            ("https://b.example:444/api", false),
        ] {
            let u = ServiceUrl::parse(url).unwrap();
            assert_eq!(u.starts_with(&base), expected, "{url}");
            assert_eq!(
                u.starts_with(&root),
                url.starts_with("https://b.example/"),
                "{url}"
            );
        }
    }
}
