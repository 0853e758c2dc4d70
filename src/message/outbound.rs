//! The outbound builder: payload in, HTTP headers and body out (RFC 4130 §5, RFC 5402).
//!
//! Layers are applied inside out: the payload entity, optional compression, optional
//! `multipart/signed`, optional compression of the signed entity, optional encryption. The
//! outermost entity's headers become HTTP headers and its body the HTTP body.
//!
//! # Streaming
//!
//! [`start`] reads the message's options and returns an [`OutboundStream`] whose
//! [`headers`](OutboundStream::headers) are final before the first body octet. The caller
//! then [`push`](OutboundStream::push)es the payload in chunks of any size, sending what
//! each call appends, and [`finish`](OutboundStream::finish)es with the trailer (the
//! signature part, the last cipher block, end-of-contents octets). Nothing is kept of the
//! payload or of the entities around it: the MIC and the signature's digest are hashed as
//! the octets pass, the cipher keeps less than a segment, zlib its window, and the
//! `multipart/signed` delimiter check one line start. The crate does no I/O; the caller
//! moves the bytes, as with every other part of this crate. [`build`] is the same code run
//! over a payload in memory.
//!
//! # Content-Length
//!
//! Many partners refuse chunked requests. With the payload's length announced to [`start`]
//! and no compression, [`OutboundStream::content_length`] gives the exact body length
//! before the first octet: CMS lengths are DER, CBC padding rounds up to the next block,
//! the detached signature's length follows from the key, the attributes, the certificates
//! and `now`, and base64 line breaks are arithmetic.
//!
//! Compressed output has no length until zlib is done, so its CMS structures (and those
//! around it) use BER indefinite lengths, with the content as a constructed OCTET STRING
//! of definite-length segments (RFC 5652 allows it; OpenSSL, BouncyCastle and pyas2lib
//! read it); so does an envelope whose content length was not announced. Such a body is
//! sent either with HTTP/1.1 chunked transfer coding, each push's output as one or more
//! chunks, or spooled first (to a file, say) and sent with the length
//! [`FinishedMessage::body_len`] reports. [`OutboundStream::into_writer`] is a
//! [`std::io::Write`] adapter for the second way:
//!
//! ```
//! # use std::time::SystemTime;
//! # use as2_proto::message::headers::As2Id;
//! # use as2_proto::message::outbound::{self, Compression, OutboundMessage};
//! # let mut rng = rand::rng();
//! # let mut file: &[u8] = b"ISA*00*~\n";
//! let mut message = OutboundMessage::new(As2Id::new("PartnerA")?, As2Id::new("PartnerB")?, b"");
//! message.compression = Compression::BeforeSigning;
//! let stream = outbound::start(&message, None, SystemTime::now(), &mut rng)?;
//! assert_eq!(stream.content_length(), None);
//! let headers = stream.headers().clone();
//! // The spool: a temporary file in a real sender, a vector here.
//! let mut writer = stream.into_writer(Vec::new());
//! std::io::copy(&mut file, &mut writer)?;
//! let (finished, spool) = writer.finish(&mut rng)?;
//! // POST `headers`, `Content-Length: {finished.body_len}` and the spooled body.
//! assert_eq!(finished.body_len, spool.len() as u64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io;
use std::time::SystemTime;

use rand_core::CryptoRng;

use super::headers::{
    As2Id, As2Version, DEFAULT_AS2_PRODUCT, DispositionOptions, Feature, HttpHeaders, MessageId,
    SUPPORTED_FEATURES, check_as2_product,
};
pub use super::headers::{Importance, SignedReceipt};
use crate::cert::Certificate;
use crate::cms::algorithm::DigestAlgorithm;
use crate::cms::compressed::{CompressOptions, CompressedWriter};
use crate::cms::enveloped::{EncryptOptions, EnvelopeWriter};
use crate::cms::signed::{SignOptions, Signer};
use crate::error::Error;
use crate::limits::Limit;
use crate::mic::{Mic, MicNameStyle, UnsignedMic};
use crate::smime::envelope::SmimeType;
pub use crate::smime::headers::http_date;
use crate::smime::headers::{As2HeaderBlock, ReceiptHeaders};
use crate::smime::sign::SignedWriter;

use super::related::{Attachment, RelatedWriter, header_block, part_headers};

/// Where compression sits relative to the signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (the default).
    #[default]
    None,
    /// Compress the payload, then sign the compressed entity.
    BeforeSigning,
    /// Sign the payload, then compress the signed entity.
    AfterSigning,
}

/// The receipt (MDN) to request (RFC 4130 §7.3): none, synchronous or asynchronous, each
/// signed or not.
///
/// ```
/// # use as2_proto::cms::algorithm::DigestAlgorithm;
/// # use as2_proto::message::outbound::{MdnRequest, SignedReceipt};
/// // A synchronous receipt signed with SHA-256 (both parameters `optional`).
/// let sync = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
/// // An asynchronous one whose signature is `required`.
/// let receipt = SignedReceipt::new(&[DigestAlgorithm::Sha256]).required();
/// let later = MdnRequest::asynchronous("https://as2.example.com/mdn").with_signed(receipt);
/// assert_eq!(later.async_url(), Some("https://as2.example.com/mdn"));
/// assert!(sync.signed_receipt().is_some() && later.signed_receipt().is_some());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MdnRequest {
    /// No MDN.
    #[default]
    None,
    /// A synchronous MDN, in the HTTP response.
    Sync {
        /// The signed receipt asked for; `None` asks for an unsigned one.
        signed: Option<SignedReceipt>,
    },
    /// An asynchronous MDN, POSTed later to `url` (Receipt-Delivery-Option).
    Async {
        /// Where the receiver POSTs the MDN: an absolute http(s) URL.
        url: String,
        /// The signed receipt asked for; `None` asks for an unsigned one.
        signed: Option<SignedReceipt>,
    },
}

impl MdnRequest {
    /// An unsigned synchronous MDN (add [`signed`](Self::signed) for a signed one).
    pub fn sync() -> Self {
        MdnRequest::Sync { signed: None }
    }

    /// An unsigned asynchronous MDN to `url` (add [`signed`](Self::signed) for a signed
    /// one).
    pub fn asynchronous(url: impl Into<String>) -> Self {
        MdnRequest::Async {
            url: url.into(),
            signed: None,
        }
    }

    /// The same request for a signed receipt with the MIC algorithms `micalgs` in order
    /// of preference, both parameters `optional` ([`SignedReceipt::new`]; an empty list
    /// asks for SHA-256). On [`MdnRequest::None`] it asks for a synchronous signed
    /// receipt.
    pub fn signed(self, micalgs: &[DigestAlgorithm]) -> Self {
        self.with_signed(SignedReceipt::new(micalgs))
    }

