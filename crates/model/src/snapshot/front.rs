//! The front door in the snapshot: the host names the TLS listener answers for with their
//! certificates, the CA certificates callers' certificates are checked against, and the
//! compiled `<validate-client-certificate>` checks with what they compare.
//!
//! Checking a caller costs a comparison per request: the facts of the caller's certificate
//! ([`CallerFacts`]) are worked out once per TLS handshake, and a check only compares them.

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_policy::{CertificateFormat, CertificateIdentity, parse_distinguished_name};
use http::HeaderName;
use rustls_pki_types::CertificateDer;

use super::ClientIdentity;
use crate::Problems;
use crate::config::Config;
use crate::entity::hostname::Match;

/// What the TLS listener serves.
#[derive(Debug, Default)]
pub struct Front {
    /// Every hostname configuration.
    pub hostnames: Vec<Arc<HostnameRoute>>,
    /// The one with `defaultSslBinding`, for clients without a known server name.
    pub default: Option<Arc<HostnameRoute>>,
    /// The CA certificates callers' certificates chain to.
    pub caller_trust: Arc<CallerTrust>,
}

impl Front {
    /// The configuration for a client's server name (SNI): an exact name before a wildcard,
    /// else the default binding; `None` when there is neither.
    pub fn find(&self, server_name: Option<&str>) -> Option<&Arc<HostnameRoute>> {
        let by_name = server_name.and_then(|name| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            self.hostnames
                .iter()
                .filter_map(|h| h.matches(&name).map(|m| (m, h)))
                .min_by_key(|(m, _)| *m)
                .map(|(_, h)| h)
        });
        by_name.or(self.default.as_ref())
    }
}

/// One hostname configuration, ready for handshakes.
#[derive(Debug)]
pub struct HostnameRoute {
    /// Entity id.
    pub id: String,
    /// Host name, lower case, exact or `*.`-wildcard.
    pub hostname: String,
    /// The certificate and key presented.
    pub identity: Arc<ClientIdentity>,
    /// Ask callers for a certificate (optional at the TLS level).
    pub negotiate_client_certificate: bool,
    /// Offer `h2` by ALPN.
    pub http2: bool,
    /// Whether this is the default binding.
    pub default: bool,
}

impl HostnameRoute {
    fn matches(&self, name: &str) -> Option<Match> {
        if self.hostname == name {
            return Some(Match::Exact);
        }
        let suffix = self.hostname.strip_prefix('*')?;
        let label = name.strip_suffix(suffix)?;
        (!label.is_empty() && !label.contains('.')).then_some(Match::Wildcard)
    }
}

/// The uploaded CA certificates as trust anchors for callers.
#[derive(Debug, Default)]
pub struct CallerTrust {
    /// Changes whenever the set of CA certificates does: a check made under another epoch is
    /// made again.
    pub epoch: u64,
    /// The CA certificates, DER.
    pub anchors: Vec<CertificateDer<'static>>,
}

impl CallerTrust {
    fn from_config(config: &Config) -> Self {
        use std::hash::{Hash as _, Hasher as _};
        // Not a security digest: it only tells one set of anchors from the next.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut anchors = Vec::with_capacity(config.ca_certificates.len());
        for ca in config.ca_certificates.values() {
            ca.value.der.hash(&mut hasher);
            anchors.push(CertificateDer::from(ca.value.der.clone()));
        }
        Self {
            epoch: hasher.finish(),
            anchors,
        }
    }
}

/// What the handshake showed of a caller's certificate, worked out once per connection.
#[derive(Clone, Debug, Default)]
pub struct CallerFacts {
    /// SHA-1 thumbprint, upper-case hex.
    pub thumbprint: String,
    /// Serial number, upper-case hex without leading zeros.
    pub serial_number: String,
    /// Subject relative names as [`parse_distinguished_name`] reads them.
    pub subject: Vec<(String, String)>,
    /// Issuer relative names.
    pub issuer: Vec<(String, String)>,
    /// DNS names of the subject alternative names, lower case.
    pub dns_names: Vec<String>,
    /// Thumbprints of the certificates that issued it (among those the caller sent and the
    /// uploaded CA certificates).
    pub issuer_thumbprints: Vec<String>,
    /// Public-key digests ([`gatehouse_pki::public_key_digest`]) of those issuers.
    pub issuer_keys: Vec<[u8; 32]>,
    /// Validity, as Unix times.
    pub not_before: i64,
    /// End of validity, as a Unix time.
    pub not_after: i64,
}

