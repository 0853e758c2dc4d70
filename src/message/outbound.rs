//! The outbound builder: payload in, HTTP headers and body out (RFC 4130 §5, RFC 5402).
//!
//! Layers are applied inside out: the payload entity, optional compression, optional
//! `multipart/signed`, optional compression of the signed entity, optional encryption. The
//! outermost entity's headers become HTTP headers and its body the HTTP body, always with
//! an exact length so the caller can send a Content-Length (many partners reject chunked
//! requests).

use std::borrow::Cow;
use std::time::SystemTime;

use rand_core::CryptoRng;

use super::headers::{
    AS2_VERSION, As2Id, DispositionOptions, EdiintFeatures, Feature, MessageId, SUPPORTED_FEATURES,
};
use crate::cert::Certificate;
use crate::cms::algorithm::DigestAlgorithm;
use crate::cms::compressed::{self, CompressOptions};
use crate::cms::enveloped::{self, EncryptOptions};
use crate::cms::signed::{self, SignOptions, Signer};
use crate::error::Error;
use crate::mic::{Mic, MicNameStyle, UnsignedPayload};
use crate::mime;

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

/// The receipt (MDN) to request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MdnRequest {
    /// No MDN.
    #[default]
    None,
    /// A synchronous MDN, in the HTTP response.
    Sync,
    /// An asynchronous MDN, POSTed later to this URL (Receipt-Delivery-Option).
    Async(String),
}

/// Everything the builder needs for one message.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OutboundMessage<'a> {
    /// Our AS2 identifier (AS2-From).
    pub from: As2Id,
    /// The partner's AS2 identifier (AS2-To).
    pub to: As2Id,
    /// The file to send.
    pub payload: &'a [u8],
    /// Its MIME type (default `application/octet-stream`).
    pub content_type: String,
    /// The original file name, sent in Content-Disposition: as `filename="..."` when it is
    /// printable ASCII, else as an RFC 2231 `filename*=UTF-8''...` parameter (see
    /// [`mime::file_name_param`]).
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
    /// The MDN to request.
    pub mdn: MdnRequest,
    /// Whether the MDN should be signed, and the MIC algorithms to offer in order of
    /// preference (empty means unsigned MDN).
    pub signed_mdn_micalgs: Vec<DigestAlgorithm>,
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
    /// The largest payload [`build`] accepts (default
    /// [`Limits::default`](crate::Limits)'s `max_payload_size`; set it from
    /// [`Limits::reference`](crate::Limits::reference) for the reference's 50 MB).
    pub max_payload_size: usize,
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
            signed_mdn_micalgs: Vec::new(),
            mdn_return_to: None,
            message_id_domain,
            message_id: None,
            mic_style: MicNameStyle::Dashed,
            features: SUPPORTED_FEATURES.to_vec(),
            max_payload_size: crate::limits::Limits::default().max_payload_size,
        }
    }
}

/// A built message, ready to POST.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuiltMessage {
    /// HTTP headers, unfolded, in order (Content-Type included; add Content-Length from
    /// `body.len()`).
    pub headers: Vec<(String, String)>,
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

/// A MIME entity under construction: header lines, and a body kept as consecutive
/// pieces so that the payload is never copied between layers. It is hashed where it lies
/// and copied once, into the output (the envelope, or the body of an unencrypted message).
pub(crate) struct Entity<'a> {
    headers: Vec<(String, String)>,
    body: Vec<Cow<'a, [u8]>>,
}

impl<'a> Entity<'a> {
    /// The header lines and the body.
    pub(crate) fn into_parts(self) -> (Vec<(String, String)>, Vec<u8>) {
        let body = concat(&self.body);
        (self.headers, body)
    }

