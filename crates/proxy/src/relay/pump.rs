//! One message's way through the relay: its head (already written into an output buffer),
//! then its body, from a source socket's buffer to a sink socket.
//!
//! Content-Length and close-delimited bodies go from the source buffer to the sink as they
//! are; chunked bodies go through the checking decoder. A small body that is already in the
//! buffer when the head goes out is copied behind the head, so head and body leave in one
//! write (one TLS record, one system call). The pump reads from the source only when the
//! sink took everything it had, so a slow receiver slows the sender down (back pressure),
//! and it flushes the sink before it waits for the source, so nothing sits in a TLS buffer
//! while the other side waits for it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::relay::Buf;
use crate::relay::chunked::{ChunkError, Chunked};
use crate::relay::head::Framing;

/// Bytes of body copied behind a head at most, to leave in the same write.
const COALESCE: usize = 16 * 1024;
/// The smallest read worth waiting for.
const MIN_READ: usize = 2048;

/// What is left of a body.
#[derive(Debug)]
enum Left {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

/// Why a body stopped.
#[derive(Debug)]
pub(crate) enum PumpError {
    /// The source closed before the body ended.
    SourceClosed,
    /// Reading the source failed.
    Source(io::Error),
    /// The chunked framing is malformed.
    Framing(ChunkError),
    /// Writing the sink failed.
    Sink(io::Error),
}

/// A head and body on their way.
#[derive(Debug)]
pub(crate) struct Pump {
    left: Left,
    /// Bytes of the head buffer already written.
    written: usize,
    /// Bytes of the chunk buffer already written.
    chunk_written: usize,
    flags: Flags,
    /// Bytes arrived from the source since [`Pump::take_progress`] was last called.
    progress: bool,
    /// The last poll waits for the source (everything it had is written and flushed).
    pub(crate) reading: bool,
    /// Largest the source buffer may grow.
    max_buffer: usize,
}

impl Pump {
    /// A message whose head is in the output buffer and whose body is framed by `framing`.
    pub(crate) fn new(framing: Framing, max_buffer: usize) -> Self {
        let left = match framing {
            Framing::Empty | Framing::Length(0) => Left::Done,
            Framing::Length(n) => Left::Length(n),
            Framing::Chunked => Left::Chunked(Chunked::default()),
            Framing::UntilClose => Left::UntilClose,
        };
        Self {
            left,
            written: 0,
            chunk_written: 0,
            flags: Flags::default(),
            progress: false,
            reading: false,
            max_buffer,
        }
    }

    /// Whether the head (and what body was sent with it) is written.
    pub(crate) fn head_written(&self, out: &[u8]) -> bool {
        self.written >= out.len() && (self.written > 0 || out.is_empty())
    }

