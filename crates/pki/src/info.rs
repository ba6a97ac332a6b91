//! Certificate facts shown to operators: APIM-style names, thumbprint,
//! validity, key type, SANs, CA flag and self-signature.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Error;

use crate::PkiError;
use crate::der::{self, DerError, tag};
use crate::keys::{algorithm_and_parameter, algorithm_name, bit_length};
use crate::oid;

/// Facts about one certificate, for display and policy checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject in the Azure API Management / .NET style: relative names most
    /// specific first (the reverse of DER order), e.g. `CN=gatehouse-client, O=Bars`.
    pub subject: String,
    /// Issuer, formatted like [`CertificateInfo::subject`].
    pub issuer: String,
    /// SHA-1 of the DER certificate as 40 upper-case hex digits, equal to
    /// `openssl x509 -fingerprint -sha1` without the colons.
    pub thumbprint: String,
    /// Serial number in upper-case hex without colons, as `openssl x509 -serial` prints it.
    pub serial_number: String,
    /// Start of the validity period.
    pub not_before: OffsetDateTime,
    /// End of the validity period.
    pub not_after: OffsetDateTime,
    /// Key type and size: "RSA 2048", "ECDSA P-256", "ECDSA P-384", "Ed25519", ...
    pub key_algorithm: String,
    /// Subject equals issuer and the signature verifies with the certificate's
    /// own key (or the signature algorithm is one this crate cannot check).
    pub self_signed: bool,
    /// Subject alternative names: "DNS:example.com", "IP:127.0.0.1", "email:...", "URI:...".
    pub subject_alternative_names: Vec<String>,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// The issuer name as DER (a `Name` SEQUENCE): what a TLS server's list of acceptable CAs
    /// holds, so a client can pick the certificate the server asks for.
    pub issuer_der: Vec<u8>,
    /// The subject name as DER: for a CA certificate, what its certificates name as issuer
    /// (and what a TLS server lists among the CAs it accepts).
    pub subject_der: Vec<u8>,
}

/// A parsed certificate with what chain building and key matching need.
pub(crate) struct ParsedCertificate {
    pub(crate) der: Vec<u8>,
    pub(crate) subject_raw: Vec<u8>,
    pub(crate) issuer_raw: Vec<u8>,
    pub(crate) public_key: Vec<u8>,
    pub(crate) info: CertificateInfo,
}

fn invalid(reason: impl Into<String>) -> PkiError {
    PkiError::InvalidCertificate {
        reason: reason.into(),
        source: None,
    }
}

fn invalid_der(error: DerError) -> PkiError {
    invalid(error.0)
}

fn invalid_x509(error: X509Error) -> PkiError {
    PkiError::InvalidCertificate {
        reason: error.to_string(),
        source: Some(Box::new(error)),
    }
}

/// Parses one DER certificate.
pub(crate) fn parse_certificate(der_bytes: &[u8]) -> Result<ParsedCertificate, PkiError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der_bytes).map_err(|e| match e {
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => invalid_x509(e),
        x509_parser::nom::Err::Incomplete(_) => invalid("the certificate is truncated"),
    })?;
    if !rest.is_empty() {
        return Err(invalid("unexpected data after the certificate"));
    }

    let subject_raw = cert.subject().as_raw().to_vec();
    let issuer_raw = cert.issuer().as_raw().to_vec();
    let spki = cert.public_key().raw;
    let public_key = crate::keys::spki_key_bits(spki)
        .map_err(invalid_der)?
        .to_vec();

    let mut subject_alternative_names = Vec::new();
    if let Some(san) = cert.subject_alternative_name().map_err(invalid_x509)? {
        for name in &san.value.general_names {
            if let Some(text) = general_name(name) {
                subject_alternative_names.push(text);
            }
        }
    }
    let is_ca = cert
        .basic_constraints()
        .map_err(invalid_x509)?
        .is_some_and(|bc| bc.value.ca);

    let self_issued = subject_raw == issuer_raw;
    let self_signed = self_issued && verify_self_signature(der_bytes, spki) != Some(false);

    let info = CertificateInfo {
        subject: format_name(&subject_raw).map_err(invalid_der)?,
        issuer: format_name(&issuer_raw).map_err(invalid_der)?,
        thumbprint: hex::encode_upper(
            digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der_bytes).as_ref(),
        ),
        serial_number: serial_hex(cert.raw_serial()),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        key_algorithm: describe_public_key(spki).map_err(invalid_der)?,
        self_signed,
        subject_alternative_names,
        is_ca,
        issuer_der: issuer_raw.clone(),
        subject_der: subject_raw.clone(),
    };
    Ok(ParsedCertificate {
        der: der_bytes.to_vec(),
        subject_raw,
        issuer_raw,
        public_key,
        info,
    })
}

/// Serial as OpenSSL prints it: the magnitude without the DER sign octet.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode_upper(&raw[start..])
}

