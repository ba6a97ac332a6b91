//! Azure Key Vault: `GET {secretIdentifier}?api-version=7.4` with a bearer token for
//! `https://vault.azure.net`, from the client-credentials grant (`AZURE_TENANT_ID`,
//! `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, at `AZURE_AUTHORITY_HOST`) or else a managed
//! identity (IMDS, at `AZURE_POD_IDENTITY_AUTHORITY_HOST` when set). Tokens are cached until
//! five minutes before they expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_model::entity::certificate::{KeyVaultReference, Material};
use http::{Method, StatusCode};
use parking_lot::Mutex;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::FetchError;
use crate::http::{Client, encode, form, host_of};

const API_VERSION: &str = "7.4";
const SCOPE: &str = "https://vault.azure.net/.default";
const RESOURCE: &str = "https://vault.azure.net";
const IMDS: &str = "http://169.254.169.254";
/// A token is renewed this long before it expires.
const MARGIN: Duration = Duration::from_secs(300);

/// How Gatehouse gets tokens for Key Vault, as Azure SDKs find them.
#[derive(Clone)]
pub enum Credentials {
    /// A service principal's secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`).
    ClientSecret {
        /// `https://login.microsoftonline.com` unless `AZURE_AUTHORITY_HOST` says otherwise.
        authority: String,
        /// Directory (tenant) id.
        tenant: String,
        /// Application (client) id.
        client_id: String,
        /// The client secret.
        secret: Zeroizing<String>,
    },
    /// The managed identity of the machine (IMDS); a reference's `identityClientId` picks a
    /// user-assigned one.
    ManagedIdentity {
        /// IMDS base URL.
        endpoint: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientSecret {
                tenant, client_id, ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant", tenant)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::ManagedIdentity { endpoint } => f
                .debug_struct("ManagedIdentity")
                .field("endpoint", endpoint)
                .finish(),
        }
    }
}

impl Credentials {
    /// From the environment, as Azure SDKs read it.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let (Some(tenant), Some(client_id), Some(secret)) = (
            var("AZURE_TENANT_ID"),
            var("AZURE_CLIENT_ID"),
            var("AZURE_CLIENT_SECRET"),
        ) {
            return Self::ClientSecret {
                authority: var("AZURE_AUTHORITY_HOST")
                    .unwrap_or_else(|| "https://login.microsoftonline.com".into())
                    .trim_end_matches('/')
                    .to_owned(),
                tenant,
                client_id,
                secret: Zeroizing::new(secret),
            };
        }
        let endpoint = var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
            .unwrap_or_else(|| IMDS.into())
            .trim_end_matches('/')
            .to_owned();
        Self::ManagedIdentity { endpoint }
    }
}

struct Token {
    value: Zeroizing<String>,
    renew_at: Instant,
}

/// The Key Vault client with its token cache.
pub(crate) struct KeyVault {
    credentials: Credentials,
    http: Client,
    tokens: Mutex<HashMap<Option<String>, Token>>,
}

