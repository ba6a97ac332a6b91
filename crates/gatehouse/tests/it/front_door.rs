//! The gateway's TLS listener with real clients (curl, `openssl s_client`, rustls): host
//! names by SNI, HTTP/2 by ALPN, certificates changed without a restart, protocols enforced,
//! and callers' certificates checked by policy.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::backend::{self, Backend, Mode};
use crate::support::pki::{TestCa, b64, self_signed_client};
use crate::support::server::{Api, Options, Server, start};
use crate::support::setup::{api_to, base, upload_pem};
use crate::support::tls::{self, curl, s_client, served_subject};

/// A server with both listeners, a CA whose certificates it serves, and the CA's PEM on disk
/// for the clients.
struct Front {
    server: Server,
    api: Api,
    ca: TestCa,
    ca_file: PathBuf,
    backend: Backend,
    _dir: tempfile::TempDir,
}

impl Front {
    fn tls(&self) -> std::net::SocketAddr {
        self.server.gateway_tls.expect("a TLS listener")
    }

    /// Uploads a server certificate for `names` as certificate `id`.
    async fn certificate(&self, id: &str, names: &[&str]) -> String {
        upload_pem(&self.api, id, &self.ca.server_pem(names)).await
    }

    async fn hostname(&self, id: &str, properties: Value) -> crate::support::server::Reply {
        self.api
            .put(
                &format!("/hostnameConfigurations/{id}"),
                &json!({ "properties": properties }),
            )
            .await
    }

    /// An API `id` at `/{id}` in front of the echo back end, with `protocols` and `inbound`
    /// policy statements.
    async fn echo_api(&self, id: &str, protocols: Option<&[&str]>, inbound: &str) {
        let url = base(&self.backend, "127.0.0.1", "http");
        api_to(&self.api, id, &url, protocols, inbound).await;
    }
}

