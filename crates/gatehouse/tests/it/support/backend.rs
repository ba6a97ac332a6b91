//! A real back end for gateway tests: hyper over rustls on 127.0.0.1:0, optionally requiring a
//! client certificate, recording what each request carried (the client certificate's
//! thumbprint included), with misbehaviours on demand.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the back end does with requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answers with a JSON echo of the request (`/download/N` streams N bytes).
    Echo,
    /// Never answers.
    Hang,
    /// Reads the request, then resets the connection.
    Reset,
    /// Answers like `Echo`, after this many milliseconds.
    Slow(u64),
}

/// How to run the back end.
pub struct Options {
    /// TLS identity (leaf first); `None` serves cleartext HTTP.
    pub tls: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// Ask for a client certificate; `Some(true)` requires one.
    pub client_auth: Option<bool>,
    /// ALPN protocols offered (`["h2", "http/1.1"]` by default).
    pub alpn: Vec<Vec<u8>>,
    /// Close each connection after this many requests (HTTP/1.1 `Connection: close`, HTTP/2
    /// GOAWAY).
    pub close_every: Option<usize>,
    /// Behaviour.
    pub mode: Mode,
    /// Client certificates accepted, by thumbprint; `None` accepts any.
    pub allowed_clients: Option<Vec<String>>,
}

impl Options {
    /// Echo over TLS with `identity`, requiring a client certificate.
    pub fn mtls(identity: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)) -> Self {
        Self {
            tls: Some(identity),
            client_auth: Some(true),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            close_every: None,
            mode: Mode::Echo,
            allowed_clients: None,
        }
    }

    /// Cleartext HTTP in `mode`.
    pub fn plain(mode: Mode) -> Self {
        Self {
            tls: None,
            client_auth: None,
            alpn: Vec::new(),
            close_every: None,
            mode,
            allowed_clients: None,
        }
    }
}

/// One request as the back end saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Thumbprint of the client certificate of its connection.
    pub client_thumbprint: Option<String>,
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers (last value wins; lower-case names).
    pub headers: BTreeMap<String, String>,
    /// HTTP version.
    pub version: String,
    /// Connection number (1-based) on the back end.
    pub connection: usize,
}

/// A running back end; stops when dropped.
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    resumed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The last request seen.
    pub fn last(&self) -> Seen {
        self.seen()
            .last()
            .cloned()
            .expect("the back end saw no request")
    }

    /// Connections accepted so far (TLS handshakes completed, for TLS back ends).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// TLS connections that resumed an earlier session (no certificate exchanged).
    pub fn resumed(&self) -> usize {
        self.resumed.load(Ordering::SeqCst)
    }
}

