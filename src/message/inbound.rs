//! The inbound parser, in two steps (decide, then accept).
//!
//! [`handle`] reads only the HTTP headers and tells a message from an MDN (async MDNs
//! arrive on the same endpoint). The returned [`Incoming`] shows AS2-From, AS2-To,
//! Message-ID and the requested receipt before any key is touched, so the caller can look
//! up the agreement. [`Incoming::accept`] then decrypts, decompresses, verifies and
//! enforces the [`InboundPolicy`], returning either the [`Received`] payload with its MIC
//! or a [`Rejected`] that still carries everything an error MDN needs.

use rand_core::CryptoRng;

use super::headers::{
    As2Id, As2Version, DispositionOptions, EdiintFeatures, HttpHeaders, MessageId,
    receipt_delivery_url, received_as2_product,
};
use super::related::ReceivedPart;
use crate::cert::{Certificate, PrivateKey};
use crate::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use crate::cms::signed::Verified;
use crate::error::Error;
use crate::limits::{Limit, Limits};
use crate::mic::Mic;
use crate::mime;
pub use crate::smime::verify::SignerTrust;

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
    /// The AS2-Version the sender declared (1.0 when the header is absent; any `1.x` is
    /// accepted, anything else refused by [`handle`]).
    pub as2_version: As2Version,
    /// The sender's AS2-Product (draft-ietf-ediint-rfc4130bis §6.2), when sent: printable
    /// ASCII, other characters replaced by `?`, cut to 128 characters
    /// ([`received_as2_product`]). Informative only; never checked.
    pub as2_product: Option<String>,
    headers: &'a HttpHeaders,
    body: &'a [u8],
}

/// Reads the AS2 headers of a request whose body is in `body`. Fails with
/// [`Error::InvalidHeader`] (code `INVALID_REQUEST`) when AS2-From, AS2-To, Message-ID or
/// Content-Type is missing or malformed, or Receipt-Delivery-Option is not an absolute
/// http(s) URL; with [`Error::UnsupportedDateFormat`] (also `INVALID_REQUEST`) for a
/// malformed `Date` unless [`Limits::accept_malformed_date`] is set; and with
/// [`Error::LimitExceeded`] for an oversized body.
pub fn handle<'a>(
    headers: &'a HttpHeaders,
    body: &'a [u8],
    limits: &Limits,
) -> Result<Incoming<'a>, Error> {
    if body.len() > limits.max_body_size {
        return Err(Limit::BodySize.exceeded(limits));
    }
    let mut incoming = handle_headers(headers, limits)?;
    if incoming.kind == IncomingKind::Message {
        let parsed = mime::ContentType::parse(incoming.content_type.as_bytes())?;
        if signed_report(&parsed, body) {
            incoming.kind = IncomingKind::Mdn;
        }
    }
    incoming.body = body;
    Ok(incoming)
}

