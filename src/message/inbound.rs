//! The inbound parser, in two steps (decide, then accept).
//!
//! [`handle`] reads only the HTTP headers and tells a message from an MDN (async MDNs
//! arrive on the same endpoint). The returned [`Incoming`] shows AS2-From, AS2-To,
//! Message-ID and the requested receipt before any key is touched, so the caller can look
//! up the agreement. [`Incoming::accept`] then decrypts, decompresses, verifies and
//! enforces the [`InboundPolicy`], returning either the [`Received`] payload with its MIC
//! or a [`Rejected`] that still carries everything an error MDN needs.

use std::borrow::Cow;
use std::ops::Range;

use rand_core::CryptoRng;

use super::headers::{
    As2Id, DispositionOptions, EdiintFeatures, HttpHeaders, MessageId, check_as2_version,
    receipt_delivery_url,
};
use crate::cert::{Certificate, PrivateKey};
use crate::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use crate::cms::compressed::CompressedData;
use crate::cms::enveloped::EnvelopedData;
use crate::cms::signed::{SignedData, SignerSource, Verified};
use crate::cms::{self, ContentType};
use crate::error::{AlgorithmKind, Error, LayerKind, PolicyError, VerificationError};
use crate::limits::{Limit, Limits};
use crate::mic::{Mic, UnsignedPayload};
use crate::mime::{self, MimeLimits, Part};

/// Whether a request carries a message or a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncomingKind {
    /// An AS2 message with a payload.
    Message,
    /// An (asynchronous) MDN for a message we sent.
    Mdn,
}

/// The receipt a sender asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiptRequest {
    /// The Disposition-Notification-To value.
    pub return_to: String,
    /// Disposition-Notification-Options, if sent.
    pub options: DispositionOptions,
    /// The Receipt-Delivery-Option URL for an asynchronous MDN: an absolute http(s) URL
    /// checked by [`super::headers::receipt_delivery_url`] (a
    /// malformed one fails [`handle`] with `INVALID_REQUEST`).
    pub async_url: Option<String>,
}

impl ReceiptRequest {
    /// Whether the MDN should be signed.
    pub fn signed(&self) -> bool {
        self.options.signed_receipt_requested()
    }

    /// Whether the MDN is to be sent asynchronously.
    pub fn is_async(&self) -> bool {
        self.async_url.is_some()
    }
}

/// A request whose headers have been read, awaiting the caller's decision.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Incoming<'a> {
    /// Message or MDN.
    pub kind: IncomingKind,
    /// AS2-From.
    pub from: As2Id,
    /// AS2-To.
    pub to: As2Id,
    /// Message-ID, exactly as received (an async MDN may lack one).
    pub message_id: Option<MessageId>,
    /// Subject, if any.
    pub subject: Option<String>,
    /// The receipt requested, if any.
    pub receipt: Option<ReceiptRequest>,
    /// The top-level Content-Type value.
    pub content_type: String,
    /// The features the partner advertises in EDIINT-Features (RFC 6017), unknown tokens
    /// kept as sent; empty when the header is absent.
    pub features: EdiintFeatures,
    headers: &'a HttpHeaders,
    body: &'a [u8],
}

/// Reads the AS2 headers of a request. Fails with [`Error::InvalidHeader`] (code
/// `INVALID_REQUEST`) when AS2-From, AS2-To, Message-ID or Content-Type is missing or
/// malformed, or Receipt-Delivery-Option is not an absolute http(s) URL; with
/// [`Error::UnsupportedDateFormat`] (also `INVALID_REQUEST`) for a malformed `Date`
/// unless [`Limits::accept_malformed_date`] is set; and with
/// [`Error::LimitExceeded`] for an oversized body.
pub fn handle<'a>(
    headers: &'a HttpHeaders,
    body: &'a [u8],
    limits: &Limits,
) -> Result<Incoming<'a>, Error> {
    if body.len() > limits.max_body_size {
        return Err(Limit::BodySize.exceeded(limits));
    }
    check_as2_version(headers.get("AS2-Version"))?;
    let from = As2Id::from_header("AS2-From", required(headers, "AS2-From")?)?;
    let to = As2Id::from_header("AS2-To", required(headers, "AS2-To")?)?;
    let content_type = String::from_utf8_lossy(required(headers, "Content-Type")?)
        .trim()
        .to_owned();
    let parsed = mime::ContentType::parse(content_type.as_bytes())?;
    let kind = if parsed.is("multipart/report") || signed_report(&parsed, body) {
        IncomingKind::Mdn
    } else {
        IncomingKind::Message
    };
    let message_id = match (headers.get("Message-ID"), kind) {
        (Some(v), _) => Some(MessageId::parse(v)?),
        (None, IncomingKind::Mdn) => None,
        (None, IncomingKind::Message) => {
            return Err(Error::InvalidHeader {
                header: "Message-ID",
                reason: "missing",
            });
        }
    };
    crate::time::check_date_header(headers.get("Date"), limits)?;
    let receipt = headers
        .get_str("Disposition-Notification-To")
        .map(|to| -> Result<ReceiptRequest, Error> {
            Ok(ReceiptRequest {
                return_to: to.to_owned(),
                options: headers
                    .get("Disposition-Notification-Options")
                    .map(DispositionOptions::parse)
                    .unwrap_or_default(),
                // A malformed URL is a malformed request (INVALID_REQUEST): no MDN is
                // POSTed to it, and none is answered synchronously in its place.
                async_url: headers
                    .get("Receipt-Delivery-Option")
                    .map(receipt_delivery_url)
                    .transpose()?
                    .flatten(),
            })
        })
        .transpose()?;
    Ok(Incoming {
        kind,
        from,
        to,
        message_id,
        subject: headers.get_str("Subject").map(str::to_owned),
        receipt,
        content_type,
        features: headers
            .get("EDIINT-Features")
            .map(EdiintFeatures::parse)
            .unwrap_or_default(),
        headers,
        body,
    })
}

