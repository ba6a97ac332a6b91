//! PEM uploads: a certificate chain plus one private key in any order, and
//! CA certificates.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

use crate::der::{self, tag};
use crate::info::{CertificateInfo, parse_certificate};
use crate::keys::RawKey;
use crate::pbe::{Password, Scheme, SchemeError};
use crate::{ClientCertificate, Limits, PkiError, SourceFormat, bundle};

/// Most PEM blocks read from one upload; a long chain plus a key is well under this.
const MAX_BLOCKS: usize = 64;

/// One `-----BEGIN X-----` ... `-----END X-----` block.
pub(crate) struct Block<'a> {
    pub(crate) label: &'a str,
    pub(crate) encrypted_header: bool,
    /// Decoded body; may be key material, so it is wiped on drop.
    pub(crate) body: Zeroizing<Vec<u8>>,
}

fn malformed(reason: impl Into<String>) -> PkiError {
    PkiError::PemMalformed {
        reason: reason.into(),
    }
}

/// Labels that are echoed in messages; anything else is user text and is not.
fn known_label(label: &str) -> &'static str {
    match label {
        "CERTIFICATE" => "CERTIFICATE",
        "PRIVATE KEY" => "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY" => "ENCRYPTED PRIVATE KEY",
        "RSA PRIVATE KEY" => "RSA PRIVATE KEY",
        "EC PRIVATE KEY" => "EC PRIVATE KEY",
        _ => "PEM",
    }
}

/// Splits PEM text into blocks; text between blocks (such as OpenSSL's
/// "Bag Attributes" lines) is ignored.
pub(crate) fn parse_blocks(text: &str) -> Result<Vec<Block<'_>>, PkiError> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        if blocks.len() >= MAX_BLOCKS {
            return Err(malformed(format!("more than {MAX_BLOCKS} PEM blocks")));
        }
        let mut encrypted_header = false;
        let mut body = Zeroizing::new(String::new());
        let mut closed = false;
        for inner in lines.by_ref() {
            let inner = inner.trim();
            if let Some(end) = inner
                .strip_prefix("-----END ")
                .and_then(|rest| rest.strip_suffix("-----"))
            {
                if end != label {
                    return Err(malformed(format!(
                        "a {} block ends with a different END line",
                        known_label(label)
                    )));
                }
                closed = true;
                break;
            }
            if inner.starts_with("-----BEGIN ") {
                return Err(malformed(format!(
                    "a {} block has no END line",
                    known_label(label)
                )));
            }
            if let Some((name, value)) = inner.split_once(':') {
                // RFC 1421 headers, as in OpenSSL's traditional key encryption.
                if name.trim().eq_ignore_ascii_case("Proc-Type")
                    && value.to_ascii_uppercase().contains("ENCRYPTED")
                {
                    encrypted_header = true;
                }
                continue;
            }
            body.push_str(inner);
        }
        if !closed {
            return Err(malformed(format!(
                "a {} block has no END line",
                known_label(label)
            )));
        }
        let decoded = STANDARD.decode(body.as_bytes()).map_err(|_| {
            malformed(format!(
                "a {} block is not valid base64",
                known_label(label)
            ))
        })?;
        blocks.push(Block {
            label,
            encrypted_header,
            body: Zeroizing::new(decoded),
        });
    }
    Ok(blocks)
}

fn is_key_label(label: &str) -> bool {
    label.ends_with("PRIVATE KEY")
}

/// A certificate block's DER; `TRUSTED CERTIFICATE` appends OpenSSL trust
/// settings after the certificate, which are dropped.
fn certificate_der(block: &Block<'_>) -> Result<Vec<u8>, PkiError> {
    if block.label == "TRUSTED CERTIFICATE" {
        let mut reader = der::Reader::new(&block.body);
        let first = reader.next().map_err(|e| PkiError::InvalidCertificate {
            reason: e.to_string(),
            source: None,
        })?;
        return Ok(first.raw.to_vec());
    }
    Ok(block.body.to_vec())
}

fn is_certificate_label(label: &str) -> bool {
    matches!(
        label,
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
    )
}

/// Entry point behind [`crate::parse_pem`].
pub(crate) fn parse(
    text: &str,
    password: Option<&str>,
    limits: &Limits,
) -> Result<ClientCertificate, PkiError> {
    if text.len() > limits.max_input_bytes {
        return Err(PkiError::TooLarge {
            size: text.len(),
            limit: limits.max_input_bytes,
        });
    }
    let blocks = parse_blocks(text)?;
    if blocks.is_empty() {
        return Err(malformed(
            "no -----BEGIN ...----- block found; a binary .pfx/.p12 file belongs in properties.data",
        ));
    }
    let mut certificates = Vec::new();
    let mut keys = Vec::new();
    for block in &blocks {
        if is_certificate_label(block.label) {
            certificates.push(certificate_der(block)?);
        } else if is_key_label(block.label) {
            keys.push(block);
        }
    }
    let key = match keys.as_slice() {
        [] => return Err(PkiError::PemNoPrivateKey),
        [one] => *one,
        many => return Err(PkiError::MultipleKeys { count: many.len() }),
    };
    if certificates.is_empty() {
        return Err(PkiError::PemNoCertificate);
    }
    let (raw, key_was_encrypted) = decode_key(key, password, limits)?;
    bundle::assemble(&certificates, raw, SourceFormat::Pem { key_was_encrypted })
}