    /// The same request for the signed receipt `receipt` (e.g. one marked
    /// [`required`](SignedReceipt::required)). On [`MdnRequest::None`] it asks for a
    /// synchronous signed receipt.
    pub fn with_signed(self, receipt: SignedReceipt) -> Self {
        match self {
            MdnRequest::None | MdnRequest::Sync { .. } => MdnRequest::Sync {
                signed: Some(receipt),
            },
            MdnRequest::Async { url, .. } => MdnRequest::Async {
                url,
                signed: Some(receipt),
            },
        }
    }

    /// Whether an MDN is requested at all.
    pub fn is_requested(&self) -> bool {
        *self != MdnRequest::None
    }

    /// The signed receipt asked for, if any.
    pub fn signed_receipt(&self) -> Option<&SignedReceipt> {
        match self {
            MdnRequest::None => None,
            MdnRequest::Sync { signed } | MdnRequest::Async { signed, .. } => signed.as_ref(),
        }
    }

    /// The asynchronous MDN's URL, if one is asked for.
    pub fn async_url(&self) -> Option<&str> {
        match self {
            MdnRequest::Async { url, .. } => Some(url),
            _ => None,
        }
    }
}

/// Everything the builder needs for one message.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OutboundMessage<'a> {
    /// Our AS2 identifier (AS2-From).
    pub from: As2Id,
    /// The partner's AS2 identifier (AS2-To).
    pub to: As2Id,
    /// The file to send ([`build`]; [`start`] ignores it, the payload is pushed).
    pub payload: &'a [u8],
    /// Its MIME type (default `application/octet-stream`).
    pub content_type: String,
    /// The original file name, sent in Content-Disposition: as `filename="..."` when it is
    /// printable ASCII, else as an RFC 2231 `filename*=UTF-8''...` parameter.
    pub file_name: Option<String>,
    /// The Subject header.
    pub subject: Option<String>,
    /// Compression placement.
    pub compression: Compression,
    /// zlib level when compressing.
    pub compress_options: CompressOptions,
    /// The signer and signature options; `None` sends unsigned.
    pub signing: Option<(Signer<'a>, SignOptions)>,
    /// Recipient certificates (the partner first) and cipher options; empty sends
    /// unencrypted (allowed only over HTTPS by the reference service).
    pub encryption: (Vec<&'a Certificate>, EncryptOptions),
    /// The MDN to request, signed or not (e.g. `MdnRequest::sync().signed(&[Sha256])`).
    pub mdn: MdnRequest,
    /// The Disposition-Notification-To value (an address or URL; informative in AS2).
    pub mdn_return_to: Option<String>,
    /// Domain part of the generated Message-ID.
    pub message_id_domain: String,
    /// A caller-chosen Message-ID (kept as given); `None` generates one.
    pub message_id: Option<MessageId>,
    /// Spelling of algorithm names in `micalg` parameters.
    pub mic_style: MicNameStyle,
    /// The EDIINT-Features to advertise (RFC 6017), by default what the crate implements
    /// ([`SUPPORTED_FEATURES`]); no header is sent when the list is empty. Add a feature
    /// only if the application implements the rest of it (e.g.
    /// [`Feature::As2Reliability`] when it resends unanswered messages with the same
    /// Message-ID).
    pub features: Vec<Feature>,
    /// More files after the payload (RFC 6362 multiple attachments): with any, the
    /// payload is part 1 of a `multipart/related` entity (sent `binary`) and these are
    /// parts 2, 3, ..., all signed, compressed and encrypted together; the message then
    /// advertises [`Feature::MultipleAttachments`]. A streamed message pushes them after
    /// the payload, each begun with [`OutboundStream::next_part`]. See
    /// [`related`](super::related).
    pub attachments: Vec<Attachment<'a>>,
    /// The largest payload [`build`] and [`OutboundStream::push`] accept, all parts
    /// together (default
    /// [`Limits::default`](crate::Limits)'s `max_payload_size`; set it from
    /// [`Limits::reference`](crate::Limits::reference) for the reference's 50 MB).
    pub max_payload_size: usize,
    /// The AS2-Version to declare to this partner (default 1.2; see [`As2Version`] for
    /// why). With 1.3 the builder refuses to generate SHA-1, MD5, 3DES or RC2
    /// ([`Error::WeakAlgorithm`]) and requires [`as2_product`](Self::as2_product).
    pub as2_version: As2Version,
    /// The AS2-Product header (draft-ietf-ediint-rfc4130bis §6.2), checked by
    /// [`check_as2_product`]; default
    /// [`DEFAULT_AS2_PRODUCT`] (`as2-proto:<version>`). `None` sends none, which the
    /// draft allows below 1.3 only.
    pub as2_product: Option<String>,
    /// Our own encryption certificate, to add as a further recipient when the message is
    /// encrypted (RFC 8551 §3.3, draft-ietf-ediint-rfc4130bis §7.3.2): a copy of the
    /// content-encryption key for the originator, so that we can decrypt the copy we
    /// archive. RSA or EC. `None` (the default) adds none.
    pub originator_copy: Option<&'a Certificate>,
}

impl<'a> OutboundMessage<'a> {
    /// A message with no signature, encryption, compression or MDN request.
    pub fn new(from: As2Id, to: As2Id, payload: &'a [u8]) -> Self {
        let message_id_domain = from.message_id_domain();
        OutboundMessage {
            from,
            to,
            payload,
            content_type: "application/octet-stream".into(),
            file_name: None,
            subject: None,
            compression: Compression::None,
            compress_options: CompressOptions::default(),
            signing: None,
            encryption: (Vec::new(), EncryptOptions::default()),
            mdn: MdnRequest::None,
            mdn_return_to: None,
            message_id_domain,
            message_id: None,
            mic_style: MicNameStyle::Dashed,
            features: SUPPORTED_FEATURES.to_vec(),
            attachments: Vec::new(),
            max_payload_size: crate::limits::Limits::default().max_payload_size,
            as2_version: As2Version::default(),
            as2_product: Some(DEFAULT_AS2_PRODUCT.to_owned()),
            originator_copy: None,
        }
    }
}

/// A built message, ready to POST.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuiltMessage {
    /// HTTP headers, unfolded, in order (Content-Type included; add Content-Length from
    /// `body.len()`).
    pub headers: HttpHeaders,
    /// The exact HTTP body.
    pub body: Vec<u8>,
    /// The Message-ID sent.
    pub message_id: MessageId,
    /// The partner it was sent to (AS2-To), whose MDN it expects.
    pub to: As2Id,
    /// The MIC the returned MDN must carry, when an MDN was requested or the message was
    /// signed.
    pub mic: Option<Mic>,
    /// Whether a signed MDN was requested.
    pub signed_mdn_requested: bool,
    /// Whether the message was signed.
    pub signed: bool,
}

