//! HTTPS on the admin listener: from PEM files or from a hostname configuration (following
//! its rotations), HTTP/1.1 and HTTP/2, a `Secure` session cookie, no plain HTTP, and a silent
//! client that holds up nobody.

use serde_json::json;
use tokio::io::AsyncReadExt as _;

use crate::support::pki::TestCa;
use crate::support::server::{Options, TOKEN, start, try_start};
use crate::support::tls::{curl, served_subject};

/// Writes the CA and a server certificate for `localhost` (cert and key files).
fn files(dir: &std::path::Path, ca: &TestCa, cn: &str) -> (String, String, String) {
    let pem = ca.server_pem(&[cn, "localhost"]);
    let split = pem.find("-----BEGIN PRIVATE KEY").unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    (
        write("ca.pem", &ca.pem),
        write("admin.crt", &pem[..split]),
        write("admin.key", &pem[split..]),
    )
}

#[tokio::test]
async fn the_admin_listener_serves_https_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Admin CA");
    let (ca_file, cert, key) = files(pki.path(), &ca, "admin.example.test");
    let mut options = Options::new(dir.path());
    options.args = vec![
        "--admin-tls-cert".into(),
        cert.clone(),
        "--admin-tls-key".into(),
        key.clone(),
    ];
    let server = start(options);
    let ca_path = std::path::Path::new(&ca_file);
    let bearer = format!("authorization: Bearer {TOKEN}");

    // A silent client: connected, no handshake. Everyone else is served meanwhile.
    let mut silent = tokio::net::TcpStream::connect(server.admin).await.unwrap();

    let health = curl(server.admin, "localhost", "/health", ca_path, &[]).await;
    assert_eq!(health.status, 200, "{}", health.log);
    assert!(served_subject(&health.log).contains("admin.example.test"));
    let apis = curl(
        server.admin,
        "localhost",
        "/apis",
        ca_path,
        &["--http1.1", "-H", &bearer],
    )
    .await;
    assert_eq!((apis.status, apis.http_version.as_str()), (200, "1.1"));
    let h2 = curl(
        server.admin,
        "localhost",
        "/apis",
        ca_path,
        &["--http2", "-H", &bearer],
    )
    .await;
    assert_eq!((h2.status, h2.http_version.as_str()), (200, "2"));
    let anonymous = curl(server.admin, "localhost", "/apis", ca_path, &[]).await;
    assert_eq!(anonymous.status, 401);

    // Signing in over HTTPS gives a cookie the browser sends only over HTTPS.
    let login = curl(
        server.admin,
        "localhost",
        "/login",
        ca_path,
        &["-d", &format!("token={TOKEN}")],
    )
    .await;
    assert_eq!(login.status, 303, "{}", login.log);
    let cookie = login
        .log
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("< set-cookie:"))
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // The CLI over HTTPS, trusting the CA through SSL_CERT_FILE; and refusing without it.
    let cli = |ca: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(["api", "list", "--output", "json", "--admin-url"])
            .arg(format!("https://localhost:{}", server.admin.port()))
            .env("GATEHOUSE_ADMIN_TOKEN", TOKEN)
            .env_remove("SSL_CERT_FILE");
        if let Some(ca) = ca {
            cmd.env("SSL_CERT_FILE", ca);
        }
        cmd.output().unwrap()
    };
    let trusted = cli(Some(&ca_file));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let untrusted = cli(None);
    assert_eq!(untrusted.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("cannot reach the management API"));

    // Renewed files are served from the next handshake after the next check (2 s); files
    // that do not load keep the last good certificate.
    std::fs::write(&key, "not a key").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let still = curl(server.admin, "localhost", "/health", ca_path, &[]).await;
    assert!(
        served_subject(&still.log).contains("admin.example.test"),
        "{}",
        still.log
    );
    let renewed = files(pki.path(), &ca, "renewed.example.test");
    assert_eq!((&renewed.1, &renewed.2), (&cert, &key));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let after = curl(server.admin, "localhost", "/health", ca_path, &[]).await;
    assert_eq!(after.status, 200);
    assert!(
        served_subject(&after.log).contains("renewed.example.test"),
        "{}",
        after.log
    );
    assert!(
        server
            .logs()
            .contains("do not load; serving the last good certificate")
    );

    // Plain HTTP gets no answer from a TLS listener.
    let plain = crate::support::server::raw_http(
        server.admin,
        None,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");

    // The silent client is dropped after the handshake deadline, not before others.
    let mut buf = [0u8; 1];
    let waited = tokio::time::timeout(std::time::Duration::from_secs(15), silent.read(&mut buf))
        .await
        .expect("the silent connection is closed within the handshake deadline");
    assert!(matches!(waited, Ok(0) | Err(_)));
}

