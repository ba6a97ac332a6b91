//! The crate's error type.
//!
//! The management API hands `code()` and the `Display` text to operators
//! verbatim, so every message says what is wrong and what to do about it,
//! and none ever carries a password, key bytes or other secret input.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What non-PKCS#12 input looked like, to point the operator at the right field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectedFormat {
    /// PEM text, or base64 of PEM text.
    Pem,
    /// Base64 text (the upload was encoded twice).
    Base64Text,
    /// Nothing recognisable.
    Unrecognized,
}

/// Error with a stable machine code ([`PkiError::code`]) and an actionable message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The upload is larger than [`crate::Limits::max_input_bytes`].
    #[error(
        "the upload is {size} bytes, more than the limit of {limit} bytes; a certificate with its key and chain is normally a few kilobytes"
    )]
    TooLarge {
        /// Size of the upload in bytes.
        size: usize,
        /// The configured limit in bytes.
        limit: usize,
    },

    /// The data is not PKCS#12 at all.
    #[error("{}", not_pkcs12_message(*detected))]
    NotPkcs12 {
        /// What the data looked like instead.
        detected: DetectedFormat,
    },

    /// Recognisably PKCS#12 (or DER), but truncated or corrupt.
    #[error("the PKCS#12 file is damaged or truncated ({reason}); export it again")]
    Damaged {
        /// Which structure was broken; never contains input bytes.
        reason: String,
    },

    /// The file is protected and no password was given.
    #[error("the file is password-protected; provide its password in properties.password")]
    PasswordRequired,

    /// The MAC did not verify, or decryption failed, with the given password.
    #[error("the password is incorrect, or the file is damaged")]
    PasswordIncorrect,

    /// A recognised but unimplemented cipher, KDF or MAC.
    #[error(
        "the file is protected with {algorithm}, which is not supported; export it again with AES-256-CBC and PBKDF2 (the `openssl pkcs12 -export` default, or `openssl pkcs8 -topk8 -v2 aes-256-cbc` for a PEM key)"
    )]
    UnsupportedEncryption {
        /// The algorithm, by name or OID.
        algorithm: String,
    },

    /// A KDF or MAC iteration count above [`crate::Limits::max_kdf_iterations`].
    #[error(
        "the file uses {iterations} key-derivation iterations, more than the limit of {limit}; re-export it with fewer"
    )]
    ExcessiveIterations {
        /// The count found in the file (saturated at `u64::MAX`).
        iterations: u64,
        /// The configured limit.
        limit: u64,
    },

    /// A PKCS#12 file with certificates only.
    #[error(
        "the PKCS#12 file holds certificates only, no private key; export the certificate again together with its private key"
    )]
    NoPrivateKey,

    /// A PKCS#12 file with a key but no certificate.
    #[error(
        "the PKCS#12 file holds a private key but no certificate; export the certificate together with its private key"
    )]
    NoCertificate,

    /// More than one candidate private key; the crate never guesses.
    #[error(
        "the upload holds {count} private keys; it must hold exactly one, the key of the client certificate"
    )]
    MultipleKeys {
        /// How many keys were found.
        count: usize,
    },

    /// No certificate in the upload matches the private key.
    #[error(
        "the private key does not belong to the certificate {subject}{}; upload the certificate together with its own private key",
        others_clause(*certificates)
    )]
    KeyMismatch {
        /// Subject of the certificate the key was most likely meant for: the
        /// first non-CA certificate, else the first certificate.
        subject: String,
        /// How many certificates were compared with the key.
        certificates: usize,
    },

    /// A key type the gateway cannot sign with.
    #[error(
        "the private key type {algorithm} is not supported; use RSA (2048 to 8192 bits), ECDSA P-256, P-384 or P-521, or Ed25519"
    )]
    UnsupportedKeyType {
        /// The key type, e.g. "DSA" or "Ed448".
        algorithm: String,
    },

    /// An RSA key shorter than 2048 bits.
    #[error(
        "the RSA key has only {bits} bits; at least 2048 bits are required, so issue a new certificate with a stronger key"
    )]
    WeakKey {
        /// Modulus length in bits.
        bits: usize,
    },

    /// Key bytes that do not form a usable private key.
    #[error("the private key is malformed ({reason}); export it again")]
    InvalidPrivateKey {
        /// What was wrong; never contains key bytes.
        reason: String,
    },

    /// A certificate that X.509 parsing rejected.
    #[error("a certificate cannot be parsed ({reason}); upload a valid X.509 certificate")]
    InvalidCertificate {
        /// The parser's reason.
        reason: String,
        /// The parser's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// PEM input without a certificate block.
    #[error(
        "the PEM text has no certificate; include the client certificate (and its chain) as -----BEGIN CERTIFICATE----- blocks"
    )]
    PemNoCertificate,

    /// PEM input without a private key block.
    #[error(
        "the PEM text has no private key; include it as a -----BEGIN PRIVATE KEY----- block (or ENCRYPTED PRIVATE KEY with properties.password)"
    )]
    PemNoPrivateKey,

    /// An `ENCRYPTED PRIVATE KEY` block and no password.
    #[error(
        "the PEM private key is encrypted (ENCRYPTED PRIVATE KEY); provide its password in properties.password"
    )]
    PemEncryptedKeyNeedsPassword,

    /// OpenSSL's traditional `Proc-Type: 4,ENCRYPTED` key encryption.
    #[error(
        "the PEM private key uses OpenSSL's traditional encryption (Proc-Type: 4,ENCRYPTED), which is not supported; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key-pkcs8.pem`"
    )]
    LegacyPemEncryption,

    /// Broken PEM framing or base64.
    #[error("the PEM text is malformed ({reason})")]
    PemMalformed {
        /// What was wrong; never contains input text.
        reason: String,
    },

    /// The certificate's notAfter is in the past.
    #[error(
        "the certificate expired at {}; renew it, or set properties.allowExpired: true to accept it anyway",
        rfc3339(not_after)
    )]
    CertificateExpired {
        /// The certificate's notAfter.
        not_after: OffsetDateTime,
    },

    /// The certificate's notBefore is in the future.
    #[error(
        "the certificate is not valid until {}; check the clock of the issuing system, or set properties.allowExpired: true to accept it anyway",
        rfc3339(not_before)
    )]
    CertificateNotYetValid {
        /// The certificate's notBefore.
        not_before: OffsetDateTime,
    },

    /// A CA upload that is not a certificate.
    #[error(
        "the data is not an X.509 certificate ({reason}); upload the CA certificate as PEM or DER"
    )]
    NotACertificate {
        /// What the data was instead, or the parser's reason.
        reason: String,
    },

    /// A CA upload that carries a private key.
    #[error(
        "the upload contains a private key; a CA certificate must be uploaded without any key, so remove the key (and keep it secret)"
    )]
    UnexpectedPrivateKey,

    /// A CA upload with several certificates.
    #[error("the upload holds {count} certificates; upload each CA certificate on its own")]
    MultipleCertificates {
        /// How many certificates were found.
        count: usize,
    },

    /// Encryption for storage failed (practically only if the system RNG fails).
    #[error("cannot encrypt the secret for storage: the system random number generator failed")]
    SealFailed,

    /// Authenticated decryption failed.
    #[error(
        "cannot decrypt: the master key is not the one this data was sealed with, or the data is corrupt"
    )]
    OpenFailed,

    /// A master key that is not 32 bytes of valid base64.
    #[error(
        "the master key is invalid ({reason}); it must be 32 random bytes, base64-encoded (generate one with `openssl rand -base64 32`)"
    )]
    InvalidMasterKey {
        /// What was wrong; never contains key material.
        reason: &'static str,
    },

    /// The system random number generator failed while generating a key.
    #[error("cannot generate a master key: the system random number generator failed")]
    KeyGenerationFailed,
}

