//! One request on the relay, from a parsed head to the end of its response: the checks and
//! routing of the hyper path, then the back-end request head written from the caller's head
//! and the operation's programs, then both bodies moving at once.
//!
//! The request goes out on a pooled connection, or a new one; when that fails in a way that
//! says the back end cannot have processed it (or may have, for an idempotent method), it
//! goes again on a fresh connection, as in the hyper path, as long as its body is still in
//! the buffer. Nothing is retried once the caller has been sent a byte.

use std::borrow::Cow;
use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant as StdInstant};

use http::Method;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::error::{Failure, Kind, Replay, classify_send};
use crate::handler::{self, Conn, MAX_ATTEMPTS, STATUS_PATH, Shared};
use crate::path;
use crate::relay::emit::{self, RequestParts};
use crate::relay::head::{Framing, RequestHead, ResponseHead};
use crate::relay::pump::Pump;
use crate::relay::{Buf, Program, Timer};
use crate::server::{ClientStream, Limits};
use crate::table::{OpEntry, RouteTable};

use super::duplex::{Down, Duplex, Record, Stop, Up};

/// Largest a body buffer grows (reads of a large body are this big at most).
pub(super) const MAX_BODY_BUFFER: usize = 64 * 1024;

/// A connection's buffers and parsed heads, made when it becomes active and reused by every
/// request on it.
#[derive(Debug)]
pub(crate) struct Buffers {
    /// Bytes from the caller.
    pub(crate) input: Buf,
    /// Bytes from the back end.
    pub(super) back: Buf,
    pub(super) to_client: Vec<u8>,
    pub(super) to_backend: Vec<u8>,
    pub(super) up_chunks: Vec<u8>,
    pub(super) down_chunks: Vec<u8>,
    /// The request head being served (spans of `input`).
    pub(crate) request: RequestHead,
    pub(super) response: ResponseHead,
}

/// Buffers of connections that went idle, kept for the next connection that becomes active on
/// the same thread: a burst of new clients reuses a few sets instead of leaving the allocator
/// with freed buffers between the small objects of idle connections.
const SPARE_BUFFERS: usize = 32;

thread_local! {
    // Boxed: a lease is one pointer in the connection's future, and moves in and out of
    // here without an allocation.
    #[allow(clippy::vec_box)]
    static SPARE: std::cell::RefCell<Vec<Box<Buffers>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Buffers {
    /// Buffers sized for the common request.
    fn new() -> Self {
        Self {
            input: Buf::new(4 * 1024),
            back: Buf::new(8 * 1024),
            to_client: Vec::with_capacity(512),
            to_backend: Vec::with_capacity(512),
            up_chunks: Vec::new(),
            down_chunks: Vec::new(),
            request: RequestHead::default(),
            response: ResponseHead::default(),
        }
    }

    /// A set for a connection becoming active: a spare one, or a new one. It goes back
    /// when the lease is dropped (the connection parks, closes or is handed over).
    pub(crate) fn take() -> Lease {
        let spare = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten();
        Lease(Some(spare.unwrap_or_else(|| Box::new(Self::new()))))
    }
}

/// A connection's hold on a set of [`Buffers`].
pub(crate) struct Lease(Option<Box<Buffers>>);

impl std::ops::Deref for Lease {
    type Target = Buffers;

    fn deref(&self) -> &Buffers {
        self.0
            .as_deref()
            .unwrap_or_else(|| unreachable!("a lease holds its buffers until dropped"))
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Buffers {
        self.0
            .as_deref_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its buffers until dropped"))
    }
}

impl Drop for Lease {
    /// Keeps the set for the next connection; one that grew for a large message is freed.
    fn drop(&mut self) {
        let Some(mut bufs) = self.0.take() else {
            return;
        };
        if bufs.input.capacity() > 16 * 1024 || bufs.back.capacity() > 16 * 1024 {
            return;
        }
        bufs.input.clear();
        bufs.back.clear();
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_BUFFERS {
                spare.push(bufs);
            }
        });
    }
}

