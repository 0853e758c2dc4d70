//! The CEM XML as a small element tree, read and written with `quick-xml`.
//!
//! Reading is bounded before anything is built: the document size, the element depth and
//! the element count are capped by [`CemLimits`]; a DOCTYPE (and with it every DTD, entity
//! declaration and external entity) is refused; the only entity references resolved are
//! XML's five predefined ones and character references. Names are compared as (namespace,
//! local name) after `quick-xml` resolves the prefixes, so `ds:X509IssuerName` and an
//! element that binds the XML-DSig namespace to another prefix are the same element.
//!
//! Dates are XML Schema `dateTime` with a UTC offset (as /n software's CEM documentation
//! puts it, "the XML standard dateTime type"); they are written with a numeric offset
//! (`2026-03-01T12:00:00+00:00`, 25 characters), the only shape Mendelson's reader takes.

use std::time::SystemTime;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Writer};

use super::{CemError, CemLimits, XmlProblem};
use crate::partner::date;

/// The CEM namespace (draft-meadors-certificate-exchange).
pub const CEM_NAMESPACE: &str = "urn:ietf:params:xml:ns:ediintcertificateexchange";
/// The XML-DSig namespace, for `ds:X509IssuerName` and `ds:X509SerialNumber`.
pub const DSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The XML Schema instance namespace, declared on the root by the published examples.
const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A namespace an element or attribute is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ns {
    /// No namespace.
    None,
    /// The CEM namespace.
    Cem,
    /// XML-DSig.
    Dsig,
    /// Any other namespace.
    Other,
}

impl Ns {
    fn of(resolved: &ResolveResult<'_>) -> Ns {
        match resolved {
            ResolveResult::Bound(ns) if ns.0 == CEM_NAMESPACE => Ns::Cem,
            ResolveResult::Bound(ns) if ns.0 == DSIG_NAMESPACE => Ns::Dsig,
            ResolveResult::Bound(_) | ResolveResult::Unknown(_) => Ns::Other,
            ResolveResult::Unbound => Ns::None,
        }
    }
}

/// One element: its name, attributes, child elements and the text directly inside it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Element {
    pub ns: Option<Ns>,
    pub name: String,
    /// Attributes with their namespace (unprefixed attributes are in none).
    pub attributes: Vec<(Ns, String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The first child `name` in the CEM namespace.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.child_in(Ns::Cem, name)
    }

    /// The first child `name` in namespace `ns`.
    pub fn child_in(&self, ns: Ns, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.ns == Some(ns) && c.name == name)
    }

    /// Every child `name` in namespace `ns`, in document order.
    pub fn children_named<'s>(
        &'s self,
        ns: Ns,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Element> + 's {
        self.children
            .iter()
            .filter(move |c| c.ns == Some(ns) && c.name == name)
    }

    /// The required child `name` in the CEM namespace.
    pub fn required(&self, name: &'static str) -> Result<&Element, CemError> {
        self.child(name).ok_or(CemError::Missing(name))
    }

    /// The trimmed text of the required child `name` in namespace `ns`, not empty.
    pub fn required_text(&self, ns: Ns, name: &'static str) -> Result<&str, CemError> {
        let text = self
            .child_in(ns, name)
            .ok_or(CemError::Missing(name))?
            .text
            .trim();
        if text.is_empty() {
            return Err(CemError::Missing(name));
        }
        Ok(text)
    }

    /// The value of the unqualified attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(ns, n, _)| *ns == Ns::None && n == name)
            .map(|(_, _, v)| v.as_str())
    }
}

/// Parses `input` into its root element, within `limits` (see the module docs).
pub(crate) fn parse(input: &[u8], limits: &CemLimits) -> Result<Element, CemError> {
    if input.len() > limits.max_xml_size {
        return Err(CemError::TooLarge {
            size: input.len(),
            max: limits.max_xml_size,
        });
    }
    let text = core::str::from_utf8(input).map_err(|_| CemError::NotUtf8)?;
    // A byte-order mark is allowed before the declaration.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = false;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let position = reader.buffer_position();
        let xml_error = |e: quick_xml::Error| CemError::Xml {
            problem: XmlProblem::Syntax(e.to_string()),
            position,
        };
        let (resolved, event) = reader.read_resolved_event().map_err(xml_error)?;
        let ns = Ns::of(&resolved);
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(CemError::Xml {
                    problem: XmlProblem::TrailingContent,
                    position,
                });
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                elements = elements.saturating_add(1);
                if elements > limits.max_elements {
                    return Err(CemError::TooManyElements {
                        max: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(CemError::TooDeep {
                        max: limits.max_depth,
                    });
                }
                let element = element_of(&reader, ns, start)
                    .map_err(|problem| CemError::Xml { problem, position })?;
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root, element);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                // check_end_names makes quick-xml refuse an unmatched end tag.
                if let Some(element) = stack.pop() {
                    close(&mut stack, &mut root, element);
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                append_text(&mut stack, &content, position)?;
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                append_text(&mut stack, &content, position)?;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch,
                    Ok(None) => match predefined(&r.xml10_content()) {
                        Some(ch) => ch,
                        None => {
                            return Err(CemError::EntityRefused(truncate(&r.into_inner())));
                        }
                    },
                    Err(e) => return Err(xml_error(e)),
                };
                append_text(&mut stack, ch.encode_utf8(&mut [0; 4]), position)?;
            }
            Event::DocType(_) => return Err(CemError::DoctypeRefused),
            Event::Decl(decl) => {
                check_declaration(&decl).map_err(|problem| CemError::Xml { problem, position })?
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(CemError::Xml {
            problem: XmlProblem::Unclosed,
            position: reader.buffer_position(),
        });
    }
    root.ok_or(CemError::Xml {
        problem: XmlProblem::NoRoot,
        position: reader.buffer_position(),
    })
}

