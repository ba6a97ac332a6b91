//! Back ends: where an API forwards, how the gateway trusts it, and what it presents to it.

use std::collections::BTreeMap;
use std::fmt;

use gatehouse_pki::MasterKey;
use gatehouse_policy::MASK;
use serde::{Deserialize, Serialize};

use super::{Record, check_text, decode_body, encode_body, open_json, seal_json};
use crate::url::{Scheme, ServiceUrl};
use crate::{Kind, ModelError, Problems, is_valid_id};

/// Properties of a back end (APIM's contract, with `tls.caCertificateIds` and
/// `tls.serverCertificateThumbprints` added).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendProperties {
    /// Base URL of the service; APIs whose service URL starts with it use this back end.
    pub url: String,
    /// Always `http`; APIM's other value, `soap`, is refused with `NotSupported`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// Short name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the gateway presents to this back end.
    #[serde(default)]
    pub credentials: BackendCredentials,
    /// How the gateway checks this back end's certificate.
    #[serde(default)]
    pub tls: BackendTls,
    /// How the gateway keeps connections to this back end.
    #[serde(default)]
    pub pool: BackendPool,
}

/// Connection pool settings of a back end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendPool {
    /// Idle connections kept per origin; 0 opens a new connection for every request.
    #[serde(default = "default_max_idle")]
    pub max_idle_connections: u32,
    /// Seconds an idle connection is kept before it is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u32,
}

fn default_max_idle() -> u32 {
    256
}

fn default_idle_timeout() -> u32 {
    90
}

impl Default for BackendPool {
    fn default() -> Self {
        Self {
            max_idle_connections: default_max_idle(),
            idle_timeout_seconds: default_idle_timeout(),
        }
    }
}

fn default_protocol() -> String {
    "http".into()
}

/// Credentials the gateway presents to a back end.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendCredentials {
    /// Client certificates, by id, offered in the TLS handshake.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_ids: Vec<String>,
    /// Headers added to every request (secret: shown masked).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, Vec<String>>,
    /// An `Authorization` header (its parameter is secret: shown masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
}

/// The `Authorization` header a back end receives: `{scheme} {parameter}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorization {
    /// e.g. `Basic` or `Bearer`.
    pub scheme: String,
    /// The credential itself.
    pub parameter: String,
}

/// TLS settings for a back end.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendTls {
    /// Check that the back end's certificate chains to a trusted root (default true).
    #[serde(default = "yes")]
    pub validate_certificate_chain: bool,
    /// Check that the back end's certificate names the host (default true).
    #[serde(default = "yes")]
    pub validate_certificate_name: bool,
    /// When set, the chain must end at one of these CA certificates instead of the system roots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificate_ids: Vec<String>,
    /// When set, the back end's leaf certificate must have one of these thumbprints (SHA-1,
    /// 40 hex digits, as certificates are listed; or SHA-256, 64). A pin narrows trust and
    /// never replaces the other checks: with `validateCertificateChain` on, the chain must
    /// verify too; with it off, the pin alone is what the leaf is trusted by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_certificate_thumbprints: Vec<String>,
    /// Resume TLS sessions on new connections (default true); false makes every new
    /// connection a full handshake.
    #[serde(default = "yes")]
    pub session_resumption: bool,
}

/// Which stored value a masked header value keeps: `******` keeps the value at its own
/// position, `******#N` the N-th stored value (1-based), so a client that removes or reorders
/// masked values of a repeated header keeps the ones it means.
fn masked_position(value: &str, position: usize) -> Option<usize> {
    if value == MASK {
        return Some(position);
    }
    value
        .strip_prefix(MASK)?
        .strip_prefix('#')?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

fn yes() -> bool {
    true
}

impl Default for BackendTls {
    fn default() -> Self {
        Self {
            validate_certificate_chain: true,
            validate_certificate_name: true,
            ca_certificate_ids: Vec::new(),
            server_certificate_thumbprints: Vec::new(),
            session_resumption: true,
        }
    }
}

impl fmt::Debug for BackendProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendProperties")
            .field("url", &self.url)
            .field("certificate_ids", &self.credentials.certificate_ids)
            .field(
                "headers",
                &self.credentials.header.keys().collect::<Vec<_>>(),
            )
            .field("authorization", &self.credentials.authorization.is_some())
            .field("validate_chain", &self.tls.validate_certificate_chain)
            .field("validate_name", &self.tls.validate_certificate_name)
            .finish_non_exhaustive()
    }
}