/// The timers of an active connection (see [`Timer`]).
pub(crate) struct Timers {
    /// The caller's deadlines: the idle grace, the head, the body.
    pub(crate) client: Timer,
    /// The back end's answer.
    pub(super) backend: Timer,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Self {
            client: Timer::new(),
            backend: Timer::new(),
        }
    }
}

/// What the connection does after a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Reads the next request.
    KeepAlive,
    /// Closes.
    Close,
    /// Closes after reading and dropping what the caller still sends for a moment, so that
    /// it reads the answer before its kernel sees a reset (the request was not read whole).
    Linger,
    /// Hands the connection to the hyper path; the request head is unconsumed in the input
    /// buffer.
    Handover,
}

/// The connection a request came on, lent to [`serve`].
pub(crate) struct Session<'a, S> {
    pub(crate) shared: &'a Shared,
    pub(crate) conn: &'a Conn,
    pub(crate) client: &'a mut S,
    pub(crate) bufs: &'a mut Buffers,
    pub(crate) timers: &'a mut Timers,
    /// The gateway is shutting down: answer, then close.
    pub(crate) stopping: bool,
}

/// Where a request goes.
enum Routed<'t, 'b> {
    /// APIM's health path.
    Status,
    Op {
        op: &'t OpEntry,
        /// The normalised path.
        path: Cow<'b, str>,
        /// Bytes at the end of `path` below the API's path.
        rest_len: usize,
        method: Method,
    },
}

