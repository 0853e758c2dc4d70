//! The crate's error type and the reference service's error codes.
//!
//! [`Error`] says what failed; [`Error::code`] derives the reference code
//! ([`ErrorCode`]), which is what status records and operators see. Decryption failures
//! carry no detail at all, so that nothing about them can serve as an oracle.

use core::fmt;

use const_oid::ObjectIdentifier;

use crate::limits::Limit;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $message:literal; )*) => {
        /// An error code of the reference service's table (its spelling, including
        /// `INSUFFICENT_MESSAGE_SECURITY_UNENCRYPTED`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in the reference table's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as written in status records, e.g. `DECRYPT_FAILED`.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The reference's error text (its placeholders left generic).
            pub fn message(self) -> &'static str {
                match self { $( ErrorCode::$variant => $message, )* }
            }

            /// Looks a code up by its exact spelling.
            pub fn from_name(name: &str) -> Option<ErrorCode> {
                match name { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    /// Decryption failed.
    DecryptFailed => "DECRYPT_FAILED",
        "Failed to decrypt message. Ensure that the partner has the correct public encryption key.";
    /// The sender used a content-encryption algorithm that is not supported.
    UnsupportedEncryptionAlg => "ERROR_DECRYPT_UNSUPPORTED_ENCRYPTION_ALG",
        "SMIME Payload Decryption requested using unsupported algorithm.";
    /// The S/MIME structure could not be parsed.
    InvalidSmimeFormat => "DECRYPT_FAILED_INVALID_SMIME_FORMAT",
        "Unable to parse enveloped mimePart.";
    /// No RecipientInfo matched one of our decryption keys.
    NoDecryptionKeyFound => "DECRYPT_FAILED_NO_DECRYPTION_KEY_FOUND",
        "No matching decryption key found.";
    /// The outbound file could not be encrypted.
    EncryptionFailed => "ENCRYPTION_FAILED",
        "Failed to encrypt file.";
    /// Signature verification failed or a MIC did not match.
    VerificationFailed => "VERIFICATION_FAILED",
        "Signature verification failed for AS2 message or a MIC code did not match.";
    /// The outbound file could not be signed.
    SigningFailed => "SIGNING_FAILED",
        "Failed to sign file.";
    /// Decompression failed.
    DecompressionFailed => "DECOMPRESSION_FAILED",
        "Failed to decompress message.";
    /// No active agreement for the (AS2-From, AS2-To) pair.
    AgreementNotFound => "AGREEMENT_NOT_FOUND",
        "Agreement was not found.";
    /// No active connector for an outbound transfer.
    ConnectorNotFound => "CONNECTOR_NOT_FOUND",
        "Connector or related configuration was not found.";
    /// Encryption was required and the message was not encrypted.
    InsufficientMessageSecurityUnencrypted => "INSUFFICENT_MESSAGE_SECURITY_UNENCRYPTED",
        "Encryption is required.";
    /// A processing step (encryption, signature, compression) appears twice.
    DuplicateMessage => "DUPLICATE_MESSAGE",
        "Duplicate or double processed step.";
    /// A message header is missing or invalid.
    InvalidRequest => "INVALID_REQUEST",
        "There is a problem with a message header.";
    /// The partner's hostname could not be resolved.
    UnableToResolveHostname => "UNABLE_TO_RESOLVE_HOSTNAME",
        "Unable to resolve hostname.";
    /// The partner answered with an unexpected HTTP status.
    HttpErrorResponseFromPartner => "HTTP_ERROR_RESPONSE_FROM_PARTNER",
        "Partner returned an unexpected HTTP status for the message.";
    /// The connector URL is neither HTTP nor HTTPS.
    InvalidEndpointProtocol => "INVALID_ENDPOINT_PROTOCOL",
        "Only HTTP and HTTPS are supported.";
    /// DNS resolution of the partner host failed.
    UnableResolveHostToIpAddress => "UNABLE_RESOLVE_HOST_TO_IP_ADDRESS",
        "Unable to resolve hostname to IP addresses.";
    /// No connection to the partner could be made.
    UnableToConnectToRemoteHostOrIp => "UNABLE_TO_CONNECT_TO_REMOTE_HOST_OR_IP",
        "Connection to endpoint timed out.";
    /// The file to send was not found.
    SendFileNotFound => "SEND_FILE_NOT_FOUND",
        "File path not found.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of algorithm an [`Error::UnsupportedAlgorithm`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlgorithmKind {
    /// A message digest (hash).
    Digest,
    /// A signature algorithm.
    Signature,
    /// A content-encryption algorithm (the symmetric cipher).
    ContentEncryption,
    /// A key-transport algorithm (how the content key is wrapped).
    KeyTransport,
    /// A compression algorithm.
    Compression,
    /// A content type the operation cannot handle.
    ContentType,
}

impl fmt::Display for AlgorithmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Digest => "digest",
            Self::Signature => "signature",
            Self::ContentEncryption => "content-encryption",
            Self::KeyTransport => "key-transport",
            Self::Compression => "compression",
            Self::ContentType => "content type",
        })
    }
}

