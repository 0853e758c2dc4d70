//! `EDIINTCertificateExchangeRequest` (draft-meadors-certificate-exchange-14), in the
//! shape mendelson AS2 writes:
//!
//! ```xml
//! <EDIINTCertificateExchangeRequest xmlns="urn:ietf:params:xml:ns:ediintcertificateexchange"
//!     xmlns:ds="http://www.w3.org/2000/09/xmldsig#" requestId="...">
//!   <TradingPartnerInfo>
//!     <Name qualifier="AS2">PartnerA</Name>
//!     <MessageOriginated>2026-03-01T12:00:00+00:00</MessageOriginated>
//!   </TradingPartnerInfo>
//!   <TrustRequest>
//!     <CertUsage>keyEncipherment</CertUsage>
//!     <CertUsage>digitalSignature</CertUsage>
//!     <RespondByDate>2026-04-01T00:00:00+00:00</RespondByDate>
//!     <ResponseURL>https://as2.example.com/as2</ResponseURL>
//!     <EndEntity>
//!       <CertificateIdentifier>
//!         <ds:X509IssuerName>CN=Example CA,O=Example</ds:X509IssuerName>
//!         <ds:X509SerialNumber>4660</ds:X509SerialNumber>
//!       </CertificateIdentifier>
//!       <CertificateContentID>cert-1@example.com</CertificateContentID>
//!     </EndEntity>
//!   </TrustRequest>
//! </EDIINTCertificateExchangeRequest>
//! ```

use core::fmt;
use std::time::SystemTime;

use der::Decode;

use super::xml::{self, Element, Ns, XmlWriter};
use super::{CemError, CemLimits};
use crate::cert::Certificate;

pub(crate) const ROOT: &str = "EDIINTCertificateExchangeRequest";

/// What a certificate is to be used for (`CertUsage`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertUsage {
    /// `digitalSignature`: signing messages and MDNs.
    Signing,
    /// `keyEncipherment`: encrypting messages to the certificate's owner.
    Encryption,
    /// `tlsServer`: the owner's HTTPS server certificate.
    TlsServer,
    /// Any other value, kept as sent.
    Other(String),
}

impl CertUsage {
    /// The XML value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Signing => "digitalSignature",
            Self::Encryption => "keyEncipherment",
            Self::TlsServer => "tlsServer",
            Self::Other(other) => other,
        }
    }

    /// Reads an XML value (case-sensitive, as the schema's enumeration is).
    pub fn parse(text: &str) -> CertUsage {
        match text.trim() {
            "digitalSignature" => Self::Signing,
            "keyEncipherment" => Self::Encryption,
            "tlsServer" => Self::TlsServer,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }
}

impl fmt::Display for CertUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `TradingPartnerInfo`: who sent the document and when.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TradingPartnerInfo {
    /// `Name`: the sender's AS2 ID.
    pub name: String,
    /// The `qualifier` attribute of `Name` (`AS2`).
    pub qualifier: String,
    /// `MessageOriginated`.
    pub message_originated: SystemTime,
}

impl TradingPartnerInfo {
    /// An AS2 sender (`qualifier="AS2"`).
    pub fn as2(name: impl Into<String>, message_originated: SystemTime) -> Self {
        TradingPartnerInfo {
            name: name.into(),
            qualifier: "AS2".to_owned(),
            message_originated,
        }
    }

