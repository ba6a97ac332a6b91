//! Reading text into the tree: quick-xml events plus the well-formedness checks it leaves out,
//! the limits, and positions for messages.

use std::ops::Range;

use quick_xml::Reader;
use quick_xml::escape::{resolve_xml_entity, unescape_with};
use quick_xml::events::Event;

use super::{
    Attr, Element, HARD_MAX_DEPTH, Node, Pos, Text, is_xml_char, is_xml_name, is_xml_whitespace,
};
use crate::Limits;
use crate::error::{Location, PolicyError, PolicyErrorCode};

/// Turns byte offsets (which only grow while reading) into line/column positions in linear time.
struct Cursor<'a> {
    text: &'a str,
    offset: usize,
    pos: Pos,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            offset: 0,
            pos: Pos { line: 1, column: 1 },
        }
    }

    fn at(&mut self, offset: usize) -> Pos {
        if offset < self.offset {
            // Only error positions can lie behind; start over rather than be wrong.
            *self = Self::new(self.text);
        }
        let Some(slice) = self.text.get(self.offset..offset) else {
            return self.pos;
        };
        for c in slice.chars() {
            if c == '\n' {
                self.pos.line = self.pos.line.saturating_add(1);
                self.pos.column = 1;
            } else {
                self.pos.column = self.pos.column.saturating_add(1);
            }
        }
        self.offset = offset;
        self.pos
    }
}

fn at_text(pos: Pos) -> String {
    format!("line {}, column {}", pos.line, pos.column)
}

fn located(path: &str, pos: Pos) -> Location {
    Location {
        path: path.to_owned(),
        line: pos.line,
        column: pos.column,
    }
}

struct Frame {
    element: Element,
    /// How many children of each name were seen, for the `[n]` in paths.
    counts: Vec<(String, u32)>,
}

/// Builds the tree, checking well-formedness and the limits but not the policy schema.
struct Builder<'a> {
    body: &'a str,
    limits: &'a Limits,
    cursor: Cursor<'a>,
    top: Vec<Node>,
    stack: Vec<Frame>,
    top_counts: Vec<(String, u32)>,
    roots: usize,
    elements: usize,
    errors: Vec<PolicyError>,
}

/// Parses `xml` into nodes.
///
/// Syntax problems end the parse at once (quick-xml cannot resume after them), as do the limits
/// and a DOCTYPE; other problems are collected and reported together.
pub(crate) fn parse(xml: &str, limits: &Limits) -> Result<Vec<Node>, Vec<PolicyError>> {
    if xml.len() > limits.max_bytes {
        return Err(vec![PolicyError::new(
            PolicyErrorCode::TooLarge,
            Location::document(),
            format!(
                "the policy document is {} bytes; at most {} bytes are allowed",
                xml.len(),
                limits.max_bytes
            ),
        )]);
    }
    // quick-xml skips a byte order mark without counting it in its offsets, which would shift
    // every raw slice, so it is split off here and kept as its own piece.
    let (bom, body) = match xml.strip_prefix('\u{feff}') {
        Some(rest) => (true, rest),
        None => (false, xml),
    };
    let mut builder = Builder {
        body,
        limits,
        cursor: Cursor::new(body),
        top: Vec::new(),
        stack: Vec::new(),
        top_counts: Vec::new(),
        roots: 0,
        elements: 0,
        errors: Vec::new(),
    };
    if bom {
        builder.top.push(Node::Opaque("\u{feff}".to_owned()));
    }
    if let Some((offset, c)) = body.char_indices().find(|&(_, c)| !is_xml_char(c)) {
        let pos = builder.cursor.at(offset);
        builder.fatal(
            PolicyErrorCode::XmlMalformed,
            located("", pos),
            format!(
                "malformed XML at {}: character U+{:04X} is not allowed in XML",
                at_text(pos),
                u32::from(c)
            ),
        );
        return Err(builder.errors);
    }
    match builder.run() {
        Ok(()) if builder.errors.is_empty() => Ok(builder.top),
        _ => Err(builder.errors),
    }
}

/// Marks a problem that stops the parse.
struct Stop;

impl<'a> Builder<'a> {
    fn fatal(&mut self, kind: PolicyErrorCode, location: Location, message: String) -> Stop {
        self.errors.push(PolicyError::new(kind, location, message));
        Stop
    }

    fn error(&mut self, kind: PolicyErrorCode, location: Location, message: String) {
        self.errors.push(PolicyError::new(kind, location, message));
    }

    fn current_path(&self) -> String {
        self.stack
            .last()
            .map(|f| f.element.path.clone())
            .unwrap_or_default()
    }

