//! Operation URL templates (`/users/{id}`, `/files/*`): parsed and checked at save time,
//! matched on the data path without allocation.

/// Why a URL template is refused, in a sentence that names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// One path segment of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// Matches exactly this text (ASCII case-insensitive, as APIM does).
    Literal(String),
    /// Literal text and `{parameters}` within one segment, e.g. `{name}.json`.
    Pattern(Vec<Part>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(Literal),
    Parameter(String),
}

/// Literal text inside a segment pattern, ready for a case-insensitive search in linear time
/// (Knuth-Morris-Pratt): request paths are attacker-controlled, and matching must not
/// backtrack on them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Literal {
    /// ASCII lower case (templates hold ASCII only).
    lower: Vec<u8>,
    /// `fail[i]`: length of the longest proper prefix of `lower[..=i]` that is also its suffix.
    fail: Vec<usize>,
}

impl Literal {
    fn new(text: &str) -> Self {
        let lower = text.to_ascii_lowercase().into_bytes();
        let mut fail = vec![0; lower.len()];
        let mut k = 0;
        for i in 1..lower.len() {
            while k > 0 && lower[i] != lower[k] {
                k = fail[k - 1];
            }
            if lower[i] == lower[k] {
                k += 1;
            }
            fail[i] = k;
        }
        Self { lower, fail }
    }

    fn len(&self) -> usize {
        self.lower.len()
    }

    /// Whether `text` equals the literal, ignoring ASCII case.
    fn equals(&self, text: &[u8]) -> bool {
        text.eq_ignore_ascii_case(&self.lower)
    }

    /// Where the literal first occurs in `hay`, ignoring ASCII case.
    fn find(&self, hay: &[u8]) -> Option<usize> {
        let pattern = &self.lower;
        if pattern.is_empty() {
            return Some(0);
        }
        let mut k = 0;
        for (i, b) in hay.iter().enumerate() {
            let b = b.to_ascii_lowercase();
            while k > 0 && pattern[k] != b {
                k = self.fail[k - 1];
            }
            if pattern[k] == b {
                k += 1;
            }
            if k == pattern.len() {
                return Some(i + 1 - k);
            }
        }
        None
    }
}

/// A compiled URL template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate {
    source: String,
    segments: Vec<Segment>,
    /// Ends in `/*`: matches any rest of the path, including none.
    wildcard: bool,
}

/// Longest template accepted.
const MAX_TEMPLATE_LEN: usize = 1000;

