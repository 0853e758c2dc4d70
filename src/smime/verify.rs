//! Verifying: the detached signature of a `multipart/signed` entity (RFC 1847, RFC 5751
//! §3.4.3), for inbound messages and signed MDNs alike, and the one rule for who may have
//! signed ([`SignerRule`], with the caller's further check, [`SignerTrust`]).
//!
//! [`MultipartSignedReader`] is the one verifier: the inbound [`Receiver`](crate::Receiver)
//! runs it as one stage of its pipeline, and [`verify_multipart_signed`] (what the MDN layer
//! calls) is a loop over it. The first part streams through, digested as it goes, its
//! boundary found across chunk borders; the signature part is kept and its detached
//! SignedData verified at the end over the exact bytes received (or, if those do not
//! match and line ends were changed in transit, their canonical form).

use std::borrow::Cow;

use crate::cert::Certificate;
use crate::cms::algorithm::{DigestAlgorithm, Hasher};
use crate::cms::signed::{SignedData, SignerSource, Verified};
use crate::error::{AlgorithmKind, Error, VerificationError};
use crate::limits::{Limit, Limits};
use crate::mime::stream::{EntityCanonicalizer, PartEvent, PartSplitter};
use crate::mime::{self, ContentType, Part};

/// A check of a signer certificate beyond the signature itself, called once per verified
/// signature whose certificate came from [`InboundPolicy::partner_certificates`](crate::message::inbound::InboundPolicy::partner_certificates).
///
/// The partner profile implements it ([`ProfileTrust`](crate::partner::ProfileTrust)) to enforce certificate
/// rotation windows and chains at `now`, so that a signature by an expired certificate is
/// reported by name and dates instead of as an unknown signer. The MDN layer calls the same
/// hook when it verifies a signed receipt.
pub trait SignerTrust: core::fmt::Debug + Send + Sync {
    /// Accepts `signer` or says why not.
    fn check(&self, signer: &Certificate) -> Result<(), Error>;
}

/// Who may have signed an inbound message or an MDN: the one rule for both.
///
/// The certificate is picked by [`SignedData`] verification, first among
/// [`certificates`](Self::certificates) (the partner's, pinned by the caller), then among
/// those the signature embeds; once the signature verifies, the certificate's keyUsage and
/// extendedKeyUsage must allow signing ([`Certificate::check_usage`], relaxed by
/// [`UsageCheck::Legacy`](crate::UsageCheck::Legacy) on the certificate), else
/// [`Error::CertificateUsage`]. Then [`SignerRule::check`] requires a supplied certificate
/// (an embedded one proves nothing about who signed:
/// [`VerificationError::SignerNotFound`]), refuses SHA-1 unless legacy algorithms are
/// accepted, and asks the [`SignerTrust`], if any.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignerRule<'a> {
    /// The certificates the signer must be one of.
    pub(crate) certificates: &'a [Certificate],
    /// The further check of that certificate (rotation window, chain), if any.
    pub(crate) trust: Option<&'a dyn SignerTrust>,
    /// Whether a SHA-1 signature is accepted.
    pub(crate) accept_sha1: bool,
}

impl SignerRule<'_> {
    /// Accepts a verified signature's signer or says why not (see the [type docs](Self)).
    pub(crate) fn check(&self, verified: Verified) -> Result<Verified, Error> {
        if verified.source != SignerSource::Supplied {
            return Err(VerificationError::SignerNotFound.into());
        }
        if !self.accept_sha1 && verified.digest == DigestAlgorithm::Sha1 {
            return Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::Digest,
                oid: DigestAlgorithm::Sha1.oid(),
            });
        }
        if let Some(trust) = self.trust {
            trust.check(&verified.signer)?;
        }
        Ok(verified)
    }
}

