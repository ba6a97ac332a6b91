//! The request path as the gateway routes and forwards it, normalised once before routing.
//!
//! A back end behind a shared host often serves several tenants under one origin, and the
//! service URL's base path is what confines an API to its own. A path the gateway routes one
//! way and the back end resolves another (`/a/../tenantB/secret`, `/a/%2e%2e/...`) would
//! carry the API's client certificate and credentials outside that base. So there is one
//! rule, applied before routing, and the back end receives exactly the path that was routed:
//!
//! 1. Percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (RFC 3986
//!    §6.2.2.2); other escapes stay, with upper-case hex (§6.2.2.1).
//! 2. A request is refused (400) when its path holds an encoded `/`, `\` or NUL (`%2F`,
//!    `%5C`, `%00`), a raw `\`, or a malformed escape: back ends that decode them would see
//!    other segments than the gateway routed.
//! 3. Runs of `/` become one (as nginx's `merge_slashes` and Envoy's `merge_slashes` do).
//! 4. `.` and `..` segments are removed (RFC 3986 §5.2.4); a `..` that would climb above the
//!    root is refused (400).
//!
//! A path that needs none of this (the usual case) is used as it is, without allocating.

use std::borrow::Cow;

/// Why a path is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathRefusal {
    /// `%` not followed by two hexadecimal digits.
    #[error("the path holds a malformed percent-escape")]
    MalformedEscape,
    /// An encoded `/`, `\` or NUL, or a raw `\`.
    #[error("the path holds an encoded '/', '\\' or NUL, or a raw '\\'")]
    AmbiguousSeparator,
    /// `..` above the root.
    #[error("the path climbs above the root with '..'")]
    AboveRoot,
}

/// The normalised form of `path` (which starts with `/`, as request paths in origin form do).
///
/// # Errors
/// [`PathRefusal`] for a path the rule refuses.
pub(crate) fn normalise(path: &str) -> Result<Cow<'_, str>, PathRefusal> {
    if is_normal(path.as_bytes()) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path.as_bytes())?;
    let mut out: Vec<&[u8]> = Vec::new();
    let segments: Vec<&[u8]> = decoded.split(|&b| b == b'/').collect();
    // The first piece is what precedes the leading '/': empty for an origin-form path.
    let count = segments.len();
    let mut trailing_slash = false;
    for (i, segment) in segments.into_iter().enumerate().skip(1) {
        let last = i + 1 == count;
        match segment {
            b"" => trailing_slash = last,
            b"." => trailing_slash = true,
            b".." => {
                if out.pop().is_none() {
                    return Err(PathRefusal::AboveRoot);
                }
                trailing_slash = true;
            }
            _ => {
                out.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut normal = Vec::with_capacity(decoded.len());
    for segment in &out {
        normal.push(b'/');
        normal.extend_from_slice(segment);
    }
    if out.is_empty() || trailing_slash {
        normal.push(b'/');
    }
    // Every byte came from the path (ASCII, as a URI is) or from decoding an escape of an
    // unreserved character (ASCII too).
    String::from_utf8(normal)
        .map(Cow::Owned)
        .map_err(|_| PathRefusal::MalformedEscape)
}

/// Whether `path` is already in normal form: no escapes, no backslash, no empty, `.` or `..`
/// segment after the leading slash.
fn is_normal(path: &[u8]) -> bool {
    let mut segment_start = 0;
    for (i, &b) in path.iter().enumerate() {
        match b {
            b'%' | b'\\' => return false,
            b'/' => {
                if i > 0 && !is_plain_segment(&path[segment_start..i]) {
                    return false;
                }
                segment_start = i + 1;
            }
            _ => {}
        }
    }
    // The last segment may be empty (a trailing slash) but not a dot segment.
    let last = &path[segment_start.min(path.len())..];
    last != b"." && last != b".."
}

fn is_plain_segment(segment: &[u8]) -> bool {
    !matches!(segment, b"" | b"." | b"..")
}

/// Decodes escapes of unreserved characters, upper-cases the hex of the others, and refuses
/// the escapes and characters of rule 2.
fn decode_unreserved(path: &[u8]) -> Result<Vec<u8>, PathRefusal> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'\\' => return Err(PathRefusal::AmbiguousSeparator),
            b'%' => {
                let hi = path.get(i + 1).and_then(|b| hex(*b));
                let lo = path.get(i + 2).and_then(|b| hex(*b));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathRefusal::MalformedEscape);
                };
                let byte = hi << 4 | lo;
                if matches!(byte, b'/' | b'\\' | 0) {
                    return Err(PathRefusal::AmbiguousSeparator);
                }
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(byte);
                } else {
                    out.push(b'%');
                    out.push(path[i + 1].to_ascii_uppercase());
                    out.push(path[i + 2].to_ascii_uppercase());
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_borrowed() {
        for path in ["/", "/a", "/a/b/", "/a/b.c/.d/..e/e..", "/a/~x-y_z"] {
            assert!(
                matches!(normalise(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn dot_segments_slashes_and_escapes_are_normalised() {
        for (path, normal) in [
            ("/a/../tenantB/secret", "/tenantB/secret"),
            ("/a/%2e%2e/tenantB", "/tenantB"),
            ("/a/%2E%2e/tenantB", "/tenantB"),
            ("/a//x", "/a/x"),
            ("//a///x//", "/a/x/"),
            ("/a/items/..", "/a/"),
            ("/a/items/.", "/a/items/"),
            ("/a/./b", "/a/b"),
            ("/a/b/../../c", "/c"),
            ("/a/..", "/"),
            ("/%41%7e%2D", "/A~-"),
            ("/a%20b%c3%a9", "/a%20b%C3%A9"),
            ("/a/%2e", "/a/"),
        ] {
            assert_eq!(normalise(path).unwrap(), normal, "{path}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (path, why) in [
            ("/..", PathRefusal::AboveRoot),
            ("/a/../..", PathRefusal::AboveRoot),
            ("/%2e%2e/x", PathRefusal::AboveRoot),
            ("/a%2Fb", PathRefusal::AmbiguousSeparator),
            ("/a%2fb", PathRefusal::AmbiguousSeparator),
            ("/a%5Cb", PathRefusal::AmbiguousSeparator),
            ("/a\\..\\b", PathRefusal::AmbiguousSeparator),
            ("/a%00", PathRefusal::AmbiguousSeparator),
            ("/a%4", PathRefusal::MalformedEscape),
            ("/a%zz", PathRefusal::MalformedEscape),
        ] {
            assert_eq!(normalise(path), Err(why), "{path}");
        }
    }
}
