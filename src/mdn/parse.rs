//! Reading and verifying the MDNs partners send back (RFC 4130 §7.4, RFC 8098 §3).
//!
//! Real products differ: TIBCO omits Original-Recipient, SEEBURGER writes recipients
//! without `rfc822;`, IBM Sterling writes `Automatic-action/mdn-sent-automatically;processed`,
//! some leave the text part without a Content-Type or send the signature as raw DER with
//! no Content-Transfer-Encoding, async MDNs may have no Message-ID. All of these parse.

use std::borrow::Cow;

use super::{DispositionField, MdnStatus};
use crate::cert::Certificate;
use crate::cms::signed::Verified;
use crate::error::{Error, ErrorCode, PolicyError, VerificationError};
use crate::limits::{Limit, Limits};
use crate::message::headers::{As2Id, HttpHeaders, MessageId};
use crate::message::inbound::Incoming;
use crate::message::outbound::BuiltMessage;
use crate::mic::Mic;
use crate::mime::{self, Part};
use crate::smime::verify::{SignerRule, SignerTrust, verify_multipart_signed};

/// A parsed MDN. Borrows the received body; nothing is verified until [`Mdn::verify`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Mdn<'a> {
    /// AS2-From (the partner that received our message), when sent.
    pub from: Option<As2Id>,
    /// AS2-To (us), when sent.
    pub to: Option<As2Id>,
    /// The MDN's own Message-ID (async MDNs from some products have none).
    pub message_id: Option<MessageId>,
    /// Original-Message-ID exactly as sent (trimmed), naming the message this answers.
    pub original_message_id: Option<String>,
    /// The Disposition field.
    pub disposition: DispositionField,
    /// Received-Content-MIC as sent, if present.
    pub received_mic: Option<String>,
    /// Reporting-UA, if present.
    pub reporting_ua: Option<String>,
    /// Original-Recipient without its address type (`rfc822;`), if present.
    pub original_recipient: Option<String>,
    /// Final-Recipient without its address type, if present.
    pub final_recipient: Option<String>,
    /// The human-readable part (lossy UTF-8).
    pub text: String,
    /// Every field of the disposition notification, names as sent, values unfolded.
    pub fields: Vec<(String, String)>,
    /// The AS2-Version header, when present and a `1.x` (not checked otherwise: a receipt
    /// is read whatever version it declares).
    pub as2_version: Option<crate::message::headers::As2Version>,
    /// The partner's AS2-Product header, when sent: printable ASCII, other characters
    /// replaced by `?`, cut to 128 characters
    /// ([`received_as2_product`](crate::message::headers::received_as2_product)).
    pub as2_product: Option<String>,
    /// The `multipart/signed` entity and its first part (the report the fields above were
    /// read from), when signed.
    signed: Option<(Part<'a>, Part<'a>)>,
}

/// What the sender kept of a message to check its MDN, bound to the partner it was sent
/// to: the Message-ID, the recipient's AS2 ID and signing certificates, and the MIC.
///
/// An MDN verifies only when its AS2-From is [`to`](Self::to) and, when signed, its
/// signer is one of [`partner_certificates`](Self::partner_certificates): a receipt signed
/// by anyone else (another partner, or ourselves) is refused, whatever certificates the
/// MDN embeds. Both are constructor arguments, so the binding cannot be left out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The Message-ID we sent.
    pub message_id: MessageId,
    /// The partner the message was sent to (its AS2-To): the MDN's AS2-From must be this
    /// identifier (compared exactly, as [`As2Id`]s are).
    pub to: As2Id,
    /// The signing certificates of [`to`](Self::to) (all of them during a rotation), and
    /// no one else's: a signed MDN must be signed with one of these.
    pub partner_certificates: Vec<Certificate>,
    /// The MIC the MDN should return ([`BuiltMessage::mic`]).
    pub mic: Option<Mic>,
    /// Whether the message was signed, which makes Received-Content-MIC required in any
    /// receipt (RFC 4130 §7.3.1). A signed receipt must carry the MIC in any case; only an
    /// unsigned receipt of an unsigned message may leave it out
    /// ([`MicCheck::NotReturned`]), as pyas2lib does.
    pub require_mic: bool,
    /// Refuse an unsigned MDN.
    pub require_signed_mdn: bool,
}

