//! Errors of the partner layer, carried by [`Error::Partner`](crate::Error::Partner).
//!
//! Each says what was looked up or checked, with names and dates, because these are the
//! errors operators read: "certificate Cert1 is inactive since 2020-12-31" is actionable
//! where "unknown signer" is not.

use core::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use super::certificate::CertificateUsage;
use super::date::Rfc3339;
use super::profile::ProfileType;
use crate::error::{Disposition, ErrorCode, Modifier};

/// What went wrong with partners, profiles, certificates, agreements or connectors.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartnerError {
    /// No active agreement applies: `AGREEMENT_NOT_FOUND`, MDN disposition
    /// `processed/Error: unknown-trading-relationship`.
    AgreementNotFound(NotFound),
    /// No usable connector: `CONNECTOR_NOT_FOUND`.
    ConnectorNotFound(NotFound),
    /// No certificate of the profile for this usage has a window containing `at`:
    /// `SIGNING_FAILED` or `ENCRYPTION_FAILED`.
    NoUsableCertificate {
        /// The profile's id.
        profile: String,
        /// The usage asked for.
        usage: CertificateUsage,
        /// The time of the transfer.
        at: SystemTime,
    },
    /// A certificate was presented outside its usable window (an expired or not yet
    /// active signer): `VERIFICATION_FAILED`, `authentication-failed`.
    CertificateNotUsable(Box<UnusableCertificate>),
    /// A certificate does not chain to the profile's trust anchors: `VERIFICATION_FAILED`,
    /// `authentication-failed`.
    UntrustedCertificate(Box<UntrustedCertificate>),
    /// The partner configuration is invalid.
    Config(Box<ConfigError>),
    /// The caller's transport could not deliver a request.
    Transport(TransportError),
    /// The file to send could not be read through the caller's
    /// [`Storage`](super::Storage): `SEND_FILE_NOT_FOUND`, displayed as the reference
    /// words it (`File path <path> not found.`).
    SendFile(super::StorageError),
    /// The partner answered with a non-2xx HTTP status: `HTTP_ERROR_RESPONSE_FROM_PARTNER`.
    HttpStatus {
        /// The URL posted to.
        url: String,
        /// The status received.
        status: u16,
    },
}

impl PartnerError {
    /// The reference error code.
    ///
    /// Configuration errors are reported as the reference reports a transfer that meets
    /// broken configuration: `CONNECTOR_NOT_FOUND` for a connector ("connector or related
    /// configuration was not found"), `INVALID_ENDPOINT_PROTOCOL` for a URL that is neither
    /// HTTP nor HTTPS, and `AGREEMENT_NOT_FOUND` for everything else.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::AgreementNotFound(_) => ErrorCode::AgreementNotFound,
            Self::ConnectorNotFound(_) => ErrorCode::ConnectorNotFound,
            Self::NoUsableCertificate { usage, .. } => {
                if *usage == CertificateUsage::Signing {
                    ErrorCode::SigningFailed
                } else {
                    ErrorCode::EncryptionFailed
                }
            }
            Self::CertificateNotUsable(_) | Self::UntrustedCertificate(_) => {
                ErrorCode::VerificationFailed
            }
            Self::Config(e) => match (&e.item, &e.problem) {
                (_, ConfigProblem::UnsupportedUrlScheme(_)) => ErrorCode::InvalidEndpointProtocol,
                (ConfigItem::Connector(_), _) => ErrorCode::ConnectorNotFound,
                _ => ErrorCode::AgreementNotFound,
            },
            Self::Transport(e) => e.kind.code(),
            Self::SendFile(_) => ErrorCode::SendFileNotFound,
            Self::HttpStatus { .. } => ErrorCode::HttpErrorResponseFromPartner,
        }
    }

    /// The MDN disposition (RFC 4130 §7.5.3).
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::AgreementNotFound(_) => Disposition::Error(Modifier::UnknownTradingRelationship),
            Self::CertificateNotUsable(_) | Self::UntrustedCertificate(_) => {
                Disposition::Error(Modifier::AuthenticationFailed)
            }
            _ => Disposition::Error(Modifier::UnexpectedProcessingError),
        }
    }

    pub(crate) fn config(item: ConfigItem, problem: ConfigProblem) -> crate::Error {
        crate::Error::Partner(Self::Config(Box::new(ConfigError { item, problem })))
    }
}

