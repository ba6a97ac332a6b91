//! PKCS#12 (RFC 7292) reading.
//!
//! The whole outer structure is walked before any key derivation runs, so a
//! hostile file's iteration counts, algorithm choices and element counts are
//! refused before they cost CPU. Passwords are tried in every encoding that
//! real writers use for them (see [`Password::candidates`]).
//!
//! This is a decoder of its own rather than `p12-keystore` because that crate
//! takes the password only as `&str` and always derives keys from its
//! NUL-terminated UTF-16 form: it cannot open files protected with the
//! zero-length empty password, nor (via its `BmpString` conversion) files
//! whose password has characters outside the Basic Multilingual Plane. It
//! also rejects BER-encoded files (indefinite lengths), offers no way to
//! inspect iteration counts before it runs a KDF (its own cap of 1,000,000
//! is fixed), and reports a wrong password, a damaged file and a missing
//! password alike. It is still used in the tests as an independent writer.

use std::borrow::Cow;

use aws_lc_rs::{digest, hmac};
use zeroize::Zeroizing;

use crate::der::{self, DerError, Element, Reader, tag};
use crate::keys::RawKey;
use crate::pbe::{KdfPurpose, Password, Scheme, SchemeError, pkcs12_kdf};
use crate::{
    ClientCertificate, DetectedFormat, Limits, Pkcs12Encryption, PkiError, SourceFormat, bundle,
    oid,
};

/// Most content infos in an AuthenticatedSafe; real files have two or three.
const MAX_SAFES: usize = 16;
/// Most encrypted content infos; each costs a KDF run, so this bounds the
/// CPU a file can demand to a handful of runs at the iteration limit.
const MAX_ENCRYPTED_SAFES: usize = 4;
/// Most bags across the file; a long chain has a dozen.
const MAX_BAGS: usize = 256;
/// How deep safeContentsBag may nest.
const MAX_BAG_NESTING: usize = 2;

impl From<DerError> for PkiError {
    fn from(error: DerError) -> Self {
        PkiError::damaged(error)
    }
}

fn scheme_error(error: SchemeError) -> PkiError {
    match error {
        SchemeError::Unsupported(algorithm) => PkiError::UnsupportedEncryption { algorithm },
        SchemeError::Malformed(error) => PkiError::damaged(error),
    }
}

