//! CA certificates for back-end trust, and `certificate_info`.

use gatehouse_pki::{certificate_info, parse_ca_certificate};

use crate::support::{self, expect_code, leaf_pfx, openssl_thumbprint, pki};

#[test]
fn pem_and_der_ca_certificates() {
    let root = &pki().root;
    let (der, info) = parse_ca_certificate(root.cert_pem.as_bytes()).expect("PEM");
    assert_eq!(der.as_ref(), root.cert_der.as_slice());
    assert_eq!(info.subject, "CN=Gatehouse Test Root, O=Bars");
    assert!(info.is_ca);
    assert!(info.self_signed);
    assert_eq!(info.key_algorithm, "ECDSA P-256");
    assert_eq!(info.thumbprint, openssl_thumbprint(&root.cert_pem));

    let (der, from_der) = parse_ca_certificate(&root.cert_der).expect("DER");
    assert_eq!(der.as_ref(), root.cert_der.as_slice());
    assert_eq!(from_der, info);

    let intermediate = certificate_info(&pki().intermediate.cert_der).expect("info");
    assert!(intermediate.is_ca);
    assert!(!intermediate.self_signed);
    assert_eq!(intermediate.issuer, "CN=Gatehouse Test Root, O=Bars");
}

#[test]
fn ca_upload_refusals() {
    let pki = pki();
    let with_key = format!("{}{}", pki.root.cert_pem, pki.root.key_pem);
    expect_code(
        parse_ca_certificate(with_key.as_bytes()),
        "UnexpectedPrivateKey",
    );
    expect_code(
        parse_ca_certificate(&pki.root.key_der),
        "UnexpectedPrivateKey",
    );

    let two = format!("{}{}", pki.root.cert_pem, pki.intermediate.cert_pem);
    let error = expect_code(parse_ca_certificate(two.as_bytes()), "MultipleCertificates");
    assert!(error.to_string().contains("2 certificates"));
    let mut two_der = pki.root.cert_der.clone();
    two_der.extend_from_slice(&pki.intermediate.cert_der);
    expect_code(parse_ca_certificate(&two_der), "MultipleCertificates");

    expect_code(parse_ca_certificate(b"hello"), "NotACertificate");
    expect_code(
        parse_ca_certificate(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        "NotACertificate",
    );
    let pfx = leaf_pfx("default-rsa", &[]);
    let error = expect_code(parse_ca_certificate(&pfx), "NotACertificate");
    assert!(error.to_string().contains("PKCS#12"));

    let mut truncated = pki.root.cert_der.clone();
    truncated.truncate(truncated.len() - 10);
    expect_code(certificate_info(&truncated), "InvalidCertificate");
}

#[test]
fn serial_matches_openssl() {
    for identity in [&pki().root, &pki().leaf_rsa, &pki().ed25519] {
        let info = certificate_info(&identity.cert_der).expect("info");
        assert_eq!(
            info.serial_number,
            support::openssl_serial(&identity.cert_pem)
        );
    }
}