/// An algorithm that must not be generated for a partner at the declared AS2-Version:
/// SHA-1, MD5, 3DES or RC2 with a 1.3 partner (draft-ietf-ediint-rfc4130bis §6.1: "weak
/// algorithms (e.g., SHA-1, 3DES, RC2, MD5) MUST NOT be generated"). A configuration
/// error, reported before any work ([`Error::WeakAlgorithm`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WeakAlgorithm {
    /// The algorithm asked for, e.g. `SHA-1` or `3DES`.
    pub algorithm: &'static str,
    /// What it was for: [`AlgorithmKind::Digest`] (a signature or a receipt's MIC) or
    /// [`AlgorithmKind::ContentEncryption`].
    pub kind: AlgorithmKind,
    /// The AS2-Version declared to the partner.
    pub version: crate::smime::headers::As2Version,
}

impl WeakAlgorithm {
    /// Fails with [`Error::WeakAlgorithm`] when `digest` is SHA-1 and `version` forbids
    /// weak algorithms.
    pub fn check_digest(
        digest: crate::cms::algorithm::DigestAlgorithm,
        version: crate::smime::headers::As2Version,
    ) -> Result<(), Error> {
        if version.forbids_weak_algorithms()
            && digest == crate::cms::algorithm::DigestAlgorithm::Sha1
        {
            return Err(Error::WeakAlgorithm(WeakAlgorithm {
                algorithm: "SHA-1",
                kind: AlgorithmKind::Digest,
                version,
            }));
        }
        Ok(())
    }

    /// Fails with [`Error::WeakAlgorithm`] when `cipher` is 3DES and `version` forbids
    /// weak algorithms.
    pub fn check_cipher(
        cipher: crate::cms::algorithm::ContentEncryption,
        version: crate::smime::headers::As2Version,
    ) -> Result<(), Error> {
        if version.forbids_weak_algorithms()
            && cipher == crate::cms::algorithm::ContentEncryption::TripleDesCbc
        {
            return Err(Error::WeakAlgorithm(WeakAlgorithm {
                algorithm: "3DES",
                kind: AlgorithmKind::ContentEncryption,
                version,
            }));
        }
        Ok(())
    }
}

impl fmt::Display for WeakAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let instead = match self.kind {
            AlgorithmKind::ContentEncryption => "AES (AES-256-GCM or AES-256-CBC)",
            _ => "SHA-256 or stronger",
        };
        write!(
            f,
            "{} must not be generated for a partner at AS2-Version {} \
             (draft-ietf-ediint-rfc4130bis section 6.1); use {instead}",
            self.algorithm, self.version
        )
    }
}

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerificationError {
    /// No certificate (embedded or supplied) matches the signer identifier.
    SignerNotFound,
    /// The message-digest attribute does not match the digest of the content.
    DigestMismatch,
    /// The content-type attribute does not match the encapsulated content type.
    ContentTypeMismatch,
    /// The RFC 6211 CMSAlgorithmProtection attribute names other algorithms than the
    /// SignerInfo does.
    AlgorithmProtectionMismatch,
    /// A required signed attribute (content-type or message-digest) is missing.
    MissingAttribute,
    /// The signature value does not verify with the signer's key (for ECDSA, also a value
    /// that is not a DER `Ecdsa-Sig-Value` with both integers in range).
    BadSignature,
    /// The signature algorithm does not fit the signer's key: an RSA algorithm with an EC
    /// key or ECDSA with an RSA key (refused before any verification, so that no
    /// algorithm can be substituted for another).
    KeyAlgorithmMismatch,
    /// Detached content was expected but not supplied, or supplied for a signature that
    /// encapsulates its own content.
    ContentMismatch,
    /// The MDN's Received-Content-MIC differs from the MIC of the message we sent.
    MicMismatch,
    /// The MDN carries no Received-Content-MIC although the message's MIC is known.
    MicMissing,
    /// The signer's digest algorithm is not one the content was hashed with while it
    /// streamed: the `micalg` parameter of a `multipart/signed`, or the digestAlgorithms of
    /// an encapsulated SignedData, did not announce it (RFC 5751 §3.4.3.2, RFC 5652 §5.1).
    UnannouncedDigest,
}

impl fmt::Display for VerificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SignerNotFound => "no certificate matches the signer",
            Self::DigestMismatch => "message-digest attribute does not match the content",
            Self::ContentTypeMismatch => "content-type attribute does not match the content",
            Self::AlgorithmProtectionMismatch => {
                "CMSAlgorithmProtection attribute does not match the signer's algorithms"
            }
            Self::MissingAttribute => "a required signed attribute is missing",
            Self::BadSignature => "signature value does not verify",
            Self::KeyAlgorithmMismatch => {
                "the signature algorithm does not fit the signer's key (RSA or EC)"
            }
            Self::ContentMismatch => "detached content missing or unexpected",
            Self::MicMismatch => "the MDN's Received-Content-MIC does not match the message sent",
            Self::MicMissing => "the MDN has no Received-Content-MIC",
            Self::UnannouncedDigest => {
                "the signer's digest algorithm was not announced, so the content was not hashed with it"
            }
        })
    }
}

/// A layer kind, for [`PolicyError::DuplicateLayer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerKind {
    /// An EnvelopedData layer.
    Encryption,
    /// A signature (multipart/signed or opaque SignedData).
    Signature,
    /// A CompressedData layer.
    Compression,
}

