//! CEM messages as AS2 messages: the outbound message that carries a CEM message's parts,
//! and the CEM message read back from a received one.
//!
//! **Sending** ([`outbound_message`]): the XML is the payload (part 1) and each
//! certificate part an [`Attachment`] with its Content-ID, so a request travels as one
//! `multipart/related` entity (RFC 6362, `type="application/ediint-cert-exchange+xml"`)
//! and a response, which has no certificate part, as a single XML payload (as mendelson
//! sends it). The message is always signed; encryption, compression and the MDN request
//! are set on the returned [`OutboundMessage`] as for any other.
//!
//! **Receiving** ([`ReceivedCem::from_received`]): after the normal inbound pipeline (with
//! [`InboundPolicy::accept_cem`](crate::message::inbound::InboundPolicy::accept_cem) or
//! [`accept_attachments`](crate::message::inbound::InboundPolicy::accept_attachments)
//! on), a message whose first part is `application/ediint-cert-exchange+xml`
//! ([`is_cem_message`]) is read into a [`CemMessage`] together with its
//! [`VerifiedSigner`]; an unsigned one is refused with [`CemError::Unsigned`]. The
//! [`rotation`](super::rotation) functions then check that signer against the partner
//! profile's current certificates before anything changes.

use super::message::CemMessage;
use super::response::CemResponse;
use super::rotation::VerifiedSigner;
use super::{CemError, CemLimits, CemPart, XML_CONTENT_TYPE};
use crate::cms::signed::{SignOptions, Signer};
use crate::limits::Limits;
use crate::message::headers::{As2Id, Feature};
use crate::message::inbound::Received;
use crate::message::outbound::OutboundMessage;
use crate::message::related::Attachment;

/// The AS2 message from `from` to `to` that carries `parts` (a CEM message's,
/// [`CemMessage::to_parts`] or [`RequestMessage::to_parts`](super::RequestMessage::to_parts)),
/// signed by `signer` with `options`.
///
/// Part 1, the XML, is the payload (`application/ediint-cert-exchange+xml`); every
/// further part is an attachment with its Content-Type and Content-ID, sent `base64` (the
/// certs-only CMS is binary DER). The message advertises [`Feature::Cem`] in
/// EDIINT-Features. Fails with [`CemError::NoXmlPart`] unless the first part is the XML.
/// Set encryption, compression and the MDN on the result as for any message, then build
/// it with [`outbound::build`](crate::message::outbound::build) or
/// [`outbound::start`](crate::message::outbound::start); a Content-ID that cannot be sent
/// is refused there.
pub fn outbound_message<'a>(
    from: As2Id,
    to: As2Id,
    parts: &'a [CemPart],
    signer: Signer<'a>,
    options: SignOptions,
) -> Result<OutboundMessage<'a>, CemError> {
    let (xml, certificates) = parts.split_first().ok_or(CemError::NoXmlPart)?;
    if !is_xml(&xml.content_type) {
        return Err(CemError::NoXmlPart);
    }
    let mut message = OutboundMessage::new(from, to, &xml.bytes);
    message.content_type = XML_CONTENT_TYPE.to_owned();
    message.subject = Some("EDIINT Certificate Exchange".to_owned());
    message.signing = Some((signer, options));
    message.attachments = certificates
        .iter()
        .map(|part| {
            Attachment::new(part.content_type.clone(), &part.bytes)
                .with_content_id(part.content_id.clone())
                .base64()
        })
        .collect();
    if !message.features.contains(&Feature::Cem) {
        message.features.push(Feature::Cem);
    }
    Ok(message)
}

/// Whether `received` carries a CEM message: its first part (or its single payload) is
/// `application/ediint-cert-exchange+xml`. A duplicate, which delivers nothing, does not.
pub fn is_cem_message(received: &Received) -> bool {
    if received.duplicate {
        return false;
    }
    match received.parts.first() {
        Some(first) => is_xml(&first.content_type),
        None => is_xml(&received.content_type),
    }
}

fn is_xml(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(XML_CONTENT_TYPE))
}

/// A CEM message read from a received AS2 message, with the signer whose signature
/// verified. Only [`ReceivedCem::from_received`] makes one, so the signer is always that
/// of the message the CEM parts came from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReceivedCem {
    /// The request or response.
    pub message: CemMessage,
    /// Who signed the AS2 message: pass it to
    /// [`rotation::handle_request`](super::rotation::handle_request) or
    /// [`rotation::handle_response`](super::rotation::handle_response), which check it
    /// against the partner's current certificates.
    pub signer: VerifiedSigner,
}

impl ReceivedCem {
    /// Reads the CEM message carried by `received`, a message from `from` (its AS2-From)
    /// accepted by [`Incoming::accept`](crate::message::inbound::Incoming::accept), which
    /// fills [`Received::payload`]. `Ok(None)` when it is no CEM message
    /// ([`is_cem_message`]).
    ///
    /// Fails with [`CemError::Unsigned`] if the message was not signed (before its XML is
    /// read: nothing from an unsigned CEM message is used), else with the error of
    /// [`CemMessage::from_parts`]. Convert an error into [`Error`](crate::Error) for the
    /// MDN: see [`CemError::disposition`].
    pub fn from_received(
        from: &As2Id,
        received: &Received,
        limits: &CemLimits,
        cms_limits: &Limits,
    ) -> Result<Option<Self>, CemError> {
        Self::from_received_parts(
            from,
            received,
            &received.part_payloads(),
            limits,
            cms_limits,
        )
    }

    /// [`ReceivedCem::from_received`] for a message received by streaming
    /// ([`Incoming::receive`](crate::message::inbound::Incoming::receive)), whose part
    /// octets went to a [`PayloadSink`](crate::message::receive::PayloadSink): `bodies`
    /// are those octets, one slice per entry of [`Received::parts`] in order (one slice
    /// for a single payload). Fails with [`CemError::Invalid`] if their number differs.
    pub fn from_received_parts(
        from: &As2Id,
        received: &Received,
        bodies: &[&[u8]],
        limits: &CemLimits,
        cms_limits: &Limits,
    ) -> Result<Option<Self>, CemError> {
        if !is_cem_message(received) {
            return Ok(None);
        }
        let signer = VerifiedSigner::from_received(from, received)?;
        if bodies.len() != received.parts.len().max(1) {
            return Err(CemError::Invalid {
                element: "parts",
                reason: "the part bodies do not match the parts received",
            });
        }
        let parts: Vec<(&str, &str, &[u8])> = if received.parts.is_empty() {
            vec![(
                received.content_type.as_str(),
                "",
                bodies.first().copied().unwrap_or_default(),
            )]
        } else {
            received
                .parts
                .iter()
                .zip(bodies)
                .map(|(part, body)| {
                    (
                        part.content_type.as_str(),
                        part.content_id.as_deref().unwrap_or_default(),
                        *body,
                    )
                })
                .collect()
        };
        let message = CemMessage::from_parts(&parts, limits, cms_limits)?;
        Ok(Some(ReceivedCem { message, signer }))
    }

    /// The request, if this is one.
    pub fn request(&self) -> Option<&super::RequestMessage> {
        match &self.message {
            CemMessage::Request(request) => Some(request),
            CemMessage::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn response(&self) -> Option<&CemResponse> {
        match &self.message {
            CemMessage::Response(response) => Some(response),
            CemMessage::Request(_) => None,
        }
    }
}
