//! Admin authentication on every route, the host names and browser headers of the admin
//! listener, and secrets that never leave.

use serde_json::json;

use crate::support::pki::{CertFiles, KeyKind, Pki, TestCa, b64};
use crate::support::server::{Options, TOKEN, raw_http, start, try_start};
use crate::support::{all_files, contains};

#[tokio::test]
async fn every_route_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let anonymous = server.api().with_token(None);
    let wrong = server.api().with_token(Some("wrong-token-0123456789"));
    assert!(!gatehouse_admin::routes::ROUTES.is_empty());
    for route in gatehouse_admin::routes::ROUTES {
        let (method, path) = (route.method, route.path);
        let concrete = path.replace(['{', '}'], "");
        let missing = anonymous.send(method, &concrete, b"{}".to_vec(), &[]).await;
        let bad = wrong.send(method, &concrete, b"{}".to_vec(), &[]).await;
        assert_eq!(
            missing.status.as_u16(),
            401,
            "{method} {path} without a token"
        );
        assert_eq!(
            bad.status.as_u16(),
            401,
            "{method} {path} with a wrong token"
        );
        // The same answer either way: a caller cannot tell a missing token from a wrong one.
        assert_eq!(missing.body, bad.body, "{method} {path}");
        assert_eq!(missing.code(), "Unauthorized");
    }
    // Unknown paths do not reveal themselves either; /health is open.
    anonymous.get("/no/such/route").await.expect(401);
    anonymous.get("/health").await.expect(200);
    server.api().get("/openapi.json").await.expect(200);
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let doc = server.api().get("/openapi.json").await.expect(200).json();
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let paths = doc["paths"].as_object().unwrap();
    for route in gatehouse_admin::routes::ROUTES {
        let (method, path) = (route.method, route.path);
        let op = &paths[path][method.to_ascii_lowercase()];
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path} undocumented"
        );
        assert!(op["responses"]["401"].is_object(), "{method} {path}");
        assert!(op["responses"]["421"].is_object(), "{method} {path}");
    }
    let described: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(described, gatehouse_admin::routes::ROUTES.len());
    for schema in [
        "Certificate",
        "CertificateCreate",
        "Backend",
        "Api",
        "Operation",
        "Policy",
        "GatewayCredentials",
        "Error",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

/// Every form a secret could leak in: the private key as PKCS#8 and PKCS#1 DER, their base64
/// (whole and PEM lines), their hex in either case; passwords plain and in base64.
fn leak_needles(pki: &Pki, files: &CertFiles, password: &str) -> Vec<(String, Vec<u8>)> {
    let key_path = files.key.to_string_lossy().to_string();
    let pkcs8 =
        crate::support::pki::openssl(pki.path(), &["pkey", "-in", &key_path, "-outform", "DER"]);
    let pkcs1 = crate::support::pki::openssl(
        pki.path(),
        &["rsa", "-in", &key_path, "-traditional", "-outform", "DER"],
    );
    let pkcs1_pem = String::from_utf8(crate::support::pki::openssl(
        pki.path(),
        &["rsa", "-in", &key_path, "-traditional"],
    ))
    .unwrap();
    assert!(pkcs1_pem.contains("BEGIN RSA PRIVATE KEY"), "{pkcs1_pem}");
    let pkcs8_pem = String::from_utf8(pki.read(&files.key)).unwrap();
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (form, der, pem) in [
        ("PKCS#8", &pkcs8, &pkcs8_pem),
        ("PKCS#1", &pkcs1, &pkcs1_pem),
    ] {
        // A window from the middle catches a partial or re-wrapped copy as well.
        let middle = &der[der.len() / 2 - 24..der.len() / 2 + 24];
        needles.push((format!("key {form} DER"), der.clone()));
        needles.push((format!("key {form} DER, 48 bytes of it"), middle.to_vec()));
        needles.push((format!("key {form} base64"), b64(der).into_bytes()));
        let hex: String = middle.iter().map(|b| format!("{b:02x}")).collect();
        needles.push((format!("key {form} HEX"), hex.to_uppercase().into_bytes()));
        needles.push((format!("key {form} hex"), hex.into_bytes()));
        for (i, line) in pem.lines().filter(|l| !l.starts_with("-----")).enumerate() {
            if line.len() >= 32 {
                needles.push((format!("key {form} PEM line {i}"), line.as_bytes().to_vec()));
            }
        }
    }
    // An RSA private key holds its public modulus, which the certificate publishes: a window
    // that also occurs in the certificate's public forms (DER, hex, base64 at any of the three
    // byte alignments a stored copy may have) says nothing about the private key.
    let cert = crate::support::pki::openssl(
        pki.path(),
        &[
            "x509",
            "-in",
            &files.cert.to_string_lossy(),
            "-outform",
            "DER",
        ],
    );
    let mut public: Vec<Vec<u8>> = vec![cert.clone()];
    for skip in 0..3 {
        public.push(b64(&cert[skip..]).into_bytes());
    }
    let cert_hex: String = cert.iter().map(|b| format!("{b:02x}")).collect();
    public.push(cert_hex.to_uppercase().into_bytes());
    public.push(cert_hex.into_bytes());
    needles.retain(|(_, needle)| !public.iter().any(|p| contains(p, needle)));
    assert!(
        needles.len() >= 12,
        "too few private needles: {}",
        needles.len()
    );
    needles.push(("password".into(), password.as_bytes().to_vec()));
    needles.push((
        "password base64".into(),
        b64(password.as_bytes()).into_bytes(),
    ));
    needles
}

/// A regression of the test itself: it walked only GET routes, with ids that 404, and looked
/// for the key as raw DER and base64 only. Now every route and method is exercised with real
/// entities (error paths too), with the portal's pages, `/metrics`, calls through the gateway
/// (traced by the console); then every answer, the most verbose log and every file of the
/// data directory are searched for the key in every encoding and each password and secret
/// plain and in base64.
#[tokio::test]
async fn key_and_password_never_leave() {
    use crate::support::backend;
    use crate::support::portal::Browser;
    use crate::support::setup::base;
    use base64::Engine as _;

    let pki = Pki::new();
    let files = pki.self_signed("secret", "/O=Bars/CN=secret-client", KeyKind::Rsa);
    let password = "Very-Secret-Pfx-Pass-4242";
    let pfx = pki.pfx(&files, password, false);
    let legacy_pfx = pki.pfx(&files, password, true);
    let key_pem = String::from_utf8(pki.read(&files.key)).unwrap();
    let cert_pem = String::from_utf8(pki.read(&files.cert)).unwrap();
    let header_secret = "hdr-Secret-5150";
    let bearer_secret = "bearer-Secret-6160";
    let basic_secret = "basic-Secret-7170";
    let mut needles = leak_needles(&pki, &files, password);
    let b64s = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (what, secret) in [
        ("back-end header secret", header_secret.to_string()),
        ("back-end bearer secret", bearer_secret.to_string()),
        ("policy password", basic_secret.to_string()),
        ("policy password base64", b64s(basic_secret)),
        ("Basic credentials", b64s(&format!("u:{basic_secret}"))),
    ] {
        needles.push((what.to_string(), secret.into_bytes()));
    }

    // A real back end that requires a client certificate, trusted through an uploaded CA.
    let ca = TestCa::new("Secrets Test CA");
    let back_end = backend::start(backend::Options::mtls(ca.server(&["localhost"], -1, 30))).await;
    let url = base(&back_end, "localhost", "https");

    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.log = "trace".into();
    let mut server = start(options);
    let api = server.api();
    let mut answers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut keep = |what: String, reply: crate::support::server::Reply| {
        answers.push((what, reply.body.to_vec()));
    };

    // Entities of every kind, through the API.
    let setup: Vec<(&str, serde_json::Value)> = vec![
        (
            "/certificates/secret",
            json!({"properties": {"data": b64(&pfx), "password": password}}),
        ),
        (
            "/certificates/legacy",
            json!({"properties": {"data": b64(&legacy_pfx), "password": password}}),
        ),
        (
            "/certificates/secret2",
            json!({"properties": {"pem": format!("{key_pem}{cert_pem}")}}),
        ),
        (
            "/caCertificates/ca",
            json!({"properties": {"data": b64(&ca.der)}}),
        ),
        (
            "/backends/b",
            json!({"properties": {"url": url, "tls": {"caCertificateIds": ["ca"]},
            "credentials": {"certificateIds": ["secret2"], "header": {"x-key": [header_secret]},
                            "authorization": {"scheme": "Bearer", "parameter": bearer_secret}}}}),
        ),
        (
            "/apis/echo",
            json!({"properties": {"path": "echo", "serviceUrl": url}}),
        ),
        (
            "/apis/echo/operations/op",
            json!({"properties": {"method": "GET", "urlTemplate": "/*"}}),
        ),
        (
            "/policies/policy",
            json!({"properties": {"value": format!(
            "<policies><inbound><authentication-basic username=\"u\" password=\"{basic_secret}\" /></inbound></policies>")}}),
        ),
        (
            "/apis/echo/operations/op/policies/policy",
            json!({"properties": {"value":
            "<policies><inbound><base /></inbound></policies>"}}),
        ),
        (
            "/apis/echo/gatewayCredentials",
            json!({"properties": {"type": "clientCertificate", "certificateId": "secret"}}),
        ),
    ];
    for (path, body) in &setup {
        let reply = api.put(path, body).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.text());
        keep(format!("PUT {path}"), reply);
    }

    // Calls through the gateway: the certificate is used in real handshakes.
    for _ in 0..3 {
        server.gateway().get("/echo/x").await.expect(200);
    }

    // Every route and method of the management API, on real entities and on missing ones.
    let concrete = |path: &str, found: bool| {
        let (cert, ca_id, backend_id, api_id, op) = if found {
            ("secret", "ca", "b", "echo", "op")
        } else {
            ("no-cert", "no-ca", "no-backend", "no-api", "no-op")
        };
        path.replace("{certificateId}", cert)
            .replace("{caCertificateId}", ca_id)
            .replace("{backendId}", backend_id)
            .replace("{apiId}", api_id)
            .replace("{operationId}", op)
    };
    let wrong_password =
        json!({"properties": {"data": b64(&pfx), "password": format!("{password}x")}});
    for route in gatehouse_admin::routes::ROUTES {
        let (method, path) = (route.method, route.path);
        for found in [true, false] {
            let target = concrete(path, found);
            match method {
                "GET" => {
                    let reply = api.get(&target).await;
                    keep(format!("GET {target}"), reply);
                }
                "PUT" => {
                    // Back what GET answered (masks included), something invalid, and for
                    // certificates the real file with a wrong password.
                    let current = api.get(&target).await;
                    if current.status.is_success() {
                        let reply = api.put(&target, &current.json()).await;
                        keep(format!("PUT {target} (round trip)"), reply);
                    }
                    let reply = api
                        .put(&target, &json!({"properties": {"bogus": password}}))
                        .await;
                    keep(format!("PUT {target} (invalid)"), reply);
                    if target.starts_with("/certificates/") {
                        let reply = api.put(&target, &wrong_password).await;
                        keep(format!("PUT {target} (wrong password)"), reply);
                    }
                }
                "DELETE" => {
                    // A stale ETag changes nothing; what is in use is refused with its users.
                    let reply = api.delete_with(&target, &[("if-match", "\"stale\"")]).await;
                    keep(format!("DELETE {target} (stale)"), reply);
                    if target.starts_with("/certificates/")
                        || target.starts_with("/caCertificates/")
                    {
                        let reply = api.delete(&target).await;
                        keep(format!("DELETE {target}"), reply);
                    }
                }
                "POST" => {
                    // Actions: with no body, an empty one, and rollback's version (a probe's
                    // diagnosis, a refresh's status and a rollback's answer must not carry a
                    // key or a password either).
                    for body in [&b""[..], b"{}", br#"{"version": 1}"#] {
                        let reply = api.send("POST", &target, body.to_vec(), &[]).await;
                        keep(
                            format!("POST {target} {}", String::from_utf8_lossy(body)),
                            reply,
                        );
                    }
                }
                other => panic!("a route with method {other} is not walked: {path}"),
            }
        }
    }
    keep("GET /metrics".into(), api.get("/metrics").await.expect(200));

    // The portal: every page, a traced console call, and the forms that show secrets masked.
    let browser = Browser::sign_in(&server).await;
    for page in [
        "/ui/certificates",
        "/ui/ca-certificates",
        "/ui/backends",
        "/ui/backends/new",
        "/ui/backends/b",
        "/ui/apis",
        "/ui/apis/echo",
        "/ui/policy",
        "/ui/policy?api=echo",
        "/ui/policy?api=echo&operation=op",
        "/ui/console",
    ] {
        keep(
            format!("portal {page}"),
            browser.get(page).await.expect(200),
        );
    }
    let console = browser
        .post(
            "/ui/console",
            // The test back end echoes request headers (the gateway's credentials among
            // them) except on /download/N, and what a back end echoes is its own business.
            &[
                ("method", "GET"),
                ("path", "/echo/download/10"),
                ("headers", ""),
                ("body", ""),
            ],
        )
        .await
        .expect(200);
    keep("portal console call".into(), console);

    // Deleting for real: the data directory then holds only what deletion left.
    for path in [
        "/apis/echo",
        "/policies/policy",
        "/backends/b",
        "/certificates/secret2",
        "/certificates/legacy",
    ] {
        let reply = api.delete(path).await;
        assert!(reply.status.is_success(), "DELETE {path}: {}", reply.text());
        keep(format!("DELETE {path}"), reply);
    }
    let stopped = server.stop();
    assert!(stopped.success(), "{stopped:?}");

    assert!(
        answers.len() > 80,
        "only {} answers were collected",
        answers.len()
    );
    for (what, body) in &answers {
        for (secret, needle) in &needles {
            assert!(
                !contains(body, needle),
                "{secret} in the answer to {what}: {}",
                String::from_utf8_lossy(body)
            );
        }
    }
    let logs = server.logs();
    assert!(logs.contains("TRACE"), "the log was not verbose");
    for (secret, needle) in &needles {
        assert!(!contains(logs.as_bytes(), needle), "{secret} in the log");
    }
    let files = all_files(dir.path());
    assert!(
        files.len() >= 3,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, bytes) in files {
        for (secret, needle) in &needles {
            assert!(
                !contains(&bytes, needle),
                "{secret} in plain text in {name}"
            );
        }
    }
}