/// What a finished [`OutboundStream`] reports: everything [`BuiltMessage`] carries but
/// the body, which went out through [`OutboundStream::push`] and
/// [`OutboundStream::finish`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FinishedMessage {
    /// HTTP headers, unfolded, in order (Content-Type included), as
    /// [`OutboundStream::headers`] gave them.
    pub headers: HttpHeaders,
    /// The number of body octets appended by every `push` and `finish`: the
    /// Content-Length of a spooled body.
    pub body_len: u64,
    /// The Message-ID sent.
    pub message_id: MessageId,
    /// The partner it was sent to (AS2-To), whose MDN it expects.
    pub to: As2Id,
    /// The MIC the returned MDN must carry, when an MDN was requested or the message was
    /// signed.
    pub mic: Option<Mic>,
    /// Whether a signed MDN was requested.
    pub signed_mdn_requested: bool,
    /// Whether the message was signed.
    pub signed: bool,
}

/// Starts a message from the options of `message` (its `payload` field is ignored: the
/// payload is pushed with [`OutboundStream::push`]).
///
/// `payload_len` is the payload's exact length when known. With it and no compression,
/// the exact body length is known before the first octet
/// ([`OutboundStream::content_length`]); without it an envelope uses BER indefinite
/// lengths.
///
/// Checked before any work, as [`build`] does: a `payload_len` over
/// [`OutboundMessage::max_payload_size`] ([`Error::LimitExceeded`] with
/// [`Limit::PayloadSize`]), the async MDN URL (the receivers' Receipt-Delivery-Option
/// rule), a content type no receiver can parse, a file name longer than a receiver reads
/// back. Then everything that can be decided without the payload is: the signing key
/// against its certificate, the recipients' keys and key usage. `rng` supplies the
/// multipart boundary, the content key and IV, the key transport and the Message-ID;
/// the signature draws from the random source given to [`OutboundStream::finish`].
pub fn start<'a, R: CryptoRng + ?Sized>(
    message: &OutboundMessage<'a>,
    payload_len: Option<u64>,
    now: SystemTime,
    rng: &mut R,
) -> Result<OutboundStream<'a>, Error> {
    check_version_rules(message)?;
    let payload_limit = Error::LimitExceeded {
        limit: Limit::PayloadSize,
        value: message.max_payload_size,
    };
    let max_payload_size = u64::try_from(message.max_payload_size).unwrap_or(u64::MAX);
    if payload_len.is_some_and(|len| len > max_payload_size) {
        return Err(payload_limit);
    }
    // The async MDN URL by the rule receivers apply (an absolute http(s) URL, no
    // CR/LF), checked before any work.
    if let Some(url) = message.mdn.async_url() {
        super::headers::receipt_delivery_url(url.as_bytes())?.ok_or(Error::InvalidHeader {
            header: "Receipt-Delivery-Option",
            reason: "empty",
        })?;
    }
    // All parts together within the limit, where their lengths are known.
    let known_total = message
        .attachments
        .iter()
        .filter_map(|a| a.len)
        .try_fold(payload_len.unwrap_or(0), u64::checked_add);
    if known_total.is_none_or(|total| total > max_payload_size) {
        return Err(payload_limit);
    }
    // A type the receiver cannot parse would make the whole message unreadable; so would
    // a file name longer than it reads back.
    let single_headers = part_headers(
        &message.content_type,
        "binary",
        message.file_name.as_deref(),
    )?;
    // With attachments, the payload entity is `multipart/related`, whose body opens with
    // the first delimiter and part 1's header block.
    let mut related_opening = Vec::new();
    let (payload_headers, related, entity_len) = if message.attachments.is_empty() {
        (single_headers, None, payload_len)
    } else {
        let (writer, headers, len) = RelatedWriter::new(
            (&message.content_type, message.file_name.as_deref()),
            payload_len,
            &message.attachments,
            rng,
            &mut related_opening,
        )?;
        (headers, Some(writer), len)
    };
    let payload_header_block = header_block(&payload_headers)?;

    // Unsigned: the MIC with the preferred requested algorithm, over what `Mic::of_unsigned`
    // says (the payload entity when encrypted or compressed, else the payload alone, which
    // is the body as transferred: Content-Transfer-Encoding is binary).
    let wants_mdn = message.mdn.is_requested();
    let signed_receipt = message.mdn.signed_receipt();
    let (partner_recipients, encrypt_options) = &message.encryption;
    let mut recipients = partner_recipients.clone();
    if let Some(own) = message.originator_copy
        && !recipients.is_empty()
        && !recipients.iter().any(|r| r.der() == own.der())
    {
        recipients.push(own);
    }
    let unsigned_mic = (message.signing.is_none() && wants_mdn).then(|| {
        let alg = signed_receipt.map_or(DigestAlgorithm::Sha256, SignedReceipt::preferred);
        let enclosed = !recipients.is_empty() || message.compression != Compression::None;
        UnsignedMic::new(alg, enclosed.then_some(payload_header_block.as_slice()))
    });

    // The layers, inside out. Each is told the length of the entity it encloses (header
    // block and body) when that is known, and yields its own body length when it can.
    let mut plan = Vec::with_capacity(3);
    if message.compression == Compression::BeforeSigning {
        plan.push(LayerKind::Compress);
    }
    if let Some((signer, options)) = &message.signing {
        plan.push(LayerKind::Sign(*signer, options));
    }
    if message.compression == Compression::AfterSigning {
        plan.push(LayerKind::Compress);
    }
    if !recipients.is_empty() {
        plan.push(LayerKind::Encrypt);
    }
    let mut layers = Vec::with_capacity(plan.len());
    // Per layer: its entity's header block and the start of its body.
    let mut openings: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(plan.len());
    let mut entity_headers = payload_headers;
    let mut entity_header_len = payload_header_block.len();
    let mut body_len = entity_len;
    for kind in plan {
        let content_len = body_len.and_then(|len| len.checked_add(entity_header_len as u64));
        let mut opening = Vec::new();
        let (layer, headers, layer_body_len) = match kind {
            LayerKind::Compress => (
                Layer::Compress(CompressedWriter::new(
                    message.compress_options,
                    &mut opening,
                )),
                SmimeType::CompressedData.entity_headers(),
                None,
            ),
            LayerKind::Sign(signer, options) => {
                let (writer, headers, len) = SignedWriter::new(
                    signer,
                    options,
                    message.mic_style,
                    now,
                    content_len,
                    rng,
                    &mut opening,
                )?;
                (Layer::Sign(Box::new(writer)), headers, len)
            }
            LayerKind::Encrypt => {
                let writer = EnvelopeWriter::new(
                    &recipients,
                    encrypt_options,
                    content_len,
                    rng,
                    &mut opening,
                )?;
                let len = writer.encoded_len();
                let smime_type = if encrypt_options.cipher.is_authenticated() {
                    SmimeType::AuthEnvelopedData
                } else {
                    SmimeType::EnvelopedData
                };
                (
                    Layer::Encrypt(Box::new(writer)),
                    smime_type.entity_headers(),
                    len,
                )
            }
        };
        let block = header_block(&headers)?;
        entity_header_len = block.len();
        entity_headers = headers;
        body_len = layer_body_len;
        layers.push(layer);
        openings.push((block, opening));
    }

    // What precedes the first payload octet, outermost first: each layer's body opening,
    // preceded (inside an outer layer) by its entity's header block, then the payload
    // entity's header block; the outermost entity's headers travel as HTTP headers.
    let mut scratch = vec![Vec::new(); layers.len()];
    let mut head = Vec::new();
    let outermost = openings.len().saturating_sub(1);
    for (i, (block, opening)) in openings.iter().enumerate().rev() {
        let outer = layers.get_mut(i.saturating_add(1)..).unwrap_or_default();
        let outer_scratch = scratch.get_mut(i.saturating_add(1)..).unwrap_or_default();
        if i < outermost {
            feed(outer, outer_scratch, block, &mut head)?;
        }
        feed(outer, outer_scratch, opening, &mut head)?;
    }
    if !layers.is_empty() {
        feed(&mut layers, &mut scratch, &payload_header_block, &mut head)?;
    }
    let mut unsigned_mic = unsigned_mic;
    if !related_opening.is_empty() {
        if let Some(mic) = &mut unsigned_mic {
            mic.update(&related_opening);
        }
        feed(&mut layers, &mut scratch, &related_opening, &mut head)?;
    }
    let mut features = message.features.clone();
    if related.is_some() && !features.contains(&Feature::MultipleAttachments) {
        features.push(Feature::MultipleAttachments);
    }

    let message_id = match &message.message_id {
        Some(id) => id.clone(),
        None => MessageId::generate(rng, &message.message_id_domain),
    };
    let receipt = wants_mdn.then(|| ReceiptHeaders {
        return_to: message
            .mdn_return_to
            .clone()
            .unwrap_or_else(|| format!("as2@{}", message.message_id_domain)),
        options: signed_receipt
            .map(|receipt| DispositionOptions::signed_request(receipt, message.mic_style)),
        async_url: message.mdn.async_url(),
    });
    let mut headers = As2HeaderBlock {
        message_id: Some(&message_id),
        features: &features,
        subject: message.subject.as_deref(),
        receipt,
        version: message.as2_version,
        product: message.as2_product.as_deref(),
        ..As2HeaderBlock::new(&message.from, &message.to, now)
    }
    .write();
    headers.extend(entity_headers);
    Ok(OutboundStream {
        headers,
        content_length: body_len,
        message_id,
        to: message.to.clone(),
        signed_mdn_requested: signed_receipt.is_some(),
        signed: message.signing.is_some(),
        // With attachments, each part's announced length is the related writer's check.
        payload_len: if related.is_some() { None } else { payload_len },
        max_payload_size,
        payload_limit,
        pushed: 0,
        produced: 0,
        related,
        entity: Vec::new(),
        head,
        unsigned_mic,
        layers,
        scratch,
        failed: None,
    })
}

