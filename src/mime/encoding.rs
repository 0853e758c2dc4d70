//! Content-Transfer-Encodings (RFC 2045 §6): base64 and quoted-printable.

use super::{MimeError, ascii_lower_string, is_lws, is_wsp, line_at, trim_lws};
use base64ct::{Base64, Base64Unpadded, Encoding};
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

/// Whether `b` is in the standard base64 alphabet (RFC 4648 §4), padding excluded.
pub(super) fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Clean characters gathered before they are decoded in one `base64ct` call.
const BASE64_BATCH: usize = 1024;

/// Decodes whole groups of four alphabet characters with `base64ct`, appending to `out`.
/// `groups.len()` must be a multiple of four and every byte in the alphabet (the
/// callers' scans guarantee both); otherwise this is [`MimeError::InvalidBase64`] at
/// `offset`, which cannot happen.
pub(super) fn decode_base64_groups(
    groups: &[u8],
    out: &mut Vec<u8>,
    offset: usize,
) -> Result<(), MimeError> {
    let start = out.len();
    let len = (groups.len() / 4).saturating_mul(3);
    out.resize(start.saturating_add(len), 0);
    let decoded = out
        .get_mut(start..)
        .is_some_and(|dst| Base64Unpadded::decode(groups, dst).is_ok_and(|d| d.len() == len));
    if !decoded {
        out.truncate(start);
        return Err(MimeError::InvalidBase64 { offset });
    }
    Ok(())
}

/// Decodes the final partial group (two or three alphabet characters; none gives
/// nothing) into one or two bytes, ignoring the leftover low bits as RFC 4648 §3.5
/// allows: the group is completed with `A` (zero bits), decoded as a whole group with
/// `base64ct`, and only the bytes the given characters carry are kept. One character
/// carries no whole byte and is [`MimeError::InvalidBase64`] at `offset`, as is
/// anything outside the alphabet (which the callers' scans rule out).
pub(super) fn decode_base64_tail(
    tail: &[u8],
    out: &mut Vec<u8>,
    offset: usize,
) -> Result<(), MimeError> {
    let keep = match tail.len() {
        0 => return Ok(()),
        2 => 1,
        3 => 2,
        _ => return Err(MimeError::InvalidBase64 { offset }),
    };
    let mut group = [b'A'; 4];
    for (slot, &b) in group.iter_mut().zip(tail) {
        *slot = b;
    }
    let mut bytes = [0u8; 3];
    match Base64Unpadded::decode(group, &mut bytes) {
        Ok(_) => {
            out.extend(bytes.iter().take(keep));
            Ok(())
        }
        Err(_) => Err(MimeError::InvalidBase64 { offset }),
    }
}

/// Decodes standard base64 (RFC 4648 alphabet). SP, HTAB, CR and LF are
/// ignored anywhere; any other non-alphabet byte is an error. Padding is
/// optional, but if present it must be exactly right and nothing but
/// whitespace may follow it. Non-zero trailing bits are ignored.
///
/// The scan here decides validity and the error offset (the first offending byte, or
/// the end of the input for a group cut to one character, or the first `=` for
/// padding that does not complete the last group); `base64ct` decodes the clean
/// characters, in batches, so memory is the output plus a fixed buffer.
pub fn base64_decode(input: &[u8]) -> Result<Vec<u8>, MimeError> {
    let mut out = Vec::with_capacity((input.len() / 4).saturating_mul(3).saturating_add(3));
    let mut batch = [0u8; BASE64_BATCH];
    let mut filled = 0usize;
    // Clean characters in all, modulo 4: the length of the last (partial) group.
    let mut data = 0usize;
    let mut pads = 0usize;
    let mut first_pad = input.len();
    for (i, &b) in input.iter().enumerate() {
        if is_lws(b) {
            continue;
        }
        if b == b'=' {
            if pads == 0 {
                first_pad = i;
            }
            pads = pads.saturating_add(1);
            if pads > 2 {
                return Err(MimeError::InvalidBase64 { offset: i });
            }
            continue;
        }
        if !is_base64_char(b) || pads > 0 {
            return Err(MimeError::InvalidBase64 { offset: i });
        }
        if filled == BASE64_BATCH {
            decode_base64_groups(&batch, &mut out, i)?;
            filled = 0;
        }
        if let Some(slot) = batch.get_mut(filled) {
            *slot = b;
            filled = filled.saturating_add(1);
        }
        data = data.wrapping_add(1);
    }
    let rem = data % 4;
    if rem == 1 {
        return Err(MimeError::InvalidBase64 {
            offset: input.len(),
        });
    }
    if pads > 0 && rem.saturating_add(pads) != 4 {
        return Err(MimeError::InvalidBase64 { offset: first_pad });
    }
    // BASE64_BATCH is a multiple of four, so the partial group is the batch's end.
    let clean = batch.get(..filled).unwrap_or(&[]);
    let (groups, tail) = clean.split_at(filled.saturating_sub(rem));
    decode_base64_groups(groups, &mut out, input.len())?;
    decode_base64_tail(tail, &mut out, input.len())?;
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
    Base64::encode_string(input)
}

/// Input octets per line of [`base64_encode_mime`]: 57 octets are exactly 76 characters.
const MIME_LINE_OCTETS: usize = 57;

