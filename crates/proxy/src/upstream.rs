//! Connection pools to back ends. One pool per (back end, TLS settings, client identities and
//! their versions, pool settings): a change of certificate or trust gets a new pool and never
//! reuses a connection made under the old one; pools no configuration needs are dropped, and
//! their connections close once their last request is done.
//!
//! An HTTP/1.1 connection belongs to the request using it: the request's own task drives it
//! (no driver task, no channel hop), and it goes back to the pool when the response body has
//! been read to its end. Idle connections are not driven; a closed one is noticed when it is
//! taken (without a system call: the socket's readiness says so) or by the periodic sweep.
//! HTTP/2 back ends get one multiplexed connection, driven by its own task.

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_model::snapshot::{BackendRoute, ClientIdentity, PoolSettings, TlsSettings};
use gatehouse_model::url::Scheme;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;

use crate::body::RequestBody;
use crate::connect::{BackendStream, Connector, HandshakeFacts, Origin};
use crate::error::Kind;
use crate::metrics::{Metrics, UpstreamStats};
use crate::tls::{Presented, SystemRoots, client_config};

/// What makes two routes share connections: everything that decides where the bytes go and
/// how. The origin is part of it even when a back end entity names the pool, so that a
/// repointed back end gets a new pool and an `http` and an `https` route to the same host
/// never share a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct UpstreamKey {
    backend: Arc<str>,
    scheme: Scheme,
    host: String,
    port: u16,
    tls: TlsSettings,
    identities: Vec<(String, u64)>,
    pool: PoolSettings,
}

/// A pool of connections to one back end under one TLS configuration.
pub(crate) struct Upstream {
    pub(crate) pool: Arc<Pool>,
    /// Metric and log label: the back end entity id, or the origin.
    pub(crate) label: Arc<str>,
}

type H1Sender = http1::SendRequest<RequestBody>;
type H1Conn = http1::Connection<TokioIo<BackendStream>, RequestBody>;

/// An HTTP/1.1 connection: the sender and the connection it drives.
struct H1 {
    sender: H1Sender,
    /// Boxed once per connection: it moves between pool, request and body.
    conn: Box<H1Conn>,
    facts: Option<HandshakeFacts>,
    idle_since: Instant,
}

impl H1 {
    /// Lets the connection run without a task to wake: reads EOF or an error if the back end
    /// closed it. `true` while it is still usable.
    fn alive(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut *self.conn).poll(&mut cx).is_pending()
    }
}

struct H2 {
    sender: http2::SendRequest<RequestBody>,
    facts: Option<HandshakeFacts>,
}

/// A back-end connection the gateway's own HTTP/1.1 relay drives: the stream, nothing more.
pub(crate) struct Raw {
    pub(crate) stream: BackendStream,
    pub(crate) facts: Option<HandshakeFacts>,
    idle_since: Instant,
    /// It carried a request before: a failure before any answer may be the back end having
    /// closed it meanwhile, and the request may go again on a fresh one.
    pub(crate) reused: bool,
}

/// Connections to one origin.
pub(crate) struct Pool {
    connector: Connector,
    idle: Mutex<Vec<H1>>,
    /// Idle connections of the own HTTP/1.1 relay.
    raw_idle: Mutex<Vec<Raw>>,
    h2: Mutex<Option<H2>>,
    /// ALPN chose HTTP/2 on a connection of this pool.
    h2_seen: std::sync::atomic::AtomicBool,
    max_idle: usize,
    idle_timeout: Duration,
    stats: Arc<UpstreamStats>,
}

/// Why a request could not be sent, with what the connection's handshake showed.
pub(crate) struct SendError {
    pub(crate) error: Box<dyn StdError + Send + Sync>,
    pub(crate) facts: Option<HandshakeFacts>,
}

impl SendError {
    /// A failure and what the connection's handshake showed.
    pub(crate) fn new(
        error: impl Into<Box<dyn StdError + Send + Sync>>,
        facts: Option<HandshakeFacts>,
    ) -> Self {
        Self {
            error: error.into(),
            facts,
        }
    }
}

