//! AS2 HTTP headers (RFC 4130 §6): AS2-From/AS2-To identifiers, Message-ID, the MDN request
//! headers and EDIINT-Features.
//!
//! Headers in and out are one type, [`HttpHeaders`]: `(name, value)` pairs in wire order,
//! names matched case-insensitively, values as bytes. Output headers are never folded.

use core::fmt;
use std::time::SystemTime;

use rand_core::CryptoRng;

use crate::cms::algorithm::DigestAlgorithm;
use crate::error::Error;
use crate::mime;

/// Longest AS2-From / AS2-To accepted (RFC 4130 §6.2).
pub const MAX_AS2_ID_LEN: usize = 128;
/// Longest Message-ID accepted (RFC 5322 line length).
pub const MAX_MESSAGE_ID_LEN: usize = 998;

/// HTTP header fields in wire order: what [`inbound::handle`](crate::message::inbound::handle)
/// reads, and what the outbound builder ([`BuiltMessage::headers`],
/// [`OutboundStream::headers`]) and the MDN builder ([`BuiltMdn::headers`]) write.
///
/// Fields keep their order and duplicates; names are matched case-insensitively
/// ([`get`](Self::get)); values are bytes, because not every peer sends ASCII. Nothing is
/// validated here: [`inbound::handle`](crate::message::inbound::handle) checks what it reads, and
/// the builders write only values they checked (no CR, LF or NUL).
///
/// With serde (for storing a request, or handing it to another process) the list is a
/// JSON array of `[name, value]` pairs, which keeps the order and the duplicates:
///
/// ```
/// # use as2_proto::message::headers::HttpHeaders;
/// let mut headers = HttpHeaders::new();
/// headers.push("AS2-From", "PartnerA");
/// headers.push("X-Note", "a");
/// headers.push("x-note", "b");
/// let json = serde_json::to_string(&headers)?;
/// assert_eq!(json, r#"[["AS2-From","PartnerA"],["X-Note","a"],["x-note","b"]]"#);
/// assert_eq!(serde_json::from_str::<HttpHeaders>(&json)?, headers);
/// // An object is read too, in its order (names are unique there).
/// let read: HttpHeaders = serde_json::from_str(r#"{"AS2-To": "PartnerB", "Subject": "PO"}"#)?;
/// assert_eq!(read.get_str("as2-to"), Some("PartnerB"));
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// Values are written as JSON strings, so serialising fails (with the serializer's
/// error) for a value that is not UTF-8 rather than altering it; such a list can still
/// be stored as bytes with [`head_bytes`](Self::head_bytes). Reading takes string values
/// only.
///
/// [`BuiltMessage::headers`]: crate::message::outbound::BuiltMessage::headers
/// [`OutboundStream::headers`]: crate::message::outbound::OutboundStream::headers
/// [`BuiltMdn::headers`]: crate::mdn::BuiltMdn::headers
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpHeaders {
    pairs: Vec<(String, Vec<u8>)>,
}

