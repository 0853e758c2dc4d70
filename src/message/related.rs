//! Multiple attachments (RFC 6362): several files in one AS2 message, as the body parts of
//! one `multipart/related` entity (RFC 2387) that is signed, compressed and encrypted as a
//! whole like a single payload.
//!
//! The entity's `type` parameter is the first part's content type (RFC 2387 §3.1); each
//! part has its own Content-Type, Content-Disposition file name (RFC 2231 for names that
//! are not printable ASCII) and Content-Transfer-Encoding (`binary`, or `base64` when
//! asked for). The MIC of a signed message covers the whole `multipart/related` entity,
//! exactly as sent and received.
//!
//! Outbound, the message's payload is part 1 and
//! [`OutboundMessage::attachments`](super::outbound::OutboundMessage::attachments) the
//! parts after it ([`Attachment`]); streamed, the parts are pushed in order with
//! [`OutboundStream::next_part`](super::outbound::OutboundStream::next_part) between
//! them. Inbound, a receiver whose policy accepts attachments
//! ([`InboundPolicy::accept_attachments`](super::inbound::InboundPolicy::accept_attachments))
//! hands each part to the [`PayloadSink`] as it arrives, announced by
//! [`PayloadSink::begin_part`], and lists them in
//! [`Received::parts`](super::inbound::Received::parts).
//!
//! A part whose own type is `multipart/*` is one file like any other: delivered byte for
//! byte, not unpacked (RFC 6362 attaches files, not trees). It must still be a well-formed
//! multipart where the whole tree is parsed: a signed message's canonical form, and the
//! MIC of an unsigned one inside an envelope, parse every part within
//! [`Limits::max_mime_depth`] and [`Limits::max_mime_parts`].

use rand_core::CryptoRng;

use super::receive::PayloadSink;
use crate::error::Error;
use crate::limits::{Limit, Limits};
use crate::mime::stream::{HeaderBlock, PartEvent, PartSplitter, TransferDecoder};
use crate::mime::{self, MimeLimits, TransferEncoding};
use crate::smime::sign::{DelimiterScan, base64_mime_len};

/// The Content-Transfer-Encoding of an outbound part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartEncoding {
    /// `binary`: the octets as they are (the default; what AS2 sends over HTTP).
    #[default]
    Binary,
    /// `base64`, in lines of 76 characters (RFC 2045 §6.8).
    Base64,
}

impl PartEncoding {
    fn as_str(self) -> &'static str {
        match self {
            PartEncoding::Binary => "binary",
            PartEncoding::Base64 => "base64",
        }
    }

    /// The encoded length of `len` octets.
    fn encoded_len(self, len: u64) -> Option<u64> {
        match self {
            PartEncoding::Binary => Some(len),
            PartEncoding::Base64 => {
                let len = usize::try_from(len).ok()?;
                u64::try_from(base64_mime_len(len)).ok()
            }
        }
    }
}

/// One more file of an outbound message, after the payload (RFC 6362).
///
/// ```
/// use as2_proto::message::related::Attachment;
/// let invoice = Attachment::new("application/pdf", b"%PDF-1.7 ...")
///     .with_file_name("invoice-4711.pdf")
///     .base64();
/// assert_eq!(invoice.len, Some(12));
/// // Streamed: 5000 octets pushed after `OutboundStream::next_part`.
/// let streamed = Attachment::streamed("text/plain", Some(5000));
/// assert!(streamed.data.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attachment<'a> {
    /// Its MIME type, e.g. `application/edi-x12` or `application/pdf`.
    pub content_type: String,
    /// The file name, sent in Content-Disposition as the payload's is.
    pub file_name: Option<String>,
    /// Its Content-Transfer-Encoding.
    pub encoding: PartEncoding,
    /// The octets ([`build`](super::outbound::build) sends them; a streamed message
    /// ignores them: its parts are pushed).
    pub data: &'a [u8],
    /// The exact number of octets that will be pushed for this part, when known: with
    /// every part's length known and no compression, the body's Content-Length is known
    /// before the first octet. [`Attachment::new`] sets it from `data`.
    pub len: Option<u64>,
}

impl<'a> Attachment<'a> {
    /// A part holding `data`, sent `binary`, with no file name.
    pub fn new(content_type: impl Into<String>, data: &'a [u8]) -> Self {
        Attachment {
            content_type: content_type.into(),
            file_name: None,
            encoding: PartEncoding::Binary,
            data,
            len: u64::try_from(data.len()).ok(),
        }
    }