/// The rules the declared AS2-Version sets (draft-ietf-ediint-rfc4130bis §6.1, §6.2),
/// checked before any work: a valid AS2-Product, required from 1.3 on; and from 1.3 on no
/// SHA-1 signature or requested receipt MIC, and no 3DES. (MD5 and RC2 cannot be
/// generated at all.)
fn check_version_rules(message: &OutboundMessage<'_>) -> Result<(), Error> {
    let version = message.as2_version;
    match &message.as2_product {
        Some(product) => check_as2_product(product)?,
        None if version.requires_product() => {
            return Err(Error::InvalidHeader {
                header: "AS2-Product",
                reason: "required when declaring AS2-Version 1.3 or later",
            });
        }
        None => {}
    }
    if !version.forbids_weak_algorithms() {
        return Ok(());
    }
    if let Some((_, options)) = &message.signing {
        crate::error::WeakAlgorithm::check_digest(options.digest, version)?;
    }
    if let Some(receipt) = message.mdn.signed_receipt() {
        for digest in receipt.micalgs_or_default() {
            crate::error::WeakAlgorithm::check_digest(*digest, version)?;
        }
    }
    if !message.encryption.0.is_empty() {
        crate::error::WeakAlgorithm::check_cipher(message.encryption.1.cipher, version)?;
    }
    Ok(())
}

/// A message being written: the caller pushes the payload and sends the octets each call
/// appends (see the [module documentation](self) for the shape and for Content-Length).
///
/// Created by [`start`]; borrows the signer's certificate and key until
/// [`finish`](Self::finish). Besides fixed-size state (hash, cipher and zlib states, a
/// 16 KiB segment per CMS layer), it keeps one reusable buffer per layer sized by the
/// largest chunk pushed: memory follows the chunk size, never the payload size. After an
/// error the stream is spent: what was appended so far is not a message, and every later
/// call returns the same error.
pub struct OutboundStream<'a> {
    headers: HttpHeaders,
    content_length: Option<u64>,
    message_id: MessageId,
    to: As2Id,
    signed_mdn_requested: bool,
    signed: bool,
    payload_len: Option<u64>,
    max_payload_size: u64,
    payload_limit: Error,
    pushed: u64,
    produced: u64,
    /// The `multipart/related` framing around the parts, with attachments.
    related: Option<RelatedWriter>,
    /// A reusable buffer for the related writer's output.
    entity: Vec<u8>,
    /// The octets before the first payload octet, handed out by the first `push` (or by
    /// `finish`): `start` has no output buffer.
    head: Vec<u8>,
    unsigned_mic: Option<UnsignedMic>,
    /// Inside out.
    layers: Vec<Layer<'a>>,
    /// One buffer per layer for its output on the way to the next, reused.
    scratch: Vec<Vec<u8>>,
    failed: Option<Error>,
}

