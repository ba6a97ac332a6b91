//! Certificate and key handling for Gatehouse's back-end client certificate
//! authentication.
//!
//! Operators upload a password-protected PKCS#12 file (`.pfx`/`.p12`) or PEM
//! text with a certificate chain and its private key; the gateway later
//! presents that certificate in mutual TLS to back ends. This crate turns
//! such uploads into a checked [`ClientCertificate`] (the chain in
//! leaf-to-issuer order, the key normalised to PKCS#8, and a
//! [`CertificateInfo`] for display), reads CA certificates for back-end
//! trust ([`parse_ca_certificate`]), loads keys for rustls ([`signing_key`]),
//! and seals secrets for storage with a [`MasterKey`] (AES-256-GCM).
//!
//! Every failure is a [`PkiError`] with a stable [`PkiError::code`] and a
//! message meant to be shown to the operator as is; none ever contains a
//! password or key material.
//!
//! Uploads are hostile input: sizes are capped ([`Limits`]), PKCS#12
//! structures are walked and their key-derivation iteration counts checked
//! before any password-based KDF runs, and parsing never panics.
//!
//! The crate is pure computation: it must not do I/O, must not be async and
//! must not know about the database or HTTP; callers pass bytes in and store
//! what comes out.

mod bundle;
mod der;
mod error;
mod info;
mod keys;
mod oid;
mod pbe;
mod pem;
mod pkcs12;
mod seal;

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;

pub use error::{DetectedFormat, PkiError};
pub use info::CertificateInfo;
pub use seal::MasterKey;

/// Bounds on the work an upload may cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted upload in bytes. A certificate with its key and a
    /// long chain is a few kilobytes; 256 KiB leaves ample room while
    /// keeping parsing memory and time trivially small.
    pub max_input_bytes: usize,
    /// Largest accepted iteration count for any password-based KDF or MAC in
    /// the upload. Common writers use 2,048 (OpenSSL) to 600,000 (current
    /// OWASP advice for PBKDF2); 1,000,000 accepts all of them while capping
    /// the CPU a hostile file can demand at about a second per derivation.
    pub max_kdf_iterations: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 256 * 1024,
            max_kdf_iterations: 1_000_000,
        }
    }
}

/// How a PKCS#12 file was protected, for display and for warning about old exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs12Encryption {
    /// For example "AES-256-CBC with PBKDF2-HMAC-SHA256 (2048 iterations), MAC HMAC-SHA256".
    pub description: String,
    /// RC2, 3DES, the SHA-1 PKCS#12 KDF, PBKDF2 with HMAC-SHA1, or a SHA-1 MAC:
    /// readable, but worth re-exporting with current defaults.
    pub legacy: bool,
}

/// Where a [`ClientCertificate`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    /// A PKCS#12 (`.pfx`/`.p12`) file.
    Pkcs12 {
        /// How the file was protected.
        encryption: Pkcs12Encryption,
    },
    /// PEM text.
    Pem {
        /// Whether the key was an `ENCRYPTED PRIVATE KEY`.
        key_was_encrypted: bool,
    },
}

/// A certificate with its private key, parsed and checked, ready to store.
#[derive(Clone)]
pub struct ClientCertificate {
    /// The leaf first, then the rest of the upload's certificates ordered
    /// leaf -> issuer -> issuer's issuer; certificates not on that path
    /// follow in upload order. Duplicates are removed.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key as PKCS#8 DER (PKCS#1 and SEC1 keys are converted).
    pub key: zeroize::Zeroizing<Vec<u8>>,
    /// Facts about the leaf certificate.
    pub info: CertificateInfo,
    /// The upload format.
    pub source: SourceFormat,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .field("info", &self.info)
            .field("source", &self.source)
            .finish()
    }
}

/// Reads a PKCS#12 file holding one private key and its certificate (plus
/// any chain).
///
/// An absent or empty `password` is tried in both encodings PKCS#12 writers
/// use for "no password".
///
/// # Errors
///
/// `TooLarge`, `NotPkcs12`, `Damaged`, `ExcessiveIterations`,
/// `UnsupportedEncryption`, `PasswordRequired`, `PasswordIncorrect`,
/// `NoPrivateKey`, `NoCertificate`, `MultipleKeys`, `KeyMismatch`,
/// `UnsupportedKeyType`, `WeakKey`, `InvalidPrivateKey` and
/// `InvalidCertificate` (see [`PkiError`]).
pub fn parse_pkcs12(
    data: &[u8],
    password: Option<&str>,
    limits: &Limits,
) -> Result<ClientCertificate, PkiError> {
    pkcs12::parse(data, password, limits)
}

