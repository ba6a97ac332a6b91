//! Both directions of one attempt on the relay: the request body (and a `100 Continue` owed)
//! going up while the response head and body come down, with back pressure both ways, the
//! body deadline, and the record made when the response head is ready.

use std::io;
use std::task::{Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use tokio::time::Instant;

use crate::connect::BackendStream;
use crate::error::{Failure, Kind, classify_send};
use crate::handler::{self, Shared};
use crate::relay::Program;
use crate::relay::emit;
use crate::relay::head::{Framing, Parsed, Span, parse_response};
use crate::relay::pump::{Pump, PumpError};
use crate::server::ClientStream;
use crate::table::OpEntry;
use crate::upstream::SendError;

use super::exchange::{Buffers, MAX_BODY_BUFFER, Timers};

/// Largest response head the relay reads from a back end.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Most header fields in a response (hyper's client allows as many).
const MAX_RESPONSE_FIELDS: usize = 100;
/// The interim answer to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Why an exchange stopped short.
pub(super) enum Stop {
    /// The back end failed before the caller was sent anything; the request may go again.
    Backend(Failure),
    /// The caller's body failed (malformed, cut off, too slow): the caller's fault, answered.
    Caller(Failure),
    /// Part of the response was sent, or the caller is gone: the connection can only close.
    Aborted,
}

pub(super) enum Up {
    Sending(Pump),
    Done,
    /// Writing to the back end failed; its answer may still come (an early response).
    Failed,
}

pub(super) enum Down {
    Head,
    Body(Pump),
    Done,
}

/// Both directions of one attempt.
pub(super) struct Duplex<'a, S> {
    pub(super) client: &'a mut S,
    pub(super) backend: &'a mut BackendStream,
    pub(super) bufs: &'a mut Buffers,
    pub(super) timers: &'a mut Timers,
    pub(super) up: Up,
    pub(super) down: Down,
    /// Bytes of `100 Continue` written, while one is owed.
    pub(super) continue_at: Option<usize>,
    pub(super) is_head: bool,
    pub(super) deadline: Instant,
    pub(super) slack: Duration,
    pub(super) body_timeout: Duration,
    pub(super) last_progress: Instant,
    pub(super) program: &'a Program,
    pub(super) request_id: &'a [u8],
    pub(super) client_close: bool,
    pub(super) status: u16,
    pub(super) backend_close: bool,
    pub(super) up_error: Option<io::Error>,
    /// The whole request head reached the back end's socket.
    pub(super) head_sent: bool,
    pub(super) record: Record<'a>,
}

/// What is recorded when the response head is ready, before the caller can see it (as the
/// hyper path records when its handler returns the response): the operation's metrics, and
/// the call record of a traced call.
pub(super) struct Record<'a> {
    pub(super) shared: &'a Shared,
    pub(super) op: &'a OpEntry,
    pub(super) request_id: &'a str,
    pub(super) started: StdInstant,
    pub(super) traced: bool,
}

