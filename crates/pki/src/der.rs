//! A small, bounded BER/DER reader.
//!
//! Uploaded files are hostile until proven otherwise, so every read is
//! bounds-checked, nesting is capped and nothing here can panic or allocate
//! more than the input size. BER indefinite lengths and constructed OCTET
//! STRINGs are accepted because some PKCS#12 writers (NSS, older Java and
//! Windows tooling) still emit them and OpenSSL reads them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Deepest nesting accepted. PKCS#12 needs about twelve levels; anything far
/// beyond that is an attack on the recursion, not a certificate.
const MAX_DEPTH: usize = 32;

/// Universal and context-specific tag bytes used by the parsers.
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
    /// `[0]` constructed, as in EXPLICIT tagging.
    pub(crate) const CONTEXT_0: u8 = 0xA0;
    /// `[0]` primitive, as in IMPLICIT OCTET STRING.
    pub(crate) const CONTEXT_0_PRIMITIVE: u8 = 0x80;
}

/// Why a structure could not be read; a fixed phrase, never input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError(pub(crate) &'static str);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub(crate) type DerResult<T> = Result<T, DerError>;

/// One encoded element (tag, length, contents).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub(crate) tag: u8,
    /// Contents octets; for an indefinite length, the children without the
    /// end-of-contents marker.
    pub(crate) contents: &'a [u8],
    /// The whole encoding including the header.
    pub(crate) raw: &'a [u8],
    depth: usize,
}

impl<'a> Element<'a> {
    pub(crate) fn is_constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }

    /// Fails unless the element carries `expected`.
    pub(crate) fn expect(self, expected: u8, what: &'static str) -> DerResult<Self> {
        if self.tag == expected {
            Ok(self)
        } else {
            Err(DerError(what))
        }
    }

    /// A reader over the children of a constructed element.
    pub(crate) fn children(&self) -> DerResult<Reader<'a>> {
        if !self.is_constructed() {
            return Err(DerError("expected a constructed element"));
        }
        Ok(Reader {
            data: self.contents,
            pos: 0,
            depth: self.depth + 1,
        })
    }

    /// OCTET STRING contents, joining BER constructed segments if needed.
    pub(crate) fn octets(&self) -> DerResult<Cow<'a, [u8]>> {
        if !self.is_constructed() {
            return Ok(Cow::Borrowed(self.contents));
        }
        let mut joined = Vec::with_capacity(self.contents.len());
        self.append_segments(&mut joined)?;
        Ok(Cow::Owned(joined))
    }

    fn append_segments(&self, out: &mut Vec<u8>) -> DerResult<()> {
        let mut children = self.children()?;
        while !children.is_empty() {
            let segment = children.next()?;
            if segment.tag & !0x20 != tag::OCTET_STRING {
                return Err(DerError(
                    "a constructed OCTET STRING holds a non-OCTET STRING",
                ));
            }
            if segment.is_constructed() {
                segment.append_segments(out)?;
            } else {
                out.extend_from_slice(segment.contents);
            }
        }
        Ok(())
    }

    /// A non-negative INTEGER, saturating at `u64::MAX` for absurd values so
    /// that limits can still report them.
    pub(crate) fn uint_saturating(&self) -> DerResult<u64> {
        if self.tag != tag::INTEGER {
            return Err(DerError("expected an INTEGER"));
        }
        let bytes = self.contents;
        let Some(first) = bytes.first() else {
            return Err(DerError("empty INTEGER"));
        };
        if first & 0x80 != 0 {
            return Err(DerError("negative INTEGER where a count was expected"));
        }
        let significant: &[u8] = {
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
            &bytes[start..]
        };
        if significant.len() > 8 {
            return Ok(u64::MAX);
        }
        Ok(significant
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// An INTEGER's magnitude bytes without leading zero octets.
    pub(crate) fn uint_bytes(&self) -> DerResult<&'a [u8]> {
        if self.tag != tag::INTEGER {
            return Err(DerError("expected an INTEGER"));
        }
        let bytes = self.contents;
        if bytes.is_empty() {
            return Err(DerError("empty INTEGER"));
        }
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Ok(&bytes[start..])
    }

    /// An OBJECT IDENTIFIER in dotted form.
    pub(crate) fn oid(&self) -> DerResult<String> {
        if self.tag != tag::OID {
            return Err(DerError("expected an OBJECT IDENTIFIER"));
        }
        decode_oid(self.contents)
    }

    /// BIT STRING contents without the unused-bits octet (which must be 0
    /// for keys and signatures).
    pub(crate) fn bit_string(&self) -> DerResult<&'a [u8]> {
        if self.tag != tag::BIT_STRING {
            return Err(DerError("expected a BIT STRING"));
        }
        match self.contents.split_first() {
            Some((0, rest)) => Ok(rest),
            _ => Err(DerError("BIT STRING with unused bits")),
        }
    }
}

