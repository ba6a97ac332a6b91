//! Password-based encryption schemes shared by PKCS#12 and encrypted PKCS#8:
//! PBES2 (PBKDF2 with AES-CBC or 3DES-CBC) and the PKCS#12 PBE family
//! (SHA-1 PKCS#12 KDF with 3DES or RC2).
//!
//! Parsing a scheme never runs a KDF, so callers can check iteration counts
//! against their limits first.

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{digest, pbkdf2};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use std::num::NonZeroU32;
use zeroize::Zeroizing;

use crate::der::{DerError, Element, tag};
use crate::oid;

/// The byte forms of one password attempt.
///
/// PKCS#12 PBE and MACs feed the KDF a NUL-terminated big-endian UTF-16
/// string; PBES2 feeds PBKDF2 the UTF-8 bytes. An empty password has two
/// encodings in the wild (two zero bytes, or nothing at all), so callers try
/// several candidates.
pub(crate) struct Password {
    pub(crate) bmp: Zeroizing<Vec<u8>>,
    pub(crate) utf8: Zeroizing<Vec<u8>>,
}

impl Password {
    /// The encodings to try, most likely first.
    pub(crate) fn candidates(password: Option<&str>) -> Vec<Password> {
        match password {
            None | Some("") => vec![
                // What OpenSSL's `-passout pass:` and most tools write.
                Password {
                    bmp: Zeroizing::new(vec![0, 0]),
                    utf8: Zeroizing::new(Vec::new()),
                },
                // What `PKCS12_create(NULL, ...)`-style writers produce: no bytes at all.
                Password {
                    bmp: Zeroizing::new(Vec::new()),
                    utf8: Zeroizing::new(Vec::new()),
                },
            ],
            Some(text) => {
                let mut bmp = Zeroizing::new(Vec::with_capacity(text.len() * 2 + 2));
                for unit in text.encode_utf16() {
                    bmp.extend_from_slice(&unit.to_be_bytes());
                }
                bmp.extend_from_slice(&[0, 0]);
                let mut out = vec![Password {
                    bmp,
                    utf8: Zeroizing::new(text.as_bytes().to_vec()),
                }];
                if !text.is_ascii() {
                    // OpenSSL before 1.1.0 widened each UTF-8 byte on its own;
                    // files it wrote with non-ASCII passwords need this form.
                    let mut widened = Zeroizing::new(Vec::with_capacity(text.len() * 2 + 2));
                    for byte in text.bytes() {
                        widened.extend_from_slice(&[0, byte]);
                    }
                    widened.extend_from_slice(&[0, 0]);
                    out.push(Password {
                        bmp: widened,
                        utf8: Zeroizing::new(text.as_bytes().to_vec()),
                    });
                }
                out
            }
        }
    }
}

/// Why a scheme cannot be used.
#[derive(Debug)]
pub(crate) enum SchemeError {
    /// A recognised structure naming an algorithm this crate does not implement.
    Unsupported(String),
    Malformed(DerError),
}