/// Reads PEM text holding a certificate chain and one private key, in any
/// order. The leaf is the certificate whose public key matches the key.
///
/// Accepts `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE
/// KEY` (SEC1) and `ENCRYPTED PRIVATE KEY` (PBES2 with PBKDF2, or PKCS#12
/// PBE) with `password`.
///
/// # Errors
///
/// `TooLarge`, `PemMalformed`, `PemNoCertificate`, `PemNoPrivateKey`,
/// `MultipleKeys`, `PemEncryptedKeyNeedsPassword`, `PasswordIncorrect`,
/// `LegacyPemEncryption`, `ExcessiveIterations`, `UnsupportedEncryption`,
/// `KeyMismatch`, `UnsupportedKeyType`, `WeakKey`, `InvalidPrivateKey` and
/// `InvalidCertificate` (see [`PkiError`]).
pub fn parse_pem(
    pem: &str,
    password: Option<&str>,
    limits: &Limits,
) -> Result<ClientCertificate, PkiError> {
    pem::parse(pem, password, limits)
}

/// Reads a CA certificate for back-end trust: DER bytes or PEM text bytes
/// holding exactly one certificate and no private key.
///
/// # Errors
///
/// `TooLarge` (over the default [`Limits::max_input_bytes`]),
/// `NotACertificate`, `UnexpectedPrivateKey`, `MultipleCertificates`,
/// `PemMalformed` and `InvalidCertificate` (see [`PkiError`]).
pub fn parse_ca_certificate(
    data: &[u8],
) -> Result<(CertificateDer<'static>, CertificateInfo), PkiError> {
    pem::parse_ca(data)
}

/// Describes one DER certificate.
///
/// # Errors
///
/// `InvalidCertificate` if the data is not a single well-formed X.509 certificate.
pub fn certificate_info(der: &[u8]) -> Result<CertificateInfo, PkiError> {
    info::parse_certificate(der).map(|parsed| parsed.info)
}

/// A distinguished name (DER, with or without its outer SEQUENCE, as servers send them in a
/// CertificateRequest) as text, most specific first; `None` when it does not parse.
pub fn distinguished_name(der: &[u8]) -> Option<String> {
    info::format_name(der).ok().or_else(|| {
        let mut wrapped = vec![0x30];
        let len = der.len();
        if len < 0x80 {
            wrapped.push(u8::try_from(len).ok()?);
        } else if len <= 0xff {
            wrapped.extend([0x81, u8::try_from(len).ok()?]);
        } else {
            wrapped.extend([
                0x82,
                u8::try_from(len >> 8).ok()?,
                u8::try_from(len & 0xff).ok()?,
            ]);
        }
        wrapped.extend_from_slice(der);
        info::format_name(&wrapped).ok()
    })
}

/// Whether `issuer` (DER) issued `certificate` (DER): names match and the signature verifies
/// with the issuer's key. `false` when either does not parse or the algorithm is unknown.
pub fn issued_by(certificate: &[u8], issuer: &[u8]) -> bool {
    info::issued_by(certificate, issuer)
}

/// SHA-256 of a DER certificate's SubjectPublicKeyInfo.
///
/// # Errors
///
/// `InvalidCertificate` if the data is not an X.509 certificate.
pub fn public_key_digest(certificate: &[u8]) -> Result<[u8; 32], PkiError> {
    info::public_key_digest(certificate)
}

/// Refuses certificates outside their validity period at `now`.
///
/// # Errors
///
/// `CertificateExpired` after notAfter, `CertificateNotYetValid` before
/// notBefore; both messages give the date in RFC 3339 and say that
/// `properties.allowExpired: true` overrides the check.
pub fn check_validity(info: &CertificateInfo, now: time::OffsetDateTime) -> Result<(), PkiError> {
    info::check_validity(info, now)
}

/// Loads a PKCS#8 key into a rustls signing key with the aws-lc-rs provider.
///
/// # Errors
///
/// `UnsupportedKeyType`, `WeakKey` or `InvalidPrivateKey` if the key cannot
/// be used for signing.
pub fn signing_key(pkcs8_der: &[u8]) -> Result<Arc<dyn rustls::sign::SigningKey>, PkiError> {
    keys::load_signing_key(pkcs8_der)
}