impl std::fmt::Debug for KeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVault")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl KeyVault {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            http: Client::new(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the secret a reference names.
    pub(crate) async fn fetch(
        &self,
        reference: &KeyVaultReference,
    ) -> Result<Material, FetchError> {
        let identity = reference.identity_client_id.clone();
        let token = self.token(identity.clone()).await?;
        let url = format!(
            "{}?api-version={API_VERSION}",
            reference.secret_identifier.trim_end_matches('/')
        );
        let vault = host_of(&url);
        let authorization = format!("Bearer {}", token.as_str());
        let answer = self
            .http
            .send(
                Method::GET,
                &url,
                &[("authorization", &authorization)],
                None,
            )
            .await
            .map_err(|e| {
                FetchError::new("VaultUnreachable", format!("Key Vault {vault}: {}", e.0))
            })?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                // The token may have been revoked early: ask for a new one next time.
                self.tokens.lock().remove(&identity);
                return Err(FetchError::new(
                    "Unauthorized",
                    format!(
                        "Key Vault {vault} answered {} to Gatehouse's identity: give it the \
                         'Key Vault Secrets User' role (or a get-secret access policy) on the vault",
                        answer.status.as_u16()
                    ),
                ));
            }
            StatusCode::NOT_FOUND => {
                return Err(FetchError::new(
                    "SecretNotFound",
                    format!(
                        "Key Vault {vault} has no such secret (or version); check secretIdentifier"
                    ),
                ));
            }
            other => {
                return Err(FetchError::new(
                    "VaultError",
                    format!("Key Vault {vault} answered {}", other.as_u16()),
                ));
            }
        }
        let secret: Value = serde_json::from_slice(&answer.body).map_err(|_| {
            FetchError::new(
                "InvalidSecret",
                format!("Key Vault {vault} answered something other than a secret"),
            )
        })?;
        let value = Zeroizing::new(
            secret["value"]
                .as_str()
                .ok_or_else(|| FetchError::new("InvalidSecret", "the secret has no value"))?
                .to_owned(),
        );
        let content_type = secret["contentType"].as_str().unwrap_or_default();
        let pem = match content_type {
            "application/x-pem-file" => true,
            "application/x-pkcs12" => false,
            "" => value.trim_start().starts_with("-----BEGIN"),
            other => {
                return Err(FetchError::new(
                    "UnsupportedContentType",
                    format!(
                        "the secret's contentType is {other}: Gatehouse reads application/x-pkcs12 \
                         (base64 .pfx) and application/x-pem-file"
                    ),
                ));
            }
        };
        if pem {
            return Ok(Material::Pem(value, None));
        }
        let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(compact.as_bytes()).map_err(|_| {
            FetchError::new(
                "InvalidSecret",
                "the secret's value is not the base64 of a .pfx file",
            )
        })?;
        Ok(Material::Pkcs12(Zeroizing::new(der), None))
    }

    async fn token(&self, identity: Option<String>) -> Result<Zeroizing<String>, FetchError> {
        if let Some(t) = self.tokens.lock().get(&identity)
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let (value, lifetime) = match &self.credentials {
            Credentials::ClientSecret {
                authority,
                tenant,
                client_id,
                secret,
            } => {
                let url = format!("{authority}/{}/oauth2/v2.0/token", encode(tenant));
                let body = form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("scope", SCOPE),
                ]);
                let answer = self
                    .http
                    .send(
                        Method::POST,
                        &url,
                        &[],
                        Some(("application/x-www-form-urlencoded", body)),
                    )
                    .await
                    .map_err(|e| {
                        FetchError::new("TokenUnavailable", format!("the token endpoint: {}", e.0))
                    })?;
                parse_token(&answer.status, &answer.body, "expires_in", false)?
            }
            Credentials::ManagedIdentity { endpoint } => {
                let mut url = format!(
                    "{endpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
                    encode(RESOURCE)
                );
                if let Some(id) = &identity {
                    url.push_str(&format!("&client_id={}", encode(id)));
                }
                let answer = self
                    .http
                    .send(Method::GET, &url, &[("metadata", "true")], None)
                    .await
                    .map_err(|e| {
                        FetchError::new(
                            "TokenUnavailable",
                            format!(
                                "no managed identity endpoint ({}); outside Azure set \
                                 AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
                                e.0
                            ),
                        )
                    })?;
                parse_token(&answer.status, &answer.body, "expires_on", true)?
            }
        };
        let renew_at = Instant::now() + lifetime.saturating_sub(MARGIN);
        self.tokens.lock().insert(
            identity,
            Token {
                value: value.clone(),
                renew_at,
            },
        );
        Ok(value)
    }
}

/// An OAuth token answer: the token and how long it lasts (`expires_in` seconds, or
/// `expires_on` as a Unix time).
fn parse_token(
    status: &StatusCode,
    body: &[u8],
    expiry: &str,
    absolute: bool,
) -> Result<(Zeroizing<String>, Duration), FetchError> {
    if !status.is_success() {
        // The error body names the problem (AADSTS codes) and holds no secret.
        let reason = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                v["error_description"]
                    .as_str()
                    .or(v["error"].as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        return Err(FetchError::new(
            "TokenUnavailable",
            format!("the token endpoint answered {}: {reason}", status.as_u16()),
        ));
    }
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        FetchError::new(
            "TokenUnavailable",
            "the token endpoint's answer is not JSON",
        )
    })?;
    let token = json["access_token"].as_str().ok_or_else(|| {
        FetchError::new(
            "TokenUnavailable",
            "the token endpoint gave no access_token",
        )
    })?;
    let number = |v: &Value| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let seconds = number(&json[expiry]).unwrap_or(300);
    let lifetime = if absolute {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Duration::from_secs(seconds.saturating_sub(u64::try_from(now).unwrap_or_default()))
    } else {
        Duration::from_secs(seconds)
    };
    Ok((Zeroizing::new(token.to_owned()), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_give_the_token_and_its_lifetime_or_say_why_not() {
        let (token, life) = parse_token(
            &StatusCode::OK,
            br#"{"access_token":"t1","expires_in":3599}"#,
            "expires_in",
            false,
        )
        .unwrap();
        assert_eq!((token.as_str(), life), ("t1", Duration::from_secs(3599)));
        let in_an_hour = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
        let (_, life) = parse_token(
            &StatusCode::OK,
            format!(r#"{{"access_token":"t2","expires_on":"{in_an_hour}"}}"#).as_bytes(),
            "expires_on",
            true,
        )
        .unwrap();
        assert!(life > Duration::from_secs(3590) && life <= Duration::from_secs(3600));
        let refused = parse_token(
            &StatusCode::UNAUTHORIZED,
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
            "expires_in",
            false,
        )
        .unwrap_err();
        assert_eq!(refused.code, "TokenUnavailable");
        assert!(
            refused.message.contains("AADSTS7000215"),
            "{}",
            refused.message
        );
    }
}