fn required<'h>(headers: &'h HttpHeaders, name: &'static str) -> Result<&'h [u8], Error> {
    headers
        .get(name)
        .filter(|v| !v.iter().all(u8::is_ascii_whitespace))
        .ok_or(Error::InvalidHeader {
            header: name,
            reason: "missing",
        })
}

/// Whether a multipart/signed body's first part is a multipart/report (a signed MDN).
fn signed_report(ct: &mime::ContentType, body: &[u8]) -> bool {
    if !ct.is("multipart/signed") {
        return false;
    }
    let Some(boundary) = ct.boundary().filter(|b| b.len() <= mime::MAX_BOUNDARY_LEN) else {
        return false;
    };
    // Look only at the first part's headers; the full parse happens on accept.
    let mut marker = b"--".to_vec();
    marker.extend_from_slice(boundary);
    let Some(start) = find(body, &marker) else {
        return false;
    };
    let head = body.get(start..).unwrap_or_default();
    let head = head.get(..head.len().min(4096)).unwrap_or_default();
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    lower
        .split("\n\n")
        .next()
        .or_else(|| lower.split("\r\n\r\n").next())
        .is_some_and(|h| h.contains("multipart/report"))
}

/// The first `needle` in `haystack`: linear time (Two-Way), whatever the input, unlike
/// a naive window search (quadratic for a long boundary over a body of dashes).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    mime::work::examined(haystack.len());
    memchr::memmem::find(haystack, needle)
}

/// A duplicate-message check the caller implements (e.g. over a database).
pub trait DuplicateCheck {
    /// Records `message_id` from `from` and returns whether it had been seen before.
    fn check_and_record(&mut self, from: &As2Id, message_id: &MessageId) -> bool;
}

/// A [`DuplicateCheck`] that never reports duplicates.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDuplicateCheck;

impl DuplicateCheck for NoDuplicateCheck {
    fn check_and_record(&mut self, _: &As2Id, _: &MessageId) -> bool {
        false
    }
}

impl DuplicateCheck for std::collections::HashSet<(As2Id, String)> {
    fn check_and_record(&mut self, from: &As2Id, message_id: &MessageId) -> bool {
        !self.insert((from.clone(), message_id.bare().to_owned()))
    }
}

/// A check of a signer certificate beyond the signature itself, called once per verified
/// signature whose certificate came from [`InboundPolicy::partner_certificates`].
///
/// The partner profile implements it ([`ProfileTrust`](crate::partner::ProfileTrust)) to enforce certificate
/// rotation windows and chains at `now`, so that a signature by an expired certificate is
/// reported by name and dates instead of as an unknown signer. The MDN layer calls the same
/// hook when it verifies a signed receipt.
pub trait SignerTrust: core::fmt::Debug + Send + Sync {
    /// Accepts `signer` or says why not.
    fn check(&self, signer: &Certificate) -> Result<(), Error>;
}