    /// A part whose octets are pushed to the stream, `len` of them when known.
    pub fn streamed(content_type: impl Into<String>, len: Option<u64>) -> Self {
        Attachment {
            len,
            ..Attachment::new(content_type, &[])
        }
    }

    /// The same part with a file name.
    pub fn with_file_name(mut self, file_name: impl Into<String>) -> Self {
        self.file_name = Some(file_name.into());
        self
    }

    /// The same part sent `base64`.
    pub fn base64(mut self) -> Self {
        self.encoding = PartEncoding::Base64;
        self
    }
}

/// A part's header lines: Content-Type, Content-Transfer-Encoding and, with a file name,
/// Content-Disposition. Refuses what the receiver could not read back (the rule of a
/// single payload).
pub(crate) fn part_headers(
    content_type: &str,
    encoding: &str,
    file_name: Option<&str>,
) -> Result<Vec<(String, String)>, Error> {
    mime::ContentType::parse(content_type.as_bytes()).map_err(|_| Error::InvalidHeader {
        header: "Content-Type",
        reason: "the payload's content type is not a valid MIME type",
    })?;
    let mut headers = vec![
        ("Content-Type".to_owned(), content_type.to_owned()),
        ("Content-Transfer-Encoding".to_owned(), encoding.to_owned()),
    ];
    if let Some(name) = file_name {
        // What the receiver reads back (this crate's included).
        const _: () = assert!(mime::MAX_PARAM_VALUE_LEN == 1024, "fix the reason below");
        if name.len() > mime::MAX_PARAM_VALUE_LEN {
            return Err(Error::InvalidHeader {
                header: "Content-Disposition",
                reason: "the file name is longer than 1024 bytes",
            });
        }
        headers.push((
            "Content-Disposition".into(),
            format!("attachment; {}", mime::file_name_param("filename", name)),
        ));
    }
    Ok(headers)
}

/// An entity's header block: its header lines with CRLF and the blank line.
pub(crate) fn header_block(headers: &[(String, String)]) -> Result<Vec<u8>, Error> {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    Ok(mime::write_entity(&headers, &[])?)
}

/// One part to write: its header block, encoding and announced length.
struct PlannedPart {
    header_block: Vec<u8>,
    encoding: PartEncoding,
    len: Option<u64>,
}

/// Writes the body of a `multipart/related` entity around parts that stream through:
/// `--b CRLF part CRLF --b CRLF part ... CRLF --b-- CRLF` (the layout of
/// [`mime::write_multipart`]). Each part's content is checked for lines that start with
/// the delimiter, as the signature layer checks its entity.
pub(crate) struct RelatedWriter {
    boundary: String,
    parts: Vec<PlannedPart>,
    /// The part being written (0-based).
    current: usize,
    /// Octets pushed for the current part.
    pushed: u64,
    scan: DelimiterScan,
    base64: Base64Lines,
}

/// What [`RelatedWriter::new`] gives: the writer, the entity's header lines and, when
/// every part's length is known, the entity's body length.
pub(crate) type RelatedStart = (RelatedWriter, Vec<(String, String)>, Option<u64>);