/// The secret part of a back end, sealed in its record.
#[derive(Default, Serialize, Deserialize)]
struct Secrets {
    header: BTreeMap<String, Vec<String>>,
    authorization_parameter: Option<String>,
}

/// Headers a back-end credential may not set: the gateway owns them.
const RESERVED_HEADERS: [&str; 7] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
];

const MAX_CERTIFICATES: usize = 10;

impl BackendProperties {
    /// Parses the `properties` of a `PUT /backends/{id}`; masked secrets keep the values of
    /// `previous` (what a client that read the back end and changed something else sends).
    ///
    /// # Errors
    /// `InvalidProperty` (or `BackendSecretMasked`) naming every field that is wrong.
    pub fn from_input(
        properties: serde_json::Value,
        previous: Option<&BackendProperties>,
    ) -> Result<Self, ModelError> {
        let mut b: BackendProperties = super::from_properties(properties)?;
        let mut problems = Problems::default();
        b.restore_masked(previous, &mut problems);
        b.check(&mut problems);
        problems.into_result("the backend is not valid")?;
        Ok(b)
    }

    /// The parsed URL. Valid for every stored back end: checked at save time.
    ///
    /// # Errors
    /// Only for a back end that was never validated.
    pub fn service_url(&self) -> Result<ServiceUrl, crate::url::UrlError> {
        ServiceUrl::parse(&self.url)
    }

    fn restore_masked(&mut self, previous: Option<&BackendProperties>, problems: &mut Problems) {
        let prev = previous.map(|p| &p.credentials);
        for (name, values) in &mut self.credentials.header {
            for (i, value) in values.iter_mut().enumerate() {
                let Some(position) = masked_position(value, i) else {
                    continue;
                };
                let old = prev.and_then(|c| {
                    c.header
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .and_then(|(_, v)| v.get(position))
                });
                match old {
                    Some(old) => *value = old.clone(),
                    None => problems.push(
                        "BackendSecretMasked",
                        format!("properties.credentials.header.{name}[{i}]"),
                        "is the mask; send the real value (the mask only keeps a value that is \
                         already stored)",
                    ),
                }
            }
        }
        if let Some(auth) = &mut self.credentials.authorization
            && auth.parameter == MASK
        {
            {
                match prev.and_then(|c| c.authorization.as_ref()) {
                    Some(old) => auth.parameter = old.parameter.clone(),
                    None => problems.push(
                        "BackendSecretMasked",
                        "properties.credentials.authorization.parameter",
                        "is the mask; send the real value (the mask only keeps a value that is \
                         already stored)",
                    ),
                }
            }
        }
    }

