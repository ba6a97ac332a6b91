//! Editing a document while leaving every byte it does not have to change alone.
//!
//! Edits swap, remove or insert whole nodes of the tree; new whitespace copies the indentation
//! and line endings the document already uses, so the result reads as if a person had typed it.

use crate::document::PolicyDocument;
use crate::error::PolicyError;
use crate::statements::{CertificateRef, GatewayCredentials};
use crate::tree::{Element, Node, Text};
use crate::validate::{self, is_credential_element};
use crate::{Scope, Section};

/// How new lines are written.
struct Style {
    newline: &'static str,
    /// One level of indentation.
    unit: String,
    /// The document is on a single line: add no whitespace at all.
    compact: bool,
}

impl GatewayCredentials {
    /// The element [`PolicyDocument::set_gateway_credentials`] writes for these credentials,
    /// `None` for [`GatewayCredentials::None`].
    fn element(&self) -> Option<Element> {
        match self {
            Self::None => None,
            Self::ClientCertificate(CertificateRef::Id(id)) => Some(Element::new_empty(
                "authentication-certificate",
                &[("certificate-id", id)],
            )),
            Self::ClientCertificate(CertificateRef::Thumbprint(thumbprint)) => {
                Some(Element::new_empty(
                    "authentication-certificate",
                    &[("thumbprint", &thumbprint.to_ascii_uppercase())],
                ))
            }
            Self::Basic { username, password } => Some(Element::new_empty(
                "authentication-basic",
                &[("username", username), ("password", password)],
            )),
        }
    }

    /// Checks that these credentials make a valid policy statement (valid ids and thumbprint,
    /// a user name without ':', no policy expressions or named values), so that
    /// [`PolicyDocument::set_gateway_credentials`] yields a document that parses again.
    ///
    /// # Errors
    ///
    /// The problems, with the codes and messages parsing would give.
    pub fn validate(&self) -> Result<(), Vec<PolicyError>> {
        let errors = self
            .element()
            .map(|el| validate::statement_errors(&el))
            .unwrap_or_default();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl PolicyDocument {
    /// Makes `creds` the gateway credentials of this document: the single
    /// `<authentication-certificate>` or `<authentication-basic>` element of `<inbound>`.
    ///
    /// Other elements of those two kinds in `<inbound>` are removed;
    /// [`GatewayCredentials::None`] removes them all. The new element takes the place of the
    /// first removed one, or goes right after `<base />` in `<inbound>`, or first in
    /// `<inbound>`; `<inbound>` is created (with `<base />` unless `scope` is global) when
    /// missing. New lines copy the indentation of their siblings, and every other byte of the
    /// document stays as it was. Setting the credentials a document already has changes
    /// nothing. Thumbprints are written upper-case. Values are written escaped; check them first with
    /// [`GatewayCredentials::validate`].
    pub fn set_gateway_credentials(&mut self, creds: &GatewayCredentials, scope: Scope) {
        if self.has_exactly(creds) {
            return;
        }
        let xml = self.to_xml();
        let newline = if xml.contains("\r\n") { "\r\n" } else { "\n" };
        let compact = !xml.contains('\n');
        let Some(root_index) = self
            .nodes
            .iter()
            .position(|n| matches!(n, Node::Element(_)))
        else {
            return;
        };
        let root_indent = indent_before(&self.nodes, root_index).unwrap_or_default();
        let Some(Node::Element(root)) = self.nodes.get_mut(root_index) else {
            return;
        };
        let section_indent = child_indent(root);
        let unit = section_indent
            .as_deref()
            .and_then(|s| s.strip_prefix(root_indent.as_str()))
            .filter(|u| !u.is_empty())
            .unwrap_or("    ")
            .to_owned();
        let style = Style {
            newline,
            unit,
            compact,
        };
        let section_indent =
            section_indent.unwrap_or_else(|| format!("{root_indent}{}", style.unit));
        let new_element = creds.element();
        let inbound_index = root
            .children
            .iter()
            .position(|n| matches!(n, Node::Element(e) if e.name == Section::Inbound.as_str()));
        match inbound_index {
            Some(index) => {
                if let Some(Node::Element(inbound)) = root.children.get_mut(index) {
                    edit_inbound(inbound, new_element, &section_indent, &style);
                }
            }
            None => {
                let Some(element) = new_element else {
                    return;
                };
                let inbound = new_inbound(element, scope, &section_indent, &style);
                root.open();
                insert(root, 0, inbound, &section_indent, &root_indent, &style);
            }
        }
        self.refresh();
    }

    /// Whether `<inbound>` already holds exactly these credentials and no others.
    fn has_exactly(&self, creds: &GatewayCredentials) -> bool {
        let count = self
            .statements(Section::Inbound)
            .iter()
            .filter(|s| is_credential_element(s.element_name()))
            .count();
        match creds {
            GatewayCredentials::None => count == 0,
            GatewayCredentials::ClientCertificate(CertificateRef::Thumbprint(t)) => {
                count == 1
                    && self.gateway_credentials()
                        == GatewayCredentials::ClientCertificate(CertificateRef::Thumbprint(
                            t.to_ascii_uppercase(),
                        ))
            }
            _ => count == 1 && self.gateway_credentials() == *creds,
        }
    }
}

fn edit_inbound(inbound: &mut Element, new: Option<Element>, own_indent: &str, style: &Style) {
    let existing: Vec<usize> = inbound
        .children
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n, Node::Element(e) if is_credential_element(&e.name)))
        .map(|(i, _)| i)
        .collect();
    if let Some((&first, rest)) = existing.split_first() {
        // Back to front, so the indices still to visit stay valid.
        for &index in rest.iter().rev() {
            remove(&mut inbound.children, index);
        }
        match new {
            Some(element) => {
                if let Some(slot) = inbound.children.get_mut(first) {
                    *slot = Node::Element(element);
                }
            }
            None => remove(&mut inbound.children, first),
        }
        return;
    }
    let Some(element) = new else {
        return;
    };
    let indent = child_indent(inbound).unwrap_or_else(|| format!("{own_indent}{}", style.unit));
    let mut at = inbound
        .children
        .iter()
        .position(|n| matches!(n, Node::Element(e) if e.name == "base"))
        .map_or(0, |base| base + 1);
    if at > 0 {
        // A comment on the same line as <base /> belongs to it: go after it.
        while let Some(node) = inbound.children.get(at) {
            match node {
                Node::Opaque(_) => at += 1,
                Node::Text(t) if t.is_whitespace() && !t.raw.contains('\n') => at += 1,
                _ => break,
            }
        }
    }
    inbound.open();
    insert(inbound, at, element, &indent, own_indent, style);
}

