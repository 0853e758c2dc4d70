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

mod canonical;
mod encoding;
mod headers;
mod multipart;
mod params;
mod part;
pub(crate) mod stream;
#[cfg(test)]
mod test_support;
mod write;

// The items the crate's tests and fuzz targets reach through `crate::__internal::mime`
// stay `pub`; the rest is for the crate only.
pub use canonical::{canonical_entity, canonicalize_text};
pub(crate) use encoding::TransferEncoding;
pub use encoding::{base64_decode, base64_encode, base64_encode_mime, quoted_printable_decode};
#[cfg(test)]
pub(crate) use headers::unfold;
pub(crate) use headers::{Header, Headers, parse_headers};
#[cfg(test)]
pub(crate) use multipart::parse_multipart_body;
pub(crate) use multipart::{MAX_BOUNDARY_LEN, Multipart};
pub use params::{ContentDisposition, ContentType, content_type_value, file_name};
pub(crate) use params::{MAX_PARAM_VALUE_LEN, file_name_param};
pub use part::{Part, parse_part};
pub(crate) use write::{generate_boundary, write_entity, write_multipart};

use std::fmt;

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
pub(crate) const MAX_DEPTH_CEILING: usize = 64;

/// Resource limits for MIME parsing. Every violation is a distinct
/// [`MimeError`] variant naming the limit and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MimeLimits {
    /// Maximum multipart nesting depth. The entity given to [`parse_part`] /
    /// [`Part::from_body`] is depth 0, its body parts depth 1, and so on; a
    /// body part deeper than this is [`MimeError::MaxDepthExceeded`].
    /// Clamped to `MAX_DEPTH_CEILING` (64). Default 8.
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
    /// Multipart nesting is deeper than [`Limits::max_mime_depth`](crate::Limits::max_mime_depth).
    MaxDepthExceeded {
        /// The (effective) limit.
        max_depth: usize,
    },
    /// A header block has more fields than [`Limits::max_headers`](crate::Limits::max_headers).
    MaxHeadersExceeded {
        /// The limit.
        max_headers: usize,
    },
    /// A header field (with its continuation lines) is longer than
    /// [`Limits::max_header_line`](crate::Limits::max_header_line).
    MaxHeaderLineExceeded {
        /// The limit.
        max_header_line: usize,
        /// Offset of the start of the offending field.
        offset: usize,
    },
    /// The tree has more body parts than [`Limits::max_mime_parts`](crate::Limits::max_mime_parts).
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
    /// A part given to the multipart writer contains a line starting with the
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

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
}
