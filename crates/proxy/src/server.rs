//! The gateway listener: HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) on one port, with
//! graceful shutdown, and idle HTTP/1.1 connections parked.
//!
//! hyper keeps two 8 KiB buffers and its state for as long as a connection lives. A gateway in
//! front of many mostly idle keep-alive clients would hold ~20 KiB per client for nothing, so
//! an HTTP/1.1 connection that has been idle for a whole tick (nothing in flight, everything
//! flushed, no bytes waiting) is taken apart: its socket, and any bytes hyper had read but not
//! parsed, move to a small parked task that waits for the next byte and then starts a fresh
//! connection. A busy connection never parks: the tick only looks at connections already idle.
//!
//! Slow and silent clients are bounded (`Limits`): a new connection must finish its first
//! request head within the header timeout of being accepted, and every later head within the
//! header timeout of its first byte; that deadline travels with the connection through parking
//! and is never reset. A connection with part of a head read never parks. Idle keep-alive
//! connections (HTTP/1.1 parked, HTTP/2 with no open stream) close after the keep-alive
//! timeout; HTTP/2 peers are also pinged. At most `max_connections` are served at once; the
//! accept loop waits for a free slot, leaving newer clients in the kernel's backlog.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::body::ProxyBody;
use crate::handler::{Shared, handle};

/// How often idle connections are looked at; one parks after being idle a whole tick. Short,
/// so that few connections hold full buffers at once during a burst of new clients; only
/// connections that are not parked are woken by it.
const TICK: Duration = Duration::from_millis(20);
/// The HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// What a client whose request head took too long gets before the connection closes.
const HEAD_TIMEOUT_RESPONSE: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// How long and how many clients the listener serves.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request head must be complete this long after its first byte (for the first request
    /// of a connection: after the connection was accepted).
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection stays open (nginx's default is 75 s).
    pub keep_alive: Duration,
    /// Client connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(75),
            max_connections: 10_000,
        }
    }
}

/// What every connection of the listener shares.
struct Listener {
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

    /// The header deadline of a head whose first byte came at `stamp`.
    fn head_deadline(&self, stamp: u64) -> Instant {
        self.base + Duration::from_millis(stamp.saturating_sub(1)) + self.limits.header_timeout
    }
}

