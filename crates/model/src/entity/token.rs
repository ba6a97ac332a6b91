//! Named management tokens and their roles. A token's value is shown once, when it is made;
//! only its SHA-256 is stored (a random 256-bit value needs no slow hash), so neither the store
//! nor a backup can be used to call the API.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Record, decode_body};
use crate::{Kind, ModelError, Problems};

/// What a token may do. Each role may do everything the one before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads every entity (secrets are masked for every role), the metrics and the audit trail.
    Reader,
    /// Also changes certificates, CA certificates, back ends, APIs, operations and policies,
    /// and probes back ends.
    Operator,
    /// Also manages tokens and the gateway's hostname configurations.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Reader, Role::Operator, Role::Admin];

    /// The role's name, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a `POST /tokens` asks for.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenInput {
    /// The token's name: its id, and who it is in the audit trail.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it stops working; never when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl TokenInput {
    /// Parses and checks the `properties` of a `POST /tokens`.
    ///
    /// # Errors
    /// `InvalidProperty` naming each field that is wrong.
    pub fn from_input(
        properties: serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Self, ModelError> {
        let input: TokenInput = super::from_properties(properties)?;
        let mut problems = Problems::default();
        if !crate::is_valid_id(&input.name) {
            problems.push(
                "InvalidIdentifier",
                "properties.name",
                format!(
                    "'{}' is not a valid name: use letters, digits, '.', '_' or '-'",
                    crate::printable(&input.name)
                ),
            );
        } else if input.name == BOOTSTRAP {
            problems.push(
                "InvalidProperty",
                "properties.name",
                "'bootstrap' names the token set at start; choose another name",
            );
        }
        if input.expires_at.is_some_and(|t| t <= now) {
            problems.push(
                "InvalidProperty",
                "properties.expiresAt",
                "is not in the future",
            );
        }
        problems.into_result("the token is not valid")?;
        Ok(input)
    }
}

/// The name the bootstrap token (the one set at start) goes by.
pub const BOOTSTRAP: &str = "bootstrap";

/// A stored token: never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the value, hex.
    pub hash: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Who made it, as the audit trail names them.
    pub created_by: String,
    /// When it stops working.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// Whether the token works at `now`.
    pub fn live(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }

    /// The stored form.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn to_record(&self, name: &str, revision: u64) -> Result<Record, ModelError> {
        super::plain_record(Kind::Token, name, revision, self)
    }

    /// Reads a token back from its record.
    ///
    /// # Errors
    /// An internal error when the body is not a token.
    pub fn from_record(record: &Record) -> Result<Self, ModelError> {
        decode_body(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Reader));
        assert!(!Role::Reader.allows(Role::Operator));
        assert!(!Role::Operator.allows(Role::Admin));
        let json = serde_json::json!({"name": "ci", "role": "operator"});
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            TokenInput::from_input(json, now).unwrap().role,
            Role::Operator
        );
        for bad in [
            serde_json::json!({"name": "ci", "role": "root"}),
            serde_json::json!({"name": "a b", "role": "reader"}),
            serde_json::json!({"name": "bootstrap", "role": "reader"}),
            serde_json::json!({"name": "ci", "role": "reader", "expiresAt": "2001-01-01T00:00:00Z"}),
            serde_json::json!({"name": "ci", "role": "reader", "value": "x"}),
        ] {
            assert!(TokenInput::from_input(bad.clone(), now).is_err(), "{bad}");
        }
    }
}
