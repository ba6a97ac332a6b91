//! Start, stop, restart: the data directory, the admin token and the master key.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::json;

use crate::support::backend::{self, Mode};
use crate::support::pki::{KeyKind, Pki, b64};
use crate::support::server::{Options, start, try_start};
use crate::support::setup::base;

#[tokio::test]
async fn everything_survives_a_restart() {
    let pki = Pki::new();
    let files = pki.self_signed("keep", "/O=Bars/CN=keep", KeyKind::Rsa);
    let pfx = pki.pfx(&files, "pw-123456", false);
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(Options::new(dir.path()));
    let api = server.api();
    api.put(
        "/certificates/keep",
        &json!({"properties": {"data": b64(&pfx), "password": "pw-123456"}}),
    )
    .await
    .expect(201);
    api.put(
        "/caCertificates/ca",
        &json!({"properties": {"data": b64(&pki.read(&files.cert))}}),
    )
    .await
    .expect(201);
    api.put("/backends/b", &json!({"properties": {"url": "https://b.example", "credentials": {"header": {"x-key": ["hdr-secret"]}}, "tls": {"caCertificateIds": ["ca"]}}})).await.expect(201);
    api.put(
        "/apis/echo",
        &json!({"properties": {"path": "echo", "serviceUrl": "https://b.example/x"}}),
    )
    .await
    .expect(201);
    api.put(
        "/apis/echo/operations/op",
        &json!({"properties": {"method": "GET", "urlTemplate": "/"}}),
    )
    .await
    .expect(201);
    api.put(
        "/apis/echo/gatewayCredentials",
        &json!({"properties": {"type": "clientCertificate", "certificateId": "keep"}}),
    )
    .await
    .expect(200);
    api.put("/policies/policy", &json!({"properties": {"value": "<policies><inbound><authentication-basic username=\"u\" password=\"global-pass\" /></inbound></policies>"}})).await.expect(201);
    // A route to a real back end, so the secrets' survival is seen where they are used.
    let plain = backend::start(backend::Options::plain(Mode::Echo)).await;
    let plain_url = base(&plain, "127.0.0.1", "http");
    api.put("/backends/p", &json!({"properties": {"url": plain_url, "credentials": {"header": {"x-key": ["plain-hdr-secret"]}}}})).await.expect(201);
    api.put(
        "/apis/plain",
        &json!({"properties": {"path": "plain", "serviceUrl": plain_url}}),
    )
    .await
    .expect(201);
    api.put(
        "/apis/plain/operations/op",
        &json!({"properties": {"method": "GET", "urlTemplate": "/"}}),
    )
    .await
    .expect(201);
    let paths = [
        "/certificates/keep",
        "/caCertificates/ca",
        "/backends/b",
        "/apis/echo",
        "/apis/echo/operations/op",
        "/apis/echo/policies/policy",
        "/apis/echo/gatewayCredentials",
        "/policies/policy",
    ];
    let mut before = Vec::new();
    for p in paths {
        let r = api.get(p).await.expect(200);
        before.push((r.etag(), r.json()));
    }
    assert!(server.stop().success());

    let server = start(Options::new(dir.path()));
    let api = server.api();
    for (p, (etag, body)) in paths.iter().zip(before) {
        let r = api.get(p).await.expect(200);
        assert_eq!(r.json(), body, "{p} changed across a restart");
        assert_eq!(r.etag(), etag, "{p} ETag changed across a restart");
    }
    // The sealed secrets opened again: the masked GET/PUT round trip still keeps them, and
    // the back end still receives them.
    for p in ["/backends/b", "/backends/p", "/policies/policy"] {
        let body = api.get(p).await.json();
        api.put(p, &body).await.expect(200);
    }
    server.gateway().get("/plain/").await.expect(200);
    let seen = plain.last();
    assert_eq!(seen.headers["x-key"], "plain-hdr-secret");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("u:global-pass");
    assert_eq!(seen.headers["authorization"], format!("Basic {basic}"));
    assert!(server.logs().contains("configuration loaded"));
}