/// Reads an element's name and attributes.
fn element_of(
    reader: &NsReader<&[u8]>,
    ns: Ns,
    start: &BytesStart<'_>,
) -> Result<Element, XmlProblem> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| XmlProblem::Syntax(e.to_string()))?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| match e {
                quick_xml::Error::Escape(_) => XmlProblem::EntityInAttribute,
                other => XmlProblem::Syntax(other.to_string()),
            })?;
        attributes.push((
            Ns::of(&resolved),
            local.into_inner().to_owned(),
            value.into_owned(),
        ));
    }
    Ok(Element {
        ns: Some(ns),
        name: start.local_name().into_inner().to_owned(),
        attributes,
        children: Vec::new(),
        text: String::new(),
    })
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn append_text(stack: &mut [Element], text: &str, position: u64) -> Result<(), CemError> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        // Only whitespace may stand outside the root element.
        None if text.trim().is_empty() => Ok(()),
        None => Err(CemError::Xml {
            problem: XmlProblem::TrailingContent,
            position,
        }),
    }
}

/// XML's five predefined entities (XML 1.0 §4.6).
fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Only UTF-8 (or no encoding declared, which means UTF-8) is read.
fn check_declaration(decl: &BytesDecl<'_>) -> Result<(), XmlProblem> {
    match decl.encoding() {
        None => Ok(()),
        Some(Ok(encoding)) if encoding.eq_ignore_ascii_case("utf-8") => Ok(()),
        Some(_) => Err(XmlProblem::UnsupportedEncoding),
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Writes CEM documents: the declaration, then elements in the CEM namespace (default
/// namespace, no prefix) and `ds:` elements, text escaped by `quick-xml`.
pub(crate) struct XmlWriter {
    writer: Writer<Vec<u8>>,
}

// Writing into a Vec<u8> cannot fail: io::Write for Vec never returns an error.
impl XmlWriter {
    /// A document whose root is `root` with the CEM, XML-DSig and XSI namespaces declared
    /// and the extra `attributes`, as the published examples write it.
    pub fn new(root: &str, attributes: &[(&str, &str)]) -> XmlWriter {
        let writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        let mut start = BytesStart::new(root);
        start.push_attribute(("xmlns", CEM_NAMESPACE));
        start.push_attribute(("xmlns:ds", DSIG_NAMESPACE));
        start.push_attribute(("xmlns:xsi", XSI_NAMESPACE));
        for attribute in attributes {
            start.push_attribute(*attribute);
        }
        let mut this = XmlWriter { writer };
        this.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        this.event(Event::Start(start));
        this
    }

    fn event(&mut self, event: Event<'_>) {
        // Vec<u8> as io::Write never fails.
        let _ = self.writer.write_event(event);
    }

    /// Opens `name`.
    pub fn open(&mut self, name: &str) {
        self.event(Event::Start(BytesStart::new(name)));
    }

    /// Opens `name` with attributes.
    pub fn open_with(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let mut start = BytesStart::new(name);
        for attribute in attributes {
            start.push_attribute(*attribute);
        }
        self.event(Event::Start(start));
    }

    /// Closes `name`.
    pub fn close(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name>text</name>`.
    pub fn text_element(&mut self, name: &str, text: &str) {
        self.text_element_with(name, &[], text);
    }

    /// `<name attributes>text</name>`.
    pub fn text_element_with(&mut self, name: &str, attributes: &[(&str, &str)], text: &str) {
        self.open_with(name, attributes);
        self.event(Event::Text(BytesText::new(text)));
        self.close(name);
    }

    /// Closes the root and returns the document.
    pub fn finish(mut self, root: &str) -> Vec<u8> {
        self.close(root);
        let mut out = self.writer.into_inner();
        out.push(b'\n');
        out
    }
}

/// Reads an XML Schema `dateTime` (a missing offset is taken as UTC).
pub(crate) fn parse_date(text: &str, element: &'static str) -> Result<SystemTime, CemError> {
    // A bare date is not a dateTime.
    if !text.contains(['T', 't']) {
        return Err(CemError::Invalid {
            element,
            reason: "not an XML dateTime",
        });
    }
    let time = date::parse(text).ok_or(CemError::Invalid {
        element,
        reason: "not an XML dateTime",
    })?;
    // A time whose UTC form leaves years 0000-9999 (an offset across the edge) could not
    // be written back.
    if date::parse(&format_date(time)) != Some(time) {
        return Err(CemError::Invalid {
            element,
            reason: "dateTime out of range",
        });
    }
    Ok(time)
}

/// Writes `time` as `YYYY-MM-DDTHH:MM:SS+00:00`.
pub(crate) fn format_date(time: SystemTime) -> String {
    let text = date::Rfc3339(time).to_string();
    match text.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => text,
    }
}

/// A certificate serial number (its INTEGER contents octets) in decimal, as
/// `ds:X509SerialNumber` (`xs:integer`) wants it.
pub(crate) fn serial_decimal(serial: &[u8]) -> String {
    let negative = serial.first().is_some_and(|b| b & 0x80 != 0);
    // Two's complement to magnitude for the (non-conforming) negative case.
    let mut magnitude: Vec<u8> = if negative {
        let mut m: Vec<u8> = serial.iter().map(|b| !b).collect();
        for byte in m.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                break;
            }
        }
        m
    } else {
        serial.to_vec()
    };
    let mut digits = Vec::new();
    while magnitude.iter().any(|&b| b != 0) {
        let mut remainder = 0u16;
        for byte in magnitude.iter_mut() {
            let value = (remainder << 8) | u16::from(*byte);
            // value < 10 * 256, so the quotient fits a byte.
            *byte = u8::try_from(value / 10).unwrap_or(u8::MAX);
            remainder = value % 10;
        }
        digits.push(b'0'.saturating_add(u8::try_from(remainder).unwrap_or(0)));
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if negative {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// Normalises a decimal `xs:integer` for comparison: sign kept, leading `+` and zeros
/// dropped. `None` if it is not a decimal integer.
pub(crate) fn normalize_decimal(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    Some(match (trimmed.is_empty(), negative) {
        (true, _) => "0".to_owned(),
        (false, true) => format!("-{trimmed}"),
        (false, false) => trimmed.to_owned(),
    })
}

/// Normalises a distinguished name for comparison: RDNs split at unescaped `,` or `;`,
/// trimmed, attribute types upper-cased, and sorted, so that the orders and spacings
/// different products print (`CN=a, O=b` or `O=b,CN=a`) compare equal.
pub(crate) fn normalize_dn(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for ch in text.chars() {
        if escaped {
            current.push(ch);
            escaped = false;
        } else if ch == '\\' {
            current.push(ch);
            escaped = true;
        } else if ch == ',' || ch == ';' {
            parts.push(core::mem::take(&mut current));
        } else {
            current.push(ch);
        }
    }
    parts.push(current);
    let mut normalized: Vec<String> = parts
        .into_iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((kind, value)) => {
                format!("{}={}", kind.trim().to_ascii_uppercase(), value.trim())
            }
            None => rdn.trim().to_owned(),
        })
        .filter(|rdn| !rdn.is_empty())
        .collect();
    normalized.sort();
    normalized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_in_decimal() {
        assert_eq!(serial_decimal(&[0x00]), "0");
        assert_eq!(serial_decimal(&[0x01]), "1");
        assert_eq!(serial_decimal(&[0x00, 0xff]), "255");
        assert_eq!(serial_decimal(&[0x01, 0x00]), "256");
        assert_eq!(serial_decimal(&[0xff]), "-1");
        assert_eq!(
            serial_decimal(&[0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33]),
            "16045690981098529331"
        );
        assert_eq!(normalize_decimal("+007"), Some("7".to_owned()));
        assert_eq!(normalize_decimal("0x7"), None);
        assert_eq!(normalize_decimal("-0"), Some("0".to_owned()));
    }

    #[test]
    fn dates_round_trip_with_numeric_offset() {
        let t = crate::unix_time(1_800_000_000);
        let text = format_date(t);
        assert_eq!(text, "2027-01-15T08:00:00+00:00");
        assert_eq!(text.len(), 25);
        assert_eq!(parse_date(&text, "d").unwrap(), t);
        assert_eq!(parse_date("2027-01-15T03:00:00-05:00", "d").unwrap(), t);
        assert!(parse_date("2027-01-15", "d").is_err());
    }

    #[test]
    fn distinguished_names_compare_across_spellings() {
        assert_eq!(
            normalize_dn("CN=PartnerA Sign, O=Example\\, Inc., C=DE"),
            normalize_dn("c=DE,o=Example\\, Inc.,cn=PartnerA Sign")
        );
        assert_ne!(normalize_dn("CN=a"), normalize_dn("CN=b"));
    }
}