impl RelatedWriter {
    /// Plans the entity: part 1 (the payload, `binary`) with `first` (its content type
    /// and file name) and `first_len`, then `attachments`. Draws the boundary from `rng`
    /// and appends the first delimiter and part 1's header block to `out`.
    pub(crate) fn new<R: CryptoRng + ?Sized>(
        first: (&str, Option<&str>),
        first_len: Option<u64>,
        attachments: &[Attachment<'_>],
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> Result<RelatedStart, Error> {
        let (content_type, file_name) = first;
        let mut parts = Vec::with_capacity(attachments.len().saturating_add(1));
        parts.push(PlannedPart {
            header_block: header_block(&part_headers(content_type, "binary", file_name)?)?,
            encoding: PartEncoding::Binary,
            len: first_len,
        });
        for attachment in attachments {
            parts.push(PlannedPart {
                header_block: header_block(&part_headers(
                    &attachment.content_type,
                    attachment.encoding.as_str(),
                    attachment.file_name.as_deref(),
                )?)?,
                encoding: attachment.encoding,
                len: attachment.len,
            });
        }
        let boundary = crate::smime::headers::boundary(rng);
        // The root's type without its parameters (RFC 2387 §3.1: a media type).
        let root = content_type.split(';').next().unwrap_or_default().trim();
        let type_value = mime::content_type_value(
            "multipart/related",
            &[("boundary", boundary.as_str()), ("type", root)],
        )?;
        let headers = vec![
            ("Content-Type".to_owned(), type_value),
            ("Content-Transfer-Encoding".to_owned(), "binary".to_owned()),
        ];
        // `--b CRLF` + (n - 1) `CRLF --b CRLF` + `CRLF --b-- CRLF`, then each part.
        let b = u64::try_from(boundary.len()).unwrap_or(u64::MAX);
        let n = u64::try_from(parts.len()).unwrap_or(u64::MAX);
        let framing = b
            .checked_add(4)
            .and_then(|first| first.checked_add(n.checked_sub(1)?.checked_mul(b.checked_add(6)?)?))
            .and_then(|len| len.checked_add(b.checked_add(8)?));
        let body_len = framing.and_then(|framing| {
            parts.iter().try_fold(framing, |total, part| {
                let encoded = part.encoding.encoded_len(part.len?)?;
                total
                    .checked_add(u64::try_from(part.header_block.len()).ok()?)?
                    .checked_add(encoded)
            })
        });
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if let Some(part) = parts.first() {
            out.extend_from_slice(&part.header_block);
        }
        let writer = RelatedWriter {
            scan: DelimiterScan::new(&boundary),
            boundary,
            parts,
            current: 0,
            pushed: 0,
            base64: Base64Lines::default(),
        };
        Ok((writer, headers, body_len))
    }

    /// The number of parts.
    pub(crate) fn len(&self) -> usize {
        self.parts.len()
    }

    /// The part being written (0-based).
    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// Whether `more` octets would pass the current part's announced length.
    pub(crate) fn over_announced(&self, more: u64) -> Option<u64> {
        let announced = self.parts.get(self.current)?.len?;
        let total = self.pushed.checked_add(more);
        total.is_none_or(|t| t > announced).then_some(announced)
    }

    /// Appends to `out` the entity octets for the current part's next `data`.
    pub(crate) fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.pushed = self
            .pushed
            .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        match self.parts.get(self.current).map(|p| p.encoding) {
            Some(PartEncoding::Base64) => self.base64.push(data, out),
            _ => {
                if self.scan.found_in(data) {
                    return Err(mime::MimeError::BoundaryInPart {
                        index: self.current,
                    }
                    .into());
                }
                out.extend_from_slice(data);
            }
        }
        Ok(())
    }

    /// Ends the current part: checks its length and flushes its encoding.
    fn end_part(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(announced) = self.parts.get(self.current).and_then(|p| p.len)
            && announced != self.pushed
        {
            return Err(Error::PayloadLength {
                announced,
                pushed: self.pushed,
            });
        }
        self.base64.finish(out);
        Ok(())
    }

    /// Ends the current part and begins the next: appends the delimiter and its header
    /// block. Fails if there is no next part ([`Error::PartCount`]).
    pub(crate) fn next_part(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let next = self.current.saturating_add(1);
        let Some(part) = self.parts.get(next) else {
            return Err(Error::PartCount {
                declared: self.parts.len(),
                pushed: next.saturating_add(1),
            });
        };
        let header_block = part.header_block.clone();
        self.end_part(out)?;
        out.extend_from_slice(format!("\r\n--{}\r\n", self.boundary).as_bytes());
        out.extend_from_slice(&header_block);
        self.current = next;
        self.pushed = 0;
        self.scan = DelimiterScan::new(&self.boundary);
        Ok(())
    }

    /// Ends the last part and appends the close delimiter. Fails if parts were left out
    /// ([`Error::PartCount`]).
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.current.saturating_add(1) != self.parts.len() {
            return Err(Error::PartCount {
                declared: self.parts.len(),
                pushed: self.current.saturating_add(1),
            });
        }
        self.end_part(out)?;
        out.extend_from_slice(format!("\r\n--{}--\r\n", self.boundary).as_bytes());
        Ok(())
    }
}

/// Octets per base64 line: 57 octets are 76 characters.
const LINE_OCTETS: usize = 57;

/// Streaming [`mime::base64_encode_mime`]: the output of all pushes and the finish is
/// that function's output for the whole input, however it is cut.
#[derive(Default)]
struct Base64Lines {
    line: Vec<u8>,
}