    /// The whole entity as pieces: the header block with CRLF line ends and the blank
    /// line, then the body's pieces.
    fn into_pieces(self) -> Result<Vec<Cow<'a, [u8]>>, Error> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut pieces = Vec::with_capacity(self.body.len().saturating_add(1));
        pieces.push(Cow::Owned(mime::write_entity(&headers, &[])?));
        pieces.extend(self.body);
        Ok(pieces)
    }

    /// The whole entity in one buffer.
    fn into_bytes(self) -> Result<Vec<u8>, Error> {
        Ok(concat(&self.into_pieces()?))
    }
}

fn concat(pieces: &[Cow<'_, [u8]>]) -> Vec<u8> {
    let len = pieces
        .iter()
        .map(|p| p.len())
        .fold(0, usize::saturating_add);
    let mut out = Vec::with_capacity(len);
    for piece in pieces {
        out.extend_from_slice(piece);
    }
    out
}

fn smime_entity<'a>(smime_type: &str, file: &str, body: Vec<u8>) -> Entity<'a> {
    Entity {
        headers: vec![
            (
                "Content-Type".into(),
                format!("application/pkcs7-mime; smime-type={smime_type}; name=\"{file}\""),
            ),
            ("Content-Transfer-Encoding".into(), "binary".into()),
            (
                "Content-Disposition".into(),
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body: vec![Cow::Owned(body)],
    }
}

/// A multipart boundary from the caller's random source.
pub(crate) fn boundary<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    mime::generate_boundary(&bytes)
}

/// Builds `multipart/signed` around `entity` (RFC 1847 / RFC 5751 §3.4.3), returning the
/// signed entity and the MIC (the signature's message digest over the entity).
pub(crate) fn sign_entity<'a, R: CryptoRng + ?Sized>(
    entity: &'a [u8],
    signer: &Signer<'_>,
    options: &SignOptions,
    style: MicNameStyle,
    now: SystemTime,
    rng: &mut R,
) -> Result<(Entity<'a>, Mic), Error> {
    sign_pieces(
        vec![Cow::Borrowed(entity)],
        signer,
        options,
        style,
        now,
        rng,
    )
}

/// [`sign_entity`] for an entity given as pieces. The entity is hashed once, piece by
/// piece; that digest is both the signature's message-digest attribute and the MIC.
fn sign_pieces<'a, R: CryptoRng + ?Sized>(
    entity: Vec<Cow<'a, [u8]>>,
    signer: &Signer<'_>,
    options: &SignOptions,
    style: MicNameStyle,
    now: SystemTime,
    rng: &mut R,
) -> Result<(Entity<'a>, Mic), Error> {
    let mut hasher = options.digest.hasher();
    for piece in &entity {
        hasher.update(piece);
    }
    let digest = hasher.finish();
    let signature = signed::sign_detached_digest(&digest, signer, options, now, rng)?;
    let mic = Mic {
        algorithm: options.digest,
        digest,
    };
    let boundary = boundary(rng);
    if has_delimiter_line(&entity, boundary.as_bytes()) {
        return Err(mime::MimeError::BoundaryInPart { index: 0 }.into());
    }
    let sig_part = Entity {
        headers: vec![
            (
                "Content-Type".into(),
                "application/pkcs7-signature; name=\"smime.p7s\"".into(),
            ),
            ("Content-Transfer-Encoding".into(), "base64".into()),
            (
                "Content-Disposition".into(),
                "attachment; filename=\"smime.p7s\"".into(),
            ),
        ],
        body: vec![Cow::Owned(
            mime::base64_encode_mime(&signature).into_bytes(),
        )],
    }
    .into_bytes()?;
    // The layout of mime::write_multipart: `--b CRLF part CRLF --b CRLF part CRLF --b-- CRLF`.
    let mut body = Vec::with_capacity(entity.len().saturating_add(3));
    body.push(Cow::Owned(format!("--{boundary}\r\n").into_bytes()));
    body.extend(entity);
    body.push(Cow::Owned(format!("\r\n--{boundary}\r\n").into_bytes()));
    body.push(Cow::Owned(sig_part));
    body.push(Cow::Owned(format!("\r\n--{boundary}--\r\n").into_bytes()));
    let headers: Vec<(String, String)> = vec![(
        "Content-Type".into(),
        format!(
            "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg={}; boundary=\"{}\"",
            options.digest.mic_name(style),
            boundary
        ),
    )];
    Ok((Entity { headers, body }, mic))
}

