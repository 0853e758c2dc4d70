//! X.509 certificates and RSA private keys, as the CMS layer needs them.
//!
//! A [`Certificate`] keeps its DER bytes and the offsets of the fields CMS matches on
//! (issuer, serial number, subject key identifier), so that signer and recipient
//! identifiers are compared byte for byte with what the certificate holds, never after a
//! re-encoding.

use core::fmt;
use core::ops::Range;
use std::time::{Duration, SystemTime};

use base64ct::{Base64, Encoding};
use der::Decode;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

use crate::cms::ber::{Reader, Tag, Tlv};
use crate::cms::oid;
use crate::error::Error;
use crate::limits::Limits;

/// An X.509 certificate with an RSA public key.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    issuer: Range<usize>,
    serial: Range<usize>,
    subject: Range<usize>,
    subject_key_id: Option<Vec<u8>>,
    not_before: SystemTime,
    not_after: SystemTime,
    public_key: Option<RsaPublicKey>,
}

impl Certificate {
    /// Parses a DER-encoded certificate (BER lengths are tolerated and normalised).
    pub fn from_der(input: &[u8]) -> Result<Self, Error> {
        let limits = Limits::default();
        let tlv = Reader::new(input, &limits).expect(Tag::SEQUENCE, "Certificate")?;
        let der = tlv.to_der()?.into_owned();
        if tlv.raw.len() != input.len() {
            return Err(Error::InvalidCertificate(
                "trailing data after the certificate",
            ));
        }
        Self::parse_der(der, &limits)
    }

