//! A small owned XML element tree: what the CIB is made of.
//!
//! Pacemaker's CIB is attribute-heavy XML with no mixed content that matters, so an element
//! holds its name, its attributes in document order, its child elements and (rarely) text.
//! Comments, processing instructions and the XML declaration are dropped on reading; writing
//! produces the indented layout that `cibadmin -Q` prints.

use std::fmt::Write as _;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One XML element with its attributes and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The tag name, e.g. `primitive`.
    pub name: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Text content, if any non-whitespace text was present.
    pub text: Option<String>,
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("XML error at line {line}, column {column}: {message}")]
pub struct XmlError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl Element {
    /// A new element with no attributes or children.
    pub fn new(name: &str) -> Self {
        Element { name: name.to_string(), ..Default::default() }
    }

    /// Builder form of [`Element::set_attr`].
    pub fn with_attr(mut self, key: &str, value: &str) -> Self {
        self.set_attr(key, value);
        self
    }

    /// Builder form of pushing a child.
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    /// The value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The element's `id` attribute.
    pub fn id(&self) -> Option<&str> {
        self.attr("id")
    }

    /// Sets (or replaces, keeping its position) attribute `key`.
    pub fn set_attr(&mut self, key: &str, value: &str) {
        match self.attrs.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.attrs.push((key.to_string(), value.to_string())),
        }
    }

    /// Removes attribute `key`, returning its old value.
    pub fn remove_attr(&mut self, key: &str) -> Option<String> {
        let pos = self.attrs.iter().position(|(k, _)| k == key)?;
        Some(self.attrs.remove(pos).1)
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The first child named `name`, mutably.
    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.children.iter_mut().find(|c| c.name == name)
    }

    /// The first child named `name`, created (appended) if missing.
    pub fn child_or_insert(&mut self, name: &str) -> &mut Element {
        let pos = match self.children.iter().position(|c| c.name == name) {
            Some(p) => p,
            None => {
                self.children.push(Element::new(name));
                self.children.len() - 1
            }
        };
        &mut self.children[pos]
    }

    /// All children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of child names, e.g. `["configuration", "resources"]`.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// Follows a path of child names mutably.
    pub fn path_mut(&mut self, names: &[&str]) -> Option<&mut Element> {
        names.iter().try_fold(self, |e, n| e.child_mut(n))
    }

    /// Depth-first search (self included) for the element whose `id` is `id`.
    pub fn find_id(&self, id: &str) -> Option<&Element> {
        if self.id() == Some(id) {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find_id(id))
    }

    /// Depth-first search (self included) for the element whose `id` is `id`, mutably.
    pub fn find_id_mut(&mut self, id: &str) -> Option<&mut Element> {
        if self.id() == Some(id) {
            return Some(self);
        }
        self.children.iter_mut().find_map(|c| c.find_id_mut(id))
    }

    /// Removes the first descendant (not self) whose `id` is `id`, returning it.
    pub fn remove_id(&mut self, id: &str) -> Option<Element> {
        if let Some(pos) = self.children.iter().position(|c| c.id() == Some(id)) {
            return Some(self.children.remove(pos));
        }
        self.children.iter_mut().find_map(|c| c.remove_id(id))
    }

    /// Visits self and every descendant, depth first, in document order.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Element)) {
        f(self);
        for c in &self.children {
            c.walk(f);
        }
    }

    /// Reads a document and returns its root element.
    ///
    /// # Errors
    /// Malformed XML, mismatched tags, no root or several roots: the error names the line and
    /// column.
    pub fn parse(text: &str) -> Result<Element, XmlError> {
        let mut reader = Reader::from_str(text);
        reader.config_mut().trim_text(true);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        let err = |pos: u64, message: String| {
            let (line, column) = line_col(text, pos as usize);
            XmlError { line, column, message }
        };
        loop {
            let pos = reader.buffer_position();
            let event =
                reader.read_event().map_err(|e| err(reader.error_position(), e.to_string()))?;
            match event {
                Event::Start(start) => stack.push(element_from(&start).map_err(|m| err(pos, m))?),
                Event::Empty(start) => {
                    let e = element_from(&start).map_err(|m| err(pos, m))?;
                    attach(&mut stack, &mut root, e).map_err(|m| err(pos, m))?;
                }
                Event::End(_) => {
                    let e = stack.pop().ok_or_else(|| err(pos, "unexpected end tag".into()))?;
                    attach(&mut stack, &mut root, e).map_err(|m| err(pos, m))?;
                }
                Event::Text(t) => {
                    let s = t.unescape().map_err(|e| err(pos, e.to_string()))?;
                    add_text(&mut stack, &s).map_err(|m| err(pos, m))?;
                }
                Event::CData(t) => {
                    let s = String::from_utf8_lossy(&t).into_owned();
                    add_text(&mut stack, &s).map_err(|m| err(pos, m))?;
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if let Some(open) = stack.last() {
            return Err(err(text.len() as u64, format!("element <{}> is not closed", open.name)));
        }
        root.ok_or_else(|| err(0, "the document has no root element".into()))
    }

    /// Writes the element as an indented document fragment (no XML declaration), two spaces per
    /// level, the layout `cibadmin -Q` uses.
    pub fn to_pretty_string(&self) -> String {
        let mut out = String::new();
        self.write_into(&mut out, 0, true);
        out
    }

    /// Writes the element on one line with no indentation.
    pub fn to_compact_string(&self) -> String {
        let mut out = String::new();
        self.write_into(&mut out, 0, false);
        out
    }

    fn write_into(&self, out: &mut String, depth: usize, pretty: bool) {
        let indent = if pretty { "  ".repeat(depth) } else { String::new() };
        let _ = write!(out, "{indent}<{}", self.name);
        for (k, v) in &self.attrs {
            let _ = write!(out, " {k}=\"{}\"", escape(v, true));
        }
        let nl = if pretty { "\n" } else { "" };
        match (&self.text, self.children.is_empty()) {
            (None, true) => {
                let _ = write!(out, "/>{nl}");
            }
            (Some(t), true) => {
                let _ = write!(out, ">{}</{}>{nl}", escape(t, false), self.name);
            }
            (text, false) => {
                let _ = write!(out, ">{nl}");
                if let Some(t) = text {
                    let _ = write!(out, "{indent}  {}{nl}", escape(t, false));
                }
                for c in &self.children {
                    c.write_into(out, depth + 1, pretty);
                }
                let _ = write!(out, "{indent}</{}>{nl}", self.name);
            }
        }
    }
}

fn element_from(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = String::from_utf8(start.name().as_ref().to_vec()).map_err(|e| e.to_string())?;
    let mut e = Element::new(&name);
    for a in start.attributes() {
        let a = a.map_err(|x| x.to_string())?;
        let key = String::from_utf8(a.key.as_ref().to_vec()).map_err(|x| x.to_string())?;
        let value = a.unescape_value().map_err(|x| x.to_string())?.into_owned();
        if e.attr(&key).is_some() {
            return Err(format!("attribute {key} appears twice in <{name}>"));
        }
        e.attrs.push((key, value));
    }
    Ok(e)
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, e: Element) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(e),
        None if root.is_none() => *root = Some(e),
        None => return Err(format!("a second root element <{}>", e.name)),
    }
    Ok(())
}