/// [`handle`] before the body has arrived, for [`Incoming::receive`] (streaming): the same
/// checks of the same headers. A signed MDN cannot be told from a signed message by its
/// headers alone, so [`Incoming::kind`] says `Message` for both; the receiver refuses an
/// MDN once it sees the `multipart/report` inside. [`Incoming::parse_mdn`] needs the body
/// and works only after [`handle`].
pub fn handle_headers<'a>(
    headers: &'a HttpHeaders,
    limits: &Limits,
) -> Result<Incoming<'a>, Error> {
    let as2_version = As2Version::of_header(headers.get("AS2-Version"))?;
    let from = As2Id::from_header("AS2-From", required(headers, "AS2-From")?)?;
    let to = As2Id::from_header("AS2-To", required(headers, "AS2-To")?)?;
    let content_type = String::from_utf8_lossy(required(headers, "Content-Type")?)
        .trim()
        .to_owned();
    let parsed = mime::ContentType::parse(content_type.as_bytes())?;
    let kind = if parsed.is("multipart/report") {
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
        as2_version,
        as2_product: received_as2_product(headers.get("AS2-Product")),
        headers,
        body: &[],
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
///
/// A sender that got no MDN resends the message with the same Message-ID
/// (draft-ietf-ediint-rfc4130bis §5.5, draft-duker-as2-reliability). The receiver must
/// not deliver it twice, and "SHOULD return the previously generated MDN, if available":
/// an implementation that keeps the MDNs it sent ([`DuplicateCheck::store_mdn`]) returns
/// them from [`DuplicateCheck::check`], and [`mdn::reply`](crate::mdn::reply) sends the
/// kept MDN again byte for byte. One that only implements
/// [`check_and_record`](DuplicateCheck::check_and_record) keeps working as before: a
/// duplicate is answered with a new `processed/Warning: duplicate-document` MDN.
pub trait DuplicateCheck {
    /// Records `message_id` from `from` and returns whether it had been seen before.
    fn check_and_record(&mut self, from: &As2Id, message_id: &MessageId) -> bool;

    /// Records `message_id` from `from` like
    /// [`check_and_record`](DuplicateCheck::check_and_record), and says whether it had
    /// been seen before and, if so, which MDN was sent for it. Called once per accepted
    /// message, after it has been unwrapped and verified.
    ///
    /// The default calls `check_and_record` and keeps no MDN: [`Duplicate::New`] or
    /// [`Duplicate::Seen`].
    fn check(&mut self, from: &As2Id, message_id: &MessageId) -> Duplicate {
        if self.check_and_record(from, message_id) {
            Duplicate::Seen
        } else {
            Duplicate::New
        }
    }

    /// Keeps `mdn`, the MDN sent for the message `message_id` from `from`, to answer a
    /// resend of that message with it. Call it once the MDN has been sent (or handed to
    /// the HTTP response), with [`StoredMdn::from`] the built MDN. Implementations keep
    /// the first MDN stored for a Message-ID the check has recorded, and may ignore
    /// others (the MDN of a refused message, whose resend is processed again).
    ///
    /// The default discards it.
    fn store_mdn(&mut self, from: &As2Id, message_id: &MessageId, mdn: StoredMdn) {
        let _ = (from, message_id, mdn);
    }
}

/// What a [`DuplicateCheck`] knows of a Message-ID.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Duplicate {
    /// Not seen before (and now recorded): a new message, delivered.
    New,
    /// Seen before, with no MDN kept: not delivered again, answered with a new
    /// `processed/Warning: duplicate-document` MDN.
    Seen,
    /// Seen before, and this is the MDN sent for it: not delivered again, answered with
    /// this MDN (see [`mdn::reply`](crate::mdn::reply) for when it is not).
    SeenWithMdn(StoredMdn),
}

impl Duplicate {
    /// Whether the Message-ID had been seen before.
    pub fn is_duplicate(&self) -> bool {
        !matches!(self, Self::New)
    }

    /// The MDN kept for it, if any.
    pub fn into_mdn(self) -> Option<StoredMdn> {
        match self {
            Self::SeenWithMdn(mdn) => Some(mdn),
            _ => None,
        }
    }
}

/// An MDN exactly as it was sent: its HTTP headers (its own Message-ID and Date among
/// them) and body, for answering a resend with the same bytes. Serde for keeping it in
/// the caller's store (headers as in [`HttpHeaders`], the body as a list of bytes).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct StoredMdn {
    /// The MDN's HTTP headers, in order.
    pub headers: HttpHeaders,
    /// The MDN's HTTP body.
    pub body: Vec<u8>,
}

