//! Building MDNs and the HTTP reply to an AS2 request (RFC 4130 §7.4, RFC 8098 §3).

use std::time::SystemTime;

use rand_core::CryptoRng;

use super::{DispositionField, MdnStatus, Modifier};
use crate::cms::algorithm::DigestAlgorithm;
use crate::cms::signed::{SignOptions, Signer};
use crate::error::{Error, ErrorCode};
use crate::limits::Limits;
use crate::message::headers::{
    As2Version, DEFAULT_AS2_PRODUCT, DEFAULT_RECEIPT_MICALG, DispositionOptions, HttpHeaders,
    HttpResponse, MessageId, check_as2_product,
};
use crate::message::inbound::{Incoming, IncomingKind, Received, Rejected, StoredMdn};
use crate::mic::{Mic, MicNameStyle};
use crate::mime;
use crate::record::{ErrorPolicy, ReferenceErrorPolicy};
use crate::smime::headers::{As2HeaderBlock, boundary};
use crate::smime::sign::sign_entity;

/// What an MDN reports: the disposition, the MIC of what was received, and an
/// explanation for the human-readable part.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The `Disposition` field.
    pub disposition: DispositionField,
    /// The `Received-Content-MIC`, when one was computed.
    pub mic: Option<Mic>,
    /// Why the message was refused, for the text part (never key material or which step
    /// of decryption failed: error messages carry no such detail).
    pub explanation: Option<String>,
    /// The reference error code, for a refused message.
    pub code: Option<ErrorCode>,
    /// For a resent message, the MDN sent the first time
    /// ([`Received::previous_mdn`]): [`reply`] sends it again, byte for byte.
    pub previous_mdn: Option<StoredMdn>,
}

impl Report {
    /// `processed`, or `processed/Warning: duplicate-document` for a duplicate, with the
    /// MIC of the received content.
    pub fn received(received: &Received) -> Self {
        let status = if received.duplicate {
            MdnStatus::Warning(Modifier::DuplicateDocument)
        } else {
            MdnStatus::Processed
        };
        Report {
            disposition: DispositionField::automatic(status),
            mic: received.mic.clone(),
            explanation: None,
            code: None,
            previous_mdn: received.previous_mdn.clone(),
        }
    }

    /// The error MDN for a rejection, with the disposition the error maps to
    /// ([`Error::disposition`]) and the MIC if it was computed before the failure.
    pub fn rejected(rejected: &Rejected) -> Self {
        let mut report = Report::error(&rejected.error);
        report.mic = rejected.mic.clone();
        report
    }

    /// The report for what [`Incoming::accept`] returned: [`Report::received`] or
    /// [`Report::rejected`].
    pub fn from_outcome(outcome: &Result<Received, Rejected>) -> Self {
        match outcome {
            Ok(received) => Report::received(received),
            Err(rejected) => Report::rejected(rejected),
        }
    }

    /// The error MDN for an error raised outside [`Incoming::accept`] (e.g. no agreement).
    pub fn error(error: &Error) -> Self {
        Report::error_with(error, &ReferenceErrorPolicy)
    }

    /// [`Report::rejected`] with the disposition, code and text chosen by `policy` (e.g. an
    /// older partner that expects another modifier).
    pub fn rejected_with<P: ErrorPolicy + ?Sized>(rejected: &Rejected, policy: &P) -> Self {
        let mut report = Report::error_with(&rejected.error, policy);
        report.mic = rejected.mic.clone();
        report
    }

    /// [`Report::error`] with the disposition, code and text chosen by `policy`.
    pub fn error_with<P: ErrorPolicy + ?Sized>(error: &Error, policy: &P) -> Self {
        Report {
            disposition: DispositionField::automatic(policy.disposition(error).into()),
            mic: None,
            explanation: Some(policy.failure_message(error)),
            code: Some(policy.failure_code(error)),
            previous_mdn: None,
        }
    }

    /// A report with a caller-chosen status (e.g. an overridden error modifier).
    pub fn with_status(status: MdnStatus, mic: Option<Mic>) -> Self {
        Report {
            disposition: DispositionField::automatic(status),
            mic,
            explanation: None,
            code: None,
            previous_mdn: None,
        }
    }

    /// Whether the message was accepted (`processed` or a warning).
    pub fn is_accepted(&self) -> bool {
        matches!(
            self.disposition.status,
            MdnStatus::Processed | MdnStatus::Warning(_)
        )
    }
}

