//! The demo's certificates, made with rcgen: the back end's TLS certificate for `localhost`
//! and the client certificate the gateway presents. Both are self-signed, as the article
//! allows for a test set-up; nothing about them outlives the demo.

use anyhow::Context as _;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

/// Subject common name of the demo's client certificate.
pub(super) const CLIENT_CN: &str = "gatehouse-demo-client";
/// Subject organisation of the demo's client certificate.
pub(super) const CLIENT_O: &str = "Gatehouse Demo";

/// A generated certificate with its private key.
pub(super) struct Generated {
    /// The certificate, DER.
    pub(super) der: CertificateDer<'static>,
    /// The certificate, PEM.
    pub(super) cert_pem: String,
    /// The private key, PKCS#8 DER.
    key_der: Zeroizing<Vec<u8>>,
    /// The private key, PKCS#8 PEM.
    key_pem: Zeroizing<String>,
}

impl Generated {
    /// The certificate followed by its key, as `PUT /certificates/{id}` takes `pem`.
    pub(super) fn cert_and_key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}{}", self.cert_pem, self.key_pem.as_str()))
    }

    /// The identity a rustls server presents: the chain (just the certificate) and the key.
    pub(super) fn identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.to_vec())),
        )
    }
}

/// The back end's server certificate: `CN=localhost`, SAN `DNS:localhost`, so the gateway's
/// host-name check passes for `https://localhost:<port>` without being switched off.
pub(super) fn server_certificate() -> anyhow::Result<Generated> {
    let mut params = CertificateParams::new(vec!["localhost".to_string()])
        .context("cannot describe the back end's certificate")?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    generate(params).context("cannot create the back end's TLS certificate")
}

/// The client certificate: `CN=gatehouse-demo-client, O=Gatehouse Demo`, for client
/// authentication.
pub(super) fn client_certificate() -> anyhow::Result<Generated> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).context("cannot describe the certificate")?;
    // DER order is least specific first; APIM-style subjects read it back to front, so this
    // shows as `CN=gatehouse-demo-client, O=Gatehouse Demo`.
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, CLIENT_O);
    params
        .distinguished_name
        .push(DnType::CommonName, CLIENT_CN);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    generate(params).context("cannot create the client certificate")
}

/// Signs `params` with a new ECDSA P-256 key, valid from an hour ago (clock skew between the
/// parts cannot matter in one process, but an operator copying the certificate elsewhere
/// might meet some) for a year.
fn generate(mut params: CertificateParams) -> anyhow::Result<Generated> {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    Ok(Generated {
        der: cert.der().clone(),
        cert_pem: cert.pem(),
        key_der: Zeroizing::new(key.serialize_der()),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}