impl UrlTemplate {
    /// Parses a template: starts with `/`; segments of literal text and `{name}` parameters;
    /// an optional final `*` segment.
    ///
    /// # Errors
    /// [`TemplateError`]: a sentence naming what is wrong.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        Self::parse_inner(source).map_err(TemplateError)
    }

    fn parse_inner(source: &str) -> Result<Self, String> {
        let shown = crate::printable(source);
        if !source.starts_with('/') {
            return Err(format!("'{shown}' must start with '/'"));
        }
        if source.len() > MAX_TEMPLATE_LEN {
            return Err(format!("must be at most {MAX_TEMPLATE_LEN} characters"));
        }
        if source.contains('?') || source.contains('#') {
            return Err(format!(
                "'{shown}': query parameters in templates are not supported yet"
            ));
        }
        let body = &source[1..];
        let raw: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        let mut segments = Vec::with_capacity(raw.len());
        let mut wildcard = false;
        let mut names: Vec<String> = Vec::new();
        for (i, seg) in raw.iter().enumerate() {
            let last = i + 1 == raw.len();
            if *seg == "*" {
                if !last {
                    return Err(format!("'{shown}': '*' may only be the last segment"));
                }
                wildcard = true;
                continue;
            }
            if seg.is_empty() && !last {
                return Err(format!("'{shown}' has an empty segment"));
            }
            segments.push(parse_segment(seg, &shown, &mut names)?);
        }
        // A trailing slash ("/users/") parses as a final empty literal; drop it so that
        // "/users/" and "/users" mean the same, as they do to most back ends.
        if segments.last() == Some(&Segment::Literal(String::new())) {
            segments.pop();
        }
        Ok(UrlTemplate {
            source: source.to_string(),
            segments,
            wildcard,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `path` (below the API path, starting with `/` or empty) matches.
    pub fn matches(&self, path: &str) -> bool {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        // "" has no segments (not one empty one), so "/" matches only the root template.
        let mut parts = (!trimmed.is_empty())
            .then(|| trimmed.split('/'))
            .into_iter()
            .flatten();
        for seg in &self.segments {
            let Some(actual) = parts.next() else {
                return false;
            };
            if !segment_matches(seg, actual) {
                return false;
            }
        }
        self.wildcard || parts.next().is_none()
    }

    /// Ordering key: more literal segments first, then more segments, then no wildcard.
    /// The router tries templates in descending specificity, so `/users/me` wins over
    /// `/users/{id}`, which wins over `/users/*` and `/*`.
    pub fn specificity(&self) -> (usize, usize, bool) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (literals, self.segments.len(), !self.wildcard)
    }
}

fn parse_segment(seg: &str, shown: &str, names: &mut Vec<String>) -> Result<Segment, String> {
    if !seg.contains('{') && !seg.contains('}') {
        check_literal(seg, shown)?;
        return Ok(Segment::Literal(seg.to_string()));
    }
    let mut parts = Vec::new();
    let mut rest = seg;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let end = after
                .find('}')
                .ok_or_else(|| format!("'{shown}': '{{' without a closing '}}'"))?;
            let name = &after[..end];
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "'{shown}': parameter names use letters, digits, '_' and '-'"
                ));
            }
            if names.iter().any(|n| n == name) {
                return Err(format!("'{shown}': parameter '{name}' appears twice"));
            }
            if matches!(parts.last(), Some(Part::Parameter(_))) {
                return Err(format!(
                    "'{shown}': two parameters need literal text between them"
                ));
            }
            names.push(name.to_string());
            parts.push(Part::Parameter(name.to_string()));
            rest = &after[end + 1..];
        } else {
            let end = rest.find('{').unwrap_or(rest.len());
            let literal = &rest[..end];
            if literal.contains('}') {
                return Err(format!("'{shown}': '}}' without an opening '{{'"));
            }
            check_literal(literal, shown)?;
            parts.push(Part::Literal(Literal::new(literal)));
            rest = &rest[end..];
        }
    }
    Ok(Segment::Pattern(parts))
}

fn check_literal(text: &str, shown: &str) -> Result<(), String> {
    if text == "." || text == ".." {
        return Err(format!("'{shown}' has a '.' or '..' segment"));
    }
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "'{shown}' holds characters a URL path cannot carry unencoded"
        ))
    }
}

fn segment_matches(seg: &Segment, actual: &str) -> bool {
    match seg {
        Segment::Literal(lit) => lit.eq_ignore_ascii_case(actual),
        Segment::Pattern(parts) => pattern_matches(parts, actual),
    }
}