/// Verifies a whole `multipart/signed` entity (RFC 1847): `body` (its body, the entity's
/// headers being `content_type`) pushed through a [`MultipartSignedReader`] in one call,
/// then the signer checked with `rule`. The first part's bytes are not kept:
/// [`Verified::content_digest`] is the digest of what the signature covers (the bytes
/// received, or their canonical form where line ends had to be restored).
pub(crate) fn verify_multipart_signed(
    content_type: &ContentType,
    body: &[u8],
    rule: &SignerRule<'_>,
    limits: &Limits,
    binary_canonicalization: bool,
) -> Result<Verified, Error> {
    let mut reader = MultipartSignedReader::new(content_type, limits, binary_canonicalization)?;
    let mut first_part = Vec::new();
    reader.push(body, &mut first_part)?;
    reader.finish(&mut first_part)?;
    let verified = reader.verify(rule.certificates, limits)?;
    rule.check(verified)
}

/// The body of a `multipart/signed` entity (RFC 1847) as it arrives: the first part flows
/// on, digested as it goes (with each algorithm `micalg` announces); the second (the
/// signature) is kept, and its detached SignedData verified by
/// [`MultipartSignedReader::verify`] at the end. A signature made with a digest `micalg`
/// does not announce fails with [`VerificationError::UnannouncedDigest`].
///
/// Where the first part is text (not `binary_canonicalization`), what flows on is its
/// canonical form (CRLF line ends), digested beside the raw bytes from the point where the
/// two differ: the signature is verified over the bytes received, then, if the digest does
/// not match, over the canonical form.
pub(crate) struct MultipartSignedReader {
    splitter: PartSplitter,
    /// Parts begun so far.
    parts: usize,
    /// The algorithms announced by `micalg`, and a digest of the first part for each.
    raw: Vec<(DigestAlgorithm, Hasher)>,
    /// The first part's canonical form, when it may differ (text parts).
    canonical: Option<Canonical>,
    signature: Vec<u8>,
    max_signature: usize,
}

/// The canonical form of a signed part, digested beside the raw bytes only from the
/// point where the two differ.
struct Canonical {
    canonicalizer: EntityCanonicalizer,
    /// Raw bytes not yet digested: until the forms diverge, the raw digests advance in
    /// step with the canonical output, so they can be forked at the point of divergence.
    pending: Vec<u8>,
    /// The canonical digests, from the divergence on.
    forked: Option<Vec<(DigestAlgorithm, Hasher)>>,
    out: Vec<u8>,
}

impl MultipartSignedReader {
    /// A reader for the body of a `multipart/signed` entity of type `content_type` (its
    /// boundary and `micalg`).
    pub(crate) fn new(
        content_type: &ContentType,
        limits: &Limits,
        binary_canonicalization: bool,
    ) -> Result<Self, Error> {
        let boundary = content_type.boundary().ok_or(Error::UnsupportedFormat(
            "multipart/signed without a boundary",
        ))?;
        let mime_limits = limits.mime();
        let algorithms = announced_digests(content_type.micalg());
        Ok(MultipartSignedReader {
            splitter: PartSplitter::new(boundary, &mime_limits)?,
            parts: 0,
            raw: algorithms.iter().map(|a| (*a, a.hasher())).collect(),
            canonical: (!binary_canonicalization).then(|| Canonical {
                canonicalizer: EntityCanonicalizer::new(false, &mime_limits),
                pending: Vec::new(),
                forked: None,
                out: Vec::new(),
            }),
            signature: Vec::new(),
            max_signature: limits.max_cms_header_size,
        })
    }