/// Serves the request whose head is parsed into `bufs.request` (at the start of
/// `bufs.input`).
pub(crate) async fn serve<S: ClientStream>(s: Session<'_, S>) -> Next {
    let Session {
        shared,
        conn,
        client,
        bufs,
        timers,
        stopping,
    } = s;
    let started = StdInstant::now();
    let id = shared.next_request_id();
    let id_text = std::str::from_utf8(&id).unwrap_or_default();
    let table = shared.table.load();
    let head_mark = bufs.input.mark();
    let head = &bufs.request;
    let raw = bufs.input.filled();
    let client_close = head.close || stopping;
    let traced = shared
        .trace_key
        .accepts_bytes(field(raw, head, b"x-gatehouse-trace"));
    let (op, path, rest_len, method) = match route(raw, head, &shared.limits, &table, conn.https) {
        Ok(Routed::Op {
            op,
            path,
            rest_len,
            method,
        }) => (op, path, rest_len, method),
        Ok(Routed::Status) => {
            let close = client_close || !skip_body(&mut bufs.input, head);
            bufs.to_client.clear();
            emit::status(&mut bufs.to_client, &id, close);
            return write(client, &bufs.to_client, close).await;
        }
        Err(failure) => {
            shared.metrics.unmatched();
            if traced {
                let status = failure.kind.status().as_u16();
                handler::record_call(
                    shared,
                    id_text,
                    None,
                    status,
                    None,
                    started,
                    Some(failure.kind),
                );
            }
            let close =
                client_close || failure.kind.ends_connection() || !skip_body(&mut bufs.input, head);
            return answer(
                client,
                &mut bufs.to_client,
                &failure,
                &id,
                &Program::default(),
                close,
            )
            .await;
        }
    };
    let Some(programs) = op.programs.as_ref().filter(|_| !head.http10) else {
        return Next::Handover;
    };
    if op.upstream.as_ref().is_ok_and(|u| u.pool.speaks_h2()) {
        return Next::Handover;
    }
    let refuse = |failure: Failure| {
        handler::log_failure(shared, op, &failure, id_text);
        op.stats
            .record(failure.kind.status().as_u16(), started.elapsed());
        if traced {
            let status = failure.kind.status().as_u16();
            let presented = failure.presented.clone();
            handler::record_call(
                shared,
                id_text,
                Some(op),
                status,
                presented,
                started,
                Some(failure.kind),
            );
        }
        failure
    };
    let upstream = match handler::preflight(shared, op, conn) {
        Ok(upstream) => upstream,
        Err(failure) => {
            let failure = refuse(failure);
            let close = client_close || !skip_body(&mut bufs.input, head);
            return answer(
                client,
                &mut bufs.to_client,
                &failure,
                &id,
                &programs.error,
                close,
            )
            .await;
        }
    };

    // The back end's request head, from the caller's head and the operation's program.
    let plan = op.plan();
    let url = &plan.backend.url;
    let rest = &path[path.len() - rest_len..];
    let tail: &[u8] = if rest.is_empty() && url.base_path.is_empty() {
        b"/"
    } else {
        rest.as_bytes()
    };
    bufs.to_backend.clear();
    emit::request_head(
        &mut bufs.to_backend,
        raw,
        head,
        &RequestParts {
            path: &[url.base_path.as_bytes(), tail],
            query: head.query.map(|q| q.get(raw)),
            program: &programs.request,
            client: &conn.client,
            proto: if conn.https { "https" } else { "http" },
            caller: conn.caller.as_deref(),
            caller_headers: &plan.caller_headers,
            request_id: &id,
            host: op.host.as_bytes(),
        },
    );
    let body = head.body.unwrap_or(Framing::Empty);
    let expect_continue = head.expect_continue && body != Framing::Empty;
    let head_len = head.len;
    drop(path);
    bufs.input.consume(head_len);
    let body_mark = bufs.input.mark();
    let request_head_len = bufs.to_backend.len();
    // A body wholly in the buffer can be sent again; a streamed one cannot.
    let rewindable = match body {
        Framing::Empty => true,
        Framing::Length(n) => n <= bufs.input.len() as u64,
        _ => false,
    };
    let is_head = method == Method::HEAD;
    tracing::trace!(request_id = id_text, api = %op.api, operation = %op.id, %method, ?body, "relay: request routed");
    let timeout = plan.timeout.unwrap_or(shared.backend_timeout);
    let deadline = Instant::now() + timeout;
    let pool = &upstream.pool;

    let mut attempt = 1;
    let outcome = loop {
        pool.count_request();
        let pooled = if attempt == 1 { pool.take_raw() } else { None };
        tracing::trace!(
            request_id = id_text,
            attempt,
            pooled = pooled.is_some(),
            "relay: back-end connection"
        );
        let mut backend = match pooled {
            Some(raw) => raw,
            None => match tokio::time::timeout_at(deadline, pool.connect_raw()).await {
                Ok(Ok(raw)) => raw,
                Ok(Err(e)) => {
                    if attempt == 1 && pool.speaks_h2() && bufs.input.restore(head_mark) {
                        // An HTTP/2-only back end: hyper's path shares one connection to it.
                        return Next::Handover;
                    }
                    break Err(Stop::Backend(classify_send(&e)));
                }
                Err(_) => break Err(Stop::Backend(timed_out(timeout, url))),
            },
        };
        // Bytes left from another connection's answer are not this one's.
        bufs.back.clear();
        let mut duplex = Duplex {
            client: &mut *client,
            backend: &mut backend.stream,
            bufs: &mut *bufs,
            timers: &mut *timers,
            up: Up::Sending(Pump::new(body, MAX_BODY_BUFFER)),
            down: Down::Head,
            continue_at: expect_continue.then_some(0),
            is_head,
            deadline,
            slack: (timeout / 16).min(Duration::from_millis(250)),
            body_timeout: shared.limits.body_timeout,
            last_progress: Instant::now(),
            program: &programs.response,
            request_id: &id,
            client_close,
            status: 0,
            backend_close: false,
            up_error: None,
            head_sent: false,
            record: Record {
                shared,
                op,
                request_id: id_text,
                started,
                traced,
            },
        };
        let result = poll_fn(|cx| duplex.poll(cx)).await;
        let (status, client_close, reusable) =
            (duplex.status, duplex.client_close, duplex.reusable());
        let head_sent = duplex.head_sent;
        drop(duplex);
        match result {
            Ok(()) => {
                tracing::trace!(
                    request_id = id_text,
                    status,
                    reusable,
                    client_close,
                    "relay: response sent"
                );
                if reusable {
                    pool.put_raw(backend);
                }
                break Ok(client_close);
            }
            Err(Stop::Backend(mut failure)) => {
                failure = classified(failure, &backend, head_sent);
                let repeatable = match failure.replay {
                    Replay::Unprocessed => true,
                    Replay::MaybeProcessed => handler::is_idempotent(&method),
                    Replay::Never => false,
                };
                if repeatable
                    && attempt < MAX_ATTEMPTS
                    && rewindable
                    && bufs.input.restore(body_mark)
                {
                    bufs.to_backend.truncate(request_head_len);
                    attempt += 1;
                    shared.metrics.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(attempt, detail = %failure.detail, "retrying on a fresh connection");
                    continue;
                }
                break Err(Stop::Backend(failure));
            }
            Err(Stop::Aborted) => {
                tracing::debug!(
                    request_id = id_text,
                    "the response was cut off: a connection closed mid-way"
                );
                return Next::Close;
            }
            Err(stop) => break Err(stop),
        }
    };
    match outcome {
        Ok(close) => {
            if close {
                Next::Close
            } else {
                Next::KeepAlive
            }
        }
        Err(Stop::Caller(failure)) => {
            let failure = refuse(failure);
            // The body's framing cannot be trusted, or it stopped coming: close.
            answer(
                client,
                &mut bufs.to_client,
                &failure,
                &id,
                &programs.error,
                true,
            )
            .await
        }
        Err(Stop::Backend(failure)) => {
            let failure = refuse(failure);
            // The connection goes on if the request is behind it: no body, or one still
            // whole in the buffer, which is skipped.
            let skipped = match body {
                Framing::Empty => true,
                Framing::Length(n) if rewindable && bufs.input.restore(body_mark) => {
                    bufs.input.consume(usize::try_from(n).unwrap_or(usize::MAX));
                    true
                }
                _ => false,
            };
            let close = client_close || failure.kind.ends_connection() || !skipped;
            answer(
                client,
                &mut bufs.to_client,
                &failure,
                &id,
                &programs.error,
                close,
            )
            .await
        }
        Err(Stop::Aborted) => Next::Close,
    }
}

