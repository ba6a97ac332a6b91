//! PKCS#12 uploads: every accepted variant and every refusal.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_pki::{
    ClientCertificate, DetectedFormat, Limits, PkiError, SourceFormat, parse_pkcs12, signing_key,
};
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};

use crate::rewrite;
use crate::support::{
    self, Identity, PASSWORD, WRONG_PASSWORD, assert_no_secrets, expect_code, identity_pfx,
    leaf_pfx, openssl, openssl_not_after, openssl_succeeds, openssl_thumbprint, pki, write,
};

fn parse(data: &[u8], password: Option<&str>) -> Result<ClientCertificate, PkiError> {
    parse_pkcs12(data, password, &Limits::default())
}

fn encryption(parsed: &ClientCertificate) -> (&str, bool) {
    match &parsed.source {
        SourceFormat::Pkcs12 { encryption } => (&encryption.description, encryption.legacy),
        other => panic!("not PKCS#12: {other:?}"),
    }
}

/// The key in the result is the identity's key: same public key, and it signs.
fn assert_key_is(parsed: &ClientCertificate, identity: &Identity) {
    let ours = signing_key(&parsed.key).expect("stored key loads");
    let theirs = signing_key(&identity.key_der).expect("fixture key loads");
    assert_eq!(ours.public_key(), theirs.public_key());
    assert_eq!(parsed.key[0], 0x30, "PKCS#8 DER");
}

#[test]
fn openssl3_default_rsa_with_chain() {
    let pki = pki();
    let pfx = leaf_pfx("default-rsa", &[]);
    let parsed = parse(&pfx, Some(PASSWORD)).expect("parse");

    let info = &parsed.info;
    assert_eq!(info.subject, "CN=gatehouse-client, O=Bars");
    assert_eq!(info.issuer, "CN=Gatehouse Test Intermediate, O=Bars");
    assert_eq!(info.thumbprint, openssl_thumbprint(&pki.leaf_rsa.cert_pem));
    assert_eq!(info.thumbprint.len(), 40);
    assert_eq!(info.not_after, openssl_not_after(&pki.leaf_rsa.cert_pem));
    assert_eq!(
        info.serial_number,
        support::openssl_serial(&pki.leaf_rsa.cert_pem)
    );
    assert_eq!(info.key_algorithm, "RSA 2048");
    assert_eq!(
        info.subject_alternative_names,
        vec![
            "DNS:client.example.com".to_string(),
            "IP:127.0.0.1".to_string()
        ]
    );
    assert!(!info.self_signed);
    assert!(!info.is_ca);

    // The fixture lists the root before the intermediate; the chain must not.
    let chain: Vec<&[u8]> = parsed.chain.iter().map(|c| c.as_ref()).collect();
    assert_eq!(
        chain,
        vec![
            pki.leaf_rsa.cert_der.as_slice(),
            pki.intermediate.cert_der.as_slice(),
            pki.root.cert_der.as_slice()
        ]
    );
    assert_key_is(&parsed, &pki.leaf_rsa);

    let (description, legacy) = encryption(&parsed);
    assert!(!legacy);
    assert_eq!(
        description,
        "AES-256-CBC with PBKDF2-HMAC-SHA256 (2048 iterations), MAC HMAC-SHA256"
    );
}

#[test]
fn openssl_legacy_rc2_and_3des() {
    let pfx = leaf_pfx("legacy", &["-legacy"]);
    let parsed = parse(&pfx, Some(PASSWORD)).expect("parse");
    let (description, legacy) = encryption(&parsed);
    assert!(legacy);
    assert!(description.contains("RC2-40-CBC"), "{description}");
    assert!(description.contains("3DES-CBC"), "{description}");
    assert!(description.ends_with("MAC HMAC-SHA1"), "{description}");
    assert_eq!(parsed.chain.len(), 3);
    assert_key_is(&parsed, &pki().leaf_rsa);
}

