//! Request and response heads, parsed once with httparse into spans of the read buffer.
//!
//! The rules are those of the hyper listener plus `head.rs`, and stricter where RFC 9112 lets a
//! server choose and a smuggler would profit from leniency: Content-Length and
//! Transfer-Encoding together, or Content-Length more than once, are refused (nginx and Envoy
//! do the same); Transfer-Encoding must be exactly `chunked` (another coding gets 501 when
//! `chunked` is last, else 400), and HTTP/1.0 may not use it at all.

use crate::error::{Failure, Kind};

/// Where a piece of the head lies in the read buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Span {
    fn of(buf: &[u8], part: &[u8]) -> Self {
        // `part` is a subslice of `buf` (httparse returns borrowed slices of its input).
        let start = (part.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
        Self {
            start,
            end: start + part.len(),
        }
    }

    pub(crate) fn get(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.end).unwrap_or_default()
    }

    pub(crate) fn is_empty(self) -> bool {
        self.start == self.end
    }

    pub(crate) fn len(self) -> usize {
        self.end - self.start
    }
}

/// How a message's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// One header field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub(crate) name: Span,
    pub(crate) value: Span,
}

/// A parsed request head; spans point into the buffer it was parsed from.
#[derive(Debug, Default)]
pub(crate) struct RequestHead {
    /// Bytes of the head, the blank line included.
    pub(crate) len: usize,
    pub(crate) method: Span,
    /// The path of the target (origin-form `/...`, the path of an absolute-form target, or
    /// `*`), without the query.
    pub(crate) path: Span,
    /// The query, without `?` (empty when none).
    pub(crate) query: Option<Span>,
    /// The authority of an absolute-form target.
    pub(crate) authority: Option<Span>,
    /// HTTP/1.0 (`false`: HTTP/1.1).
    pub(crate) http10: bool,
    pub(crate) fields: Vec<Field>,
    pub(crate) body: Option<Framing>,
    /// The client asked to close after this exchange (or HTTP/1.0 without keep-alive).
    pub(crate) close: bool,
    pub(crate) expect_continue: bool,
    pub(crate) host: Option<Span>,
    /// Bytes of the header fields as HTTP/2 counts a header list (name, value, 32 each).
    pub(crate) header_bytes: usize,
}

/// A parsed response head.
#[derive(Debug, Default)]
pub(crate) struct ResponseHead {
    pub(crate) len: usize,
    pub(crate) status: u16,
    pub(crate) reason: Span,
    pub(crate) fields: Vec<Field>,
    pub(crate) body: Option<Framing>,
    /// The back end will close the connection after this response.
    pub(crate) close: bool,
}

/// What parsing found.
pub(crate) enum Parsed {
    /// The head is complete.
    Complete,
    /// More bytes are needed.
    Partial,
}

/// Most header fields parsed with an array on the stack (4 KiB); a limit above it (a
/// `--max-headers` over 128) costs a heap array per parse.
const STACK_FIELDS: usize = 128;

/// Parses a request head at the start of `buf` into `head` (reusing its allocations).
///
/// A request of a later HTTP/1 minor version is read as HTTP/1.1, the highest the gateway
/// implements (RFC 9110 §2.5): its version digit is rewritten in the buffer (httparse knows
/// only 1.0 and 1.1). Another major version gets 505.
///
/// # Errors
/// The failure to answer with: 400 for malformed heads, 431 for too many fields, 501 for an
/// unknown transfer coding, 505 for a version that is not HTTP/1.
pub(crate) fn parse_request(
    buf: &mut [u8],
    head: &mut RequestHead,
    max_headers: usize,
) -> Result<Parsed, Failure> {
    match parse_request_as_is(buf, head, max_headers) {
        Err(Refused::Version) => match later_minor(buf) {
            Version::LaterMinor(digit) => {
                buf[digit] = b'1';
                parse_request_as_is(buf, head, max_headers).map_err(Refused::failure)
            }
            Version::OtherMajor => Err(Failure::new(
                Kind::HttpVersionNotSupported,
                "the request's HTTP version is not HTTP/1",
            )),
            Version::Malformed => Err(Refused::Version.failure()),
            // The line has not ended yet: its version may still be whole.
            Version::Incomplete => Ok(Parsed::Partial),
        },
        other => other.map_err(Refused::failure),
    }
}

