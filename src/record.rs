//! Status records, the file names they are stored under, and the error-code policy.
//!
//! The reference service records every AS2 transfer as a JSON status file stored beside
//! the payload (reference: "File names and locations" and "Sample JSON files" in
//! `transfer-family-as2-overview`). This module provides:
//!
//! - [`StatusRecord`]: that JSON record, with the reference's field names and order;
//!   absent fields are omitted, not written as `null`;
//! - [`inbound_paths`] and [`outbound_paths`]: the relative paths of the payload, the
//!   record and the MDN (`processed/` or `failed/`), with everything a partner sends
//!   neutralised so that no name can leave the base directory; [`attachment_paths`] for
//!   a message with several files (RFC 6362), stored side by side under one record that
//!   lists them in [`StatusRecord::files`];
//! - [`ErrorPolicy`]: how an [`Error`] becomes the record's `failure-code` and
//!   `failure-message` and the MDN's disposition. [`ReferenceErrorPolicy`] is the
//!   reference mapping; a caller overrides only what a partner needs.
//!
//! Nothing here does I/O or reads the clock: timestamps are formatted from the `now` the
//! caller passes, and paths are strings for the caller to join onto its base directory.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use as2_proto::record::{self, StatusCode, StatusRecord};
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_micros(1_657_521_010_791_274);
//! let paths = record::inbound_paths(
//!     Some("ExampleFileInS3Payload.dat"),
//!     "<c4d6b6c7-23ea-4b8c-9ada-0cb811dc8b35@44313c54b0a46a36>",
//!     StatusCode::Completed,
//! );
//! assert_eq!(
//!     paths.payload.to_string(),
//!     "processed/ExampleFileInS3Payload.c4d6b6c7-23ea-4b8c-9ada-0cb811dc8b35@44313c54b0a46a36.dat"
//! );
//! let record = StatusRecord {
//!     status_code: Some(StatusCode::Completed),
//!     file_path: Some(paths.payload.to_string()),
//!     transfer_size: Some(3198),
//!     timestamp: Some(record::rfc3339(now)),
//!     ..StatusRecord::default()
//! };
//! let json = record.to_json();
//! assert!(json.contains(r#""timestamp": "2022-07-11T06:30:10.791274Z""#));
//! assert_eq!(StatusRecord::from_json(&json)?, record);
//! # Ok::<(), as2_proto::Error>(())
//! ```

use core::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Disposition, Error, ErrorCode};
use crate::mdn::{MdnStatus, Verdict};
use crate::message::headers::MessageId;
use crate::message::inbound::{Incoming, Received, Rejected};
use crate::message::outbound::OutboundMessage;
use crate::message::related::ReceivedPart;
use crate::time::{civil_from_days, days_from_civil, days_in_month, unix_micros};

/// The action and sending modes of every AS2 MDN (RFC 4130 §7.4.3), which prefix the
/// disposition type in a record's `disposition`.
pub const MDN_ACTION_MODE: &str = "automatic-action/MDN-sent-automatically";

// ---------------------------------------------------------------------------------------
// Status records
// ---------------------------------------------------------------------------------------

/// The outcome of a transfer, serialised as `COMPLETED` or `FAILED`. It also picks the
/// folder the files go to (`processed/` or `failed/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusCode {
    /// The transfer succeeded (`COMPLETED`); files go to `processed/`.
    Completed,
    /// The transfer failed (`FAILED`); files go to `failed/`.
    Failed,
}

