//! Where and how the gateway connects to back ends: which requests share a connection, what
//! a pin means, and how a failed handshake is explained.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use serde_json::json;

use crate::support::backend::{self, Mode, thumbprint};
use crate::support::pki::{KeyKind, Pki, TestCa, b64, self_signed_client, self_signed_server};
use crate::support::server::{Options, start};
use crate::support::setup::{api_to, base, echo_api, upload_pem, use_certificate};

fn sha256_hex(der: &[u8]) -> String {
    digest::digest(&digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A regression: the pool key was the URL's authority without the scheme, so after a call to
/// an `http` API, calls to an `https` API on the same host reused the cleartext connection and
/// carried their `Authorization` header in clear text.
#[tokio::test]
async fn http_and_https_routes_to_one_host_never_share_a_connection() {
    let plain = backend::start(backend::Options::plain(Mode::Echo)).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    api_to(&api, "open", &base(&plain, "localhost", "http"), None, "").await;
    api_to(
        &api,
        "secure",
        &base(&plain, "localhost", "https"),
        None,
        r#"<authentication-basic username="svc" password="never-in-clear" />"#,
    )
    .await;

    gw.get("/open/x").await.expect(200);
    assert_eq!(plain.seen().len(), 1);
    // The https API gets its own connection: a TLS handshake, which a cleartext server fails.
    let reply = gw.get("/secure/x").await;
    assert_eq!(reply.status.as_u16(), 502, "{}", reply.text());
    for seen in plain.seen() {
        assert!(
            !seen.headers.contains_key("authorization"),
            "credentials crossed in clear text: {seen:?}"
        );
    }
    assert_eq!(
        plain.seen().len(),
        1,
        "the https request reached the cleartext server"
    );
    gw.get("/open/y").await.expect(200);
}

/// A regression: a back end entity's pool was keyed by its id, so after its URL changed the
/// pooled connections to the old host kept carrying its requests.
#[tokio::test]
async fn a_repointed_backend_stops_using_the_old_host() {
    let old = backend::start(backend::Options::plain(Mode::Echo)).await;
    let new = backend::start(backend::Options::plain(Mode::Echo)).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    api.put(
        "/backends/svc",
        &json!({"properties": {"url": base(&old, "127.0.0.1", "http")}}),
    )
    .await
    .expect(201);
    api_to(
        &api,
        "echo",
        &base(&old, "127.0.0.1", "http"),
        None,
        r#"<set-backend-service backend-id="svc" />"#,
    )
    .await;
    gw.get("/echo/a").await.expect(200);
    gw.get("/echo/b").await.expect(200);
    assert_eq!(
        (old.seen().len(), old.connections()),
        (2, 1),
        "one pooled connection"
    );

    api.put(
        "/backends/svc",
        &json!({"properties": {"url": base(&new, "127.0.0.1", "http")}}),
    )
    .await
    .expect(200);
    for path in ["/echo/c", "/echo/d"] {
        gw.get(path).await.expect(200);
    }
    assert_eq!(old.seen().len(), 2, "requests kept going to the old host");
    assert_eq!(new.seen().len(), 2);
    assert_eq!(new.last().uri, "/d");
}

/// An `openssl s_server` on a free port with `args`; killed when dropped.
struct OpensslServer {
    child: Child,
    port: u16,
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn openssl_server(pki: &Pki, args: &[&str]) -> OpensslServer {
    let files = pki.self_signed("tls12", "/CN=localhost", KeyKind::Rsa);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .arg("s_server")
        .args(["-accept", &port.to_string(), "-www", "-quiet"])
        .arg("-cert")
        .arg(&files.cert)
        .arg("-key")
        .arg(&files.key)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    OpensslServer { child, port }
}

/// A regression: a `handshake_failure` alert was always blamed on the client certificate,
/// even from a back end that never asked for one and shares no cipher suite with the gateway.
#[tokio::test]
async fn a_cipher_mismatch_is_not_blamed_on_the_client_certificate() {
    let pki = Pki::new();
    // TLS 1.2 with RSA key exchange only: nothing rustls offers. No client certificate asked.
    let tls = openssl_server(&pki, &["-tls1_2", "-cipher", "AES128-SHA256"]).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    let url = format!("https://localhost:{}", tls.port);
    api.put(
        "/backends/legacy",
        &json!({"properties": {"url": url, "tls": {"validateCertificateChain": false}}}),
    )
    .await
    .expect(201);
    echo_api(&api, &url).await;
    let (pem, _) = self_signed_client("legacy-client");
    upload_pem(&api, "legacy-client", &pem).await;
    use_certificate(&api, "echo", "legacy-client").await;

    let reply = gw.get("/echo/x").await.expect(502);
    let body = reply.json();
    assert_eq!(body["code"], json!("BackendTlsNegotiationFailed"), "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("cipher suite"),
        "{body}"
    );
    assert!(server.wait_for_log("code=\"BackendTlsNegotiationFailed\""));
}

/// What a pin means, exactly: it narrows trust and never replaces the chain check. With
/// `validateCertificateChain` on, the leaf must match a pin and chain to a trusted root; with
/// it off, the pin is what the leaf is trusted by. SHA-1 and SHA-256 pins both work.
#[tokio::test]
async fn pins_narrow_trust_and_never_replace_chain_validation() {
    let ca = TestCa::new("Pin Test CA");
    let issued = ca.server(&["localhost"], -1, 30);
    let issued_der = issued.0[0].to_vec();
    let (selfsigned, _) = self_signed_server(&["localhost"]);
    let self_der = selfsigned.0[0].to_vec();
    let ca_backend = backend::start(backend::Options {
        client_auth: None,
        ..backend::Options::mtls(issued)
    })
    .await;
    let self_backend = backend::start(backend::Options {
        client_auth: None,
        ..backend::Options::mtls(selfsigned)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    api.put(
        "/caCertificates/pin-ca",
        &json!({"properties": {"data": b64(&ca.der)}}),
    )
    .await
    .expect(201);
    let ca_url = base(&ca_backend, "localhost", "https");
    let self_url = base(&self_backend, "localhost", "https");
    api_to(&api, "issued", &ca_url, None, "").await;
    api_to(&api, "selfsigned", &self_url, None, "").await;

    let cases: [(&str, serde_json::Value, &str, u16, Option<&str>); 7] = [
        // A trusted chain and a matching pin, SHA-256 then SHA-1.
        (
            "issued",
            json!({"caCertificateIds": ["pin-ca"], "serverCertificateThumbprints": [sha256_hex(&issued_der)]}),
            &ca_url,
            200,
            None,
        ),
        (
            "issued",
            json!({"caCertificateIds": ["pin-ca"], "serverCertificateThumbprints": [thumbprint(&issued_der)]}),
            &ca_url,
            200,
            None,
        ),
        // A trusted chain, but the pin names another certificate.
        (
            "issued",
            json!({"caCertificateIds": ["pin-ca"], "serverCertificateThumbprints": [sha256_hex(&self_der)]}),
            &ca_url,
            502,
            Some("BackendCertificatePinMismatch"),
        ),
        // A matching pin does not make an untrusted chain trusted while the check is on.
        (
            "selfsigned",
            json!({"serverCertificateThumbprints": [sha256_hex(&self_der)]}),
            &self_url,
            502,
            Some("BackendCertificateUntrusted"),
        ),
        (
            "selfsigned",
            json!({"serverCertificateThumbprints": [thumbprint(&self_der)]}),
            &self_url,
            502,
            Some("BackendCertificateUntrusted"),
        ),
        // With the chain check off, the pin is the trust.
        (
            "selfsigned",
            json!({"validateCertificateChain": false, "serverCertificateThumbprints": [sha256_hex(&self_der)]}),
            &self_url,
            200,
            None,
        ),
        (
            "selfsigned",
            json!({"validateCertificateChain": false, "serverCertificateThumbprints": [sha256_hex(&issued_der)]}),
            &self_url,
            502,
            Some("BackendCertificatePinMismatch"),
        ),
    ];
    for (i, (api_id, tls, url, status, code)) in cases.into_iter().enumerate() {
        let saved = api
            .put(
                &format!("/backends/{api_id}"),
                &json!({"properties": {"url": url, "tls": tls}}),
            )
            .await;
        assert!(saved.status.is_success(), "case {i}: {}", saved.text());
        let reply = gw.get(&format!("/{api_id}/x")).await;
        assert_eq!(reply.status.as_u16(), status, "case {i}: {}", reply.text());
        if let Some(code) = code {
            assert_eq!(reply.json()["code"], json!(code), "case {i}");
        }
    }
}
