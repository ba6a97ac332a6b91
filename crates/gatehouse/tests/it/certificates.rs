//! Certificate upload, listing, metadata and every way an upload can be refused.

use serde_json::{Value, json};

use crate::support::pki::{KeyKind, Pki, b64, rcgen_pem};
use crate::support::server::{Options, start};
use crate::support::{changed_files, data_dir_state};

const PASSWORD: &str = "Pfx-Passw0rd!";

/// One upload kind of the acceptance list, checked against `openssl x509`.
async fn round_trip(
    name: &str,
    body: Value,
    pki: &Pki,
    cert: &std::path::Path,
    subject: &str,
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let created = api
        .put(
            &format!("/certificates/{name}"),
            &json!({ "properties": body }),
        )
        .await
        .expect(201);
    let props = created.json()["properties"].clone();
    assert_eq!(props["thumbprint"], json!(pki.thumbprint(cert)), "{name}");
    assert_eq!(props["subject"], json!(subject), "{name}");
    assert_eq!(
        props["expirationDate"],
        json!(pki.not_after(cert)),
        "{name}"
    );
    assert!(props.get("data").is_none() && props.get("password").is_none());

    let listed = api.get("/certificates").await.expect(200).json();
    assert_eq!(listed["count"], json!(1));
    assert_eq!(
        listed["value"][0]["properties"]["thumbprint"],
        props["thumbprint"]
    );
    let got = api.get(&format!("/certificates/{name}")).await.expect(200);
    assert_eq!(got.etag(), created.etag());
    assert_eq!(got.json()["id"], json!(format!("/certificates/{name}")));
    props
}

#[tokio::test]
async fn pkcs12_round_trips_match_openssl() {
    let pki = Pki::new();
    let rsa = pki.self_signed("rsa", "/O=Bars/CN=gatehouse-client", KeyKind::Rsa);
    let ec = pki.self_signed("ec", "/O=Bars/CN=gatehouse-ec", KeyKind::EcP256);
    let (_, signed) = pki.ca_signed("signed", "/C=NL/O=Bars/CN=signed-client");

    let modern = pki.pfx(&rsa, PASSWORD, false);
    round_trip(
        "modern-rsa",
        json!({"data": b64(&modern), "password": PASSWORD}),
        &pki,
        &rsa.cert,
        "CN=gatehouse-client, O=Bars",
    )
    .await;

    let legacy = pki.pfx(&ec, PASSWORD, true);
    let props = round_trip(
        "legacy-ec",
        json!({"data": b64(&legacy), "password": PASSWORD}),
        &pki,
        &ec.cert,
        "CN=gatehouse-ec, O=Bars",
    )
    .await;
    assert_eq!(props["legacyEncryption"], json!(true));
    assert_eq!(props["keyAlgorithm"], json!("ECDSA P-256"));
    assert_eq!(props["selfSigned"], json!(true));
    let props = round_trip(
        "modern-ec",
        json!({"data": b64(&pki.pfx(&ec, PASSWORD, false)), "password": PASSWORD}),
        &pki,
        &ec.cert,
        "CN=gatehouse-ec, O=Bars",
    )
    .await;
    assert_eq!(props["legacyEncryption"], json!(false));

    // An empty password opens a file exported with an empty password, sent absent or empty.
    let empty = pki.pfx(&ec, "", false);
    round_trip(
        "empty-absent",
        json!({"data": b64(&empty)}),
        &pki,
        &ec.cert,
        "CN=gatehouse-ec, O=Bars",
    )
    .await;
    round_trip(
        "empty-given",
        json!({"data": b64(&empty), "password": ""}),
        &pki,
        &ec.cert,
        "CN=gatehouse-ec, O=Bars",
    )
    .await;

    let signed_pfx = pki.pfx(&signed, PASSWORD, false);
    round_trip(
        "ca-signed",
        json!({"data": b64(&signed_pfx), "password": PASSWORD}),
        &pki,
        &signed.cert,
        "CN=signed-client, O=Bars, C=NL",
    )
    .await;
}

