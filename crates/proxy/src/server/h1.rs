//! HTTP/1.1 client connections: hyper's server per active phase, the whole-header deadline,
//! and parking of idle connections.
//!
//! hyper keeps two 8 KiB buffers and its state for as long as a connection lives. A gateway in
//! front of many mostly idle keep-alive clients would hold ~20 KiB per client for nothing, so
//! a connection that has been idle for a whole tick (nothing in flight, no head in progress,
//! everything flushed, hyper waiting to read) is taken apart: its socket, and any bytes hyper
//! had read but not parsed, go on: without such bytes the socket waits in the listener's idle
//! set (`idle.rs`) for the next byte, then starts a fresh connection. A busy connection never
//! parks: the tick only looks at connections already idle.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{ClientIo, ClientStream, Guarded, Listener, Live, log_end};
use crate::handler::{Conn, handle};

/// What a client whose request head took too long gets before the connection closes.
pub(super) const HEAD_TIMEOUT_RESPONSE: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
/// What a client whose request line is too long gets before the connection closes.
pub(super) const LINE_TOO_LONG_RESPONSE: &[u8] =
    b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
/// `Activity::line_bytes` once the request line is complete (or not being watched).
const LINE_DONE: usize = usize::MAX;

/// What the socket wrapper tells the parking logic about a connection.
#[derive(Default)]
pub(super) struct Activity {
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
    /// Bytes of the request line seen so far, while its end has not arrived ([`LINE_DONE`]
    /// otherwise).
    line_bytes: AtomicUsize,
    /// The request line passed the limit without ending.
    line_too_long: AtomicBool,
}

impl Activity {
    /// A connection's activity, with a head in progress since `head_started` (0: none).
    pub(super) fn new(head_started: u64) -> Self {
        Self {
            head_started: AtomicU64::new(head_started),
            line_bytes: AtomicUsize::new(if head_started == 0 { LINE_DONE } else { 0 }),
            ..Self::default()
        }
    }

    fn busy(&self) {
        self.idle_since.store(0, Ordering::Relaxed);
    }