impl HttpHeaders {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field (after any of the same name: duplicates are kept).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.pairs.push((name.into(), value.into()));
    }

    /// The first value of `name` (case-insensitive), raw.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.pairs
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name` as text, trimmed; `None` when absent or not UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|v| core::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// Sets the value of `name` (case-insensitive): the first field of that name gets
    /// `value` and any later ones are removed; the field is appended when absent.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let name = name.into();
        let value = value.into();
        match self
            .pairs
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(first) => {
                let mut index = 0usize;
                self.pairs.retain(|(n, _)| {
                    let keep = index <= first || !n.eq_ignore_ascii_case(&name);
                    index = index.saturating_add(1);
                    keep
                });
                if let Some(field) = self.pairs.get_mut(first) {
                    field.1 = value;
                }
            }
            None => self.pairs.push((name, value)),
        }
    }

    /// Removes every field named `name` (case-insensitive); returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.pairs.len();
        self.pairs.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before.saturating_sub(self.pairs.len())
    }

    /// Whether a field named `name` (case-insensitive) is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every `(name, value)` pair in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The fields as they appear on the wire, `Name: value` CRLF each, then the empty
    /// line (see [`head_bytes`]).
    pub fn head_bytes(&self) -> Vec<u8> {
        head_bytes(self.iter())
    }
}

impl<'h> IntoIterator for &'h HttpHeaders {
    type Item = (&'h str, &'h [u8]);
    type IntoIter = core::iter::Map<
        core::slice::Iter<'h, (String, Vec<u8>)>,
        fn(&'h (String, Vec<u8>)) -> (&'h str, &'h [u8]),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }
}

impl<N: Into<String>, V: Into<Vec<u8>>> FromIterator<(N, V)> for HttpHeaders {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = HttpHeaders::new();
        headers.extend(iter);
        headers
    }
}

impl<N: Into<String>, V: Into<Vec<u8>>> Extend<(N, V)> for HttpHeaders {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        self.pairs
            .extend(iter.into_iter().map(|(n, v)| (n.into(), v.into())));
    }
}

impl serde::Serialize for HttpHeaders {
    /// A sequence of `[name, value]` pairs; fails for a value that is not UTF-8.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let mut seq = serializer.serialize_seq(Some(self.pairs.len()))?;
        for (name, value) in &self.pairs {
            let value = core::str::from_utf8(value).map_err(|_| {
                S::Error::custom(format_args!(
                    "the value of header {name:?} is not UTF-8 and cannot be written as a string"
                ))
            })?;
            seq.serialize_element(&(name, value))?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for HttpHeaders {
    /// A sequence of `[name, value]` pairs, or a map from names to values (in the map's
    /// order); values are strings.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = HttpHeaders;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of [name, value] string pairs, or a map of strings")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<HttpHeaders, A::Error> {
                let mut headers = HttpHeaders::new();
                while let Some((name, value)) = seq.next_element::<(String, String)>()? {
                    headers.push(name, value);
                }
                Ok(headers)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<HttpHeaders, A::Error> {
                let mut headers = HttpHeaders::new();
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    headers.push(name, value);
                }
                Ok(headers)
            }
        }
        deserializer.deserialize_any(Fields)
    }
}

/// Header fields as they appear on the wire, `Name: value` CRLF each, then the empty line:
/// the head of a stored `.mdn` file or request. Values are written as given (received
/// values are stored verbatim).
pub fn head_bytes<'h>(headers: impl IntoIterator<Item = (&'h str, &'h [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// An AS2 identifier (AS2-From / AS2-To): 1 to 128 printable ASCII characters,
/// case-sensitive, and never a path: no `/` or `\`, and not `.` or `..`.
///
/// RFC 4130 §6.2 allows any printable ASCII, but identifiers name folders and keys in
/// most deployments (the `as2` example's PKI folder, for one), so the crate refuses the
/// few characters that would let a partner-supplied AS2-To point outside them. Callers
/// that build paths from identifiers still reduce them to one safe component.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct As2Id(String);

impl As2Id {
    /// Validates an identifier given unquoted. Fails with [`Error::InvalidHeader`]
    /// (`INVALID_REQUEST`) naming the rule broken.
    pub fn new(id: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidHeader {
            header: "AS2-From/AS2-To",
            reason,
        };
        if id.is_empty() || id.len() > MAX_AS2_ID_LEN {
            return Err(invalid("length must be 1 to 128 characters"));
        }
        if !id.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(invalid("only printable ASCII is allowed"));
        }
        if id.contains(['/', '\\']) || id == "." || id == ".." {
            return Err(invalid("path separators, \".\" and \"..\" are not allowed"));
        }
        Ok(As2Id(id.to_owned()))
    }

    /// Parses a header value: a token, or a quoted string with backslash escapes.
    pub fn from_header(header: &'static str, value: &[u8]) -> Result<Self, Error> {
        let text = core::str::from_utf8(value).map_err(|_| Error::InvalidHeader {
            header,
            reason: "not printable ASCII",
        })?;
        let text = text.trim();
        let unquoted = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(inner) => unescape(inner),
            None => text.to_owned(),
        };
        As2Id::new(&unquoted).map_err(|e| match e {
            Error::InvalidHeader { reason, .. } => Error::InvalidHeader { header, reason },
            other => other,
        })
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A Message-ID domain made from the identifier: its letters, digits, `.`, `-` and
    /// `_` (`as2` when none is left).
    pub fn message_id_domain(&self) -> String {
        let domain: String = self
            .0
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        if domain.is_empty() {
            "as2".into()
        } else {
            domain
        }
    }

    /// The header value: quoted when it contains spaces, quotes or backslashes.
    pub fn to_header(&self) -> String {
        if self.0.bytes().any(|b| matches!(b, b' ' | b'"' | b'\\')) {
            let mut out = String::with_capacity(self.0.len().saturating_add(2));
            out.push('"');
            for c in self.0.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
            out
        } else {
            self.0.clone()
        }
    }
}

impl core::str::FromStr for As2Id {
    type Err = Error;

    /// [`As2Id::new`], so that `"PartnerA".parse()?` gives an identifier.
    fn from_str(id: &str) -> Result<Self, Error> {
        As2Id::new(id)
    }
}

impl fmt::Display for As2Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn unescape(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A Message-ID, kept exactly as received so it can be echoed in the MDN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageId(String);

impl MessageId {
    /// Accepts a received Message-ID: up to 998 characters, printable ASCII, with or
    /// without angle brackets.
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidHeader {
            header: "Message-ID",
            reason,
        };
        let text = core::str::from_utf8(value).map_err(|_| bad("not ASCII"))?;
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_MESSAGE_ID_LEN {
            return Err(bad("length must be 1 to 998 characters"));
        }
        if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(bad("only printable ASCII is allowed"));
        }
        Ok(MessageId(text.to_owned()))
    }

    /// A new `<unique@domain>` identifier from 16 random bytes.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, domain: &str) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let unique: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        MessageId(format!("<{unique}@{domain}>"))
    }

    /// The value exactly as received or generated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value without surrounding angle brackets (for file names and duplicate checks):
    /// [`MessageId::bare_str`] of it.
    pub fn bare(&self) -> &str {
        MessageId::bare_str(&self.0)
    }

    /// `id` without surrounding spaces, double quotes and angle brackets: the one
    /// normalisation of a Message-ID, whether it came in a header, an MDN's
    /// Original-Message-ID (which some products quote) or a stored record. Two IDs name
    /// the same message when their bare forms are equal.
    ///
    /// ```
    /// # use as2_proto::message::headers::MessageId;
    /// assert_eq!(MessageId::bare_str(" \"<a@b>\" "), "a@b");
    /// assert_eq!(MessageId::bare_str("a@b"), "a@b");
    /// ```
    pub fn bare_str(id: &str) -> &str {
        let id = id.trim().trim_matches('"').trim();
        id.strip_prefix('<')
            .and_then(|i| i.strip_suffix('>'))
            .unwrap_or(id)
            .trim()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The AS2-Version this crate sends unless told otherwise: 1.2 (see [`As2Version`]).
pub const AS2_VERSION: &str = "1.2";

/// An AS2-Version (draft-ietf-ediint-rfc4130bis §6.1): `1.` and a minor number.
///
/// The major digit is the wire-compatibility level, so every `1.x` is read (1.0 to 1.255)
/// and anything else refused; the minor number names feature sets: 1.1 compression
/// (RFC 5402), 1.2 EDIINT-Features (RFC 6017), 1.3 the modernisation draft. What we send
/// is chosen per partner ([`OutboundMessage::as2_version`], [`MdnSettings::as2_version`]).
///
/// The default is **1.2**: declaring 1.3 promises the partner what the draft asks of a 1.3
/// implementation (no SHA-1, MD5, 3DES or RC2 generated, an AS2-Product header), and
/// legacy partners still ask for SHA-1 or 3DES; a 1.3 partner is configured as such.
///
/// ```
/// # use as2_proto::message::headers::As2Version;
/// let v: As2Version = "1.3".parse()?;
/// assert_eq!(v, As2Version::V1_3);
/// assert!(v.forbids_weak_algorithms());
/// assert_eq!(As2Version::default().to_string(), "1.2");
/// assert!("1.10".parse::<As2Version>().is_ok());
/// assert!("2.0".parse::<As2Version>().is_err());
/// # Ok::<(), as2_proto::Error>(())
/// ```
///
/// [`OutboundMessage::as2_version`]: crate::message::outbound::OutboundMessage::as2_version
/// [`MdnSettings::as2_version`]: crate::mdn::MdnSettings::as2_version
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct As2Version {
    minor: u8,
}

impl As2Version {
    /// AS2 1.0 (RFC 4130), also what an absent header means.
    pub const V1_0: As2Version = As2Version { minor: 0 };
    /// AS2 1.1: compression (RFC 5402).
    pub const V1_1: As2Version = As2Version { minor: 1 };
    /// AS2 1.2: EDIINT-Features (RFC 6017); the default.
    pub const V1_2: As2Version = As2Version { minor: 2 };
    /// AS2 1.3: draft-ietf-ediint-rfc4130bis.
    pub const V1_3: As2Version = As2Version { minor: 3 };

    /// Version `1.minor`.
    pub const fn new(minor: u8) -> Self {
        As2Version { minor }
    }

    /// The minor number (3 for 1.3).
    pub const fn minor(self) -> u8 {
        self.minor
    }

    /// Parses a header value: `1.` and one to three digits (at most 255), spaces around
    /// it allowed. Anything else is [`Error::InvalidHeader`] (`INVALID_REQUEST`).
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        let invalid = Error::InvalidHeader {
            header: "AS2-Version",
            reason: "unsupported version (1.x accepted)",
        };
        let minor = value
            .trim_ascii()
            .strip_prefix(b"1.")
            .filter(|m| !m.is_empty() && m.len() <= 3 && m.iter().all(u8::is_ascii_digit))
            .and_then(|m| core::str::from_utf8(m).ok())
            .and_then(|m| m.parse::<u8>().ok())
            .ok_or(invalid)?;
        Ok(As2Version { minor })
    }

    /// The version of a received header: absent means 1.0 (draft §6.1).
    pub fn of_header(value: Option<&[u8]>) -> Result<Self, Error> {
        value.map_or(Ok(As2Version::V1_0), As2Version::parse)
    }

    /// Whether SHA-1, MD5, 3DES and RC2 must not be generated for a partner at this
    /// version: 1.3 and later (draft §6.1).
    pub const fn forbids_weak_algorithms(self) -> bool {
        self.minor >= 3
    }

    /// Whether messages and MDNs of this version must carry AS2-Product: 1.3 and later
    /// (draft §6.2).
    pub const fn requires_product(self) -> bool {
        self.minor >= 3
    }
}

