//! Generic XML tree that keeps the exact text of every piece of the input.
//!
//! quick-xml tokenizes; every event's raw text is the input slice between the previous event's
//! end and its own end, so concatenating the stored raw pieces gives back the input byte for
//! byte. Edits replace whole pieces (a start tag, a text run, an element) and leave the others
//! alone. quick-xml is lax about several well-formedness rules (attribute syntax, element names,
//! unclosed tags at EOF, several roots, control characters), so those are checked here.

mod parse;

use std::ops::Range;

use crate::error::Location;

pub(crate) use parse::parse;

/// Writing, cloning and dropping the tree recurse, so depth is bounded whatever the limits say;
/// valid documents are at most 4 levels deep.
pub(crate) const HARD_MAX_DEPTH: usize = 256;

/// 1-based line and character column of the first byte of a piece.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: u32,
    pub(crate) column: u32,
}

/// One piece of the document.
#[derive(Clone)]
pub(crate) enum Node {
    Element(Element),
    /// A merged run of character data: plain text, references and CDATA sections.
    Text(Text),
    /// Comments, the XML declaration, a byte order mark: kept verbatim, no meaning.
    Opaque(String),
}

/// Character data with its raw form (for writing) and decoded form (for meaning).
#[derive(Clone)]
pub(crate) struct Text {
    pub(crate) raw: String,
    pub(crate) value: String,
    pub(crate) pos: Pos,
}

impl Text {
    /// Whitespace made for an edit; its position is refreshed by re-reading the document.
    pub(crate) fn whitespace(s: String) -> Self {
        Self {
            raw: s.clone(),
            value: s,
            pos: Pos::default(),
        }
    }

    pub(crate) fn is_whitespace(&self) -> bool {
        self.value.chars().all(is_xml_whitespace)
    }
}

#[derive(Clone)]
pub(crate) struct Element {
    pub(crate) name: String,
    /// Raw start tag (`<name ...>`) or, for a self-closing element, the whole `<name ... />`.
    pub(crate) start: String,
    pub(crate) attrs: Vec<Attr>,
    /// Raw end tag; `None` for a self-closing element.
    pub(crate) end: Option<String>,
    pub(crate) children: Vec<Node>,
    pub(crate) path: String,
    pub(crate) pos: Pos,
}

#[derive(Clone)]
pub(crate) struct Attr {
    pub(crate) name: String,
    /// Normalized and unescaped value.
    pub(crate) value: String,
    /// Byte range of the raw value (between the quotes) inside the start tag.
    span: Range<usize>,
}

impl Element {
    /// A new self-closing element written as `<name a="v" />`, APIM editor style.
    pub(crate) fn new_empty(name: &str, attrs: &[(&str, &str)]) -> Self {
        let mut start = format!("<{name}");
        let mut out_attrs = Vec::with_capacity(attrs.len());
        for (attr_name, value) in attrs {
            start.push(' ');
            start.push_str(attr_name);
            start.push_str("=\"");
            let from = start.len();
            start.push_str(&escape_attribute(value));
            out_attrs.push(Attr {
                name: (*attr_name).to_owned(),
                value: (*value).to_owned(),
                span: from..start.len(),
            });
            start.push('"');
        }
        start.push_str(" />");
        Self {
            name: name.to_owned(),
            start,
            attrs: out_attrs,
            end: None,
            children: Vec::new(),
            path: name.to_owned(),
            pos: Pos::default(),
        }
    }

    pub(crate) fn location(&self) -> Location {
        Location {
            path: self.path.clone(),
            line: self.pos.line,
            column: self.pos.column,
        }
    }

    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }

    pub(crate) fn child_elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    pub(crate) fn child_elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// Replaces the raw value of an attribute, keeping its quotes and everything else of the
    /// start tag; returns false when the element has no such attribute.
    pub(crate) fn set_attr(&mut self, name: &str, value: &str) -> bool {
        let Some(index) = self.attrs.iter().position(|a| a.name == name) else {
            return false;
        };
        let old = self.attrs[index].span.clone();
        let (Some(head), Some(tail)) = (self.start.get(..old.start), self.start.get(old.end..))
        else {
            return false;
        };
        let escaped = escape_attribute(value);
        let new_end = old.start + escaped.len();
        self.start = format!("{head}{escaped}{tail}");
        for attr in &mut self.attrs {
            if attr.span.start >= old.end {
                attr.span = attr.span.start - old.end + new_end..attr.span.end - old.end + new_end;
            }
        }
        let attr = &mut self.attrs[index];
        attr.span = old.start..new_end;
        attr.value = value.to_owned();
        true
    }

    /// Turns `<name ... />` into `<name ...></name>` so that children can be added.
    pub(crate) fn open(&mut self) {
        if self.end.is_some() {
            return;
        }
        if let Some(head) = self.start.strip_suffix("/>") {
            // Attribute spans lie before the trimmed tail, so they stay valid.
            self.start = format!("{}>", head.trim_end());
            self.end = Some(format!("</{}>", self.name));
        }
    }

    pub(crate) fn write(&self, out: &mut String) {
        out.push_str(&self.start);
        if let Some(end) = &self.end {
            write_nodes(&self.children, out);
            out.push_str(end);
        }
    }
}

pub(crate) fn write_nodes(nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Element(e) => e.write(out),
            Node::Text(t) => out.push_str(&t.raw),
            Node::Opaque(s) => out.push_str(s),
        }
    }
}

/// Escapes an attribute value for either quote style; tabs and line breaks become character
/// references because attribute-value normalization would otherwise turn them into spaces.
pub(crate) fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn is_xml_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// XML 1.0 `Char`: refusing the rest early keeps control characters out of every value.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// An approximation of the XML `Name` production, good enough to catch garbage like `< /a>`.
pub(crate) fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let name_start = |c: char| c.is_alphabetic() || c == '_' || c == ':' || !c.is_ascii();
    name_start(first) && chars.all(|c| name_start(c) || c.is_ascii_digit() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests;