    /// Feeds the next bytes of the body, split anywhere; the first part's bytes (or its
    /// canonical form) that come through are appended to `out`.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.split(Some(input), out)
    }

    /// Runs the splitter over `input`, or to its end for `None`, handing every event to
    /// [`on_event`].
    fn split(&mut self, input: Option<&[u8]>, out: &mut Vec<u8>) -> Result<(), Error> {
        let MultipartSignedReader {
            splitter,
            parts,
            raw,
            canonical,
            signature,
            max_signature,
        } = self;
        let mut handle = |event: PartEvent<'_>| {
            on_event(event, parts, raw, canonical, signature, *max_signature, out)
        };
        match input {
            Some(input) => splitter.push(input, &mut handle),
            None => splitter.finish(&mut handle),
        }
    }

    /// Ends the body: the rest of the first part goes to `out`; fails unless there were
    /// exactly two parts.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.split(None, out)?;
        if self.parts != 2 {
            return Err(Error::UnsupportedFormat(
                "multipart/signed must have exactly two parts",
            ));
        }
        Ok(())
    }

    /// After [`finish`](Self::finish): verifies the signature over the first part's exact
    /// bytes, then, if the digest does not match and the canonical form differs, over the
    /// canonical form. The signer is looked up first among `certificates`; check it with
    /// [`SignerRule::check`].
    pub(crate) fn verify(
        &mut self,
        certificates: &[Certificate],
        limits: &Limits,
    ) -> Result<Verified, Error> {
        let part = mime::parse_part(&self.signature, &limits.mime())?;
        let der = signature_der(&part)?;
        let signed = SignedData::parse(&der, limits)?;
        let raw: Vec<(DigestAlgorithm, Vec<u8>)> = std::mem::take(&mut self.raw)
            .into_iter()
            .map(|(a, h)| (a, h.finish()))
            .collect();
        let lookup = |digests: &[(DigestAlgorithm, Vec<u8>)], alg: DigestAlgorithm| {
            digests
                .iter()
                .find(|(a, _)| *a == alg)
                .map(|(_, d)| d.clone())
        };
        match signed.verify_digests(&|alg| lookup(&raw, alg), certificates) {
            Err(Error::Verification(VerificationError::DigestMismatch)) => {
                let Some(forked) = self.canonical.as_mut().and_then(|c| c.forked.take()) else {
                    return Err(VerificationError::DigestMismatch.into());
                };
                let canonical: Vec<(DigestAlgorithm, Vec<u8>)> =
                    forked.into_iter().map(|(a, h)| (a, h.finish())).collect();
                signed.verify_digests(&|alg| lookup(&canonical, alg), certificates)
            }
            other => other,
        }
    }
}

/// One event of a `multipart/signed` body: the first part is digested and passed on
/// (canonicalised where it must be), the second kept, a third refused.
fn on_event(
    event: PartEvent<'_>,
    parts: &mut usize,
    raw: &mut [(DigestAlgorithm, Hasher)],
    canonical: &mut Option<Canonical>,
    signature: &mut Vec<u8>,
    max_signature: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match event {
        PartEvent::Begin(index) => {
            *parts = index.saturating_add(1);
            if index >= 2 {
                return Err(Error::UnsupportedFormat(
                    "multipart/signed must have exactly two parts",
                ));
            }
        }
        PartEvent::Data(bytes) if *parts == 1 => match canonical {
            None => {
                raw.iter_mut().for_each(|(_, h)| h.update(bytes));
                out.extend_from_slice(bytes);
            }
            Some(c) => c.push(bytes, raw, out)?,
        },
        PartEvent::Data(bytes) => {
            if signature.len().saturating_add(bytes.len()) > max_signature {
                return Err(Error::LimitExceeded {
                    limit: Limit::CmsHeaderSize,
                    value: max_signature,
                });
            }
            signature.extend_from_slice(bytes);
        }
        PartEvent::End if *parts == 1 => {
            if let Some(c) = canonical {
                c.finish(raw, out)?;
            }
        }
        PartEvent::End | PartEvent::Closed => {}
    }
    Ok(())
}

impl Canonical {
    /// Digests raw bytes and passes the canonical form on.
    fn push(
        &mut self,
        bytes: &[u8],
        raw: &mut [(DigestAlgorithm, Hasher)],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.out.clear();
        self.canonicalizer.push(bytes, &mut self.out)?;
        self.advance(bytes, raw);
        out.extend_from_slice(&self.out);
        Ok(())
    }