/// Our keys and the partner's certificates, and what the agreement requires.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct InboundPolicy<'a> {
    /// Our decryption identities (several during certificate rotation).
    pub decryption: &'a [(Certificate, PrivateKey)],
    /// The partner's signing certificates (several during rotation).
    pub partner_certificates: &'a [Certificate],
    /// Refuse unencrypted messages (`INSUFFICENT_MESSAGE_SECURITY_UNENCRYPTED`).
    pub require_encryption: bool,
    /// Refuse unsigned messages. [`InboundPolicy::new`] sets it when partner certificates
    /// are given: whoever can verify a partner's signature expects one, and only a
    /// required signature stops an attacker from stripping it (damaging the ciphertext so
    /// the plaintext no longer parses as signed) or from using the receiver as a
    /// decryption oracle. Unsigned messages are accepted only when this is off.
    pub require_signature: bool,
    /// Accept decrypted content with no MIME headers at all as an
    /// `application/octet-stream` payload (Mendelson's unsigned form). Off by default,
    /// and never with [`InboundPolicy::require_signature`]: CBC decrypts a damaged
    /// ciphertext, or one under the wrong key, to header-less garbage, which this
    /// delivers as a payload. Turn it on only for a partner that sends this form.
    pub accept_bare_payload: bool,
    /// Treat every body as binary when canonicalising for the MIC and signature.
    pub binary_canonicalization: bool,
    /// Resource limits.
    pub limits: &'a Limits,
    /// A further check of each signer found among `partner_certificates` (validity
    /// window, chain); `None` trusts every certificate supplied.
    pub signer_trust: Option<&'a dyn SignerTrust>,
    /// Accept the legacy algorithms partners still send (3DES content encryption, SHA-1
    /// signatures). On by default for interoperability (the reference accepts both
    /// inbound); turn it off to refuse them with `UnsupportedAlgorithm`
    /// (`ERROR_DECRYPT_UNSUPPORTED_ENCRYPTION_ALG` / `VERIFICATION_FAILED`).
    pub accept_legacy_algorithms: bool,
}

impl<'a> InboundPolicy<'a> {
    /// A policy that requires a signature when `partner_certificates` is not empty (see
    /// [`InboundPolicy::require_signature`]) and does not require encryption.
    pub fn new(
        decryption: &'a [(Certificate, PrivateKey)],
        partner_certificates: &'a [Certificate],
        limits: &'a Limits,
    ) -> Self {
        InboundPolicy {
            decryption,
            partner_certificates,
            require_encryption: false,
            require_signature: !partner_certificates.is_empty(),
            accept_bare_payload: false,
            binary_canonicalization: false,
            limits,
            signer_trust: None,
            accept_legacy_algorithms: true,
        }
    }

    /// The same policy with `trust` checking each partner signer (see
    /// [`InboundPolicy::signer_trust`]): e.g. a [`ChainTrust`](crate::partner::ChainTrust)
    /// to chain the partner's certificate to a CA at `now`, or a partner profile's
    /// [`ProfileTrust`](crate::partner::ProfileTrust).
    pub fn with_signer_trust(mut self, trust: &'a dyn SignerTrust) -> Self {
        self.signer_trust = Some(trust);
        self
    }
}

/// A layer found while unwrapping, outermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layer {
    /// EnvelopedData with this cipher.
    Encrypted(ContentEncryption),
    /// A verified signature with this digest (multipart/signed or opaque).
    Signed(DigestAlgorithm),
    /// CompressedData.
    Compressed,
}

/// A message accepted under the policy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Received {
    /// The payload, byte for byte as sent (empty for a duplicate, which must not be
    /// delivered again).
    pub payload: Vec<u8>,
    /// The payload's Content-Type (`application/octet-stream` for a bare payload).
    pub content_type: String,
    /// The original file name, if any ([`mime::file_name`]: Content-Disposition `filename`,
    /// else Content-Type `name`, RFC 2231 decoded). The sender's text: store it only
    /// through [`crate::record::inbound_paths`].
    pub file_name: Option<String>,
    /// Layers in the order found, outermost first.
    pub layers: Vec<Layer>,
    /// The verified signature, if the message was signed.
    pub signature: Option<Verified>,
    /// The MIC to return in the MDN, when one could be computed.
    pub mic: Option<Mic>,
    /// Whether this Message-ID had been received before (`processed/Warning:
    /// duplicate-document`).
    pub duplicate: bool,
}

impl Received {
    /// The content cipher, if the message was encrypted.
    pub fn encryption(&self) -> Option<ContentEncryption> {
        self.layers.iter().find_map(|l| match l {
            Layer::Encrypted(c) => Some(*c),
            _ => None,
        })
    }

    /// Whether the message was compressed.
    pub fn compressed(&self) -> bool {
        self.layers.contains(&Layer::Compressed)
    }

    /// The MDN Disposition line for this outcome (RFC 4130 §7.4.3): `processed`, or
    /// `processed/Warning: duplicate-document` for a duplicate.
    pub fn disposition(&self) -> &'static str {
        if self.duplicate {
            "automatic-action/MDN-sent-automatically; processed/Warning: duplicate-document"
        } else {
            "automatic-action/MDN-sent-automatically; processed"
        }
    }
}

/// A message refused, with what an error MDN needs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Rejected {
    /// Why, as the sender is told: the error code and the MDN disposition derive from it.
    pub error: Error,
    /// The real cause when [`Rejected::error`] is a [`Error::DecryptionFailed`] that hides
    /// it: what went wrong after decryption before a signature had verified (a limit hit,
    /// a malformed or unsupported structure, a missing or bad signature, a key unwrap or
    /// padding that was not well formed). For the operator's log and the local status
    /// record only; never send it to the partner (it would be a decryption oracle).
    pub concealed: Option<Box<Error>>,
    /// Layers unwrapped before the failure.
    pub layers: Vec<Layer>,
    /// The MIC, if it was computed before the failure.
    pub mic: Option<Mic>,
}