#[derive(Debug, Clone, Copy)]
enum MacDigest {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl MacDigest {
    fn digest(self) -> &'static digest::Algorithm {
        match self {
            MacDigest::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            MacDigest::Sha224 => &digest::SHA224,
            MacDigest::Sha256 => &digest::SHA256,
            MacDigest::Sha384 => &digest::SHA384,
            MacDigest::Sha512 => &digest::SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            MacDigest::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            MacDigest::Sha224 => hmac::HMAC_SHA224,
            MacDigest::Sha256 => hmac::HMAC_SHA256,
            MacDigest::Sha384 => hmac::HMAC_SHA384,
            MacDigest::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn name(self) -> &'static str {
        match self {
            MacDigest::Sha1 => "HMAC-SHA1",
            MacDigest::Sha224 => "HMAC-SHA224",
            MacDigest::Sha256 => "HMAC-SHA256",
            MacDigest::Sha384 => "HMAC-SHA384",
            MacDigest::Sha512 => "HMAC-SHA512",
        }
    }
}

struct Mac {
    digest: MacDigest,
    salt: Vec<u8>,
    iterations: u64,
    value: Vec<u8>,
}

impl Mac {
    /// Index of the first password encoding the MAC verifies with.
    fn verify(&self, data: &[u8], candidates: &[Password]) -> Option<usize> {
        let algorithm = self.digest.digest();
        candidates.iter().position(|candidate| {
            let key = pkcs12_kdf(
                algorithm,
                &candidate.bmp,
                &self.salt,
                KdfPurpose::Mac,
                self.iterations,
                algorithm.output_len(),
            );
            let key = hmac::Key::new(self.digest.hmac(), &key);
            hmac::verify(&key, data, &self.value).is_ok()
        })
    }
}

enum Safe<'a> {
    Plain(Cow<'a, [u8]>),
    Encrypted {
        scheme: Scheme,
        ciphertext: Cow<'a, [u8]>,
    },
}

enum Bag<'a> {
    Key(&'a [u8]),
    ShroudedKey {
        scheme: Scheme,
        ciphertext: Cow<'a, [u8]>,
    },
    Certificate(Cow<'a, [u8]>),
}

/// Entry point behind [`crate::parse_pkcs12`].
pub(crate) fn parse(
    data: &[u8],
    password: Option<&str>,
    limits: &Limits,
) -> Result<ClientCertificate, PkiError> {
    if data.len() > limits.max_input_bytes {
        return Err(PkiError::TooLarge {
            size: data.len(),
            limit: limits.max_input_bytes,
        });
    }
    if let Some(detected) = sniff_non_der(data) {
        return Err(PkiError::NotPkcs12 { detected });
    }
    let pfx = read_pfx(data)?;
    let safes = read_authenticated_safe(&pfx.auth_safe)?;

    // Everything visible without a password is checked before any KDF runs.
    let mut visible_bags = Vec::new();
    let mut cert_scheme = None;
    let mut encrypted_safes = 0;
    for safe in &safes {
        match safe {
            Safe::Plain(contents) => collect_bags(contents, 0, &mut visible_bags)?,
            Safe::Encrypted { scheme, .. } => {
                encrypted_safes += 1;
                if encrypted_safes > MAX_ENCRYPTED_SAFES {
                    return Err(PkiError::damaged("too many encrypted content infos"));
                }
                check_iterations(scheme.iterations(), limits)?;
                cert_scheme.get_or_insert_with(|| scheme.clone());
            }
        }
    }
    if let Some(mac) = &pfx.mac {
        check_iterations(mac.iterations, limits)?;
    }
    check_bags(&visible_bags, limits)?;

    let candidates = Password::candidates(password);
    let mut chosen = match &pfx.mac {
        Some(mac) => Some(
            mac.verify(&pfx.auth_safe, &candidates)
                .ok_or_else(|| password_error(password))?,
        ),
        None => None,
    };

    let mut plaintexts = Vec::new();
    for safe in &safes {
        if let Safe::Encrypted { scheme, ciphertext } = safe {
            let (index, plain) =
                decrypt_with_candidates(scheme, ciphertext, &candidates, chosen, password, |p| {
                    der::parse_single(p).is_ok_and(|e| e.tag == tag::SEQUENCE)
                })?;
            chosen = Some(index);
            plaintexts.push(plain);
        }
    }
    let mut hidden_bags = Vec::new();
    for plain in &plaintexts {
        collect_bags(plain, 0, &mut hidden_bags)?;
    }
    check_bags(&hidden_bags, limits)?;
    if visible_bags.len() + hidden_bags.len() > MAX_BAGS {
        return Err(PkiError::damaged("too many bags"));
    }

    let mut certificates = Vec::new();
    let mut keys = Vec::new();
    for bag in visible_bags.iter().chain(hidden_bags.iter()) {
        match bag {
            Bag::Certificate(der) => certificates.push(der.to_vec()),
            Bag::Key(_) | Bag::ShroudedKey { .. } => keys.push(bag),
        }
    }
    let key_bag = match keys.as_slice() {
        [] if certificates.is_empty() => {
            return Err(PkiError::damaged(
                "the file holds neither certificates nor keys",
            ));
        }
        [] => return Err(PkiError::NoPrivateKey),
        [one] => *one,
        many => return Err(PkiError::MultipleKeys { count: many.len() }),
    };
    if certificates.is_empty() {
        return Err(PkiError::NoCertificate);
    }

    let (key, key_scheme) = match key_bag {
        Bag::Key(pkcs8) => (Zeroizing::new(pkcs8.to_vec()), None),
        Bag::ShroudedKey { scheme, ciphertext } => {
            let (_, plain) =
                decrypt_with_candidates(scheme, ciphertext, &candidates, chosen, password, |p| {
                    der::parse_single(p).is_ok_and(|e| e.tag == tag::SEQUENCE)
                })?;
            (plain, Some(scheme))
        }
        Bag::Certificate(_) => return Err(PkiError::NoPrivateKey),
    };

    let encryption = describe(cert_scheme.as_ref(), key_scheme, pfx.mac.as_ref());
    bundle::assemble(
        &certificates,
        RawKey::Pkcs8(key),
        SourceFormat::Pkcs12 { encryption },
    )
}

fn password_error(password: Option<&str>) -> PkiError {
    match password {
        None => PkiError::PasswordRequired,
        Some(_) => PkiError::PasswordIncorrect,
    }
}

fn check_iterations(iterations: u64, limits: &Limits) -> Result<(), PkiError> {
    if iterations > limits.max_kdf_iterations {
        Err(PkiError::ExcessiveIterations {
            iterations,
            limit: limits.max_kdf_iterations,
        })
    } else {
        Ok(())
    }
}

fn check_bags(bags: &[Bag<'_>], limits: &Limits) -> Result<(), PkiError> {
    let keys = bags
        .iter()
        .filter(|b| matches!(b, Bag::Key(_) | Bag::ShroudedKey { .. }))
        .count();
    if keys > 1 {
        // Refused before decrypting any of them: one KDF per key would let a
        // hostile file multiply the work.
        return Err(PkiError::MultipleKeys { count: keys });
    }
    for bag in bags {
        if let Bag::ShroudedKey { scheme, .. } = bag {
            check_iterations(scheme.iterations(), limits)?;
        }
    }
    Ok(())
}

/// Decrypts with the password encoding the MAC verified with; without a
/// MAC, tries each encoding (the caller then keeps the one that worked), so
/// every encrypted item costs one KDF run, plus at most one retry overall.
fn decrypt_with_candidates(
    scheme: &Scheme,
    ciphertext: &[u8],
    candidates: &[Password],
    chosen: Option<usize>,
    password: Option<&str>,
    plausible: impl Fn(&[u8]) -> bool,
) -> Result<(usize, Zeroizing<Vec<u8>>), PkiError> {
    let order: Vec<usize> = match chosen {
        Some(index) => vec![index],
        None => (0..candidates.len()).collect(),
    };
    for index in order {
        if let Some(plain) = scheme.decrypt(ciphertext, &candidates[index])
            && plausible(&plain)
        {
            return Ok((index, plain));
        }
    }
    Err(if chosen.is_some() {
        // The MAC accepted the password, so the file itself is inconsistent
        // (or uses separate MAC and encryption passwords).
        PkiError::PasswordIncorrect
    } else {
        password_error(password)
    })
}

/// Classifies input that cannot be DER at all.
fn sniff_non_der(data: &[u8]) -> Option<DetectedFormat> {
    let text = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    // "LS0tLS1CRUdJT" is base64 of "-----BEGIN".
    if text.starts_with(b"-----BEGIN") || text.starts_with(b"LS0tLS1CRUdJT") {
        return Some(DetectedFormat::Pem);
    }
    if data.first() == Some(&tag::SEQUENCE) {
        return None;
    }
    let base64_like = text.len() >= 16
        && text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(b) || b.is_ascii_whitespace());
    Some(if base64_like {
        DetectedFormat::Base64Text
    } else {
        DetectedFormat::Unrecognized
    })
}

struct Pfx<'a> {
    /// The authSafe OCTET STRING contents: the MAC input and the AuthenticatedSafe.
    auth_safe: Cow<'a, [u8]>,
    mac: Option<Mac>,
}

fn read_pfx(data: &[u8]) -> Result<Pfx<'_>, PkiError> {
    let not_pkcs12 = PkiError::NotPkcs12 {
        detected: DetectedFormat::Unrecognized,
    };
    let top = match Reader::new(data).next() {
        Ok(top) if top.tag == tag::SEQUENCE => top,
        Ok(_) => return Err(not_pkcs12),
        Err(error) if has_pfx_prefix(data) => return Err(PkiError::damaged(error)),
        Err(_) => return Err(not_pkcs12),
    };
    let mut fields = top.children()?;
    match fields.next() {
        Ok(version) if version.tag == tag::INTEGER && version.contents == [3] => {}
        _ => return Err(not_pkcs12),
    }
    let auth_safe = fields.expect(tag::SEQUENCE, "missing authSafe")?;
    let mut content_info = auth_safe.children()?;
    let content_type = content_info
        .expect(tag::OID, "missing authSafe content type")?
        .oid()?;
    if content_type != oid::DATA {
        return Err(PkiError::UnsupportedEncryption {
            algorithm: format!("public-key integrity mode (content type {content_type})"),
        });
    }
    let explicit = content_info.expect(tag::CONTEXT_0, "missing authSafe content")?;
    let octets = explicit
        .children()?
        .next()?
        .expect_octets("authSafe content is not an OCTET STRING")?;