impl SentMessage {
    /// A message with this Message-ID, sent to `to`, whose MDN must be signed with one of
    /// `partner_certificates` (the signing certificates of `to`). The defaults are the
    /// strict ones: a signed MDN is required (set
    /// [`require_signed_mdn`](Self::require_signed_mdn) to `false` only when an unsigned
    /// receipt was requested), and a `mic` kept is required back (set
    /// [`require_mic`](Self::require_mic) to `false` for an unsigned message).
    pub fn new(
        message_id: MessageId,
        to: As2Id,
        partner_certificates: Vec<Certificate>,
        mic: Option<Mic>,
    ) -> Self {
        SentMessage {
            require_mic: mic.is_some(),
            message_id,
            to,
            partner_certificates,
            mic,
            require_signed_mdn: true,
        }
    }

    /// What to keep of a built message, sent to [`BuiltMessage::to`] whose signing
    /// certificates are `partner_certificates`: a signed MDN is required when one was
    /// requested, and the MIC when the message was signed.
    pub fn from_built(built: &BuiltMessage, partner_certificates: Vec<Certificate>) -> Self {
        SentMessage {
            message_id: built.message_id.clone(),
            to: built.to.clone(),
            partner_certificates,
            mic: built.mic.clone(),
            require_mic: built.signed,
            require_signed_mdn: built.signed_mdn_requested,
        }
    }
}

/// Whether the MDN is signed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Authenticity {
    /// Signed, and the signature verified with one of the partner's certificates.
    Signed(Box<Verified>),
    /// Unsigned (accepted only when no signed MDN was required).
    Unsigned,
}

/// The comparison of Received-Content-MIC with the MIC we computed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MicCheck {
    /// Same algorithm and digest.
    Matched,
    /// Different digest or algorithm, or a value we cannot read.
    Mismatched {
        /// Ours.
        expected: Mic,
        /// As received.
        received: String,
    },
    /// The MDN carries no MIC although the receipt or the message was signed (or we kept
    /// none for a signed message): a failure.
    Missing,
    /// An unsigned receipt of an unsigned message carries no MIC (RFC 4130 makes it
    /// optional there): not a failure, but nothing proves the partner received the exact
    /// content either. Shown in the status record as `not-returned`.
    NotReturned,
    /// We kept no MIC for this message.
    NotExpected,
}

impl MicCheck {
    /// The outcome as a status record writes it (`mic-check`): `matched`, `mismatched`,
    /// `missing`, `not-returned` or `not-expected`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MicCheck::Matched => "matched",
            MicCheck::Mismatched { .. } => "mismatched",
            MicCheck::Missing => "missing",
            MicCheck::NotReturned => "not-returned",
            MicCheck::NotExpected => "not-expected",
        }
    }
}

/// The outcome of verifying an MDN.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Verdict {
    /// What the partner reports.
    pub status: MdnStatus,
    /// The Disposition field as received.
    pub disposition: DispositionField,
    /// Signed (and verified) or unsigned.
    pub authenticity: Authenticity,
    /// The MIC comparison.
    pub mic: MicCheck,
    /// The Original-Message-ID, as sent.
    pub original_message_id: String,
}

impl Verdict {
    /// Whether the partner received the exact content we sent: `processed` (or a
    /// warning) with a matching MIC (or none expected).
    pub fn is_success(&self) -> bool {
        matches!(self.status, MdnStatus::Processed | MdnStatus::Warning(_))
            && matches!(
                self.mic,
                MicCheck::Matched | MicCheck::NotExpected | MicCheck::NotReturned
            )
    }

    /// The reference error code for a transfer that did not succeed:
    /// `VERIFICATION_FAILED` for a MIC mismatch, the code the partner's modifier maps to
    /// for a negative MDN; `None` on success or for a modifier with no reference code.
    pub fn failure_code(&self) -> Option<ErrorCode> {
        if let Some(code) = self.status.error_code() {
            return Some(code);
        }
        match (&self.status, &self.mic) {
            (MdnStatus::Processed | MdnStatus::Warning(_), MicCheck::Mismatched { .. })
            | (MdnStatus::Processed | MdnStatus::Warning(_), MicCheck::Missing) => {
                Some(ErrorCode::VerificationFailed)
            }
            _ => None,
        }
    }

