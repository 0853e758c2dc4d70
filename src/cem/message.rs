//! A CEM message as its parts: the XML first, then one certs-only part per certificate,
//! each named from the XML by Content-ID. The `multipart/related` entity around them
//! (RFC 6362) belongs to the message layer; this is the interface to it.

use super::request::{CemRequest, TrustRequest};
use super::response::CemResponse;
use super::{CERTS_ONLY_CONTENT_TYPE, CemDocument, CemError, CemLimits, XML_CONTENT_TYPE};
use crate::cert::Certificate;
use crate::cms::certs_only;
use crate::limits::Limits;
use crate::mime::ContentType;

/// One part of a CEM message, ready for a `multipart/related` body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CemPart {
    /// The Content-Type header value.
    pub content_type: String,
    /// The Content-ID, without angle brackets (as the XML names it).
    pub content_id: String,
    /// The body: the XML document, or the DER certs-only ContentInfo (binary; the
    /// message layer chooses the transfer encoding).
    pub bytes: Vec<u8>,
}

impl CemPart {
    /// The Content-ID header value: the ID in angle brackets (RFC 2392).
    pub fn content_id_header(&self) -> String {
        format!("<{}>", self.content_id)
    }
}

/// A Content-ID as the XML names it: surrounding white space and angle brackets dropped.
pub(crate) fn normalize_content_id(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
        .trim()
}

/// A request with the certificate each [`TrustRequest`] offers, and the rest of its
/// part's certificates (the chain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestMessage {
    request: CemRequest,
    /// Per trust request: the end-entity certificate, then the chain from its part.
    certificates: Vec<Vec<Certificate>>,
}

impl RequestMessage {
    /// Pairs `request` with the certificate of each of its trust requests, in order (each
    /// with its chain, possibly empty). Fails with [`CemError::CertificateMismatch`] if a
    /// certificate is not the one its `EndEntity` names, and with
    /// [`CemError::TooManyEntries`] if the counts differ.
    pub fn new(
        request: CemRequest,
        certificates: Vec<(Certificate, Vec<Certificate>)>,
    ) -> Result<Self, CemError> {
        if certificates.len() != request.trust_requests.len() {
            return Err(CemError::TooManyEntries {
                max: request.trust_requests.len(),
            });
        }
        let mut all = Vec::new();
        for (trust, (certificate, chain)) in request.trust_requests.iter().zip(certificates) {
            if !trust.end_entity.matches(&certificate) {
                return Err(CemError::CertificateMismatch(
                    trust.end_entity.content_id.clone(),
                ));
            }
            let mut entry = vec![certificate];
            entry.extend(chain);
            all.push(entry);
        }
        Ok(RequestMessage {
            request,
            certificates: all,
        })
    }

    /// The request document.
    pub fn request(&self) -> &CemRequest {
        &self.request
    }

    /// Each trust request with its certificate and chain.
    pub fn entries(&self) -> impl Iterator<Item = (&TrustRequest, &Certificate, &[Certificate])> {
        self.request
            .trust_requests
            .iter()
            .zip(&self.certificates)
            .filter_map(|(trust, certs)| {
                let (first, chain) = certs.split_first()?;
                Some((trust, first, chain))
            })
    }

    /// The parts: the XML (Content-ID `cem-request-<requestId>`), then one certs-only part
    /// per distinct `CertificateContentID`, holding the certificate then its chain.
    pub fn to_parts(&self) -> Vec<CemPart> {
        let mut parts = vec![CemPart {
            content_type: XML_CONTENT_TYPE.to_owned(),
            content_id: format!("cem-request-{}", self.request.request_id),
            bytes: self.request.to_xml(),
        }];
        for (trust, certs) in self.request.trust_requests.iter().zip(&self.certificates) {
            let id = &trust.end_entity.content_id;
            if parts.iter().any(|p| &p.content_id == id) {
                continue;
            }
            let refs: Vec<&Certificate> = certs.iter().collect();
            parts.push(CemPart {
                content_type: CERTS_ONLY_CONTENT_TYPE.to_owned(),
                content_id: id.clone(),
                bytes: certs_only::build(&refs),
            });
        }
        parts
    }
}

