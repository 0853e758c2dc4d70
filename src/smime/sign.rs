//! Signing: `multipart/signed` (RFC 1847, RFC 5751 §3.4.3) around an entity, streamed
//! ([`SignedWriter`], the outbound message's signature layer) or whole ([`sign_entity`],
//! the MDN's).

use std::time::SystemTime;

use rand_core::CryptoRng;

use super::headers::boundary;
use crate::cms::algorithm::Hasher;
use crate::cms::signed::{self, SignOptions, Signer};
use crate::error::Error;
use crate::mic::{Mic, MicNameStyle};
use crate::mime;

/// A signed entity built whole ([`sign_entity`]): its header lines and body.
pub(crate) struct Entity {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Entity {
    /// The header lines and the body.
    pub(crate) fn into_parts(self) -> (Vec<(String, String)>, Vec<u8>) {
        (self.headers, self.body)
    }
}

/// Builds `multipart/signed` around `entity` (RFC 1847 / RFC 5751 §3.4.3), returning the
/// signed entity and the MIC (the signature's message digest over the entity): the
/// [`SignedWriter`] of the streaming builder, run over an entity in memory (the MDN's).
pub(crate) fn sign_entity<R: CryptoRng + ?Sized>(
    entity: &[u8],
    signer: &Signer<'_>,
    options: &SignOptions,
    style: MicNameStyle,
    now: SystemTime,
    rng: &mut R,
) -> Result<(Entity, Mic), Error> {
    let mut body = Vec::new();
    let content_len = u64::try_from(entity.len()).ok();
    let (mut writer, headers, body_len) =
        SignedWriter::new(*signer, options, style, now, content_len, rng, &mut body)?;
    if let Some(len) = body_len.and_then(|len| usize::try_from(len).ok()) {
        body.reserve(len.saturating_sub(body.len()));
    }
    writer.push(entity)?;
    body.extend_from_slice(entity);
    let mic = writer.finish(&mut body, rng)?;
    Ok((Entity { headers, body }, mic))
}

/// The signature part's header lines (RFC 5751 §3.4.3.2).
const SIGNATURE_PART_HEADERS: [(&str, &str); 3] = [
    (
        "Content-Type",
        "application/pkcs7-signature; name=\"smime.p7s\"",
    ),
    ("Content-Transfer-Encoding", "base64"),
    ("Content-Disposition", "attachment; filename=\"smime.p7s\""),
];

/// A started [`SignedWriter`], the entity's header lines and, when known, its body length.
type SignedStart<'a> = (SignedWriter<'a>, Vec<(String, String)>, Option<u64>);

/// `multipart/signed` (RFC 1847, RFC 5751 §3.4.3) written around content that streams
/// through: the layout of [`mime::write_multipart`], `--b CRLF entity CRLF --b CRLF
/// signature-part CRLF --b-- CRLF`. The entity is hashed as it passes (that digest is
/// both the signature's message-digest attribute and the MIC) and checked for lines that
/// start with the delimiter; the detached signature is made at the end.
pub(crate) struct SignedWriter<'a> {
    signer: Signer<'a>,
    options: SignOptions,
    now: SystemTime,
    boundary: String,
    hasher: Hasher,
    delimiters: DelimiterScan,
    signature_len: usize,
}

