//! PEM uploads and validity checks.

use std::time::{Duration, Instant};

use gatehouse_pki::{
    ClientCertificate, Limits, PkiError, SourceFormat, check_validity, parse_pem, signing_key,
};
use time::OffsetDateTime;

use crate::support::{
    self, Identity, PASSWORD, WRONG_PASSWORD, expect_code, openssl, openssl_not_after,
    openssl_thumbprint, pki, write_identity,
};

fn parse(pem: &str, password: Option<&str>) -> Result<ClientCertificate, PkiError> {
    parse_pem(pem, password, &Limits::default())
}

fn key_was_encrypted(parsed: &ClientCertificate) -> bool {
    match parsed.source {
        SourceFormat::Pem { key_was_encrypted } => key_was_encrypted,
        ref other => panic!("not PEM: {other:?}"),
    }
}

/// Runs an openssl key conversion on an identity's key and returns the PEM.
fn convert_key(name: &str, identity: &Identity, args: &[&str]) -> String {
    let converted = support::cached(name, || {
        let (_, key) = write_identity(name, identity);
        let out = format!("{name}-converted.pem");
        let mut all = args.to_vec();
        all.extend(["-in", &key, "-out", &out]);
        openssl(&all);
        std::fs::read(support::dir().join(&out)).expect("converted key")
    });
    String::from_utf8(converted.to_vec()).expect("utf8")
}

#[test]
fn unencrypted_pkcs8_with_shuffled_chain() {
    let pki = pki();
    // Key in the middle, root before intermediate, leaf last.
    let pem = format!(
        "Bag Attributes: ignored text\n{}{}{}{}",
        pki.root.cert_pem, pki.leaf_rsa.key_pem, pki.intermediate.cert_pem, pki.leaf_rsa.cert_pem
    );
    let parsed = parse(&pem, None).expect("parse");
    let chain: Vec<&[u8]> = parsed.chain.iter().map(|c| c.as_ref()).collect();
    assert_eq!(
        chain,
        vec![
            pki.leaf_rsa.cert_der.as_slice(),
            pki.intermediate.cert_der.as_slice(),
            pki.root.cert_der.as_slice()
        ]
    );
    assert_eq!(parsed.info.subject, "CN=gatehouse-client, O=Bars");
    assert_eq!(
        parsed.info.thumbprint,
        openssl_thumbprint(&pki.leaf_rsa.cert_pem)
    );
    assert_eq!(
        parsed.info.not_after,
        openssl_not_after(&pki.leaf_rsa.cert_pem)
    );
    assert_eq!(parsed.key.as_slice(), pki.leaf_rsa.key_der.as_slice());
    assert!(!key_was_encrypted(&parsed));
}

#[test]
fn encrypted_pkcs8_pbes2_aes256() {
    let identity = &pki().leaf_ec;
    let passout = format!("pass:{PASSWORD}");
    let key = convert_key(
        "pkcs8-aes",
        identity,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            &passout,
        ],
    );
    assert!(key.contains("ENCRYPTED PRIVATE KEY"));
    let pem = format!("{}{key}", identity.cert_pem);

    let parsed = parse(&pem, Some(PASSWORD)).expect("parse");
    assert!(key_was_encrypted(&parsed));
    assert_eq!(parsed.info.key_algorithm, "ECDSA P-256");
    let loaded = signing_key(&parsed.key).expect("load");
    let original = signing_key(&identity.key_der).expect("load original");
    assert_eq!(loaded.public_key(), original.public_key());

    expect_code(parse(&pem, None), "PemEncryptedKeyNeedsPassword");
    let wrong = expect_code(parse(&pem, Some(WRONG_PASSWORD)), "PasswordIncorrect");
    assert_eq!(
        wrong.to_string(),
        "the password is incorrect, or the file is damaged"
    );
}

#[test]
fn scrypt_encrypted_key_is_unsupported() {
    let identity = &pki().leaf_ec;
    let passout = format!("pass:{PASSWORD}");
    let key = convert_key(
        "pkcs8-scrypt",
        identity,
        &["pkcs8", "-topk8", "-scrypt", "-passout", &passout],
    );
    let error = expect_code(
        parse(&format!("{}{key}", identity.cert_pem), Some(PASSWORD)),
        "UnsupportedEncryption",
    );
    assert!(error.to_string().contains("scrypt"), "{error}");
    assert!(error.to_string().contains("-v2 aes-256-cbc"), "{error}");
}

#[test]
fn malformed_private_keys() {
    let identity = &pki().leaf_rsa;
    // Valid base64, valid DER framing, but not a key.
    let bogus = "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n";
    expect_code(
        parse(&format!("{}{bogus}", identity.cert_pem), None),
        "InvalidPrivateKey",
    );
    // A PKCS#8 RSA key whose inner key is damaged.
    let mut damaged = identity.key_der.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xFF;
    damaged[middle + 1] ^= 0xFF;
    let error = signing_key(&damaged).expect_err("damaged key");
    crate::support::assert_no_secrets(&error.to_string(), &format!("{error:?}"));
    assert!(matches!(
        error.code(),
        "InvalidPrivateKey" | "KeyMismatch" | "WeakKey"
    ));
    expect_code(signing_key(b"not a key"), "InvalidPrivateKey");
}