/// How this receiver writes and signs its MDNs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MdnSettings<'a> {
    /// Our signing identity; `None` sends unsigned MDNs.
    pub signer: Option<Signer<'a>>,
    /// Signature options. `digest` is replaced by the algorithm negotiated with the
    /// sender; `scheme` and `algorithm_protection` (RFC 6211) are used as given.
    pub sign_options: SignOptions,
    /// When a signed receipt was requested but cannot be signed (no signer): fail with
    /// [`Error::SigningFailed`] instead of sending it unsigned (RFC 4130 §7.3 allows an
    /// unsigned MDN; some agreements do not).
    pub require_signing: bool,
    /// The Reporting-UA field.
    pub reporting_ua: String,
    /// Spelling of the algorithm in `Received-Content-MIC` and in the signature's
    /// `micalg`. `None` (the default) spells it as the sender did in its
    /// `signed-receipt-micalg` request (`sha256` or `sha-256`), the dashed RFC 5751 style
    /// when it sent none ([`DispositionOptions::mic_style`]).
    pub mic_style: Option<MicNameStyle>,
    /// Domain part of the MDN's Message-ID (default: our AS2 ID, sanitised).
    pub message_id_domain: Option<String>,
    /// Subject of the MDN.
    pub subject: String,
    /// The AS2-Version declared to the partner the MDN answers (default 1.2; see
    /// [`As2Version`]). With 1.3 the receipt is never signed with SHA-1: the first
    /// algorithm of the sender's `signed-receipt-micalg` list that is allowed is taken
    /// (draft-ietf-ediint-rfc4130bis §8.3), and [`reply`] fails with
    /// [`Error::WeakAlgorithm`] when the list names only SHA-1.
    pub as2_version: As2Version,
    /// The AS2-Product header of MDNs and acknowledgements (draft §6.2); default
    /// [`DEFAULT_AS2_PRODUCT`]. `None` sends none, which the draft allows below 1.3 only.
    pub as2_product: Option<String>,
}

impl<'a> MdnSettings<'a> {
    /// Unsigned MDNs with default fields.
    pub fn new() -> Self {
        MdnSettings {
            signer: None,
            sign_options: SignOptions::default(),
            require_signing: false,
            reporting_ua: concat!("as2-proto/", env!("CARGO_PKG_VERSION")).to_owned(),
            mic_style: None,
            message_id_domain: None,
            subject: "Message Disposition Notification".to_owned(),
            as2_version: As2Version::default(),
            as2_product: Some(DEFAULT_AS2_PRODUCT.to_owned()),
        }
    }

    /// MDNs signed by `signer` when the sender asks for a signed receipt.
    pub fn signed(signer: Signer<'a>) -> Self {
        MdnSettings {
            signer: Some(signer),
            ..MdnSettings::new()
        }
    }
}

impl Default for MdnSettings<'_> {
    fn default() -> Self {
        MdnSettings::new()
    }
}

/// A built MDN.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuiltMdn {
    /// HTTP headers, in order (Content-Type included; add Content-Length).
    pub headers: HttpHeaders,
    /// The exact HTTP body.
    pub body: Vec<u8>,
    /// The MDN's own Message-ID.
    pub message_id: MessageId,
    /// The Original-Message-ID it answers, as received.
    pub original_message_id: String,
    /// The digest it was signed with; `None` when unsigned.
    pub signed: Option<DigestAlgorithm>,
    /// The Disposition field sent.
    pub disposition: DispositionField,
    /// For an asynchronous MDN, the URL to POST it to (Receipt-Delivery-Option).
    pub async_url: Option<String>,
}

/// The answer to an AS2 request: the HTTP response, and the MDN if one was requested.
///
/// Synchronous MDN: `response` carries the MDN (`mdn` holds the same MDN with its
/// details). Asynchronous MDN: `response` is a plain acknowledgement and the caller POSTs
/// `mdn` (headers and body) to `mdn.async_url`. No MDN requested: `response` is a plain
/// acknowledgement (status 200 when accepted, 400 with the error code when refused).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Reply {
    /// What to answer on the HTTP request.
    pub response: HttpResponse,
    /// The MDN, when one was requested.
    pub mdn: Option<BuiltMdn>,
}

