//! Certificates-only CMS (`application/pkcs7-mime; smime-type=certs-only`, RFC 8551
//! §3.8): a degenerate SignedData that carries certificates and no signers.
//!
//! ```text
//! SignedData ::= SEQUENCE {
//!   version CMSVersion,                      -- 1
//!   digestAlgorithms SET OF ...,             -- empty
//!   encapContentInfo EncapsulatedContentInfo, -- id-data, no content
//!   certificates [0] IMPLICIT CertificateSet,
//!   crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
//!   signerInfos SET OF SignerInfo }          -- empty
//! ```
//!
//! Reading uses the crate's BER reader (partners may send indefinite lengths) and keeps each
//! certificate's DER exactly as sent (a DER certificate comes back byte for byte; one with
//! BER lengths is brought to DER, never re-encoded from decoded fields).
//!
//! ```
//! use as2_proto::{Certificate, Limits, cms::certs_only};
//! let cert = Certificate::from_pem(include_bytes!("../../examples/pki/PartnerA/sign.crt"))?;
//! let der = certs_only::build(&[&cert]);
//! let back = certs_only::parse(&der, &Limits::default())?;
//! assert_eq!(back[0].der(), cert.der());
//! # Ok::<(), as2_proto::Error>(())
//! ```

use super::ber::{self, Tag};
use super::{ContentType, oid};
use crate::cert::Certificate;
use crate::error::Error;
use crate::limits::{Limit, Limits};

/// The certificates-only ContentInfo (DER) carrying `certificates` in order.
pub fn build(certificates: &[&Certificate]) -> Vec<u8> {
    let ders: Vec<&[u8]> = certificates.iter().map(|c| c.der()).collect();
    let signed_data = ber::encode_constructed(
        Tag::SEQUENCE,
        &[
            &ber::encode(Tag::INTEGER, &[1]),
            &ber::encode_constructed(Tag::SET, &[]),
            &super::encapsulated(oid::DATA, None),
            &ber::encode_constructed(Tag::context(0, true), &ders),
            &ber::encode_constructed(Tag::SET, &[]),
        ],
    );
    super::content_info(ContentType::SignedData, &signed_data)
}

/// Reads a certificates-only ContentInfo: SignedData with no signers and no content, and
/// at least one X.509 certificate (at most [`Limits::max_certificates`]). A SignedData
/// with signers, encapsulated content, or a certificate that cannot be read is refused
/// with [`Error::Malformed`].
pub fn parse(input: &[u8], limits: &Limits) -> Result<Vec<Certificate>, Error> {
    let content = super::expect_content_info(input, ContentType::SignedData, limits)?;
    let mut r = content.children("SignedData")?;
    r.expect(Tag::INTEGER, "SignedData version")?;
    r.expect(Tag::SET, "digestAlgorithms")?;
    let encap = r.expect(Tag::SEQUENCE, "encapContentInfo")?;
    let (_, encapsulated) = super::parse_encapsulated(&encap)?;
    if encapsulated.is_some_and(|c| !c.is_empty()) {
        return Err(Error::malformed(
            "certs-only (encapsulated content)",
            encap.offset,
        ));
    }
    let set = r
        .read_optional(Tag::context(0, true), "certificates")?
        .ok_or(Error::malformed(
            "certs-only (no certificates)",
            content.offset,
        ))?;
    r.read_optional(Tag::context(1, true), "crls")?;
    let infos = r.expect(Tag::SET, "signerInfos")?;
    r.finish("SignedData")?;
    if !infos.children("signerInfos")?.is_empty() {
        return Err(Error::malformed("certs-only (signerInfos)", infos.offset));
    }

    let mut certificates = Vec::new();
    let mut c = set.children("certificates")?;
    while !c.is_empty() {
        let choice = c.read("CertificateChoices")?;
        if certificates.len() >= limits.max_certificates {
            return Err(Limit::Certificates.exceeded(limits));
        }
        if choice.tag != Tag::SEQUENCE {
            return Err(Error::malformed("certs-only (certificate)", choice.offset));
        }
        certificates.push(
            Certificate::from_tlv(&choice)
                .map_err(|_| Error::malformed("certs-only (certificate)", choice.offset))?,
        );
    }
    if certificates.is_empty() {
        return Err(Error::malformed("certs-only (no certificates)", set.offset));
    }
    Ok(certificates)
}

/// Whether `input` is a certificates-only ContentInfo, without reading the certificates'
/// contents: for telling a certs-only part from other `application/pkcs7-mime`.
pub fn is_certs_only(input: &[u8], limits: &Limits) -> bool {
    let Ok(content) = super::expect_content_info(input, ContentType::SignedData, limits) else {
        return false;
    };
    let Ok(mut r) = content.children("SignedData") else {
        return false;
    };
    let mut last = None;
    while !r.is_empty() {
        match r.read("SignedData") {
            Ok(tlv) => last = Some(tlv),
            Err(_) => return false,
        }
    }
    last.is_some_and(|infos| {
        infos.tag == Tag::SET && infos.children("signerInfos").is_ok_and(|c| c.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(path: &str) -> Certificate {
        let pem = std::fs::read(format!(
            "{}/examples/pki/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        Certificate::from_pem(&pem).unwrap()
    }

    #[test]
    fn round_trip_keeps_exact_der_and_order() {
        let a = cert("PartnerA/sign.crt");
        let b = cert("ca/ca.crt");
        let limits = Limits::default();
        let der = build(&[&a, &b]);
        assert!(is_certs_only(&der, &limits));
        let back = parse(&der, &limits).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].der(), a.der());
        assert_eq!(back[1].der(), b.der());
    }

    #[test]
    fn refuses_empty_sets_and_trailing_data() {
        let limits = Limits::default();
        let empty = build(&[]);
        assert!(matches!(
            parse(&empty, &limits),
            Err(Error::Malformed { .. })
        ));
        let mut trailing = build(&[&cert("PartnerA/sign.crt")]);
        trailing.push(0);
        assert!(parse(&trailing, &limits).is_err());
        assert!(!is_certs_only(b"not ber", &limits));
    }

    #[test]
    fn refuses_too_many_certificates() {
        let a = cert("PartnerA/sign.crt");
        let limits = Limits {
            max_certificates: 1,
            ..Limits::default()
        };
        let der = build(&[&a, &a]);
        assert!(matches!(
            parse(&der, &limits),
            Err(Error::LimitExceeded { .. })
        ));
    }
}