/// A breach of the agreement's security policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// Encryption is required and the message was not encrypted.
    EncryptionRequired,
    /// A signature is required and the message was not signed.
    SignatureRequired,
    /// A layer of this kind appears twice.
    DuplicateLayer(LayerKind),
    /// The payload is `multipart/related` (RFC 6362 multiple attachments) and the policy
    /// does not accept attachments
    /// ([`InboundPolicy::accept_attachments`](crate::message::inbound::InboundPolicy::accept_attachments)):
    /// `INVALID_SMIME_FORMAT`, `failed/Failure: unsupported format`.
    AttachmentsRefused,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EncryptionRequired => f.write_str("encryption is required"),
            Self::SignatureRequired => f.write_str("a signature is required"),
            Self::DuplicateLayer(kind) => write!(f, "duplicate {kind:?} layer"),
            Self::AttachmentsRefused => {
                f.write_str("multiple attachments (multipart/related) are not accepted")
            }
        }
    }
}

/// An MDN disposition modifier: the text after `processed/Error: `,
/// `processed/Warning: ` or `failed/Failure: ` (RFC 4130 §7.4.3 and §7.5.3,
/// RFC 8098 §3.2.6), with the additions of the AS2 1.3 draft (draft-petta-rfc4130bis-05
/// §8.5.4).
///
/// The set is open: a partner may send any text, which [`Modifier::parse`] keeps exactly
/// (trimmed) as [`Modifier::Other`], so it is reported and compared unchanged. Known names
/// are matched in any case and written in their registered spelling by
/// [`as_str`](Modifier::as_str). Build a modifier from text with [`Modifier::parse`] (or
/// `"...".parse()`, `.into()`), not by wrapping a known name in `Other`: an `Other`
/// holding a known name does not compare equal to its variant.
///
/// ```
/// use as2_proto::Modifier;
///
/// assert_eq!(Modifier::parse("Decryption-Failed"), Modifier::DecryptionFailed);
/// assert_eq!(Modifier::DecryptionFailed.as_str(), "decryption-failed");
/// assert_eq!(
///     Modifier::parse(" partner-specific ").as_str(),
///     "partner-specific"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Modifier {
    /// `authentication-failed`: the sender could not be authenticated (RFC 4130).
    AuthenticationFailed,
    /// `decompression-failed`: the content could not be decompressed (RFC 4130).
    DecompressionFailed,
    /// `decryption-failed`: the content could not be decrypted (RFC 4130).
    DecryptionFailed,
    /// `insufficient-message-security`: the message was not protected as agreed
    /// (RFC 4130).
    InsufficientMessageSecurity,
    /// `integrity-check-failed`: the content's integrity could not be verified
    /// (RFC 4130).
    IntegrityCheckFailed,
    /// `unexpected-processing-error`: any other processing error (RFC 4130).
    UnexpectedProcessingError,
    /// `duplicate-filename`: the payload's file name was already received (AS2 1.3
    /// draft).
    DuplicateFilename,
    /// `illegal-filename`: the payload's file name could not be processed (AS2 1.3
    /// draft).
    IllegalFilename,
    /// `invalid-message-id`: the Message-ID header is not syntactically correct (AS2 1.3
    /// draft).
    InvalidMessageId,
    /// `unknown-trading-relationship`: the AS2-From/AS2-To pair is not known (AS2 1.3
    /// draft; sent by this crate for a message without an agreement).
    UnknownTradingRelationship,
    /// `duplicate-document`: the warning for a message received before (RFC 4130's examples).
    DuplicateDocument,
    /// `unsupported format`: the failure for an MDN request in a format the receiver
    /// does not support (RFC 4130).
    UnsupportedFormat,
    /// `unsupported MIC-algorithms`: the failure for a request whose MIC algorithms are
    /// all unsupported (RFC 4130).
    UnsupportedMicAlgorithms,
    /// `sender-equals-receiver`: the failure for AS2-From equal to AS2-To (RFC 4130's examples).
    SenderEqualsReceiver,
    /// Any other text, as received (trimmed) or as an
    /// [`ErrorPolicy`](crate::record::ErrorPolicy) configured it at run time.
    Other(String),
}