#[tokio::test]
async fn first_start_generates_token_and_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = Options::new(&data);
    options.token = None;
    let mut server = start(options.clone());
    let token_file = data.join("admin-token");
    let key_file = data.join("master.key");
    for f in [&token_file, &key_file, &data.join("gatehouse.db")] {
        assert!(f.exists(), "{} missing", f.display());
    }
    for f in [&token_file, &key_file] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.len() >= 32);
    assert!(!server.logs().contains(&token), "the token was logged");
    assert!(
        server.logs().contains("in production keep it elsewhere"),
        "no warning about the key file"
    );
    let api = server.api().with_token(Some(&token));
    api.get("/certificates").await.expect(200);
    server
        .api()
        .with_token(Some("not-the-token"))
        .get("/certificates")
        .await
        .expect(401);
    assert!(server.stop().success());

    // The token is written once; the stored hash keeps working after a restart.
    let written = std::fs::metadata(&token_file).unwrap().modified().unwrap();
    let server = start(options);
    server
        .api()
        .with_token(Some(&token))
        .get("/apis")
        .await
        .expect(200);
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().modified().unwrap(),
        written
    );
}

#[tokio::test]
async fn a_wrong_master_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let key_a = b64(&[1u8; 32]);
    let key_b = b64(&[2u8; 32]);
    let mut options = Options::new(dir.path());
    options
        .env
        .push(("GATEHOUSE_MASTER_KEY".into(), key_a.clone()));
    let mut server = start(options.clone());
    assert!(
        !dir.path().join("master.key").exists(),
        "a key file was made despite the env key"
    );
    assert!(server.stop().success());

    let mut wrong = options.clone();
    wrong.env = vec![("GATEHOUSE_MASTER_KEY".into(), key_b)];
    let (logs, status) = try_start(wrong).err().expect("started with the wrong key");
    assert!(status.is_some_and(|s| !s.success()));
    assert!(logs.contains("master key does not match"), "{logs}");

    // The right key from a file works.
    let key_path = dir.path().join("elsewhere.key");
    std::fs::write(&key_path, &key_a).unwrap();
    let mut from_file = Options::new(dir.path());
    from_file.args = vec!["--master-key-file".into(), key_path.display().to_string()];
    start(from_file).api().get("/apis").await.expect(200);

    let mut bad = Options::new(dir.path());
    bad.env
        .push(("GATEHOUSE_MASTER_KEY".into(), "c2hvcnQ=".into()));
    let (logs, _) = try_start(bad).err().expect("started with a short key");
    assert!(logs.contains("GATEHOUSE_MASTER_KEY"), "{logs}");
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_health_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(Options::new(dir.path()));
    let health = server
        .api()
        .with_token(None)
        .get("/health")
        .await
        .expect(200)
        .json();
    assert_eq!(health["status"], json!("ok"));
    assert!(server.stop().success());
    assert!(server.wait_for_log("shutting down"));
}