    fn run(&mut self) -> Result<(), Stop> {
        let body = self.body;
        let mut reader = Reader::from_str(body);
        let config = reader.config_mut();
        config.check_comments = true;
        config.check_end_names = true;
        config.trim_text(false);
        config.expand_empty_elements = false;
        let mut prev = 0usize;
        loop {
            let event = reader.read_event();
            let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match event {
                Ok(Event::Eof) => break,
                Ok(event) => event,
                Err(e) => {
                    let at = usize::try_from(reader.error_position()).unwrap_or(prev);
                    let pos = self.cursor.at(at.min(self.body.len()));
                    let path = self.current_path();
                    let message = format!("malformed XML at {}: {e}", at_text(pos));
                    return Err(self.fatal(
                        PolicyErrorCode::XmlMalformed,
                        located(&path, pos),
                        message,
                    ));
                }
            };
            let Some(raw) = body.get(prev..end) else {
                let pos = self.cursor.at(prev);
                return Err(self.fatal(
                    PolicyErrorCode::XmlMalformed,
                    located("", pos),
                    format!("malformed XML at {}: cannot split the input", at_text(pos)),
                ));
            };
            let pos = self.cursor.at(prev);
            self.event(event, raw, prev, pos)?;
            prev = end;
        }
        if let Some(frame) = self.stack.last() {
            let element = &frame.element;
            let message = format!(
                "malformed XML: <{}> at {} ({}) is never closed",
                element.name,
                element.path,
                at_text(element.pos)
            );
            let location = element.location();
            return Err(self.fatal(PolicyErrorCode::XmlMalformed, location, message));
        }
        if self.roots == 0 {
            return Err(self.fatal(
                PolicyErrorCode::XmlMalformed,
                Location::document(),
                "the policy document is empty: expected a <policies> root element".to_owned(),
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, raw: &str, offset: usize, pos: Pos) -> Result<(), Stop> {
        let is_empty = matches!(event, Event::Empty(_));
        match event {
            Event::Decl(_) => {
                if offset != 0 {
                    let path = self.current_path();
                    self.error(
                        PolicyErrorCode::XmlMalformed,
                        located(&path, pos),
                        format!(
                            "malformed XML at {}: the XML declaration must be at the very start \
                             of the document",
                            at_text(pos)
                        ),
                    );
                }
                self.push(Node::Opaque(raw.to_owned()));
            }
            Event::PI(_) => {
                let path = self.current_path();
                self.error(
                    PolicyErrorCode::ProcessingInstructionNotAllowed,
                    located(&path, pos),
                    format!(
                        "processing instruction {} at {} is not allowed; only the XML \
                         declaration <?xml ...?> may appear",
                        snippet(raw),
                        at_text(pos)
                    ),
                );
                self.push(Node::Opaque(raw.to_owned()));
            }
            Event::DocType(_) => {
                // Refusing the DOCTYPE outright means no entity is ever defined, let alone
                // expanded.
                return Err(self.fatal(
                    PolicyErrorCode::DoctypeNotAllowed,
                    located("", pos),
                    format!(
                        "DOCTYPE is not allowed in a policy document (found at {}); entity \
                         definitions are not supported",
                        at_text(pos)
                    ),
                ));
            }
            Event::Comment(_) => self.push(Node::Opaque(raw.to_owned())),
            Event::Text(_) => {
                if raw.contains("]]>") {
                    let path = self.current_path();
                    self.error(
                        PolicyErrorCode::XmlMalformed,
                        located(&path, pos),
                        format!(
                            "malformed XML at {}: \"]]>\" is not allowed in text",
                            at_text(pos)
                        ),
                    );
                }
                // XML end-of-line handling: the meaning of text never contains "\r\n" or "\r".
                let value = raw.replace("\r\n", "\n").replace('\r', "\n");
                self.text(raw, value, pos);
            }
            Event::CData(_) => {
                let value = raw
                    .strip_prefix("<![CDATA[")
                    .and_then(|r| r.strip_suffix("]]>"))
                    .unwrap_or_default()
                    .to_owned();
                self.text(raw, value, pos);
            }
            Event::GeneralRef(_) => match unescape_with(raw, resolve_xml_entity) {
                Ok(value) if value.chars().all(is_xml_char) => {
                    let value = value.into_owned();
                    self.text(raw, value, pos);
                }
                _ => {
                    let path = self.current_path();
                    self.error(
                        PolicyErrorCode::XmlMalformed,
                        located(&path, pos),
                        format!(
                            "malformed XML at {}: unknown or invalid reference {}; only &amp; \
                             &lt; &gt; &quot; &apos; and character references are allowed",
                            at_text(pos),
                            snippet(raw)
                        ),
                    );
                    self.text(raw, String::new(), pos);
                }
            },
            Event::Start(e) | Event::Empty(e) => {
                let name_len = e.name().as_ref().len();
                let self_closing = is_empty;
                let element = self.element(raw, name_len, self_closing, pos)?;
                if self_closing {
                    self.push(Node::Element(element));
                } else {
                    self.stack.push(Frame {
                        element,
                        counts: Vec::new(),
                    });
                }
            }
            Event::End(_) => {
                // quick-xml has checked that the name matches the innermost open element.
                if let Some(mut frame) = self.stack.pop() {
                    frame.element.end = Some(raw.to_owned());
                    self.push(Node::Element(frame.element));
                }
            }
            Event::Eof => {}
        }
        Ok(())
    }

    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            Some(frame) => frame.element.children.push(node),
            None => self.top.push(node),
        }
    }

    fn text(&mut self, raw: &str, value: String, pos: Pos) {
        if self.stack.is_empty() && !value.chars().all(is_xml_whitespace) {
            let place = if self.roots == 0 { "before" } else { "after" };
            self.error(
                PolicyErrorCode::XmlMalformed,
                located("", pos),
                format!(
                    "malformed XML at {}: text {place} the root element",
                    at_text(pos)
                ),
            );
        }
        let children = match self.stack.last_mut() {
            Some(frame) => &mut frame.element.children,
            None => &mut self.top,
        };
        // quick-xml splits text at every reference; one run keeps the typed view simple.
        if let Some(Node::Text(last)) = children.last_mut() {
            last.raw.push_str(raw);
            last.value.push_str(&value);
        } else {
            children.push(Node::Text(Text {
                raw: raw.to_owned(),
                value,
                pos,
            }));
        }
    }

    fn element(
        &mut self,
        raw: &str,
        name_len: usize,
        self_closing: bool,
        pos: Pos,
    ) -> Result<Element, Stop> {
        let name = raw.get(1..1 + name_len).unwrap_or_default();
        if !is_xml_name(name) {
            let path = self.current_path();
            return Err(self.fatal(
                PolicyErrorCode::XmlMalformed,
                located(&path, pos),
                format!(
                    "malformed XML at {}: {} does not start with a valid element name",
                    at_text(pos),
                    snippet(raw)
                ),
            ));
        }
        let depth = self.stack.len() + 1;
        let path = self.child_path(name, depth);
        let max_depth = self.limits.max_depth.min(HARD_MAX_DEPTH);
        if depth > max_depth {
            return Err(self.fatal(
                PolicyErrorCode::TooDeep,
                located(&path, pos),
                format!(
                    "<{name}> at {path} ({}) is nested {depth} elements deep; at most {} levels \
                     are allowed",
                    at_text(pos),
                    max_depth
                ),
            ));
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(self.fatal(
                PolicyErrorCode::TooManyElements,
                located(&path, pos),
                format!(
                    "the policy document has more than {} elements (the limit is reached at \
                     <{name}> at {path}, {})",
                    self.limits.max_elements,
                    at_text(pos)
                ),
            ));
        }
        if depth == 1 {
            self.roots += 1;
            if self.roots > 1 {
                return Err(self.fatal(
                    PolicyErrorCode::XmlMalformed,
                    located(&path, pos),
                    format!(
                        "malformed XML at {}: a second root element <{name}>; a document has \
                         exactly one root",
                        at_text(pos)
                    ),
                ));
            }
        }
        let mut element = Element {
            name: name.to_owned(),
            start: raw.to_owned(),
            attrs: Vec::new(),
            end: None,
            children: Vec::new(),
            path,
            pos,
        };
        let tail = if self_closing { 2 } else { 1 };
        let attrs_end = raw.len().saturating_sub(tail).max(1 + name_len);
        match lex_attributes(raw, 1 + name_len, attrs_end) {
            Ok(raw_attrs) => self.attributes(&mut element, raw, raw_attrs),
            Err(problem) => {
                let message = format!(
                    "malformed XML in the start tag of <{name}> at {} ({}): {problem}",
                    element.path,
                    at_text(pos)
                );
                self.error(PolicyErrorCode::XmlMalformed, element.location(), message);
            }
        }
        Ok(element)
    }

    fn attributes(&mut self, element: &mut Element, raw: &str, raw_attrs: Vec<RawAttr>) {
        for ra in raw_attrs {
            let name = raw.get(ra.name.clone()).unwrap_or_default();
            let raw_value = raw.get(ra.value.clone()).unwrap_or_default();
            let here = format!(
                "<{}> at {} ({})",
                element.name,
                element.path,
                at_text(element.pos)
            );
            if element.attrs.iter().any(|a| a.name == name) {
                self.error(
                    PolicyErrorCode::DuplicateAttribute,
                    element.location(),
                    format!("duplicate attribute \"{name}\" on {here}"),
                );
                continue;
            }
            // Attribute-value normalization: literal line breaks and tabs read as spaces.
            let normalized = raw_value
                .replace("\r\n", " ")
                .replace(['\r', '\n', '\t'], " ");
            let value = match unescape_with(&normalized, resolve_xml_entity) {
                Ok(v) if v.chars().all(is_xml_char) => v.into_owned(),
                _ => {
                    self.error(
                        PolicyErrorCode::XmlMalformed,
                        element.location(),
                        format!(
                            "malformed XML: the value of attribute \"{name}\" on {here} has an \
                             unknown or invalid reference; only &amp; &lt; &gt; &quot; &apos; \
                             and character references are allowed"
                        ),
                    );
                    continue;
                }
            };
            if value.len() > self.limits.max_attribute_len {
                self.error(
                    PolicyErrorCode::AttributeTooLong,
                    element.location(),
                    format!(
                        "attribute \"{name}\" on {here} is {} bytes long; at most {} bytes are \
                         allowed",
                        value.len(),
                        self.limits.max_attribute_len
                    ),
                );
            }
            element.attrs.push(Attr {
                name: name.to_owned(),
                value,
                span: ra.value,
            });
        }
    }

    fn child_path(&mut self, name: &str, depth: usize) -> String {
        let (parent_path, counts) = match self.stack.last_mut() {
            Some(frame) => (frame.element.path.as_str(), &mut frame.counts),
            None => ("", &mut self.top_counts),
        };
        let n = match counts.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                counts.push((name.to_owned(), 1));
                1
            }
        };
        match depth {
            1 => name.to_owned(),
            // Sections are unique, so an index would only be noise, except on a duplicate.
            2 if n == 1 => format!("{parent_path}/{name}"),
            _ => format!("{parent_path}/{name}[{n}]"),
        }
    }
}

