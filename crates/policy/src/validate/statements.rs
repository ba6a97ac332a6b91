//! The checks of each statement element (credentials, headers, the back-end service, caller
//! certificates, forwarding), each building the statement's typed form.

use super::*;

impl Check<'_> {
    /// Checks a statement element and builds its typed form; `None` when anything is wrong.
    pub(super) fn statement(&mut self, el: &Element) -> Option<Statement> {
        let before = self.errors.len();
        let location = el.location();
        let statement = match Kind::from_name(&el.name)? {
            Kind::Base => {
                self.attributes(el, &[], &[]);
                self.no_content(el);
                Some(Statement::Base { location })
            }
            Kind::AuthenticationCertificate => self.authentication_certificate(el),
            Kind::AuthenticationBasic => self.authentication_basic(el),
            Kind::SetHeader => self.set_header(el),
            Kind::SetBackendService => self.set_backend_service(el),
            Kind::ValidateClientCertificate => self.validate_client_certificate(el),
            Kind::ForwardClientCertificate => self.forward_client_certificate(el),
            Kind::ForwardRequest => self.forward_request(el),
        };
        // A value refused only as not supported still has its typed meaning: a document
        // stored before the refusal keeps working as it did (see `parse_stored`).
        let invalid = self
            .errors
            .get(before..)
            .unwrap_or_default()
            .iter()
            .any(|e| e.kind != Code::ValueNotSupported);
        if invalid { None } else { statement }
    }

    pub(super) fn authentication_certificate(&mut self, el: &Element) -> Option<Statement> {
        let unsupported = ["body", "password"];
        let clean = self.attributes(el, &["certificate-id", "thumbprint"], &unsupported);
        self.no_content(el);
        if el
            .attrs
            .iter()
            .any(|a| unsupported.contains(&a.name.as_str()))
        {
            // The missing-attribute error would only repeat what "not supported" already says.
            return None;
        }
        let (name, value) = self.one_of(el, "certificate-id", "thumbprint")?;
        if !clean {
            return None;
        }
        let certificate = if name == "certificate-id" {
            if !is_valid_entity_id(value) {
                self.invalid(el, name, value, ENTITY_ID_RULE);
                return None;
            }
            CertificateRef::Id(value.to_owned())
        } else {
            if !is_valid_thumbprint(value) {
                self.invalid(el, name, value, "a thumbprint is 40 hexadecimal digits");
                return None;
            }
            CertificateRef::Thumbprint(value.to_ascii_uppercase())
        };
        Some(Statement::AuthenticationCertificate {
            certificate,
            location: el.location(),
        })
    }

    pub(super) fn authentication_basic(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["username", "password"], &[]);
        self.no_content(el);
        let username = self.required(el, "username");
        let password = self.required(el, "password");
        let (username, password) = (username?, password?);
        if !clean {
            return None;
        }
        if username.is_empty() {
            self.invalid(el, "username", username, "the user name must not be empty");
            return None;
        }
        if username.contains(':') || username.chars().any(char::is_control) {
            self.invalid(
                el,
                "username",
                username,
                "a Basic user name cannot contain ':' or control characters",
            );
            return None;
        }
        Some(Statement::AuthenticationBasic {
            username: username.to_owned(),
            password: password.to_owned(),
            location: el.location(),
        })
    }

    pub(super) fn set_header(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["name", "exists-action"], &[]);
        let name = self.required(el, "name");
        let mut action = ExistsAction::Override;
        if let Some(value) = el.attr("exists-action") {
            match ExistsAction::from_name(value) {
                Some(a) => action = a,
                None if clean => self.invalid(
                    el,
                    "exists-action",
                    value,
                    "use override, skip, append or delete",
                ),
                None => {}
            }
        }
        if let Some(name) = name
            && clean
            && !is_valid_header_name(name)
        {
            self.invalid(
                el,
                "name",
                name,
                "a header name is a non-empty HTTP token (letters, digits and !#$%&'*+-.^_`|~)",
            );
        }
        let mut values = Vec::new();
        for node in &el.children {
            match node {
                Node::Text(t) => self.text(t, el),
                Node::Opaque(_) => {}
                Node::Element(child) if child.name == "value" => {
                    if let Some(v) = self.value(child) {
                        values.push(v);
                    }
                }
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!(
                        "unknown element {}; <set-header> may contain: value",
                        here(child)
                    ),
                ),
            }
        }
        let value_count = el.child_elements().filter(|c| c.name == "value").count();
        if value_count == 0 && action != ExistsAction::Delete {
            self.push(
                Code::MissingElement,
                el,
                format!(
                    "{} needs at least one <value> unless exists-action=\"delete\"",
                    here(el)
                ),
            );
        }
        Some(Statement::SetHeader {
            name: name?.to_owned(),
            action,
            values,
            location: el.location(),
        })
    }

    /// The trimmed text of a `<value>` element.
    pub(super) fn value(&mut self, el: &Element) -> Option<String> {
        let before = self.errors.len();
        self.attributes(el, &[], &[]);
        let mut text = String::new();
        for node in &el.children {
            match node {
                Node::Text(t) => text.push_str(&t.value),
                Node::Opaque(_) => {}
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!("unknown element {}; <value> holds text only", here(child)),
                ),
            }
        }
        // Header values lose surrounding whitespace on the wire anyway, and trimming lets
        // users put the text on its own indented line.
        let text = text.trim();
        let what = format!("the text of {}", here(el));
        if text.len() > self.limits.max_attribute_len {
            self.push(
                Code::AttributeTooLong,
                el,
                format!(
                    "{what} is {} bytes long; at most {} bytes are allowed",
                    text.len(),
                    self.limits.max_attribute_len
                ),
            );
        } else {
            self.dynamic(el, &what, text, false);
        }
        if self.errors.len() == before && !is_valid_header_value(text) {
            self.push(
                Code::InvalidValue,
                el,
                format!(
                    "{what} is not a valid header value: control characters such as line \
                     breaks are not allowed inside it"
                ),
            );
        }
        (self.errors.len() == before).then(|| text.to_owned())
    }

    pub(super) fn set_backend_service(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["backend-id", "base-url"], &[]);
        self.no_content(el);
        let (name, value) = self.one_of(el, "backend-id", "base-url")?;
        if !clean {
            return None;
        }
        let target = if name == "backend-id" {
            if !is_valid_entity_id(value) {
                self.invalid(el, name, value, ENTITY_ID_RULE);
                return None;
            }
            BackendTarget::BackendId(value.to_owned())
        } else {
            if !is_valid_base_url(value) {
                self.invalid(
                    el,
                    name,
                    value,
                    "the base URL must be an absolute http:// or https:// URL with a host",
                );
                return None;
            }
            BackendTarget::BaseUrl(value.to_owned())
        };
        Some(Statement::SetBackendService {
            target,
            location: el.location(),
        })
    }

    /// A `true`/`false` attribute, `default` when absent.
    pub(super) fn boolean(&mut self, el: &Element, name: &str, default: bool) -> bool {
        match el.attr(name) {
            None => default,
            Some("true") => true,
            Some("false") => false,
            Some(value) => {
                self.invalid(el, name, value, "use true or false");
                default
            }
        }
    }

    pub(super) fn validate_client_certificate(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(
            el,
            &[
                "validate-revocation",
                "validate-trust",
                "validate-not-before",
                "validate-not-after",
                "ignore-error",
            ],
            &[],
        );
        let before = self.errors.len();
        match el.attr("validate-revocation") {
            Some("false") => {}
            Some("true") => self.revocation_not_supported(el, "validate-revocation=\"true\" asks"),
            Some(value) => self.invalid(
                el,
                "validate-revocation",
                value,
                "use false (revocation checks are not supported)",
            ),
            // APIM's default is true: a document that leaves it out asks for revocation too.
            None => self.revocation_not_supported(
                el,
                "without validate-revocation=\"false\", APIM's default (true) asks",
            ),
        }
        let validate_trust = self.boolean(el, "validate-trust", true);
        let validate_not_before = self.boolean(el, "validate-not-before", true);
        let validate_not_after = self.boolean(el, "validate-not-after", true);
        let ignore_error = self.boolean(el, "ignore-error", false);
        let mut identities = Vec::new();
        let mut identities_seen = false;
        for node in &el.children {
            match node {
                Node::Text(t) => self.text(t, el),
                Node::Opaque(_) => {}
                Node::Element(child) if child.name == "identities" => {
                    if std::mem::replace(&mut identities_seen, true) {
                        self.push(
                            Code::DuplicateElement,
                            child,
                            format!("{} appears a second time", here(child)),
                        );
                    }
                    self.attributes(child, &[], &[]);
                    self.identities(child, &mut identities);
                }
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!(
                        "unknown element {}; <validate-client-certificate> may contain: \
                         identities",
                        here(child)
                    ),
                ),
            }
        }
        if !clean || self.errors.len() > before {
            return None;
        }
        Some(Statement::ValidateClientCertificate {
            validate_trust,
            validate_not_before,
            validate_not_after,
            ignore_error,
            identities,
            location: el.location(),
        })
    }

    pub(super) fn revocation_not_supported(&mut self, el: &Element, what: &str) {
        // Accepted and not done, it would let revoked certificates in while the operator
        // believes they are kept out.
        self.push(
            Code::ValueNotSupported,
            el,
            format!(
                "{what} for revocation checks on {}, which are not supported: Gatehouse has \
                 no revocation source (CRL or OCSP); write validate-revocation=\"false\"",
                here(el)
            ),
        );
    }

    /// The `<identity>` children of `<identities>`, at most 10 (APIM's limit).
    pub(super) fn identities(&mut self, el: &Element, out: &mut Vec<CertificateIdentity>) {
        for node in &el.children {
            match node {
                Node::Text(t) => self.text(t, el),
                Node::Opaque(_) => {}
                Node::Element(child) if child.name == "identity" => {
                    if out.len() == 10 {
                        self.push(
                            Code::InvalidValue,
                            child,
                            format!("{}: at most 10 identities are allowed", here(child)),
                        );
                        return;
                    }
                    if let Some(identity) = self.identity(child) {
                        out.push(identity);
                    }
                }
                Node::Element(child) => self.push(
                    Code::UnknownElement,
                    child,
                    format!(
                        "unknown element {}; <identities> may contain: identity",
                        here(child)
                    ),
                ),
            }
        }
    }

    pub(super) fn identity(&mut self, el: &Element) -> Option<CertificateIdentity> {
        const NAMES: [&str; 8] = [
            "thumbprint",
            "serial-number",
            "common-name",
            "subject",
            "dns-name",
            "issuer-subject",
            "issuer-thumbprint",
            "issuer-certificate-id",
        ];
        let before = self.errors.len();
        self.attributes(el, &NAMES, &[]);
        self.no_content(el);
        let mut identity = CertificateIdentity::default();
        for name in NAMES {
            let Some(value) = el.attr(name) else {
                continue;
            };
            // `attributes` reported expressions and named values already.
            if is_expression(value) || find_named_value(value).is_some() {
                continue;
            }
            let value = value.trim();
            let slot = match name {
                "thumbprint" | "issuer-thumbprint" => {
                    if !is_valid_thumbprint(value) {
                        self.invalid(el, name, value, "a thumbprint is 40 hexadecimal digits");
                        continue;
                    }
                    let upper = value.to_ascii_uppercase();
                    if name == "thumbprint" {
                        identity.thumbprint = Some(upper);
                    } else {
                        identity.issuer_thumbprint = Some(upper);
                    }
                    continue;
                }
                "serial-number" => {
                    let digits: String = value
                        .chars()
                        .filter(|c| !matches!(c, ':' | ' ' | '-'))
                        .collect();
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                        self.invalid(el, name, value, "a serial number is hexadecimal digits");
                        continue;
                    }
                    let trimmed = digits.trim_start_matches('0');
                    let serial = if trimmed.is_empty() { "0" } else { trimmed };
                    identity.serial_number = Some(serial.to_ascii_uppercase());
                    continue;
                }
                "subject" | "issuer-subject" => {
                    if parse_distinguished_name(value).is_none() {
                        self.invalid(
                            el,
                            name,
                            value,
                            "a distinguished name is TYPE=value pairs separated by commas, \
                             e.g. \"CN=client, O=\\\"Contoso, Inc.\\\"\"",
                        );
                        continue;
                    }
                    if name == "subject" {
                        &mut identity.subject
                    } else {
                        &mut identity.issuer_subject
                    }
                }
                "issuer-certificate-id" => {
                    if !is_valid_entity_id(value) {
                        self.invalid(el, name, value, ENTITY_ID_RULE);
                        continue;
                    }
                    &mut identity.issuer_certificate_id
                }
                "common-name" => &mut identity.common_name,
                _ => &mut identity.dns_name,
            };
            if value.is_empty() {
                self.invalid(el, name, value, "the value must not be empty");
                continue;
            }
            *slot = Some(value.to_owned());
        }
        if el.attrs.is_empty() {
            self.push(
                Code::MissingAttribute,
                el,
                format!(
                    "{} states no claim; give at least one of: {}",
                    here(el),
                    NAMES.join(", ")
                ),
            );
        }
        if identity.issuer_certificate_id.is_some()
            && (el.attr("issuer-subject").is_some() || el.attr("issuer-thumbprint").is_some())
        {
            self.push(
                Code::ConflictingAttributes,
                el,
                format!(
                    "{}: issuer-certificate-id excludes issuer-subject and issuer-thumbprint",
                    here(el)
                ),
            );
        }
        (self.errors.len() == before).then_some(identity)
    }

    pub(super) fn forward_client_certificate(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["header-name", "format"], &[]);
        self.no_content(el);
        let header = self.required(el, "header-name")?;
        if !clean {
            return None;
        }
        if !is_valid_header_name(header) {
            self.invalid(
                el,
                "header-name",
                header,
                "a header name is a non-empty HTTP token (letters, digits and !#$%&'*+-.^_`|~)",
            );
            return None;
        }
        let format = match el.attr("format") {
            None => CertificateFormat::default(),
            Some(value) => match CertificateFormat::ALL
                .into_iter()
                .find(|f| f.as_str() == value)
            {
                Some(f) => f,
                None => {
                    self.invalid(el, "format", value, "use base64, pem or thumbprint");
                    return None;
                }
            },
        };
        Some(Statement::ForwardClientCertificate {
            header: header.to_ascii_lowercase(),
            format,
            location: el.location(),
        })
    }

    pub(super) fn forward_request(&mut self, el: &Element) -> Option<Statement> {
        let clean = self.attributes(el, &["timeout", "follow-redirects"], &[]);
        self.no_content(el);
        if !clean {
            return None;
        }
        let mut timeout_seconds = None;
        if let Some(value) = el.attr("timeout") {
            match value.parse::<u32>() {
                Ok(t) if (1..=3600).contains(&t) && value.bytes().all(|b| b.is_ascii_digit()) => {
                    timeout_seconds = Some(t);
                }
                _ => self.invalid(
                    el,
                    "timeout",
                    value,
                    "the timeout is a whole number of seconds from 1 to 3600",
                ),
            }
        }
        let mut follow_redirects = None;
        if let Some(value) = el.attr("follow-redirects") {
            match value {
                "true" => {
                    follow_redirects = Some(true);
                    // Stored and ignored, it would pass the 3xx to the caller while the
                    // operator believes the gateway follows it.
                    self.push(
                        Code::ValueNotSupported,
                        el,
                        format!(
                            "follow-redirects=\"true\" on {} is not supported: the gateway \
                             does not follow redirects, it returns them to the caller; remove \
                             the attribute or set it to \"false\"",
                            here(el)
                        ),
                    );
                }
                "false" => follow_redirects = Some(false),
                _ => self.invalid(el, "follow-redirects", value, "use true or false"),
            }
        }
        Some(Statement::ForwardRequest {
            timeout_seconds,
            follow_redirects,
            location: el.location(),
        })
    }
}

#[cfg(test)]
mod tests;