impl fmt::Debug for OutboundStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundStream")
            .field("message_id", &self.message_id)
            .field("content_length", &self.content_length)
            .field("payload_len", &self.payload_len)
            .field("pushed", &self.pushed)
            .field("produced", &self.produced)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<'a> OutboundStream<'a> {
    /// The HTTP headers, unfolded, in order (Content-Type included), final before the
    /// first body octet: the list [`BuiltMessage::headers`] has. Add Content-Length from
    /// [`content_length`](Self::content_length) when it is known.
    pub fn headers(&self) -> &HttpHeaders {
        &self.headers
    }

    /// The exact body length, when it can be known before the body: the payload length
    /// was announced to [`start`] and there is no compression.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The Message-ID of this message.
    pub fn message_id(&self) -> &MessageId {
        &self.message_id
    }

    /// Appends to `out` the body octets this payload chunk completes (possibly none: a
    /// cipher or zlib may hold them until more arrives or [`finish`](Self::finish)).
    ///
    /// Refuses, appending nothing, payload beyond the length announced to [`start`] or
    /// beyond [`OutboundMessage::max_payload_size`] ([`Error::LimitExceeded`] with
    /// [`Limit::PayloadSize`], the announced length or the limit as value). Fails with
    /// [`MimeError::BoundaryInPart`](crate::MimeError::BoundaryInPart) if a line of the signed entity starts with the
    /// multipart delimiter (with a 128-bit random boundary, only by design).
    pub fn push(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.push_payload(payload, out);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn push_payload(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let pushed = u64::try_from(payload.len())
            .ok()
            .and_then(|len| len.checked_add(self.pushed));
        if let Some(announced) = self.payload_len
            && pushed.is_none_or(|pushed| pushed > announced)
        {
            return Err(Error::LimitExceeded {
                limit: Limit::PayloadSize,
                value: usize::try_from(announced).unwrap_or(usize::MAX),
            });
        }
        if let Some(announced) = self
            .related
            .as_ref()
            .and_then(|r| r.over_announced(u64::try_from(payload.len()).unwrap_or(u64::MAX)))
        {
            return Err(Error::LimitExceeded {
                limit: Limit::PayloadSize,
                value: usize::try_from(announced).unwrap_or(usize::MAX),
            });
        }
        let Some(pushed) = pushed.filter(|pushed| *pushed <= self.max_payload_size) else {
            return Err(self.payload_limit.clone());
        };
        self.pushed = pushed;
        let before = out.len();
        out.append(&mut self.head);
        match self.related.as_mut() {
            None => self.emit(payload, out)?,
            Some(related) => {
                let mut entity = std::mem::take(&mut self.entity);
                entity.clear();
                let result = related
                    .push(payload, &mut entity)
                    .and_then(|()| self.emit(&entity, out));
                self.entity = entity;
                result?;
            }
        }
        self.count(out.len().saturating_sub(before));
        Ok(())
    }

    /// Passes octets of the payload entity's body to the MIC and the layers.
    fn emit(&mut self, entity: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(mic) = &mut self.unsigned_mic {
            mic.update(entity);
        }
        feed(&mut self.layers, &mut self.scratch, entity, out)
    }

    /// Ends the current part of a message with attachments and begins the next (see
    /// [`OutboundMessage::attachments`]), appending to `out` the body octets that
    /// completes; the following pushes are that part's octets.
    ///
    /// Fails with [`Error::PayloadLength`] if the part ending got fewer octets than its
    /// announced length (the payload's is `start`'s `payload_len`, an attachment's its
    /// [`Attachment::len`]), with [`Error::PartCount`] if there is no next part (or no
    /// attachments at all). After an error the stream is spent.
    pub fn next_part(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.begin_next_part(out);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn begin_next_part(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let Some(related) = self.related.as_mut() else {
            return Err(Error::PartCount {
                declared: 1,
                pushed: 2,
            });
        };
        let mut entity = std::mem::take(&mut self.entity);
        entity.clear();
        let result = related.next_part(&mut entity);
        let before = out.len();
        let result = result.and_then(|()| {
            out.append(&mut self.head);
            self.emit(&entity, out)
        });
        self.entity = entity;
        result?;
        self.count(out.len().saturating_sub(before));
        Ok(())
    }

    /// The number of parts: 1, or the payload and its attachments.
    pub fn parts(&self) -> usize {
        self.related.as_ref().map_or(1, RelatedWriter::len)
    }

    /// The part being pushed, from 0 (the payload).
    pub fn current_part(&self) -> usize {
        self.related.as_ref().map_or(0, RelatedWriter::current)
    }

    fn count(&mut self, appended: usize) {
        self.produced = self
            .produced
            .saturating_add(u64::try_from(appended).unwrap_or(u64::MAX));
    }

    /// Appends the rest of the body (the trailer: the signature part, the last cipher
    /// block, end-of-contents octets) to `out` and reports what [`BuiltMessage`] carries
    /// but the body. The signature is made here, over the digest taken as the entity
    /// passed; `rng` supplies its randomness (RSA blinding, the PSS salt).
    ///
    /// Fails with [`Error::PayloadLength`] if fewer payload octets were pushed than
    /// announced to [`start`].
    pub fn finish<R: CryptoRng + ?Sized>(
        mut self,
        out: &mut Vec<u8>,
        rng: &mut R,
    ) -> Result<FinishedMessage, Error> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        if let Some(announced) = self.payload_len
            && self.pushed != announced
        {
            return Err(Error::PayloadLength {
                announced,
                pushed: self.pushed,
            });
        }
        let before = out.len();
        out.append(&mut self.head);
        if let Some(mut related) = self.related.take() {
            let mut entity = Vec::new();
            related.finish(&mut entity)?;
            self.emit(&entity, out)?;
        }
        let mut mic = self.unsigned_mic.take().map(UnsignedMic::finish);
        // Innermost first: each trailer still passes through the layers around it.
        let mut layers = std::mem::take(&mut self.layers);
        let mut scratch = std::mem::take(&mut self.scratch);
        while !layers.is_empty() {
            let layer = layers.remove(0);
            if !scratch.is_empty() {
                scratch.remove(0);
            }
            let signed_mic = if layers.is_empty() {
                layer.finish(out, rng)?
            } else {
                let mut trailer = Vec::new();
                let signed_mic = layer.finish(&mut trailer, rng)?;
                feed(&mut layers, &mut scratch, &trailer, out)?;
                signed_mic
            };
            if signed_mic.is_some() {
                mic = signed_mic;
            }
        }
        self.count(out.len().saturating_sub(before));
        debug_assert!(
            self.content_length
                .is_none_or(|announced| announced == self.produced),
            "announced {:?}, produced {}",
            self.content_length,
            self.produced
        );
        Ok(FinishedMessage {
            headers: self.headers,
            body_len: self.produced,
            message_id: self.message_id,
            to: self.to,
            mic,
            signed_mdn_requested: self.signed_mdn_requested,
            signed: self.signed,
        })
    }

    /// A [`std::io::Write`] adapter: every write pushes payload and writes the body octets
    /// it completes to `body`; [`BodyWriter::finish`] writes the trailer. For spooling a
    /// body whose length is not known in advance (to a file, say) and sending it with
    /// [`FinishedMessage::body_len`] as Content-Length, or for any `Write` transport.
    ///
    /// The library itself still does no I/O: it only calls `body`'s methods. Errors of the
    /// stream arrive as [`io::Error`]s of kind [`io::ErrorKind::Other`] wrapping the
    /// [`Error`] (`error.get_ref()` and `downcast_ref::<as2_proto::Error>()` recover it).
    pub fn into_writer<W: io::Write>(self, body: W) -> BodyWriter<'a, W> {
        BodyWriter {
            stream: self,
            body,
            buffer: Vec::new(),
        }
    }
}

