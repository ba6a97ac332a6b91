//! Who is calling and what they may do: the bootstrap token (an admin, set at start) and the
//! named tokens of the store ([`TokenRecord`]), each kept only as a SHA-256 hash. The
//! [`Principal`] a request resolves to is set for the request's task ([`PRINCIPAL`]), where
//! every route's role check ([`require_role`]) and the audit trail find it; the portal sets it
//! from its session, so a page can do only what its token's role may.

use aws_lc_rs::{constant_time, digest};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_model::entity::token::{BOOTSTRAP, Role, TokenRecord};

use crate::AppState;
use crate::error::ApiError;

/// Who a request is from.
#[derive(Clone, Debug)]
pub(crate) struct Principal {
    /// The token's name (`bootstrap` for the one set at start).
    pub(crate) name: String,
    /// What it may do.
    pub(crate) role: Role,
    /// SHA-256 of the token: how a portal session finds its token again, so a revoked token
    /// ends its sessions too.
    pub(crate) hash: [u8; 32],
}

impl Principal {
    /// The name the audit trail gives changes made with this token.
    pub(crate) fn audit_name(&self) -> String {
        if self.name == BOOTSTRAP {
            "admin token".into()
        } else {
            format!("token {}", self.name)
        }
    }
}

tokio::task_local! {
    /// The principal of the request this task serves.
    pub(crate) static PRINCIPAL: Principal;
}

/// `n` random bytes, hex (`None` when the system's generator fails).
pub(crate) fn random_hex(n: usize) -> Option<String> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// SHA-256 of a token.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    hash
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub(crate) fn bearer(value: Option<&http::HeaderValue>) -> Option<&str> {
    let text = value?.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl AppState {
    /// The principal a token hash belongs to, as the store is now: a deleted or expired token
    /// resolves to nobody from the next request on. Hashes are compared in constant time.
    pub(crate) fn principal_by_hash(&self, hash: &[u8; 32]) -> Option<Principal> {
        let principal = |name: &str, role| Principal {
            name: name.to_string(),
            role,
            hash: *hash,
        };
        if self.auth.verify_hash(hash) {
            return Some(principal(BOOTSTRAP, Role::Admin));
        }
        let config = self.cp.config();
        let now = time::OffsetDateTime::now_utc();
        config
            .tokens
            .iter()
            .find(|(_, t)| stored_hash_is(&t.value, hash) && t.value.live(now))
            .map(|(name, t)| principal(name, t.value.role))
    }

    /// The principal of a bearer token.
    pub(crate) fn principal(&self, token: &str) -> Option<Principal> {
        self.principal_by_hash(&token_hash(token))
    }
}

fn stored_hash_is(record: &TokenRecord, hash: &[u8; 32]) -> bool {
    let mut stored = [0u8; 32];
    hex::decode_to_slice(record.hash.as_bytes(), &mut stored).is_ok()
        && constant_time::verify_slices_are_equal(&stored, hash).is_ok()
}

/// A certificate that a hostname configuration presents is the gateway's server identity (and,
/// with `--admin-tls-hostname`, the admin listener's): replacing or rolling it back is an
/// admin's change, as the configuration itself is, whatever the route's own role.
pub(crate) fn require_admin_if_presented(
    config: &gatehouse_model::Config,
    certificate_id: &str,
) -> Result<(), ApiError> {
    let presented_by: Vec<&str> = config
        .hostnames
        .iter()
        .filter(|(_, h)| h.value.certificate_id == certificate_id)
        .map(|(id, _)| id.as_str())
        .collect();
    if presented_by.is_empty() {
        return Ok(());
    }
    match PRINCIPAL.try_with(|p| (p.role, p.name.clone())) {
        Ok((role, _)) if role.allows(Role::Admin) => Ok(()),
        Ok((role, name)) => Err(ApiError::new(
            http::StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "certificate '{certificate_id}' is presented by hostname configuration(s) {}: \
                 changing it needs the admin role; the token '{name}' is a {role}",
                presented_by.join(", ")
            ),
        )),
        Err(_) => Err(ApiError::unauthorized()),
    }
}

/// The role check of one route: its role comes from the route table ([`crate::routes`]).
/// Without a principal (a route reached some other way) nothing passes.
pub(crate) async fn require_role(
    State(needed): State<Role>,
    request: Request,
    next: Next,
) -> Response {
    match PRINCIPAL.try_with(|p| (p.role, p.name.clone())) {
        Ok((role, _)) if role.allows(needed) => next.run(request).await,
        Ok((role, name)) => ApiError::forbidden(&name, role, needed).into_response(),
        Err(_) => ApiError::unauthorized().into_response(),
    }
}

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
    hex::encode(token_hash(token))
}

impl AdminAuth {
    /// From the token itself (`GATEHOUSE_ADMIN_TOKEN`).
    pub fn from_token(token: &str) -> Self {
        Self {
            hash: token_hash(token),
        }
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
        self.verify_hash(&token_hash(token))
    }

    fn verify_hash(&self, hash: &[u8; 32]) -> bool {
        constant_time::verify_slices_are_equal(hash, &self.hash).is_ok()
    }

    /// Checks an `Authorization` header value: `Bearer <token>` (scheme case-insensitive).
    pub fn verify_header(&self, value: Option<&http::HeaderValue>) -> bool {
        bearer(value).is_some_and(|token| self.verify(token))
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