impl<'a> SignedWriter<'a> {
    /// Draws the boundary (128 random bits) and appends the first delimiter line to `out`.
    /// Returns the writer, the entity's header lines and, when `content_len` (the signed
    /// entity's length) is known, the exact body length. Fails as signing would for a key
    /// that does not match its certificate, a missing subject key identifier or a signing
    /// time out of range.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new<R: CryptoRng + ?Sized>(
        signer: Signer<'a>,
        options: &SignOptions,
        style: MicNameStyle,
        now: SystemTime,
        content_len: Option<u64>,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> Result<SignedStart<'a>, Error> {
        let signature_len = signed::detached_signature_len(&signer, options, now)?;
        let boundary = boundary(rng);
        let headers = vec![(
            "Content-Type".into(),
            format!(
                "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg={}; boundary=\"{}\"",
                options.digest.mic_name(style),
                boundary
            ),
        )];
        // `--b CRLF` + entity + `CRLF --b CRLF` + part + `CRLF --b-- CRLF`.
        let delimiters_len = boundary.len().saturating_mul(3).saturating_add(18);
        let part_len = mime::write_entity(&SIGNATURE_PART_HEADERS, &[])?
            .len()
            .saturating_add(base64_mime_len(signature_len));
        let body_len = content_len.and_then(|len| {
            len.checked_add(u64::try_from(delimiters_len.saturating_add(part_len)).ok()?)
        });
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let writer = SignedWriter {
            signer,
            options: options.clone(),
            now,
            delimiters: DelimiterScan::new(&boundary),
            boundary,
            hasher: options.digest.hasher(),
            signature_len,
        };
        Ok((writer, headers, body_len))
    }

    /// Reads the next octets of the signed entity (the caller writes them on).
    pub(crate) fn push(&mut self, entity: &[u8]) -> Result<(), Error> {
        if self.delimiters.found_in(entity) {
            return Err(mime::MimeError::BoundaryInPart { index: 0 }.into());
        }
        self.hasher.update(entity);
        Ok(())
    }

    /// Signs the digest and appends the rest of the body; returns the MIC.
    pub(crate) fn finish<R: CryptoRng + ?Sized>(
        self,
        out: &mut Vec<u8>,
        rng: &mut R,
    ) -> Result<Mic, Error> {
        let digest = self.hasher.finish();
        let signature =
            signed::sign_detached_digest(&digest, &self.signer, &self.options, self.now, rng)?;
        if signature.len() != self.signature_len {
            return Err(Error::SigningFailed(
                "the signature's length differs from the one announced",
            ));
        }
        let part = mime::write_entity(
            &SIGNATURE_PART_HEADERS,
            mime::base64_encode_mime(&signature).as_bytes(),
        )?;
        let boundary = &self.boundary;
        out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        out.extend_from_slice(&part);
        out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        Ok(Mic {
            algorithm: self.options.digest,
            digest,
        })
    }
}

/// The length of [`mime::base64_encode_mime`]'s output for `len` input octets: four
/// characters per three octets (the last group padded), and CRLF after every 76
/// characters and after the last line.
pub(crate) fn base64_mime_len(len: usize) -> usize {
    let flat = len.div_ceil(3).saturating_mul(4);
    flat.saturating_add(flat.div_ceil(76).saturating_mul(2))
}

/// Looks for a line of the signed entity that starts with `--boundary` (it would end the
/// part early), across chunk borders: the state is how much of the delimiter the current
/// line has matched so far, if it still can.
pub(crate) struct DelimiterScan {
    delimiter: Vec<u8>,
    /// `Some(n)`: the current line started and its first `n` octets are the delimiter's.
    matched: Option<usize>,
}

impl DelimiterScan {
    pub(crate) fn new(boundary: &str) -> Self {
        let mut delimiter = Vec::with_capacity(boundary.len().saturating_add(2));
        delimiter.extend_from_slice(b"--");
        delimiter.extend_from_slice(boundary.as_bytes());
        DelimiterScan {
            delimiter,
            // The entity starts a line.
            matched: Some(0),
        }
    }

