//! X.509 certificates and private keys (RSA, and EC on P-256 and P-384), as the CMS layer
//! needs them.
//!
//! A [`Certificate`] keeps its DER bytes and the offsets of the fields CMS matches on
//! (issuer, serial number, subject key identifier), so that signer and recipient
//! identifiers are compared byte for byte with what the certificate holds, never after a
//! re-encoding.

use core::fmt;
use core::ops::Range;
use std::time::{Duration, SystemTime};

use base64ct::{Base64, Encoding};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};

use crate::cms::ber::{Reader, Tag, Tlv};
use crate::error::Error;
use crate::limits::Limits;

/// An X.509 certificate. Its key can sign and be encrypted to when it is RSA or EC on
/// P-256 or P-384 ([`Certificate::key_algorithm`]); a certificate with another key is still
/// read (it may sit in a chain) but can do neither.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    issuer: Range<usize>,
    serial: Range<usize>,
    subject: Range<usize>,
    subject_key_id: Option<Vec<u8>>,
    /// The keyUsage bits (bit `n` of RFC 5280's `KeyUsage` is `1 << n`), if present.
    key_usage: Option<u16>,
    /// The extendedKeyUsage purposes, if the extension is present.
    extended_key_usage: Option<Vec<ObjectIdentifier>>,
    usage_check: UsageCheck,
    not_before: SystemTime,
    not_after: SystemTime,
    public_key: Option<PublicKey>,
}

/// The kind of key a certificate or a [`PrivateKey`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA (rsaEncryption): PKCS#1 v1.5 or PSS signatures, key transport.
    Rsa,
    /// EC on NIST P-256 (id-ecPublicKey, prime256v1): ECDSA signatures, ECDH key agreement.
    EcP256,
    /// EC on NIST P-384 (id-ecPublicKey, secp384r1): ECDSA signatures, ECDH key agreement.
    EcP384,
}

impl KeyAlgorithm {
    /// Whether this is an elliptic-curve key (signs with ECDSA, is encrypted to by ECDH
    /// key agreement).
    pub fn is_ec(self) -> bool {
        matches!(self, Self::EcP256 | Self::EcP384)
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa => "RSA",
            Self::EcP256 => "EC P-256",
            Self::EcP384 => "EC P-384",
        })
    }
}

/// A certificate's public key, of one of the kinds this crate signs and encrypts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
}

impl PublicKey {
    /// Reads a DER SubjectPublicKeyInfo: rsaEncryption, or id-ecPublicKey with the
    /// namedCurve P-256 or P-384 (RFC 5480 §2). `None` for any other key.
    fn from_spki_der(spki: &[u8]) -> Option<Self> {
        RsaPublicKey::from_public_key_der(spki)
            .map(Self::Rsa)
            .or_else(|_| p256::PublicKey::from_public_key_der(spki).map(Self::P256))
            .or_else(|_| p384::PublicKey::from_public_key_der(spki).map(Self::P384))
            .ok()
    }

    pub(crate) fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Rsa(_) => KeyAlgorithm::Rsa,
            Self::P256(_) => KeyAlgorithm::EcP256,
            Self::P384(_) => KeyAlgorithm::EcP384,
        }
    }
}

/// What a certificate is about to be used for, for [`Certificate::check_usage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyUse {
    /// Verifying a signature made with the certificate's key (a message or an MDN).
    Signing,
    /// Encrypting a content key to the certificate's key.
    Encryption,
}

impl fmt::Display for KeyUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Signing => "signing",
            Self::Encryption => "encryption",
        })
    }
}

/// Whether [`Certificate::check_usage`] enforces the keyUsage and extendedKeyUsage
/// extensions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UsageCheck {
    /// The extensions must allow the use (the default).
    #[default]
    Enforce,
    /// Any use is admitted: for a partner whose older certificate carries extensions that
    /// do not match how AS2 uses it (e.g. a TLS server certificate reused for signing).
    /// Set per partner (the profile's `legacy_key_usage`), never globally.
    Legacy,
}

