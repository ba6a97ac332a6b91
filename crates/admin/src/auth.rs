//! Admin authentication: one bearer token, kept only as a SHA-256 hash.

use aws_lc_rs::{constant_time, digest};

/// The admin token's hash and the check against it.
pub struct AdminAuth {
    hash: [u8; 32],
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminAuth(..)")
    }
}

/// A stored token hash that is not 64 hex digits: the store was altered.
#[derive(Debug, thiserror::Error)]
#[error("the stored admin token hash is not valid; set GATEHOUSE_ADMIN_TOKEN or restore the store")]
pub struct InvalidTokenHash;

/// SHA-256 of a token, hex: the form stored in the data directory.
pub fn hash_token(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

impl AdminAuth {
    /// From the token itself (`GATEHOUSE_ADMIN_TOKEN`).
    pub fn from_token(token: &str) -> Self {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        Self { hash }
    }

    /// From a stored hash written by [`hash_token`].
    ///
    /// # Errors
    /// [`InvalidTokenHash`] when `hex_hash` is not 64 hex digits.
    pub fn from_hash(hex_hash: &str) -> Result<Self, InvalidTokenHash> {
        let bytes = hex::decode(hex_hash.trim()).map_err(|_| InvalidTokenHash)?;
        let hash: [u8; 32] = bytes.try_into().map_err(|_| InvalidTokenHash)?;
        Ok(Self { hash })
    }

    /// Whether `token` is the admin token. Compares hashes in constant time, so neither the
    /// token's length nor a matching prefix shows in the timing.
    pub fn verify(&self, token: &str) -> bool {
        let presented = digest::digest(&digest::SHA256, token.as_bytes());
        constant_time::verify_slices_are_equal(presented.as_ref(), &self.hash).is_ok()
    }

    /// Checks an `Authorization` header value: `Bearer <token>` (scheme case-insensitive).
    pub fn verify_header(&self, value: Option<&http::HeaderValue>) -> bool {
        let Some(text) = value.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((scheme, token)) = text.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && self.verify(token.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_passes() {
        let auth = AdminAuth::from_token("s3cret-token");
        assert!(auth.verify("s3cret-token"));
        assert!(!auth.verify("s3cret-toke"));
        assert!(!auth.verify(""));
        let same = AdminAuth::from_hash(&hash_token("s3cret-token")).unwrap();
        assert!(same.verify("s3cret-token"));
        let header = |s: &str| http::HeaderValue::from_str(s).unwrap();
        assert!(auth.verify_header(Some(&header("Bearer s3cret-token"))));
        assert!(auth.verify_header(Some(&header("bearer s3cret-token"))));
        assert!(!auth.verify_header(Some(&header("Basic s3cret-token"))));
        assert!(!auth.verify_header(Some(&header("Bearers3cret-token"))));
        assert!(!auth.verify_header(None));
        assert!(AdminAuth::from_hash("zz").is_err());
    }
}
