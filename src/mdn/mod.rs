//! Message Disposition Notifications: AS2's signed receipts (RFC 4130 §7, RFC 8098).
//!
//! The receiving side turns the outcome of
//! [`Incoming::accept`](crate::message::inbound::Incoming::accept) into a [`Report`] and
//! calls [`reply`], which gives the HTTP response to send and, for an asynchronous
//! receipt, the request to POST to the sender's URL. The sending side calls [`parse`] on
//! the MDN it gets back (in the HTTP response, or POSTed to its own endpoint) and
//! [`Mdn::verify`] with the [`SentMessage`] it kept from the outbound builder.
//!
//! An MDN is `multipart/report; report-type=disposition-notification` with a human-readable
//! part and a `message/disposition-notification` part, wrapped in `multipart/signed` when
//! the sender asked for a signed receipt:
//!
//! ```text
//! Reporting-UA: as2-proto/0.1.0
//! Original-Recipient: rfc822; PartnerB
//! Final-Recipient: rfc822; PartnerB
//! Original-Message-ID: <5f1c...@PartnerA>
//! Disposition: automatic-action/MDN-sent-automatically; processed
//! Received-Content-MIC: 7v7F++fQaNiCo5oUq0SxdyBdR1bQ8WD8q8P8X6p7R3Y=, sha-256
//! ```

use core::fmt;

pub use crate::error::Modifier;
use crate::error::{Disposition, ErrorCode};

mod build;
mod parse;

pub use crate::message::headers::HttpResponse;
pub use build::{BuiltMdn, MdnSettings, Reply, Report, build, reply};
pub use parse::{Authenticity, Mdn, MicCheck, SentMessage, Verdict, parse};

/// The AS2 action and sending mode (RFC 4130 §7.5.3).
pub const AUTOMATIC_MODES: &str = "automatic-action/MDN-sent-automatically";

/// The disposition type and modifier of an MDN, the part after the `;`.
///
/// Received modifiers are an open set: a known one is read as its [`Modifier`] variant in
/// any case, any other text is kept exactly (trimmed) as [`Modifier::Other`], so that it
/// is reported and compared unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MdnStatus {
    /// `processed`: the message was received and delivered.
    Processed,
    /// `processed/Warning: <modifier>`, e.g. [`Modifier::DuplicateDocument`].
    Warning(Modifier),
    /// `processed/Error: <modifier>`, e.g. [`Modifier::DecryptionFailed`].
    Error(Modifier),
    /// `failed/Failure: <modifier>`, e.g. [`Modifier::UnsupportedFormat`].
    Failed(Modifier),
    /// Any other disposition (`displayed`, `deleted`, an unknown modifier kind), as sent.
    Other(String),
}

impl MdnStatus {
    /// The reference error code a negative MDN corresponds to, for the sender's status
    /// record (`failure-code`): [`Modifier::error_code`] of an error or failure; `None` for
    /// `processed`, a warning, or a modifier without a code.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Error(m) | Self::Failed(m) => m.error_code(),
            _ => None,
        }
    }

    /// The modifier of a warning, error or failure.
    pub fn modifier(&self) -> Option<&Modifier> {
        match self {
            Self::Warning(m) | Self::Error(m) | Self::Failed(m) => Some(m),
            Self::Processed | Self::Other(_) => None,
        }
    }

    /// Parses the part after the `;` by the grammar of RFC 4130 §7.5.3 (RFC 8098 §3.2.6):
    /// `disposition-type [ "/" modifier-kind [ ":" text ] ]`, names in any case, spaces
    /// around the separators allowed. `processed` with no modifier, or with a `warning`
    /// modifier, is the only success; anything outside the grammar (an empty or unknown
    /// modifier kind such as `processed/: x`, a type followed by other text, control
    /// characters) is [`MdnStatus::Other`], which is never a success.
    fn parse(text: &str) -> Self {
        let text = text.trim_matches(is_ows);
        let other = || Self::Other(text.to_owned());
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return other();
        }
        let (kind, modifier) = match text.split_once('/') {
            Some((kind, modifier)) => (kind.trim_matches(is_ows), Some(modifier)),
            None => (text, None),
        };
        if !is_token(kind) {
            return other();
        }
        let (modifier_kind, modifier_text) = match modifier {
            Some(m) => {
                let (k, t) = m.split_once(':').unwrap_or((m, ""));
                let k = k.trim_matches(is_ows);
                if !is_token(k) {
                    return other();
                }
                (k, t.trim_matches(is_ows))
            }
            None => ("", ""),
        };
        let owned = || Modifier::parse(modifier_text);
        match (
            kind.to_ascii_lowercase().as_str(),
            modifier_kind.to_ascii_lowercase().as_str(),
        ) {
            ("processed", "") => Self::Processed,
            ("processed", "warning") => Self::Warning(owned()),
            ("processed", "error") => Self::Error(owned()),
            ("processed" | "failed", "failure") | ("failed", "") => Self::Failed(owned()),
            ("failed", "error") => Self::Failed(owned()),
            _ => other(),
        }
    }

    /// Whether the partner reports the message received and delivered: `processed`, with
    /// no modifier or a warning.
    pub fn is_processed(&self) -> bool {
        matches!(self, Self::Processed | Self::Warning(_))
    }
}

