//! A small HTTP client for the management API and the gateway, as an operator's script
//! would use them: real requests over TCP, nothing in-process.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use zeroize::Zeroizing;

/// How long one call may take: every call goes to this process, so anything slower is stuck.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP answer.
pub(super) struct Reply {
    /// Status.
    pub(super) status: StatusCode,
    /// Body, as JSON (`Null` when empty or not JSON).
    pub(super) json: Value,
}

/// A client of one listener, optionally sending the admin token.
pub(super) struct Http {
    base: String,
    token: Option<Zeroizing<String>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    /// A client of `addr`; `token` is sent as a bearer token when given.
    pub(super) fn new(addr: SocketAddr, token: Option<Zeroizing<String>>) -> Self {
        Self {
            base: format!("http://{addr}"),
            token,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `GET path`, whatever the status.
    pub(super) async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    /// `PUT path` with a JSON body; a status other than 2xx is an error naming the call and
    /// the server's message. Returns the answer's JSON.
    pub(super) async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let reply = self
            .send(Method::PUT, path, Some(Bytes::from(body.to_string())))
            .await?;
        if !reply.status.is_success() {
            bail!(
                "PUT {path} was refused with {}: {}",
                reply.status,
                error_message(&reply.json)
            );
        }
        Ok(reply.json)
    }

    async fn send(&self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<Reply> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {}", token.as_str()));
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .with_context(|| format!("cannot build {method} {path}"))?;
        let call = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok(Reply {
                status,
                json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            })
        };
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(reply) => reply.with_context(|| format!("{method} {}{path} failed", self.base)),
            Err(_) => bail!(
                "{method} {}{path} got no answer within {}s",
                self.base,
                CALL_TIMEOUT.as_secs()
            ),
        }
    }
}

/// The message of an error answer: the management API's `error.message` (with its details),
/// or the gateway's `code` and `message`.
pub(super) fn error_message(json: &Value) -> String {
    let error = json.get("error").unwrap_or(json);
    let code = error.get("code").and_then(Value::as_str);
    let message = error.get("message").and_then(Value::as_str);
    let details: Vec<&str> = error
        .get("details")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .filter_map(|d| d.get("message").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let mut text = match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (None, Some(message)) => message.to_string(),
        (Some(code), None) => code.to_string(),
        (None, None) => json.to_string(),
    };
    if !details.is_empty() {
        text = format!("{text} ({})", details.join("; "));
    }
    text
}
