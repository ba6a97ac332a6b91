//! The gateway: real back ends over real mutual TLS, configured through the management API of
//! the real binary.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::backend::{self, Backend, Mode, thumbprint};
use crate::support::pki::{TestCa, b64, self_signed_client, self_signed_server};
use crate::support::raw::read_response;
use crate::support::server::{Api, Options, Server, start};
use crate::support::setup::{
    Mtls, api_to, base, echo_api, mtls_setup, upload_pem, use_certificate,
};

#[tokio::test]
async fn the_backend_receives_the_configured_certificate_effective_immediately() {
    let Mtls {
        dir: _dir,
        server,
        api,
        gw,
        backend,
        ca,
    } = mtls_setup(|_| {}).await;

    // No gateway credentials: the back end refuses, and the caller learns why.
    let refused = gw.get("/echo/hello").await.expect(502);
    assert_eq!(
        refused.json()["code"],
        json!("ClientCertificateRejected"),
        "{}",
        refused.text()
    );
    assert!(refused.headers.contains_key("x-request-id"));
    assert!(refused.json()["requestId"].as_str().is_some());

    let (pem_a, der_a) = ca.client("gateway-a");
    let thumb_a = upload_pem(&api, "client-a", &pem_a).await;
    assert_eq!(thumb_a, thumbprint(&der_a));
    use_certificate(&api, "echo", "client-a").await;
    // The very next request, no restart, presents the certificate.
    let ok = gw.get("/echo/hello?x=1").await.expect(200);
    assert_eq!(ok.json()["clientThumbprint"], json!(thumb_a));
    assert_eq!(backend.last().uri, "/base/hello?x=1");

    // Switching to a second certificate: the next call presents the second.
    let (pem_b, _) = ca.client("gateway-b");
    let thumb_b = upload_pem(&api, "client-b", &pem_b).await;
    use_certificate(&api, "echo", "client-b").await;
    let switched_at = backend.seen().len();
    for _ in 0..20 {
        let r = gw.get("/echo/after-switch").await.expect(200);
        assert_eq!(r.json()["clientThumbprint"], json!(thumb_b));
    }

    // Replacing client-b's content (a rotation) retires its pool too.
    let (pem_c, _) = ca.client("gateway-c");
    let thumb_c = upload_pem(&api, "client-b", &pem_c).await;
    for _ in 0..20 {
        let r = gw.get("/echo/after-rotation").await.expect(200);
        assert_eq!(r.json()["clientThumbprint"], json!(thumb_c));
    }
    // No request after a change ever arrived on a connection made under an older certificate.
    let after: Vec<_> = backend.seen().into_iter().skip(switched_at).collect();
    assert!(
        after
            .iter()
            .all(|s| s.client_thumbprint.as_deref() != Some(thumb_a.as_str()))
    );
    let rotated: Vec<_> = after
        .iter()
        .filter(|s| s.uri.starts_with("/base/after-rotation"))
        .collect();
    assert!(
        rotated
            .iter()
            .all(|s| s.client_thumbprint.as_deref() == Some(thumb_c.as_str()))
    );

    // Released and deleted: it is never presented again; the back end refuses again.
    api.put(
        "/apis/echo/gatewayCredentials",
        &json!({"properties": {"type": "none"}}),
    )
    .await
    .expect(200);
    api.delete("/certificates/client-b").await.expect(204);
    let refused = gw.get("/echo/hello").await.expect(502);
    assert_eq!(refused.json()["code"], json!("ClientCertificateRejected"));
    assert!(
        server.wait_for_log("code=\"ClientCertificateRejected\""),
        "{}",
        server.logs()
    );
}