impl Rejected {
    /// The real cause: [`Rejected::concealed`] if there is one, else [`Rejected::error`].
    pub fn cause(&self) -> &Error {
        self.concealed.as_deref().unwrap_or(&self.error)
    }
}

impl From<Error> for Rejected {
    fn from(error: Error) -> Self {
        Rejected {
            error,
            concealed: None,
            layers: Vec::new(),
            mic: None,
        }
    }
}

/// The entity being unwrapped: the top level (headers in HTTP) or a nested MIME entity,
/// `range` of a buffer that is either borrowed from the request body or owned (what a
/// layer decrypted or decompressed). Inner layers narrow the range instead of copying, so
/// the payload is copied at most once (the decryption's output) and an owned buffer
/// becomes the received payload in place.
enum Current<'a> {
    Top,
    Entity(Cow<'a, [u8]>, Range<usize>),
}

impl<'a> Current<'a> {
    /// A whole buffer.
    fn whole(bytes: Cow<'a, [u8]>) -> Self {
        let len = bytes.len();
        Current::Entity(bytes, 0..len)
    }

    /// The entity's bytes (the request body at the top level).
    fn bytes<'s>(&'s self, body: &'s [u8]) -> &'s [u8] {
        match self {
            Current::Top => body,
            Current::Entity(bytes, range) => bytes.get(range.clone()).unwrap_or_default(),
        }
    }

    /// The entity at `range` of this one (offsets relative to [`Current::bytes`]).
    fn narrow(self, body: &'a [u8], range: Range<usize>) -> Result<Self, Error> {
        let (bytes, base) = match self {
            Current::Top => (Cow::Borrowed(body), 0..body.len()),
            Current::Entity(bytes, base) => (bytes, base),
        };
        let start = base.start.checked_add(range.start);
        let end = base.start.checked_add(range.end);
        match (start, end) {
            (Some(start), Some(end)) if start <= end && end <= base.end => {
                Ok(Current::Entity(bytes, start..end))
            }
            _ => Err(Error::UnsupportedFormat("MIME part outside its entity")),
        }
    }

    /// The bytes at `range` of this entity as a vector: an owned buffer is cut down in
    /// place (one move of the bytes, no new allocation), a borrowed one copied.
    fn into_vec(self, body: &'a [u8], range: Range<usize>) -> Result<Vec<u8>, Error> {
        match self.narrow(body, range)? {
            Current::Entity(Cow::Owned(mut bytes), range) => {
                bytes.truncate(range.end);
                bytes.drain(..range.start);
                Ok(bytes)
            }
            Current::Entity(Cow::Borrowed(bytes), range) => {
                Ok(bytes.get(range).unwrap_or_default().to_vec())
            }
            Current::Top => Ok(Vec::new()),
        }
    }
}

impl<'a> Incoming<'a> {
    /// Unwraps and checks the message under `policy`, asking `duplicates` about its
    /// Message-ID. `rng` blinds RSA decryption.
    // `Rejected` is the outcome callers match on once per message; boxing it would add
    // an indirection to every refusal for no gain.
    #[allow(clippy::result_large_err)]
    pub fn accept<R: CryptoRng + ?Sized>(
        &self,
        policy: &InboundPolicy<'_>,
        duplicates: &mut dyn DuplicateCheck,
        rng: &mut R,
    ) -> Result<Received, Rejected> {
        let mut state = Unwrap {
            layers: Vec::new(),
            signature: None,
            mic: None,
            authentic: false,
            decrypted: false,
            well_formed: true,
        };
        match self.unwrap(policy, &mut state, rng) {
            Ok((payload, content_type, file_name)) => {
                let duplicate = match &self.message_id {
                    Some(id) => duplicates.check_and_record(&self.from, id),
                    None => false,
                };
                Ok(Received {
                    payload: if duplicate { Vec::new() } else { payload },
                    content_type,
                    file_name,
                    layers: state.layers,
                    signature: state.signature,
                    mic: state.mic,
                    duplicate,
                })
            }
            Err(error) => {
                let (error, concealed) = state.conceal_until_authentic(error);
                Err(Rejected {
                    error,
                    concealed: concealed.map(Box::new),
                    layers: state.layers,
                    mic: state.mic,
                })
            }
        }
    }

    /// The rejection to answer with when the caller finds no active agreement for
    /// (AS2-From, AS2-To): `AGREEMENT_NOT_FOUND`, disposition
    /// `processed/Error: unknown-trading-relationship`.
    pub fn unknown_partner(&self) -> Rejected {
        Error::UnknownTradingPartner.into()
    }