/// Why httparse refused a head: the version, which has a second chance, or anything else.
enum Refused {
    Version,
    Other(Failure),
}

impl Refused {
    fn failure(self) -> Failure {
        match self {
            Refused::Version => malformed("the request line's HTTP version is malformed".into()),
            Refused::Other(failure) => failure,
        }
    }
}

enum Version {
    /// `HTTP/1.n`, n > 1: the index of n.
    LaterMinor(usize),
    /// `HTTP/m.n`, m > 1.
    OtherMajor,
    Malformed,
    /// The request line has not ended.
    Incomplete,
}

/// What the version at the end of the request line is.
fn later_minor(buf: &[u8]) -> Version {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return Version::Incomplete;
    };
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let Some(at) = line.len().checked_sub(8) else {
        return Version::Malformed;
    };
    match &line[at..] {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() && *d > b'1' => {
            Version::LaterMinor(at + 7)
        }
        [b'H', b'T', b'T', b'P', b'/', m, b'.', n]
            if m.is_ascii_digit() && *m > b'1' && n.is_ascii_digit() =>
        {
            Version::OtherMajor
        }
        _ => Version::Malformed,
    }
}

fn parse_request_as_is(
    buf: &[u8],
    head: &mut RequestHead,
    max_headers: usize,
) -> Result<Parsed, Refused> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_FIELDS];
    let mut heap;
    let headers: &mut [httparse::Header<'_>] = if max_headers <= STACK_FIELDS {
        &mut stack[..max_headers]
    } else {
        heap = vec![httparse::EMPTY_HEADER; max_headers];
        &mut heap
    };
    let mut request = httparse::Request::new(headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refused::Other(Failure::new(
                Kind::HeadersTooLarge,
                format!("more than {max_headers} header fields (--max-headers)"),
            )));
        }
        Err(httparse::Error::Version) => return Err(Refused::Version),
        Err(e) => {
            return Err(Refused::Other(malformed(format!(
                "the request head is malformed: {e}"
            ))));
        }
    };
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(Refused::Other(malformed(
            "the request line is incomplete".into(),
        )));
    };
    head.len = len;
    head.method = Span::of(buf, method.as_bytes());
    head.http10 = version == 0;
    head.fields.clear();
    head.header_bytes = 0;
    for h in request.headers.iter() {
        head.header_bytes += h.name.len() + h.value.len() + 32;
        head.fields.push(Field {
            name: Span::of(buf, h.name.as_bytes()),
            value: Span::of(buf, h.value),
        });
    }
    split_target(
        buf,
        Span::of(buf, target.as_bytes()),
        method == "OPTIONS",
        head,
    )
    .map_err(Refused::Other)?;
    request_semantics(buf, head).map_err(Refused::Other)
}

fn malformed(detail: String) -> Failure {
    Failure::new(Kind::MalformedRequest, detail)
}