/// A line the crafted certificate names below try to slip into the log.
const FORGED: &str = "\n2026-01-01T00:00:00Z  INFO forged";

/// Whether a log holds a line that starts as the forged one.
fn forged_line(logs: &str) -> bool {
    logs.lines()
        .any(|l| l.trim_start().starts_with("2026-01-01T00:00:00Z"))
}

#[tokio::test]
async fn crafted_certificate_subjects_cannot_forge_log_lines() {
    use crate::support::backend;
    use crate::support::pki::rcgen_pem;
    use crate::support::setup::{base, echo_api};

    let cn = format!("evil{FORGED}");
    let escaped = r"evil\n2026-01-01T00:00:00Z  INFO forged";
    let (cert, key) = rcgen_pem(&cn, -1, 30);
    let upload = json!({"properties": {"pem": format!("{cert}{key}")}});

    // A back end presenting a self-signed certificate with the same name: the handshake
    // fails as untrusted, and the log describes the certificate.
    let server_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn.as_str());
    let server_cert = params.self_signed(&server_key).unwrap();
    let back_end = backend::start(backend::Options {
        client_auth: None,
        ..backend::Options::mtls((
            vec![server_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        ))
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let reply = api.put("/certificates/evil", &upload).await.expect(201);
    // The subject as APIM shows it: the value is quoted, the line break kept.
    let subject = reply.json()["properties"]["subject"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(subject.contains(FORGED), "{subject}");
    echo_api(&api, &base(&back_end, "localhost", "https")).await;
    let failed = server.gateway().get("/echo/x").await.expect(502);
    assert_eq!(failed.json()["code"], json!("BackendCertificateUntrusted"));
    assert!(server.wait_for_log("request failed"));
    let logs = server.logs();
    assert!(!forged_line(&logs), "a log line was forged:\n{logs}");
    let uploaded = logs
        .lines()
        .find(|l| l.contains("certificate uploaded"))
        .unwrap_or_else(|| panic!("no upload line:\n{logs}"));
    assert!(uploaded.contains(escaped), "{uploaded}");
    assert!(
        uploaded.contains(&format!("subject={}", subject.replace('\n', r"\n"))),
        "{uploaded}"
    );
    let handshake = logs
        .lines()
        .find(|l| l.contains("request failed"))
        .unwrap_or_else(|| panic!("no failure line:\n{logs}"));
    assert!(handshake.contains(escaped), "{handshake}");
    assert!(
        handshake.contains(&format!("back end certificate: subject={subject:?}")),
        "{handshake}"
    );

    // JSON logs: one object per line, the names intact inside their strings.
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.args = vec!["--log-format".into(), "json".into()];
    let server = start(options);
    server
        .api()
        .put("/certificates/evil", &upload)
        .await
        .expect(201);
    assert!(server.wait_for_log("certificate uploaded"));
    let logs = server.logs();
    assert!(!forged_line(&logs), "a log line was forged:\n{logs}");
    let events: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["subject"] == json!(subject)),
        "{logs}"
    );
}

/// What a web page that rebinds its own name to 127.0.0.1 sends: its name in `Host`. Only IP
/// literals, localhost and the names the operator allowed are answered.
#[tokio::test]
async fn the_admin_listener_answers_only_to_its_own_host_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.args = vec![
        "--admin-allowed-hosts".into(),
        "admin.example, Gate.Internal.".into(),
    ];
    let server = start(options);
    let api = server.api();
    let port = server.admin.port();

    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("admin.example.evil:{port}"),
    ] {
        for path in ["/apis", "/health", "/openapi.json", "/no/such/route"] {
            let refused = api.send("GET", path, Vec::new(), &[("host", &host)]).await;
            assert_eq!(refused.status.as_u16(), 421, "{host} {path}");
            assert_eq!(refused.code(), "HostNotAllowed", "{host} {path}");
            assert!(
                refused.json()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("--admin-allowed-hosts")
            );
            assert_eq!(refused.headers["x-frame-options"], "DENY");
        }
        for path in ["/login", "/ui/certificates", "/assets/app.js", "/"] {
            let refused = api.send("GET", path, Vec::new(), &[("host", &host)]).await;
            assert_eq!(refused.status.as_u16(), 421, "{host} {path}");
            assert!(
                refused.headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let page = refused.text();
            assert!(page.contains("--admin-allowed-hosts"), "{page}");
            assert!(!page.contains("evil"), "the page echoes nothing: {page}");
        }
        // A sign-in through a rebound name is refused before the token is looked at.
        api.send(
            "POST",
            "/login",
            format!("token={TOKEN}").into_bytes(),
            &[
                ("host", &host),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
        )
        .await
        .expect(421);
    }

    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("[::1]:{port}"),
        format!("localhost:{port}"),
        "LocalHost".to_string(),
        format!("admin.example:{port}"),
        "ADMIN.example.".to_string(),
        format!("gate.internal:{port}"),
    ] {
        api.send("GET", "/apis", Vec::new(), &[("host", &host)])
            .await
            .expect(200);
        api.send("GET", "/login", Vec::new(), &[("host", &host)])
            .await
            .expect(200);
    }

    // No host at all (HTTP/1.0), and an absolute request target naming another host.
    let close = "Connection: close\r\n\r\n";
    let none = raw_http(
        server.admin,
        None,
        &format!("GET /health HTTP/1.0\r\n{close}"),
    )
    .await;
    assert!(none.starts_with("HTTP/1.0 421"), "{none}");
    let absolute = raw_http(
        server.admin,
        None,
        &format!("GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{close}"),
    )
    .await;
    assert!(absolute.starts_with("HTTP/1.1 421"), "{absolute}");
    let fine = raw_http(
        server.admin,
        None,
        &format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{close}"),
    )
    .await;
    assert!(fine.starts_with("HTTP/1.1 200"), "{fine}");
}

