use crate::{
    CertificateRef, GatewayCredentials, Limits, Location, MASK, PolicyDocument, PolicyErrorCode,
    Reference, ReferenceKind, Scope, Section, Statement,
};

fn parse(xml: &str) -> PolicyDocument {
    PolicyDocument::parse(xml, &Limits::default()).unwrap_or_else(|e| panic!("{xml}\n{e:#?}"))
}

const WITH_SECRETS: &str = "<policies>
    <inbound>
        <base />
        <authentication-basic username=\"svc\" password='s3cr&amp;t\"' />
        <authentication-basic password=\"second\" username=\"svc\" />
    </inbound>
    <outbound>
        <base />
    </outbound>
</policies>";

#[test]
fn default_documents_are_apims() {
    let global = PolicyDocument::default_for_scope(Scope::Global);
    assert_eq!(
        global.to_xml(),
        "<policies>\n    <inbound />\n    <backend>\n        <forward-request />\n    \
         </backend>\n    <outbound />\n    <on-error />\n</policies>"
    );
    assert!(global.validate_for_scope(Scope::Global).is_ok());
    assert_eq!(global.statements(Section::Inbound), vec![]);
    assert!(global.has_section(Section::Inbound));
    assert!(matches!(
        global.statements(Section::Backend).as_slice(),
        [Statement::ForwardRequest {
            timeout_seconds: None,
            follow_redirects: None,
            ..
        }]
    ));
    for scope in [Scope::Api, Scope::Operation] {
        let doc = PolicyDocument::default_for_scope(scope);
        assert_eq!(
            doc.to_xml(),
            "<policies>\n    <inbound>\n        <base />\n    </inbound>\n    <backend>\n        \
             <base />\n    </backend>\n    <outbound>\n        <base />\n    </outbound>\n    \
             <on-error>\n        <base />\n    </on-error>\n</policies>"
        );
        assert!(doc.validate_for_scope(scope).is_ok());
        for section in Section::ALL {
            let statements = doc.statements(section);
            assert!(matches!(statements.as_slice(), [Statement::Base { .. }]));
        }
        assert_eq!(doc.gateway_credentials(), GatewayCredentials::None);
    }
}

#[test]
fn base_is_refused_in_the_global_scope_only() {
    let doc = PolicyDocument::default_for_scope(Scope::Api);
    assert!(doc.validate_for_scope(Scope::Api).is_ok());
    assert!(doc.validate_for_scope(Scope::Operation).is_ok());
    let errors = doc.validate_for_scope(Scope::Global).unwrap_err();
    assert_eq!(errors.len(), 4);
    assert!(errors.iter().all(|e| e.code() == "PolicyMisplacedElement"));
    assert_eq!(errors[0].location.path, "policies/inbound/base[1]");
    assert_eq!((errors[0].location.line, errors[0].location.column), (3, 9));
    assert!(
        errors[3].message.contains("global policy"),
        "{}",
        errors[3].message
    );
}

#[test]
fn locations_and_sections() {
    let doc = parse(
        "<policies>\n  <outbound>\n    <set-header name=\"a\"><value>1</value></set-header><set-header name=\"b\"><value>2</value></set-header>\n  </outbound>\n</policies>",
    );
    assert!(!doc.has_section(Section::Inbound));
    assert!(doc.statements(Section::Inbound).is_empty());
    let locations: Vec<Location> = doc
        .statements(Section::Outbound)
        .iter()
        .map(|s| s.location().clone())
        .collect();
    assert_eq!(
        locations,
        vec![
            Location {
                path: "policies/outbound/set-header[1]".into(),
                line: 3,
                column: 5
            },
            Location {
                path: "policies/outbound/set-header[2]".into(),
                line: 3,
                column: 55
            },
        ]
    );
}

