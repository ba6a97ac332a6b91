//! Private keys: normalisation to PKCS#8, type and size policy, loading into
//! rustls, and the public key used to find the matching certificate.

use std::sync::Arc;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair,
};
use rustls::sign::SigningKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::PkiError;
use crate::der::{self, DerError, Element, Reader, tag};
use crate::oid;

/// Smallest RSA modulus accepted; NIST has disallowed anything shorter since 2013.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus aws-lc-rs signs with.
const MAX_RSA_BITS: usize = 8192;

/// A private key as found in an upload, before normalisation.
pub(crate) enum RawKey {
    Pkcs8(Zeroizing<Vec<u8>>),
    /// `RSA PRIVATE KEY` (RFC 8017 `RSAPrivateKey`).
    Pkcs1(Zeroizing<Vec<u8>>),
    /// `EC PRIVATE KEY` (RFC 5915 `ECPrivateKey`).
    Sec1(Zeroizing<Vec<u8>>),
}

fn invalid(reason: impl Into<String>) -> PkiError {
    PkiError::InvalidPrivateKey {
        reason: reason.into(),
    }
}

fn invalid_der(error: DerError) -> PkiError {
    invalid(error.0)
}

/// Converts any accepted encoding to PKCS#8 and applies the key policy.
pub(crate) fn normalize(raw: RawKey) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let pkcs8 = match raw {
        RawKey::Pkcs8(der) => der,
        RawKey::Pkcs1(der) => {
            rsa_bits_from_pkcs1(&der).and_then(check_rsa_bits)?;
            wrap_pkcs1(&der)
        }
        RawKey::Sec1(der) => sec1_to_pkcs8(&der)?,
    };
    check_pkcs8_policy(&pkcs8)?;
    Ok(pkcs8)
}

/// Describes a PKCS#8 key and refuses types and sizes the gateway will not use.
pub(crate) fn check_pkcs8_policy(pkcs8: &[u8]) -> Result<(), PkiError> {
    let top = der::parse_single(pkcs8)
        .and_then(|e| e.expect(tag::SEQUENCE, "a private key must be a SEQUENCE"))
        .map_err(invalid_der)?;
    let mut fields = top.children().map_err(invalid_der)?;
    fields
        .expect(tag::INTEGER, "missing PKCS#8 version")
        .map_err(invalid_der)?;
    let algorithm = fields
        .expect(tag::SEQUENCE, "missing PKCS#8 algorithm")
        .map_err(invalid_der)?;
    let private_key = fields
        .expect(tag::OCTET_STRING, "missing PKCS#8 key octets")
        .map_err(invalid_der)?;
    let (algorithm_oid, parameter) = algorithm_and_parameter(&algorithm).map_err(invalid_der)?;
    match algorithm_oid.as_str() {
        oid::RSA_ENCRYPTION => rsa_bits_from_pkcs1(private_key.contents).and_then(check_rsa_bits),
        oid::EC_PUBLIC_KEY => match parameter.as_deref().and_then(oid::curve_name) {
            Some(_) => Ok(()),
            None => Err(PkiError::UnsupportedKeyType {
                algorithm: format!(
                    "EC on curve {}",
                    parameter.as_deref().unwrap_or("(not named)")
                ),
            }),
        },
        oid::ED25519 => Ok(()),
        other => Err(PkiError::UnsupportedKeyType {
            algorithm: algorithm_name(other),
        }),
    }
}

fn check_rsa_bits(bits: usize) -> Result<(), PkiError> {
    if bits < MIN_RSA_BITS {
        Err(PkiError::WeakKey { bits })
    } else if bits > MAX_RSA_BITS {
        Err(PkiError::UnsupportedKeyType {
            algorithm: format!("RSA {bits}"),
        })
    } else {
        Ok(())
    }
}

/// Readable name of a key algorithm OID for messages.
pub(crate) fn algorithm_name(algorithm_oid: &str) -> String {
    match algorithm_oid {
        oid::RSA_ENCRYPTION => "RSA".into(),
        oid::RSASSA_PSS => "RSASSA-PSS (PSS-restricted RSA)".into(),
        oid::EC_PUBLIC_KEY => "EC".into(),
        oid::ED25519 => "Ed25519".into(),
        oid::ED448 => "Ed448".into(),
        oid::X25519 => "X25519".into(),
        oid::DSA => "DSA".into(),
        other => format!("OID {other}"),
    }
}

/// The algorithm OID and, when it is an OID, the parameter (the curve for EC).
pub(crate) fn algorithm_and_parameter(
    algorithm: &Element<'_>,
) -> Result<(String, Option<String>), DerError> {
    let mut fields = algorithm.children()?;
    let id = fields
        .expect(tag::OID, "expected an algorithm OID")?
        .oid()?;
    let parameter = match fields.optional(tag::OID)? {
        Some(curve) => Some(curve.oid()?),
        None => None,
    };
    Ok((id, parameter))
}