#[tokio::test]
async fn pem_round_trips_with_plain_and_encrypted_keys() {
    let pki = Pki::new();
    let files = pki.self_signed("pem", "/O=Bars/CN=gatehouse-pem", KeyKind::EcP256);
    let cert = String::from_utf8(pki.read(&files.cert)).unwrap();
    let key = String::from_utf8(pki.read(&files.key)).unwrap();
    round_trip(
        "pem-plain",
        json!({"pem": format!("{cert}{key}")}),
        &pki,
        &files.cert,
        "CN=gatehouse-pem, O=Bars",
    )
    .await;

    let encrypted = pki.encrypted_key(&files, PASSWORD);
    round_trip(
        "pem-encrypted",
        json!({"pem": format!("{encrypted}{cert}"), "password": PASSWORD}),
        &pki,
        &files.cert,
        "CN=gatehouse-pem, O=Bars",
    )
    .await;
}

#[tokio::test]
async fn replacing_a_certificate_bumps_its_version() {
    let pki = Pki::new();
    let a = pki.self_signed("a", "/CN=first", KeyKind::EcP256);
    let b = pki.self_signed("b", "/CN=second", KeyKind::EcP256);
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let body = |f: &crate::support::pki::CertFiles| json!({"properties": {"data": b64(&pki.pfx(f, PASSWORD, false)), "password": PASSWORD}});
    let first = api.put("/certificates/c", &body(&a)).await.expect(201);
    let v1 = first.json()["properties"]["version"].as_u64().unwrap();
    // A stale ETag refuses the replacement; the current one allows it.
    api.put_with("/certificates/c", &body(&b), &[("if-match", "\"stale-1\"")])
        .await
        .expect(412);
    let second = api
        .put_with("/certificates/c", &body(&b), &[("if-match", &first.etag())])
        .await
        .expect(200);
    assert!(second.json()["properties"]["version"].as_u64().unwrap() > v1);
    assert_eq!(second.json()["properties"]["subject"], json!("CN=second"));
    assert_ne!(second.etag(), first.etag());
}