#[test]
fn windows_line_endings() {
    let identity = &pki().leaf_ec;
    let pem = format!("{}{}", identity.cert_pem, identity.key_pem).replace('\n', "\r\n");
    let parsed = parse(&pem, None).expect("CRLF PEM");
    assert_eq!(parsed.info.subject, "CN=gatehouse-ec-client, O=Bars");
}

#[test]
fn encrypted_pkcs8_with_pkcs12_pbe() {
    let identity = &pki().leaf_rsa;
    let passout = format!("pass:{PASSWORD}");
    let key = convert_key(
        "pkcs8-3des",
        identity,
        &[
            "pkcs8",
            "-topk8",
            "-v1",
            "PBE-SHA1-3DES",
            "-passout",
            &passout,
        ],
    );
    let parsed = parse(&format!("{key}{}", identity.cert_pem), Some(PASSWORD)).expect("parse");
    assert!(key_was_encrypted(&parsed));
    assert_eq!(parsed.info.key_algorithm, "RSA 2048");
}

#[test]
fn pkcs1_rsa_key_is_normalised_to_pkcs8() {
    let identity = &pki().leaf_rsa;
    let key = convert_key("pkcs1", identity, &["rsa", "-traditional"]);
    assert!(key.contains("BEGIN RSA PRIVATE KEY"));
    let parsed = parse(&format!("{}{key}", identity.cert_pem), None).expect("parse");
    // The stored key is PKCS#8 and OpenSSL reads it as such.
    let der_path = support::write("normalised-pkcs1.der", &parsed.key);
    openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        der_path.to_str().expect("path"),
        "-noout",
    ]);
    let loaded = signing_key(&parsed.key).expect("load");
    let original = signing_key(&identity.key_der).expect("load original");
    assert_eq!(loaded.public_key(), original.public_key());
}

#[test]
fn sec1_ec_key_with_parameters_block() {
    let identity = &pki().leaf_ec;
    let key = convert_key("sec1", identity, &["ec"]);
    assert!(key.contains("BEGIN EC PRIVATE KEY"));
    // `openssl ecparam -genkey` writes this block before the key; it is skipped.
    let parameters =
        String::from_utf8(openssl(&["ecparam", "-name", "prime256v1"])).expect("parameters");
    assert!(parameters.contains("BEGIN EC PARAMETERS"));
    let parsed = parse(&format!("{parameters}{key}{}", identity.cert_pem), None).expect("parse");
    let der_path = support::write("normalised-sec1.der", &parsed.key);
    openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        der_path.to_str().expect("path"),
        "-noout",
    ]);
    let loaded = signing_key(&parsed.key).expect("load");
    let original = signing_key(&identity.key_der).expect("load original");
    assert_eq!(loaded.public_key(), original.public_key());
}

#[test]
fn traditional_encrypted_key_is_refused() {
    let identity = &pki().leaf_rsa;
    let passout = format!("pass:{PASSWORD}");
    let key = convert_key(
        "traditional",
        identity,
        &["rsa", "-traditional", "-aes256", "-passout", &passout],
    );
    assert!(key.contains("Proc-Type: 4,ENCRYPTED"));
    let error = expect_code(
        parse(&format!("{}{key}", identity.cert_pem), Some(PASSWORD)),
        "LegacyPemEncryption",
    );
    assert!(
        error
            .to_string()
            .contains("openssl pkcs8 -topk8 -v2 aes-256-cbc")
    );
}

#[test]
fn key_mismatch_two_keys_and_missing_parts() {
    let pki = pki();
    let mismatch = format!("{}{}", pki.leaf_rsa.cert_pem, pki.other_rsa.key_pem);
    let error = expect_code(parse(&mismatch, None), "KeyMismatch");
    assert!(error.to_string().contains("CN=gatehouse-client, O=Bars"));

    let two_keys = format!(
        "{}{}{}",
        pki.leaf_rsa.cert_pem, pki.leaf_rsa.key_pem, pki.other_rsa.key_pem
    );
    let error = expect_code(parse(&two_keys, None), "MultipleKeys");
    assert!(error.to_string().contains("2 private keys"));

    let error = expect_code(parse(&pki.leaf_rsa.cert_pem, None), "PemNoPrivateKey");
    assert!(error.to_string().contains("PEM"));
    let error = expect_code(parse(&pki.leaf_rsa.key_pem, None), "PemNoCertificate");
    assert!(error.to_string().contains("PEM"));
    expect_code(parse("just some text", None), "PemMalformed");

    let mut broken = pki.leaf_rsa.cert_pem.clone();
    broken.insert_str(40, "!!");
    expect_code(
        parse(&format!("{broken}{}", pki.leaf_rsa.key_pem), None),
        "PemMalformed",
    );
    let unterminated = pki
        .leaf_rsa
        .cert_pem
        .replace("-----END CERTIFICATE-----", "");
    expect_code(
        parse(&format!("{}{unterminated}", pki.leaf_rsa.key_pem), None),
        "PemMalformed",
    );
}