    /// Parses the request as an MDN (an asynchronous receipt POSTed to us; check
    /// [`Incoming::kind`] first). Verify it with [`Mdn::verify`](crate::mdn::Mdn::verify).
    pub fn parse_mdn(&self, limits: &Limits) -> Result<crate::mdn::Mdn<'a>, Error> {
        crate::mdn::parse(self.headers, self.body, limits)
    }

    /// The top-level part, with the Content-Type (and any Content-Transfer-Encoding) from
    /// the HTTP headers.
    fn top_part(&self, limits: &MimeLimits) -> Result<Part<'a>, Error> {
        Ok(Part::from_body_with_encoding(
            self.body,
            self.content_type.as_bytes(),
            self.headers.get("Content-Transfer-Encoding"),
            limits,
        )?)
    }

    fn unwrap<R: CryptoRng + ?Sized>(
        &self,
        policy: &InboundPolicy<'_>,
        state: &mut Unwrap,
        rng: &mut R,
    ) -> Result<(Vec<u8>, String, Option<String>), Error> {
        if self.kind == IncomingKind::Mdn {
            return Err(Error::UnsupportedFormat(
                "an MDN, not a message: verify it with the MDN layer",
            ));
        }
        let mime_limits = policy.limits.mime();
        let receipt_options = self.receipt.as_ref().map(|r| &r.options);
        if let Some(options) = receipt_options
            && options.signed_receipt_requested()
            && options
                .micalg
                .as_ref()
                .is_some_and(|m| m.importance == "required")
            && options.preferred_micalg().is_none()
        {
            return Err(Error::UnsupportedMicAlgorithms);
        }
        let mut next = Current::Top;
        loop {
            // Each layer's buffer is moved in, never copied.
            let current = match core::mem::replace(&mut next, Current::Top) {
                entity @ Current::Entity(..)
                    if !looks_like_mime(entity.bytes(self.body), &mime_limits) =>
                {
                    // Decrypted content with no MIME headers at all (Mendelson sends the bare
                    // payload unsigned): deliver it as application/octet-stream, but only
                    // where the policy allows it. Damaged ciphertext decrypts to exactly
                    // this, so otherwise it is a failure like any other before a signature.
                    if policy.require_signature || !policy.accept_bare_payload {
                        return Err(Error::UnsupportedFormat(
                            "decrypted content has no MIME headers",
                        ));
                    }
                    self.check_policy(policy, state)?;
                    let bytes = entity.bytes(self.body);
                    if state.mic.is_none() {
                        state.mic =
                            self.unsigned_mic(receipt_options, UnsignedPayload::Enclosed(&[bytes]));
                    }
                    let all = 0..bytes.len();
                    return Ok((
                        entity.into_vec(self.body, all)?,
                        "application/octet-stream".into(),
                        None,
                    ));
                }
                other => other,
            };
            let part = match &current {
                Current::Top => self.top_part(&mime_limits)?,
                Current::Entity(..) => mime::parse_part(current.bytes(self.body), &mime_limits)?,
            };
            let ct = part.content_type();
            if policy.require_encryption
                && !state
                    .layers
                    .iter()
                    .any(|l| matches!(l, Layer::Encrypted(_)))
                && !is_smime(ct)
            {
                return Err(PolicyError::EncryptionRequired.into());
            }
            if is_smime(ct) {
                let der = part.decoded_body()?;
                match cms::content_type(&der, policy.limits)? {
                    ContentType::EnvelopedData => {
                        // Refuse a second envelope before spending work on it.
                        state.ensure_new(LayerKind::Encryption)?;
                        let envelope = EnvelopedData::parse(&der, policy.limits)?;
                        let cipher = envelope.content_encryption();
                        if !policy.accept_legacy_algorithms
                            && cipher == ContentEncryption::TripleDesCbc
                        {
                            return Err(Error::UnsupportedAlgorithm {
                                kind: AlgorithmKind::ContentEncryption,
                                oid: cipher.oid(),
                            });
                        }
                        state.push(
                            Layer::Encrypted(envelope.content_encryption()),
                            LayerKind::Encryption,
                        )?;
                        let (cert, key) = policy
                            .decryption
                            .iter()
                            .find(|(cert, _)| envelope.is_recipient(cert))
                            .ok_or(Error::NoMatchingRecipient)?;
                        // The key unwrap and the CBC padding decide nothing here: a
                        // sender who could tell a bad padding from a good one would have
                        // a padding oracle. What comes out is judged only by what follows
                        // (a signature, or, where unsigned messages are allowed, its form).
                        let opened = envelope.decrypt_unchecked(cert, key, rng)?;
                        state.decrypted = true;
                        state.well_formed = opened.well_formed;
                        next = Current::whole(Cow::Owned(opened.content));
                    }
                    ContentType::CompressedData => {
                        state.push(Layer::Compressed, LayerKind::Compression)?;
                        let out = CompressedData::parse(&der, policy.limits)?
                            .decompress(policy.limits)?;
                        next = Current::whole(Cow::Owned(out));
                    }
                    ContentType::SignedData => {
                        let signed = SignedData::parse(&der, policy.limits)?;
                        let verified = signed
                            .verify(None, policy.partner_certificates)
                            .inspect_err(|e| state.note_verified_but_refused(e))?;
                        state.authentic = true;
                        let verified = trusted(policy, verified)?;
                        state.record_signature(verified)?;
                        let content = signed
                            .into_content()
                            .ok_or(VerificationError::ContentMismatch)?
                            .into_owned();
                        next = Current::whole(Cow::Owned(content));
                    }
                    ContentType::Data => {
                        return Err(Error::UnsupportedFormat("bare id-data content"));
                    }
                }
                continue;
            }
            if ct.is("multipart/signed") {
                let children = part.children();
                let (Some(signed_part), Some(signature_part), None) =
                    (children.first(), children.get(1), children.get(2))
                else {
                    return Err(Error::UnsupportedFormat(
                        "multipart/signed must have exactly two parts",
                    ));
                };
                let signed_range = signed_part.range();
                let (verified, canonical) = verify_multipart_signed_exact(
                    signed_part,
                    signature_part,
                    policy.partner_certificates,
                    policy.limits,
                    policy.binary_canonicalization,
                )
                .inspect_err(|e| state.note_verified_but_refused(e))?;
                state.authentic = true;
                let verified = trusted(policy, verified)?;
                state.record_signature(verified)?;
                // Deliver what was verified: the canonical form when only it verified.
                next = match canonical {
                    Some(entity) => Current::whole(Cow::Owned(entity)),
                    None => current.narrow(self.body, signed_range)?,
                };
                continue;
            }
            if ct.is_multipart() {
                return Err(Error::UnsupportedFormat(
                    "multipart payloads (multiple attachments) are not supported yet",
                ));
            }
            // The payload entity.
            self.check_policy(policy, state)?;
            if state.mic.is_none() {
                let body = self.body;
                state.mic = match &current {
                    Current::Top => {
                        self.unsigned_mic(receipt_options, UnsignedPayload::Message { body })
                    }
                    // Unsigned, so this entity was decrypted or decompressed.
                    Current::Entity(..) => {
                        let entity = mime::canonical_entity(&part, policy.binary_canonicalization);
                        self.unsigned_mic(receipt_options, UnsignedPayload::Enclosed(&[&entity]))
                    }
                };
            }
            // At the top level the entity's headers travel as HTTP headers.
            let disposition = match &current {
                Current::Top => self.headers.get("Content-Disposition").map(Cow::Borrowed),
                Current::Entity(..) => part
                    .header("Content-Disposition")
                    .map(|h| h.unfolded_value()),
            };
            let file_name = mime::file_name(disposition.as_deref(), ct);
            let mime_type = ct.mime_type();
            let payload = match part.decoded_body()? {
                Cow::Owned(decoded) => decoded,
                // An identity transfer encoding: the body as it lies in the buffer.
                Cow::Borrowed(_) => {
                    let body_range = part.body_range();
                    current.into_vec(self.body, body_range)?
                }
            };
            return Ok((payload, mime_type, file_name));
        }
    }

    fn check_policy(&self, policy: &InboundPolicy<'_>, state: &Unwrap) -> Result<(), Error> {
        if policy.require_encryption
            && !state
                .layers
                .iter()
                .any(|l| matches!(l, Layer::Encrypted(_)))
        {
            return Err(PolicyError::EncryptionRequired.into());
        }
        if policy.require_signature && state.signature.is_none() {
            return Err(PolicyError::SignatureRequired.into());
        }
        Ok(())
    }

    /// The MIC of an unsigned message: over what [`Mic::of_unsigned`] says, with the first
    /// supported algorithm the sender asked for (SHA-256 when it named none we support).
    fn unsigned_mic(
        &self,
        options: Option<&DispositionOptions>,
        payload: UnsignedPayload<'_>,
    ) -> Option<Mic> {
        let options = options?;
        let alg = options
            .preferred_micalg()
            .unwrap_or(DigestAlgorithm::Sha256);
        Some(Mic::of_unsigned(alg, payload))
    }
}

