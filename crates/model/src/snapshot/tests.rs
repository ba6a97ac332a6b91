use std::sync::Arc;

use gatehouse_pki::MasterKey;
use serde_json::json;

use super::*;
use crate::entity::api::{ApiProperties, OperationProperties};
use crate::entity::certificate::{CertificateRecord, CheckedUpload};
use crate::entity::policy::{PolicyRecord, PolicyScope};
use crate::{Change, Config};

fn master() -> Arc<MasterKey> {
    Arc::new(MasterKey::from_bytes(&[9u8; 32]).unwrap())
}

fn pem(cn: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

/// Builds a configuration through records, as the control plane does.
struct Builder {
    config: Config,
    master: Arc<MasterKey>,
}

impl Builder {
    fn new() -> Self {
        Self {
            config: Config::default(),
            master: master(),
        }
    }

    fn put(&mut self, record: crate::Record) -> &mut Self {
        self.config.revision = record.revision;
        self.config
            .apply(&Change::Put(record), &self.master)
            .unwrap();
        self
    }

    fn cert(&mut self, id: &str, version: u64) -> &mut Self {
        let upload = CheckedUpload::parse(
            json!({"pem": pem(id)}),
            &gatehouse_pki::Limits::default(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        let rec = CertificateRecord::seal(
            &upload,
            id,
            version,
            &self.master,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        let r = rec.to_record(id, self.config.revision + 1).unwrap();
        self.put(r)
    }

    fn backend(&mut self, id: &str, props: serde_json::Value) -> &mut Self {
        let b = BackendProperties::from_input(props, None).unwrap();
        let r = b
            .to_record(id, self.config.revision + 1, &self.master)
            .unwrap();
        self.put(r)
    }

    fn api(&mut self, id: &str, path: &str, url: &str) -> &mut Self {
        let a = ApiProperties::from_input(json!({"path": path, "serviceUrl": url})).unwrap();
        let r = a.to_record(id, self.config.revision + 1).unwrap();
        self.put(r)
    }

    fn op(&mut self, api: &str, id: &str, method: &str, template: &str) -> &mut Self {
        let o = OperationProperties::from_input(json!({"method": method, "urlTemplate": template}))
            .unwrap();
        let r = o
            .to_record(&format!("{api}/{id}"), self.config.revision + 1)
            .unwrap();
        self.put(r)
    }

    fn policy(&mut self, scope: PolicyScope, xml: &str) -> &mut Self {
        let p = PolicyRecord::from_input(
            &scope,
            json!({"value": xml}),
            None,
            &gatehouse_policy::Limits::default(),
        )
        .unwrap();
        let r = p
            .to_record(&scope, self.config.revision + 1, &self.master)
            .unwrap();
        self.put(r)
    }

    fn compile(&self) -> Result<Snapshot, ModelError> {
        Compiler::new(Arc::clone(&self.master)).compile(&self.config)
    }
}

fn header_names(ops: &[HeaderOp]) -> Vec<String> {
    ops.iter()
        .map(|h| format!("{}={:?}", h.name, h.values))
        .collect()
}

#[test]
fn plans_resolve_certificates_backends_and_header_order() {
    let mut b = Builder::new();
    b.cert("backend-cert", 1)
        .cert("policy-cert", 1)
        .backend(
            "svc",
            json!({"url": "https://svc.internal/api",
                   "credentials": {"certificateIds": ["backend-cert"], "header": {"x-key": ["k"]}},
                   "tls": {"validateCertificateName": false}}),
        )
        .api("orders", "orders", "https://svc.internal/api/orders")
        .op("orders", "get", "GET", "/items/{id}")
        .op("orders", "any", "*", "/*")
        .policy(
            PolicyScope::Global,
            r#"<policies><inbound><set-header name="x-global"><value>g</value></set-header></inbound><outbound><set-header name="x-out"><value>o</value></set-header></outbound></policies>"#,
        )
        .policy(
            PolicyScope::Api("orders".into()),
            r#"<policies><inbound><base /><set-header name="x-api"><value>a</value></set-header></inbound></policies>"#,
        )
        .policy(
            PolicyScope::Operation("orders".into(), "get".into()),
            r#"<policies><inbound><base /><authentication-certificate certificate-id="policy-cert" /></inbound></policies>"#,
        );
    let snap = b.compile().unwrap();
    let api = &snap.apis[0];
    // Most specific operation first.
    assert_eq!(api.operations[0].id, "get");
    assert_eq!(api.operations[0].method, Some(Method::GET));
    assert_eq!(api.operations[1].method, None);

    let get = &api.operations[0].plan;
    assert_eq!(get.client_certificates[0].id, "policy-cert");
    assert_eq!(get.backend.url.base_path, "/api/orders");
    assert_eq!(get.backend.settings.backend_id.as_deref(), Some("svc"));
    assert!(!get.backend.settings.tls.validate_name);
    assert_eq!(
        header_names(&get.request_headers),
        ["x-key=[Sensitive]", "x-global=[\"g\"]", "x-api=[\"a\"]"]
    );
    assert_eq!(header_names(&get.response_headers), ["x-out=[\"o\"]"]);

    // Without an authentication-certificate, the back end's credentials apply.
    let any = &api.operations[1].plan;
    assert_eq!(any.client_certificates[0].id, "backend-cert");
    // Both plans share the back end's settings object: pools key on it cheaply.
    assert!(Arc::ptr_eq(&get.backend.settings, &any.backend.settings));
}

#[test]
fn set_backend_service_switches_url_and_settings() {
    let mut b = Builder::new();
    b.backend("alt", json!({"url": "https://alt.internal:9443/v2", "tls": {"validateCertificateChain": false}}))
        .api("a", "a", "https://default.internal")
        .op("a", "o", "GET", "/")
        .policy(
            PolicyScope::Api("a".into()),
            r#"<policies><inbound><set-backend-service backend-id="alt" /></inbound><backend><forward-request timeout="7" /></backend></policies>"#,
        );
    let snap = b.compile().unwrap();
    let plan = &snap.apis[0].operations[0].plan;
    assert_eq!(plan.backend.url.authority, "alt.internal:9443");
    assert_eq!(plan.backend.url.base_path, "/v2");
    assert!(!plan.backend.settings.tls.validate_chain);
    assert_eq!(plan.timeout, Some(Duration::from_secs(7)));
}

#[test]
fn unresolved_references_are_all_named() {
    let mut b = Builder::new();
    b.api("a", "a", "https://x.internal").policy(
        PolicyScope::Api("a".into()),
        r#"<policies><inbound><authentication-certificate certificate-id="gone" /></inbound></policies>"#,
    );
    // A back end naming things that do not exist (built directly: the API layer would refuse).
    b.backend(
        "b",
        json!({"url": "https://b.internal", "credentials": {"certificateIds": ["nope"]}, "tls": {"caCertificateIds": ["no-ca"]}}),
    );
    let err = b.compile().unwrap_err();
    let targets: Vec<&str> = err.details().iter().map(|d| d.target.as_str()).collect();
    assert_eq!(err.code(), "ValidationError");
    assert!(
        targets.iter().any(|t| t.starts_with(
            "/apis/a/policies/policy: policies/inbound/authentication-certificate[1]"
        )),
        "{targets:?}"
    );
    assert!(
        targets.contains(&"/backends/b: properties.credentials.certificateIds[0]"),
        "{targets:?}"
    );
    assert!(
        targets.contains(&"/backends/b: properties.tls.caCertificateIds[0]"),
        "{targets:?}"
    );
}

#[test]
fn identities_are_reused_until_the_certificate_is_replaced() {
    let mut b = Builder::new();
    b.cert("c", 1);
    let compiler = Compiler::new(Arc::clone(&b.master));
    let first = compiler.compile(&b.config).unwrap();
    let again = compiler.compile(&b.config).unwrap();
    assert!(Arc::ptr_eq(
        &first.certificates["c"],
        &again.certificates["c"]
    ));
    b.cert("c", 2);
    let replaced = compiler.compile(&b.config).unwrap();
    assert_eq!(replaced.certificates["c"].version, 2);
    assert!(!Arc::ptr_eq(
        &first.certificates["c"],
        &replaced.certificates["c"]
    ));
}

#[test]
fn apis_are_ordered_longest_path_first() {
    let mut b = Builder::new();
    b.api("root", "", "https://r.internal")
        .api("v1", "shop/v1", "https://s.internal")
        .api("shop", "shop", "https://s.internal");
    let snap = b.compile().unwrap();
    let paths: Vec<&str> = snap.apis.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, ["shop/v1", "shop", ""]);
}

#[test]
fn basic_credentials_survive_masking_sealing_and_reload_into_the_plan() {
    use base64::Engine as _;
    let mut b = Builder::new();
    b.api("a", "a", "https://x.internal")
        .op("a", "o", "GET", "/");
    let scope = PolicyScope::Api("a".into());
    b.policy(
        scope.clone(),
        r#"<policies><inbound><authentication-basic username="svc" password="real-Pass-1" /></inbound></policies>"#,
    );
    let stored = Arc::clone(&b.config.policies[&scope].value);
    let record = stored.to_record(&scope, 50, &b.master).unwrap();
    assert!(!record.body.contains("real-Pass-1"), "{}", record.body);
    let sealed = record.sealed.as_ref().unwrap();
    assert!(!sealed.windows(11).any(|w| w == b"real-Pass-1"));

    // What a client GETs shows the mask; sending it back keeps the real password.
    let masked = stored.contract().value;
    assert!(masked.contains(r#"password="******""#), "{masked}");
    let again = PolicyRecord::from_input(
        &scope,
        json!({"value": masked}),
        Some(&stored),
        &gatehouse_policy::Limits::default(),
    )
    .unwrap();
    let next = b.config.revision + 1;
    // Applied through its record: the same decoding a restart does.
    b.put(again.to_record(&scope, next, &b.master).unwrap());

    let snap = b.compile().unwrap();
    let plan = &snap.apis[0].operations[0].plan;
    let auth = plan
        .request_headers
        .iter()
        .find(|h| h.name == http::header::AUTHORIZATION)
        .expect("an Authorization step");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("svc:real-Pass-1")
    );
    assert_eq!(auth.values[0], expected.as_str());
    assert!(auth.values[0].is_sensitive());
}

#[test]
fn a_second_credential_in_a_section_is_refused() {
    let err = PolicyRecord::from_input(
        &PolicyScope::Api("a".into()),
        json!({"value": r#"<policies><inbound><authentication-certificate certificate-id="a" /><authentication-certificate certificate-id="b" /></inbound></policies>"#}),
        None,
        &gatehouse_policy::Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "PolicyDuplicateElement");
    assert!(
        err.details()[0]
            .target
            .contains("authentication-certificate[2]"),
        "{err:?}"
    );
}

#[test]
fn an_api_without_service_url_needs_set_backend_service() {
    let mut b = Builder::new();
    let api = ApiProperties::from_input(json!({"path": "n"})).unwrap();
    let r = api.to_record("n", b.config.revision + 1).unwrap();
    b.put(r).op("n", "o", "GET", "/");
    let err = b.compile().unwrap_err();
    assert_eq!(err.code(), "NoBackend");
    b.policy(
        PolicyScope::Api("n".into()),
        r#"<policies><inbound><set-backend-service base-url="https://svc.internal/v1" /></inbound></policies>"#,
    );
    let snap = b.compile().unwrap();
    assert_eq!(snap.apis[0].operations[0].plan.backend.url.base_path, "/v1");
    // base-url goes through the service-URL parser: a bad port is a 400, not a fallback.
    b.policy(
        PolicyScope::Api("n".into()),
        r#"<policies><inbound><set-backend-service base-url="https://svc.internal:99999/" /></inbound></policies>"#,
    );
    let err = b.compile().unwrap_err();
    assert!(
        err.details()
            .iter()
            .any(|d| d.code == "PolicyInvalidAttribute"),
        "{err:?}"
    );
}