    /// Whether the MDN was signed and its signature verified.
    pub fn is_authentic(&self) -> bool {
        matches!(self.authenticity, Authenticity::Signed(_))
    }

    /// The error for a MIC that did not match (`VERIFICATION_FAILED`), if any.
    pub fn mic_error(&self) -> Option<Error> {
        match self.mic {
            MicCheck::Mismatched { .. } => Some(VerificationError::MicMismatch.into()),
            MicCheck::Missing => Some(VerificationError::MicMissing.into()),
            _ => None,
        }
    }
}

/// Parses an MDN from its HTTP headers and body (a sync response, or an async MDN
/// POSTed to us). Fails with [`Error::UnsupportedFormat`] when the body is not
/// `multipart/report` (signed or not) or has no disposition notification.
pub fn parse<'a>(headers: &HttpHeaders, body: &'a [u8], limits: &Limits) -> Result<Mdn<'a>, Error> {
    if body.len() > limits.max_body_size {
        return Err(Limit::BodySize.exceeded(limits));
    }
    let mime_limits = limits.mime();
    let content_type = headers.get("Content-Type").ok_or(Error::InvalidHeader {
        header: "Content-Type",
        reason: "missing",
    })?;
    let top = Part::from_body_with_encoding(
        body,
        unquote(content_type).as_ref(),
        headers.get("Content-Transfer-Encoding"),
        &mime_limits,
    )?;
    let (report, signed) = if top.content_type().is("multipart/signed") {
        let children = top.children();
        let (Some(report), Some(_signature), None) =
            (children.first(), children.get(1), children.get(2))
        else {
            return Err(Error::UnsupportedFormat(
                "multipart/signed must have exactly two parts",
            ));
        };
        (report.clone(), Some((top.clone(), report.clone())))
    } else {
        (top, None)
    };
    if !report.content_type().is("multipart/report") {
        return Err(Error::UnsupportedFormat("not an MDN (no multipart/report)"));
    }
    let parts = report.children();
    let notification = parts
        .iter()
        .find(|p| p.content_type().is("message/disposition-notification"))
        .ok_or(Error::UnsupportedFormat(
            "multipart/report without a message/disposition-notification part",
        ))?;
    let text = parts
        .iter()
        .find(|p| !p.content_type().is("message/disposition-notification"))
        .map(|p| {
            p.decoded_body()
                .map(|b| String::from_utf8_lossy(&b).trim_end().to_owned())
        })
        .transpose()?
        .unwrap_or_default();
    let fields = notification_fields(&notification.decoded_body()?, limits)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let disposition = field("Disposition")
        .map(|d| DispositionField::parse(&d))
        .ok_or(Error::InvalidHeader {
            header: "Disposition",
            reason: "missing from the disposition notification",
        })?;
    let optional_id = |name: &'static str| -> Result<Option<As2Id>, Error> {
        headers
            .get(name)
            .map(|v| As2Id::from_header(name, v))
            .transpose()
    };
    Ok(Mdn {
        from: optional_id("AS2-From")?,
        to: optional_id("AS2-To")?,
        message_id: headers
            .get("Message-ID")
            .and_then(|v| MessageId::parse(v).ok()),
        original_message_id: field("Original-Message-ID").filter(|v| !v.is_empty()),
        received_mic: field("Received-Content-MIC"),
        reporting_ua: field("Reporting-UA"),
        original_recipient: field("Original-Recipient").map(|v| strip_address_type(&v)),
        final_recipient: field("Final-Recipient").map(|v| strip_address_type(&v)),
        disposition,
        text,
        fields,
        as2_version: headers
            .get("AS2-Version")
            .and_then(|v| crate::message::headers::As2Version::parse(v).ok()),
        as2_product: crate::message::headers::received_as2_product(headers.get("AS2-Product")),
        signed,
    })
}

// Defined here, not in `message::inbound`, so that only the MDN layer depends on the
// message layer and not the other way round.
impl<'a> Incoming<'a> {
    /// Parses the request as an MDN (an asynchronous receipt POSTed to us; check
    /// [`Incoming::kind`] first). Verify it with [`Mdn::verify`].
    pub fn parse_mdn(&self, limits: &Limits) -> Result<Mdn<'a>, Error> {
        let (headers, body) = self.request();
        parse(headers, body, limits)
    }
}