/// Requires the signer to be one of the partner's certificates, accepted by the policy's
/// [`SignerTrust`] if it has one.
fn trusted(policy: &InboundPolicy<'_>, verified: Verified) -> Result<Verified, Error> {
    if verified.source != SignerSource::Supplied {
        return Err(VerificationError::SignerNotFound.into());
    }
    if !policy.accept_legacy_algorithms && verified.digest == DigestAlgorithm::Sha1 {
        return Err(Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::Digest,
            oid: DigestAlgorithm::Sha1.oid(),
        });
    }
    if let Some(trust) = policy.signer_trust {
        trust.check(&verified.signer)?;
    }
    Ok(verified)
}

/// Verifies the two parts of a `multipart/signed` entity (RFC 1847): the signature over
/// the first part's exact bytes, then, if the digest does not match, over its canonical
/// form (for files stored with LF line ends).
pub(crate) fn verify_multipart_signed(
    signed_part: &Part<'_>,
    signature_part: &Part<'_>,
    certificates: &[Certificate],
    limits: &Limits,
    binary_canonicalization: bool,
) -> Result<Verified, Error> {
    verify_multipart_signed_exact(
        signed_part,
        signature_part,
        certificates,
        limits,
        binary_canonicalization,
    )
    .map(|(verified, _)| verified)
}