impl From<DerError> for SchemeError {
    fn from(value: DerError) -> Self {
        SchemeError::Malformed(value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prf {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Prf {
    fn name(self) -> &'static str {
        match self {
            Prf::Sha1 => "SHA1",
            Prf::Sha256 => "SHA256",
            Prf::Sha384 => "SHA384",
            Prf::Sha512 => "SHA512",
        }
    }

    fn algorithm(self) -> pbkdf2::Algorithm {
        match self {
            Prf::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            Prf::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Prf::Sha384 => pbkdf2::PBKDF2_HMAC_SHA384,
            Prf::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cipher {
    Aes128,
    Aes192,
    Aes256,
    DesEde3,
    DesEde2,
    Rc2 { key_len: usize },
}

impl Cipher {
    fn name(self) -> &'static str {
        match self {
            Cipher::Aes128 => "AES-128-CBC",
            Cipher::Aes192 => "AES-192-CBC",
            Cipher::Aes256 => "AES-256-CBC",
            Cipher::DesEde3 => "3DES-CBC",
            Cipher::DesEde2 => "2-key 3DES-CBC",
            Cipher::Rc2 { key_len: 5 } => "RC2-40-CBC",
            Cipher::Rc2 { .. } => "RC2-128-CBC",
        }
    }

    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128 | Cipher::DesEde2 => 16,
            Cipher::Aes192 | Cipher::DesEde3 => 24,
            Cipher::Aes256 => 32,
            Cipher::Rc2 { key_len } => key_len,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            Cipher::Aes128 | Cipher::Aes192 | Cipher::Aes256 => 16,
            Cipher::DesEde3 | Cipher::DesEde2 | Cipher::Rc2 { .. } => 8,
        }
    }

    /// CBC decryption with PKCS#7 padding; `None` when the padding is wrong,
    /// which is what a wrong password looks like.
    fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let plain_len = match self {
            Cipher::Aes128 | Cipher::Aes192 | Cipher::Aes256 => {
                let algorithm = match self {
                    Cipher::Aes128 => &AES_128,
                    Cipher::Aes192 => &AES_192,
                    _ => &AES_256,
                };
                let iv: [u8; 16] = iv.try_into().ok()?;
                let key = UnboundCipherKey::new(algorithm, key).ok()?;
                let decrypting = PaddedBlockDecryptingKey::cbc_pkcs7(key).ok()?;
                let context = DecryptionContext::Iv128(FixedLength::from(iv));
                decrypting.decrypt(&mut buffer, context).ok()?.len()
            }
            Cipher::DesEde3 => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded::<Pkcs7>(&mut buffer)
                .ok()?
                .len(),
            Cipher::DesEde2 => cbc::Decryptor::<des::TdesEde2>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded::<Pkcs7>(&mut buffer)
                .ok()?
                .len(),
            // RC2's effective key bits equal the key length here (40 or 128),
            // which is what `new_from_slice` sets.
            Cipher::Rc2 { .. } => cbc::Decryptor::<rc2::Rc2>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded::<Pkcs7>(&mut buffer)
                .ok()?
                .len(),
        };
        buffer.truncate(plain_len);
        Some(buffer)
    }
}

/// A parsed password-based encryption scheme.
#[derive(Debug, Clone)]
pub(crate) enum Scheme {
    Pbes2 {
        salt: Vec<u8>,
        iterations: u64,
        prf: Prf,
        cipher: Cipher,
        iv: Vec<u8>,
    },
    Pkcs12 {
        salt: Vec<u8>,
        iterations: u64,
        cipher: Cipher,
    },
}

impl Scheme {
    /// Parses an `AlgorithmIdentifier` naming a password-based scheme.
    pub(crate) fn parse(algorithm: &Element<'_>) -> Result<Scheme, SchemeError> {
        let mut fields = algorithm.children()?;
        let id = fields
            .expect(tag::OID, "expected an algorithm OID")?
            .oid()?;
        let params = if fields.is_empty() {
            None
        } else {
            Some(fields.next()?)
        };
        let pkcs12_cipher = match id.as_str() {
            oid::PBES2 => {
                let params = params.ok_or(DerError("missing PBES2 parameters"))?;
                return parse_pbes2(&params);
            }
            oid::PBE_SHA1_3DES => Cipher::DesEde3,
            oid::PBE_SHA1_2DES => Cipher::DesEde2,
            oid::PBE_SHA1_RC2_128 => Cipher::Rc2 { key_len: 16 },
            oid::PBE_SHA1_RC2_40 => Cipher::Rc2 { key_len: 5 },
            oid::PBE_SHA1_RC4_128 => {
                return Err(SchemeError::Unsupported("RC4-128 (PKCS#12 PBE)".into()));
            }
            oid::PBE_SHA1_RC4_40 => {
                return Err(SchemeError::Unsupported("RC4-40 (PKCS#12 PBE)".into()));
            }
            other => return Err(SchemeError::Unsupported(format!("algorithm {other}"))),
        };
        let params = params
            .ok_or(DerError("missing PKCS#12 PBE parameters"))?
            .expect(tag::SEQUENCE, "malformed PKCS#12 PBE parameters")?;
        let mut params = params.children()?;
        let salt = params
            .expect(tag::OCTET_STRING, "expected the PBE salt")?
            .octets()?
            .into_owned();
        let iterations = params
            .expect(tag::INTEGER, "expected the PBE iteration count")?
            .uint_saturating()?;
        params.finish("unexpected data in PKCS#12 PBE parameters")?;
        if iterations == 0 {
            return Err(DerError("zero PBE iterations").into());
        }
        Ok(Scheme::Pkcs12 {
            salt,
            iterations,
            cipher: pkcs12_cipher,
        })
    }

    pub(crate) fn iterations(&self) -> u64 {
        match self {
            Scheme::Pbes2 { iterations, .. } | Scheme::Pkcs12 { iterations, .. } => *iterations,
        }
    }

    /// Whether the scheme is one that modern tools no longer write by
    /// default (RC2, 3DES, the SHA-1 PKCS#12 KDF, or PBKDF2 with HMAC-SHA1).
    pub(crate) fn is_legacy(&self) -> bool {
        match self {
            Scheme::Pkcs12 { .. } => true,
            Scheme::Pbes2 { prf, cipher, .. } => {
                *prf == Prf::Sha1 || matches!(cipher, Cipher::DesEde3 | Cipher::DesEde2)
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Scheme::Pbes2 {
                iterations,
                prf,
                cipher,
                ..
            } => format!(
                "{} with PBKDF2-HMAC-{} ({iterations} iterations)",
                cipher.name(),
                prf.name()
            ),
            Scheme::Pkcs12 {
                iterations, cipher, ..
            } => format!(
                "{} with the SHA-1 PKCS#12 KDF ({iterations} iterations)",
                cipher.name()
            ),
        }
    }

    /// Decrypts; `None` means the password (or the data) is wrong.
    ///
    /// Callers must have checked [`Scheme::iterations`] against their limit.
    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        password: &Password,
    ) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            Scheme::Pbes2 {
                salt,
                iterations,
                prf,
                cipher,
                iv,
            } => {
                let rounds = NonZeroU32::new(u32::try_from(*iterations).ok()?)?;
                let mut key = Zeroizing::new(vec![0u8; cipher.key_len()]);
                pbkdf2::derive(prf.algorithm(), rounds, salt, &password.utf8, &mut key);
                cipher.decrypt(&key, iv, ciphertext)
            }
            Scheme::Pkcs12 {
                salt,
                iterations,
                cipher,
            } => {
                let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
                let key = pkcs12_kdf(
                    sha1,
                    &password.bmp,
                    salt,
                    KdfPurpose::Key,
                    *iterations,
                    cipher.key_len(),
                );
                let iv = pkcs12_kdf(
                    sha1,
                    &password.bmp,
                    salt,
                    KdfPurpose::Iv,
                    *iterations,
                    cipher.iv_len(),
                );
                cipher.decrypt(&key, &iv, ciphertext)
            }
        }
    }
}