    /// Parses the first `CERTIFICATE` block of a PEM document.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        Self::chain_from_pem(pem)?
            .into_iter()
            .next()
            .ok_or(Error::InvalidCertificate("no CERTIFICATE block in PEM"))
    }

    /// Parses every `CERTIFICATE` block of a PEM document, in order (leaf first, as
    /// chains are usually written).
    pub fn chain_from_pem(pem: &[u8]) -> Result<Vec<Self>, Error> {
        pem_blocks(pem)
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| Self::from_der(&der))
            .collect()
    }

    pub(crate) fn from_tlv(tlv: &Tlv<'_>) -> Result<Self, Error> {
        Self::parse_der(tlv.to_der()?.into_owned(), &Limits::default())
    }

    fn parse_der(der: Vec<u8>, limits: &Limits) -> Result<Self, Error> {
        let bad = |_| Error::InvalidCertificate("malformed X.509 structure");
        let fields = {
            let cert = Reader::new(&der, limits)
                .expect(Tag::SEQUENCE, "Certificate")
                .map_err(bad)?;
            let mut c = cert.children("Certificate").map_err(bad)?;
            let tbs = c.expect(Tag::SEQUENCE, "tbsCertificate").map_err(bad)?;
            let mut t = tbs.children("tbsCertificate").map_err(bad)?;
            t.read_optional(Tag::context(0, true), "version")
                .map_err(bad)?;
            let serial = t.expect(Tag::INTEGER, "serialNumber").map_err(bad)?;
            t.expect(Tag::SEQUENCE, "signature").map_err(bad)?;
            let issuer = t.expect(Tag::SEQUENCE, "issuer").map_err(bad)?;
            let validity = t.expect(Tag::SEQUENCE, "validity").map_err(bad)?;
            let subject = t.expect(Tag::SEQUENCE, "subject").map_err(bad)?;
            let spki = t
                .expect(Tag::SEQUENCE, "subjectPublicKeyInfo")
                .map_err(bad)?;
            let mut subject_key_id = None;
            while !t.is_empty() {
                let field = t.read("tbsCertificate").map_err(bad)?;
                if field.tag == Tag::context(3, true) {
                    subject_key_id = find_subject_key_id(&field).map_err(bad)?;
                }
            }
            let mut v = validity.children("validity").map_err(bad)?;
            let not_before = parse_time(&v.read("notBefore").map_err(bad)?)?;
            let not_after = parse_time(&v.read("notAfter").map_err(bad)?)?;
            // Keys other than RSA are accepted in a chain but cannot sign or decrypt here.
            let public_key = RsaPublicKey::from_public_key_der(spki.raw).ok();
            (
                range_of(&issuer),
                serial.contents_offset
                    ..serial.contents_offset.saturating_add(serial.contents.len()),
                range_of(&subject),
                subject_key_id,
                not_before,
                not_after,
                public_key,
            )
        };
        let (issuer, serial, subject, subject_key_id, not_before, not_after, public_key) = fields;
        Ok(Certificate {
            der,
            issuer,
            serial,
            subject,
            subject_key_id,
            not_before,
            not_after,
            public_key,
        })
    }

    /// The certificate's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The issuer Name, DER-encoded as it appears in the certificate.
    pub fn issuer_der(&self) -> &[u8] {
        self.der.get(self.issuer.clone()).unwrap_or_default()
    }

    /// The subject Name, DER-encoded as it appears in the certificate.
    pub fn subject_der(&self) -> &[u8] {
        self.der.get(self.subject.clone()).unwrap_or_default()
    }

    /// The serial number's INTEGER contents octets (big-endian, two's complement).
    pub fn serial(&self) -> &[u8] {
        self.der.get(self.serial.clone()).unwrap_or_default()
    }

    /// The subject key identifier extension's value, if present.
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.subject_key_id.as_deref()
    }

    /// Start of the validity period (NotBefore).
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of the validity period (NotAfter).
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The RSA public key, or an error if the certificate holds another kind of key.
    pub fn rsa_public_key(&self) -> Result<&RsaPublicKey, Error> {
        self.public_key
            .as_ref()
            .ok_or(Error::InvalidCertificate("public key is not RSA"))
    }

    /// The DER `IssuerAndSerialNumber` for this certificate.
    pub(crate) fn issuer_and_serial(&self) -> Vec<u8> {
        let serial = crate::cms::ber::encode(Tag::INTEGER, self.serial());
        crate::cms::ber::encode_constructed(Tag::SEQUENCE, &[self.issuer_der(), &serial])
    }

    /// Whether a SignerIdentifier / RecipientIdentifier names this certificate.
    pub(crate) fn matches(&self, id: &Identifier<'_>) -> bool {
        match id {
            Identifier::IssuerSerial { issuer, serial } => {
                **issuer == *self.issuer_der() && strip_sign(serial) == strip_sign(self.serial())
            }
            Identifier::SubjectKeyId(ski) => self.subject_key_id() == Some(*ski),
        }
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("serial", &hex(self.serial()))
            .field("subject_key_id", &self.subject_key_id.as_deref().map(hex))
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

/// How CMS names a certificate: issuer and serial number, or subject key identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identifier<'a> {
    IssuerSerial {
        issuer: std::borrow::Cow<'a, [u8]>,
        serial: &'a [u8],
    },
    SubjectKeyId(&'a [u8]),
}

impl<'a> Identifier<'a> {
    /// Reads a SignerIdentifier / RecipientIdentifier: `IssuerAndSerialNumber` or
    /// `[0] IMPLICIT SubjectKeyIdentifier`.
    pub(crate) fn parse(tlv: &Tlv<'a>) -> Result<Self, Error> {
        if tlv.tag == Tag::SEQUENCE {
            let mut r = tlv.children("IssuerAndSerialNumber")?;
            let issuer = r.expect(Tag::SEQUENCE, "issuer")?;
            let serial = r.expect(Tag::INTEGER, "serialNumber")?;
            r.finish("IssuerAndSerialNumber")?;
            // Compare Names in DER: a BER sender may use indefinite or long-form lengths.
            Ok(Identifier::IssuerSerial {
                issuer: issuer.to_der()?,
                serial: serial.contents,
            })
        } else if tlv.tag == Tag::context(0, false) {
            Ok(Identifier::SubjectKeyId(tlv.contents))
        } else {
            Err(Error::malformed("SignerIdentifier", tlv.offset))
        }
    }
}

/// An RSA private key.
#[derive(Clone)]
pub struct PrivateKey {
    key: RsaPrivateKey,
}

impl PrivateKey {
    /// Parses an unencrypted PKCS#8 `PrivateKeyInfo` in DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        RsaPrivateKey::from_pkcs8_der(der)
            .map(Self::from)
            .map_err(|_| Error::InvalidKey("not an RSA PKCS#8 private key"))
    }

    /// Parses a password-protected PKCS#8 `EncryptedPrivateKeyInfo` in DER (PBES2).
    pub fn from_pkcs8_encrypted_der(der: &[u8], password: &[u8]) -> Result<Self, Error> {
        RsaPrivateKey::from_pkcs8_encrypted_der(der, password)
            .map(Self::from)
            .map_err(|_| Error::InvalidKey("cannot decrypt or parse PKCS#8 private key"))
    }

    /// Parses a PKCS#1 `RSAPrivateKey` in DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        RsaPrivateKey::from_pkcs1_der(der)
            .map(Self::from)
            .map_err(|_| Error::InvalidKey("not a PKCS#1 RSA private key"))
    }

    /// Parses the first key of a PEM document: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
    /// (PKCS#1) or, with a password, `ENCRYPTED PRIVATE KEY`.
    pub fn from_pem(pem: &[u8], password: Option<&[u8]>) -> Result<Self, Error> {
        for (label, der) in pem_blocks(pem) {
            match (label.as_str(), password) {
                ("PRIVATE KEY", _) => return Self::from_pkcs8_der(&der),
                ("RSA PRIVATE KEY", _) => return Self::from_pkcs1_der(&der),
                ("ENCRYPTED PRIVATE KEY", Some(pw)) => {
                    return Self::from_pkcs8_encrypted_der(&der, pw);
                }
                ("ENCRYPTED PRIVATE KEY", None) => {
                    return Err(Error::InvalidKey("encrypted private key needs a password"));
                }
                _ => {}
            }
        }
        Err(Error::InvalidKey("no private key block in PEM"))
    }

    /// The key size in bits.
    pub fn bits(&self) -> usize {
        self.key.size().saturating_mul(8)
    }

    /// Whether `cert` holds this key's public half.
    pub fn matches(&self, cert: &Certificate) -> bool {
        cert.rsa_public_key()
            .is_ok_and(|public| public == self.key.as_public_key())
    }

    pub(crate) fn rsa(&self) -> &RsaPrivateKey {
        &self.key
    }
}