/// [`verify_multipart_signed`], also returning the canonical entity when the signature
/// verified over it and not over the bytes received (line ends changed in transit): the
/// entity to deliver is then that canonical form, exactly what was signed, never the
/// altered bytes.
fn verify_multipart_signed_exact(
    signed_part: &Part<'_>,
    signature_part: &Part<'_>,
    certificates: &[Certificate],
    limits: &Limits,
    binary_canonicalization: bool,
) -> Result<(Verified, Option<Vec<u8>>), Error> {
    let signature = signature_der(signature_part)?;
    let signed = SignedData::parse(&signature, limits)?;
    let raw = signed_part.raw();
    match signed.verify(Some(raw), certificates) {
        Err(Error::Verification(VerificationError::DigestMismatch)) => {
            let canonical = mime::canonical_entity(signed_part, binary_canonicalization);
            if *canonical == *raw {
                return Err(VerificationError::DigestMismatch.into());
            }
            let verified = signed.verify(Some(&canonical), certificates)?;
            Ok((verified, Some(canonical.into_owned())))
        }
        other => other.map(|verified| (verified, None)),
    }
}

/// The DER of a signature part: its decoded body, or, when a product sent base64 without
/// saying so in Content-Transfer-Encoding, the base64 decoding of it.
fn signature_der<'a>(part: &Part<'a>) -> Result<Cow<'a, [u8]>, Error> {
    let decoded = part.decoded_body()?;
    if decoded.first() == Some(&0x30) || part.transfer_encoding_present() {
        return Ok(decoded);
    }
    match mime::base64_decode(&decoded) {
        Ok(der) if der.first() == Some(&0x30) => Ok(Cow::Owned(der)),
        _ => Ok(decoded),
    }
}

/// Whether the content starts with a header block naming a Content-Type.
fn looks_like_mime(bytes: &[u8], limits: &MimeLimits) -> bool {
    let head = bytes.get(..bytes.len().min(8192)).unwrap_or_default();
    let Ok((headers, _)) = mime::parse_headers(head, limits) else {
        return false;
    };
    headers
        .iter()
        .any(|h| h.name_eq_ignore_case("Content-Type"))
}

fn is_smime(ct: &mime::ContentType) -> bool {
    ct.is("application/pkcs7-mime") || ct.is("application/x-pkcs7-mime")
}

struct Unwrap {
    layers: Vec<Layer>,
    signature: Option<Verified>,
    mic: Option<Mic>,
    /// A signature has verified over what came out of the envelope (even if the policy
    /// then refuses the signer or its algorithm): the plaintext is not damaged.
    authentic: bool,
    /// An envelope has been decrypted: what follows is unauthenticated plaintext.
    decrypted: bool,
    /// The envelope's content key unwrapped to the right length and its padding was
    /// valid (for the operator only: garbage is as often well formed as not).
    well_formed: bool,
}

impl Unwrap {
    /// Damaged ciphertext decrypts (CBC has no integrity) to damaged content, and an
    /// attacker who replays our RecipientInfo with chosen blocks controls how. Until a
    /// signature has verified what came out of the envelope, every failure is therefore
    /// reported as the one [`Error::DecryptionFailed`]: a limit hit, a malformed,
    /// garbled or unsupported structure, a signature that does not verify, a missing
    /// signature the policy requires, a second envelope. Otherwise each would be an
    /// oracle on the plaintext (a padding oracle is one of them). An unsupported
    /// content-encryption or key-transport algorithm is a fact about the envelope
    /// itself, found before decryption, and stays as it is.
    ///
    /// Returns the error to report and the real cause it hides, for the operator.
    /// Nothing learnt from the damaged plaintext reaches the sender either: the layers
    /// found inside the envelope and any MIC computed over it are dropped.
    fn conceal_until_authentic(&mut self, error: Error) -> (Error, Option<Error>) {
        let envelope = self
            .layers
            .iter()
            .position(|l| matches!(l, Layer::Encrypted(_)));
        let Some(envelope) = envelope.filter(|_| self.decrypted && !self.authentic) else {
            return (error, None);
        };
        self.layers.truncate(envelope.saturating_add(1));
        self.mic = None;
        let cause = if self.well_formed {
            error
        } else {
            // Reported as what followed it, with the fact that the key or padding was
            // not well formed (usually the reason).
            Error::Malformed {
                what: "decrypted content: the content key or the CBC padding is not well formed",
                offset: 0,
            }
        };
        (Error::DecryptionFailed, Some(cause))
    }

