//! [`PolicyDocument`]: parsing, writing, the typed view and the handling of secrets.

use std::fmt;

use crate::error::{Location, PolicyError, PolicyErrorCode};
use crate::statements::{CertificateRef, GatewayCredentials, Reference, ReferenceKind, Statement};
use crate::tree::{self, Element, Node};
use crate::validate;
use crate::{Limits, MASK, Scope, Section};

/// APIM's default global policy, as its editor writes it.
const GLOBAL_DEFAULT: &str = "<policies>
    <inbound />
    <backend>
        <forward-request />
    </backend>
    <outbound />
    <on-error />
</policies>";

/// APIM's default API and operation policy: inherit everything.
const SCOPED_DEFAULT: &str = "<policies>
    <inbound>
        <base />
    </inbound>
    <backend>
        <base />
    </backend>
    <outbound>
        <base />
    </outbound>
    <on-error>
        <base />
    </on-error>
</policies>";

/// A validated policy document.
///
/// It keeps every piece of the text it was parsed from (declaration, comments, whitespace,
/// quoting, entity references, line endings), so [`PolicyDocument::to_xml`] of an unedited
/// document returns the input byte for byte. `Debug` shows the masked XML.
#[derive(Clone)]
pub struct PolicyDocument {
    pub(crate) nodes: Vec<Node>,
}

impl PolicyDocument {
    /// Parses `xml` and validates it against the supported policy schema.
    ///
    /// # Errors
    ///
    /// Every problem found: malformed XML, DOCTYPEs, processing instructions, unknown or
    /// misplaced elements and attributes, invalid values, policy expressions, named values and
    /// exceeded [`Limits`]. Malformed XML and exceeded limits stop the parse at the first
    /// problem; schema problems are all reported.
    pub fn parse(xml: &str, limits: &Limits) -> Result<Self, Vec<PolicyError>> {
        let nodes = tree::parse(xml, limits)?;
        let errors = validate::document(&nodes, limits);
        if errors.is_empty() {
            Ok(Self { nodes })
        } else {
            Err(errors)
        }
    }

    /// Parses a document that [`PolicyDocument::parse`] accepted when it was stored.
    ///
    /// Problems of kind [`PolicyErrorCode::ValueNotSupported`] do not refuse it: they are
    /// values refused only since the document was stored, and refusing them here would make a
    /// data directory unloadable after an upgrade. [`PolicyDocument::unsupported`] lists them
    /// so the caller can report them.
    ///
    /// # Errors
    ///
    /// Every other problem, as [`PolicyDocument::parse`] reports it.
    pub fn parse_stored(xml: &str, limits: &Limits) -> Result<Self, Vec<PolicyError>> {
        let nodes = tree::parse(xml, limits)?;
        let errors: Vec<PolicyError> = validate::document(&nodes, limits)
            .into_iter()
            .filter(|e| e.kind != PolicyErrorCode::ValueNotSupported)
            .collect();
        if errors.is_empty() {
            Ok(Self { nodes })
        } else {
            Err(errors)
        }
    }

    /// The values of this document that ask for behaviour the gateway does not have, each
    /// with its location; empty for every document [`PolicyDocument::parse`] accepts.
    pub fn unsupported(&self) -> Vec<PolicyError> {
        validate::document(&self.nodes, &Limits::unlimited())
            .into_iter()
            .filter(|e| e.kind == PolicyErrorCode::ValueNotSupported)
            .collect()
    }

    /// The document APIM starts a scope with: for the global scope empty sections and
    /// `<backend><forward-request /></backend>`, for API and operation scopes `<base />` in
    /// every section. Indented with 4 spaces like APIM's editor.
    pub fn default_for_scope(scope: Scope) -> Self {
        let xml = match scope {
            Scope::Global => GLOBAL_DEFAULT,
            Scope::Api | Scope::Operation => SCOPED_DEFAULT,
        };
        // The constants parse (tested); the fallback only avoids a panic path.
        Self::parse(xml, &Limits::default()).unwrap_or_else(|_| Self {
            nodes: vec![Node::Opaque(xml.to_owned())],
        })
    }