/// Origin-form (`/p?q`), absolute-form (`http://h/p?q`), or `*` for OPTIONS.
fn split_target(
    buf: &[u8],
    target: Span,
    options: bool,
    head: &mut RequestHead,
) -> Result<(), Failure> {
    let bytes = target.get(buf);
    head.authority = None;
    let (path_start, path_bytes) = if bytes.first() == Some(&b'/') || (bytes == b"*" && options) {
        (target.start, bytes)
    } else {
        let rest = strip_scheme(bytes).ok_or_else(|| {
            malformed("the request target is not origin-form or absolute-form".into())
        })?;
        let authority_start = target.start + (bytes.len() - rest.len());
        let authority_len = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?' || b == b'#')
            .unwrap_or(rest.len());
        let authority = Span {
            start: authority_start,
            end: authority_start + authority_len,
        };
        if authority.is_empty() {
            return Err(malformed("the request target has no host".into()));
        }
        if authority.get(buf).contains(&b'@') {
            return Err(Failure::new(
                Kind::InvalidHost,
                "userinfo in the request target",
            ));
        }
        head.authority = Some(authority);
        let path = &rest[authority_len..];
        (authority.end, path)
    };
    if path_bytes.contains(&b'#') {
        return Err(malformed("the request target holds a fragment".into()));
    }
    match path_bytes.iter().position(|&b| b == b'?') {
        Some(q) => {
            head.path = Span {
                start: path_start,
                end: path_start + q,
            };
            head.query = Some(Span {
                start: path_start + q + 1,
                end: path_start + path_bytes.len(),
            });
        }
        None => {
            head.path = Span {
                start: path_start,
                end: path_start + path_bytes.len(),
            };
            head.query = None;
        }
    }
    Ok(())
}

fn strip_scheme(bytes: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], b"https://"] {
        if bytes.len() >= scheme.len() && bytes[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&bytes[scheme.len()..]);
        }
    }
    None
}

/// Framing, connection options, Host.
fn request_semantics(buf: &[u8], head: &mut RequestHead) -> Result<Parsed, Failure> {
    let mut length: Option<u64> = None;
    let mut lengths = 0;
    let mut codings = Codings::default();
    let mut hosts = 0;
    head.host = None;
    head.close = head.http10;
    head.expect_continue = false;
    for field in &head.fields {
        let name = field.name.get(buf);
        let value = field.value.get(buf);
        if name.eq_ignore_ascii_case(b"content-length") {
            lengths += 1;
            length =
                Some(parse_length(value).ok_or_else(|| {
                    malformed("the Content-Length is not a single number".into())
                })?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings.add(value);
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            head.host = Some(field.value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in tokens(value) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && head.http10 {
                    head.close = false;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                head.expect_continue = true;
            } else {
                return Err(Failure::new(
                    Kind::ExpectationFailed,
                    "an Expect other than 100-continue",
                ));
            }
        }
    }
    if lengths > 1 {
        return Err(malformed("Content-Length appears more than once".into()));
    }
    if !head.http10 && hosts == 0 {
        return Err(Failure::new(
            Kind::InvalidHost,
            "an HTTP/1.1 request without Host",
        ));
    }
    if hosts > 1 {
        return Err(Failure::new(Kind::InvalidHost, "more than one Host header"));
    }
    if let Some(host) = head.host
        && !crate::head::valid_host(host.get(buf))
    {
        return Err(Failure::new(
            Kind::InvalidHost,
            "a Host that is no host[:port]",
        ));
    }
    head.body = Some(if codings.any {
        if head.http10 {
            return Err(malformed("Transfer-Encoding in an HTTP/1.0 request".into()));
        }
        if length.is_some() {
            return Err(malformed(
                "both Content-Length and Transfer-Encoding (request smuggling)".into(),
            ));
        }
        codings.framing()?
    } else {
        match length {
            Some(0) | None => Framing::Empty,
            Some(n) => Framing::Length(n),
        }
    });
    Ok(Parsed::Complete)
}

/// Transfer codings as they are listed across the fields.
#[derive(Default)]
struct Codings {
    any: bool,
    count: usize,
    chunked_at: Option<usize>,
    chunked_twice: bool,
    other: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.any = true;
        for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if token.eq_ignore_ascii_case(b"chunked") {
                if self.chunked_at.is_some() {
                    self.chunked_twice = true;
                }
                self.chunked_at = Some(self.count);
            } else {
                self.other = true;
            }
            self.count += 1;
        }
    }

    fn framing(&self) -> Result<Framing, Failure> {
        if self.chunked_twice {
            return Err(Failure::new(
                Kind::InvalidTransferEncoding,
                "chunked appears more than once in Transfer-Encoding",
            ));
        }
        match self.chunked_at {
            Some(i) if i + 1 == self.count && self.other => Err(Failure::new(
                Kind::UnsupportedTransferCoding,
                "a transfer coding other than chunked",
            )),
            Some(i) if i + 1 == self.count => Ok(Framing::Chunked),
            _ => Err(malformed(
                "Transfer-Encoding does not end with chunked".into(),
            )),
        }
    }
}