/// The entity streamed through the compressor, piece by piece.
fn compress_entity(entity: Entity<'_>, options: CompressOptions) -> Result<Vec<u8>, Error> {
    let pieces = entity.into_pieces()?;
    let pieces: Vec<&[u8]> = pieces.iter().map(|p| &**p).collect();
    Ok(compressed::compress_pieces(&pieces, options))
}

/// Whether a line of the entity starts with `--boundary` (which would end the part
/// early). Every piece of an entity we build starts at a line start (pieces before it end
/// with a line break, or it is the first), so each piece is searched on its own.
fn has_delimiter_line(pieces: &[Cow<'_, [u8]>], boundary: &[u8]) -> bool {
    let mut marker = Vec::with_capacity(boundary.len().saturating_add(2));
    marker.extend_from_slice(b"--");
    marker.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&marker);
    pieces.iter().any(|piece| {
        finder
            .find_iter(piece)
            .any(|i| i == 0 || i.checked_sub(1).and_then(|j| piece.get(j)) == Some(&b'\n'))
    })
}

/// Builds the message. A payload over [`OutboundMessage::max_payload_size`] is refused
/// first, before any work ([`Error::LimitExceeded`] with [`Limit::PayloadSize`](crate::Limit::PayloadSize)).
pub fn build<R: CryptoRng + ?Sized>(
    message: &OutboundMessage<'_>,
    now: SystemTime,
    rng: &mut R,
) -> Result<BuiltMessage, Error> {
    if message.payload.len() > message.max_payload_size {
        return Err(Error::LimitExceeded {
            limit: crate::limits::Limit::PayloadSize,
            value: message.max_payload_size,
        });
    }
    // The async MDN URL by the rule receivers apply (an absolute http(s) URL, no
    // CR/LF), checked before any work.
    if let MdnRequest::Async(url) = &message.mdn {
        super::headers::receipt_delivery_url(url.as_bytes())?.ok_or(Error::InvalidHeader {
            header: "Receipt-Delivery-Option",
            reason: "empty",
        })?;
    }
    // A type the receiver cannot parse would make the whole message unreadable.
    mime::ContentType::parse(message.content_type.as_bytes()).map_err(|_| {
        Error::InvalidHeader {
            header: "Content-Type",
            reason: "the payload's content type is not a valid MIME type",
        }
    })?;
    let mut payload_headers = vec![
        ("Content-Type".to_owned(), message.content_type.clone()),
        ("Content-Transfer-Encoding".to_owned(), "binary".to_owned()),
    ];
    if let Some(name) = &message.file_name {
        // What the receiver reads back (this crate's included).
        const _: () = assert!(mime::MAX_PARAM_VALUE_LEN == 1024, "fix the reason below");
        if name.len() > mime::MAX_PARAM_VALUE_LEN {
            return Err(Error::InvalidHeader {
                header: "Content-Disposition",
                reason: "the file name is longer than 1024 bytes",
            });
        }
        payload_headers.push((
            "Content-Disposition".into(),
            format!("attachment; {}", mime::file_name_param("filename", name)),
        ));
    }
    let mut entity = Entity {
        headers: payload_headers,
        body: vec![Cow::Borrowed(message.payload)],
    };
    // Unsigned: the MIC with the preferred requested algorithm, over what `Mic::of_unsigned`
    // says (the payload entity when encrypted or compressed, else the payload alone, which
    // is the body as transferred: Content-Transfer-Encoding is binary).
    let mut mic = None;
    let wants_mdn = message.mdn != MdnRequest::None;
    if message.signing.is_none() && wants_mdn {
        let alg = message
            .signed_mdn_micalgs
            .first()
            .copied()
            .unwrap_or(DigestAlgorithm::Sha256);
        let enclosed = !message.encryption.0.is_empty() || message.compression != Compression::None;
        mic = Some(if enclosed {
            let headers: Vec<(&str, &str)> = entity
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let header_block = mime::write_entity(&headers, &[])?;
            Mic::of_unsigned(
                alg,
                UnsignedPayload::Enclosed(&[&header_block, message.payload]),
            )
        } else {
            Mic::of_unsigned(
                alg,
                UnsignedPayload::Message {
                    body: message.payload,
                },
            )
        });
    }
    if message.compression == Compression::BeforeSigning {
        entity = smime_entity(
            "compressed-data",
            "smime.p7z",
            compress_entity(entity, message.compress_options)?,
        );
    }
    if let Some((signer, options)) = &message.signing {
        let (signed_entity, signed_mic) = sign_pieces(
            entity.into_pieces()?,
            signer,
            options,
            message.mic_style,
            now,
            rng,
        )?;
        mic = Some(signed_mic);
        entity = signed_entity;
    }
    if message.compression == Compression::AfterSigning {
        entity = smime_entity(
            "compressed-data",
            "smime.p7z",
            compress_entity(entity, message.compress_options)?,
        );
    }
    let (recipients, encrypt_options) = &message.encryption;
    if !recipients.is_empty() {
        let pieces = entity.into_pieces()?;
        let pieces: Vec<&[u8]> = pieces.iter().map(|p| &**p).collect();
        entity = smime_entity(
            "enveloped-data",
            "smime.p7m",
            enveloped::encrypt_pieces(&pieces, recipients, encrypt_options, rng)?,
        );
    }

    let message_id = match &message.message_id {
        Some(id) => id.clone(),
        None => MessageId::generate(rng, &message.message_id_domain),
    };
    let mut headers = vec![("AS2-Version".to_owned(), AS2_VERSION.to_owned())];
    if let Some(features) = EdiintFeatures(message.features.clone()).to_header() {
        headers.push(("EDIINT-Features".to_owned(), features));
    }
    headers.extend([
        ("AS2-From".to_owned(), message.from.to_header()),
        ("AS2-To".to_owned(), message.to.to_header()),
        ("Message-ID".to_owned(), message_id.as_str().to_owned()),
        ("Date".to_owned(), http_date(now)),
        ("MIME-Version".to_owned(), "1.0".to_owned()),
    ]);
    if let Some(subject) = &message.subject {
        headers.push(("Subject".into(), sanitize_header_value(subject)));
    }
    if wants_mdn {
        let to = message
            .mdn_return_to
            .clone()
            .unwrap_or_else(|| format!("as2@{}", message.message_id_domain));
        headers.push(("Disposition-Notification-To".into(), to));
        if !message.signed_mdn_micalgs.is_empty() {
            headers.push((
                "Disposition-Notification-Options".into(),
                DispositionOptions::signed_request(&message.signed_mdn_micalgs, message.mic_style),
            ));
        }
        if let MdnRequest::Async(url) = &message.mdn {
            headers.push(("Receipt-Delivery-Option".into(), url.clone()));
        }
    }
    // The outermost body: moved when it is one owned buffer (an envelope, compressed
    // data), else the pieces are copied into place once.
    let (entity_headers, body) = match <[_; 1]>::try_from(entity.body) {
        Ok([Cow::Owned(body)]) => (entity.headers, body),
        Ok([piece]) => (entity.headers, piece.into_owned()),
        Err(pieces) => (entity.headers, concat(&pieces)),
    };
    headers.extend(entity_headers);
    Ok(BuiltMessage {
        headers,
        body,
        message_id,
        to: message.to.clone(),
        mic,
        signed_mdn_requested: wants_mdn && !message.signed_mdn_micalgs.is_empty(),
        signed: message.signing.is_some(),
    })
}