async fn front(extra: &[&str]) -> Front {
    let ca = TestCa::new("Front Door Test CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let backend = backend::start(backend::Options::plain(Mode::Echo)).await;
    let mut options = Options::new(&dir.path().join("data"));
    options.args = ["--gateway-tls-listen", "127.0.0.1:0"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    let server = start(options);
    let api = server.api();
    Front {
        server,
        api,
        ca,
        ca_file,
        backend,
        _dir: dir,
    }
}

#[tokio::test]
async fn host_names_are_served_by_sni_with_http2_and_a_default_binding() {
    let f = front(&[]).await;
    f.certificate("api-cert", &["api.example.test"]).await;
    f.certificate("wild-cert", &["*.wild.example.test"]).await;
    f.certificate("default-cert", &["default.example.test"])
        .await;
    f.hostname(
        "api",
        json!({"hostName": "api.example.test", "certificateId": "api-cert"}),
    )
    .await
    .expect(201);
    f.hostname(
        "wild",
        json!({"hostname": "*.wild.example.test", "certificateId": "wild-cert", "http2Enabled": false}),
    )
    .await
    .expect(201);
    f.echo_api("echo", None, "").await;
    let tls = f.tls();

    // An exact name, over HTTP/1.1 and HTTP/2.
    let one = curl(
        tls,
        "api.example.test",
        "/echo/x",
        &f.ca_file,
        &["--http1.1"],
    )
    .await;
    assert_eq!(
        (one.status, one.http_version.as_str()),
        (200, "1.1"),
        "{one:?}"
    );
    assert!(
        served_subject(&one.log).contains("CN=api.example.test"),
        "{}",
        one.log
    );
    let seen = f.backend.last();
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    let two = curl(tls, "api.example.test", "/echo/x", &f.ca_file, &["--http2"]).await;
    assert_eq!(
        (two.status, two.http_version.as_str()),
        (200, "2"),
        "{two:?}"
    );

    // A wildcard covers one label, and http2Enabled false keeps ALPN at HTTP/1.1.
    let wild = curl(
        tls,
        "a.wild.example.test",
        "/echo/x",
        &f.ca_file,
        &["--http2"],
    )
    .await;
    assert_eq!(
        (wild.status, wild.http_version.as_str()),
        (200, "1.1"),
        "{wild:?}"
    );
    assert!(
        served_subject(&wild.log).contains("*.wild.example.test"),
        "{}",
        wild.log
    );

    // No configuration for the name and no default binding: a handshake alert.
    let unknown = s_client(tls, &["-servername", "other.example.test"]).await;
    assert!(
        unknown.to_ascii_lowercase().contains("unrecognized name"),
        "{unknown}"
    );
    let none = s_client(tls, &["-noservername"]).await;
    assert!(
        none.to_ascii_lowercase().contains("unrecognized name"),
        "{none}"
    );
    let deep = s_client(tls, &["-servername", "a.b.wild.example.test"]).await;
    assert!(
        deep.to_ascii_lowercase().contains("unrecognized name"),
        "{deep}"
    );

    // A default binding answers clients without a known name.
    f.hostname(
        "default",
        json!({"hostName": "default.example.test", "certificateId": "default-cert", "defaultSslBinding": true}),
    )
    .await
    .expect(201);
    for args in [
        &["-noservername"][..],
        &["-servername", "other.example.test"],
    ] {
        let out = s_client(tls, args).await;
        assert!(
            out.contains("CN = default.example.test") || out.contains("CN=default.example.test"),
            "{out}"
        );
    }
    let metrics = f.api.get("/metrics").await.expect(200).text();
    assert!(
        metrics.contains("gatehouse_tls_refused_total{reason=\"unknown_name\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rotated_certificate_is_served_from_the_next_handshake_without_dropping_connections() {
    let f = front(&[]).await;
    let first = f.certificate("api-cert", &["api.example.test"]).await;
    f.hostname(
        "api",
        json!({"hostName": "api.example.test", "certificateId": "api-cert"}),
    )
    .await
    .expect(201);
    f.echo_api("echo", None, "").await;
    let config = tls::client_config(&f.ca.pem, &[b"http/1.1"], None);
    let mut held = tls::connect(&config, f.tls(), "api.example.test")
        .await
        .unwrap();
    assert!(
        tls::get(&mut held, "api.example.test", "/echo/a")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let thumbprint = |der: &[u8]| crate::support::backend::thumbprint(der);
    let served = |tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        thumbprint(tls.get_ref().1.peer_certificates().unwrap()[0].as_ref())
    };
    assert_eq!(served(&held), first);

    // Rotate: the same id, a new certificate. A client without a session to resume does a
    // full handshake and sees it.
    let second = f.certificate("api-cert", &["api.example.test"]).await;
    assert_ne!(first, second);
    let new_client = tls::client_config(&f.ca.pem, &[b"http/1.1"], None);
    let fresh = tls::connect(&new_client, f.tls(), "api.example.test")
        .await
        .unwrap();
    assert_eq!(
        served(&fresh),
        second,
        "the next handshake presents the new certificate"
    );
    // The connection made before the change still works.
    let again = tls::get(&mut held, "api.example.test", "/echo/b").await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");

    // Sessions resume (tickets), across the change too.
    let resumed = tls::connect(&config, f.tls(), "api.example.test")
        .await
        .unwrap();
    assert_eq!(
        resumed.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
}

#[tokio::test]
async fn protocols_choose_the_listener_and_forwarded_proto_tells_the_back_end() {
    let f = front(&[]).await;
    f.certificate("api-cert", &["api.example.test"]).await;
    f.hostname(
        "api",
        json!({"hostName": "api.example.test", "certificateId": "api-cert", "defaultSslBinding": true}),
    )
    .await
    .expect(201);
    f.echo_api("secure", Some(&["https"]), "").await;
    f.echo_api("open", Some(&["http"]), "").await;
    f.echo_api("both", None, "").await;
    let gw = f.server.gateway();
    let tls = f.tls();
    let over_tls = async |path: &str| {
        curl(tls, "api.example.test", path, &f.ca_file, &[])
            .await
            .status
    };

    assert_eq!(gw.get("/secure/x").await.status.as_u16(), 404);
    assert_eq!(over_tls("/secure/x").await, 200);
    assert_eq!(f.backend.last().headers["x-forwarded-proto"], "https");
    assert_eq!(gw.get("/open/x").await.status.as_u16(), 200);
    assert_eq!(f.backend.last().headers["x-forwarded-proto"], "http");
    assert_eq!(over_tls("/open/x").await, 404);
    assert_eq!(gw.get("/both/x").await.status.as_u16(), 200);
    assert_eq!(over_tls("/both/x").await, 200);
    // The APIM answer for an API that is not there.
    let reply = gw.get("/secure/x").await;
    assert_eq!(reply.json()["message"], json!("Resource not found"));
}

#[tokio::test]
async fn hostname_configurations_are_checked_and_keep_their_certificates() {
    let f = front(&[]).await;
    f.certificate("api-cert", &["api.example.test"]).await;
    f.certificate("other-cert", &["other.example.test"]).await;
    let bad = f
        .hostname(
            "x",
            json!({"hostName": "api.example.test", "certificateId": "missing"}),
        )
        .await
        .expect(400);
    assert!(bad.text().contains("CertificateNotFound"), "{}", bad.text());
    let bad = f
        .hostname(
            "x",
            json!({"hostName": "api.example.test", "certificateId": "other-cert"}),
        )
        .await
        .expect(400);
    assert!(
        bad.text().contains("HostnameNotInCertificate"),
        "{}",
        bad.text()
    );
    let bad = f
        .hostname("x", json!({"hostName": "a b", "certificateId": "api-cert"}))
        .await
        .expect(400);
    assert_eq!(
        bad.json()["error"]["details"][0]["target"],
        json!("properties.hostName")
    );
    f.hostname(
        "api",
        json!({"hostName": "API.Example.Test", "certificateId": "api-cert", "defaultSslBinding": true}),
    )
    .await
    .expect(201);
    let got = f
        .api
        .get("/hostnameConfigurations/api")
        .await
        .expect(200)
        .json();
    assert_eq!(got["properties"]["hostName"], json!("api.example.test"));
    assert_eq!(got["properties"]["http2Enabled"], json!(true));
    let same = f
        .hostname(
            "api2",
            json!({"hostName": "api.example.test", "certificateId": "api-cert"}),
        )
        .await
        .expect(400);
    assert!(same.text().contains("HostnameInUse"), "{}", same.text());
    f.certificate("other2", &["other.example.test"]).await;
    let second_default = f
        .hostname(
            "other",
            json!({"hostName": "other.example.test", "certificateId": "other2", "defaultSslBinding": true}),
        )
        .await
        .expect(400);
    assert!(second_default.text().contains("DefaultSslBindingInUse"));
    // A certificate a hostname presents cannot be deleted.
    let refused = f.api.delete("/certificates/api-cert").await.expect(409);
    assert!(
        refused.text().contains("/hostnameConfigurations/api"),
        "{}",
        refused.text()
    );
    let list = f
        .api
        .get("/hostnameConfigurations")
        .await
        .expect(200)
        .json();
    assert_eq!(list["count"], json!(1));
    f.api
        .delete("/hostnameConfigurations/api")
        .await
        .expect(204);
    f.api.delete("/certificates/api-cert").await.expect(204);
}

/// The caller's certificate, checked by `validate-client-certificate` and passed on by
/// `forward-client-certificate`.
#[tokio::test]
async fn callers_certificates_are_checked_by_policy_and_passed_on() {
    let f = front(&[]).await;
    f.certificate("api-cert", &["api.example.test"]).await;
    f.hostname(
        "api",
        json!({"hostName": "api.example.test", "certificateId": "api-cert", "negotiateClientCertificate": true}),
    )
    .await
    .expect(201);
    let callers = TestCa::new("Callers CA");
    f.api
        .put(
            "/caCertificates/callers",
            &json!({"properties": {"data": b64(&callers.der)}}),
        )
        .await
        .expect(201);
    f.echo_api(
        "guarded",
        Some(&["https"]),
        "<validate-client-certificate validate-revocation=\"false\">\
           <identities>\
             <identity common-name=\"allowed\" issuer-certificate-id=\"callers\" />\
           </identities>\
         </validate-client-certificate>\
         <forward-client-certificate header-name=\"X-Client-Thumbprint\" format=\"thumbprint\" />\
         <forward-client-certificate header-name=\"X-ARR-ClientCert\" />",
    )
    .await;
    f.echo_api(
        "lenient",
        Some(&["https"]),
        "<validate-client-certificate validate-revocation=\"false\" ignore-error=\"true\" />\
         <forward-client-certificate header-name=\"X-Client-Thumbprint\" format=\"thumbprint\" />",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_string_lossy().to_string()
    };
    let (allowed, allowed_der) = callers.client("allowed");
    let allowed = write("allowed.pem", &allowed);
    let other = write("other.pem", &callers.client("someone-else").0);
    let expired = write("expired.pem", &callers.client_dated("allowed", -30, -1).0);
    let stranger = write("stranger.pem", &self_signed_client("allowed").0);
    let tls = f.tls();
    let call = async |api: &str, cert: Option<&str>, extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        if let Some(c) = cert {
            args.extend(["--cert", c]);
        }
        curl(
            tls,
            "api.example.test",
            &format!("/{api}/x"),
            &f.ca_file,
            &args,
        )
        .await
    };

    let ok = call(
        "guarded",
        Some(&allowed),
        &["-H", "X-Client-Thumbprint: forged"],
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let seen = f.backend.last();
    let thumb = crate::support::backend::thumbprint(&allowed_der);
    assert_eq!(seen.headers["x-client-thumbprint"], thumb);
    use base64::Engine as _;
    assert_eq!(
        seen.headers["x-arr-clientcert"],
        base64::engine::general_purpose::STANDARD.encode(&allowed_der)
    );
    assert_eq!(
        ok.http_version, "2",
        "curl offered h2 and the gateway took it"
    );

    for (cert, code, message) in [
        (
            None,
            "ClientCertificateNotFound",
            "Client certificate missing",
        ),
        (
            Some(&other),
            "ClientCertificateIdentityNotMatched",
            "Invalid client certificate",
        ),
        (
            Some(&expired),
            "ClientCertificateExpired",
            "Invalid client certificate",
        ),
        (
            Some(&stranger),
            "ClientCertificateNotTrusted",
            "Invalid client certificate",
        ),
    ] {
        let reached = f.backend.seen().len();
        let refused = call("guarded", cert.map(String::as_str), &[]).await;
        assert_eq!(refused.status, 401, "{cert:?}: {refused:?}");
        let body: Value = serde_json::from_str(&refused.body).unwrap();
        assert_eq!(body["code"], json!(code), "{cert:?}");
        assert!(
            body["message"].as_str().unwrap().starts_with(message),
            "{body}"
        );
        assert_eq!(
            f.backend.seen().len(),
            reached,
            "a refused caller reached the back end"
        );
    }

    // ignore-error lets the request through; without a certificate the forged header goes.
    let through = call("lenient", Some(&stranger), &[]).await;
    assert_eq!(through.status, 200, "{through:?}");
    let anonymous = call("lenient", None, &["-H", "X-Client-Thumbprint: forged"]).await;
    assert_eq!(anonymous.status, 200);
    assert!(!f.backend.last().headers.contains_key("x-client-thumbprint"));

    // The CA the identity names cannot go while the policy names it.
    let refused = f.api.delete("/caCertificates/callers").await.expect(409);
    assert!(
        refused.text().contains("/apis/guarded/policies/policy"),
        "{}",
        refused.text()
    );
    // Revocation checks are refused at save, not stored and ignored.
    let reply = f
        .api
        .put(
            "/apis/guarded/policies/policy",
            &json!({"properties": {"value": "<policies><inbound><validate-client-certificate validate-revocation=\"true\" /></inbound></policies>"}}),
        )
        .await
        .expect(400);
    assert!(reply.text().contains("NotSupported"), "{}", reply.text());
}
