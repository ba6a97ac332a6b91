//! Chunked bodies, checked and passed on as they stream: the chunks keep their sizes and
//! their data, the size lines are written anew without extensions, and trailers are dropped
//! (the last chunk ends the body). A malformed framing stops the body at once, before a byte
//! past the error is passed on, so a smuggled request inside a body never reaches a back end.

/// Why a chunked body is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChunkError {
    /// The size is not hexadecimal, or too large.
    #[error("invalid chunk size")]
    Size,
    /// A line does not end with CRLF, or data is longer than its size.
    #[error("invalid chunk framing")]
    Framing,
    /// The trailers are too large.
    #[error("chunked trailers too large")]
    Trailers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the size's hex digits.
    Size { value: u64, digits: u8 },
    /// Spaces after the size, before `;` or CR.
    SizeSpace { value: u64 },
    /// After `;`: an extension, up to CR.
    Extension { value: u64 },
    /// Saw CR of the size line.
    SizeLf { value: u64 },
    /// Reading data.
    Data { left: u64 },
    /// Expecting CR after the data.
    DataCr,
    /// Expecting LF after the data.
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// Saw CR at the end of a trailer line (`done` when the line was empty).
    TrailerLf { done: bool },
    /// The body is over.
    Done,
}

/// Most bytes of trailers read (and dropped).
const MAX_TRAILERS: usize = 16 * 1024;

/// A chunked body decoder that re-encodes as it goes.
#[derive(Debug)]
pub(crate) struct Chunked {
    state: State,
    trailer_bytes: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Self {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            trailer_bytes: 0,
        }
    }
}

impl Chunked {
    /// Whether the last chunk and its trailers have been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads from `input` and appends the re-encoded body to `out`; returns how many bytes of
    /// `input` it used (all of them, unless the body ended inside it).
    ///
    /// # Errors
    /// [`ChunkError`] at the first byte that breaks the framing.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                State::Size { value, digits } => match hex(b) {
                    Some(d) => {
                        if digits == 16 {
                            return Err(ChunkError::Size);
                        }
                        State::Size {
                            value: (value << 4) | u64::from(d),
                            digits: digits + 1,
                        }
                    }
                    None if digits == 0 => return Err(ChunkError::Size),
                    None => match b {
                        b'\r' => State::SizeLf { value },
                        b'\n' => return Err(ChunkError::Framing),
                        b';' => State::Extension { value },
                        b' ' | b'\t' => State::SizeSpace { value },
                        _ => return Err(ChunkError::Size),
                    },
                },
                State::SizeSpace { value } => match b {
                    b' ' | b'\t' => State::SizeSpace { value },
                    b';' => State::Extension { value },
                    _ => return Err(ChunkError::Size),
                },
                State::Extension { value } => match b {
                    b'\r' => State::SizeLf { value },
                    b'\n' => return Err(ChunkError::Framing),
                    _ => State::Extension { value },
                },
                State::SizeLf { value } => {
                    if b != b'\n' {
                        return Err(ChunkError::Framing);
                    }
                    if value == 0 {
                        out.extend_from_slice(b"0\r\n");
                        State::TrailerStart
                    } else {
                        write_size(value, out);
                        State::Data { left: value }
                    }
                }
                State::Data { left } => {
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - i);
                    out.extend_from_slice(&input[i..i + n]);
                    i += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                    continue;
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError::Framing);
                    }
                    State::DataLf
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Framing);
                    }
                    out.extend_from_slice(b"\r\n");
                    State::Size {
                        value: 0,
                        digits: 0,
                    }
                }
                State::TrailerStart => match b {
                    b'\r' => State::TrailerLf { done: true },
                    b'\n' => return Err(ChunkError::Framing),
                    _ => {
                        self.trailer_bytes += 1;
                        State::Trailer
                    }
                },
                State::Trailer => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(ChunkError::Trailers);
                    }
                    match b {
                        b'\r' => State::TrailerLf { done: false },
                        b'\n' => return Err(ChunkError::Framing),
                        _ => State::Trailer,
                    }
                }
                State::TrailerLf { done } => {
                    if b != b'\n' {
                        return Err(ChunkError::Framing);
                    }
                    if done {
                        out.extend_from_slice(b"\r\n");
                        i += 1;
                        self.state = State::Done;
                        return Ok(i);
                    }
                    State::TrailerStart
                }
                State::Done => return Ok(i),
            };
            i += 1;
        }
        Ok(i)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `{size:x}\r\n` without formatting machinery.
fn write_size(value: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 16];
    let mut n = 0;
    let mut v = value;
    loop {
        digits[n] = b"0123456789abcdef"[(v & 0xf) as usize];
        n += 1;
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.extend(digits[..n].iter().rev());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut c = Chunked::default();
        let mut out = Vec::new();
        let mut used = 0;
        for piece in input.chunks(step) {
            let n = c.feed(piece, &mut out)?;
            used += n;
            if c.is_done() {
                break;
            }
        }
        Ok((out, used, c.is_done()))
    }

    #[test]
    fn bodies_are_re_encoded_whatever_the_reads() {
        let body = b"5;ext=1\r\nhello\r\n1A \t;x\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: t\r\n\r\nGET /next";
        for step in [1, 2, 3, 7, 100] {
            let (out, used, done) = run(body, step).unwrap();
            assert!(done, "{step}");
            assert_eq!(
                out,
                b"5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n".to_vec(),
                "{step}"
            );
            assert_eq!(&body[used..], b"GET /next", "{step}");
        }
    }

    #[test]
    fn malformed_framing_is_refused() {
        for (body, error) in [
            (&b"ffffffffffffffffff\r\n"[..], ChunkError::Size),
            (b"g\r\n", ChunkError::Size),
            (b"\r\n", ChunkError::Size),
            (b"5\nhello\r\n", ChunkError::Framing),
            (b"3\r\nhello\r\n", ChunkError::Framing),
            (b"5\r\nhello\n", ChunkError::Framing),
            (b"5 x\r\n", ChunkError::Size),
            (b"0\r\n\n", ChunkError::Framing),
        ] {
            assert_eq!(
                run(body, 1).err(),
                Some(error),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let mut huge = b"0\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'x', MAX_TRAILERS + 10));
        assert_eq!(run(&huge, 1000).err(), Some(ChunkError::Trailers));
    }

    #[test]
    fn sizes_are_written_in_lower_case_hex() {
        let mut out = Vec::new();
        for v in [1, 15, 16, 255, 4096, u64::MAX] {
            out.clear();
            write_size(v, &mut out);
            assert_eq!(out, format!("{v:x}\r\n").into_bytes());
        }
    }
}