    let mac = match fields.optional(tag::SEQUENCE)? {
        Some(mac_data) => Some(read_mac(&mac_data)?),
        None => None,
    };
    Ok(Pfx {
        auth_safe: octets,
        mac,
    })
}

/// `SEQUENCE { INTEGER 3` at the start, whatever the lengths say: enough to
/// call a broken file damaged PKCS#12 rather than something else.
fn has_pfx_prefix(data: &[u8]) -> bool {
    if data.first() != Some(&tag::SEQUENCE) {
        return false;
    }
    let header = match data.get(1) {
        Some(0x80) => 2,
        Some(len) if *len < 0x80 => 2,
        Some(len) => 2 + usize::from(len & 0x7F),
        None => return false,
    };
    data.get(header..header + 3) == Some(&[tag::INTEGER, 1, 3][..])
}

trait ElementExt<'a> {
    fn expect_octets(self, what: &'static str) -> Result<Cow<'a, [u8]>, DerError>;
}

impl<'a> ElementExt<'a> for Element<'a> {
    fn expect_octets(self, what: &'static str) -> Result<Cow<'a, [u8]>, DerError> {
        if self.tag & !0x20 != tag::OCTET_STRING {
            return Err(DerError(what));
        }
        self.octets()
    }
}

fn read_mac(mac_data: &Element<'_>) -> Result<Mac, PkiError> {
    let mut fields = mac_data.children()?;
    let digest_info = fields.expect(tag::SEQUENCE, "missing MAC digest info")?;
    let salt = fields
        .next()?
        .expect_octets("missing MAC salt")?
        .into_owned();
    let iterations = match fields.optional(tag::INTEGER)? {
        Some(count) => count.uint_saturating()?,
        None => 1,
    };
    fields.finish("unexpected data in MAC data")?;
    if iterations == 0 {
        return Err(PkiError::damaged("zero MAC iterations"));
    }
    let mut digest_fields = digest_info.children()?;
    let algorithm = digest_fields.expect(tag::SEQUENCE, "missing MAC algorithm")?;
    let value = digest_fields
        .next()?
        .expect_octets("missing MAC value")?
        .into_owned();
    let digest_oid = algorithm
        .children()?
        .expect(tag::OID, "missing MAC algorithm OID")?
        .oid()?;
    let digest = match digest_oid.as_str() {
        oid::SHA1 => MacDigest::Sha1,
        oid::SHA224 => MacDigest::Sha224,
        oid::SHA256 => MacDigest::Sha256,
        oid::SHA384 => MacDigest::Sha384,
        oid::SHA512 => MacDigest::Sha512,
        oid::PBMAC1 => {
            return Err(PkiError::UnsupportedEncryption {
                algorithm: "the PBMAC1 integrity MAC (RFC 9579)".into(),
            });
        }
        other => {
            return Err(PkiError::UnsupportedEncryption {
                algorithm: format!("a MAC with digest {other}"),
            });
        }
    };
    Ok(Mac {
        digest,
        salt,
        iterations,
        value,
    })
}

