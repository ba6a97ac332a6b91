//! The gateway listener: HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) on one port, with
//! graceful shutdown, and idle HTTP/1.1 connections parked.
//!
//! hyper keeps two 8 KiB buffers and its state for as long as a connection lives. A gateway in
//! front of many mostly idle keep-alive clients would hold ~20 KiB per client for nothing, so
//! an HTTP/1.1 connection that has been idle for a whole tick (nothing in flight, everything
//! flushed, no bytes waiting) is taken apart: its socket, and any bytes hyper had read but not
//! parsed, move to a small parked task that waits for the next byte and then starts a fresh
//! connection. A busy connection never parks: the tick only looks at connections already idle.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::body::ProxyBody;
use crate::handler::{Shared, handle};

/// How often idle connections are looked at; one parks after being idle a whole tick. Short,
/// so that few connections hold full buffers at once during a burst of new clients; only
/// connections that are not parked are woken by it.
const TICK: Duration = Duration::from_millis(20);
/// How long a parked client connection may stay silent before it is closed (nginx's default).
const KEEP_ALIVE: Duration = Duration::from_secs(75);
/// The HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What every connection of the listener shares.
struct Listener {
    shared: Arc<Shared>,
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

/// Counts a client connection for the graceful-shutdown wait, across its park/resume moves.
struct Live(Arc<Listener>);

impl Live {
    fn new(listener: &Arc<Listener>) -> Self {
        listener.live.fetch_add(1, Ordering::SeqCst);
        let metrics = &listener.shared.metrics;
        metrics.client_connections.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(listener))
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
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut h1 = http1::Builder::new();
    h1.keep_alive(true).timer(TokioTimer::new());
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new());
    let ctx = Arc::new(Listener {
        shared,
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
    loop {
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
        let live = Live::new(&ctx);
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

/// A new connection: HTTP/2 if it starts with the preface, HTTP/1.1 otherwise.
async fn first(stream: TcpStream, remote: SocketAddr, live: Live) {
    match tokio::time::timeout(KEEP_ALIVE, detect_h2(&stream)).await {
        Ok(Some(true)) => serve_h2(stream, remote, live).await,
        Ok(Some(false)) => active(stream, None, remote, live).await,
        // Closed, failed, or silent for the whole keep-alive time.
        Ok(None) | Err(_) => {}
    }
}

/// Whether the client opens with the HTTP/2 preface (`None`: it closed first).
async fn detect_h2(stream: &TcpStream) -> Option<bool> {
    let mut peek = [0u8; H2_PREFACE.len()];
    loop {
        let n = match stream.peek(&mut peek).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        if peek[..n] != H2_PREFACE[..n] {
            return Some(false);
        }
        if n == H2_PREFACE.len() {
            return Some(true);
        }
        // A prefix of the preface so far; peek would return the same bytes at once, so wait
        // a moment for the rest.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn serve_h2(stream: TcpStream, remote: SocketAddr, live: Live) {
    let ctx = Arc::clone(&live.0);
    let shared = Arc::clone(&ctx.shared);
    let service = service_fn(move |request| handle(Arc::clone(&shared), request, remote));
    let conn = ctx.h2.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let stopped = ctx.stop.notified();
    tokio::pin!(stopped);
    if !ctx.stopping.load(Ordering::SeqCst) {
        tokio::select! {
            result = conn.as_mut() => {
                log_end(result);
                return;
            }
            () = &mut stopped => {}
        }
    }
    conn.as_mut().graceful_shutdown();
    log_end(conn.await);
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
}

impl Activity {
    fn busy(&self) {
        self.idle_since.store(0, Ordering::Relaxed);
    }

    /// Nothing in flight, everything flushed, hyper waiting to read.
    fn quiet(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
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
            this.activity.busy();
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        match &polled {
            Poll::Pending => this.activity.read_waiting.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {
                this.activity.read_waiting.store(false, Ordering::Relaxed);
                if buf.filled().len() > before {
                    this.activity.busy();
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
}

/// Serves an HTTP/1.1 connection until it closes, or parks it when idle.
async fn active(stream: TcpStream, replay: Option<Bytes>, remote: SocketAddr, live: Live) {
    let (mut stream, mut replay) = (stream, replay);
    loop {
        match active_phase(stream, replay, remote, &live).await {
            None => return,
            // hyper held bytes of a request that has not fully arrived: they are replayed to a
            // fresh connection state at once; a connection in mid-request does not park.
            Some((s, Some(bytes))) => (stream, replay) = (s, Some(bytes)),
            Some((s, None)) => {
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

/// One hyper connection over the socket; returns the socket when the connection went idle.
async fn active_phase(
    stream: TcpStream,
    replay: Option<Bytes>,
    remote: SocketAddr,
    live: &Live,
) -> Option<(TcpStream, Option<Bytes>)> {
    let ctx = Arc::clone(&live.0);
    let activity = Arc::new(Activity::default());
    let io = ClientIo {
        stream,
        replay,
        activity: Arc::clone(&activity),
    };
    let shared = Arc::clone(&ctx.shared);
    let tracking = Arc::clone(&activity);
    let service = service_fn(move |request: http::Request<Incoming>| {
        let activity = Arc::clone(&tracking);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
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
    let outcome = poll_fn(|cx| {
        if !stopping && ctx.stopping.load(Ordering::SeqCst) {
            stopping = true;
            Pin::new(&mut conn).graceful_shutdown();
        }
        if let Poll::Ready(result) = Pin::new(&mut conn).poll(cx) {
            return Poll::Ready(Outcome::Closed(result));
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
            Some((io.stream, replay))
        }
    }
}

/// An idle HTTP/1.1 connection: only the socket, until the client speaks again. Kept small:
/// this is what ten thousand idle clients cost.
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
            () = tokio::time::sleep(KEEP_ALIVE) => return,
            () = &mut stop => return,
        }
    }
    let Ok(remote) = stream.peer_addr() else {
        return;
    };
    tokio::spawn(resumed(stream, remote, live));
}

/// A parked connection the client spoke on again. Boxed: parking and resuming name each
/// other, and the box breaks the type cycle.
fn resumed(
    stream: TcpStream,
    remote: SocketAddr,
    live: Live,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(active(stream, None, remote, live))
}
