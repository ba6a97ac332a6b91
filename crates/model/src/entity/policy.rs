//! Policy documents at their three scopes, with their passwords sealed.

use std::fmt;

use gatehouse_pki::MasterKey;
use gatehouse_policy::{
    Limits, PolicyDocument, PolicyError, PolicyErrorCode, Scope, Section, Statement,
};
use serde::{Deserialize, Serialize};

use super::{Record, decode_body, encode_body, open_json, seal_json};
use crate::{Detail, Kind, ModelError};

/// Where a policy document applies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyScope {
    /// Every API.
    Global,
    /// One API.
    Api(String),
    /// One operation of one API.
    Operation(String, String),
}

impl PolicyScope {
    /// The record key: `global`, `api/{apiId}`, `operation/{apiId}/{operationId}`.
    pub fn key(&self) -> String {
        match self {
            PolicyScope::Global => "global".into(),
            PolicyScope::Api(a) => format!("api/{a}"),
            PolicyScope::Operation(a, o) => format!("operation/{a}/{o}"),
        }
    }

    /// Parses a record key written by [`PolicyScope::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        let mut parts = key.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("global"), None, None, None) => Some(PolicyScope::Global),
            (Some("api"), Some(a), None, None) => Some(PolicyScope::Api(a.into())),
            (Some("operation"), Some(a), Some(o), None) => {
                Some(PolicyScope::Operation(a.into(), o.into()))
            }
            _ => None,
        }
    }

    /// The management API path of this policy.
    pub fn resource_id(&self) -> String {
        match self {
            PolicyScope::Global => "/policies/policy".into(),
            PolicyScope::Api(a) => format!("/apis/{a}/policies/policy"),
            PolicyScope::Operation(a, o) => {
                format!("/apis/{a}/operations/{o}/policies/policy")
            }
        }
    }

    /// The policy crate's view of the scope (which defaults and rules apply).
    pub fn level(&self) -> Scope {
        match self {
            PolicyScope::Global => Scope::Global,
            PolicyScope::Api(_) => Scope::Api,
            PolicyScope::Operation(..) => Scope::Operation,
        }
    }

    /// In words, for messages: `the global policy`, `API 'echo' policy`.
    pub fn describe(&self) -> String {
        match self {
            PolicyScope::Global => "the global policy".into(),
            PolicyScope::Api(a) => format!("API '{a}' policy"),
            PolicyScope::Operation(a, o) => format!("operation '{o}' of API '{a}' policy"),
        }
    }
}

/// A stored policy: the parsed document with its real passwords.
#[derive(Clone)]
pub struct PolicyRecord {
    /// The document, passwords filled in.
    pub document: PolicyDocument,
}

impl fmt::Debug for PolicyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyRecord")
            .field("xml", &self.document.to_masked_xml())
            .finish()
    }
}

/// `{"format": "rawxml", "value": "<policies>..."}`, APIM's policy contract.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyContract {
    /// `rawxml` or `xml` (the same here: no escaping dialects).
    #[serde(default = "default_format")]
    pub format: String,
    /// The document.
    pub value: String,
}

fn default_format() -> String {
    "rawxml".into()
}

/// Refuses a second `authentication-certificate` or `authentication-basic` in a section: with
/// two, which one the back end gets would depend on an order nobody reads, and the gateway
/// credentials view could show one while the gateway used the other.
fn single_credentials(scope: &PolicyScope, document: &PolicyDocument) -> Result<(), ModelError> {
    let mut details = Vec::new();
    for section in Section::ALL {
        let mut seen = [false; 2];
        for statement in document.statements(section) {
            let slot = match &statement {
                Statement::AuthenticationCertificate { .. } => 0,
                Statement::AuthenticationBasic { .. } => 1,
                _ => continue,
            };
            if std::mem::replace(&mut seen[slot], true) {
                details.push(Detail::new(
                    "PolicyDuplicateElement",
                    statement.location().to_string(),
                    format!(
                        "<{}> appears a second time in <{}>; keep one",
                        statement.element_name(),
                        section.as_str()
                    ),
                ));
            }
        }
    }
    if details.is_empty() {
        return Ok(());
    }
    Err(ModelError::Invalid {
        code: "PolicyDuplicateElement".into(),
        message: format!("{} is not valid: {}", scope.describe(), details[0].message),
        details,
    })
}

