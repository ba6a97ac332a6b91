//! The statement checks, element by element (`validate/tests.rs` has the document-level ones
//! and the helpers both use).

use crate::validate::tests::{codes, inbound, one, refused, section};
use crate::{
    BackendTarget, CertificateRef, ExistsAction, Limits, PolicyDocument, PolicyErrorCode as Code,
    Section, Statement,
};

#[test]
fn authentication_certificate_rules() {
    let e = one(
        &inbound("<authentication-certificate certificate-id=\"a\" thumbprint=\"b\" />"),
        Code::ConflictingAttributes,
    );
    assert!(e.message.contains("exactly one"));
    let e = one(
        &inbound("<authentication-certificate />"),
        Code::MissingAttribute,
    );
    assert!(e.message.contains("\"certificate-id\" or \"thumbprint\""));
    for bad in ["-a", "", "a b", "a/b", &"a".repeat(81)] {
        let xml = inbound(&format!(
            "<authentication-certificate certificate-id=\"{bad}\" />"
        ));
        one(&xml, Code::InvalidAttribute);
    }
    for bad in ["abc", &"g".repeat(40), &"a".repeat(41)] {
        let xml = inbound(&format!(
            "<authentication-certificate thumbprint=\"{bad}\" />"
        ));
        one(&xml, Code::InvalidAttribute);
    }
    for attr in [
        "body=\"@(context.Variables[&quot;c&quot;])\"",
        "password=\"x\"",
    ] {
        let xml = inbound(&format!("<authentication-certificate {attr} />"));
        let e = one(&xml, Code::AttributeNotSupported);
        assert!(e.message.contains("not supported yet"), "{}", e.message);
    }
    let e = one(
        &section(
            "outbound",
            "<authentication-certificate certificate-id=\"a\" />",
        ),
        Code::MisplacedElement,
    );
    assert_eq!(
        e.message,
        "<authentication-certificate> at policies/outbound/authentication-certificate[1] \
         (line 3, column 9) is not allowed in <outbound>; it is allowed in: inbound"
    );
    let doc = PolicyDocument::parse(
        &inbound(&format!(
            "<authentication-certificate thumbprint=\"{}\" /><authentication-certificate certificate-id=\"{}\" />",
            "ab".repeat(20),
            "A".repeat(80)
        )),
        &Limits::default(),
    )
    .unwrap();
    let statements = doc.statements(Section::Inbound);
    assert!(matches!(
        &statements[0],
        Statement::AuthenticationCertificate { certificate: CertificateRef::Thumbprint(t), .. }
            if *t == "AB".repeat(20)
    ));
    assert!(matches!(
        &statements[1],
        Statement::AuthenticationCertificate { certificate: CertificateRef::Id(id), .. }
            if *id == "A".repeat(80)
    ));
}

#[test]
fn authentication_basic_rules() {
    one(
        &inbound("<authentication-basic password=\"p\" />"),
        Code::MissingAttribute,
    );
    let errors = codes(
        &inbound("<authentication-basic />"),
        &[Code::MissingAttribute, Code::MissingAttribute],
    );
    assert!(errors[1].message.contains("\"password\""));
    one(
        &inbound("<authentication-basic username=\"\" password=\"p\" />"),
        Code::InvalidAttribute,
    );
    one(
        &inbound("<authentication-basic username=\"a:b\" password=\"p\" />"),
        Code::InvalidAttribute,
    );
    one(
        &inbound("<authentication-basic username=\"a\" password=\"p\" realm=\"r\" />"),
        Code::UnknownAttribute,
    );
    one(
        &section(
            "backend",
            "<authentication-basic username=\"a\" password=\"p\" />",
        ),
        Code::MisplacedElement,
    );
    let doc = PolicyDocument::parse(
        &inbound("<authentication-basic username=\"a\" password=\"\" />"),
        &Limits::default(),
    )
    .unwrap();
    let statement = &doc.statements(Section::Inbound)[0];
    assert!(
        matches!(statement, Statement::AuthenticationBasic { password, .. } if password.is_empty())
    );
}