impl fmt::Display for PartnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AgreementNotFound(n) => write!(f, "agreement not found: {n}"),
            Self::ConnectorNotFound(n) => write!(f, "connector not found: {n}"),
            Self::NoUsableCertificate { profile, usage, at } => write!(
                f,
                "profile {profile:?} has no {usage} certificate usable at {}",
                Rfc3339(*at)
            ),
            Self::CertificateNotUsable(c) => c.fmt(f),
            Self::UntrustedCertificate(c) => c.fmt(f),
            Self::Config(c) => c.fmt(f),
            Self::Transport(t) => t.fmt(f),
            Self::SendFile(e) if e.kind == super::StorageErrorKind::NotFound => {
                write!(f, "File path {} not found.", e.path)
            }
            Self::SendFile(e) => write!(f, "File path {} cannot be read: {}", e.path, e.message),
            Self::HttpStatus { url, status } => write!(f, "{url} returned status {status}"),
        }
    }
}

impl From<PartnerError> for crate::Error {
    fn from(e: PartnerError) -> Self {
        crate::Error::Partner(e)
    }
}

/// Why an agreement or connector lookup found nothing usable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotFound {
    /// Nothing matches (the lookup is described, e.g. `AS2-From "A" to AS2-To "B"`).
    Missing(String),
    /// The agreement with this id has status `INACTIVE`.
    Inactive(String),
    /// A profile the agreement or connector uses is missing, inactive or of the wrong type.
    Profile {
        /// The agreement's or connector's id.
        item: String,
        /// The profile's id.
        profile: String,
        /// What is wrong with it.
        reason: ProfileUnavailable,
    },
}

/// Why a profile cannot serve an agreement or connector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileUnavailable {
    /// No profile has this id.
    Missing,
    /// The profile's status is `INACTIVE`.
    Inactive,
    /// The profile is of the other type (local where a partner profile is needed, or the
    /// reverse).
    WrongType(ProfileType),
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(what) => write!(f, "none for {what}"),
            Self::Inactive(id) => write!(f, "{id:?} is inactive"),
            Self::Profile {
                item,
                profile,
                reason,
            } => {
                write!(f, "profile {profile:?} of {item:?} ")?;
                match reason {
                    ProfileUnavailable::Missing => f.write_str("does not exist"),
                    ProfileUnavailable::Inactive => f.write_str("is inactive"),
                    ProfileUnavailable::WrongType(t) => write!(f, "is a {t} profile"),
                }
            }
        }
    }
}

/// Where `at` falls outside a certificate's usable window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowViolation {
    /// Before the certificate's NotBefore.
    NotYetValid,
    /// After the certificate's NotAfter.
    Expired,
    /// Before the profile's Active Date for it.
    NotYetActive,
    /// On or after the profile's Inactive Date for it.
    Inactive,
}

impl fmt::Display for WindowViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotYetValid => "not yet valid",
            Self::Expired => "expired",
            Self::NotYetActive => "not yet active",
            Self::Inactive => "inactive",
        })
    }
}

/// A certificate used outside its window, with every date that defines the window.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnusableCertificate {
    /// The certificate's id in the profile (e.g. `Cert1`).
    pub id: String,
    /// Its subject, RFC 4514 style.
    pub subject: String,
    /// Which bound was crossed.
    pub violation: WindowViolation,
    /// The time checked.
    pub at: SystemTime,
    /// The certificate's NotBefore.
    pub not_before: SystemTime,
    /// The certificate's NotAfter.
    pub not_after: SystemTime,
    /// The Active Date, if set.
    pub active_date: Option<SystemTime>,
    /// The Inactive Date, if set.
    pub inactive_date: Option<SystemTime>,
}

impl fmt::Display for UnusableCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate {:?} ({}) is {} at {}: NotBefore {}, NotAfter {}",
            self.id,
            self.subject,
            self.violation,
            Rfc3339(self.at),
            Rfc3339(self.not_before),
            Rfc3339(self.not_after),
        )?;
        if let Some(d) = self.active_date {
            write!(f, ", Active Date {}", Rfc3339(d))?;
        }
        if let Some(d) = self.inactive_date {
            write!(f, ", Inactive Date {}", Rfc3339(d))?;
        }
        Ok(())
    }
}

