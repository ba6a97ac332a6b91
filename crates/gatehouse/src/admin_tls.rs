//! HTTPS for the admin listener: the management API and the portal behind TLS, with the
//! certificate from PEM files (`--admin-tls-cert`/`--admin-tls-key`, read again when they
//! change) or from one of the gateway's hostname configurations (`--admin-tls-hostname`),
//! which then follows that configuration's certificate through uploads, rotations and
//! secret-store refreshes.
//!
//! Handshakes run in their own tasks (with a deadline), so a slow or silent client never
//! holds up the next one; finished connections are handed to axum through [`TlsListener`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use gatehouse_model::Snapshots;
use parking_lot::Mutex;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes finished but not yet taken by the server.
const QUEUE: usize = 64;

/// Handshakes in progress at once; connections beyond are closed at once, so that clients
/// that connect and stay silent cannot hold the process's descriptors for the deadline each.
const HANDSHAKES: usize = 256;

/// Where the admin listener's certificate comes from.
pub(crate) enum AdminCertificate {
    /// PEM files: the chain (leaf first) and its private key.
    Files {
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
    },
    /// A hostname configuration of the gateway, by id.
    Hostname(String),
}

/// Reads a PEM chain and key with the certificate core's own checks (the key must match the
/// leaf, weak keys are refused).
fn from_files(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let read = |path: &Path, flag: &str| {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {} ({flag})", path.display()))
    };
    let text = format!(
        "{}\n{}",
        read(cert, "--admin-tls-cert")?,
        *zeroize::Zeroizing::new(read(key, "--admin-tls-key")?)
    );
    let text = zeroize::Zeroizing::new(text);
    let parsed = gatehouse_pki::parse_pem(&text, None, &gatehouse_pki::Limits::default())
        .map_err(|e| anyhow::anyhow!("--admin-tls-cert/--admin-tls-key: {e}"))?;
    let signer = gatehouse_pki::signing_key(&parsed.key)
        .map_err(|e| anyhow::anyhow!("--admin-tls-key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(parsed.chain, signer)))
}

/// Presents the certificate of a hostname configuration as the served snapshot has it, or
/// the last one presented while the configuration is gone (an admin must not lock themselves
/// out of the listener that could restore it).
struct FromHostname {
    id: String,
    snapshots: Snapshots,
    last: Mutex<Option<Arc<CertifiedKey>>>,
    /// The configuration's absence was logged (once, not per handshake).
    warned: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for FromHostname {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromHostname")
            .field("id", &self.id)
            .finish()
    }
}

impl FromHostname {
    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let snapshot = self.snapshots.load();
        let found = snapshot
            .front
            .hostnames
            .iter()
            .find(|h| h.id == self.id)
            .map(|h| Arc::clone(&h.identity.certified_key));
        let mut last = self.last.lock();
        match found {
            Some(key) => {
                *last = Some(Arc::clone(&key));
                self.warned
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                Some(key)
            }
            None => {
                if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(hostname = %self.id, "the admin listener's hostname configuration is gone; presenting its last certificate");
                }
                last.clone()
            }
        }
    }
}

impl ResolvesServerCert for FromHostname {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

/// How often the certificate files are looked at for a change (on a handshake, never
/// between): a rotation by cert-manager or a renewal script is served within this.
const FILE_CHECK: Duration = Duration::from_secs(2);

/// A certificate from PEM files, read again when either file changes; a replacement that does
/// not load (half written, a key that does not match) keeps the last good one, with a warning.
struct FromFiles {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    state: Mutex<FileState>,
}

struct FileState {
    current: Arc<CertifiedKey>,
    stamps: Option<(std::time::SystemTime, std::time::SystemTime)>,
    checked: std::time::Instant,
    /// The stamps a failed reload saw, so it is tried (and logged) once per change.
    failed: Option<(std::time::SystemTime, std::time::SystemTime)>,
}

impl std::fmt::Debug for FromFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromFiles")
            .field("cert", &self.cert)
            .finish()
    }
}

fn stamps(cert: &Path, key: &Path) -> Option<(std::time::SystemTime, std::time::SystemTime)> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((modified(cert)?, modified(key)?))
}

impl FromFiles {
    fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            state: Mutex::new(FileState {
                current: from_files(cert, key)?,
                stamps: stamps(cert, key),
                checked: std::time::Instant::now(),
                failed: None,
            }),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
    }
}

impl ResolvesServerCert for FromFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock();
        if state.checked.elapsed() >= FILE_CHECK {
            state.checked = std::time::Instant::now();
            let now = stamps(&self.cert, &self.key);
            if now.is_some() && now != state.stamps && now != state.failed {
                match from_files(&self.cert, &self.key) {
                    Ok(key) => {
                        tracing::info!(cert = %self.cert.display(), "admin listener: certificate files changed; serving the new certificate");
                        state.current = key;
                        state.stamps = now;
                        state.failed = None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "admin listener: the changed certificate files do not load; serving the last good certificate");
                        state.failed = now;
                    }
                }
            }
        }
        Some(Arc::clone(&state.current))
    }
}

/// The admin listener's TLS configuration (HTTP/1.1 and HTTP/2 by ALPN).
///
/// # Errors
/// When the files do not hold a matching chain and key, or the hostname configuration does
/// not exist at start.
pub(crate) fn server_config(
    source: &AdminCertificate,
    snapshots: &Snapshots,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let resolver: Arc<dyn ResolvesServerCert> = match source {
        AdminCertificate::Files { cert, key } => Arc::new(FromFiles::load(cert, key)?),
        AdminCertificate::Hostname(id) => {
            let resolver = FromHostname {
                id: id.clone(),
                snapshots: snapshots.clone(),
                last: Mutex::new(None),
                warned: std::sync::atomic::AtomicBool::new(false),
            };
            if resolver.current().is_none() {
                bail!(
                    "--admin-tls-hostname {id}: no such hostname configuration; create it first (PUT /hostnameConfigurations/{id}) or use --admin-tls-cert/--admin-tls-key"
                );
            }
            Arc::new(resolver)
        }
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Finished TLS connections of the admin listener, for `axum::serve`.
pub(crate) struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` and handshakes each connection in its own task.
    pub(crate) fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(QUEUE);
        let acceptor = TlsAcceptor::from(config);
        let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    () = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "admin listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tracing::debug!(%peer, "admin listener: too many handshakes in progress; closed");
                    continue;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "admin listener: TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "admin listener: TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(next) => next,
            // The accept task ended: only when this listener is dropped, so never here.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
