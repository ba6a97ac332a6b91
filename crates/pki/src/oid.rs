//! Object identifiers in dotted form. Comparing dotted strings keeps the
//! tables readable and checkable against the RFCs by eye.

// PKCS#7 / CMS content types (RFC 5652).
pub(crate) const DATA: &str = "1.2.840.113549.1.7.1";
pub(crate) const ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
pub(crate) const ENCRYPTED_DATA: &str = "1.2.840.113549.1.7.6";

// PKCS#12 bag types (RFC 7292 section 4.2).
pub(crate) const KEY_BAG: &str = "1.2.840.113549.1.12.10.1.1";
pub(crate) const SHROUDED_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.2";
pub(crate) const CERT_BAG: &str = "1.2.840.113549.1.12.10.1.3";
pub(crate) const SAFE_CONTENTS_BAG: &str = "1.2.840.113549.1.12.10.1.6";
pub(crate) const X509_CERTIFICATE: &str = "1.2.840.113549.1.9.22.1";

// PKCS#12 password-based encryption (RFC 7292 appendix C).
pub(crate) const PBE_SHA1_RC4_128: &str = "1.2.840.113549.1.12.1.1";
pub(crate) const PBE_SHA1_RC4_40: &str = "1.2.840.113549.1.12.1.2";
pub(crate) const PBE_SHA1_3DES: &str = "1.2.840.113549.1.12.1.3";
pub(crate) const PBE_SHA1_2DES: &str = "1.2.840.113549.1.12.1.4";
pub(crate) const PBE_SHA1_RC2_128: &str = "1.2.840.113549.1.12.1.5";
pub(crate) const PBE_SHA1_RC2_40: &str = "1.2.840.113549.1.12.1.6";

// PKCS#5 (RFC 8018).
pub(crate) const PBES2: &str = "1.2.840.113549.1.5.13";
pub(crate) const PBKDF2: &str = "1.2.840.113549.1.5.12";
pub(crate) const PBMAC1: &str = "1.2.840.113549.1.5.14";
pub(crate) const SCRYPT: &str = "1.3.6.1.4.1.11591.4.11";
pub(crate) const HMAC_SHA1: &str = "1.2.840.113549.2.7";
pub(crate) const HMAC_SHA224: &str = "1.2.840.113549.2.8";
pub(crate) const HMAC_SHA256: &str = "1.2.840.113549.2.9";
pub(crate) const HMAC_SHA384: &str = "1.2.840.113549.2.10";
pub(crate) const HMAC_SHA512: &str = "1.2.840.113549.2.11";
pub(crate) const AES_128_CBC: &str = "2.16.840.1.101.3.4.1.2";
pub(crate) const AES_192_CBC: &str = "2.16.840.1.101.3.4.1.22";
pub(crate) const AES_256_CBC: &str = "2.16.840.1.101.3.4.1.42";
pub(crate) const DES_EDE3_CBC: &str = "1.2.840.113549.3.7";
pub(crate) const DES_CBC: &str = "1.3.14.3.2.7";

// Digests.
pub(crate) const SHA1: &str = "1.3.14.3.2.26";
pub(crate) const SHA224: &str = "2.16.840.1.101.3.4.2.4";
pub(crate) const SHA256: &str = "2.16.840.1.101.3.4.2.1";
pub(crate) const SHA384: &str = "2.16.840.1.101.3.4.2.2";
pub(crate) const SHA512: &str = "2.16.840.1.101.3.4.2.3";

// Key algorithms.
pub(crate) const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
pub(crate) const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
pub(crate) const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
pub(crate) const ED25519: &str = "1.3.101.112";
pub(crate) const ED448: &str = "1.3.101.113";
pub(crate) const X25519: &str = "1.3.101.110";
pub(crate) const DSA: &str = "1.2.840.10040.4.1";
pub(crate) const P256: &str = "1.2.840.10045.3.1.7";
pub(crate) const P384: &str = "1.3.132.0.34";
pub(crate) const P521: &str = "1.3.132.0.35";

// Signature algorithms.
pub(crate) const SHA1_WITH_RSA: &str = "1.2.840.113549.1.1.5";
pub(crate) const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
pub(crate) const SHA384_WITH_RSA: &str = "1.2.840.113549.1.1.12";
pub(crate) const SHA512_WITH_RSA: &str = "1.2.840.113549.1.1.13";
pub(crate) const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
pub(crate) const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";
pub(crate) const ECDSA_WITH_SHA512: &str = "1.2.840.10045.4.3.4";

/// Human name of a curve for messages and `key_algorithm`.
pub(crate) fn curve_name(curve: &str) -> Option<&'static str> {
    match curve {
        P256 => Some("P-256"),
        P384 => Some("P-384"),
        P521 => Some("P-521"),
        _ => None,
    }
}