    fn check(&mut self, problems: &mut Problems) {
        let url = match ServiceUrl::parse(&self.url) {
            Ok(u) => Some(u),
            Err(e) => {
                problems.push("InvalidProperty", "properties.url", e.to_string());
                None
            }
        };
        match self.protocol.as_str() {
            "http" => {}
            "soap" => problems.push(
                crate::NOT_SUPPORTED,
                "properties.protocol",
                "SOAP back ends are not supported: the gateway forwards plain HTTP; send \"http\"",
            ),
            _ => problems.push("InvalidProperty", "properties.protocol", "must be \"http\""),
        }
        check_text(self.title.as_deref(), "properties.title", 300, problems);
        check_text(
            self.description.as_deref(),
            "properties.description",
            4000,
            problems,
        );
        let creds = &self.credentials;
        if creds.certificate_ids.len() > MAX_CERTIFICATES {
            problems.push(
                "InvalidProperty",
                "properties.credentials.certificateIds",
                format!("at most {MAX_CERTIFICATES} certificates"),
            );
        }
        for (i, id) in creds.certificate_ids.iter().enumerate() {
            if !is_valid_id(id) {
                problems.push(
                    "InvalidIdentifier",
                    format!("properties.credentials.certificateIds[{i}]"),
                    format!("'{}' is not a valid certificate id", crate::printable(id)),
                );
            }
        }
        let mut seen: Vec<String> = Vec::new();
        for (name, values) in &creds.header {
            let target = format!("properties.credentials.header.{}", crate::printable(name));
            let lower = name.to_ascii_lowercase();
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push("InvalidProperty", &target, "is not a valid header name");
            } else if RESERVED_HEADERS.contains(&lower.as_str()) {
                problems.push(
                    "InvalidProperty",
                    &target,
                    "is set by the gateway and cannot be a credential",
                );
            }
            if seen.contains(&lower) {
                problems.push(
                    "InvalidProperty",
                    &target,
                    "appears twice (header names ignore case)",
                );
            }
            seen.push(lower);
            if values.is_empty() {
                problems.push("InvalidProperty", &target, "needs at least one value");
            }
            for (i, v) in values.iter().enumerate() {
                if http::HeaderValue::from_str(v).is_err() {
                    problems.push(
                        "InvalidProperty",
                        format!("{target}[{i}]"),
                        "is not a valid header value (no control characters or line breaks)",
                    );
                }
            }
        }
        if let Some(auth) = &creds.authorization {
            if auth.scheme.is_empty()
                || http::HeaderName::from_bytes(auth.scheme.as_bytes()).is_err()
            {
                problems.push(
                    "InvalidProperty",
                    "properties.credentials.authorization.scheme",
                    "must be a single word such as Basic or Bearer",
                );
            }
            if http::HeaderValue::from_str(&auth.parameter).is_err() {
                problems.push(
                    "InvalidProperty",
                    "properties.credentials.authorization.parameter",
                    "is not a valid header value",
                );
            }
            if creds
                .header
                .keys()
                .any(|n| n.eq_ignore_ascii_case("authorization"))
            {
                problems.push(
                    "InvalidProperty",
                    "properties.credentials.authorization",
                    "conflicts with the Authorization header in credentials.header; keep one",
                );
            }
        }
        let tls = &mut self.tls;
        for (i, id) in tls.ca_certificate_ids.iter().enumerate() {
            if !is_valid_id(id) {
                problems.push(
                    "InvalidIdentifier",
                    format!("properties.tls.caCertificateIds[{i}]"),
                    format!(
                        "'{}' is not a valid CA certificate id",
                        crate::printable(id)
                    ),
                );
            }
        }
        for (i, pin) in tls.server_certificate_thumbprints.iter_mut().enumerate() {
            let clean: String = pin.chars().filter(|c| *c != ':').collect();
            if matches!(clean.len(), 40 | 64) && clean.bytes().all(|b| b.is_ascii_hexdigit()) {
                *pin = clean.to_ascii_uppercase();
            } else {
                problems.push(
                    "InvalidProperty",
                    format!("properties.tls.serverCertificateThumbprints[{i}]"),
                    "must be a SHA-1 thumbprint (40 hexadecimal characters) or a SHA-256 one (64)",
                );
            }
        }
        if self.pool.max_idle_connections > 100_000 {
            problems.push(
                "InvalidProperty",
                "properties.pool.maxIdleConnections",
                "must be at most 100000",
            );
        }
        if !(1..=86_400).contains(&self.pool.idle_timeout_seconds) {
            problems.push(
                "InvalidProperty",
                "properties.pool.idleTimeoutSeconds",
                "must be between 1 and 86400",
            );
        }
        if !tls.validate_certificate_chain && !tls.ca_certificate_ids.is_empty() {
            problems.push(
                "InvalidProperty",
                "properties.tls.caCertificateIds",
                "has no effect while validateCertificateChain is false; remove one of the two",
            );
        }
        if let Some(url) = url {
            let tls_configured = !creds.certificate_ids.is_empty()
                || !tls.ca_certificate_ids.is_empty()
                || !tls.server_certificate_thumbprints.is_empty()
                || !tls.validate_certificate_chain
                || !tls.validate_certificate_name
                || !tls.session_resumption;
            if url.scheme == Scheme::Http && tls_configured {
                problems.push(
                    "InvalidProperty",
                    "properties.url",
                    "is http://, but certificates and TLS settings only apply to https:// back ends",
                );
            }
        }
    }

    /// Whether this back end changes how traffic to its URL is secured (credentials, TLS or
    /// pool settings other than the defaults). Deleting such a back end changes the APIs that
    /// reach it by URL, so it is refused while they do.
    pub fn shapes_traffic(&self) -> bool {
        self.credentials != BackendCredentials::default()
            || self.tls != BackendTls::default()
            || self.pool != BackendPool::default()
    }

    /// A copy with every secret replaced by the mask: what responses and the record body hold.
    pub fn masked(&self) -> BackendProperties {
        let mut out = self.clone();
        for values in out.credentials.header.values_mut() {
            for v in values.iter_mut() {
                *v = MASK.to_string();
            }
        }
        if let Some(auth) = &mut out.credentials.authorization {
            auth.parameter = MASK.to_string();
        }
        out
    }

    /// The stored form: masked body, secrets sealed.
    ///
    /// # Errors
    /// When encoding or sealing fails.
    pub fn to_record(
        &self,
        id: &str,
        revision: u64,
        master: &MasterKey,
    ) -> Result<Record, ModelError> {
        let secrets = Secrets {
            header: self.credentials.header.clone(),
            authorization_parameter: self
                .credentials
                .authorization
                .as_ref()
                .map(|a| a.parameter.clone()),
        };
        let has_secrets = !secrets.header.is_empty() || secrets.authorization_parameter.is_some();
        Ok(Record {
            kind: Kind::Backend,
            key: id.to_string(),
            revision,
            body: encode_body(&self.masked())?,
            sealed: if has_secrets {
                Some(seal_json(master, Kind::Backend, id, revision, &secrets)?)
            } else {
                None
            },
        })
    }

    /// Reads a back end back from its record, opening its secrets.
    ///
    /// # Errors
    /// an internal error, or an open failure when the master key is wrong.
    pub fn from_record(record: &Record, master: &MasterKey) -> Result<Self, ModelError> {
        let mut b: BackendProperties = decode_body(record)?;
        if let Some(sealed) = &record.sealed {
            let secrets: Secrets =
                open_json(master, Kind::Backend, &record.key, record.revision, sealed)?;
            b.credentials.header = secrets.header;
            if let (Some(auth), Some(p)) = (
                &mut b.credentials.authorization,
                secrets.authorization_parameter,
            ) {
                auth.parameter = p;
            }
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> MasterKey {
        MasterKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn defaults_validate_everything() {
        let b = BackendProperties::from_input(json!({"url": "https://b.example"}), None).unwrap();
        assert!(b.tls.validate_certificate_chain && b.tls.validate_certificate_name);
        assert_eq!(b.protocol, "http");
    }

    #[test]
    fn soap_back_ends_are_refused_as_not_supported() {
        let err = BackendProperties::from_input(
            json!({"url": "https://b.example", "protocol": "soap"}),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code(), "NotSupported");
        assert_eq!(err.details()[0].target, "properties.protocol");
        let err = BackendProperties::from_input(
            json!({"url": "https://b.example", "protocol": "ftp"}),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code(), "InvalidProperty");
    }

    #[test]
    fn secrets_are_masked_sealed_and_restored() {
        let input = json!({
            "url": "https://b.example",
            "credentials": {
                "header": {"x-api-key": ["k-123"]},
                "authorization": {"scheme": "Bearer", "parameter": "tok-456"}
            }
        });
        let b = BackendProperties::from_input(input, None).unwrap();
        let record = b.to_record("b1", 3, &key()).unwrap();
        assert!(!record.body.contains("k-123") && !record.body.contains("tok-456"));
        let sealed = record.sealed.as_ref().unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"k-123"));
        assert_eq!(BackendProperties::from_record(&record, &key()).unwrap(), b);
        assert!(!format!("{b:?}").contains("k-123"));

        // What a client sends back after reading the masked entity keeps the secrets.
        let masked = serde_json::to_value(b.masked()).unwrap();
        let again = BackendProperties::from_input(masked.clone(), Some(&b)).unwrap();
        assert_eq!(again, b);
        // Without a stored value the mask is refused.
        let err = BackendProperties::from_input(masked, None).unwrap_err();
        assert_eq!(err.code(), "ValidationError");
        assert!(
            err.details()
                .iter()
                .all(|d| d.code == "BackendSecretMasked")
        );
    }

    #[test]
    fn numbered_masks_keep_the_value_they_name() {
        let input = json!({"url": "https://b.example",
            "credentials": {"header": {"x-key": ["first", "second", "third"]}}});
        let stored = BackendProperties::from_input(input, None).unwrap();
        // The client dropped the first value and kept the other two by number.
        let edit = json!({"url": "https://b.example",
            "credentials": {"header": {"x-key": ["******#3", "******#2", "new"]}}});
        let b = BackendProperties::from_input(edit, Some(&stored)).unwrap();
        assert_eq!(b.credentials.header["x-key"], ["third", "second", "new"]);
        // A number with nothing stored behind it is refused, not guessed.
        for bad in ["******#4", "******#0"] {
            let edit = json!({"url": "https://b.example",
                "credentials": {"header": {"x-key": [bad]}}});
            let err = BackendProperties::from_input(edit, Some(&stored));
            if bad == "******#0" {
                // Not a mask at all: stored as typed (it is a value like any other).
                assert_eq!(err.unwrap().credentials.header["x-key"], [bad]);
            } else {
                assert_eq!(err.unwrap_err().details()[0].code, "BackendSecretMasked");
            }
        }
    }

    #[test]
    fn contradictions_and_bad_values_are_named() {
        let err = BackendProperties::from_input(
            json!({
                "url": "http://b.example",
                "credentials": {"certificateIds": ["c1"], "header": {"Host": ["x"]}},
                "tls": {"validateCertificateChain": false, "caCertificateIds": ["ca"],
                        "serverCertificateThumbprints": ["xyz"]}
            }),
            None,
        )
        .unwrap_err();
        let targets: Vec<_> = err.details().iter().map(|d| d.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "properties.credentials.header.Host",
                "properties.tls.serverCertificateThumbprints[0]",
                "properties.tls.caCertificateIds",
                "properties.url",
            ]
        );
    }

    #[test]
    fn pins_are_normalised() {
        let sha256 = "0f".repeat(32);
        let b = BackendProperties::from_input(
            json!({"url": "https://b.example", "tls": {"serverCertificateThumbprints":
                ["ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01", sha256]}}),
            None,
        )
        .unwrap();
        assert_eq!(
            b.tls.server_certificate_thumbprints,
            [
                "ABCDEF0123456789ABCDEF0123456789ABCDEF01".to_string(),
                "0F".repeat(32)
            ]
        );
        for wrong in ["ab".repeat(21), "ab".repeat(31), "ab".repeat(33)] {
            let refused = BackendProperties::from_input(
                json!({"url": "https://b.example", "tls": {"serverCertificateThumbprints": [wrong]}}),
                None,
            );
            assert!(refused.is_err(), "{wrong}");
        }
    }
}