impl StatusCode {
    /// The value as written in records: `COMPLETED` or `FAILED`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Completed => "COMPLETED",
            StatusCode::Failed => "FAILED",
        }
    }

    /// The folder for this outcome: `processed` or `failed`.
    pub fn folder(self) -> &'static str {
        match self {
            StatusCode::Completed => "processed",
            StatusCode::Failed => "failed",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transfer's JSON status record, as the reference service writes it beside the payload.
///
/// Field names are the reference's (kebab-case: `as2-message-id`, `failure-code`, ...)
/// and are serialised in the order of the reference's field list, followed by
/// `disposition` and `timestamp`, which its samples add. Every field is optional and an
/// absent field is left out of the JSON. Build one with a struct literal and
/// `..StatusRecord::default()`, or start from [`StatusRecord::inbound`] /
/// [`StatusRecord::outbound`] and fill in the rest.
///
/// The reference's field list names the subject `message-subject`, while its samples write
/// `subject` or (misspelt) `mesage-subject`: we write `message-subject` and read all three.
/// Unknown fields are ignored when reading.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StatusRecord {
    /// The agreement the inbound message was received under (`a-...` in the reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_id: Option<String>,
    /// AS2-From.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as2_from: Option<String>,
    /// AS2-To.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as2_to: Option<String>,
    /// The message's Message-ID, without angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as2_message_id: Option<String>,
    /// The transfer identifier of an outbound transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    /// The IP address the inbound request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// The connector an outbound transfer used (`c-...` in the reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<String>,
    /// Why the transfer failed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Where the payload was stored (inbound, relative to the base directory, e.g.
    /// `processed/name.<id>.dat`) or read from (outbound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    /// The message's Subject. Read from `message-subject`, `subject` or `mesage-subject`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "subject",
        alias = "mesage-subject"
    )]
    pub message_subject: Option<String>,
    /// The MDN's Message-ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdn_message_id: Option<String>,
    /// The MDN's Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdn_subject: Option<String>,
    /// The file name the sender gave (Content-Disposition), exactly as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_file_name: Option<String>,
    /// The payload's Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_content_type: Option<String>,
    /// The server that received the message (`s-...` in the reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// `COMPLETED` or `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<StatusCode>,
    /// The reference error code (e.g. `DECRYPT_FAILED`). A string, so that records
    /// holding codes this crate does not know can still be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// The payload's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_size: Option<u64>,
    /// The MDN's Disposition line, e.g.
    /// `automatic-action/MDN-sent-automatically; processed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// An outbound transfer's MIC comparison
    /// ([`MicCheck::as_str`](crate::mdn::MicCheck::as_str)): `matched`, or
    /// `not-returned` when an unsigned receipt of an unsigned message carried no MIC (not
    /// a failure, but no proof of the content received either). Not in the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mic_check: Option<String>,
    /// When the record was written: RFC 3339 in UTC with microseconds, as made by
    /// [`rfc3339`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Every file of a message with several (RFC 6362 multiple attachments), in part
    /// order, each with the single-file fields' names; absent for a single file. Not in
    /// the reference, which has no multi-file messages: the single-file fields keep
    /// their meaning for the first file (`file-path`, `requester-file-name`,
    /// `requester-content-type`), except `transfer-size`, the total of all files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRecord>,
}

/// One file of a multi-file message in [`StatusRecord::files`], with the names the
/// reference gives these fields for a single file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FileRecord {
    /// Where the file was stored, relative to the base directory
    /// ([`AttachmentPaths::files`]), or read from (outbound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    /// The file name the sender gave, exactly as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_file_name: Option<String>,
    /// The file's Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_content_type: Option<String>,
    /// The file's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_size: Option<u64>,
}

impl FileRecord {
    /// The entry for a received part (no path yet: see
    /// [`StatusRecord::set_file_paths`]).
    pub fn received(part: &ReceivedPart) -> Self {
        FileRecord {
            file_path: None,
            requester_file_name: part.file_name.clone(),
            requester_content_type: Some(part.content_type.clone()),
            transfer_size: Some(part.len),
        }
    }
}

impl StatusRecord {
    /// A record for an inbound request whose headers have been read: AS2-From, AS2-To,
    /// Message-ID (without angle brackets), Subject and the timestamp. The status is left
    /// unset until [`set_received`](Self::set_received) or
    /// [`set_rejected`](Self::set_rejected).
    pub fn inbound(incoming: &Incoming<'_>, now: SystemTime) -> Self {
        StatusRecord {
            as2_from: Some(incoming.from.as_str().to_owned()),
            as2_to: Some(incoming.to.as_str().to_owned()),
            as2_message_id: incoming.message_id.as_ref().map(|m| m.bare().to_owned()),
            message_subject: incoming.subject.clone(),
            timestamp: Some(rfc3339(now)),
            ..StatusRecord::default()
        }
    }

    /// Sets `server-id`, the server that received an inbound request (the reference's
    /// `s-...`), as the caller knows it.
    pub fn with_server_id(mut self, server_id: impl Into<String>) -> Self {
        self.server_id = Some(server_id.into());
        self
    }

    /// Sets `client-ip`, the address the inbound request came from (behind a TLS
    /// terminator, the terminator's unless it forwards the partner's).
    pub fn with_client_ip(mut self, client_ip: std::net::IpAddr) -> Self {
        self.client_ip = Some(client_ip.to_string());
        self
    }

    /// A record for an outbound transfer that failed before a message was built, such
    /// as a file to send that is missing (`SEND_FILE_NOT_FOUND`, see
    /// [`SendFile::read`](crate::partner::SendFile::read)): AS2-From and AS2-To of the
    /// connector's profiles, `connector-id`, `transfer-id`, `file-path` and
    /// `requester-file-name` (the path's last component), the failure as `policy` maps
    /// `error`, and the timestamp.
    pub fn outbound_failed<P: ErrorPolicy + ?Sized>(
        connector: &crate::partner::ActiveConnector,
        transfer_id: &str,
        file_path: &str,
        error: &Error,
        policy: &P,
        now: SystemTime,
    ) -> Self {
        let mut record = StatusRecord {
            as2_from: Some(connector.local().as2_id().as_str().to_owned()),
            as2_to: Some(connector.partner().as2_id().as_str().to_owned()),
            transfer_id: Some(transfer_id.to_owned()),
            connector_id: Some(connector.connector().id.clone()),
            file_path: Some(file_path.to_owned()),
            requester_file_name: Some(crate::partner::connector_file_name_of(file_path).to_owned()),
            timestamp: Some(rfc3339(now)),
            ..StatusRecord::default()
        };
        record.set_failure(error, policy);
        record
    }