    fn finish(
        &mut self,
        raw: &mut [(DigestAlgorithm, Hasher)],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.out.clear();
        self.canonicalizer.finish(&mut self.out)?;
        self.advance(&[], raw);
        // Whatever raw bytes remain are digested as they are.
        let pending = std::mem::take(&mut self.pending);
        raw.iter_mut().for_each(|(_, h)| h.update(&pending));
        out.extend_from_slice(&self.out);
        Ok(())
    }

    /// Digests `bytes` (raw) and `self.out` (canonical). Until the two forms diverge the
    /// canonical output is a prefix of the raw bytes, and the raw digests are advanced only
    /// as far as it, so that at the divergence they can be copied as the canonical ones.
    fn advance(&mut self, bytes: &[u8], raw: &mut [(DigestAlgorithm, Hasher)]) {
        if let Some(forked) = &mut self.forked {
            forked.iter_mut().for_each(|(_, h)| h.update(&self.out));
            raw.iter_mut().for_each(|(_, h)| h.update(bytes));
            return;
        }
        self.pending.extend_from_slice(bytes);
        if self.canonicalizer.diverged() {
            let mut forked: Vec<(DigestAlgorithm, Hasher)> = raw.to_vec();
            forked.iter_mut().for_each(|(_, h)| h.update(&self.out));
            let pending = std::mem::take(&mut self.pending);
            raw.iter_mut().for_each(|(_, h)| h.update(&pending));
            self.forked = Some(forked);
        } else {
            // Identical so far: the canonical output is the raw prefix.
            let n = self.out.len().min(self.pending.len());
            raw.iter_mut()
                .for_each(|(_, h)| h.update(self.pending.get(..n).unwrap_or_default()));
            self.pending.drain(..n);
        }
    }
}

/// The digests a `micalg` parameter announces (RFC 5751 §3.4.3.2: a comma-separated
/// list); every supported one when it names none we know.
fn announced_digests(micalg: Option<&str>) -> Vec<DigestAlgorithm> {
    let mut algorithms: Vec<DigestAlgorithm> = Vec::new();
    for name in micalg.unwrap_or_default().split(',') {
        if let Some(alg) = DigestAlgorithm::from_name(name)
            && !algorithms.contains(&alg)
        {
            algorithms.push(alg);
        }
    }
    if algorithms.is_empty() {
        algorithms = vec![
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ];
    }
    algorithms
}

