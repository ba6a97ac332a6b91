//! Opens connections to back ends: TCP, then TLS with the pool's client config. Reports why a
//! connection could not be made, with the back end certificate's subject and issuer for the log.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use gatehouse_model::url::{Scheme, ServiceUrl};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::{ConnectError, Kind, tls_kind};
use crate::metrics::UpstreamStats;
use crate::tls::{HANDSHAKE, Observer, Presented};

/// Where a pool's connections go, resolved when the pool is made: a pool connects to its own
/// origin only, whatever a request's URI says.
pub(crate) struct Origin {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The TLS server name (SNI and the name the certificate is checked against).
    pub(crate) server_name: Option<ServerName<'static>>,
}

impl Origin {
    /// The origin of a back-end URL.
    ///
    /// # Errors
    /// A sentence for the log when the host cannot be a TLS server name.
    pub(crate) fn new(url: &ServiceUrl) -> Result<Self, String> {
        let https = url.scheme == Scheme::Https;
        let server_name = if https {
            Some(
                ServerName::try_from(url.host.clone())
                    .map_err(|e| format!("'{}' is not a valid TLS server name: {e}", url.host))?,
            )
        } else {
            None
        };
        Ok(Self {
            https,
            host: url.host.clone(),
            port: url.port,
            server_name,
        })
    }
}

/// Opens connections for one pool.
pub(crate) struct Connector {
    pub(crate) origin: Origin,
    pub(crate) tls: Arc<ClientConfig>,
    /// The same settings offering only HTTP/1.1 by ALPN: the gateway's own HTTP/1.1 relay
    /// speaks nothing else (HTTP/2 clients are relayed over `tls`).
    pub(crate) tls_h1: Arc<ClientConfig>,
    pub(crate) stats: Arc<UpstreamStats>,
    pub(crate) connect_timeout: Duration,
    /// Whether a client certificate is configured (a back end that does not ask is logged).
    pub(crate) presents_certificate: bool,
    pub(crate) backend: Arc<str>,
    /// What the pool's last full handshake showed. A resumed TLS 1.3 session carries the
    /// client identity of the handshake that made it, and the back end asks for no
    /// certificate again, so a resumed connection inherits these facts.
    pub(crate) last_full: parking_lot::Mutex<Option<(bool, Option<Presented>)>>,
}

/// What a connection's handshake showed, kept with the connection so a failure on it can be
/// explained.
#[derive(Clone, Debug)]
pub(crate) struct HandshakeFacts {
    /// The back end asked for a client certificate.
    pub(crate) certificate_requested: bool,
    /// The gateway had one to present.
    pub(crate) certificate_presented: bool,
    /// Application bytes read on the connection since the handshake. A TLS 1.3 back end that
    /// refuses the client certificate does so before it sends any.
    pub(crate) bytes_read: Arc<AtomicU64>,
    /// The client certificate the handshake presented.
    pub(crate) presented: Option<Presented>,
}

/// A connection to a back end.
pub(crate) struct BackendStream {
    io: Io,
    h2: bool,
    facts: Option<HandshakeFacts>,
    stats: Arc<UpstreamStats>,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Drop for BackendStream {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl BackendStream {
    /// Whether ALPN chose HTTP/2.
    pub(crate) fn is_h2(&self) -> bool {
        self.h2
    }

    /// Whether an idle connection is still as it was left: nothing to read. A back end that
    /// closed it (EOF, a TLS close_notify) or sent something unasked makes the socket
    /// readable; such a connection is not reused. No system call: the reactor's readiness.
    pub(crate) fn is_quiet(&self) -> bool {
        let tcp = match &self.io {
            Io::Plain(s) => s,
            Io::Tls(s) => s.get_ref().0,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        tcp.poll_read_ready(&mut cx).is_pending()
    }

    /// Whether a connection taken from the pool can carry a request: one non-blocking read
    /// of the socket finds nothing. The reactor's readiness alone cannot say so, as it stays
    /// set after a read that emptied the socket; a back end that closed the connection, or
    /// sent bytes nobody asked for (a body after a HEAD response), makes it unusable, and
    /// what was read is thrown away with it.
    pub(crate) fn probe_idle(&self) -> bool {
        let tcp = match &self.io {
            Io::Plain(s) => s,
            Io::Tls(s) => s.get_ref().0,
        };
        let mut probe = [0u8; 1];
        matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// What the TLS handshake showed (`None` for cleartext).
    pub(crate) fn facts(&self) -> Option<HandshakeFacts> {
        self.facts.clone()
    }
}

impl AsyncRead for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => {
                let before = buf.filled().len();
                let polled = Pin::new(s.as_mut()).poll_read(cx, buf);
                if let Some(facts) = &this.facts {
                    let read = (buf.filled().len() - before) as u64;
                    if read > 0 {
                        facts.bytes_read.fetch_add(read, Ordering::Relaxed);
                    }
                }
                polled
            }
        }
    }
}

impl AsyncWrite for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connector {
    /// Whether the back end asked for a client certificate and which one was presented: from
    /// this handshake when it was a full one (and remembered), else from the full handshake
    /// whose session it resumed.
    fn handshake_outcome<S>(
        &self,
        tls: &TlsStream<S>,
        observer: &Observer,
    ) -> (bool, Option<Presented>) {
        let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        let mut last = self.last_full.lock();
        if resumed && let Some(facts) = last.as_ref() {
            return facts.clone();
        }
        let facts = (
            observer.certificate_requested.load(Ordering::Relaxed),
            observer.presented.lock().clone(),
        );
        *last = Some(facts.clone());
        facts
    }

