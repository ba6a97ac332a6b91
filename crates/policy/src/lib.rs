//! Gatehouse policy documents: APIM-style policy XML in, a validated document and a composed,
//! typed plan out.
//!
//! Gatehouse configures APIs the way Azure API Management does, with `<policies>` documents
//! attached to the global, API and operation scopes. This crate:
//!
//! - parses and validates a document ([`PolicyDocument::parse`]), reporting every problem it
//!   finds as a [`PolicyError`] with a stable code and a location;
//! - keeps the document as an ordered tree of the original text, so [`PolicyDocument::to_xml`]
//!   of an unedited document is byte-identical to what the user sent, and edits such as
//!   [`PolicyDocument::set_gateway_credentials`] change only the lines they must;
//! - gives a typed view of the statements ([`Statement`]), the ids the document refers to
//!   ([`Reference`]) and hides secrets ([`PolicyDocument::to_masked_xml`]);
//! - composes the three scopes into the [`EffectivePolicy`] of a request ([`compose`]).
//!
//! It is pure: no I/O, no async, no database, and it must not depend on other Gatehouse crates
//! (the model crate depends on this one and resolves the references).

mod compose;
mod document;
mod edit;
mod error;
mod statements;
mod tree;
mod validate;

use std::fmt;

pub use compose::{EffectivePolicy, Placed, compose};
pub use document::PolicyDocument;
pub use error::{Location, PolicyError, PolicyErrorCode};
pub use statements::{
    BackendTarget, CertificateFormat, CertificateIdentity, CertificateRef, ExistsAction,
    GatewayCredentials, Reference, ReferenceKind, Statement, is_valid_entity_id,
    is_valid_header_name, is_valid_thumbprint, parse_distinguished_name,
};

/// What [`PolicyDocument::to_masked_xml`] writes instead of a password, and what
/// [`PolicyDocument::restore_masked_secrets`] recognizes.
pub const MASK: &str = "******";

/// Bounds on what [`PolicyDocument::parse`] accepts, so hostile input costs little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Size of the whole document in bytes (default 256 KiB).
    pub max_bytes: usize,
    /// Element nesting depth, the root counting as 1 (default 16; never more than 256, as the
    /// tree is recursive).
    pub max_depth: usize,
    /// Number of elements (default 2,000).
    pub max_elements: usize,
    /// Length in bytes of one attribute value or one `<value>` text (default 8 KiB).
    pub max_attribute_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
            max_depth: 16,
            max_elements: 2_000,
            max_attribute_len: 8 * 1024,
        }
    }
}

impl Limits {
    /// For re-reading text this crate wrote itself.
    pub(crate) fn unlimited() -> Self {
        Self {
            max_bytes: usize::MAX,
            max_depth: usize::MAX,
            max_elements: usize::MAX,
            max_attribute_len: usize::MAX,
        }
    }
}

/// A section of a policy document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// `<inbound>`: runs on the request before it goes to the backend.
    Inbound,
    /// `<backend>`: runs to send the request to the backend.
    Backend,
    /// `<outbound>`: runs on the response.
    Outbound,
    /// `<on-error>`: runs when any other section fails.
    OnError,
}

impl Section {
    /// Every section, in the order APIM writes them.
    pub const ALL: [Self; 4] = [Self::Inbound, Self::Backend, Self::Outbound, Self::OnError];

    /// The element name: `inbound`, `backend`, `outbound` or `on-error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Backend => "backend",
            Self::Outbound => "outbound",
            Self::OnError => "on-error",
        }
    }

    /// The section an element name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope a policy document is attached to, from least to most specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The whole gateway.
    Global,
    /// One API.
    Api,
    /// One operation of an API.
    Operation,
}

impl Scope {
    /// `global`, `api` or `operation`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Api => "api",
            Self::Operation => "operation",
        }
    }

    /// How messages name a document of this scope: `global policy`, `API policy`,
    /// `operation policy`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Global => "global policy",
            Self::Api => "API policy",
            Self::Operation => "operation policy",
        }
    }

    /// The scope `<base />` refers to; the global scope has none.
    pub const fn parent(self) -> Option<Self> {
        match self {
            Self::Global => None,
            Self::Api => Some(Self::Global),
            Self::Operation => Some(Self::Api),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