#[tokio::test]
async fn the_admin_listener_follows_a_hostname_configurations_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Admin CA");
    let (ca_file, _, _) = files(pki.path(), &ca, "unused.example.test");
    let ca_path = std::path::Path::new(&ca_file);

    // Not configured yet: the server refuses to start, and says what to do.
    let mut options = Options::new(dir.path());
    options.args = vec!["--admin-tls-hostname".into(), "admin".into()];
    let (log, _) = try_start(options.clone())
        .err()
        .expect("no such configuration");
    assert!(
        log.contains("--admin-tls-hostname admin: no such hostname configuration"),
        "{log}"
    );

    let mut plain = start(Options::new(dir.path()));
    let api = plain.api();
    let upload = |cn: &str| json!({"properties": {"pem": ca.server_pem(&[cn, "localhost"])}});
    api.put("/certificates/admin-cert", &upload("first.example.test"))
        .await
        .expect(201);
    api.put(
        "/hostnameConfigurations/admin",
        &json!({"properties": {"hostName": "localhost", "certificateId": "admin-cert"}}),
    )
    .await
    .expect(201);
    plain.stop();

    let server = start(options);
    let bearer = format!("authorization: Bearer {TOKEN}");
    let first = curl(server.admin, "localhost", "/health", ca_path, &[]).await;
    assert_eq!(first.status, 200, "{}", first.log);
    assert!(served_subject(&first.log).contains("first.example.test"));

    // A rotation through the API over HTTPS: the next handshake presents the new certificate.
    let body = serde_json::to_string(&upload("second.example.test")).unwrap();
    let rotated = curl(
        server.admin,
        "localhost",
        "/certificates/admin-cert",
        ca_path,
        &[
            "-X",
            "PUT",
            "-H",
            &bearer,
            "-H",
            "content-type: application/json",
            "-d",
            &body,
        ],
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let second = curl(server.admin, "localhost", "/health", ca_path, &[]).await;
    assert!(
        served_subject(&second.log).contains("second.example.test"),
        "{}",
        second.log
    );
}

#[tokio::test]
async fn a_bad_admin_certificate_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Admin CA");
    let (ca_file, cert, _) = files(pki.path(), &ca, "admin.example.test");
    let other = TestCa::new("Other").server_pem(&["x"]);
    let wrong_key = pki.path().join("wrong.key");
    let split = other.find("-----BEGIN PRIVATE KEY").unwrap();
    std::fs::write(&wrong_key, &other[split..]).unwrap();
    for (cert, key, expect) in [
        (
            cert.clone(),
            wrong_key.to_string_lossy().into_owned(),
            "--admin-tls-cert/--admin-tls-key",
        ),
        (
            ca_file.clone(),
            "/nonexistent/admin.key".to_string(),
            "--admin-tls-key",
        ),
    ] {
        let mut options = Options::new(dir.path());
        options.args = vec![
            "--admin-tls-cert".into(),
            cert,
            "--admin-tls-key".into(),
            key,
        ];
        let (log, status) = try_start(options).err().expect("refused");
        assert!(status.is_some_and(|s| !s.success()));
        assert!(log.contains(expect), "{log}");
    }
}
