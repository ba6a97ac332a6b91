//! Small text encodings several crates need the same way.

/// Percent-encodes every byte but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`)
/// and those in `keep`.
pub fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_stay_and_the_rest_is_escaped() {
        assert_eq!(percent_encode("a b/c~é", &[]), "a%20b%2Fc~%C3%A9");
        assert_eq!(percent_encode("a b/c", b"/"), "a%20b/c");
    }
}