    /// Checks the rules that depend on the scope the document is attached to: `<base />` is
    /// refused in the global policy, which has no parent.
    ///
    /// # Errors
    ///
    /// A [`PolicyErrorCode::MisplacedElement`] error for each `<base />` of a global document.
    pub fn validate_for_scope(&self, scope: Scope) -> Result<(), Vec<PolicyError>> {
        let errors = validate::for_scope(&self.nodes, scope);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The document as XML; byte-identical to the input if it was not edited.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        tree::write_nodes(&self.nodes, &mut out);
        out
    }

    /// The document as XML with every `<authentication-basic>` password replaced by [`MASK`],
    /// for showing to users; everything else is as in [`PolicyDocument::to_xml`].
    pub fn to_masked_xml(&self) -> String {
        let mut masked = self.clone();
        for (_, el) in masked.basic_elements_mut() {
            el.set_attr("password", MASK);
        }
        masked.to_xml()
    }

    /// The `<authentication-basic>` password values, in document order.
    pub fn secrets(&self) -> Vec<String> {
        self.basic_elements()
            .into_iter()
            .filter_map(|(_, el)| el.attr("password").map(str::to_owned))
            .collect()
    }

    /// Puts secrets (as returned by [`PolicyDocument::secrets`]) back into the passwords, in
    /// document order; the inverse of storing a masked document and its secrets apart.
    ///
    /// # Errors
    ///
    /// [`PolicyErrorCode::SecretCountMismatch`] when `secrets` does not have one value per
    /// password; the document is unchanged then.
    pub fn fill_secrets(&mut self, secrets: &[String]) -> Result<(), PolicyError> {
        let count = self.secrets().len();
        if count != secrets.len() {
            return Err(PolicyError::new(
                PolicyErrorCode::SecretCountMismatch,
                Location::document(),
                format!(
                    "the policy document has {count} password(s) but {} secret(s) were given",
                    secrets.len()
                ),
            ));
        }
        let mut secrets = secrets.iter();
        for (_, el) in self.basic_elements_mut() {
            if el.attr("password").is_some()
                && let Some(secret) = secrets.next()
            {
                el.set_attr("password", secret);
            }
        }
        self.refresh();
        Ok(())
    }