impl Mdn<'_> {
    /// Whether the MDN is signed (`multipart/signed`).
    pub fn is_signed(&self) -> bool {
        self.signed.is_some()
    }

    /// The Original-Message-ID, which an MDN must carry.
    fn original(&self) -> Result<&str, Error> {
        self.original_message_id
            .as_deref()
            .ok_or(Error::InvalidHeader {
                header: "Original-Message-ID",
                reason: "missing from the MDN",
            })
    }

    /// Finds the message this MDN answers with `lookup` (given the bare Original-Message-ID,
    /// without angle brackets). An MDN naming no message, or one we did not send, is
    /// [`Error::InvalidHeader`] on `Original-Message-ID` (`INVALID_REQUEST`).
    pub fn find<T>(&self, lookup: impl FnOnce(&str) -> Option<T>) -> Result<T, Error> {
        lookup(MessageId::bare_str(self.original()?)).ok_or(Error::InvalidHeader {
            header: "Original-Message-ID",
            reason: "names no message we sent",
        })
    }

    /// Verifies the MDN against the message we sent, in this order: the
    /// Original-Message-ID must name it; the AS2-From must be the partner it was sent to
    /// ([`SentMessage::to`]; a missing or other AS2-From is [`Error::InvalidHeader`] on
    /// `AS2-From`, `INVALID_REQUEST`); the signature (if any, and required when
    /// `sent.require_signed_mdn`) must verify with one of that partner's certificates
    /// ([`SentMessage::partner_certificates`]); and the Received-Content-MIC is compared
    /// with ours (algorithm names compared after normalisation, e.g. `sha1` = `SHA-1`).
    ///
    /// The MIC is required when the receipt is signed or the message was signed
    /// ([`SentMessage::require_mic`]); an unsigned receipt of an unsigned message without
    /// one gives [`MicCheck::NotReturned`], which is not a failure. A MIC that is present
    /// must match.
    ///
    /// Errors mean the MDN cannot be trusted or is not for this message. A negative
    /// disposition or a MIC mismatch is not an error here: it is in the [`Verdict`] (see
    /// [`Verdict::is_success`] and [`Verdict::failure_code`]).
    pub fn verify(&self, sent: &SentMessage, limits: &Limits) -> Result<Verdict, Error> {
        self.verify_with(sent, None, limits)
    }

    /// [`Mdn::verify`] and [`Mdn::verify_trusted`]: the signer checked with the one rule
    /// inbound messages are checked with ([`SignerRule`]).
    fn verify_with(
        &self,
        sent: &SentMessage,
        trust: Option<&dyn SignerTrust>,
        limits: &Limits,
    ) -> Result<Verdict, Error> {
        let original = self.original()?;
        if MessageId::bare_str(original) != sent.message_id.bare() {
            return Err(Error::InvalidHeader {
                header: "Original-Message-ID",
                reason: "does not match the message sent",
            });
        }
        match &self.from {
            Some(from) if *from == sent.to => {}
            Some(_) => {
                return Err(Error::InvalidHeader {
                    header: "AS2-From",
                    reason: "is not the partner the message was sent to",
                });
            }
            None => {
                return Err(Error::InvalidHeader {
                    header: "AS2-From",
                    reason: "missing from the MDN",
                });
            }
        }
        let authenticity = match &self.signed {
            Some((entity, report)) => {
                let rule = SignerRule {
                    certificates: &sent.partner_certificates,
                    trust,
                    // Receipts have no legacy-algorithm switch: a SHA-1 receipt of a
                    // SHA-1 request is accepted.
                    accept_sha1: true,
                };
                // The same streaming verifier as inbound messages, over the exact bytes
                // received (MDNs are small: the whole body in one push).
                let verified = verify_multipart_signed(
                    entity.content_type(),
                    entity.body(),
                    &rule,
                    limits,
                    false,
                )?;
                if !covers(&verified, report) {
                    return Err(VerificationError::DigestMismatch.into());
                }
                Authenticity::Signed(Box::new(verified))
            }
            None if sent.require_signed_mdn => {
                return Err(PolicyError::SignatureRequired.into());
            }
            None => Authenticity::Unsigned,
        };
        let mic_required = sent.require_mic || self.is_signed();
        let mic = match (&sent.mic, &self.received_mic) {
            // A signed message's MIC that the caller lost cannot be taken as proof.
            (None, _) if sent.require_mic => MicCheck::Missing,
            (None, _) => MicCheck::NotExpected,
            (Some(_), None) if mic_required => MicCheck::Missing,
            (Some(_), None) => MicCheck::NotReturned,
            (Some(expected), Some(received)) => match Mic::parse_field(received) {
                Some(mic) if mic == *expected => MicCheck::Matched,
                _ => MicCheck::Mismatched {
                    expected: expected.clone(),
                    received: received.clone(),
                },
            },
        };
        Ok(Verdict {
            status: self.disposition.status.clone(),
            disposition: self.disposition.clone(),
            authenticity,
            mic,
            original_message_id: original.to_owned(),
        })
    }
}