/// Optional whitespace (RFC 7230 OWS): space or horizontal tab.
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A non-empty run of letters, digits and `-` (the disposition names of RFC 8098).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether `modes` is `automatic-action/MDN-sent-automatically` (RFC 4130 §7.5.3), in
/// any case, with optional spaces around the `/`.
fn is_automatic(modes: &str) -> bool {
    modes.split_once('/').is_some_and(|(action, sending)| {
        action
            .trim_matches(is_ows)
            .eq_ignore_ascii_case("automatic-action")
            && sending
                .trim_matches(is_ows)
                .eq_ignore_ascii_case("MDN-sent-automatically")
    })
}

impl From<Disposition> for MdnStatus {
    fn from(d: Disposition) -> Self {
        match d {
            Disposition::Error(m) => Self::Error(m),
            Disposition::Failure(m) => Self::Failed(m),
        }
    }
}

impl fmt::Display for MdnStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Processed => f.write_str("processed"),
            Self::Warning(t) => write!(f, "processed/Warning: {t}"),
            Self::Error(t) => write!(f, "processed/Error: {t}"),
            Self::Failed(t) => write!(f, "failed/Failure: {t}"),
            Self::Other(t) => f.write_str(t),
        }
    }
}

/// A `Disposition` field (RFC 8098 §3.2.6): the modes and the [`MdnStatus`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispositionField {
    /// `automatic-action/MDN-sent-automatically` for AS2 (as received, trimmed).
    pub modes: String,
    /// The disposition type and modifier.
    pub status: MdnStatus,
    raw: String,
}

impl DispositionField {
    /// The field AS2 receivers send: automatic modes and `status`.
    pub fn automatic(status: MdnStatus) -> Self {
        let raw = format!("{AUTOMATIC_MODES}; {status}");
        DispositionField {
            modes: AUTOMATIC_MODES.to_owned(),
            status,
            raw,
        }
    }

    /// Parses a received field by the grammar of RFC 4130 §7.5.3: names in any case, with
    /// or without spaces (IBM Sterling sends
    /// `Automatic-action/mdn-sent-automatically;processed`). A success
    /// ([`MdnStatus::is_processed`]) needs the AS2 modes
    /// `automatic-action/MDN-sent-automatically`: a field without them (missing, or
    /// `manual-action/...`) that says `processed` gives [`MdnStatus::Other`]. Negative
    /// dispositions keep their status whatever the modes, so that their code is reported.
    pub fn parse(value: &str) -> Self {
        let raw = value.trim().to_owned();
        let (modes, status) = match raw.split_once(';') {
            Some((modes, status)) => (modes.trim().to_owned(), MdnStatus::parse(status)),
            None => (String::new(), MdnStatus::parse(&raw)),
        };
        let status = if status.is_processed() && !is_automatic(&modes) {
            MdnStatus::Other(raw.clone())
        } else {
            status
        };
        DispositionField { modes, status, raw }
    }