/// The DER of a signature part: its decoded body, or, when a product sent base64 without
/// saying so in Content-Transfer-Encoding, the base64 decoding of it.
pub(crate) fn signature_der<'a>(part: &Part<'a>) -> Result<Cow<'a, [u8]>, Error> {
    let decoded = part.decoded_body()?;
    if decoded.first() == Some(&0x30) || part.transfer_encoding_present() {
        return Ok(decoded);
    }
    match mime::base64_decode(&decoded) {
        Ok(der) if der.first() == Some(&0x30) => Ok(Cow::Owned(der)),
        _ => Ok(decoded),
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::*;
    use crate::cert::PrivateKey;
    use crate::cms::signed::{SignOptions, Signer, sign_detached};

    const ENTITY: &[u8] = b"Content-Type: multipart/report; report-type=disposition-notification; boundary=\"in\"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nReceived.\r\n--in\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\n--in--\r\n";

    fn doc_identity() -> (Certificate, PrivateKey) {
        (
            Certificate::from_pem(include_bytes!("../../tests/data/keys/doc.crt")).unwrap(),
            PrivateKey::from_pem(include_bytes!("../../tests/data/keys/doc.key"), None).unwrap(),
        )
    }

    /// A `multipart/signed` body around `sent` whose signature (SHA-256) covers `signed`.
    fn signed_body(cert: &Certificate, key: &PrivateKey, signed: &[u8], sent: &[u8]) -> Vec<u8> {
        let der = sign_detached(
            signed,
            &Signer::new(cert, key),
            &SignOptions::default(),
            crate::cert::unix_time(1_800_000_000),
            &mut ChaCha20Rng::seed_from_u64(21),
        )
        .unwrap();
        let mut body = b"--out\r\n".to_vec();
        body.extend_from_slice(sent);
        body.extend_from_slice(b"\r\n--out\r\nContent-Type: application/pkcs7-signature\r\n\r\n");
        body.extend_from_slice(&der);
        body.extend_from_slice(b"\r\n--out--\r\n");
        body
    }

    /// Pushes `body` in two pieces split at `at`, then verifies.
    fn verify_split(
        ct: &ContentType,
        body: &[u8],
        at: usize,
        cert: &Certificate,
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let limits = Limits::default();
        let mut reader = MultipartSignedReader::new(ct, &limits, false)?;
        let mut first = Vec::new();
        let (head, tail) = body.split_at(at);
        reader.push(head, &mut first)?;
        reader.push(tail, &mut first)?;
        reader.finish(&mut first)?;
        let verified = reader.verify(std::slice::from_ref(cert), &limits)?;
        Ok((verified.content_digest, first))
    }

    /// Split positions: a window around each delimiter line of `body`.
    fn windows(body: &[u8]) -> Vec<usize> {
        let mut at: Vec<usize> = Vec::new();
        for (i, _) in body.windows(5).enumerate().filter(|(_, w)| *w == b"--out") {
            at.extend(i.saturating_sub(4)..(i + 12).min(body.len()));
        }
        at
    }

    #[test]
    fn the_boundary_split_anywhere_gives_the_same_verdict() {
        let (cert, key) = doc_identity();
        let ct = ContentType::parse(b"multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=out").unwrap();
        let sha256 = DigestAlgorithm::Sha256.digest(ENTITY);
        // As signed, and with the signed part's line ends changed to LF in transit.
        let lf = String::from_utf8(ENTITY.to_vec())
            .unwrap()
            .replace("\r\n", "\n");
        for sent in [ENTITY, lf.as_bytes()] {
            let body = signed_body(&cert, &key, ENTITY, sent);
            for at in windows(&body) {
                let (digest, first) = verify_split(&ct, &body, at, &cert).unwrap();
                assert_eq!(digest, sha256, "split at {at}");
                // What flows on is what was signed (the canonical form).
                assert_eq!(first, ENTITY, "split at {at}");
            }
        }
        // Tampered: the same failure wherever the split.
        let mut body = signed_body(&cert, &key, ENTITY, ENTITY);
        let at = body.windows(9).position(|w| w == b"Received.").unwrap();
        body[at] = b'r';
        for at in windows(&body) {
            assert_eq!(
                verify_split(&ct, &body, at, &cert).unwrap_err(),
                Error::Verification(VerificationError::DigestMismatch),
                "split at {at}"
            );
        }
    }

    #[test]
    fn a_digest_not_announced_in_micalg_is_refused() {
        let (cert, key) = doc_identity();
        let body = signed_body(&cert, &key, ENTITY, ENTITY);
        for (micalg, ok) in [
            ("sha-256", true),
            ("sha-384", false),
            ("sha-512, sha1", false),
            ("sha-512,sha-256", true),
            ("unknown", true),
        ] {
            let ct = ContentType::parse(
                format!("multipart/signed; micalg=\"{micalg}\"; boundary=out").as_bytes(),
            )
            .unwrap();
            let result = verify_split(&ct, &body, 0, &cert);
            match ok {
                true => assert!(result.is_ok(), "{micalg}: {result:?}"),
                false => assert_eq!(
                    result.unwrap_err(),
                    Error::Verification(VerificationError::UnannouncedDigest),
                    "{micalg}"
                ),
            }
        }
    }
}