impl From<RsaPrivateKey> for PrivateKey {
    fn from(key: RsaPrivateKey) -> Self {
        PrivateKey { key }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(RSA-{})", self.bits())
    }
}

fn range_of(tlv: &Tlv<'_>) -> Range<usize> {
    tlv.offset..tlv.offset.saturating_add(tlv.raw.len())
}

fn strip_sign(serial: &[u8]) -> &[u8] {
    match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => serial,
    }
}

fn find_subject_key_id(explicit: &Tlv<'_>) -> Result<Option<Vec<u8>>, Error> {
    let mut outer = explicit.children("extensions")?;
    let list = outer.expect(Tag::SEQUENCE, "extensions")?;
    let mut r = list.children("extensions")?;
    while !r.is_empty() {
        let ext = r.expect(Tag::SEQUENCE, "Extension")?;
        let mut e = ext.children("Extension")?;
        let id = e.expect(Tag::OID, "extnID")?.oid("extnID")?;
        if id != oid::SUBJECT_KEY_IDENTIFIER {
            continue;
        }
        let mut value = e.read("extnValue")?;
        if value.tag == Tag::universal(1, false) {
            value = e.read("extnValue")?;
        }
        let octets = value.octets("extnValue")?;
        let inner = Reader::new(&octets, &Limits::default()).read("SubjectKeyIdentifier")?;
        if !inner.tag.same_type(Tag::OCTET_STRING) {
            return Err(Error::malformed("SubjectKeyIdentifier", inner.offset));
        }
        return Ok(Some(inner.octets("SubjectKeyIdentifier")?.into_owned()));
    }
    Ok(None)
}

fn parse_time(tlv: &Tlv<'_>) -> Result<SystemTime, Error> {
    let bad = Error::InvalidCertificate("malformed validity time");
    if tlv.tag == Tag::UTC_TIME {
        der::asn1::UtcTime::from_der(tlv.raw)
            .map(|t| t.to_system_time())
            .map_err(|_| bad)
    } else if tlv.tag == Tag::GENERALIZED_TIME {
        der::asn1::GeneralizedTime::from_der(tlv.raw)
            .map(|t| t.to_system_time())
            .map_err(|_| bad)
    } else {
        Err(bad)
    }
}

/// Splits a PEM document into (label, decoded bytes) blocks; undecodable blocks are
/// skipped.
pub(crate) fn pem_blocks(pem: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(pem);
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        for inner in lines.by_ref() {
            let inner = inner.trim();
            if inner == end {
                break;
            }
            // Skip RFC 1421 headers such as Proc-Type.
            if !inner.contains(':') {
                body.push_str(inner);
            }
        }
        if let Ok(der) = Base64::decode_vec(&body) {
            blocks.push((label.to_owned(), der));
        }
    }
    blocks
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds since the Unix epoch as a [`SystemTime`]; a convenience for tests and callers
/// that keep times as integers. Values past 9999-12-31T23:59:59Z are clamped to it.
pub fn unix_time(secs: u64) -> SystemTime {
    // Clamped to 9999-12-31T23:59:59Z so the addition cannot overflow on any platform.
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs.min(253_402_300_799)))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
