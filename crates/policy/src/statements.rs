//! The typed view of policy statements and the value rules they follow.

use std::fmt;

use crate::error::Location;

/// What `<set-header exists-action="...">` does when the header is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExistsAction {
    /// Replace the header (APIM's default).
    #[default]
    Override,
    /// Leave an existing header alone.
    Skip,
    /// Add the values to the existing header.
    Append,
    /// Remove the header.
    Delete,
}

impl ExistsAction {
    /// Every action, in the order APIM documents them.
    pub const ALL: [Self; 4] = [Self::Override, Self::Skip, Self::Append, Self::Delete];

    /// The attribute value, e.g. `override`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Override => "override",
            Self::Skip => "skip",
            Self::Append => "append",
            Self::Delete => "delete",
        }
    }

    /// Reads an attribute value; APIM's values are lower-case and so is this.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// Which client certificate `<authentication-certificate>` presents to the backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CertificateRef {
    /// `certificate-id`: the id of a certificate entity.
    Id(String),
    /// `thumbprint`: a SHA-1 thumbprint, 40 hex digits, upper-case in the typed view.
    Thumbprint(String),
}

/// Where `<set-backend-service>` sends the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BackendTarget {
    /// `backend-id`: the id of a backend entity.
    BackendId(String),
    /// `base-url`: an absolute `http://` or `https://` URL.
    BaseUrl(String),
}

/// One policy statement of a section, in the typed view.
///
/// Values are unescaped (`&amp;` reads as `&`). `Debug` never shows passwords.
#[derive(Clone, PartialEq, Eq)]
pub enum Statement {
    /// `<base />`: run the parent scope's section here.
    Base {
        /// Where the element is.
        location: Location,
    },
    /// `<authentication-certificate>`: present a client certificate to the backend.
    AuthenticationCertificate {
        /// The certificate to present.
        certificate: CertificateRef,
        /// Where the element is.
        location: Location,
    },
    /// `<authentication-basic>`: send HTTP Basic credentials to the backend.
    AuthenticationBasic {
        /// The user name; never empty, never contains ':'.
        username: String,
        /// The password.
        password: String,
        /// Where the element is.
        location: Location,
    },
    /// `<set-header>`: set, append, skip or delete a header.
    SetHeader {
        /// The header name, a valid HTTP token.
        name: String,
        /// What to do when the header exists.
        action: ExistsAction,
        /// The `<value>` texts, trimmed, in order.
        values: Vec<String>,
        /// Where the element is.
        location: Location,
    },
    /// `<set-backend-service>`: choose the backend.
    SetBackendService {
        /// The backend to use.
        target: BackendTarget,
        /// Where the element is.
        location: Location,
    },
    /// `<forward-request>`: send the request to the backend.
    ForwardRequest {
        /// `timeout` in seconds (1 to 3600), if given.
        timeout_seconds: Option<u32>,
        /// `follow-redirects`, if given. Only `false` (what the gateway does) passes
        /// [`crate::PolicyDocument::parse`]; `true` appears only in documents read with
        /// [`crate::PolicyDocument::parse_stored`].
        follow_redirects: Option<bool>,
        /// Where the element is.
        location: Location,
    },
}

impl Statement {
    /// Where the statement's element is in its document.
    pub fn location(&self) -> &Location {
        match self {
            Self::Base { location }
            | Self::AuthenticationCertificate { location, .. }
            | Self::AuthenticationBasic { location, .. }
            | Self::SetHeader { location, .. }
            | Self::SetBackendService { location, .. }
            | Self::ForwardRequest { location, .. } => location,
        }
    }