/// The certificate extension that refused a use, named by
/// [`Error::CertificateUsage`](crate::Error::CertificateUsage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UsageExtension {
    /// keyUsage (RFC 5280 §4.2.1.3).
    KeyUsage,
    /// extendedKeyUsage (RFC 5280 §4.2.1.12).
    ExtendedKeyUsage,
}

impl fmt::Display for UsageExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KeyUsage => "keyUsage",
            Self::ExtendedKeyUsage => "extendedKeyUsage",
        })
    }
}

/// A certificate whose keyUsage or extendedKeyUsage extension does not allow a use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsageError {
    /// The use refused.
    pub key_use: KeyUse,
    /// The extension that refused it.
    pub extension: UsageExtension,
    /// What the extension would have to contain.
    pub required: &'static str,
    /// The certificate's serial number, in hex.
    pub serial: String,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate with serial {} may not be used for {}: its {} extension lacks {}",
            self.serial, self.key_use, self.extension, self.required
        )
    }
}

/// keyUsage bits (RFC 5280 §4.2.1.3), as stored in [`Certificate::key_usage`].
mod key_usage {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const NON_REPUDIATION: u16 = 1 << 1;
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    pub const KEY_AGREEMENT: u16 = 1 << 4;
}

/// id-kp-emailProtection (RFC 5280 §4.2.1.12).
const EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
/// anyExtendedKeyUsage (RFC 5280 §4.2.1.12).
const ANY_EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

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

    /// Reads a certificate already brought to DER: decoded with
    /// [`x509_cert::Certificate`] (validity, extensions, public key), and framed with the
    /// BER reader for the offsets of issuer, serial number and subject, which identifiers
    /// are compared with byte for byte.
    fn parse_der(der: Vec<u8>, limits: &Limits) -> Result<Self, Error> {
        fn bad<E>(_: E) -> Error {
            Error::InvalidCertificate("malformed X.509 structure")
        }
        let decoded = x509_cert::Certificate::from_der(&der).map_err(bad)?;
        let tbs = decoded.tbs_certificate();
        let validity = tbs.validity();
        let not_before = validity.not_before.to_system_time();
        let not_after = validity.not_after.to_system_time();
        // Other keys are accepted in a chain but cannot sign or be encrypted to here.
        let public_key = tbs
            .subject_public_key_info()
            .to_der()
            .ok()
            .and_then(|spki| PublicKey::from_spki_der(&spki));
        let subject_key_id = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(bad)?
            .map(|(_, ski)| ski.0.as_bytes().to_vec());
        let key_usage = tbs
            .get_extension::<KeyUsage>()
            .map_err(bad)?
            .map(|(_, usage)| usage.0.bits());
        let extended_key_usage = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(bad)?
            .map(|(_, purposes)| purposes.0);
        let (issuer, serial, subject) = {
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
            t.expect(Tag::SEQUENCE, "validity").map_err(bad)?;
            let subject = t.expect(Tag::SEQUENCE, "subject").map_err(bad)?;
            (
                range_of(&issuer),
                serial.contents_offset
                    ..serial.contents_offset.saturating_add(serial.contents.len()),
                range_of(&subject),
            )
        };
        Ok(Certificate {
            der,
            issuer,
            serial,
            subject,
            subject_key_id,
            key_usage,
            extended_key_usage,
            usage_check: UsageCheck::default(),
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

    /// Whether the keyUsage extension, if present, has bit `bit` (0 = digitalSignature,
    /// RFC 5280 §4.2.1.3). `None` when the certificate has no keyUsage extension.
    pub fn key_usage_bit(&self, bit: u8) -> Option<bool> {
        let mask = 1u16.checked_shl(u32::from(bit)).unwrap_or(0);
        self.key_usage.map(|bits| bits & mask != 0)
    }

    /// The extendedKeyUsage purposes, if the certificate has that extension.
    pub fn extended_key_usage(&self) -> Option<&[ObjectIdentifier]> {
        self.extended_key_usage.as_deref()
    }

    /// Whether [`check_usage`](Self::check_usage) enforces the extensions.
    pub fn usage_check(&self) -> UsageCheck {
        self.usage_check
    }

    /// Sets whether [`check_usage`](Self::check_usage) enforces the extensions (a
    /// partner profile's `legacy_key_usage` sets [`UsageCheck::Legacy`] on its
    /// certificates).
    pub fn set_usage_check(&mut self, check: UsageCheck) {
        self.usage_check = check;
    }

    /// [`set_usage_check`](Self::set_usage_check), by value.
    pub fn with_usage_check(mut self, check: UsageCheck) -> Self {
        self.usage_check = check;
        self
    }

    /// Whether the certificate's extensions allow `key_use`; the one place where AS2's
    /// use of a certificate is checked against what its issuer allowed. Called before a
    /// signature is verified with the certificate and before a content key is encrypted
    /// to it.
    ///
    /// The rule (RFC 5280 §4.2.1.3 and §4.2.1.12, RFC 8550 §4.4.2 and §4.4.4):
    ///
    /// - an absent extension allows every use;
    /// - [`KeyUse::Signing`] needs keyUsage `digitalSignature` or `nonRepudiation`;
    /// - [`KeyUse::Encryption`] needs keyUsage `keyEncipherment` for an RSA key (key
    ///   transport) and `keyAgreement` for any other key: an EC key is encrypted to by
    ///   ephemeral-static ECDH (RFC 5753 §3.1, RFC 8551 §2.4 and RFC 5480 §3), and
    ///   `keyEncipherment` alone does not allow that;
    /// - a present extendedKeyUsage must list `emailProtection` (what S/MIME and AS2
    ///   products issue: OpenSSL's `smimesign`/`smimeencrypt` profiles, pyas2lib, the
    ///   certificates in `examples/pki`) or `anyExtendedKeyUsage`. A certificate limited
    ///   to, say, `serverAuth` (a TLS certificate reused for AS2) is refused.
    ///
    /// [`UsageCheck::Legacy`] admits every use. The error names the extension.
    pub fn check_usage(&self, key_use: KeyUse) -> Result<(), Error> {
        if self.usage_check == UsageCheck::Legacy {
            return Ok(());
        }
        let refuse = |extension, required| {
            Error::CertificateUsage(Box::new(UsageError {
                key_use,
                extension,
                required,
                serial: hex(self.serial()),
            }))
        };
        if let Some(bits) = self.key_usage {
            let (wanted, required) = match key_use {
                KeyUse::Signing => (
                    key_usage::DIGITAL_SIGNATURE | key_usage::NON_REPUDIATION,
                    "digitalSignature and nonRepudiation",
                ),
                KeyUse::Encryption if self.key_algorithm() == Some(KeyAlgorithm::Rsa) => {
                    (key_usage::KEY_ENCIPHERMENT, "keyEncipherment")
                }
                // EC recipients: key agreement, not key transport.
                KeyUse::Encryption => (key_usage::KEY_AGREEMENT, "keyAgreement"),
            };
            if bits & wanted == 0 {
                return Err(refuse(UsageExtension::KeyUsage, required));
            }
        }
        if let Some(purposes) = &self.extended_key_usage
            && !purposes
                .iter()
                .any(|p| *p == EMAIL_PROTECTION || *p == ANY_EXTENDED_KEY_USAGE)
        {
            return Err(refuse(
                UsageExtension::ExtendedKeyUsage,
                "emailProtection and anyExtendedKeyUsage",
            ));
        }
        Ok(())
    }

    /// The RSA public key, or an error if the certificate holds another kind of key.
    pub fn rsa_public_key(&self) -> Result<&RsaPublicKey, Error> {
        match &self.public_key {
            Some(PublicKey::Rsa(key)) => Ok(key),
            _ => Err(Error::InvalidCertificate("public key is not RSA")),
        }
    }

    /// The kind of public key the certificate holds, or `None` for a key this crate
    /// cannot use (another curve, DSA, Ed25519, ...).
    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        self.public_key.as_ref().map(PublicKey::algorithm)
    }

    /// The public key, if it is of a kind this crate uses.
    pub(crate) fn public_key(&self) -> Option<&PublicKey> {
        self.public_key.as_ref()
    }

    /// The DER `IssuerAndSerialNumber` for this certificate.
    pub(crate) fn issuer_and_serial(&self) -> Vec<u8> {
        let serial = crate::cms::ber::encode(Tag::INTEGER, self.serial());
        crate::cms::ber::encode_constructed(Tag::SEQUENCE, &[self.issuer_der(), &serial])
    }

    /// Whether `issuer` (a DER Name as `der` encodes it) is this certificate's issuer:
    /// byte for byte, or else once the certificate's Name is decoded and encoded again
    /// (decoding sorts the attributes of a multi-valued RDN, as DER wants).
    fn issuer_is(&self, issuer: &[u8]) -> bool {
        issuer == self.issuer_der()
            || x509_cert::name::Name::from_der(self.issuer_der())
                .and_then(|name| name.to_der())
                .is_ok_and(|der| der == issuer)
    }

    /// Whether a SignerIdentifier / RecipientIdentifier names this certificate.
    pub(crate) fn matches(&self, id: &Identifier) -> bool {
        match id {
            Identifier::IssuerSerial { issuer, serial } => {
                strip_sign(serial) == strip_sign(self.serial()) && self.issuer_is(issuer)
            }
            Identifier::SubjectKeyId(ski) => self.subject_key_id() == Some(&ski[..]),
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
pub(crate) enum Identifier {
    IssuerSerial {
        /// The issuer Name, DER-encoded.
        issuer: Vec<u8>,
        /// The serial number's INTEGER contents octets.
        serial: Vec<u8>,
    },
    SubjectKeyId(Vec<u8>),
}

impl Identifier {
    /// A SignerIdentifier as decoded by `cms`.
    pub(crate) fn from_signer_identifier(
        sid: &cms::signed_data::SignerIdentifier,
    ) -> Result<Self, Error> {
        use cms::signed_data::SignerIdentifier;
        match sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => Self::from_issuer_and_serial(id),
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                Ok(Identifier::SubjectKeyId(ski.0.as_bytes().to_vec()))
            }
        }
    }

    /// A RecipientIdentifier as decoded by `cms`.
    pub(crate) fn from_recipient_identifier(
        rid: &cms::enveloped_data::RecipientIdentifier,
    ) -> Result<Self, Error> {
        use cms::enveloped_data::RecipientIdentifier;
        match rid {
            RecipientIdentifier::IssuerAndSerialNumber(id) => Self::from_issuer_and_serial(id),
            RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                Ok(Identifier::SubjectKeyId(ski.0.as_bytes().to_vec()))
            }
        }
    }

    fn from_issuer_and_serial(id: &cms::cert::IssuerAndSerialNumber) -> Result<Self, Error> {
        // The Name re-encoded in DER, compared with the certificate's DER issuer: a BER
        // sender may have used indefinite or long-form lengths.
        let issuer = id
            .issuer
            .to_der()
            .map_err(|_| Error::malformed("IssuerAndSerialNumber", 0))?;
        Ok(Identifier::IssuerSerial {
            issuer,
            serial: id.serial_number.as_bytes().to_vec(),
        })
    }
}

/// A private key: RSA, or EC on P-256 or P-384.
#[derive(Clone)]
pub struct PrivateKey {
    key: SecretKey,
}

/// The key material of a [`PrivateKey`] (each type wipes itself when dropped).
#[derive(Clone)]
// A handful of keys live for the whole program: boxing the RSA key would save nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum SecretKey {
    Rsa(RsaPrivateKey),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
}