impl Default for As2Version {
    /// 1.2 (see the type's documentation for why not 1.3).
    fn default() -> Self {
        As2Version::V1_2
    }
}

impl fmt::Display for As2Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

impl core::str::FromStr for As2Version {
    type Err = Error;

    /// [`As2Version::parse`].
    fn from_str(s: &str) -> Result<Self, Error> {
        As2Version::parse(s.as_bytes())
    }
}

impl serde::Serialize for As2Version {
    /// The string `"1.3"`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for As2Version {
    /// A string such as `"1.3"`; a number (`1.3` in TOML) is read by its shortest
    /// decimal spelling, so write `"1.10"` as a string.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Version;
        impl serde::de::Visitor<'_> for Version {
            type Value = As2Version;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS2 version such as \"1.3\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<As2Version, E> {
                As2Version::parse(v.as_bytes())
                    .map_err(|_| E::custom(format_args!("unsupported AS2 version {v:?} (1.x)")))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<As2Version, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(Version)
    }
}

/// The AS2-Product this crate sends by default: `as2-proto:<crate version>`, in the
/// syntax of draft-ietf-ediint-rfc4130bis §6.2 (`[PEN-<number>:]<product-name>:<version>`).
pub const DEFAULT_AS2_PRODUCT: &str = concat!("as2-proto:", env!("CARGO_PKG_VERSION"));

/// Longest received AS2-Product kept on [`Incoming`](crate::message::inbound::Incoming)
/// and parsed MDNs; the rest is cut.
pub const MAX_AS2_PRODUCT_LEN: usize = 128;

/// Checks an AS2-Product value before it is written (draft-ietf-ediint-rfc4130bis §6.2):
/// an optional `PEN-<digits>:` prefix, a product name of lowercase letters, digits and
/// `-`, a colon, and a version that starts with a digit and holds letters, digits, `.`,
/// `-` and `_` (`1.2-drummond`); 128 characters at most. Anything else is
/// [`Error::InvalidHeader`].
pub fn check_as2_product(value: &str) -> Result<(), Error> {
    let invalid = Error::InvalidHeader {
        header: "AS2-Product",
        reason: "must be [PEN-<number>:]<product-name>:<version> (lowercase name, numeric version)",
    };
    if value.is_empty() || value.len() > MAX_AS2_PRODUCT_LEN {
        return Err(invalid);
    }
    let rest = match value.strip_prefix("PEN-") {
        Some(pen) => {
            let (number, rest) = pen.split_once(':').ok_or(invalid.clone())?;
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid);
            }
            rest
        }
        None => value,
    };
    let (name, version) = rest.split_once(':').ok_or(invalid.clone())?;
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let version_ok = version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if name_ok && version_ok {
        Ok(())
    } else {
        Err(invalid)
    }
}

/// A received AS2-Product value as kept: control and non-ASCII characters replaced by
/// `?`, trimmed, cut to [`MAX_AS2_PRODUCT_LEN`] characters; `None` when absent or empty.
/// Not checked against the draft's syntax: it is informative, and products differ.
pub fn received_as2_product(value: Option<&[u8]>) -> Option<String> {
    let value = value?.trim_ascii();
    let kept: String = value
        .iter()
        .take(MAX_AS2_PRODUCT_LEN)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Reads a Receipt-Delivery-Option value (RFC 4130 §7.3): the URL an asynchronous MDN is
/// POSTed to. It must be an absolute `http` or `https` URI with a host, of visible ASCII
/// only (no spaces, CR, LF or other control characters, no backslash); anything else is
/// [`Error::InvalidHeader`] (`INVALID_REQUEST`), so that a hostile value never reaches the
/// request line or headers of the POST. An empty value means no asynchronous MDN
/// (`None`). `mailto:` delivery (AS1-style) is not supported and refused the same way.
pub fn receipt_delivery_url(value: &[u8]) -> Result<Option<String>, Error> {
    let invalid = |reason| Error::InvalidHeader {
        header: "Receipt-Delivery-Option",
        reason,
    };
    let value = value.trim_ascii();
    if value.is_empty() {
        return Ok(None);
    }
    if !value.iter().all(|b| b.is_ascii_graphic() && *b != b'\\') {
        return Err(invalid(
            "only visible ASCII is allowed (no spaces, line breaks or control characters)",
        ));
    }
    let text = String::from_utf8_lossy(value).into_owned();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| {
            text.get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .and_then(|_| text.get(scheme.len()..))
        })
        .ok_or(invalid("must be an absolute http or https URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(invalid("the URL has no host"));
    }
    Ok(Some(text))
}

/// Checks a received AS2-Version value (absent means 1.0): any `1.x`
/// ([`As2Version::of_header`]).
pub fn check_as2_version(value: Option<&[u8]>) -> Result<(), Error> {
    As2Version::of_header(value).map(|_| ())
}

/// The MIC algorithm of a receipt when the request names none we support, or none at
/// all: SHA-256 (RFC 5751's mandatory algorithm).
pub const DEFAULT_RECEIPT_MICALG: DigestAlgorithm = DigestAlgorithm::Sha256;

/// One parameter of Disposition-Notification-Options: importance and values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionParameter {
    /// `required` or `optional`, lower-cased.
    pub importance: String,
    /// The values, as sent (trimmed).
    pub values: Vec<String>,
}

/// Disposition-Notification-Options (RFC 4130 §7.3): what kind of receipt the sender wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispositionOptions {
    /// `signed-receipt-protocol`.
    pub protocol: Option<OptionParameter>,
    /// `signed-receipt-micalg`, in the sender's order of preference.
    pub micalg: Option<OptionParameter>,
}

