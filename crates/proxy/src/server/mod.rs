//! The gateway's client listeners: the plain one (HTTP/1.1, and HTTP/2 with prior knowledge)
//! and the TLS one (HTTP/1.1 and HTTP/2 by ALPN), with graceful shutdown.
//!
//! Slow and silent clients are bounded ([`Limits`]): a new connection must finish its first
//! request head (and, on the TLS listener, its handshake) within the header timeout of being
//! accepted, and every later head within the header timeout of its first byte; that deadline
//! travels with the connection through parking and is never reset. Idle keep-alive
//! connections (HTTP/1.1 parked, HTTP/2 with no open stream) close after the keep-alive
//! timeout; HTTP/2 peers are also pinged. At most `max_connections` are served at once, over
//! both listeners; the accept loops wait for a free slot, leaving newer clients in the
//! kernel's backlog.

mod h1;
mod h2;
mod idle;
mod relay;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::body::ProxyBody;
use crate::front;
use crate::handler::{Conn, Shared};
use idle::IdleSet;

/// How often idle connections are looked at; one parks after being idle a whole tick. Short,
/// so that few connections hold full buffers at once during a burst of new clients; only
/// connections that are not parked are woken by it.
const TICK: Duration = Duration::from_millis(20);
/// Ticks between keep-alive sweeps of parked connections (one second).
const SWEEP_TICKS: u64 = 50;
/// The HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How often HTTP/2 peers are pinged, and how long a ping may go unanswered.
const H2_PING: Duration = Duration::from_secs(20);

/// How long and how many clients the listeners serve.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request head must be complete this long after its first byte (for the first request
    /// of a connection: after the connection was accepted).
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection stays open (nginx's default is 75 s).
    pub keep_alive: Duration,
    /// Client connections served at once.
    pub max_connections: usize,
    /// Longest request line (HTTP/1.1) or request target (HTTP/2), in bytes: longer gets 414.
    pub max_request_line: usize,
    /// Largest request head beyond the request line (HTTP/1.1), or header list (HTTP/2), in
    /// bytes: larger gets 431.
    pub max_header_bytes: usize,
    /// Most header fields in a request: more gets 431.
    pub max_headers: usize,
    /// How long a request body may go without a byte arriving: longer gets 408.
    pub body_timeout: Duration,
    /// Streams an HTTP/2 client may have open at once.
    pub h2_max_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(75),
            max_connections: 10_000,
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            body_timeout: Duration::from_secs(60),
            h2_max_streams: 100,
        }
    }
}

/// The sockets the gateway serves callers on.
#[derive(Default)]
pub struct Listeners {
    /// HTTP/1.1 and HTTP/2 with prior knowledge, in clear text.
    pub plain: Option<TcpListener>,
    /// TLS, for the configured host names.
    pub tls: Option<TcpListener>,
}

/// A client connection's byte stream, plain or TLS.
pub(crate) trait ClientStream:
    AsyncRead + AsyncWrite + Unpin + Send + Sync + Sized + 'static
{
    /// Ready when the socket has something to read (or is closed).
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Where idle connections of this kind wait.
    fn idle_set(listener: &Listener) -> &Arc<IdleSet<Self>>;
}

impl ClientStream for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn idle_set(listener: &Listener) -> &Arc<IdleSet<Self>> {
        &listener.idle_plain
    }
}

impl ClientStream for tokio_rustls::server::TlsStream<TcpStream> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // rustls holds no plaintext when a connection parks (it was read until nothing was
        // left), so the socket says when there is more.
        self.get_ref().0.poll_read_ready(cx)
    }

    fn idle_set(listener: &Listener) -> &Arc<IdleSet<Self>> {
        &listener.idle_tls
    }
}