    /// A verification error that `SignedData::verify` reports only after the signature
    /// has verified (the signer certificate's key usage) still proves the plaintext
    /// authentic: it is reported as it is, not concealed.
    fn note_verified_but_refused(&mut self, error: &Error) {
        if matches!(error, Error::CertificateUsage(_)) {
            self.authentic = true;
        }
    }

    /// Fails with `DUPLICATE_MESSAGE` if a layer of `kind` was already found.
    fn ensure_new(&self, kind: LayerKind) -> Result<(), Error> {
        let same = self.layers.iter().any(|l| {
            matches!(
                (l, kind),
                (Layer::Encrypted(_), LayerKind::Encryption)
                    | (Layer::Signed(_), LayerKind::Signature)
                    | (Layer::Compressed, LayerKind::Compression)
            )
        });
        if same {
            return Err(PolicyError::DuplicateLayer(kind).into());
        }
        Ok(())
    }

    fn push(&mut self, layer: Layer, kind: LayerKind) -> Result<(), Error> {
        self.ensure_new(kind)?;
        self.layers.push(layer);
        Ok(())
    }

    /// Records a verified signature: its layer, the MIC it proves, and the signer.
    fn record_signature(&mut self, verified: Verified) -> Result<(), Error> {
        self.push(Layer::Signed(verified.digest), LayerKind::Signature)?;
        self.mic = Some(Mic {
            algorithm: verified.digest,
            digest: verified.content_digest.clone(),
        });
        self.signature = Some(verified);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::work;

    fn headers(content_type: &str) -> HttpHeaders {
        [
            ("AS2-Version", "1.2"),
            ("AS2-From", "attacker"),
            ("AS2-To", "us"),
            ("Message-ID", "<m@attacker>"),
            ("Content-Type", content_type),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec()))
        .collect()
    }

    /// The bytes examined by `handle` and `accept` (under a policy with no keys, so before
    /// any authentication) for a `multipart/signed` body with this boundary.
    fn examined(boundary: &str, body: &[u8]) -> (usize, Result<(), Error>) {
        let limits = Limits::default();
        let h = headers(&format!(
            "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"{boundary}\""
        ));
        work::take();
        let outcome = handle(&h, body, &limits).and_then(|incoming| {
            let policy = InboundPolicy::new(&[], &[], &limits);
            incoming
                .accept(&policy, &mut NoDuplicateCheck, &mut rand::rng())
                .map(drop)
                .map_err(|r| r.error)
        });
        (work::take(), outcome)
    }

    /// Pre-authentication work is linear in the body for the shapes that made the naive
    /// search quadratic: a long boundary over a body of dashes, every line a near
    /// delimiter, many empty lines. The bound (a few bytes examined per body byte) holds
    /// at every size, so the work per byte does not grow with the body.
    #[test]
    fn pre_authentication_work_is_linear() {
        let b70 = "-".repeat(69) + "x";
        let near = format!("--{b70}y\r\n");
        type Family<'a> = (&'a str, &'a str, fn(usize, &str) -> Vec<u8>);
        let families: [Family<'_>; 4] = [
            ("dashes", &b70, |n, _| vec![b'-'; n]),
            ("near delimiters", &b70, |n, near| {
                near.as_bytes().iter().copied().cycle().take(n).collect()
            }),
            ("empty lines", &b70, |n, _| vec![b'\n'; n]),
            ("dashes, short boundary", "--", |n, _| vec![b'-'; n]),
        ];
        for (name, boundary, make) in families {
            for n in [1 << 12, 1 << 16, 1 << 20, 1 << 23] {
                let body = make(n, &near);
                let (bytes, outcome) = examined(boundary, &body);
                assert!(outcome.is_err(), "{name} {n}");
                assert!(
                    bytes <= 4 * n + 4096,
                    "{name}: {bytes} bytes examined for a {n}-byte body"
                );
            }
        }
    }

    /// RFC 2046 boundaries are 1 to 70 characters: a longer one is refused before any
    /// search, and the signed-MDN sniffing in `handle` does not search for it at all.
    #[test]
    fn over_long_boundaries_are_refused() {
        let body = vec![b'-'; 1 << 20];
        for len in [71, 8_000, 65_000] {
            let boundary = "-".repeat(len - 1) + "x";
            let (bytes, outcome) = examined(&boundary, &body);
            assert!(
                matches!(
                    outcome,
                    Err(Error::Mime(mime::MimeError::InvalidBoundary { .. }))
                ),
                "{len}: {outcome:?}"
            );
            assert_eq!(bytes, 0, "{len}");
        }
        let (_, outcome) = examined(&("-".repeat(69) + "x"), &body);
        assert!(
            !matches!(
                outcome,
                Err(Error::Mime(mime::MimeError::InvalidBoundary { .. }))
            ),
            "70 characters are allowed"
        );
    }
}
