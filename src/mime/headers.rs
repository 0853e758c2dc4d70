//! Header fields (RFC 5322 §2.2, RFC 2045 §3): parsing with raw offsets, unfolding.

use super::{MimeError, MimeLimits, is_wsp, line_at, trim_lws};
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

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
    pub(super) fn unique(&self, name: &'static str) -> Result<Option<&Header<'a>>, MimeError> {
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

pub(super) struct HeaderBlock<'a> {
    pub(super) headers: Vec<Header<'a>>,
    /// End of the last header field (start of the blank line, or `end`).
    pub(super) header_end: usize,
    /// Start of the body (after the blank line, or `end`).
    pub(super) body_start: usize,
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
pub(super) fn parse_block<'a>(
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::mime::test_support::*;
    use crate::mime::{ContentType, parse_part};

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
}
