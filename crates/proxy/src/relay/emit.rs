//! Heads written straight into an output buffer: the request to the back end, the response to
//! the caller, and the gateway's own answers. Header values are copied from the read buffer as
//! they came; nothing is parsed again and no header map is built.

use crate::error::Failure;
use crate::forwarded::{self, Field as Forwarding};
use crate::front::Caller;
use crate::relay::head::{Framing, RequestHead, ResponseHead, tokens};
use crate::relay::program::{MAX_TOUCHED, Program};

/// What a header name is to the gateway, beyond a policy's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owned {
    /// An end-to-end header: passed on.
    No,
    /// Describes one connection (RFC 9110 §7.6.1): never passed on.
    HopByHop,
    /// Framing the gateway writes itself.
    Framing,
    /// Written by the gateway in its own place (Host, X-Request-Id), or never passed on (the
    /// trace header).
    Replaced,
    /// A forwarding header, rewritten by `forwarded::each`.
    Forwarding(Forwarding),
}

fn owned(name: &[u8]) -> Owned {
    let mut lower = [0u8; 24];
    if name.len() > lower.len() {
        return Owned::No;
    }
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    match &*lower {
        b"connection"
        | b"keep-alive"
        | b"proxy-connection"
        | b"te"
        | b"trailer"
        | b"upgrade"
        | b"proxy-authorization"
        | b"proxy-authenticate" => Owned::HopByHop,
        b"content-length" | b"transfer-encoding" => Owned::Framing,
        b"host" | b"x-request-id" | b"x-gatehouse-trace" => Owned::Replaced,
        other => match forwarded::Field::of(other) {
            Some(f) => Owned::Forwarding(f),
            None => Owned::No,
        },
    }
}

/// Whether a `Connection` field of `fields` names `name` (such a header is hop-by-hop too).
fn connection_names(buf: &[u8], fields: &[crate::relay::head::Field], name: &[u8]) -> bool {
    fields
        .iter()
        .filter(|f| f.name.get(buf).eq_ignore_ascii_case(b"connection"))
        .flat_map(|f| tokens(f.value.get(buf)))
        .any(|t| t.eq_ignore_ascii_case(name))
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes the values a program appends to the names it touches (after the message's own
/// fields), given which of them the message carried.
fn program_tail(out: &mut Vec<u8>, program: &Program, present: u64) {
    for (i, t) in program.touched.iter().enumerate() {
        let outcome = program.outcome(i, present & (1 << i) != 0);
        for v in &outcome.values {
            field(out, t.name.as_str().as_bytes(), v.as_bytes());
        }
    }
}

/// Everything a back-end request head needs besides the caller's head.
pub(crate) struct RequestParts<'a> {
    /// `/base/rest`, the back end's path.
    pub(crate) path: &'a [&'a [u8]],
    pub(crate) query: Option<&'a [u8]>,
    pub(crate) program: &'a Program,
    pub(crate) client: &'a forwarded::Client,
    pub(crate) proto: &'static str,
    pub(crate) caller: Option<&'a Caller>,
    pub(crate) caller_headers: &'a [gatehouse_model::snapshot::CallerHeader],
    pub(crate) request_id: &'a [u8],
    pub(crate) host: &'a [u8],
}

