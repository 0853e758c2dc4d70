//! MIME layer (RFC 2045 / RFC 2046 / RFC 5751 §3.1.1) for AS2 (RFC 4130).
//!
//! * Parsing borrows from the input; header values are raw `&[u8]` because
//!   not every peer sends ASCII.
//! * Every [`Part`] records **absolute** byte ranges (whole entity, header
//!   block, body) into the *root* buffer that was handed to [`parse_part`] /
//!   [`Part::from_body`], even for nested parts, so S/MIME signatures can be
//!   verified over exactly the received bytes. Nothing is re-serialised.
//! * No panics on any input; resource use is bounded by [`MimeLimits`], and
//!   each limit violation is its own [`MimeError`] variant.
//! * The module never draws entropy itself: [`generate_boundary`] takes the
//!   caller's random bytes.
//!
//! Leniency decisions (all documented on the items concerned):
//! * Line ends may be CRLF or bare LF, mixed freely; a bare CR is data.
//! * A header block ends at the first empty line, or at the end of the entity
//!   right after a complete (line-terminated) header line ("headers-only"
//!   entity, allowed by the RFC 2046 `body-part` grammar). A last header line
//!   without any line terminator is [`MimeError::UnterminatedHeaders`].
//! * Duplicate `Content-Type` / `Content-Transfer-Encoding` headers are an
//!   error (different parsers picking different copies is a smuggling vector).
//! * A multipart body without a close delimiter is accepted: the last part runs
//!   to the end of the body and [`Multipart::closed`] is `false`, so a caller
//!   can still be strict.

#![warn(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

pub(crate) mod stream;

/// The longest boundary accepted or written: RFC 2046 §5.1.1 allows 1 to 70
/// characters. A longer one is [`MimeError::InvalidBoundary`]; it would serve only to
/// make every delimiter comparison more expensive.
pub const MAX_BOUNDARY_LEN: usize = 70;

/// Counts the bytes that substring searches and delimiter checks examine, in unit
/// tests only, so that tests can show parsing does work linear in its input (a
/// pre-authentication CPU attack needs more than that). A no-op otherwise.
pub(crate) mod work {
    #[cfg(test)]
    thread_local! {
        static EXAMINED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }

    /// Records that `n` bytes were examined.
    #[inline(always)]
    pub(crate) fn examined(n: usize) {
        #[cfg(test)]
        EXAMINED.with(|c| c.set(c.get().saturating_add(n)));
        #[cfg(not(test))]
        let _ = n;
    }

    /// The count so far on this thread, reset to zero.
    #[cfg(test)]
    pub(crate) fn take() -> usize {
        EXAMINED.with(|c| c.replace(0))
    }
}

/// Hard ceiling applied to [`MimeLimits::max_depth`]: larger values are
/// clamped to this, so that recursion can never exhaust the stack.
pub const MAX_DEPTH_CEILING: usize = 64;

/// Resource limits for MIME parsing. Every violation is a distinct
/// [`MimeError`] variant naming the limit and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MimeLimits {
    /// Maximum multipart nesting depth. The entity given to [`parse_part`] /
    /// [`Part::from_body`] is depth 0, its body parts depth 1, and so on; a
    /// body part deeper than this is [`MimeError::MaxDepthExceeded`].
    /// Clamped to [`MAX_DEPTH_CEILING`]. Default 8.
    pub max_depth: usize,
    /// Maximum number of header fields in one header block. Default 100.
    pub max_headers: usize,
    /// Maximum length in bytes of one header field, including its folded
    /// continuation lines and line terminators. Default 8192.
    pub max_header_line: usize,
    /// Maximum total number of body parts in the whole tree (all multipart
    /// levels together; the root entity is not counted). Default 32.
    pub max_parts: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_depth: 8,
            max_headers: 100,
            max_header_line: 8192,
            max_parts: 32,
        }
    }
}

/// Errors from MIME parsing, decoding and writing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MimeError {
    /// Multipart nesting is deeper than [`MimeLimits::max_depth`].
    MaxDepthExceeded {
        /// The (effective) limit.
        max_depth: usize,
    },
    /// A header block has more fields than [`MimeLimits::max_headers`].
    MaxHeadersExceeded {
        /// The limit.
        max_headers: usize,
    },
    /// A header field (with its continuation lines) is longer than
    /// [`MimeLimits::max_header_line`].
    MaxHeaderLineExceeded {
        /// The limit.
        max_header_line: usize,
        /// Offset of the start of the offending field.
        offset: usize,
    },
    /// The tree has more body parts than [`MimeLimits::max_parts`].
    MaxPartsExceeded {
        /// The limit.
        max_parts: usize,
    },
    /// The last header line has no line terminator (truncated header block).
    UnterminatedHeaders {
        /// Offset of the start of the unterminated line.
        offset: usize,
    },
    /// A header line is not a valid `name: value` field.
    MalformedHeader {
        /// Offset of the start of the offending line.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A header that must occur at most once occurs more than once.
    DuplicateHeader {
        /// The header name.
        name: &'static str,
    },
    /// A `Content-Type` value could not be parsed.
    InvalidContentType {
        /// What is wrong.
        reason: &'static str,
    },
    /// A `Content-Disposition` value could not be parsed.
    InvalidContentDisposition {
        /// What is wrong.
        reason: &'static str,
    },
    /// A `; name=value` parameter could not be parsed.
    InvalidParameter {
        /// What is wrong.
        reason: &'static str,
    },
    /// A `multipart/*` content type has no `boundary` parameter.
    MissingBoundary,
    /// The boundary is unusable (empty, contains CR/LF, too long, bad chars).
    InvalidBoundary {
        /// What is wrong.
        reason: &'static str,
    },
    /// A multipart body contains no delimiter line for its boundary.
    MissingDelimiter,
    /// A byte range passed in does not lie within the buffer.
    InvalidRange,
    /// The `Content-Transfer-Encoding` is not one this module decodes.
    UnknownTransferEncoding {
        /// The encoding, lowercased.
        encoding: String,
    },
    /// Invalid base64 data.
    InvalidBase64 {
        /// Offset of the offending byte (end of data for bad length/padding).
        offset: usize,
    },
    /// Invalid quoted-printable data.
    InvalidQuotedPrintable {
        /// Offset of the offending `=`.
        offset: usize,
    },
    /// A header given to a writer function is not safe to emit.
    InvalidHeaderForWrite {
        /// What is wrong.
        reason: &'static str,
    },
    /// A part given to [`write_multipart`] contains a line starting with the
    /// delimiter.
    BoundaryInPart {
        /// Index of the offending part.
        index: usize,
    },
}

impl fmt::Display for MimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MimeError::MaxDepthExceeded { max_depth } => {
                write!(f, "MIME nesting exceeds limit max_depth ({max_depth})")
            }
            MimeError::MaxHeadersExceeded { max_headers } => {
                write!(f, "header block exceeds limit max_headers ({max_headers})")
            }
            MimeError::MaxHeaderLineExceeded {
                max_header_line,
                offset,
            } => write!(
                f,
                "header field at offset {offset} exceeds limit max_header_line ({max_header_line})"
            ),
            MimeError::MaxPartsExceeded { max_parts } => {
                write!(f, "MIME tree exceeds limit max_parts ({max_parts})")
            }
            MimeError::UnterminatedHeaders { offset } => {
                write!(f, "header line at offset {offset} has no line terminator")
            }
            MimeError::MalformedHeader { offset, reason } => {
                write!(f, "malformed header line at offset {offset}: {reason}")
            }
            MimeError::DuplicateHeader { name } => write!(f, "duplicate {name} header"),
            MimeError::InvalidContentType { reason } => {
                write!(f, "invalid Content-Type: {reason}")
            }
            MimeError::InvalidContentDisposition { reason } => {
                write!(f, "invalid Content-Disposition: {reason}")
            }
            MimeError::InvalidParameter { reason } => write!(f, "invalid parameter: {reason}"),
            MimeError::MissingBoundary => write!(f, "multipart content type without boundary"),
            MimeError::InvalidBoundary { reason } => write!(f, "invalid boundary: {reason}"),
            MimeError::MissingDelimiter => write!(f, "multipart body has no boundary delimiter"),
            MimeError::InvalidRange => write!(f, "byte range outside the buffer"),
            MimeError::UnknownTransferEncoding { encoding } => {
                write!(f, "unknown Content-Transfer-Encoding {encoding:?}")
            }
            MimeError::InvalidBase64 { offset } => write!(f, "invalid base64 at offset {offset}"),
            MimeError::InvalidQuotedPrintable { offset } => {
                write!(f, "invalid quoted-printable at offset {offset}")
            }
            MimeError::InvalidHeaderForWrite { reason } => {
                write!(f, "header cannot be written: {reason}")
            }
            MimeError::BoundaryInPart { index } => {
                write!(f, "part {index} contains the multipart delimiter")
            }
        }
    }
}

impl std::error::Error for MimeError {}

impl MimeError {
    /// Shifts a decoder error offset by `base` (relative → absolute).
    fn shifted(self, base: usize) -> Self {
        match self {
            MimeError::InvalidBase64 { offset } => MimeError::InvalidBase64 {
                offset: offset.saturating_add(base),
            },
            MimeError::InvalidQuotedPrintable { offset } => MimeError::InvalidQuotedPrintable {
                offset: offset.saturating_add(base),
            },
            other => other,
        }
    }
}

// ---------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_tspecial(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'\\'
            | b'"'
            | b'/'
            | b'['
            | b']'
            | b'?'
            | b'='
    )
}

fn is_token_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !is_tspecial(b)
}

fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_lws(b))
        .map_or(start, |p| p.saturating_add(1));
    s.get(start..end).unwrap_or(&[])
}

fn ascii_lower_string(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect()
}

/// Finds the line starting at `pos` in `buf`: returns
/// `(content_end, next_line_start, terminated)`; `content_end` excludes the
/// CRLF or LF terminator.
// `i > 0` guards the one subtraction; `lf` is an index into `buf`.
#[allow(clippy::arithmetic_side_effects)]
fn line_at(buf: &[u8], pos: usize) -> (usize, usize, bool) {
    let rest = buf.get(pos..).unwrap_or(&[]);
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let lf = pos.saturating_add(i);
            let content_end = if i > 0 && rest.get(i - 1) == Some(&b'\r') {
                lf - 1
            } else {
                lf
            };
            (content_end, lf.saturating_add(1), true)
        }
        None => (buf.len(), buf.len(), false),
    }
}

fn has_bare_lf(input: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in input {
        if b == b'\n' && prev != b'\r' {
            return true;
        }
        prev = b;
    }
    false
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

/// One header field, borrowed from the input.
#[derive(Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Field name as received (case preserved, trailing whitespace before the
    /// colon removed).
    pub name: &'a [u8],
    /// Raw value: everything after the colon (leading SP/HTAB on the first
    /// line skipped) up to, not including, the final line terminator. Folded
    /// continuation lines are included verbatim (with their CRLF/LF).
    pub value: &'a [u8],
    /// Byte range of the whole field in the original buffer, from the first
    /// byte of the name through the final line terminator.
    pub offset: Range<usize>,
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("name", &String::from_utf8_lossy(self.name))
            .field("value", &String::from_utf8_lossy(self.value))
            .field("offset", &self.offset)
            .finish()
    }
}

impl<'a> Header<'a> {
    /// Case-insensitive (ASCII) comparison of the field name.
    pub fn name_eq_ignore_case(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    /// The value unfolded per RFC 5322 §2.2.3 (every CRLF / LF that precedes
    /// whitespace is removed, the whitespace kept) and trimmed of surrounding
    /// whitespace. Borrows when the value is not folded.
    pub fn unfolded_value(&self) -> Cow<'a, [u8]> {
        unfold(self.value)
    }
}

/// Unfolds a raw header value (see [`Header::unfolded_value`]).
pub fn unfold(value: &[u8]) -> Cow<'_, [u8]> {
    let trimmed = trim_lws(value);
    if !trimmed.contains(&b'\n') {
        return Cow::Borrowed(trimmed);
    }
    let mut out = Vec::with_capacity(trimmed.len());
    let mut iter = trimmed.iter().copied().peekable();
    while let Some(b) = iter.next() {
        if b == b'\r' && iter.peek() == Some(&b'\n') {
            continue;
        }
        if b == b'\n' {
            continue;
        }
        out.push(b);
    }
    Cow::Owned(out)
}

/// An ordered list of header fields with case-insensitive lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    list: Vec<Header<'a>>,
}

impl<'a> From<Vec<Header<'a>>> for Headers<'a> {
    fn from(list: Vec<Header<'a>>) -> Self {
        Headers { list }
    }
}

impl<'a> Headers<'a> {
    /// First field with this name (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Header<'a>> {
        self.list.iter().find(|h| h.name_eq_ignore_case(name))
    }

    /// All fields with this name, in order.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Header<'a>> + 's {
        self.list
            .iter()
            .filter(move |h| h.name_eq_ignore_case(name))
    }

    /// Unfolded value of the first field with this name.
    pub fn value(&self, name: &str) -> Option<Cow<'a, [u8]>> {
        self.get(name).map(Header::unfolded_value)
    }

    /// All fields in order.
    pub fn as_slice(&self) -> &[Header<'a>] {
        &self.list
    }

    /// Iterator over all fields in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header<'a>> {
        self.list.iter()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Unwraps into the underlying vector.
    pub fn into_vec(self) -> Vec<Header<'a>> {
        self.list
    }

    /// The field with this name if it occurs at most once; error if repeated.
    fn unique(&self, name: &'static str) -> Result<Option<&Header<'a>>, MimeError> {
        let mut it = self.get_all(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(MimeError::DuplicateHeader { name });
        }
        Ok(first)
    }
}

impl<'s, 'a> IntoIterator for &'s Headers<'a> {
    type Item = &'s Header<'a>;
    type IntoIter = std::slice::Iter<'s, Header<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

struct HeaderBlock<'a> {
    headers: Vec<Header<'a>>,
    /// End of the last header field (start of the blank line, or `end`).
    header_end: usize,
    /// Start of the body (after the blank line, or `end`).
    body_start: usize,
}

struct PendingHeader {
    start: usize,
    name: Range<usize>,
    value_start: usize,
    value_end: usize,
    end: usize,
}