    /// Scans the next octets; `true` once a line starting with the delimiter is seen.
    pub(crate) fn found_in(&mut self, mut data: &[u8]) -> bool {
        loop {
            if let Some(n) = self.matched {
                let wanted = self.delimiter.get(n..).unwrap_or_default();
                let len = wanted.len().min(data.len());
                if data.get(..len) == wanted.get(..len) {
                    if len == wanted.len() {
                        return true;
                    }
                    // All of `data` matched; the line may go on matching.
                    self.matched = Some(n.saturating_add(len));
                    return false;
                }
                self.matched = None;
            }
            // The next line start, if any: search from where this line's match began
            // (the compared octets may hold a line break).
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    data = data.get(i.saturating_add(1)..).unwrap_or_default();
                    self.matched = Some(0);
                }
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{Certificate, PrivateKey, unix_time};
    use crate::cms::algorithm::DigestAlgorithm;

    /// Every way of cutting the entity finds the same delimiter lines as searching it
    /// whole; only line starts count.
    #[test]
    fn delimiter_lines_only_at_line_starts_across_chunks() {
        let whole = |entity: &[u8]| {
            let marker = b"--b1";
            (0..entity.len())
                .any(|i| entity[i..].starts_with(marker) && (i == 0 || entity[i - 1] == b'\n'))
        };
        let cases: [&[u8]; 9] = [
            b"--b1\r\n",
            b"H: v\r\n\r\nx\n--b1",
            b"H: v\r\n\r\n--b1--",
            b"x--b1\r\na --b1",
            b"-b1\n--b2",
            b"--b\n--b\n-\n--b1",
            b"\n\n\n--",
            b"--b",
            b"",
        ];
        for entity in cases {
            let expected = whole(entity);
            for cut_a in 0..=entity.len() {
                for cut_b in cut_a..=entity.len() {
                    let mut scan = DelimiterScan::new("b1");
                    let mut found = false;
                    for piece in [&entity[..cut_a], &entity[cut_a..cut_b], &entity[cut_b..]] {
                        found |= scan.found_in(piece);
                    }
                    assert_eq!(
                        found,
                        expected,
                        "{:?} cut at {cut_a}, {cut_b}",
                        String::from_utf8_lossy(entity)
                    );
                }
            }
        }
        // Byte by byte.
        let mut scan = DelimiterScan::new("b1");
        let found = b"abc\r\n--b1".iter().any(|b| scan.found_in(&[*b]));
        assert!(found);
    }

    #[test]
    fn base64_line_arithmetic() {
        for len in 0..1000 {
            let input = vec![0xa5u8; len];
            assert_eq!(
                base64_mime_len(len),
                mime::base64_encode_mime(&input).len(),
                "{len}"
            );
        }
    }

    fn doc_party() -> (Certificate, PrivateKey) {
        (
            Certificate::from_pem(include_bytes!("../../tests/data/keys/doc.crt")).unwrap(),
            PrivateKey::from_pem(include_bytes!("../../tests/data/keys/doc.key"), None).unwrap(),
        )
    }

    /// The streamed signer writes exactly what signing the whole entity and
    /// `mime::write_multipart` write (the boundary is drawn first, the signature at the
    /// end), and its MIC is the signature's digest.
    #[test]
    fn signing_matches_the_contiguous_layout() {
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng;
        let (cert, key) = doc_party();
        let signer = Signer::new(&cert, &key);
        let options = SignOptions::default();
        let now = unix_time(1_800_000_000);
        let head = b"Content-Type: application/edi-x12\r\n\r\n".to_vec();
        let payload = b"ISA*00*~\nGS*PO~\n".repeat(1000);
        let whole = [head.as_slice(), &payload].concat();

        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let (entity, mic) = sign_entity(
            &whole,
            &signer,
            &options,
            MicNameStyle::Dashed,
            now,
            &mut rng,
        )
        .unwrap();
        let (headers, body) = entity.into_parts();

        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let boundary = boundary(&mut rng);
        let signature = signed::sign_detached(&whole, &signer, &options, now, &mut rng).unwrap();
        let sig_part = mime::write_entity(
            &SIGNATURE_PART_HEADERS,
            mime::base64_encode_mime(&signature).as_bytes(),
        )
        .unwrap();
        let expected = mime::write_multipart(&boundary, &[&whole, &sig_part]).unwrap();
        assert_eq!(body, expected);
        assert!(headers[0].1.contains(&format!("boundary=\"{boundary}\"")));
        assert_eq!(mic, Mic::compute(DigestAlgorithm::Sha256, &whole));
    }
}