/// The [`std::io::Write`] adapter of [`OutboundStream::into_writer`]: payload written
/// in, body octets written out to the inner writer.
#[derive(Debug)]
pub struct BodyWriter<'a, W> {
    stream: OutboundStream<'a>,
    body: W,
    buffer: Vec<u8>,
}

impl<'a, W: io::Write> BodyWriter<'a, W> {
    /// The stream (for its headers, Message-ID and content length).
    pub fn stream(&self) -> &OutboundStream<'a> {
        &self.stream
    }

    /// Writes the trailer and flushes the inner writer; returns what the stream reports
    /// and the inner writer.
    pub fn finish<R: CryptoRng + ?Sized>(
        mut self,
        rng: &mut R,
    ) -> io::Result<(FinishedMessage, W)> {
        self.buffer.clear();
        let finished = self
            .stream
            .finish(&mut self.buffer, rng)
            .map_err(io::Error::other)?;
        self.body.write_all(&self.buffer)?;
        self.body.flush()?;
        Ok((finished, self.body))
    }
}

impl<W: io::Write> io::Write for BodyWriter<'_, W> {
    /// Pushes all of `payload` and writes what it completes; a failed inner write leaves
    /// the body incomplete (start over).
    fn write(&mut self, payload: &[u8]) -> io::Result<usize> {
        self.buffer.clear();
        self.stream
            .push(payload, &mut self.buffer)
            .map_err(io::Error::other)?;
        self.body.write_all(&self.buffer)?;
        Ok(payload.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.body.flush()
    }
}

/// How much payload [`build`] pushes at a time: the layers' buffers stay this small.
const BUILD_CHUNK: usize = 64 * 1024;

/// Builds the message whole: [`start`] with the payload's length, [`OutboundStream::push`]
/// in chunks, [`OutboundStream::finish`]. A payload over
/// [`OutboundMessage::max_payload_size`] is refused first, before any work
/// ([`Error::LimitExceeded`] with [`Limit::PayloadSize`]).
pub fn build<R: CryptoRng + ?Sized>(
    message: &OutboundMessage<'_>,
    now: SystemTime,
    rng: &mut R,
) -> Result<BuiltMessage, Error> {
    let payload_len = u64::try_from(message.payload.len()).unwrap_or(u64::MAX);
    let mut stream = start(message, Some(payload_len), now, rng)?;
    let capacity = stream
        .content_length()
        .and_then(|len| usize::try_from(len).ok())
        .unwrap_or(message.payload.len() / 2);
    let mut body = Vec::with_capacity(capacity);
    for chunk in message.payload.chunks(BUILD_CHUNK) {
        stream.push(chunk, &mut body)?;
    }
    for attachment in &message.attachments {
        stream.next_part(&mut body)?;
        for chunk in attachment.data.chunks(BUILD_CHUNK) {
            stream.push(chunk, &mut body)?;
        }
    }
    let finished = stream.finish(&mut body, rng)?;
    Ok(BuiltMessage {
        headers: finished.headers,
        body,
        message_id: finished.message_id,
        to: finished.to,
        mic: finished.mic,
        signed_mdn_requested: finished.signed_mdn_requested,
        signed: finished.signed,
    })
}

/// A layer to apply, before it is started.
enum LayerKind<'m, 'a> {
    Compress,
    Sign(Signer<'a>, &'m SignOptions),
    Encrypt,
}

/// One layer of a message being written.
enum Layer<'a> {
    /// CompressedData (RFC 5402), BER.
    Compress(CompressedWriter),
    /// `multipart/signed` (boxed, as the envelope: both are several times the size of
    /// the compressor's state handle).
    Sign(Box<SignedWriter<'a>>),
    /// EnvelopedData.
    Encrypt(Box<EnvelopeWriter>),
}

impl Layer<'_> {
    /// Appends the layer's trailer; a signature layer returns its MIC.
    fn finish<R: CryptoRng + ?Sized>(
        self,
        out: &mut Vec<u8>,
        rng: &mut R,
    ) -> Result<Option<Mic>, Error> {
        match self {
            Layer::Compress(writer) => writer.finish(out).map(|()| None),
            Layer::Sign(writer) => writer.finish(out, rng).map(Some),
            Layer::Encrypt(writer) => writer.finish(out).map(|()| None),
        }
    }
}