/// A short, single-line excerpt of raw markup for messages.
fn snippet(raw: &str) -> String {
    // A malformed tag may hold a password: show nothing from its attribute on.
    let raw = match raw.to_ascii_lowercase().find("password") {
        Some(i) => &raw[..i],
        None => raw,
    };
    let one_line: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(60)
        .collect();
    if raw.chars().count() > 60 {
        format!("\"{one_line}...\"")
    } else {
        format!("\"{one_line}\"")
    }
}

struct RawAttr {
    name: Range<usize>,
    value: Range<usize>,
}

/// Splits the attribute part `tag[from..to]` of a start tag into names and raw values.
///
/// quick-xml parses attributes lazily and leniently (unquoted values, missing values); this
/// lexer follows the XML grammar and also records where each value sits, which editing needs.
fn lex_attributes(tag: &str, from: usize, to: usize) -> Result<Vec<RawAttr>, String> {
    let bytes = tag.as_bytes();
    let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let next_char = |i: usize| tag.get(i..).and_then(|s| s.chars().next()).unwrap_or(' ');
    let mut out = Vec::new();
    let mut i = from;
    loop {
        let ws_start = i;
        while i < to && is_ws(bytes[i]) {
            i += 1;
        }
        if i >= to {
            return Ok(out);
        }
        if i == ws_start {
            return Err(format!("unexpected '{}'", next_char(i)));
        }
        let name_start = i;
        while i < to && !is_ws(bytes[i]) && bytes[i] != b'=' {
            i += 1;
        }
        let name = tag.get(name_start..i).unwrap_or_default();
        if !is_xml_name(name) {
            return Err(format!("\"{name}\" is not a valid attribute name"));
        }
        while i < to && is_ws(bytes[i]) {
            i += 1;
        }
        if i >= to || bytes[i] != b'=' {
            return Err(format!(
                "attribute \"{name}\" has no value (expected {name}=\"...\")"
            ));
        }
        i += 1;
        while i < to && is_ws(bytes[i]) {
            i += 1;
        }
        if i >= to || (bytes[i] != b'"' && bytes[i] != b'\'') {
            return Err(format!("the value of attribute \"{name}\" must be quoted"));
        }
        let quote = bytes[i];
        i += 1;
        let value_start = i;
        while i < to && bytes[i] != quote {
            if bytes[i] == b'<' {
                return Err(format!(
                    "'<' is not allowed in the value of attribute \"{name}\" (write &lt;)"
                ));
            }
            i += 1;
        }
        if i >= to {
            return Err(format!("the value of attribute \"{name}\" is not closed"));
        }
        out.push(RawAttr {
            name: name_start..name_start + name.len(),
            value: value_start..i,
        });
        i += 1;
    }
}