/// Sequential reader over a run of elements.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            depth: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    pub(crate) fn next(&mut self) -> DerResult<Element<'a>> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let (element, used) = parse_element(rest, self.depth)?;
        self.pos += used;
        Ok(element)
    }

    pub(crate) fn expect(&mut self, expected: u8, what: &'static str) -> DerResult<Element<'a>> {
        self.next()?.expect(expected, what)
    }

    pub(crate) fn optional(&mut self, wanted: u8) -> DerResult<Option<Element<'a>>> {
        if self.peek_tag() == Some(wanted) {
            self.next().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    pub(crate) fn finish(&self, what: &'static str) -> DerResult<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DerError(what))
        }
    }
}

/// Reads exactly one element spanning all of `data`.
pub(crate) fn parse_single(data: &[u8]) -> DerResult<Element<'_>> {
    let mut reader = Reader::new(data);
    let element = reader.next()?;
    reader.finish("trailing data after the structure")?;
    Ok(element)
}

fn parse_element(data: &[u8], depth: usize) -> DerResult<(Element<'_>, usize)> {
    if depth > MAX_DEPTH {
        return Err(DerError("structure nested too deeply"));
    }
    let (&tag_byte, after_tag) = data
        .split_first()
        .ok_or(DerError("unexpected end of data"))?;
    if tag_byte & 0x1F == 0x1F {
        return Err(DerError("unsupported multi-byte tag"));
    }
    if tag_byte == 0 {
        return Err(DerError("unexpected end-of-contents marker"));
    }
    let (&first_len, mut after_len) = after_tag
        .split_first()
        .ok_or(DerError("unexpected end of data"))?;
    let mut header_len = 2;
    let constructed = tag_byte & 0x20 != 0;

    if first_len == 0x80 {
        if !constructed {
            return Err(DerError("indefinite length on a primitive element"));
        }
        let body_len = indefinite_body_len(after_len, depth)?;
        let total = header_len + body_len + 2;
        let element = Element {
            tag: tag_byte,
            contents: &after_len[..body_len],
            raw: &data[..total],
            depth,
        };
        return Ok((element, total));
    }

    let len = if first_len < 0x80 {
        usize::from(first_len)
    } else {
        let count = usize::from(first_len & 0x7F);
        if count > 4 {
            return Err(DerError("length field too large"));
        }
        let bytes = after_len
            .get(..count)
            .ok_or(DerError("unexpected end of data"))?;
        after_len = &after_len[count..];
        header_len += count;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let contents = after_len
        .get(..len)
        .ok_or(DerError("length runs past the end of the data"))?;
    let total = header_len + len;
    Ok((
        Element {
            tag: tag_byte,
            contents,
            raw: &data[..total],
            depth,
        },
        total,
    ))
}

/// Length of the children of an indefinite-length element, up to (not
/// including) its end-of-contents marker.
fn indefinite_body_len(data: &[u8], depth: usize) -> DerResult<usize> {
    let mut pos = 0;
    loop {
        let rest = data.get(pos..).unwrap_or_default();
        if rest.len() < 2 {
            return Err(DerError("missing end-of-contents marker"));
        }
        if rest[0] == 0 && rest[1] == 0 {
            return Ok(pos);
        }
        let (_, used) = parse_element(rest, depth + 1)?;
        pos += used;
    }
}

/// Decodes OBJECT IDENTIFIER contents into dotted form.
pub(crate) fn decode_oid(bytes: &[u8]) -> DerResult<String> {
    if bytes.is_empty() || bytes.len() > 64 {
        return Err(DerError("invalid OBJECT IDENTIFIER length"));
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in bytes {
        if !in_arc && b == 0x80 {
            return Err(DerError("non-minimal OBJECT IDENTIFIER arc"));
        }
        if value > (u64::MAX >> 7) {
            return Err(DerError("OBJECT IDENTIFIER arc too large"));
        }
        value = (value << 7) | u64::from(b & 0x7F);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc {
        return Err(DerError("truncated OBJECT IDENTIFIER"));
    }
    let mut out = String::new();
    let first = arcs.first().copied().unwrap_or_default();
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let _ = write!(out, "{a}.{b}");
    for arc in arcs.iter().skip(1) {
        let _ = write!(out, ".{arc}");
    }
    Ok(out)
}

/// Minimal DER writer for the few structures this crate builds itself
/// (PKCS#8 wrappers for PKCS#1 keys).
pub(crate) fn encode(tag_byte: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag_byte);
    let len = contents.len();
    if len < 0x80 {
        // Truncation is impossible: the branch guarantees len < 128.
        out.push(u8::try_from(len).unwrap_or_default());
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or_default());
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(contents);
    out
}

/// Encodes a dotted OBJECT IDENTIFIER (only used with constants).
pub(crate) fn encode_oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut contents = Vec::new();
    let mut push_arc = |mut value: u64| {
        let mut chunk = vec![(value & 0x7F) as u8];
        value >>= 7;
        while value > 0 {
            chunk.push(0x80 | (value & 0x7F) as u8);
            value >>= 7;
        }
        chunk.reverse();
        contents.extend_from_slice(&chunk);
    };
    if let [first, second, rest @ ..] = arcs.as_slice() {
        push_arc(first * 40 + second);
        for arc in rest {
            push_arc(*arc);
        }
    }
    encode(tag::OID, &contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_round_trip() {
        for dotted in [
            "1.2.840.113549.1.7.1",
            "2.16.840.1.101.3.4.2.1",
            "1.3.101.112",
        ] {
            let der = encode_oid(dotted);
            let element = parse_single(&der).expect("parse");
            assert_eq!(element.oid().expect("oid"), dotted);
        }
    }

    #[test]
    fn indefinite_lengths_and_constructed_octets() {
        // SEQUENCE (indefinite) { OCTET STRING constructed (indefinite) { "ab", "c" } }
        let data = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x00,
            0x00,
        ];
        let outer = parse_single(&data).expect("outer");
        let mut children = outer.children().expect("children");
        let octets = children.next().expect("octets");
        assert_eq!(octets.octets().expect("joined").as_ref(), b"abc");
        assert!(children.is_empty());
    }

    #[test]
    fn rejects_deep_nesting_and_bad_lengths() {
        let mut deep = Vec::new();
        for _ in 0..200 {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(parse_single(&deep).is_err());
        assert!(parse_single(&[0x30, 0x85, 1, 2, 3, 4, 5]).is_err());
        assert!(parse_single(&[0x04, 0x05, 1]).is_err());
        assert!(parse_single(&[0x04, 0x80, 0, 0]).is_err());
    }

    #[test]
    fn integers() {
        let big = parse_single(&[0x02, 0x0A, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0]).expect("int");
        assert_eq!(big.uint_saturating().expect("value"), u64::MAX);
        let small = parse_single(&[0x02, 0x02, 0x08, 0x00]).expect("int");
        assert_eq!(small.uint_saturating().expect("value"), 2048);
        let negative = parse_single(&[0x02, 0x01, 0xFF]).expect("int");
        assert!(negative.uint_saturating().is_err());
    }
}
