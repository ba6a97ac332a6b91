use crate::{
    CertificateRef, GatewayCredentials, Limits, PolicyDocument, PolicyErrorCode, Scope, Section,
    Statement,
};

fn parse(xml: &str) -> PolicyDocument {
    PolicyDocument::parse(xml, &Limits::default()).unwrap_or_else(|e| panic!("{xml}\n{e:#?}"))
}

fn cert(id: &str) -> GatewayCredentials {
    GatewayCredentials::ClientCertificate(CertificateRef::Id(id.into()))
}

fn basic(username: &str, password: &str) -> GatewayCredentials {
    GatewayCredentials::Basic {
        username: username.into(),
        password: password.into(),
    }
}

/// The lines that differ between two texts: (removed, added), after the common first and last
/// lines. Line endings are kept, so a changed CRLF shows.
fn diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    (
        own(&a[prefix..a.len() - suffix]),
        own(&b[prefix..b.len() - suffix]),
    )
}

/// Sets credentials, checks the result re-parses and reads back what was set.
fn set(doc: &mut PolicyDocument, creds: &GatewayCredentials, scope: Scope) -> String {
    doc.set_gateway_credentials(creds, scope);
    let xml = doc.to_xml();
    let reparsed = parse(&xml);
    assert_eq!(reparsed.gateway_credentials(), *creds, "{xml}");
    assert_eq!(doc.gateway_credentials(), *creds);
    assert!(reparsed.validate_for_scope(scope).is_ok(), "{xml}");
    xml
}

#[test]
fn on_the_default_api_document() {
    let mut doc = PolicyDocument::default_for_scope(Scope::Api);
    let xml = set(&mut doc, &cert("client-a"), Scope::Api);
    assert_eq!(
        xml,
        "<policies>
    <inbound>
        <base />
        <authentication-certificate certificate-id=\"client-a\" />
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
</policies>"
    );
    // Locations are current after the edit.
    let statements = doc.statements(Section::Inbound);
    assert_eq!(statements[1].location().line, 4);
    assert_eq!(
        statements[1].location().path,
        "policies/inbound/authentication-certificate[1]"
    );
    assert_eq!(doc.statements(Section::Backend)[0].location().line, 7);
}

#[test]
fn on_the_default_global_document() {
    let mut doc = PolicyDocument::default_for_scope(Scope::Global);
    let xml = set(&mut doc, &basic("svc", "pw"), Scope::Global);
    assert_eq!(
        xml,
        "<policies>
    <inbound>
        <authentication-basic username=\"svc\" password=\"pw\" />
    </inbound>
    <backend>
        <forward-request />
    </backend>
    <outbound />
    <on-error />
</policies>"
    );
    let xml = set(&mut doc, &GatewayCredentials::None, Scope::Global);
    assert_eq!(
        xml,
        "<policies>
    <inbound>
    </inbound>
    <backend>
        <forward-request />
    </backend>
    <outbound />
    <on-error />
</policies>"
    );
}

const USER_DOC: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r
<!-- Orders API: keep in sync with the wiki -->\r
<policies>\r
   <inbound>\r
\t  <base/>  <!-- inherit -->\r
\t  <!-- set by ops -->\r
\t  <set-header name='X-Env' exists-action=\"override\"><value>prod &amp; co</value></set-header>\r
   </inbound>\r
      <backend><forward-request timeout='30'/></backend>\r
   <outbound />\r
</policies>\r
";

#[test]
fn a_users_document_only_gains_the_element_line() {
    let mut doc = parse(USER_DOC);
    let xml = set(&mut doc, &cert("client-a"), Scope::Api);
    let (removed, added) = diff(USER_DOC, &xml);
    assert_eq!(removed, Vec::<String>::new());
    assert_eq!(
        added,
        vec!["\t  <authentication-certificate certificate-id=\"client-a\" />\r\n".to_owned()]
    );
    // It went after <base/> and the comment on its line.
    assert!(xml.contains(
        "<base/>  <!-- inherit -->\r\n\t  <authentication-certificate certificate-id=\"client-a\" />\r\n\t  <!-- set by ops -->"
    ));
}