impl DispositionOptions {
    /// Parses the header leniently: parameters in any order and case, with `;` between
    /// them and `,` between values; unknown parameters are ignored.
    pub fn parse(value: &[u8]) -> Self {
        let text = String::from_utf8_lossy(value);
        let mut options = DispositionOptions::default();
        for param in text.split(';') {
            let Some((name, rest)) = param.split_once('=') else {
                continue;
            };
            let mut items = rest
                .split(',')
                .map(|v| v.trim().trim_matches('"').to_owned());
            let importance = items.next().unwrap_or_default().to_ascii_lowercase();
            let parsed = OptionParameter {
                importance,
                values: items.filter(|v| !v.is_empty()).collect(),
            };
            match name.trim().to_ascii_lowercase().as_str() {
                "signed-receipt-protocol" => options.protocol = Some(parsed),
                "signed-receipt-micalg" => options.micalg = Some(parsed),
                _ => {}
            }
        }
        options
    }

    /// Whether a signed receipt (`pkcs7-signature`) was requested.
    pub fn signed_receipt_requested(&self) -> bool {
        self.protocol.as_ref().is_some_and(|p| {
            p.values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("pkcs7-signature"))
        })
    }

    /// Whether the signed receipt was marked `required` (not merely `optional`).
    pub fn signed_receipt_required(&self) -> bool {
        self.signed_receipt_requested()
            && self
                .protocol
                .as_ref()
                .is_some_and(|p| p.importance == "required")
    }

    /// The sender's micalg list as names.
    pub fn micalg_names(&self) -> &[String] {
        self.micalg.as_ref().map_or(&[], |m| m.values.as_slice())
    }

    /// How the sender spells `algorithm` in its micalg list, so that the MDN names it
    /// the same way (some products compare the names as strings): the style of its name
    /// for `algorithm`, else of the first name it wrote in a known style, else
    /// [`MicNameStyle::Dashed`](crate::mic::MicNameStyle::Dashed) (RFC 5751's spelling).
    pub fn mic_style(&self, algorithm: DigestAlgorithm) -> crate::mic::MicNameStyle {
        use crate::mic::MicNameStyle;
        let names = self.micalg_names();
        names
            .iter()
            .filter(|n| DigestAlgorithm::from_name(n) == Some(algorithm))
            .find_map(|n| MicNameStyle::of_name(n))
            .or_else(|| names.iter().find_map(|n| MicNameStyle::of_name(n)))
            .unwrap_or_default()
    }

    /// The first algorithm of the sender's list that we support (RFC 4130 §7.3: the list
    /// is in order of preference).
    pub fn preferred_micalg(&self) -> Option<DigestAlgorithm> {
        self.micalg_names()
            .iter()
            .find_map(|n| DigestAlgorithm::from_name(n))
    }

    /// The algorithm of the receipt's signature and of an unsigned message's MIC: the
    /// [`preferred_micalg`](Self::preferred_micalg), else [`DEFAULT_RECEIPT_MICALG`]
    /// (when the sender named none we support, or none at all).
    pub fn receipt_micalg(&self) -> DigestAlgorithm {
        self.preferred_micalg().unwrap_or(DEFAULT_RECEIPT_MICALG)
    }

    /// The header value requesting the signed receipt `receipt` describes: its MIC
    /// algorithms in order, each parameter `required` or `optional` as it says, written
    /// protocol first (pyas2lib fails on the other order). An empty algorithm list asks
    /// for SHA-256.
    ///
    /// ```
    /// # use as2_proto::cms::algorithm::DigestAlgorithm;
    /// # use as2_proto::message::headers::{DispositionOptions, SignedReceipt};
    /// # use as2_proto::mic::MicNameStyle;
    /// let receipt = SignedReceipt::new(&[DigestAlgorithm::Sha256]).required();
    /// assert_eq!(
    ///     DispositionOptions::signed_request(&receipt, MicNameStyle::Dashed),
    ///     "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-256"
    /// );
    /// ```
    pub fn signed_request(receipt: &SignedReceipt, style: crate::mic::MicNameStyle) -> String {
        let names: Vec<&str> = receipt
            .micalgs_or_default()
            .iter()
            .map(|a| a.mic_name(style))
            .collect();
        format!(
            "signed-receipt-protocol={}, pkcs7-signature; signed-receipt-micalg={}, {}",
            receipt.protocol.as_str(),
            receipt.micalg.as_str(),
            names.join(", ")
        )
    }
}

/// How strongly a Disposition-Notification-Options parameter is asked for (RFC 4130
/// §7.3, RFC 8098 §2.2): a receiver that cannot honour a `required` parameter refuses the
/// message; an `optional` one may be ignored (and the receipt sent unsigned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Importance {
    /// `required`.
    Required,
    /// `optional` (the default: what most AS2 products send).
    #[default]
    Optional,
}

impl Importance {
    /// The token, `required` or `optional`.
    pub fn as_str(self) -> &'static str {
        match self {
            Importance::Required => "required",
            Importance::Optional => "optional",
        }
    }
}

/// A request for a signed receipt (RFC 4130 §7.3): the `signed-receipt-protocol`
/// (`pkcs7-signature`) and `signed-receipt-micalg` parameters of
/// Disposition-Notification-Options.
///
/// Both parameters are `optional` by default; [`required`](Self::required) marks both
/// `required`, or set [`protocol`](Self::protocol) and [`micalg`](Self::micalg) one by
/// one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedReceipt {
    /// The MIC algorithms offered, in order of preference (the receiver signs with, and
    /// computes the MIC of an unsigned message with, the first it supports). Empty asks
    /// for SHA-256.
    pub micalgs: Vec<DigestAlgorithm>,
    /// The importance of `signed-receipt-protocol`.
    pub protocol: Importance,
    /// The importance of `signed-receipt-micalg`.
    pub micalg: Importance,
}

impl SignedReceipt {
    /// A signed receipt with MIC algorithms `micalgs` in order of preference, both
    /// parameters `optional`.
    pub fn new(micalgs: &[DigestAlgorithm]) -> Self {
        SignedReceipt {
            micalgs: micalgs.to_vec(),
            protocol: Importance::Optional,
            micalg: Importance::Optional,
        }
    }

    /// Marks both parameters `required`.
    pub fn required(mut self) -> Self {
        self.protocol = Importance::Required;
        self.micalg = Importance::Required;
        self
    }

    /// The algorithms asked for: [`micalgs`](Self::micalgs), or
    /// [`DEFAULT_RECEIPT_MICALG`] when it is empty.
    pub fn micalgs_or_default(&self) -> &[DigestAlgorithm] {
        if self.micalgs.is_empty() {
            &[DEFAULT_RECEIPT_MICALG]
        } else {
            &self.micalgs
        }
    }

    /// The preferred algorithm: the first asked for. The receiver signs with it (every
    /// algorithm we ask for we also support: [`DispositionOptions::receipt_micalg`] of
    /// the header we write).
    pub fn preferred(&self) -> DigestAlgorithm {
        self.micalgs
            .first()
            .copied()
            .unwrap_or(DEFAULT_RECEIPT_MICALG)
    }
}

