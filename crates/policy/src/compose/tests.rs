use super::*;
use crate::Limits;

/// A document from `(section, items)` pairs; an item is `base` or the name of a header that a
/// `<set-header>` sets, so every statement is recognizable in the result.
fn doc(sections: &[(&str, &[&str])]) -> PolicyDocument {
    let mut xml = String::from("<policies>\n");
    for (section, items) in sections {
        xml.push_str(&format!("    <{section}>\n"));
        for item in *items {
            if *item == "base" {
                xml.push_str("        <base />\n");
            } else {
                xml.push_str(&format!(
                    "        <set-header name=\"{item}\"><value>1</value></set-header>\n"
                ));
            }
        }
        xml.push_str(&format!("    </{section}>\n"));
    }
    xml.push_str("</policies>");
    PolicyDocument::parse(&xml, &Limits::default()).unwrap_or_else(|e| panic!("{xml}\n{e:#?}"))
}

/// `scope:header` for each statement, so order and origin are checked together.
fn names(placed: &[Placed]) -> Vec<String> {
    placed
        .iter()
        .map(|p| {
            let name = match &p.statement {
                Statement::SetHeader { name, .. } => name.clone(),
                other => other.element_name().to_owned(),
            };
            format!("{}:{name}", p.scope.as_str())
        })
        .collect()
}

fn inbound_of(
    global: Option<&PolicyDocument>,
    api: Option<&PolicyDocument>,
    operation: Option<&PolicyDocument>,
) -> Vec<String> {
    names(&compose(global, api, operation).inbound)
}

#[test]
fn base_at_start_middle_and_end() {
    let global = doc(&[("inbound", &["g1", "g2"])]);
    let start = doc(&[("inbound", &["base", "a1", "a2"])]);
    let middle = doc(&[("inbound", &["a1", "base", "a2"])]);
    let end = doc(&[("inbound", &["a1", "a2", "base"])]);
    assert_eq!(
        inbound_of(Some(&global), Some(&start), None),
        ["global:g1", "global:g2", "api:a1", "api:a2"]
    );
    assert_eq!(
        inbound_of(Some(&global), Some(&middle), None),
        ["api:a1", "global:g1", "global:g2", "api:a2"]
    );
    assert_eq!(
        inbound_of(Some(&global), Some(&end), None),
        ["api:a1", "api:a2", "global:g1", "global:g2"]
    );
}

#[test]
fn a_section_without_base_does_not_inherit() {
    let global = doc(&[("inbound", &["g1"]), ("outbound", &["g-out"])]);
    let api = doc(&[("inbound", &["a1"]), ("outbound", &[])]);
    let effective = compose(Some(&global), Some(&api), None);
    assert_eq!(names(&effective.inbound), ["api:a1"]);
    assert!(effective.outbound.is_empty());
}

#[test]
fn missing_documents_and_sections_inherit_everything() {
    let global = doc(&[("inbound", &["g1"]), ("backend", &["g-back"])]);
    let api_without_inbound = doc(&[("backend", &["a-back"])]);
    let effective = compose(Some(&global), Some(&api_without_inbound), None);
    assert_eq!(names(&effective.inbound), ["global:g1"]);
    assert_eq!(names(&effective.backend), ["api:a-back"]);

    let operation = doc(&[("inbound", &["o1", "base"])]);
    assert_eq!(
        inbound_of(Some(&global), None, Some(&operation)),
        ["operation:o1", "global:g1"]
    );
    assert_eq!(inbound_of(None, None, Some(&operation)), ["operation:o1"]);
    assert_eq!(inbound_of(Some(&global), None, None), ["global:g1"]);
    assert_eq!(compose(None, None, None), EffectivePolicy::default());
}

#[test]
fn three_levels_in_apim_order() {
    let global = PolicyDocument::parse(
        "<policies>
    <inbound>
        <set-header name=\"g-in\"><value>1</value></set-header>
    </inbound>
    <backend>
        <forward-request timeout=\"60\" />
    </backend>
    <outbound>
        <set-header name=\"g-out\"><value>1</value></set-header>
    </outbound>
    <on-error>
        <set-header name=\"g-err\"><value>1</value></set-header>
    </on-error>
</policies>",
        &Limits::default(),
    )
    .unwrap();
    let api = doc(&[
        ("inbound", &["a-in-1", "base", "a-in-2"]),
        ("backend", &["base"]),
        ("outbound", &["base", "a-out"]),
    ]);
    let operation = doc(&[
        ("inbound", &["base", "o-in"]),
        ("outbound", &["o-out"]),
        ("on-error", &["base", "o-err"]),
    ]);
    let effective = compose(Some(&global), Some(&api), Some(&operation));
    assert_eq!(
        names(&effective.inbound),
        ["api:a-in-1", "global:g-in", "api:a-in-2", "operation:o-in"]
    );
    assert_eq!(names(&effective.backend), ["global:forward-request"]);
    assert_eq!(names(&effective.outbound), ["operation:o-out"]);
    assert_eq!(
        names(&effective.on_error),
        ["global:g-err", "operation:o-err"]
    );
    assert!(
        Section::ALL
            .into_iter()
            .flat_map(|s| effective.section(s))
            .all(|p| !matches!(p.statement, Statement::Base { .. }))
    );
    // Statements keep where they were written, for messages.
    let first = &effective.inbound[0];
    assert_eq!(
        first.origin(),
        "API policy, policies/inbound/set-header[1] (line 3, column 9)"
    );
    assert_eq!(
        effective.backend[0].origin(),
        "global policy, policies/backend/forward-request[1] (line 6, column 9)"
    );
}

#[test]
fn defaults_compose_to_the_global_forward_request() {
    let global = PolicyDocument::default_for_scope(Scope::Global);
    let api = PolicyDocument::default_for_scope(Scope::Api);
    let operation = PolicyDocument::default_for_scope(Scope::Operation);
    let effective = compose(Some(&global), Some(&api), Some(&operation));
    assert!(effective.inbound.is_empty());
    assert_eq!(names(&effective.backend), ["global:forward-request"]);
    assert!(effective.outbound.is_empty());
    assert!(effective.on_error.is_empty());
}

#[test]
fn base_in_a_global_document_adds_nothing() {
    let global = doc(&[("inbound", &["base", "g1"])]);
    assert_eq!(inbound_of(Some(&global), None, None), ["global:g1"]);
}