    /// The element name, e.g. `set-header`.
    pub fn element_name(&self) -> &'static str {
        match self {
            Self::Base { .. } => "base",
            Self::AuthenticationCertificate { .. } => "authentication-certificate",
            Self::AuthenticationBasic { .. } => "authentication-basic",
            Self::SetHeader { .. } => "set-header",
            Self::SetBackendService { .. } => "set-backend-service",
            Self::ForwardRequest { .. } => "forward-request",
        }
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base { location } => f.debug_struct("Base").field("location", location).finish(),
            Self::AuthenticationCertificate {
                certificate,
                location,
            } => f
                .debug_struct("AuthenticationCertificate")
                .field("certificate", certificate)
                .field("location", location)
                .finish(),
            Self::AuthenticationBasic {
                username, location, ..
            } => f
                .debug_struct("AuthenticationBasic")
                .field("username", username)
                .field("password", &crate::MASK)
                .field("location", location)
                .finish(),
            Self::SetHeader {
                name,
                action,
                values,
                location,
            } => f
                .debug_struct("SetHeader")
                .field("name", name)
                .field("action", action)
                .field("values", values)
                .field("location", location)
                .finish(),
            Self::SetBackendService { target, location } => f
                .debug_struct("SetBackendService")
                .field("target", target)
                .field("location", location)
                .finish(),
            Self::ForwardRequest {
                timeout_seconds,
                follow_redirects,
                location,
            } => f
                .debug_struct("ForwardRequest")
                .field("timeout_seconds", timeout_seconds)
                .field("follow_redirects", follow_redirects)
                .field("location", location)
                .finish(),
        }
    }
}

/// The credentials the gateway presents to the backend, as set in a document's `<inbound>`.
///
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum GatewayCredentials {
    /// No `<authentication-certificate>` or `<authentication-basic>` in `<inbound>`.
    #[default]
    None,
    /// `<authentication-certificate>`.
    ClientCertificate(CertificateRef),
    /// `<authentication-basic>`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for GatewayCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::ClientCertificate(c) => f.debug_tuple("ClientCertificate").field(c).finish(),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &crate::MASK)
                .finish(),
        }
    }
}

/// What a document refers to by id; the model crate resolves these.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    /// `<authentication-certificate certificate-id="...">`.
    CertificateId(String),
    /// `<authentication-certificate thumbprint="...">`, upper-case.
    CertificateThumbprint(String),
    /// `<set-backend-service backend-id="...">`.
    BackendId(String),
}

/// One reference and the element it is in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// What is referred to.
    pub kind: ReferenceKind,
    /// Where the referring element is.
    pub location: Location,
}

/// Whether `id` is a valid entity id: 1 to 80 characters of `[A-Za-z0-9._-]`, the first a
/// letter or digit.
pub fn is_valid_entity_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 80
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `thumbprint` is 40 hex digits (either case).
pub fn is_valid_thumbprint(thumbprint: &str) -> bool {
    thumbprint.len() == 40 && thumbprint.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
pub(crate) fn is_valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Whether `value` can be sent as a header value: no control characters other than tab, the
/// same rule the `http` crate applies, so a valid policy never fails at request time.
pub(crate) fn is_valid_header_value(value: &str) -> bool {
    value.chars().all(|c| c == '\t' || !c.is_control())
}

/// Whether `url` is an absolute `http://` or `https://` URL with a host.
pub(crate) fn is_valid_base_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        url.get(7..)
    } else if lower.starts_with("https://") {
        url.get(8..)
    } else {
        None
    };
    let Some(rest) = rest else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    !host.is_empty()
        && !host.starts_with(':')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The first `{{name}}` named-value reference in `value`, if any.
pub(crate) fn find_named_value(value: &str) -> Option<&str> {
    let mut rest = value;
    while let Some(open) = rest.find("{{") {
        let after = rest.get(open + 2..).unwrap_or_default();
        if let Some(close) = after.find("}}") {
            let inner = after.get(..close).unwrap_or_default();
            if !inner.is_empty() && !inner.contains(['{', '}']) {
                return rest.get(open..open + 2 + close + 2);
            }
        }
        rest = rest.get(open + 1..).unwrap_or_default();
    }
    None
}

/// Whether `value` is a policy expression (`@(...)` or `@{...}`), ignoring surrounding space.
pub(crate) fn is_expression(value: &str) -> bool {
    let trimmed = value.trim();
    trimmed.starts_with("@(") || trimmed.starts_with("@{")
}