impl Modifier {
    /// Every known modifier (all variants but [`Modifier::Other`]).
    pub const KNOWN: &'static [Modifier] = &[
        Modifier::AuthenticationFailed,
        Modifier::DecompressionFailed,
        Modifier::DecryptionFailed,
        Modifier::InsufficientMessageSecurity,
        Modifier::IntegrityCheckFailed,
        Modifier::UnexpectedProcessingError,
        Modifier::DuplicateFilename,
        Modifier::IllegalFilename,
        Modifier::InvalidMessageId,
        Modifier::UnknownTradingRelationship,
        Modifier::DuplicateDocument,
        Modifier::UnsupportedFormat,
        Modifier::UnsupportedMicAlgorithms,
        Modifier::SenderEqualsReceiver,
    ];

    /// The modifier as written in a `Disposition` field: the registered spelling of a
    /// known modifier, the text of [`Modifier::Other`] unchanged.
    pub fn as_str(&self) -> &str {
        match self {
            Self::AuthenticationFailed => "authentication-failed",
            Self::DecompressionFailed => "decompression-failed",
            Self::DecryptionFailed => "decryption-failed",
            Self::InsufficientMessageSecurity => "insufficient-message-security",
            Self::IntegrityCheckFailed => "integrity-check-failed",
            Self::UnexpectedProcessingError => "unexpected-processing-error",
            Self::DuplicateFilename => "duplicate-filename",
            Self::IllegalFilename => "illegal-filename",
            Self::InvalidMessageId => "invalid-message-id",
            Self::UnknownTradingRelationship => "unknown-trading-relationship",
            Self::DuplicateDocument => "duplicate-document",
            Self::UnsupportedFormat => "unsupported format",
            Self::UnsupportedMicAlgorithms => "unsupported MIC-algorithms",
            Self::SenderEqualsReceiver => "sender-equals-receiver",
            Self::Other(text) => text,
        }
    }

    /// Reads a modifier: spaces and tabs around it are dropped, a known name matches in
    /// any case, and anything else is kept exactly as [`Modifier::Other`].
    pub fn parse(text: &str) -> Self {
        let text = text.trim_matches(OWS);
        Self::known(text).unwrap_or_else(|| Self::Other(text.to_owned()))
    }

    /// The known modifier named `text` (exactly, but in any case).
    fn known(text: &str) -> Option<Self> {
        Self::KNOWN
            .iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(text))
            .cloned()
    }

    /// Whether this is `known`, also when it is an [`Modifier::Other`] spelling of it (as
    /// a policy may build).
    pub(crate) fn is(&self, known: &Modifier) -> bool {
        match self {
            Self::Other(text) => Self::known(text.trim_matches(OWS)).as_ref() == Some(known),
            _ => self == known,
        }
    }

    /// The reference error code a negative MDN with this modifier corresponds to, for the
    /// sender's status record (`failure-code`); `None` for a modifier the reference table
    /// has no code for (`unexpected-processing-error`, `duplicate-document`, unknown
    /// text). The older spelling `unknown-trading-partner` maps like
    /// `unknown-trading-relationship`.
    pub fn error_code(&self) -> Option<ErrorCode> {
        Some(match self {
            Self::DecryptionFailed => ErrorCode::DecryptFailed,
            Self::AuthenticationFailed | Self::IntegrityCheckFailed => {
                ErrorCode::VerificationFailed
            }
            Self::DecompressionFailed => ErrorCode::DecompressionFailed,
            Self::InsufficientMessageSecurity => ErrorCode::InsufficientMessageSecurityUnencrypted,
            Self::UnknownTradingRelationship => ErrorCode::AgreementNotFound,
            Self::UnsupportedMicAlgorithms => ErrorCode::VerificationFailed,
            Self::UnsupportedFormat => ErrorCode::InvalidSmimeFormat,
            // The three concern the request's headers (the file name is in
            // Content-Disposition); a repeated file name is the reference's duplicate.
            Self::InvalidMessageId | Self::IllegalFilename | Self::SenderEqualsReceiver => {
                ErrorCode::InvalidRequest
            }
            Self::DuplicateFilename => ErrorCode::DuplicateMessage,
            Self::UnexpectedProcessingError | Self::DuplicateDocument => return None,
            Self::Other(text) => {
                let text = text.trim_matches(OWS);
                return match Self::known(text) {
                    Some(known) => known.error_code(),
                    None if text.eq_ignore_ascii_case("unknown-trading-partner") => {
                        Some(ErrorCode::AgreementNotFound)
                    }
                    None => None,
                };
            }
        })
    }
}

/// Optional whitespace (RFC 7230 OWS) around a modifier: spaces and horizontal tabs.
const OWS: [char; 2] = [' ', '\t'];

impl fmt::Display for Modifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for Modifier {
    type Err = core::convert::Infallible;

    /// [`Modifier::parse`]: every text is a modifier.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(text))
    }
}

impl From<&str> for Modifier {
    /// [`Modifier::parse`].
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<String> for Modifier {
    /// [`Modifier::parse`], reusing the string for [`Modifier::Other`] when it needs no
    /// trimming.
    fn from(text: String) -> Self {
        if text.trim_matches(OWS).len() == text.len() {
            Self::known(&text).unwrap_or(Self::Other(text))
        } else {
            Self::parse(&text)
        }
    }
}

/// The disposition an error is reported with in an MDN: `processed/Error: <modifier>` or
/// `failed/Failure: <modifier>`.
///
/// An [`ErrorPolicy`](crate::record::ErrorPolicy) can report a modifier it only knows at
/// run time (e.g. from a partner's configuration) with [`Modifier::parse`], which gives
/// [`Modifier::Other`] for a name that is not known.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// `processed/Error: <modifier>`.
    Error(Modifier),
    /// `failed/Failure: <modifier>`.
    Failure(Modifier),
}

impl Disposition {
    /// The modifier, without the `processed/Error: ` or `failed/Failure: ` prefix.
    pub fn modifier(&self) -> &Modifier {
        match self {
            Self::Error(m) | Self::Failure(m) => m,
        }
    }

    /// The modifier's text ([`Modifier::as_str`]).
    pub fn text(&self) -> &str {
        self.modifier().as_str()
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(m) => write!(f, "processed/Error: {m}"),
            Self::Failure(m) => write!(f, "failed/Failure: {m}"),
        }
    }
}

