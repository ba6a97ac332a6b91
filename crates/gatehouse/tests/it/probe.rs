//! The pre-flight probe: real handshakes with real back ends (a good one, a self-signed one,
//! the wrong name, one that does not ask for a certificate, one that rejects ours), and
//! `?probe=true` refusing a change whose handshake would fail.

use serde_json::{Value, json};

use crate::support::backend::{self, thumbprint};
use crate::support::pki::self_signed_server;
use crate::support::server::Api;
use crate::support::setup::{api_to, base, mtls_setup, upload_pem, use_certificate};

async fn probe(api: &Api, path: &str, body: Option<Value>) -> Value {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let reply = api.send("POST", path, bytes, &[]).await.expect(200);
    reply.json()
}

fn check(report: &Value, name: &str) -> String {
    report["serverCertificate"]["checks"][name]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_diagnose_good_untrusted_misnamed_unasking_and_rejecting_back_ends() {
    let setup = mtls_setup(|_| {}).await;
    let (api, ca) = (&setup.api, &setup.ca);

    // No certificate configured: the back end asks, gets none, and refuses.
    let none = probe(api, "/apis/echo/probe", None).await;
    assert_eq!(none["success"], json!(false), "{none}");
    assert_eq!(
        none["clientCertificate"]["requested"],
        json!(true),
        "{none}"
    );
    assert_eq!(none["clientCertificate"]["presented"], Value::Null);

    // A good back end with the certificate configured.
    let (pem, der) = ca.client("probe-client");
    upload_pem(api, "client", &pem).await;
    use_certificate(api, "echo", "client").await;
    let good = probe(api, "/apis/echo/probe", None).await;
    assert_eq!(good["success"], json!(true), "{good}");
    assert_eq!(good["code"], json!("Success"));
    assert_eq!(
        good["clientCertificate"]["presented"]["thumbprint"],
        json!(thumbprint(&der))
    );
    assert_eq!(
        good["serverCertificate"]["chain"][0]["subject"],
        json!("CN=localhost")
    );
    assert_eq!(check(&good, "chain"), "pass");
    assert_eq!(check(&good, "name"), "pass");
    assert_eq!(check(&good, "pins"), "off");
    assert!(
        good["tls"]["protocol"]
            .as_str()
            .unwrap()
            .contains("TLSv1_3"),
        "{good}"
    );
    assert!(good["elapsedMs"].as_f64().unwrap() > 0.0);
    // The back end entity's own probe agrees.
    let by_backend = probe(api, "/backends/svc/probe", None).await;
    assert_eq!(by_backend["backend"]["id"], json!("svc"));
    assert_eq!(by_backend["clientCertificate"]["requested"], json!(true));

    // A self-signed back end with validation on: the chain fails, the name would pass.
    let (identity, _) = self_signed_server(&["localhost"]);
    let selfsigned = backend::start(backend::Options::mtls(identity)).await;
    api.put(
        "/backends/selfsigned",
        &json!({"properties": {"url": base(&selfsigned, "localhost", "https")}}),
    )
    .await
    .expect(201);
    let untrusted = probe(
        api,
        "/backends/selfsigned/probe",
        Some(json!({"certificateId": "client"})),
    )
    .await;
    assert_eq!(
        untrusted["code"],
        json!("BackendCertificateUntrusted"),
        "{untrusted}"
    );
    assert!(
        check(&untrusted, "chain").starts_with("fail"),
        "{untrusted}"
    );
    assert_eq!(check(&untrusted, "name"), "pass");
    assert!(
        untrusted["message"]
            .as_str()
            .unwrap()
            .contains("validateCertificateChain"),
        "{untrusted}"
    );

    // The wrong name: reached by IP, certificate for localhost.
    api.put(
        "/backends/byip",
        &json!({"properties": {"url": base(&setup.backend, "127.0.0.1", "https"),
            "tls": {"caCertificateIds": ["test-ca"]}}}),
    )
    .await
    .expect(201);
    let misnamed = probe(api, "/backends/byip/probe", None).await;
    assert_eq!(
        misnamed["code"],
        json!("BackendCertificateNameMismatch"),
        "{misnamed}"
    );
    assert_eq!(check(&misnamed, "chain"), "pass");
    assert!(check(&misnamed, "name").starts_with("fail"));

    // A back end that does not ask for a certificate: the handshake works, and the report
    // says the configured certificate protects nothing.
    let mut plain_tls = backend::Options::mtls(ca.server(&["localhost"], -1, 30));
    plain_tls.client_auth = None;
    let unasking = backend::start(plain_tls).await;
    api.put(
        "/backends/unasking",
        &json!({"properties": {"url": base(&unasking, "localhost", "https"),
            "tls": {"caCertificateIds": ["test-ca"]}, "credentials": {"certificateIds": ["client"]}}}),
    )
    .await
    .expect(201);
    let report = probe(api, "/backends/unasking/probe", None).await;
    assert_eq!(report["success"], json!(true), "{report}");
    assert_eq!(report["clientCertificate"]["requested"], json!(false));
    assert!(
        report["message"].as_str().unwrap().contains("did not ask"),
        "{report}"
    );

    // A back end that accepts one certificate only: another one is rejected.
    let (other_pem, _) = ca.client("probe-other");
    upload_pem(api, "other", &other_pem).await;
    let mut strict = backend::Options::mtls(ca.server(&["localhost"], -1, 30));
    strict.allowed_clients = Some(vec![thumbprint(&der)]);
    let strict = backend::start(strict).await;
    api.put(
        "/backends/strict",
        &json!({"properties": {"url": base(&strict, "localhost", "https"),
            "tls": {"caCertificateIds": ["test-ca"]}}}),
    )
    .await
    .expect(201);
    let accepted = probe(
        api,
        "/backends/strict/probe",
        Some(json!({"certificateId": "client"})),
    )
    .await;
    assert_eq!(accepted["success"], json!(true), "{accepted}");
    let rejected = probe(
        api,
        "/backends/strict/probe",
        Some(json!({"certificateId": "other"})),
    )
    .await;
    assert_eq!(
        rejected["code"],
        json!("ClientCertificateRejected"),
        "{rejected}"
    );
    assert_eq!(
        rejected["clientCertificate"]["presented"]["id"],
        json!("other")
    );

    // probe=true refuses a change whose handshake fails, and nothing changes.
    api_to(
        api,
        "strictapi",
        &base(&strict, "localhost", "https"),
        None,
        "",
    )
    .await;
    use_certificate(api, "strictapi", "client").await;
    let before = api.get("/apis/strictapi/gatewayCredentials").await.json();
    let refused = api
        .put(
            "/apis/strictapi/gatewayCredentials?probe=true",
            &json!({"properties": {"type": "clientCertificate", "certificateId": "other"}}),
        )
        .await
        .expect(424);
    assert_eq!(refused.code(), "ProbeFailed");
    assert_eq!(
        refused.json()["error"]["probe"]["code"],
        json!("ClientCertificateRejected")
    );
    assert_eq!(
        api.get("/apis/strictapi/gatewayCredentials").await.json(),
        before
    );
    // A change whose handshake passes is saved.
    api.put(
        "/apis/strictapi/gatewayCredentials?probe=true",
        &json!({"properties": {"type": "clientCertificate", "certificateId": "client"}}),
    )
    .await
    .expect(200);

    // Errors in the request itself.
    let unknown = api
        .send(
            "POST",
            "/apis/echo/probe",
            br#"{"certificateId": "nope"}"#.to_vec(),
            &[],
        )
        .await
        .expect(400);
    assert_eq!(unknown.code(), "CertificateNotFound");
    api.send("POST", "/backends/nope/probe", Vec::new(), &[])
        .await
        .expect(404);
}