/// Parses the header block in `buf[start..end]`; offsets are absolute in `buf`.
// Positions only advance within `region` (bounded by its length) while a byte exists.
#[allow(clippy::arithmetic_side_effects)]
fn parse_block<'a>(
    buf: &'a [u8],
    start: usize,
    end: usize,
    limits: &MimeLimits,
) -> Result<HeaderBlock<'a>, MimeError> {
    let region = buf.get(..end).ok_or(MimeError::InvalidRange)?;
    if start > end {
        return Err(MimeError::InvalidRange);
    }
    let mut headers: Vec<Header<'a>> = Vec::new();
    let mut pending: Option<PendingHeader> = None;
    let mut pos = start;

    let finish = |p: PendingHeader, headers: &mut Vec<Header<'a>>| -> Result<(), MimeError> {
        if headers.len() >= limits.max_headers {
            return Err(MimeError::MaxHeadersExceeded {
                max_headers: limits.max_headers,
            });
        }
        headers.push(Header {
            name: region.get(p.name).unwrap_or(&[]),
            value: region.get(p.value_start..p.value_end).unwrap_or(&[]),
            offset: p.start..p.end,
        });
        Ok(())
    };

    loop {
        if pos >= end {
            if let Some(p) = pending.take() {
                finish(p, &mut headers)?;
            }
            return Ok(HeaderBlock {
                headers,
                header_end: end,
                body_start: end,
            });
        }
        let (content_end, next, terminated) = line_at(region, pos);
        if !terminated {
            return Err(MimeError::UnterminatedHeaders { offset: pos });
        }
        if content_end == pos {
            // Blank line: end of the header block.
            if let Some(p) = pending.take() {
                finish(p, &mut headers)?;
            }
            return Ok(HeaderBlock {
                headers,
                header_end: pos,
                body_start: next,
            });
        }
        let first = region.get(pos).copied().unwrap_or(0);
        if is_wsp(first) {
            match pending.as_mut() {
                None => {
                    return Err(MimeError::MalformedHeader {
                        offset: pos,
                        reason: "continuation line before the first header",
                    });
                }
                Some(p) => {
                    p.value_end = content_end;
                    p.end = next;
                    if p.end.saturating_sub(p.start) > limits.max_header_line {
                        return Err(MimeError::MaxHeaderLineExceeded {
                            max_header_line: limits.max_header_line,
                            offset: p.start,
                        });
                    }
                }
            }
        } else {
            if let Some(p) = pending.take() {
                finish(p, &mut headers)?;
            }
            if next.saturating_sub(pos) > limits.max_header_line {
                return Err(MimeError::MaxHeaderLineExceeded {
                    max_header_line: limits.max_header_line,
                    offset: pos,
                });
            }
            let line = region.get(pos..content_end).unwrap_or(&[]);
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(MimeError::MalformedHeader {
                    offset: pos,
                    reason: "missing ':'",
                })?;
            let raw_name = line.get(..colon).unwrap_or(&[]);
            let name_len = raw_name
                .iter()
                .rposition(|&b| !is_wsp(b))
                .map_or(0, |p| p.saturating_add(1));
            let name = raw_name.get(..name_len).unwrap_or(&[]);
            if name.is_empty() {
                return Err(MimeError::MalformedHeader {
                    offset: pos,
                    reason: "empty field name",
                });
            }
            if !name.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
                return Err(MimeError::MalformedHeader {
                    offset: pos,
                    reason: "invalid byte in field name",
                });
            }
            let mut value_start = pos.saturating_add(colon).saturating_add(1);
            while value_start < content_end && region.get(value_start).copied().is_some_and(is_wsp)
            {
                value_start += 1;
            }
            pending = Some(PendingHeader {
                start: pos,
                name: pos..pos.saturating_add(name_len),
                value_start,
                value_end: content_end,
                end: next,
            });
        }
        pos = next;
    }
}

/// Parses a header block at the start of `input`.
///
/// Accepts CRLF and bare LF line ends (mixed), folded continuation lines
/// (starting with SP or HTAB, including whitespace-only lines), and ends at the
/// first empty line (`CRLF CRLF`, `LF LF` or mixed). Returns the fields and the
/// offset where the body starts (just after the empty line).
///
/// Decision: if the input ends right after a complete, line-terminated header
/// line (or is empty), the block is accepted as headers-only and the returned
/// body offset is `input.len()` (this is what MDN `disposition-notification`
/// contents and RFC 2046 headers-only body parts look like). A last line
/// without any line terminator is [`MimeError::UnterminatedHeaders`].
/// Header offsets are relative to `input`.
pub fn parse_headers<'a>(
    input: &'a [u8],
    limits: &MimeLimits,
) -> Result<(Vec<Header<'a>>, usize), MimeError> {
    let block = parse_block(input, 0, input.len(), limits)?;
    Ok((block.headers, block.body_start))
}

// ---------------------------------------------------------------------------
// Content-Type / Content-Disposition parameters
// ---------------------------------------------------------------------------

/// Parameters of a `Content-Type` or `Content-Disposition` value. Names are
/// lowercased ASCII; values are the unquoted, unescaped bytes (not
/// necessarily UTF-8). [`Params::get`] returns a parameter as written (so
/// `filename*` is an ordinary parameter there); [`Params::decoded`] applies
/// RFC 2231 (charset, percent-encoding, continuations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    list: Vec<(String, Vec<u8>)>,
}

impl Params {
    /// Value of the first parameter with this name (case-insensitive).
    /// Duplicates: the first one wins.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.list
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Like [`Params::get`], but `None` also when the value is not UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All parameters in order, as `(lowercased name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.list.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The value of parameter `name` as text, RFC 2231 applied: `name*`
    /// (`charset'language'percent-encoded`), else the continuations `name*0`,
    /// `name*1`, ... (each with a trailing `*` if percent-encoded, the charset
    /// on the first), else plain `name`. `None` when absent or empty.
    ///
    /// Charsets: UTF-8 (also when none is named), US-ASCII and ISO-8859-1;
    /// another charset is read only if the bytes are ASCII, else the encoded
    /// form is skipped. The language is ignored; an invalid `%` escape is kept
    /// as written; invalid UTF-8 (in a plain value too) becomes U+FFFD.
    /// Continuations are read from `*0` up to the first missing number; a
    /// number of [`MAX_PARAM_SEGMENTS`] or more, or a value longer than
    /// [`MAX_PARAM_VALUE_LEN`] bytes, makes the encoded form unreadable (then
    /// plain `name` is used, if it is not longer than that either). Work is
    /// linear in the size of the parameters.
    ///
    /// The result is whatever the sender wrote, separators and control
    /// characters included: make a path of it only through
    /// [`crate::record::inbound_paths`], which neutralises it.
    pub fn decoded(&self, name: &str) -> Option<String> {
        let extended = self.single_extended(name).filter(|v| !v.is_empty());
        extended
            .or_else(|| self.continuations(name).filter(|v| !v.is_empty()))
            .or_else(|| {
                self.get(name)
                    .filter(|v| !v.is_empty() && v.len() <= MAX_PARAM_VALUE_LEN)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
    }

    /// `name*=charset'language'value`.
    fn single_extended(&self, name: &str) -> Option<String> {
        let value = self.list.iter().find_map(|(n, v)| {
            (extended_suffix(n, name) == Some(ExtendedName::Single)).then_some(v.as_slice())
        })?;
        decode_rfc2231(&[(true, value)])
    }

    /// `name*0[*]=...; name*1[*]=...`, in number order.
    fn continuations(&self, name: &str) -> Option<String> {
        let mut segments: Vec<Option<(bool, &[u8])>> = vec![None; MAX_PARAM_SEGMENTS];
        let mut any = false;
        for (n, v) in &self.list {
            let Some(ExtendedName::Segment { index, encoded }) = extended_suffix(n, name) else {
                continue;
            };
            // Too many segments: the whole value is refused, not cut.
            let slot = segments.get_mut(index?)?;
            if slot.is_none() {
                *slot = Some((encoded, v.as_slice()));
            }
            any = true;
        }
        if !any {
            return None;
        }
        let run: Vec<(bool, &[u8])> = segments.iter().map_while(|s| *s).collect();
        decode_rfc2231(&run)
    }
}

/// Most continuation segments (`name*0` ... `name*63`) of one RFC 2231
/// parameter; a higher number makes the value unreadable.
pub const MAX_PARAM_SEGMENTS: usize = 64;

/// Longest parameter value [`Params::decoded`] reads, in bytes (after
/// percent-decoding); a longer one is unreadable. File names are cut far
/// shorter when stored anyway, and the encoded form of a name this long fits
/// a header line of the default [`MimeLimits::max_header_line`].
pub const MAX_PARAM_VALUE_LEN: usize = 1024;

/// What a parameter name is relative to an RFC 2231 base name.
#[derive(Debug, PartialEq, Eq)]
enum ExtendedName {
    /// `base*`.
    Single,
    /// `base*N` or `base*N*`; `index` is `None` when N does not fit a `usize`.
    Segment { index: Option<usize>, encoded: bool },
}

/// Classifies `param` (lowercased) as an extended form of `base`.
fn extended_suffix(param: &str, base: &str) -> Option<ExtendedName> {
    let head = param.as_bytes().get(..base.len())?;
    if !head.eq_ignore_ascii_case(base.as_bytes()) {
        return None;
    }
    let rest = param.get(base.len()..)?.strip_prefix('*')?;
    if rest.is_empty() {
        return Some(ExtendedName::Single);
    }
    let (digits, encoded) = match rest.strip_suffix('*') {
        Some(digits) => (digits, true),
        None => (rest, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ExtendedName::Segment {
        index: digits.parse().ok(),
        encoded,
    })
}

/// Joins RFC 2231 segments `(percent-encoded, value)`, the first of which
/// (if encoded) names the charset, and converts the result to text.
fn decode_rfc2231(segments: &[(bool, &[u8])]) -> Option<String> {
    let mut charset: &[u8] = b"";
    let mut out = Vec::new();
    for (i, &(encoded, value)) in segments.iter().enumerate() {
        let mut value = value;
        if encoded && i == 0 {
            // charset'language'value; without both quotes the whole is the value.
            let mut pieces = value.splitn(3, |&b| b == b'\'');
            if let (Some(named), Some(_language), Some(rest)) =
                (pieces.next(), pieces.next(), pieces.next())
            {
                charset = named;
                value = rest;
            }
        }
        if encoded {
            percent_decode_into(value, &mut out);
        } else {
            out.extend_from_slice(value);
        }
        // Decoding never grows a segment, so `out` stays within the cap plus one
        // segment of the (already bounded) input.
        if out.len() > MAX_PARAM_VALUE_LEN {
            return None;
        }
    }
    charset_to_string(charset, out)
}

/// `%XX` to the byte; anything else, a malformed escape included, as is.
fn percent_decode_into(value: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        let escaped = (b == b'%')
            .then(|| {
                let hi = hex_value(*value.get(i.saturating_add(1))?)?;
                let lo = hex_value(*value.get(i.saturating_add(2))?)?;
                Some((hi << 4) | lo)
            })
            .flatten();
        match escaped {
            Some(byte) => {
                out.push(byte);
                i = i.saturating_add(3);
            }
            None => {
                out.push(b);
                i = i.saturating_add(1);
            }
        }
    }
}

/// The bytes as text in `charset` (see [`Params::decoded`]).
fn charset_to_string(charset: &[u8], bytes: Vec<u8>) -> Option<String> {
    let charset = ascii_lower_string(trim_lws(charset));
    match charset.as_str() {
        "" | "utf-8" | "utf8" => Some(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        "us-ascii" | "ascii" => Some(
            bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        char::REPLACEMENT_CHARACTER
                    }
                })
                .collect(),
        ),
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "cp819" => {
            // ISO-8859-1 is the first 256 code points.
            Some(bytes.iter().map(|&b| char::from(b)).collect())
        }
        _ if bytes.is_ascii() => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

struct Cursor<'i> {
    s: &'i [u8],
    i: usize,
}

impl<'i> Cursor<'i> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn bump(&mut self) {
        self.i = self.i.saturating_add(1);
    }
    fn skip_lws(&mut self) {
        while self.peek().is_some_and(is_lws) {
            self.bump();
        }
    }
    fn token(&mut self) -> &'i [u8] {
        let start = self.i;
        while self.peek().is_some_and(is_token_byte) {
            self.bump();
        }
        self.s.get(start..self.i).unwrap_or(&[])
    }
    fn quoted(&mut self) -> Result<Vec<u8>, MimeError> {
        // Caller has checked the opening quote.
        self.bump();
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(MimeError::InvalidParameter {
                    reason: "unterminated quoted string",
                });
            };
            self.bump();
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(MimeError::InvalidParameter {
                            reason: "unterminated quoted string",
                        });
                    };
                    self.bump();
                    out.push(e);
                }
                // Folding inside a quoted string: drop the line break.
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
    }
    /// Lenient unquoted value: everything up to `;` or the end, trimmed.
    fn unquoted(&mut self) -> Vec<u8> {
        let start = self.i;
        while self.peek().is_some_and(|b| b != b';') {
            self.bump();
        }
        trim_lws(self.s.get(start..self.i).unwrap_or(&[])).to_vec()
    }
}

fn parse_params(c: &mut Cursor<'_>) -> Result<Params, MimeError> {
    let mut list = Vec::new();
    loop {
        c.skip_lws();
        match c.peek() {
            None => return Ok(Params { list }),
            Some(b';') => c.bump(),
            Some(_) => {
                return Err(MimeError::InvalidParameter {
                    reason: "expected ';' before parameter",
                });
            }
        }
        c.skip_lws();
        match c.peek() {
            None => return Ok(Params { list }),
            Some(b';') => continue,
            Some(_) => {}
        }
        let name = c.token();
        if name.is_empty() {
            return Err(MimeError::InvalidParameter {
                reason: "invalid parameter name",
            });
        }
        let name = ascii_lower_string(name);
        c.skip_lws();
        if c.peek() != Some(b'=') {
            return Err(MimeError::InvalidParameter {
                reason: "missing '=' after parameter name",
            });
        }
        c.bump();
        c.skip_lws();
        let value = if c.peek() == Some(b'"') {
            c.quoted()?
        } else {
            c.unquoted()
        };
        list.push((name, value));
    }
}

/// A parsed `Content-Type` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    type_: String,
    subtype: String,
    params: Params,
}

impl ContentType {
    /// Parses `type/subtype *(; name=value)`. Type, subtype and parameter
    /// names are lowercased. Tolerates whitespace and folding around `/`, `;`
    /// and `=`, empty parameters (`;;`) and a trailing `;`. Values are tokens
    /// (leniently: anything up to the next `;`, trimmed) or quoted strings with
    /// backslash escapes.
    pub fn parse(value: &[u8]) -> Result<ContentType, MimeError> {
        let mut c = Cursor { s: value, i: 0 };
        c.skip_lws();
        let t = c.token();
        if t.is_empty() {
            return Err(MimeError::InvalidContentType {
                reason: "missing media type",
            });
        }
        c.skip_lws();
        if c.peek() != Some(b'/') {
            return Err(MimeError::InvalidContentType {
                reason: "missing '/' between type and subtype",
            });
        }
        c.bump();
        c.skip_lws();
        let st = c.token();
        if st.is_empty() {
            return Err(MimeError::InvalidContentType {
                reason: "missing subtype",
            });
        }
        let params = parse_params(&mut c)?;
        Ok(ContentType {
            type_: ascii_lower_string(t),
            subtype: ascii_lower_string(st),
            params,
        })
    }

    /// `text/plain; charset=us-ascii`, the RFC 2045 default.
    pub fn text_plain_default() -> ContentType {
        ContentType {
            type_: "text".into(),
            subtype: "plain".into(),
            params: Params {
                list: vec![("charset".into(), b"us-ascii".to_vec())],
            },
        }
    }

    fn message_rfc822() -> ContentType {
        ContentType {
            type_: "message".into(),
            subtype: "rfc822".into(),
            params: Params::default(),
        }
    }

    /// The lowercased top-level type, e.g. `multipart`.
    pub fn type_(&self) -> &str {
        &self.type_
    }

    /// The lowercased subtype, e.g. `signed`.
    pub fn subtype(&self) -> &str {
        &self.subtype
    }

    /// `type/subtype`, lowercased.
    pub fn mime_type(&self) -> String {
        format!("{}/{}", self.type_, self.subtype)
    }

    /// Whether the media type equals `mime_type` (`"type/subtype"`,
    /// ASCII case-insensitive).
    pub fn is(&self, mime_type: &str) -> bool {
        match mime_type.split_once('/') {
            Some((t, s)) => {
                t.eq_ignore_ascii_case(&self.type_) && s.eq_ignore_ascii_case(&self.subtype)
            }
            None => false,
        }
    }

    /// Whether the top-level type is `multipart`.
    pub fn is_multipart(&self) -> bool {
        self.type_ == "multipart"
    }

    /// All parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// A parameter value by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params.get(name)
    }

    /// The `boundary` parameter, as bytes (matched byte-exactly).
    pub fn boundary(&self) -> Option<&[u8]> {
        self.params.get("boundary")
    }

    /// The `protocol` parameter (multipart/signed), as received.
    pub fn protocol(&self) -> Option<&str> {
        self.params.get_str("protocol")
    }

    /// The `micalg` parameter (multipart/signed), as received; compare
    /// case-insensitively.
    pub fn micalg(&self) -> Option<&str> {
        self.params.get_str("micalg")
    }

    /// The `smime-type` parameter.
    pub fn smime_type(&self) -> Option<&str> {
        self.params.get_str("smime-type")
    }

    /// The `report-type` parameter (multipart/report).
    pub fn report_type(&self) -> Option<&str> {
        self.params.get_str("report-type")
    }

    /// The `charset` parameter.
    pub fn charset(&self) -> Option<&str> {
        self.params.get_str("charset")
    }

    /// The `name` parameter, as bytes (may not be UTF-8).
    pub fn name(&self) -> Option<&[u8]> {
        self.params.get("name")
    }
}

/// The file name a MIME entity carries, as text: Content-Disposition's
/// `filename` (RFC 2231 decoded, see [`Params::decoded`]), else Content-Type's
/// `name` (the same way). `disposition` is the raw Content-Disposition value;
/// one that does not parse counts as absent. The name is the sender's, not yet
/// safe as a path: see [`crate::record::inbound_paths`].
pub fn file_name(disposition: Option<&[u8]>, content_type: &ContentType) -> Option<String> {
    disposition
        .and_then(|value| ContentDisposition::parse(value).ok())
        .and_then(|d| d.params().decoded("filename"))
        .or_else(|| content_type.params().decoded("name"))
}

/// A parsed `Content-Disposition` value (`attachment; filename="x.edi"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDisposition {
    disposition: String,
    params: Params,
}

impl ContentDisposition {
    /// Parses `disposition-type *(; name=value)` with the same parameter
    /// rules as [`ContentType::parse`]. The disposition type is lowercased.
    pub fn parse(value: &[u8]) -> Result<ContentDisposition, MimeError> {
        let mut c = Cursor { s: value, i: 0 };
        c.skip_lws();
        let d = c.token();
        if d.is_empty() {
            return Err(MimeError::InvalidContentDisposition {
                reason: "missing disposition type",
            });
        }
        let params = parse_params(&mut c)?;
        Ok(ContentDisposition {
            disposition: ascii_lower_string(d),
            params,
        })
    }