#[test]
fn pbe_sha1_3des_with_sha1_mac() {
    let pfx = leaf_pfx(
        "3des",
        &[
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
    );
    let parsed = parse(&pfx, Some(PASSWORD)).expect("parse");
    let (description, legacy) = encryption(&parsed);
    assert!(legacy);
    assert_eq!(
        description,
        "3DES-CBC with the SHA-1 PKCS#12 KDF (2048 iterations), MAC HMAC-SHA1"
    );
    assert_eq!(parsed.info.subject, "CN=gatehouse-client, O=Bars");
}

#[test]
fn ecdsa_p256_self_signed() {
    let identity = &pki().self_signed_ec;
    let pfx = identity_pfx("self-signed-ec", identity, false, &[]);
    let parsed = parse(&pfx, Some(PASSWORD)).expect("parse");
    assert_eq!(parsed.info.key_algorithm, "ECDSA P-256");
    assert!(parsed.info.self_signed);
    assert_eq!(parsed.info.subject, "CN=self-signed-client, O=Bars");
    assert_eq!(parsed.info.subject, parsed.info.issuer);
    assert_eq!(parsed.chain.len(), 1);
    assert_eq!(
        parsed.info.thumbprint,
        openssl_thumbprint(&identity.cert_pem)
    );
    assert_key_is(&parsed, identity);
}

#[test]
fn ecdsa_p256_leaf_with_chain() {
    let pki = pki();
    let pfx = identity_pfx("leaf-ec", &pki.leaf_ec, true, &[]);
    let parsed = parse(&pfx, Some(PASSWORD)).expect("parse");
    assert_eq!(parsed.info.key_algorithm, "ECDSA P-256");
    assert_eq!(parsed.chain[0].as_ref(), pki.leaf_ec.cert_der.as_slice());
    assert_eq!(
        parsed.chain[1].as_ref(),
        pki.intermediate.cert_der.as_slice()
    );
}

#[test]
fn windows_style_friendly_names_and_local_key_ids() {
    let pfx = leaf_pfx(
        "windows-style",
        &[
            "-name",
            "Gatehouse client (exported)",
            "-caname",
            "Gatehouse Intermediate",
            "-caname",
            "Gatehouse Root",
            "-LMK",
            "-CSP",
            "Microsoft Enhanced RSA and AES Cryptographic Provider",
            "-keyex",
        ],
    );
    let parsed = parse(&pfx, Some(PASSWORD)).expect("parse");
    assert_eq!(parsed.chain.len(), 3);
    assert_eq!(parsed.info.subject, "CN=gatehouse-client, O=Bars");
}

#[test]
fn empty_password_absent_and_empty_string() {
    for (name, extra) in [
        ("empty-default", &["-passout", "pass:"][..]),
        ("empty-legacy", &["-passout", "pass:", "-legacy"][..]),
        ("empty-nomac", &["-passout", "pass:", "-nomac"][..]),
        (
            "empty-nomac-legacy",
            &["-passout", "pass:", "-nomac", "-legacy"][..],
        ),
    ] {
        let pfx = leaf_pfx(name, extra);
        let absent = parse(&pfx, None).expect("absent password");
        let empty = parse(&pfx, Some("")).expect("empty password");
        assert_eq!(absent.info, empty.info);
        assert_eq!(absent.key, empty.key);
        expect_code(parse(&pfx, Some(PASSWORD)), "PasswordIncorrect");
    }
}

#[test]
fn empty_password_in_its_zero_length_encoding() {
    let pfx = leaf_pfx("empty-for-rewrite", &["-passout", "pass:"]);
    let rewritten = rewrite::with_zero_length_password_mac(&pfx);
    assert_ne!(rewritten, *pfx);
    let path = write("zero-length-password.pfx", &rewritten);
    // OpenSSL tries the zero-length password first for an empty one; this
    // proves the rewrite is a valid file in that encoding.
    assert!(openssl_succeeds(&[
        "pkcs12",
        "-in",
        path.to_str().expect("path"),
        "-passin",
        "pass:",
        "-noout",
    ]));
    let absent = parse(&rewritten, None).expect("absent password");
    let empty = parse(&rewritten, Some("")).expect("empty password");
    assert_eq!(absent.info.subject, "CN=gatehouse-client, O=Bars");
    assert_eq!(absent.key, empty.key);
}

#[test]
fn ber_indefinite_lengths_and_constructed_octet_strings() {
    let pfx = leaf_pfx("default-rsa", &[]);
    let ber = rewrite::to_ber(&pfx);
    let path = write("ber.pfx", &ber);
    let passin = format!("pass:{PASSWORD}");
    assert!(openssl_succeeds(&[
        "pkcs12",
        "-in",
        path.to_str().expect("path"),
        "-passin",
        &passin,
        "-noout",
    ]));
    let parsed = parse(&ber, Some(PASSWORD)).expect("parse BER");
    assert_eq!(
        parsed.info.thumbprint,
        openssl_thumbprint(&pki().leaf_rsa.cert_pem)
    );
}

#[test]
fn no_mac_and_no_encryption() {
    let nomac = leaf_pfx("nomac", &["-nomac"]);
    let parsed = parse(&nomac, Some(PASSWORD)).expect("parse");
    assert!(encryption(&parsed).0.ends_with("no MAC"));
    expect_code(parse(&nomac, Some(WRONG_PASSWORD)), "PasswordIncorrect");
    expect_code(parse(&nomac, None), "PasswordRequired");

    let plain = leaf_pfx("plain", &["-nomac", "-keypbe", "NONE", "-certpbe", "NONE"]);
    let parsed = parse(&plain, None).expect("parse unencrypted");
    assert_eq!(encryption(&parsed), ("unencrypted, no MAC", false));
}

#[test]
fn interop_with_p12_keystore_writer() {
    let pki = pki();
    let chain = PrivateKeyChain::new(
        b"local-key-id".as_slice(),
        PrivateKey::from_der(&pki.leaf_ec.key_der).expect("key"),
        [
            Certificate::from_der(&pki.leaf_ec.cert_der).expect("leaf"),
            Certificate::from_der(&pki.intermediate.cert_der).expect("intermediate"),
        ],
    );
    let mut store = KeyStore::new();
    store.add_entry("client", KeyStoreEntry::PrivateKeyChain(chain));
    let pfx = store.writer(PASSWORD).write().expect("write");
    let parsed = parse(&pfx, Some(PASSWORD)).expect("parse");
    assert_eq!(parsed.info.subject, "CN=gatehouse-ec-client, O=Bars");
    assert_eq!(parsed.chain.len(), 2);
    let (description, legacy) = encryption(&parsed);
    assert!(!legacy);
    assert!(description.contains("10000 iterations"), "{description}");
}

#[test]
fn non_ascii_password() {
    let password = "pässwörd-✓-🔑";
    let passout = format!("pass:{password}");
    for (name, legacy) in [("unicode", false), ("unicode-legacy", true)] {
        let mut extra = vec!["-passout", passout.as_str()];
        if legacy {
            extra.push("-legacy");
        }
        let pfx = leaf_pfx(name, &extra);
        let parsed = parse(&pfx, Some(password)).expect("parse");
        assert_eq!(parsed.info.subject, "CN=gatehouse-client, O=Bars");
        let error = expect_code(parse(&pfx, Some("passwort")), "PasswordIncorrect");
        assert!(!error.to_string().contains(password));
    }
}

#[test]
fn wrong_and_missing_password() {
    let pfx = leaf_pfx("default-rsa", &[]);
    let wrong = expect_code(parse(&pfx, Some(WRONG_PASSWORD)), "PasswordIncorrect");
    assert_eq!(
        wrong.to_string(),
        "the password is incorrect, or the file is damaged"
    );
    let missing = expect_code(parse(&pfx, None), "PasswordRequired");
    assert!(missing.to_string().contains("properties.password"));
    expect_code(parse(&pfx, Some("")), "PasswordIncorrect");
}

#[test]
fn pem_and_other_non_pkcs12_input() {
    let pki = pki();
    let pem = format!("{}{}", pki.leaf_rsa.cert_pem, pki.leaf_rsa.key_pem);
    let error = expect_code(parse(pem.as_bytes(), Some(PASSWORD)), "NotPkcs12");
    assert!(
        error
            .to_string()
            .contains("this looks like PEM; send it in properties.pem instead of properties.data")
    );
    assert!(matches!(
        error,
        PkiError::NotPkcs12 {
            detected: DetectedFormat::Pem
        }
    ));

    let indented = format!("\n  \t{pem}");
    expect_code(parse(indented.as_bytes(), None), "NotPkcs12");
    let base64_of_pem = STANDARD.encode(&pem);
    let error = expect_code(parse(base64_of_pem.as_bytes(), None), "NotPkcs12");
    assert!(error.to_string().contains("properties.pem"));

    let base64_of_pfx = STANDARD.encode(leaf_pfx("default-rsa", &[]).as_slice());
    let error = expect_code(parse(base64_of_pfx.as_bytes(), None), "NotPkcs12");
    assert!(error.to_string().contains("encoded twice"), "{error}");

    expect_code(
        parse(b"\x89PNG\r\n\x1a\n not a certificate", None),
        "NotPkcs12",
    );
    expect_code(parse(&pki.leaf_rsa.cert_der, None), "NotPkcs12");
    expect_code(parse(&[], None), "NotPkcs12");
}

#[test]
fn truncated_and_corrupted_files() {
    let pfx = leaf_pfx("default-rsa", &[]);
    let half = &pfx[..pfx.len() / 2];
    let error = expect_code(parse(half, Some(PASSWORD)), "Damaged");
    assert!(error.to_string().contains("damaged or truncated"));

    let mut flipped = pfx.to_vec();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let error = parse(&flipped, Some(PASSWORD)).expect_err("flipped byte");
    assert_no_secrets(&error.to_string(), &format!("{error:?}"));
    assert!(
        matches!(error.code(), "PasswordIncorrect" | "Damaged"),
        "{error}"
    );
}

#[test]
fn certificates_only() {
    let pfx = leaf_pfx("nokeys", &["-nokeys"]);
    let error = expect_code(parse(&pfx, Some(PASSWORD)), "NoPrivateKey");
    assert!(error.to_string().contains("certificates only"));
}

#[test]
fn key_only() {
    let pki = pki();
    let pfx = identity_pfx("nocerts", &pki.leaf_rsa, false, &["-nocerts"]);
    expect_code(parse(&pfx, Some(PASSWORD)), "NoCertificate");
    // The key with only CA certificates: none of them is the key's certificate.
    let pfx = leaf_pfx("nocerts-with-chain", &["-nocerts"]);
    let error = expect_code(parse(&pfx, Some(PASSWORD)), "KeyMismatch");
    assert!(error.to_string().contains("Gatehouse Test Root"), "{error}");
}

fn keystore_pfx(entries: &[(&str, &Identity, &Identity)]) -> Vec<u8> {
    let mut store = KeyStore::new();
    for (alias, key_of, cert_of) in entries {
        let chain = PrivateKeyChain::new(
            alias.as_bytes(),
            PrivateKey::from_der(&key_of.key_der).expect("key"),
            [Certificate::from_der(&cert_of.cert_der).expect("cert")],
        );
        store.add_entry(alias, KeyStoreEntry::PrivateKeyChain(chain));
    }
    store.writer(PASSWORD).write().expect("write")
}

#[test]
fn two_keys_are_refused() {
    let pki = pki();
    let pfx = keystore_pfx(&[
        ("first", &pki.leaf_rsa, &pki.leaf_rsa),
        ("second", &pki.leaf_ec, &pki.leaf_ec),
    ]);
    let error = expect_code(parse(&pfx, Some(PASSWORD)), "MultipleKeys");
    assert!(error.to_string().contains("2 private keys"));
}

#[test]
fn key_of_another_certificate() {
    let pki = pki();
    let pfx = keystore_pfx(&[("mismatch", &pki.other_rsa, &pki.leaf_rsa)]);
    let error = expect_code(parse(&pfx, Some(PASSWORD)), "KeyMismatch");
    assert!(error.to_string().contains("CN=gatehouse-client, O=Bars"));
}

#[test]
fn rsa_1024_is_a_weak_key() {
    let pfx = support::cached("rsa1024.pfx", || {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "rsa1024-key.pem",
            "-out",
            "rsa1024-cert.pem",
            "-subj",
            "/O=Bars/CN=weak-client",
            "-days",
            "30",
        ]);
        let key = std::fs::read_to_string(support::dir().join("rsa1024-key.pem")).expect("key");
        support::remember_key_pem(&key);
        let passout = format!("pass:{PASSWORD}");
        openssl(&[
            "pkcs12",
            "-export",
            "-in",
            "rsa1024-cert.pem",
            "-inkey",
            "rsa1024-key.pem",
            "-out",
            "rsa1024.pfx",
            "-passout",
            &passout,
        ]);
        std::fs::read(support::dir().join("rsa1024.pfx")).expect("pfx")
    });
    let error = expect_code(parse(&pfx, Some(PASSWORD)), "WeakKey");
    assert!(error.to_string().contains("1024 bits"));
}