/// The value of the first field named `name`.
fn field<'b>(raw: &'b [u8], head: &RequestHead, name: &[u8]) -> Option<&'b [u8]> {
    head.fields
        .iter()
        .find(|f| f.name.get(raw).eq_ignore_ascii_case(name))
        .map(|f| f.value.get(raw))
}

/// The hyper path's checks on a head it has parsed, then routing.
fn route<'t, 'b>(
    raw: &'b [u8],
    head: &RequestHead,
    limits: &Limits,
    table: &'t RouteTable,
    https: bool,
) -> Result<Routed<'t, 'b>, Failure> {
    let target = head.path.len() + head.query.map_or(0, |q| q.len() + 1);
    if target > limits.max_request_line {
        return Err(Failure::new(
            Kind::UriTooLong,
            format!(
                "the request target is {target} bytes; --max-request-line allows {}",
                limits.max_request_line
            ),
        ));
    }
    if head.header_bytes > limits.max_header_bytes {
        return Err(Failure::new(
            Kind::HeadersTooLarge,
            format!(
                "the header fields are {} bytes; --max-header-bytes allows {}",
                head.header_bytes, limits.max_header_bytes
            ),
        ));
    }
    let path = match head.path.get(raw) {
        b"" => b"/",
        path => path,
    };
    let query = head.query.map(|q| q.get(raw));
    let path = target_text(path, query)?;
    if path == STATUS_PATH {
        return Ok(Routed::Status);
    }
    let path = path::normalise(path)
        .map_err(|why| Failure::new(Kind::InvalidRequestPath, why.to_string()))?;
    let method = Method::from_bytes(head.method.get(raw))
        .map_err(|_| Failure::new(Kind::MalformedRequest, "the method is not a token"))?;
    let matched = table
        .route(&method, &path, https)
        .ok_or_else(|| Failure::new(Kind::RouteNotFound, ""))?;
    let (op, rest_len) = (matched.op, matched.rest_len);
    Ok(Routed::Op {
        op,
        path,
        rest_len,
        method,
    })
}

