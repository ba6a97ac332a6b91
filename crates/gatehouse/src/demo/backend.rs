//! The demo's back end: HTTPS on 127.0.0.1 that refuses any connection without the demo's
//! client certificate and answers every request with a JSON description of the certificate it saw.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish the TLS handshake: a connection that never does
/// should not hold a task for the rest of the demo.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running back end; it stops when dropped.
pub(super) struct Backend {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub(super) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the back end with the TLS identity `chain` + `key` on 127.0.0.1 and an ephemeral
/// port. It requires a client certificate that chains to `client_root`: the demo's
/// self-signed client certificate is its own root, so the back end admits exactly it.
pub(super) async fn start(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_root: CertificateDer<'static>,
) -> anyhow::Result<Backend> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(client_root)
        .context("the demo's client certificate cannot be a trust anchor")?;
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .context("cannot build the back end's client certificate check")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("the back end's TLS identity is unusable")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot listen on 127.0.0.1 for the demo back end")?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tokio::spawn(connection(acceptor.clone(), tcp));
                }
                // Out of file descriptors and the like: pause rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Ok(Backend { addr, task })
}

/// Serves one connection: the handshake (which fails without a client certificate), then
/// HTTP/1.1 or HTTP/2 as ALPN chose.
async fn connection(acceptor: TlsAcceptor, tcp: TcpStream) {
    // A refused handshake ends the connection; the gateway reports it to its caller.
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    let seen = Arc::new(describe(
        tls.get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first()),
    ));
    let service = service_fn(move |request: Request<Incoming>| {
        let seen = Arc::clone(&seen);
        async move { Ok::<_, Infallible>(answer(&request, &seen)) }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// What the back end says about the client certificate of a connection, computed once per
/// connection with the same code the management API uses, so the thumbprints compare equal.
fn describe(certificate: Option<&CertificateDer<'_>>) -> Value {
    match certificate.map(|der| gatehouse_pki::certificate_info(der)) {
        Some(Ok(info)) => json!({
            "subject": info.subject,
            "issuer": info.issuer,
            "thumbprint": info.thumbprint,
            "selfSigned": info.self_signed,
        }),
        Some(Err(e)) => json!({"error": format!("unreadable client certificate: {e}")}),
        None => Value::Null,
    }
}

/// The JSON answer: a greeting, the request line and the client certificate.
fn answer(request: &Request<Incoming>, seen: &Value) -> Response<Full<Bytes>> {
    let body = json!({
        "message": "Hello from the Gatehouse demo back end",
        "request": {
            "method": request.method().as_str(),
            // HTTP/2 requests carry the full URL; the path is what the gateway rewrote.
            "path": request.uri().path_and_query().map_or("/", |p| p.as_str()),
            "version": format!("{:?}", request.version()),
        },
        "clientCertificate": seen,
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
