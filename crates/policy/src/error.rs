//! Policy errors: a stable code, a human message and where in the document it happened.

use std::fmt;

/// Where in a policy document something is.
///
/// `path` names elements from the root, e.g.
/// `policies/inbound/authentication-certificate[2]`: statements and their children carry a
/// 1-based index among siblings of the same name; the root never does and sections only when
/// they are repeated (`policies/inbound[2]`). `line` and `column` are 1-based (columns count
/// characters); both are 0 when the problem concerns the whole document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// Element path from the root, empty for the whole document.
    pub path: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column in characters, 0 when unknown.
    pub column: u32,
}

impl Location {
    /// The location used for problems that concern the whole document (size, emptiness).
    pub fn document() -> Self {
        Self::default()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "document"
        } else {
            &self.path
        };
        if self.line == 0 {
            f.write_str(path)
        } else {
            write!(f, "{path} (line {}, column {})", self.line, self.column)
        }
    }
}

/// What kind of problem a [`PolicyError`] is; [`PolicyErrorCode::as_str`] is the stable
/// PascalCase code the API reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyErrorCode {
    /// Not well-formed XML: syntax errors, mismatched or unclosed tags, text outside the root,
    /// several roots, an empty document, unknown entity references.
    XmlMalformed,
    /// A `<!DOCTYPE>` declaration (and with it any entity definition).
    DoctypeNotAllowed,
    /// A processing instruction other than the leading XML declaration.
    ProcessingInstructionNotAllowed,
    /// An element that is not known, or not known at this place of the document.
    UnknownElement,
    /// An attribute the element does not have.
    UnknownAttribute,
    /// The same attribute twice on one element.
    DuplicateAttribute,
    /// A required attribute is missing (or neither of two alternatives is given).
    MissingAttribute,
    /// Two mutually exclusive attributes are both given.
    ConflictingAttributes,
    /// An attribute value that is not valid for that attribute.
    InvalidAttribute,
    /// An attribute APIM has but Gatehouse does not support yet.
    AttributeNotSupported,
    /// A valid attribute value that asks for behaviour the gateway does not have yet
    /// (`follow-redirects="true"`). Refused rather than stored and ignored; documents stored
    /// before a value was refused still load ([`crate::PolicyDocument::parse_stored`]).
    ValueNotSupported,
    /// A required child element is missing (e.g. `<value>` in `<set-header>`).
    MissingElement,
    /// The text of an element (e.g. `<value>`) is not valid.
    InvalidValue,
    /// An element that may appear only once appears again (sections, `<base />`, ...).
    DuplicateElement,
    /// A known element in a section or scope where it is not allowed.
    MisplacedElement,
    /// Non-whitespace text where only elements are allowed.
    UnexpectedText,
    /// A policy expression (`@(...)` or `@{...}`).
    ExpressionNotSupported,
    /// A named value reference (`{{name}}`).
    NamedValueNotSupported,
    /// The document is larger than [`crate::Limits::max_bytes`].
    TooLarge,
    /// Elements nest deeper than [`crate::Limits::max_depth`].
    TooDeep,
    /// More elements than [`crate::Limits::max_elements`].
    TooManyElements,
    /// An attribute value or `<value>` text longer than [`crate::Limits::max_attribute_len`].
    AttributeTooLong,
    /// A password equal to [`crate::MASK`] that cannot be matched to a stored one.
    SecretMasked,
    /// [`crate::PolicyDocument::fill_secrets`] got a different number of secrets than the
    /// document has.
    SecretCountMismatch,
}

impl PolicyErrorCode {
    /// The stable PascalCase code, e.g. `PolicyUnknownAttribute`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::XmlMalformed => "PolicyXmlMalformed",
            Self::DoctypeNotAllowed => "PolicyDoctypeNotAllowed",
            Self::ProcessingInstructionNotAllowed => "PolicyProcessingInstructionNotAllowed",
            Self::UnknownElement => "PolicyUnknownElement",
            Self::UnknownAttribute => "PolicyUnknownAttribute",
            Self::DuplicateAttribute => "PolicyDuplicateAttribute",
            Self::MissingAttribute => "PolicyMissingAttribute",
            Self::ConflictingAttributes => "PolicyConflictingAttributes",
            Self::InvalidAttribute => "PolicyInvalidAttribute",
            Self::AttributeNotSupported => "PolicyAttributeNotSupported",
            Self::ValueNotSupported => "PolicyValueNotSupported",
            Self::MissingElement => "PolicyMissingElement",
            Self::InvalidValue => "PolicyInvalidValue",
            Self::DuplicateElement => "PolicyDuplicateElement",
            Self::MisplacedElement => "PolicyMisplacedElement",
            Self::UnexpectedText => "PolicyUnexpectedText",
            Self::ExpressionNotSupported => "PolicyExpressionNotSupported",
            Self::NamedValueNotSupported => "PolicyNamedValueNotSupported",
            Self::TooLarge => "PolicyTooLarge",
            Self::TooDeep => "PolicyTooDeep",
            Self::TooManyElements => "PolicyTooManyElements",
            Self::AttributeTooLong => "PolicyAttributeTooLong",
            Self::SecretMasked => "PolicySecretMasked",
            Self::SecretCountMismatch => "PolicySecretCountMismatch",
        }
    }

    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [Self; 24] = [
        Self::XmlMalformed,
        Self::DoctypeNotAllowed,
        Self::ProcessingInstructionNotAllowed,
        Self::UnknownElement,
        Self::UnknownAttribute,
        Self::DuplicateAttribute,
        Self::MissingAttribute,
        Self::ConflictingAttributes,
        Self::InvalidAttribute,
        Self::AttributeNotSupported,
        Self::ValueNotSupported,
        Self::MissingElement,
        Self::InvalidValue,
        Self::DuplicateElement,
        Self::MisplacedElement,
        Self::UnexpectedText,
        Self::ExpressionNotSupported,
        Self::NamedValueNotSupported,
        Self::TooLarge,
        Self::TooDeep,
        Self::TooManyElements,
        Self::AttributeTooLong,
        Self::SecretMasked,
        Self::SecretCountMismatch,
    ];
}

impl fmt::Display for PolicyErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with a policy document.
///
/// Messages never contain password values. The API answers a list of these as a 400 with one
/// detail per error: `code()`, `target()` and `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    /// What kind of problem this is.
    pub kind: PolicyErrorCode,
    /// A complete sentence for humans; it already names the element and its location.
    pub message: String,
    /// Where the problem is.
    pub location: Location,
}

impl PolicyError {
    pub(crate) fn new(
        kind: PolicyErrorCode,
        location: Location,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            location,
        }
    }

    /// The stable PascalCase code, e.g. `PolicyMissingAttribute`.
    pub fn code(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The `target` of an API error detail: `path (line L, column C)`, or `document`.
    pub fn target(&self) -> String {
        self.location.to_string()
    }
}