    pub(crate) fn from_element(element: &Element) -> Result<Self, CemError> {
        let info = element.required("TradingPartnerInfo")?;
        let name = info.required("Name")?;
        let text = name.text.trim();
        if text.is_empty() {
            return Err(CemError::Missing("Name"));
        }
        Ok(TradingPartnerInfo {
            name: text.to_owned(),
            qualifier: name.attribute("qualifier").unwrap_or("AS2").to_owned(),
            message_originated: xml::parse_date(
                info.required_text(Ns::Cem, "MessageOriginated")?,
                "MessageOriginated",
            )?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.open("TradingPartnerInfo");
        w.text_element_with("Name", &[("qualifier", &self.qualifier)], &self.name);
        w.text_element(
            "MessageOriginated",
            &xml::format_date(self.message_originated),
        );
        w.close("TradingPartnerInfo");
    }
}

/// `EndEntity`: the certificate offered, by issuer and serial number, and the Content-ID
/// of the certs-only part that carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndEntity {
    /// `ds:X509IssuerName`: the issuer's distinguished name (RFC 4514 text).
    pub issuer: String,
    /// `ds:X509SerialNumber`: the serial number in decimal.
    pub serial: String,
    /// `CertificateContentID`: the Content-ID of the part, without angle brackets.
    pub content_id: String,
}

impl EndEntity {
    /// The reference to `certificate` in the part `content_id`.
    pub fn for_certificate(certificate: &Certificate, content_id: impl Into<String>) -> Self {
        EndEntity {
            issuer: issuer_name(certificate),
            serial: xml::serial_decimal(certificate.serial()),
            content_id: content_id.into(),
        }
    }

    /// Whether `certificate` has this issuer and serial number (serial numbers compared
    /// as integers, issuer names as sets of attribute=value pairs, so that the spacing
    /// and order different products print compare equal).
    pub fn matches(&self, certificate: &Certificate) -> bool {
        same_certificate(&self.issuer, &self.serial, certificate)
    }