#[test]
fn huge_iteration_count_is_refused_quickly() {
    let pfx = leaf_pfx("iter-2m", &["-iter", "2000000"]);
    let started = Instant::now();
    let error = expect_code(parse(&pfx, Some(PASSWORD)), "ExcessiveIterations");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        error.to_string(),
        "the file uses 2000000 key-derivation iterations, more than the limit of 1000000; re-export it with fewer"
    );
}

#[test]
fn limits_are_configurable() {
    let pfx = leaf_pfx("iter-20k", &["-iter", "20000"]);
    let strict = Limits {
        max_kdf_iterations: 10_000,
        ..Limits::default()
    };
    expect_code(
        parse_pkcs12(&pfx, Some(PASSWORD), &strict),
        "ExcessiveIterations",
    );
    parse(&pfx, Some(PASSWORD)).expect("default limits accept 20000");

    let tiny = Limits {
        max_input_bytes: 512,
        ..Limits::default()
    };
    let error = expect_code(parse_pkcs12(&pfx, Some(PASSWORD), &tiny), "TooLarge");
    assert!(error.to_string().contains("limit of 512 bytes"));
}

#[test]
fn client_certificate_debug_redacts_the_key() {
    let parsed = parse(&leaf_pfx("default-rsa", &[]), Some(PASSWORD)).expect("parse");
    let debug = format!("{parsed:?}");
    assert!(debug.contains("<redacted>"));
    assert!(debug.contains("gatehouse-client"));
    assert_no_secrets("", &debug);
    let key_bytes = format!("{:?}", &parsed.key[..12]);
    assert!(!debug.contains(key_bytes.trim_matches(['[', ']'])));
}
