//! Multipart bodies (RFC 2046 §5.1): boundaries, delimiter search, splitting into parts.

use super::part::{Ctx, DefaultType};
use super::{MimeError, Part, is_wsp, work};
use std::ops::Range;

/// The longest boundary accepted or written: RFC 2046 §5.1.1 allows 1 to 70
/// characters. A longer one is [`MimeError::InvalidBoundary`]; it would serve only to
/// make every delimiter comparison more expensive.
pub const MAX_BOUNDARY_LEN: usize = 70;

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

pub(super) struct Delimiter {
    /// End of the preceding part (before the CRLF/LF that belongs to the
    /// delimiter).
    pub(super) part_end: usize,
    /// First byte after the delimiter line (after its line end).
    pub(super) next: usize,
    pub(super) close: bool,
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
pub(super) fn find_delimiter(
    root: &[u8],
    from: usize,
    end: usize,
    boundary: &[u8],
) -> Option<Delimiter> {
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

pub(super) fn validate_boundary(boundary: &[u8]) -> Result<(), MimeError> {
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
    pub(super) fn parse_multipart(
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
///
/// [`parse_part`](super::parse_part) splits multipart bodies itself; this entry point is
/// kept for the unit tests, which check the splitter through it.
#[cfg(test)]
pub fn parse_multipart_body<'a>(
    root: &'a [u8],
    body: Range<usize>,
    boundary: &[u8],
    limits: &super::MimeLimits,
) -> Result<Multipart<'a>, MimeError> {
    Ctx::new(root, limits).parse_multipart(body, boundary, 0, DefaultType::TextPlain)
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
    use crate::mime::{
        MAX_DEPTH_CEILING, MimeLimits, TransferEncoding, canonical_entity, parse_part,
        write_entity, write_multipart,
    };
    use std::borrow::Cow;

    // ----- multipart -------------------------------------------------------

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
}
