//! The policy schema: which elements and attributes a document may hold, and the typed
//! statements they become. One walk collects every problem instead of stopping at the first.

use crate::error::{PolicyError, PolicyErrorCode as Code};
use crate::statements::{
    BackendTarget, CertificateFormat, CertificateIdentity, CertificateRef, ExistsAction, Statement,
    find_named_value, is_expression, is_valid_base_url, is_valid_entity_id, is_valid_header_name,
    is_valid_header_value, is_valid_thumbprint, parse_distinguished_name,
};
use crate::tree::{Element, Node, Pos, Text};
use crate::{Limits, Scope, Section};

/// The element kinds a section may contain.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Base,
    AuthenticationCertificate,
    AuthenticationBasic,
    SetHeader,
    SetBackendService,
    ValidateClientCertificate,
    ForwardClientCertificate,
    ForwardRequest,
}

impl Kind {
    const ALL: [Self; 8] = [
        Self::Base,
        Self::AuthenticationCertificate,
        Self::AuthenticationBasic,
        Self::SetHeader,
        Self::SetBackendService,
        Self::ValidateClientCertificate,
        Self::ForwardClientCertificate,
        Self::ForwardRequest,
    ];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::AuthenticationCertificate => "authentication-certificate",
            Self::AuthenticationBasic => "authentication-basic",
            Self::SetHeader => "set-header",
            Self::SetBackendService => "set-backend-service",
            Self::ValidateClientCertificate => "validate-client-certificate",
            Self::ForwardClientCertificate => "forward-client-certificate",
            Self::ForwardRequest => "forward-request",
        }
    }

    const fn sections(self) -> &'static [Section] {
        match self {
            Self::Base | Self::SetHeader => &Section::ALL,
            Self::AuthenticationCertificate
            | Self::AuthenticationBasic
            | Self::ValidateClientCertificate
            | Self::ForwardClientCertificate => &[Section::Inbound],
            Self::SetBackendService => &[Section::Inbound, Section::Backend],
            Self::ForwardRequest => &[Section::Backend],
        }
    }
}

/// The names of the credential elements `set_gateway_credentials` manages.
pub(crate) fn is_credential_element(name: &str) -> bool {
    matches!(
        Kind::from_name(name),
        Some(Kind::AuthenticationCertificate | Kind::AuthenticationBasic)
    )
}

/// `<name> at path (line L, column C)`, the way every message names an element.
fn here(el: &Element) -> String {
    format!("<{}> at {}", el.name, el.location())
}

