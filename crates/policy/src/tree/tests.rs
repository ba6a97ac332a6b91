use std::time::{Duration, Instant};

use crate::{Limits, PolicyDocument, PolicyError, PolicyErrorCode as Code};

fn parse(xml: &str) -> Result<PolicyDocument, Vec<PolicyError>> {
    PolicyDocument::parse(xml, &Limits::default())
}

fn refused(xml: &str) -> Vec<PolicyError> {
    match parse(xml) {
        Ok(_) => panic!("accepted: {xml}"),
        Err(errors) => errors,
    }
}

/// The single error of a refused document.
fn single(xml: &str) -> PolicyError {
    let errors = refused(xml);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

fn assert_round_trip(xml: &str) {
    let doc = parse(xml).unwrap_or_else(|e| panic!("refused {xml:?}: {e:#?}"));
    assert_eq!(doc.to_xml(), xml);
}

#[test]
fn round_trip_apim_default_documents() {
    assert_round_trip(
        "<policies>\n    <inbound>\n        <base />\n        <authentication-certificate \
         certificate-id=\"client-a\" />\n    </inbound>\n    <backend>\n        <base />\n    \
         </backend>\n    <outbound>\n        <base />\n    </outbound>\n    <on-error>\n        \
         <base />\n    </on-error>\n</policies>",
    );
    assert_round_trip(
        "<policies>\n\t<inbound />\n\t<backend>\n\t\t<forward-request />\n\t</backend>\n\t\
         <outbound />\n\t<on-error />\n</policies>\n",
    );
}

#[test]
fn round_trip_keeps_declaration_comments_crlf_quotes_and_entities() {
    let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n\
               <!--\r\n    IMPORTANT: keep this comment\r\n-->\r\n\
               <policies>\r\n\
               \x20 <inbound>\r\n\
               \x20   <base/>\r\n\
               \x20   <!-- who we are -->\r\n\
               \x20   <authentication-basic username='svc &amp; co' password=\"p&lt;&#x41;&quot;'\" />\r\n\
               \x20   <set-header name='X-Tag' exists-action=\"append\"><value>a &amp; b</value><value>&#233;t&#xE9;</value></set-header>\r\n\
               \x20 </inbound>\r\n\
               \x20 <backend><forward-request timeout = '30'   follow-redirects=\"false\"></forward-request></backend>\r\n\
               \x20 <outbound></outbound>\r\n\
               </policies>\r\n\
               <!-- trailing -->\r\n";
    assert_round_trip(xml);
}

#[test]
fn round_trip_keeps_bom_cdata_and_odd_spacing() {
    assert_round_trip(
        "\u{feff}<policies  >\n<outbound\n>\t<set-header name=\"X-A\"\n   exists-action=\"skip\"\
         ><value><![CDATA[a<b>&c]]></value></set-header\n></outbound></policies >",
    );
}

#[test]
fn unescapes_values_in_the_typed_view() {
    let doc = parse(
        "<policies><inbound><authentication-basic username=\"a&amp;b\" password=\"&lt;&#65;&#x42;&quot;&apos;\" /></inbound>\
         <outbound><set-header name=\"X\"><value> 1 &amp; 2 </value><value><![CDATA[<x>]]></value></set-header></outbound></policies>",
    )
    .unwrap();
    assert_eq!(
        doc.gateway_credentials(),
        crate::GatewayCredentials::Basic {
            username: "a&b".into(),
            password: "<AB\"'".into()
        }
    );
    match &doc.statements(crate::Section::Outbound)[0] {
        crate::Statement::SetHeader { values, .. } => {
            assert_eq!(values, &["1 & 2".to_owned(), "<x>".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn attribute_values_are_normalized_like_xml_says() {
    let doc = parse(
        "<policies><inbound><authentication-basic username=\"u\" password=\"a\tb\r\nc&#10;d\" /></inbound></policies>",
    )
    .unwrap();
    assert_eq!(doc.secrets(), vec!["a b c\nd".to_owned()]);
}

#[test]
fn malformed_xml_names_the_position() {
    let e = single("<policies>\n  <inbound>\n  </outbound>\n</policies>");
    assert_eq!(e.kind, Code::XmlMalformed);
    assert_eq!(e.code(), "PolicyXmlMalformed");
    assert_eq!((e.location.line, e.location.column), (3, 3));
    assert_eq!(e.location.path, "policies/inbound");
    assert!(e.message.contains("line 3, column 3"), "{}", e.message);
    assert!(e.message.contains("</inbound>"), "{}", e.message);
}

#[test]
fn malformed_xml_cases() {
    let cases: &[(&str, &str)] = &[
        ("<policies><inbound>", "never closed"),
        ("<policies></policies>trailing", "text after the root"),
        ("junk<policies></policies>", "text before the root"),
        ("<policies></policies><policies/>", "second root"),
        ("", "empty"),
        ("   \n<!-- only a comment -->\n", "empty"),
        ("<policies a=b></policies>", "must be quoted"),
        ("<policies a></policies>", "has no value"),
        ("<policies a=\"<\"></policies>", "'<' is not allowed"),
        ("<policies a=\"1\"b=\"2\"></policies>", "unexpected 'b'"),
        ("<policies a=\"1></policies>", ""),
        (
            "<policies>&nbsp;</policies>",
            "unknown or invalid reference",
        ),
        (
            "<policies a=\"&foo;\"></policies>",
            "unknown or invalid reference",
        ),
        (
            "<policies a=\"x & y\"></policies>",
            "unknown or invalid reference",
        ),
        ("<policies>&#0;</policies>", "unknown or invalid reference"),
        ("<policies>]]></policies>", "\"]]>\""),
        ("<policies><!-- a -- b --></policies>", ""),
        ("<policies>\u{1}</policies>", "U+0001"),
        ("< policies></policies>", "valid element name"),
        ("<policies><1a/></policies>", "valid element name"),
        ("</policies>", ""),
        ("<policies><?xml version=\"1.0\"?></policies>", "very start"),
        ("<policies", ""),
        ("<policies><!-- open", ""),
    ];
    for (xml, needle) in cases {
        let errors = refused(xml);
        assert!(
            errors.iter().all(|e| e.kind == Code::XmlMalformed),
            "{xml:?}: {errors:#?}"
        );
        assert!(
            errors.iter().any(|e| e.message.contains(needle)),
            "{xml:?}: {errors:#?}"
        );
    }
}

#[test]
fn doctype_is_refused() {
    let e = single("<?xml version=\"1.0\"?>\n<!DOCTYPE policies>\n<policies/>");
    assert_eq!(e.code(), "PolicyDoctypeNotAllowed");
    assert_eq!((e.location.line, e.location.column), (2, 1));
    assert!(
        e.message.contains("DOCTYPE is not allowed"),
        "{}",
        e.message
    );
}

#[test]
fn billion_laughs_is_refused_without_expansion() {
    let mut xml =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        let refs = format!("&{prev};").repeat(10);
        xml.push_str(&format!("<!ENTITY lol{i} \"{refs}\">\n"));
    }
    xml.push_str("]>\n<policies><inbound><set-header name=\"X\"><value>&lol9;</value></set-header></inbound></policies>");
    let started = Instant::now();
    let errors = refused(&xml);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code(), "PolicyDoctypeNotAllowed");
    assert!(errors[0].message.len() < 300);
}

#[test]
fn processing_instructions_are_refused_but_the_declaration_is_kept() {
    let errors = refused(
        "<?xml version=\"1.0\"?><?xml-stylesheet href=\"a\"?>\n<policies>\n  <?php echo 1 ?>\n</policies>",
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors
            .iter()
            .all(|e| e.code() == "PolicyProcessingInstructionNotAllowed")
    );
    assert_eq!((errors[1].location.line, errors[1].location.column), (3, 3));
    assert_eq!(errors[1].location.path, "policies");
}

#[test]
fn size_limit() {
    let limits = Limits {
        max_bytes: 20,
        ..Limits::default()
    };
    let errors = PolicyDocument::parse("<policies>\n</policies>\n", &limits).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code(), "PolicyTooLarge");
    assert_eq!(errors[0].target(), "document");
    assert!(
        PolicyDocument::parse(
            "<policies></policies>",
            &Limits {
                max_bytes: 21,
                ..limits
            }
        )
        .is_ok()
    );
}

#[test]
fn depth_limit() {
    let e = single(
        "<policies><inbound><set-header name=\"X\"><value><a><b><c><d><e><f><g><h><i><j><k><l><m><n><o><p><q></q></p></o></n></m></l></k></j></i></h></g></f></e></d></c></b></a></value></set-header></inbound></policies>",
    );
    assert_eq!(e.code(), "PolicyTooDeep");
    assert!(e.location.path.ends_with("/m[1]"), "{}", e.location.path);
    assert!(e.message.contains("17"), "{}", e.message);
}

#[test]
fn element_count_limit() {
    let limits = Limits {
        max_elements: 5,
        ..Limits::default()
    };
    let xml = "<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/></outbound></policies>";
    let errors = PolicyDocument::parse(xml, &limits).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code(), "PolicyTooManyElements");
    assert_eq!(errors[0].location.path, "policies/outbound");
    assert!(
        PolicyDocument::parse(
            xml,
            &Limits {
                max_elements: 7,
                ..limits
            }
        )
        .is_ok()
    );
}

#[test]
fn attribute_length_limit() {
    let limits = Limits {
        max_attribute_len: 8,
        ..Limits::default()
    };
    let xml = "<policies><inbound><authentication-basic username=\"123456789\" password=\"12345678\" /></inbound></policies>";
    let errors = PolicyDocument::parse(xml, &limits).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code(), "PolicyAttributeTooLong");
    assert!(errors[0].message.contains("\"username\""));
    let value = "<policies><inbound><set-header name=\"X\"><value>123456789</value></set-header></inbound></policies>";
    let errors = PolicyDocument::parse(value, &limits).unwrap_err();
    assert_eq!(errors[0].code(), "PolicyAttributeTooLong");
    assert_eq!(
        errors[0].location.path,
        "policies/inbound/set-header[1]/value[1]"
    );
}

#[test]
fn default_limits() {
    let limits = Limits::default();
    assert_eq!(limits.max_bytes, 256 * 1024);
    assert_eq!(limits.max_depth, 16);
    assert_eq!(limits.max_elements, 2_000);
    assert_eq!(limits.max_attribute_len, 8 * 1024);
}

/// Deterministic pseudo-random numbers, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

const SAMPLE: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<!-- sample -->\r\n<policies>\r\n    <inbound>\r\n        <base />\r\n        <authentication-basic username=\"svc\" password=\"p&amp;w\" />\r\n        <set-header name=\"X-A\" exists-action=\"append\">\r\n            <value>one</value>\r\n            <value><![CDATA[two]]></value>\r\n        </set-header>\r\n        <set-backend-service base-url=\"https://example.com/api\" />\r\n    </inbound>\r\n    <backend>\r\n        <forward-request timeout=\"60\" />\r\n    </backend>\r\n    <outbound><base/></outbound>\r\n</policies>\r\n";

/// Parsing must never panic and must stay fast; when it succeeds the round trip must hold.
fn survive(input: &str) {
    let started = Instant::now();
    let result = parse(input);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "slow on {input:?}"
    );
    match result {
        Ok(doc) => {
            assert_eq!(doc.to_xml(), input);
            let _ = doc.to_masked_xml();
            let _ = doc.references();
            let _ = crate::compose(Some(&doc), Some(&doc), Some(&doc));
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
}

#[test]
fn hostile_input_never_panics() {
    assert!(parse(SAMPLE).is_ok());
    for cut in 0..SAMPLE.len() {
        if let Some(prefix) = SAMPLE.get(..cut) {
            survive(prefix);
        }
    }
    let interesting = b"<>/=\"'&;!?-[]x \n\r\t\0";
    let mut rng = Lcg(42);
    for _ in 0..3_000 {
        let mut bytes = SAMPLE.as_bytes().to_vec();
        for _ in 0..1 + rng.next() % 3 {
            let at = rng.next() % bytes.len();
            match rng.next() % 3 {
                0 => bytes[at] = interesting[rng.next() % interesting.len()],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, interesting[rng.next() % interesting.len()]),
            }
        }
        survive(&String::from_utf8_lossy(&bytes));
    }
    let mut rng = Lcg(7);
    for _ in 0..500 {
        let bytes: Vec<u8> = (0..rng.next() % 200)
            .map(|_| (rng.next() % 256) as u8)
            .collect();
        survive(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn hostile_nesting_and_huge_values_are_refused_quickly() {
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let started = Instant::now();
    let e = single(&deep);
    assert_eq!(e.code(), "PolicyTooDeep");
    let deep_unclosed = "<policies>".repeat(10_000);
    assert_eq!(single(&deep_unclosed).code(), "PolicyTooDeep");
    let huge_attr = format!(
        "<policies><inbound><authentication-basic username=\"u\" password=\"{}\" /></inbound></policies>",
        "x".repeat(100_000)
    );
    assert_eq!(single(&huge_attr).code(), "PolicyAttributeTooLong");
    let huge = format!("<policies>{}</policies>", " ".repeat(300 * 1024));
    assert_eq!(single(&huge).code(), "PolicyTooLarge");
    let many = format!(
        "<policies><inbound>{}</inbound></policies>",
        "<base/>".repeat(3_000)
    );
    assert_eq!(single(&many).code(), "PolicyTooManyElements");
    let long_line = format!(
        "<policies><inbound>{}</inbound></policies>",
        "<set-header name=\"X\"><value>v</value></set-header>".repeat(600)
    );
    assert!(parse(&long_line).is_ok());
    let unlimited = Limits {
        max_depth: 100_000,
        ..Limits::default()
    };
    let errors = PolicyDocument::parse(&deep, &unlimited).unwrap_err();
    assert_eq!(errors[0].code(), "PolicyTooDeep");
    assert!(
        errors[0].message.contains("at most 256"),
        "{}",
        errors[0].message
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn malformed_tags_never_echo_a_password() {
    // An element name that is not an XML name makes the parser quote the tag.
    let xml = r#"<policies><inbound><-basic username="u" password="Hunter2-secret" /></inbound></policies>"#;
    let errors = crate::PolicyDocument::parse(xml, &crate::Limits::default()).unwrap_err();
    let text = format!("{errors:?}");
    assert!(
        text.contains("does not start with a valid element name"),
        "{text}"
    );
    assert!(text.contains("-basic"), "{text}");
    assert!(!text.contains("Hunter2"), "{text}");
}