/// Drops CR, LF and NUL so a caller's text cannot inject or fold headers.
pub(crate) fn sanitize_header_value(value: &str) -> String {
    value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect()
}

/// An RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        .get((days % 7) as usize)
        .copied()
        .unwrap_or("Thu");
    let (year, month, day) = crate::time::civil_from_days(days as i64);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get(usize::try_from(month.saturating_sub(1)).unwrap_or(0))
    .copied()
    .unwrap_or("Jan");
    format!("{weekday}, {day:02} {month_name} {year} {hour:02}:{minute:02}:{second:02} GMT")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::unix_time;

    #[test]
    fn http_dates() {
        assert_eq!(
            http_date(unix_time(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(http_date(unix_time(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(unix_time(1_709_164_800)),
            "Thu, 29 Feb 2024 00:00:00 GMT"
        );
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
        assert_eq!(sanitize_header_value("a\0b\r\nc"), "abc");
    }

    #[test]
    fn delimiter_lines_only_at_line_starts() {
        let pieces = |list: &[&'static [u8]]| -> Vec<Cow<'static, [u8]>> {
            list.iter().map(|p| Cow::Borrowed(*p)).collect()
        };
        assert!(has_delimiter_line(&pieces(&[b"--b1\r\n"]), b"b1"));
        assert!(has_delimiter_line(
            &pieces(&[b"H: v\r\n\r\n", b"x\n--b1"]),
            b"b1"
        ));
        assert!(has_delimiter_line(
            &pieces(&[b"H: v\r\n\r\n", b"--b1--"]),
            b"b1"
        ));
        assert!(!has_delimiter_line(
            &pieces(&[b"x--b1\r\n", b"a --b1"]),
            b"b1"
        ));
        assert!(!has_delimiter_line(&pieces(&[b"-b1\n--b2"]), b"b1"));
    }

    /// The pieces-based signer writes exactly what signing the whole entity and
    /// `mime::write_multipart` write, and its MIC is the signature's digest.
    #[test]
    fn signing_pieces_matches_the_contiguous_layout() {
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng;
        let cert = Certificate::from_pem(include_bytes!("../../tests/data/keys/doc.crt")).unwrap();
        let key =
            crate::PrivateKey::from_pem(include_bytes!("../../tests/data/keys/doc.key"), None)
                .unwrap();
        let signer = Signer::new(&cert, &key);
        let options = SignOptions::default();
        let now = unix_time(1_800_000_000);
        let head = b"Content-Type: application/edi-x12\r\n\r\n".to_vec();
        let payload = b"ISA*00*~\nGS*PO~\n".repeat(1000);
        let whole = [head.as_slice(), &payload].concat();

        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let (entity, mic) = sign_pieces(
            vec![Cow::Owned(head), Cow::Borrowed(&payload)],
            &signer,
            &options,
            MicNameStyle::Dashed,
            now,
            &mut rng,
        )
        .unwrap();
        let (headers, body) = entity.into_parts();

        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let signature = signed::sign_detached(&whole, &signer, &options, now, &mut rng).unwrap();
        let boundary = boundary(&mut rng);
        let sig_part = mime::write_entity(
            &[
                (
                    "Content-Type",
                    "application/pkcs7-signature; name=\"smime.p7s\"",
                ),
                ("Content-Transfer-Encoding", "base64"),
                ("Content-Disposition", "attachment; filename=\"smime.p7s\""),
            ],
            mime::base64_encode_mime(&signature).as_bytes(),
        )
        .unwrap();
        let expected = mime::write_multipart(&boundary, &[&whole, &sig_part]).unwrap();
        assert_eq!(body, expected);
        assert!(headers[0].1.contains(&format!("boundary=\"{boundary}\"")));
        assert_eq!(mic, Mic::compute(DigestAlgorithm::Sha256, &whole));
    }
}
