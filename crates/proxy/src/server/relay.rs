//! HTTP/1.1 client connections on the gateway's own relay (`crate::relay`): request heads read
//! under the whole-header deadline, each request served by `relay::exchange`, and idle
//! connections parked.
//!
//! An active connection holds its buffers and two timers. When no request has come for a
//! short grace period after the last, the task ends: the socket alone moves to the listener's
//! idle set (`idle.rs`), which the hyper path uses too, so ten thousand idle clients cost a
//! socket and a slab entry each. A busy connection does not go through that: it re-arms its grace
//! timer about once per grace period, not per request.
//!
//! Limits are the hyper path's, checked the same way: a request line longer than
//! `--max-request-line` is cut off as it arrives (414), a head that does not fit the head
//! buffer gets 431, and the exact checks of both limits happen on the parsed head.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use super::h1::{self, HEAD_TIMEOUT_RESPONSE, LINE_TOO_LONG_RESPONSE, goodbye};
use super::{ClientStream, Listener, Live};
use crate::error::{Failure, Kind};
use crate::handler::Conn;
use crate::relay::exchange::{self, Buffers, Next, Session, Timers};
use crate::relay::head::{Parsed, parse_request};
use crate::relay::{Program, emit};

/// How long a connection waits for its next request, buffers in hand, before it parks (the
/// hyper path parks after 20 to 40 ms).
const GRACE: Duration = Duration::from_millis(20);

/// Serves an HTTP/1.1 connection until it closes, parks, or is handed to hyper.
/// `replay` holds bytes already read from it; `head_started` is the stamp of the first byte
/// of a head in progress (0: none).
pub(super) async fn active<S: ClientStream>(
    stream: S,
    replay: Option<Bytes>,
    head_started: u64,
    conn: Arc<Conn>,
    live: Live,
) {
    let ctx = Arc::clone(&live.0);
    let mut stream = stream;
    let mut bufs = Buffers::take();
    if let Some(bytes) = replay {
        bufs.input.extend(&bytes);
    }
    let mut timers = Timers::new();
    let mut head_due =
        (head_started != 0).then(|| Instant::from_std(ctx.head_deadline(head_started)));
    loop {
        match read_head(&mut stream, &mut bufs, &mut timers, &mut head_due, &ctx).await {
            Read::Head => {}
            Read::Idle => {
                if ctx.stopping.load(Ordering::SeqCst) {
                    return;
                }
                ctx.shared
                    .metrics
                    .client_parks
                    .fetch_add(1, Ordering::Relaxed);
                drop((bufs, timers));
                let set = Arc::clone(S::idle_set(&ctx));
                set.park(stream, conn, live);
                return;
            }
            Read::Closed => return,
            Read::TimedOut => {
                ctx.shared
                    .metrics
                    .header_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(remote = %conn.remote, "client connection closed: request head not complete within the header timeout");
                goodbye(&mut stream, HEAD_TIMEOUT_RESPONSE).await;
                return;
            }
            Read::LineTooLong => {
                tracing::debug!(remote = %conn.remote, "client connection closed: request line longer than --max-request-line");
                goodbye(&mut stream, LINE_TOO_LONG_RESPONSE).await;
                return;
            }
            Read::Refused(failure) => {
                ctx.shared.metrics.unmatched();
                tracing::debug!(remote = %conn.remote, code = failure.kind.code(), detail = %failure.detail, "request head refused");
                let id = ctx.shared.next_request_id();
                let mut answer = Vec::new();
                emit::failure(&mut answer, &failure, &id, &Program::default(), true);
                goodbye(&mut stream, &answer).await;
                return;
            }
        }
        head_due = None;
        let session = Session {
            shared: &ctx.shared,
            conn: &conn,
            client: &mut stream,
            bufs: &mut bufs,
            timers: &mut timers,
            stopping: ctx.stopping.load(Ordering::Relaxed),
        };
        match exchange::serve(session).await {
            Next::KeepAlive => {}
            Next::Close => {
                let _ = tokio::time::timeout(Duration::from_millis(500), stream.shutdown()).await;
                return;
            }
            Next::Linger => {
                goodbye(&mut stream, b"").await;
                return;
            }
            Next::Handover => {
                // What the relay does not cover goes to hyper, from this request's head on;
                // boxed, as that path's state is large and rarely needed.
                let replay = Bytes::copy_from_slice(bufs.input.filled());
                let started = ctx.stamp(std::time::Instant::now());
                drop((bufs, timers));
                Box::pin(h1::active(stream, Some(replay), started, conn, live)).await;
                return;
            }
        }
    }
}

