//! Composing the global, API and operation documents into the policy a request runs.

use crate::document::PolicyDocument;
use crate::statements::Statement;
use crate::{Scope, Section};

/// A statement of the effective policy and the scope whose document it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The scope of the document the statement is written in.
    pub scope: Scope,
    /// The statement, with its location in that document.
    pub statement: Statement,
}

impl Placed {
    /// Where the statement comes from, for messages: e.g.
    /// `API policy, policies/inbound/set-header[1] (line 3, column 9)`.
    pub fn origin(&self) -> String {
        format!("{}, {}", self.scope.label(), self.statement.location())
    }
}

/// The policy of one request, as APIM composes it; no [`Statement::Base`] is left in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectivePolicy {
    /// The `<inbound>` statements, in the order they run.
    pub inbound: Vec<Placed>,
    /// The `<backend>` statements, in the order they run.
    pub backend: Vec<Placed>,
    /// The `<outbound>` statements, in the order they run.
    pub outbound: Vec<Placed>,
    /// The `<on-error>` statements, in the order they run.
    pub on_error: Vec<Placed>,
}

impl EffectivePolicy {
    /// The statements of one section.
    pub fn section(&self, section: Section) -> &[Placed] {
        match section {
            Section::Inbound => &self.inbound,
            Section::Backend => &self.backend,
            Section::Outbound => &self.outbound,
            Section::OnError => &self.on_error,
        }
    }
}

/// The effective policy of a request to an operation, composed as APIM does.
///
/// Each section starts from the most specific scope's section; where `<base />` appears the
/// parent scope's section is spliced in, recursively (operation, then API, then global). A
/// section without `<base />` does not inherit. A scope without a document, or a document
/// without the section, behaves as a section holding only `<base />`, so it inherits
/// everything. `<base />` in the global scope has no parent and adds nothing (the API layer
/// refuses it with [`PolicyDocument::validate_for_scope`]).
pub fn compose(
    global: Option<&PolicyDocument>,
    api: Option<&PolicyDocument>,
    operation: Option<&PolicyDocument>,
) -> EffectivePolicy {
    let chain = [
        (Scope::Operation, operation),
        (Scope::Api, api),
        (Scope::Global, global),
    ];
    let section = |s| {
        let mut out = Vec::new();
        expand(&chain, s, &mut out);
        out
    };
    EffectivePolicy {
        inbound: section(Section::Inbound),
        backend: section(Section::Backend),
        outbound: section(Section::Outbound),
        on_error: section(Section::OnError),
    }
}

/// Appends the statements of `section` of `chain[0]`, expanding `<base />` with `chain[1..]`.
fn expand(chain: &[(Scope, Option<&PolicyDocument>)], section: Section, out: &mut Vec<Placed>) {
    let Some(((scope, document), parents)) = chain.split_first() else {
        return;
    };
    let statements = match document {
        Some(d) if d.has_section(section) => d.statements(section),
        _ => {
            expand(parents, section, out);
            return;
        }
    };
    for statement in statements {
        if let Statement::Base { .. } = statement {
            expand(parents, section, out);
        } else {
            out.push(Placed {
                scope: *scope,
                statement,
            });
        }
    }
}

#[cfg(test)]
mod tests;