    /// A record for an outbound message: AS2-From, AS2-To, Message-ID (without angle
    /// brackets; pass the one actually sent, e.g. `BuiltMessage::message_id.bare()`),
    /// Subject, file name, content type, size and the timestamp. The status is left unset
    /// until the MDN or the failure is known.
    ///
    /// With attachments, `files` lists the payload and each attachment (name, type and
    /// size; a streamed attachment of unknown length without a size) and `transfer-size`
    /// is their total.
    pub fn outbound(message: &OutboundMessage<'_>, message_id: &str, now: SystemTime) -> Self {
        let mut files = Vec::new();
        if !message.attachments.is_empty() {
            files.push(FileRecord {
                file_path: None,
                requester_file_name: message.file_name.clone(),
                requester_content_type: Some(message.content_type.clone()),
                transfer_size: Some(size(message.payload.len())),
            });
            files.extend(message.attachments.iter().map(|a| FileRecord {
                file_path: None,
                requester_file_name: a.file_name.clone(),
                requester_content_type: Some(a.content_type.clone()),
                transfer_size: a.len,
            }));
        }
        let total = files
            .iter()
            .filter_map(|f| f.transfer_size)
            .fold(0u64, u64::saturating_add);
        StatusRecord {
            files,
            as2_from: Some(message.from.as_str().to_owned()),
            as2_to: Some(message.to.as_str().to_owned()),
            as2_message_id: Some(MessageId::bare_str(message_id).to_owned()),
            message_subject: message.subject.clone(),
            requester_file_name: message.file_name.clone(),
            requester_content_type: Some(message.content_type.clone()),
            transfer_size: Some(if message.attachments.is_empty() {
                size(message.payload.len())
            } else {
                total
            }),
            timestamp: Some(rfc3339(now)),
            ..StatusRecord::default()
        }
    }

    /// Records an accepted inbound message: status `COMPLETED`, the sender's file name and
    /// content type, the payload size (0 for a duplicate, which is not delivered again)
    /// and the MDN disposition ([`Received::disposition`]). Clears any failure fields.
    ///
    /// For several files ([`Received::parts`]), the single-file fields describe the
    /// first and [`files`](Self::files) lists them all; add where they were stored with
    /// [`set_file_paths`](Self::set_file_paths).
    pub fn set_received(&mut self, received: &Received) {
        self.status_code = Some(StatusCode::Completed);
        self.files = received.parts.iter().map(FileRecord::received).collect();
        match received.parts.first() {
            Some(first) => {
                self.requester_file_name = first.file_name.clone();
                self.requester_content_type = Some(first.content_type.clone());
            }
            None => {
                self.requester_file_name = received.file_name.clone();
                self.requester_content_type = Some(received.content_type.clone());
            }
        }
        self.transfer_size = Some(received.payload_len);
        self.disposition = Some(received.disposition().to_owned());
        self.failure_code = None;
        self.failure_message = None;
    }

    /// Records where each file of a multi-file message was stored: `file-path` of each
    /// entry of [`files`](Self::files) in order, and the record's own `file-path` (the
    /// first file's).
    pub fn set_file_paths(&mut self, paths: &AttachmentPaths) {
        for (entry, path) in self.files.iter_mut().zip(&paths.files) {
            entry.file_path = Some(path.to_string());
        }
        self.file_path = paths.files.first().map(ToString::to_string);
    }

    /// Records the verified MDN of an outbound transfer: its disposition, the MIC
    /// comparison (`mic-check`), and status `COMPLETED` when [`Verdict::is_success`];
    /// otherwise `FAILED` with [`Verdict::failure_code`] and a message (the MIC error, or
    /// the partner's disposition). Returns the status.
    pub fn set_verdict(&mut self, verdict: &Verdict) -> StatusCode {
        self.disposition = Some(verdict.disposition.as_str().to_owned());
        self.mic_check = Some(verdict.mic.as_str().to_owned());
        let status = if verdict.is_success() {
            self.failure_code = None;
            self.failure_message = None;
            StatusCode::Completed
        } else {
            self.failure_code = verdict.failure_code().map(|c| c.as_str().to_owned());
            let accepted = matches!(verdict.status, MdnStatus::Processed | MdnStatus::Warning(_));
            self.failure_message = Some(match verdict.mic_error() {
                Some(e) if accepted => e.to_string(),
                _ => format!("partner reported {}", verdict.status),
            });
            StatusCode::Failed
        };
        self.status_code = Some(status);
        status
    }

    /// Records a failure: status `FAILED`, and `failure-code` and `failure-message` as
    /// `policy` maps `error`. The disposition is left alone (an outbound failure, for
    /// one, sent no MDN); see [`set_rejected`](Self::set_rejected) for inbound messages.
    pub fn set_failure<P: ErrorPolicy + ?Sized>(&mut self, error: &Error, policy: &P) {
        self.status_code = Some(StatusCode::Failed);
        self.failure_code = Some(policy.failure_code(error).as_str().to_owned());
        self.failure_message = Some(policy.failure_message(error));
    }