/// Why a certificate chain did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// No trust anchor or supplied intermediate is named as this certificate's issuer.
    IssuerNotFound,
    /// An issuer with the right name was found but its key does not verify the signature.
    BadSignature,
    /// An intermediate's basicConstraints extension says it is not a CA.
    NotACa,
    /// The chain is longer than the bound ([`MAX_CHAIN_LENGTH`](super::MAX_CHAIN_LENGTH)).
    TooLong,
    /// A certificate of the chain is outside its validity period at `at`.
    NotValidAt {
        /// The certificate's NotBefore.
        not_before: SystemTime,
        /// The certificate's NotAfter.
        not_after: SystemTime,
        /// The time checked.
        at: SystemTime,
    },
    /// The certificate is signed with an algorithm other than RSA PKCS#1 v1.5, RSA-PSS or
    /// ECDSA over SHA-1/SHA-2, or its issuer's key is neither RSA nor EC on P-256 or P-384.
    UnsupportedSignature,
    /// The certificate's outer structure could not be read.
    Malformed,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IssuerNotFound => {
                f.write_str("its issuer is neither a trust anchor nor in the chain")
            }
            Self::BadSignature => {
                f.write_str("its signature does not verify with its issuer's key")
            }
            Self::NotACa => f.write_str("it is used as an issuer but is not a CA"),
            Self::TooLong => f.write_str("the chain is too long"),
            Self::NotValidAt {
                not_before,
                not_after,
                at,
            } => write!(
                f,
                "it is not valid at {} (NotBefore {}, NotAfter {})",
                Rfc3339(*at),
                Rfc3339(*not_before),
                Rfc3339(*not_after)
            ),
            Self::UnsupportedSignature => f.write_str("its signature algorithm is not supported"),
            Self::Malformed => f.write_str("it is malformed"),
        }
    }
}

/// A certificate whose chain to the trust anchors failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UntrustedCertificate {
    /// The profile certificate's id, or its subject when checked outside a profile.
    pub id: String,
    /// The subject of the chain element where verification stopped.
    pub at_subject: String,
    /// Why.
    pub reason: ChainError,
}

impl fmt::Display for UntrustedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate {:?} is not trusted: at {}, {}",
            self.id, self.at_subject, self.reason
        )
    }
}

/// The configuration item an error is about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigItem {
    /// The document as a whole (syntax).
    Document,
    /// A certificate, by id.
    Certificate(String),
    /// A profile, by id.
    Profile(String),
    /// An agreement, by id.
    Agreement(String),
    /// A connector, by id.
    Connector(String),
}

impl fmt::Display for ConfigItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Document => f.write_str("partner configuration"),
            Self::Certificate(id) => write!(f, "certificate {id:?}"),
            Self::Profile(id) => write!(f, "profile {id:?}"),
            Self::Agreement(id) => write!(f, "agreement {id:?}"),
            Self::Connector(id) => write!(f, "connector {id:?}"),
        }
    }
}

