//! `EDIINTCertificateExchangeResponse` (draft-meadors-certificate-exchange-14), in the
//! shape mendelson AS2 writes:
//!
//! ```xml
//! <EDIINTCertificateExchangeResponse xmlns="urn:ietf:params:xml:ns:ediintcertificateexchange"
//!     xmlns:ds="http://www.w3.org/2000/09/xmldsig#" requestId="...">
//!   <TradingPartnerInfo>
//!     <Name qualifier="AS2">PartnerB</Name>
//!     <MessageOriginated>2026-03-02T09:00:00+00:00</MessageOriginated>
//!   </TradingPartnerInfo>
//!   <TrustResponse>
//!     <CertStatus>Rejected</CertStatus>
//!     <ReasonForRejection>certificate expired</ReasonForRejection>
//!     <CertificateReference>
//!       <ds:X509IssuerName>CN=Example CA,O=Example</ds:X509IssuerName>
//!       <ds:X509SerialNumber>4660</ds:X509SerialNumber>
//!     </CertificateReference>
//!   </TrustResponse>
//! </EDIINTCertificateExchangeResponse>
//! ```

use core::fmt;

use super::request::{
    TradingPartnerInfo, issuer_name, request_id, same_certificate, trust_entries,
};
use super::xml::{self, Element, Ns, XmlWriter};
use super::{CemError, CemLimits};
use crate::cert::Certificate;

pub(crate) const ROOT: &str = "EDIINTCertificateExchangeResponse";

/// `CertStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertStatus {
    /// `Accepted`: the responder will use the certificate.
    Accepted,
    /// `Rejected`: it will not; `ReasonForRejection` may say why.
    Rejected,
}

impl CertStatus {
    /// The XML value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "Accepted",
            Self::Rejected => "Rejected",
        }
    }
}

impl fmt::Display for CertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `CertificateReference`: the certificate a response is about, by issuer and serial.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateReference {
    /// `ds:X509IssuerName`.
    pub issuer: String,
    /// `ds:X509SerialNumber`, decimal.
    pub serial: String,
}

impl CertificateReference {
    /// The reference to `certificate`.
    pub fn for_certificate(certificate: &Certificate) -> Self {
        CertificateReference {
            issuer: issuer_name(certificate),
            serial: xml::serial_decimal(certificate.serial()),
        }
    }

    /// Whether `certificate` is the one referenced (compared as
    /// [`EndEntity::matches`](super::EndEntity::matches) does).
    pub fn matches(&self, certificate: &Certificate) -> bool {
        same_certificate(&self.issuer, &self.serial, certificate)
    }
}

/// `TrustResponse`: the answer for one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrustResponse {
    /// `CertStatus`.
    pub status: CertStatus,
    /// `ReasonForRejection`, for a rejection.
    pub reason: Option<String>,
    /// `CertificateReference`.
    pub certificate: CertificateReference,
}

impl TrustResponse {
    /// Accepts the certificate.
    pub fn accepted(certificate: CertificateReference) -> Self {
        TrustResponse {
            status: CertStatus::Accepted,
            reason: None,
            certificate,
        }
    }

    /// Rejects the certificate, saying why.
    pub fn rejected(certificate: CertificateReference, reason: impl Into<String>) -> Self {
        TrustResponse {
            status: CertStatus::Rejected,
            reason: Some(reason.into()),
            certificate,
        }
    }

    fn from_element(element: &Element) -> Result<Self, CemError> {
        let status = match element.required_text(Ns::Cem, "CertStatus")? {
            "Accepted" => CertStatus::Accepted,
            "Rejected" => CertStatus::Rejected,
            _ => {
                return Err(CemError::Invalid {
                    element: "CertStatus",
                    reason: "neither Accepted nor Rejected",
                });
            }
        };
        let reason = element
            .child("ReasonForRejection")
            .map(|r| r.text.trim().to_owned())
            .filter(|r| !r.is_empty());
        let reference = element.required("CertificateReference")?;
        let serial = reference.required_text(Ns::Dsig, "X509SerialNumber")?;
        if xml::normalize_decimal(serial).is_none() {
            return Err(CemError::Invalid {
                element: "X509SerialNumber",
                reason: "not a decimal integer",
            });
        }
        Ok(TrustResponse {
            status,
            reason,
            certificate: CertificateReference {
                issuer: reference
                    .required_text(Ns::Dsig, "X509IssuerName")?
                    .to_owned(),
                serial: serial.to_owned(),
            },
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.open("TrustResponse");
        w.text_element("CertStatus", self.status.as_str());
        if let (CertStatus::Rejected, Some(reason)) = (self.status, &self.reason) {
            w.text_element("ReasonForRejection", reason);
        }
        w.open("CertificateReference");
        w.text_element("ds:X509IssuerName", &self.certificate.issuer);
        w.text_element("ds:X509SerialNumber", &self.certificate.serial);
        w.close("CertificateReference");
        w.close("TrustResponse");
    }
}

/// `EDIINTCertificateExchangeResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CemResponse {
    /// The `requestId` attribute: the request answered.
    pub request_id: String,
    /// `TradingPartnerInfo`: the responder.
    pub partner: TradingPartnerInfo,
    /// One `TrustResponse` per certificate of the request.
    pub trust_responses: Vec<TrustResponse>,
}

impl CemResponse {
    /// A response to `request_id`.
    pub fn new(
        request_id: impl Into<String>,
        partner: TradingPartnerInfo,
        trust_responses: Vec<TrustResponse>,
    ) -> Self {
        CemResponse {
            request_id: request_id.into(),
            partner,
            trust_responses,
        }
    }

    /// The answer for `certificate`, if the response has one.
    pub fn response_for(&self, certificate: &Certificate) -> Option<&TrustResponse> {
        self.trust_responses
            .iter()
            .find(|r| r.certificate.matches(certificate))
    }

    /// The XML document (UTF-8, with declaration).
    pub fn to_xml(&self) -> Vec<u8> {
        let mut w = XmlWriter::new(ROOT, &[("requestId", &self.request_id)]);
        self.partner.write(&mut w);
        for response in &self.trust_responses {
            response.write(&mut w);
        }
        w.finish(ROOT)
    }

    /// Parses a response document.
    pub fn from_xml(input: &[u8], limits: &CemLimits) -> Result<Self, CemError> {
        match super::parse_xml(input, limits)? {
            super::CemDocument::Response(response) => Ok(response),
            super::CemDocument::Request(_) => {
                Err(CemError::UnexpectedRoot(super::request::ROOT.to_owned()))
            }
        }
    }

    pub(crate) fn from_element(root: &Element, limits: &CemLimits) -> Result<Self, CemError> {
        let request_id = request_id(root)?;
        let partner = TradingPartnerInfo::from_element(root)?;
        let trust_responses =
            trust_entries(root, "TrustResponse", limits, TrustResponse::from_element)?;
        Ok(CemResponse {
            request_id: request_id.to_owned(),
            partner,
            trust_responses,
        })
    }
}