fn read_authenticated_safe(auth_safe: &[u8]) -> Result<Vec<Safe<'_>>, PkiError> {
    let top =
        der::parse_single(auth_safe)?.expect(tag::SEQUENCE, "malformed authenticated safe")?;
    let mut entries = top.children()?;
    let mut safes = Vec::new();
    while !entries.is_empty() {
        if safes.len() >= MAX_SAFES {
            return Err(PkiError::damaged("too many content infos"));
        }
        let content_info = entries.expect(tag::SEQUENCE, "malformed content info")?;
        let mut fields = content_info.children()?;
        let content_type = fields.expect(tag::OID, "missing content type")?.oid()?;
        let content = fields.expect(tag::CONTEXT_0, "missing content")?;
        let mut inner = content.children()?;
        match content_type.as_str() {
            oid::DATA => {
                let octets = inner
                    .next()?
                    .expect_octets("data content is not an OCTET STRING")?;
                safes.push(Safe::Plain(octets));
            }
            oid::ENCRYPTED_DATA => safes.push(read_encrypted_data(&inner.next()?)?),
            oid::ENVELOPED_DATA => {
                return Err(PkiError::UnsupportedEncryption {
                    algorithm: "public-key privacy mode (envelopedData)".into(),
                });
            }
            other => {
                return Err(PkiError::damaged(format!(
                    "unexpected content type {other}"
                )));
            }
        }
    }
    Ok(safes)
}