/// What is wrong with a configuration item.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// JSON or TOML syntax, or a field of the wrong type (the parser's message).
    Syntax(String),
    /// Another item of the same kind has the same id.
    DuplicateId,
    /// A reference to an item that does not exist (`kind` is `certificate` or `profile`).
    UnknownReference {
        /// What kind of item is referenced.
        kind: &'static str,
        /// The id referenced.
        id: String,
    },
    /// A profile reference names a profile of the other type.
    WrongProfileType {
        /// The profile referenced.
        profile: String,
        /// The type it should have.
        expected: ProfileType,
    },
    /// More certificates than a profile may hold.
    TooManyCertificates {
        /// How many were given.
        count: usize,
        /// The maximum ([`Profile::MAX_CERTIFICATES`](super::Profile::MAX_CERTIFICATES)).
        max: usize,
    },
    /// The AS2 ID is not 1 to 128 printable ASCII characters.
    InvalidAs2Id(String),
    /// The caller's file reader failed.
    UnreadableFile {
        /// The path as configured.
        path: PathBuf,
        /// The reader's message.
        reason: String,
    },
    /// The certificate (or a chain element or trust anchor) could not be parsed.
    InvalidCertificate(String),
    /// The private key could not be parsed or decrypted.
    InvalidKey(String),
    /// The private key is not the certificate's.
    KeyMismatch,
    /// A local profile's certificate has no private key.
    MissingPrivateKey,
    /// The Active Date is not before the Inactive Date.
    DatesOutOfOrder,
    /// The Active/Inactive range is not inside NotBefore/NotAfter (allowed only with lenient
    /// import).
    ActiveRangeOutsideValidity {
        /// The certificate's NotBefore.
        not_before: SystemTime,
        /// The certificate's NotAfter.
        not_after: SystemTime,
        /// The Active Date given.
        active_date: Option<SystemTime>,
        /// The Inactive Date given.
        inactive_date: Option<SystemTime>,
    },
    /// The URL cannot be used (the reason is given).
    InvalidUrl(&'static str),
    /// The URL's scheme is neither `http` nor `https` (`INVALID_ENDPOINT_PROTOCOL`).
    UnsupportedUrlScheme(String),
    /// Encryption `NONE` over a plain `http` URL: the reference allows it only over HTTPS.
    EncryptionRequiredOverHttp,
    /// `ASYNC` MDN response without `async_mdn_url`, or a URL with another response type.
    AsyncMdnUrl,
    /// A certificate entry needs exactly one of `certificate` and `pkcs12`, and no
    /// `private_key` beside `pkcs12`.
    CertificateSource,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(m) => f.write_str(m),
            Self::DuplicateId => f.write_str("the id is used twice"),
            Self::UnknownReference { kind, id } => write!(f, "refers to unknown {kind} {id:?}"),
            Self::WrongProfileType { profile, expected } => {
                write!(f, "profile {profile:?} must be a {expected} profile")
            }
            Self::TooManyCertificates { count, max } => {
                write!(f, "{count} certificates, at most {max} allowed per profile")
            }
            Self::InvalidAs2Id(id) => {
                write!(
                    f,
                    "AS2 ID {id:?} must be 1 to 128 printable ASCII characters"
                )
            }
            Self::UnreadableFile { path, reason } => {
                write!(f, "cannot read {}: {reason}", path.display())
            }
            Self::InvalidCertificate(m) => write!(f, "{m}"),
            Self::InvalidKey(m) => write!(f, "{m}"),
            Self::KeyMismatch => f.write_str("the private key does not match the certificate"),
            Self::MissingPrivateKey => {
                f.write_str("a local profile's certificate needs its private key")
            }
            Self::DatesOutOfOrder => {
                f.write_str("the Active Date must be before the Inactive Date")
            }
            Self::ActiveRangeOutsideValidity {
                not_before,
                not_after,
                active_date,
                inactive_date,
            } => {
                let show =
                    |d: &Option<SystemTime>| d.map_or("-".to_owned(), |d| Rfc3339(d).to_string());
                write!(
                    f,
                    "Active Date {} to Inactive Date {} is not inside NotBefore {} to NotAfter {} \
                     (import leniently to accept it)",
                    show(active_date),
                    show(inactive_date),
                    Rfc3339(*not_before),
                    Rfc3339(*not_after)
                )
            }
            Self::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Self::UnsupportedUrlScheme(s) => {
                write!(f, "URL scheme {s:?}: only HTTP and HTTPS are supported")
            }
            Self::EncryptionRequiredOverHttp => {
                f.write_str("encryption algorithm NONE is allowed only with an https URL")
            }
            Self::CertificateSource => f.write_str(
                "give exactly one of certificate and pkcs12 (a PKCS#12 file holds the private key)",
            ),
            Self::AsyncMdnUrl => {
                f.write_str("async_mdn_url is required with mdn_response ASYNC and only then")
            }
        }
    }
}

/// A configuration error: which item, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The item.
    pub item: ConfigItem,
    /// The problem.
    pub problem: ConfigProblem,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.item, self.problem)
    }
}

/// How a transport failed, mapped onto the reference's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// DNS has no such host: `UNABLE_TO_RESOLVE_HOSTNAME`.
    UnresolvableHostname,
    /// The host resolved to no usable address: `UNABLE_RESOLVE_HOST_TO_IP_ADDRESS`.
    NoIpAddress,
    /// Connecting failed or timed out, or the connection broke:
    /// `UNABLE_TO_CONNECT_TO_REMOTE_HOST_OR_IP`.
    ConnectionFailed,
    /// The URL's scheme is neither HTTP nor HTTPS: `INVALID_ENDPOINT_PROTOCOL`.
    InvalidProtocol,
}

impl TransportErrorKind {
    /// The reference error code.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::UnresolvableHostname => ErrorCode::UnableToResolveHostname,
            Self::NoIpAddress => ErrorCode::UnableResolveHostToIpAddress,
            Self::ConnectionFailed => ErrorCode::UnableToConnectToRemoteHostOrIp,
            Self::InvalidProtocol => ErrorCode::InvalidEndpointProtocol,
        }
    }
}

/// A transport failure reported by the caller's [`Transport`](super::Transport).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportError {
    /// The kind, which gives the reference code.
    pub kind: TransportErrorKind,
    /// The transport's own message.
    pub message: String,
}

impl TransportError {
    /// A transport error of `kind`.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transport: {} ({})", self.message, self.kind.code())
    }
}

impl std::error::Error for TransportError {}

impl From<TransportError> for crate::Error {
    fn from(e: TransportError) -> Self {
        crate::Error::Partner(PartnerError::Transport(e))
    }
}
