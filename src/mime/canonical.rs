//! Canonicalisation for MIC and signature computation (RFC 5751 §3.1.1).

use super::{Part, TransferEncoding, has_bare_lf};
use std::borrow::Cow;
use std::ops::Range;

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
    let root = part.root();
    let seg = |r: Range<usize>| root.get(r).unwrap_or(&[]);
    out.extend_from_slice(&canonicalize_text(seg(
        part.range().start..part.body_range().start
    )));
    if *part.transfer_encoding() == TransferEncoding::Binary {
        out.extend_from_slice(part.body());
    } else if let Some(mp) = part.multipart() {
        let mut cursor = part.body_range().start;
        for child in &mp.parts {
            out.extend_from_slice(&canonicalize_text(seg(cursor..child.range().start)));
            canon_into(child, out);
            cursor = child.range().end;
        }
        out.extend_from_slice(&canonicalize_text(seg(cursor..part.body_range().end)));
    } else {
        out.extend_from_slice(&canonicalize_text(part.body()));
    }
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
    use crate::mime::parse_part;
    use crate::mime::test_support::*;

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
}
