//! Lists as APIM answers them: `$filter` (OData comparisons joined by `and` / `or`), `$top`,
//! `$skip`, and a `nextLink` when a page ends before the list does.
//!
//! A filter names fields of an item's `properties` (or the item itself: `name`) by path,
//! `keyVault/lastStatus/code`; values are `'text'` (quotes doubled inside), numbers, `true`,
//! `false` or `null`. Dates compare as dates (`expirationDate lt '2027-01-01'`).

use axum::Json;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse as _, Response};
use http::request::Parts;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::error::ApiError;

/// Longest `$filter` accepted.
const MAX_FILTER: usize = 1024;

/// The list options of a `GET` of a collection.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    path: String,
    filter_text: Option<String>,
    filter: Option<Expr>,
    top: Option<usize>,
    skip: usize,
    /// APIM's `isKeyVaultRefreshFailed=true` on `/certificates`.
    pub(crate) refresh_failed: bool,
}

impl FromRequestParts<AppState> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let mut query = ListQuery {
            path: parts.uri.path().to_owned(),
            ..ListQuery::default()
        };
        for pair in parts.uri.query().unwrap_or_default().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)
                .ok_or_else(|| bad(&format!("the value of {key} is not valid percent-encoding")))?;
            match decode(key).as_deref() {
                Some("$filter") => {
                    if value.len() > MAX_FILTER {
                        return Err(bad(&format!("$filter is longer than {MAX_FILTER} bytes")));
                    }
                    query.filter = Some(parse(&value)?);
                    query.filter_text = Some(value);
                }
                Some("$top") => {
                    query.top = Some(
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| bad("$top must be a positive whole number"))?,
                    );
                }
                Some("$skip") => {
                    query.skip = value
                        .parse()
                        .map_err(|_| bad("$skip must be a whole number"))?;
                }
                Some("isKeyVaultRefreshFailed") => {
                    query.refresh_failed = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("isKeyVaultRefreshFailed must be true or false")),
                    };
                }
                // Other parameters (api-version, ...) are APIM's business, not ours.
                _ => {}
            }
        }
        Ok(query)
    }
}

impl ListQuery {
    /// `{"value": [...], "count": n, "nextLink": ...}` of the items that pass the filter.
    pub(crate) fn respond(&self, items: Vec<Value>) -> Response {
        Json(self.page(items)).into_response()
    }

    fn page(&self, items: Vec<Value>) -> Value {
        let matching: Vec<Value> = items
            .into_iter()
            .filter(|item| self.filter.as_ref().is_none_or(|f| f.eval(item)))
            .collect();
        let count = matching.len();
        let end = self
            .top
            .map_or(count, |top| self.skip.saturating_add(top).min(count));
        let page: Vec<Value> = matching
            .into_iter()
            .skip(self.skip)
            .take(end.saturating_sub(self.skip))
            .collect();
        let mut body = json!({"value": page, "count": count});
        if let Some(top) = self.top
            && end < count
        {
            let mut link = format!("{}?$top={top}&$skip={end}", self.path);
            if let Some(filter) = &self.filter_text {
                link.push_str("&$filter=");
                link.push_str(&encode(filter));
            }
            body["nextLink"] = json!(link);
        }
        body
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::bad_request("InvalidQuery", message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
enum Expr {
    Compare(Vec<String>, Op, Value),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn eval(&self, item: &Value) -> bool {
        match self {
            Self::And(a, b) => a.eval(item) && b.eval(item),
            Self::Or(a, b) => a.eval(item) || b.eval(item),
            Self::Compare(path, op, want) => {
                let found = lookup(item, path);
                compare(found, *op, want)
            }
        }
    }
}

/// `properties/...` first, then the item itself (`name`, `id`).
fn lookup<'a>(item: &'a Value, path: &[String]) -> &'a Value {
    let walk = |mut v: &'a Value| {
        for segment in path {
            v = v.get(segment.as_str()).unwrap_or(&Value::Null);
        }
        v
    };
    match walk(&item["properties"]) {
        Value::Null => walk(item),
        found => found,
    }
}

fn compare(found: &Value, op: Op, want: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (found, want) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::String(a), Value::String(b)) => match (date(a), date(b)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(a.as_str().cmp(b.as_str())),
        },
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ordering) {
        (Op::Eq, o) => o == Some(Ordering::Equal),
        (Op::Ne, o) => o != Some(Ordering::Equal),
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (_, None) => false,
    }
}

/// RFC 3339, or a bare date (midnight UTC).
fn date(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text, &format)
            .ok()
            .map(|d| d.midnight().assume_utc())
    })
}

