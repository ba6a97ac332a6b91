//! At-rest encryption of private keys and other secrets.
//!
//! Format: `0x01 || nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes)`.
//! The version byte leaves room for a future algorithm or key rotation
//! scheme without guessing at old data. Nonces are random: with a 96-bit
//! nonce the collision risk stays negligible for far more seals than a
//! gateway's configuration store will ever do under one key.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::{Zeroize, Zeroizing};

use crate::PkiError;

const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The key that seals secrets for storage (AES-256-GCM).
///
/// `Debug` never shows the key, and the key bytes are wiped on drop.
pub struct MasterKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    key: RandomizedNonceKey,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Generates a new random key.
    ///
    /// # Errors
    ///
    /// [`PkiError::KeyGenerationFailed`] if the system random number generator fails.
    pub fn generate() -> Result<Self, PkiError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        aws_lc_rs::rand::fill(bytes.as_mut_slice()).map_err(|_| PkiError::KeyGenerationFailed)?;
        Self::from_array(bytes)
    }

    /// Uses exactly 32 bytes as the key.
    ///
    /// # Errors
    ///
    /// [`PkiError::InvalidMasterKey`] if `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PkiError> {
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| PkiError::InvalidMasterKey {
            reason: "it is not 32 bytes long",
        })?;
        Self::from_array(Zeroizing::new(array))
    }

    /// Reads a key written by [`MasterKey::to_base64`]: standard base64 of
    /// 32 bytes; surrounding whitespace (a trailing newline in a key file) is ignored.
    ///
    /// # Errors
    ///
    /// [`PkiError::InvalidMasterKey`] if the text is not base64 or does not decode to 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, PkiError> {
        let decoded = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| {
            PkiError::InvalidMasterKey {
                reason: "it is not valid standard base64",
            }
        })?);
        Self::from_bytes(&decoded)
    }

    /// The key as standard base64, for writing a generated key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_slice()))
    }

    fn from_array(bytes: Zeroizing<[u8; KEY_LEN]>) -> Result<Self, PkiError> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes.as_slice()).map_err(|_| {
            PkiError::InvalidMasterKey {
                reason: "AES-256-GCM refused the key",
            }
        })?;
        Ok(MasterKey { bytes, key })
    }

    /// Encrypts `plaintext`, binding it to `aad` (for example
    /// `certificate:ID:v3`), so sealed data cannot be moved to another record.
    ///
    /// # Errors
    ///
    /// [`PkiError::SealFailed`] if encryption fails (only if the random number generator fails).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, PkiError> {
        let mut in_out = plaintext.to_vec();
        let nonce = match self
            .key
            .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
        {
            Ok(nonce) => nonce,
            Err(_) => {
                // The buffer may still hold plaintext.
                in_out.zeroize();
                return Err(PkiError::SealFailed);
            }
        };
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts data produced by [`MasterKey::seal`] with the same `aad`.
    ///
    /// # Errors
    ///
    /// [`PkiError::OpenFailed`] for a different key, a different `aad`, an
    /// unknown format version, or any modification of `sealed`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let Some((&VERSION, rest)) = sealed.split_first() else {
            return Err(PkiError::OpenFailed);
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(PkiError::OpenFailed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| PkiError::OpenFailed)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| PkiError::OpenFailed)?
            .len();
        in_out.truncate(plain_len);
        Ok(in_out)
    }
}