#[test]
fn passwords_never_appear_in_messages_or_debug() {
    let errors = refused(&section(
        "outbound",
        "<authentication-basic username=\"a\" password=\"hunter2-{{nv}}\" />",
    ));
    assert!(
        errors.iter().all(|e| !e.message.contains("hunter2")),
        "{errors:#?}"
    );
    let doc = PolicyDocument::parse(
        &inbound("<authentication-basic username=\"a\" password=\"hunter2\" />"),
        &Limits::default(),
    )
    .unwrap();
    let debug = format!(
        "{doc:?} {:?} {:?}",
        doc.statements(Section::Inbound),
        doc.gateway_credentials()
    );
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains(crate::MASK));
}

#[test]
fn set_header_rules() {
    one(
        &inbound("<set-header><value>v</value></set-header>"),
        Code::MissingAttribute,
    );
    for bad in ["", "a b", "a:b", "é"] {
        let xml = inbound(&format!(
            "<set-header name=\"{bad}\"><value>v</value></set-header>"
        ));
        one(&xml, Code::InvalidAttribute);
    }
    one(
        &inbound("<set-header name=\"X\" exists-action=\"Override\"><value>v</value></set-header>"),
        Code::InvalidAttribute,
    );
    let e = one(&inbound("<set-header name=\"X\" />"), Code::MissingElement);
    assert!(e.message.contains("at least one <value>"));
    let e = one(
        &inbound("<set-header name=\"X\"><value>a\nb</value></set-header>"),
        Code::InvalidValue,
    );
    assert_eq!(e.location.path, "policies/inbound/set-header[1]/value[1]");
    one(
        &inbound("<set-header name=\"X\"><value>a&#13;b</value></set-header>"),
        Code::InvalidValue,
    );
    let xml = "<policies>
    <inbound>
        <set-header name=\"X-Delete\" exists-action=\"delete\" />
        <set-header name=\"X-Multi\" exists-action=\"append\">
            <value>
                first
            </value>
            <!-- second -->
            <value>sec&amp;ond</value>
        </set-header>
    </inbound>
    <backend><set-header name=\"a\"><value/></set-header></backend>
    <outbound><set-header name=\"b\" exists-action=\"skip\"><value>1</value></set-header></outbound>
    <on-error><set-header name=\"c\" exists-action=\"override\"><value>2</value></set-header></on-error>
</policies>";
    let doc = PolicyDocument::parse(xml, &Limits::default()).unwrap();
    let headers: Vec<(String, ExistsAction, Vec<String>)> = Section::ALL
        .into_iter()
        .flat_map(|s| doc.statements(s))
        .map(|s| match s {
            Statement::SetHeader {
                name,
                action,
                values,
                ..
            } => (name, action, values),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        headers,
        vec![
            ("X-Delete".into(), ExistsAction::Delete, vec![]),
            (
                "X-Multi".into(),
                ExistsAction::Append,
                vec!["first".into(), "sec&ond".into()]
            ),
            ("a".into(), ExistsAction::Override, vec![String::new()]),
            ("b".into(), ExistsAction::Skip, vec!["1".into()]),
            ("c".into(), ExistsAction::Override, vec!["2".into()]),
        ]
    );
}

#[test]
fn set_backend_service_rules() {
    one(&inbound("<set-backend-service />"), Code::MissingAttribute);
    one(
        &inbound("<set-backend-service backend-id=\"a\" base-url=\"https://x\" />"),
        Code::ConflictingAttributes,
    );
    for bad in [
        "ftp://x",
        "https://",
        "https:///path",
        "example.com",
        "https://a b",
        "http://:80",
    ] {
        let xml = inbound(&format!("<set-backend-service base-url=\"{bad}\" />"));
        one(&xml, Code::InvalidAttribute);
    }
    one(
        &inbound("<set-backend-service backend-id=\"_x\" />"),
        Code::InvalidAttribute,
    );
    one(
        &section("outbound", "<set-backend-service backend-id=\"x\" />"),
        Code::MisplacedElement,
    );
    let doc = PolicyDocument::parse(
        "<policies><inbound><set-backend-service base-url=\"HTTPS://api.example.com:8443/v1?a=1&amp;b=2\" /></inbound>\
         <backend><set-backend-service backend-id=\"orders-v2\" /><forward-request/></backend></policies>",
        &Limits::default(),
    )
    .unwrap();
    assert!(matches!(
        &doc.statements(Section::Inbound)[0],
        Statement::SetBackendService { target: BackendTarget::BaseUrl(u), .. }
            if u == "HTTPS://api.example.com:8443/v1?a=1&b=2"
    ));
    assert!(matches!(
        &doc.statements(Section::Backend)[0],
        Statement::SetBackendService { target: BackendTarget::BackendId(id), .. } if id == "orders-v2"
    ));
}

#[test]
fn forward_request_rules() {
    for bad in ["0", "3601", "abc", "+5", " 5", "1.5", "99999999999"] {
        let xml = section("backend", &format!("<forward-request timeout=\"{bad}\" />"));
        one(&xml, Code::InvalidAttribute);
    }
    one(
        &section("backend", "<forward-request follow-redirects=\"yes\" />"),
        Code::InvalidAttribute,
    );
    one(
        &section(
            "backend",
            "<forward-request buffer-request-body=\"true\" />",
        ),
        Code::UnknownAttribute,
    );
    let e = one(&inbound("<forward-request />"), Code::MisplacedElement);
    assert!(
        e.message.ends_with("it is allowed in: backend"),
        "{}",
        e.message
    );
    let e = one(
        &section(
            "backend",
            "<forward-request />\n        <forward-request />",
        ),
        Code::DuplicateElement,
    );
    assert_eq!(e.location.path, "policies/backend/forward-request[2]");
    let doc = PolicyDocument::parse(
        &section(
            "backend",
            "<forward-request timeout=\"3600\" follow-redirects=\"false\" />",
        ),
        &Limits::default(),
    )
    .unwrap();
    assert!(matches!(
        &doc.statements(Section::Backend)[0],
        Statement::ForwardRequest {
            timeout_seconds: Some(3600),
            follow_redirects: Some(false),
            ..
        }
    ));
    assert!(doc.unsupported().is_empty());
}

#[test]
fn following_redirects_is_refused_as_not_supported() {
    let xml = section(
        "backend",
        "<forward-request timeout=\"30\" follow-redirects=\"true\" />",
    );
    let e = one(&xml, Code::ValueNotSupported);
    assert_eq!(e.code(), "PolicyValueNotSupported");
    assert_eq!(
        e.target(),
        "policies/backend/forward-request[1] (line 3, column 9)"
    );
    assert!(
        e.message.starts_with(
            "follow-redirects=\"true\" on <forward-request> at policies/backend/forward-request[1] \
             (line 3, column 9) is not supported"
        ),
        "{}",
        e.message
    );
    // Other problems of the same element are still reported beside it.
    codes(
        &section(
            "backend",
            "<forward-request timeout=\"0\" follow-redirects=\"true\" />",
        ),
        &[Code::InvalidAttribute, Code::ValueNotSupported],
    );

    // A document stored before the refusal still loads, keeps its meaning, and says what
    // it asks for that the gateway does not do.
    let stored = PolicyDocument::parse_stored(&xml, &Limits::default()).unwrap();
    assert!(matches!(
        &stored.statements(Section::Backend)[0],
        Statement::ForwardRequest {
            timeout_seconds: Some(30),
            follow_redirects: Some(true),
            ..
        }
    ));
    let unsupported = stored.unsupported();
    assert_eq!(unsupported.len(), 1);
    assert_eq!(unsupported[0], e);
    // Only the not-supported kind is tolerated in stored documents.
    let broken = section(
        "backend",
        "<forward-request timeout=\"0\" follow-redirects=\"true\" />",
    );
    let errors = PolicyDocument::parse_stored(&broken, &Limits::default())
        .expect_err("an invalid stored document loaded");
    assert_eq!(
        errors.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [Code::InvalidAttribute]
    );
}

#[test]
fn base_rules() {
    let e = one(
        &inbound("<base />\n        <base />"),
        Code::DuplicateElement,
    );
    assert_eq!(e.location.path, "policies/inbound/base[2]");
    one(&inbound("<base inherit=\"yes\" />"), Code::UnknownAttribute);
}

#[test]
fn policy_expressions_are_refused() {
    let cases = [
        inbound("<set-header name=\"X\"><value>@(context.Request.Url)</value></set-header>"),
        inbound("<set-header name=\"X\"><value>\n   @{ return \"x\"; }\n</value></set-header>"),
        inbound("<authentication-basic username=\" @(u)\" password=\"p\" />"),
        inbound("<authentication-basic username=\"u\" password=\"@{return 1;}\" />"),
        inbound("<set-backend-service base-url=\"@(&quot;https://x&quot;)\" />"),
        section("backend", "<forward-request timeout=\"@(30)\" />"),
    ];
    for xml in &cases {
        let e = one(xml, Code::ExpressionNotSupported);
        assert!(
            e.message
                .starts_with("policy expressions are not supported yet"),
            "{}",
            e.message
        );
        assert_eq!(e.location.line, 3, "{xml}");
    }
    // Not an expression: '@' elsewhere.
    PolicyDocument::parse(
        &inbound("<authentication-basic username=\"me@example.com\" password=\"p@(x)\" />"),
        &Limits::default(),
    )
    .unwrap();
}

#[test]
fn named_values_are_refused() {
    let cases = [
        inbound(
            "<set-header name=\"Authorization\"><value>Bearer {{api-token}}</value></set-header>",
        ),
        inbound("<authentication-basic username=\"{{user}}\" password=\"p\" />"),
        inbound("<authentication-basic username=\"u\" password=\"{{backend-password}}\" />"),
        inbound("<authentication-certificate certificate-id=\"{{cert}}\" />"),
        inbound("<set-header name=\"{{header-name}}\"><value>v</value></set-header>"),
        inbound("<set-header name=\"X\"><value>&#123;&#123;x}}</value></set-header>"),
    ];
    for xml in &cases {
        let e = one(xml, Code::NamedValueNotSupported);
        assert!(
            e.message.starts_with("named values are not supported yet"),
            "{}",
            e.message
        );
    }
    let e = one(&cases[0], Code::NamedValueNotSupported);
    assert!(e.message.contains("{{api-token}}"));
    // Braces that are not a reference are plain text.
    PolicyDocument::parse(
        &inbound("<set-header name=\"X\"><value>{\"a\":{}} {{}} {x}</value></set-header>"),
        &Limits::default(),
    )
    .unwrap();
}

#[test]
fn every_code_is_pascal_case_and_unique() {
    let mut seen = std::collections::HashSet::new();
    for code in Code::ALL {
        let s = code.as_str();
        assert!(
            s.starts_with("Policy") && !s.contains(['-', '_', ' ']),
            "{s}"
        );
        assert!(seen.insert(s), "{s}");
    }
}

#[test]
fn client_certificate_validation_reads_apim_attributes_and_identities() {
    let xml = inbound(
        "<validate-client-certificate validate-revocation=\"false\" validate-trust=\"true\" \
         validate-not-before=\"false\" ignore-error=\"false\">\
           <identities>\
             <identity thumbprint=\"ab\" />\
           </identities>\
         </validate-client-certificate>",
    );
    let e = one(&xml, Code::InvalidAttribute);
    assert!(e.message.contains("40 hexadecimal"), "{}", e.message);

    let xml = inbound(&format!(
        "<validate-client-certificate validate-revocation=\"false\" validate-not-before=\"false\">\
           <identities>\
             <identity thumbprint=\"{}\" serial-number=\"00:1f\" />\
             <identity subject=\"CN=client, O=&quot;Contoso, Inc.&quot;\" issuer-certificate-id=\"ca-1\" />\
             <identity common-name=\"client\" dns-name=\"client.example\" issuer-thumbprint=\"{}\" />\
           </identities>\
         </validate-client-certificate>",
        "ab".repeat(20),
        "CD".repeat(20)
    ));
    let doc = PolicyDocument::parse(&xml, &Limits::default()).unwrap();
    let statements = doc.statements(Section::Inbound);
    let Statement::ValidateClientCertificate {
        validate_trust,
        validate_not_before,
        validate_not_after,
        ignore_error,
        identities,
        ..
    } = &statements[0]
    else {
        panic!("{statements:?}");
    };
    assert!(*validate_trust && !*validate_not_before && *validate_not_after && !*ignore_error);
    assert_eq!(identities.len(), 3);
    assert_eq!(identities[0].thumbprint.as_deref(), Some(&*"AB".repeat(20)));
    assert_eq!(identities[0].serial_number.as_deref(), Some("1F"));
    assert_eq!(
        identities[1].subject.as_deref(),
        Some("CN=client, O=\"Contoso, Inc.\"")
    );
    assert_eq!(identities[1].issuer_certificate_id.as_deref(), Some("ca-1"));
    let refs: Vec<_> = doc.references().into_iter().map(|r| r.kind).collect();
    assert_eq!(refs, [crate::ReferenceKind::CaCertificateId("ca-1".into())]);
}

#[test]
fn revocation_checks_are_refused_as_not_supported_even_by_default() {
    for attrs in ["", " validate-revocation=\"true\""] {
        let xml = inbound(&format!("<validate-client-certificate{attrs} />"));
        let e = one(&xml, Code::ValueNotSupported);
        assert!(
            e.message.contains("validate-revocation=\"false\""),
            "{}",
            e.message
        );
    }
    one(
        &inbound("<validate-client-certificate validate-revocation=\"no\" />"),
        Code::InvalidAttribute,
    );
}

#[test]
fn client_certificate_identities_are_checked() {
    let v = |identities: &str| {
        inbound(&format!(
            "<validate-client-certificate validate-revocation=\"false\"><identities>{identities}</identities></validate-client-certificate>"
        ))
    };
    one(&v("<identity />"), Code::MissingAttribute);
    one(
        &v("<identity subject=\"no equals sign\" />"),
        Code::InvalidAttribute,
    );
    one(
        &v("<identity serial-number=\"xyz\" />"),
        Code::InvalidAttribute,
    );
    one(
        &v("<identity common-name=\"@(context.Request.Certificate)\" />"),
        Code::ExpressionNotSupported,
    );
    one(
        &v(&format!(
            "<identity issuer-certificate-id=\"ca\" issuer-thumbprint=\"{}\" />",
            "ab".repeat(20)
        )),
        Code::ConflictingAttributes,
    );
    one(
        &v(&"<identity common-name=\"a\" />".repeat(11)),
        Code::InvalidValue,
    );
    one(&v("<other />"), Code::UnknownElement);
    one(
        &section(
            "backend",
            "<validate-client-certificate validate-revocation=\"false\" />",
        ),
        Code::MisplacedElement,
    );
}

#[test]
fn distinguished_names_read_as_windows_writes_them() {
    use crate::parse_distinguished_name as dn;
    assert_eq!(
        dn("CN=a, O=\"Contoso, Inc.\", ST=Illinois, emailAddress=x@y").unwrap(),
        [
            ("CN".to_string(), "a".to_string()),
            ("O".into(), "Contoso, Inc.".into()),
            ("S".into(), "Illinois".into()),
            ("E".into(), "x@y".into()),
        ]
    );
    assert_eq!(
        dn("cn = a;o=b").unwrap(),
        [
            ("CN".to_string(), "a".to_string()),
            ("O".into(), "b".into())
        ]
    );
    assert_eq!(dn("O=\"say \"\"hi\"\"\"").unwrap()[0].1, "say \"hi\"");
    for bad in ["", "CN", "=a", "CN=\"open", "CN=a\"b", "C N=a"] {
        assert!(dn(bad).is_none(), "{bad}");
    }
}

#[test]
fn forwarding_the_caller_certificate_names_a_header_and_a_format() {
    let doc = PolicyDocument::parse(
        &inbound("<forward-client-certificate header-name=\"X-Client-Cert\" format=\"pem\" />"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        doc.statements(Section::Inbound)[0],
        Statement::ForwardClientCertificate {
            header: "x-client-cert".into(),
            format: crate::CertificateFormat::Pem,
            location: doc.statements(Section::Inbound)[0].location().clone(),
        }
    );
    one(
        &inbound("<forward-client-certificate header-name=\"bad header\" />"),
        Code::InvalidAttribute,
    );
    one(
        &inbound("<forward-client-certificate header-name=\"x\" format=\"der\" />"),
        Code::InvalidAttribute,
    );
    one(
        &inbound("<forward-client-certificate />"),
        Code::MissingAttribute,
    );
}