/// Builds the reply to `incoming` for the outcome in `report` (RFC 4130 §7.2).
///
/// A resent message whose first MDN was kept ([`Report::previous_mdn`]) is answered with
/// that MDN, the same bytes with the same headers (its own Message-ID and Date among
/// them), as draft-ietf-ediint-rfc4130bis §5.5 asks, when it acknowledges the same
/// content: its Received-Content-MIC is this message's MIC (or neither has one), and its
/// Original-Message-ID names this message. A message that reuses a Message-ID for other
/// content is not a resend: it gets a new `processed/Warning: duplicate-document` MDN
/// with its own MIC, and never the first MDN (which would disclose the MIC of the first
/// content to whoever sends under that Message-ID, to a Receipt-Delivery-Option URL of
/// their choosing).
pub fn reply<R: CryptoRng + ?Sized>(
    incoming: &Incoming<'_>,
    report: &Report,
    settings: &MdnSettings<'_>,
    now: SystemTime,
    rng: &mut R,
) -> Result<Reply, Error> {
    check_product(settings)?;
    let wants_mdn = incoming.kind == IncomingKind::Message && incoming.receipt.is_some();
    if !wants_mdn {
        return Ok(Reply {
            response: acknowledgement(incoming, report, settings, now),
            mdn: None,
        });
    }
    if let Some(replayed) = replay(incoming, report, settings, now) {
        return Ok(replayed);
    }
    let mdn = build(incoming, report, settings, now, rng)?;
    if mdn.async_url.is_some() {
        return Ok(Reply {
            response: acknowledgement(incoming, report, settings, now),
            mdn: Some(mdn),
        });
    }
    Ok(Reply {
        response: HttpResponse::new(200, mdn.headers.clone(), mdn.body.clone()),
        mdn: Some(mdn),
    })
}

/// The reply that sends [`Report::previous_mdn`] again, if it acknowledges the same
/// content as `report` (see [`reply`]); `None` to build a new MDN.
fn replay(
    incoming: &Incoming<'_>,
    report: &Report,
    settings: &MdnSettings<'_>,
    now: SystemTime,
) -> Option<Reply> {
    let stored = report.previous_mdn.as_ref()?;
    let parsed = super::parse(&stored.headers, &stored.body, &Limits::default()).ok()?;
    let same_content = match (&parsed.received_mic, &report.mic) {
        (None, None) => true,
        (Some(field), Some(mic)) => Mic::parse_field(field).as_ref() == Some(mic),
        _ => false,
    };
    let original_message_id = parsed.original_message_id?;
    let this_message = incoming.message_id.as_ref()?;
    if !same_content || MessageId::bare_str(&original_message_id) != this_message.bare() {
        return None;
    }
    let signed = stored
        .headers
        .get("Content-Type")
        .and_then(|ct| mime::ContentType::parse(ct).ok())
        .filter(|ct| ct.is("multipart/signed"))
        .and_then(|ct| {
            ct.micalg()
                .and_then(|m| m.split(',').find_map(DigestAlgorithm::from_name))
        });
    let mdn = BuiltMdn {
        headers: stored.headers.clone(),
        body: stored.body.clone(),
        message_id: parsed.message_id?,
        original_message_id,
        signed,
        disposition: parsed.disposition,
        async_url: incoming.receipt.as_ref().and_then(|r| r.async_url.clone()),
    };
    let response = if mdn.async_url.is_some() {
        acknowledgement(incoming, report, settings, now)
    } else {
        HttpResponse::new(200, mdn.headers.clone(), mdn.body.clone())
    };
    Some(Reply {
        response,
        mdn: Some(mdn),
    })
}

/// What a [`DuplicateCheck`](crate::DuplicateCheck) keeps of a sent MDN.
impl From<&BuiltMdn> for StoredMdn {
    fn from(mdn: &BuiltMdn) -> Self {
        StoredMdn::new(mdn.headers.clone(), mdn.body.clone())
    }
}

/// A plain acknowledgement: 200, or 400 naming the error code when refused and no MDN
/// can carry the refusal.
fn acknowledgement(
    incoming: &Incoming<'_>,
    report: &Report,
    settings: &MdnSettings<'_>,
    now: SystemTime,
) -> HttpResponse {
    let async_pending = incoming.receipt.as_ref().is_some_and(|r| r.is_async());
    let (status, text) = if async_pending || report.is_accepted() {
        (200, "AS2 message received.\r\n".to_owned())
    } else {
        let code = report.code.map_or("", ErrorCode::as_str);
        (
            400,
            format!("AS2 message refused: {code} {}\r\n", report.disposition),
        )
    };
    let mut headers = As2HeaderBlock {
        version: settings.as2_version,
        product: settings.as2_product.as_deref(),
        ..As2HeaderBlock::new(&incoming.to, &incoming.from, now)
    }
    .write();
    headers.push("Content-Type", "text/plain; charset=us-ascii");
    HttpResponse::new(status, headers, text.into_bytes())
}

