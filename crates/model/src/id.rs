//! Entity ids and the kinds of entity they name.

use crate::ModelError;

/// Longest id accepted, as APIM's resource names.
pub const MAX_ID_LEN: usize = 80;

/// Checks an entity id: 1 to 80 characters of `[A-Za-z0-9._-]`, starting with a letter or digit.
///
/// # Errors
/// `InvalidIdentifier` naming `target` when the id breaks the rule.
pub fn validate_id(id: &str, target: &str) -> Result<(), ModelError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ModelError::invalid_field(
            "InvalidIdentifier",
            target,
            format!(
                "'{}' is not a valid id: use 1 to {MAX_ID_LEN} characters of letters, digits, \
                 '.', '_' or '-', starting with a letter or digit",
                printable(id)
            ),
        ))
    }
}

/// Whether `id` is a valid entity id (see [`validate_id`]). The policy core owns the rule, so
/// ids in policy attributes and in URLs are checked alike.
pub fn is_valid_id(id: &str) -> bool {
    gatehouse_policy::is_valid_entity_id(id)
}

/// Shortens and sanitises user text before it is echoed in an error message.
pub fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 100 {
        out.push('…');
    }
    out
}

/// The kinds of entity the configuration holds; the store keys rows by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A client certificate with its private key.
    Certificate,
    /// A CA certificate back ends may trust.
    CaCertificate,
    /// A back-end service with TLS settings and credentials.
    Backend,
    /// An API exposed by the gateway.
    Api,
    /// An operation of an API.
    Operation,
    /// A policy document at global, API or operation scope.
    Policy,
    /// A host name the gateway's TLS listener answers for, with its certificate.
    Hostname,
    /// A named management token (its hash and role).
    Token,
}

impl Kind {
    /// Every kind, in the order a configuration is loaded (referenced before referencing).
    pub const ALL: [Kind; 8] = [
        Kind::Certificate,
        Kind::CaCertificate,
        Kind::Backend,
        Kind::Api,
        Kind::Operation,
        Kind::Policy,
        Kind::Hostname,
        Kind::Token,
    ];

    /// The stable name the store uses for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Certificate => "certificate",
            Kind::CaCertificate => "caCertificate",
            Kind::Backend => "backend",
            Kind::Api => "api",
            Kind::Operation => "operation",
            Kind::Policy => "policy",
            Kind::Hostname => "hostnameConfiguration",
            Kind::Token => "token",
        }
    }

    /// The kind a store name stands for.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind in words, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Certificate => "certificate",
            Kind::CaCertificate => "CA certificate",
            Kind::Backend => "backend",
            Kind::Api => "API",
            Kind::Operation => "operation",
            Kind::Policy => "policy",
            Kind::Hostname => "hostname configuration",
            Kind::Token => "token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_rule() {
        for ok in ["a", "A1", "0cert", "my-cert_v1.2", &"x".repeat(80)] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "a b",
            "a/b",
            "é",
            &"x".repeat(81),
            "a\n",
        ] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        let err = validate_id("-x", "certificateId").unwrap_err();
        assert_eq!(err.code(), "InvalidIdentifier");
        assert!(err.to_string().contains("certificateId"));
    }

    #[test]
    fn kinds_round_trip_their_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