impl Default for SignedReceipt {
    /// SHA-256, both parameters `optional`.
    fn default() -> Self {
        SignedReceipt::new(&[DigestAlgorithm::Sha256])
    }
}

/// One EDIINT-Features token (RFC 6017 §2): a feature the *sending* application says it
/// supports. The set is open: tokens we do not know are kept as [`Feature::Other`], spelled
/// exactly as received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// `multiple-attachments`: several payloads in one message as `multipart/related`
    /// (draft-meadors-multiple-attachments-ediint).
    MultipleAttachments,
    /// `CEM`: Certificate Exchange Messaging (draft-meadors-certificate-exchange).
    Cem,
    /// `AS2-Reliability`: the sender resends a message whose receipt did not arrive, with
    /// the same Message-ID, and the receiver detects such duplicates and answers them
    /// without delivering the payload again (draft-duker-as2-reliability).
    As2Reliability,
    /// Any other token, as sent.
    Other(String),
}

impl Feature {
    /// The feature a token names: the known ones case-insensitively, anything else kept
    /// as given (trimmed).
    pub fn parse(token: &str) -> Self {
        let token = token.trim();
        [
            Feature::MultipleAttachments,
            Feature::Cem,
            Feature::As2Reliability,
        ]
        .into_iter()
        .find(|known| known.as_str().eq_ignore_ascii_case(token))
        .unwrap_or_else(|| Feature::Other(token.to_owned()))
    }

    /// The token: RFC 6017's spelling for the known features, the received text for
    /// others.
    pub fn as_str(&self) -> &str {
        match self {
            Feature::MultipleAttachments => "multiple-attachments",
            Feature::Cem => "CEM",
            Feature::As2Reliability => "AS2-Reliability",
            Feature::Other(token) => token,
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What this crate implements of the EDIINT-Features list, and so what every outbound
/// message advertises by default (see [`OutboundMessage::features`]). Add a feature here
/// when it lands, never before: a partner that believes the header sends what it names
/// (Mendelson sends multipart payloads to a partner advertising `multiple-attachments`).
///
/// Today the list is empty, and the header is then not sent (RFC 6017 lists at least one
/// feature per header):
///
/// - `multiple-attachments`: implemented, but receiving it is the agreement's choice
///   ([`InboundPolicy::accept_attachments`], off by default), so it is not advertised by
///   default; a message that carries attachments advertises it, and an application that
///   accepts them adds [`Feature::MultipleAttachments`] to [`OutboundMessage::features`].
/// - `CEM`: certificate exchange messages are neither sent nor understood.
/// - `AS2-Reliability`: the receiving half is here (a [`DuplicateCheck`] hook; a duplicate
///   is not delivered again and is answered `processed/Warning: duplicate-document`), but
///   the sending half, resending with the same Message-ID when no receipt arrives, is the
///   application's retry loop, which a no-I/O library cannot promise. An application that
///   does both may add [`Feature::As2Reliability`] to [`OutboundMessage::features`].
///
/// [`OutboundMessage::features`]: crate::message::outbound::OutboundMessage::features
/// [`DuplicateCheck`]: crate::message::inbound::DuplicateCheck
/// [`InboundPolicy::accept_attachments`]: crate::message::inbound::InboundPolicy::accept_attachments
pub const SUPPORTED_FEATURES: &[Feature] = &[];

/// An EDIINT-Features header value (RFC 6017): a comma-separated token list. Unknown
/// tokens are kept and never an error; [`EdiintFeatures::to_header`] writes them back as
/// received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdiintFeatures(pub Vec<Feature>);

impl EdiintFeatures {
    /// Parses a comma-separated token list (empty tokens are skipped).
    pub fn parse(value: &[u8]) -> Self {
        EdiintFeatures(
            String::from_utf8_lossy(value)
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(Feature::parse)
                .collect(),
        )
    }

    /// Whether `feature` (e.g. `multiple-attachments`) is listed, case-insensitively.
    pub fn has(&self, feature: &str) -> bool {
        self.0
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case(feature))
    }

    /// Whether `feature` is listed.
    pub fn contains(&self, feature: &Feature) -> bool {
        self.has(feature.as_str())
    }

    /// The header value, `a, b, c`; `None` for an empty list (send no header then).
    pub fn to_header(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let tokens: Vec<&str> = self.0.iter().map(Feature::as_str).collect();
        // A caller-made `Feature::Other` must not inject headers.
        Some(sanitize_header_value(&tokens.join(", ")))
    }
}

/// The AS2 header block (RFC 4130 §6.1, §7.3): the fields every AS2 message, MDN and
/// plain acknowledgement starts with, in the one order this crate writes them.
///
/// `AS2-Version`, `AS2-Product` (when one is sent), `EDIINT-Features` (when there are
/// features to advertise), `AS2-From`,
/// `AS2-To`, then for a message or an MDN (a MIME entity with its own `message_id`)
/// `Message-ID`; `Date`; for a message or an MDN `MIME-Version`; `Subject` when there is
/// one; and the receipt request of a message. The caller appends the entity's own
/// headers (Content-Type, ...).
#[derive(Clone, Debug)]
pub(crate) struct As2HeaderBlock<'a> {
    /// AS2-From: who writes.
    pub(crate) from: &'a As2Id,
    /// AS2-To: who reads.
    pub(crate) to: &'a As2Id,
    /// The Message-ID of a message or MDN; `None` for a plain acknowledgement, which is
    /// neither (and then has no MIME-Version either).
    pub(crate) message_id: Option<&'a MessageId>,
    /// The Date, written as an IMF-fixdate.
    pub(crate) date: SystemTime,
    /// The features to advertise in EDIINT-Features (none: no header).
    pub(crate) features: &'a [Feature],
    /// The Subject, sanitised before it is written.
    pub(crate) subject: Option<&'a str>,
    /// The receipt a message asks for.
    pub(crate) receipt: Option<ReceiptHeaders<'a>>,
    /// The AS2-Version to declare.
    pub(crate) version: As2Version,
    /// The AS2-Product to send, if any (checked by the caller, sanitised here).
    pub(crate) product: Option<&'a str>,
}

/// The MDN request headers of a message (RFC 4130 §7.3).
#[derive(Clone, Debug)]
pub(crate) struct ReceiptHeaders<'a> {
    /// Disposition-Notification-To.
    pub(crate) return_to: String,
    /// Disposition-Notification-Options, for a signed receipt.
    pub(crate) options: Option<String>,
    /// Receipt-Delivery-Option, for an asynchronous receipt.
    pub(crate) async_url: Option<&'a str>,
}

impl<'a> As2HeaderBlock<'a> {
    /// A block from `from` to `to` at `date`, with no Message-ID (add it for a message or
    /// an MDN), features, subject or receipt request.
    pub(crate) fn new(from: &'a As2Id, to: &'a As2Id, date: SystemTime) -> Self {
        As2HeaderBlock {
            from,
            to,
            message_id: None,
            date,
            features: &[],
            subject: None,
            receipt: None,
            version: As2Version::default(),
            product: None,
        }
    }