    /// Whether bytes arrived since the last call.
    pub(crate) fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progress)
    }

    /// Moves the message along; ready when all of it was written and flushed. `out` holds
    /// the head (left as it is, so the message can be sent again); `chunks` is scratch space
    /// for re-encoded chunks.
    pub(crate) fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        source: &mut R,
        buffer: &mut Buf,
        sink: &mut W,
        out: &mut Vec<u8>,
        chunks: &mut Vec<u8>,
    ) -> Poll<Result<(), PumpError>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        self.reading = false;
        loop {
            if self.written == 0 && !out.is_empty() {
                self.coalesce(buffer, out).map_err(PumpError::Framing)?;
            }
            if self.written < out.len() {
                self.written += ready!(write(&mut self.flags, cx, sink, &out[self.written..]))?;
                continue;
            }
            if self.chunk_written < chunks.len() {
                self.chunk_written += ready!(write(
                    &mut self.flags,
                    cx,
                    sink,
                    &chunks[self.chunk_written..]
                ))?;
                continue;
            }
            chunks.clear();
            self.chunk_written = 0;
            let available = buffer.len();
            match &mut self.left {
                Left::Done => {
                    ready!(flush(&mut self.flags, cx, sink))?;
                    return Poll::Ready(Ok(()));
                }
                Left::Chunked(decoder) if available > 0 => {
                    let used = decoder
                        .feed(buffer.filled(), chunks)
                        .map_err(PumpError::Framing)?;
                    buffer.consume(used);
                    if decoder.is_done() {
                        self.left = Left::Done;
                    }
                    continue;
                }
                Left::Length(left) if available > 0 => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(available);
                    let n = ready!(write(&mut self.flags, cx, sink, &buffer.filled()[..take]))?;
                    buffer.consume(n);
                    *left -= n as u64;
                    if *left == 0 {
                        self.left = Left::Done;
                    }
                    continue;
                }
                Left::UntilClose if available > 0 => {
                    let n = ready!(write(&mut self.flags, cx, sink, buffer.filled()))?;
                    buffer.consume(n);
                    continue;
                }
                _ => {}
            }
            // Everything buffered is written: flush, then wait for the source.
            ready!(flush(&mut self.flags, cx, sink))?;
            if !buffer.make_room(MIN_READ, self.max_buffer) {
                // Cannot happen: the buffer is empty here. Treat as a closed source.
                return Poll::Ready(Err(PumpError::SourceClosed));
            }
            self.reading = true;
            let n = ready!(buffer.poll_fill(cx, source)).map_err(PumpError::Source)?;
            self.reading = false;
            if n == 0 {
                if matches!(self.left, Left::UntilClose) {
                    self.left = Left::Done;
                    continue;
                }
                return Poll::Ready(Err(PumpError::SourceClosed));
            }
            self.progress = true;
        }
    }

    /// Copies body bytes already buffered behind the head, so both leave in one write.
    fn coalesce(&mut self, buffer: &mut Buf, out: &mut Vec<u8>) -> Result<(), ChunkError> {
        let room = COALESCE.saturating_sub(out.len());
        match &mut self.left {
            Left::Length(left) => {
                let take = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(buffer.len())
                    .min(room);
                if take > 0 {
                    out.extend_from_slice(&buffer.filled()[..take]);
                    buffer.consume(take);
                    *left -= take as u64;
                    if *left == 0 {
                        self.left = Left::Done;
                    }
                }
            }
            Left::Chunked(decoder) if buffer.len() <= room => {
                // A framing error here fails the message before any of it was written.
                let used = decoder.feed(buffer.filled(), out)?;
                buffer.consume(used);
                if decoder.is_done() {
                    self.left = Left::Done;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// What the sink has seen.
#[derive(Debug, Default)]
struct Flags {
    /// Bytes were written.
    started: bool,
    /// Everything written is flushed.
    flushed: bool,
}

fn write<W: AsyncWrite + Unpin>(
    flags: &mut Flags,
    cx: &mut Context<'_>,
    sink: &mut W,
    bytes: &[u8],
) -> Poll<Result<usize, PumpError>> {
    let n = ready!(Pin::new(sink).poll_write(cx, bytes)).map_err(PumpError::Sink)?;
    if n == 0 {
        return Poll::Ready(Err(PumpError::Sink(io::ErrorKind::WriteZero.into())));
    }
    flags.started = true;
    flags.flushed = false;
    Poll::Ready(Ok(n))
}

fn flush<W: AsyncWrite + Unpin>(
    flags: &mut Flags,
    cx: &mut Context<'_>,
    sink: &mut W,
) -> Poll<Result<(), PumpError>> {
    if !flags.flushed {
        ready!(Pin::new(sink).poll_flush(cx)).map_err(PumpError::Sink)?;
        flags.flushed = true;
    }
    Poll::Ready(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::AsyncWriteExt as _;

    /// Runs a pump from a source that sends `input` in the given pieces into a vector.
    async fn run(framing: Framing, head: &[u8], pieces: &[&[u8]]) -> (Result<(), String>, Vec<u8>) {
        let (mut tx, mut source) = tokio::io::duplex(64);
        let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
        let writer = tokio::spawn(async move {
            for p in pieces {
                if tx.write_all(&p).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        });
        let mut buffer = Buf::new(16);
        let mut sink: Vec<u8> = Vec::new();
        let mut out = head.to_vec();
        let mut chunks = Vec::new();
        let mut pump = Pump::new(framing, 1024);
        let result = poll_fn(|cx| {
            pump.poll(
                cx,
                &mut source,
                &mut buffer,
                &mut sink,
                &mut out,
                &mut chunks,
            )
        })
        .await
        .map_err(|e| format!("{e:?}"));
        writer.abort();
        (result, sink)
    }

    #[tokio::test]
    async fn bodies_pass_as_framed_and_stop_at_their_end() {
        let (r, sink) = run(Framing::Length(5), b"H|", &[b"hel", b"lo", b"NEXT"]).await;
        assert!(r.is_ok());
        assert_eq!(sink, b"H|hello");
        let (r, sink) = run(
            Framing::Chunked,
            b"H|",
            &[b"3;x=y\r\nabc\r\n", b"0\r\nT: 1\r\n\r\n", b"GET"],
        )
        .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(sink, b"H|3\r\nabc\r\n0\r\n\r\n");
        let (r, sink) = run(Framing::Empty, b"HEAD-ONLY", &[]).await;
        assert!(r.is_ok());
        assert_eq!(sink, b"HEAD-ONLY");
    }

    #[tokio::test]
    async fn a_short_or_malformed_body_fails() {
        let (r, _) = run(Framing::Length(10), b"", &[b"abc"]).await;
        assert_eq!(r.unwrap_err(), "SourceClosed");
        let (r, sink) = run(Framing::Chunked, b"H|", &[b"3\r\nabcX\r\n"]).await;
        assert!(r.unwrap_err().starts_with("Framing"));
        assert_eq!(sink, b"H|", "nothing of a malformed chunk is passed on");
    }

    #[tokio::test]
    async fn close_delimited_bodies_end_with_the_source() {
        let (r, sink) = run(Framing::UntilClose, b"", &[b"all ", b"of it"]).await;
        assert!(r.is_ok());
        assert_eq!(sink, b"all of it");
    }
}