impl Pool {
    /// Sends `request` (absolute URI) on a pooled connection, or on a new one when `fresh` is
    /// set or none is available.
    ///
    /// # Errors
    /// Connect, handshake and send failures, for the caller to classify.
    pub(crate) async fn send(
        self: &Arc<Self>,
        request: Request<RequestBody>,
        fresh: bool,
        trace: bool,
    ) -> Result<Response<BackendBody>, SendError> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if !fresh {
            if let Some(h2) = self.shared_h2() {
                return send_h2(h2, request, trace).await;
            }
            if let Some(h1) = self.take_idle() {
                return self.send_h1(h1, request, trace).await;
            }
        }
        let stream = self
            .connector
            .connect()
            .await
            .map_err(|e| SendError::new(e, None))?;
        let facts = stream.facts();
        if stream.is_h2() {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| SendError::new(e, facts.clone()))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "back-end HTTP/2 connection ended with an error");
                }
            });
            self.h2_seen.store(true, Ordering::Relaxed);
            let h2 = H2 { sender, facts };
            if self.max_idle > 0 {
                *self.h2.lock() = Some(H2 {
                    sender: h2.sender.clone(),
                    facts: h2.facts.clone(),
                });
            }
            return send_h2(h2, request, trace).await;
        }
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| SendError::new(e, facts.clone()))?;
        let h1 = H1 {
            sender,
            conn: Box::new(conn),
            facts,
            idle_since: Instant::now(),
        };
        self.send_h1(h1, request, trace).await
    }

    fn shared_h2(&self) -> Option<H2> {
        let mut slot = self.h2.lock();
        match slot.as_ref() {
            Some(h2) if !h2.sender.is_closed() && h2.sender.is_ready() => Some(H2 {
                sender: h2.sender.clone(),
                facts: h2.facts.clone(),
            }),
            Some(_) => {
                // GOAWAY or closed: the next request opens a new connection.
                *slot = None;
                None
            }
            None => None,
        }
    }

    /// The most recently used idle connection that is still open.
    fn take_idle(&self) -> Option<H1> {
        let mut idle = self.idle.lock();
        while let Some(mut h1) = idle.pop() {
            if h1.idle_since.elapsed() < self.idle_timeout && h1.alive() && h1.sender.is_ready() {
                return Some(h1);
            }
        }
        None
    }

    fn put_idle(&self, mut h1: H1) {
        if !h1.alive() || !h1.sender.is_ready() {
            return;
        }
        h1.idle_since = Instant::now();
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push(h1);
        }
    }

    /// Closes idle connections past their timeout or closed by the back end.
    fn sweep(&self) {
        let timeout = self.idle_timeout;
        {
            let mut idle = self.idle.lock();
            idle.retain_mut(|h1| h1.idle_since.elapsed() < timeout && h1.alive());
        }
        let mut idle = self.raw_idle.lock();
        idle.retain(|raw| raw.idle_since.elapsed() < timeout && raw.stream.is_quiet());
    }

    /// Whether this back end was reached over HTTP/2: the relay (HTTP/1.1 only) leaves its
    /// requests to hyper, which shares that connection.
    pub(crate) fn speaks_h2(&self) -> bool {
        self.h2_seen.load(Ordering::Relaxed)
    }

    /// Counts a request of the own relay.
    pub(crate) fn count_request(&self) {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The most recently used idle relay connection that is still open and silent.
    pub(crate) fn take_raw(&self) -> Option<Raw> {
        loop {
            let raw = self.raw_idle.lock().pop()?;
            // Checked outside the lock: the probe is a system call.
            if raw.idle_since.elapsed() < self.idle_timeout && raw.stream.probe_idle() {
                return Some(raw);
            }
        }
    }

    /// A new relay connection (HTTP/1.1 only).
    ///
    /// # Errors
    /// Connect and handshake failures, for the caller to classify. A back end that speaks
    /// only HTTP/2 is remembered as such ([`Pool::speaks_h2`]).
    pub(crate) async fn connect_raw(&self) -> Result<Raw, SendError> {
        let stream = self.connector.connect_h1().await.map_err(|e| {
            if e.alpn_refused {
                self.h2_seen.store(true, Ordering::Relaxed);
            }
            SendError::new(e, None)
        })?;
        Ok(Raw {
            facts: stream.facts(),
            stream,
            idle_since: Instant::now(),
            reused: false,
        })
    }

    /// Keeps a relay connection for the next request, if the pool has room.
    pub(crate) fn put_raw(&self, mut raw: Raw) {
        raw.idle_since = Instant::now();
        raw.reused = true;
        let mut idle = self.raw_idle.lock();
        if idle.len() < self.max_idle {
            idle.push(raw);
        }
    }

    async fn send_h1(
        self: &Arc<Self>,
        mut h1: H1,
        mut request: Request<RequestBody>,
        trace: bool,
    ) -> Result<Response<BackendBody>, SendError> {
        // HTTP/1.1 wants the origin form; the Host header is already set.
        if let Some(pq) = request.uri().path_and_query().cloned() {
            *request.uri_mut() = Uri::from(pq);
        }
        let response = h1.sender.send_request(request);
        tokio::pin!(response);
        let mut conn_done = false;
        let result = poll_fn(|cx| {
            if !conn_done && Pin::new(&mut *h1.conn).poll(cx).is_ready() {
                // The connection ended; the response future reports why.
                conn_done = true;
            }
            response.as_mut().poll(cx)
        })
        .await;
        match result {
            Ok(mut response) => {
                if trace {
                    note_presented(&mut response, h1.facts.as_ref());
                }
                let (parts, body) = response.into_parts();
                let lease = (!conn_done).then(|| Lease {
                    h1,
                    pool: Arc::clone(self),
                });
                Ok(Response::from_parts(parts, BackendBody::H1 { body, lease }))
            }
            Err(e) => Err(SendError::new(e, h1.facts)),
        }
    }
}