impl Base64Lines {
    fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while !data.is_empty() {
            let room = LINE_OCTETS.saturating_sub(self.line.len());
            let (take, rest) = data.split_at(room.min(data.len()));
            self.line.extend_from_slice(take);
            data = rest;
            if self.line.len() == LINE_OCTETS {
                self.flush(out);
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(mime::base64_encode_mime(&self.line).as_bytes());
        self.line.clear();
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.line.is_empty() {
            self.flush(out);
        }
    }
}

/// A part of a `multipart/related` payload, as [`PayloadSink::begin_part`] announces it
/// before its first octet.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartInfo {
    /// Its position, from 0 (part 0 is the root, RFC 2387's start).
    pub index: usize,
    /// Its Content-Type, without parameters (`text/plain` when it has none, RFC 2045).
    pub content_type: String,
    /// Its file name (Content-Disposition `filename`, else Content-Type `name`, RFC 2231
    /// decoded): the sender's text, to be stored only through
    /// [`record::attachment_paths`](crate::record::attachment_paths).
    pub file_name: Option<String>,
}

/// A part of a received `multipart/related` payload ([`Received::parts`]).
///
/// [`Received::parts`]: super::inbound::Received::parts
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedPart {
    /// Its Content-Type, without parameters.
    pub content_type: String,
    /// Its file name, as [`PartInfo::file_name`].
    pub file_name: Option<String>,
    /// Its decoded length in octets.
    pub len: u64,
}

/// Where the reader stands in the current part.
enum PartState {
    /// Between parts (preamble, or after the last one).
    Outside,
    /// Reading the part's header block.
    Head(Box<HeaderBlock>),
    /// Decoding its body into the sink.
    Body(TransferDecoder),
}

/// Reads the body of a `multipart/related` payload as it arrives: splits it into parts,
/// reads each part's headers, decodes each body into the sink. Memory: one header block
/// and what the splitter and the decoder hold back.
pub(crate) struct RelatedReader {
    splitter: PartSplitter,
    mime_limits: MimeLimits,
    max_attachments: usize,
    state: PartState,
    parts: Vec<ReceivedPart>,
    out: Vec<u8>,
}

impl RelatedReader {
    /// A reader for the entity of type `ct` (its `boundary` is required).
    pub(crate) fn new(ct: &mime::ContentType, limits: &Limits) -> Result<Self, Error> {
        let boundary = ct.boundary().ok_or(mime::MimeError::MissingBoundary)?;
        let mut mime_limits = limits.mime();
        // The count is ours (`max_attachments`, checked first); the splitter's cap only
        // backs it up.
        mime_limits.max_parts = limits.max_attachments.saturating_add(1);
        Ok(RelatedReader {
            splitter: PartSplitter::new(boundary, &mime_limits)?,
            mime_limits,
            max_attachments: limits.max_attachments,
            state: PartState::Outside,
            parts: Vec::new(),
            out: Vec::new(),
        })
    }

    /// Feeds body bytes; decoded part octets go to `sink`. Returns how many were written.
    pub(crate) fn push(&mut self, input: &[u8], sink: &mut dyn PayloadSink) -> Result<u64, Error> {
        self.drive(sink, |splitter, on| splitter.push(input, on))
    }

    /// End of the body: the last part ends. Returns the octets written and the parts.
    pub(crate) fn finish(
        &mut self,
        sink: &mut dyn PayloadSink,
    ) -> Result<(u64, Vec<ReceivedPart>), Error> {
        let written = self.drive(sink, |splitter, on| splitter.finish(on))?;
        Ok((written, std::mem::take(&mut self.parts)))
    }

    /// Runs the splitter (`feed` calls its `push` or `finish`) with every part event
    /// handled by [`on_event`]; returns the octets written to `sink`.
    fn drive(
        &mut self,
        sink: &mut dyn PayloadSink,
        feed: impl FnOnce(
            &mut PartSplitter,
            &mut dyn FnMut(PartEvent<'_>) -> Result<(), Error>,
        ) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let mut written = 0u64;
        let RelatedReader {
            splitter,
            mime_limits,
            max_attachments,
            state,
            parts,
            out,
        } = self;
        feed(splitter, &mut |event| {
            on_event(
                event,
                &mut Context {
                    limits: mime_limits,
                    max_attachments: *max_attachments,
                    state,
                    parts,
                    out,
                    written: &mut written,
                },
                sink,
            )
        })?;
        Ok(written)
    }
}

/// The reader's state, borrowed for one splitter event.
struct Context<'r> {
    limits: &'r MimeLimits,
    max_attachments: usize,
    state: &'r mut PartState,
    parts: &'r mut Vec<ReceivedPart>,
    out: &'r mut Vec<u8>,
    written: &'r mut u64,
}