/// Everything that can go wrong in this crate.
///
/// Match on the variant to learn what failed; call [`Error::code`] for the reference
/// error code.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input is not well-formed (BER, CMS, ...). `what` names the element that was
    /// expected and `offset` is the byte offset in the input where parsing stopped.
    Malformed {
        /// The element being read.
        what: &'static str,
        /// Byte offset in the input.
        offset: usize,
    },
    /// A configured [`Limits`](crate::Limits) bound was exceeded.
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// Its configured value.
        value: usize,
    },
    /// An algorithm identifier we recognise as well-formed but do not implement.
    UnsupportedAlgorithm {
        /// What the algorithm was for.
        kind: AlgorithmKind,
        /// The object identifier received.
        oid: ObjectIdentifier,
    },
    /// Decryption failed. Deliberately carries no detail: wrong key, bad RSA padding, bad
    /// CBC padding and a damaged inner structure are indistinguishable.
    DecryptionFailed,
    /// None of the envelope's recipients is one of the supplied certificates.
    NoMatchingRecipient,
    /// A signature did not verify.
    Verification(VerificationError),
    /// zlib decompression failed (corrupt stream).
    DecompressionFailed,
    /// A certificate could not be parsed or used.
    InvalidCertificate(&'static str),
    /// A private key could not be parsed or used.
    InvalidKey(&'static str),
    /// Signing failed (e.g. the key is too small for the digest).
    SigningFailed(&'static str),
    /// Encryption failed (e.g. the recipient key is not RSA).
    EncryptionFailed(&'static str),
    /// The message breaks the agreement's security policy.
    Policy(PolicyError),
    /// No active agreement for this (AS2-From, AS2-To) pair.
    UnknownTradingPartner,
    /// A signed receipt was required with MIC algorithms none of which we support.
    UnsupportedMicAlgorithms,
    /// The content is not in a format the receiver can process.
    UnsupportedFormat(&'static str),
    /// A MIME structure could not be parsed or written.
    Mime(crate::mime::MimeError),
    /// An AS2 or MIME header is missing or invalid.
    InvalidHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A partner, profile, certificate, agreement, connector or transport problem.
    Partner(crate::partner::PartnerError),
    /// A certificate's keyUsage or extendedKeyUsage extension does not allow the use
    /// ([`Certificate::check_usage`](crate::Certificate::check_usage)):
    /// `VERIFICATION_FAILED` (`authentication-failed`) for a signer, `ENCRYPTION_FAILED`
    /// for a recipient.
    CertificateUsage(Box<crate::cert::UsageError>),
    /// A streamed outbound message was finished with fewer payload octets than were
    /// announced to [`outbound::start`](crate::message::outbound::start) (more are refused
    /// as [`Error::LimitExceeded`]): the announced Content-Length would be wrong.
    PayloadLength {
        /// The payload length announced.
        announced: u64,
        /// The payload octets pushed.
        pushed: u64,
    },
    /// The request's `Date` header is in no date format the crate reads
    /// (`INVALID_REQUEST`); carries the value as received, control characters replaced
    /// and cut to 100 characters. Displayed as the reference words it:
    /// `Unsupported date format: 2022/123/456T`.
    UnsupportedDateFormat(String),
    /// An algorithm the partner's AS2-Version forbids us to generate (SHA-1 or 3DES for a
    /// 1.3 partner): a configuration error, from
    /// [`outbound::start`](crate::message::outbound::start),
    /// [`outbound::build`](crate::message::outbound::build) and
    /// [`mdn::reply`](crate::mdn::reply). Code `SIGNING_FAILED` for a digest,
    /// `ENCRYPTION_FAILED` for a cipher.
    WeakAlgorithm(WeakAlgorithm),
    /// A streamed outbound message with attachments was given a different number of
    /// parts than it declared: [`OutboundStream::next_part`] past the last one, or
    /// [`OutboundStream::finish`] before it.
    ///
    /// [`OutboundStream::next_part`]: crate::message::outbound::OutboundStream::next_part
    /// [`OutboundStream::finish`]: crate::message::outbound::OutboundStream::finish
    PartCount {
        /// The parts declared: the payload and its attachments.
        declared: usize,
        /// The parts pushed (or begun).
        pushed: usize,
    },
}

impl Error {
    /// The reference error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::LimitExceeded {
                limit: Limit::DecompressedSize | Limit::ExpansionRatio,
                ..
            } => ErrorCode::DecompressionFailed,
            // An outbound file over the limit: the reference refuses the transfer request;
            // its table has no closer code.
            Error::LimitExceeded {
                limit: Limit::PayloadSize,
                ..
            } => ErrorCode::InvalidRequest,
            Error::Malformed { .. } | Error::LimitExceeded { .. } => ErrorCode::InvalidSmimeFormat,
            Error::UnsupportedAlgorithm { kind, .. } => match kind {
                AlgorithmKind::ContentEncryption | AlgorithmKind::KeyTransport => {
                    ErrorCode::UnsupportedEncryptionAlg
                }
                AlgorithmKind::Digest | AlgorithmKind::Signature => ErrorCode::VerificationFailed,
                AlgorithmKind::Compression => ErrorCode::DecompressionFailed,
                AlgorithmKind::ContentType => ErrorCode::InvalidSmimeFormat,
            },
            Error::DecryptionFailed => ErrorCode::DecryptFailed,
            Error::NoMatchingRecipient => ErrorCode::NoDecryptionKeyFound,
            Error::Verification(_) | Error::InvalidCertificate(_) => ErrorCode::VerificationFailed,
            Error::DecompressionFailed => ErrorCode::DecompressionFailed,
            Error::InvalidKey(_) | Error::SigningFailed(_) => ErrorCode::SigningFailed,
            Error::EncryptionFailed(_) => ErrorCode::EncryptionFailed,
            Error::InvalidHeader { .. } => ErrorCode::InvalidRequest,
            Error::Mime(crate::mime::MimeError::InvalidHeaderForWrite { .. }) => {
                ErrorCode::InvalidRequest
            }
            Error::Mime(_) => ErrorCode::InvalidSmimeFormat,
            Error::Policy(PolicyError::EncryptionRequired) => {
                ErrorCode::InsufficientMessageSecurityUnencrypted
            }
            Error::Policy(PolicyError::SignatureRequired) => ErrorCode::VerificationFailed,
            Error::Policy(PolicyError::DuplicateLayer(_)) => ErrorCode::DuplicateMessage,
            Error::Policy(PolicyError::AttachmentsRefused) => ErrorCode::InvalidSmimeFormat,
            Error::UnknownTradingPartner => ErrorCode::AgreementNotFound,
            Error::UnsupportedMicAlgorithms => ErrorCode::VerificationFailed,
            Error::UnsupportedFormat(_) => ErrorCode::InvalidSmimeFormat,
            Error::Partner(e) => e.code(),
            Error::UnsupportedDateFormat(_) => ErrorCode::InvalidRequest,
            // Like a payload over the limit: the transfer request itself is wrong.
            Error::PayloadLength { .. } | Error::PartCount { .. } => ErrorCode::InvalidRequest,
            Error::CertificateUsage(e) => match e.key_use {
                crate::cert::KeyUse::Signing => ErrorCode::VerificationFailed,
                _ => ErrorCode::EncryptionFailed,
            },
            Error::WeakAlgorithm(w) => match w.kind {
                AlgorithmKind::ContentEncryption | AlgorithmKind::KeyTransport => {
                    ErrorCode::EncryptionFailed
                }
                _ => ErrorCode::SigningFailed,
            },
        }
    }

    /// The MDN disposition for this error (RFC 4130 §7.5.3, RFC 8098 §3.2.6).
    pub fn disposition(&self) -> Disposition {
        use Disposition::{Error as E, Failure as F};
        match self {
            Error::DecryptionFailed
            | Error::NoMatchingRecipient
            | Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentEncryption | AlgorithmKind::KeyTransport,
                ..
            } => E(Modifier::DecryptionFailed),
            Error::Verification(
                VerificationError::DigestMismatch
                | VerificationError::MicMismatch
                | VerificationError::MicMissing,
            ) => E(Modifier::IntegrityCheckFailed),
            Error::Verification(_)
            | Error::InvalidCertificate(_)
            | Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::Digest | AlgorithmKind::Signature,
                ..
            } => E(Modifier::AuthenticationFailed),
            Error::DecompressionFailed
            | Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::Compression,
                ..
            } => E(Modifier::DecompressionFailed),
            Error::LimitExceeded {
                limit: Limit::DecompressedSize | Limit::ExpansionRatio,
                ..
            } => E(Modifier::DecompressionFailed),
            Error::Policy(PolicyError::EncryptionRequired | PolicyError::SignatureRequired) => {
                E(Modifier::InsufficientMessageSecurity)
            }
            Error::UnknownTradingPartner => E(Modifier::UnknownTradingRelationship),
            Error::UnsupportedMicAlgorithms
            | Error::WeakAlgorithm(WeakAlgorithm {
                kind: AlgorithmKind::Digest,
                ..
            }) => F(Modifier::UnsupportedMicAlgorithms),
            Error::UnsupportedFormat(_)
            | Error::Policy(PolicyError::AttachmentsRefused)
            | Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentType,
                ..
            } => F(Modifier::UnsupportedFormat),
            Error::Partner(p) => p.disposition(),
            Error::CertificateUsage(u) if u.key_use == crate::cert::KeyUse::Signing => {
                E(Modifier::AuthenticationFailed)
            }
            _ => E(Modifier::UnexpectedProcessingError),
        }
    }

    pub(crate) fn malformed(what: &'static str, offset: usize) -> Self {
        Error::Malformed { what, offset }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed { what, offset } => {
                write!(f, "malformed input: {what} (at byte {offset})")
            }
            Error::LimitExceeded { limit, value } => {
                write!(f, "limit exceeded: {limit} = {value}")
            }
            Error::UnsupportedAlgorithm { kind, oid } => {
                write!(f, "unsupported {kind} algorithm {oid}")
            }
            Error::DecryptionFailed => f.write_str("decryption failed"),
            Error::NoMatchingRecipient => {
                f.write_str("no recipient of the envelope matches our certificates")
            }
            Error::Verification(e) => write!(f, "signature verification failed: {e}"),
            Error::DecompressionFailed => f.write_str("decompression failed"),
            Error::InvalidCertificate(why) => write!(f, "invalid certificate: {why}"),
            Error::InvalidKey(why) => write!(f, "invalid private key: {why}"),
            Error::SigningFailed(why) => write!(f, "signing failed: {why}"),
            Error::EncryptionFailed(why) => write!(f, "encryption failed: {why}"),
            Error::Mime(e) => write!(f, "MIME: {e}"),
            Error::Policy(p) => write!(f, "policy: {p}"),
            Error::UnknownTradingPartner => f.write_str("no agreement for this AS2-From/AS2-To"),
            Error::UnsupportedMicAlgorithms => {
                f.write_str("none of the requested MIC algorithms is supported")
            }
            Error::UnsupportedFormat(what) => write!(f, "unsupported format: {what}"),
            Error::InvalidHeader { header, reason } => {
                write!(f, "invalid {header} header: {reason}")
            }
            Error::Partner(e) => e.fmt(f),
            Error::CertificateUsage(e) => e.fmt(f),
            Error::UnsupportedDateFormat(value) => write!(f, "Unsupported date format: {value}"),
            Error::PayloadLength { announced, pushed } => {
                write!(f, "payload of {pushed} bytes, {announced} announced")
            }
            Error::WeakAlgorithm(w) => w.fmt(f),
            Error::PartCount { declared, pushed } => {
                write!(f, "{pushed} parts pushed, {declared} declared")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::mime::MimeError> for Error {
    fn from(e: crate::mime::MimeError) -> Self {
        Error::Mime(e)
    }
}

impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Self {
        Error::Policy(e)
    }
}

impl From<VerificationError> for Error {
    fn from(e: VerificationError) -> Self {
        Error::Verification(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_by_name() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(*code));
        }
        assert_eq!(ErrorCode::ALL.len(), 19);
        assert_eq!(
            ErrorCode::InsufficientMessageSecurityUnencrypted.as_str(),
            "INSUFFICENT_MESSAGE_SECURITY_UNENCRYPTED"
        );
    }

    #[test]
    fn decryption_failure_has_no_detail() {
        let e = Error::DecryptionFailed;
        assert_eq!(e.code(), ErrorCode::DecryptFailed);
        assert_eq!(e.to_string(), "decryption failed");
    }

    /// Whether `m` is in [`Modifier::KNOWN`]; the match fails to compile when a variant
    /// is added without being listed.
    fn listed(m: &Modifier) -> bool {
        match m {
            Modifier::AuthenticationFailed
            | Modifier::DecompressionFailed
            | Modifier::DecryptionFailed
            | Modifier::InsufficientMessageSecurity
            | Modifier::IntegrityCheckFailed
            | Modifier::UnexpectedProcessingError
            | Modifier::DuplicateFilename
            | Modifier::IllegalFilename
            | Modifier::InvalidMessageId
            | Modifier::UnknownTradingRelationship
            | Modifier::DuplicateDocument
            | Modifier::UnsupportedFormat
            | Modifier::UnsupportedMicAlgorithms
            | Modifier::SenderEqualsReceiver => Modifier::KNOWN.contains(m),
            Modifier::Other(_) => false,
        }
    }

    #[test]
    fn every_known_modifier_round_trips() {
        assert_eq!(Modifier::KNOWN.len(), 14);
        let mut names = std::collections::HashSet::new();
        for m in Modifier::KNOWN {
            assert!(listed(m), "{m:?}");
            let name = m.as_str();
            assert!(names.insert(name.to_ascii_lowercase()), "{name} twice");
            assert_eq!(&Modifier::parse(name), m);
            assert_eq!(m.to_string(), name);
            assert_eq!(name.parse::<Modifier>(), Ok(m.clone()));
            assert_eq!(Modifier::from(name), *m);
            assert_eq!(Modifier::from(name.to_owned()), *m);
            // In any case, with spaces or tabs around it.
            assert_eq!(&Modifier::parse(&name.to_ascii_uppercase()), m);
            assert_eq!(&Modifier::parse(&format!(" \t{name} ")), m);
            assert_eq!(
                &Modifier::from(format!("{} ", name.to_ascii_uppercase())),
                m
            );
            assert!(m.is(m));
            assert!(Modifier::Other(name.to_ascii_uppercase()).is(m));
        }
    }

    #[test]
    fn registered_spellings() {
        for (m, name) in [
            (Modifier::UnsupportedFormat, "unsupported format"),
            (
                Modifier::UnsupportedMicAlgorithms,
                "unsupported MIC-algorithms",
            ),
            (
                Modifier::UnknownTradingRelationship,
                "unknown-trading-relationship",
            ),
            (Modifier::DuplicateFilename, "duplicate-filename"),
            (Modifier::IllegalFilename, "illegal-filename"),
            (Modifier::InvalidMessageId, "invalid-message-id"),
            (
                Modifier::InsufficientMessageSecurity,
                "insufficient-message-security",
            ),
        ] {
            assert_eq!(m.as_str(), name);
        }
        assert_eq!(
            Modifier::parse("unsupported mic-algorithms"),
            Modifier::UnsupportedMicAlgorithms
        );
    }

    #[test]
    fn unknown_modifiers_are_kept_exactly() {
        for (text, kept) in [
            ("Vendor-Specific", "Vendor-Specific"),
            ("  Vendor Code 17\t", "Vendor Code 17"),
            ("decryption failed", "decryption failed"),
            ("unsupported  format", "unsupported  format"),
            (
                "authentication-failed, processing continued",
                "authentication-failed, processing continued",
            ),
            ("d\u{e9}chiffrement", "d\u{e9}chiffrement"),
            ("x\u{a0}", "x\u{a0}"),
            ("", ""),
        ] {
            let m = Modifier::parse(text);
            assert_eq!(m, Modifier::Other(kept.to_owned()), "{text:?}");
            assert_eq!(m.as_str(), kept);
            assert_eq!(Modifier::parse(m.as_str()), m);
            assert_eq!(Modifier::from(text.to_owned()), m);
            assert_eq!(m.error_code(), None, "{text:?}");
        }
    }

    #[test]
    fn modifiers_map_to_reference_codes() {
        for (m, code) in [
            (Modifier::DecryptionFailed, Some(ErrorCode::DecryptFailed)),
            (
                Modifier::AuthenticationFailed,
                Some(ErrorCode::VerificationFailed),
            ),
            (
                Modifier::IntegrityCheckFailed,
                Some(ErrorCode::VerificationFailed),
            ),
            (
                Modifier::DecompressionFailed,
                Some(ErrorCode::DecompressionFailed),
            ),
            (
                Modifier::InsufficientMessageSecurity,
                Some(ErrorCode::InsufficientMessageSecurityUnencrypted),
            ),
            (
                Modifier::UnknownTradingRelationship,
                Some(ErrorCode::AgreementNotFound),
            ),
            (
                Modifier::UnsupportedMicAlgorithms,
                Some(ErrorCode::VerificationFailed),
            ),
            (
                Modifier::UnsupportedFormat,
                Some(ErrorCode::InvalidSmimeFormat),
            ),
            (Modifier::InvalidMessageId, Some(ErrorCode::InvalidRequest)),
            (Modifier::IllegalFilename, Some(ErrorCode::InvalidRequest)),
            (
                Modifier::SenderEqualsReceiver,
                Some(ErrorCode::InvalidRequest),
            ),
            (
                Modifier::DuplicateFilename,
                Some(ErrorCode::DuplicateMessage),
            ),
            (Modifier::UnexpectedProcessingError, None),
            (Modifier::DuplicateDocument, None),
        ] {
            assert_eq!(m.error_code(), code, "{m}");
            // A policy's `Other` spelling of a known name maps the same way.
            assert_eq!(
                Modifier::Other(m.as_str().to_ascii_uppercase()).error_code(),
                code
            );
        }
        assert_eq!(
            Modifier::Other(" Unknown-Trading-Partner".into()).error_code(),
            Some(ErrorCode::AgreementNotFound)
        );
    }

    #[test]
    fn errors_report_typed_dispositions() {
        for (error, disposition, text) in [
            (
                Error::DecryptionFailed,
                Disposition::Error(Modifier::DecryptionFailed),
                "processed/Error: decryption-failed",
            ),
            (
                Error::UnknownTradingPartner,
                Disposition::Error(Modifier::UnknownTradingRelationship),
                "processed/Error: unknown-trading-relationship",
            ),
            (
                Error::UnsupportedMicAlgorithms,
                Disposition::Failure(Modifier::UnsupportedMicAlgorithms),
                "failed/Failure: unsupported MIC-algorithms",
            ),
            (
                Error::UnsupportedDateFormat("x".into()),
                Disposition::Error(Modifier::UnexpectedProcessingError),
                "processed/Error: unexpected-processing-error",
            ),
            (
                WeakAlgorithm::check_digest(
                    crate::cms::algorithm::DigestAlgorithm::Sha1,
                    crate::smime::headers::As2Version::V1_3,
                )
                .unwrap_err(),
                Disposition::Failure(Modifier::UnsupportedMicAlgorithms),
                "failed/Failure: unsupported MIC-algorithms",
            ),
        ] {
            let d = error.disposition();
            assert_eq!(d, disposition);
            assert_eq!(d.to_string(), text);
            assert_eq!(d.text(), d.modifier().as_str());
        }
    }

    /// With a 1.3 partner SHA-1 and 3DES are refused with a message naming both the
    /// algorithm and the version; with 1.2 they pass.
    #[test]
    fn weak_algorithms_by_version() {
        use crate::cms::algorithm::{ContentEncryption, DigestAlgorithm};
        use crate::smime::headers::As2Version;
        let err = WeakAlgorithm::check_digest(DigestAlgorithm::Sha1, As2Version::V1_3).unwrap_err();
        assert_eq!(err.code(), ErrorCode::SigningFailed);
        let text = err.to_string();
        assert!(text.contains("SHA-1") && text.contains("1.3"), "{text}");
        let err = WeakAlgorithm::check_cipher(ContentEncryption::TripleDesCbc, As2Version::V1_3)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::EncryptionFailed);
        let text = err.to_string();
        assert!(text.contains("3DES") && text.contains("1.3"), "{text}");
        assert!(matches!(
            err,
            Error::WeakAlgorithm(WeakAlgorithm {
                algorithm: "3DES",
                ..
            })
        ));
        assert!(WeakAlgorithm::check_digest(DigestAlgorithm::Sha1, As2Version::V1_2).is_ok());
        assert!(
            WeakAlgorithm::check_cipher(ContentEncryption::TripleDesCbc, As2Version::V1_2).is_ok()
        );
        assert!(WeakAlgorithm::check_digest(DigestAlgorithm::Sha256, As2Version::V1_3).is_ok());
        assert!(
            WeakAlgorithm::check_cipher(ContentEncryption::Aes128Gcm, As2Version::new(9)).is_ok()
        );
    }
}
