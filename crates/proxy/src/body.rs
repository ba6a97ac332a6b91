//! Bodies on the data path: streamed both ways, never buffered whole.
//!
//! [`RequestBody`] carries the caller's body to the back end and can be handed back for a
//! retry as long as nobody has polled it (so a request whose body was not yet sent can go out
//! again on a fresh connection). A small body of known length (up to [`REPLAY_LIMIT`]) is also
//! remembered as it is sent, by reference to the received chunks (no copy), so that a request
//! that may be repeated (an HTTP/2 stream refused by GOAWAY or REFUSED_STREAM after its body
//! went out; an idempotent method cut before its answer) can still go out again, as the own
//! HTTP/1.1 relay does from its buffer. It also remembers whether the caller's body failed (malformed
//! chunked framing, or the caller stopped sending): the send to the back end fails then too,
//! and the failure is the caller's, not the back end's. [`ProxyBody`] is what the gateway answers with: the back end's
//! streamed body, or a small gateway-made one.

use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use parking_lot::Mutex;
use std::future::Future as _;

use crate::upstream::BackendBody;

/// Bodies up to this size (declared up front) are remembered for a retry.
pub(crate) const REPLAY_LIMIT: u64 = 64 * 1024;

/// The caller's body, on its way to the back end.
pub(crate) enum RequestBody {
    /// No body (most GETs): nothing to keep for a retry.
    Empty,
    /// A remembered body, sent again.
    Replay {
        chunks: std::collections::VecDeque<Bytes>,
        len: u64,
    },
    /// A streamed body, held in a slot until the first poll takes it.
    Stream {
        slot: Arc<Slot>,
        taken: Option<Incoming>,
        hint: SizeHint,
        /// How long the caller may go without sending a byte of it.
        timeout: Duration,
        /// When a byte last arrived (or the body was first polled).
        progress: Option<Instant>,
        /// Armed while the body waits for the caller: a body that arrives without waiting
        /// (the usual case) costs no timer.
        timer: Option<Pin<Box<Sleep>>>,
    },
}

/// The caller sent no byte of its body for the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("no byte of the request body arrived for {0:?}")]
pub(crate) struct BodyTimedOut(Duration);

/// Where a streamed body waits for its first poll.
pub(crate) struct Slot {
    incoming: Mutex<Option<Incoming>>,
    /// The body as sent so far, when it is small enough to remember (`None`: not kept).
    kept: Option<Mutex<Kept>>,
    /// The caller's body yielded an error.
    failed: AtomicBool,
    /// It stopped arriving for the body timeout.
    timed_out: AtomicBool,
}

/// A body remembered for a retry.
#[derive(Default)]
struct Kept {
    chunks: Vec<Bytes>,
    /// The whole body was sent.
    complete: bool,
    /// Trailers came: not replayable.
    gave_up: bool,
}

impl Slot {
    fn new(incoming: Incoming) -> Arc<Self> {
        let small = Body::size_hint(&incoming)
            .upper()
            .is_some_and(|n| n <= REPLAY_LIMIT);
        Arc::new(Self {
            kept: small.then(Mutex::default),
            incoming: Mutex::new(Some(incoming)),
            failed: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
        })
    }
}

/// Gives back a request body that was never polled, for a retry.
pub(crate) struct Reclaim(Option<Arc<Slot>>, Duration);

impl RequestBody {
    /// Wraps an incoming body that may go `timeout` without a byte; returns the body and the
    /// handle that can reclaim it.
    pub(crate) fn new(incoming: Incoming, timeout: Duration) -> (Self, Reclaim) {
        if incoming.is_end_stream() {
            return (RequestBody::Empty, Reclaim(None, timeout));
        }
        let slot = Slot::new(incoming);
        (
            RequestBody::stream(Arc::clone(&slot), timeout),
            Reclaim(Some(slot), timeout),
        )
    }

    fn stream(slot: Arc<Slot>, timeout: Duration) -> Self {
        let hint = slot
            .incoming
            .lock()
            .as_ref()
            .map(Body::size_hint)
            .unwrap_or_default();
        RequestBody::Stream {
            slot,
            taken: None,
            hint,
            timeout,
            progress: None,
            timer: None,
        }
    }
}