#[test]
fn replacing_changes_only_that_line_and_keeps_comments() {
    let mut doc = parse(USER_DOC);
    let with_cert = set(&mut doc, &cert("client-a"), Scope::Api);

    let with_other = set(&mut doc, &cert("client-b"), Scope::Api);
    let (removed, added) = diff(&with_cert, &with_other);
    assert_eq!(
        removed,
        vec!["\t  <authentication-certificate certificate-id=\"client-a\" />\r\n".to_owned()]
    );
    assert_eq!(
        added,
        vec!["\t  <authentication-certificate certificate-id=\"client-b\" />\r\n".to_owned()]
    );

    let thumbprint = "ab".repeat(20);
    doc.set_gateway_credentials(
        &GatewayCredentials::ClientCertificate(CertificateRef::Thumbprint(thumbprint.clone())),
        Scope::Api,
    );
    let upper = thumbprint.to_ascii_uppercase();
    assert_eq!(
        doc.gateway_credentials(),
        GatewayCredentials::ClientCertificate(CertificateRef::Thumbprint(upper.clone()))
    );
    let with_thumbprint = doc.to_xml();
    let (_, added) = diff(&with_other, &with_thumbprint);
    assert_eq!(
        added,
        vec![format!(
            "\t  <authentication-certificate thumbprint=\"{upper}\" />\r\n"
        )]
    );

    let with_basic = set(&mut doc, &basic("svc", "p&w\"<"), Scope::Api);
    let (removed, added) = diff(&with_thumbprint, &with_basic);
    assert_eq!(removed.len(), 1);
    assert_eq!(
        added,
        vec![
            "\t  <authentication-basic username=\"svc\" password=\"p&amp;w&quot;&lt;\" />\r\n"
                .to_owned()
        ]
    );

    let without = set(&mut doc, &GatewayCredentials::None, Scope::Api);
    assert_eq!(without, USER_DOC, "removing restores the original bytes");
}

#[test]
fn setting_what_is_there_changes_nothing() {
    let xml = "<policies><inbound>\n <authentication-certificate   certificate-id='same'></authentication-certificate>\n</inbound></policies>";
    let mut doc = parse(xml);
    doc.set_gateway_credentials(&cert("same"), Scope::Api);
    assert_eq!(doc.to_xml(), xml);
    let mut doc = PolicyDocument::default_for_scope(Scope::Api);
    let before = doc.to_xml();
    doc.set_gateway_credentials(&GatewayCredentials::None, Scope::Api);
    assert_eq!(doc.to_xml(), before);
}

#[test]
fn several_credentials_collapse_into_one_at_the_first_place() {
    let xml = "<policies>
    <inbound>
        <authentication-basic username=\"a\" password=\"1\" />
        <base />
        <!-- between -->
        <authentication-certificate certificate-id=\"x\" />
        <set-header name=\"h\" exists-action=\"delete\" />
        <authentication-basic username=\"b\" password=\"2\" />
    </inbound>
</policies>";
    let mut doc = parse(xml);
    let out = set(&mut doc, &cert("client-a"), Scope::Api);
    assert_eq!(
        out,
        "<policies>
    <inbound>
        <authentication-certificate certificate-id=\"client-a\" />
        <base />
        <!-- between -->
        <set-header name=\"h\" exists-action=\"delete\" />
    </inbound>
</policies>"
    );
    let mut doc = parse(xml);
    let out = set(&mut doc, &GatewayCredentials::None, Scope::Api);
    assert_eq!(
        out,
        "<policies>
    <inbound>
        <base />
        <!-- between -->
        <set-header name=\"h\" exists-action=\"delete\" />
    </inbound>
</policies>"
    );
}