fn general_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(dns) => Some(format!("DNS:{dns}")),
        GeneralName::RFC822Name(email) => Some(format!("email:{email}")),
        GeneralName::URI(uri) => Some(format!("URI:{uri}")),
        GeneralName::IPAddress(bytes) => {
            let ip = match bytes.len() {
                4 => {
                    let octets: [u8; 4] = (*bytes).try_into().ok()?;
                    IpAddr::V4(Ipv4Addr::from(octets))
                }
                16 => {
                    let octets: [u8; 16] = (*bytes).try_into().ok()?;
                    IpAddr::V6(Ipv6Addr::from(octets))
                }
                _ => return None,
            };
            Some(format!("IP:{ip}"))
        }
        _ => None,
    }
}

/// "RSA 2048", "ECDSA P-256", "Ed25519", ...
fn describe_public_key(spki: &[u8]) -> Result<String, DerError> {
    let top = der::parse_single(spki)?.expect(tag::SEQUENCE, "malformed public key info")?;
    let mut fields = top.children()?;
    let algorithm = fields.expect(tag::SEQUENCE, "missing public key algorithm")?;
    let key = fields
        .expect(tag::BIT_STRING, "missing public key")?
        .bit_string()?;
    let (algorithm_oid, parameter) = algorithm_and_parameter(&algorithm)?;
    Ok(match algorithm_oid.as_str() {
        oid::RSA_ENCRYPTION | oid::RSASSA_PSS => {
            let rsa = der::parse_single(key)?.expect(tag::SEQUENCE, "malformed RSA public key")?;
            let modulus = rsa
                .children()?
                .expect(tag::INTEGER, "missing RSA modulus")?
                .uint_bytes()?;
            format!("RSA {}", bit_length(modulus))
        }
        oid::EC_PUBLIC_KEY => match parameter.as_deref() {
            Some(curve) => match oid::curve_name(curve) {
                Some(name) => format!("ECDSA {name}"),
                None => format!("EC {curve}"),
            },
            None => "EC (explicit parameters)".into(),
        },
        other => algorithm_name(other),
    })
}

/// Whether `issuer` issued `certificate`: the certificate names the issuer's subject as its
/// issuer and its signature verifies with the issuer's key. `false` for anything that does not
/// parse or an algorithm this crate cannot check.
pub(crate) fn issued_by(certificate: &[u8], issuer: &[u8]) -> bool {
    let (Ok(cert), Ok(ca)) = (parse_certificate(certificate), parse_certificate(issuer)) else {
        return false;
    };
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(issuer) else {
        return false;
    };
    cert.issuer_raw == ca.subject_raw
        && verify_self_signature(certificate, parsed.public_key().raw) == Some(true)
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo: names the key whatever certificate
/// carries it.
pub(crate) fn public_key_digest(certificate: &[u8]) -> Result<[u8; 32], PkiError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate)
        .map_err(|_| invalid("the certificate does not parse"))?;
    let digest = digest::digest(&digest::SHA256, parsed.public_key().raw);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    Ok(out)
}

/// `Some(true)` if the certificate's signature verifies with the key `spki` holds (its own,
/// for a self-signature), `Some(false)` if it does not, `None` if the algorithm is not
/// checkable here.
fn verify_self_signature(certificate: &[u8], spki: &[u8]) -> Option<bool> {
    let top = der::parse_single(certificate).ok()?;
    let mut fields = top.children().ok()?;
    let tbs = fields.next().ok()?.raw;
    let signature_algorithm = fields.expect(tag::SEQUENCE, "").ok()?;
    let signature_value = fields.expect(tag::BIT_STRING, "").ok()?.bit_string().ok()?;
    let (signature_oid, _) = algorithm_and_parameter(&signature_algorithm).ok()?;

    let spki_top = der::parse_single(spki).ok()?;
    let mut spki_fields = spki_top.children().ok()?;
    let key_algorithm = spki_fields.expect(tag::SEQUENCE, "").ok()?;
    let key = spki_fields
        .expect(tag::BIT_STRING, "")
        .ok()?
        .bit_string()
        .ok()?;
    let (_, curve) = algorithm_and_parameter(&key_algorithm).ok()?;

    let verifier: &'static dyn VerificationAlgorithm = match signature_oid.as_str() {
        oid::SHA1_WITH_RSA => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        oid::SHA256_WITH_RSA => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        oid::SHA384_WITH_RSA => &signature::RSA_PKCS1_2048_8192_SHA384,
        oid::SHA512_WITH_RSA => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        oid::ECDSA_WITH_SHA256 | oid::ECDSA_WITH_SHA384 | oid::ECDSA_WITH_SHA512 => {
            ecdsa_verifier(&signature_oid, curve.as_deref()?)?
        }
        oid::ED25519 => &signature::ED25519,
        _ => return None,
    };
    let verified = UnparsedPublicKey::new(verifier, key)
        .verify(tbs, signature_value)
        .is_ok();
    if !verified && signature_oid == oid::SHA384_WITH_RSA {
        // No aws-lc-rs verifier accepts SHA-384 with RSA keys under 2048 bits.
        return None;
    }
    Some(verified)
}