fn parse_pbes2(params: &Element<'_>) -> Result<Scheme, SchemeError> {
    let mut fields = params
        .expect(tag::SEQUENCE, "malformed PBES2 parameters")?
        .children()?;
    let kdf = fields.expect(tag::SEQUENCE, "expected the PBES2 key derivation function")?;
    let encryption = fields.expect(tag::SEQUENCE, "expected the PBES2 encryption scheme")?;
    fields.finish("unexpected data in PBES2 parameters")?;

    let mut kdf_fields = kdf.children()?;
    let kdf_id = kdf_fields.expect(tag::OID, "expected a KDF OID")?.oid()?;
    match kdf_id.as_str() {
        oid::PBKDF2 => {}
        oid::SCRYPT => return Err(SchemeError::Unsupported("scrypt".into())),
        other => return Err(SchemeError::Unsupported(format!("key derivation {other}"))),
    }
    let mut pbkdf2_params = kdf_fields
        .expect(tag::SEQUENCE, "malformed PBKDF2 parameters")?
        .children()?;
    let salt = pbkdf2_params
        .next()?
        .expect(tag::OCTET_STRING, "unsupported PBKDF2 salt source")?
        .octets()?
        .into_owned();
    let iterations = pbkdf2_params
        .expect(tag::INTEGER, "expected the PBKDF2 iteration count")?
        .uint_saturating()?;
    if iterations == 0 {
        return Err(DerError("zero PBKDF2 iterations").into());
    }
    let key_length = match pbkdf2_params.optional(tag::INTEGER)? {
        Some(length) => Some(length.uint_saturating()?),
        None => None,
    };
    let prf = match pbkdf2_params.optional(tag::SEQUENCE)? {
        None => Prf::Sha1,
        Some(prf) => {
            let mut prf_fields = prf.children()?;
            match prf_fields
                .expect(tag::OID, "expected a PRF OID")?
                .oid()?
                .as_str()
            {
                oid::HMAC_SHA1 => Prf::Sha1,
                oid::HMAC_SHA256 => Prf::Sha256,
                oid::HMAC_SHA384 => Prf::Sha384,
                oid::HMAC_SHA512 => Prf::Sha512,
                oid::HMAC_SHA224 => {
                    return Err(SchemeError::Unsupported("PBKDF2-HMAC-SHA224".into()));
                }
                other => return Err(SchemeError::Unsupported(format!("PBKDF2 PRF {other}"))),
            }
        }
    };
    pbkdf2_params.finish("unexpected data in PBKDF2 parameters")?;

    let mut encryption_fields = encryption.children()?;
    let cipher = match encryption_fields
        .expect(tag::OID, "expected a cipher OID")?
        .oid()?
        .as_str()
    {
        oid::AES_128_CBC => Cipher::Aes128,
        oid::AES_192_CBC => Cipher::Aes192,
        oid::AES_256_CBC => Cipher::Aes256,
        oid::DES_EDE3_CBC => Cipher::DesEde3,
        oid::DES_CBC => return Err(SchemeError::Unsupported("single DES".into())),
        other => return Err(SchemeError::Unsupported(format!("cipher {other}"))),
    };
    let iv = encryption_fields
        .expect(tag::OCTET_STRING, "expected the cipher IV")?
        .octets()?
        .into_owned();
    if iv.len() != cipher.iv_len() {
        return Err(DerError("cipher IV has the wrong length").into());
    }
    if let Some(length) = key_length
        && length != cipher.key_len() as u64
    {
        return Err(DerError("PBKDF2 key length does not match the cipher").into());
    }
    Ok(Scheme::Pbes2 {
        salt,
        iterations,
        prf,
        cipher,
        iv,
    })
}

