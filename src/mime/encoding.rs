//! Content-Transfer-Encodings (RFC 2045 §6): base64 and quoted-printable.

use super::{MimeError, ascii_lower_string, is_lws, is_wsp, line_at, trim_lws};
use std::borrow::Cow;

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
pub(super) fn b64_value(b: u8) -> Option<u8> {
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
pub(super) fn hex_value(b: u8) -> Option<u8> {
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
}