#[test]
fn without_base_the_element_goes_first() {
    let xml = "<policies>\n  <inbound>\n    <set-header name=\"h\" exists-action=\"delete\" />\n  </inbound>\n</policies>";
    let mut doc = parse(xml);
    let out = set(&mut doc, &cert("c"), Scope::Api);
    assert_eq!(
        out,
        "<policies>\n  <inbound>\n    <authentication-certificate certificate-id=\"c\" />\n    <set-header name=\"h\" exists-action=\"delete\" />\n  </inbound>\n</policies>"
    );
    let xml = "<policies>\n  <inbound></inbound>\n</policies>";
    let mut doc = parse(xml);
    let out = set(&mut doc, &cert("c"), Scope::Api);
    assert_eq!(
        out,
        "<policies>\n  <inbound>\n    <authentication-certificate certificate-id=\"c\" />\n  </inbound>\n</policies>"
    );
}

#[test]
fn a_missing_inbound_is_created() {
    let xml = "<policies>\n\t<backend>\n\t\t<base />\n\t</backend>\n</policies>";
    let mut doc = parse(xml);
    let out = set(&mut doc, &cert("c"), Scope::Operation);
    assert_eq!(
        out,
        "<policies>\n\t<inbound>\n\t\t<base />\n\t\t<authentication-certificate certificate-id=\"c\" />\n\t</inbound>\n\t<backend>\n\t\t<base />\n\t</backend>\n</policies>"
    );
    let mut doc = parse("<policies />");
    let out = set(&mut doc, &basic("u", "p"), Scope::Global);
    assert_eq!(
        out,
        "<policies><inbound><authentication-basic username=\"u\" password=\"p\" /></inbound></policies>"
    );
    let mut doc = parse("<policies>\n</policies>");
    let out = set(&mut doc, &basic("u", "p"), Scope::Global);
    assert_eq!(
        out,
        "<policies>\n    <inbound>\n        <authentication-basic username=\"u\" password=\"p\" />\n    </inbound>\n</policies>"
    );
    let mut doc = parse("<policies><outbound/></policies>");
    let out = set(&mut doc, &cert("c"), Scope::Api);
    assert_eq!(
        out,
        "<policies><inbound><base /><authentication-certificate certificate-id=\"c\" /></inbound><outbound/></policies>"
    );
    // Removing from a document without <inbound> creates nothing.
    let mut doc = parse("<policies><outbound/></policies>");
    doc.set_gateway_credentials(&GatewayCredentials::None, Scope::Api);
    assert_eq!(doc.to_xml(), "<policies><outbound/></policies>");
}

#[test]
fn compact_documents_stay_compact() {
    let mut doc = parse("<policies><inbound><base/></inbound></policies>");
    let out = set(&mut doc, &cert("c"), Scope::Api);
    assert_eq!(
        out,
        "<policies><inbound><base/><authentication-certificate certificate-id=\"c\" /></inbound></policies>"
    );
}

#[test]
fn other_statements_keep_their_meaning() {
    let mut doc = parse(USER_DOC);
    let before: Vec<Statement> = doc.statements(Section::Backend);
    set(&mut doc, &basic("u", "p"), Scope::Api);
    let after = doc.statements(Section::Backend);
    assert_eq!(before.len(), after.len());
    assert!(matches!(
        after[0],
        Statement::ForwardRequest {
            timeout_seconds: Some(30),
            ..
        }
    ));
}

#[test]
fn credentials_validate_like_parsing() {
    assert!(cert("client-a").validate().is_ok());
    assert!(basic("u", "").validate().is_ok());
    assert!(GatewayCredentials::None.validate().is_ok());
    let codes = |c: GatewayCredentials| -> Vec<PolicyErrorCode> {
        c.validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    };
    assert_eq!(codes(cert("-bad")), vec![PolicyErrorCode::InvalidAttribute]);
    assert_eq!(
        codes(GatewayCredentials::ClientCertificate(
            CertificateRef::Thumbprint("12".into())
        )),
        vec![PolicyErrorCode::InvalidAttribute]
    );
    assert_eq!(
        codes(basic("a:b", "p")),
        vec![PolicyErrorCode::InvalidAttribute]
    );
    assert_eq!(
        codes(basic("u", "{{secret}}")),
        vec![PolicyErrorCode::NamedValueNotSupported]
    );
    assert_eq!(
        codes(basic("u", "@(x)")),
        vec![PolicyErrorCode::ExpressionNotSupported]
    );
}