/// The diversifier byte of the PKCS#12 KDF (RFC 7292 appendix B.3).
#[derive(Debug, Clone, Copy)]
pub(crate) enum KdfPurpose {
    Key = 1,
    Iv = 2,
    Mac = 3,
}

/// The PKCS#12 key derivation function (RFC 7292 appendix B.2).
pub(crate) fn pkcs12_kdf(
    algorithm: &'static digest::Algorithm,
    password: &[u8],
    salt: &[u8],
    purpose: KdfPurpose,
    iterations: u64,
    out_len: usize,
) -> Zeroizing<Vec<u8>> {
    let u = algorithm.output_len();
    let v = algorithm.block_len();
    let diversifier = vec![purpose as u8; v];
    let stretch = |source: &[u8]| -> Vec<u8> {
        if source.is_empty() {
            return Vec::new();
        }
        let len = v * source.len().div_ceil(v);
        source.iter().copied().cycle().take(len).collect()
    };
    let mut input = Zeroizing::new(stretch(salt));
    input.extend_from_slice(&Zeroizing::new(stretch(password)));

    let mut out = Zeroizing::new(Vec::with_capacity(out_len));
    loop {
        let mut context = digest::Context::new(algorithm);
        context.update(&diversifier);
        context.update(&input);
        let mut block = context.finish();
        for _ in 1..iterations {
            block = digest::digest(algorithm, block.as_ref());
        }
        let block = block.as_ref();
        let take = (out_len - out.len()).min(u);
        out.extend_from_slice(&block[..take]);
        if out.len() >= out_len {
            return out;
        }
        let addend: Zeroizing<Vec<u8>> =
            Zeroizing::new(block.iter().copied().cycle().take(v).collect());
        for chunk in input.chunks_mut(v) {
            let mut carry = 1u16;
            for (byte, add) in chunk.iter_mut().zip(addend.iter()).rev() {
                let sum = u16::from(*byte) + u16::from(*add) + carry;
                *byte = sum.to_le_bytes()[0];
                carry = sum >> 8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the RustCrypto pkcs12 crate's KDF tests, which were
    // checked against OpenSSL's PKCS12_key_gen_utf8.
    #[test]
    fn pkcs12_kdf_matches_known_vectors() {
        let password = Password::candidates(Some("ge@äheim"));
        let bmp = &password[0].bmp;
        let salt = [0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8];
        let sha256 = &digest::SHA256;
        let cases: [(KdfPurpose, u64, usize, &str); 5] = [
            (
                KdfPurpose::Key,
                100,
                32,
                "fae4d4957a3cc781e1180b9d4fb79c1e0c8579b746a3177e5b0768a3118bf863",
            ),
            (
                KdfPurpose::Iv,
                100,
                20,
                "e5ff813bc6547de5155b14d2fada85b3201a9773",
            ),
            (
                KdfPurpose::Mac,
                1000,
                32,
                "3f9113f05c30a996c4a516409bdac9d065f44296ccd52bb75de3fcfdbe2bf130",
            ),
            (
                KdfPurpose::Key,
                1000,
                100,
                "2b95a0569b63f641fae1efca32e84db3699ab74540628ba66283b58cf5400527d8d0ebe2ccbf768c51c4d8fbd1bb156be06c1c59cbb69e44052ffc37376fdb47b2de7f9e543de9d096d8e5474b220410ff1c5d8bb7e5bc0f61baeaa12fd0da1d7a970172",
            ),
            (
                KdfPurpose::Iv,
                100,
                32,
                "e5ff813bc6547de5155b14d2fada85b3201a977349db6e26ccc998d9e8f83d6c",
            ),
        ];
        for (purpose, iterations, len, expected) in cases {
            let out = pkcs12_kdf(sha256, bmp, &salt, purpose, iterations, len);
            assert_eq!(hex::encode(out.as_slice()), expected);
        }
        let sha512 = pkcs12_kdf(&digest::SHA512, bmp, &salt, KdfPurpose::Key, 100, 32);
        assert_eq!(
            hex::encode(sha512.as_slice()),
            "b14a9f01bfd9dce4c9d66d2fe9937e5fd9f1afa59e370a6fa4fc81c1cc8ec8ee"
        );
    }

    #[test]
    fn empty_password_has_two_encodings() {
        let forms = Password::candidates(None);
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[0].bmp.as_slice(), &[0, 0]);
        assert!(forms[1].bmp.is_empty());
        assert_eq!(Password::candidates(Some("")).len(), 2);
    }
}
