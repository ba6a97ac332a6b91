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
}

const ENTITY_ID_RULE: &str = "an id is 1 to 80 letters, digits, '.', '_' or '-', starting with a \
                              letter or digit";

mod statements;

#[cfg(test)]
mod tests;
