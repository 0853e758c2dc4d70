//! EDIINT Certificate Exchange Messaging (CEM): the Drummond CEM profile of
//! draft-meadors-certificate-exchange-14, for rolling certificates over between AS2
//! partners without a manual exchange.
//!
//! A CEM message is a `multipart/related` AS2 payload (RFC 6362) whose first part is the
//! `application/ediint-cert-exchange+xml` document and whose further parts are the
//! certificates, each `application/pkcs7-mime; smime-type=certs-only` ([`certs_only`]),
//! named from the XML by Content-ID:
//!
//! - [`CemRequest`] (`EDIINTCertificateExchangeRequest`): request ID, the sender's AS2 ID,
//!   and one [`TrustRequest`] per certificate (usages, respond-by date, response URL, and
//!   the `EndEntity` reference: issuer, serial number and Content-ID of its part);
//! - [`CemResponse`] (`EDIINTCertificateExchangeResponse`): the request ID and one
//!   [`TrustResponse`] per certificate, `Accepted` or `Rejected` with a reason.
//!
//! This module builds and reads the parts ([`CemPart`], [`CemMessage::from_parts`]); the
//! `multipart/related` entity around them, its signature and encryption are the message
//! layer's. [`rotation`] ties CEM to [`partner`](crate::partner) profiles: an inbound
//! request changes a partner profile only with a [`VerifiedSigner`] proving that the
//! message was signed with the partner's current certificate, and an accepted certificate
//! enters the profile with the reference service's rotation windows.
//!
//! The XML is read and written with `quick-xml` under [`CemLimits`]: no DOCTYPE, no
//! entity other than the predefined ones, bounded size, depth and element count; unknown
//! elements are skipped where the schema has extension points.
//!
//! [`certs_only`]: crate::cms::certs_only

mod message;
mod request;
mod response;
pub mod rotation;
pub(crate) mod xml;

use core::fmt;

pub use message::{CemMessage, CemPart, RequestMessage};
pub use request::{CemRequest, CertUsage, EndEntity, TradingPartnerInfo, TrustRequest};
pub use response::{CemResponse, CertStatus, CertificateReference, TrustResponse};
pub use rotation::VerifiedSigner;
pub use xml::{CEM_NAMESPACE, DSIG_NAMESPACE};

/// The Content-Type of the CEM XML part.
pub const XML_CONTENT_TYPE: &str = "application/ediint-cert-exchange+xml";
/// The Content-Type of a certificate part (RFC 8551 §3.8).
pub const CERTS_ONLY_CONTENT_TYPE: &str = "application/pkcs7-mime; smime-type=certs-only";
/// The `EDIINT-Features` token that advertises CEM (RFC 6017).
pub const FEATURE: &str = "CEM";

/// Bounds on what a CEM message may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CemLimits {
    /// Largest XML document, in bytes (default 256 KiB; real ones are about 2 KiB).
    pub max_xml_size: usize,
    /// Deepest element nesting (default 16; the schema needs 5).
    pub max_depth: usize,
    /// Most elements in the document (default 1024).
    pub max_elements: usize,
    /// Most `TrustRequest`s or `TrustResponse`s (default 10, a profile's certificate limit).
    pub max_trust_entries: usize,
    /// Most parts in a message (default 11: the XML and ten certificates).
    pub max_parts: usize,
}

impl Default for CemLimits {
    fn default() -> Self {
        CemLimits {
            max_xml_size: 256 * 1024,
            max_depth: 16,
            max_elements: 1024,
            max_trust_entries: 10,
            max_parts: 11,
        }
    }
}

/// What is wrong with a document's XML syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmlProblem {
    /// `quick-xml` refused it (not well-formed); its message.
    Syntax(String),
    /// An attribute value holds an entity reference other than the predefined ones.
    EntityInAttribute,
    /// Content after the root element.
    TrailingContent,
    /// An element is not closed at the end of the input.
    Unclosed,
    /// No root element.
    NoRoot,
    /// The declaration names an encoding other than UTF-8.
    UnsupportedEncoding,
}

impl fmt::Display for XmlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(message) => write!(f, "{message}"),
            Self::EntityInAttribute => f.write_str("entity reference in an attribute value"),
            Self::TrailingContent => f.write_str("content after the root element"),
            Self::Unclosed => f.write_str("element not closed"),
            Self::NoRoot => f.write_str("no root element"),
            Self::UnsupportedEncoding => f.write_str("encoding other than UTF-8"),
        }
    }
}

