//! Connectors: how messages from us to a partner are sent (the reference's outbound
//! side), and their translation into the outbound builder's options.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::agreement::check_profile;
use super::certificate::{CertificateUsage, DateEnforcement};
use super::error::{ConfigItem, ConfigProblem, NotFound, PartnerError, ProfileUnavailable};
use super::profile::{Profile, ProfileTrust, ProfileType};
use crate::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use crate::cms::enveloped::EncryptOptions;
use crate::cms::signed::{SignOptions, Signer};
use crate::error::Error;
use crate::message::headers::As2Version;
use crate::message::outbound::{Compression, MdnRequest, OutboundMessage, SignedReceipt};
use crate::retry::RetryPolicy;

/// The content cipher for outbound messages, as the reference names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EncryptionAlgorithm {
    /// AES-128-CBC.
    #[serde(rename = "AES128_CBC")]
    Aes128Cbc,
    /// AES-192-CBC.
    #[serde(rename = "AES192_CBC")]
    Aes192Cbc,
    /// AES-256-CBC (the default).
    #[default]
    #[serde(rename = "AES256_CBC")]
    Aes256Cbc,
    /// Triple-DES: only for partners that cannot do AES; refused for an AS2 1.3 partner.
    #[serde(rename = "DES_EDE3_CBC", alias = "3DES")]
    DesEde3Cbc,
    /// AES-128-GCM in AuthEnvelopedData (RFC 5083, RFC 5084).
    #[serde(rename = "AES128_GCM")]
    Aes128Gcm,
    /// AES-256-GCM in AuthEnvelopedData: the choice for AS2 1.3 partners that read it
    /// (the draft RECOMMENDS it but defines no way to advertise it, so it is configured).
    #[serde(rename = "AES256_GCM")]
    Aes256Gcm,
    /// AES-128-CCM in AuthEnvelopedData; needs the payload length before the first octet
    /// (no compression).
    #[serde(rename = "AES128_CCM")]
    Aes128Ccm,
    /// AES-256-CCM in AuthEnvelopedData; needs the payload length before the first octet
    /// (no compression).
    #[serde(rename = "AES256_CCM")]
    Aes256Ccm,
    /// No encryption: allowed only with an `https` URL, as in the reference.
    #[serde(rename = "NONE")]
    None,
}

impl EncryptionAlgorithm {
    /// The cipher, or `None` for no encryption.
    pub fn cipher(self) -> Option<ContentEncryption> {
        match self {
            Self::Aes128Cbc => Some(ContentEncryption::Aes128Cbc),
            Self::Aes192Cbc => Some(ContentEncryption::Aes192Cbc),
            Self::Aes256Cbc => Some(ContentEncryption::Aes256Cbc),
            Self::DesEde3Cbc => Some(ContentEncryption::TripleDesCbc),
            Self::Aes128Gcm => Some(ContentEncryption::Aes128Gcm),
            Self::Aes256Gcm => Some(ContentEncryption::Aes256Gcm),
            Self::Aes128Ccm => Some(ContentEncryption::Aes128Ccm),
            Self::Aes256Ccm => Some(ContentEncryption::Aes256Ccm),
            Self::None => None,
        }
    }
}

/// The digest for outbound signatures, as the reference names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// SHA-1 (legacy partners only).
    Sha1,
    /// SHA-256 (the default).
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// Unsigned messages.
    None,
}

impl SigningAlgorithm {
    /// The digest, or `None` for unsigned.
    pub fn digest(self) -> Option<DigestAlgorithm> {
        match self {
            Self::Sha1 => Some(DigestAlgorithm::Sha1),
            Self::Sha256 => Some(DigestAlgorithm::Sha256),
            Self::Sha384 => Some(DigestAlgorithm::Sha384),
            Self::Sha512 => Some(DigestAlgorithm::Sha512),
            Self::None => None,
        }
    }
}

/// The MIC algorithm asked for in a signed MDN, or an unsigned MDN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum MdnSigningAlgorithm {
    /// The message's signing digest, or SHA-256 for an unsigned message (the default).
    #[default]
    Default,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// Ask for an unsigned MDN.
    None,
}

/// Whether to compress (the reference's only algorithm is zlib, applied before signing:
/// "the file is compressed, signed, and encrypted").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum ConnectorCompression {
    /// zlib, before signing.
    Zlib,
    /// No compression (the default).
    #[default]
    Disabled,
}