impl Reclaim {
    /// A body for another attempt, which the caller has judged safe (the back end provably
    /// did not process it, or the method is idempotent, as RFC 9110 §9.2.2 allows and the
    /// own HTTP/1.1 relay does from its buffer): empty stays empty; a streamed body if it was
    /// never polled; else the remembered one, when it was small and sent whole. `None` means
    /// the request cannot be repeated.
    pub(crate) fn take(&self) -> Option<RequestBody> {
        match &self.0 {
            None => Some(RequestBody::Empty),
            Some(slot) => {
                if let Some(incoming) = slot.incoming.lock().take() {
                    return Some(RequestBody::stream(Slot::new(incoming), self.1));
                }
                let kept = slot.kept.as_ref()?.lock();
                (kept.complete && !kept.gave_up).then(|| RequestBody::Replay {
                    len: kept.chunks.iter().map(|c| c.len() as u64).sum(),
                    chunks: kept.chunks.iter().cloned().collect(),
                })
            }
        }
    }

    /// Whether the caller's body stopped arriving for the body timeout.
    pub(crate) fn body_timed_out(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|slot| slot.timed_out.load(Ordering::Relaxed))
    }

    /// Whether the caller's body failed while the current attempt sent it.
    pub(crate) fn body_failed(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|slot| slot.failed.load(Ordering::Relaxed))
    }

    /// Points the handle at the body of the next attempt.
    pub(crate) fn follow(&mut self, body: &RequestBody) {
        if let RequestBody::Stream { slot, .. } = body {
            self.0 = Some(Arc::clone(slot));
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Replay { chunks, .. } => {
                Poll::Ready(chunks.pop_front().map(|c| Ok(Frame::data(c))))
            }
            RequestBody::Stream {
                slot,
                taken,
                timeout,
                progress,
                timer,
                ..
            } => {
                if taken.is_none() {
                    *taken = slot.incoming.lock().take();
                }
                let Some(body) = taken else {
                    return Poll::Ready(None);
                };
                let polled = Pin::new(&mut *body).poll_frame(cx);
                match &polled {
                    Poll::Ready(Some(Err(_))) => slot.failed.store(true, Ordering::Relaxed),
                    Poll::Ready(frame) => {
                        *progress = Some(Instant::now());
                        if let Some(kept) = &slot.kept {
                            let mut kept = kept.lock();
                            match frame {
                                Some(Ok(f)) => match f.data_ref() {
                                    Some(data) => kept.chunks.push(data.clone()),
                                    None => kept.gave_up = true,
                                },
                                Some(Err(_)) => {}
                                None => kept.complete = true,
                            }
                            // A sender that knows the body has ended does not poll again.
                            if Body::is_end_stream(&*body) {
                                kept.complete = true;
                            }
                        }
                    }
                    Poll::Pending => {
                        let since = *progress.get_or_insert_with(Instant::now);
                        let deadline = since + *timeout;
                        let sleep = timer
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                        if sleep.deadline() != deadline {
                            sleep.as_mut().reset(deadline);
                        }
                        if sleep.as_mut().poll(cx).is_ready() {
                            slot.failed.store(true, Ordering::Relaxed);
                            slot.timed_out.store(true, Ordering::Relaxed);
                            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(*timeout)))));
                        }
                    }
                }
                polled.map(|frame| frame.map(|r| r.map_err(Into::into)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Replay { chunks, .. } => chunks.is_empty(),
            RequestBody::Stream { taken, .. } => taken.as_ref().is_some_and(Body::is_end_stream),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Replay { len, .. } => SizeHint::with_exact(*len),
            RequestBody::Stream { hint, .. } => *hint,
        }
    }
}

/// What the gateway answers with.
pub enum ProxyBody {
    /// The back end's body, streamed.
    Backend(BackendBody),
    /// A body the gateway made (errors, health).
    Full(Option<Bytes>),
}

impl ProxyBody {
    /// A complete body.
    pub(crate) fn full(bytes: Bytes) -> Self {
        ProxyBody::Full(Some(bytes))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Backend(b) => Pin::new(b).poll_frame(cx),
            ProxyBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Backend(b) => b.is_end_stream(),
            ProxyBody::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Backend(b) => b.size_hint(),
            ProxyBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ProxyBody::Full(None) => SizeHint::with_exact(0),
        }
    }
}