fn read_encrypted_data<'a>(encrypted_data: &Element<'a>) -> Result<Safe<'a>, PkiError> {
    let mut fields = encrypted_data
        .expect(tag::SEQUENCE, "malformed encrypted data")?
        .children()?;
    fields.expect(tag::INTEGER, "missing encrypted data version")?;
    let info = fields.expect(tag::SEQUENCE, "missing encrypted content info")?;
    let mut info_fields = info.children()?;
    info_fields.expect(tag::OID, "missing encrypted content type")?;
    let algorithm = info_fields.expect(tag::SEQUENCE, "missing content encryption algorithm")?;
    let scheme = Scheme::parse(&algorithm).map_err(scheme_error)?;
    // [0] IMPLICIT OCTET STRING: primitive, or constructed segments in BER.
    let ciphertext = match info_fields.peek_tag() {
        Some(tag::CONTEXT_0_PRIMITIVE) => Cow::Borrowed(info_fields.next()?.contents),
        Some(tag::CONTEXT_0) => info_fields.next()?.octets()?,
        _ => Cow::Borrowed(&[][..]),
    };
    Ok(Safe::Encrypted { scheme, ciphertext })
}

fn collect_bags<'a>(
    contents: &'a [u8],
    depth: usize,
    out: &mut Vec<Bag<'a>>,
) -> Result<(), PkiError> {
    let top = der::parse_single(contents)?.expect(tag::SEQUENCE, "malformed safe contents")?;
    let mut bags = top.children()?;
    while !bags.is_empty() {
        if out.len() >= MAX_BAGS {
            return Err(PkiError::damaged("too many bags"));
        }
        let bag = bags.expect(tag::SEQUENCE, "malformed bag")?;
        let mut fields = bag.children()?;
        let bag_type = fields.expect(tag::OID, "missing bag type")?.oid()?;
        let value = fields
            .expect(tag::CONTEXT_0, "missing bag value")?
            .children()?
            .next()?;
        // Attributes (friendly name, local key id) are not needed: the key
        // finds its certificate by public key, which cannot be mislabelled.
        match bag_type.as_str() {
            oid::KEY_BAG => out.push(Bag::Key(value.raw)),
            oid::SHROUDED_KEY_BAG => {
                let mut info = value
                    .expect(tag::SEQUENCE, "malformed shrouded key")?
                    .children()?;
                let algorithm = info.expect(tag::SEQUENCE, "missing key encryption algorithm")?;
                let scheme = Scheme::parse(&algorithm).map_err(scheme_error)?;
                let ciphertext = info.next()?.expect_octets("missing encrypted key")?;
                out.push(Bag::ShroudedKey { scheme, ciphertext });
            }
            oid::CERT_BAG => {
                let mut cert_bag = value
                    .expect(tag::SEQUENCE, "malformed cert bag")?
                    .children()?;
                let cert_type = cert_bag
                    .expect(tag::OID, "missing certificate type")?
                    .oid()?;
                if cert_type != oid::X509_CERTIFICATE {
                    // SDSI certificates exist only on paper.
                    continue;
                }
                let der = cert_bag
                    .expect(tag::CONTEXT_0, "missing certificate value")?
                    .children()?
                    .next()?
                    .expect_octets("certificate value is not an OCTET STRING")?;
                out.push(Bag::Certificate(der));
            }
            oid::SAFE_CONTENTS_BAG => {
                if depth >= MAX_BAG_NESTING {
                    return Err(PkiError::damaged("safe contents nested too deeply"));
                }
                collect_bags(value.raw, depth + 1, out)?;
            }
            // CRL and secret bags carry nothing a client certificate needs.
            _ => {}
        }
    }
    Ok(())
}

fn describe(
    certificates: Option<&Scheme>,
    key: Option<&Scheme>,
    mac: Option<&Mac>,
) -> Pkcs12Encryption {
    let contents = match (certificates, key) {
        (Some(c), Some(k)) if c.describe() == k.describe() => c.describe(),
        (Some(c), Some(k)) => format!(
            "certificates {}; private key {}",
            c.describe(),
            k.describe()
        ),
        (None, Some(k)) => format!("private key {}; certificates unencrypted", k.describe()),
        (Some(c), None) => format!("certificates {}; private key unencrypted", c.describe()),
        (None, None) => "unencrypted".to_string(),
    };
    let mac_text = match mac {
        Some(mac) => format!("MAC {}", mac.digest.name()),
        None => "no MAC".to_string(),
    };
    let legacy = certificates.is_some_and(Scheme::is_legacy)
        || key.is_some_and(Scheme::is_legacy)
        || mac.is_some_and(|m| matches!(m.digest, MacDigest::Sha1));
    Pkcs12Encryption {
        description: format!("{contents}, {mac_text}"),
        legacy,
    }
}