impl CallerFacts {
    fn common_name(&self) -> Option<&str> {
        self.subject
            .iter()
            .find(|(kind, _)| kind == "CN")
            .map(|(_, value)| value.as_str())
    }
}

/// Why a caller's certificate was not accepted, as APIM's `context.LastError.Reason` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerRefusal {
    /// No certificate was presented.
    NotFound,
    /// The chain does not end at an uploaded CA certificate.
    NotTrusted,
    /// Its validity has ended.
    Expired,
    /// Its validity has not begun.
    NotYetValid,
    /// No identity of the policy matches.
    IdentityNotMatched,
}

/// A compiled `<validate-client-certificate>`.
#[derive(Debug, Clone)]
pub struct CallerCheck {
    /// The chain must end at an uploaded CA certificate.
    pub validate_trust: bool,
    /// Validity must have begun.
    pub validate_not_before: bool,
    /// Validity must not have ended.
    pub validate_not_after: bool,
    /// A failed check lets the request through.
    pub ignore_error: bool,
    /// One must match, when there are any.
    pub identities: Vec<CallerIdentity>,
    /// Where the element is, for the log: `/apis/a/policies/policy: policies/inbound/...`.
    pub source: String,
}

impl CallerCheck {
    /// Checks a caller: `facts` of its certificate (`None`: it sent none), whether its chain
    /// ends at an uploaded CA certificate, and the time now (Unix seconds).
    ///
    /// # Errors
    /// The first reason the certificate is not accepted, in APIM's order.
    pub fn check(
        &self,
        facts: Option<&CallerFacts>,
        trusted: bool,
        now: i64,
    ) -> Result<(), CallerRefusal> {
        let facts = facts.ok_or(CallerRefusal::NotFound)?;
        if self.validate_trust && !trusted {
            return Err(CallerRefusal::NotTrusted);
        }
        if self.validate_not_before && now < facts.not_before {
            return Err(CallerRefusal::NotYetValid);
        }
        if self.validate_not_after && now > facts.not_after {
            return Err(CallerRefusal::Expired);
        }
        if !self.identities.is_empty() && !self.identities.iter().any(|i| i.matches(facts)) {
            return Err(CallerRefusal::IdentityNotMatched);
        }
        Ok(())
    }
}

/// One compiled `<identity>`: every claim given must hold.
#[derive(Debug, Clone, Default)]
pub struct CallerIdentity {
    /// SHA-1 thumbprint, upper case.
    pub thumbprint: Option<String>,
    /// Serial number, upper-case hex without leading zeros.
    pub serial_number: Option<String>,
    /// Common name, compared without regard to case.
    pub common_name: Option<String>,
    /// Subject relative names, in order.
    pub subject: Option<Vec<(String, String)>>,
    /// A DNS name among the subject alternative names.
    pub dns_name: Option<String>,
    /// Issuer relative names, in order.
    pub issuer_subject: Option<Vec<(String, String)>>,
    /// An issuer's thumbprint, upper case.
    pub issuer_thumbprint: Option<String>,
    /// An issuer's public-key digest (from `issuer-certificate-id`).
    pub issuer_key: Option<[u8; 32]>,
}

impl CallerIdentity {
    /// Whether every claim holds for `facts`.
    pub fn matches(&self, facts: &CallerFacts) -> bool {
        let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        let same_name = |a: &[(String, String)], b: &[(String, String)]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        };
        self.thumbprint
            .as_ref()
            .is_none_or(|t| *t == facts.thumbprint)
            && self
                .serial_number
                .as_ref()
                .is_none_or(|s| *s == facts.serial_number)
            && self
                .common_name
                .as_ref()
                .is_none_or(|cn| facts.common_name().is_some_and(|f| same(cn, f)))
            && self
                .subject
                .as_ref()
                .is_none_or(|s| same_name(s, &facts.subject))
            && self
                .dns_name
                .as_ref()
                .is_none_or(|d| facts.dns_names.iter().any(|f| same(d, f)))
            && self
                .issuer_subject
                .as_ref()
                .is_none_or(|s| same_name(s, &facts.issuer))
            && self
                .issuer_thumbprint
                .as_ref()
                .is_none_or(|t| facts.issuer_thumbprints.contains(t))
            && self
                .issuer_key
                .as_ref()
                .is_none_or(|k| facts.issuer_keys.contains(k))
    }
}

/// A header `<forward-client-certificate>` fills with the caller's certificate.
#[derive(Debug, Clone)]
pub struct CallerHeader {
    /// The header.
    pub name: HeaderName,
    /// How the certificate is written.
    pub format: CertificateFormat,
}