/// Passes `data` (content of `layers[0]`) through `layers`, inside out, appending what
/// comes out of the outermost to `out` (`data` itself when there is no layer).
/// `scratch` holds one reusable buffer per layer.
fn feed(
    layers: &mut [Layer<'_>],
    scratch: &mut [Vec<u8>],
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let (Some((layer, outer)), Some((buffer, outer_scratch))) =
        (layers.split_first_mut(), scratch.split_first_mut())
    else {
        out.extend_from_slice(data);
        return Ok(());
    };
    match layer {
        // A signature reads its content; the content goes on unchanged.
        Layer::Sign(writer) => {
            writer.push(data)?;
            return feed(outer, outer_scratch, data, out);
        }
        Layer::Compress(writer) if outer.is_empty() => return writer.push(data, out),
        Layer::Encrypt(writer) if outer.is_empty() => return writer.push(data, out),
        Layer::Compress(writer) => {
            buffer.clear();
            writer.push(data, buffer)?;
        }
        Layer::Encrypt(writer) => {
            buffer.clear();
            writer.push(data, buffer)?;
        }
    }
    feed(outer, outer_scratch, buffer, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::unix_time;
    use crate::mime;

    /// Each MDN request writes its headers, `required` when asked; asking for a signed
    /// receipt asks for a receipt.
    #[test]
    fn mdn_requests_write_their_headers() {
        use rand_chacha::rand_core::SeedableRng;
        let from = As2Id::new("A").unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let url = "https://a.example/mdn";
        let required = SignedReceipt::new(&[DigestAlgorithm::Sha256]).required();
        let cases = [
            (MdnRequest::None, None, None, None),
            (MdnRequest::sync(), Some("as2@A"), None, None),
            (
                MdnRequest::sync().signed(&[DigestAlgorithm::Sha384, DigestAlgorithm::Sha1]),
                Some("as2@A"),
                Some(
                    "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-384, sha-1",
                ),
                None,
            ),
            (
                MdnRequest::None.signed(&[DigestAlgorithm::Sha256]),
                Some("as2@A"),
                Some(
                    "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256",
                ),
                None,
            ),
            (
                MdnRequest::asynchronous(url),
                Some("as2@A"),
                None,
                Some(url),
            ),
            (
                MdnRequest::asynchronous(url).with_signed(required.clone()),
                Some("as2@A"),
                Some(
                    "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, sha-256",
                ),
                Some(url),
            ),
        ];
        for (mdn, to, options, delivery) in cases {
            let mut message = OutboundMessage::new(from.clone(), from.clone(), b"x");
            message.mdn = mdn.clone();
            let built = build(&message, crate::cert::unix_time(0), &mut rng).unwrap();
            let h = &built.headers;
            assert_eq!(h.get_str("Disposition-Notification-To"), to, "{mdn:?}");
            assert_eq!(
                h.get_str("Disposition-Notification-Options"),
                options,
                "{mdn:?}"
            );
            assert_eq!(h.get_str("Receipt-Delivery-Option"), delivery, "{mdn:?}");
            assert_eq!(built.signed_mdn_requested, options.is_some(), "{mdn:?}");
            // The unsigned message's MIC uses the first algorithm asked for.
            let expected = mdn
                .signed_receipt()
                .map_or(DigestAlgorithm::Sha256, SignedReceipt::preferred);
            assert_eq!(
                built.mic.map(|m| m.algorithm),
                mdn.is_requested().then_some(expected),
                "{mdn:?}"
            );
        }
        // The async URL is checked whether or not the receipt is signed.
        let mut message = OutboundMessage::new(from.clone(), from, b"x");
        message.mdn = MdnRequest::asynchronous("http://a/\r\nX: y").with_signed(required);
        assert!(matches!(
            build(&message, crate::cert::unix_time(0), &mut rng),
            Err(Error::InvalidHeader {
                header: "Receipt-Delivery-Option",
                ..
            })
        ));
    }

    #[test]
    fn refuses_a_content_type_no_receiver_can_parse() {
        // Found by the inbound_built fuzz target: the receiver (this crate too) failed on
        // the MIME headers of the decrypted entity.
        let from = As2Id::new("A").unwrap();
        let mut message = OutboundMessage::new(from.clone(), from, b"x");
        message.content_type = "l\u{1}\u{3}I".into();
        let mut rng =
            <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(7);
        assert_eq!(
            build(&message, unix_time(0), &mut rng).unwrap_err(),
            Error::InvalidHeader {
                header: "Content-Type",
                reason: "the payload's content type is not a valid MIME type",
            }
        );
    }

    #[test]
    fn refuses_a_file_name_the_receiver_would_not_read() {
        let from = As2Id::new("A").unwrap();
        let mut rng =
            <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(7);
        let mut message = OutboundMessage::new(from.clone(), from, b"x");
        message.file_name = Some("é".repeat(mime::MAX_PARAM_VALUE_LEN / 2));
        assert!(build(&message, unix_time(0), &mut rng).is_ok());
        message.file_name = Some("é".repeat(mime::MAX_PARAM_VALUE_LEN / 2 + 1));
        assert_eq!(
            build(&message, unix_time(0), &mut rng).unwrap_err(),
            Error::InvalidHeader {
                header: "Content-Disposition",
                reason: "the file name is longer than 1024 bytes",
            }
        );
    }

    #[test]
    fn quoting() {
        let quote = |v| mime::file_name_param("filename", v);
        assert_eq!(quote(r#"a "b".edi"#), r#"filename="a \"b\".edi""#);
        assert_eq!(quote("x\r\ny"), "filename=\"xy\"");
        // Found by the inbound_built fuzz target: a NUL went out in an HTTP header.
        assert_eq!(quote("x\0y"), "filename=\"xy\"");
    }

    /// The `io::Write` adapter writes what `push` and `finish` append (the same bytes as
    /// `build` for the same seed) and reports the stream's errors inside `io::Error`.
    #[test]
    fn body_writer_spools_the_body() {
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng;
        use std::io::Write;
        let (cert, key) = doc_party();
        let now = unix_time(1_800_000_000);
        let payload = b"ISA*00*~\n".repeat(5000);
        let mut message = message(&cert, &key, 1 | 2 | 16);
        message.payload = &payload;
        let built = build(&message, now, &mut ChaCha20Rng::seed_from_u64(6)).unwrap();

        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let stream = start(&message, Some(payload.len() as u64), now, &mut rng).unwrap();
        let mut writer = stream.into_writer(Vec::new());
        assert_eq!(
            writer.stream().content_length(),
            Some(built.body.len() as u64)
        );
        std::io::copy(&mut payload.as_slice(), &mut writer).unwrap();
        let (finished, spool) = writer.finish(&mut rng).unwrap();
        assert!(spool == built.body);
        assert_eq!(finished.body_len, spool.len() as u64);
        assert_eq!(finished.mic, built.mic);

        let stream = start(&message, Some(3), now, &mut rng).unwrap();
        let mut writer = stream.into_writer(Vec::new());
        let error = writer.write_all(b"four").unwrap_err();
        assert_eq!(
            error.get_ref().and_then(|e| e.downcast_ref::<Error>()),
            Some(&Error::LimitExceeded {
                limit: Limit::PayloadSize,
                value: 3
            })
        );
    }

    /// A stream can move to another thread (an async task, a worker).
    #[test]
    fn streams_are_send() {
        fn send<T: Send>() {}
        send::<OutboundStream<'static>>();
        send::<BodyWriter<'static, Vec<u8>>>();
    }

    fn doc_party() -> (Certificate, crate::PrivateKey) {
        (
            Certificate::from_pem(include_bytes!("../../tests/data/keys/doc.crt")).unwrap(),
            crate::PrivateKey::from_pem(include_bytes!("../../tests/data/keys/doc.key"), None)
                .unwrap(),
        )
    }

    /// A message with the options `flags` picks (bits: sign, encrypt, compress before,
    /// compress after, MDN), over the doc key for both parties.
    fn message<'a>(
        cert: &'a Certificate,
        key: &'a crate::PrivateKey,
        flags: u8,
    ) -> OutboundMessage<'a> {
        let from = As2Id::new("A").unwrap();
        let mut message = OutboundMessage::new(from.clone(), from, b"");
        if flags & 1 != 0 {
            message.signing = Some((Signer::new(cert, key), SignOptions::default()));
        }
        if flags & 2 != 0 {
            message.encryption.0 = vec![cert];
        }
        if flags & 4 != 0 {
            message.compression = Compression::BeforeSigning;
        } else if flags & 8 != 0 {
            message.compression = Compression::AfterSigning;
        }
        if flags & 16 != 0 {
            message.mdn = MdnRequest::sync();
        }
        message
    }

    /// More payload than announced is refused when pushed, consuming nothing; less is
    /// refused by `finish`; over the limit is refused by `start` (announced) or `push`
    /// (not announced). After an error the stream keeps failing the same way.
    #[test]
    fn pushing_more_or_less_than_announced_fails() {
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng;
        let (cert, key) = doc_party();
        let now = unix_time(1_800_000_000);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for flags in [0, 1, 3, 7, 11, 18] {
            let message = message(&cert, &key, flags);
            let mut stream = start(&message, Some(5), now, &mut rng).unwrap();
            let mut out = Vec::new();
            stream.push(b"abc", &mut out).unwrap();
            let before = out.len();
            let too_many = Error::LimitExceeded {
                limit: Limit::PayloadSize,
                value: 5,
            };
            assert_eq!(stream.push(b"def", &mut out).unwrap_err(), too_many);
            assert_eq!(out.len(), before, "{flags}");
            assert_eq!(stream.push(b"d", &mut out).unwrap_err(), too_many);
            assert_eq!(stream.finish(&mut out, &mut rng).unwrap_err(), too_many);

            let mut stream = start(&message, Some(5), now, &mut rng).unwrap();
            stream.push(b"abcd", &mut out).unwrap();
            assert_eq!(
                stream.finish(&mut out, &mut rng).unwrap_err(),
                Error::PayloadLength {
                    announced: 5,
                    pushed: 4
                }
            );
            let stream = start(&message, Some(1), now, &mut rng).unwrap();
            assert_eq!(
                stream.finish(&mut out, &mut rng).unwrap_err(),
                Error::PayloadLength {
                    announced: 1,
                    pushed: 0
                }
            );

            let mut limited = message.clone();
            limited.max_payload_size = 4;
            let over = Error::LimitExceeded {
                limit: Limit::PayloadSize,
                value: 4,
            };
            assert_eq!(start(&limited, Some(5), now, &mut rng).unwrap_err(), over);
            let mut stream = start(&limited, None, now, &mut rng).unwrap();
            stream.push(b"ab", &mut out).unwrap();
            stream.push(b"cd", &mut out).unwrap();
            assert_eq!(stream.push(b"e", &mut out).unwrap_err(), over);
        }
    }

    /// A tiny xorshift for chunk sizes.
    fn cuts(seed: u64, len: usize) -> Vec<usize> {
        let mut state = seed | 1;
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let step = match state % 4 {
                0 => 1,
                1 => (state >> 8) as usize % 17,
                2 => (state >> 8) as usize % 20_000,
                _ => len,
            };
            at = (at + step).min(len);
            cuts.push(at);
        }
        cuts
    }

    /// Streams `payload` cut at `cuts` and returns headers, body and what `finish`
    /// reported, checking the announced length against the body.
    fn stream_message(
        message: &OutboundMessage<'_>,
        payload: &[u8],
        announce: bool,
        cuts: &[usize],
        seed: u64,
    ) -> Result<(Option<u64>, Vec<u8>, FinishedMessage), Error> {
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let now = unix_time(1_800_000_000);
        let mut stream = start(
            message,
            announce.then_some(payload.len() as u64),
            now,
            &mut rng,
        )?;
        let content_length = stream.content_length();
        let mut body = Vec::new();
        let mut at = 0;
        for &cut in cuts {
            stream.push(&payload[at..cut], &mut body)?;
            at = cut;
        }
        let finished = stream.finish(&mut body, &mut rng)?;
        assert_eq!(finished.body_len, body.len() as u64);
        if let Some(len) = content_length {
            assert_eq!(len, body.len() as u64);
        }
        Ok((content_length, body, finished))
    }

    /// For every layering, any cutting of the payload gives the bytes `build` gives (the
    /// same seed), with and without an announced length; the length is known exactly when
    /// announced and uncompressed.
    #[test]
    fn every_cutting_gives_the_built_message() {
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng;
        let (cert, key) = doc_party();
        let now = unix_time(1_800_000_000);
        let payload: Vec<u8> = (0..70_000u32).map(|i| (i * 31 % 253) as u8).collect();
        for flags in 0..32u8 {
            if flags & 12 == 12 {
                continue;
            }
            let mut message = message(&cert, &key, flags);
            message.payload = &payload;
            let built = build(&message, now, &mut ChaCha20Rng::seed_from_u64(4)).unwrap();
            let compressed = flags & 12 != 0;
            for (i, announce) in [true, false, true, false].into_iter().enumerate() {
                let cuts = cuts(u64::from(flags) * 10 + i as u64, payload.len());
                let (content_length, body, finished) =
                    stream_message(&message, &payload, announce, &cuts, 4).unwrap();
                assert_eq!(finished.headers, built.headers, "{flags}");
                assert_eq!(finished.mic, built.mic, "{flags}");
                assert_eq!(
                    content_length.is_some(),
                    announce && !compressed,
                    "{flags} {announce}"
                );
                // Without the length an envelope around uncompressed content is BER, not
                // DER; otherwise the bytes are the same.
                if announce || compressed || flags & 2 == 0 {
                    assert!(body == built.body, "{flags} {announce} {i}");
                }
            }
        }
    }
}
