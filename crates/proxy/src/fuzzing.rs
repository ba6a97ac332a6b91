//! Entry points for fuzzing the gateway's own HTTP/1.1 parsing, and for replaying their
//! corpora as tests: request heads, response heads and chunked bodies, each checked against
//! the properties the relay relies on, not only for panics.

use crate::relay::chunked::Chunked;
use crate::relay::head::{self, Framing, Parsed, RequestHead, ResponseHead, Span};

/// The field limit the fuzz targets parse with (the listener's default).
const MAX_HEADERS: usize = 100;

/// HTTP/1.1 parsing: the first byte picks a request or a response head (and a split point),
/// the rest is the bytes as they arrive from the socket.
///
/// # Panics
/// When a property breaks: a complete head's spans leave the head; a head judged differently
/// when it arrives in two reads; a chunked body decoded differently when split.
pub fn http1(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let split = usize::from(selector >> 1);
    if selector & 1 == 0 {
        request(bytes, split);
    } else {
        response(bytes, split, selector & 2 != 0);
    }
}

fn request(bytes: &[u8], split: usize) {
    let mut buf = bytes.to_vec();
    let mut parsed = RequestHead::default();
    let whole = head::parse_request(&mut buf, &mut parsed, MAX_HEADERS);
    if let Ok(Parsed::Complete) = whole {
        let len = parsed.len;
        assert!(len <= buf.len(), "the head is longer than the input");
        let mut spans = vec![parsed.method, parsed.path];
        spans.extend(parsed.query);
        spans.extend(parsed.authority);
        spans.extend(parsed.host);
        spans.extend(parsed.fields.iter().flat_map(|f| [f.name, f.value]));
        within(&spans, len);
        // The same head arriving in two reads: the first read is never judged complete or
        // refused when the whole is good (the relay parses again after every read).
        let cut = split.min(len.saturating_sub(1));
        let mut prefix = bytes[..cut].to_vec();
        let mut again = RequestHead::default();
        match head::parse_request(&mut prefix, &mut again, MAX_HEADERS) {
            Ok(Parsed::Partial) => {}
            Ok(Parsed::Complete) => panic!("a prefix of {len} bytes' head was complete at {cut}"),
            Err(e) => panic!("a prefix of a good head was refused at {cut}: {}", e.detail),
        }
        if parsed.body == Some(Framing::Chunked) {
            chunked(&buf[len..], split);
        }
    }
}

fn response(bytes: &[u8], split: usize, head_request: bool) {
    let mut parsed = ResponseHead::default();
    if let Ok(Parsed::Complete) =
        head::parse_response(bytes, &mut parsed, head_request, MAX_HEADERS)
    {
        let len = parsed.len;
        assert!(len <= bytes.len(), "the head is longer than the input");
        let mut spans = vec![parsed.reason];
        spans.extend(parsed.fields.iter().flat_map(|f| [f.name, f.value]));
        within(&spans, len);
        if parsed.body == Some(Framing::Chunked) {
            chunked(&bytes[len..], split);
        }
    }
}

fn within(spans: &[Span], len: usize) {
    for span in spans {
        assert!(
            span.start <= span.end && span.end <= len,
            "a span {span:?} leaves the head of {len} bytes"
        );
    }
}

/// A chunked body decoded in one piece and in two gives the same bytes and the same verdict.
fn chunked(body: &[u8], split: usize) {
    let mut one = Chunked::default();
    let mut out_one = Vec::new();
    let whole = one.feed(body, &mut out_one);

    let cut = split.min(body.len());
    let mut two = Chunked::default();
    let mut out_two = Vec::new();
    let first = two.feed(&body[..cut], &mut out_two);
    let verdict = match first {
        Ok(used) if used == cut && !two.is_done() => {
            two.feed(&body[cut..], &mut out_two).map(|more| cut + more)
        }
        other => other,
    };
    assert_eq!(
        whole, verdict,
        "a chunked body judged differently when split at {cut}"
    );
    if whole.is_ok() {
        assert_eq!(
            out_one, out_two,
            "a chunked body decoded differently when split at {cut}"
        );
        assert_eq!(one.is_done(), two.is_done());
    }
}