/// What every connection of the listeners shares.
pub(super) struct Listener {
    shared: Arc<Shared>,
    limits: Limits,
    /// The clock's origin for deadlines kept in atomics (milliseconds since `base`, plus one,
    /// so that zero can mean "none").
    base: Instant,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    /// Advanced every tick.
    epoch: AtomicU64,
    tick: Notify,
    /// Wakes the idle sets' watchers once a second to close connections past their
    /// keep-alive deadline (and at shutdown).
    sweep: Notify,
    /// Idle connections of the plain listener.
    idle_plain: Arc<IdleSet<TcpStream>>,
    /// Idle connections of the TLS listener.
    idle_tls: Arc<IdleSet<tokio_rustls::server::TlsStream<TcpStream>>>,
    stopping: AtomicBool,
    stop: Notify,
    live: AtomicUsize,
    drained: Notify,
}

impl Listener {
    /// `now` as a deadline stamp (see `base`).
    fn stamp(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX - 1)
            + 1
    }

    /// `at` in whole seconds of the listener's clock (for deadlines kept in a `u32`).
    fn seconds(&self, at: Instant) -> u32 {
        u32::try_from(at.saturating_duration_since(self.base).as_secs()).unwrap_or(u32::MAX)
    }

    /// The header deadline of a head whose first byte came at `stamp`.
    fn head_deadline(&self, stamp: u64) -> Instant {
        self.base + Duration::from_millis(stamp.saturating_sub(1)) + self.limits.header_timeout
    }
}

/// Counts a client connection for the graceful-shutdown wait, across its park/resume moves,
/// and holds its slot of `max_connections`.
pub(super) struct Live(
    Arc<Listener>,
    // Held, never read: dropping it frees the connection's slot.
    #[allow(dead_code)] OwnedSemaphorePermit,
);

impl Live {
    fn new(listener: &Arc<Listener>, slot: OwnedSemaphorePermit) -> Self {
        listener.live.fetch_add(1, Ordering::SeqCst);
        let metrics = &listener.shared.metrics;
        metrics.client_connections.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(listener), slot)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let metrics = &self.0.shared.metrics;
        metrics.client_connections.fetch_sub(1, Ordering::Relaxed);
        if self.0.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

/// Accepts and serves connections on every listener until `shutdown` completes, then stops
/// accepting and gives in-flight requests up to `grace` to finish.
pub(crate) async fn serve(
    listeners: Listeners,
    shared: Arc<Shared>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut h1 = http1::Builder::new();
    // The header deadline is ours (it must survive parking, which starts a fresh hyper
    // connection); hyper's own would restart with each.
    h1.keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        // The head buffer holds the request line and the header fields, and a read's worth
        // more: the handler checks both limits exactly (414, 431), a request line far too long
        // is cut off as it arrives (414), and hyper's own 431 when the buffer fills is only a
        // backstop that a single read cannot reach first.
        .max_buf_size(limits.max_request_line + limits.max_header_bytes + 16 * 1024)
        .max_headers(limits.max_headers);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    // Pings find peers that vanished without a FIN; a silent but healthy peer is closed by
    // the keep-alive timeout instead.
    h2.timer(TokioTimer::new())
        .keep_alive_interval(H2_PING)
        .keep_alive_timeout(H2_PING)
        .max_concurrent_streams(limits.h2_max_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let ctx = Arc::new(Listener {
        shared,
        limits,
        base: Instant::now(),
        h1,
        h2,
        epoch: AtomicU64::new(1),
        tick: Notify::new(),
        sweep: Notify::new(),
        idle_plain: IdleSet::new(),
        idle_tls: IdleSet::new(),
        stopping: AtomicBool::new(false),
        stop: Notify::new(),
        live: AtomicUsize::new(0),
        drained: Notify::new(),
    });
    let ticker = {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let epoch = ctx.epoch.fetch_add(1, Ordering::Relaxed) + 1;
                ctx.tick.notify_waiters();
                if epoch.is_multiple_of(SWEEP_TICKS) {
                    ctx.sweep.notify_waiters();
                }
            }
        })
    };
    let watchers = [
        tokio::spawn(idle::watch(Arc::clone(&ctx.idle_plain), Arc::clone(&ctx))),
        tokio::spawn(idle::watch(Arc::clone(&ctx.idle_tls), Arc::clone(&ctx))),
    ];
    let accepting = async {
        let plain = accept_loop(listeners.plain, &ctx, &slots, false);
        let tls = accept_loop(listeners.tls, &ctx, &slots, true);
        tokio::join!(plain, tls);
    };
    tokio::select! {
        () = shutdown => {}
        () = accepting => {}
    }
    ctx.stopping.store(true, Ordering::SeqCst);
    ctx.stop.notify_waiters();
    ctx.tick.notify_waiters();
    ctx.sweep.notify_waiters();
    let drained = async {
        loop {
            let notified = ctx.drained.notified();
            if ctx.live.load(Ordering::SeqCst) == 0 {
                break;
            }
            notified.await;
        }
    };
    tokio::select! {
        () = drained => tracing::info!("gateway: all connections finished"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "gateway: grace period over; closing remaining connections"),
    }
    ticker.abort();
    for watcher in watchers {
        watcher.abort();
    }
}