    /// For a document a user sends back after reading the masked one: every password equal
    /// to [`MASK`] takes the password of the `<authentication-basic>` element of `previous`
    /// in the same section with the same username (the first one not used yet).
    ///
    /// # Errors
    ///
    /// A [`PolicyErrorCode::SecretMasked`] error for each masked password without a match;
    /// the document is unchanged then.
    pub fn restore_masked_secrets(
        &mut self,
        previous: Option<&PolicyDocument>,
    ) -> Result<(), Vec<PolicyError>> {
        let candidates: Vec<(Section, &str, &str)> = previous
            .map(|p| {
                p.basic_elements()
                    .into_iter()
                    .filter_map(|(s, el)| Some((s, el.attr("username")?, el.attr("password")?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut used = vec![false; candidates.len()];
        let mut restored = Vec::new();
        let mut errors = Vec::new();
        for (index, (section, el)) in self.basic_elements().into_iter().enumerate() {
            if el.attr("password") != Some(MASK) {
                continue;
            }
            let username = el.attr("username").unwrap_or_default();
            let found = candidates
                .iter()
                .zip(&used)
                .position(|((s, u, _), used)| !*used && *s == section && *u == username);
            match found.and_then(|j| Some((j, candidates.get(j)?.2))) {
                Some((j, password)) => {
                    if let Some(u) = used.get_mut(j) {
                        *u = true;
                    }
                    restored.push((index, password.to_owned()));
                }
                None => errors.push(PolicyError::new(
                    PolicyErrorCode::SecretMasked,
                    el.location(),
                    format!(
                        "the password of <authentication-basic> at {} is the mask \"{MASK}\", \
                         but the current policy has no <authentication-basic> with username \
                         \"{username}\" in <{}> to take it from; send the real password; the \
                         masked value only keeps an existing one",
                        el.location(),
                        section.as_str()
                    ),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if restored.is_empty() {
            return Ok(());
        }
        let mut elements = self.basic_elements_mut();
        for (index, password) in restored {
            if let Some((_, el)) = elements.get_mut(index) {
                el.set_attr("password", &password);
            }
        }
        self.refresh();
        Ok(())
    }

    /// The ids the document refers to (certificates by id or thumbprint, backends), in
    /// document order.
    pub fn references(&self) -> Vec<Reference> {
        let Some(root) = self.root() else {
            return Vec::new();
        };
        root.child_elements()
            .filter(|s| Section::from_name(&s.name).is_some())
            .flat_map(Element::child_elements)
            .filter_map(validate::typed)
            .flat_map(|statement| {
                let kinds = match &statement {
                    Statement::AuthenticationCertificate { certificate, .. } => {
                        vec![match certificate {
                            CertificateRef::Id(id) => ReferenceKind::CertificateId(id.clone()),
                            CertificateRef::Thumbprint(t) => {
                                ReferenceKind::CertificateThumbprint(t.clone())
                            }
                        }]
                    }
                    Statement::SetBackendService {
                        target: crate::BackendTarget::BackendId(id),
                        ..
                    } => vec![ReferenceKind::BackendId(id.clone())],
                    Statement::ValidateClientCertificate { identities, .. } => identities
                        .iter()
                        .filter_map(|i| i.issuer_certificate_id.clone())
                        .map(ReferenceKind::CaCertificateId)
                        .collect(),
                    _ => Vec::new(),
                };
                let location = statement.location().clone();
                kinds.into_iter().map(move |kind| Reference {
                    kind,
                    location: location.clone(),
                })
            })
            .collect()
    }

    /// The typed statements of a section, in order, including [`Statement::Base`]; empty if
    /// the document has no such section.
    pub fn statements(&self, section: Section) -> Vec<Statement> {
        self.section_element(section)
            .map(|s| s.child_elements().filter_map(validate::typed).collect())
            .unwrap_or_default()
    }

    /// Whether the document has the section at all (an empty `<outbound />` counts).
    pub fn has_section(&self, section: Section) -> bool {
        self.section_element(section).is_some()
    }

    /// The credentials the first `<authentication-certificate>` or `<authentication-basic>`
    /// of `<inbound>` gives the gateway, or [`GatewayCredentials::None`].
    pub fn gateway_credentials(&self) -> GatewayCredentials {
        self.statements(Section::Inbound)
            .into_iter()
            .find_map(|s| match s {
                Statement::AuthenticationCertificate { certificate, .. } => {
                    Some(GatewayCredentials::ClientCertificate(certificate))
                }
                Statement::AuthenticationBasic {
                    username, password, ..
                } => Some(GatewayCredentials::Basic { username, password }),
                _ => None,
            })
            .unwrap_or_default()
    }

    pub(crate) fn root(&self) -> Option<&Element> {
        self.nodes.iter().find_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    pub(crate) fn root_mut(&mut self) -> Option<&mut Element> {
        self.nodes.iter_mut().find_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    fn section_element(&self, section: Section) -> Option<&Element> {
        self.root()?
            .child_elements()
            .find(|e| e.name == section.as_str())
    }

    fn basic_elements(&self) -> Vec<(Section, &Element)> {
        let mut out = Vec::new();
        for section in self.root().into_iter().flat_map(Element::child_elements) {
            if let Some(s) = Section::from_name(&section.name) {
                out.extend(
                    section
                        .child_elements()
                        .filter(|e| e.name == "authentication-basic")
                        .map(|e| (s, e)),
                );
            }
        }
        out
    }

    fn basic_elements_mut(&mut self) -> Vec<(Section, &mut Element)> {
        let mut out = Vec::new();
        for section in self
            .root_mut()
            .into_iter()
            .flat_map(Element::child_elements_mut)
        {
            if let Some(s) = Section::from_name(&section.name) {
                out.extend(
                    section
                        .child_elements_mut()
                        .filter(|e| e.name == "authentication-basic")
                        .map(|e| (s, e)),
                );
            }
        }
        out
    }

    /// Re-reads the document after an edit so that paths, lines and columns are current.
    pub(crate) fn refresh(&mut self) {
        if let Ok(nodes) = tree::parse(&self.to_xml(), &Limits::unlimited()) {
            self.nodes = nodes;
        }
    }
}

impl PartialEq for PolicyDocument {
    fn eq(&self, other: &Self) -> bool {
        self.to_xml() == other.to_xml()
    }
}

impl Eq for PolicyDocument {}

impl fmt::Debug for PolicyDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyDocument")
            .field("xml", &self.to_masked_xml())
            .finish()
    }
}

#[cfg(test)]
mod tests;