/// The receipt to ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum MdnResponse {
    /// No MDN.
    None,
    /// A synchronous MDN in the HTTP response (the default).
    #[default]
    Sync,
    /// An asynchronous MDN POSTed to `async_mdn_url`.
    Async,
}

fn yes() -> bool {
    true
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// An outbound connector: where and how to send to a partner.
///
/// Not `Eq`: its [`RetryPolicy`] holds floating-point factors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Connector {
    /// The connector's id (e.g. `c-c21c63ceaaf34d99b`), written to status records.
    pub id: String,
    /// A description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The partner's AS2 endpoint, `http://` or `https://`.
    pub url: String,
    /// Our profile (AS2-From).
    pub local_profile: String,
    /// The partner's profile (AS2-To).
    pub partner_profile: String,
    /// The content cipher, or `NONE` (https only).
    #[serde(default)]
    pub encryption_algorithm: EncryptionAlgorithm,
    /// The signing digest, or `NONE`.
    #[serde(default)]
    pub signing_algorithm: SigningAlgorithm,
    /// Compression.
    #[serde(default)]
    pub compression: ConnectorCompression,
    /// The MDN asked for.
    #[serde(default)]
    pub mdn_response: MdnResponse,
    /// Where an asynchronous MDN is to be sent (with `mdn_response = ASYNC` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_mdn_url: Option<String>,
    /// Signed or unsigned MDN, and its MIC algorithm.
    #[serde(default)]
    pub mdn_signing_algorithm: MdnSigningAlgorithm,
    /// The Subject header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Whether our signatures carry the RFC 6211 CMSAlgorithmProtection attribute (default
    /// true; the reference always sends it, and some IBM Sterling releases reject it).
    #[serde(default = "yes")]
    pub algorithm_protection: bool,
    /// The AS2-Version declared to this partner (`"1.3"`; default `"1.2"`, see
    /// [`As2Version`]). With 1.3, `SHA1` signing or MDN algorithms and `DES_EDE3_CBC` are
    /// refused when a message is built ([`Error::WeakAlgorithm`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub as2_version: As2Version,
    /// Whether an encrypted message also carries a copy of the content-encryption key for
    /// us (RFC 8551 §3.3, draft-ietf-ediint-rfc4130bis §7.3.2), encrypted to our profile's
    /// encryption certificate, so that we can decrypt what we archive. `None` (the
    /// default) follows the draft: on for a 1.3 partner when our profile has an encryption
    /// certificate, off below 1.3 (legacy partners keep receiving one recipient).
    /// `Some(true)` requires the certificate; `Some(false)` never adds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator_copy: Option<bool>,
    /// When and how often an unanswered message is resent (with the same Message-ID), for
    /// the caller's [`RetrySchedule`](crate::RetrySchedule).
    #[serde(default, skip_serializing_if = "is_default")]
    pub retry: RetryPolicy,
}

impl Connector {
    /// A connector with the defaults: AES256_CBC, SHA256, no compression, synchronous MDN
    /// signed with the message's digest.
    pub fn new(
        id: impl Into<String>,
        url: impl Into<String>,
        local_profile: impl Into<String>,
        partner_profile: impl Into<String>,
    ) -> Self {
        Connector {
            id: id.into(),
            description: None,
            url: url.into(),
            local_profile: local_profile.into(),
            partner_profile: partner_profile.into(),
            encryption_algorithm: EncryptionAlgorithm::default(),
            signing_algorithm: SigningAlgorithm::default(),
            compression: ConnectorCompression::default(),
            mdn_response: MdnResponse::default(),
            async_mdn_url: None,
            mdn_signing_algorithm: MdnSigningAlgorithm::default(),
            subject: None,
            algorithm_protection: true,
            as2_version: As2Version::default(),
            originator_copy: None,
            retry: RetryPolicy::default(),
        }
    }

    /// Checks what can be checked without the profiles: the URL's scheme (HTTP or HTTPS),
    /// encryption `NONE` only over HTTPS, and `async_mdn_url` exactly with `ASYNC`.
    pub fn validate(&self) -> Result<(), Error> {
        let error = |problem| PartnerError::config(ConfigItem::Connector(self.id.clone()), problem);
        let https = url_is_https(&self.url).map_err(error)?;
        if self.encryption_algorithm == EncryptionAlgorithm::None && !https {
            return Err(error(ConfigProblem::EncryptionRequiredOverHttp));
        }
        match (&self.mdn_response, &self.async_mdn_url) {
            (MdnResponse::Async, Some(url)) => {
                url_is_https(url).map_err(error)?;
            }
            (MdnResponse::Async, None) | (_, Some(_)) => {
                return Err(error(ConfigProblem::AsyncMdnUrl));
            }
            _ => {}
        }
        Ok(())
    }