/// Encodes base64 for a MIME body: lines of at most 76 characters (RFC 2045 §6.8),
/// each (including the last) terminated by CRLF. Empty input gives an empty string.
pub fn base64_encode_mime(input: &[u8]) -> String {
    let lines = input.len().div_ceil(MIME_LINE_OCTETS);
    let mut out = String::with_capacity(lines.saturating_mul(78));
    let mut line = [0u8; 76];
    for chunk in input.chunks(MIME_LINE_OCTETS) {
        // 57 octets or fewer always fit the 76-character buffer.
        if let Ok(text) = Base64::encode(chunk, &mut line) {
            out.push_str(text);
            out.push_str("\r\n");
        }
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

    /// The hand-written decoder `base64_decode` had before it used `base64ct`, kept as
    /// the reference for the differential test below.
    fn previous_base64_decode(input: &[u8]) -> Result<Vec<u8>, MimeError> {
        fn value(b: u8) -> Option<u8> {
            match b {
                b'A'..=b'Z' => Some(b - b'A'),
                b'a'..=b'z' => Some(b - b'a' + 26),
                b'0'..=b'9' => Some(b - b'0' + 52),
                b'+' => Some(62),
                b'/' => Some(63),
                _ => None,
            }
        }
        let mut out = Vec::new();
        let (mut acc, mut bits, mut data, mut pads) = (0u32, 0u32, 0usize, 0usize);
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
            let v = value(b).ok_or(MimeError::InvalidBase64 { offset: i })?;
            if pads > 0 {
                return Err(MimeError::InvalidBase64 { offset: i });
            }
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            data += 1;
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

    /// The streaming decoder on `input` cut into random chunks.
    fn stream_base64_decode(input: &[u8], rng: &mut XorShift) -> Result<Vec<u8>, MimeError> {
        let mut decoder = crate::mime::stream::TransferDecoder::new(&TransferEncoding::Base64);
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(1 + rng.below(rest.len()));
            decoder.push(chunk, &mut out)?;
            rest = tail;
        }
        decoder.finish(&mut out)?;
        Ok(out)
    }

    /// A byte that is likely to matter to a base64 decoder.
    fn base64_noise(rng: &mut XorShift) -> u8 {
        const SPECIAL: &[u8] = b"==== \t\r\n-_*.\x00\xff\x80:";
        if rng.below(3) == 0 {
            SPECIAL[rng.below(SPECIAL.len())]
        } else {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rng.below(64)]
        }
    }

    #[test]
    fn base64_decode_matches_previous_decoder() {
        let mut rng = XorShift(0x0ddc_0ffe_e15e_a5e5);
        let (mut ok, mut err) = (0usize, 0usize);
        for round in 0..20_000 {
            let input: Vec<u8> = if round % 4 == 0 {
                // Noise: mostly alphabet, with padding, whitespace and junk.
                let n = rng.below(48);
                (0..n).map(|_| base64_noise(&mut rng)).collect()
            } else {
                // A real encoding (some over the 1024-character batch), then damaged.
                let n = if round % 16 == 1 {
                    700 + rng.below(400)
                } else {
                    rng.below(120)
                };
                let data: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                let mut enc = if rng.below(2) == 0 {
                    base64_encode_mime(&data).into_bytes()
                } else {
                    base64_encode(&data).into_bytes()
                };
                for _ in 0..rng.below(4) {
                    let at = rng.below(enc.len() + 1);
                    match rng.below(4) {
                        0 => enc.insert(at, base64_noise(&mut rng)),
                        1 if at < enc.len() => {
                            enc.remove(at);
                        }
                        2 if at < enc.len() => enc[at] = base64_noise(&mut rng),
                        _ => enc.truncate(at),
                    }
                }
                enc
            };
            let want = previous_base64_decode(&input);
            assert_eq!(
                base64_decode(&input),
                want,
                "{:?}",
                String::from_utf8_lossy(&input)
            );
            assert_eq!(
                stream_base64_decode(&input, &mut rng),
                want,
                "{:?}",
                String::from_utf8_lossy(&input)
            );
            if want.is_ok() { ok += 1 } else { err += 1 }
        }
        // Both outcomes must be well represented for the comparison to mean anything.
        assert!(ok > 5_000 && err > 5_000, "ok {ok}, err {err}");
    }

    #[test]
    fn base64_encode_roundtrips_and_keeps_its_layout() {
        let mut rng = XorShift(0x5eed_0fb6_4e20_2026);
        for n in (0..300usize).chain([57 * 20 - 1, 57 * 20, 57 * 20 + 1, 4096]) {
            let data: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            let flat = base64_encode(&data);
            assert_eq!(flat.len(), n.div_ceil(3) * 4);
            let mime = base64_encode_mime(&data);
            // The MIME form is the flat form cut into CRLF-terminated 76-character lines.
            let lines: Vec<&str> = mime.split_terminator("\r\n").collect();
            assert_eq!(lines.concat(), flat);
            assert_eq!(lines.len(), n.div_ceil(57));
            assert!(lines.iter().rev().skip(1).all(|l| l.len() == 76));
            assert_eq!(mime.len(), flat.len() + 2 * lines.len());
            assert_eq!(base64_decode(flat.as_bytes()).unwrap(), data);
            assert_eq!(base64_decode(mime.as_bytes()).unwrap(), data);
            assert_eq!(previous_base64_decode(mime.as_bytes()).unwrap(), data);
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