/// Turns the policy crate's located problems into error details. A value refused as not
/// supported takes the code every entity uses for that, [`crate::NOT_SUPPORTED`], so a client
/// tells "Gatehouse cannot do this yet" apart from "this is wrong" in one way.
pub fn policy_details(errors: &[PolicyError]) -> Vec<Detail> {
    errors
        .iter()
        .map(|e| {
            let code = match e.kind {
                PolicyErrorCode::ValueNotSupported => crate::NOT_SUPPORTED,
                _ => e.code(),
            };
            Detail::new(code, e.location.to_string(), e.message.clone())
        })
        .collect()
}

/// A 400 from policy problems, summarised as one message naming the first.
pub fn policy_refusal(scope: &PolicyScope, errors: &[PolicyError]) -> ModelError {
    let details = policy_details(errors);
    let (code, message) = match details.as_slice() {
        [one] => (
            one.code.clone(),
            format!("{} is not valid: {}", scope.describe(), one.message),
        ),
        _ => (
            "ValidationError".to_string(),
            format!(
                "{} is not valid: {} problems, see details",
                scope.describe(),
                details.len()
            ),
        ),
    };
    ModelError::Invalid {
        code,
        message,
        details,
    }
}

impl PolicyRecord {
    /// Parses a policy `PUT` body for `scope`; masked passwords keep those of `previous`.
    ///
    /// # Errors
    /// 400 with one detail per problem, each naming the element, line and column.
    pub fn from_input(
        scope: &PolicyScope,
        properties: serde_json::Value,
        previous: Option<&PolicyRecord>,
        limits: &Limits,
    ) -> Result<Self, ModelError> {
        let contract: PolicyContract = super::from_properties(properties)?;
        if contract.format != "rawxml" && contract.format != "xml" {
            return Err(ModelError::invalid_field(
                "InvalidProperty",
                "properties.format",
                "must be \"rawxml\" or \"xml\" (linked policy formats are not supported)",
            ));
        }
        let mut document = PolicyDocument::parse(&contract.value, limits)
            .map_err(|e| policy_refusal(scope, &e))?;
        document
            .validate_for_scope(scope.level())
            .map_err(|e| policy_refusal(scope, &e))?;
        document
            .restore_masked_secrets(previous.map(|p| &p.document))
            .map_err(|e| policy_refusal(scope, &e))?;
        single_credentials(scope, &document)?;
        Ok(Self { document })
    }

    /// The API contract of this policy, passwords masked.
    pub fn contract(&self) -> PolicyContract {
        PolicyContract {
            format: "rawxml".into(),
            value: self.document.to_masked_xml(),
        }
    }

    /// The stored form: masked XML in the body, passwords sealed.
    ///
    /// # Errors
    /// When encoding or sealing fails.
    pub fn to_record(
        &self,
        scope: &PolicyScope,
        revision: u64,
        master: &MasterKey,
    ) -> Result<Record, ModelError> {
        let key = scope.key();
        let secrets = self.document.secrets();
        let sealed = if secrets.is_empty() {
            None
        } else {
            Some(seal_json(master, Kind::Policy, &key, revision, &secrets)?)
        };
        Ok(Record {
            kind: Kind::Policy,
            body: encode_body(&self.contract())?,
            key,
            revision,
            sealed,
        })
    }

    /// Reads a policy back from its record, filling its passwords in.
    ///
    /// # Errors
    /// an internal error when the stored document no longer parses; open failures.
    pub fn from_record(record: &Record, master: &MasterKey) -> Result<Self, ModelError> {
        let contract: PolicyContract = decode_body(record)?;
        // Stored documents passed validation when written; parse them with generous limits,
        // and tolerating values refused since, so that tightening a rule later does not make
        // existing configuration unloadable (`Config::unsupported_settings` reports them).
        let limits = Limits {
            max_bytes: usize::MAX,
            ..Limits::default()
        };
        let corrupt = |e: &[PolicyError]| {
            ModelError::internal(format!(
                "policy {}: stored document does not parse: {}",
                record.key,
                e.first().map(|e| e.message.as_str()).unwrap_or("")
            ))
        };
        let mut document =
            PolicyDocument::parse_stored(&contract.value, &limits).map_err(|e| corrupt(&e))?;
        if let Some(sealed) = &record.sealed {
            let secrets: Vec<String> =
                open_json(master, Kind::Policy, &record.key, record.revision, sealed)?;
            document
                .fill_secrets(&secrets)
                .map_err(|e| corrupt(std::slice::from_ref(&e)))?;
        }
        Ok(Self { document })
    }
}
