//! Admin authentication on every route, the host names and browser headers of the admin
//! listener, and secrets that never leave.

use serde_json::json;

use crate::support::pki::{KeyKind, Pki, b64};
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

/// Uploads a certificate whose key and password are known, exercises every route, then looks
/// for the key (PEM body and DER bytes) and the password in every response, the most verbose
/// log, and every file of the data directory.
#[tokio::test]
async fn key_and_password_never_leave() {
    let pki = Pki::new();
    let files = pki.self_signed("secret", "/O=Bars/CN=secret-client", KeyKind::Rsa);
    let password = "Very-Secret-Pfx-Pass-4242";
    let pfx = pki.pfx(&files, password, false);
    let key_pem = String::from_utf8(pki.read(&files.key)).unwrap();
    let key_body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let key_der = crate::support::pki::openssl(
        pki.path(),
        &[
            "pkey",
            "-in",
            &files.key.to_string_lossy(),
            "-outform",
            "DER",
        ],
    );
    let key_line = key_pem.lines().nth(1).unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.log = "trace".into();
    let mut server = start(options);
    let api = server.api();
    let mut responses = Vec::new();
    responses.push(
        api.put(
            "/certificates/secret",
            &json!({"properties": {"data": b64(&pfx), "password": password}}),
        )
        .await
        .expect(201),
    );
    responses.push(api.put("/certificates/secret2", &json!({"properties": {"pem": key_pem.clone() + &String::from_utf8(pki.read(&files.cert)).unwrap()}})).await.expect(201));
    responses.push(
        api.put(
            "/certificates/bad",
            &json!({"properties": {"data": b64(&pfx), "password": format!("{password}x")}}),
        )
        .await
        .expect(400),
    );
    responses.push(
        api.put(
            "/certificates/bad2",
            &json!({"properties": {"data": b64(&pfx), "password": 7}}),
        )
        .await
        .expect(400),
    );
    api.put(
        "/apis/echo",
        &json!({"properties": {"path": "echo", "serviceUrl": "https://b.example"}}),
    )
    .await
    .expect(201);
    let header_secret = "hdr-Secret-5150";
    let bearer_secret = "bearer-Secret-6160";
    let basic_secret = "basic-Secret-7170";
    api.put("/backends/b", &json!({"properties": {"url": "https://b.example", "credentials": {"header": {"x-key": [header_secret]}, "authorization": {"scheme": "Bearer", "parameter": bearer_secret}}}}))
        .await
        .expect(201);
    api.put("/policies/policy", &json!({"properties": {"value": format!("<policies><inbound><authentication-basic username=\"u\" password=\"{basic_secret}\" /></inbound></policies>")}}))
        .await
        .expect(201);
    responses.push(
        api.put(
            "/apis/echo/gatewayCredentials",
            &json!({"properties": {"type": "clientCertificate", "certificateId": "secret"}}),
        )
        .await
        .expect(200),
    );
    for route in gatehouse_admin::routes::ROUTES {
        let (method, path) = (route.method, route.path);
        if method != "GET" {
            continue;
        }
        let concrete = path
            .replace("{certificateId}", "secret")
            .replace("{caCertificateId}", "none")
            .replace("{backendId}", "b")
            .replace("{apiId}", "echo")
            .replace("{operationId}", "none");
        responses.push(api.get(&concrete).await);
    }
    let stopped = server.stop();
    assert!(stopped.success(), "{stopped:?}");

    let needles: [(&str, &[u8]); 7] = [
        ("password", password.as_bytes()),
        ("key PEM", key_body.as_bytes()),
        ("key PEM line", key_line.as_bytes()),
        ("key DER", &key_der),
        ("backend header secret", header_secret.as_bytes()),
        ("backend authorization secret", bearer_secret.as_bytes()),
        ("policy password", basic_secret.as_bytes()),
    ];
    for r in &responses {
        for (what, needle) in needles {
            assert!(
                !contains(&r.body, needle),
                "{what} in a response: {}",
                r.text()
            );
        }
    }
    let logs = server.logs();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "the log was not verbose"
    );
    for (what, needle) in needles {
        assert!(!contains(logs.as_bytes(), needle), "{what} in the log");
    }
    for (name, bytes) in all_files(dir.path()) {
        for (what, needle) in needles {
            assert!(!contains(&bytes, needle), "{what} in plain text in {name}");
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