/// Accepts on one listener (none: waits for ever), one connection per free slot.
async fn accept_loop(
    listener: Option<TcpListener>,
    ctx: &Arc<Listener>,
    slots: &Arc<Semaphore>,
    tls: bool,
) {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    let mut full_since: Option<Instant> = None;
    loop {
        // A slot first: at the cap, new clients wait in the kernel's backlog rather than
        // being accepted into a gateway that cannot serve them.
        let slot = match Arc::clone(slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if full_since.is_none() {
                    full_since = Some(Instant::now());
                    tracing::warn!(
                        max_connections = ctx.limits.max_connections,
                        "gateway: connection limit reached; new clients wait (--max-connections)"
                    );
                }
                ctx.shared
                    .metrics
                    .connection_limit_waits
                    .fetch_add(1, Ordering::Relaxed);
                match Arc::clone(slots).acquire_owned().await {
                    Ok(slot) => slot,
                    Err(_) => return,
                }
            }
        };
        if let Some(since) = full_since.take() {
            tracing::info!(
                waited_ms = since.elapsed().as_millis() as u64,
                "gateway: below the connection limit again"
            );
        }
        let (stream, remote) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let live = Live::new(ctx, slot);
        if tls {
            tokio::spawn(first_tls(stream, remote, live));
        } else {
            tokio::spawn(first_plain(stream, remote, live));
        }
    }
}