    /// The lowercased disposition type (`attachment`, `inline`, ...).
    pub fn disposition(&self) -> &str {
        &self.disposition
    }

    /// All parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The plain `filename` parameter, as bytes (may not be UTF-8); for the
    /// RFC 2231 forms see [`file_name`] and [`Params::decoded`].
    pub fn filename(&self) -> Option<&[u8]> {
        self.params.get("filename")
    }
}

// ---------------------------------------------------------------------------
// Transfer encodings
// ---------------------------------------------------------------------------

/// A `Content-Transfer-Encoding`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferEncoding {
    /// `7bit` (the RFC 2045 default).
    SevenBit,
    /// `8bit`.
    EightBit,
    /// `binary`.
    Binary,
    /// `base64`.
    Base64,
    /// `quoted-printable`.
    QuotedPrintable,
    /// Anything else (lowercased, trimmed); decoding it is an error.
    Unknown(String),
}

impl TransferEncoding {
    /// Parses a header value (case-insensitive, surrounding whitespace ignored).
    pub fn parse(value: &[u8]) -> TransferEncoding {
        let v = ascii_lower_string(trim_lws(value));
        match v.as_str() {
            "7bit" => TransferEncoding::SevenBit,
            "8bit" => TransferEncoding::EightBit,
            "binary" => TransferEncoding::Binary,
            "base64" => TransferEncoding::Base64,
            "quoted-printable" => TransferEncoding::QuotedPrintable,
            _ => TransferEncoding::Unknown(v),
        }
    }

    /// The canonical lowercase name.
    pub fn as_str(&self) -> &str {
        match self {
            TransferEncoding::SevenBit => "7bit",
            TransferEncoding::EightBit => "8bit",
            TransferEncoding::Binary => "binary",
            TransferEncoding::Base64 => "base64",
            TransferEncoding::QuotedPrintable => "quoted-printable",
            TransferEncoding::Unknown(s) => s,
        }
    }

    /// Decodes `body` according to this encoding. Identity encodings
    /// (7bit, 8bit, binary) borrow and are not validated.
    pub fn decode<'b>(&self, body: &'b [u8]) -> Result<Cow<'b, [u8]>, MimeError> {
        match self {
            TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary => {
                Ok(Cow::Borrowed(body))
            }
            TransferEncoding::Base64 => base64_decode(body).map(Cow::Owned),
            TransferEncoding::QuotedPrintable => quoted_printable_decode(body).map(Cow::Owned),
            TransferEncoding::Unknown(s) => Err(MimeError::UnknownTransferEncoding {
                encoding: s.clone(),
            }),
        }
    }
}

const B64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Each arm's range keeps the result within 0..64.
#[allow(clippy::arithmetic_side_effects)]
fn b64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes standard base64 (RFC 4648 alphabet). SP, HTAB, CR and LF are
/// ignored anywhere; any other non-alphabet byte is an error. Padding is
/// optional, but if present it must be exactly right and nothing but
/// whitespace may follow it. Non-zero trailing bits are ignored.
// `bits` stays below 14 and `pads` below 3; capacity is at most `input.len()`.
#[allow(clippy::arithmetic_side_effects)]
pub fn base64_decode(input: &[u8]) -> Result<Vec<u8>, MimeError> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let mut data: usize = 0;
    let mut pads: usize = 0;
    let mut first_pad = input.len();
    for (i, &b) in input.iter().enumerate() {
        if is_lws(b) {
            continue;
        }
        if b == b'=' {
            if pads == 0 {
                first_pad = i;
            }
            pads += 1;
            if pads > 2 {
                return Err(MimeError::InvalidBase64 { offset: i });
            }
            continue;
        }
        let v = b64_value(b).ok_or(MimeError::InvalidBase64 { offset: i })?;
        if pads > 0 {
            return Err(MimeError::InvalidBase64 { offset: i });
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        data = data.wrapping_add(1);
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1u32 << bits) - 1;
        }
    }
    let rem = data % 4;
    if rem == 1 {
        return Err(MimeError::InvalidBase64 {
            offset: input.len(),
        });
    }
    if pads > 0 && rem + pads != 4 {
        return Err(MimeError::InvalidBase64 { offset: first_pad });
    }
    Ok(out)
}

// Each arm's range keeps the result within 0..16.
#[allow(clippy::arithmetic_side_effects)]
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes quoted-printable (RFC 2045 §6.7). `=XX` hex escapes (upper or
/// lower case), soft line breaks `=` CRLF and `=` LF (also with transport
/// whitespace between `=` and the line end, and a final `=` at end of input);
/// trailing whitespace on lines is removed; hard line ends are kept as they
/// are (CRLF or LF). Any other use of `=` is an error.
// `i` and `end` are indices into `input` and `end > pos` guards `end - 1`.
#[allow(clippy::arithmetic_side_effects)]
pub fn quoted_printable_decode(input: &[u8]) -> Result<Vec<u8>, MimeError> {
    let mut out = Vec::with_capacity(input.len());
    let mut pos = 0usize;
    while pos < input.len() {
        let (term_start, next, _) = line_at(input, pos);
        let mut end = term_start;
        while end > pos && input.get(end - 1).copied().is_some_and(is_wsp) {
            end -= 1;
        }
        let mut soft = false;
        let mut i = pos;
        while i < end {
            let b = input.get(i).copied().unwrap_or(0);
            if b != b'=' {
                out.push(b);
                i += 1;
                continue;
            }
            if i + 1 == end {
                soft = true;
                break;
            }
            let hi = input.get(i + 1).copied().filter(|_| i + 1 < end);
            let lo = input.get(i + 2).copied().filter(|_| i + 2 < end);
            match (hi.and_then(hex_value), lo.and_then(hex_value)) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                }
                _ => return Err(MimeError::InvalidQuotedPrintable { offset: i }),
            }
        }
        if !soft {
            out.extend_from_slice(input.get(term_start..next).unwrap_or(&[]));
        }
        pos = next;
    }
    Ok(out)
}

/// Encodes standard base64 with padding and no line breaks.
pub fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3).saturating_mul(4));
    let sym = |v: u32| -> char {
        B64_ALPHABET
            .get((v & 63) as usize)
            .copied()
            .map_or('A', char::from)
    };
    for chunk in input.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// Encodes base64 for a MIME body: lines of at most 76 characters, each
/// (including the last) terminated by CRLF. Empty input gives an empty string.
// Capacity arithmetic on the length of a string that already exists.
#[allow(clippy::arithmetic_side_effects)]
pub fn base64_encode_mime(input: &[u8]) -> String {
    let flat = base64_encode(input);
    let mut out = String::with_capacity(flat.len() + flat.len() / 76 * 2 + 2);
    let mut rest = flat.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(76));
        out.push_str(line);
        out.push_str("\r\n");
        rest = tail;
    }
    out
}

// ---------------------------------------------------------------------------
// Parts
// ---------------------------------------------------------------------------

/// The body parts of a multipart entity and the layout around them.
/// All ranges are absolute offsets into the root buffer.
#[derive(Debug, Clone)]
pub struct Multipart<'a> {
    /// The body parts, in order.
    pub parts: Vec<Part<'a>>,
    /// Bytes before the first delimiter (excluding the line break that
    /// belongs to that delimiter).
    pub preamble: Range<usize>,
    /// Bytes after the close delimiter line; empty (at the end of the body)
    /// when there is no close delimiter.
    pub epilogue: Range<usize>,
    /// Whether a close delimiter (`--boundary--`) was found. `false` means
    /// the last part was taken to run to the end of the body (lenient).
    pub closed: bool,
}

/// A parsed MIME entity. All ranges are absolute offsets into [`Part::root`].
///
/// Layout: `range = header_range ++ separator ++ body_range`, where the
/// separator is the empty line ending the header block (absent for a
/// headers-only entity; for [`Part::from_body`] the header block and
/// separator are both empty).
#[derive(Clone)]
pub struct Part<'a> {
    root: &'a [u8],
    range: Range<usize>,
    header_range: Range<usize>,
    body_range: Range<usize>,
    headers: Headers<'a>,
    content_type: ContentType,
    content_type_present: bool,
    transfer_encoding: TransferEncoding,
    transfer_encoding_present: bool,
    depth: usize,
    multipart: Option<Multipart<'a>>,
}

impl fmt::Debug for Part<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part")
            .field("range", &self.range)
            .field("header_range", &self.header_range)
            .field("body_range", &self.body_range)
            .field("headers", &self.headers)
            .field("content_type", &self.content_type)
            .field("content_type_present", &self.content_type_present)
            .field("transfer_encoding", &self.transfer_encoding)
            .field("depth", &self.depth)
            .field("multipart", &self.multipart)
            .finish()
    }
}

#[derive(Clone, Copy)]
enum DefaultType {
    TextPlain,
    MessageRfc822,
}

impl DefaultType {
    fn content_type(self) -> ContentType {
        match self {
            DefaultType::TextPlain => ContentType::text_plain_default(),
            DefaultType::MessageRfc822 => ContentType::message_rfc822(),
        }
    }
}

struct Ctx<'a, 'l> {
    root: &'a [u8],
    limits: &'l MimeLimits,
    parts: usize,
    max_depth: usize,
}

struct Delimiter {
    /// End of the preceding part (before the CRLF/LF that belongs to the
    /// delimiter).
    part_end: usize,
    /// First byte after the delimiter line (after its line end).
    next: usize,
    close: bool,
}

/// Checks for a delimiter line whose `--` is at `p`. `min_start` is the
/// lowest offset the preceding line break may occupy.
// `q` only advances while `region.get(q)` holds a byte, so `q + 2` <= `region.len() + 1`.
#[allow(clippy::arithmetic_side_effects)]
fn delimiter_at(region: &[u8], p: usize, min_start: usize, boundary: &[u8]) -> Option<Delimiter> {
    let rest = region.get(p..)?;
    let after = rest.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let mut q = p.checked_add(2)?.checked_add(boundary.len())?;
    let close = after.starts_with(b"--");
    if close {
        q = q.checked_add(2)?;
    }
    while region.get(q).copied().is_some_and(is_wsp) {
        q += 1;
    }
    work::examined(q - p);
    let next = match region.get(q) {
        None => region.len(),
        Some(b'\n') => q + 1,
        Some(b'\r') if region.get(q + 1) == Some(&b'\n') => q + 2,
        Some(_) => return None,
    };
    let part_end = match (p.checked_sub(2), p.checked_sub(1)) {
        (Some(s), _) if s >= min_start && region.get(s..p) == Some(b"\r\n") => s,
        (_, Some(s)) if s >= min_start && region.get(s) == Some(&b'\n') => s,
        _ => p,
    };
    Some(Delimiter {
        part_end,
        next,
        close,
    })
}

/// Finds the next delimiter line in `root[from..end]`; every candidate is a
/// line start (`from` itself, or just after an LF). The search is for
/// `--boundary` itself (SIMD substring search), so a large binary body is
/// skipped at memory speed rather than line by line. Overlapping matches are
/// never line starts (a boundary holds no LF), so non-overlapping search
/// misses none.
fn find_delimiter(root: &[u8], from: usize, end: usize, boundary: &[u8]) -> Option<Delimiter> {
    let region = root.get(..end)?;
    let haystack = region.get(from..)?;
    work::examined(haystack.len());
    let mut marker = Vec::with_capacity(boundary.len().saturating_add(2));
    marker.extend_from_slice(b"--");
    marker.extend_from_slice(boundary);
    memchr::memmem::find_iter(haystack, &marker).find_map(|i| {
        let line_start = i == 0 || haystack.get(i.checked_sub(1)?) == Some(&b'\n');
        if !line_start {
            return None;
        }
        delimiter_at(region, from.checked_add(i)?, from, boundary)
    })
}

fn validate_boundary(boundary: &[u8]) -> Result<(), MimeError> {
    if boundary.is_empty() {
        return Err(MimeError::InvalidBoundary { reason: "empty" });
    }
    if boundary.len() > MAX_BOUNDARY_LEN {
        return Err(MimeError::InvalidBoundary {
            reason: "longer than 70 characters (RFC 2046)",
        });
    }
    if boundary.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(MimeError::InvalidBoundary {
            reason: "contains CR or LF",
        });
    }
    Ok(())
}

