//! A small HTTPS client for the vault and token endpoints: one request per connection (a
//! refresh is rare), the system trust store (which honours `SSL_CERT_FILE`), bounded answers
//! and a deadline for the whole exchange.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

/// Largest answer read.
const MAX_ANSWER: usize = 1024 * 1024;
/// Deadline of one exchange, connect to last byte.
const DEADLINE: Duration = Duration::from_secs(20);

/// An answer: status and body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

/// Why an exchange failed before an answer.
#[derive(Debug)]
pub(crate) struct Unreachable(pub(crate) String);

/// The client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    tls: Arc<ClientConfig>,
}

impl Client {
    /// A client trusting the system's roots (and `SSL_CERT_FILE`).
    pub(crate) fn new() -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let found = rustls_native_certs::load_native_certs();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(anchors = added, "secret store client trust anchors");
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                // aws-lc-rs supports the default versions; keep a working (empty) config
                // rather than panic.
                ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
        Self { tls: Arc::new(tls) }
    }

    /// One request.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer, Unreachable> {
        tokio::time::timeout(DEADLINE, self.exchange(method, url, headers, body))
            .await
            .map_err(|_| {
                Unreachable(format!(
                    "no answer from {} within {DEADLINE:?}",
                    host_of(url)
                ))
            })?
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer, Unreachable> {
        let uri: Uri = url
            .parse()
            .map_err(|_| Unreachable(format!("{} is not a valid URL", host_of(url))))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(Unreachable("only http and https URLs are supported".into())),
        };
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = (
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        );
        let tcp = TcpStream::connect(target)
            .await
            .map_err(|e| Unreachable(format!("cannot connect to {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, authority(&uri))
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("gatehouse/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                request = request.header(http::header::CONTENT_TYPE, content_type);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| Unreachable(format!("cannot build the request: {e}")))?;
        if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|_| Unreachable(format!("{host} is not a valid server name")))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
                .connect(name, tcp)
                .await
                .map_err(|e| Unreachable(format!("TLS with {host}:{port} failed: {e}")))?;
            round_trip(TokioIo::new(tls), request, &host).await
        } else {
            round_trip(TokioIo::new(tcp), request, &host).await
        }
    }
}

async fn round_trip<T>(
    io: T,
    request: Request<Full<Bytes>>,
    host: &str,
) -> Result<Answer, Unreachable>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Unreachable(format!("HTTP with {host} failed: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Unreachable(format!("HTTP with {host} failed: {e}")))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| Unreachable(format!("reading the answer of {host} failed: {e}")))?
        .to_bytes();
    Ok(Answer { status, body })
}

fn authority(uri: &Uri) -> String {
    uri.authority()
        .map_or_else(String::new, ToString::to_string)
}

/// The host of a URL, for messages (never its path or query, which may carry a secret name).
pub(crate) fn host_of(url: &str) -> String {
    url.parse::<Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_else(|| "the server".to_owned())
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    gatehouse_model::text::percent_encode(text, &[])
}