/// A new plain connection: HTTP/2 if it starts with the preface, HTTP/1.1 otherwise. Its
/// first request head is due within the header timeout of the accept.
async fn first_plain(mut stream: TcpStream, remote: SocketAddr, live: Live) {
    let ctx = Arc::clone(&live.0);
    let accepted = ctx.stamp(Instant::now());
    let deadline = tokio::time::Instant::from_std(ctx.head_deadline(accepted));
    let mut opening = [0u8; H2_PREFACE.len()];
    let conn = Arc::new(Conn::plain(remote, &ctx.shared));
    match tokio::time::timeout_at(deadline, detect_h2(&mut stream, &mut opening)).await {
        Ok(Some((true, _))) => {
            h2::serve(stream, Some(Bytes::from_static(H2_PREFACE)), conn, live).await;
        }
        Ok(Some((false, n))) => {
            let replay = Bytes::copy_from_slice(&opening[..n]);
            if ctx.shared.own_http1 {
                relay::active(stream, Some(replay), accepted, conn, live).await;
            } else {
                h1::active(stream, Some(replay), accepted, conn, live).await;
            }
        }
        // Closed, or failed.
        Ok(None) => {}
        Err(_) => {
            ctx.shared
                .metrics
                .header_timeouts
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Reads the opening bytes until they either are the HTTP/2 preface or cannot be: `(true,
/// 24)` for HTTP/2, `(false, n)` with the `n` bytes read for HTTP/1.1; `None` if the client
/// closed first. Each read waits for the socket, so a client that sends the preface a byte at
/// a time costs a wake-up per byte, not a poll per millisecond.
async fn detect_h2(stream: &mut TcpStream, opening: &mut [u8]) -> Option<(bool, usize)> {
    let mut n = 0;
    while n < H2_PREFACE.len() {
        let read = match stream.read(&mut opening[n..]).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => read,
        };
        n += read;
        if opening[..n] != H2_PREFACE[..n] {
            return Some((false, n));
        }
    }
    Some((true, n))
}

/// A new TLS connection: the handshake, then HTTP/2 or HTTP/1.1 as ALPN chose. The handshake
/// and the first request head are due within the header timeout of the accept.
async fn first_tls(stream: TcpStream, remote: SocketAddr, live: Live) {
    let ctx = Arc::clone(&live.0);
    let accepted = ctx.stamp(Instant::now());
    let deadline = tokio::time::Instant::from_std(ctx.head_deadline(accepted));
    let table = ctx.shared.front.load_full();
    let metrics = &ctx.shared.metrics;
    let handshake = match tokio::time::timeout_at(deadline, front::accept(stream, &table)).await {
        Ok(Ok(done)) => done,
        Ok(Err(refused)) => {
            metrics.tls_refused(&refused);
            return;
        }
        Err(_) => {
            metrics.header_timeouts.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    metrics.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    let conn = Arc::new(Conn::tls(remote, handshake.caller, &ctx.shared));
    if handshake.h2 {
        h2::serve(handshake.stream, None, conn, live).await;
    } else if ctx.shared.own_http1 {
        relay::active(handshake.stream, None, accepted, conn, live).await;
    } else {
        h1::active(handshake.stream, None, accepted, conn, live).await;
    }
}

pub(super) fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

/// The client socket, with bytes to replay first (read by an earlier hyper connection, or
/// while detecting the protocol, but not parsed), reporting activity.
pub(super) struct ClientIo<S> {
    stream: S,
    replay: Option<Bytes>,
    activity: Arc<h1::Activity>,
    listener: Arc<Listener>,
}

impl<S> ClientIo<S> {
    fn new(stream: S, replay: Option<Bytes>, head_started: u64, listener: &Arc<Listener>) -> Self {
        Self {
            stream,
            replay,
            activity: Arc::new(h1::Activity::new(head_started)),
            listener: Arc::clone(listener),
        }
    }
}

impl<S: ClientStream> AsyncRead for ClientIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(replay) = &mut this.replay {
            let n = replay.len().min(buf.remaining());
            let chunk = replay.split_to(n);
            buf.put_slice(&chunk);
            if replay.is_empty() {
                this.replay = None;
            }
            this.activity.bytes_arrived(&this.listener, &chunk);
            return Poll::Ready(Ok(()));
        }
        if this.activity.line_too_long() {
            // The connection task answers 414 as soon as hyper yields.
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        match &polled {
            Poll::Pending => this.activity.read_pending(true),
            Poll::Ready(_) => {
                this.activity.read_pending(false);
                if buf.filled().len() > before {
                    let read = &buf.filled()[before..];
                    this.activity.bytes_arrived(&this.listener, read);
                }
            }
        }
        polled
    }
}

impl<S: ClientStream> AsyncWrite for ClientIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.activity.wrote();
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.activity.wrote();
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = polled {
            this.activity.flushed();
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A response body with a guard that lives until the body is done with: an HTTP/1.1 request
/// in flight, an HTTP/2 stream open.
pub(super) struct Guarded<G> {
    body: ProxyBody,
    _guard: G,
}

impl<G> Guarded<G> {
    fn new(body: ProxyBody, guard: G) -> Self {
        Self {
            body,
            _guard: guard,
        }
    }
}

impl<G: Unpin> http_body::Body for Guarded<G> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