/// Each bad upload: its status and code, and the store byte-for-byte as before.
#[tokio::test]
async fn every_bad_upload_is_refused_and_changes_nothing() {
    let pki = Pki::new();
    let good = pki.self_signed("good", "/O=Bars/CN=good", KeyKind::Rsa);
    let other = pki.self_signed("other", "/CN=other", KeyKind::Rsa);
    let pfx = pki.pfx(&good, PASSWORD, false);
    let cert_pem = String::from_utf8(pki.read(&good.cert)).unwrap();
    let key_pem = String::from_utf8(pki.read(&good.key)).unwrap();
    let other_key = String::from_utf8(pki.read(&other.key)).unwrap();
    let certs_only = {
        let path = good.cert.to_string_lossy().into_owned();
        crate::support::pki::openssl(
            pki.path(),
            &[
                "pkcs12",
                "-export",
                "-nokeys",
                "-in",
                &path,
                "-passout",
                &format!("pass:{PASSWORD}"),
                "-out",
                "nokey.pfx",
            ],
        );
        pki.read("nokey.pfx")
    };
    let (expired_cert, expired_key) = rcgen_pem("expired", -30, -1);
    let (future_cert, future_key) = rcgen_pem("future", 10, 40);
    let slow = {
        let (cert, key) = (
            good.cert.to_string_lossy().into_owned(),
            good.key.to_string_lossy().into_owned(),
        );
        crate::support::pki::openssl(
            pki.path(),
            &[
                "pkcs12",
                "-export",
                "-in",
                &cert,
                "-inkey",
                &key,
                "-passout",
                &format!("pass:{PASSWORD}"),
                "-iter",
                "2000000",
                "-out",
                "slow.pfx",
            ],
        );
        pki.read("slow.pfx")
    };
    let ed448 = {
        crate::support::pki::openssl(
            pki.path(),
            &["genpkey", "-algorithm", "ED448", "-out", "ed448.key"],
        );
        crate::support::pki::openssl(
            pki.path(),
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ed448.key",
                "-subj",
                "/CN=ed448",
                "-days",
                "30",
                "-out",
                "ed448.crt",
            ],
        );
        format!(
            "{}{}",
            String::from_utf8(pki.read("ed448.crt")).unwrap(),
            String::from_utf8(pki.read("ed448.key")).unwrap()
        )
    };
    let mut damaged = pfx.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x5a;

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "wrong password",
            json!({"data": b64(&pfx), "password": "wrong"}),
            400,
            "PasswordIncorrect",
        ),
        (
            "absent password",
            json!({"data": b64(&pfx)}),
            400,
            "PasswordRequired",
        ),
        (
            "PEM sent as data",
            json!({"data": b64(cert_pem.as_bytes()), "password": PASSWORD}),
            400,
            "NotPkcs12",
        ),
        (
            "not base64",
            json!({"data": "%%% not base64 %%%", "password": PASSWORD}),
            400,
            "InvalidBase64",
        ),
        (
            "truncated",
            json!({"data": b64(&pfx[..pfx.len() / 2]), "password": PASSWORD}),
            400,
            "Damaged",
        ),
        (
            "damaged",
            json!({"data": b64(&damaged), "password": PASSWORD}),
            400,
            "",
        ),
        (
            "no private key",
            json!({"data": b64(&certs_only), "password": PASSWORD}),
            400,
            "NoPrivateKey",
        ),
        (
            "key does not match",
            json!({"pem": format!("{cert_pem}{other_key}")}),
            400,
            "KeyMismatch",
        ),
        (
            "two keys",
            json!({"pem": format!("{cert_pem}{key_pem}{other_key}")}),
            400,
            "MultipleKeys",
        ),
        (
            "expired",
            json!({"pem": format!("{expired_cert}{expired_key}")}),
            400,
            "CertificateExpired",
        ),
        (
            "not yet valid",
            json!({"pem": format!("{future_cert}{future_key}")}),
            400,
            "CertificateNotYetValid",
        ),
        (
            "data and pem",
            json!({"data": b64(&pfx), "pem": cert_pem, "password": PASSWORD}),
            400,
            "InvalidProperty",
        ),
        (
            "neither",
            json!({"password": PASSWORD}),
            400,
            "InvalidProperty",
        ),
        (
            "unknown field",
            json!({"data": b64(&pfx), "password": PASSWORD, "pasword": "x"}),
            400,
            "InvalidProperty",
        ),
        (
            "oversized",
            json!({"data": "A".repeat(300 * 1024)}),
            413,
            "RequestTooLarge",
        ),
        (
            "PEM text as data",
            json!({"data": cert_pem, "password": PASSWORD}),
            400,
            "NotPkcs12",
        ),
        (
            "hostile iteration count",
            json!({"data": b64(&slow), "password": PASSWORD}),
            400,
            "ExcessiveIterations",
        ),
        (
            "unsupported key type",
            json!({"pem": ed448}),
            400,
            "UnsupportedKeyType",
        ),
    ];

    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    // Something committed first, so "unchanged" is about a real database.
    api.put(
        "/certificates/existing",
        &json!({"properties": {"data": b64(&pfx), "password": PASSWORD}}),
    )
    .await
    .expect(201);
    let existing = api.get("/certificates/existing").await.json();
    let before = data_dir_state(dir.path());
    for (what, props, status, code) in &cases {
        // Each bad upload is tried as a new certificate and as a replacement of one in use.
        for id in ["new-cert", "existing"] {
            let reply = api
                .put(
                    &format!("/certificates/{id}"),
                    &json!({"properties": props}),
                )
                .await;
            assert_eq!(reply.status.as_u16(), *status, "{what}: {}", reply.text());
            if code.is_empty() {
                // A flipped byte lands in a MAC, a ciphertext or a structure: any refusal will
                // do, as long as it says the file is unusable.
                let c = reply.code();
                assert!(
                    ["PasswordIncorrect", "Damaged", "NotPkcs12"].contains(&c.as_str()),
                    "{what}: {c}"
                );
            } else {
                assert_eq!(reply.code(), *code, "{what}: {}", reply.text());
            }
            let message = reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(message.len() > 20, "{what}: message too thin: {message}");
            assert!(!reply.text().contains(PASSWORD), "{what}: password echoed");
            let changed = changed_files(&before, &data_dir_state(dir.path()));
            assert!(
                changed.is_empty(),
                "{what}: the data dir changed: {changed:?}"
            );
        }
    }
    assert_eq!(
        api.get("/certificates/existing").await.json(),
        existing,
        "a refused replacement changed the certificate"
    );
    assert!(
        !server.logs().contains(PASSWORD),
        "a password reached the log"
    );
    let reply = api
        .put(
            "/certificates/x",
            &json!({"properties": {"data": cert_pem, "password": PASSWORD}}),
        )
        .await;
    assert!(
        reply.text().contains("send it in properties.pem"),
        "{}",
        reply.text()
    );
    api.get("/certificates/new-cert").await.expect(404);
    assert_eq!(api.get("/certificates").await.json()["count"], json!(1));

    // The wrong-password message says what to do.
    let reply = api
        .put(
            "/certificates/x",
            &json!({"properties": {"data": b64(&pfx), "password": "nope"}}),
        )
        .await;
    assert!(
        reply
            .text()
            .contains("password is incorrect, or the file is damaged"),
        "{}",
        reply.text()
    );
    // allowExpired lets an expired certificate in, on purpose.
    api.put("/certificates/old", &json!({"properties": {"pem": format!("{expired_cert}{expired_key}"), "allowExpired": true}})).await.expect(201);
}