#[tokio::test]
async fn self_signed_and_misnamed_backends_fail_until_a_setting_allows_them() {
    let ((identity, cert_pem), _) = (self_signed_server(&["localhost"]), ());
    let cert_der = identity.0[0].to_vec();
    let backend = backend::start(backend::Options {
        client_auth: None,
        ..backend::Options::mtls(identity)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    let url = base(&backend, "localhost", "https");
    echo_api(&api, &url).await;

    let reply = gw.get("/echo/x").await.expect(502);
    assert_eq!(
        reply.json()["code"],
        json!("BackendCertificateUntrusted"),
        "{}",
        reply.text()
    );
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("validateCertificateChain")
    );
    assert!(
        server.wait_for_log("subject=\"CN=localhost\""),
        "the log names the back end's certificate"
    );

    // 1. Skip chain validation (the article's self-signed case).
    api.put(
        "/backends/svc",
        &json!({"properties": {"url": url, "tls": {"validateCertificateChain": false}}}),
    )
    .await
    .expect(201);
    gw.get("/echo/x").await.expect(200);
    // 2. Or trust its certificate as a CA.
    api.put(
        "/caCertificates/self",
        &json!({"properties": {"data": b64(cert_pem.as_bytes())}}),
    )
    .await
    .expect(201);
    api.put(
        "/backends/svc",
        &json!({"properties": {"url": url, "tls": {"caCertificateIds": ["self"]}}}),
    )
    .await
    .expect(200);
    gw.get("/echo/x").await.expect(200);
    // 3. Or pin it, with chain validation off (a pin narrows trust; it never stands in for
    // the chain check, see upstreams.rs).
    api.put("/backends/svc", &json!({"properties": {"url": url, "tls": {"validateCertificateChain": false, "serverCertificateThumbprints": [thumbprint(&cert_der)]}}}))
        .await
        .expect(200);
    gw.get("/echo/x").await.expect(200);
    api.put("/backends/svc", &json!({"properties": {"url": url, "tls": {"validateCertificateChain": false, "serverCertificateThumbprints": ["00".repeat(20)]}}}))
        .await
        .expect(200);
    let reply = gw.get("/echo/x").await.expect(502);
    assert_eq!(reply.json()["code"], json!("BackendCertificatePinMismatch"));

    // Wrong host name: the certificate names localhost, the URL says 127.0.0.1.
    let by_ip = base(&backend, "127.0.0.1", "https");
    api.put(
        "/apis/echo",
        &json!({"properties": {"path": "echo", "serviceUrl": by_ip}}),
    )
    .await
    .expect(200);
    api.put(
        "/backends/svc",
        &json!({"properties": {"url": by_ip, "tls": {"caCertificateIds": ["self"]}}}),
    )
    .await
    .expect(200);
    let reply = gw.get("/echo/x").await.expect(502);
    assert_eq!(
        reply.json()["code"],
        json!("BackendCertificateNameMismatch"),
        "{}",
        reply.text()
    );
    api.put("/backends/svc", &json!({"properties": {"url": by_ip, "tls": {"caCertificateIds": ["self"], "validateCertificateName": false}}}))
        .await
        .expect(200);
    gw.get("/echo/x").await.expect(200);
}

#[tokio::test]
async fn an_expired_backend_certificate_is_named() {
    let ca = TestCa::new("Expiring CA");
    let backend = backend::start(backend::Options {
        client_auth: None,
        ..backend::Options::mtls(ca.server(&["localhost"], -20, -1))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    api.put(
        "/caCertificates/ca",
        &json!({"properties": {"data": b64(&ca.der)}}),
    )
    .await
    .expect(201);
    let url = base(&backend, "localhost", "https");
    api.put(
        "/backends/svc",
        &json!({"properties": {"url": url, "tls": {"caCertificateIds": ["ca"]}}}),
    )
    .await
    .expect(201);
    echo_api(&api, &url).await;
    let reply = gw.get("/echo/x").await.expect(502);
    assert_eq!(
        reply.json()["code"],
        json!("BackendCertificateExpired"),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn routing_headers_and_streaming() {
    let backend = backend::start(backend::Options::plain(Mode::Echo)).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    let url = base(&backend, "127.0.0.1", "http");
    for (id, path, svc) in [("shop", "shop", "/svc"), ("shop-v1", "shop/v1", "/v1svc")] {
        api.put(
            &format!("/apis/{id}"),
            &json!({"properties": {"path": path, "serviceUrl": format!("{url}{svc}")}}),
        )
        .await
        .expect(201);
    }
    for (api_id, op, method, template) in [
        ("shop", "item", "GET", "/items/{id}"),
        ("shop", "special", "GET", "/items/special"),
        ("shop", "create", "POST", "/items"),
        ("shop", "files", "*", "/files/*"),
        ("shop-v1", "all", "*", "/*"),
    ] {
        api.put(
            &format!("/apis/{api_id}/operations/{op}"),
            &json!({"properties": {"method": method, "urlTemplate": template}}),
        )
        .await
        .expect(201);
    }
    // Template, query string, longest API prefix.
    gw.get("/shop/items/42?x=1&y=a%20b").await.expect(200);
    assert_eq!(backend.last().uri, "/svc/items/42?x=1&y=a%20b");
    gw.get("/SHOP/items/special").await.expect(200);
    assert_eq!(backend.last().uri, "/svc/items/special");
    gw.get("/shop/v1/items/42").await.expect(200);
    assert_eq!(backend.last().uri, "/v1svc/items/42");
    gw.get("/shop/files/a/b/c.txt").await.expect(200);
    assert_eq!(backend.last().uri, "/svc/files/a/b/c.txt");

    // No route: APIM's 404 body.
    for (method, path) in [
        ("DELETE", "/shop/items/42"),
        ("GET", "/shopping"),
        ("GET", "/nothing"),
    ] {
        let reply = gw.send(method, path, Vec::new(), &[]).await.expect(404);
        assert_eq!(reply.json()["statusCode"], json!(404));
        assert_eq!(reply.json()["message"], json!("Resource not found"));
    }
    gw.get("/status-0123456789abcdef").await.expect(200);

    // Forwarding headers in; hop-by-hop headers out; the back end's Host.
    let reply = gw
        .send(
            "GET",
            "/shop/items/1",
            Vec::new(),
            &[
                ("connection", "x-private"),
                ("x-private", "1"),
                ("host", "api.example"),
                ("x-forwarded-for", "10.1.1.1"),
            ],
        )
        .await
        .expect(200);
    let seen = backend.last();
    assert_eq!(seen.headers.get("x-private"), None);
    assert_eq!(seen.headers["x-forwarded-for"], "10.1.1.1, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "api.example");
    assert_eq!(
        seen.headers["host"],
        format!("127.0.0.1:{}", backend.addr.port())
    );
    assert_eq!(
        seen.headers["x-request-id"],
        reply.headers["x-request-id"].to_str().unwrap()
    );

    // 10 MB up and down, streamed.
    let big: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let up = gw
        .send("POST", "/shop/files/upload", big.clone(), &[])
        .await
        .expect(200);
    let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &big);
    let hex: String = sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(up.json()["bodyBytes"], json!(big.len()));
    assert_eq!(up.json()["bodySha256"], json!(hex));
    let down = gw.get("/shop/files/download/10485760").await.expect(200);
    assert_eq!(down.body.len(), 10_485_760);
    // Chunked upload (no Content-Length), raw on the wire.
    let chunked = raw_chunked_upload(server.gateway, "/shop/files/chunked", 200, 4096).await;
    assert!(chunked.contains("\"bodyBytes\":819200"), "{chunked}");
}

async fn raw_chunked_upload(
    addr: std::net::SocketAddr,
    path: &str,
    chunks: usize,
    size: usize,
) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("POST {path} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    for _ in 0..chunks {
        s.write_all(format!("{size:x}\r\n").as_bytes())
            .await
            .unwrap();
        s.write_all(&vec![b'c'; size]).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn credentials_and_policy_inheritance() {
    let backend = backend::start(backend::Options::plain(Mode::Echo)).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    let url = base(&backend, "127.0.0.1", "http");
    api.put(
        "/backends/svc",
        &json!({"properties": {"url": url, "credentials": {"header": {"x-api-key": ["key-1"]}}}}),
    )
    .await
    .expect(201);
    echo_api(&api, &format!("{url}/b")).await;
    api.put(
        "/apis/echo/operations/bare",
        &json!({"properties": {"method": "GET", "urlTemplate": "/bare"}}),
    )
    .await
    .expect(201);
    api.put("/policies/policy", &json!({"properties": {"value": r#"<policies><inbound><set-header name="x-global" exists-action="override"><value>g</value></set-header></inbound><outbound><set-header name="x-served-by" exists-action="override"><value>gatehouse</value></set-header></outbound></policies>"#}}))
        .await
        .expect(201);
    api.put("/apis/echo/policies/policy", &json!({"properties": {"value": r#"<policies><inbound><base /><set-header name="x-api" exists-action="override"><value>a</value></set-header><authentication-basic username="svc" password="p@ss:word" /></inbound><outbound><base /></outbound></policies>"#}}))
        .await
        .expect(201);
    // An operation policy without <base/> does not inherit.
    api.put("/apis/echo/operations/bare/policies/policy", &json!({"properties": {"value": r#"<policies><inbound><set-header name="x-op" exists-action="override"><value>o</value></set-header></inbound></policies>"#}}))
        .await
        .expect(201);

    let reply = gw
        .send("GET", "/echo/any", Vec::new(), &[("x-api", "from-caller")])
        .await
        .expect(200);
    let seen = backend.last();
    assert_eq!(seen.headers["x-api-key"], "key-1");
    assert_eq!(seen.headers["x-global"], "g");
    assert_eq!(
        seen.headers["x-api"], "a",
        "override replaces what the caller sent"
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("svc:p@ss:word");
    assert_eq!(seen.headers["authorization"], format!("Basic {basic}"));
    assert_eq!(reply.headers["x-served-by"], "gatehouse");

    gw.get("/echo/bare").await.expect(200);
    let seen = backend.last();
    assert_eq!(seen.headers["x-op"], "o");
    assert!(!seen.headers.contains_key("x-global") && !seen.headers.contains_key("authorization"));
    assert_eq!(
        seen.headers["x-api-key"], "key-1",
        "back-end credentials apply to every route to it"
    );
}

async fn hammer(gw: &Api, path: &str, total: usize, concurrency: usize) -> (usize, Vec<String>) {
    let per = total / concurrency;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let gw = gw.clone();
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in 0..per {
                let r = gw.get(&path).await;
                if !r.status.is_success() {
                    failures.push(format!("{} {}", r.status, r.text()));
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    (per * concurrency, failures)
}

#[tokio::test]
async fn backends_that_recycle_connections_lose_no_request() {
    for (alpn, label) in [
        (b"http/1.1".to_vec(), "HTTP/1.1 Connection: close"),
        (b"h2".to_vec(), "HTTP/2 GOAWAY"),
    ] {
        let Mtls {
            dir: _dir,
            server: _server,
            api,
            gw,
            backend,
            ca,
        } = mtls_setup(|o| {
            o.alpn = vec![alpn];
            o.close_every = Some(100);
        })
        .await;
        let (pem, _) = ca.client("gateway");
        upload_pem(&api, "client", &pem).await;
        use_certificate(&api, "echo", "client").await;

        let (sent, failures) = hammer(&gw, "/echo/r", 20_000, 16).await;
        assert!(
            failures.is_empty(),
            "{label}: {} of {sent} failed, first: {:?}",
            failures.len(),
            failures.first()
        );
        let connections = backend.connections();
        assert!(
            connections >= sent / 100,
            "{label}: the back end did not recycle ({connections} connections)"
        );
        let metrics = api.get("/metrics").await.expect(200).text();
        assert!(
            metrics.contains("gatehouse_backend_connections_new_total{backend=\"svc\"}"),
            "{metrics}"
        );
        eprintln!("{label}: {sent} requests, {connections} back-end connections, 0 failures");
    }
}

#[tokio::test]
async fn hanging_resetting_and_absent_backends_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let (api, gw) = (server.api(), server.gateway());
    let plain = backend::Options::plain;
    let hang = backend::start(plain(Mode::Hang)).await;
    let reset = backend::start(plain(Mode::Reset)).await;
    let healthy = backend::start(plain(Mode::Echo)).await;
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for (id, url) in [
        ("hang", base(&hang, "127.0.0.1", "http")),
        ("reset", base(&reset, "127.0.0.1", "http")),
        ("down", format!("http://127.0.0.1:{down}")),
        ("ok", base(&healthy, "127.0.0.1", "http")),
    ] {
        api.put(
            &format!("/apis/{id}"),
            &json!({"properties": {"path": id, "serviceUrl": url}}),
        )
        .await
        .expect(201);
        api.put(
            &format!("/apis/{id}/operations/all"),
            &json!({"properties": {"method": "*", "urlTemplate": "/*"}}),
        )
        .await
        .expect(201);
    }
    api.put("/apis/hang/policies/policy", &json!({"properties": {"value": r#"<policies><inbound><base /></inbound><backend><forward-request timeout="1" /></backend></policies>"#}}))
        .await
        .expect(201);

    let t = Instant::now();
    let reply = gw.get("/hang/x").await.expect(504);
    assert_eq!(reply.json()["code"], json!("BackendTimeout"));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    let reply = gw.get("/reset/x").await.expect(502);
    assert_eq!(
        reply.json()["code"],
        json!("BackendConnectionClosed"),
        "{}",
        reply.text()
    );

    let t = Instant::now();
    let reply = gw.get("/down/x").await.expect(502);
    assert_eq!(reply.json()["code"], json!("BackendConnectionRefused"));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "refusal was slow: {:?}",
        t.elapsed()
    );

    // The gateway is fine.
    gw.get("/ok/x").await.expect(200);
    gw.get("/status-0123456789abcdef").await.expect(200);
    let metrics = api.get("/metrics").await.expect(200).text();
    for needle in [
        r#"gatehouse_requests_total{api="hang",operation="all",code="504"} 1"#,
        r#"gatehouse_requests_total{api="ok",operation="all",code="200"} 1"#,
        "gatehouse_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(needle), "{needle} not in:\n{metrics}");
    }
}

#[tokio::test]
async fn unusable_certificates_fail_closed_and_unasked_ones_are_reported() {
    let Mtls {
        dir: _dir,
        server,
        api,
        gw,
        backend,
        ..
    } = mtls_setup(|o| o.client_auth = None).await;

    // A back end that does not ask: the request proceeds, the operator is told.
    let (pem, _) = self_signed_client("gateway");
    upload_pem(&api, "client", &pem).await;
    use_certificate(&api, "echo", "client").await;
    let reply = gw.get("/echo/x").await.expect(200);
    assert_eq!(reply.json()["clientThumbprint"], Value::Null);
    assert!(
        server.wait_for_log("did not ask for a client certificate"),
        "no warning logged"
    );

    // An expired certificate is never sent, and no connection is made without it.
    let (expired_cert, expired_key) = crate::support::pki::rcgen_pem("old", -30, -1);
    api.put("/certificates/old", &json!({"properties": {"pem": format!("{expired_cert}{expired_key}"), "allowExpired": true}}))
        .await
        .expect(201);
    use_certificate(&api, "echo", "old").await;
    let before = backend.connections();
    let reply = gw.get("/echo/x").await.expect(503);
    assert_eq!(reply.json()["code"], json!("ClientCertificateUnavailable"));
    assert_eq!(backend.connections(), before);
}

#[tokio::test]
async fn idle_keep_alive_connections_park_and_resume() {
    use tokio::io::AsyncWriteExt as _;
    let backend = backend::start(backend::Options::plain(Mode::Echo)).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    echo_api(&server.api(), &base(&backend, "127.0.0.1", "http")).await;

    let mut s = tokio::net::TcpStream::connect(server.gateway)
        .await
        .unwrap();
    for round in 0..3 {
        s.write_all(format!("GET /echo/r{round} HTTP/1.1\r\nHost: gw\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let response = read_response(&mut s).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains(&format!("/r{round}")), "{response}");
        // Long enough for the connection to park (idle for a whole 50 ms tick).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A request split by a pause: a connection in the middle of a request head does not
    // park; the rest completes it.
    s.write_all(b"GET /echo/split HTTP/1.1\r\nHo")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    s.write_all(b"st: gw\r\n\r\n").await.unwrap();
    let response = read_response(&mut s).await;
    assert!(
        response.starts_with("HTTP/1.1 200") && response.contains("/split"),
        "{response}"
    );
    assert_eq!(
        backend.connections(),
        1,
        "one back-end connection served it all"
    );
    let metrics = server.api().get("/metrics").await.expect(200).text();
    let parks: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_client_parks_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        parks >= 3,
        "the connection parked {parks} times:\n{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_client_connections 1"),
        "{metrics}"
    );

    // Idle connections wait without a task each: forty more, parked, add no tasks.
    let tasks = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("gatehouse_runtime_tasks "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = tasks(&metrics);
    let mut idle = Vec::new();
    for i in 0..40 {
        let mut c = tokio::net::TcpStream::connect(server.gateway)
            .await
            .unwrap();
        c.write_all(format!("GET /echo/i{i} HTTP/1.1\r\nHost: gw\r\n\r\n").as_bytes())
            .await
            .unwrap();
        assert!(read_response(&mut c).await.starts_with("HTTP/1.1 200"));
        idle.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = server.api().get("/metrics").await.expect(200).text();
    assert!(
        metrics.contains("gatehouse_client_connections 41"),
        "{metrics}"
    );
    assert!(
        tasks(&metrics) < before + 5,
        "idle connections hold tasks:\n{metrics}"
    );
    // And each still answers.
    for (i, c) in idle.iter_mut().enumerate().step_by(13) {
        c.write_all(format!("GET /echo/again{i} HTTP/1.1\r\nHost: gw\r\n\r\n").as_bytes())
            .await
            .unwrap();
        assert!(read_response(c).await.contains(&format!("/again{i}")));
    }
}

/// A cleartext back end in `mode`, behind API `id` at `/{id}` with a catch-all operation.
async fn plain_api(server: &Server, id: &str, mode: Mode) -> Backend {
    let backend = backend::start(backend::Options::plain(mode)).await;
    let url = base(&backend, "127.0.0.1", "http");
    api_to(&server.api(), id, &url, None, "").await;
    backend
}

#[tokio::test]
async fn only_requests_safe_to_repeat_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let gw = server.gateway();
    let reset = plain_api(&server, "reset", Mode::Reset).await;

    // GET is safe to repeat: it goes out again on fresh connections, then fails clearly.
    gw.get("/reset/x").await.expect(502);
    assert_eq!(reset.seen().len(), 3, "the first attempt and two retries");
    assert_eq!(reset.connections(), 3, "each retry on a fresh connection");

    // A POST whose body was sent may have been processed: it is not repeated.
    let before = reset.seen().len();
    let reply = gw
        .send("POST", "/reset/x", b"order=1".to_vec(), &[])
        .await
        .expect(502);
    assert_eq!(reply.json()["code"], json!("BackendConnectionClosed"));
    assert_eq!(
        reset.seen().len(),
        before + 1,
        "a POST must not be sent twice"
    );
    let metrics = server.api().get("/metrics").await.expect(200).text();
    assert!(metrics.contains("gatehouse_retries_total 2"), "{metrics}");
}

// Two workers: stopping the server blocks one, and the test back end must keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(Options::new(dir.path()));
    let _slow = plain_api(&server, "slow", Mode::Slow(1500)).await;
    let gw = server.gateway();
    let in_flight = tokio::spawn(async move { gw.get("/slow/x").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    assert!(tokio::task::block_in_place(|| server.stop()).success());
    let reply = in_flight.await.unwrap();
    assert_eq!(
        reply.status.as_u16(),
        200,
        "the request in flight at SIGTERM was answered"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "the server did not wait for it"
    );
    // And nothing new is accepted.
    assert!(
        tokio::net::TcpStream::connect(server.gateway)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_gateway_speaks_http2_cleartext() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let echo = plain_api(&server, "h2c", Mode::Echo).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let uri = format!("http://{}/h2c/hello?q=1", server.gateway);
    let response = client
        .request(
            hyper::Request::get(uri)
                .body(http_body_util::Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    assert_eq!(echo.last().uri, "/hello?q=1");
}