/// Builds the MDN for `incoming` reporting `report`: `multipart/report`, signed when the
/// sender asked for a signed receipt and `settings` has a signer, with the first
/// algorithm of the sender's `signed-receipt-micalg` list that we support (SHA-256 when
/// it listed none we know; with a 1.3 partner, the first that is not SHA-1).
pub fn build<R: CryptoRng + ?Sized>(
    incoming: &Incoming<'_>,
    report: &Report,
    settings: &MdnSettings<'_>,
    now: SystemTime,
    rng: &mut R,
) -> Result<BuiltMdn, Error> {
    let original_message_id = incoming
        .message_id
        .as_ref()
        .map(|id| id.as_str().to_owned())
        .ok_or(Error::InvalidHeader {
            header: "Message-ID",
            reason: "missing: an MDN must name the message it answers",
        })?;
    check_product(settings)?;
    let options = incoming.receipt.as_ref().map(|r| &r.options);
    let wants_signed = options.is_some_and(DispositionOptions::signed_receipt_requested);
    let signature = match (wants_signed, settings.signer) {
        (true, Some(signer)) => Some((signer, negotiated_digest(options, settings.as2_version))),
        (true, None) if settings.require_signing => {
            return Err(Error::SigningFailed(
                "a signed receipt was requested and no MDN signing key is configured",
            ));
        }
        _ => None,
    };
    // A refusal for unsupported MIC algorithms cannot be signed with one the sender
    // accepts, so it goes unsigned (RFC 4130 §7.4.3).
    let signature = signature.filter(|_| {
        !matches!(&report.disposition.status, MdnStatus::Failed(m) if m.is(&Modifier::UnsupportedMicAlgorithms))
    });
    let signature = match signature {
        Some((signer, digest)) => Some((signer, digest?)),
        None => None,
    };
    let report_entity = report_entity(incoming, report, &original_message_id, settings, rng)?;
    let (content_type, body, signed) = match signature {
        Some((signer, digest)) => {
            let sign_options = SignOptions {
                digest,
                ..settings.sign_options
            };
            let entity = mime::write_entity(
                &[("Content-Type", report_entity.0.as_str())],
                &report_entity.1,
            )?;
            let (signed, _) = sign_entity(
                &entity,
                &signer,
                &sign_options,
                mic_style(settings, options, digest),
                now,
                rng,
            )?;
            let (headers, body) = signed.into_parts();
            let content_type = headers
                .into_iter()
                .find(|(n, _)| n == "Content-Type")
                .map(|(_, v)| v)
                .unwrap_or_default();
            (content_type, body, Some(digest))
        }
        None => (report_entity.0, report_entity.1, None),
    };
    let domain = settings
        .message_id_domain
        .clone()
        .unwrap_or_else(|| incoming.to.message_id_domain());
    let message_id = MessageId::generate(rng, &domain);
    let mut headers = As2HeaderBlock {
        message_id: Some(&message_id),
        subject: Some(&settings.subject),
        version: settings.as2_version,
        product: settings.as2_product.as_deref(),
        ..As2HeaderBlock::new(&incoming.to, &incoming.from, now)
    }
    .write();
    headers.push("Content-Type", content_type);
    Ok(BuiltMdn {
        headers,
        body,
        message_id,
        original_message_id,
        signed,
        disposition: report.disposition.clone(),
        async_url: incoming.receipt.as_ref().and_then(|r| r.async_url.clone()),
    })
}

/// The first algorithm of the sender's list that we support, else SHA-256. For a partner
/// whose version forbids weak algorithms, the first we support other than SHA-1
/// (draft-ietf-ediint-rfc4130bis §8.3: the first supported, never one the sender did not
/// list); a list whose only supported algorithm is SHA-1 is [`Error::WeakAlgorithm`].
fn negotiated_digest(
    options: Option<&DispositionOptions>,
    version: As2Version,
) -> Result<DigestAlgorithm, Error> {
    if !version.forbids_weak_algorithms() {
        return Ok(options.map_or(DEFAULT_RECEIPT_MICALG, DispositionOptions::receipt_micalg));
    }
    let supported: Vec<DigestAlgorithm> = options
        .map(|o| o.micalg_names())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| DigestAlgorithm::from_name(n))
        .collect();
    match supported.iter().find(|d| **d != DigestAlgorithm::Sha1) {
        Some(allowed) => Ok(*allowed),
        None => match supported.first() {
            Some(weak) => crate::error::WeakAlgorithm::check_digest(*weak, version)
                .map(|()| DEFAULT_RECEIPT_MICALG),
            None => Ok(DEFAULT_RECEIPT_MICALG),
        },
    }
}