impl<'a> Ctx<'a, '_> {
    fn new<'l>(root: &'a [u8], limits: &'l MimeLimits) -> Ctx<'a, 'l> {
        Ctx {
            root,
            limits,
            parts: 0,
            max_depth: limits.max_depth.min(MAX_DEPTH_CEILING),
        }
    }

    fn parse_entity(
        &mut self,
        range: Range<usize>,
        depth: usize,
        default: DefaultType,
    ) -> Result<Part<'a>, MimeError> {
        let block = parse_block(self.root, range.start, range.end, self.limits)?;
        let headers = Headers::from(block.headers);
        let (content_type, ct_present) = match headers.unique("Content-Type")? {
            Some(h) => (ContentType::parse(h.value)?, true),
            None => (default.content_type(), false),
        };
        let (cte, cte_present) = match headers.unique("Content-Transfer-Encoding")? {
            Some(h) => (TransferEncoding::parse(h.value), true),
            None => (TransferEncoding::SevenBit, false),
        };
        self.build(
            range.clone(),
            range.start..block.header_end,
            block.body_start..range.end,
            headers,
            (content_type, ct_present),
            (cte, cte_present),
            depth,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        range: Range<usize>,
        header_range: Range<usize>,
        body_range: Range<usize>,
        headers: Headers<'a>,
        content_type: (ContentType, bool),
        transfer_encoding: (TransferEncoding, bool),
        depth: usize,
    ) -> Result<Part<'a>, MimeError> {
        let (content_type, content_type_present) = content_type;
        let multipart = if content_type.is_multipart() {
            let boundary = content_type
                .boundary()
                .ok_or(MimeError::MissingBoundary)?
                .to_vec();
            let child_default = if content_type.subtype == "digest" {
                DefaultType::MessageRfc822
            } else {
                DefaultType::TextPlain
            };
            Some(self.parse_multipart(body_range.clone(), &boundary, depth, child_default)?)
        } else {
            None
        };
        Ok(Part {
            root: self.root,
            range,
            header_range,
            body_range,
            headers,
            content_type,
            content_type_present,
            transfer_encoding: transfer_encoding.0,
            transfer_encoding_present: transfer_encoding.1,
            depth,
            multipart,
        })
    }

    fn push_part(
        &mut self,
        parts: &mut Vec<Part<'a>>,
        range: Range<usize>,
        depth: usize,
        default: DefaultType,
    ) -> Result<(), MimeError> {
        self.parts = self.parts.saturating_add(1);
        if self.parts > self.limits.max_parts {
            return Err(MimeError::MaxPartsExceeded {
                max_parts: self.limits.max_parts,
            });
        }
        parts.push(self.parse_entity(range, depth, default)?);
        Ok(())
    }

    fn parse_multipart(
        &mut self,
        body: Range<usize>,
        boundary: &[u8],
        parent_depth: usize,
        default: DefaultType,
    ) -> Result<Multipart<'a>, MimeError> {
        validate_boundary(boundary)?;
        if body.start > body.end || body.end > self.root.len() {
            return Err(MimeError::InvalidRange);
        }
        let depth = parent_depth.saturating_add(1);
        if depth > self.max_depth {
            return Err(MimeError::MaxDepthExceeded {
                max_depth: self.max_depth,
            });
        }
        let first = find_delimiter(self.root, body.start, body.end, boundary)
            .ok_or(MimeError::MissingDelimiter)?;
        let preamble = body.start..first.part_end;
        let mut parts = Vec::new();
        if first.close {
            return Ok(Multipart {
                parts,
                preamble,
                epilogue: first.next..body.end,
                closed: true,
            });
        }
        let mut start = first.next;
        loop {
            match find_delimiter(self.root, start, body.end, boundary) {
                Some(d) => {
                    self.push_part(&mut parts, start..d.part_end, depth, default)?;
                    if d.close {
                        return Ok(Multipart {
                            parts,
                            preamble,
                            epilogue: d.next..body.end,
                            closed: true,
                        });
                    }
                    start = d.next;
                }
                None => {
                    if start < body.end {
                        self.push_part(&mut parts, start..body.end, depth, default)?;
                    }
                    return Ok(Multipart {
                        parts,
                        preamble,
                        epilogue: body.end..body.end,
                        closed: false,
                    });
                }
            }
        }
    }
}

/// Parses a whole MIME entity (header block, empty line, body). The entity
/// is the root buffer: all offsets in the result are offsets into `input`.
/// `multipart/*` bodies are split recursively (see [`parse_multipart_body`]).
/// A missing `Content-Type` defaults to `text/plain; charset=us-ascii`
/// ([`Part::content_type_present`] tells), a missing
/// `Content-Transfer-Encoding` to `7bit`. An invalid `Content-Type`, a
/// multipart type without boundary, or a duplicated `Content-Type` /
/// `Content-Transfer-Encoding` header is an error.
pub fn parse_part<'a>(input: &'a [u8], limits: &MimeLimits) -> Result<Part<'a>, MimeError> {
    Ctx::new(input, limits).parse_entity(0..input.len(), 0, DefaultType::TextPlain)
}

/// Splits the multipart body `root[body]` on `boundary` (RFC 2046 §5.1.1)
/// and parses each body part (recursively). Offsets are absolute in `root`;
/// the parts are at depth 1.
///
/// * A delimiter is `--boundary` at the start of a line, optionally followed
///   by `--` (close delimiter), then optional SP/HTAB transport padding, then
///   CRLF, LF or the end of the body. Anything else on the line (e.g.
///   `--boundaryX`, or `--boundary junk`) makes it ordinary content.
/// * The CRLF (or bare LF) before a delimiter belongs to the delimiter, not to
///   the preceding part. The first delimiter may be at the very start of the
///   body. Preamble and epilogue are recorded but not parsed.
/// * Lenient: a missing close delimiter is accepted (the last part runs to the
///   end of the body; [`Multipart::closed`] is `false`); two delimiter lines in
///   a row give an empty part; a close delimiter right after the first
///   delimiter gives zero parts. No delimiter at all is
///   [`MimeError::MissingDelimiter`].
pub fn parse_multipart_body<'a>(
    root: &'a [u8],
    body: Range<usize>,
    boundary: &[u8],
    limits: &MimeLimits,
) -> Result<Multipart<'a>, MimeError> {
    Ctx::new(root, limits).parse_multipart(body, boundary, 0, DefaultType::TextPlain)
}

impl<'a> Part<'a> {
    /// Builds a part from a body whose headers travelled elsewhere (AS2: the
    /// HTTP headers). `content_type_value` is the raw `Content-Type` value.
    /// The body is taken as `binary` (HTTP is 8-bit clean); see
    /// [`Part::from_body_with_encoding`]. `body` is the root buffer.
    pub fn from_body(
        body: &'a [u8],
        content_type_value: &[u8],
        limits: &MimeLimits,
    ) -> Result<Part<'a>, MimeError> {
        Part::from_body_with_encoding(body, content_type_value, None, limits)
    }

    /// Like [`Part::from_body`], with an optional out-of-band
    /// `Content-Transfer-Encoding` value (some AS2 products send one as an
    /// HTTP header). `None` means `binary`.
    pub fn from_body_with_encoding(
        body: &'a [u8],
        content_type_value: &[u8],
        transfer_encoding_value: Option<&[u8]>,
        limits: &MimeLimits,
    ) -> Result<Part<'a>, MimeError> {
        let ct = ContentType::parse(content_type_value)?;
        let cte = match transfer_encoding_value {
            Some(v) => (TransferEncoding::parse(v), true),
            None => (TransferEncoding::Binary, false),
        };
        Ctx::new(body, limits).build(
            0..body.len(),
            0..0,
            0..body.len(),
            Headers::default(),
            (ct, true),
            cte,
            0,
        )
    }

    /// The root buffer all offsets refer to.
    pub fn root(&self) -> &'a [u8] {
        self.root
    }

    /// The whole entity as received (`root[range]`).
    pub fn raw(&self) -> &'a [u8] {
        self.root.get(self.range.clone()).unwrap_or(&[])
    }

    /// Range of the whole entity in the root buffer.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// Range of the header fields (through the last field's line end,
    /// excluding the empty separator line).
    pub fn header_range(&self) -> Range<usize> {
        self.header_range.clone()
    }

    /// Range of the body (after the empty separator line).
    pub fn body_range(&self) -> Range<usize> {
        self.body_range.clone()
    }

    /// The header field bytes (`root[header_range]`).
    pub fn header_bytes(&self) -> &'a [u8] {
        self.root.get(self.header_range.clone()).unwrap_or(&[])
    }

    /// The body as received, still transfer-encoded (`root[body_range]`).
    pub fn body(&self) -> &'a [u8] {
        self.root.get(self.body_range.clone()).unwrap_or(&[])
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers<'a> {
        &self.headers
    }

    /// First header field with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&Header<'a>> {
        self.headers.get(name)
    }

    /// The content type (the default if no header was present).
    pub fn content_type(&self) -> &ContentType {
        &self.content_type
    }

    /// Whether a `Content-Type` was given (header, or [`Part::from_body`]).
    pub fn content_type_present(&self) -> bool {
        self.content_type_present
    }

    /// The transfer encoding (`7bit` if no header was present, `binary` for
    /// [`Part::from_body`]).
    pub fn transfer_encoding(&self) -> &TransferEncoding {
        &self.transfer_encoding
    }

    /// Whether a `Content-Transfer-Encoding` was given.
    pub fn transfer_encoding_present(&self) -> bool {
        self.transfer_encoding_present
    }

    /// Nesting depth (the root entity is 0).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Multipart layout and body parts, if this is a `multipart/*` entity.
    pub fn multipart(&self) -> Option<&Multipart<'a>> {
        self.multipart.as_ref()
    }

    /// Body parts (empty unless multipart).
    pub fn children(&self) -> &[Part<'a>] {
        self.multipart.as_ref().map_or(&[], |m| m.parts.as_slice())
    }

    /// The body with its transfer encoding removed: borrowed for 7bit, 8bit
    /// and binary; decoded for base64 and quoted-printable (error offsets are
    /// absolute in the root buffer); [`MimeError::UnknownTransferEncoding`]
    /// otherwise.
    pub fn decoded_body(&self) -> Result<Cow<'a, [u8]>, MimeError> {
        self.transfer_encoding
            .decode(self.body())
            .map_err(|e| e.shifted(self.body_range.start))
    }
}

// ---------------------------------------------------------------------------
// Canonicalisation
// ---------------------------------------------------------------------------

/// Converts every bare LF to CRLF, leaving existing CRLF and bare CR alone
/// (RFC 5751 §3.1.1 text canonicalisation). Borrows when nothing changes.
/// Idempotent.
// Capacity arithmetic on the length of a slice that already exists (at most doubling).
#[allow(clippy::arithmetic_side_effects)]
pub fn canonicalize_text(input: &[u8]) -> Cow<'_, [u8]> {
    if !has_bare_lf(input) {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len() + input.len() / 16 + 1);
    let mut prev = 0u8;
    for &b in input {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    Cow::Owned(out)
}

/// The canonical form of an entity for MIC computation / signing: the
/// header block (and separator line) with CRLF line ends; the body kept
/// byte-exact when the part is `Content-Transfer-Encoding: binary` or
/// `treat_as_binary` is set, otherwise CRLF-normalised. For multipart
/// entities the rule is applied per body part (so a binary part inside a
/// text multipart stays byte-exact; delimiter lines, preamble and epilogue
/// are normalised). With `treat_as_binary` the raw entity is returned as is.
/// Borrows when nothing changes.
// Capacity arithmetic on the length of a slice that already exists.
#[allow(clippy::arithmetic_side_effects)]
pub fn canonical_entity<'a>(part: &Part<'a>, treat_as_binary: bool) -> Cow<'a, [u8]> {
    let raw = part.raw();
    if treat_as_binary || !has_bare_lf(raw) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 16 + 2);
    canon_into(part, &mut out);
    Cow::Owned(out)
}

fn canon_into(part: &Part<'_>, out: &mut Vec<u8>) {
    let root = part.root;
    let seg = |r: Range<usize>| root.get(r).unwrap_or(&[]);
    out.extend_from_slice(&canonicalize_text(seg(
        part.range.start..part.body_range.start
    )));
    if part.transfer_encoding == TransferEncoding::Binary {
        out.extend_from_slice(part.body());
    } else if let Some(mp) = &part.multipart {
        let mut cursor = part.body_range.start;
        for child in &mp.parts {
            out.extend_from_slice(&canonicalize_text(seg(cursor..child.range.start)));
            canon_into(child, out);
            cursor = child.range.end;
        }
        out.extend_from_slice(&canonicalize_text(seg(cursor..part.body_range.end)));
    } else {
        out.extend_from_slice(&canonicalize_text(part.body()));
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

fn check_header_for_write(name: &str, value: &str) -> Result<(), MimeError> {
    if name.is_empty() {
        return Err(MimeError::InvalidHeaderForWrite {
            reason: "empty header name",
        });
    }
    if !name
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b':')
    {
        return Err(MimeError::InvalidHeaderForWrite {
            reason: "invalid byte in header name",
        });
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(MimeError::InvalidHeaderForWrite {
            reason: "CR, LF or NUL in header value",
        });
    }
    Ok(())
}

/// Writes an entity: each header as `Name: value` CRLF, an empty line, then
/// the body verbatim. Header names must be printable ASCII without `:`;
/// values must not contain CR, LF or NUL (no header injection, no folding).
pub fn write_entity(headers: &[(&str, &str)], body: &[u8]) -> Result<Vec<u8>, MimeError> {
    let mut len = body.len().saturating_add(2);
    for (n, v) in headers {
        check_header_for_write(n, v)?;
        len = len
            .saturating_add(n.len())
            .saturating_add(v.len())
            .saturating_add(4);
    }
    let mut out = Vec::with_capacity(len);
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(out)
}

fn is_bchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'\''
                | b'('
                | b')'
                | b'+'
                | b'_'
                | b','
                | b'-'
                | b'.'
                | b'/'
                | b':'
                | b'='
                | b'?'
                | b' '
        )
}

fn contains_delimiter_line(part: &[u8], boundary: &[u8]) -> bool {
    let starts = std::iter::once(0).chain(
        part.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i.saturating_add(1)),
    );
    for s in starts {
        let rest = part.get(s..).unwrap_or(&[]);
        if rest
            .strip_prefix(b"--")
            .is_some_and(|r| r.starts_with(boundary))
        {
            return true;
        }
    }
    false
}

/// Writes a multipart body: `--b CRLF part CRLF --b CRLF part CRLF --b-- CRLF`.
/// The boundary must be 1–70 RFC 2046 `bchars` not ending in a space; a part
/// that contains a line starting with `--boundary` is rejected
/// ([`MimeError::BoundaryInPart`]).
pub fn write_multipart(boundary: &str, parts: &[&[u8]]) -> Result<Vec<u8>, MimeError> {
    let b = boundary.as_bytes();
    if b.is_empty() || b.len() > MAX_BOUNDARY_LEN {
        return Err(MimeError::InvalidBoundary {
            reason: "length must be 1 to 70",
        });
    }
    if !b.iter().copied().all(is_bchar) || b.last() == Some(&b' ') {
        return Err(MimeError::InvalidBoundary {
            reason: "invalid character",
        });
    }
    let mut len = b.len().saturating_add(6);
    for (index, p) in parts.iter().enumerate() {
        if contains_delimiter_line(p, b) {
            return Err(MimeError::BoundaryInPart { index });
        }
        len = len
            .saturating_add(p.len())
            .saturating_add(b.len())
            .saturating_add(6);
    }
    let mut out = Vec::with_capacity(len);
    for p in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(b);
    out.extend_from_slice(b"--\r\n");
    Ok(out)
}

/// Builds a boundary from caller-supplied randomness: `as2-` followed by 32
/// lowercase hex digits (a token, so it needs no quoting).
pub fn generate_boundary(random: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    s.push_str("as2-");
    for &b in random {
        for nibble in [b >> 4, b & 0x0f] {
            s.push(
                HEX.get(usize::from(nibble))
                    .copied()
                    .map_or('0', char::from),
            );
        }
    }
    s
}