/// A new `<inbound>` holding `<base />` (below the global scope) and the credentials.
fn new_inbound(credentials: Element, scope: Scope, indent: &str, style: &Style) -> Element {
    let mut inbound = Element::new_empty(Section::Inbound.as_str(), &[]);
    inbound.open();
    let mut content = Vec::new();
    if scope != Scope::Global {
        content.push(Element::new_empty("base", &[]));
    }
    content.push(credentials);
    let inner = format!("{indent}{}", style.unit);
    for element in content {
        if !style.compact {
            inbound
                .children
                .push(whitespace(format!("{}{inner}", style.newline)));
        }
        inbound.children.push(Node::Element(element));
    }
    if !style.compact {
        inbound
            .children
            .push(whitespace(format!("{}{indent}", style.newline)));
    }
    inbound
}

/// Inserts `element` as child node `at` of `parent` on its own line.
fn insert(
    parent: &mut Element,
    at: usize,
    element: Element,
    indent: &str,
    parent_indent: &str,
    style: &Style,
) {
    let at = at.min(parent.children.len());
    if style.compact {
        parent.children.insert(at, Node::Element(element));
        return;
    }
    parent.children.insert(at, Node::Element(element));
    parent
        .children
        .insert(at, whitespace(format!("{}{indent}", style.newline)));
    // Whatever followed must still start on a line of its own.
    match parent.children.get(at + 2) {
        None => parent
            .children
            .push(whitespace(format!("{}{parent_indent}", style.newline))),
        Some(Node::Text(t)) if t.is_whitespace() => {}
        Some(_) => parent
            .children
            .insert(at + 2, whitespace(format!("{}{indent}", style.newline))),
    }
}

/// Removes child node `index` and the whitespace that led up to it, so no blank line is left.
fn remove(children: &mut Vec<Node>, index: usize) {
    if index >= children.len() {
        return;
    }
    children.remove(index);
    if let Some(prev) = index.checked_sub(1)
        && matches!(children.get(prev), Some(Node::Text(t)) if t.is_whitespace())
    {
        children.remove(prev);
    }
}

fn whitespace(s: String) -> Node {
    Node::Text(Text::whitespace(s))
}

/// The indentation of the line node `index` starts, if whitespace with a line break leads to
/// it.
fn indent_before(nodes: &[Node], index: usize) -> Option<String> {
    let prev = nodes.get(index.checked_sub(1)?)?;
    match prev {
        Node::Text(t) if t.is_whitespace() => {
            let (_, indent) = t.raw.rsplit_once('\n')?;
            Some(indent.to_owned())
        }
        _ => None,
    }
}

/// The indentation of the first child element of `el` that starts its own line.
fn child_indent(el: &Element) -> Option<String> {
    el.children
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n, Node::Element(_)))
        .find_map(|(i, _)| indent_before(&el.children, i))
}

#[cfg(test)]
mod tests;
