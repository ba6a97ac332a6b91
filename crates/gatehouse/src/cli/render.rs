//! How answers look to people: aligned tables, `key: value` lines, thumbprints and expiry
//! dates made easy to read; and the server's JSON, pretty-printed, for scripts.
//!
//! Everything taken from an answer passes through [`clean`] before it reaches a terminal.

use std::fmt::Write as _;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::clean;

/// The server's JSON as it sent it, pretty-printed. (`serde_json` keeps object keys sorted
/// here and in the server alike, so re-printing changes only the layout.)
pub(super) fn json(value: &Value) -> String {
    format!("{value:#}\n")
}

/// Rows of text under a header, columns aligned.
pub(super) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub(super) fn new(header: &[&'static str]) -> Self {
        Self {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (cells are cleaned of control characters).
    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| clean(c)).collect());
    }

    /// The table, or `empty` on its own line when there are no rows.
    pub(super) fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("{}\n", clean(empty));
        }
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let pad = widths.get(i).copied().unwrap_or(0);
                line.extend(std::iter::repeat_n(
                    ' ',
                    pad.saturating_sub(cell.chars().count()),
                ));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A JSON value as one cell: strings bare, lists joined, `-` for nothing.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_string(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `yes`/`no` for a flag, `-` when absent.
pub(super) fn yes_no(value: &Value) -> String {
    match value.as_bool() {
        Some(true) => "yes".to_string(),
        Some(false) => "no".to_string(),
        None => "-".to_string(),
    }
}

/// A thumbprint with its last four characters set apart (`5E3C1D0A…9F2C`): operators tell
/// certificates apart by them, as the portal and APIM's own do.
pub(super) fn thumbprint(value: &Value) -> String {
    let Some(t) = value.as_str() else {
        return "-".to_string();
    };
    let chars: Vec<char> = t.chars().collect();
    if chars.len() <= 12 {
        return t.to_string();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The expiry date (RFC 3339 date), flagged when past or within 30 days.
pub(super) fn expires(value: &Value, now: OffsetDateTime) -> String {
    let Some(s) = value.as_str() else {
        return "-".to_string();
    };
    let Ok(at) = OffsetDateTime::parse(s, &Rfc3339) else {
        return s.to_string();
    };
    let date = at.date().to_string();
    let days = (at - now).whole_days();
    if at <= now {
        format!("{date} (expired)")
    } else if days < 1 {
        format!("{date} (within a day)")
    } else if days <= 30 {
        format!("{date} (in {days} days)")
    } else {
        date
    }
}

/// An entity as `key: value` lines: its id, then its properties, `first` ones on top and in
/// that order, the rest sorted; nested objects as dotted keys.
pub(super) fn show(entity: &Value, first: &[&str]) -> String {
    let mut lines = Vec::new();
    if let Some(name) = entity.get("name").and_then(Value::as_str) {
        lines.push(("id".to_string(), name.to_string()));
    }
    lines.extend(properties(&entity["properties"], first));
    key_values(&lines)
}

/// An entity's properties as `key: value` lines, `first` ones on top.
pub(super) fn show_properties(entity: &Value, first: &[&str]) -> String {
    key_values(&properties(&entity["properties"], first))
}

/// `props` flattened to `(key, value)` pairs, `first` keys on top.
fn properties(props: &Value, first: &[&str]) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    let Some(map) = props.as_object() else {
        return lines;
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| {
        let rank = first.iter().position(|f| f == k).unwrap_or(first.len());
        (rank, k.as_str())
    });
    for key in keys {
        flatten(key, &map[key.as_str()], &mut lines);
    }
    lines
}

/// Adds `value` under `key`: objects as dotted keys, lists of objects by index.
fn flatten(key: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if map.is_empty() => out.push((key.to_string(), "-".to_string())),
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{key}[{i}]"), v, out);
            }
        }
        other => out.push((key.to_string(), text(other))),
    }
}

/// Pairs as `key: value` lines, values aligned.
fn key_values(lines: &[(String, String)]) -> String {
    let width = lines
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in lines {
        let key = clean(key);
        let pad = width.saturating_sub(key.chars().count());
        let _ = writeln!(out, "{key}: {}{}", " ".repeat(pad), clean(value));
    }
    out
}

/// A usages list (`GET .../usages`) as a table.
pub(super) fn usages(list: &Value, what: &str) -> String {
    let mut table = Table::new(&["TYPE", "REFERENCE", "DESCRIPTION"]);
    for u in items(list) {
        table.row(vec![
            text(&u["type"]),
            text(&u["id"]),
            text(&u["description"]),
        ]);
    }
    table.render(&format!("{what} is not used"))
}

/// The items of a `{"value": [...], "count": n}` list.
pub(super) fn items(list: &Value) -> &[Value] {
    list["value"].as_array().map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn tables_align_by_characters() {
        let mut t = Table::new(&["ID", "THUMBPRINT", "X"]);
        t.row(vec![
            "a".into(),
            thumbprint(&json!("0123456789ABCDEF0123456789ABCDEF01239F2C")),
            "1".into(),
        ]);
        t.row(vec!["longer-id".into(), "-".into(), "2".into()]);
        assert_eq!(
            t.render("none"),
            "ID         THUMBPRINT     X\na          01234567…9F2C  1\nlonger-id  -              2\n"
        );
        assert_eq!(Table::new(&["ID"]).render("nothing here"), "nothing here\n");
    }

    #[test]
    fn expiry_is_flagged() {
        let now = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(expires(&json!("2027-11-23T14:00:00Z"), now), "2027-11-23");
        assert_eq!(
            expires(&json!("2026-01-11T00:00:00Z"), now),
            "2026-01-11 (in 10 days)"
        );
        assert_eq!(
            expires(&json!("2025-12-01T00:00:00Z"), now),
            "2025-12-01 (expired)"
        );
        assert_eq!(expires(&Value::Null, now), "-");
    }

    #[test]
    fn show_flattens_with_chosen_order() {
        let entity = json!({"name": "b1", "properties": {
            "url": "https://x", "tls": {"validateCertificateChain": false, "caCertificateIds": ["a", "b"]},
            "title": "T\u{1b}", "credentials": {}
        }});
        assert_eq!(
            show(&entity, &["url", "title"]),
            "id:                           b1\n\
             url:                          https://x\n\
             title:                        T\\u{1b}\n\
             credentials:                  -\n\
             tls.caCertificateIds:         a, b\n\
             tls.validateCertificateChain: false\n"
        );
    }
}