#[tokio::test]
async fn allowed_host_names_come_from_the_environment_too_and_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.env = vec![(
        "GATEHOUSE_ADMIN_ALLOWED_HOSTS".into(),
        "gatehouse.test,other.test".into(),
    )];
    let server = start(options);
    for (host, status) in [
        ("gatehouse.test", 200),
        ("other.test:1", 200),
        ("third.test", 421),
    ] {
        server
            .api()
            .send("GET", "/apis", Vec::new(), &[("host", host)])
            .await
            .expect(status);
    }

    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.args = vec![
        "--admin-allowed-hosts".into(),
        "https://admin.example:8001".into(),
    ];
    let Err((logs, status)) = try_start(options) else {
        panic!("a URL is not a host name, yet the server started");
    };
    assert!(status.is_some_and(|s| !s.success()), "{logs}");
    assert!(logs.contains("--admin-allowed-hosts"), "{logs}");
    assert!(logs.contains("is not a host name"), "{logs}");
}

/// Every answer of the admin listener tells browsers not to frame, sniff or cache it.
#[tokio::test]
async fn management_answers_forbid_framing_sniffing_and_caching() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let answers = [
        api.get("/apis").await.expect(200),
        api.get("/openapi.json").await.expect(200),
        api.get("/health").await.expect(200),
        api.get("/apis/missing").await.expect(404),
        api.with_token(None).get("/apis").await.expect(401),
    ];
    for answer in answers {
        let h = &answer.headers;
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
}
