//! Entry points for fuzzing and for replaying fuzz corpora as tests: each takes arbitrary
//! bytes and must return (an error is fine) without panicking or running away.

/// PKCS#12 import, with and without a password (the corpus files use `pw`).
pub fn pkcs12(data: &[u8]) {
    let limits = gatehouse_pki::Limits::default();
    for password in [None, Some("pw")] {
        if let Ok(c) = gatehouse_pki::parse_pkcs12(data, password, &limits) {
            // What an upload does next with a good one.
            if let Some(leaf) = c.chain.first() {
                let _ = gatehouse_pki::certificate_info(leaf.as_ref());
            }
            let _ = gatehouse_pki::signing_key(&c.key);
        }
    }
}

/// PEM certificate chains and keys, plain or encrypted.
pub fn pem(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = gatehouse_pki::Limits::default();
    for password in [None, Some("pw")] {
        if let Ok(c) = gatehouse_pki::parse_pem(text, password, &limits) {
            let _ = gatehouse_pki::signing_key(&c.key);
        }
    }
    let _ = gatehouse_pki::parse_ca_certificate(data);
}

/// Policy XML: parse, validate for every scope, compose, write back.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) =
        gatehouse_policy::PolicyDocument::parse(text, &gatehouse_policy::Limits::default())
    else {
        return;
    };
    for scope in [
        gatehouse_policy::Scope::Global,
        gatehouse_policy::Scope::Api,
        gatehouse_policy::Scope::Operation,
    ] {
        let _ = doc.validate_for_scope(scope);
    }
    let xml = doc.to_xml();
    let _ = gatehouse_policy::PolicyDocument::parse(&xml, &gatehouse_policy::Limits::default());
}

/// URL templates and matching: the first line is the template, the rest paths to match.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let Some(source) = lines.next() else {
        return;
    };
    if let Ok(template) = crate::template::UrlTemplate::parse(source) {
        for path in lines {
            let _ = template.matches(path);
        }
    }
}
