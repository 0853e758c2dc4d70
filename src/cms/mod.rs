//! Cryptographic Message Syntax (RFC 5652) as AS2 uses it: detached and encapsulated
//! [`SignedData`](signed), [`EnvelopedData`](enveloped) and RFC 3274
//! [`CompressedData`](compressed); AuthEnvelopedData (RFC 5083) with AES-GCM and AES-CCM
//! (RFC 5084), written by the [`enveloped`] writer and read by
//! [`auth_enveloped::decrypt`] and the inbound pipeline.
//!
//! Everything here reads BER (indefinite lengths, chunked strings) and writes DER.

pub(crate) mod aead;
pub mod algorithm;
pub mod auth_enveloped;
pub(crate) mod ber;
pub mod certs_only;
pub mod compressed;
pub mod enveloped;
pub(crate) mod kari;
pub mod signed;
pub(crate) mod stream;

use const_oid::ObjectIdentifier;

use crate::error::{AlgorithmKind, Error};
use crate::limits::Limits;
use ber::{Reader, Tag, Tlv};

/// Object identifiers used by the CMS layer.
pub mod oid {
    use const_oid::ObjectIdentifier as Oid;

    /// id-data.
    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    /// id-signedData.
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    /// id-envelopedData.
    pub const ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");
    /// id-ct-compressedData (RFC 3274).
    pub const COMPRESSED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.9");
    /// id-alg-zlibCompress (RFC 3274).
    pub const ZLIB_COMPRESS: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.3.8");
    /// content-type attribute.
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    /// message-digest attribute.
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    /// signing-time attribute.
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
    /// CMSAlgorithmProtection attribute (RFC 6211).
    pub const CMS_ALGORITHM_PROTECTION: Oid = Oid::new_unwrap("1.2.840.113549.1.9.52");
    /// SHA-1.
    pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
    /// SHA-256.
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    /// SHA-384.
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    /// SHA-512.
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    /// rsaEncryption.
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    /// id-RSAES-OAEP.
    pub const RSAES_OAEP: Oid = Oid::new_unwrap("1.2.840.113549.1.1.7");
    /// id-mgf1.
    pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
    /// id-pSpecified.
    pub const P_SPECIFIED: Oid = Oid::new_unwrap("1.2.840.113549.1.1.9");
    /// id-RSASSA-PSS.
    pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    /// sha1WithRSAEncryption.
    pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    /// sha256WithRSAEncryption.
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    /// sha384WithRSAEncryption.
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    /// sha512WithRSAEncryption.
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    /// id-ecPublicKey (RFC 5480 §2.1.1).
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    /// ecdsa-with-SHA1 (RFC 3279 §2.2.3).
    pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    /// ecdsa-with-SHA256 (RFC 5758 §3.2).
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    /// ecdsa-with-SHA384 (RFC 5758 §3.2).
    pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    /// ecdsa-with-SHA512 (RFC 5758 §3.2).
    pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    /// aes128-CBC.
    pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
    /// aes192-CBC.
    pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
    /// aes256-CBC.
    pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
    /// id-aes128-GCM (RFC 5084).
    pub const AES128_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.6");
    /// id-aes256-GCM (RFC 5084).
    pub const AES256_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.46");
    /// id-aes128-CCM (RFC 5084).
    pub const AES128_CCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.7");
    /// id-aes256-CCM (RFC 5084).
    pub const AES256_CCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.47");
    /// id-ct-authEnvelopedData (RFC 5083).
    pub const AUTH_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.23");
    /// des-ede3-cbc.
    pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
    /// subjectKeyIdentifier extension.
    pub const SUBJECT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.14");
}

/// The content type of a CMS ContentInfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentType {
    /// id-data.
    Data,
    /// id-signedData.
    SignedData,
    /// id-envelopedData.
    EnvelopedData,
    /// id-ct-compressedData.
    CompressedData,
    /// id-ct-authEnvelopedData (RFC 5083).
    AuthEnvelopedData,
}

impl ContentType {
    /// The content type's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Data => oid::DATA,
            Self::SignedData => oid::SIGNED_DATA,
            Self::EnvelopedData => oid::ENVELOPED_DATA,
            Self::CompressedData => oid::COMPRESSED_DATA,
            Self::AuthEnvelopedData => oid::AUTH_ENVELOPED_DATA,
        }
    }

    /// The content type with this identifier, if it is one AS2 uses.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [
            Self::Data,
            Self::SignedData,
            Self::EnvelopedData,
            Self::CompressedData,
            Self::AuthEnvelopedData,
        ]
        .into_iter()
        .find(|c| c.oid() == *oid)
    }
}

/// Reads the content type of a CMS ContentInfo without parsing the content.
///
/// ```
/// use as2_proto::cms::{self, ContentType};
/// let info = cms::compressed::compress(b"hello", Default::default());
/// assert_eq!(
///     cms::content_type(&info, &as2_proto::Limits::default()).unwrap(),
///     ContentType::CompressedData
/// );
/// ```
pub fn content_type(input: &[u8], limits: &Limits) -> Result<ContentType, Error> {
    let (oid, _) = parse_content_info(input, limits)?;
    ContentType::from_oid(&oid).ok_or(Error::UnsupportedAlgorithm {
        kind: AlgorithmKind::ContentType,
        oid,
    })
}