impl PrivateKey {
    /// Parses an unencrypted PKCS#8 `PrivateKeyInfo` in DER: an RSA key (rsaEncryption)
    /// or an EC key (id-ecPublicKey, RFC 5915 inside RFC 5208) on P-256 or P-384.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        RsaPrivateKey::from_pkcs8_der(der)
            .map(Self::from)
            .or_else(|_| p256::SecretKey::from_pkcs8_der(der).map(Self::from))
            .or_else(|_| p384::SecretKey::from_pkcs8_der(der).map(Self::from))
            .map_err(|_| Error::InvalidKey("not an RSA, P-256 or P-384 PKCS#8 private key"))
    }

    /// Parses a password-protected PKCS#8 `EncryptedPrivateKeyInfo` in DER (PBES2), then
    /// the key inside as [`from_pkcs8_der`](Self::from_pkcs8_der) does.
    pub fn from_pkcs8_encrypted_der(der: &[u8], password: &[u8]) -> Result<Self, Error> {
        let fail = Error::InvalidKey("cannot decrypt or parse PKCS#8 private key");
        let decrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
            .and_then(|info| info.decrypt(password))
            .map_err(|_| fail.clone())?;
        Self::from_pkcs8_der(decrypted.as_bytes()).map_err(|_| fail)
    }

    /// Parses a SEC1 `ECPrivateKey` (RFC 5915) in DER, what OpenSSL writes as `EC PRIVATE
    /// KEY`: a P-256 or P-384 key (the curve from its parameters, or else its length).
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        p256::SecretKey::from_sec1_der(der)
            .map(Self::from)
            .or_else(|_| p384::SecretKey::from_sec1_der(der).map(Self::from))
            .map_err(|_| Error::InvalidKey("not a P-256 or P-384 SEC1 private key"))
    }

    /// Parses a PKCS#1 `RSAPrivateKey` in DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        RsaPrivateKey::from_pkcs1_der(der)
            .map(Self::from)
            .map_err(|_| Error::InvalidKey("not a PKCS#1 RSA private key"))
    }

    /// Parses the first key of a PEM document: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
    /// (PKCS#1), `EC PRIVATE KEY` (SEC1; an `EC PARAMETERS` block before it, as
    /// `openssl ecparam -genkey` writes, is skipped) or, with a password, `ENCRYPTED
    /// PRIVATE KEY`.
    pub fn from_pem(pem: &[u8], password: Option<&[u8]>) -> Result<Self, Error> {
        for (label, der) in pem_blocks(pem) {
            match (label.as_str(), password) {
                ("PRIVATE KEY", _) => return Self::from_pkcs8_der(&der),
                ("RSA PRIVATE KEY", _) => return Self::from_pkcs1_der(&der),
                ("EC PRIVATE KEY", _) => return Self::from_sec1_der(&der),
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

    /// The key size in bits: the RSA modulus, or the curve's field size (256, 384).
    pub fn bits(&self) -> usize {
        match &self.key {
            SecretKey::Rsa(key) => key.size().saturating_mul(8),
            SecretKey::P256(_) => 256,
            SecretKey::P384(_) => 384,
        }
    }

    /// The kind of key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match &self.key {
            SecretKey::Rsa(_) => KeyAlgorithm::Rsa,
            SecretKey::P256(_) => KeyAlgorithm::EcP256,
            SecretKey::P384(_) => KeyAlgorithm::EcP384,
        }
    }

    /// Whether `cert` holds this key's public half.
    pub fn matches(&self, cert: &Certificate) -> bool {
        match (&self.key, cert.public_key()) {
            (SecretKey::Rsa(key), Some(PublicKey::Rsa(public))) => public == key.as_public_key(),
            (SecretKey::P256(key), Some(PublicKey::P256(public))) => *public == key.public_key(),
            (SecretKey::P384(key), Some(PublicKey::P384(public))) => *public == key.public_key(),
            _ => false,
        }
    }

    /// The RSA key, if this is one.
    pub(crate) fn rsa(&self) -> Option<&RsaPrivateKey> {
        match &self.key {
            SecretKey::Rsa(key) => Some(key),
            _ => None,
        }
    }

    /// The key material.
    pub(crate) fn secret(&self) -> &SecretKey {
        &self.key
    }
}

impl From<RsaPrivateKey> for PrivateKey {
    fn from(key: RsaPrivateKey) -> Self {
        PrivateKey {
            key: SecretKey::Rsa(key),
        }
    }
}

impl From<p256::SecretKey> for PrivateKey {
    fn from(key: p256::SecretKey) -> Self {
        PrivateKey {
            key: SecretKey::P256(key),
        }
    }
}

impl From<p384::SecretKey> for PrivateKey {
    fn from(key: p384::SecretKey) -> Self {
        PrivateKey {
            key: SecretKey::P384(key),
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.algorithm() {
            KeyAlgorithm::Rsa => write!(f, "PrivateKey(RSA-{})", self.bits()),
            other => write!(f, "PrivateKey({other})"),
        }
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