    /// The field value exactly as received (or as built).
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for DispositionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_from_real_products() {
        for (text, status) in [
            (
                "automatic-action/MDN-sent-automatically; processed",
                MdnStatus::Processed,
            ),
            (
                "Automatic-action/mdn-sent-automatically;processed",
                MdnStatus::Processed,
            ),
            (
                "automatic-action/MDN-sent-automatically; processed/Warning: duplicate-document",
                MdnStatus::Warning(Modifier::DuplicateDocument),
            ),
            (
                "automatic-action/MDN-sent-automatically; processed/error: decryption-failed",
                MdnStatus::Error(Modifier::DecryptionFailed),
            ),
            (
                "automatic-action/MDN-sent-automatically;processed/Error:authentication-failed",
                MdnStatus::Error(Modifier::AuthenticationFailed),
            ),
            (
                "automatic-action/MDN-sent-automatically; failed/Failure: unsupported format",
                MdnStatus::Failed(Modifier::UnsupportedFormat),
            ),
            (
                "automatic-action/MDN-sent-automatically; failed/failure: sender-equals-receiver",
                MdnStatus::Failed(Modifier::SenderEqualsReceiver),
            ),
            (
                "manual-action/MDN-sent-manually; displayed",
                MdnStatus::Other("displayed".into()),
            ),
        ] {
            let field = DispositionField::parse(text);
            assert_eq!(field.status, status, "{text}");
            assert_eq!(field.as_str(), text);
        }
    }

    #[test]
    fn dispositions_outside_the_grammar_are_not_success() {
        for text in [
            "automatic-action/MDN-sent-automatically; processed/: x",
            "automatic-action/MDN-sent-automatically; processed/ : warning",
            "automatic-action/MDN-sent-automatically; processed/Warnings: x",
            "automatic-action/MDN-sent-automatically; processed/",
            "automatic-action/MDN-sent-automatically; processed x",
            "automatic-action/MDN-sent-automatically; processed; processed",
            "automatic-action/MDN-sent-automatically; processed\r\nX: y",
            "automatic-action/MDN-sent-automatically; processed\u{0}",
            "automatic-action/MDN-sent-automatically; ",
            "manual-action/MDN-sent-manually; processed",
            "manual-action/MDN-sent-automatically; processed",
            "automatic-action/MDN-sent-manually; processed/Warning: duplicate-document",
            "automatic-action; processed",
            "/MDN-sent-automatically; processed",
            "; processed",
            "processed",
            "displayed; processed",
            "x/y; processed",
        ] {
            let field = DispositionField::parse(text);
            assert!(
                !field.status.is_processed(),
                "{text:?} parsed as {:?}",
                field.status
            );
            assert_eq!(field.as_str(), text.trim());
        }
        // Spacing and case variants of the real thing still are.
        for text in [
            "automatic-action/MDN-sent-automatically; processed",
            " AUTOMATIC-ACTION / mdn-sent-automatically ;\tProcessed ",
            "automatic-action/MDN-sent-automatically; processed / warning : duplicate-document",
            "automatic-action/MDN-sent-automatically; processed/warning",
        ] {
            assert!(
                DispositionField::parse(text).status.is_processed(),
                "{text:?}"
            );
        }
        // Negative dispositions keep their meaning whatever the modes.
        assert_eq!(
            DispositionField::parse(
                "manual-action/MDN-sent-manually; processed/Error: decryption-failed"
            )
            .status,
            MdnStatus::Error(Modifier::DecryptionFailed)
        );
    }

    #[test]
    fn built_fields_read_back() {
        for status in [
            MdnStatus::Processed,
            MdnStatus::Warning(Modifier::DuplicateDocument),
            MdnStatus::Error(Modifier::DecryptionFailed),
            MdnStatus::Failed(Modifier::UnsupportedMicAlgorithms),
        ] {
            let field = DispositionField::automatic(status.clone());
            assert_eq!(DispositionField::parse(field.as_str()), field);
        }
        assert_eq!(
            DispositionField::automatic(MdnStatus::Error(Modifier::Other("x".into()))).as_str(),
            "automatic-action/MDN-sent-automatically; processed/Error: x"
        );
    }

    #[test]
    fn negative_statuses_map_to_reference_codes() {
        assert_eq!(
            MdnStatus::Error(Modifier::parse("Decryption-Failed")).error_code(),
            Some(ErrorCode::DecryptFailed)
        );
        assert_eq!(
            MdnStatus::Failed(Modifier::UnsupportedMicAlgorithms).error_code(),
            Some(ErrorCode::VerificationFailed)
        );
        assert_eq!(MdnStatus::Processed.error_code(), None);
        assert_eq!(
            MdnStatus::Error(Modifier::Other("whatever".into())).error_code(),
            None
        );
        // A warning is never a failure, whatever its modifier.
        assert_eq!(
            MdnStatus::Warning(Modifier::DecryptionFailed).error_code(),
            None
        );
    }