fn on_event(
    event: PartEvent<'_>,
    cx: &mut Context<'_>,
    sink: &mut dyn PayloadSink,
) -> Result<(), Error> {
    match event {
        PartEvent::Begin(index) => {
            if index >= cx.max_attachments {
                return Err(Error::LimitExceeded {
                    limit: Limit::Attachments,
                    value: cx.max_attachments,
                });
            }
            *cx.state = PartState::Head(Box::new(HeaderBlock::new(cx.limits)));
        }
        PartEvent::Data(mut bytes) => {
            if let PartState::Head(block) = cx.state {
                let Some(taken) = block.push(bytes)? else {
                    return Ok(());
                };
                bytes = bytes.get(taken..).unwrap_or_default();
                begin_body(cx, sink)?;
            }
            if let PartState::Body(decoder) = cx.state {
                cx.out.clear();
                decoder.push(bytes, cx.out)?;
                write(cx, sink);
            }
        }
        PartEvent::End => {
            if let PartState::Head(block) = cx.state {
                // A part that is all header block (RFC 2046 allows it): empty body.
                block.finish()?;
                begin_body(cx, sink)?;
            }
            if let PartState::Body(decoder) = cx.state {
                cx.out.clear();
                decoder.finish(cx.out)?;
                write(cx, sink);
                sink.end_part();
            }
            *cx.state = PartState::Outside;
        }
        PartEvent::Closed => {}
    }
    Ok(())
}

/// The current part's header block is complete: announce the part, start its body.
fn begin_body(cx: &mut Context<'_>, sink: &mut dyn PayloadSink) -> Result<(), Error> {
    let PartState::Head(block) = &*cx.state else {
        return Ok(());
    };
    let headers = block.headers()?;
    let ct = match headers.get("Content-Type") {
        Some(h) => mime::ContentType::parse(&h.unfolded_value())?,
        None => mime::ContentType::text_plain_default(),
    };
    let encoding = headers
        .get("Content-Transfer-Encoding")
        .map(|h| TransferEncoding::parse(&h.unfolded_value()))
        .unwrap_or(TransferEncoding::SevenBit);
    let disposition = headers
        .get("Content-Disposition")
        .map(|h| h.unfolded_value().into_owned());
    let info = PartInfo {
        index: cx.parts.len(),
        content_type: ct.mime_type(),
        file_name: mime::file_name(disposition.as_deref(), &ct),
    };
    sink.begin_part(&info);
    cx.parts.push(ReceivedPart {
        content_type: info.content_type,
        file_name: info.file_name,
        len: 0,
    });
    *cx.state = PartState::Body(TransferDecoder::new(&encoding));
    Ok(())
}

fn write(cx: &mut Context<'_>, sink: &mut dyn PayloadSink) {
    if cx.out.is_empty() {
        return;
    }
    let len = u64::try_from(cx.out.len()).unwrap_or(u64::MAX);
    if let Some(part) = cx.parts.last_mut() {
        part.len = part.len.saturating_add(len);
    }
    *cx.written = cx.written.saturating_add(len);
    sink.write(cx.out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streaming encoder writes what the whole-buffer one does, however it is cut.
    #[test]
    fn base64_lines_match_the_whole_buffer_encoder() {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 7 % 256) as u8).collect();
        for len in [0, 1, 2, 3, 56, 57, 58, 114, 115, 400] {
            let whole = mime::base64_encode_mime(&data[..len]);
            assert_eq!(
                whole.len(),
                PartEncoding::Base64.encoded_len(len as u64).unwrap() as usize
            );
            for step in [1, 2, 5, 57, 100, 400] {
                let mut encoder = Base64Lines::default();
                let mut out = Vec::new();
                for chunk in data[..len].chunks(step) {
                    encoder.push(chunk, &mut out);
                }
                encoder.finish(&mut out);
                assert_eq!(out, whole.as_bytes(), "{len} {step}");
            }
        }
    }
}
