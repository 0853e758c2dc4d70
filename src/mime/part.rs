//! A parsed MIME entity ([`Part`]) with absolute byte ranges into the received buffer.

use super::headers::parse_block;
use super::{
    ContentType, Header, Headers, MAX_DEPTH_CEILING, MimeError, MimeLimits, Multipart,
    TransferEncoding,
};
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

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
pub(super) enum DefaultType {
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

pub(super) struct Ctx<'a, 'l> {
    pub(super) root: &'a [u8],
    pub(super) limits: &'l MimeLimits,
    pub(super) parts: usize,
    pub(super) max_depth: usize,
}

impl<'a> Ctx<'a, '_> {
    pub(super) fn new<'l>(root: &'a [u8], limits: &'l MimeLimits) -> Ctx<'a, 'l> {
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
            let child_default = if content_type.subtype() == "digest" {
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

    pub(super) fn push_part(
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
}

/// Parses a whole MIME entity (header block, empty line, body). The entity
/// is the root buffer: all offsets in the result are offsets into `input`.
/// `multipart/*` bodies are split recursively (by the delimiter grammar of
/// `parse_multipart_body`).
/// A missing `Content-Type` defaults to `text/plain; charset=us-ascii`
/// ([`Part::content_type_present`] tells), a missing
/// `Content-Transfer-Encoding` to `7bit`. An invalid `Content-Type`, a
/// multipart type without boundary, or a duplicated `Content-Type` /
/// `Content-Transfer-Encoding` header is an error.
pub fn parse_part<'a>(input: &'a [u8], limits: &MimeLimits) -> Result<Part<'a>, MimeError> {
    Ctx::new(input, limits).parse_entity(0..input.len(), 0, DefaultType::TextPlain)
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
        ContentDisposition, base64_decode, base64_encode_mime, canonical_entity, canonicalize_text,
        parse_headers, parse_multipart_body, quoted_printable_decode, unfold,
    };

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
