//! The outbound builder: payload in, HTTP headers and body out (RFC 4130 §5, RFC 5402).
//!
//! Layers are applied inside out: the payload entity, optional compression, optional
//! `multipart/signed`, optional compression of the signed entity, optional encryption. The
//! outermost entity's headers become HTTP headers and its body the HTTP body, always with
//! an exact length so the caller can send a Content-Length (many partners reject chunked
//! requests).

use std::time::SystemTime;

use rand_core::CryptoRng;

use super::headers::{AS2_VERSION, As2Id, DispositionOptions, MessageId};
use crate::cert::Certificate;
use crate::cms::algorithm::DigestAlgorithm;
use crate::cms::compressed::{self, CompressOptions};
use crate::cms::enveloped::{self, EncryptOptions};
use crate::cms::signed::{self, SignOptions, Signer};
use crate::error::Error;
use crate::mic::{Mic, MicNameStyle};
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
    /// The original file name, sent in Content-Disposition.
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
    /// The MIC the returned MDN must carry, when an MDN was requested or the message was
    /// signed.
    pub mic: Option<Mic>,
    /// Whether a signed MDN was requested.
    pub signed_mdn_requested: bool,
    /// Whether the message was signed.
    pub signed: bool,
}

/// A MIME entity under construction: header lines and body.
pub(crate) struct Entity {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Entity {
    /// The header lines and the body.
    pub(crate) fn into_parts(self) -> (Vec<(String, String)>, Vec<u8>) {
        (self.headers, self.body)
    }

    /// The whole entity: headers with CRLF line ends, a blank line, the body.
    fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        Ok(mime::write_entity(&headers, &self.body)?)
    }
}

fn smime_entity(smime_type: &str, file: &str, body: Vec<u8>) -> Entity {
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
        body,
    }
}

/// Quotes a MIME parameter value.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // Never valid in a header value (HTTP or MIME).
            '\r' | '\n' | '\0' => {}
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A multipart boundary from the caller's random source.
pub(crate) fn boundary<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    mime::generate_boundary(&bytes)
}

/// Builds `multipart/signed` around `entity` (RFC 1847 / RFC 5751 §3.4.3), returning the
/// signed entity and the MIC (the signature's message digest over the entity).
pub(crate) fn sign_entity<R: CryptoRng + ?Sized>(
    entity: &[u8],
    signer: &Signer<'_>,
    options: &SignOptions,
    style: MicNameStyle,
    now: SystemTime,
    rng: &mut R,
) -> Result<(Entity, Mic), Error> {
    let signature = signed::sign_detached(entity, signer, options, now, rng)?;
    let mic = Mic::compute(options.digest, entity);
    let boundary = boundary(rng);
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
        body: mime::base64_encode_mime(&signature).into_bytes(),
    }
    .to_bytes()?;
    let body = mime::write_multipart(&boundary, &[entity, &sig_part])?;
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

/// Builds the message.
pub fn build<R: CryptoRng + ?Sized>(
    message: &OutboundMessage<'_>,
    now: SystemTime,
    rng: &mut R,
) -> Result<BuiltMessage, Error> {
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
        payload_headers.push((
            "Content-Disposition".into(),
            format!("attachment; filename={}", quote(name)),
        ));
    }
    let mut entity = Entity {
        headers: payload_headers,
        body: message.payload.to_vec(),
    };
    // Unsigned: the MIC covers the payload entity with the preferred requested algorithm.
    let mut mic = None;
    let wants_mdn = message.mdn != MdnRequest::None;
    if message.signing.is_none() && wants_mdn {
        let alg = message
            .signed_mdn_micalgs
            .first()
            .copied()
            .unwrap_or(DigestAlgorithm::Sha256);
        mic = Some(Mic::compute(alg, &entity.to_bytes()?));
    }
    if message.compression == Compression::BeforeSigning {
        entity = smime_entity(
            "compressed-data",
            "smime.p7z",
            compressed::compress(&entity.to_bytes()?, message.compress_options),
        );
    }
    if let Some((signer, options)) = &message.signing {
        let (signed_entity, signed_mic) = sign_entity(
            &entity.to_bytes()?,
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
            compressed::compress(&entity.to_bytes()?, message.compress_options),
        );
    }
    let (recipients, encrypt_options) = &message.encryption;
    if !recipients.is_empty() {
        entity = smime_entity(
            "enveloped-data",
            "smime.p7m",
            enveloped::encrypt(&entity.to_bytes()?, recipients, encrypt_options, rng)?,
        );
    }

    let message_id = match &message.message_id {
        Some(id) => id.clone(),
        None => MessageId::generate(rng, &message.message_id_domain),
    };
    let mut headers = vec![
        ("AS2-Version".to_owned(), AS2_VERSION.to_owned()),
        (
            "EDIINT-Features".to_owned(),
            "CEM, multiple-attachments".to_owned(),
        ),
        ("AS2-From".to_owned(), message.from.to_header()),
        ("AS2-To".to_owned(), message.to.to_header()),
        ("Message-ID".to_owned(), message_id.as_str().to_owned()),
        ("Date".to_owned(), http_date(now)),
        ("MIME-Version".to_owned(), "1.0".to_owned()),
    ];
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
    headers.extend(entity.headers);
    Ok(BuiltMessage {
        headers,
        body: entity.body,
        message_id,
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
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get((month - 1) as usize)
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
    fn quoting() {
        assert_eq!(quote(r#"a "b".edi"#), r#""a \"b\".edi""#);
        assert_eq!(quote("x\r\ny"), "\"xy\"");
        // Found by the inbound_built fuzz target: a NUL went out in an HTTP header.
        assert_eq!(quote("x\0y"), "\"xy\"");
        assert_eq!(sanitize_header_value("a\0b\r\nc"), "abc");
    }
}