    /// The MIC algorithm to ask for in a signed MDN, or `None` for an unsigned one.
    pub fn mdn_digest(&self) -> Option<DigestAlgorithm> {
        match self.mdn_signing_algorithm {
            MdnSigningAlgorithm::Default => Some(
                self.signing_algorithm
                    .digest()
                    .unwrap_or(DigestAlgorithm::Sha256),
            ),
            MdnSigningAlgorithm::Sha1 => Some(DigestAlgorithm::Sha1),
            MdnSigningAlgorithm::Sha256 => Some(DigestAlgorithm::Sha256),
            MdnSigningAlgorithm::Sha384 => Some(DigestAlgorithm::Sha384),
            MdnSigningAlgorithm::Sha512 => Some(DigestAlgorithm::Sha512),
            MdnSigningAlgorithm::None => None,
        }
    }
}

/// Whether `url` is HTTPS (true) or HTTP (false); anything else is an error.
pub(crate) fn url_is_https(url: &str) -> Result<bool, ConfigProblem> {
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
    let scheme_ok = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    let Some((scheme, rest)) = url.split_once(':').filter(|(s, _)| scheme_ok(s)) else {
        return Err(ConfigProblem::InvalidUrl("no scheme"));
    };
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return Err(ConfigProblem::UnsupportedUrlScheme(scheme.to_owned()));
    };
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(ConfigProblem::InvalidUrl("no host"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(ConfigProblem::InvalidUrl("no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigProblem::InvalidUrl(
            "whitespace or control characters",
        ));
    }
    Ok(https)
}

/// A valid connector with its two active profiles: what a
/// [`PartnerDirectory`](super::PartnerDirectory) returns for a connector id.
#[derive(Clone, Debug)]
pub struct ActiveConnector {
    connector: Connector,
    local: Arc<Profile>,
    partner: Arc<Profile>,
}

impl ActiveConnector {
    /// Binds a connector to its profiles. Fails with `CONNECTOR_NOT_FOUND` if a profile is
    /// inactive, not the one named or of the wrong type, and with a configuration error if
    /// [`Connector::validate`] fails.
    pub fn new(
        connector: Connector,
        local: Arc<Profile>,
        partner: Arc<Profile>,
    ) -> Result<Self, Error> {
        connector.validate()?;
        let not_found = |n| Error::from(PartnerError::ConnectorNotFound(n));
        for (profile, id) in [
            (&local, &connector.local_profile),
            (&partner, &connector.partner_profile),
        ] {
            if profile.id() != id {
                return Err(not_found(NotFound::Profile {
                    item: connector.id.clone(),
                    profile: id.clone(),
                    reason: ProfileUnavailable::Missing,
                }));
            }
        }
        check_profile(&connector.id, &local, ProfileType::Local).map_err(not_found)?;
        check_profile(&connector.id, &partner, ProfileType::Partner).map_err(not_found)?;
        Ok(ActiveConnector {
            connector,
            local,
            partner,
        })
    }

    /// The connector.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// The URL to POST to.
    pub fn url(&self) -> &str {
        &self.connector.url
    }

    /// Our profile.
    pub fn local(&self) -> &Arc<Profile> {
        &self.local
    }

    /// The partner's profile.
    pub fn partner(&self) -> &Arc<Profile> {
        &self.partner
    }

