//! Helpers shared by the unit tests of the MIME modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::{MimeLimits, Part, TransferEncoding, canonical_entity, has_bare_lf};

/// Derives the bare-LF variant of a CRLF test input.
pub(crate) fn lf(crlf: &[u8]) -> Vec<u8> {
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
pub(crate) fn variants(crlf: &[u8]) -> [(bool, Vec<u8>); 2] {
    [(false, crlf.to_vec()), (true, lf(crlf))]
}

/// Length of a line end in the variant.
pub(crate) fn le(is_lf: bool) -> usize {
    if is_lf { 1 } else { 2 }
}

/// Converts a CRLF fragment to the variant.
pub(crate) fn v(is_lf: bool, crlf: &[u8]) -> Vec<u8> {
    if is_lf { lf(crlf) } else { crlf.to_vec() }
}

/// Test input segment: text (converted for the LF variant) or binary.
pub(crate) enum Seg<'s> {
    T(&'s [u8]),
    B(&'s [u8]),
}

pub(crate) fn build(segs: &[Seg<'_>], is_lf: bool) -> Vec<u8> {
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
pub(crate) fn pos(hay: &[u8], needle: &[u8]) -> usize {
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

pub(crate) fn lim() -> MimeLimits {
    MimeLimits::default()
}

pub(crate) struct XorShift(pub(crate) u64);
impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Structural invariants every parsed part must satisfy.
pub(crate) fn check_part(p: &Part<'_>) {
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

pub(crate) fn has_binary(p: &Part<'_>) -> bool {
    *p.transfer_encoding() == TransferEncoding::Binary || p.children().iter().any(has_binary)
}

pub(crate) const NESTED: &[u8] = b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
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

pub(crate) const DER: &[u8] = b"\x30\x82\x01\x0a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0\x00\r\n--xyz\n\x00\x0d\x0a\x0a\x0d\x00\xff--\x0d\x00";
