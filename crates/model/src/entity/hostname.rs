//! Gateway hostname configurations (APIM's `hostnameConfigurations`): a host name the TLS
//! listener answers for, the certificate it presents there, and how it treats callers.

use serde::{Deserialize, Serialize};

use super::{Record, decode_body};
use crate::{Kind, ModelError, Problems};

/// Longest host name (RFC 1035's 253 characters of a name in text form).
const MAX_HOSTNAME_LEN: usize = 253;

/// Properties of a hostname configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostnameProperties {
    /// APIM's hostname type; only `Proxy` (the gateway) is served here. Kept when given.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The host name, lower case: exact (`api.example.com`) or a wildcard of one leftmost
    /// label (`*.example.com`). APIM spells it `hostName`; `hostname` is accepted too.
    #[serde(rename = "hostName", alias = "hostname")]
    pub hostname: String,
    /// The certificate (with its private key) the listener presents for this name.
    pub certificate_id: String,
    /// Ask callers for a client certificate during the handshake. Optional at the TLS level:
    /// policies decide per API (`validate-client-certificate`).
    #[serde(default)]
    pub negotiate_client_certificate: bool,
    /// Offer HTTP/2 (ALPN `h2`) besides HTTP/1.1 (default true).
    #[serde(default = "yes")]
    pub http2_enabled: bool,
    /// The configuration for clients that send no server name, or one no configuration
    /// matches; at most one configuration has it.
    #[serde(default)]
    pub default_ssl_binding: bool,
}

fn yes() -> bool {
    true
}

impl HostnameProperties {
    /// Parses and normalises the `properties` of a `PUT /hostnameConfigurations/{id}`.
    /// References (the certificate, one default binding, one configuration per name) are
    /// checked when the snapshot compiles.
    ///
    /// # Errors
    /// `InvalidProperty` naming each field that is wrong.
    pub fn from_input(properties: serde_json::Value) -> Result<Self, ModelError> {
        let mut h: HostnameProperties = super::from_properties(properties)?;
        let mut problems = Problems::default();
        let hostname = h.hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        if let Err(why) = check_hostname(&hostname) {
            problems.push(
                "InvalidProperty",
                "properties.hostName",
                format!("'{}' {why}", crate::printable(&h.hostname)),
            );
        }
        h.hostname = hostname;
        if let Some(kind) = &h.kind
            && !kind.eq_ignore_ascii_case("proxy")
        {
            problems.push(
                "NotSupported",
                "properties.type",
                format!(
                    "'{}' hostnames are not served by Gatehouse; only Proxy (the gateway) is",
                    crate::printable(kind)
                ),
            );
        }
        if !crate::is_valid_id(&h.certificate_id) {
            problems.push(
                "InvalidIdentifier",
                "properties.certificateId",
                format!(
                    "'{}' is not a valid certificate id",
                    crate::printable(&h.certificate_id)
                ),
            );
        }
        problems.into_result("the hostname configuration is not valid")?;
        Ok(h)
    }

    /// Whether this configuration answers for `name` (lower case, no trailing dot) by itself,
    /// and how: an exact name before a wildcard.
    pub fn matches(&self, name: &str) -> Option<Match> {
        if self.hostname == name {
            return Some(Match::Exact);
        }
        let suffix = self.hostname.strip_prefix('*')?;
        // One label only: `*.example.com` covers `a.example.com`, not `a.b.example.com`.
        let label = name.strip_suffix(suffix)?;
        (!label.is_empty() && !label.contains('.')).then_some(Match::Wildcard)
    }

    /// The stored form.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn to_record(&self, id: &str, revision: u64) -> Result<Record, ModelError> {
        super::plain_record(Kind::Hostname, id, revision, self)
    }

    /// Reads a configuration back from its record.
    ///
    /// # Errors
    /// An internal error when the body is not a hostname configuration.
    pub fn from_record(record: &Record) -> Result<Self, ModelError> {
        decode_body(record)
    }
}

/// How a configuration's host name matched a server name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    /// The name itself.
    Exact,
    /// The wildcard's one label.
    Wildcard,
}

/// Checks a lower-case host name: DNS labels of letters, digits and hyphens, 1 to 63
/// characters each, not starting or ending with a hyphen; optionally `*.` first.
fn check_hostname(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > MAX_HOSTNAME_LEN {
        return Err("is longer than 253 characters");
    }
    let rest = name.strip_prefix("*.").unwrap_or(name);
    if rest.contains('*') {
        return Err("may hold '*' only as its whole first label (*.example.com)");
    }
    let labels: Vec<&str> = rest.split('.').collect();
    if name.starts_with("*.") && labels.len() < 2 {
        return Err("is a wildcard over a top-level domain; name at least two labels after '*.'");
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err("has an empty label or one longer than 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a label that starts or ends with '-'");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(
                "may hold only letters, digits, '-', '_' and '.' (an IP address is not a host name; use defaultSslBinding)",
            );
        }
    }
    if rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(
            "is an IP address, which clients do not send as a server name; use defaultSslBinding",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(hostname: &str) -> Result<HostnameProperties, ModelError> {
        HostnameProperties::from_input(json!({"hostname": hostname, "certificateId": "c"}))
    }

    #[test]
    fn names_are_normalised_and_checked() {
        let h = HostnameProperties::from_input(
            json!({"hostName": "API.Example.COM.", "certificateId": "c", "type": "Proxy"}),
        )
        .unwrap();
        assert_eq!(h.hostname, "api.example.com");
        assert!(h.http2_enabled && !h.negotiate_client_certificate && !h.default_ssl_binding);
        assert_eq!(parse("*.example.com").unwrap().hostname, "*.example.com");
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a-.b",
            "*.com",
            "a.*.b",
            "*a.b.c",
            "a b.c",
            "10.0.0.1",
            &format!("{}.com", "a".repeat(64)),
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.details()[0].target, "properties.hostName", "{bad}");
        }
        let err = HostnameProperties::from_input(json!({"hostname": "a.b", "certificateId": "-x"}))
            .unwrap_err();
        assert_eq!(err.details()[0].target, "properties.certificateId");
        let err = HostnameProperties::from_input(
            json!({"hostname": "a.b", "certificateId": "c", "keyVaultId": "x"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("keyVaultId"), "{err}");
        let err = HostnameProperties::from_input(
            json!({"hostname": "a.b", "certificateId": "c", "type": "Portal"}),
        )
        .unwrap_err();
        assert_eq!(err.details()[0].code, "NotSupported");
    }

    #[test]
    fn exact_names_and_one_label_wildcards_match() {
        let exact = parse("api.example.com").unwrap();
        let wild = parse("*.example.com").unwrap();
        assert_eq!(exact.matches("api.example.com"), Some(Match::Exact));
        assert_eq!(exact.matches("x.example.com"), None);
        assert_eq!(wild.matches("api.example.com"), Some(Match::Wildcard));
        assert_eq!(wild.matches("a.b.example.com"), None);
        assert_eq!(wild.matches("example.com"), None);
        assert_eq!(wild.matches(".example.com"), None);
        assert!(Match::Exact < Match::Wildcard);
    }
}
