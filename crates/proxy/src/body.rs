//! Bodies on the data path: streamed both ways, never buffered whole.
//!
//! [`RequestBody`] carries the caller's body to the back end and can be handed back for a
//! retry as long as nobody has polled it (so a request whose body was not yet sent can go out
//! again on a fresh connection). It also remembers whether the caller's body failed (malformed
//! chunked framing, or the caller stopped sending): the send to the back end fails then too,
//! and the failure is the caller's, not the back end's. [`ProxyBody`] is what the gateway answers with: the back end's
//! streamed body, or a small gateway-made one.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::upstream::BackendBody;

/// The caller's body, on its way to the back end.
pub(crate) enum RequestBody {
    /// No body (most GETs): nothing to keep for a retry.
    Empty,
    /// A streamed body, held in a slot until the first poll takes it.
    Stream {
        slot: Arc<Slot>,
        taken: Option<Incoming>,
        hint: SizeHint,
    },
}

/// Where a streamed body waits for its first poll.
pub(crate) struct Slot {
    incoming: Mutex<Option<Incoming>>,
    /// The caller's body yielded an error.
    failed: AtomicBool,
}

impl Slot {
    fn new(incoming: Incoming) -> Arc<Self> {
        Arc::new(Self {
            incoming: Mutex::new(Some(incoming)),
            failed: AtomicBool::new(false),
        })
    }
}

/// Gives back a request body that was never polled, for a retry.
pub(crate) struct Reclaim(Option<Arc<Slot>>);

impl RequestBody {
    /// Wraps an incoming body; returns the body and the handle that can reclaim it.
    pub(crate) fn new(incoming: Incoming) -> (Self, Reclaim) {
        if incoming.is_end_stream() {
            return (RequestBody::Empty, Reclaim(None));
        }
        let hint = incoming.size_hint();
        let slot = Slot::new(incoming);
        (
            RequestBody::Stream {
                slot: Arc::clone(&slot),
                taken: None,
                hint,
            },
            Reclaim(Some(slot)),
        )
    }
}

impl Reclaim {
    /// A body for another attempt: empty stays empty; a streamed body only if it was never
    /// polled (`None` then means it is gone and the request cannot be repeated).
    pub(crate) fn take(&self) -> Option<RequestBody> {
        match &self.0 {
            None => Some(RequestBody::Empty),
            Some(slot) => {
                let incoming = slot.incoming.lock().ok()?.take()?;
                let hint = incoming.size_hint();
                let slot = Slot::new(incoming);
                Some(RequestBody::Stream {
                    slot,
                    taken: None,
                    hint,
                })
            }
        }
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
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Stream { slot, taken, .. } => {
                if taken.is_none() {
                    *taken = slot.incoming.lock().ok().and_then(|mut s| s.take());
                }
                match taken {
                    Some(body) => {
                        let polled = Pin::new(body).poll_frame(cx);
                        if let Poll::Ready(Some(Err(_))) = &polled {
                            slot.failed.store(true, Ordering::Relaxed);
                        }
                        polled
                    }
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Stream { taken, .. } => taken.as_ref().is_some_and(Body::is_end_stream),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
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