    #[test]
    fn draft_modifiers_parse_to_typed_values() {
        // The additions of the AS2 1.3 draft (draft-petta-rfc4130bis), and the
        // RFC 4130 failures, each with the code a sender's record gets.
        for (text, status, code) in [
            (
                "automatic-action/MDN-sent-automatically; processed/Error: duplicate-filename",
                MdnStatus::Error(Modifier::DuplicateFilename),
                ErrorCode::DuplicateMessage,
            ),
            (
                "automatic-action/MDN-sent-automatically; processed/error: Illegal-Filename",
                MdnStatus::Error(Modifier::IllegalFilename),
                ErrorCode::InvalidRequest,
            ),
            (
                "automatic-action/MDN-sent-automatically;processed/Error:invalid-message-id",
                MdnStatus::Error(Modifier::InvalidMessageId),
                ErrorCode::InvalidRequest,
            ),
            (
                "automatic-action/MDN-sent-automatically; processed/Error: unknown-trading-relationship",
                MdnStatus::Error(Modifier::UnknownTradingRelationship),
                ErrorCode::AgreementNotFound,
            ),
            (
                "automatic-action/MDN-sent-automatically; failed/Failure: sender-equals-receiver",
                MdnStatus::Failed(Modifier::SenderEqualsReceiver),
                ErrorCode::InvalidRequest,
            ),
            (
                "automatic-action/MDN-sent-automatically; failed/Failure: Unsupported Format",
                MdnStatus::Failed(Modifier::UnsupportedFormat),
                ErrorCode::InvalidSmimeFormat,
            ),
        ] {
            let field = DispositionField::parse(text);
            assert_eq!(field.status, status, "{text}");
            assert_eq!(field.status.error_code(), Some(code), "{text}");
            assert!(!field.status.is_processed(), "{text}");
            // The field itself stays exactly as received.
            assert_eq!(field.as_str(), text);
        }
    }

    #[test]
    fn unknown_modifiers_are_kept_exactly() {
        for (text, kept) in [
            (
                "automatic-action/MDN-sent-automatically; processed/Error:  Vendor Code 17 ",
                "Vendor Code 17",
            ),
            (
                "automatic-action/MDN-sent-automatically; processed/Error: unknown-trading-partner",
                "unknown-trading-partner",
            ),
            (
                "automatic-action/MDN-sent-automatically; processed/Warning: authentication-failed, processing continued",
                "authentication-failed, processing continued",
            ),
            (
                "automatic-action/MDN-sent-automatically; failed/Failure: decryption failed",
                "decryption failed",
            ),
            ("automatic-action/MDN-sent-automatically; failed", ""),
        ] {
            let status = DispositionField::parse(text).status;
            let modifier = status.modifier().expect(text);
            assert_eq!(modifier, &Modifier::Other(kept.into()), "{text}");
            assert_eq!(modifier.as_str(), kept);
            // Written back, the modifier is the same text.
            let rebuilt = DispositionField::automatic(status.clone());
            assert_eq!(DispositionField::parse(rebuilt.as_str()).status, status);
        }
        // The older spelling some products send still maps to the agreement code.
        assert_eq!(
            MdnStatus::Error(Modifier::Other("unknown-trading-partner".into())).error_code(),
            Some(ErrorCode::AgreementNotFound)
        );
    }

    #[test]
    fn known_modifiers_are_written_in_their_registered_spelling() {
        let field = DispositionField::parse(
            "automatic-action/MDN-sent-automatically; processed/error: DECRYPTION-FAILED",
        );
        assert_eq!(field.status, MdnStatus::Error(Modifier::DecryptionFailed));
        assert_eq!(
            field.status.to_string(),
            "processed/Error: decryption-failed"
        );
        assert_eq!(
            field.as_str(),
            "automatic-action/MDN-sent-automatically; processed/error: DECRYPTION-FAILED"
        );
        assert_eq!(
            MdnStatus::from(Disposition::Failure(Modifier::UnsupportedMicAlgorithms)),
            MdnStatus::Failed(Modifier::UnsupportedMicAlgorithms)
        );
    }
}