fn add_text(stack: &mut [Element], s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Ok(());
    }
    match stack.last_mut() {
        Some(parent) => {
            parent.text.get_or_insert_with(String::new).push_str(s);
            Ok(())
        }
        None => Err("text outside the root element".into()),
    }
}

fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = &text.as_bytes()[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = pos - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
    (line, column)
}

/// Escapes text for an attribute value (`attr = true`) or element content.
pub fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\n' if attr => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_attributes_order_and_text() {
        let doc = r#"<?xml version="1.0"?>
<cib epoch="3" admin_epoch="0"><!-- c -->
  <configuration>
    <resources><primitive id="ip" class="ocf" type="IPaddr2" provider="heartbeat"/></resources>
    <note>a &amp; b</note>
  </configuration>
</cib>"#;
        let root = Element::parse(doc).unwrap();
        assert_eq!(root.attr("epoch"), Some("3"));
        assert_eq!(root.find_id("ip").unwrap().attr("type"), Some("IPaddr2"));
        assert_eq!(root.path(&["configuration", "note"]).unwrap().text.as_deref(), Some("a & b"));
        let again = Element::parse(&root.to_pretty_string()).unwrap();
        assert_eq!(root, again);
        assert_eq!(Element::parse(&root.to_compact_string()).unwrap(), root);
    }

    #[test]
    fn errors_name_the_place() {
        let e = Element::parse("<a>\n  <b>\n</a>").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = Element::parse("<a/><b/>").unwrap_err();
        assert!(e.message.contains("second root"), "{e}");
        let e = Element::parse("<a x='1' x='2'/>").unwrap_err();
        assert!(e.message.contains("twice") || e.message.contains("duplicated"), "{e}");
        assert!(Element::parse("").is_err());
        assert!(Element::parse("<a>").is_err());
    }

    #[test]
    fn edit_by_id() {
        let mut root = Element::parse("<r><x id='a'><y id='b'/></x></r>").unwrap();
        root.find_id_mut("b").unwrap().set_attr("v", "1 \"q\"");
        let s = root.to_pretty_string();
        assert!(s.contains("v=\"1 &quot;q&quot;\""), "{s}");
        assert_eq!(root.remove_id("b").unwrap().attr("v"), Some("1 \"q\""));
        assert!(root.find_id("b").is_none());
    }
}