/// Accepts any client certificate, so tests can present self-signed ones, and records it.
#[derive(Debug)]
struct AnyClientCert {
    required: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
    allowed: Option<Vec<String>>,
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match &self.allowed {
            Some(allowed) if !allowed.contains(&thumbprint(end_entity)) => Err(
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ),
            _ => Ok(ClientCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.required
    }
}

/// SHA-1 thumbprint, upper-case hex.
pub fn thumbprint(der: &[u8]) -> String {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Starts a back end.
pub async fn start(options: Options) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = options.tls.map(|(chain, key)| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match options.client_auth {
            Some(required) => builder.with_client_cert_verifier(Arc::new(AnyClientCert {
                required,
                provider,
                allowed: options.allowed_clients.clone(),
            })),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = options.alpn.clone();
        TlsAcceptor::from(Arc::new(config))
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let resumed_count = Arc::new(AtomicUsize::new(0));
    let (mode, close_every) = (options.mode, options.close_every);
    let task = {
        let (seen, connections) = (Arc::clone(&seen), Arc::clone(&connections));
        let resumed_all = Arc::clone(&resumed_count);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                // As production back ends do: without it, a response written in two parts
                // waits for the gateway's delayed ACK (40 ms) on new connections.
                let _ = tcp.set_nodelay(true);
                let (seen, connections, acceptor, resumed) = (
                    Arc::clone(&seen),
                    Arc::clone(&connections),
                    acceptor.clone(),
                    Arc::clone(&resumed_all),
                );
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            // A failed handshake (the gateway's verifier refusing us, or no
                            // client certificate) just ends this connection.
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            if tls.get_ref().1.handshake_kind()
                                == Some(rustls::HandshakeKind::Resumed)
                            {
                                resumed.fetch_add(1, Ordering::SeqCst);
                            }
                            let thumb = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| thumbprint(c));
                            let n = connections.fetch_add(1, Ordering::SeqCst) + 1;
                            serve(TokioIo::new(tls), thumb, n, seen, mode, close_every).await;
                        }
                        None => {
                            let n = connections.fetch_add(1, Ordering::SeqCst) + 1;
                            serve(TokioIo::new(tcp), None, n, seen, mode, close_every).await;
                        }
                    }
                });
            }
        })
    };
    Backend {
        addr,
        seen,
        connections,
        resumed: resumed_count,
        task,
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

async fn serve<I>(
    io: TokioIo<I>,
    thumb: Option<String>,
    connection: usize,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Mode,
    close_every: Option<usize>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let served = Arc::new(AtomicUsize::new(0));
    let close = Arc::new(tokio::sync::Notify::new());
    let (served2, close2) = (Arc::clone(&served), Arc::clone(&close));
    let service = service_fn(move |req: Request<Incoming>| {
        let (seen, thumb, served, close) = (
            Arc::clone(&seen),
            thumb.clone(),
            Arc::clone(&served2),
            Arc::clone(&close2),
        );
        async move {
            let n = served.fetch_add(1, Ordering::SeqCst) + 1;
            let last = close_every.is_some_and(|every| n >= every);
            let record = Seen {
                client_thumbprint: thumb.clone(),
                method: req.method().to_string(),
                uri: req
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                headers: req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect(),
                version: format!("{:?}", req.version()),
                connection,
            };
            seen.lock().unwrap().push(record.clone());
            respond(req, record, mode, last, &close).await
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = close.notified() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn respond(
    req: Request<Incoming>,
    record: Seen,
    mode: Mode,
    last: bool,
    close: &tokio::sync::Notify,
) -> Result<Response<Body>, std::io::Error> {
    match mode {
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Mode::Reset => {
            return Err(std::io::Error::other("reset on purpose"));
        }
        Mode::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Mode::Echo => {}
    }
    let is_h2 = req.version() == hyper::Version::HTTP_2;
    let path = req.uri().path().to_string();
    let mut body_bytes = 0u64;
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        if let Some(data) = frame.data_ref() {
            body_bytes += data.len() as u64;
            hasher.update(data);
        }
    }
    let mut builder = Response::builder().header("x-backend-seen", "1");
    if last {
        if is_h2 {
            close.notify_one();
        } else {
            builder = builder.header("connection", "close");
        }
    }
    if let Some(n) = path
        .rsplit_once("/download/")
        .and_then(|(_, n)| n.parse::<usize>().ok())
    {
        // Streamed in 64 KiB chunks, never held whole.
        let chunks = (0..n.div_ceil(65536)).map(move |i| {
            let len = 65536.min(n - i * 65536);
            Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![b'x'; len])))
        });
        let stream = futures_lite_stream(chunks);
        return Ok(builder
            .header("content-length", n.to_string())
            .body(BodyExt::boxed(StreamBody::new(stream)))
            .unwrap());
    }
    let echo = json!({
        "method": record.method,
        "uri": record.uri,
        "headers": record.headers,
        "version": record.version,
        "clientThumbprint": record.client_thumbprint,
        "bodyBytes": body_bytes,
        "bodySha256": hasher.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>(),
    });
    Ok(builder
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(echo.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap())
}

/// A stream over an iterator, without pulling in a futures crate.
fn futures_lite_stream<I>(iter: I) -> IterStream<I> {
    IterStream(iter)
}

/// See [`futures_lite_stream`].
pub struct IterStream<I>(I);

impl<I: Iterator + Unpin> futures_core::Stream for IterStream<I> {
    type Item = I::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}