#[tokio::test]
async fn invalid_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    for bad in ["-starts-with-dash", "has%20space", &"x".repeat(81)] {
        let reply = api
            .put(
                &format!("/certificates/{bad}"),
                &json!({"properties": {"pem": "x"}}),
            )
            .await
            .expect(400);
        assert_eq!(reply.code(), "InvalidIdentifier", "{bad}");
    }
}

#[tokio::test]
async fn ca_certificates_take_der_or_pem_and_refuse_keys() {
    let pki = Pki::new();
    let (ca, _) = pki.ca_signed("trust", "/CN=leaf");
    let pem = pki.read(&ca.cert);
    let der = crate::support::pki::openssl(
        pki.path(),
        &["x509", "-in", &ca.cert.to_string_lossy(), "-outform", "DER"],
    );
    let key = pki.read(&ca.key);
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let a = api
        .put(
            "/caCertificates/ca-pem",
            &json!({"properties": {"data": b64(&pem)}}),
        )
        .await
        .expect(201);
    let b = api
        .put(
            "/caCertificates/ca-der",
            &json!({"properties": {"data": b64(&der)}}),
        )
        .await
        .expect(201);
    assert_eq!(
        a.json()["properties"]["thumbprint"],
        json!(pki.thumbprint(&ca.cert))
    );
    assert_eq!(
        a.json()["properties"]["thumbprint"],
        b.json()["properties"]["thumbprint"]
    );
    assert_eq!(a.json()["properties"]["isCa"], json!(true));
    let mut with_key = pem.clone();
    with_key.extend_from_slice(&key);
    let reply = api
        .put(
            "/caCertificates/bad",
            &json!({"properties": {"data": b64(&with_key)}}),
        )
        .await
        .expect(400);
    assert_eq!(reply.code(), "UnexpectedPrivateKey");
    assert_eq!(api.get("/caCertificates").await.json()["count"], json!(2));
}