/// Compiles the front door: hostname configurations against the certificates that exist.
pub(super) fn compile(
    config: &Config,
    certificates: &BTreeMap<String, Arc<ClientIdentity>>,
    problems: &mut Problems,
) -> Front {
    let mut hostnames = Vec::with_capacity(config.hostnames.len());
    let mut default: Option<Arc<HostnameRoute>> = None;
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for (id, h) in &config.hostnames {
        let h = &h.value;
        let target = format!("/hostnameConfigurations/{id}");
        if let Some(other) = names.insert(&h.hostname, id) {
            problems.push(
                "HostnameInUse",
                format!("{target}: properties.hostName"),
                format!(
                    "hostname configuration '{other}' already answers for '{}'",
                    h.hostname
                ),
            );
            continue;
        }
        let Some(identity) = certificates.get(&h.certificate_id) else {
            problems.push(
                "CertificateNotFound",
                format!("{target}: properties.certificateId"),
                format!(
                    "certificate '{}' does not exist (or its key cannot be used); upload it \
                     first, with its private key",
                    h.certificate_id
                ),
            );
            continue;
        };
        if let Err(why) = names_host(identity, &h.hostname) {
            problems.push(
                "HostnameNotInCertificate",
                format!("{target}: properties.certificateId"),
                format!(
                    "certificate '{}' does not name '{}' ({why}); callers would refuse it",
                    h.certificate_id, h.hostname
                ),
            );
            continue;
        }
        let route = Arc::new(HostnameRoute {
            id: id.clone(),
            hostname: h.hostname.clone(),
            identity: Arc::clone(identity),
            negotiate_client_certificate: h.negotiate_client_certificate,
            http2: h.http2_enabled,
            default: h.default_ssl_binding,
        });
        if h.default_ssl_binding {
            if let Some(first) = &default {
                problems.push(
                    "DefaultSslBindingInUse",
                    format!("{target}: properties.defaultSslBinding"),
                    format!(
                        "hostname configuration '{}' is already the default binding; only one \
                         may be",
                        first.id
                    ),
                );
            } else {
                default = Some(Arc::clone(&route));
            }
        }
        hostnames.push(route);
    }
    Front {
        hostnames,
        default,
        caller_trust: Arc::new(CallerTrust::from_config(config)),
    }
}

/// Whether the certificate's subject alternative names (or, without any DNS name, its common
/// name) cover `hostname`; a wildcard hostname needs the same wildcard in the certificate.
fn names_host(identity: &ClientIdentity, hostname: &str) -> Result<(), String> {
    let leaf = identity
        .certified_key
        .cert
        .first()
        .ok_or_else(|| "it has no certificate".to_string())?;
    let info = gatehouse_pki::certificate_info(leaf.as_ref()).map_err(|e| e.to_string())?;
    let dns: Vec<String> = info
        .subject_alternative_names
        .iter()
        .filter_map(|n| n.strip_prefix("DNS:"))
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let names = if dns.is_empty() {
        parse_distinguished_name(&info.subject)
            .unwrap_or_default()
            .into_iter()
            .filter(|(kind, _)| kind == "CN")
            .map(|(_, v)| v.to_ascii_lowercase())
            .collect()
    } else {
        dns
    };
    let covers = |name: &String| {
        name == hostname
            || name.strip_prefix("*.").is_some_and(|suffix| {
                hostname
                    .split_once('.')
                    .is_some_and(|(label, rest)| label != "*" && rest == suffix)
            })
    };
    if names.iter().any(covers) {
        Ok(())
    } else {
        Err(format!("it names {}", names.join(", ")))
    }
}

/// Compiles the `<validate-client-certificate>` of a policy: identities resolved, names
/// parsed, `issuer-certificate-id` turned into the CA's key.
pub(super) fn caller_check(
    config: &Config,
    spec: &CallerCheckSpec<'_>,
    source: String,
    problems: &mut Problems,
) -> Option<CallerCheck> {
    let mut identities = Vec::with_capacity(spec.identities.len());
    for i in spec.identities {
        let issuer_key = match &i.issuer_certificate_id {
            None => None,
            Some(id) => match config
                .ca_certificates
                .get(id)
                .map(|ca| gatehouse_pki::public_key_digest(&ca.value.der))
            {
                Some(Ok(key)) => Some(key),
                Some(Err(e)) => {
                    problems.push("InvalidCertificate", source.clone(), e.to_string());
                    return None;
                }
                None => {
                    problems.push(
                        "CaCertificateNotFound",
                        source.clone(),
                        format!(
                            "CA certificate '{id}' does not exist; upload it first, or fix \
                             issuer-certificate-id"
                        ),
                    );
                    return None;
                }
            },
        };
        identities.push(CallerIdentity {
            thumbprint: i.thumbprint.clone(),
            serial_number: i.serial_number.clone(),
            common_name: i.common_name.clone(),
            subject: i.subject.as_deref().and_then(parse_distinguished_name),
            dns_name: i.dns_name.clone(),
            issuer_subject: i
                .issuer_subject
                .as_deref()
                .and_then(parse_distinguished_name),
            issuer_thumbprint: i.issuer_thumbprint.clone(),
            issuer_key,
        });
    }
    Some(CallerCheck {
        validate_trust: spec.validate_trust,
        validate_not_before: spec.validate_not_before,
        validate_not_after: spec.validate_not_after,
        ignore_error: spec.ignore_error,
        identities,
        source,
    })
}