    /// Bytes arrived: with no request in flight, they begin a head. (Bytes of a pipelined
    /// request that arrive while another is in flight start its clock when the gateway
    /// turns to it, as nginx counts them.)
    pub(super) fn bytes_arrived(&self, listener: &Listener, bytes: &[u8]) {
        self.busy();
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            let stamp = listener.stamp(Instant::now());
            self.head_started.store(stamp, Ordering::Relaxed);
            self.line_bytes.store(0, Ordering::Relaxed);
        }
        // The request line's length is watched until its end arrives: hyper would only notice
        // a long one when its whole head buffer fills, and answer 431 instead of 414.
        let seen = self.line_bytes.load(Ordering::Relaxed);
        if seen != LINE_DONE {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(end) if seen + end <= listener.limits.max_request_line + 1 => {
                    self.line_bytes.store(LINE_DONE, Ordering::Relaxed);
                }
                Some(_) => self.line_too_long.store(true, Ordering::Relaxed),
                None => {
                    let seen = seen + bytes.len();
                    self.line_bytes.store(seen, Ordering::Relaxed);
                    if seen > listener.limits.max_request_line + 1 {
                        self.line_too_long.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// The request line passed its limit before its head completed: reads stop, so hyper does
    /// not fill its buffer and answer 431 first.
    pub(super) fn line_too_long(&self) -> bool {
        self.line_too_long.load(Ordering::Relaxed)
    }

    pub(super) fn read_pending(&self, pending: bool) {
        self.read_waiting.store(pending, Ordering::Relaxed);
    }

    pub(super) fn wrote(&self) {
        self.unflushed.store(true, Ordering::Relaxed);
        self.busy();
    }

    pub(super) fn flushed(&self) {
        self.unflushed.store(false, Ordering::Relaxed);
    }

    /// Nothing in flight, no head in progress, everything flushed, hyper waiting to read.
    fn quiet(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
            && !self.unflushed.load(Ordering::Relaxed)
            && self.read_waiting.load(Ordering::Relaxed)
    }

    /// At a tick: whether the connection has been idle since the previous tick. Idle means
    /// [`Activity::quiet`]; any activity in between resets it, so only a connection idle
    /// across a whole tick parks.
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

/// A request in flight until its response body is done with.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.busy();
    }
}

enum Outcome {
    Closed(Result<(), hyper::Error>),
    Park,
    /// A request head was not complete by its deadline.
    HeadTimeout,
    /// The request line passed its limit.
    LineTooLong,
}

/// Serves an HTTP/1.1 connection until it closes, or parks it when idle. `head_started` is
/// the stamp of the first byte of a head in progress (0: none).
pub(super) async fn active<S: ClientStream>(
    stream: S,
    replay: Option<Bytes>,
    head_started: u64,
    conn: Arc<Conn>,
    live: Live,
) {
    let (mut stream, mut replay, mut head_started) = (stream, replay, head_started);
    loop {
        match phase(stream, replay, head_started, &conn, &live).await {
            None => return,
            // hyper held bytes it had not parsed (the start of a pipelined request): a fresh
            // connection state reads them at once, and the head's clock keeps running.
            Some((s, Some(bytes), started)) => {
                (stream, replay, head_started) = (s, Some(bytes), started);
            }
            Some((s, None, _)) => {
                live.0
                    .shared
                    .metrics
                    .client_parks
                    .fetch_add(1, Ordering::Relaxed);
                let set = Arc::clone(S::idle_set(&live.0));
                set.park(s, conn, live);
                return;
            }
        }
    }
}

/// What a finished phase hands on: the socket, unparsed bytes, and the head clock.
type Handover<S> = (S, Option<Bytes>, u64);

/// One hyper connection over the socket; returns the socket when the connection went idle.
async fn phase<S: ClientStream>(
    stream: S,
    replay: Option<Bytes>,
    head_started: u64,
    conn: &Arc<Conn>,
    live: &Live,
) -> Option<Handover<S>> {
    let ctx = Arc::clone(&live.0);
    let io = ClientIo::new(stream, replay, head_started, &ctx);
    let activity = Arc::clone(&io.activity);
    let shared = Arc::clone(&ctx.shared);
    let tracking = Arc::clone(&activity);
    let for_requests = Arc::clone(conn);
    let service = service_fn(move |request: http::Request<Incoming>| {
        let activity = Arc::clone(&tracking);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        // The head is complete: its clock stops, and its request line was short enough for
        // hyper's buffer (the handler checks its length against the limit).
        activity.head_started.store(0, Ordering::Relaxed);
        activity.line_bytes.store(LINE_DONE, Ordering::Relaxed);
        activity.line_too_long.store(false, Ordering::Relaxed);
        activity.busy();
        let answer = handle(Arc::clone(&shared), request, Arc::clone(&for_requests));
        async move {
            let response = answer.await?;
            let guard = InFlight(activity);
            Ok::<_, std::convert::Infallible>(response.map(|body| Guarded::new(body, guard)))
        }
    });
    let mut connection = ctx.h1.serve_connection(TokioIo::new(io), service);
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
            Pin::new(&mut connection).graceful_shutdown();
        }
        if let Poll::Ready(result) = Pin::new(&mut connection).poll(cx) {
            return Poll::Ready(Outcome::Closed(result));
        }
        if activity.line_too_long() {
            return Poll::Ready(Outcome::LineTooLong);
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
                Pin::new(&mut connection).graceful_shutdown();
                if let Poll::Ready(result) = Pin::new(&mut connection).poll(cx) {
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
        Outcome::HeadTimeout | Outcome::LineTooLong => {
            let answer = if matches!(outcome, Outcome::HeadTimeout) {
                ctx.shared
                    .metrics
                    .header_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(remote = %conn.remote, "client connection closed: request head not complete within the header timeout");
                HEAD_TIMEOUT_RESPONSE
            } else {
                tracing::debug!(remote = %conn.remote, "client connection closed: request line longer than --max-request-line");
                LINE_TOO_LONG_RESPONSE
            };
            // hyper has written nothing for this head, so the socket is ours to answer on;
            // briefly, as a client this slow may not be reading either.
            let mut io = connection.into_parts().io.into_inner();
            goodbye(&mut io.stream, answer).await;
            None
        }
        Outcome::Park => {
            let parts = connection.into_parts();
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

/// Answers a head the gateway will not read to its end, then closes as nginx's lingering close
/// does: what the client is still sending is read and dropped for a moment, so its kernel does
/// not reset the connection before it has read the answer. Bounded in time and bytes, as the
/// client may be slow or hostile.
pub(super) async fn goodbye<S: ClientStream>(stream: &mut S, answer: &[u8]) {
    let answered = async {
        stream.write_all(answer).await?;
        stream.shutdown().await
    };
    if tokio::time::timeout(Duration::from_millis(500), answered)
        .await
        .is_err()
    {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 8192];
        let mut left = 1024 * 1024usize;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// A parked connection the client spoke on again: its next head's clock starts now, on the
/// HTTP/1.1 engine the gateway runs. Boxed: parking and resuming name each other, and the box
/// breaks the type cycle.
pub(super) fn resumed<S: ClientStream>(
    stream: S,
    conn: Arc<Conn>,
    live: Live,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    let started = live.0.stamp(Instant::now());
    if live.0.shared.own_http1 {
        Box::pin(super::relay::active(stream, None, started, conn, live))
    } else {
        Box::pin(active(stream, None, started, conn, live))
    }
}