/// Modulus length of a PKCS#1 `RSAPrivateKey`.
fn rsa_bits_from_pkcs1(pkcs1: &[u8]) -> Result<usize, PkiError> {
    let top = der::parse_single(pkcs1)
        .and_then(|e| e.expect(tag::SEQUENCE, "an RSA key must be a SEQUENCE"))
        .map_err(invalid_der)?;
    let mut fields = top.children().map_err(invalid_der)?;
    fields
        .expect(tag::INTEGER, "missing RSA key version")
        .map_err(invalid_der)?;
    let modulus = fields
        .expect(tag::INTEGER, "missing RSA modulus")
        .and_then(|m| m.uint_bytes())
        .map_err(invalid_der)?;
    Ok(bit_length(modulus))
}

/// Bit length of a big-endian magnitude without leading zero bytes.
pub(crate) fn bit_length(magnitude: &[u8]) -> usize {
    match magnitude.first() {
        None => 0,
        Some(first) => (magnitude.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

fn wrap_pkcs1(pkcs1: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut algorithm = der::encode_oid(oid::RSA_ENCRYPTION);
    algorithm.extend_from_slice(&[tag::NULL, 0]);
    let mut body = Zeroizing::new(vec![tag::INTEGER, 1, 0]);
    body.extend_from_slice(&der::encode(tag::SEQUENCE, &algorithm));
    body.extend_from_slice(&Zeroizing::new(der::encode(tag::OCTET_STRING, pkcs1)));
    Zeroizing::new(der::encode(tag::SEQUENCE, &body))
}

fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let top = der::parse_single(sec1)
        .and_then(|e| e.expect(tag::SEQUENCE, "an EC key must be a SEQUENCE"))
        .map_err(invalid_der)?;
    let mut fields = top.children().map_err(invalid_der)?;
    fields
        .expect(tag::INTEGER, "missing EC key version")
        .map_err(invalid_der)?;
    fields
        .expect(tag::OCTET_STRING, "missing EC private key")
        .map_err(invalid_der)?;
    let curve = match fields.optional(tag::CONTEXT_0).map_err(invalid_der)? {
        Some(parameters) => {
            let mut inner = parameters.children().map_err(invalid_der)?;
            match inner.optional(tag::OID).map_err(invalid_der)? {
                Some(curve) => curve.oid().map_err(invalid_der)?,
                None => {
                    return Err(PkiError::UnsupportedKeyType {
                        algorithm: "EC with explicit curve parameters".into(),
                    });
                }
            }
        }
        None => return Err(invalid("the EC key does not name its curve")),
    };
    let signing = match curve.as_str() {
        oid::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
        oid::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
        oid::P521 => &ECDSA_P521_SHA512_ASN1_SIGNING,
        other => {
            return Err(PkiError::UnsupportedKeyType {
                algorithm: format!("EC on curve {other}"),
            });
        }
    };
    let pair = EcdsaKeyPair::from_private_key_der(signing, sec1)
        .map_err(|e| invalid(format!("the EC key was rejected: {e}")))?;
    let document = pair
        .to_pkcs8v1()
        .map_err(|_| invalid("the EC key could not be re-encoded as PKCS#8"))?;
    Ok(Zeroizing::new(document.as_ref().to_vec()))
}

/// Loads a PKCS#8 key into rustls with the aws-lc-rs provider.
pub(crate) fn load_signing_key(pkcs8: &[u8]) -> Result<Arc<dyn SigningKey>, PkiError> {
    check_pkcs8_policy(pkcs8)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8));
    rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)
        .map_err(|e| invalid(format!("the key could not be loaded: {e}")))
}

/// The raw public key (the subjectPublicKey BIT STRING contents) of a
/// loaded key, for comparison with certificates.
pub(crate) fn public_key_bits(key: &dyn SigningKey) -> Result<Vec<u8>, PkiError> {
    let spki = key
        .public_key()
        .ok_or_else(|| invalid("the key's public half is unavailable"))?;
    spki_key_bits(spki.as_ref())
        .map(<[u8]>::to_vec)
        .map_err(invalid_der)
}

/// The subjectPublicKey BIT STRING contents of a SubjectPublicKeyInfo.
pub(crate) fn spki_key_bits(spki: &[u8]) -> Result<&[u8], DerError> {
    let top = der::parse_single(spki)?.expect(tag::SEQUENCE, "malformed public key info")?;
    let mut fields: Reader<'_> = top.children()?;
    fields.expect(tag::SEQUENCE, "missing public key algorithm")?;
    fields
        .expect(tag::BIT_STRING, "missing public key")?
        .bit_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        let mut modulus = vec![0xC0];
        modulus.extend(std::iter::repeat_n(0u8, 255));
        assert_eq!(bit_length(&modulus), 2048);
    }
}