impl Mdn<'_> {
    /// [`Mdn::verify`], then the partner profile's trust check on the signer (rotation
    /// window, dates, chain to its trust anchors), e.g. a
    /// [`ProfileTrust`](crate::partner::ProfileTrust) from
    /// [`ActiveConnector::partner_trust`](crate::partner::ActiveConnector::partner_trust).
    /// A signer outside its window fails with an error naming the certificate and dates.
    pub fn verify_trusted(
        &self,
        sent: &SentMessage,
        trust: &dyn SignerTrust,
        limits: &Limits,
    ) -> Result<Verdict, Error> {
        self.verify_with(sent, Some(trust), limits)
    }
}

/// Whether the signature covers `report`, the part the MDN's fields were read from: its
/// bytes as received, or their canonical form (line ends restored). The verifier found
/// the signed part in the stream, the parser in the whole body; this ties the two, so
/// that no field is read from bytes the signature does not cover.
fn covers(verified: &Verified, report: &Part<'_>) -> bool {
    let digest = |bytes: &[u8]| verified.digest.digest(bytes) == verified.content_digest;
    digest(report.raw()) || digest(&mime::canonical_entity(report, false))
}

/// The fields of a disposition notification: header-style lines, folded or not, in
/// one or more blocks (RFC 8098 §3.1 and the blank-line-separated DSN layout some
/// products use), names in any case.
fn notification_fields(content: &[u8], limits: &Limits) -> Result<Vec<(String, String)>, Error> {
    let mime_limits = limits.mime();
    let mut owned: Cow<'_, [u8]> = Cow::Borrowed(content);
    if !content.ends_with(b"\n") {
        // The last field may lack its line end.
        let mut v = content.to_vec();
        v.extend_from_slice(b"\r\n");
        owned = Cow::Owned(v);
    }
    let mut rest: &[u8] = &owned;
    let mut fields = Vec::new();
    loop {
        while let Some(r) = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
        {
            rest = r;
        }
        if rest.is_empty() {
            break;
        }
        let (headers, end) = mime::parse_headers(rest, &mime_limits)?;
        if headers.is_empty() || end == 0 {
            break;
        }
        for h in &headers {
            if fields.len() >= limits.max_headers {
                return Err(mime::MimeError::MaxHeadersExceeded {
                    max_headers: limits.max_headers,
                }
                .into());
            }
            let value = String::from_utf8_lossy(&h.unfolded_value())
                .trim()
                .to_owned();
            fields.push((String::from_utf8_lossy(h.name).into_owned(), value));
        }
        rest = rest.get(end..).unwrap_or_default();
    }
    Ok(fields)
}

/// `rfc822; PartnerB` -> `PartnerB`; `PartnerB` stays.
fn strip_address_type(value: &str) -> String {
    let value = match value.split_once(';') {
        Some((kind, rest)) if !kind.contains('"') => rest,
        _ => value,
    };
    value.trim().trim_matches('"').to_owned()
}

/// An HTTP header value some products send wrapped in double quotes.
fn unquote(value: &[u8]) -> Cow<'_, [u8]> {
    let trimmed = value.trim_ascii();
    match trimmed
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
    {
        Some(inner) if !inner.contains(&b'"') => Cow::Borrowed(inner),
        _ => Cow::Borrowed(value),
    }
}