fn decode_key(
    block: &Block<'_>,
    password: Option<&str>,
    limits: &Limits,
) -> Result<(RawKey, bool), PkiError> {
    if block.encrypted_header {
        return Err(PkiError::LegacyPemEncryption);
    }
    let body = || Zeroizing::new(block.body.to_vec());
    match block.label {
        "PRIVATE KEY" => Ok((RawKey::Pkcs8(body()), false)),
        "RSA PRIVATE KEY" => Ok((RawKey::Pkcs1(body()), false)),
        "EC PRIVATE KEY" => Ok((RawKey::Sec1(body()), false)),
        "ENCRYPTED PRIVATE KEY" => {
            let Some(password) = password else {
                return Err(PkiError::PemEncryptedKeyNeedsPassword);
            };
            let plain = decrypt_pkcs8(&block.body, password, limits)?;
            Ok((RawKey::Pkcs8(plain), true))
        }
        "DSA PRIVATE KEY" => Err(PkiError::UnsupportedKeyType {
            algorithm: "DSA".into(),
        }),
        "OPENSSH PRIVATE KEY" => Err(PkiError::UnsupportedKeyType {
            algorithm: "OpenSSH-format (convert it with `ssh-keygen -p -m PKCS8 -f key`)".into(),
        }),
        _ => Err(PkiError::UnsupportedKeyType {
            algorithm: "of this PEM block".into(),
        }),
    }
}

/// Decrypts an `EncryptedPrivateKeyInfo` (RFC 5958).
fn decrypt_pkcs8(
    encrypted: &[u8],
    password: &str,
    limits: &Limits,
) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let invalid = |e: der::DerError| PkiError::InvalidPrivateKey {
        reason: e.to_string(),
    };
    let top = der::parse_single(encrypted)
        .and_then(|e| e.expect(tag::SEQUENCE, "an encrypted key must be a SEQUENCE"))
        .map_err(invalid)?;
    let mut fields = top.children().map_err(invalid)?;
    let algorithm = fields
        .expect(tag::SEQUENCE, "missing key encryption algorithm")
        .map_err(invalid)?;
    let ciphertext = fields
        .expect(tag::OCTET_STRING, "missing encrypted key")
        .and_then(|e| e.octets())
        .map_err(invalid)?;
    let scheme = Scheme::parse(&algorithm).map_err(|e| match e {
        SchemeError::Unsupported(algorithm) => PkiError::UnsupportedEncryption { algorithm },
        SchemeError::Malformed(e) => invalid(e),
    })?;
    if scheme.iterations() > limits.max_kdf_iterations {
        return Err(PkiError::ExcessiveIterations {
            iterations: scheme.iterations(),
            limit: limits.max_kdf_iterations,
        });
    }
    for candidate in Password::candidates(Some(password)) {
        if let Some(plain) = scheme.decrypt(&ciphertext, &candidate)
            && der::parse_single(&plain).is_ok_and(|e| e.tag == tag::SEQUENCE)
        {
            return Ok(plain);
        }
    }
    Err(PkiError::PasswordIncorrect)
}

/// Entry point behind [`crate::parse_ca_certificate`].
pub(crate) fn parse_ca(
    data: &[u8],
) -> Result<(CertificateDer<'static>, CertificateInfo), PkiError> {
    let limit = Limits::default().max_input_bytes;
    if data.len() > limit {
        return Err(PkiError::TooLarge {
            size: data.len(),
            limit,
        });
    }
    let trimmed = {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let start = data
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(data.len());
        &data[start..]
    };
    let der = if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(trimmed).map_err(|_| PkiError::NotACertificate {
            reason: "the PEM text is not valid UTF-8".into(),
        })?;
        let blocks = parse_blocks(text)?;
        if blocks.iter().any(|b| is_key_label(b.label)) {
            return Err(PkiError::UnexpectedPrivateKey);
        }
        let mut certificates = blocks.iter().filter(|b| is_certificate_label(b.label));
        let Some(first) = certificates.next() else {
            return Err(PkiError::NotACertificate {
                reason: "the PEM text has no CERTIFICATE block".into(),
            });
        };
        let others = certificates.count();
        if others > 0 {
            return Err(PkiError::MultipleCertificates { count: others + 1 });
        }
        certificate_der(first)?
    } else {
        classify_der(data)?;
        data.to_vec()
    };
    let parsed = parse_certificate(&der)?;
    Ok((CertificateDer::from(parsed.der), parsed.info))
}

/// Refuses DER that is clearly not one certificate, with a reason.
fn classify_der(data: &[u8]) -> Result<(), PkiError> {
    let not_a_certificate = |reason: &str| PkiError::NotACertificate {
        reason: reason.into(),
    };
    let mut reader = der::Reader::new(data);
    let first = reader
        .next()
        .map_err(|e| not_a_certificate(&format!("not DER or PEM: {e}")))?;
    if first.tag != tag::SEQUENCE {
        return Err(not_a_certificate("not DER or PEM"));
    }
    let mut fields = first
        .children()
        .map_err(|e| not_a_certificate(&e.to_string()))?;
    if let Ok(version) = fields.next()
        && version.tag == tag::INTEGER
    {
        // Certificates start with the TBS SEQUENCE; an INTEGER first is a
        // PKCS#8/PKCS#1/SEC1 key (version 0/1) or a PKCS#12 file (version 3).
        return Err(if version.contents == [3] {
            not_a_certificate(
                "this is a PKCS#12 (.pfx) file; export the CA certificate alone as .cer/.crt",
            )
        } else {
            PkiError::UnexpectedPrivateKey
        });
    }
    let mut count = 1;
    while !reader.is_empty() {
        match reader.next() {
            Ok(next) if next.tag == tag::SEQUENCE => count += 1,
            _ => break,
        }
    }
    if count > 1 {
        return Err(PkiError::MultipleCertificates { count });
    }
    Ok(())
}