#[test]
fn references_in_document_order() {
    let thumbprint = "0123456789abcdef0123456789abcdef01234567";
    let doc = parse(&format!(
        "<policies>
    <inbound>
        <set-backend-service backend-id=\"orders\" />
        <authentication-certificate thumbprint=\"{thumbprint}\" />
        <authentication-certificate certificate-id=\"client-a\" />
        <set-backend-service base-url=\"https://example.com\" />
    </inbound>
    <backend>
        <set-backend-service backend-id=\"fallback\" />
    </backend>
</policies>"
    ));
    let refs: Vec<(ReferenceKind, String, u32)> = doc
        .references()
        .into_iter()
        .map(|Reference { kind, location }| (kind, location.path, location.line))
        .collect();
    assert_eq!(
        refs,
        vec![
            (
                ReferenceKind::BackendId("orders".into()),
                "policies/inbound/set-backend-service[1]".into(),
                3
            ),
            (
                ReferenceKind::CertificateThumbprint(thumbprint.to_ascii_uppercase()),
                "policies/inbound/authentication-certificate[1]".into(),
                4
            ),
            (
                ReferenceKind::CertificateId("client-a".into()),
                "policies/inbound/authentication-certificate[2]".into(),
                5
            ),
            (
                ReferenceKind::BackendId("fallback".into()),
                "policies/backend/set-backend-service[1]".into(),
                9
            ),
        ]
    );
}

#[test]
fn gateway_credentials_take_the_first_of_inbound() {
    let doc = parse(
        "<policies><inbound><set-header name=\"x\"><value>1</value></set-header>\
         <authentication-certificate certificate-id=\"c1\"/><authentication-basic username=\"u\" password=\"p\"/></inbound></policies>",
    );
    assert_eq!(
        doc.gateway_credentials(),
        GatewayCredentials::ClientCertificate(CertificateRef::Id("c1".into()))
    );
    let doc = parse(WITH_SECRETS);
    assert_eq!(
        doc.gateway_credentials(),
        GatewayCredentials::Basic {
            username: "svc".into(),
            password: "s3cr&t\"".into()
        }
    );
}

#[test]
fn masking_hides_passwords_and_keeps_the_rest() {
    let doc = parse(WITH_SECRETS);
    let masked = doc.to_masked_xml();
    assert_eq!(
        masked,
        WITH_SECRETS
            .replace("'s3cr&amp;t\"'", "'******'")
            .replace("\"second\"", "\"******\"")
    );
    assert!(!masked.contains("s3cr") && !masked.contains("second"));
    // Masking works on a copy.
    assert_eq!(doc.to_xml(), WITH_SECRETS);
    let reparsed = parse(&masked);
    assert_eq!(reparsed.secrets(), vec![MASK.to_owned(), MASK.to_owned()]);
    assert_eq!(
        format!("{doc:?}"),
        format!("PolicyDocument {{ xml: {masked:?} }}")
    );
}

#[test]
fn secrets_and_fill_secrets_round_trip() {
    let doc = parse(WITH_SECRETS);
    let secrets = doc.secrets();
    assert_eq!(secrets, vec!["s3cr&t\"".to_owned(), "second".to_owned()]);
    let mut stored = parse(&doc.to_masked_xml());
    stored.fill_secrets(&secrets).unwrap();
    assert_eq!(stored.secrets(), secrets);
    assert_eq!(stored.gateway_credentials(), doc.gateway_credentials());
    // The refilled text parses again with the same meaning; quotes are escaped for the quote
    // style in use.
    let again = parse(&stored.to_xml());
    assert_eq!(again.secrets(), secrets);
    assert!(stored.to_xml().contains("password='s3cr&amp;t&quot;'"));

    let err = stored.fill_secrets(&["one".to_owned()]).unwrap_err();
    assert_eq!(err.kind, PolicyErrorCode::SecretCountMismatch);
    assert_eq!(stored.secrets(), secrets);

    let mut none = PolicyDocument::default_for_scope(Scope::Api);
    assert!(none.secrets().is_empty());
    none.fill_secrets(&[]).unwrap();
}