impl<S: ClientStream> Duplex<'_, S> {
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Stop>> {
        if let Poll::Ready(Err(stop)) = self.poll_up(cx) {
            return Poll::Ready(Err(stop));
        }
        self.poll_down(cx)
    }

    /// The request body, and the `100 Continue` the caller may wait for. Ready when the
    /// request is sent (or could not be).
    fn poll_up(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Stop>> {
        let Up::Sending(pump) = &mut self.up else {
            return Poll::Ready(Ok(()));
        };
        let bufs = &mut *self.bufs;
        let polled = pump.poll(
            cx,
            &mut *self.client,
            &mut bufs.input,
            &mut *self.backend,
            &mut bufs.to_backend,
            &mut bufs.up_chunks,
        );
        if pump.head_written(&bufs.to_backend) {
            self.head_sent = true;
        }
        match polled {
            Poll::Ready(Ok(())) => {
                self.head_sent = true;
                self.up = Up::Done;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(PumpError::Sink(e))) => {
                self.up_error = Some(e);
                self.up = Up::Failed;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                let failure = match e {
                    PumpError::Framing(e) => Failure::new(
                        Kind::InvalidRequestBody,
                        format!("the request body's chunked framing is malformed: {e}"),
                    ),
                    PumpError::Source(e) => Failure::new(
                        Kind::InvalidRequestBody,
                        format!("reading the request body: {e}"),
                    ),
                    _ => Failure::new(
                        Kind::InvalidRequestBody,
                        "the caller closed the connection before its request body ended",
                    ),
                };
                Poll::Ready(Err(self.caller_stop(failure)))
            }
            Poll::Pending => {
                if pump.take_progress() {
                    self.last_progress = Instant::now();
                }
                if !pump.reading {
                    return Poll::Pending;
                }
                if let Some(written) = self.continue_at
                    && matches!(self.down, Down::Head)
                {
                    match self.poll_continue(cx, written) {
                        Poll::Ready(Ok(())) => self.continue_at = None,
                        Poll::Ready(Err(())) => return Poll::Ready(Err(Stop::Aborted)),
                        Poll::Pending => {}
                    }
                }
                let at = self.last_progress + self.body_timeout;
                if self
                    .timers
                    .client
                    .poll_at(cx, at, Duration::from_millis(250))
                    .is_ready()
                {
                    let failure = Failure::new(
                        Kind::RequestBodyTimeout,
                        format!(
                            "no byte of the request body arrived for {:?} (--body-timeout)",
                            self.body_timeout
                        ),
                    );
                    return Poll::Ready(Err(self.caller_stop(failure)));
                }
                Poll::Pending
            }
        }
    }

    /// A failure of the caller's body: answered if the response has not begun.
    fn caller_stop(&self, failure: Failure) -> Stop {
        match self.down {
            Down::Head => Stop::Caller(failure),
            _ => Stop::Aborted,
        }
    }

    /// Writes what is left of `100 Continue`.
    fn poll_continue(&mut self, cx: &mut Context<'_>, mut written: usize) -> Poll<Result<(), ()>> {
        let mut client = std::pin::Pin::new(&mut *self.client);
        while written < CONTINUE.len() {
            match client.as_mut().poll_write(cx, &CONTINUE[written..]) {
                Poll::Ready(Ok(n)) if n > 0 => written += n,
                Poll::Ready(_) => return Poll::Ready(Err(())),
                Poll::Pending => {
                    self.continue_at = Some(written);
                    return Poll::Pending;
                }
            }
        }
        self.continue_at = Some(written);
        match client.poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(_)) => Poll::Ready(Err(())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The response: its head, then its body. Ready when it was sent whole.
    fn poll_down(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Stop>> {
        loop {
            match &mut self.down {
                Down::Head => match self.poll_head(cx) {
                    Poll::Ready(Ok(())) => {}
                    other => return other,
                },
                Down::Body(pump) => {
                    let bufs = &mut *self.bufs;
                    let polled = pump.poll(
                        cx,
                        &mut *self.backend,
                        &mut bufs.back,
                        &mut *self.client,
                        &mut bufs.to_client,
                        &mut bufs.down_chunks,
                    );
                    return match polled {
                        Poll::Ready(Ok(())) => {
                            self.down = Down::Done;
                            Poll::Ready(Ok(()))
                        }
                        Poll::Ready(Err(PumpError::Sink(e))) => {
                            tracing::debug!(error = %e, "the caller went away during the response");
                            Poll::Ready(Err(Stop::Aborted))
                        }
                        Poll::Ready(Err(e)) => {
                            tracing::debug!(error = ?e, "the back end broke off its response body");
                            Poll::Ready(Err(Stop::Aborted))
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
                Down::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Reads the response head; on `Ok`, `down` is at the body and the client head is
    /// written into `to_client`.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Stop>> {
        let bufs = &mut *self.bufs;
        loop {
            let parsed = if bufs.back.len() == 0 {
                Ok(Parsed::Partial)
            } else {
                parse_response(
                    bufs.back.filled(),
                    &mut bufs.response,
                    self.is_head,
                    MAX_RESPONSE_FIELDS,
                )
            };
            match parsed {
                Ok(Parsed::Complete) => {}
                Ok(Parsed::Partial) => {
                    if bufs.back.len() >= MAX_RESPONSE_HEAD {
                        return Poll::Ready(Err(Stop::Backend(Failure::new(
                            Kind::BackendProtocolError,
                            format!("the response head is larger than {MAX_RESPONSE_HEAD} bytes"),
                        ))));
                    }
                    bufs.back.make_room(2048, MAX_RESPONSE_HEAD + 4096);
                    match bufs.back.poll_fill(cx, &mut *self.backend) {
                        Poll::Ready(Ok(0)) => {
                            let error = self.up_error.take().unwrap_or_else(|| {
                                io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "the back end closed the connection before it answered",
                                )
                            });
                            return Poll::Ready(Err(self.backend_stop(error)));
                        }
                        Poll::Ready(Ok(_)) => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(self.backend_stop(e))),
                        Poll::Pending => {
                            if self
                                .timers
                                .backend
                                .poll_at(cx, self.deadline, self.slack)
                                .is_ready()
                            {
                                return Poll::Ready(Err(Stop::Backend(Failure::new(
                                    Kind::BackendTimeout,
                                    "no response head before the operation's timeout",
                                ))));
                            }
                            return Poll::Pending;
                        }
                    }
                }
                Err(failure) => return Poll::Ready(Err(Stop::Backend(failure))),
            }
            let response = &mut bufs.response;
            if (100..200).contains(&response.status) && response.status != 101 {
                // Interim answers (100 Continue, 103 Early Hints) are not passed on.
                bufs.back.consume(response.len);
                continue;
            }
            let upgrade = response.status == 101;
            if upgrade {
                // Upgrades are not proxied; the caller gets a clear answer, not a hung socket.
                response.status = 502;
                response.reason = Span::default();
                response.body = Some(Framing::Length(0));
            }
            let framing = response.body.unwrap_or(Framing::Empty);
            self.status = response.status;
            let record = &self.record;
            record
                .op
                .stats
                .record(self.status, record.started.elapsed());
            if record.traced {
                let presented = self.backend.facts().and_then(|f| f.presented);
                handler::record_call(
                    record.shared,
                    record.request_id,
                    Some(record.op),
                    self.status,
                    presented,
                    record.started,
                    None,
                );
            }
            self.backend_close = response.close || upgrade;
            // The caller's connection ends with the response when the back end delimits the
            // body by closing, or when the request body is not sent whole (its rest would
            // follow on the connection).
            self.client_close |= framing == Framing::UntilClose || !matches!(self.up, Up::Done);
            bufs.to_client.clear();
            if let Some(written) = self.continue_at.take()
                && written > 0
            {
                bufs.to_client
                    .extend_from_slice(&CONTINUE[written.min(CONTINUE.len())..]);
            }
            emit::response_head(
                &mut bufs.to_client,
                bufs.back.filled(),
                response,
                self.program,
                self.request_id,
                self.client_close,
            );
            bufs.back.consume(response.len);
            self.down = Down::Body(Pump::new(framing, MAX_BODY_BUFFER));
            return Poll::Ready(Ok(()));
        }
    }

    fn backend_stop(&mut self, error: io::Error) -> Stop {
        let facts = self.backend.facts();
        Stop::Backend(classify_send(&SendError::new(error, facts)))
    }

    /// The back-end connection can carry another request.
    pub(super) fn reusable(&self) -> bool {
        !self.backend_close
            && matches!(self.up, Up::Done)
            && matches!(self.down, Down::Done)
            && self.bufs.back.len() == 0
    }
}