    /// The header fields, in order.
    pub(crate) fn write(&self) -> HttpHeaders {
        let mut headers = HttpHeaders::new();
        headers.push("AS2-Version", self.version.to_string());
        if let Some(product) = self.product {
            headers.push("AS2-Product", sanitize_header_value(product));
        }
        if let Some(features) = EdiintFeatures(self.features.to_vec()).to_header() {
            headers.push("EDIINT-Features", features);
        }
        headers.push("AS2-From", self.from.to_header());
        headers.push("AS2-To", self.to.to_header());
        if let Some(id) = self.message_id {
            headers.push("Message-ID", id.as_str());
        }
        headers.push("Date", http_date(self.date));
        if self.message_id.is_some() {
            headers.push("MIME-Version", "1.0");
        }
        if let Some(subject) = self.subject {
            headers.push("Subject", sanitize_header_value(subject));
        }
        if let Some(receipt) = &self.receipt {
            headers.push("Disposition-Notification-To", receipt.return_to.as_str());
            if let Some(options) = &receipt.options {
                headers.push("Disposition-Notification-Options", options.as_str());
            }
            if let Some(url) = receipt.async_url {
                headers.push("Receipt-Delivery-Option", url);
            }
        }
        headers
    }
}

/// A multipart boundary from the caller's random source.
pub(crate) fn boundary<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    mime::generate_boundary(&bytes)
}

/// Drops CR, LF and NUL so a caller's text cannot inject or fold headers.
pub(crate) fn sanitize_header_value(value: &str) -> String {
    value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect()
}