/// A value shown in a message: short, on one line.
fn shown(value: &str) -> String {
    let short: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect();
    if value.chars().count() > 100 {
        format!("{short}...")
    } else {
        short
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Checks a parsed tree against the schema.
pub(crate) fn document(nodes: &[Node], limits: &Limits) -> Vec<PolicyError> {
    let mut check = Check::new(limits);
    if let Some(root) = nodes.iter().find_map(|n| match n {
        Node::Element(e) => Some(e),
        _ => None,
    }) {
        check.root(root);
    }
    check.errors
}

/// The typed statement of an element of `section`, or `None` if it is not a valid statement.
pub(crate) fn typed(el: &Element) -> Option<Statement> {
    Check::new(&Limits::unlimited()).statement(el)
}

/// Checks an element that is about to be written into a document.
pub(crate) fn statement_errors(el: &Element) -> Vec<PolicyError> {
    let limits = Limits::unlimited();
    let mut check = Check::new(&limits);
    check.statement(el);
    check.errors
}

/// Rules that depend on the scope a document is attached to.
pub(crate) fn for_scope(nodes: &[Node], scope: Scope) -> Vec<PolicyError> {
    let mut errors = Vec::new();
    if scope != Scope::Global {
        return errors;
    }
    let sections = nodes
        .iter()
        .filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
        .flat_map(Element::child_elements);
    for section in sections {
        for base in section.child_elements().filter(|e| e.name == "base") {
            errors.push(PolicyError::new(
                Code::MisplacedElement,
                base.location(),
                format!(
                    "{} is not allowed in the global policy: the global scope has no parent \
                     scope to inherit from",
                    here(base)
                ),
            ));
        }
    }
    errors
}

struct Check<'l> {
    limits: &'l Limits,
    errors: Vec<PolicyError>,
}

impl<'l> Check<'l> {
    fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
            errors: Vec::new(),
        }
    }

    fn push(&mut self, kind: Code, el: &Element, message: String) {
        self.errors
            .push(PolicyError::new(kind, el.location(), message));
    }

    fn root(&mut self, root: &Element) {
        if root.name != "policies" {
            self.push(
                Code::UnknownElement,
                root,
                format!("the root element must be <policies>, found {}", here(root)),
            );
            return;
        }
        self.attributes(root, &[], &[]);
        let mut seen = Vec::new();
        for node in &root.children {
            match node {
                Node::Text(t) => self.text(t, root),
                Node::Opaque(_) => {}
                Node::Element(el) => match Section::from_name(&el.name) {
                    None => self.push(
                        Code::UnknownElement,
                        el,
                        format!(
                            "unknown element {}; <policies> may contain: inbound, backend, \
                             outbound, on-error",
                            here(el)
                        ),
                    ),
                    Some(section) => {
                        if seen.contains(&section) {
                            self.push(
                                Code::DuplicateElement,
                                el,
                                format!(
                                    "{} repeats a section; each section may appear at most once",
                                    here(el)
                                ),
                            );
                        }
                        seen.push(section);
                        self.attributes(el, &[], &[]);
                        self.section(section, el);
                    }
                },
            }
        }
    }

    fn section(&mut self, section: Section, el: &Element) {
        let mut base_seen = false;
        let mut forward_seen = false;
        let mut validate_seen = false;
        for node in &el.children {
            let child = match node {
                Node::Text(t) => {
                    self.text(t, el);
                    continue;
                }
                Node::Opaque(_) => continue,
                Node::Element(child) => child,
            };
            let Some(kind) = Kind::from_name(&child.name) else {
                let allowed: Vec<&str> = Kind::ALL
                    .into_iter()
                    .filter(|k| k.sections().contains(&section))
                    .map(Kind::name)
                    .collect();
                self.push(
                    Code::UnknownElement,
                    child,
                    format!(
                        "unknown or unsupported policy {}; allowed in <{}>: {}",
                        here(child),
                        section.as_str(),
                        allowed.join(", ")
                    ),
                );
                continue;
            };
            if !kind.sections().contains(&section) {
                let allowed: Vec<&str> = kind.sections().iter().map(|s| s.as_str()).collect();
                self.push(
                    Code::MisplacedElement,
                    child,
                    format!(
                        "{} is not allowed in <{}>; it is allowed in: {}",
                        here(child),
                        section.as_str(),
                        allowed.join(", ")
                    ),
                );
            }
            let repeated = match kind {
                Kind::Base => std::mem::replace(&mut base_seen, true),
                Kind::ForwardRequest => std::mem::replace(&mut forward_seen, true),
                Kind::ValidateClientCertificate => std::mem::replace(&mut validate_seen, true),
                _ => false,
            };
            if repeated {
                self.push(
                    Code::DuplicateElement,
                    child,
                    format!(
                        "{} appears a second time in <{}>; at most one is allowed per section",
                        here(child),
                        section.as_str()
                    ),
                );
            }
            self.statement(child);
        }
    }

    /// Reports non-whitespace text inside `parent`, at the first non-whitespace character.
    fn text(&mut self, text: &Text, parent: &Element) {
        if text.is_whitespace() {
            return;
        }
        let mut pos = text.pos;
        for c in text.raw.chars().take_while(|c| c.is_ascii_whitespace()) {
            if c == '\n' {
                pos = Pos {
                    line: pos.line.saturating_add(1),
                    column: 1,
                };
            } else {
                pos.column = pos.column.saturating_add(1);
            }
        }
        let shown_text = text.value.trim();
        self.errors.push(PolicyError::new(
            Code::UnexpectedText,
            crate::Location {
                path: parent.path.clone(),
                line: pos.line,
                column: pos.column,
            },
            format!(
                "unexpected text \"{}\" inside <{}> at {} (line {}, column {}); only elements, \
                 comments and whitespace are allowed here",
                shown(shown_text),
                parent.name,
                parent.path,
                pos.line,
                pos.column
            ),
        ));
    }

    /// Reports child elements and text of an element that must be empty.
    fn no_content(&mut self, el: &Element) {
        for node in &el.children {
            match node {
                Node::Text(t) => self.text(t, el),
                Node::Opaque(_) => {}
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!(
                        "unknown element {}; <{}> takes no child elements",
                        here(child),
                        el.name
                    ),
                ),
            }
        }
    }

    /// Checks attribute names and the expression and named-value rules on every value.
    /// Returns whether all attributes were acceptable; values that were not must not be
    /// judged again (one problem, one error).
    fn attributes(&mut self, el: &Element, allowed: &[&str], unsupported: &[&str]) -> bool {
        let before = self.errors.len();
        for attr in &el.attrs {
            if unsupported.contains(&attr.name.as_str()) {
                self.push(
                    Code::AttributeNotSupported,
                    el,
                    format!(
                        "attribute \"{}\" on {} is not supported yet (it needs policy \
                         expressions); use one of: {}",
                        attr.name,
                        here(el),
                        list(allowed)
                    ),
                );
            } else if !allowed.contains(&attr.name.as_str()) {
                self.push(
                    Code::UnknownAttribute,
                    el,
                    format!(
                        "unknown attribute \"{}\" on {}; allowed: {}",
                        attr.name,
                        here(el),
                        list(allowed)
                    ),
                );
            } else {
                let what = format!("attribute \"{}\" on {}", attr.name, here(el));
                self.dynamic(el, &what, &attr.value, attr.name == "password");
            }
        }
        self.errors.len() == before
    }

    /// Refuses policy expressions and named values in a value.
    fn dynamic(&mut self, el: &Element, what: &str, value: &str, secret: bool) {
        if is_expression(value) {
            self.push(
                Code::ExpressionNotSupported,
                el,
                format!("policy expressions are not supported yet: {what} is an expression"),
            );
        } else if let Some(reference) = find_named_value(value) {
            let shown_ref = if secret {
                "a {{named value}}".to_owned()
            } else {
                shown(reference)
            };
            self.push(
                Code::NamedValueNotSupported,
                el,
                format!("named values are not supported yet: {what} refers to {shown_ref}"),
            );
        }
    }

    fn required<'e>(&mut self, el: &'e Element, name: &str) -> Option<&'e str> {
        let value = el.attr(name);
        if value.is_none() {
            self.push(
                Code::MissingAttribute,
                el,
                format!("{} is missing the required attribute \"{name}\"", here(el)),
            );
        }
        value
    }

    fn invalid(&mut self, el: &Element, name: &str, value: &str, why: &str) {
        self.push(
            Code::InvalidAttribute,
            el,
            format!(
                "attribute {name}=\"{}\" on {} is not valid: {why}",
                shown(value),
                here(el)
            ),
        );
    }

    /// One of two mutually exclusive attributes, reporting both or neither.
    fn one_of<'e>(
        &mut self,
        el: &'e Element,
        a: &'static str,
        b: &'static str,
    ) -> Option<(&'static str, &'e str)> {
        match (el.attr(a), el.attr(b)) {
            (Some(_), Some(_)) => {
                self.push(
                    Code::ConflictingAttributes,
                    el,
                    format!(
                        "{} has both \"{a}\" and \"{b}\"; give exactly one of them",
                        here(el)
                    ),
                );
                None
            }
            (None, None) => {
                self.push(
                    Code::MissingAttribute,
                    el,
                    format!(
                        "{} needs one of the attributes \"{a}\" or \"{b}\"",
                        here(el)
                    ),
                );
                None
            }
            (Some(v), None) => Some((a, v)),
            (None, Some(v)) => Some((b, v)),
        }
    }

    /// Checks a statement element and builds its typed form; `None` when anything is wrong.
    fn statement(&mut self, el: &Element) -> Option<Statement> {
        let before = self.errors.len();
        let location = el.location();
        let statement = match Kind::from_name(&el.name)? {
            Kind::Base => {
                self.attributes(el, &[], &[]);
                self.no_content(el);
                Some(Statement::Base { location })
            }
            Kind::AuthenticationCertificate => self.authentication_certificate(el),
            Kind::AuthenticationBasic => self.authentication_basic(el),
            Kind::SetHeader => self.set_header(el),
            Kind::SetBackendService => self.set_backend_service(el),
            Kind::ValidateClientCertificate => self.validate_client_certificate(el),
            Kind::ForwardClientCertificate => self.forward_client_certificate(el),
            Kind::ForwardRequest => self.forward_request(el),
        };
        // A value refused only as not supported still has its typed meaning: a document
        // stored before the refusal keeps working as it did (see `parse_stored`).
        let invalid = self
            .errors
            .get(before..)
            .unwrap_or_default()
            .iter()
            .any(|e| e.kind != Code::ValueNotSupported);
        if invalid { None } else { statement }
    }

    fn authentication_certificate(&mut self, el: &Element) -> Option<Statement> {
        let unsupported = ["body", "password"];
        let clean = self.attributes(el, &["certificate-id", "thumbprint"], &unsupported);
        self.no_content(el);
        if el
            .attrs
            .iter()
            .any(|a| unsupported.contains(&a.name.as_str()))
        {
            // The missing-attribute error would only repeat what "not supported" already says.
            return None;
        }
        let (name, value) = self.one_of(el, "certificate-id", "thumbprint")?;
        if !clean {
            return None;
        }
        let certificate = if name == "certificate-id" {
            if !is_valid_entity_id(value) {
                self.invalid(el, name, value, ENTITY_ID_RULE);
                return None;
            }
            CertificateRef::Id(value.to_owned())
        } else {
            if !is_valid_thumbprint(value) {
                self.invalid(el, name, value, "a thumbprint is 40 hexadecimal digits");
                return None;
            }
            CertificateRef::Thumbprint(value.to_ascii_uppercase())
        };
        Some(Statement::AuthenticationCertificate {
            certificate,
            location: el.location(),
        })
    }

    fn authentication_basic(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["username", "password"], &[]);
        self.no_content(el);
        let username = self.required(el, "username");
        let password = self.required(el, "password");
        let (username, password) = (username?, password?);
        if !clean {
            return None;
        }
        if username.is_empty() {
            self.invalid(el, "username", username, "the user name must not be empty");
            return None;
        }
        if username.contains(':') || username.chars().any(char::is_control) {
            self.invalid(
                el,
                "username",
                username,
                "a Basic user name cannot contain ':' or control characters",
            );
            return None;
        }
        Some(Statement::AuthenticationBasic {
            username: username.to_owned(),
            password: password.to_owned(),
            location: el.location(),
        })
    }

    fn set_header(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["name", "exists-action"], &[]);
        let name = self.required(el, "name");
        let mut action = ExistsAction::Override;
        if let Some(value) = el.attr("exists-action") {
            match ExistsAction::from_name(value) {
                Some(a) => action = a,
                None if clean => self.invalid(
                    el,
                    "exists-action",
                    value,
                    "use override, skip, append or delete",
                ),
                None => {}
            }
        }
        if let Some(name) = name
            && clean
            && !is_valid_header_name(name)
        {
            self.invalid(
                el,
                "name",
                name,
                "a header name is a non-empty HTTP token (letters, digits and !#$%&'*+-.^_`|~)",
            );
        }
        let mut values = Vec::new();
        for node in &el.children {
            match node {
                Node::Text(t) => self.text(t, el),
                Node::Opaque(_) => {}
                Node::Element(child) if child.name == "value" => {
                    if let Some(v) = self.value(child) {
                        values.push(v);
                    }
                }
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!(
                        "unknown element {}; <set-header> may contain: value",
                        here(child)
                    ),
                ),
            }
        }
        let value_count = el.child_elements().filter(|c| c.name == "value").count();
        if value_count == 0 && action != ExistsAction::Delete {
            self.push(
                Code::MissingElement,
                el,
                format!(
                    "{} needs at least one <value> unless exists-action=\"delete\"",
                    here(el)
                ),
            );
        }
        Some(Statement::SetHeader {
            name: name?.to_owned(),
            action,
            values,
            location: el.location(),
        })
    }

    /// The trimmed text of a `<value>` element.
    fn value(&mut self, el: &Element) -> Option<String> {
        let before = self.errors.len();
        self.attributes(el, &[], &[]);
        let mut text = String::new();
        for node in &el.children {
            match node {
                Node::Text(t) => text.push_str(&t.value),
                Node::Opaque(_) => {}
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!("unknown element {}; <value> holds text only", here(child)),
                ),
            }
        }
        // Header values lose surrounding whitespace on the wire anyway, and trimming lets
        // users put the text on its own indented line.
        let text = text.trim();
        let what = format!("the text of {}", here(el));
        if text.len() > self.limits.max_attribute_len {
            self.push(
                Code::AttributeTooLong,
                el,
                format!(
                    "{what} is {} bytes long; at most {} bytes are allowed",
                    text.len(),
                    self.limits.max_attribute_len
                ),
            );
        } else {
            self.dynamic(el, &what, text, false);
        }
        if self.errors.len() == before && !is_valid_header_value(text) {
            self.push(
                Code::InvalidValue,
                el,
                format!(
                    "{what} is not a valid header value: control characters such as line \
                     breaks are not allowed inside it"
                ),
            );
        }
        (self.errors.len() == before).then(|| text.to_owned())
    }

    fn set_backend_service(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["backend-id", "base-url"], &[]);
        self.no_content(el);
        let (name, value) = self.one_of(el, "backend-id", "base-url")?;
        if !clean {
            return None;
        }
        let target = if name == "backend-id" {
            if !is_valid_entity_id(value) {
                self.invalid(el, name, value, ENTITY_ID_RULE);
                return None;
            }
            BackendTarget::BackendId(value.to_owned())
        } else {
            if !is_valid_base_url(value) {
                self.invalid(
                    el,
                    name,
                    value,
                    "the base URL must be an absolute http:// or https:// URL with a host",
                );
                return None;
            }
            BackendTarget::BaseUrl(value.to_owned())
        };
        Some(Statement::SetBackendService {
            target,
            location: el.location(),
        })
    }

    /// A `true`/`false` attribute, `default` when absent.
    fn boolean(&mut self, el: &Element, name: &str, default: bool) -> bool {
        match el.attr(name) {
            None => default,
            Some("true") => true,
            Some("false") => false,
            Some(value) => {
                self.invalid(el, name, value, "use true or false");
                default
            }
        }
    }

    fn validate_client_certificate(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(
            el,
            &[
                "validate-revocation",
                "validate-trust",
                "validate-not-before",
                "validate-not-after",
                "ignore-error",
            ],
            &[],
        );
        let before = self.errors.len();
        match el.attr("validate-revocation") {
            Some("false") => {}
            Some("true") => self.revocation_not_supported(el, "validate-revocation=\"true\" asks"),
            Some(value) => self.invalid(
                el,
                "validate-revocation",
                value,
                "use false (revocation checks are not supported)",
            ),
            // APIM's default is true: a document that leaves it out asks for revocation too.
            None => self.revocation_not_supported(
                el,
                "without validate-revocation=\"false\", APIM's default (true) asks",
            ),
        }
        let validate_trust = self.boolean(el, "validate-trust", true);
        let validate_not_before = self.boolean(el, "validate-not-before", true);
        let validate_not_after = self.boolean(el, "validate-not-after", true);
        let ignore_error = self.boolean(el, "ignore-error", false);
        let mut identities = Vec::new();
        let mut identities_seen = false;
        for node in &el.children {
            match node {
                Node::Text(t) => self.text(t, el),
                Node::Opaque(_) => {}
                Node::Element(child) if child.name == "identities" => {
                    if std::mem::replace(&mut identities_seen, true) {
                        self.push(
                            Code::DuplicateElement,
                            child,
                            format!("{} appears a second time", here(child)),
                        );
                    }
                    self.attributes(child, &[], &[]);
                    self.identities(child, &mut identities);
                }
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!(
                        "unknown element {}; <validate-client-certificate> may contain: \
                         identities",
                        here(child)
                    ),
                ),
            }
        }
        if !clean || self.errors.len() > before {
            return None;
        }
        Some(Statement::ValidateClientCertificate {
            validate_trust,
            validate_not_before,
            validate_not_after,
            ignore_error,
            identities,
            location: el.location(),
        })
    }

    fn revocation_not_supported(&mut self, el: &Element, what: &str) {
        // Accepted and not done, it would let revoked certificates in while the operator
        // believes they are kept out.
        self.push(
            Code::ValueNotSupported,
            el,
            format!(
                "{what} for revocation checks on {}, which are not supported: Gatehouse has \
                 no revocation source (CRL or OCSP); write validate-revocation=\"false\"",
                here(el)
            ),
        );
    }

    /// The `<identity>` children of `<identities>`, at most 10 (APIM's limit).
    fn identities(&mut self, el: &Element, out: &mut Vec<CertificateIdentity>) {
        for node in &el.children {
            match node {
                Node::Text(t) => self.text(t, el),
                Node::Opaque(_) => {}
                Node::Element(child) if child.name == "identity" => {
                    if out.len() == 10 {
                        self.push(
                            Code::InvalidValue,
                            child,
                            format!("{}: at most 10 identities are allowed", here(child)),
                        );
                        return;
                    }
                    if let Some(identity) = self.identity(child) {
                        out.push(identity);
                    }
                }
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!(
                        "unknown element {}; <identities> may contain: identity",
                        here(child)
                    ),
                ),
            }
        }
    }

    fn identity(&mut self, el: &Element) -> Option<CertificateIdentity> {
        const NAMES: [&str; 8] = [
            "thumbprint",
            "serial-number",
            "common-name",
            "subject",
            "dns-name",
            "issuer-subject",
            "issuer-thumbprint",
            "issuer-certificate-id",
        ];
        let before = self.errors.len();
        self.attributes(el, &NAMES, &[]);
        self.no_content(el);
        let mut identity = CertificateIdentity::default();
        for name in NAMES {
            let Some(value) = el.attr(name) else {
                continue;
            };
            // `attributes` reported expressions and named values already.
            if is_expression(value) || find_named_value(value).is_some() {
                continue;
            }
            let value = value.trim();
            let slot = match name {
                "thumbprint" | "issuer-thumbprint" => {
                    if !is_valid_thumbprint(value) {
                        self.invalid(el, name, value, "a thumbprint is 40 hexadecimal digits");
                        continue;
                    }
                    let upper = value.to_ascii_uppercase();
                    if name == "thumbprint" {
                        identity.thumbprint = Some(upper);
                    } else {
                        identity.issuer_thumbprint = Some(upper);
                    }
                    continue;
                }
                "serial-number" => {
                    let digits: String = value
                        .chars()
                        .filter(|c| !matches!(c, ':' | ' ' | '-'))
                        .collect();
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                        self.invalid(el, name, value, "a serial number is hexadecimal digits");
                        continue;
                    }
                    let trimmed = digits.trim_start_matches('0');
                    let serial = if trimmed.is_empty() { "0" } else { trimmed };
                    identity.serial_number = Some(serial.to_ascii_uppercase());
                    continue;
                }
                "subject" | "issuer-subject" => {
                    if parse_distinguished_name(value).is_none() {
                        self.invalid(
                            el,
                            name,
                            value,
                            "a distinguished name is TYPE=value pairs separated by commas, \
                             e.g. \"CN=client, O=\\\"Contoso, Inc.\\\"\"",
                        );
                        continue;
                    }
                    if name == "subject" {
                        &mut identity.subject
                    } else {
                        &mut identity.issuer_subject
                    }
                }
                "issuer-certificate-id" => {
                    if !is_valid_entity_id(value) {
                        self.invalid(el, name, value, ENTITY_ID_RULE);
                        continue;
                    }
                    &mut identity.issuer_certificate_id
                }
                "common-name" => &mut identity.common_name,
                _ => &mut identity.dns_name,
            };
            if value.is_empty() {
                self.invalid(el, name, value, "the value must not be empty");
                continue;
            }
            *slot = Some(value.to_owned());
        }
        if el.attrs.is_empty() {
            self.push(
                Code::MissingAttribute,
                el,
                format!(
                    "{} states no claim; give at least one of: {}",
                    here(el),
                    NAMES.join(", ")
                ),
            );
        }
        if identity.issuer_certificate_id.is_some()
            && (el.attr("issuer-subject").is_some() || el.attr("issuer-thumbprint").is_some())
        {
            self.push(
                Code::ConflictingAttributes,
                el,
                format!(
                    "{}: issuer-certificate-id excludes issuer-subject and issuer-thumbprint",
                    here(el)
                ),
            );
        }
        (self.errors.len() == before).then_some(identity)
    }

    fn forward_client_certificate(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["header-name", "format"], &[]);
        self.no_content(el);
        let header = self.required(el, "header-name")?;
        if !clean {
            return None;
        }
        if !is_valid_header_name(header) {
            self.invalid(
                el,
                "header-name",
                header,
                "a header name is a non-empty HTTP token (letters, digits and !#$%&'*+-.^_`|~)",
            );
            return None;
        }
        let format = match el.attr("format") {
            None => CertificateFormat::default(),
            Some(value) => match CertificateFormat::ALL
                .into_iter()
                .find(|f| f.as_str() == value)
            {
                Some(f) => f,
                None => {
                    self.invalid(el, "format", value, "use base64, pem or thumbprint");
                    return None;
                }
            },
        };
        Some(Statement::ForwardClientCertificate {
            header: header.to_ascii_lowercase(),
            format,
            location: el.location(),
        })
    }

    fn forward_request(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["timeout", "follow-redirects"], &[]);
        self.no_content(el);
        if !clean {
            return None;
        }
        let mut timeout_seconds = None;
        if let Some(value) = el.attr("timeout") {
            match value.parse::<u32>() {
                Ok(t) if (1..=3600).contains(&t) && value.bytes().all(|b| b.is_ascii_digit()) => {
                    timeout_seconds = Some(t);
                }
                _ => self.invalid(
                    el,
                    "timeout",
                    value,
                    "the timeout is a whole number of seconds from 1 to 3600",
                ),
            }
        }
        let mut follow_redirects = None;
        if let Some(value) = el.attr("follow-redirects") {
            match value {
                "true" => {
                    follow_redirects = Some(true);
                    // Stored and ignored, it would pass the 3xx to the caller while the
                    // operator believes the gateway follows it.
                    self.push(
                        Code::ValueNotSupported,
                        el,
                        format!(
                            "follow-redirects=\"true\" on {} is not supported: the gateway \
                             does not follow redirects, it returns them to the caller; remove \
                             the attribute or set it to \"false\"",
                            here(el)
                        ),
                    );
                }
                "false" => follow_redirects = Some(false),
                _ => self.invalid(el, "follow-redirects", value, "use true or false"),
            }
        }
        Some(Statement::ForwardRequest {
            timeout_seconds,
            follow_redirects,
            location: el.location(),
        })
    }
}

const ENTITY_ID_RULE: &str = "an id is 1 to 80 letters, digits, '.', '_' or '-', starting with a \
                              letter or digit";

#[cfg(test)]
mod tests;