/// A CEM message read from its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CemMessage {
    /// A request with its certificates.
    Request(RequestMessage),
    /// A response (it has no certificate parts).
    Response(CemResponse),
}

impl CemMessage {
    /// Reads a CEM message from its parts, each `(Content-Type header value, Content-ID
    /// header value, body)` with the body transfer-decoded, in the order of the
    /// `multipart/related` entity. A single part (Mendelson sends a response that way, not
    /// wrapped in `multipart/related`) works too.
    ///
    /// The XML part is the first `application/ediint-cert-exchange+xml` part. For a
    /// request, every `CertificateContentID` must name a part (Content-IDs compared without
    /// angle brackets) that is a certs-only CMS holding the certificate the `EndEntity`
    /// names by issuer and serial; the part's other certificates are its chain. Parts
    /// nobody references are ignored. `cms_limits` bounds the CMS reading.
    pub fn from_parts(
        parts: &[(&str, &str, &[u8])],
        limits: &CemLimits,
        cms_limits: &Limits,
    ) -> Result<CemMessage, CemError> {
        if parts.len() > limits.max_parts {
            return Err(CemError::TooManyEntries {
                max: limits.max_parts,
            });
        }
        for (i, (_, id, _)) in parts.iter().enumerate() {
            let id = normalize_content_id(id);
            if !id.is_empty()
                && parts
                    .iter()
                    .skip(i.saturating_add(1))
                    .any(|(_, other, _)| normalize_content_id(other) == id)
            {
                return Err(CemError::DuplicatePart(id.to_owned()));
            }
        }
        let (_, _, xml) = parts
            .iter()
            .find(|(content_type, _, _)| is_type(content_type, XML_CONTENT_TYPE))
            .ok_or(CemError::NoXmlPart)?;
        let request = match super::parse_xml(xml, limits)? {
            CemDocument::Response(response) => return Ok(CemMessage::Response(response)),
            CemDocument::Request(request) => request,
        };
        let mut certificates = Vec::new();
        for trust in &request.trust_requests {
            let wanted = &trust.end_entity.content_id;
            let (content_type, _, bytes) = parts
                .iter()
                .find(|(_, id, _)| normalize_content_id(id) == wanted)
                .ok_or_else(|| CemError::MissingPart(wanted.clone()))?;
            if !is_type(content_type, "application/pkcs7-mime")
                && !is_type(content_type, "application/x-pkcs7-mime")
            {
                return Err(CemError::NotCertsOnly(wanted.clone()));
            }
            let mut certs = certs_only::parse(bytes, cms_limits).map_err(CemError::Certificate)?;
            let position = certs
                .iter()
                .position(|c| trust.end_entity.matches(c))
                .ok_or_else(|| CemError::CertificateMismatch(wanted.clone()))?;
            let end_entity = certs.remove(position);
            certificates.push((end_entity, certs));
        }
        RequestMessage::new(request, certificates).map(CemMessage::Request)
    }

    /// The parts (see [`RequestMessage::to_parts`]); a response is one XML part with
    /// Content-ID `cem-response-<requestId>`.
    pub fn to_parts(&self) -> Vec<CemPart> {
        match self {
            Self::Request(request) => request.to_parts(),
            Self::Response(response) => vec![CemPart {
                content_type: XML_CONTENT_TYPE.to_owned(),
                content_id: format!("cem-response-{}", response.request_id),
                bytes: response.to_xml(),
            }],
        }
    }
}

fn is_type(header: &str, mime_type: &str) -> bool {
    ContentType::parse(header.as_bytes()).is_ok_and(|t| t.is(mime_type))
}