/// The request head for the back end.
pub(crate) fn request_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    parts: &RequestParts<'_>,
) {
    debug_assert!(parts.program.touched.len() <= MAX_TOUCHED);
    out.extend_from_slice(head.method.get(buf));
    out.push(b' ');
    for piece in parts.path {
        out.extend_from_slice(piece);
    }
    if let Some(q) = parts.query {
        out.push(b'?');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut present: u64 = 0;
    let mut sent = forwarded::Sent::default();
    let has_connection = head
        .fields
        .iter()
        .any(|f| f.name.get(buf).eq_ignore_ascii_case(b"connection"));
    for f in &head.fields {
        let name = f.name.get(buf);
        let value = f.value.get(buf);
        match owned(name) {
            Owned::HopByHop | Owned::Framing | Owned::Replaced => continue,
            Owned::Forwarding(which) => {
                sent.note(which, value);
                continue;
            }
            Owned::No => {}
        }
        if has_connection && connection_names(buf, &head.fields, name) {
            continue;
        }
        if parts
            .caller_headers
            .iter()
            .any(|h| h.name.as_str().as_bytes().eq_ignore_ascii_case(name))
        {
            continue;
        }
        match parts.program.find(name) {
            Some(i) => {
                present |= 1 << i;
                if parts.program.outcome(i, true).keep {
                    field(out, name, value);
                }
            }
            None => field(out, name, value),
        }
    }
    // The host for X-Forwarded-Host and Forwarded: the target's authority, else Host.
    let host = head.authority.or(head.host).map(|s| s.get(buf));
    forwarded::each(parts.client, &sent, host, parts.proto, |which, value| {
        let name = which.name().as_str().as_bytes();
        // A policy's steps on a forwarding header start from the gateway's value(s).
        if let Some(i) = parts.program.find(name) {
            present |= 1 << i;
            if !parts.program.outcome(i, true).keep {
                return;
            }
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        for piece in value {
            out.extend_from_slice(piece);
        }
        out.extend_from_slice(b"\r\n");
    });
    program_tail(out, parts.program, present);
    for h in parts.caller_headers {
        if let Some(value) = parts.caller.and_then(|c| c.header(h.format)) {
            field(out, h.name.as_str().as_bytes(), value.as_bytes());
        }
    }
    field(out, b"x-request-id", parts.request_id);
    field(out, b"host", parts.host);
    match head.body {
        Some(Framing::Length(n)) => field(out, b"content-length", itoa(n, &mut [0; 20])),
        Some(Framing::Chunked) => field(out, b"transfer-encoding", b"chunked"),
        _ if head
            .fields
            .iter()
            .any(|f| f.name.get(buf).eq_ignore_ascii_case(b"content-length")) =>
        {
            // An explicit empty body (`Content-Length: 0`) stays explicit.
            field(out, b"content-length", b"0");
        }
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// The response head for the caller. `close` adds `Connection: close`.
pub(crate) fn response_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    program: &Program,
    request_id: &[u8],
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa(u64::from(head.status), &mut [0; 20]));
    out.push(b' ');
    let reason = head.reason.get(buf);
    if reason.is_empty() {
        out.extend_from_slice(
            http::StatusCode::from_u16(head.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
                .as_bytes(),
        );
    } else {
        out.extend_from_slice(reason);
    }
    out.extend_from_slice(b"\r\n");
    let mut present: u64 = 0;
    let mut has_date = false;
    let has_connection = head
        .fields
        .iter()
        .any(|f| f.name.get(buf).eq_ignore_ascii_case(b"connection"));
    for f in &head.fields {
        let name = f.name.get(buf);
        has_date |= name.eq_ignore_ascii_case(b"date");
        match owned(name) {
            Owned::HopByHop | Owned::Framing => continue,
            Owned::Replaced if name.eq_ignore_ascii_case(b"x-request-id") => continue,
            _ => {}
        }
        if has_connection && connection_names(buf, &head.fields, name) {
            continue;
        }
        match program.find(name) {
            Some(i) => {
                present |= 1 << i;
                if program.outcome(i, true).keep {
                    field(out, name, f.value.get(buf));
                }
            }
            None => field(out, name, f.value.get(buf)),
        }
    }
    program_tail(out, program, present);
    field(out, b"x-request-id", request_id);
    if !has_date && program.find(b"date").is_none() {
        date(out);
    }
    match head.body {
        Some(Framing::Length(n)) => field(out, b"content-length", itoa(n, &mut [0; 20])),
        Some(Framing::Chunked) => field(out, b"transfer-encoding", b"chunked"),
        // A body without a length ends the connection to the caller too.
        Some(Framing::UntilClose) => {}
        _ => {
            // No body here, but a HEAD response keeps the length the body would have, and
            // statuses other than 1xx, 204 and 304 say their length too.
            if let Some(f) = head
                .fields
                .iter()
                .find(|f| f.name.get(buf).eq_ignore_ascii_case(b"content-length"))
                && head.status != 204
                && head.status != 304
            {
                field(out, b"content-length", f.value.get(buf));
            }
        }
    }
    if close {
        field(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// The gateway's own answer to a failure (JSON, as `Failure::response` makes it).
pub(crate) fn failure(
    out: &mut Vec<u8>,
    failure: &Failure,
    request_id: &[u8],
    program: &Program,
    close: bool,
) {
    let status = failure.kind.status();
    let id = std::str::from_utf8(request_id).unwrap_or_default();
    let body = failure.body(id);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    // The gateway's own fields come first, as the message's: a policy's steps apply to them.
    let mut present = 0u64;
    for (name, value) in [(&b"content-type"[..], &b"application/json"[..])] {
        if let Some(i) = program.find(name) {
            present |= 1 << i;
            if !program.outcome(i, true).keep {
                continue;
            }
        }
        field(out, name, value);
    }
    program_tail(out, program, present);
    field(out, b"x-request-id", request_id);
    date(out);
    field(
        out,
        b"content-length",
        itoa(body.len() as u64, &mut [0; 20]),
    );
    if close {
        field(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
}

/// The answer on APIM's health path: 200, no body.
pub(crate) fn status(out: &mut Vec<u8>, request_id: &[u8], close: bool) {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    field(out, b"x-request-id", request_id);
    field(out, b"content-length", b"0");
    date(out);
    if close {
        field(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// The decimal digits of `n`, without formatting machinery.
pub(crate) fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The `Date` field, as hyper's server adds it: formatted once a second per thread.
fn date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static CACHE: RefCell<(u64, [u8; 29])> = const { RefCell::new((0, [0; 29])) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != second {
            use std::io::Write as _;
            let mut text = [0u8; 29];
            // An IMF-fixdate is always 29 bytes.
            if write!(&mut text[..], "{}", httpdate::HttpDate::from(now)).is_ok() {
                *cache = (second, text);
            }
        }
        field(out, b"date", &cache.1);
    });
}

#[cfg(test)]
mod tests;