/// Parses a filter: `cmp (and|or cmp)*`, `and` binding tighter, parentheses allowed.
fn parse(text: &str) -> Result<Expr, ApiError> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, at: 0 };
    let expr = p.or()?;
    if p.at != p.tokens.len() {
        return Err(bad("$filter has something after a complete expression"));
    }
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(Value),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ApiError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(bad("$filter has an unterminated 'text'")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Literal(Value::String(s)));
        } else {
            let start = i;
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '(' | ')' | '\'')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(match word.as_str() {
                "true" => Token::Literal(Value::Bool(true)),
                "false" => Token::Literal(Value::Bool(false)),
                "null" => Token::Literal(Value::Null),
                w if w.parse::<f64>().is_ok()
                    && w.starts_with(|c: char| c.is_ascii_digit() || c == '-') =>
                {
                    Token::Literal(
                        serde_json::from_str(w)
                            .map_err(|_| bad("$filter has a malformed number"))?,
                    )
                }
                _ => Token::Word(word),
            });
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.term()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, ApiError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(bad("$filter has an unclosed parenthesis")),
                }
            }
            Some(Token::Word(field)) => {
                let path: Vec<String> = field.split('/').map(str::to_owned).collect();
                if path.iter().any(|s| {
                    s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                }) {
                    return Err(bad(&format!("$filter: '{field}' is not a field path")));
                }
                let op = match self.next() {
                    Some(Token::Word(op)) => match op.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        other => {
                            return Err(bad(&format!(
                                "$filter: '{other}' is not a comparison (eq, ne, lt, le, gt, ge)"
                            )));
                        }
                    },
                    _ => return Err(bad(&format!("$filter: '{field}' needs a comparison"))),
                };
                match self.next() {
                    Some(Token::Literal(value)) => Ok(Expr::Compare(path, op, value)),
                    _ => Err(bad(
                        "$filter: a comparison needs a value ('text', a number, true, false or null)",
                    )),
                }
            }
            _ => Err(bad("$filter: expected a field name or a parenthesis")),
        }
    }
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn encode(text: &str) -> String {
    gatehouse_model::text::percent_encode(text, b"/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(code: &str, expires: &str) -> Value {
        json!({"name": "c", "properties": {"expirationDate": expires,
            "keyVault": {"lastStatus": {"code": code}}}})
    }

    #[test]
    fn filters_compare_paths_dates_and_combine() {
        let ok = item("Success", "2027-03-01T00:00:00Z");
        let failed = item("Unauthorized", "2026-12-20T10:00:00Z");
        let uploaded =
            json!({"name": "u", "properties": {"expirationDate": "2026-12-10T00:00:00Z"}});
        let f = parse("keyVault/lastStatus/code ne 'Success'").unwrap();
        assert!(!f.eval(&ok) && f.eval(&failed));
        // No keyVault at all is "not Success" too, as in OData.
        assert!(f.eval(&uploaded));
        let f = parse("keyVault/lastStatus/code ne 'Success' and keyVault/lastStatus/code ne null")
            .unwrap();
        assert!(f.eval(&failed) && !f.eval(&uploaded));
        let f = parse("expirationDate lt '2027-01-01'").unwrap();
        assert!(!f.eval(&ok) && f.eval(&failed) && f.eval(&uploaded));
        let f = parse("(name eq 'u' or name eq 'x') and expirationDate ge '2026-12-10'").unwrap();
        assert!(f.eval(&uploaded) && !f.eval(&ok));
        let f = parse("name eq 'it''s'").unwrap();
        assert!(!f.eval(&ok));
    }

    #[test]
    fn bad_filters_say_why() {
        for (text, says) in [
            ("name", "needs a comparison"),
            ("name like 'x'", "not a comparison"),
            ("name eq", "needs a value"),
            ("name eq 'x", "unterminated"),
            ("(name eq 'x'", "unclosed"),
            ("name eq 'x' extra", "after a complete"),
            ("na-me eq 'x'", "not a field path"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(says), "{text}: {}", e.message);
        }
    }

    #[test]
    fn pages_have_next_links_until_the_end() {
        let q = ListQuery {
            path: "/certificates".into(),
            top: Some(2),
            skip: 2,
            filter_text: Some("name ne 'x'".into()),
            filter: Some(parse("name ne 'x'").unwrap()),
            refresh_failed: false,
        };
        let items: Vec<Value> = (0..5).map(|i| json!({"name": format!("c{i}")})).collect();
        let page = q.page(items.clone());
        assert_eq!(page["value"], json!([{"name": "c2"}, {"name": "c3"}]));
        assert_eq!(page["count"], json!(5));
        assert_eq!(
            page["nextLink"],
            json!("/certificates?$top=2&$skip=4&$filter=name%20ne%20%27x%27")
        );
        let last = ListQuery { skip: 4, ..q }.page(items);
        assert_eq!(last["value"], json!([{"name": "c4"}]));
        assert!(last.get("nextLink").is_none());
    }
}