impl PkiError {
    /// Stable PascalCase machine code, equal to the variant name.
    pub fn code(&self) -> &'static str {
        match self {
            PkiError::TooLarge { .. } => "TooLarge",
            PkiError::NotPkcs12 { .. } => "NotPkcs12",
            PkiError::Damaged { .. } => "Damaged",
            PkiError::PasswordRequired => "PasswordRequired",
            PkiError::PasswordIncorrect => "PasswordIncorrect",
            PkiError::UnsupportedEncryption { .. } => "UnsupportedEncryption",
            PkiError::ExcessiveIterations { .. } => "ExcessiveIterations",
            PkiError::NoPrivateKey => "NoPrivateKey",
            PkiError::NoCertificate => "NoCertificate",
            PkiError::MultipleKeys { .. } => "MultipleKeys",
            PkiError::KeyMismatch { .. } => "KeyMismatch",
            PkiError::UnsupportedKeyType { .. } => "UnsupportedKeyType",
            PkiError::WeakKey { .. } => "WeakKey",
            PkiError::InvalidPrivateKey { .. } => "InvalidPrivateKey",
            PkiError::InvalidCertificate { .. } => "InvalidCertificate",
            PkiError::PemNoCertificate => "PemNoCertificate",
            PkiError::PemNoPrivateKey => "PemNoPrivateKey",
            PkiError::PemEncryptedKeyNeedsPassword => "PemEncryptedKeyNeedsPassword",
            PkiError::LegacyPemEncryption => "LegacyPemEncryption",
            PkiError::PemMalformed { .. } => "PemMalformed",
            PkiError::CertificateExpired { .. } => "CertificateExpired",
            PkiError::CertificateNotYetValid { .. } => "CertificateNotYetValid",
            PkiError::NotACertificate { .. } => "NotACertificate",
            PkiError::UnexpectedPrivateKey => "UnexpectedPrivateKey",
            PkiError::MultipleCertificates { .. } => "MultipleCertificates",
            PkiError::SealFailed => "SealFailed",
            PkiError::OpenFailed => "OpenFailed",
            PkiError::InvalidMasterKey { .. } => "InvalidMasterKey",
            PkiError::KeyGenerationFailed => "KeyGenerationFailed",
        }
    }

    pub(crate) fn damaged(reason: impl std::fmt::Display) -> Self {
        PkiError::Damaged {
            reason: reason.to_string(),
        }
    }
}

fn not_pkcs12_message(detected: DetectedFormat) -> &'static str {
    match detected {
        DetectedFormat::Pem => {
            "the data is not a PKCS#12 (.pfx/.p12) file: this looks like PEM; send it in properties.pem instead of properties.data"
        }
        DetectedFormat::Base64Text => {
            "the data is not a PKCS#12 (.pfx/.p12) file: it is base64 text, so it was encoded twice; base64-encode the binary file once"
        }
        DetectedFormat::Unrecognized => {
            "the data is not a PKCS#12 (.pfx/.p12) file; upload the binary .pfx file, base64-encoded, or send PEM text in properties.pem"
        }
    }
}

fn others_clause(certificates: usize) -> String {
    match certificates {
        0 | 1 => String::new(),
        2 => " (nor to the other certificate in the upload)".to_string(),
        n => format!(
            " (nor to any of the other {} certificates in the upload)",
            n - 1
        ),
    }
}

fn rfc3339(at: &OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}