/// Matches a segment against literal parts and parameters, in time linear in the segment.
///
/// Parts alternate (parse refuses two adjacent parameters) and a parameter takes at least one
/// character. A leading literal must be the segment's prefix and a trailing one its suffix;
/// every literal in between is taken at its earliest occurrence that leaves its parameter a
/// character. Taking the earliest occurrence is never worse than a later one (it leaves more
/// of the segment for the rest), so no choice is ever revisited.
fn pattern_matches(parts: &[Part], actual: &str) -> bool {
    let bytes = actual.as_bytes();
    let (mut start, mut end) = (0, bytes.len());
    let mut parts = parts;
    if let Some((Part::Literal(first), rest)) = parts.split_first() {
        if bytes.len() < first.len() || !first.equals(&bytes[..first.len()]) {
            return false;
        }
        start = first.len();
        parts = rest;
    }
    if let Some((Part::Literal(last), rest)) = parts.split_last() {
        if end - start < last.len() || !last.equals(&bytes[end - last.len()..]) {
            return false;
        }
        end -= last.len();
        parts = rest;
    }
    // Left: nothing (only literals, which parse never makes a pattern of), or a parameter,
    // then pairs of literal and parameter.
    let Some((Part::Parameter(_), mut rest)) = parts.split_first() else {
        return parts.is_empty() && start == end;
    };
    while let Some((Part::Literal(literal), after)) = rest.split_first() {
        // The parameter before the literal takes at least one character.
        let from = start + 1;
        let Some(found) = bytes.get(from..end).and_then(|hay| literal.find(hay)) else {
            return false;
        };
        start = from + found + literal.len();
        // Then comes another parameter (parts alternate and the last literal is gone).
        rest = after.get(1..).unwrap_or_default();
    }
    // The last parameter takes what is left, at least one character.
    start < end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> UrlTemplate {
        UrlTemplate::parse(s).unwrap()
    }

    #[test]
    fn literal_parameter_and_wildcard_matches() {
        let cases = [
            ("/", "/", true),
            ("/", "", true),
            ("/", "/x", false),
            ("/users", "/users", true),
            ("/users", "/USERS/", true),
            ("/users", "/users/1", false),
            ("/users/{id}", "/users/42", true),
            ("/users/{id}", "/users/", false),
            ("/users/{id}", "/users/42/x", false),
            ("/files/{name}.json", "/files/a.b.json", true),
            ("/files/{name}.json", "/files/.json", false),
            ("/files/{name}.json", "/files/a.xml", false),
            ("/*", "/", true),
            ("/*", "/a/b/c", true),
            ("/files/*", "/files", true),
            ("/files/*", "/files/a/b", true),
            ("/files/*", "/filesx", false),
            ("/a/{x}-{y}", "/a/1-2", true),
            ("/a/{x}-{y}", "/a/1-", false),
            ("/a/{x}-{y}", "/a/-2", false),
            ("/a/{x}-{y}", "/a/1--2", true),
            ("/f/{a}-{b}-{c}.json", "/f/1-2-3.json", true),
            ("/f/{a}-{b}-{c}.json", "/f/1--2-3.JSON", true),
            ("/f/{a}-{b}-{c}.json", "/f/1-2.json", false),
            ("/f/{a}-{b}-{c}.json", "/f/1-2-.json", false),
            ("/f/x{a}y", "/f/xy", false),
            ("/f/x{a}y", "/f/xay", true),
            ("/f/x{a}y", "/f/XaaY", true),
            ("/f/x{a}xy{b}", "/f/xaxyxyb", true),
            ("/f/{a}aab", "/f/aaaab", true),
            ("/f/{a}abab{b}", "/f/xababab", true),
            ("/f/{a}abab{b}", "/f/xabab", false),
        ];
        for (template, path, expected) in cases {
            assert_eq!(t(template).matches(path), expected, "{template} vs {path}");
        }
    }

    /// A regression: matching backtracked, and a segment of 2,000 dashes against three
    /// parameters took half a second. Work is now linear in the path; a generous bound keeps
    /// the test meaningful on a slow, loaded debug build.
    #[test]
    fn hostile_segments_match_in_linear_time() {
        let template = t("/files/{a}-{b}-{c}.json");
        for len in [2_000, 100_000] {
            let path = format!("/files/{}", "-".repeat(len));
            let started = std::time::Instant::now();
            assert!(!template.matches(&path));
            let near = format!("/files/a{}b-c.jsoN", "-".repeat(len));
            assert!(template.matches(&near));
            assert!(
                started.elapsed() < std::time::Duration::from_millis(200),
                "{len}: {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn bad_templates_are_refused_with_reasons() {
        for (bad, needle) in [
            ("users", "start with '/'"),
            ("/a/*/b", "last segment"),
            ("/a//b", "empty segment"),
            ("/a/{", "closing"),
            ("/a/}", "opening"),
            ("/a/{x}{y}", "literal text between"),
            ("/a/{x}/{x}", "twice"),
            ("/a/{ x }", "parameter names"),
            ("/a?b={b}", "query"),
            ("/a/..", "'..'"),
            ("/a b", "unencoded"),
        ] {
            let err = UrlTemplate::parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn specificity_orders_literal_before_parameter_before_wildcard() {
        let mut list = [t("/*"), t("/users/{id}"), t("/users/me"), t("/users/*")];
        list.sort_by_key(|t| std::cmp::Reverse(t.specificity()));
        let order: Vec<_> = list.iter().map(UrlTemplate::as_str).collect();
        assert_eq!(order, ["/users/me", "/users/{id}", "/users/*", "/*"]);
    }
}
