//! AS2 HTTP headers (RFC 4130 §6): AS2-From/AS2-To identifiers, Message-ID, the MDN request
//! headers and EDIINT-Features, and the HTTP response.
//!
//! Headers in and out are one type, [`HttpHeaders`]: `(name, value)` pairs in wire order,
//! names matched case-insensitively, values as bytes. Output headers are never folded.
//! The header types live in the S/MIME layer, the one writer of the AS2 header block for
//! messages and MDNs alike; they are re-exported here under their public paths.

pub use crate::smime::headers::{
    AS2_VERSION, As2Id, As2Version, DEFAULT_AS2_PRODUCT, DEFAULT_RECEIPT_MICALG,
    DispositionOptions, EdiintFeatures, Feature, HttpHeaders, Importance, MAX_AS2_ID_LEN,
    MAX_AS2_PRODUCT_LEN, MAX_MESSAGE_ID_LEN, MessageId, OptionParameter, SUPPORTED_FEATURES,
    SignedReceipt, check_as2_product, check_as2_version, head_bytes, receipt_delivery_url,
    received_as2_product,
};

use crate::error::Error;

/// An HTTP response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers (a synchronous MDN's Content-Type among them).
    pub headers: HttpHeaders,
    /// The body (a synchronous MDN, or empty).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response.
    pub fn new(status: u16, headers: HttpHeaders, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    /// Fails with `HTTP_ERROR_RESPONSE_FROM_PARTNER` unless the status is 2xx.
    pub fn check_status(&self, url: &str) -> Result<(), Error> {
        if (200..300).contains(&self.status) {
            Ok(())
        } else {
            Err(crate::partner::PartnerError::HttpStatus {
                url: url.to_owned(),
                status: self.status,
            }
            .into())
        }
    }
}