#[tokio::test]
async fn one_data_dir_serves_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let _first = start(Options::new(dir.path()));
    let (logs, status) = try_start(Options::new(dir.path()))
        .err()
        .expect("a second server started on the same data dir");
    assert!(status.is_some_and(|s| !s.success()));
    assert!(
        logs.contains("another gatehouse is already serving"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_missing_key_file_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(Options::new(dir.path()));
    assert!(server.stop().success());
    let key = dir.path().join("master.key");
    let original = std::fs::read(&key).unwrap();
    std::fs::rename(&key, dir.path().join("backup.key")).unwrap();
    let (logs, _) = try_start(Options::new(dir.path()))
        .err()
        .expect("started without its key");
    assert!(logs.contains("restore the key file"), "{logs}");
    assert!(!key.exists(), "a new, useless key file was written");
    std::fs::rename(dir.path().join("backup.key"), &key).unwrap();
    assert_eq!(std::fs::read(&key).unwrap(), original);
    start(Options::new(dir.path()))
        .api()
        .get("/apis")
        .await
        .expect(200);
}

#[tokio::test]
async fn settings_stored_before_they_were_refused_load_with_a_warning() {
    use gatehouse_model::{Change, Kind, Record};
    use gatehouse_store::{SqliteStore, Store as _};

    let dir = tempfile::tempdir().unwrap();
    let mut server = start(Options::new(dir.path()));
    assert!(server.stop().success());
    // What an earlier Gatehouse accepted and stored: an API that asks for subscription keys
    // and a global policy that asks to follow redirects.
    let store = SqliteStore::open(&dir.path().join("gatehouse.db"))
        .await
        .unwrap();
    let revision = store.load().await.unwrap().revision;
    let xml = "<policies>\n    <backend>\n        <forward-request follow-redirects=\"true\" />\n    </backend>\n</policies>";
    let put = |kind, key: &str, body: serde_json::Value| {
        Change::Put(Record {
            kind,
            key: key.into(),
            revision: revision + 1,
            body: body.to_string(),
            sealed: None,
        })
    };
    store
        .commit(
            revision,
            &[
                put(
                    Kind::Api,
                    "legacy",
                    json!({"path": "legacy", "serviceUrl": "https://backend.example",
                        "protocols": ["https"], "subscriptionRequired": true}),
                ),
                put(
                    Kind::Policy,
                    "global",
                    json!({"format": "rawxml", "value": xml}),
                ),
            ],
        )
        .await
        .unwrap();
    store.close().await;

    let server = start(Options::new(dir.path()));
    let api = server.api();
    let stored = api.get("/apis/legacy").await.expect(200).json();
    assert_eq!(stored["properties"]["subscriptionRequired"], json!(true));
    assert!(
        server.wait_for_log("/policies/policy: policies/backend/forward-request[1]"),
        "{}",
        server.logs()
    );
    let logs = server.logs();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("stored setting is not supported"))
        .collect();
    assert_eq!(warnings.len(), 2, "{logs}");
    assert!(
        warnings[0].contains("/apis/legacy: properties.subscriptionRequired")
            && warnings[0].contains("subscription keys are not supported"),
        "{logs}"
    );
    // Saving it again as it is is refused: the operator has to decide.
    let reply = api
        .put("/apis/legacy", &json!({"properties": stored["properties"]}))
        .await
        .expect(400);
    assert_eq!(reply.code(), "NotSupported");
}

#[tokio::test]
async fn data_files_are_private_and_a_shared_data_dir_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let warning = "the data directory is readable or writable by group or others";
    let mut server = start(Options::new(&data));
    server
        .api()
        .put(
            "/apis/echo",
            &json!({"properties": {"path": "echo", "serviceUrl": "https://backend.example"}}),
        )
        .await
        .expect(201);
    assert_eq!(mode(&data), 0o700, "the data directory Gatehouse made");
    for name in [
        "gatehouse.db",
        "gatehouse.db-wal",
        "gatehouse.db-shm",
        "master.key",
        ".lock",
    ] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    assert!(!server.logs().contains(warning), "{}", server.logs());
    assert!(server.stop().success());

    // A directory others can read gets a warning; a database an earlier version left
    // readable is tightened.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("gatehouse.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server = start(Options::new(&data));
    assert!(server.wait_for_log(warning), "{}", server.logs());
    let line = server
        .logs()
        .lines()
        .find(|l| l.contains(warning))
        .unwrap()
        .to_string();
    assert!(
        line.contains("WARN") && line.contains("mode=0755"),
        "{line}"
    );
    assert_eq!(mode(&data), 0o755, "the operator's mode is left alone");
    assert_eq!(mode(&data.join("gatehouse.db")), 0o600);
    server.api().get("/apis/echo").await.expect(200);
}

/// A SIGTERM the moment the server says it is ready stops it cleanly: the handlers are installed
/// before it starts, not when it begins to wait (a race a CI run once lost).
#[tokio::test]
async fn sigterm_the_moment_the_server_is_ready_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..15 {
        let mut server = start(Options::new(dir.path()));
        let status = server.stop();
        assert!(
            status.success(),
            "round {round}: {status:?}\n{}",
            server.logs()
        );
    }
}
