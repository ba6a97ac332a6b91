//! The gateway's own HTTP/1.1 relay: the common case of a proxied call, without a general
//! HTTP library's machinery in between.
//!
//! A request head is parsed once ([`head`]) into spans of the connection's read buffer; the
//! back-end request head is written from those spans and the operation's header steps,
//! compiled when the routing table was built ([`program`]), straight into one output buffer
//! ([`emit`]); the response head comes back the same way. Bodies are passed on as they
//! arrive ([`pump`]): Content-Length and close-delimited bodies byte for byte, chunked bodies
//! checked chunk by chunk ([`chunked`]). Both directions move at once, each only as fast as
//! its receiver takes the bytes. A connection's buffers are made when it becomes active and
//! reused for every request on it; a steady stream of requests allocates nothing here.
//!
//! [`exchange`] serves one request (its attempts' two directions in `duplex.rs`) with the same routing, policy plans, pools, failure
//! classification, metrics and call records as the hyper path (`handler.rs`); what the relay
//! does not cover (HTTP/1.0, a policy touching very many headers, a back end reached over
//! HTTP/2) it hands to that path before anything was written. The connection loop (idle
//! parking, deadlines) is `server/relay.rs`.

pub(crate) mod chunked;
mod duplex;
pub(crate) mod emit;
pub(crate) mod exchange;
pub(crate) mod head;
pub(crate) mod program;
pub(crate) mod pump;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

pub(crate) use program::Program;

/// The header-step programs of one operation, for the relay. `None` in an `OpEntry` when a
/// section touches more names than a program tracks: such operations go through hyper.
#[derive(Debug, Default)]
pub(crate) struct Programs {
    /// `inbound` steps, on the request to the back end.
    pub(crate) request: Program,
    /// `outbound` steps, on the back end's response.
    pub(crate) response: Program,
    /// `on-error` steps, on the gateway's own failure answers.
    pub(crate) error: Program,
}

/// A byte buffer read into from a socket: `data[start..end]` holds bytes not yet consumed.
/// The whole allocation is initialised once, so reads need no unsafe code to fill it.
#[derive(Debug, Default)]
pub(crate) struct Buf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// Reads so far: a [`Mark`] is good only while no read overwrote what it marks.
    reads: u64,
}

/// A position in a [`Buf`] to come back to (to send a request body again).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark {
    start: usize,
    end: usize,
    reads: u64,
}

impl Buf {
    /// A buffer of `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            data: vec![0; capacity],
            ..Self::default()
        }
    }

    /// The unconsumed bytes.
    pub(crate) fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// The unconsumed bytes, to change in place.
    pub(crate) fn filled_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    /// The current position, to [`Buf::restore`] later.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            start: self.start,
            end: self.end,
            reads: self.reads,
        }
    }

    /// Goes back to `mark`, if nothing was read since (the bytes are still there).
    pub(crate) fn restore(&mut self, mark: Mark) -> bool {
        if mark.reads != self.reads || mark.end > self.data.len() {
            return false;
        }
        self.start = mark.start;
        self.end = mark.end;
        true
    }

    /// Bytes not yet consumed.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Bytes the buffer holds at most without growing.
    pub(crate) fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Drops every unconsumed byte (they belonged to a connection that is gone).
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Marks `n` bytes consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            // Nothing unconsumed: the next read starts at the front. Bytes of a message that
            // may still be needed (a head its spans point into) are not overwritten until
            // the next read, which callers only start when they are done with them.
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes room for a read of at least `want` bytes, growing up to `max` bytes in all:
    /// consumed bytes are dropped first, then the allocation grows. `false` when there is
    /// no room (`max` reached).
    pub(crate) fn make_room(&mut self, want: usize, max: usize) -> bool {
        if self.data.len() - self.end >= want {
            return true;
        }
        if self.start > 0 {
            self.reads += 1;
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.data.len() - self.end >= want {
                return true;
            }
        }
        if self.data.len() >= max {
            return self.data.len() > self.end;
        }
        let grown = (self.data.len() * 2)
            .max(self.end + want)
            .max(4096)
            .min(max);
        self.data.resize(grown, 0);
        true
    }

    /// Reads once into the free space (call [`Buf::make_room`] first); `Ok(0)` at end of
    /// stream or when there is no free space.
    pub(crate) fn poll_fill<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        source: &mut R,
    ) -> Poll<io::Result<usize>> {
        let mut free = ReadBuf::new(&mut self.data[self.end..]);
        ready!(Pin::new(source).poll_read(cx, &mut free))?;
        self.reads += 1;
        let n = free.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }

    /// Appends `bytes` (bytes read before the relay took the connection over).
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        if self.make_room(bytes.len(), usize::MAX) {
            self.data[self.end..self.end + bytes.len()].copy_from_slice(bytes);
            self.end += bytes.len();
        }
    }
}

/// A deadline on a timer that is re-armed lazily. Re-arming a timer takes the timer
/// driver's lock; a connection serving a request every few microseconds would do that per
/// request. Instead the timer may fire up to `slack` late, keeps its deadline while that is
/// still good enough, and when it fires early for the current deadline it is re-armed once.
pub(crate) struct Timer {
    sleep: Pin<Box<Sleep>>,
}

impl Timer {
    /// A timer that is not armed yet.
    pub(crate) fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(far_future())),
        }
    }

    /// Ready once `at` has passed (by at most `slack`, as timers go).
    pub(crate) fn poll_at(
        &mut self,
        cx: &mut Context<'_>,
        at: Instant,
        slack: Duration,
    ) -> Poll<()> {
        let latest = at + slack;
        if self.sleep.deadline() > latest {
            self.sleep.as_mut().reset(latest);
        }
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            if Instant::now() >= at {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(latest);
        }
    }
}

/// "Never", as a deadline: far enough, and the same value every time.
fn far_future() -> Instant {
    use std::sync::OnceLock;
    static FAR: OnceLock<Instant> = OnceLock::new();
    *FAR.get_or_init(|| Instant::now() + Duration::from_secs(86_400 * 365 * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_drop_consumed_bytes_before_growing() {
        let mut buf = Buf::new(8);
        buf.extend(b"abcdefgh");
        buf.consume(6);
        assert_eq!(buf.filled(), b"gh");
        let mark = buf.mark();
        assert!(buf.make_room(4, 8));
        assert!(
            !buf.restore(mark),
            "the compaction moved what the mark points to"
        );
        assert_eq!(buf.filled(), b"gh");
        assert!(buf.make_room(100, 64));
        assert_eq!(buf.data.len(), 64);
        buf.consume(2);
        assert_eq!(buf.len(), 0);
        let mut full = Buf::new(4);
        full.extend(b"abcd");
        assert!(!full.make_room(1, 4));
    }
}