#[test]
fn key_types() {
    let pki = pki();
    for (identity, expected) in [
        (&pki.p384, "ECDSA P-384"),
        (&pki.ed25519, "Ed25519"),
        (&pki.self_signed_ec, "ECDSA P-256"),
    ] {
        let parsed =
            parse(&format!("{}{}", identity.cert_pem, identity.key_pem), None).expect("parse");
        assert_eq!(parsed.info.key_algorithm, expected);
        assert!(parsed.info.self_signed);
        signing_key(&parsed.key).expect("signs");
    }

    let ed448 = support::cached("ed448.pem", || {
        openssl(&["genpkey", "-algorithm", "ed448", "-out", "ed448-key.pem"]);
        openssl(&[
            "req",
            "-x509",
            "-key",
            "ed448-key.pem",
            "-out",
            "ed448-cert.pem",
            "-subj",
            "/CN=ed448-client",
            "-days",
            "30",
        ]);
        let key = std::fs::read_to_string(support::dir().join("ed448-key.pem")).expect("key");
        support::remember_key_pem(&key);
        let cert = std::fs::read_to_string(support::dir().join("ed448-cert.pem")).expect("cert");
        format!("{cert}{key}").into_bytes()
    });
    let error = expect_code(
        parse(std::str::from_utf8(&ed448).expect("utf8"), None),
        "UnsupportedKeyType",
    );
    assert!(error.to_string().contains("Ed448"));

    let weak = support::cached("rsa1024.pem", || {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "weak-key.pem",
            "-out",
            "weak-cert.pem",
            "-subj",
            "/CN=weak",
            "-days",
            "30",
        ]);
        let key = std::fs::read_to_string(support::dir().join("weak-key.pem")).expect("key");
        support::remember_key_pem(&key);
        let cert = std::fs::read_to_string(support::dir().join("weak-cert.pem")).expect("cert");
        format!("{cert}{key}").into_bytes()
    });
    expect_code(
        parse(std::str::from_utf8(&weak).expect("utf8"), None),
        "WeakKey",
    );
}

#[test]
fn excessive_iterations_in_an_encrypted_key() {
    let identity = &pki().leaf_ec;
    let passout = format!("pass:{PASSWORD}");
    let key = convert_key(
        "pkcs8-many-iterations",
        identity,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-iter",
            "20000",
            "-passout",
            &passout,
        ],
    );
    let pem = format!("{}{key}", identity.cert_pem);
    let strict = Limits {
        max_kdf_iterations: 10_000,
        ..Limits::default()
    };
    let started = Instant::now();
    expect_code(
        parse_pem(&pem, Some(PASSWORD), &strict),
        "ExcessiveIterations",
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    parse(&pem, Some(PASSWORD)).expect("default limit");
}

#[test]
fn expired_and_not_yet_valid() {
    let pki = pki();
    let now = OffsetDateTime::now_utc();

    let expired = parse(
        &format!("{}{}", pki.expired.cert_pem, pki.expired.key_pem),
        None,
    )
    .expect("parsing does not check validity");
    let error = expect_code(check_validity(&expired.info, now), "CertificateExpired");
    let message = error.to_string();
    assert!(
        message.contains("properties.allowExpired: true"),
        "{message}"
    );
    let rfc3339 = expired
        .info
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    assert!(message.contains(&rfc3339), "{message}");
    assert_eq!(
        expired.info.not_after,
        openssl_not_after(&pki.expired.cert_pem)
    );

    let future = parse(
        &format!(
            "{}{}",
            pki.not_yet_valid.cert_pem, pki.not_yet_valid.key_pem
        ),
        None,
    )
    .expect("parse");
    let error = expect_code(check_validity(&future.info, now), "CertificateNotYetValid");
    assert!(error.to_string().contains("properties.allowExpired: true"));

    let valid = parse(
        &format!("{}{}", pki.leaf_ec.cert_pem, pki.leaf_ec.key_pem),
        None,
    )
    .expect("parse");
    check_validity(&valid.info, now).expect("valid now");
}

#[test]
fn pem_size_limit() {
    let pki = pki();
    let pem = format!("{}{}", pki.leaf_rsa.cert_pem, pki.leaf_rsa.key_pem);
    let tiny = Limits {
        max_input_bytes: 100,
        ..Limits::default()
    };
    expect_code(parse_pem(&pem, None, &tiny), "TooLarge");
}