async fn send_h2(
    mut h2: H2,
    request: Request<RequestBody>,
    trace: bool,
) -> Result<Response<BackendBody>, SendError> {
    match h2.sender.send_request(request).await {
        Ok(mut response) => {
            if trace {
                note_presented(&mut response, h2.facts.as_ref());
            }
            Ok(response.map(BackendBody::H2))
        }
        Err(e) => Err(SendError::new(e, h2.facts)),
    }
}

/// Which client certificate the connection a traced response came on presented.
#[derive(Clone, Debug)]
pub(crate) struct PresentedOn(pub(crate) Option<Presented>);

fn note_presented<B>(response: &mut Response<B>, facts: Option<&HandshakeFacts>) {
    let presented = facts.and_then(|f| f.presented.clone());
    response.extensions_mut().insert(PresentedOn(presented));
}

/// An HTTP/1.1 connection lent to one response; returned when its body has been read.
struct Lease {
    h1: H1,
    pool: Arc<Pool>,
}

/// A back end's response body, streamed; for HTTP/1.1 it drives the connection as it is read.
pub enum BackendBody {
    /// Over an HTTP/1.1 connection lent to this response.
    #[allow(private_interfaces)] // the lease is an implementation detail
    H1 {
        /// The body.
        body: Incoming,
        /// The connection, until the body ends (`None`: it will not be reused).
        lease: Option<Lease>,
    },
    /// A stream of a multiplexed HTTP/2 connection.
    H2(Incoming),
}

impl BackendBody {
    /// Returns the connection to its pool once the body is complete.
    fn release(lease: &mut Option<Lease>) {
        if let Some(lease) = lease.take() {
            let Lease { h1, pool } = lease;
            pool.put_idle(h1);
        }
    }
}

impl Drop for BackendBody {
    fn drop(&mut self) {
        // A body nobody reads because it is empty (204, HEAD) still frees its connection;
        // a body dropped half-read leaves its connection unusable, and it closes.
        if let BackendBody::H1 { body, lease } = self
            && body.is_end_stream()
        {
            Self::release(lease);
        }
    }
}

impl Body for BackendBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            BackendBody::H2(body) => Pin::new(body).poll_frame(cx),
            BackendBody::H1 { body, lease } => {
                if let Some(l) = lease
                    && Pin::new(&mut *l.h1.conn).poll(cx).is_ready()
                {
                    // Closed (Connection: close, or an error): what it read is still in the
                    // body; the connection itself is done.
                    *lease = None;
                }
                let polled = Pin::new(&mut *body).poll_frame(cx);
                if let Poll::Ready(None) = polled {
                    Self::release(lease);
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            BackendBody::H1 { body, .. } | BackendBody::H2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            BackendBody::H1 { body, .. } | BackendBody::H2(body) => body.size_hint(),
        }
    }
}

/// Why a route has no pool: its requests fail closed with this kind, the log gets `why`.
#[derive(Debug)]
pub(crate) struct NoPool {
    pub(crate) kind: Kind,
    pub(crate) why: String,
}

