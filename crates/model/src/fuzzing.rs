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

/// X.509 facts: what the gateway reads from any certificate it is given (subject, thumbprint,
/// validity, names), as a client certificate's leaf, a trusted CA or a back end's.
pub fn x509(data: &[u8]) {
    if let Ok(info) = gatehouse_pki::certificate_info(data) {
        let _ = gatehouse_pki::check_validity(&info, time::OffsetDateTime::UNIX_EPOCH);
    }
    let _ = gatehouse_pki::distinguished_name(data);
    let _ = gatehouse_pki::public_key_digest(data);
    let _ = gatehouse_pki::issued_by(data, data);
    let _ = gatehouse_pki::parse_ca_certificate(data);
}

/// Management JSON bodies: the first byte picks the entity, the rest is the `properties`
/// object as a `PUT` would carry it, checked exactly as the management API checks it.
pub fn management_json(data: &[u8]) {
    use crate::entity::{api, backend, certificate, hostname, policy, token};
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    match selector % 7 {
        0 => {
            let _ = api::ApiProperties::from_input(value);
        }
        1 => {
            let _ = api::OperationProperties::from_input(value);
        }
        2 => {
            if let Ok(first) = backend::BackendProperties::from_input(value.clone(), None) {
                // A second save of the same body over the first (masked secrets restored).
                let _ = backend::BackendProperties::from_input(value, Some(&first));
            }
        }
        3 => {
            let _ = certificate::CertificateRequest::parse(
                value,
                &gatehouse_pki::Limits::default(),
                time::OffsetDateTime::UNIX_EPOCH,
            );
        }
        4 => {
            let _ = hostname::HostnameProperties::from_input(value);
        }
        6 => {
            let _ = token::TokenInput::from_input(value, time::OffsetDateTime::UNIX_EPOCH);
        }
        _ => {
            // 5: a policy, at every scope.
            let limits = gatehouse_policy::Limits::default();
            for scope in [
                policy::PolicyScope::Global,
                policy::PolicyScope::Api("a".into()),
                policy::PolicyScope::Operation("a".into(), "o".into()),
            ] {
                if let Ok(first) =
                    policy::PolicyRecord::from_input(&scope, value.clone(), None, &limits)
                {
                    let _ = policy::PolicyRecord::from_input(
                        &scope,
                        value.clone(),
                        Some(&first),
                        &limits,
                    );
                }
            }
        }
    }
}