/// The path as text, after the character checks the `http` crate makes of a request target
/// (so that both paths refuse the same targets): visible ASCII but for a few characters that
/// must be percent-encoded, and UTF-8 where bytes are not ASCII.
fn target_text<'b>(path: &'b [u8], query: Option<&[u8]>) -> Result<&'b str, Failure> {
    let bad = || {
        Failure::new(
            Kind::MalformedRequest,
            "the request target holds a character it may not",
        )
    };
    // `http`'s path map: 0x21, 0x24-0x3B, 0x3D, 0x40-0x5F, 0x61-0x7A, 0x7C, 0x7E, and `"{}`.
    let path_ok = |b: u8| {
        matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E | b'"' | b'{' | b'}')
            || b >= 0x80
    };
    // Its query map: 0x21, 0x24-0x3B, 0x3D, 0x3F-0x7E.
    let query_ok = |b: u8| matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E) || b >= 0x80;
    let star = path == b"*";
    if !star && !path.iter().all(|&b| path_ok(b)) {
        return Err(bad());
    }
    if let Some(q) = query
        && (!q.iter().all(|&b| query_ok(b)) || std::str::from_utf8(q).is_err())
    {
        return Err(bad());
    }
    std::str::from_utf8(path).map_err(|_| bad())
}

/// Consumes the request's body if it is wholly in the buffer (the request is being answered
/// without it); `false` when it is not, and the connection must close.
fn skip_body(input: &mut Buf, head: &RequestHead) -> bool {
    let head_len = head.len;
    match head.body {
        None | Some(Framing::Empty) => {
            input.consume(head_len);
            true
        }
        Some(Framing::Length(n)) if n <= (input.len() - head_len) as u64 => {
            input.consume(head_len + n as usize);
            true
        }
        _ => false,
    }
}

fn timed_out(timeout: Duration, url: &gatehouse_model::url::ServiceUrl) -> Failure {
    Failure::new(
        Kind::BackendTimeout,
        format!("no response from {url} within {timeout:?}"),
    )
}

/// A back-end failure, with what the connection's handshake showed; a request whose head
/// did not even reach a reused connection was not processed.
fn classified(failure: Failure, backend: &crate::upstream::Raw, head_sent: bool) -> Failure {
    let mut failure = failure;
    if failure.presented.is_none() {
        failure.presented = backend.facts.as_ref().and_then(|f| f.presented.clone());
    }
    if backend.reused && !head_sent && failure.kind == Kind::BackendConnectionClosed {
        failure.replay = Replay::Unprocessed;
    }
    failure
}

/// Writes a failure answer.
async fn answer<S: ClientStream>(
    client: &mut S,
    out: &mut Vec<u8>,
    failure: &Failure,
    request_id: &[u8],
    program: &Program,
    close: bool,
) -> Next {
    out.clear();
    emit::failure(out, failure, request_id, program, close);
    match write(client, out, close).await {
        Next::Close if close => Next::Linger,
        next => next,
    }
}

/// Writes and flushes an answer; closes after it when `close`.
async fn write<S: ClientStream>(client: &mut S, out: &[u8], close: bool) -> Next {
    let written = async {
        client.write_all(out).await?;
        client.flush().await
    };
    match written.await {
        Ok(()) if !close => Next::KeepAlive,
        _ => Next::Close,
    }
}