    /// Opens a connection to the pool's origin: TCP, then TLS for `https`.
    ///
    /// # Errors
    /// A classified [`ConnectError`] naming the address and, for TLS, the back end's
    /// certificate.
    pub(crate) async fn connect(&self) -> Result<BackendStream, ConnectError> {
        self.connect_with(&self.tls).await
    }

    /// Opens a connection that speaks HTTP/1.1 (ALPN offers nothing else).
    ///
    /// # Errors
    /// As [`Connector::connect`].
    pub(crate) async fn connect_h1(&self) -> Result<BackendStream, ConnectError> {
        self.connect_with(&self.tls_h1).await
    }

    async fn connect_with(
        &self,
        config: &Arc<ClientConfig>,
    ) -> Result<BackendStream, ConnectError> {
        let Origin {
            https,
            ref host,
            port,
            ref server_name,
        } = self.origin;
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((host.as_str(), port)),
        )
        .await
        .map_err(|_| ConnectError {
            presented: None,
            alpn_refused: false,
            kind: Kind::BackendTimeout,
            detail: format!(
                "connecting to {host}:{port} took longer than {:?}",
                self.connect_timeout
            ),
        })?
        .map_err(|e| ConnectError {
            presented: None,
            alpn_refused: false,
            kind: match e.kind() {
                io::ErrorKind::ConnectionRefused => Kind::BackendConnectionRefused,
                _ => Kind::BackendUnreachable,
            },
            detail: format!("connecting to {host}:{port}: {e}"),
        })?;
        // Requests and responses are small and latency matters more than segment count.
        let _ = tcp.set_nodelay(true);
        let (io, h2, facts) = if let (true, Some(name)) = (https, server_name) {
            let observer = Arc::new(Observer::default());
            let handshake = TlsConnector::from(Arc::clone(config)).connect(name.clone(), tcp);
            let result = tokio::time::timeout(
                self.connect_timeout,
                HANDSHAKE.scope(Arc::clone(&observer), handshake),
            )
            .await;
            let tls = match result {
                Err(_) => {
                    return Err(ConnectError {
                        presented: None,
                        alpn_refused: false,
                        kind: Kind::BackendTimeout,
                        detail: format!(
                            "the TLS handshake with {host}:{port} took longer than {:?}",
                            self.connect_timeout
                        ),
                    });
                }
                Ok(Err(e)) => return Err(self.handshake_error(host, port, &e, &observer)),
                Ok(Ok(tls)) => tls,
            };
            let (requested, presented) = self.handshake_outcome(&tls, &observer);
            if let Some(leaf) = observer.server_certificate.lock().as_ref() {
                // Full handshakes only (a resumed one shows no certificate); cheap when it is
                // the leaf seen last.
                self.stats.saw_server_certificate(leaf.as_ref());
            }
            if self.presents_certificate && !requested {
                self.stats.not_requested.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    backend = %self.backend,
                    host = %host,
                    port,
                    "the back end did not ask for a client certificate; the request proceeds \
                     without one, so the configured certificate is not what protects it"
                );
            }
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let facts = HandshakeFacts {
                certificate_requested: requested,
                certificate_presented: self.presents_certificate,
                bytes_read: Arc::new(AtomicU64::new(0)),
                presented,
            };
            (Io::Tls(Box::new(tls)), h2, Some(facts))
        } else {
            (Io::Plain(tcp), false, None)
        };
        self.stats.new_connections.fetch_add(1, Ordering::Relaxed);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Ok(BackendStream {
            io,
            h2,
            facts,
            stats: Arc::clone(&self.stats),
        })
    }

    fn handshake_error(
        &self,
        host: &str,
        port: u16,
        error: &io::Error,
        observer: &Observer,
    ) -> ConnectError {
        let tls = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        let requested = observer.certificate_requested.load(Ordering::Relaxed);
        let kind = tls.map_or(Kind::BackendHandshakeFailed, |e| tls_kind(e, requested));
        let server = observer
            .server_certificate
            .lock()
            .as_ref()
            .map(|c| describe_certificate(c.as_ref()))
            .unwrap_or_else(|| "no certificate seen".into());
        ConnectError {
            // A TLS 1.2 back end refuses a client certificate inside the handshake.
            presented: observer.presented.lock().clone(),
            alpn_refused: matches!(
                tls,
                Some(rustls::Error::AlertReceived(
                    rustls::AlertDescription::NoApplicationProtocol
                ))
            ),
            kind,
            detail: format!(
                "TLS handshake with {host}:{port} failed: {error}; back end certificate: {server}"
            ),
        }
    }
}

/// `subject="...", issuer="...", notAfter=...` of a certificate, for the log. The back end
/// chose the names: they are quoted with Rust's escapes, so a quote or a line break in them
/// cannot pass for another field or another log line, whatever the log format.
pub(crate) fn describe_certificate(der: &[u8]) -> String {
    match gatehouse_pki::certificate_info(der) {
        Ok(info) => format!(
            "subject={:?}, issuer={:?}, notAfter={}, thumbprint={}",
            info.subject, info.issuer, info.not_after, info.thumbprint
        ),
        Err(e) => format!("unparsable certificate ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_are_quoted_with_escapes() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "evil\", issuer=\"trusted\n2026-01-01T00:00:00Z  INFO forged",
        );
        let cert = params.self_signed(&key).unwrap();
        let described = describe_certificate(cert.der());
        assert!(!described.contains('\n'), "{described}");
        // The name's own quotes (doubled, as .NET writes them) are escaped: the subject
        // ends at the first unescaped quote, and no issuer can be slipped in before it.
        assert!(
            described.starts_with(
                r#"subject="CN=\"evil\"\", issuer=\"\"trusted\n2026-01-01T00:00:00Z  INFO forged\"", issuer="#
            ),
            "{described}"
        );
    }
}