/// Reads `ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }` and returns the
/// content type and the inner content value. Trailing bytes after the ContentInfo are an
/// error.
pub(crate) fn parse_content_info<'a>(
    input: &'a [u8],
    limits: &Limits,
) -> Result<(ObjectIdentifier, Tlv<'a>), Error> {
    if input.len() > limits.max_body_size {
        return Err(crate::limits::Limit::BodySize.exceeded(limits));
    }
    let mut top = Reader::new(input, limits);
    let info = top.expect(Tag::SEQUENCE, "ContentInfo")?;
    top.finish("ContentInfo (trailing data)")?;
    let mut r = info.children("ContentInfo")?;
    let oid = r.expect(Tag::OID, "contentType")?.oid("contentType")?;
    let explicit = r.expect(Tag::context(0, true), "content [0]")?;
    r.finish("ContentInfo")?;
    let mut inner = explicit.children("content [0]")?;
    let content = inner.read("content")?;
    inner.finish("content [0]")?;
    Ok((oid, content))
}

/// Checks that a ContentInfo holds `expected` and returns its content.
pub(crate) fn expect_content_info<'a>(
    input: &'a [u8],
    expected: ContentType,
    limits: &Limits,
) -> Result<Tlv<'a>, Error> {
    let (oid, content) = parse_content_info(input, limits)?;
    if oid != expected.oid() {
        return Err(Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::ContentType,
            oid,
        });
    }
    if content.tag != Tag::SEQUENCE {
        return Err(Error::malformed("content", content.offset));
    }
    Ok(content)
}

/// Encodes a ContentInfo around already-encoded content.
// Lengths of buffers that exist in memory plus a few header octets: cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
pub(crate) fn content_info(content_type: ContentType, content: &[u8]) -> Vec<u8> {
    let oid = ber::encode(Tag::OID, content_type.oid().as_bytes());
    let explicit_len = content.len();
    let inner_len = oid.len() + ber::header_len(explicit_len) + explicit_len;
    let mut out = Vec::with_capacity(ber::header_len(inner_len) + inner_len);
    ber::write_header(&mut out, Tag::SEQUENCE, inner_len);
    out.extend_from_slice(&oid);
    ber::write_header(&mut out, Tag::context(0, true), explicit_len);
    out.extend_from_slice(content);
    out
}

/// An encapsulated content type with its content octets, if present.
pub(crate) type Encapsulated<'a> = (ObjectIdentifier, Option<std::borrow::Cow<'a, [u8]>>);

/// Reads `EncapsulatedContentInfo ::= SEQUENCE { eContentType, [0] EXPLICIT OCTET STRING
/// OPTIONAL }`, returning the type and the joined content octets, if present.
pub(crate) fn parse_encapsulated<'a>(tlv: &Tlv<'a>) -> Result<Encapsulated<'a>, Error> {
    if tlv.tag != Tag::SEQUENCE {
        return Err(Error::malformed("EncapsulatedContentInfo", tlv.offset));
    }
    let mut r = tlv.children("EncapsulatedContentInfo")?;
    let oid = r.expect(Tag::OID, "eContentType")?.oid("eContentType")?;
    let content = match r.read_optional(Tag::context(0, true), "eContent [0]")? {
        None => None,
        Some(explicit) => {
            let mut inner = explicit.children("eContent [0]")?;
            let octets = inner.read("eContent")?;
            if !octets.tag.same_type(Tag::OCTET_STRING) {
                return Err(Error::malformed("eContent", octets.offset));
            }
            inner.finish("eContent [0]")?;
            Some(octets.octets("eContent")?)
        }
    };
    r.finish("EncapsulatedContentInfo")?;
    Ok((oid, content))
}

/// Encodes an EncapsulatedContentInfo, with content when `content` is given.
// Lengths of buffers that exist in memory plus a few header octets: cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
pub(crate) fn encapsulated(content_type: ObjectIdentifier, content: Option<&[u8]>) -> Vec<u8> {
    let oid = ber::encode(Tag::OID, content_type.as_bytes());
    match content {
        None => ber::encode_constructed(Tag::SEQUENCE, &[&oid]),
        Some(c) => {
            let octets_len = ber::header_len(c.len()) + c.len();
            let explicit_len = ber::header_len(octets_len) + octets_len;
            let inner_len = oid.len() + explicit_len;
            let mut out = Vec::with_capacity(ber::header_len(inner_len) + inner_len);
            ber::write_header(&mut out, Tag::SEQUENCE, inner_len);
            out.extend_from_slice(&oid);
            ber::write_header(&mut out, Tag::context(0, true), octets_len);
            ber::write_header(&mut out, Tag::OCTET_STRING, c.len());
            out.extend_from_slice(c);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_info_round_trip_and_trailing_garbage() {
        let inner = encapsulated(oid::DATA, Some(b"abc"));
        let info = content_info(ContentType::Data, &inner);
        let limits = Limits::default();
        let (oid, content) = parse_content_info(&info, &limits).unwrap();
        assert_eq!(oid, oid::DATA);
        let (t, c) = parse_encapsulated(&content).unwrap();
        assert_eq!(t, oid::DATA);
        assert_eq!(c.as_deref(), Some(&b"abc"[..]));
        let mut garbage = info.clone();
        garbage.push(0);
        assert!(matches!(
            parse_content_info(&garbage, &limits),
            Err(Error::Malformed { .. })
        ));
    }
}