    /// Records a rejected inbound message: [`set_failure`](Self::set_failure), and the
    /// disposition of the error MDN as `policy` maps the error (RFC 4130 §7.5.3), e.g.
    /// `automatic-action/MDN-sent-automatically; processed/Error: decryption-failed`.
    /// Set `disposition` back to `None` if no MDN was requested.
    ///
    /// The `failure-code` and disposition are what the sender was told; when that is a
    /// decryption failure hiding the real cause ([`Rejected::concealed`]: a limit hit, a
    /// multipart payload, a missing signature, ... after decryption), `failure-message`
    /// names the cause too, so the operator sees it in this local record: `decryption
    /// failed (cause: <error>)`.
    pub fn set_rejected<P: ErrorPolicy + ?Sized>(&mut self, rejected: &Rejected, policy: &P) {
        self.set_failure(&rejected.error, policy);
        if let Some(cause) = &rejected.concealed {
            let told = policy.failure_message(&rejected.error);
            self.failure_message = Some(format!("{told} (cause: {cause})"));
        }
        self.disposition = Some(disposition_line(&policy.disposition(&rejected.error)));
    }

    /// The record as pretty-printed JSON (two-space indent), fields in the reference's
    /// order, absent fields omitted.
    pub fn to_json(&self) -> String {
        // Serialising strings, integers and a unit enum into a String cannot fail; the
        // fallback only keeps this function free of panics.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Reads a record. Unknown fields are ignored; a field of the wrong type (e.g. a
    /// `transfer-size` that is not a non-negative integer) or an unknown `status-code` is
    /// [`Error::Malformed`] with the offset of the last byte read (the end of the
    /// offending value, the unexpected byte, or the end of a truncated input).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        serde_json::from_str(json).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => "status record field value",
                serde_json::error::Category::Eof => "status record JSON (truncated)",
                _ => "status record JSON syntax",
            };
            let offset = match e.classify() {
                serde_json::error::Category::Eof => json.len(),
                _ => offset_of(json, e.line(), e.column()),
            };
            Error::malformed(what, offset)
        })
    }
}

/// The payload length as a record's `transfer-size`.
fn size(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// The byte offset of serde_json's 1-based line and column (column 0 means "before the
/// first byte of the line").
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    line_start
        .saturating_add(column.saturating_sub(1))
        .min(text.len())
}

/// `automatic-action/MDN-sent-automatically; <disposition>`.
fn disposition_line(disposition: &Disposition) -> String {
    format!("{MDN_ACTION_MODE}; {disposition}")
}

// ---------------------------------------------------------------------------------------
// Error-code policy
// ---------------------------------------------------------------------------------------

/// How an [`Error`] is reported: the status record's `failure-code` and
/// `failure-message`, and the disposition of the error MDN (RFC 4130 §7.5.3,
/// RFC 8098 §3.2.6).
///
/// Every method has the reference mapping as its default ([`Error::code`],
/// the `Display` text, [`Error::disposition`]), so an override implements only what
/// differs. For example, a partner whose older software expects
/// `authentication-failed` where the AS2 1.3 draft says `unknown-trading-relationship`:
///
/// ```
/// use as2_proto::record::{ErrorPolicy, ReferenceErrorPolicy};
/// use as2_proto::{Disposition, Error, Modifier};
///
/// struct LegacyPartner;
///
/// impl ErrorPolicy for LegacyPartner {
///     fn disposition(&self, error: &Error) -> Disposition {
///         match error {
///             Error::UnknownTradingPartner => Disposition::Error(Modifier::AuthenticationFailed),
///             other => ReferenceErrorPolicy.disposition(other),
///         }
///     }
/// }
///
/// let error = Error::UnknownTradingPartner;
/// assert_eq!(
///     LegacyPartner.disposition(&error).to_string(),
///     "processed/Error: authentication-failed"
/// );
/// assert_eq!(LegacyPartner.failure_code(&error).as_str(), "AGREEMENT_NOT_FOUND");
/// ```
///
/// A policy may also return modifiers it reads from configuration at run time:
/// `Disposition::Error(Modifier::parse(text))` gives the typed modifier for a known name
/// and [`Modifier::Other`](crate::Modifier::Other) with the text unchanged for any other.
pub trait ErrorPolicy {
    /// The record's `failure-code`. Default: [`Error::code`].
    fn failure_code(&self, error: &Error) -> ErrorCode {
        error.code()
    }

    /// The record's `failure-message`. Default: the error's `Display` text (which, for a
    /// decryption failure, deliberately says nothing more than "decryption failed").
    fn failure_message(&self, error: &Error) -> String {
        error.to_string()
    }

    /// The error MDN's disposition. Default: [`Error::disposition`].
    fn disposition(&self, error: &Error) -> Disposition {
        error.disposition()
    }
}

/// The reference service's mapping: every [`ErrorPolicy`] method at its default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReferenceErrorPolicy;

impl ErrorPolicy for ReferenceErrorPolicy {}

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