/// A Content-Length value: digits only, at most 19 of them (no sign, no list).
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The comma-separated tokens of a list value, trimmed.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Parses a response head at the start of `buf` for a request of `method` (`HEAD` has no body).
///
/// # Errors
/// What the back end did wrong, as a `BackendProtocolError`.
pub(crate) fn parse_response(
    buf: &[u8],
    head: &mut ResponseHead,
    head_request: bool,
    max_headers: usize,
) -> Result<Parsed, Failure> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_FIELDS];
    let mut heap;
    let headers: &mut [httparse::Header<'_>] = if max_headers <= STACK_FIELDS {
        &mut stack[..max_headers]
    } else {
        heap = vec![httparse::EMPTY_HEADER; max_headers];
        &mut heap
    };
    let mut response = httparse::Response::new(headers);
    let protocol = |detail: String| Failure::new(Kind::BackendProtocolError, detail);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(e) => return Err(protocol(format!("the response head is malformed: {e}"))),
    };
    let (Some(status), Some(version)) = (response.code, response.version) else {
        return Err(protocol("the status line is incomplete".into()));
    };
    head.len = len;
    head.status = status;
    head.reason = Span::of(buf, response.reason.unwrap_or_default().as_bytes());
    head.fields.clear();
    let mut length: Option<u64> = None;
    let mut codings = Codings::default();
    head.close = version == 0;
    for h in response.headers.iter() {
        let field = Field {
            name: Span::of(buf, h.name.as_bytes()),
            value: Span::of(buf, h.value),
        };
        head.fields.push(field);
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_length(h.value)
                .ok_or_else(|| protocol("the Content-Length is not a number".into()))?;
            if length.is_some_and(|l| l != n) {
                return Err(protocol("two different Content-Lengths".into()));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings.add(h.value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in tokens(h.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                    head.close = false;
                }
            }
        }
    }
    let no_body = head_request || status == 204 || status == 304 || (100..200).contains(&status);
    head.body = Some(if no_body {
        Framing::Empty
    } else if codings.any {
        // RFC 9112 §6.3: chunked last means chunked (and Content-Length is ignored); any other
        // coding last means the body runs until the connection closes.
        match codings.chunked_at {
            Some(i) if i + 1 == codings.count && !codings.chunked_twice => Framing::Chunked,
            _ => {
                head.close = true;
                Framing::UntilClose
            }
        }
    } else {
        match length {
            Some(n) => Framing::Length(n),
            None => {
                head.close = true;
                Framing::UntilClose
            }
        }
    });
    Ok(Parsed::Complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Result<(RequestHead, Vec<u8>), Kind> {
        let mut buf = text.as_bytes().to_vec();
        let mut head = RequestHead::default();
        match parse_request(&mut buf, &mut head, 100) {
            Ok(Parsed::Complete) => Ok((head, buf)),
            Ok(Parsed::Partial) => panic!("partial: {text:?}"),
            Err(f) => Err(f.kind),
        }
    }

    #[test]
    fn requests_parse_into_spans() {
        let (head, buf) =
            request("POST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!(head.method.get(&buf), b"POST");
        assert_eq!(head.path.get(&buf), b"/a/b");
        assert_eq!(head.query.unwrap().get(&buf), b"x=1");
        assert_eq!(head.body, Some(Framing::Length(5)));
        assert_eq!(&buf[head.len..], b"hello");
        assert!(!head.close && !head.http10);
        let (head, buf) =
            request("GET http://Other.Example:8080/p HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(head.authority.unwrap().get(&buf), b"Other.Example:8080");
        assert_eq!(head.path.get(&buf), b"/p");
        let (head, _) = request("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(head.close && head.http10);
        let (head, buf) = request("GET /v HTTP/1.2\r\nHost: h\r\n\r\n").unwrap();
        assert!(!head.http10);
        assert!(
            buf.starts_with(b"GET /v HTTP/1.1\r\n"),
            "read as the highest version known"
        );
        let (head, _) = request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(!head.close);
        let (head, _) =
            request("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap();
        assert_eq!(head.body, Some(Framing::Chunked));
        let (head, _) = request(
            "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
        )
        .unwrap();
        assert!(head.expect_continue);
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for (text, kind) in [
            (
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                Kind::MalformedRequest,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                Kind::MalformedRequest,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
                Kind::MalformedRequest,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
                Kind::MalformedRequest,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                Kind::MalformedRequest,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
                Kind::MalformedRequest,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                Kind::MalformedRequest,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Kind::UnsupportedTransferCoding,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                Kind::InvalidTransferEncoding,
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                Kind::MalformedRequest,
            ),
            ("GET / HTTP/1.1\r\n\r\n", Kind::InvalidHost),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                Kind::InvalidHost,
            ),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Kind::InvalidHost),
            (
                "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
                Kind::InvalidHost,
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\n X-Fold: y\r\n\r\n",
                Kind::MalformedRequest,
            ),
            ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", Kind::MalformedRequest),
            (
                "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
                Kind::HttpVersionNotSupported,
            ),
            ("GET / HTTP/1.x\r\nHost: h\r\n\r\n", Kind::MalformedRequest),
            ("GET / HTTP/1.10\r\nHost: h\r\n\r\n", Kind::MalformedRequest),
            (
                "GET relative HTTP/1.1\r\nHost: h\r\n\r\n",
                Kind::MalformedRequest,
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nExpect: something\r\n\r\n",
                Kind::ExpectationFailed,
            ),
        ] {
            assert_eq!(request(text).err(), Some(kind), "{text:?}");
        }
        let many = format!(
            "GET / HTTP/1.1\r\nHost: h\r\n{}\r\n",
            "X: 1\r\n".repeat(101)
        );
        assert_eq!(request(&many).err(), Some(Kind::HeadersTooLarge));
    }

    #[test]
    fn partial_heads_ask_for_more() {
        let mut head = RequestHead::default();
        for partial in [
            "GET / HTTP/1.1\r\nHost: h\r\n",
            "GET / HTTP/2.0\r",
            "GET / HTTP/1.2",
        ] {
            assert!(
                matches!(
                    parse_request(&mut partial.as_bytes().to_vec(), &mut head, 100),
                    Ok(Parsed::Partial)
                ),
                "{partial:?}"
            );
        }
    }

    #[test]
    fn responses_say_how_their_bodies_end() {
        let parse = |text: &str, head_request: bool| {
            let mut head = ResponseHead::default();
            parse_response(text.as_bytes(), &mut head, head_request, 100)
                .map(|_| (head.status, head.body, head.close))
                .map_err(|f| f.kind)
        };
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false),
            Ok((200, Some(Framing::Length(3)), false))
        );
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true),
            Ok((200, Some(Framing::Empty), false))
        );
        assert_eq!(
            parse("HTTP/1.1 204 No Content\r\n\r\n", false),
            Ok((204, Some(Framing::Empty), false))
        );
        assert_eq!(
            parse(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
                false
            ),
            Ok((200, Some(Framing::Chunked), false))
        );
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\n\r\n", false),
            Ok((200, Some(Framing::UntilClose), true))
        );
        assert_eq!(
            parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false),
            Ok((200, Some(Framing::Length(1)), true))
        );
        assert_eq!(
            parse(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
                false
            ),
            Ok((200, Some(Framing::Length(1)), true))
        );
        assert_eq!(
            parse(
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            ),
            Err(Kind::BackendProtocolError)
        );
        assert_eq!(
            parse("garbage\r\n\r\n", false),
            Err(Kind::BackendProtocolError)
        );
    }
}
