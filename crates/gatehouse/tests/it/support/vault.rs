//! A local HTTPS server speaking the Azure AD token (client credentials) and Key Vault secrets
//! protocols, with its certificate from the test's CA: the secret it serves, and whether it
//! answers at all, change on demand.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::pki::TestCa;

/// The client secret the vault's token endpoint accepts.
pub const CLIENT_SECRET: &str = "test-client-secret-value";
const TOKEN: &str = "test-access-token-1";

/// How the vault answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaultMode {
    /// Serves tokens and the secret.
    Up,
    /// Refuses the token on the secret: 401.
    Unauthorized,
    /// Closes every connection at once, as a vault that is down behind a load balancer.
    Down,
}

struct State {
    value: String,
    content_type: String,
    version: u32,
    mode: VaultMode,
    /// Secret requests seen, with their Authorization header.
    requests: Vec<String>,
}

/// A running vault.
pub struct Vault {
    /// Where it listens (`localhost` names it in its certificate).
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Vault {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Vault {
    /// Starts a vault whose certificate `ca` issues for `localhost`.
    pub async fn start(ca: &TestCa) -> Self {
        let (chain, key) = ca.server(&["localhost"], -1, 30);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            value: String::new(),
            content_type: String::new(),
            version: 0,
            mode: VaultMode::Up,
            requests: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                if shared.lock().unwrap().mode == VaultMode::Down {
                    drop(tcp);
                    continue;
                }
                let (acceptor, state) = (acceptor.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| answer(req, Arc::clone(&state)));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    /// The authority host (for `AZURE_AUTHORITY_HOST`).
    pub fn authority(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The identifier of secret `name`, latest version.
    pub fn secret_url(&self, name: &str) -> String {
        format!("https://localhost:{}/secrets/{name}", self.addr.port())
    }

    /// Serves `value` with `content_type` as the secret's new version.
    pub fn set_secret(&self, value: &str, content_type: &str) {
        let mut s = self.state.lock().unwrap();
        s.value = value.to_owned();
        s.content_type = content_type.to_owned();
        s.version += 1;
    }

    /// Changes how it answers.
    pub fn set_mode(&self, mode: VaultMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// How many secret requests it answered.
    pub fn secret_requests(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }
}

async fn answer(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let reply = |status: StatusCode, body: Value| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap())
    };
    if path.ends_with("/oauth2/v2.0/token") {
        let form = String::from_utf8_lossy(&body).into_owned();
        let ok = form.contains("grant_type=client_credentials")
            && form.contains(&format!("client_secret={CLIENT_SECRET}"))
            && form.contains("scope=https%3A%2F%2Fvault.azure.net%2F.default");
        if !ok {
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
            );
        }
        return reply(
            StatusCode::OK,
            json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}),
        );
    }
    if let Some(name) = path.strip_prefix("/secrets/") {
        let mut s = state.lock().unwrap();
        s.requests.push(auth.clone());
        if s.mode == VaultMode::Unauthorized || auth != format!("Bearer {TOKEN}") {
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}),
            );
        }
        if !query.contains("api-version=7.4") || s.value.is_empty() {
            return reply(
                StatusCode::NOT_FOUND,
                json!({"error": {"code": "SecretNotFound"}}),
            );
        }
        return reply(
            StatusCode::OK,
            json!({
                "value": s.value,
                "contentType": s.content_type,
                "id": format!("https://localhost/secrets/{name}/v{}", s.version),
                "attributes": {"enabled": true},
            }),
        );
    }
    reply(
        StatusCode::NOT_FOUND,
        json!({"error": {"code": "NotFound"}}),
    )
}

/// A plain-HTTP stand-in for the Azure instance metadata service's token endpoint (managed
/// identity): answers `GET /metadata/identity/oauth2/token` with the vault's token when the
/// request says `Metadata: true` and asks for the vault's resource.
pub struct Imds {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The `client_id` of each token request (empty when none was sent).
    pub client_ids: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Imds {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Imds {
    /// Starts it.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client_ids = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&client_ids);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move {
                            let query = req.uri().query().unwrap_or_default().to_owned();
                            let metadata =
                                req.headers().get("metadata").is_some_and(|v| v == "true");
                            let ok = req.uri().path() == "/metadata/identity/oauth2/token"
                                && metadata
                                && query.contains("resource=https%3A%2F%2Fvault.azure.net");
                            let client_id = query
                                .split('&')
                                .find_map(|p| p.strip_prefix("client_id="))
                                .unwrap_or_default()
                                .to_owned();
                            seen.lock().unwrap().push(client_id);
                            let expires_on =
                                time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
                            let (status, body) = if ok {
                                (
                                    StatusCode::OK,
                                    json!({"access_token": TOKEN, "expires_on": expires_on.to_string(), "token_type": "Bearer"}),
                                )
                            } else {
                                (StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}))
                            };
                            Ok::<_, std::io::Error>(
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body.to_string())))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            client_ids,
            task,
        }
    }
}