/// The AS2-Product rule of draft-ietf-ediint-rfc4130bis §6.2: a valid value when one is
/// sent, and one from 1.3 on.
fn check_product(settings: &MdnSettings<'_>) -> Result<(), Error> {
    match &settings.as2_product {
        Some(product) => check_as2_product(product),
        None if settings.as2_version.requires_product() => Err(Error::InvalidHeader {
            header: "AS2-Product",
            reason: "required when declaring AS2-Version 1.3 or later",
        }),
        None => Ok(()),
    }
}

/// How `algorithm` is spelled in the MDN: as configured, else as the sender spelled it.
fn mic_style(
    settings: &MdnSettings<'_>,
    options: Option<&DispositionOptions>,
    algorithm: DigestAlgorithm,
) -> MicNameStyle {
    settings
        .mic_style
        .unwrap_or_else(|| options.map_or_else(MicNameStyle::default, |o| o.mic_style(algorithm)))
}

/// The `multipart/report` entity: its Content-Type value and body.
fn report_entity<R: CryptoRng + ?Sized>(
    incoming: &Incoming<'_>,
    report: &Report,
    original_message_id: &str,
    settings: &MdnSettings<'_>,
    rng: &mut R,
) -> Result<(String, Vec<u8>), Error> {
    let text = human_text(incoming, report, original_message_id);
    let text_part = mime::write_entity(
        &[
            ("Content-Type", "text/plain; charset=us-ascii"),
            ("Content-Transfer-Encoding", "7bit"),
        ],
        text.as_bytes(),
    )?;
    let recipient = ascii_line(incoming.to.as_str());
    let mut fields = format!(
        "Reporting-UA: {}\r\nOriginal-Recipient: rfc822; {recipient}\r\nFinal-Recipient: rfc822; {recipient}\r\nOriginal-Message-ID: {original_message_id}\r\nDisposition: {}\r\n",
        ascii_line(&settings.reporting_ua),
        report.disposition,
    );
    if let Some(mic) = &report.mic {
        fields.push_str("Received-Content-MIC: ");
        let options = incoming.receipt.as_ref().map(|r| &r.options);
        fields.push_str(&mic.to_field(mic_style(settings, options, mic.algorithm)));
        fields.push_str("\r\n");
    }
    let notification_part = mime::write_entity(
        &[
            ("Content-Type", "message/disposition-notification"),
            ("Content-Transfer-Encoding", "7bit"),
        ],
        fields.as_bytes(),
    )?;
    let boundary = boundary(rng);
    let body = mime::write_multipart(&boundary, &[&text_part, &notification_part])?;
    Ok((
        format!("multipart/report; report-type=disposition-notification; boundary=\"{boundary}\""),
        body,
    ))
}

fn human_text(incoming: &Incoming<'_>, report: &Report, original_message_id: &str) -> String {
    let id = ascii_line(original_message_id);
    let from = ascii_line(incoming.from.as_str());
    let to = ascii_line(incoming.to.as_str());
    let mut text = match &report.disposition.status {
        MdnStatus::Processed => format!(
            "The AS2 message {id} sent by {from} to {to} has been received and processed.\r\n\
             This receipt does not guarantee that the content has been read or understood\r\n\
             by the receiving application."
        ),
        MdnStatus::Warning(w) => format!(
            "The AS2 message {id} sent by {from} to {to} has been received, with a warning:\r\n{}.",
            ascii_line(w.as_str())
        ),
        other => format!(
            "The AS2 message {id} sent by {from} to {to} could not be processed:\r\n{}.",
            ascii_line(&other.to_string())
        ),
    };
    if let Some(why) = &report.explanation {
        text.push_str("\r\nReason: ");
        text.push_str(&ascii_line(why));
    }
    text.push_str("\r\n");
    text
}

/// Printable ASCII only: anything else (including CR and LF) becomes `?`.
fn ascii_line(text: &str) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}