    /// The partner's signing certificates as trusted at `now`, for verifying its MDNs.
    pub fn partner_trust(&self, now: SystemTime, dates: DateEnforcement) -> ProfileTrust<'_> {
        self.partner.trust(now, dates)
    }

    /// [`outbound`](Self::outbound) for a file read through the caller's storage
    /// ([`SendFile::read`]), with the file's name as the message's file name.
    pub fn outbound_file<'a>(
        &'a self,
        file: &'a SendFile,
        now: SystemTime,
    ) -> Result<OutboundMessage<'a>, Error> {
        let mut message = self.outbound(&file.payload, now)?;
        message.file_name = Some(file.file_name().to_owned());
        Ok(message)
    }

    /// The outbound builder's options for `payload` at `now`: AS2-From/To from the
    /// profiles, our signing certificate and the partner's encryption certificate chosen
    /// by rotation at `now`, and the connector's algorithms, compression, MDN request and
    /// subject, the AS2-Version and the originator's copy of the content key (our
    /// encryption certificate at `now`, see [`Connector::originator_copy`]). Set
    /// `content_type`, `file_name` or `message_id` on the result as needed,
    /// then call [`build`](crate::message::outbound::build) with the same `now`.
    ///
    /// Fails with `SIGNING_FAILED` or `ENCRYPTION_FAILED` when no certificate is usable
    /// at `now`.
    pub fn outbound<'a>(
        &'a self,
        payload: &'a [u8],
        now: SystemTime,
    ) -> Result<OutboundMessage<'a>, Error> {
        let c = &self.connector;
        let mut message = OutboundMessage::new(
            self.local.as2_id().clone(),
            self.partner.as2_id().clone(),
            payload,
        );
        message.subject = c.subject.clone();
        message.compression = match c.compression {
            ConnectorCompression::Zlib => Compression::BeforeSigning,
            ConnectorCompression::Disabled => Compression::None,
        };
        if let Some(digest) = c.signing_algorithm.digest() {
            let chosen = self
                .local
                .outbound_certificate(CertificateUsage::Signing, now)?;
            let key = chosen
                .private_key()
                .ok_or_else(|| PartnerError::NoUsableCertificate {
                    profile: self.local.id().to_owned(),
                    usage: CertificateUsage::Signing,
                    at: now,
                })?;
            let options = SignOptions {
                digest,
                algorithm_protection: c.algorithm_protection,
                ..SignOptions::default()
            };
            let signer = Signer {
                certificate: chosen.certificate(),
                key,
                chain: chosen.chain(),
            };
            message.signing = Some((signer, options));
        }
        if let Some(cipher) = c.encryption_algorithm.cipher() {
            let chosen = self
                .partner
                .outbound_certificate(CertificateUsage::Encryption, now)?;
            let options = EncryptOptions {
                cipher,
                ..EncryptOptions::default()
            };
            message.encryption = (vec![chosen.certificate()], options);
            let wanted = c
                .originator_copy
                .unwrap_or(c.as2_version.forbids_weak_algorithms());
            if wanted {
                match self
                    .local
                    .outbound_certificate(CertificateUsage::Encryption, now)
                {
                    Ok(own) => message.originator_copy = Some(own.certificate()),
                    // By default the copy is added "when feasible" (draft §1.2.1).
                    Err(_) if c.originator_copy.is_none() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        message.as2_version = c.as2_version;
        let signed = c.mdn_digest().map(|digest| SignedReceipt::new(&[digest]));
        message.mdn = match c.mdn_response {
            MdnResponse::None => MdnRequest::None,
            MdnResponse::Sync => MdnRequest::Sync { signed },
            MdnResponse::Async => MdnRequest::Async {
                url: c.async_mdn_url.clone().unwrap_or_default(),
                signed,
            },
        };
        Ok(message)
    }
}

/// The file an outbound transfer sends (one of the reference's `StartFileTransfer`
/// `send-file-paths`), read through the caller's [`Storage`](super::Storage), so that a
/// missing file is the reference's `SEND_FILE_NOT_FOUND` and not an I/O error of the
/// caller's own.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendFile {
    /// The path as given to the storage.
    pub path: String,
    /// The file's bytes.
    pub payload: Vec<u8>,
}

impl SendFile {
    /// Reads `path` through `storage`. Any failure is
    /// [`PartnerError::SendFile`] (`SEND_FILE_NOT_FOUND`); a
    /// [`StorageErrorKind::NotFound`](super::StorageErrorKind::NotFound) one reads
    /// `File path <path> not found.`, as in the reference.
    pub fn read<S: super::Storage + ?Sized>(storage: &S, path: &str) -> Result<Self, Error> {
        let payload = storage
            .read(path)
            .map_err(|e| Error::from(PartnerError::SendFile(e)))?;
        Ok(SendFile {
            path: path.to_owned(),
            payload,
        })
    }

    /// The file's name: the last component of the path.
    pub fn file_name(&self) -> &str {
        file_name_of(&self.path)
    }
}

/// The last `/`-separated component of `path`.
pub(crate) fn file_name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