/// Every live pool, by key. Used when a snapshot is applied, never per request.
pub(crate) struct Pools {
    map: Mutex<HashMap<UpstreamKey, Arc<Upstream>>>,
    roots: SystemRoots,
    provider: Arc<CryptoProvider>,
    connect_timeout: Duration,
    /// Remember back-end chains that verified (see `tls::VerifiedChains`).
    chain_cache: bool,
}

impl Pools {
    /// How long a connect and handshake may take.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The system trust store.
    pub(crate) fn roots(&self) -> &SystemRoots {
        &self.roots
    }

    /// The crypto provider of back-end connections.
    pub(crate) fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    pub(crate) fn new(
        roots: SystemRoots,
        provider: Arc<CryptoProvider>,
        connect_timeout: Duration,
        chain_cache: bool,
    ) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            roots,
            provider,
            connect_timeout,
            chain_cache,
        }
    }

    /// The pool for a route's back end and certificates; `live` collects the keys in use.
    ///
    /// # Errors
    /// [`NoPool`] when no TLS configuration can be built or the host cannot be a TLS server
    /// name (the route then fails closed).
    pub(crate) fn get(
        &self,
        route: &BackendRoute,
        identities: &[Arc<ClientIdentity>],
        metrics: &Metrics,
        live: &mut HashSet<UpstreamKey>,
    ) -> Result<Arc<Upstream>, NoPool> {
        let settings = &route.settings;
        let url = &route.url;
        let label: Arc<str> = match &settings.backend_id {
            Some(id) => id.as_str().into(),
            None => format!("{}://{}", url.scheme.as_str(), url.authority).into(),
        };
        let key = UpstreamKey {
            backend: Arc::clone(&label),
            scheme: url.scheme,
            host: url.host.clone(),
            port: url.port,
            tls: (*settings.tls).clone(),
            identities: identities
                .iter()
                .map(|i| (i.id.clone(), i.version))
                .collect(),
            pool: settings.pool,
        };
        live.insert(key.clone());
        let mut map = self.map.lock();
        if let Some(found) = map.get(&key) {
            return Ok(Arc::clone(found));
        }
        let tls = client_config(
            &settings.tls,
            identities,
            self.chain_cache,
            &self.roots,
            &self.provider,
        )
        .map_err(|e| NoPool {
            kind: Kind::ClientCertificateUnavailable,
            why: format!("cannot build the TLS configuration: {e}"),
        })?;
        let origin = Origin::new(url).map_err(|why| NoPool {
            kind: Kind::BackendUnreachable,
            why,
        })?;
        let stats = metrics.upstream(&label);
        let pool = Arc::new(Pool {
            connector: Connector {
                origin,
                tls_h1: {
                    let mut h1 = (*tls).clone();
                    h1.alpn_protocols = vec![b"http/1.1".to_vec()];
                    Arc::new(h1)
                },
                tls,
                stats: Arc::clone(&stats),
                connect_timeout: self.connect_timeout,
                presents_certificate: !identities.is_empty(),
                backend: Arc::clone(&label),
                last_full: parking_lot::Mutex::new(None),
            },
            idle: Mutex::new(Vec::new()),
            raw_idle: Mutex::new(Vec::new()),
            h2: Mutex::new(None),
            h2_seen: std::sync::atomic::AtomicBool::new(false),
            max_idle: usize::try_from(settings.pool.max_idle).unwrap_or(usize::MAX),
            idle_timeout: settings.pool.idle_timeout,
            stats: Arc::clone(&stats),
        });
        spawn_sweeper(Arc::downgrade(&pool), settings.pool.idle_timeout);
        let upstream = Arc::new(Upstream { pool, label });
        map.insert(key, Arc::clone(&upstream));
        Ok(upstream)
    }

    /// Drops every pool not in `live`.
    pub(crate) fn retain(&self, live: &HashSet<UpstreamKey>) {
        let mut map = self.map.lock();
        let before = map.len();
        map.retain(|k, _| live.contains(k));
        let retired = before - map.len();
        if retired > 0 {
            tracing::debug!(retired, "connection pools retired");
        }
    }
}

/// Closes a pool's idle connections as they expire; ends with the pool.
fn spawn_sweeper(pool: Weak<Pool>, idle_timeout: Duration) {
    let every = (idle_timeout / 2).clamp(Duration::from_millis(500), Duration::from_secs(15));
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            match pool.upgrade() {
                Some(pool) => pool.sweep(),
                None => return,
            }
        }
    });
}