impl StoredMdn {
    /// An MDN with these headers and body.
    pub fn new(headers: HttpHeaders, body: Vec<u8>) -> Self {
        StoredMdn { headers, body }
    }
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
    /// Accept `multipart/related` payloads, several files in one message (RFC 6362
    /// multiple attachments; see [`related`](super::related)). Off by default: such a
    /// message is refused with [`PolicyError::AttachmentsRefused`](crate::PolicyError)
    /// (`failed/Failure: unsupported format`). Turn it on together with advertising
    /// [`Feature::MultipleAttachments`](super::headers::Feature) in
    /// [`OutboundMessage::features`](super::outbound::OutboundMessage::features).
    pub accept_attachments: bool,
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
            accept_attachments: false,
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
    /// The payload's length in bytes: what was committed to the
    /// [`PayloadSink`](super::receive::PayloadSink) when received by streaming, the length
    /// of [`payload`](Self::payload) from [`Incoming::accept`]; 0 for a duplicate.
    pub payload_len: u64,
    /// The payload's Content-Type (`application/octet-stream` for a bare payload).
    pub content_type: String,
    /// The original file name, if any (Content-Disposition `filename`, else Content-Type
    /// `name`, RFC 2231 decoded). The sender's text: store it only
    /// through [`crate::record::inbound_paths`].
    pub file_name: Option<String>,
    /// The files of a `multipart/related` payload (RFC 6362 multiple attachments), in
    /// order, the root first; empty for a single payload (and for a duplicate). The
    /// payload (or what the sink was given) is then their decoded octets one after the
    /// other, [`content_type`](Self::content_type) is `multipart/related` and
    /// [`file_name`](Self::file_name) is `None`.
    pub parts: Vec<ReceivedPart>,
    /// Layers in the order found, outermost first.
    pub layers: Vec<Layer>,
    /// The verified signature, if the message was signed.
    pub signature: Option<Verified>,
    /// The MIC to return in the MDN, when one could be computed.
    pub mic: Option<Mic>,
    /// Whether this Message-ID had been received before (`processed/Warning:
    /// duplicate-document`).
    pub duplicate: bool,
    /// For a duplicate, the MDN sent for the first copy when the [`DuplicateCheck`] kept
    /// it ([`Duplicate::SeenWithMdn`]): [`mdn::reply`](crate::mdn::reply) sends it again.
    pub previous_mdn: Option<StoredMdn>,
}

impl Received {
    /// Each file's octets within [`payload`](Self::payload) (filled by
    /// [`Incoming::accept`]): one slice per entry of [`parts`](Self::parts), or the whole
    /// payload for a single one.
    pub fn part_payloads(&self) -> Vec<&[u8]> {
        if self.parts.is_empty() {
            return vec![self.payload.as_slice()];
        }
        let mut rest = self.payload.as_slice();
        self.parts
            .iter()
            .map(|part| {
                let len = usize::try_from(part.len)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                let (this, next) = rest.split_at(len);
                rest = next;
                this
            })
            .collect()
    }

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

impl<'a> Incoming<'a> {
    /// Unwraps and checks the message under `policy`, asking `duplicates` about its
    /// Message-ID. `rng` blinds RSA decryption. The whole body at once: a loop over
    /// [`Incoming::receive`], the payload collected in [`Received::payload`].
    // `Rejected` is the outcome callers match on once per message; boxing it would add
    // an indirection to every refusal for no gain.
    #[allow(clippy::result_large_err)]
    pub fn accept<R: CryptoRng + ?Sized>(
        &self,
        policy: &InboundPolicy<'_>,
        duplicates: &mut dyn DuplicateCheck,
        rng: &mut R,
    ) -> Result<Received, Rejected> {
        let mut payload = Vec::new();
        let mut receiver = self.receive(policy);
        receiver.push(self.body, &mut payload, rng);
        let mut received = receiver.finish(&mut payload, duplicates, rng)?;
        received.payload = payload;
        Ok(received)
    }

    /// Starts receiving the body under `policy`, chunk by chunk
    /// ([`Receiver`](super::receive::Receiver)): payload bytes come out as the body goes
    /// in, tentative until the receiver's verdict.
    pub fn receive<'s>(&'s self, policy: &'s InboundPolicy<'s>) -> super::receive::Receiver<'s> {
        super::receive::Receiver::new(self, policy)
    }

    /// The request's headers and body, as received.
    pub(crate) fn request(&self) -> (&'a HttpHeaders, &'a [u8]) {
        (self.headers, self.body)
    }

    /// An HTTP header of the request, as received.
    pub(crate) fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.get(name)
    }

    /// The rejection to answer with when the caller finds no active agreement for
    /// (AS2-From, AS2-To): `AGREEMENT_NOT_FOUND`, disposition
    /// `processed/Error: unknown-trading-relationship`.
    pub fn unknown_partner(&self) -> Rejected {
        Error::UnknownTradingPartner.into()
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