/// How reading a request head ended.
enum Read {
    /// A whole head is parsed into the buffers.
    Head,
    /// No request came within the grace period: park.
    Idle,
    /// The caller closed (or the socket failed).
    Closed,
    /// The head was not complete by its deadline.
    TimedOut,
    /// The request line passed its limit before it ended.
    LineTooLong,
    /// The head is malformed or too large.
    Refused(Failure),
}

/// Reads until a whole request head is in the buffer. The head's deadline (`head_due`)
/// starts with its first byte, unless it already runs (the connection's first head counts
/// from the accept); before that byte, the connection is idle.
async fn read_head<S: ClientStream>(
    stream: &mut S,
    bufs: &mut Buffers,
    timers: &mut Timers,
    head_due: &mut Option<Instant>,
    ctx: &Listener,
) -> Read {
    let limits = &ctx.limits;
    // As the hyper path's head buffer: the request line, the header fields, and a read's
    // worth more.
    let cap = limits.max_request_line + limits.max_header_bytes + 16 * 1024;
    let mut idle_since: Option<Instant> = None;
    poll_fn(|cx| {
        loop {
            let input = &mut bufs.input;
            if input.len() > 0 {
                // As the hyper path watches the line as it arrives, complete head or not.
                if line_too_long(input.filled(), limits.max_request_line) {
                    return Poll::Ready(Read::LineTooLong);
                }
                match parse_request(input.filled_mut(), &mut bufs.request, limits.max_headers) {
                    Ok(Parsed::Complete) => return Poll::Ready(Read::Head),
                    Ok(Parsed::Partial) => {
                        head_due.get_or_insert_with(|| Instant::now() + limits.header_timeout);
                        if input.len() >= cap {
                            return Poll::Ready(Read::Refused(Failure::new(
                                Kind::HeadersTooLarge,
                                format!("the request head is larger than {cap} bytes"),
                            )));
                        }
                    }
                    Err(failure) => return Poll::Ready(Read::Refused(failure)),
                }
            }
            input.make_room(2048, cap + 2048);
            match input.poll_fill(cx, stream) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(Read::Closed),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => {
                    let waited = match *head_due {
                        Some(due) => timers.client.poll_at(cx, due, Duration::from_millis(100)),
                        None => {
                            let since = *idle_since.get_or_insert_with(Instant::now);
                            timers.client.poll_at(cx, since + GRACE / 2, GRACE / 2)
                        }
                    };
                    return match (waited, *head_due) {
                        (Poll::Ready(()), Some(_)) => Poll::Ready(Read::TimedOut),
                        (Poll::Ready(()), None) => Poll::Ready(Read::Idle),
                        (Poll::Pending, _) => Poll::Pending,
                    };
                }
            }
        }
    })
    .await
}

/// Whether the request line at the start of `bytes` is longer than `max` bytes (its CR
/// aside), ended or not.
fn line_too_long(bytes: &[u8], max: usize) -> bool {
    let window = &bytes[..bytes.len().min(max + 2)];
    !window.contains(&b'\n') && bytes.len() > max + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_cut_off_past_their_limit() {
        // A 17-byte line under a limit of 20, whole or still arriving.
        assert!(!line_too_long(b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n", 20));
        assert!(!line_too_long(b"GET /abc HTTP/1.1", 20));
        // 21 bytes may still end in CR LF; 22 without LF cannot.
        assert!(!line_too_long(b"GET /abcdefghijklmnop", 20));
        assert!(line_too_long(b"GET /abcdefghijklmnopq", 20));
        // A whole head whose line is too long.
        assert!(line_too_long(
            b"GET /abcdefghijklmnopqrstuvwxyz HTTP/1.1\r\n\r\n",
            20
        ));
    }
}