fn ecdsa_verifier(signature_oid: &str, curve: &str) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (curve, signature_oid) {
        (oid::P256, oid::ECDSA_WITH_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
        (oid::P256, oid::ECDSA_WITH_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
        (oid::P256, oid::ECDSA_WITH_SHA512) => &signature::ECDSA_P256_SHA512_ASN1,
        (oid::P384, oid::ECDSA_WITH_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
        (oid::P384, oid::ECDSA_WITH_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
        (oid::P384, oid::ECDSA_WITH_SHA512) => &signature::ECDSA_P384_SHA512_ASN1,
        (oid::P521, oid::ECDSA_WITH_SHA256) => &signature::ECDSA_P521_SHA256_ASN1,
        (oid::P521, oid::ECDSA_WITH_SHA384) => &signature::ECDSA_P521_SHA384_ASN1,
        (oid::P521, oid::ECDSA_WITH_SHA512) => &signature::ECDSA_P521_SHA512_ASN1,
        _ => return None,
    })
}

/// Formats a DER `Name` the way .NET's `X500DistinguishedName.Name` (and so
/// Azure API Management) shows it: most specific RDN first, ", " between
/// RDNs, " + " inside multi-valued RDNs.
pub(crate) fn format_name(name: &[u8]) -> Result<String, DerError> {
    let top = der::parse_single(name)?.expect(tag::SEQUENCE, "a name must be a SEQUENCE")?;
    let mut rdns = top.children()?;
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let rdn = rdns.expect(tag::SET, "a relative name must be a SET")?;
        let mut attributes = rdn.children()?;
        let mut values = Vec::new();
        while !attributes.is_empty() {
            let attribute = attributes.expect(tag::SEQUENCE, "malformed name attribute")?;
            let mut fields = attribute.children()?;
            let attribute_oid = fields.expect(tag::OID, "missing attribute type")?.oid()?;
            let value = fields.next()?;
            values.push(format!(
                "{}={}",
                attribute_label(&attribute_oid),
                quote_value(&attribute_text(&value))
            ));
        }
        parts.push(values.join(" + "));
    }
    parts.reverse();
    Ok(parts.join(", "))
}

/// The labels .NET uses; unknown types appear as `OID.1.2.3`.
fn attribute_label(attribute_oid: &str) -> String {
    let label = match attribute_oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "S",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "T",
        "2.5.4.42" => "G",
        "2.5.4.43" => "I",
        "1.2.840.113549.1.9.1" => "E",
        "0.9.2342.19200300.100.1.25" => "DC",
        other => return format!("OID.{other}"),
    };
    label.to_string()
}

fn attribute_text(value: &der::Element<'_>) -> String {
    const UTF8: u8 = 0x0C;
    const NUMERIC: u8 = 0x12;
    const PRINTABLE: u8 = 0x13;
    const TELETEX: u8 = 0x14;
    const IA5: u8 = 0x16;
    const VISIBLE: u8 = 0x1A;
    const UNIVERSAL: u8 = 0x1C;
    const BMP: u8 = 0x1E;
    let bytes = value.contents;
    match value.tag {
        UTF8 | NUMERIC | PRINTABLE | IA5 | VISIBLE => String::from_utf8_lossy(bytes).into_owned(),
        // T.61 in practice carries Latin-1.
        TELETEX => bytes.iter().map(|b| char::from(*b)).collect(),
        BMP => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        UNIVERSAL => bytes
            .chunks_exact(4)
            .map(|quad| {
                char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => format!("#{}", hex::encode_upper(value.raw)),
    }
}

/// Quotes values the way .NET does when they contain separators.
fn quote_value(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value.starts_with(' ')
        || value.ends_with(' ')
        || value.contains([',', '+', '=', '"', '\n', '<', '>', '#', ';']);
    if needs_quotes {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Refuses expired and not-yet-valid certificates.
pub(crate) fn check_validity(info: &CertificateInfo, now: OffsetDateTime) -> Result<(), PkiError> {
    if now < info.not_before {
        return Err(PkiError::CertificateNotYetValid {
            not_before: info.not_before,
        });
    }
    if now > info.not_after {
        return Err(PkiError::CertificateExpired {
            not_after: info.not_after,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(rdns: &[(&str, u8, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (attribute, string_tag, value) in rdns {
            let mut attr = der::encode_oid(attribute);
            attr.extend_from_slice(&der::encode(*string_tag, value.as_bytes()));
            let seq = der::encode(tag::SEQUENCE, &attr);
            body.extend_from_slice(&der::encode(tag::SET, &seq));
        }
        der::encode(tag::SEQUENCE, &body)
    }

    #[test]
    fn names_are_most_specific_first() {
        let der_name = name(&[
            ("2.5.4.6", 0x13, "DE"),
            ("2.5.4.10", 0x0C, "Bars, Inc"),
            ("2.5.4.3", 0x0C, "gatehouse-client"),
        ]);
        assert_eq!(
            format_name(&der_name).expect("name"),
            "CN=gatehouse-client, O=\"Bars, Inc\", C=DE"
        );
    }

    #[test]
    fn serials_drop_the_sign_octet() {
        assert_eq!(serial_hex(&[0x00, 0x8A, 0x01]), "8A01");
        assert_eq!(serial_hex(&[0x0A]), "0A");
        assert_eq!(serial_hex(&[0x00]), "00");
    }
}