/// Seconds from the epoch to 0000-01-01T00:00:00Z, the earliest RFC 3339 time.
const MIN_RFC3339_SECS: i64 = -62_167_219_200;
/// Seconds from the epoch to 9999-12-31T23:59:59Z, the latest RFC 3339 second.
const MAX_RFC3339_SECS: i64 = 253_402_300_799;

/// Formats `time` as an RFC 3339 UTC timestamp with microseconds, as the reference's
/// records do: `2022-07-11T06:30:10.791274Z`. Sub-microsecond digits are truncated (never
/// rounded up into the next second); times before the year 0 or after 9999 are clamped to
/// the first or last representable microsecond.
pub fn rfc3339(time: SystemTime) -> String {
    let (secs, micros) = unix_micros(time);
    let (secs, micros) = if secs < MIN_RFC3339_SECS {
        (MIN_RFC3339_SECS, 0)
    } else if secs > MAX_RFC3339_SECS {
        (MAX_RFC3339_SECS, 999_999)
    } else {
        (secs, micros)
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`), such as a
/// record's `timestamp`. Digits beyond nanoseconds are ignored. Errors are
/// [`Error::Malformed`] with the offset of the offending byte.
// Fields are at most four digits and offsets at most the text length plus six, so the
// arithmetic below cannot overflow; fraction digits accumulate with saturation.
#[allow(clippy::arithmetic_side_effects)]
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, Error> {
    let b = text.as_bytes();
    let bad = |offset: usize| Error::malformed("RFC 3339 timestamp", offset.min(b.len()));
    // Reads `len` ASCII digits at `at`.
    let digits = |at: usize, len: usize| -> Result<i64, Error> {
        let field = b.get(at..at.saturating_add(len)).ok_or_else(|| bad(at))?;
        field.iter().enumerate().try_fold(0i64, |acc, (i, &c)| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + i64::from(c - b'0'))
            } else {
                Err(bad(at.saturating_add(i)))
            }
        })
    };
    let expect = |at: usize, allowed: &[u8]| -> Result<(), Error> {
        match b.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(bad(at)),
        }
    };
    let year = digits(0, 4)?;
    expect(4, b"-")?;
    let month = digits(5, 2)?;
    expect(7, b"-")?;
    let day = digits(8, 2)?;
    expect(10, b"Tt ")?;
    let hour = digits(11, 2)?;
    expect(13, b":")?;
    let minute = digits(14, 2)?;
    expect(16, b":")?;
    let second = digits(17, 2)?;
    if !(1..=12).contains(&month) {
        return Err(bad(5));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(bad(8));
    }
    if hour > 23 {
        return Err(bad(11));
    }
    if minute > 59 {
        return Err(bad(14));
    }
    // 60 is a leap second; it is counted as the first second of the next minute.
    if second > 60 {
        return Err(bad(17));
    }
    let mut at = 19;
    let mut nanos: u32 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        let mut scale: u32 = 100_000_000;
        while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            nanos = nanos.saturating_add(u32::from(c - b'0').saturating_mul(scale));
            scale /= 10;
            at += 1;
        }
        if at == start {
            return Err(bad(at));
        }
    }
    let offset_secs = match b.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hours = digits(at + 1, 2)?;
            expect(at + 3, b":")?;
            let minutes = digits(at + 4, 2)?;
            if hours > 23 || minutes > 59 {
                return Err(bad(at + 1));
            }
            at += 6;
            let magnitude = hours * 3600 + minutes * 60;
            if sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return Err(bad(at)),
    };
    if at != b.len() {
        return Err(bad(at));
    }
    // All fields are bounded above, so this arithmetic cannot overflow.
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    let since_epoch = |s: u64| Duration::new(s, nanos);
    let time = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(since_epoch(secs.unsigned_abs()))
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
    };
    time.ok_or_else(|| bad(0))
}

// ---------------------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------------------

/// The longest payload file name produced, in bytes. The record and MDN names add
/// `.json` or `.mdn`, so no name exceeds 235 bytes, well under the 255-byte limit of
/// common filesystems.
pub const MAX_FILE_NAME_LEN: usize = 230;
/// The longest extension kept as an extension; a longer "extension" is part of the name.
pub const MAX_EXTENSION_LEN: usize = 16;
/// The most bytes of a Message-ID used in a file name (the reference's own IDs are
/// under 100).
pub const MAX_MESSAGE_ID_PART_LEN: usize = 128;
/// The most bytes of a transfer ID used in a file name (a UUID is 36).
pub const MAX_TRANSFER_ID_PART_LEN: usize = 64;
/// `~` and 16 hex digits.
const HASH_SUFFIX_LEN: usize = 17;

/// A path relative to a base directory: a folder (`processed` or `failed`) and one file
/// name. The file name is always exactly one normal path component on Unix and Windows: it
/// is never empty, `.` or `..`, and holds no `/`, `\`, NUL or other control character.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RelativePath {
    status: StatusCode,
    file_name: String,
}

impl RelativePath {
    /// The folder: `processed` or `failed`.
    pub fn folder(&self) -> &'static str {
        self.status.folder()
    }

    /// The file name within the folder.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The path for joining onto a base directory: `base.join(path.to_path_buf())`.
    pub fn to_path_buf(&self) -> PathBuf {
        [self.folder(), self.file_name.as_str()].iter().collect()
    }

    fn with_suffix(&self, suffix: &str) -> RelativePath {
        RelativePath {
            status: self.status,
            file_name: format!("{}{suffix}", self.file_name),
        }
    }
}

/// `folder/file_name`, with `/` on every platform (the form of a record's `file-path`).
impl fmt::Display for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.folder(), self.file_name)
    }
}

/// Where an inbound message's files go, relative to the agreement's base directory.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundPaths {
    /// The payload: `processed/name.<messageId>.ext`.
    pub payload: RelativePath,
    /// The status record: the payload's name plus `.json`.
    pub record: RelativePath,
    /// The MDN: the payload's name plus `.mdn`.
    pub mdn: RelativePath,
}

/// Where an outbound transfer's record and MDN go, relative to the directory of the
/// source file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboundPaths {
    /// The status record: `processed/name.<transferId>.<messageId>.ext.json`.
    pub record: RelativePath,
    /// The MDN: `processed/name.<transferId>.<messageId>.ext.mdn`.
    pub mdn: RelativePath,
}

/// The paths of an inbound message's payload, record and MDN (reference: "File names and
/// locations"): under `processed/` for [`StatusCode::Completed`], `failed/` otherwise, as
/// `name.<messageId>.ext`, `name.<messageId>.ext.json` and `name.<messageId>.ext.mdn`.
///
/// `file_name` is the sender's (Content-Disposition) and `message_id` its Message-ID,
/// with or without angle brackets; both come from the partner and are neutralised:
///
/// - only the part after the last `/` or `\` of the file name is used;
/// - control characters (NUL, CR, LF, DEL, C1), `/ \ : * ? " < > |` and invisible
///   Unicode format characters (bidirectional overrides, zero-width characters) become
///   `_`; leading and trailing dots and spaces are removed; a Windows device name (`CON`,
///   `NUL`, `COM1`, ...) gets a leading `_`;
/// - the extension is the text after the last dot, if it has 1 to
///   [`MAX_EXTENSION_LEN`] bytes (`a.b.c.edi` → `a.b.c` + `edi`);
/// - a Message-ID that had to be changed, or is longer than
///   [`MAX_MESSAGE_ID_PART_LEN`], is shortened and followed by `~` and 16 hex digits of
///   its SHA-256, so different IDs keep different names; the file name is cut (on a
///   character boundary, keeping the extension) so the whole name fits
///   [`MAX_FILE_NAME_LEN`].
///
/// With no file name (or one that is empty after neutralising, such as `..`), the
/// payload is named after the Message-ID alone: `processed/<messageId>`. A failed
/// message is named as the reference's failed sample shows, `failed/<uuid>.<messageId>`,
/// by [`failed_inbound_paths`].
///
/// Distinct messages get distinct names unless a partner crafts a Message-ID to match
/// another file's name; storage should create files exclusively (never overwrite).
pub fn inbound_paths(
    file_name: Option<&str>,
    message_id: &str,
    status: StatusCode,
) -> InboundPaths {
    let name = build_name(
        file_name.unwrap_or(""),
        &[(message_id, MAX_MESSAGE_ID_PART_LEN)],
    );
    let payload = RelativePath {
        status,
        file_name: name,
    };
    InboundPaths {
        record: payload.with_suffix(".json"),
        mdn: payload.with_suffix(".mdn"),
        payload,
    }
}

/// Where the files of an inbound message with several files (RFC 6362) go, relative to
/// the agreement's base directory: side by side, with one record and one MDN.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttachmentPaths {
    /// One path per file, in part order, all distinct.
    pub files: Vec<RelativePath>,
    /// The status record: the first file's name plus `.json`.
    pub record: RelativePath,
    /// The MDN: the first file's name plus `.mdn`.
    pub mdn: RelativePath,
}

/// The paths of the files of a multi-file inbound message ([`Received::parts`]), its
/// record and its MDN: each file named as [`inbound_paths`] names a single payload,
/// `name.<messageId>.ext` with the same neutralisation, side by side in `processed/` (or
/// `failed/`); the record and the MDN are named after the first file, so a single-file
/// reader finds them where it expects.
///
/// Two files whose names come out the same (equal names, names that differ only in
/// case or in characters that neutralising replaced, or no names at all) never share a
/// path: a later file gets its part number, `name.<messageId>.part2.ext` (no name:
/// `<messageId>.part2`), and a further counter if a crafted name takes that too. Names
/// are compared case-insensitively, for case-insensitive filesystems.
///
/// ```
/// use as2_proto::record::{self, StatusCode};
/// let paths = record::attachment_paths(
///     &[Some("po.x12"), Some("PO.x12"), None, Some("../../invoice.pdf")],
///     "<42@partner>",
///     StatusCode::Completed,
/// );
/// let names: Vec<String> = paths.files.iter().map(ToString::to_string).collect();
/// assert_eq!(
///     names,
///     [
///         "processed/po.42@partner.x12",
///         "processed/PO.42@partner.part2.x12",
///         "processed/42@partner",
///         "processed/invoice.42@partner.pdf",
///     ]
/// );
/// assert_eq!(paths.record.to_string(), "processed/po.42@partner.x12.json");
/// ```
pub fn attachment_paths(
    file_names: &[Option<&str>],
    message_id: &str,
    status: StatusCode,
) -> AttachmentPaths {
    let mut taken: Vec<String> = Vec::with_capacity(file_names.len().saturating_mul(3));
    let mut files = Vec::with_capacity(file_names.len());
    for (index, name) in file_names.iter().enumerate() {
        let name = name.unwrap_or("");
        let part = format!("part{}", index.saturating_add(1));
        let mut candidate = build_name(name, &[(message_id, MAX_MESSAGE_ID_PART_LEN)]);
        let mut n = 1usize;
        while taken.contains(&candidate.to_lowercase()) {
            let tag = if n == 1 {
                part.clone()
            } else {
                format!("{part}-{n}")
            };
            candidate = build_name(
                name,
                &[
                    (message_id, MAX_MESSAGE_ID_PART_LEN),
                    (&tag, MAX_TRANSFER_ID_PART_LEN),
                ],
            );
            n = n.saturating_add(1);
        }
        let path = RelativePath {
            status,
            file_name: candidate,
        };
        if files.is_empty() {
            // The record and MDN names are taken too.
            taken.push(path.with_suffix(".json").file_name.to_lowercase());
            taken.push(path.with_suffix(".mdn").file_name.to_lowercase());
        }
        taken.push(path.file_name.to_lowercase());
        files.push(path);
    }
    let first = files.first().cloned().unwrap_or_else(|| RelativePath {
        status,
        file_name: build_name("", &[(message_id, MAX_MESSAGE_ID_PART_LEN)]),
    });
    AttachmentPaths {
        record: first.with_suffix(".json"),
        mdn: first.with_suffix(".mdn"),
        files,
    }
}

/// The paths of an inbound message that failed, as the reference names them
/// (its failed sample: `failed/01187f15-523c-43ac-9fd6-51b5ad2b08f3.<messageId>`):
/// `failed/<transferId>.<messageId>`, with `.json` and `.mdn` beside it. The payload
/// file holds what could not be processed (the body as received); the sender's file
/// name is not used, since nothing from a refused message is trusted.
///
/// `transfer_id` is the caller's id for this request, a UUID from [`transfer_id`] in
/// the reference's shape; both parts are neutralised and shortened as in
/// [`inbound_paths`].
pub fn failed_inbound_paths(transfer_id: &str, message_id: &str) -> InboundPaths {
    let name = build_name(
        "",
        &[
            (transfer_id, MAX_TRANSFER_ID_PART_LEN),
            (message_id, MAX_MESSAGE_ID_PART_LEN),
        ],
    );
    let payload = RelativePath {
        status: StatusCode::Failed,
        file_name: name,
    };
    InboundPaths {
        record: payload.with_suffix(".json"),
        mdn: payload.with_suffix(".mdn"),
        payload,
    }
}

/// A new transfer id in the reference's shape, a random (version 4) UUID such as
/// `01187f15-523c-43ac-9fd6-51b5ad2b08f3`, drawn from the caller's `rng` (the crate
/// never draws OS entropy).
pub fn transfer_id<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    // RFC 9562 §5.4: version 4, variant 10.
    if let Some(b) = bytes.get_mut(6) {
        *b = (*b & 0x0f) | 0x40;
    }
    if let Some(b) = bytes.get_mut(8) {
        *b = (*b & 0x3f) | 0x80;
    }
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The paths of an outbound transfer's record and MDN (reference: "File names and
/// locations"): `processed/` or `failed/` beside the source file, as
/// `name.<transferId>.<messageId>.ext.json` and `.mdn`.
///
/// `source_file_name` is the file sent (a path is reduced to its last component). The
/// names are neutralised and shortened exactly as in [`inbound_paths`]; a transfer ID is
/// used up to [`MAX_TRANSFER_ID_PART_LEN`] bytes.
pub fn outbound_paths(
    source_file_name: &str,
    transfer_id: &str,
    message_id: &str,
    status: StatusCode,
) -> OutboundPaths {
    let name = build_name(
        source_file_name,
        &[
            (transfer_id, MAX_TRANSFER_ID_PART_LEN),
            (message_id, MAX_MESSAGE_ID_PART_LEN),
        ],
    );
    let base = RelativePath {
        status,
        file_name: name,
    };
    OutboundPaths {
        record: base.with_suffix(".json"),
        mdn: base.with_suffix(".mdn"),
    }
}

/// `stem.id1[.id2].ext`, each piece neutralised, within [`MAX_FILE_NAME_LEN`].
// Every piece is capped (ids, extension, name) far below `usize::MAX`.
#[allow(clippy::arithmetic_side_effects)]
fn build_name(file_name: &str, ids: &[(&str, usize)]) -> String {
    let (stem, ext) = split_file_name(file_name);
    let ids: Vec<String> = ids.iter().map(|&(id, cap)| id_part(id, cap)).collect();
    // Room for the ids and the extension with their dots, and for a `_` before a
    // device name. Each piece is capped, so this is far below the limit.
    let fixed = ids.iter().map(|id| id.len() + 1).sum::<usize>()
        + ext.as_ref().map_or(0, |e| e.len() + 1)
        + 1;
    let stem =
        truncate(&stem, MAX_FILE_NAME_LEN.saturating_sub(fixed)).trim_end_matches(is_trimmed);
    let mut name = String::with_capacity(MAX_FILE_NAME_LEN);
    name.push_str(stem);
    for id in &ids {
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(id);
    }
    if let Some(ext) = &ext {
        name.push('.');
        name.push_str(ext);
    }
    if is_device_name(&name) {
        name.insert(0, '_');
    }
    name
}

/// The neutralised name without its directories, split into stem and extension.
fn split_file_name(file_name: &str) -> (String, Option<String>) {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean = neutralise(base);
    let clean = clean.trim_matches(is_trimmed);
    match clean.rsplit_once('.') {
        Some((stem, ext)) if !ext.is_empty() && ext.len() <= MAX_EXTENSION_LEN => (
            stem.trim_end_matches(is_trimmed).to_owned(),
            Some(ext.to_owned()),
        ),
        _ => (clean.to_owned(), None),
    }
}

/// A Message-ID or transfer ID as a name piece: angle brackets and surrounding spaces
/// removed, neutralised, and marked with a hash of the original if that changed it or it
/// had to be shortened (or is empty).
fn id_part(id: &str, cap: usize) -> String {
    let bare = MessageId::bare_str(id);
    let clean = neutralise(bare);
    let trimmed = clean.trim_matches(is_trimmed);
    if trimmed == bare && !trimmed.is_empty() && trimmed.len() <= cap {
        return trimmed.to_owned();
    }
    let kept = truncate(trimmed, cap.saturating_sub(HASH_SUFFIX_LEN)).trim_end_matches(is_trimmed);
    let digest = Sha256::digest(bare.as_bytes());
    let mut part = String::with_capacity(kept.len().saturating_add(HASH_SUFFIX_LEN));
    part.push_str(kept);
    part.push('~');
    for byte in digest.iter().take(8) {
        part.push_str(&format!("{byte:02x}"));
    }
    part
}

/// Replaces every character that could break a path or hide in one with `_`.
fn neutralise(text: &str) -> String {
    text.chars()
        .map(|c| if is_unsafe(c) { '_' } else { c })
        .collect()
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        // Zero-width characters, bidirectional marks, embeddings, overrides and isolates,
        // line/paragraph separators, word joiner and BOM: they disguise a name.
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Leading and trailing characters removed from names: dots (hidden files, `..`, and
/// Windows drops trailing dots) and white space.
fn is_trimmed(c: char) -> bool {
    c == '.' || c.is_whitespace()
}

/// Whether the name's first dot-separated part is a Windows device name, which Windows
/// resolves to the device whatever the extension.
fn is_device_name(name: &str) -> bool {
    let first = name.split('.').next().unwrap_or("").trim_end_matches(' ');
    let upper = first.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) {
        return true;
    }
    upper
        .strip_prefix("COM")
        .or_else(|| upper.strip_prefix("LPT"))
        .is_some_and(|n| {
            matches!(
                n,
                "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
            )
        })
}

/// At most `max` bytes of `text`, cut on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let end = text.floor_char_boundary(max);
    text.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::unix_time;

    #[test]
    fn civil_conversions_agree() {
        for days in (-719_528..2_932_897).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d <= days_in_month(y, m));
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(unix_time(0)), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH - Duration::from_millis(1500)),
            "1969-12-31T23:59:58.500000Z"
        );
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + Duration::new(1_709_210_096, 789_012_999)),
            "2024-02-29T12:34:56.789012Z"
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:34:56.789012999Z").unwrap(),
            SystemTime::UNIX_EPOCH + Duration::new(1_709_210_096, 789_012_999)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T14:34:56+02:00").unwrap(),
            unix_time(1_709_210_096)
        );
        assert!(parse_rfc3339("2023-02-29T00:00:00Z").is_err());
    }

    #[test]
    fn name_pieces() {
        let split = |name| {
            let (stem, ext) = split_file_name(name);
            (stem, ext.unwrap_or_default())
        };
        assert_eq!(split("a.b.c.edi"), ("a.b.c".into(), "edi".into()));
        assert_eq!(split("../../x.edi"), ("x".into(), "edi".into()));
        assert_eq!(split("c:\\in\\y.x12 "), ("y".into(), "x12".into()));
        assert_eq!(split("...."), ("".into(), "".into()));
        assert_eq!(split("a\0b?.edi"), ("a_b_".into(), "edi".into()));
        assert_eq!(id_part("<abc@x>", 128), "abc@x");
        assert!(is_device_name("com1.x"));
        assert!(!is_device_name("com10.x"));
        assert_eq!(truncate("aé", 2), "a");
    }
}
