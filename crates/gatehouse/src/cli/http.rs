//! The HTTP side of the client: one management API request at a time over hyper-util's legacy
//! client (plain or HTTPS, [`super::connect`]), with the admin token, and the mapping of answers to [`Failure`]s.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use zeroize::{Zeroize as _, Zeroizing};

use super::connect::Connector;
use super::error::{Failure, ServerError};

/// A TCP connect that takes longer than this means the address is wrong or filtered.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole request: generous, since an upload's key derivation is deliberately slow.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest answer we read: far above any list the server makes.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The admin token, and where it came from (for a 401's hint).
pub(super) struct Token {
    header: HeaderValue,
    source: String,
}

impl Token {
    /// Checks that `value` can be sent as `Authorization: Bearer <value>`.
    pub(super) fn new(
        value: impl Into<Zeroizing<String>>,
        source: String,
    ) -> Result<Self, Failure> {
        let value: Zeroizing<String> = value.into();
        let value = value.trim();
        if value.is_empty() {
            return Err(Failure::Usage(format!(
                "the admin token from {source} is empty"
            )));
        }
        let bearer = Zeroizing::new(format!("Bearer {value}"));
        let mut header = HeaderValue::from_str(&bearer).map_err(|_| {
            Failure::Usage(format!(
                "the admin token from {source} holds characters a header cannot carry"
            ))
        })?;
        header.set_sensitive(true);
        Ok(Self { header, source })
    }
}

/// A client of one management API.
pub(super) struct Http {
    /// `http://host:port[/prefix]`, without a trailing slash.
    base: String,
    token: Token,
    client: Client<Connector, Full<Bytes>>,
}

impl Http {
    /// A client of the management API at `admin_url`.
    pub(super) fn new(admin_url: &str, token: Token) -> Result<Self, Failure> {
        let base = admin_url.trim_end_matches('/').to_string();
        let uri: Uri = base.parse().map_err(|_| bad_url(admin_url))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.authority().is_some() && uri.query().is_none() => {}
            _ => return Err(bad_url(admin_url)),
        }
        let client = Client::builder(TokioExecutor::new()).build(Connector::new(CONNECT_TIMEOUT));
        Ok(Self {
            base,
            token,
            client,
        })
    }

    /// `GET path`: the answer's JSON.
    pub(super) async fn get(&self, path: &str) -> Result<Value, Failure> {
        let body = self.send(Method::GET, path, None, None).await?;
        parse(&body)
    }

    /// `PUT path` of `{"properties": properties}`: the answer's JSON.
    ///
    /// Every string of the body is wiped once sent: uploads carry keys and passwords.
    pub(super) async fn put(&self, path: &str, properties: Value) -> Result<Value, Failure> {
        let mut document = json!({ "properties": properties });
        let bytes = serde_json::to_vec(&document)
            .map(Zeroizing::new)
            .map_err(|e| Failure::Usage(format!("cannot encode the request: {e}")));
        wipe(&mut document);
        let body = Bytes::from_owner(bytes?);
        let answer = self.send(Method::PUT, path, Some(body), None).await?;
        parse(&answer)
    }

    /// `POST path` of `body` (an action: rollback, refresh): the answer's JSON.
    pub(super) async fn post(&self, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        let bytes = body
            .map(|b| serde_json::to_vec(&b))
            .transpose()
            .map_err(|e| Failure::Usage(format!("cannot encode the request: {e}")))?
            .map(Bytes::from);
        let answer = self.send(Method::POST, path, bytes, None).await?;
        parse(&answer)
    }

    /// `DELETE path` with `If-Match: if_match`.
    pub(super) async fn delete(&self, path: &str, if_match: &str) -> Result<(), Failure> {
        self.send(Method::DELETE, path, None, Some(if_match))
            .await
            .map(drop)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        if_match: Option<&str>,
    ) -> Result<Bytes, Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::AUTHORIZATION, self.token.header.clone())
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("gatehouse-cli/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(tag) = if_match {
            let value = HeaderValue::from_str(tag)
                .map_err(|_| Failure::Usage(format!("--if-match {tag:?} is not a valid ETag")))?;
            request = request.header(header::IF_MATCH, value);
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| Failure::Usage(format!("cannot build a request for {url}: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| unreachable(&self.base, &e))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    Failure::Unavailable(format!("the answer from {url} could not be read: {e}"))
                })?
                .to_bytes();
            Ok::<_, Failure>((parts.status, body))
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                Failure::Unavailable(format!(
                    "no answer from {url} within {} seconds",
                    REQUEST_TIMEOUT.as_secs()
                ))
            })??;
        if status.is_success() {
            return Ok(body);
        }
        let reason = status.canonical_reason().unwrap_or("");
        let mut error = ServerError::from_body(status.as_u16(), reason, &body);
        if status == StatusCode::UNAUTHORIZED {
            error.hint = Some(format!("the token was read from {}", self.token.source));
        }
        Err(if status.is_client_error() {
            Failure::Refused(error)
        } else {
            Failure::Failed(error)
        })
    }
}

/// One path segment: ids are `[A-Za-z0-9._-]`, but whatever the operator typed must stay one
/// segment, so the server answers about that id rather than about another route.
pub(super) fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The usage error for an `--admin-url` we cannot use.
fn bad_url(admin_url: &str) -> Failure {
    Failure::Usage(format!(
        "--admin-url {admin_url:?} is not an http:// or https:// URL such as http://127.0.0.1:8001"
    ))
}

/// The answer's JSON; an empty answer reads as `null`.
fn parse(body: &[u8]) -> Result<Value, Failure> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| Failure::Unavailable(format!("the server's answer is not JSON: {e}")))
}

/// The innermost cause says what went wrong (`Connection refused`); the layers above it only
/// say where.
fn unreachable(base: &str, error: &(dyn std::error::Error + 'static)) -> Failure {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    Failure::Unavailable(format!(
        "cannot reach the management API at {base}: {cause}"
    ))
}

/// Overwrites every string of `value` with zeros before it is freed.
fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_stay_segments() {
        assert_eq!(seg("client-a.v2_x"), "client-a.v2_x");
        assert_eq!(seg("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(seg("é"), "%C3%A9");
    }

    #[test]
    fn admin_urls() {
        let token = || Token::new("t".to_string(), "test".into()).unwrap();
        let http = Http::new("http://127.0.0.1:8001/", token()).unwrap();
        assert_eq!(http.base, "http://127.0.0.1:8001");
        assert!(Http::new("http://host/prefix", token()).is_ok());
        assert!(Http::new("https://host:8443", token()).is_ok());
        for bad in [
            "127.0.0.1:8001",
            "https://",
            "ftp://x",
            "http://",
            "http://h/?q=1",
        ] {
            let e = Http::new(bad, token()).err().unwrap();
            assert_eq!(e.exit_code(), 64, "{bad}");
        }
        assert!(Token::new(" \n".to_string(), "test".into()).is_err());
        assert!(Token::new("a\nb".to_string(), "test".into()).is_err());
    }
}
