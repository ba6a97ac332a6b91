use crate::{Limits, PolicyDocument, PolicyError, PolicyErrorCode as Code};

pub(super) fn refused(xml: &str) -> Vec<PolicyError> {
    match PolicyDocument::parse(xml, &Limits::default()) {
        Ok(_) => panic!("accepted: {xml}"),
        Err(errors) => errors,
    }
}

/// Wraps statements in an `<inbound>` (line 3, column 9 for the first one).
pub(super) fn inbound(body: &str) -> String {
    format!("<policies>\n    <inbound>\n        {body}\n    </inbound>\n</policies>")
}

pub(super) fn section(name: &str, body: &str) -> String {
    format!("<policies>\n    <{name}>\n        {body}\n    </{name}>\n</policies>")
}

/// Asserts the document is refused with exactly these codes, in order.
pub(super) fn codes(xml: &str, expected: &[Code]) -> Vec<PolicyError> {
    let errors = refused(xml);
    let got: Vec<Code> = errors.iter().map(|e| e.kind).collect();
    assert_eq!(got, expected, "{xml}\n{errors:#?}");
    errors
}

pub(super) fn one(xml: &str, code: Code) -> PolicyError {
    codes(xml, &[code]).remove(0)
}

#[test]
fn unknown_attribute_message_is_exact() {
    let errors = codes(
        &inbound("<authentication-certificate certifcate-id=\"client-a\" />"),
        &[Code::UnknownAttribute, Code::MissingAttribute],
    );
    let e = &errors[0];
    assert_eq!(e.code(), "PolicyUnknownAttribute");
    assert_eq!(
        e.message,
        "unknown attribute \"certifcate-id\" on <authentication-certificate> at \
         policies/inbound/authentication-certificate[1] (line 3, column 9); allowed: \
         certificate-id, thumbprint"
    );
    assert_eq!(
        e.location.path,
        "policies/inbound/authentication-certificate[1]"
    );
    assert_eq!((e.location.line, e.location.column), (3, 9));
    assert_eq!(
        e.target(),
        "policies/inbound/authentication-certificate[1] (line 3, column 9)"
    );
}

#[test]
fn every_problem_of_a_document_is_reported() {
    let xml = "<policies>
    <inbound>
        <base />
        <authentication-certificate certificate-id=\"ok\" />
        <authentication-certificate thumbprint=\"xyz\" />
        <rate-limit calls=\"10\" renewal-period=\"60\" />
    </inbound>
    <backend>
        <forward-request timeout=\"0\" />
    </backend>
    <outbound>
        <set-header name=\"bad name\" exists-action=\"replace\" />
    </outbound>
    <outbound />
</policies>";
    let errors = refused(xml);
    let summary: Vec<(Code, &str, u32, u32)> = errors
        .iter()
        .map(|e| {
            (
                e.kind,
                e.location.path.as_str(),
                e.location.line,
                e.location.column,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                Code::InvalidAttribute,
                "policies/inbound/authentication-certificate[2]",
                5,
                9
            ),
            (Code::UnknownElement, "policies/inbound/rate-limit[1]", 6, 9),
            (
                Code::InvalidAttribute,
                "policies/backend/forward-request[1]",
                9,
                9
            ),
            (
                Code::InvalidAttribute,
                "policies/outbound/set-header[1]",
                12,
                9
            ),
            (
                Code::InvalidAttribute,
                "policies/outbound/set-header[1]",
                12,
                9
            ),
            (
                Code::MissingElement,
                "policies/outbound/set-header[1]",
                12,
                9
            ),
            (Code::DuplicateElement, "policies/outbound[2]", 14, 5),
        ]
    );
    assert!(errors[1].message.contains("allowed in <inbound>: base, "));
    assert!(errors[2].message.contains("1 to 3600"));
    assert!(
        errors[3]
            .message
            .contains("override, skip, append or delete")
    );
    assert!(errors[4].message.contains("header name"));
}

#[test]
fn root_and_sections() {
    let e = one("<policy><inbound/></policy>", Code::UnknownElement);
    assert!(
        e.message.contains("root element must be <policies>"),
        "{}",
        e.message
    );
    let e = one(
        "<policies>\n  <inbund />\n</policies>",
        Code::UnknownElement,
    );
    assert_eq!(e.location.path, "policies/inbund");
    assert!(e.message.contains("inbound, backend, outbound, on-error"));
    let e = one("<policies version=\"1\"/>", Code::UnknownAttribute);
    assert!(e.message.ends_with("allowed: none"), "{}", e.message);
    one(
        "<policies><inbound id=\"x\"/></policies>",
        Code::UnknownAttribute,
    );
    let e = one(
        "<policies>\n  <backend/>\n  <backend/>\n</policies>",
        Code::DuplicateElement,
    );
    assert_eq!(e.location.path, "policies/backend[2]");
    assert_eq!(e.location.line, 3);
}

#[test]
fn sections_are_optional_and_in_any_order() {
    for xml in [
        "<policies/>",
        "<policies></policies>",
        "<policies><on-error/><outbound/><backend/><inbound/></policies>",
        "<policies><outbound><base/></outbound></policies>",
    ] {
        let doc = PolicyDocument::parse(xml, &Limits::default()).unwrap();
        assert_eq!(doc.to_xml(), xml);
    }
}

#[test]
fn text_outside_values_is_refused_where_it_is() {
    let e = one(
        "<policies>\n    <inbound>\n        <base />\n\n      oops\n    </inbound>\n</policies>",
        Code::UnexpectedText,
    );
    assert_eq!(e.location.path, "policies/inbound");
    assert_eq!((e.location.line, e.location.column), (5, 7));
    assert!(e.message.contains("\"oops\""), "{}", e.message);
    one("<policies>x</policies>", Code::UnexpectedText);
    one(
        &inbound("<authentication-certificate certificate-id=\"a\">x</authentication-certificate>"),
        Code::UnexpectedText,
    );
    one(&inbound("<base>text</base>"), Code::UnexpectedText);
    one(
        &inbound("<set-header name=\"X\">x<value>v</value></set-header>"),
        Code::UnexpectedText,
    );
    // Whitespace, comments and character references for whitespace are fine.
    PolicyDocument::parse(
        "<policies> <!-- c --> &#32;<inbound>\t<base></base> </inbound></policies>",
        &Limits::default(),
    )
    .unwrap();
}

#[test]
fn child_elements_where_none_belong() {
    let e = one(&inbound("<base><x/></base>"), Code::UnknownElement);
    assert_eq!(e.location.path, "policies/inbound/base[1]/x[1]");
    assert!(e.message.contains("<base> takes no child elements"));
    codes(
        &inbound("<set-header name=\"X\"><values>v</values></set-header>"),
        &[Code::UnknownElement, Code::MissingElement],
    );
    let e = one(
        &inbound("<set-header name=\"X\"><value>v<b/></value></set-header>"),
        Code::UnknownElement,
    );
    assert_eq!(
        e.location.path,
        "policies/inbound/set-header[1]/value[1]/b[1]"
    );
    one(
        &inbound("<set-header name=\"X\"><value id=\"1\">v</value></set-header>"),
        Code::UnknownAttribute,
    );
}

#[test]
fn duplicate_attribute() {
    let e = one(
        &inbound("<authentication-basic username=\"a\" username='b' password=\"p\" />"),
        Code::DuplicateAttribute,
    );
    assert!(e.message.contains("duplicate attribute \"username\""));
    assert_eq!(e.location.path, "policies/inbound/authentication-basic[1]");
}