/// A file-name parameter (`filename` of Content-Disposition, `name` of
/// Content-Type) for `file_name`, CR, LF and NUL dropped: `param="..."` when
/// the name is printable ASCII, else `param*=UTF-8''...` (RFC 2231 §4, every
/// byte outside RFC 5987's `attr-char` percent-encoded). `param` must be a
/// token. A name longer than [`MAX_PARAM_VALUE_LEN`] bytes would not be read
/// back: callers refuse it (as `outbound::build` does).
///
/// No plain ASCII `param=` fallback is added beside the encoded form: Python's
/// `email` package (what pyas2lib and django-pyas2 parse with) prefers a plain
/// `filename` to `filename*` when both are present, so the fallback would
/// replace the real name at such a partner, while RFC 2231 itself is read by
/// the MIME libraries AS2 products are built on. The value is one unfolded
/// parameter: it may also travel as an HTTP header, where folding is obsolete.
pub fn file_name_param(param: &str, file_name: &str) -> String {
    let name: String = file_name
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect();
    if name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut out =
            String::with_capacity(name.len().saturating_add(param.len()).saturating_add(3));
        out.push_str(param);
        out.push_str("=\"");
        for c in name.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        return out;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = format!("{param}*=UTF-8''");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 0x0f] {
                out.push(
                    HEX.get(usize::from(nibble))
                        .copied()
                        .map_or('0', char::from),
                );
            }
        }
    }
    out
}