    fn from_element(element: &Element) -> Result<Self, CemError> {
        let entity = element.required("EndEntity")?;
        let identifier = entity.required("CertificateIdentifier")?;
        let issuer = identifier.required_text(Ns::Dsig, "X509IssuerName")?;
        let serial = identifier.required_text(Ns::Dsig, "X509SerialNumber")?;
        if xml::normalize_decimal(serial).is_none() {
            return Err(CemError::Invalid {
                element: "X509SerialNumber",
                reason: "not a decimal integer",
            });
        }
        let content_id = entity.required_text(Ns::Cem, "CertificateContentID")?;
        Ok(EndEntity {
            issuer: issuer.to_owned(),
            serial: serial.to_owned(),
            content_id: super::message::normalize_content_id(content_id).to_owned(),
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.open("EndEntity");
        w.open("CertificateIdentifier");
        w.text_element("ds:X509IssuerName", &self.issuer);
        w.text_element("ds:X509SerialNumber", &self.serial);
        w.close("CertificateIdentifier");
        w.text_element("CertificateContentID", &self.content_id);
        w.close("EndEntity");
    }
}

/// Whether `certificate` has the issuer and decimal serial number given.
pub(crate) fn same_certificate(issuer: &str, serial: &str, certificate: &Certificate) -> bool {
    xml::normalize_decimal(serial)
        == xml::normalize_decimal(&xml::serial_decimal(certificate.serial()))
        && xml::normalize_dn(issuer) == xml::normalize_dn(&issuer_name(certificate))
}

/// A certificate's issuer, RFC 4514 style.
pub(crate) fn issuer_name(certificate: &Certificate) -> String {
    x509_cert::name::Name::from_der(certificate.issuer_der())
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// `TrustRequest`: one certificate offered for some usages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrustRequest {
    /// `CertUsage` (one or more).
    pub usages: Vec<CertUsage>,
    /// `RespondByDate`: when the requester starts using the certificate; the response is
    /// due by then. Optional in the schema (Mendelson omits it when not set).
    pub respond_by: Option<SystemTime>,
    /// `ResponseURL`: where the response is to be sent.
    pub response_url: String,
    /// `EndEntity`: the certificate.
    pub end_entity: EndEntity,
}

impl TrustRequest {
    /// A request for `usages` of the certificate in `end_entity`.
    pub fn new(
        usages: Vec<CertUsage>,
        respond_by: Option<SystemTime>,
        response_url: impl Into<String>,
        end_entity: EndEntity,
    ) -> Self {
        TrustRequest {
            usages,
            respond_by,
            response_url: response_url.into(),
            end_entity,
        }
    }

    fn from_element(element: &Element) -> Result<Self, CemError> {
        let usages: Vec<CertUsage> = element
            .children_named(Ns::Cem, "CertUsage")
            .map(|u| CertUsage::parse(&u.text))
            .collect();
        if usages.is_empty() {
            return Err(CemError::Missing("CertUsage"));
        }
        let respond_by = match element.child("RespondByDate") {
            Some(date) => Some(xml::parse_date(date.text.trim(), "RespondByDate")?),
            None => None,
        };
        Ok(TrustRequest {
            usages,
            respond_by,
            response_url: element.required_text(Ns::Cem, "ResponseURL")?.to_owned(),
            end_entity: EndEntity::from_element(element)?,
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.open("TrustRequest");
        for usage in &self.usages {
            w.text_element("CertUsage", usage.as_str());
        }
        if let Some(date) = self.respond_by {
            w.text_element("RespondByDate", &xml::format_date(date));
        }
        w.text_element("ResponseURL", &self.response_url);
        self.end_entity.write(w);
        w.close("TrustRequest");
    }
}

/// `EDIINTCertificateExchangeRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CemRequest {
    /// The `requestId` attribute, echoed by the response.
    pub request_id: String,
    /// `TradingPartnerInfo`: the requester.
    pub partner: TradingPartnerInfo,
    /// `TrustRequest` elements, at least one.
    pub trust_requests: Vec<TrustRequest>,
}

impl CemRequest {
    /// A request with these trust requests.
    pub fn new(
        request_id: impl Into<String>,
        partner: TradingPartnerInfo,
        trust_requests: Vec<TrustRequest>,
    ) -> Self {
        CemRequest {
            request_id: request_id.into(),
            partner,
            trust_requests,
        }
    }

    /// The XML document (UTF-8, with declaration).
    pub fn to_xml(&self) -> Vec<u8> {
        let mut w = XmlWriter::new(ROOT, &[("requestId", &self.request_id)]);
        self.partner.write(&mut w);
        for request in &self.trust_requests {
            request.write(&mut w);
        }
        w.finish(ROOT)
    }

    /// Parses a request document.
    pub fn from_xml(input: &[u8], limits: &CemLimits) -> Result<Self, CemError> {
        match super::parse_xml(input, limits)? {
            super::CemDocument::Request(request) => Ok(request),
            super::CemDocument::Response(_) => {
                Err(CemError::UnexpectedRoot(super::response::ROOT.to_owned()))
            }
        }
    }

    pub(crate) fn from_element(root: &Element, limits: &CemLimits) -> Result<Self, CemError> {
        let request_id = request_id(root)?;
        let partner = TradingPartnerInfo::from_element(root)?;
        let trust_requests =
            trust_entries(root, "TrustRequest", limits, TrustRequest::from_element)?;
        Ok(CemRequest {
            request_id: request_id.to_owned(),
            partner,
            trust_requests,
        })
    }
}

/// The root's `requestId` attribute, trimmed and not empty (requests and responses alike).
pub(crate) fn request_id(root: &Element) -> Result<&str, CemError> {
    root.attribute("requestId")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or(CemError::Missing("requestId"))
}

/// The root's `TrustRequest` or `TrustResponse` children, at least one and at most
/// [`CemLimits::max_trust_entries`].
pub(crate) fn trust_entries<T>(
    root: &Element,
    name: &'static str,
    limits: &CemLimits,
    parse: fn(&Element) -> Result<T, CemError>,
) -> Result<Vec<T>, CemError> {
    let mut entries = Vec::new();
    for element in root.children_named(Ns::Cem, name) {
        if entries.len() >= limits.max_trust_entries {
            return Err(CemError::TooManyEntries {
                max: limits.max_trust_entries,
            });
        }
        entries.push(parse(element)?);
    }
    if entries.is_empty() {
        return Err(CemError::Missing(name));
    }
    Ok(entries)
}