/// Counts a client connection for the graceful-shutdown wait, across its park/resume moves,
/// and holds its slot of `max_connections`.
struct Live(
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

/// Accepts and serves connections until `shutdown` completes, then stops accepting and gives
/// in-flight requests up to `grace` to finish.
pub(crate) async fn serve(
    listener: TcpListener,
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
        .header_read_timeout(None);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    // Pings find peers that vanished without a FIN; a silent but healthy peer is closed by
    // the keep-alive timeout instead.
    let ping = limits.keep_alive.min(Duration::from_secs(20));
    h2.timer(TokioTimer::new())
        .keep_alive_interval(ping)
        .keep_alive_timeout(ping);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let ctx = Arc::new(Listener {
        shared,
        limits,
        base: Instant::now(),
        h1,
        h2,
        epoch: AtomicU64::new(1),
        tick: Notify::new(),
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
                ctx.epoch.fetch_add(1, Ordering::Relaxed);
                ctx.tick.notify_waiters();
            }
        })
    };
    tokio::pin!(shutdown);
    let mut full_since: Option<Instant> = None;
    loop {
        // A slot first: at the cap, new clients wait in the kernel's backlog rather than
        // being accepted into a gateway that cannot serve them.
        let slot = match Arc::clone(&slots).try_acquire_owned() {
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
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        if let Some(since) = full_since.take() {
            tracing::info!(
                waited_ms = since.elapsed().as_millis() as u64,
                "gateway: below the connection limit again"
            );
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let live = Live::new(&ctx, slot);
        tokio::spawn(first(stream, remote, live));
    }
    drop(listener);
    ctx.stopping.store(true, Ordering::SeqCst);
    ctx.stop.notify_waiters();
    ctx.tick.notify_waiters();
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
}

/// A new connection: HTTP/2 if it starts with the preface, HTTP/1.1 otherwise. Its first
/// request head is due within the header timeout of the accept.
async fn first(mut stream: TcpStream, remote: SocketAddr, live: Live) {
    let ctx = Arc::clone(&live.0);
    let accepted = ctx.stamp(Instant::now());
    let deadline = tokio::time::Instant::from_std(ctx.head_deadline(accepted));
    let mut opening = [0u8; H2_PREFACE.len()];
    match tokio::time::timeout_at(deadline, detect_h2(&mut stream, &mut opening)).await {
        Ok(Some((true, _))) => serve_h2(stream, remote, live).await,
        Ok(Some((false, n))) => {
            let replay = Bytes::copy_from_slice(&opening[..n]);
            active(stream, Some(replay), accepted, remote, live).await;
        }
        // Closed, failed, or no protocol chosen within the header timeout.
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

/// Open streams of an HTTP/2 connection, so an idle one can be closed.
#[derive(Default)]
struct Streams {
    open: AtomicUsize,
    /// Woken when the last open stream ends or a first one opens.
    changed: Notify,
}

/// A stream's share of [`Streams`], released when its response body is dropped.
struct Stream(Arc<Streams>);

impl Stream {
    fn open(streams: &Arc<Streams>) -> Self {
        if streams.open.fetch_add(1, Ordering::AcqRel) == 0 {
            streams.changed.notify_one();
        }
        Self(Arc::clone(streams))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_one();
        }
    }
}

/// Completes once the connection has had no open stream for `keep_alive`.
async fn idle_for(streams: &Streams, keep_alive: Duration) {
    loop {
        if streams.open.load(Ordering::Acquire) > 0 {
            streams.changed.notified().await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(keep_alive) => {
                if streams.open.load(Ordering::Acquire) == 0 {
                    return;
                }
            }
            () = streams.changed.notified() => {}
        }
    }
}

async fn serve_h2(stream: TcpStream, remote: SocketAddr, live: Live) {
    let ctx = Arc::clone(&live.0);
    let shared = Arc::clone(&ctx.shared);
    let streams = Arc::new(Streams::default());
    let counting = Arc::clone(&streams);
    let service = service_fn(move |request| {
        let stream = Stream::open(&counting);
        let answer = handle(Arc::clone(&shared), request, remote);
        async move {
            let response = answer.await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| Counted {
                body,
                _stream: stream,
            }))
        }
    });
    let io = ClientIo {
        stream,
        replay: Some(Bytes::from_static(H2_PREFACE)),
        activity: Arc::new(Activity::default()),
        listener: Arc::clone(&ctx),
    };
    let conn = ctx.h2.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let stopped = ctx.stop.notified();
    tokio::pin!(stopped);
    let idle = idle_for(&streams, ctx.limits.keep_alive);
    tokio::pin!(idle);
    if !ctx.stopping.load(Ordering::SeqCst) {
        tokio::select! {
            result = conn.as_mut() => {
                log_end(result);
                return;
            }
            () = &mut stopped => {}
            () = &mut idle => {
                ctx.shared.metrics.idle_closes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // GOAWAY: streams already open finish, no new one starts.
    conn.as_mut().graceful_shutdown();
    log_end(conn.await);
}

/// An HTTP/2 response body, holding its stream open until it is done.
struct Counted {
    body: ProxyBody,
    _stream: Stream,
}

impl http_body::Body for Counted {
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

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

/// What the socket wrapper tells the parking logic about an HTTP/1.1 connection.
#[derive(Default)]
struct Activity {
    /// Requests whose response has not been fully handed to hyper yet.
    in_flight: AtomicUsize,
    /// Bytes written and not yet flushed.
    unflushed: AtomicBool,
    /// The last read found nothing to read: hyper waits for the client.
    read_waiting: AtomicBool,
    /// Tick at which the connection was first seen idle (0: busy since the last tick).
    idle_since: AtomicU64,
    /// When the first byte of a request head not yet complete arrived (a `Listener::stamp`;
    /// 0: no head in progress).
    head_started: AtomicU64,
}

impl Activity {
    /// An HTTP/1.1 connection's activity, with a head in progress since `head_started`
    /// (0: none).
    fn new(head_started: u64) -> Self {
        Self {
            head_started: AtomicU64::new(head_started),
            ..Self::default()
        }
    }

    /// Bytes arrived: with no request in flight, they begin a head. (Bytes of a pipelined
    /// request that arrive while another is in flight start its clock when the gateway
    /// turns to it, as nginx counts them.)
    fn bytes_arrived(&self, listener: &Listener) {
        self.busy();
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            let stamp = listener.stamp(Instant::now());
            self.head_started.store(stamp, Ordering::Relaxed);
        }
    }

    fn busy(&self) {
        self.idle_since.store(0, Ordering::Relaxed);
    }

    /// Nothing in flight, no head in progress, everything flushed, hyper waiting to read.
    fn quiet(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
            && !self.unflushed.load(Ordering::Relaxed)
            && self.read_waiting.load(Ordering::Relaxed)
    }

    /// At a tick: whether the connection has been idle since the previous tick. Idle means
    /// nothing in flight, everything flushed, hyper waiting to read; any activity in between
    /// resets it, so only a connection idle across a whole tick parks.
    fn idle_across(&self, epoch: u64) -> bool {
        if !self.quiet() {
            self.busy();
            return false;
        }
        match self.idle_since.load(Ordering::Relaxed) {
            0 => {
                self.idle_since.store(epoch, Ordering::Relaxed);
                false
            }
            since => since < epoch,
        }
    }
}

/// The client socket, with bytes to replay first (read by an earlier hyper connection but
/// not parsed), reporting activity.
struct ClientIo {
    stream: TcpStream,
    replay: Option<Bytes>,
    activity: Arc<Activity>,
    listener: Arc<Listener>,
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(replay) = &mut this.replay {
            let n = replay.len().min(buf.remaining());
            buf.put_slice(&replay.split_to(n));
            if replay.is_empty() {
                this.replay = None;
            }
            this.activity.bytes_arrived(&this.listener);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        match &polled {
            Poll::Pending => this.activity.read_waiting.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {
                this.activity.read_waiting.store(false, Ordering::Relaxed);
                if buf.filled().len() > before {
                    this.activity.bytes_arrived(&this.listener);
                }
            }
        }
        polled
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.activity.unflushed.store(true, Ordering::Relaxed);
        this.activity.busy();
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.activity.unflushed.store(true, Ordering::Relaxed);
        this.activity.busy();
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = polled {
            this.activity.unflushed.store(false, Ordering::Relaxed);
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The response body, reporting when the request is finished with.
struct Tracked {
    body: ProxyBody,
    activity: Arc<Activity>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.activity.busy();
    }
}

impl http_body::Body for Tracked {
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

enum Outcome {
    Closed(Result<(), hyper::Error>),
    Park,
    /// A request head was not complete by its deadline.
    HeadTimeout,
}

/// Serves an HTTP/1.1 connection until it closes, or parks it when idle. `head_started` is
/// the stamp of the first byte of a head in progress (0: none).
async fn active(
    stream: TcpStream,
    replay: Option<Bytes>,
    head_started: u64,
    remote: SocketAddr,
    live: Live,
) {
    let (mut stream, mut replay, mut head_started) = (stream, replay, head_started);
    loop {
        match active_phase(stream, replay, head_started, remote, &live).await {
            None => return,
            // hyper held bytes it had not parsed (the start of a pipelined request): a fresh
            // connection state reads them at once, and the head's clock keeps running.
            Some((s, Some(bytes), started)) => {
                (stream, replay, head_started) = (s, Some(bytes), started)
            }
            Some((s, None, _)) => {
                live.0
                    .shared
                    .metrics
                    .client_parks
                    .fetch_add(1, Ordering::Relaxed);
                tokio::spawn(parked(s, live));
                return;
            }
        }
    }
}

/// What a finished phase hands on: the socket, unparsed bytes, and the head clock.
type Handover = (TcpStream, Option<Bytes>, u64);

/// One hyper connection over the socket; returns the socket when the connection went idle.
async fn active_phase(
    stream: TcpStream,
    replay: Option<Bytes>,
    head_started: u64,
    remote: SocketAddr,
    live: &Live,
) -> Option<Handover> {
    let ctx = Arc::clone(&live.0);
    let activity = Arc::new(Activity::new(head_started));
    let io = ClientIo {
        stream,
        replay,
        activity: Arc::clone(&activity),
        listener: Arc::clone(&ctx),
    };
    let shared = Arc::clone(&ctx.shared);
    let tracking = Arc::clone(&activity);
    let service = service_fn(move |request: http::Request<Incoming>| {
        let activity = Arc::clone(&tracking);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        // The head is complete.
        activity.head_started.store(0, Ordering::Relaxed);
        activity.busy();
        let answer = handle(Arc::clone(&shared), request, remote);
        async move {
            let response = answer.await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| Tracked { body, activity }))
        }
    });
    let mut conn = ctx.h1.serve_connection(TokioIo::new(io), service);
    let mut stopping = false;
    // Only an idle connection listens to the tick: a busy one is polled by its own I/O and
    // checks the stop flag then, so the request path does not pay for the tick.
    let mut tick = Box::pin(ctx.tick.notified());
    let mut tick_armed = false;
    // The header deadline, armed only while a head is incomplete after a poll: a head that
    // arrives whole (the usual case) costs no timer at all.
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let head_timer = tokio::time::sleep_until(far);
    tokio::pin!(head_timer);
    let mut armed_for = 0u64;
    let outcome = poll_fn(|cx| {
        if !stopping && ctx.stopping.load(Ordering::SeqCst) {
            stopping = true;
            Pin::new(&mut conn).graceful_shutdown();
        }
        if let Poll::Ready(result) = Pin::new(&mut conn).poll(cx) {
            return Poll::Ready(Outcome::Closed(result));
        }
        let started = activity.head_started.load(Ordering::Relaxed);
        if started != 0 {
            if armed_for != started {
                armed_for = started;
                let deadline = tokio::time::Instant::from_std(ctx.head_deadline(started));
                head_timer.as_mut().reset(deadline);
            }
            if head_timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Outcome::HeadTimeout);
            }
        }
        if !activity.quiet() {
            return Poll::Pending;
        }
        loop {
            if !tick_armed {
                tick.set(ctx.tick.notified());
                tick_armed = true;
            }
            if tick.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            tick_armed = false;
            if ctx.stopping.load(Ordering::SeqCst) && !stopping {
                stopping = true;
                Pin::new(&mut conn).graceful_shutdown();
                if let Poll::Ready(result) = Pin::new(&mut conn).poll(cx) {
                    return Poll::Ready(Outcome::Closed(result));
                }
            }
            if !stopping && activity.idle_across(ctx.epoch.load(Ordering::Relaxed)) {
                return Poll::Ready(Outcome::Park);
            }
        }
    })
    .await;
    match outcome {
        Outcome::Closed(result) => {
            log_end(result);
            None
        }
        Outcome::HeadTimeout => {
            ctx.shared
                .metrics
                .header_timeouts
                .fetch_add(1, Ordering::Relaxed);
            // hyper has written nothing for this head, so the socket is ours to answer on;
            // one non-blocking attempt, as a client this slow may not be reading either.
            let parts = conn.into_parts();
            let io = parts.io.into_inner();
            let _ = io.stream.try_write(HEAD_TIMEOUT_RESPONSE);
            tracing::debug!(%remote, "client connection closed: request head not complete within the header timeout");
            None
        }
        Outcome::Park => {
            let parts = conn.into_parts();
            let io = parts.io.into_inner();
            let replay = match (io.replay, parts.read_buf.is_empty()) {
                (None, true) => None,
                (None, false) => Some(parts.read_buf),
                (Some(rest), true) => Some(rest),
                (Some(rest), false) => {
                    let mut joined = parts.read_buf.to_vec();
                    joined.extend_from_slice(&rest);
                    Some(Bytes::from(joined))
                }
            };
            // Unparsed bytes begin a head now, if no clock runs for them yet.
            let started = match (&replay, activity.head_started.load(Ordering::Relaxed)) {
                (Some(_), 0) => ctx.stamp(Instant::now()),
                (_, started) => started,
            };
            Some((io.stream, replay, started))
        }
    }
}

/// An idle HTTP/1.1 connection: only the socket, until the client speaks again or the
/// keep-alive timeout passes. Kept small: this is what ten thousand idle clients cost.
async fn parked(stream: TcpStream, live: Live) {
    {
        let stop = live.0.stop.notified();
        tokio::pin!(stop);
        if live.0.stopping.load(Ordering::SeqCst) {
            return;
        }
        // poll_read_ready, not readable(): it takes over the socket's read-waker slot, where
        // the last active phase left its waker; that waker would otherwise keep the whole
        // finished task (its 2 KiB future) alive for as long as the client idles.
        let ready = poll_fn(|cx| stream.poll_read_ready(cx));
        tokio::select! {
            ready = ready => if ready.is_err() { return },
            () = tokio::time::sleep(live.0.limits.keep_alive) => {
                live.0.shared.metrics.idle_closes.fetch_add(1, Ordering::Relaxed);
                return;
            }
            () = &mut stop => return,
        }
    }
    let Ok(remote) = stream.peer_addr() else {
        return;
    };
    tokio::spawn(resumed(stream, remote, live));
}

/// A parked connection the client spoke on again: its next head's clock starts now. Boxed:
/// parking and resuming name each other, and the box breaks the type cycle.
fn resumed(
    stream: TcpStream,
    remote: SocketAddr,
    live: Live,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    let started = live.0.stamp(Instant::now());
    Box::pin(active(stream, None, started, remote, live))
}
