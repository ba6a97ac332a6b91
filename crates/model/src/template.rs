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
    Literal(String),
    Parameter(String),
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
            parts.push(Part::Literal(literal.to_string()));
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

/// Matches literal parts in order; a parameter takes the shortest non-empty run up to the
/// next literal (or the rest of the segment when it is last).
fn pattern_matches(parts: &[Part], actual: &str) -> bool {
    match parts.split_first() {
        None => actual.is_empty(),
        Some((Part::Literal(lit), rest)) => {
            actual.len() >= lit.len()
                && actual.is_char_boundary(lit.len())
                && actual[..lit.len()].eq_ignore_ascii_case(lit)
                && pattern_matches(rest, &actual[lit.len()..])
        }
        Some((Part::Parameter(_), rest)) => match rest.first() {
            None => !actual.is_empty(),
            Some(Part::Literal(next)) => {
                let lower = actual.to_ascii_lowercase();
                let next = next.to_ascii_lowercase();
                lower
                    .match_indices(&next)
                    .filter(|(i, _)| *i > 0)
                    .any(|(i, _)| pattern_matches(rest, &actual[i..]))
            }
            // Unreachable by construction: parse refuses two adjacent parameters.
            Some(Part::Parameter(_)) => false,
        },
    }
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
        ];
        for (template, path, expected) in cases {
            assert_eq!(t(template).matches(path), expected, "{template} vs {path}");
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