/// Why a CEM message could not be read, built or applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CemError {
    /// The XML is not well-formed.
    Xml {
        /// What is wrong.
        problem: XmlProblem,
        /// Byte offset where reading stopped.
        position: u64,
    },
    /// The XML is not UTF-8.
    NotUtf8,
    /// The XML has a DOCTYPE: DTDs, entity declarations and external entities are refused.
    DoctypeRefused,
    /// An entity reference other than XML's five predefined ones (its name, cut to 64
    /// characters).
    EntityRefused(String),
    /// The XML is larger than [`CemLimits::max_xml_size`].
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Elements nest deeper than [`CemLimits::max_depth`].
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More elements than [`CemLimits::max_elements`].
    TooManyElements {
        /// The limit.
        max: usize,
    },
    /// More trust requests or responses, or parts, than the limits allow.
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// The root is neither `EDIINTCertificateExchangeRequest` nor
    /// `EDIINTCertificateExchangeResponse` in the CEM namespace (its local name).
    UnexpectedRoot(String),
    /// A required element or attribute is missing or empty.
    Missing(&'static str),
    /// An element's value is invalid.
    Invalid {
        /// The element.
        element: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// No `application/ediint-cert-exchange+xml` part.
    NoXmlPart,
    /// The XML names a certificate Content-ID that no part has.
    MissingPart(String),
    /// Two parts have the same Content-ID.
    DuplicatePart(String),
    /// A referenced part is not `application/pkcs7-mime` certificates-only (its
    /// Content-ID).
    NotCertsOnly(String),
    /// The referenced part holds no certificate with the `EndEntity`'s issuer and serial
    /// number (its Content-ID).
    CertificateMismatch(String),
    /// A certificate or CMS structure could not be read.
    Certificate(crate::Error),
    /// The message carrying a CEM request or response was not signed.
    Unsigned,
    /// The message's signer is not one of the partner's current signing certificates.
    SignerNotCurrent(crate::Error),
    /// The AS2 ID in the message or its `TradingPartnerInfo` is not the partner's.
    SenderMismatch {
        /// The partner's AS2 ID.
        expected: String,
        /// What the message says.
        found: String,
    },
    /// A response for another request.
    RequestIdMismatch {
        /// The request's ID.
        expected: String,
        /// The response's.
        found: String,
    },
    /// The profile could not take the change (e.g. its certificate limit).
    Profile(crate::Error),
}

impl fmt::Display for CemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Xml { problem, position } => {
                write!(f, "CEM XML not well-formed at byte {position}: {problem}")
            }
            Self::NotUtf8 => f.write_str("CEM XML is not UTF-8"),
            Self::DoctypeRefused => f.write_str("CEM XML with a DOCTYPE is refused"),
            Self::EntityRefused(name) => write!(f, "CEM XML entity reference &{name}; refused"),
            Self::TooLarge { size, max } => {
                write!(f, "CEM XML of {size} bytes exceeds the limit of {max}")
            }
            Self::TooDeep { max } => write!(f, "CEM XML nests deeper than {max} elements"),
            Self::TooManyElements { max } => write!(f, "CEM XML has more than {max} elements"),
            Self::TooManyEntries { max } => write!(f, "CEM message has more than {max} entries"),
            Self::UnexpectedRoot(name) => write!(f, "unexpected CEM root element {name:?}"),
            Self::Missing(what) => write!(f, "CEM XML lacks {what}"),
            Self::Invalid { element, reason } => write!(f, "CEM {element}: {reason}"),
            Self::NoXmlPart => f.write_str("no application/ediint-cert-exchange+xml part"),
            Self::MissingPart(id) => write!(f, "no part with Content-ID <{id}>"),
            Self::DuplicatePart(id) => write!(f, "two parts with Content-ID <{id}>"),
            Self::NotCertsOnly(id) => write!(f, "part <{id}> is not a certs-only CMS"),
            Self::CertificateMismatch(id) => write!(
                f,
                "part <{id}> holds no certificate with the referenced issuer and serial number"
            ),
            Self::Certificate(e) => write!(f, "CEM certificate: {e}"),
            Self::Unsigned => f.write_str("CEM message was not signed"),
            Self::SignerNotCurrent(e) => {
                write!(
                    f,
                    "CEM message not signed with the partner's current certificate: {e}"
                )
            }
            Self::SenderMismatch { expected, found } => {
                write!(f, "CEM message from {found:?}, expected {expected:?}")
            }
            Self::RequestIdMismatch { expected, found } => {
                write!(
                    f,
                    "CEM response for request {found:?}, expected {expected:?}"
                )
            }
            Self::Profile(e) => write!(f, "CEM change to the profile failed: {e}"),
        }
    }
}

impl std::error::Error for CemError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Certificate(e) | Self::SignerNotCurrent(e) | Self::Profile(e) => Some(e),
            _ => None,
        }
    }
}

/// Parses a CEM XML document (request or response) on its own, without its parts.
pub fn parse_xml(input: &[u8], limits: &CemLimits) -> Result<CemDocument, CemError> {
    let root = xml::parse(input, limits)?;
    match (root.ns, root.name.as_str()) {
        (Some(xml::Ns::Cem), request::ROOT) => Ok(CemDocument::Request(CemRequest::from_element(
            &root, limits,
        )?)),
        (Some(xml::Ns::Cem), response::ROOT) => Ok(CemDocument::Response(
            CemResponse::from_element(&root, limits)?,
        )),
        _ => Err(CemError::UnexpectedRoot(
            root.name.chars().take(64).collect(),
        )),
    }
}

/// A CEM XML document.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CemDocument {
    /// `EDIINTCertificateExchangeRequest`.
    Request(CemRequest),
    /// `EDIINTCertificateExchangeResponse`.
    Response(CemResponse),
}