/// Formats a `Content-Type` (or `Content-Disposition`) value:
/// `mime_type; name=value; ...`, quoting values that are not tokens (or are
/// empty) and escaping `"` and `\`. `mime_type` must be printable ASCII;
/// names must be tokens; values must not contain control characters.
pub fn content_type_value(mime_type: &str, params: &[(&str, &str)]) -> Result<String, MimeError> {
    if mime_type.is_empty() || !mime_type.bytes().all(|b| is_token_byte(b) || b == b'/') {
        return Err(MimeError::InvalidHeaderForWrite {
            reason: "invalid media type",
        });
    }
    let mut out = String::from(mime_type);
    for (name, value) in params {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(MimeError::InvalidHeaderForWrite {
                reason: "invalid parameter name",
            });
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(MimeError::InvalidHeaderForWrite {
                reason: "control character in parameter value",
            });
        }
        out.push_str("; ");
        out.push_str(name);
        out.push('=');
        if !value.is_empty() && value.bytes().all(is_token_byte) {
            out.push_str(value);
        } else {
            out.push('"');
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    // ----- helpers ---------------------------------------------------------

    /// Derives the bare-LF variant of a CRLF test input.
    fn lf(crlf: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(crlf.len());
        let mut i = 0;
        while i < crlf.len() {
            if crlf[i] == b'\r' && crlf.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            out.push(crlf[i]);
            i += 1;
        }
        out
    }

    /// Both variants of a CRLF input: `(is_lf, bytes)`.
    fn variants(crlf: &[u8]) -> [(bool, Vec<u8>); 2] {
        [(false, crlf.to_vec()), (true, lf(crlf))]
    }

    /// Length of a line end in the variant.
    fn le(is_lf: bool) -> usize {
        if is_lf { 1 } else { 2 }
    }

    /// Converts a CRLF fragment to the variant.
    fn v(is_lf: bool, crlf: &[u8]) -> Vec<u8> {
        if is_lf { lf(crlf) } else { crlf.to_vec() }
    }

    /// Test input segment: text (converted for the LF variant) or binary.
    enum Seg<'s> {
        T(&'s [u8]),
        B(&'s [u8]),
    }

    fn build(segs: &[Seg<'_>], is_lf: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for s in segs {
            match s {
                Seg::T(t) => out.extend_from_slice(&v(is_lf, t)),
                Seg::B(b) => out.extend_from_slice(b),
            }
        }
        out
    }

    /// Offset of the only occurrence of `needle` in `hay`.
    fn pos(hay: &[u8], needle: &[u8]) -> usize {
        let hits: Vec<usize> = hay
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "needle {:?}",
            String::from_utf8_lossy(needle)
        );
        hits[0]
    }

    fn lim() -> MimeLimits {
        MimeLimits::default()
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Structural invariants every parsed part must satisfy.
    fn check_part(p: &Part<'_>) {
        let n = p.root().len();
        let r = p.range();
        assert!(r.start <= r.end && r.end <= n);
        assert_eq!(p.header_range().start, r.start);
        assert!(p.header_range().end <= p.body_range().start);
        assert_eq!(p.body_range().end, r.end);
        assert_eq!(p.raw(), &p.root()[r.clone()]);
        assert_eq!(p.body(), &p.root()[p.body_range()]);
        for h in p.headers() {
            assert!(h.offset.start >= r.start && h.offset.end <= p.header_range().end);
            let _ = h.unfolded_value();
        }
        let _ = p.decoded_body();
        assert_eq!(&*canonical_entity(p, true), p.raw());
        let canon = canonical_entity(p, false);
        if !has_binary(p) {
            assert!(!has_bare_lf(&canon));
        }
        if let Some(m) = p.multipart() {
            let b = p.body_range();
            assert!(m.preamble.start == b.start && m.preamble.end <= b.end);
            assert!(m.epilogue.end == b.end && m.epilogue.start <= m.epilogue.end);
            let mut last = m.preamble.end;
            for c in &m.parts {
                assert!(c.range().start >= last, "children overlap");
                assert!(c.range().end <= b.end);
                assert_eq!(c.depth(), p.depth() + 1);
                last = c.range().end;
                check_part(c);
            }
            assert!(last <= m.epilogue.start);
        }
    }

    fn has_binary(p: &Part<'_>) -> bool {
        *p.transfer_encoding() == TransferEncoding::Binary || p.children().iter().any(has_binary)
    }

    // ----- limits & errors -------------------------------------------------

    #[test]
    fn default_limits() {
        let l = MimeLimits::default();
        assert_eq!(
            (l.max_depth, l.max_headers, l.max_header_line, l.max_parts),
            (8, 100, 8192, 32)
        );
    }

    #[test]
    fn error_display_names_limit_and_value() {
        let cases = [
            (
                MimeError::MaxDepthExceeded { max_depth: 8 },
                "max_depth (8)",
            ),
            (
                MimeError::MaxHeadersExceeded { max_headers: 100 },
                "max_headers (100)",
            ),
            (
                MimeError::MaxHeaderLineExceeded {
                    max_header_line: 8192,
                    offset: 3,
                },
                "max_header_line (8192)",
            ),
            (
                MimeError::MaxPartsExceeded { max_parts: 32 },
                "max_parts (32)",
            ),
        ];
        for (e, want) in cases {
            assert!(e.to_string().contains(want), "{e}");
        }
        let e: Box<dyn std::error::Error> = Box::new(MimeError::MissingBoundary);
        assert!(!e.to_string().is_empty());
    }

    // ----- headers ---------------------------------------------------------

    #[test]
    fn headers_basic_offsets_both_line_ends() {
        let src = b"Content-Type: text/plain\r\nX-Empty:\r\nName :  v a l \r\n\r\nbody\r\n";
        for (is_lf, input) in variants(src) {
            let (hs, body) = parse_headers(&input, &lim()).unwrap();
            assert_eq!(hs.len(), 3);
            assert_eq!(hs[0].name, b"Content-Type");
            assert_eq!(hs[0].value, b"text/plain");
            assert_eq!(
                &input[hs[0].offset.clone()],
                &v(is_lf, b"Content-Type: text/plain\r\n")[..]
            );
            assert_eq!(hs[1].name, b"X-Empty");
            assert_eq!(hs[1].value, b"");
            assert_eq!(hs[2].name, b"Name");
            assert_eq!(hs[2].value, b"v a l ");
            assert_eq!(&*hs[2].unfolded_value(), b"v a l");
            assert!(hs[2].name_eq_ignore_case("nAME"));
            assert_eq!(&input[body..], &v(is_lf, b"body\r\n")[..]);
            let h = Headers::from(hs);
            assert_eq!(h.get("content-type").unwrap().value, b"text/plain");
            assert!(h.get("missing").is_none());
        }
    }

    #[test]
    fn headers_folded() {
        let src = b"Subject: first\r\n second\r\n\tthird\r\nContent-Type: multipart/signed;\r\n boundary=\"a b\"\r\n\r\n";
        for (is_lf, input) in variants(src) {
            let (hs, body) = parse_headers(&input, &lim()).unwrap();
            assert_eq!(body, input.len());
            assert_eq!(hs.len(), 2);
            assert_eq!(hs[0].value, &v(is_lf, b"first\r\n second\r\n\tthird")[..]);
            assert_eq!(&*hs[0].unfolded_value(), b"first second\tthird");
            assert!(matches!(hs[0].unfolded_value(), Cow::Owned(_)));
            assert_eq!(
                &input[hs[0].offset.clone()],
                &v(is_lf, b"Subject: first\r\n second\r\n\tthird\r\n")[..]
            );
            let ct = ContentType::parse(hs[1].value).unwrap();
            assert_eq!(ct.boundary(), Some(&b"a b"[..]));
        }
    }

    #[test]
    fn headers_mixed_blank_lines_and_headers_only() {
        for input in [
            &b"A: 1\r\n\nX"[..],
            b"A: 1\n\r\nX",
            b"A: 1\r\n\r\nX",
            b"A: 1\n\nX",
        ] {
            let (hs, body) = parse_headers(input, &lim()).unwrap();
            assert_eq!(hs.len(), 1);
            assert_eq!(&input[body..], b"X");
        }
        // Headers-only: EOF after a terminated line; empty input.
        let (hs, body) = parse_headers(b"A: 1\r\nB: 2\n", &lim()).unwrap();
        assert_eq!((hs.len(), body), (2, 11));
        assert_eq!(parse_headers(b"", &lim()).unwrap(), (vec![], 0));
        // Blank line first: no headers.
        assert_eq!(parse_headers(b"\r\nbody", &lim()).unwrap(), (vec![], 2));
        // Unterminated last line.
        assert_eq!(
            parse_headers(b"A: 1\r\nB: 2", &lim()),
            Err(MimeError::UnterminatedHeaders { offset: 6 })
        );
    }

    #[test]
    fn headers_malformed() {
        assert!(matches!(
            parse_headers(b"no colon here\r\n\r\n", &lim()),
            Err(MimeError::MalformedHeader { offset: 0, .. })
        ));
        assert!(matches!(
            parse_headers(b" leading: ws\r\n\r\n", &lim()),
            Err(MimeError::MalformedHeader { offset: 0, .. })
        ));
        assert!(matches!(
            parse_headers(b"A: 1\r\n: empty\r\n\r\n", &lim()),
            Err(MimeError::MalformedHeader { offset: 6, .. })
        ));
        assert!(matches!(
            parse_headers(b"Na\x00me: x\r\n\r\n", &lim()),
            Err(MimeError::MalformedHeader { .. })
        ));
        // Non-ASCII values are fine.
        let (hs, _) = parse_headers(b"X: caf\xe9\r\n\r\n", &lim()).unwrap();
        assert_eq!(hs[0].value, b"caf\xe9");
    }

    #[test]
    fn header_count_limit() {
        let mut input = Vec::new();
        for i in 0..100 {
            input.extend_from_slice(format!("H{i}: x\r\n").as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        for (_, inp) in variants(&input) {
            assert_eq!(parse_headers(&inp, &lim()).unwrap().0.len(), 100);
        }
        let mut more = b"Extra: y\r\n".to_vec();
        more.extend_from_slice(&input);
        for (_, inp) in variants(&more) {
            assert_eq!(
                parse_headers(&inp, &lim()),
                Err(MimeError::MaxHeadersExceeded { max_headers: 100 })
            );
        }
        let small = MimeLimits {
            max_headers: 2,
            ..lim()
        };
        assert_eq!(
            parse_part(b"A: 1\r\nB: 2\r\nC: 3\r\n\r\n", &small).unwrap_err(),
            MimeError::MaxHeadersExceeded { max_headers: 2 }
        );
    }

    #[test]
    fn header_line_limit_includes_folding() {
        let l = MimeLimits {
            max_header_line: 20,
            ..lim()
        };
        // exactly 20 bytes including CRLF
        let ok = b"A: 345678901234567\r\n\r\n";
        assert_eq!(parse_headers(ok, &l).unwrap().0.len(), 1);
        let long = b"B: 1\r\nA: 3456789012345678\r\n\r\n";
        assert_eq!(
            parse_headers(long, &l),
            Err(MimeError::MaxHeaderLineExceeded {
                max_header_line: 20,
                offset: 6
            })
        );
        let folded = b"A: 1234\r\n 5678\r\n 9012\r\n\r\n";
        assert_eq!(
            parse_headers(folded, &l),
            Err(MimeError::MaxHeaderLineExceeded {
                max_header_line: 20,
                offset: 0
            })
        );
        assert_eq!(parse_headers(&lf(folded), &l).unwrap().0.len(), 1);
    }

    // ----- content type / disposition --------------------------------------

    #[test]
    fn content_type_params() {
        let ct = ContentType::parse(
            b"Multipart/Signed ; Protocol = \"application/pkcs7-signature\" ;micalg=SHA-256;\r\n\tboundary=\"----=_Part 1\\\"x\\\\\";;",
        )
        .unwrap();
        assert_eq!(ct.type_(), "multipart");
        assert_eq!(ct.subtype(), "signed");
        assert_eq!(ct.mime_type(), "multipart/signed");
        assert!(ct.is("MULTIPART/signed"));
        assert!(ct.is_multipart());
        assert_eq!(ct.protocol(), Some("application/pkcs7-signature"));
        assert_eq!(ct.micalg(), Some("SHA-256"));
        assert_eq!(ct.boundary(), Some(&b"----=_Part 1\"x\\"[..]));
        assert_eq!(ct.params().len(), 3);

        let ct = ContentType::parse(
            b"application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"",
        )
        .unwrap();
        assert_eq!(ct.smime_type(), Some("enveloped-data"));
        assert_eq!(ct.name(), Some(&b"smime.p7m"[..]));
        let ct = ContentType::parse(
            b"multipart/report; Report-Type=disposition-notification; boundary=x",
        )
        .unwrap();
        assert_eq!(ct.report_type(), Some("disposition-notification"));
        assert_eq!(
            ct.param("REPORT-TYPE"),
            Some(&b"disposition-notification"[..])
        );
        let ct = ContentType::parse(b" text / plain ; charset = \"utf-8\" ; ").unwrap();
        assert_eq!(ct.mime_type(), "text/plain");
        assert_eq!(ct.charset(), Some("utf-8"));
        // Non-UTF-8 values are kept as bytes.
        let ct = ContentType::parse(b"application/edi; name=caf\xe9.edi").unwrap();
        assert_eq!(ct.name(), Some(&b"caf\xe9.edi"[..]));
        assert_eq!(ct.params().get_str("name"), None);

        for bad in [
            &b""[..],
            b"text",
            b"text/",
            b"/plain",
            b"text/plain; =x",
            b"text/plain; charset",
            b"text/plain; name=\"unterminated",
            b"text/plain; name=\"x\" junk",
            b"text/plain junk",
        ] {
            assert!(
                ContentType::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn content_disposition() {
        let d = ContentDisposition::parse(b"attachment; filename=\"x.edi\"").unwrap();
        assert_eq!(d.disposition(), "attachment");
        assert_eq!(d.filename(), Some(&b"x.edi"[..]));
        let d = ContentDisposition::parse(b"Attachment ; FileName = order 1.edi ;").unwrap();
        assert_eq!(d.disposition(), "attachment");
        assert_eq!(d.filename(), Some(&b"order 1.edi"[..]));
        assert_eq!(
            d.params().iter().next(),
            Some(("filename", &b"order 1.edi"[..]))
        );
        assert!(ContentDisposition::parse(b"; filename=x").is_err());
    }

    /// The file name of an entity with this Content-Disposition (and a bare
    /// Content-Type).
    fn cd_name(disposition: &str) -> Option<String> {
        file_name(
            Some(disposition.as_bytes()),
            &ContentType::parse(b"application/edi-x12").unwrap(),
        )
    }

    #[test]
    fn rfc2231_file_names() {
        // RFC 2231 §4: charset and language.
        assert_eq!(
            cd_name("attachment; filename*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A")
                .as_deref(),
            Some("This is ***fun***")
        );
        assert_eq!(
            cd_name("attachment; filename*=UTF-8''Bestellung-Gr%C3%B6%C3%9Fe-%C3%A9.edi")
                .as_deref(),
            Some("Bestellung-Größe-é.edi")
        );
        assert_eq!(
            cd_name("attachment; filename*=iso-8859-1'de'Gr%F6%DFe.edi").as_deref(),
            Some("Größe.edi")
        );
        // Lenient: a quoted extended value, lower-case escapes, any case in the name.
        assert_eq!(
            cd_name("attachment; FILENAME*=\"utf-8''%e6%b3%a8%e6%96%87.edi\"").as_deref(),
            Some("注文.edi")
        );
        // RFC 2231 §3 and §4.1: continuations, plain and encoded mixed, out of order.
        assert_eq!(
            cd_name(
                "attachment; filename*1=\"ongest name \"; filename*0=\"A l\"; filename*2=x.edi"
            )
            .as_deref(),
            Some("A longest name x.edi")
        );
        assert_eq!(
            cd_name(
                "attachment; filename*0*=us-ascii'en'This%20is%20even%20more%20; \
                 filename*1*=%2A%2A%2Afun%2A%2A%2A%20; filename*2=\"isn't it!\""
            )
            .as_deref(),
            Some("This is even more ***fun*** isn't it!")
        );
        assert_eq!(
            cd_name("attachment; filename*0*=UTF-8''%E6%B3%A8; filename*1*=%E6%96%87.edi")
                .as_deref(),
            Some("注文.edi")
        );
        // A gap ends the value.
        assert_eq!(
            cd_name("attachment; filename*0=a; filename*2=c").as_deref(),
            Some("a")
        );
        // The extended form wins over the plain one, whatever the order.
        assert_eq!(
            cd_name("attachment; filename=\"fallback.edi\"; filename*=UTF-8''r%C3%A9el.edi")
                .as_deref(),
            Some("réel.edi")
        );
        assert_eq!(
            cd_name("attachment; filename*0*=UTF-8''r%C3%A9el.edi; filename=fallback.edi")
                .as_deref(),
            Some("réel.edi")
        );
        // Malformed escapes stay as written; invalid UTF-8 becomes U+FFFD.
        assert_eq!(
            cd_name("attachment; filename*=UTF-8''100%25%zz%4.edi").as_deref(),
            Some("100%%zz%4.edi")
        );
        assert_eq!(
            cd_name("attachment; filename*=UTF-8''a%FFb").as_deref(),
            Some("a\u{FFFD}b")
        );
        assert_eq!(
            cd_name("attachment; filename*=us-ascii''a%E9b").as_deref(),
            Some("a\u{FFFD}b")
        );
        // No charset'language' part: the whole value, UTF-8.
        assert_eq!(
            cd_name("attachment; filename*=caf%C3%A9.edi").as_deref(),
            Some("café.edi")
        );
        // An unknown charset: readable only as ASCII, else the plain name is used.
        assert_eq!(
            cd_name("attachment; filename*=koi8-r''plain.edi").as_deref(),
            Some("plain.edi")
        );
        assert_eq!(
            cd_name("attachment; filename*=koi8-r''%C1.edi; filename=\"fallback.edi\"").as_deref(),
            Some("fallback.edi")
        );
        assert_eq!(cd_name("attachment; filename*=koi8-r''%C1.edi"), None);
        // Empty means absent.
        assert_eq!(
            cd_name("attachment; filename*=UTF-8''; filename=x"),
            Some("x".into())
        );
        assert_eq!(cd_name("attachment; filename=\"\""), None);
        assert_eq!(cd_name("attachment"), None);
        // Raw UTF-8 in a plain value (as some products send it).
        assert_eq!(
            cd_name("attachment; filename=\"Größe.edi\"").as_deref(),
            Some("Größe.edi")
        );
        // Names that only start like the parameter are other parameters.
        assert_eq!(
            cd_name("attachment; filenamex*=UTF-8''a; filename*x=b"),
            None
        );
    }

    #[test]
    fn file_name_falls_back_to_content_type_name() {
        let ct = |v: &str| ContentType::parse(v.as_bytes()).unwrap();
        let named = ct("application/edi-x12; name*=UTF-8''%E6%B3%A8%E6%96%87.edi");
        assert_eq!(file_name(None, &named).as_deref(), Some("注文.edi"));
        assert_eq!(
            file_name(Some(b"attachment"), &named).as_deref(),
            Some("注文.edi")
        );
        // An unparsable disposition counts as absent.
        assert_eq!(
            file_name(Some(b"; filename=x"), &named).as_deref(),
            Some("注文.edi")
        );
        assert_eq!(
            file_name(Some(b"attachment; filename=po.edi"), &named).as_deref(),
            Some("po.edi")
        );
        let plain = ct("application/edi-x12; name=\"po 1.x12\"");
        assert_eq!(file_name(None, &plain).as_deref(), Some("po 1.x12"));
        assert_eq!(file_name(None, &ct("application/edi-x12")), None);
    }

    #[test]
    fn hostile_file_names_decode_and_are_neutralised_when_stored() {
        // The decoder returns what the sender wrote; a path is made only through
        // record::inbound_paths, which neutralises it.
        let name = cd_name("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd").unwrap();
        assert_eq!(name, "../../etc/passwd");
        let nul = cd_name("attachment; filename*=UTF-8''a%00b%0D%0A%1B.edi%2F..").unwrap();
        assert_eq!(nul, "a\0b\r\n\u{1b}.edi/..");
        for hostile in [name.as_str(), nul.as_str(), "..", "%2E%2E"] {
            let paths = crate::record::inbound_paths(
                Some(hostile),
                "<m@x>",
                crate::record::StatusCode::Completed,
            );
            let stored = paths.payload.file_name();
            assert!(
                !stored.contains(['/', '\\', '\0', '\r', '\n', '\u{1b}'])
                    && !stored.starts_with('.'),
                "{hostile:?} -> {stored:?}"
            );
        }
    }

    #[test]
    fn rfc2231_limits() {
        // The highest segment number allowed, then one too many: refused, not cut.
        let last = MAX_PARAM_SEGMENTS - 1;
        let mut value = String::from("attachment");
        for i in 0..=last {
            value.push_str(&format!("; filename*{i}=a"));
        }
        assert_eq!(cd_name(&value), Some("a".repeat(MAX_PARAM_SEGMENTS)));
        let over = format!("{value}; filename*{MAX_PARAM_SEGMENTS}=b");
        assert_eq!(cd_name(&over), None);
        let over_plain = format!("{over}; filename=plain.edi");
        assert_eq!(cd_name(&over_plain).as_deref(), Some("plain.edi"));
        // Huge numbers (beyond usize) are refused without arithmetic trouble.
        assert_eq!(
            cd_name("attachment; filename*0=a; filename*99999999999999999999999999=b"),
            None
        );
        // The decoded length: at the cap it is read, one byte more is refused.
        let at_cap = "%41".repeat(MAX_PARAM_VALUE_LEN);
        assert_eq!(
            cd_name(&format!("attachment; filename*=UTF-8''{at_cap}")),
            Some("A".repeat(MAX_PARAM_VALUE_LEN))
        );
        assert_eq!(
            cd_name(&format!("attachment; filename*=UTF-8''{at_cap}B")),
            None
        );
        // The same cap for a plain value.
        let plain = "a".repeat(MAX_PARAM_VALUE_LEN);
        assert_eq!(
            cd_name(&format!("attachment; filename={plain}")),
            Some(plain.clone())
        );
        assert_eq!(cd_name(&format!("attachment; filename={plain}b")), None);
        let halves = "a".repeat(MAX_PARAM_VALUE_LEN / 2);
        assert_eq!(
            cd_name(&format!(
                "attachment; filename*0={halves}; filename*1={halves}; filename*2=x"
            )),
            None
        );
        // Many parameters that are not segments cost a pass each, no allocation.
        let mut noise = String::from("attachment");
        for i in 0..2000 {
            noise.push_str(&format!("; p{i}=v"));
        }
        noise.push_str("; filename*0*=UTF-8''ok; filename*1=.edi");
        assert_eq!(cd_name(&noise).as_deref(), Some("ok.edi"));
    }

    #[test]
    fn file_name_params_written() {
        assert_eq!(file_name_param("filename", "po.x12"), "filename=\"po.x12\"");
        assert_eq!(
            file_name_param("filename", r#"a "b"\c.edi"#),
            r#"filename="a \"b\"\\c.edi""#
        );
        assert_eq!(
            file_name_param("filename", "Bestellung-Größe-é.edi"),
            "filename*=UTF-8''Bestellung-Gr%C3%B6%C3%9Fe-%C3%A9.edi"
        );
        assert_eq!(
            file_name_param("name", "注文 1;x.edi"),
            "name*=UTF-8''%E6%B3%A8%E6%96%87%201%3Bx.edi"
        );
        // A control character other than CR, LF, NUL is encoded, not written raw.
        assert_eq!(
            file_name_param("filename", "a\tb"),
            "filename*=UTF-8''a%09b"
        );
        assert_eq!(
            file_name_param("filename", "é\r\n\0"),
            "filename*=UTF-8''%C3%A9"
        );
        // What we write, we read back.
        for name in [
            "Bestellung-Größe-é.edi",
            "注文.edi",
            "a'b%41\"c\\d e.edi",
            "plain.edi",
        ] {
            let written = format!("attachment; {}", file_name_param("filename", name));
            assert_eq!(cd_name(&written).as_deref(), Some(name), "{written}");
            let ct = format!("application/edi-x12; {}", file_name_param("name", name));
            assert_eq!(
                file_name(None, &ContentType::parse(ct.as_bytes()).unwrap()).as_deref(),
                Some(name)
            );
        }
    }

    // ----- multipart -------------------------------------------------------

    const NESTED: &[u8] = b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
preamble text\r\n\
--outer\r\n\
Content-Type: text/plain\r\n\
\r\n\
first part\r\n\
--outer\r\n\
Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n\
\tmicalg=sha-256; boundary=\"inner b\"\r\n\
\r\n\
--inner b\r\n\
Content-Type: application/edi-x12\r\n\
\r\n\
ISA*DATA~\r\n\
--inner b\r\n\
Content-Type: application/pkcs7-signature\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAw==\r\n\
--inner b--\r\n\
\r\n\
--outer--\r\n\
epilogue\r\n";

    #[test]
    fn nested_signed_offsets_exact() {
        for (is_lf, input) in variants(NESTED) {
            let e = le(is_lf);
            let root = parse_part(&input, &lim()).unwrap();
            check_part(&root);
            assert_eq!(root.range(), 0..input.len());
            let mp = root.multipart().unwrap();
            assert!(mp.closed);
            assert_eq!(&input[mp.preamble.clone()], b"preamble text");
            assert_eq!(&input[mp.epilogue.clone()], &v(is_lf, b"epilogue\r\n")[..]);
            assert_eq!(root.children().len(), 2);

            let first = &root.children()[0];
            assert_eq!(first.body(), b"first part");
            assert_eq!(
                first.range().start,
                pos(&input, b"Content-Type: text/plain")
            );

            let signed = &root.children()[1];
            let s_start = pos(&input, b"Content-Type: multipart/signed");
            let s_end = pos(&input, b"--outer--") - e;
            assert_eq!(signed.range(), s_start..s_end);
            assert!(signed.raw().ends_with(&v(is_lf, b"--inner b--\r\n")));
            let h_end = pos(&input, b"boundary=\"inner b\"") + 18 + e;
            assert_eq!(signed.header_range(), s_start..h_end);
            assert_eq!(signed.body_range(), h_end + e..s_end);
            assert_eq!(signed.depth(), 1);
            assert_eq!(signed.content_type().micalg(), Some("sha-256"));
            assert_eq!(signed.content_type().boundary(), Some(&b"inner b"[..]));
            let ct_hdr = signed.header("content-type").unwrap();
            assert_eq!(ct_hdr.offset, s_start..h_end);
            let smp = signed.multipart().unwrap();
            assert!(smp.closed);
            assert_eq!(smp.preamble, h_end + e..h_end + e);
            assert_eq!(smp.epilogue, s_end..s_end);

            let content = &signed.children()[0];
            let c_start = pos(&input, b"Content-Type: application/edi-x12");
            let c_end = pos(&input, b"ISA*DATA~") + 9;
            assert_eq!(content.range(), c_start..c_end);
            assert_eq!(content.body(), b"ISA*DATA~");
            assert_eq!(content.depth(), 2);
            assert_eq!(content.root().as_ptr(), input.as_ptr());

            let sig = &signed.children()[1];
            assert_eq!(
                sig.range().start,
                pos(&input, b"Content-Type: application/pkcs7-signature")
            );
            assert_eq!(sig.body(), b"AAECAw==");
            assert_eq!(sig.body_range().start, pos(&input, b"AAECAw=="));
            assert_eq!(sig.range().end, pos(&input, b"--inner b--") - e);
            assert_eq!(&*sig.decoded_body().unwrap(), &[0, 1, 2, 3]);
            assert_eq!(*sig.transfer_encoding(), TransferEncoding::Base64);
        }
    }

    #[test]
    fn from_body_http_style() {
        // The signed body as an AS2 HTTP body: Content-Type in HTTP headers.
        for (is_lf, input) in variants(NESTED) {
            let root = parse_part(&input, &lim()).unwrap();
            let signed = &root.children()[1];
            let http_ct = signed.header("Content-Type").unwrap().value;
            let body = signed.body();
            let p = Part::from_body(body, http_ct, &lim()).unwrap();
            check_part(&p);
            assert!(p.content_type_present());
            assert_eq!(*p.transfer_encoding(), TransferEncoding::Binary);
            assert_eq!(p.header_range(), 0..0);
            assert_eq!(p.children().len(), 2);
            assert_eq!(
                p.children()[0].raw(),
                &v(is_lf, b"Content-Type: application/edi-x12\r\n\r\nISA*DATA~")[..]
            );
            assert_eq!(p.children()[0].depth(), 1);
        }
        let p = Part::from_body_with_encoding(
            b"SGVs\r\nbG8=\r\n",
            b"text/plain",
            Some(b" Base64 "),
            &lim(),
        )
        .unwrap();
        assert!(p.transfer_encoding_present());
        assert_eq!(&*p.decoded_body().unwrap(), b"Hello");
        assert!(Part::from_body(b"x", b"garbage", &lim()).is_err());
    }

    #[test]
    fn boundary_like_lines_are_content() {
        let src = b"Content-Type: multipart/mixed; boundary=bnd\r\n\
\r\n\
--bnd\r\n\
\r\n\
line1\r\n\
--bndX\r\n\
text --bnd in middle\r\n\
--bnd--x\r\n\
--bnd junk\r\n\
\x20--bnd\r\n\
-bnd\r\n\
end\r\n\
--bnd   \t\r\n\
\r\n\
second\r\n\
--bnd-- \t\r\n";
        for (is_lf, input) in variants(src) {
            let p = parse_part(&input, &lim()).unwrap();
            check_part(&p);
            let mp = p.multipart().unwrap();
            assert!(mp.closed);
            assert_eq!(mp.parts.len(), 2);
            assert_eq!(
                mp.parts[0].body(),
                &v(
                    is_lf,
                    b"line1\r\n--bndX\r\ntext --bnd in middle\r\n--bnd--x\r\n--bnd junk\r\n --bnd\r\n-bnd\r\nend"
                )[..]
            );
            assert!(!mp.parts[0].content_type_present());
            assert_eq!(mp.parts[1].body(), b"second");
            assert_eq!(mp.epilogue, input.len()..input.len());
        }
    }

    #[test]
    fn self_overlapping_boundary() {
        // "---" (the delimiter for boundary "-") overlaps itself; a line of four dashes is
        // content, five close the body, and "---" inside a line is no delimiter.
        let body = b"x---y\r\n---\r\n\r\none\r\n----\r\n-----\r\n";
        for (is_lf, input) in variants(body) {
            let mp = parse_multipart_body(&input, 0..input.len(), b"-", &lim()).unwrap();
            assert!(mp.closed);
            assert_eq!(mp.parts.len(), 1);
            assert_eq!(mp.parts[0].body(), &v(is_lf, b"one\r\n----")[..]);
            assert_eq!(&input[mp.preamble.clone()], b"x---y");
        }
    }

    #[test]
    fn quoted_boundary_with_spaces_and_first_delimiter_at_body_start() {
        let body = b"--my boundary 1\r\nContent-Type: text/plain\r\n\r\nA\r\n--my boundary 1--";
        for (_, input) in variants(body) {
            let p = Part::from_body(
                &input,
                b"multipart/mixed; boundary=\"my boundary 1\"",
                &lim(),
            )
            .unwrap();
            check_part(&p);
            let mp = p.multipart().unwrap();
            assert_eq!(mp.preamble, 0..0);
            assert!(mp.closed);
            assert_eq!(mp.parts.len(), 1);
            assert_eq!(mp.parts[0].body(), b"A");
        }
    }

    #[test]
    fn empty_and_headers_only_parts() {
        let src = b"--b\r\nContent-Type: text/html\r\n\r\n--b\r\n\r\n--b\r\n--b--\r\n";
        for (is_lf, input) in variants(src) {
            let p = Part::from_body(&input, b"multipart/mixed; boundary=b", &lim()).unwrap();
            check_part(&p);
            let parts = p.children();
            assert_eq!(parts.len(), 3);
            assert_eq!(
                parts[0].raw(),
                &v(is_lf, b"Content-Type: text/html\r\n")[..]
            );
            assert_eq!(parts[0].content_type().mime_type(), "text/html");
            assert_eq!(parts[0].body(), b"");
            assert_eq!(parts[0].header_range(), parts[0].range());
            assert_eq!(parts[1].raw(), b"");
            assert_eq!(parts[2].raw(), b"");
        }
        // zero parts
        let p = Part::from_body(b"--b--\r\n", b"multipart/mixed; boundary=b", &lim()).unwrap();
        assert!(p.children().is_empty() && p.multipart().unwrap().closed);
        // unterminated header line in a part is an error
        assert_eq!(
            Part::from_body(
                b"--b\r\nContent-Type: text/plain\r\n--b--",
                b"multipart/mixed; boundary=b",
                &lim()
            )
            .unwrap_err(),
            MimeError::UnterminatedHeaders { offset: 5 }
        );
    }

    #[test]
    fn missing_close_delimiter_is_lenient() {
        let src = b"pre\r\n--b\r\nA: 1\r\n\r\nbody one\r\n--b\r\n\r\nlast\r\n";
        for (is_lf, input) in variants(src) {
            let p = Part::from_body(&input, b"multipart/mixed; boundary=b", &lim()).unwrap();
            check_part(&p);
            let mp = p.multipart().unwrap();
            assert!(!mp.closed);
            assert_eq!(mp.parts.len(), 2);
            assert_eq!(mp.parts[0].body(), b"body one");
            assert_eq!(mp.parts[1].body(), &v(is_lf, b"last\r\n")[..]);
            assert_eq!(mp.epilogue, input.len()..input.len());
        }
        // delimiter as the very last bytes: no phantom part
        let p = Part::from_body(
            b"--b\r\n\r\nx\r\n--b",
            b"multipart/mixed; boundary=b",
            &lim(),
        )
        .unwrap();
        assert_eq!(p.children().len(), 1);
        assert!(!p.multipart().unwrap().closed);
    }

    #[test]
    fn multipart_errors() {
        assert_eq!(
            parse_part(b"Content-Type: multipart/mixed\r\n\r\n--b--\r\n", &lim()).unwrap_err(),
            MimeError::MissingBoundary
        );
        assert_eq!(
            parse_part(
                b"Content-Type: multipart/mixed; boundary=b\r\n\r\nno delimiter\r\n-- b\r\n",
                &lim()
            )
            .unwrap_err(),
            MimeError::MissingDelimiter
        );
        assert!(matches!(
            parse_part(
                b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n",
                &lim()
            ),
            Err(MimeError::InvalidBoundary { .. })
        ));
        assert_eq!(
            parse_part(
                b"Content-Type: text/plain\r\ncontent-type: text/html\r\n\r\n",
                &lim()
            )
            .unwrap_err(),
            MimeError::DuplicateHeader {
                name: "Content-Type"
            }
        );
        assert_eq!(
            parse_multipart_body(b"--b--", 3..9, b"b", &lim()).unwrap_err(),
            MimeError::InvalidRange
        );
    }

    #[test]
    fn parse_multipart_body_absolute_offsets() {
        let buf = b"HTTP-ish prefix\r\n\r\n--b\r\n\r\nX\r\n--b--\r\n";
        let start = pos(buf, b"--b\r\n");
        let mp = parse_multipart_body(buf, start..buf.len(), b"b", &lim()).unwrap();
        assert_eq!(mp.parts.len(), 1);
        let x = pos(buf, b"X");
        assert_eq!(mp.parts[0].body_range(), x..x + 1);
        assert_eq!(mp.parts[0].root().len(), buf.len());
        assert_eq!(mp.parts[0].depth(), 1);
    }

    #[test]
    fn digest_children_default_to_message_rfc822() {
        let src = b"--d\r\n\r\nSubject: x\r\n\r\nhi\r\n--d--\r\n";
        let p = Part::from_body(src, b"multipart/digest; boundary=d", &lim()).unwrap();
        assert_eq!(p.children()[0].content_type().mime_type(), "message/rfc822");
        assert!(!p.children()[0].content_type_present());
    }

    #[test]
    fn binary_bodies_survive_byte_for_byte() {
        const BIN: &[u8] = b"\x00\r\x00\nA\r\r\n\n\x00\xff\xfe\r\n-- zz\n--zzX\r--zz\r\x00";
        let segs = [
            Seg::T(b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"),
            Seg::B(BIN),
            Seg::T(b"\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--zz--\r\n"),
        ];
        let crlf = build(&segs, false);
        for is_lf in [false, true] {
            let input = build(&segs, is_lf);
            let p = parse_part(&input, &lim()).unwrap();
            check_part(&p);
            let bin = &p.children()[0];
            assert_eq!(bin.body(), BIN);
            assert!(matches!(bin.decoded_body().unwrap(), Cow::Borrowed(b) if b == BIN));
            let expected = [
                &b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"[..],
                BIN,
            ]
            .concat();
            assert_eq!(&*canonical_entity(bin, false), &expected[..]);
            // Canonical form of the LF variant is exactly the CRLF variant.
            assert_eq!(&*canonical_entity(&p, false), &crlf[..]);
            assert_eq!(p.children()[1].body(), &v(is_lf, b"hello\r\nworld")[..]);
        }
    }

    #[test]
    fn body_ending_in_cr_keeps_cr() {
        let body = b"--b\r\nContent-Type: application/octet-stream\r\n\r\nab\r\r\n--b--\r\n";
        let p = Part::from_body(body, b"multipart/mixed; boundary=b", &lim()).unwrap();
        assert_eq!(p.children()[0].body(), b"ab\r");
    }

    #[test]
    fn depth_limit() {
        fn nested(n: usize) -> Vec<u8> {
            let mut inner = b"Content-Type: text/plain\r\n\r\nleaf".to_vec();
            for i in (0..n).rev() {
                let b = format!("b{i}x");
                let body = write_multipart(&b, &[&inner]).unwrap();
                let ct = format!("multipart/mixed; boundary={b}");
                inner = write_entity(&[("Content-Type", &ct)], &body).unwrap();
            }
            inner
        }
        for (_, input) in variants(&nested(8)) {
            let mut p = parse_part(&input, &lim()).unwrap();
            check_part(&p);
            while let Some(c) = p.children().first().cloned() {
                p = c;
            }
            assert_eq!(p.depth(), 8);
            assert_eq!(p.body(), b"leaf");
        }
        for (_, input) in variants(&nested(9)) {
            assert_eq!(
                parse_part(&input, &lim()).unwrap_err(),
                MimeError::MaxDepthExceeded { max_depth: 8 }
            );
        }
        let huge = MimeLimits {
            max_depth: usize::MAX,
            max_parts: 1000,
            ..lim()
        };
        assert_eq!(
            parse_part(&nested(70), &huge).unwrap_err(),
            MimeError::MaxDepthExceeded {
                max_depth: MAX_DEPTH_CEILING
            }
        );
        let zero = MimeLimits {
            max_depth: 0,
            ..lim()
        };
        assert!(parse_part(&nested(0), &zero).is_ok());
        assert!(parse_part(&nested(1), &zero).is_err());
    }

    #[test]
    fn parts_limit() {
        let make = |n: usize| {
            let parts: Vec<Vec<u8>> = (0..n)
                .map(|i| format!("\r\npart {i}").into_bytes())
                .collect();
            let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            write_multipart("p", &refs).unwrap()
        };
        for (_, input) in variants(&make(32)) {
            let p = Part::from_body(&input, b"multipart/mixed; boundary=p", &lim()).unwrap();
            assert_eq!(p.children().len(), 32);
        }
        for (_, input) in variants(&make(33)) {
            assert_eq!(
                Part::from_body(&input, b"multipart/mixed; boundary=p", &lim()).unwrap_err(),
                MimeError::MaxPartsExceeded { max_parts: 32 }
            );
        }
        // The limit counts parts across all levels.
        let inner = write_entity(
            &[("Content-Type", "multipart/mixed; boundary=q")],
            &write_multipart("q", &[b"\r\na", b"\r\nb"]).unwrap(),
        )
        .unwrap();
        let outer = write_multipart("p", &[&inner, b"\r\nc"]).unwrap();
        let three = MimeLimits {
            max_parts: 3,
            ..lim()
        };
        assert_eq!(
            Part::from_body(&outer, b"multipart/mixed; boundary=p", &three).unwrap_err(),
            MimeError::MaxPartsExceeded { max_parts: 3 }
        );
        let four = MimeLimits {
            max_parts: 4,
            ..lim()
        };
        assert!(Part::from_body(&outer, b"multipart/mixed; boundary=p", &four).is_ok());
    }

    // ----- transfer decoding ----------------------------------------------

    #[test]
    fn base64_vectors() {
        let vectors: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in vectors {
            assert_eq!(base64_encode(plain), enc);
            assert_eq!(base64_decode(enc.as_bytes()).unwrap(), plain);
        }
        assert_eq!(base64_decode(b" Zm9v\r\nYm\tE=\n").unwrap(), b"fooba");
        assert_eq!(base64_decode(b"Zm9vYg").unwrap(), b"foob"); // padding optional
        assert_eq!(base64_decode(b"Zm9vYg= =\r\n").unwrap(), b"foob");
        assert_eq!(base64_decode(b"////").unwrap(), [0xff, 0xff, 0xff]);
        assert_eq!(
            base64_decode(b"Zm9*"),
            Err(MimeError::InvalidBase64 { offset: 3 })
        );
        assert_eq!(
            base64_decode(b"Zm9v-_"),
            Err(MimeError::InvalidBase64 { offset: 4 })
        );
        assert_eq!(
            base64_decode(b"Zm9vY"),
            Err(MimeError::InvalidBase64 { offset: 5 })
        );
        assert_eq!(
            base64_decode(b"Zm8=="),
            Err(MimeError::InvalidBase64 { offset: 3 })
        );
        assert_eq!(
            base64_decode(b"Zm9v="),
            Err(MimeError::InvalidBase64 { offset: 4 })
        );
        assert_eq!(
            base64_decode(b"Zg==Zg=="),
            Err(MimeError::InvalidBase64 { offset: 4 })
        );
        assert_eq!(
            base64_decode(b"Zg==="),
            Err(MimeError::InvalidBase64 { offset: 4 })
        );
    }

    #[test]
    fn base64_mime_lines_and_roundtrip() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let enc = base64_encode_mime(&data);
        let lines: Vec<&str> = enc.split("\r\n").collect();
        assert_eq!(lines.last(), Some(&""));
        for l in &lines[..lines.len() - 1] {
            assert!(!l.is_empty() && l.len() <= 76);
        }
        assert_eq!(lines[0].len(), 76);
        assert_eq!(base64_decode(enc.as_bytes()).unwrap(), data);
        assert_eq!(base64_encode_mime(b""), "");
        assert_eq!(base64_encode_mime(&[0; 57]).len(), 78);
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for _ in 0..500 {
            let n = rng.below(200);
            let d: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            assert_eq!(base64_decode(base64_encode(&d).as_bytes()).unwrap(), d);
            assert_eq!(base64_decode(base64_encode_mime(&d).as_bytes()).unwrap(), d);
        }
    }

    #[test]
    fn quoted_printable_vectors() {
        let ok: [(&[u8], &[u8]); 10] = [
            (b"abc=3D=3d", b"abc=="),
            (b"soft=\r\nbreak", b"softbreak"),
            (b"soft=\nbreak", b"softbreak"),
            (b"soft= \t\r\nbreak", b"softbreak"),
            (b"line  \r\nnext\t\n", b"line\r\nnext\n"),
            (b"a=\r\n", b"a"),
            (b"a=", b"a"),
            (b"caf=C3=A9 =e2=82=ac", b"caf\xc3\xa9 \xe2\x82\xac"),
            (b"=00=0D=0a=ff=Fe", b"\x00\r\n\xff\xfe"),
            (b"", b""),
        ];
        for (enc, dec) in ok {
            assert_eq!(
                quoted_printable_decode(enc).unwrap(),
                dec,
                "{:?}",
                String::from_utf8_lossy(enc)
            );
        }
        assert_eq!(
            quoted_printable_decode(b"=ZZ"),
            Err(MimeError::InvalidQuotedPrintable { offset: 0 })
        );
        assert_eq!(
            quoted_printable_decode(b"x=4"),
            Err(MimeError::InvalidQuotedPrintable { offset: 1 })
        );
        assert_eq!(
            quoted_printable_decode(b"ok\r\n=4 \r\n"),
            Err(MimeError::InvalidQuotedPrintable { offset: 4 })
        );
    }

    #[test]
    fn decoded_body_errors_are_typed_and_absolute() {
        let src = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin";
        assert_eq!(
            parse_part(src, &lim()).unwrap().decoded_body().unwrap_err(),
            MimeError::UnknownTransferEncoding {
                encoding: "x-uuencode".into()
            }
        );
        let src = b"Content-Transfer-Encoding: BASE64\r\n\r\nAAA*";
        let p = parse_part(src, &lim()).unwrap();
        assert_eq!(
            p.decoded_body().unwrap_err(),
            MimeError::InvalidBase64 {
                offset: p.body_range().start + 3
            }
        );
        let src = b"Content-Transfer-Encoding: Quoted-Printable\r\n\r\na=3Db";
        assert_eq!(
            &*parse_part(src, &lim()).unwrap().decoded_body().unwrap(),
            b"a=b"
        );
        let p = parse_part(b"Content-Transfer-Encoding: 8bit\r\n\r\n\xff\x00", &lim()).unwrap();
        assert!(matches!(
            p.decoded_body().unwrap(),
            Cow::Borrowed(b"\xff\x00")
        ));
    }

    // ----- canonicalisation -----------------------------------------------

    #[test]
    fn canonicalize_text_rules() {
        assert_eq!(
            &*canonicalize_text(b"a\nb\r\nc\rd\n"),
            b"a\r\nb\r\nc\rd\r\n"
        );
        assert_eq!(&*canonicalize_text(b"\n\n"), b"\r\n\r\n");
        assert_eq!(&*canonicalize_text(b"\r\r\n"), b"\r\r\n");
        assert!(matches!(canonicalize_text(b"x\r\ny\rz"), Cow::Borrowed(_)));
        let mut rng = XorShift(42);
        for _ in 0..2000 {
            let n = rng.below(40);
            let d: Vec<u8> = (0..n)
                .map(|_| [b'\r', b'\n', b'a', 0][rng.below(4)])
                .collect();
            let once = canonicalize_text(&d).into_owned();
            let twice = canonicalize_text(&once);
            assert!(matches!(twice, Cow::Borrowed(_)));
            assert_eq!(&*twice, &once[..]);
            assert!(!has_bare_lf(&once));
            assert!(lf(&once).len() <= d.len());
        }
    }

    #[test]
    fn canonical_entity_forms() {
        for (is_lf, input) in variants(NESTED) {
            let p = parse_part(&input, &lim()).unwrap();
            let c = canonical_entity(&p, false);
            assert_eq!(&*c, NESTED);
            assert_eq!(matches!(c, Cow::Borrowed(_)), !is_lf);
            assert_eq!(&*canonical_entity(&p, true), &input[..]);
            let signed = &p.children()[1];
            let content = &signed.children()[0];
            assert_eq!(
                &*canonical_entity(content, false),
                b"Content-Type: application/edi-x12\r\n\r\nISA*DATA~"
            );
            // idempotent: re-parse the canonical form and canonicalise again
            let again = parse_part(&c, &lim()).unwrap();
            assert!(matches!(canonical_entity(&again, false), Cow::Borrowed(_)));
        }
        // A binary-encoded part keeps bare LFs in its body, headers get CRLF.
        let p = parse_part(b"Content-Transfer-Encoding: binary\n\na\nb", &lim()).unwrap();
        assert_eq!(
            &*canonical_entity(&p, false),
            b"Content-Transfer-Encoding: binary\r\n\r\na\nb"
        );
    }

    // ----- realistic AS2 samples -------------------------------------------

    const EDI_CONTENT: &[u8] = b"Content-Type: application/edi-x12\r\n\
Content-Disposition: attachment; filename=\"order.edi\"\r\n\
\r\n\
ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *230101*1200*U*00401*000000001*0*P*>~\r\n\
GS*PO*SENDER*RECEIVER*20230101*1200*1*X*004010~\r\n\
ST*850*0001~\r\n\
SE*2*0001~\r\n\
GE*1*1~\r\n\
IEA*1*000000001~\r\n";

    /// Fake DER with the bytes that break naive parsers.
    const DER: &[u8] = b"\x30\x82\x01\x0a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0\x00\r\n--xyz\n\x00\x0d\x0a\x0a\x0d\x00\xff--\x0d\x00";

    #[test]
    fn as2_signed_base64_signature() {
        let http_ct = b"multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n\tboundary=\"----=_Part_0_1234.5678\"";
        let sig_b64 = base64_encode_mime(DER);
        let mut msg = Vec::new();
        msg.extend_from_slice(b"------=_Part_0_1234.5678\r\n");
        msg.extend_from_slice(EDI_CONTENT);
        msg.extend_from_slice(b"\r\n------=_Part_0_1234.5678\r\n");
        msg.extend_from_slice(b"Content-Type: application/pkcs7-signature; name=smime.p7s; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n");
        msg.extend_from_slice(sig_b64.as_bytes());
        msg.extend_from_slice(b"\r\n------=_Part_0_1234.5678--\r\n");
        for (is_lf, input) in variants(&msg) {
            let p = Part::from_body(&input, http_ct, &lim()).unwrap();
            check_part(&p);
            let ct = p.content_type();
            assert!(ct.is("multipart/signed"));
            assert_eq!(ct.protocol(), Some("application/pkcs7-signature"));
            assert!(ct.micalg().unwrap().eq_ignore_ascii_case("SHA-256"));
            let [content, sig] = p.children() else {
                panic!("two parts")
            };
            // signed bytes: exactly the first entity, incl. its own final CRLF
            assert_eq!(content.raw(), &v(is_lf, EDI_CONTENT)[..]);
            assert_eq!(&*canonical_entity(content, false), EDI_CONTENT);
            let cd =
                ContentDisposition::parse(content.header("content-disposition").unwrap().value)
                    .unwrap();
            assert_eq!(cd.filename(), Some(&b"order.edi"[..]));
            assert!(sig.content_type().is("application/pkcs7-signature"));
            assert_eq!(sig.content_type().smime_type(), Some("signed-data"));
            assert_eq!(&*sig.decoded_body().unwrap(), DER);
        }
    }

    #[test]
    fn as2_signed_raw_binary_signature_sterling_style() {
        let segs = [
            Seg::T(b"--sterling\r\n"),
            Seg::T(EDI_CONTENT),
            Seg::T(b"\r\n--sterling\r\nContent-Type: application/pkcs7-signature\r\n\r\n"),
            Seg::B(DER),
            Seg::T(b"\r\n--sterling--\r\n"),
        ];
        for is_lf in [false, true] {
            let input = build(&segs, is_lf);
            let p = Part::from_body(
                &input,
                b"multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=sterling",
                &lim(),
            )
            .unwrap();
            check_part(&p);
            assert_eq!(p.children().len(), 2);
            let sig = &p.children()[1];
            assert!(!sig.transfer_encoding_present());
            assert_eq!(*sig.transfer_encoding(), TransferEncoding::SevenBit);
            assert_eq!(sig.body(), DER);
            assert_eq!(&*sig.decoded_body().unwrap(), DER);
            assert_eq!(&*canonical_entity(sig, true), sig.raw());
            assert_eq!(p.children()[0].raw(), &v(is_lf, EDI_CONTENT)[..]);
        }
    }

    #[test]
    fn as2_mdn_multipart_report() {
        let src = b"Content-Type: multipart/report; report-type=disposition-notification;\r\n boundary=\"----=_MDN_42\"\r\n\
\r\n\
------=_MDN_42\r\n\
\r\n\
The AS2 message has been received.\r\n\
------=_MDN_42\r\n\
Content-Type: message/disposition-notification\r\n\
Content-Transfer-Encoding: 7bit\r\n\
\r\n\
Reporting-UA: as2-proto\r\n\
Original-Recipient: rfc822; PARTNER\r\n\
Final-Recipient: rfc822; PARTNER\r\n\
Original-Message-ID: <abc@host>\r\n\
Disposition: automatic-action/MDN-sent-automatically; processed\r\n\
Received-Content-MIC: 7v7F++Fq=, sha-256\r\n\
\r\n\
------=_MDN_42--\r\n";
        for (is_lf, input) in variants(src) {
            let p = parse_part(&input, &lim()).unwrap();
            check_part(&p);
            assert_eq!(
                p.content_type().report_type(),
                Some("disposition-notification")
            );
            let [text, notif] = p.children() else {
                panic!("two parts")
            };
            assert!(!text.content_type_present());
            assert!(text.content_type().is("text/plain"));
            assert_eq!(text.content_type().charset(), Some("us-ascii"));
            assert!(text.headers().is_empty());
            assert_eq!(text.body(), b"The AS2 message has been received.");
            assert!(notif.content_type().is("message/disposition-notification"));
            let body = notif.decoded_body().unwrap();
            assert!(body.ends_with(&v(is_lf, b"sha-256\r\n")));
            let (fields, end) = parse_headers(&body, &lim()).unwrap();
            assert_eq!(end, body.len());
            let fields = Headers::from(fields);
            assert_eq!(fields.len(), 6);
            assert_eq!(
                &*fields.value("disposition").unwrap(),
                b"automatic-action/MDN-sent-automatically; processed"
            );
            assert_eq!(
                &*fields.value("received-content-mic").unwrap(),
                b"7v7F++Fq=, sha-256"
            );
        }
    }

    // ----- writing -------------------------------------------------------

    #[test]
    fn writer_roundtrip() {
        let boundary = generate_boundary(&[0xab; 16]);
        assert_eq!(boundary, format!("as2-{}", "ab".repeat(16)));
        assert_eq!(generate_boundary(&[0; 16]).len(), 36);
        let content = write_entity(
            &[
                ("Content-Type", "application/edi-x12"),
                ("Content-Disposition", "attachment; filename=\"a.edi\""),
            ],
            b"ISA*X~\r\n",
        )
        .unwrap();
        assert_eq!(
            content,
            b"Content-Type: application/edi-x12\r\nContent-Disposition: attachment; filename=\"a.edi\"\r\n\r\nISA*X~\r\n"
        );
        let sig = write_entity(
            &[
                (
                    "Content-Type",
                    "application/pkcs7-signature; name=smime.p7s",
                ),
                ("Content-Transfer-Encoding", "base64"),
            ],
            base64_encode_mime(DER).as_bytes(),
        )
        .unwrap();
        let body = write_multipart(&boundary, &[&content, &sig]).unwrap();
        assert!(body.starts_with(format!("--{boundary}\r\n").as_bytes()));
        assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));
        let ct = content_type_value(
            "multipart/signed",
            &[
                ("protocol", "application/pkcs7-signature"),
                ("micalg", "sha-256"),
                ("boundary", &boundary),
            ],
        )
        .unwrap();
        assert_eq!(
            ct,
            format!(
                "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary={boundary}"
            )
        );
        let p = Part::from_body(&body, ct.as_bytes(), &lim()).unwrap();
        check_part(&p);
        assert_eq!(p.children()[0].raw(), &content[..]);
        assert_eq!(&*p.children()[1].decoded_body().unwrap(), DER);
        assert!(p.multipart().unwrap().closed);
    }

    #[test]
    fn writer_rejects_unsafe_input() {
        assert!(write_entity(&[("X", "a\r\nInjected: 1")], b"").is_err());
        assert!(write_entity(&[("Bad:Name", "v")], b"").is_err());
        assert!(write_entity(&[("", "v")], b"").is_err());
        assert!(write_multipart("", &[b"x"]).is_err());
        assert!(write_multipart(&"a".repeat(71), &[b"x"]).is_err());
        assert!(write_multipart("bad\"char", &[b"x"]).is_err());
        assert!(write_multipart("ends ", &[b"x"]).is_err());
        assert_eq!(
            write_multipart("b", &[b"ok", b"x\r\n--b\r\ny"]),
            Err(MimeError::BoundaryInPart { index: 1 })
        );
        assert_eq!(
            write_multipart("b", &[b"--bX"]),
            Err(MimeError::BoundaryInPart { index: 0 })
        );
        assert!(write_multipart("b", &[b"x --b y"]).is_ok());
        assert_eq!(
            content_type_value("text/plain", &[("name", "a \"q\" \\ b"), ("e", "")]).unwrap(),
            "text/plain; name=\"a \\\"q\\\" \\\\ b\"; e=\"\""
        );
        let parsed = ContentType::parse(
            content_type_value("text/plain", &[("name", "a \"q\" \\ b")])
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(parsed.name(), Some(&b"a \"q\" \\ b"[..]));
        assert!(content_type_value("text/plain", &[("n", "a\nb")]).is_err());
        assert!(content_type_value("text plain", &[]).is_err());
        assert!(content_type_value("text/plain", &[("n m", "x")]).is_err());
    }

    // ----- property-style no-panic loop -----------------------------------

    #[test]
    fn random_inputs_never_panic() {
        const VOCAB: &[&[u8]] = &[
            b"--b",
            b"--b--",
            b"\r\n",
            b"\n",
            b"\r",
            b"\r\n\r\n",
            b"Content-Type: multipart/mixed; boundary=b\r\n",
            b"Content-Type: multipart/signed; boundary=\"c\"\n",
            b"Content-Type: text/plain\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Transfer-Encoding: quoted-printable\n",
            b"Content-Transfer-Encoding: binary\r\n",
            b": ",
            b" ",
            b"\t",
            b"=",
            b"=4",
            b"=\r\n",
            b"AAAA",
            b"\x00",
            b"\xff",
            b"\"",
            b";",
            b"boundary=c",
            b"--c",
            b"--c--",
            b"X-H: v",
            b"Content-Type: multipart/x; boundary=",
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let small = MimeLimits {
            max_depth: 3,
            max_headers: 5,
            max_header_line: 64,
            max_parts: 6,
        };
        let samples: Vec<Vec<u8>> = vec![NESTED.to_vec(), lf(NESTED)];
        let mut parsed_multipart = 0usize;
        for iter in 0..6000 {
            let input: Vec<u8> = match iter % 3 {
                0 => {
                    let n = rng.below(40);
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.extend_from_slice(VOCAB[rng.below(VOCAB.len())]);
                    }
                    v
                }
                1 => (0..rng.below(120)).map(|_| rng.next() as u8).collect(),
                _ => {
                    let mut v = samples[rng.below(samples.len())].clone();
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(v.len() + 1);
                        match rng.below(4) {
                            0 => {
                                if at < v.len() {
                                    v[at] = rng.next() as u8;
                                }
                            }
                            1 => {
                                if at < v.len() {
                                    v.remove(at);
                                }
                            }
                            2 => {
                                let w = VOCAB[rng.below(VOCAB.len())];
                                v.splice(at..at, w.iter().copied());
                            }
                            _ => v.truncate(at),
                        }
                    }
                    v
                }
            };
            for limits in [&lim(), &small] {
                if let Ok(p) = parse_part(&input, limits) {
                    check_part(&p);
                    if !p.children().is_empty() {
                        parsed_multipart += 1;
                    }
                }
                for ct in [
                    &b"multipart/mixed; boundary=b"[..],
                    b"multipart/signed; boundary=\"c\"",
                    b"text/plain",
                ] {
                    if let Ok(p) = Part::from_body(&input, ct, limits) {
                        check_part(&p);
                        if !p.children().is_empty() {
                            parsed_multipart += 1;
                        }
                    }
                }
                let _ = parse_headers(&input, limits);
                let end = rng.below(input.len() + 1);
                let start = rng.below(end + 1);
                if let Ok(m) = parse_multipart_body(&input, start..end, b"b", limits) {
                    m.parts.iter().for_each(check_part);
                }
            }
            let _ = ContentType::parse(&input);
            let _ = ContentDisposition::parse(&input);
            let _ = base64_decode(&input);
            let _ = quoted_printable_decode(&input);
            let _ = unfold(&input);
            let c = canonicalize_text(&input).into_owned();
            assert!(matches!(canonicalize_text(&c), Cow::Borrowed(_)));
        }
        // The generator must actually reach the multipart code paths.
        assert!(parsed_multipart > 500, "{parsed_multipart}");
    }
}