#[test]
fn fill_secrets_escapes_and_keeps_locations_current() {
    let mut doc = parse(
        "<policies>\n<inbound><authentication-basic username=\"a\" password=\"x\"/><set-header name=\"h\"><value>v</value></set-header></inbound>\n</policies>",
    );
    let before = doc.statements(Section::Inbound)[1].location().clone();
    assert_eq!(before.column, 59);
    doc.fill_secrets(&["<&>\"'\ttab\nnl".to_owned()]).unwrap();
    assert_eq!(doc.secrets(), vec!["<&>\"'\ttab\nnl".to_owned()]);
    let escaped = "&lt;&amp;&gt;&quot;&apos;&#9;tab&#10;nl";
    assert!(doc.to_xml().contains(&format!("password=\"{escaped}\"")));
    let after = doc.statements(Section::Inbound)[1].location().clone();
    assert_eq!(after.line, 2);
    assert_eq!(after.column as usize, 59 + escaped.len() - 1);
}

#[test]
fn restore_masked_secrets_keeps_old_passwords() {
    let previous = parse(WITH_SECRETS);
    // The user edits the masked document: adds a header, keeps both masked passwords.
    let edited = previous.to_masked_xml().replace(
        "<base />\n        <authentication-basic",
        "<base />\n        <set-header name=\"X\"><value>1</value></set-header>\n        <authentication-basic",
    );
    let mut doc = parse(&edited);
    doc.restore_masked_secrets(Some(&previous)).unwrap();
    assert_eq!(doc.secrets(), previous.secrets());
    assert_eq!(parse(&doc.to_xml()).secrets(), previous.secrets());

    // A new real password is kept as sent; a masked one still takes the stored one.
    let mut doc = parse(
        &previous
            .to_masked_xml()
            .replacen("'******'", "\"fresh\"", 1),
    );
    doc.restore_masked_secrets(Some(&previous)).unwrap();
    assert_eq!(
        doc.secrets(),
        vec!["fresh".to_owned(), "s3cr&t\"".to_owned()]
    );
}

#[test]
fn restore_masked_secrets_refuses_unknown_users() {
    let previous = parse(WITH_SECRETS);
    let masked = previous
        .to_masked_xml()
        .replacen("username=\"svc\"", "username=\"new\"", 1);
    let mut doc = parse(&masked);
    let before = doc.to_xml();
    let errors = doc.restore_masked_secrets(Some(&previous)).unwrap_err();
    assert_eq!(errors.len(), 1);
    let e = &errors[0];
    assert_eq!(e.code(), "PolicySecretMasked");
    assert_eq!(e.location.path, "policies/inbound/authentication-basic[1]");
    assert_eq!(e.location.line, 4);
    assert!(
        e.message.contains("send the real password"),
        "{}",
        e.message
    );
    assert!(e.message.contains("\"new\""), "{}", e.message);
    assert_eq!(doc.to_xml(), before, "unchanged on error");

    // Without a previous document every mask is an error.
    let mut doc = parse(&previous.to_masked_xml());
    let errors = doc.restore_masked_secrets(None).unwrap_err();
    assert_eq!(errors.len(), 2);

    // Three masked passwords for the same user but only two stored ones.
    let three = previous.to_masked_xml().replace(
        "</inbound>",
        "    <authentication-basic username=\"svc\" password=\"******\" />\n    </inbound>",
    );
    let mut doc = parse(&three);
    let errors = doc.restore_masked_secrets(Some(&previous)).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].location.path,
        "policies/inbound/authentication-basic[3]"
    );
}

#[test]
fn documents_compare_by_text() {
    let a = parse(WITH_SECRETS);
    let b = parse(WITH_SECRETS);
    assert_eq!(a, b);
    assert_ne!(a, PolicyDocument::default_for_scope(Scope::Api));
}