/// An RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        .get((days % 7) as usize)
        .copied()
        .unwrap_or("Thu");
    let (year, month, day) = crate::time::civil_from_days(days as i64);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get(usize::try_from(month.saturating_sub(1)).unwrap_or(0))
    .copied()
    .unwrap_or("Jan");
    format!("{weekday}, {day:02} {month_name} {year} {hour:02}:{minute:02}:{second:02} GMT")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mic::MicNameStyle;

    /// One order for every writer; the acknowledgement has neither Message-ID nor
    /// MIME-Version, and a subject cannot inject a header.
    #[test]
    fn header_block_order() {
        use crate::cert::unix_time;
        let (a, b) = (As2Id::new("A").unwrap(), As2Id::new("B b").unwrap());
        let id = MessageId::parse(b"<1@a>").unwrap();
        let names = |h: &HttpHeaders| h.iter().map(|(n, _)| n.to_owned()).collect::<Vec<_>>();
        let ack = As2HeaderBlock::new(&a, &b, unix_time(0)).write();
        assert_eq!(names(&ack), ["AS2-Version", "AS2-From", "AS2-To", "Date"]);
        assert_eq!(ack.get_str("AS2-To"), Some("\"B b\""));
        let full = As2HeaderBlock {
            message_id: Some(&id),
            features: &[Feature::MultipleAttachments],
            subject: Some("PO\r\nX-Evil: 1"),
            receipt: Some(ReceiptHeaders {
                return_to: "as2@a".into(),
                options: Some("signed-receipt-protocol=optional, pkcs7-signature".into()),
                async_url: Some("https://a/mdn"),
            }),
            ..As2HeaderBlock::new(&a, &b, unix_time(0))
        }
        .write();
        assert_eq!(
            names(&full),
            [
                "AS2-Version",
                "EDIINT-Features",
                "AS2-From",
                "AS2-To",
                "Message-ID",
                "Date",
                "MIME-Version",
                "Subject",
                "Disposition-Notification-To",
                "Disposition-Notification-Options",
                "Receipt-Delivery-Option",
            ]
        );
        assert_eq!(full.get_str("Subject"), Some("POX-Evil: 1"));
    }

    #[test]
    fn http_dates() {
        use crate::cert::unix_time;
        assert_eq!(
            http_date(unix_time(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(http_date(unix_time(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(unix_time(1_709_164_800)),
            "Thu, 29 Feb 2024 00:00:00 GMT"
        );
    }

    #[test]
    fn header_values_are_sanitised() {
        assert_eq!(sanitize_header_value("a\0b\r\nc"), "abc");
    }

    /// Order, duplicates, case-insensitive lookup, and edits.
    #[test]
    fn http_headers_keep_order_and_duplicates() {
        let mut h: HttpHeaders = [("A", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        h.push("Raw", &b"caf\xe9"[..]);
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("a"), Some(&b"1"[..]));
        assert_eq!(h.get_all("A").collect::<Vec<_>>(), [b"1", b"3"]);
        assert_eq!(h.get_str("raw"), None, "not UTF-8");
        assert_eq!(h.get("raw"), Some(&b"caf\xe9"[..]));
        assert!(h.contains("B") && !h.contains("c"));
        let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A", "b", "a", "Raw"]);
        assert_eq!(
            h.head_bytes(),
            b"A: 1\r\nb: 2\r\na: 3\r\nRaw: caf\xe9\r\n\r\n"
        );

        // `set` replaces the first in place and drops the later ones; appends if absent.
        h.set("a", "4");
        assert_eq!(
            (&h).into_iter().collect::<Vec<_>>(),
            [("A", &b"4"[..]), ("b", b"2"), ("Raw", b"caf\xe9")]
        );
        h.set("Content-Length", "9");
        assert_eq!(h.iter().last(), Some(("Content-Length", &b"9"[..])));
        assert_eq!(h.remove("content-length"), 1);
        assert_eq!(h.remove("content-length"), 0);
        h.extend([("b", "5")]);
        assert_eq!(h.remove("B"), 2);
        assert_eq!(h.len(), 2);
        assert!(HttpHeaders::new().is_empty());
    }

    /// JSON: a list of pairs both ways (order and duplicates survive), an object read in
    /// document order, and non-UTF-8 values refused rather than altered.
    #[test]
    fn http_headers_serde() {
        let h: HttpHeaders = [("Z", "1"), ("a", "é \"q\""), ("z", "2")]
            .into_iter()
            .collect();
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"[["Z","1"],["a","é \"q\""],["z","2"]]"#);
        assert_eq!(serde_json::from_str::<HttpHeaders>(&json).unwrap(), h);
        let empty = serde_json::to_string(&HttpHeaders::new()).unwrap();
        assert_eq!(empty, "[]");

        let object: HttpHeaders =
            serde_json::from_str(r#"{"Zeta": "1", "Alpha": "2", "Mid": "3"}"#).unwrap();
        let names: Vec<&str> = object.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Zeta", "Alpha", "Mid"]);
        assert_eq!(object.get_str("alpha"), Some("2"));

        for bad in [
            r#"[["a"]]"#,
            r#"[["a", "b", "c"]]"#,
            r#"[["a", 1]]"#,
            r#"{"a": 1}"#,
            r#"{"a": ["b"]}"#,
            r#""a: b""#,
            "7",
        ] {
            assert!(serde_json::from_str::<HttpHeaders>(bad).is_err(), "{bad}");
        }

        let mut raw = HttpHeaders::new();
        raw.push("X-Name", &b"caf\xe9"[..]);
        let err = serde_json::to_string(&raw).unwrap_err();
        assert!(err.to_string().contains("X-Name"), "{err}");
    }

    #[test]
    fn as2_ids_parse_from_str() {
        let id: As2Id = "PartnerA".parse().unwrap();
        assert_eq!(id, As2Id::new("PartnerA").unwrap());
        assert!("../x".parse::<As2Id>().is_err());
    }

    #[test]
    fn as2_ids_quote_and_validate() {
        let id = As2Id::from_header("AS2-From", br#""My \"Company\" Ltd""#).unwrap();
        assert_eq!(id.as_str(), r#"My "Company" Ltd"#);
        assert_eq!(id.to_header(), r#""My \"Company\" Ltd""#);
        assert_eq!(
            As2Id::from_header("AS2-From", &id.to_header().into_bytes()).unwrap(),
            id
        );
        assert_eq!(
            As2Id::new("PartnerA_OID").unwrap().to_header(),
            "PartnerA_OID"
        );
        assert!(As2Id::new("").is_err());
        assert!(As2Id::new(&"x".repeat(129)).is_err());
        assert!(As2Id::new(&"x".repeat(128)).is_ok());
        assert!(As2Id::new("tab\there").is_err());
        // Case-sensitive.
        assert_ne!(As2Id::new("abc").unwrap(), As2Id::new("ABC").unwrap());
    }

    #[test]
    fn as2_ids_are_never_paths() {
        for id in [
            "../../x", "..", ".", "a/b", "/etc", "a\\b", "..\\x", "nul\0",
        ] {
            assert!(As2Id::new(id).is_err(), "{id:?}");
        }
        for value in [&b"../../x"[..], b"\"../../x\"", b"\"a\\\\b\"", b"\"..\""] {
            let err = As2Id::from_header("AS2-To", value).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidHeader {
                        header: "AS2-To",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidRequest);
        }
        // Dots inside a name are no path.
        assert!(As2Id::new("acme.example..com").is_ok());
        assert!(As2Id::new("...").is_ok());
    }

    #[test]
    fn receipt_delivery_urls() {
        for ok in [
            "http://127.0.0.1:5081/as2",
            "HTTPS://as2.example.com/mdn?x=1#f",
            "http://user@host/",
            " http://host ",
        ] {
            assert_eq!(
                receipt_delivery_url(ok.as_bytes()).unwrap().as_deref(),
                Some(ok.trim()),
                "{ok:?}"
            );
        }
        assert_eq!(receipt_delivery_url(b"").unwrap(), None);
        assert_eq!(receipt_delivery_url(b"  ").unwrap(), None);
        for bad in [
            &b"http://host/a\r\nX-Injected: 1"[..],
            b"http://host/a\nb",
            b"http://host/a b",
            b"http://host/\x00",
            b"http://host/\x7f",
            b"http://h\xc3\xa9st/",
            b"http:\\\\host\\",
            b"mailto:as2@example.com",
            b"ftp://host/",
            b"/relative/path",
            b"host:80/as2",
            b"http://",
            b"http:///path",
            b"http://user@/x",
            b"http://:80/x",
            b"javascript:alert(1)",
        ] {
            let err = receipt_delivery_url(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidHeader {
                        header: "Receipt-Delivery-Option",
                        ..
                    }
                ),
                "{:?}: {err:?}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn message_ids() {
        let id = MessageId::parse(b" <abc@example.com> ").unwrap();
        assert_eq!(id.as_str(), "<abc@example.com>");
        assert_eq!(id.bare(), "abc@example.com");
        assert_eq!(MessageId::parse(b"abc@x").unwrap().bare(), "abc@x");
        assert!(MessageId::parse(&vec![b'a'; 998]).is_ok());
        assert!(MessageId::parse(&vec![b'a'; 999]).is_err());
        assert!(MessageId::parse(b"").is_err());
    }

    #[test]
    fn disposition_options_any_order_and_case() {
        let o = DispositionOptions::parse(
            b"Signed-Receipt-MICalg=optional, SHA256, sha-1; signed-receipt-protocol=required, PKCS7-Signature",
        );
        assert!(o.signed_receipt_requested());
        assert!(o.signed_receipt_required());
        assert_eq!(o.preferred_micalg(), Some(DigestAlgorithm::Sha256));
        let o = DispositionOptions::parse(
            b"signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, md5, sha1",
        );
        assert_eq!(o.preferred_micalg(), Some(DigestAlgorithm::Sha1));
        assert!(!o.signed_receipt_required());
        let written = DispositionOptions::signed_request(
            &SignedReceipt::new(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1]),
            MicNameStyle::Dashed,
        );
        assert_eq!(
            written,
            "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256, sha-1"
        );
        let o = DispositionOptions::parse(written.as_bytes());
        assert_eq!(o.micalg_names(), ["sha-256", "sha-1"]);
        assert!(o.signed_receipt_requested());
        assert!(!o.signed_receipt_required());
    }

    /// `required` is written when asked for, per parameter, and read back as such.
    #[test]
    fn signed_receipt_importance() {
        let required = SignedReceipt::new(&[DigestAlgorithm::Sha256]).required();
        let written = DispositionOptions::signed_request(&required, MicNameStyle::Dashed);
        assert_eq!(
            written,
            "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-256"
        );
        let o = DispositionOptions::parse(written.as_bytes());
        assert!(o.signed_receipt_required());
        assert_eq!(o.micalg.as_ref().unwrap().importance, "required");

        let mut mixed = SignedReceipt::new(&[DigestAlgorithm::Sha384]);
        mixed.micalg = Importance::Required;
        let written = DispositionOptions::signed_request(&mixed, MicNameStyle::Legacy);
        assert_eq!(
            written,
            "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=required, sha384"
        );
        let o = DispositionOptions::parse(written.as_bytes());
        assert!(!o.signed_receipt_required());
        assert_eq!(o.micalg.as_ref().unwrap().importance, "required");

        // No algorithm asks for SHA-256.
        let written =
            DispositionOptions::signed_request(&SignedReceipt::new(&[]), MicNameStyle::Dashed);
        assert!(
            written.ends_with("signed-receipt-micalg=optional, sha-256"),
            "{written}"
        );
        assert_eq!(
            SignedReceipt::default(),
            SignedReceipt::new(&[DigestAlgorithm::Sha256])
        );
    }

    #[test]
    fn mic_style_follows_the_request() {
        let style = |value: &[u8], alg| DispositionOptions::parse(value).mic_style(alg);
        let legacy = b"signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha256, sha-1";
        assert_eq!(style(legacy, DigestAlgorithm::Sha256), MicNameStyle::Legacy);
        assert_eq!(style(legacy, DigestAlgorithm::Sha1), MicNameStyle::Dashed);
        // Not in the list: the first known spelling.
        assert_eq!(style(legacy, DigestAlgorithm::Sha512), MicNameStyle::Legacy);
        let odd = b"signed-receipt-micalg=optional, md5, SHA_256, SHA384";
        assert_eq!(style(odd, DigestAlgorithm::Sha256), MicNameStyle::Legacy);
        // Nothing to go by: RFC 5751's spelling.
        assert_eq!(style(b"", DigestAlgorithm::Sha256), MicNameStyle::Dashed);
        assert_eq!(
            style(
                b"signed-receipt-micalg=optional, md5, sha_1",
                DigestAlgorithm::Sha1
            ),
            MicNameStyle::Dashed
        );
    }

    #[test]
    fn ediint_features_ignore_unknown() {
        let f = EdiintFeatures::parse(b"multiple-attachments, CEM, future-thing");
        assert!(f.has("cem"));
        assert!(f.has("future-thing"));
        assert!(!f.has("AS2-Reliability"));
        assert!(f.contains(&Feature::Cem));
        assert!(!f.contains(&Feature::As2Reliability));
    }

    #[test]
    fn ediint_features_typed_and_open() {
        let f = EdiintFeatures::parse(
            b" Multiple-Attachments ,,cem, X-Future.Thing/2 ,AS2-RELIABILITY,",
        );
        assert_eq!(
            f.0,
            [
                Feature::MultipleAttachments,
                Feature::Cem,
                Feature::Other("X-Future.Thing/2".into()),
                Feature::As2Reliability,
            ]
        );
        // Known tokens in RFC 6017's spelling, unknown ones exactly as received.
        let header = f.to_header().unwrap();
        assert_eq!(
            header,
            "multiple-attachments, CEM, X-Future.Thing/2, AS2-Reliability"
        );
        assert_eq!(EdiintFeatures::parse(header.as_bytes()), f);
        assert_eq!(EdiintFeatures::parse(b" , ").to_header(), None);
        let injected = EdiintFeatures(vec![Feature::Other("a\r\nX-Evil: 1\0".into())]);
        assert_eq!(injected.to_header().unwrap(), "aX-Evil: 1");
    }

    #[test]
    fn nothing_unimplemented_is_advertised() {
        // Neither multipart payloads nor certificate exchange messages are implemented.
        let supported = EdiintFeatures(SUPPORTED_FEATURES.to_vec());
        assert!(!supported.contains(&Feature::MultipleAttachments));
        assert!(!supported.contains(&Feature::Cem));
    }

    #[test]
    fn as2_versions() {
        assert!(check_as2_version(None).is_ok());
        assert!(check_as2_version(Some(b"1.1")).is_ok());
        assert!(check_as2_version(Some(b"2.0")).is_err());
        assert_eq!(As2Version::of_header(None).unwrap(), As2Version::V1_0);
        for (text, minor) in [
            ("1.0", 0),
            (" 1.3 ", 3),
            ("1.9", 9),
            ("1.10", 10),
            ("1.255", 255),
        ] {
            assert_eq!(
                As2Version::parse(text.as_bytes()).unwrap().minor(),
                minor,
                "{text}"
            );
        }
        for bad in [
            "", "1", "1.", "1.x", "1.256", "1.0001", "2.0", "0.9", "1.3.1", "1.-1", "v1.3",
        ] {
            let err = As2Version::parse(bad.as_bytes()).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidRequest, "{bad}");
        }
        assert_eq!(As2Version::V1_3.to_string(), "1.3");
        assert_eq!(As2Version::default(), As2Version::V1_2);
        assert_eq!(As2Version::default().to_string(), AS2_VERSION);
        assert!(As2Version::V1_3.forbids_weak_algorithms());
        assert!(!As2Version::V1_2.forbids_weak_algorithms());
        assert!(As2Version::new(4) > As2Version::V1_3);
        // serde: a string, or a TOML/JSON number.
        assert_eq!(serde_json::to_string(&As2Version::V1_3).unwrap(), "\"1.3\"");
        assert_eq!(
            serde_json::from_str::<As2Version>("\"1.3\"").unwrap(),
            As2Version::V1_3
        );
        assert_eq!(
            serde_json::from_str::<As2Version>("1.3").unwrap(),
            As2Version::V1_3
        );
        assert!(serde_json::from_str::<As2Version>("\"2.0\"").is_err());
    }

    #[test]
    fn as2_products() {
        for good in [
            DEFAULT_AS2_PRODUCT,
            "as2-proto:0.1.0",
            "biztalk:2025.1",
            "PEN-12345:as2gateway:2.1.0",
            "example-connect:4.2.3",
            "x:1.2-drummond",
        ] {
            assert!(check_as2_product(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "as2-proto/0.1.0",
            "As2Proto:1.0",
            "as2 proto:1.0",
            ":1.0",
            "name:",
            "name:v1",
            "PEN-:x:1",
            "PEN-12a:x:1",
            "x:1.0\r\nX-Evil: 1",
        ] {
            assert!(check_as2_product(bad).is_err(), "{bad:?}");
        }
        assert!(check_as2_product(&format!("a:1.{}", "0".repeat(125))).is_err());
        assert!(DEFAULT_AS2_PRODUCT.starts_with("as2-proto:"));
        // Received values: kept printable, cut, never an error.
        assert_eq!(received_as2_product(None), None);
        assert_eq!(received_as2_product(Some(b"  ")), None);
        assert_eq!(
            received_as2_product(Some(b" Vendor X/1.0\x01\xff ")).as_deref(),
            Some("Vendor X/1.0??")
        );
        let long = vec![b'a'; 500];
        assert_eq!(
            received_as2_product(Some(&long)).unwrap().len(),
            MAX_AS2_PRODUCT_LEN
        );
    }

    /// The header block declares the version it is given, and AS2-Product right after it.
    #[test]
    fn header_block_version_and_product() {
        use crate::cert::unix_time;
        let (a, b) = (As2Id::new("A").unwrap(), As2Id::new("B").unwrap());
        let block = As2HeaderBlock {
            version: As2Version::V1_3,
            product: Some("as2-proto:9.9.9\r\nX: y"),
            ..As2HeaderBlock::new(&a, &b, unix_time(0))
        }
        .write();
        let names: Vec<&str> = block.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["AS2-Version", "AS2-Product", "AS2-From", "AS2-To", "Date"]
        );
        assert_eq!(block.get_str("AS2-Version"), Some("1.3"));
        assert_eq!(block.get_str("AS2-Product"), Some("as2-proto:9.9.9X: y"));
        let plain = As2HeaderBlock::new(&a, &b, unix_time(0)).write();
        assert_eq!(plain.get_str("AS2-Version"), Some("1.2"));
        assert!(!plain.contains("AS2-Product"));
    }
}
