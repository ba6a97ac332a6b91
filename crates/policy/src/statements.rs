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

/// One `<identity>` of `<validate-client-certificate>`: every claim it states must hold for
/// the caller's certificate. Values are normalised: thumbprints and the serial number in
/// upper-case hex (the serial without separators or leading zeros), the rest as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CertificateIdentity {
    /// SHA-1 thumbprint of the certificate.
    pub thumbprint: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// The subject's common name.
    pub common_name: Option<String>,
    /// The whole subject, as a distinguished name (`CN=..., O=...`).
    pub subject: Option<String>,
    /// One of the certificate's DNS names (subject alternative names).
    pub dns_name: Option<String>,
    /// The issuer's distinguished name.
    pub issuer_subject: Option<String>,
    /// SHA-1 thumbprint of the issuer's certificate.
    pub issuer_thumbprint: Option<String>,
    /// The CA certificate entity whose key issued the certificate.
    pub issuer_certificate_id: Option<String>,
}

/// How `<forward-client-certificate>` writes the caller's certificate into a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CertificateFormat {
    /// The DER certificate in base64 on one line (IIS's and APIM's `X-ARR-ClientCert`).
    #[default]
    Base64,
    /// The PEM certificate, URL-encoded so it fits on one header line (nginx's
    /// `$ssl_client_escaped_cert`, Envoy's XFCC `Cert`).
    Pem,
    /// The SHA-1 thumbprint, upper-case hex.
    Thumbprint,
}

impl CertificateFormat {
    /// Every format.
    pub const ALL: [Self; 3] = [Self::Base64, Self::Pem, Self::Thumbprint];

    /// The attribute value, e.g. `base64`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Base64 => "base64",
            Self::Pem => "pem",
            Self::Thumbprint => "thumbprint",
        }
    }
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
    /// `<validate-client-certificate>`: the caller's TLS client certificate must pass these
    /// checks and match one of the identities (when any are given).
    ValidateClientCertificate {
        /// The chain must end at an uploaded CA certificate.
        validate_trust: bool,
        /// The certificate's validity must have begun.
        validate_not_before: bool,
        /// The certificate's validity must not have ended.
        validate_not_after: bool,
        /// A failed check lets the request through (APIM's `ignore-error`).
        ignore_error: bool,
        /// At least one must match, when there are any.
        identities: Vec<CertificateIdentity>,
        /// Where the element is.
        location: Location,
    },
    /// `<forward-client-certificate>` (Gatehouse's own): pass the caller's TLS client
    /// certificate to the back end in a header. The header is always removed from what the
    /// caller sent, so a caller without a certificate cannot forge it.
    ForwardClientCertificate {
        /// The header name, a valid HTTP token.
        header: String,
        /// How the certificate is written.
        format: CertificateFormat,
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
            | Self::ValidateClientCertificate { location, .. }
            | Self::ForwardClientCertificate { location, .. }
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
            Self::ValidateClientCertificate { .. } => "validate-client-certificate",
            Self::ForwardClientCertificate { .. } => "forward-client-certificate",
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
            Self::ValidateClientCertificate {
                validate_trust,
                validate_not_before,
                validate_not_after,
                ignore_error,
                identities,
                location,
            } => f
                .debug_struct("ValidateClientCertificate")
                .field("validate_trust", validate_trust)
                .field("validate_not_before", validate_not_before)
                .field("validate_not_after", validate_not_after)
                .field("ignore_error", ignore_error)
                .field("identities", identities)
                .field("location", location)
                .finish(),
            Self::ForwardClientCertificate {
                header,
                format,
                location,
            } => f
                .debug_struct("ForwardClientCertificate")
                .field("header", header)
                .field("format", format)
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
    /// `<identity issuer-certificate-id="...">` of `<validate-client-certificate>`: a CA
    /// certificate entity.
    CaCertificateId(String),
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

/// A distinguished name as its relative names, in order: attribute types upper-case, values
/// unquoted. Follows the Windows/.NET string form APIM documents: names separated by `,` (or
/// `;`), values that hold a separator quoted with `"` (`O="Contoso, Inc."`, `""` for a quote).
/// `None` when the text is not of that form.
pub fn parse_distinguished_name(text: &str) -> Option<Vec<(String, String)>> {
    let mut names = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        // The attribute type, up to '='.
        let mut kind = String::new();
        let mut equals = false;
        for c in chars.by_ref() {
            if c == '=' {
                equals = true;
                break;
            }
            kind.push(c);
        }
        if !equals {
            return None;
        }
        let kind = kind.trim().to_ascii_uppercase();
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            return None;
        }
        // The labels certificates are shown with (.NET's, as APIM's), whichever alias is
        // written: OpenSSL's ST and emailAddress, RFC 4514's long names.
        let kind = match kind.as_str() {
            "ST" | "STATEORPROVINCENAME" => "S".to_owned(),
            "EMAIL" | "EMAILADDRESS" => "E".to_owned(),
            "GIVENNAME" | "GN" => "G".to_owned(),
            "SURNAME" => "SN".to_owned(),
            "COMMONNAME" => "CN".to_owned(),
            "ORGANIZATIONNAME" => "O".to_owned(),
            "ORGANIZATIONALUNITNAME" => "OU".to_owned(),
            "COUNTRYNAME" => "C".to_owned(),
            "LOCALITYNAME" => "L".to_owned(),
            "TITLE" => "T".to_owned(),
            _ => kind,
        };
        while chars.next_if(|c| *c == ' ').is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' if chars.next_if_eq(&'"').is_some() => value.push('"'),
                    '"' => break,
                    c => value.push(c),
                }
            }
            while chars.next_if(|c| *c == ' ').is_some() {}
            match chars.next() {
                None => {
                    names.push((kind, value));
                    return Some(names);
                }
                Some(',' | ';') => names.push((kind, value)),
                Some(_) => return None,
            }
        } else {
            let mut ended = true;
            for c in chars.by_ref() {
                if c == ',' || c == ';' {
                    ended = false;
                    break;
                }
                value.push(c);
            }
            let value = value.trim().to_owned();
            if value.contains('"') {
                return None;
            }
            names.push((kind, value));
            if ended {
                return Some(names);
            }
        }
    }
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
pub fn is_valid_header_name(name: &str) -> bool {
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