/// The parts of a `Statement::ValidateClientCertificate` a check compiles from.
pub(super) struct CallerCheckSpec<'a> {
    pub(super) validate_trust: bool,
    pub(super) validate_not_before: bool,
    pub(super) validate_not_after: bool,
    pub(super) ignore_error: bool,
    pub(super) identities: &'a [CertificateIdentity],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> CallerFacts {
        CallerFacts {
            thumbprint: "AB".repeat(20),
            serial_number: "1F".into(),
            subject: parse_distinguished_name("CN=client-a, O=\"Bars, Inc.\"").unwrap(),
            issuer: parse_distinguished_name("CN=Test CA, O=Bars").unwrap(),
            dns_names: vec!["client-a.example".into()],
            issuer_thumbprints: vec!["CD".repeat(20)],
            issuer_keys: vec![[7; 32]],
            not_before: 100,
            not_after: 200,
        }
    }

    fn check(identities: Vec<CallerIdentity>) -> CallerCheck {
        CallerCheck {
            validate_trust: true,
            validate_not_before: true,
            validate_not_after: true,
            ignore_error: false,
            identities,
            source: String::new(),
        }
    }

    #[test]
    fn checks_fail_in_apim_order() {
        let f = facts();
        let c = check(Vec::new());
        assert_eq!(c.check(None, true, 150), Err(CallerRefusal::NotFound));
        assert_eq!(
            c.check(Some(&f), false, 150),
            Err(CallerRefusal::NotTrusted)
        );
        assert_eq!(c.check(Some(&f), true, 50), Err(CallerRefusal::NotYetValid));
        assert_eq!(c.check(Some(&f), true, 250), Err(CallerRefusal::Expired));
        assert_eq!(c.check(Some(&f), true, 150), Ok(()));
        let lenient = CallerCheck {
            validate_trust: false,
            validate_not_before: false,
            validate_not_after: false,
            ..check(Vec::new())
        };
        assert_eq!(lenient.check(Some(&f), false, 250), Ok(()));
    }

    #[test]
    fn an_identity_matches_when_every_claim_holds() {
        let f = facts();
        let names = |s: &str| parse_distinguished_name(s);
        let matching = [
            CallerIdentity {
                thumbprint: Some("AB".repeat(20)),
                ..Default::default()
            },
            CallerIdentity {
                common_name: Some("CLIENT-A".into()),
                serial_number: Some("1F".into()),
                ..Default::default()
            },
            CallerIdentity {
                subject: names("cn=Client-A,O=\"bars, inc.\""),
                issuer_subject: names("CN=Test CA, O=Bars"),
                ..Default::default()
            },
            CallerIdentity {
                dns_name: Some("Client-A.Example".into()),
                issuer_thumbprint: Some("CD".repeat(20)),
                issuer_key: Some([7; 32]),
                ..Default::default()
            },
        ];
        for i in &matching {
            assert!(i.matches(&f), "{i:?}");
        }
        let failing = [
            CallerIdentity {
                thumbprint: Some("AB".repeat(20)),
                common_name: Some("other".into()),
                ..Default::default()
            },
            CallerIdentity {
                subject: names("CN=client-a"),
                ..Default::default()
            },
            CallerIdentity {
                issuer_key: Some([8; 32]),
                ..Default::default()
            },
            CallerIdentity {
                dns_name: Some("other.example".into()),
                ..Default::default()
            },
        ];
        for i in &failing {
            assert!(!i.matches(&f), "{i:?}");
        }
        assert_eq!(
            check(failing.to_vec()).check(Some(&f), true, 150),
            Err(CallerRefusal::IdentityNotMatched)
        );
        assert_eq!(
            check(vec![failing[0].clone(), matching[1].clone()]).check(Some(&f), true, 150),
            Ok(())
        );
    }
}
