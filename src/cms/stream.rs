//! CMS read as it arrives (sans-IO streaming): the caller pushes the body in chunks split
//! anywhere, the readers emit the content (decrypted, inflated or signed octets) as it
//! streams, and memory does not grow with the content.
//!
//! [`BerStream`] frames BER (X.690) from pushed bytes: indefinite lengths, constructed
//! (chunked) strings at any depth, high tag numbers and long-form lengths, under the same
//! [`Limits`] as the whole-buffer [`ber::Reader`]. It buffers at most one header and the
//! stack of open values, except for values a reader chooses to capture whole (recipient
//! infos, certificates, signer infos), which count against
//! [`Limits::max_cms_header_size`]. Captured values are then read by the very code the
//! whole-buffer parsers use ([`enveloped::parse_recipients`],
//! [`signed::parse_signer_infos`], ...), placed at their offset and depth in the stream,
//! so that they are checked exactly alike.
//!
//! On top of it, one reader per content type:
//!
//! - [`EnvelopedReader`]: EnvelopedData (RFC 5652 §6), CBC-decrypted as it streams, and
//!   AuthEnvelopedData (RFC 5083), AES-GCM/CCM-decrypted as it streams with the tag
//!   checked at the end (also the EnvelopedData form with an AEAD cipher and the tag
//!   appended to the ciphertext, which BouncyCastle writes; the whole-buffer
//!   `EnvelopedData::parse` refuses AEAD ciphers, so for those this reader stands alone);
//! - [`CompressedReader`]: CompressedData (RFC 3274), inflated as it streams;
//! - [`SignedReader`]: SignedData (RFC 5652 §5) with encapsulated content, hashed as it
//!   streams and verified at the end.
//!
//! # Same results as the whole-buffer parsers
//!
//! For any input, pushed in any chunks, `push`* then `finish` gives the result of the
//! whole-buffer function on the concatenation (the `tests` check this for many chunkings of
//! valid and broken inputs), with the differences that reading as it arrives forces:
//!
//! - Order. The whole-buffer reader first frames the whole ContentInfo, then checks fields
//!   from the outside in, then decrypts (or inflates, or verifies). A stream is checked in
//!   the order it arrives, and the content is processed before the rest has arrived. So
//!   for an input with *several* defects the error reported can be another of them (a
//!   truncated envelope that also names none of our keys gives
//!   [`Error::NoMatchingRecipient`] here and [`Error::Malformed`] there; a bad zlib
//!   stream followed by a malformed field gives [`Error::DecompressionFailed`] here). An
//!   input with one defect (cut short anywhere, bytes after the end, a field missing,
//!   unexpected or unsupported, a wrong key, a bad padding, a bad or oversized zlib
//!   stream, a wrong signer or content) gives the same error, down to `what` and `offset`
//!   of [`Error::Malformed`]. (An octet inserted or removed inside a definite length is
//!   two defects: that value's length and the outermost one no longer fit, and the
//!   whole-buffer reader checks the outermost one first.)
//! - Output before failure. Content is appended to `out` before the input is known to be
//!   whole and well-formed; after an error, whatever was appended is to be discarded
//!   (decrypted output is unauthenticated in any case until a signature has verified).
//! - Captured structure is capped by [`Limits::max_cms_header_size`], which the
//!   whole-buffer parsers do not need ([`Limit::CmsHeaderSize`]).
//! - [`SignedReader`] hashes the content only with the digest algorithms that the
//!   SignedData's digestAlgorithms announces (RFC 5652 §5.1 requires every signer's to be
//!   there); a signer using another fails with [`VerificationError::UnannouncedDigest`],
//!   where the whole-buffer [`SignedData::verify`] would hash with it.
//! - [`Limits::max_body_size`] is checked against the bytes pushed so far, so an
//!   oversized body fails when the limit is passed rather than first.
//!
//! After an error, every call returns that error again.

use const_oid::ObjectIdentifier;
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{
    DecompressorOxide, TINFL_LZ_DICT_SIZE, decompress, inflate_flags,
};
use rand_core::CryptoRng;

use super::aead::AeadStream;
use super::algorithm::{
    CipherParams, ContentEncryption, DigestAlgorithm, Hasher, decode_identifier,
};
use super::ber::{self, Reader, Step, Tag, Tlv};
use super::signed::{SignedData, Verified};
use super::{ContentType, enveloped, oid, signed};
use crate::cert::{Certificate, PrivateKey};
use crate::error::{AlgorithmKind, Error, VerificationError};
use crate::limits::{Limit, Limits};

/// The longest header [`ber::parse_header`] accepts: a 5-octet identifier and a 9-octet
/// length.
const MAX_HEADER: usize = 14;

/// The header of a BER value as the stream read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// The identifier.
    pub tag: Tag,
    /// Offset of the identifier in the stream.
    pub offset: usize,
    /// Identifier and length octets.
    pub header_len: usize,
    /// The definite contents length, `None` for an indefinite length.
    pub len: Option<usize>,
    /// How many values enclose this one (0 for the outermost).
    pub depth: usize,
}

impl Head {
    /// Where the contents of a definite-length value end.
    fn end(&self) -> Option<usize> {
        // Checked with checked_add when the header was read.
        self.len.map(|len| {
            self.offset
                .saturating_add(self.header_len)
                .saturating_add(len)
        })
    }
}

/// What [`BerStream::next`] read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'i> {
    /// A value begins. The reader must then say what to do with it:
    /// [`BerStream::enter`], [`BerStream::skip`] or [`BerStream::capture`].
    Start(Head),
    /// Contents octets of the entered primitive value, borrowed from the pushed input.
    Data(&'i [u8]),
    /// The current value ends (an entered, skipped or captured one); `contents_end` is the
    /// offset where its contents end (its end-of-contents octets, for an indefinite length).
    End {
        /// The value's header.
        head: Head,
        /// Offset just past its contents.
        contents_end: usize,
    },
    /// A header that cannot be read, or a definite length that overruns the enclosing
    /// value, at `offset`, where the enclosing value has a definite length (or there is
    /// none): the reader names the error after what it expected there, as the whole-buffer
    /// reader does. (Inside an indefinite-length value the stream reports the error itself,
    /// named as the whole-buffer reader names it: after the outermost value whose framing
    /// walked into it.)
    Invalid {
        /// Offset of the bad header.
        offset: usize,
        /// Its identifier, when that much could be read.
        tag: Option<Tag>,
    },
}

/// How the contents of an open value are consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Read as child values.
    Children,
    /// Reported as [`Event::Data`].
    Data,
    /// Consumed without a look (a skipped or captured definite-length value).
    Opaque,
}

/// An open value.
#[derive(Debug)]
struct Frame {
    head: Head,
    end: Option<usize>,
    mode: Mode,
    /// Whether its [`Event::End`] is reported.
    reported: bool,
    /// Whether its children are reported (not inside a skipped or captured value).
    children_reported: bool,
    /// How framing errors of its children are named when its length is indefinite.
    what: &'static str,
}

/// What the reader does with a value that starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Enter,
    Skip,
    Capture,
}

/// Push-based BER framing: [`next`](Self::next) takes bytes from the pushed input and
/// returns [`Event`]s; the reader answers each [`Event::Start`] with
/// [`enter`](Self::enter), [`skip`](Self::skip) or [`capture`](Self::capture).
///
/// Memory: one header (at most [`MAX_HEADER`] octets) and one frame per open value (at
/// most [`Limits::max_ber_depth`] + 1), plus captured values, at most
/// [`Limits::max_cms_header_size`] octets in all.
///
/// The rules are those of [`ber::Reader`], applied as the bytes arrive: the same header
/// reader ([`ber::parse_header`]); a definite length must fit in the nearest enclosing
/// definite-length value; end-of-contents octets end an indefinite-length value only where
/// a child could start; a value whose contents are read (entered, or of indefinite length)
/// must be less than [`Limits::max_ber_depth`] deep; nothing may follow the outermost value.
#[derive(Debug)]
pub(crate) struct BerStream {
    max_depth: usize,
    max_body: usize,
    max_capture: usize,
    capture_left: usize,
    /// Bytes taken from the input so far: the offset of the next one.
    pos: usize,
    stack: Vec<Frame>,
    /// The header being read (its first octets at `pos - header_len`).
    header: [u8; MAX_HEADER],
    header_len: usize,
    /// A value that started and awaits the reader's decision.
    pending: Option<Head>,
    capture: Option<Vec<u8>>,
    captured: Option<Vec<u8>>,
    /// The outermost value has ended.
    done: bool,
    top_what: &'static str,
    trailing_what: &'static str,
}

impl BerStream {
    /// A stream for one outermost value, read as `top_what`; bytes after it are an error
    /// named `trailing_what`.
    pub(crate) fn new(
        limits: &Limits,
        top_what: &'static str,
        trailing_what: &'static str,
    ) -> Self {
        BerStream {
            max_depth: limits.max_ber_depth,
            max_body: limits.max_body_size,
            max_capture: limits.max_cms_header_size,
            capture_left: limits.max_cms_header_size,
            pos: 0,
            stack: Vec::new(),
            header: [0; MAX_HEADER],
            header_len: 0,
            pending: None,
            capture: None,
            captured: None,
            done: false,
            top_what,
            trailing_what,
        }
    }

    /// The offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Where the nearest definite-length value at depth `depth` or above ends: no byte of
    /// a value at that depth lies beyond. `None` when all of them have indefinite lengths.
    pub(crate) fn definite_end(&self, depth: usize) -> Option<usize> {
        self.stack
            .iter()
            .take(depth.saturating_add(1))
            .filter_map(|f| f.end)
            .min()
    }

    fn depth_error(&self) -> Error {
        Error::LimitExceeded {
            limit: Limit::BerDepth,
            value: self.max_depth,
        }
    }

    /// Appends captured bytes, within the budget.
    fn keep(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(buffer) = &mut self.capture {
            self.capture_left =
                self.capture_left
                    .checked_sub(bytes.len())
                    .ok_or(Error::LimitExceeded {
                        limit: Limit::CmsHeaderSize,
                        value: self.max_capture,
                    })?;
            buffer.extend_from_slice(bytes);
        }
        Ok(())
    }

    /// The next event, taking bytes from the front of `input`; `None` when `input` is used
    /// up (push more, or call [`finish`](Self::finish)).
    pub(crate) fn next<'i>(&mut self, input: &mut &'i [u8]) -> Result<Option<Event<'i>>, Error> {
        if self.pos.saturating_add(input.len()) > self.max_body {
            return Err(Error::LimitExceeded {
                limit: Limit::BodySize,
                value: self.max_body,
            });
        }
        if self.pending.is_some() {
            // A reader that said nothing reads the value's contents.
            self.decide(Decision::Enter, self.top_what)?;
        }
        loop {
            if let Some(frame) = self.stack.last()
                && frame.end == Some(self.pos)
            {
                if let Some(event) = self.pop(self.pos) {
                    return Ok(Some(event));
                }
                continue;
            }
            if self.stack.is_empty() && self.done {
                return if input.is_empty() {
                    Ok(None)
                } else {
                    Err(Error::malformed(self.trailing_what, self.pos))
                };
            }
            let (mode, end) = match self.stack.last() {
                Some(frame) => (frame.mode, frame.end),
                None => (Mode::Children, None),
            };
            if input.is_empty() {
                // No more input now; but where an enclosing definite length leaves no room
                // for what must come, that is an error already.
                return match mode {
                    Mode::Children => self.at_bound(),
                    Mode::Data | Mode::Opaque => Ok(None),
                };
            }
            match mode {
                Mode::Data | Mode::Opaque => {
                    // Such values have definite lengths, and one that has ended was closed
                    // above: there is always something left to take.
                    let left = end.map_or(0, |e| e.saturating_sub(self.pos));
                    if left == 0 {
                        return Err(Error::malformed(self.top_what, self.pos));
                    }
                    let (taken, rest) = input.split_at(left.min(input.len()));
                    *input = rest;
                    self.pos = self.pos.saturating_add(taken.len());
                    if mode == Mode::Data {
                        return Ok(Some(Event::Data(taken)));
                    }
                    self.keep(taken)?;
                }
                Mode::Children => {
                    if let Some(event) = self.read_header(input)? {
                        return Ok(Some(event));
                    }
                }
            }
        }
    }

    /// Closes the innermost value, whose contents end at `contents_end`.
    fn pop(&mut self, contents_end: usize) -> Option<Event<'static>> {
        let frame = self.stack.pop()?;
        if self.stack.is_empty() {
            self.done = true;
        }
        if frame.reported && self.capture.is_some() {
            // Only the captured value itself reports its end while capturing.
            self.captured = self.capture.take();
        }
        frame.reported.then_some(Event::End {
            head: frame.head,
            contents_end,
        })
    }

    /// Room for the header starting at `start`: up to the nearest definite-length end.
    fn room(&self, start: usize) -> usize {
        self.stack
            .iter()
            .rev()
            .find_map(|f| f.end)
            .map_or(usize::MAX, |end| end.saturating_sub(start))
    }

    /// At a child position with no input left: fails if the nearest definite-length end
    /// leaves no room for the end-of-contents octets of an indefinite-length parent, or
    /// for the rest of a header begun.
    fn at_bound<'i>(&self) -> Result<Option<Event<'i>>, Error> {
        let start = self.pos.saturating_sub(self.header_len);
        let room = self.room(start);
        if let Some(parent) = self.stack.last()
            && parent.end.is_none()
            && room < 2
        {
            return Err(Error::malformed(parent.what, parent.head.offset));
        }
        if self.header_len > 0 && self.header_len >= MAX_HEADER.min(room) {
            return self.invalid(start, self.header_len);
        }
        Ok(None)
    }

    /// Reads (more of) a header at a child position. `Ok(None)`: go on (the input is used
    /// up, or a value ended silently).
    fn read_header<'i>(&mut self, input: &mut &'i [u8]) -> Result<Option<Event<'i>>, Error> {
        let start = self.pos.saturating_sub(self.header_len);
        let parent_indefinite = self.stack.last().is_some_and(|f| f.end.is_none());
        // The header may not reach beyond the nearest definite-length value.
        let room = self.room(start);
        if parent_indefinite
            && room < 2
            && let Some(parent) = self.stack.last()
        {
            // No room for a child or end-of-contents octets: the parent never ends.
            return Err(Error::malformed(parent.what, parent.head.offset));
        }
        let old = self.header_len;
        let want = MAX_HEADER.min(room).saturating_sub(old).min(input.len());
        let (Some(slot), Some(taken)) = (
            self.header.get_mut(old..old.saturating_add(want)),
            input.get(..want),
        ) else {
            return Err(self.framing_error(start));
        };
        slot.copy_from_slice(taken);
        let avail = old.saturating_add(want);
        let buffered = self.header.get(..avail).unwrap_or_default();
        if parent_indefinite && buffered.get(..2) == Some(&[0, 0]) {
            // End-of-contents: closes the parent.
            self.consume(input, 2, old);
            self.header_len = 0;
            self.keep(&[0, 0])?;
            return Ok(self.pop(start));
        }
        let header = match ber::parse_header(buffered) {
            Step::Done(header) => header,
            Step::Invalid => return self.invalid(start, avail),
            Step::Incomplete if avail >= MAX_HEADER.min(room) => return self.invalid(start, avail),
            Step::Incomplete => {
                // Everything pushed is header so far.
                self.consume(input, avail, old);
                self.header_len = avail;
                return Ok(None);
            }
        };
        self.consume(input, header.len, old);
        self.header_len = header.len;
        let contents_start = start.saturating_add(header.len);
        let depth = self.stack.len();
        let end = match header.contents_len {
            Some(len) => {
                let Some(end) = contents_start.checked_add(len) else {
                    return self.invalid(start, header.len);
                };
                if start.saturating_add(room) < end {
                    return self.invalid(start, header.len);
                }
                Some(end)
            }
            None if depth >= self.max_depth => return Err(self.depth_error()),
            None => None,
        };
        let head = Head {
            tag: header.tag,
            offset: start,
            header_len: header.len,
            len: header.contents_len,
            depth,
        };
        match self.stack.last() {
            Some(parent) if !parent.children_reported => {
                // Inside a skipped or captured value: framed, not reported.
                let what = parent.what;
                self.stack.push(Frame {
                    head,
                    end,
                    mode: if end.is_some() {
                        Mode::Opaque
                    } else {
                        Mode::Children
                    },
                    reported: false,
                    children_reported: false,
                    what,
                });
                let header = self.header;
                self.header_len = 0;
                self.keep(header.get(..head.header_len).unwrap_or_default())?;
                Ok(None)
            }
            _ => {
                self.pending = Some(head);
                Ok(Some(Event::Start(head)))
            }
        }
    }

    /// Takes from `input` the octets of a `used`-octet header of which `old` were taken
    /// before.
    fn consume(&mut self, input: &mut &[u8], used: usize, old: usize) {
        let fresh = used.saturating_sub(old).min(input.len());
        *input = input.get(fresh..).unwrap_or_default();
        self.pos = self.pos.saturating_add(fresh);
    }

    /// A framing error at `offset` inside an indefinite-length value, named as the
    /// whole-buffer reader names it: after the value whose framing walked into it.
    fn framing_error(&self, offset: usize) -> Error {
        let what = self.stack.last().map_or(self.top_what, |f| f.what);
        Error::malformed(what, offset)
    }

    /// A header at `start`, of which `len` octets are buffered, that cannot be read (or
    /// overruns its enclosing value).
    fn invalid<'i>(&self, start: usize, len: usize) -> Result<Option<Event<'i>>, Error> {
        match self.stack.last() {
            Some(parent) if parent.end.is_none() => Err(self.framing_error(start)),
            // The reader turns this into its error; the stream is not read further.
            _ => Ok(Some(Event::Invalid {
                offset: start,
                tag: ber::peek_identifier(self.header.get(..len).unwrap_or_default()),
            })),
        }
    }

    fn decide(&mut self, decision: Decision, what: &'static str) -> Result<(), Error> {
        let Some(head) = self.pending.take() else {
            return Err(Error::malformed(what, self.pos));
        };
        let what = match self.stack.last() {
            Some(parent) if parent.end.is_none() => parent.what,
            _ => what,
        };
        let end = head.end();
        let header = self.header;
        self.header_len = 0;
        let mode = match decision {
            Decision::Enter if head.tag.constructed => {
                if head.len.is_some() && head.depth >= self.max_depth {
                    return Err(self.depth_error());
                }
                Mode::Children
            }
            Decision::Enter => Mode::Data,
            Decision::Skip | Decision::Capture if end.is_some() => Mode::Opaque,
            Decision::Skip | Decision::Capture => Mode::Children,
        };
        if decision == Decision::Capture {
            let whole = head
                .len
                .map_or(head.header_len, |len| head.header_len.saturating_add(len));
            if whole > self.capture_left {
                return Err(Error::LimitExceeded {
                    limit: Limit::CmsHeaderSize,
                    value: self.max_capture,
                });
            }
            self.capture = Some(Vec::with_capacity(whole));
            self.keep(header.get(..head.header_len).unwrap_or_default())?;
        }
        self.stack.push(Frame {
            head,
            end,
            mode,
            reported: true,
            children_reported: decision == Decision::Enter,
            what,
        });
        Ok(())
    }

    /// Reads the contents of the value that just started: its children are reported, or
    /// for a primitive value its octets as [`Event::Data`]. `what` names it in framing
    /// errors.
    pub(crate) fn enter(&mut self, what: &'static str) -> Result<(), Error> {
        self.decide(Decision::Enter, what)
    }

    /// Passes over the value that just started (checking its framing as the whole-buffer
    /// reader would); its [`Event::End`] follows.
    pub(crate) fn skip(&mut self, what: &'static str) -> Result<(), Error> {
        self.decide(Decision::Skip, what)
    }

    /// Keeps the value that just started, whole (header included), for
    /// [`take_captured`](Self::take_captured) once its [`Event::End`] has come.
    pub(crate) fn capture(&mut self, what: &'static str) -> Result<(), Error> {
        self.decide(Decision::Capture, what)
    }

    /// The value captured last, once it has ended.
    pub(crate) fn take_captured(&mut self) -> Vec<u8> {
        self.captured.take().unwrap_or_default()
    }

    /// End of input: fails unless the outermost value has ended, with the error the
    /// whole-buffer reader gives for the same truncated input.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.done && self.header_len == 0 {
            return Ok(());
        }
        Err(Error::malformed(self.top_what, self.truncated_at()))
    }

    /// Where the whole-buffer reader fails on the input so far: framing from the outermost
    /// value inwards, the first definite-length value (its length overruns the input), or
    /// where an indefinite-length value has no room left for a child or its end.
    fn truncated_at(&self) -> usize {
        let header_start = self.pos.saturating_sub(self.header_len);
        for (i, frame) in self.stack.iter().enumerate() {
            if frame.end.is_some() {
                return frame.head.offset;
            }
            if i.saturating_add(1) < self.stack.len() {
                continue;
            }
            return if self.header_len < 2 {
                frame.head.offset
            } else {
                header_start
            };
        }
        header_start
    }
}

/// Reads a value captured whole at `head` with the whole-buffer reader, placed at its
/// offset and depth in the stream.
fn read_captured<'b>(
    bytes: &'b [u8],
    head: Head,
    limits: &Limits,
    what: &'static str,
) -> Result<Tlv<'b>, Error> {
    Reader::at(bytes, head.offset, head.depth, limits).read(what)
}

/// The offset an event is about, for errors.
fn offset_of(event: &Event<'_>) -> usize {
    match event {
        Event::Start(head) => head.offset,
        Event::End { contents_end, .. } => *contents_end,
        Event::Invalid { offset, .. } => *offset,
        Event::Data(_) => 0,
    }
}

/// An event a reader never asked for (a broken invariant of this module, not of the
/// input); reported rather than panicking.
fn unexpected(event: &Event<'_>) -> Error {
    Error::malformed("CMS stream", offset_of(event))
}

/// `Malformed { what, offset }` for an element expected where `event` is: the error of
/// `Reader::expect` (a missing element is reported where its parent's contents end).
fn expected(what: &'static str, event: &Event<'_>) -> Error {
    Error::malformed(what, offset_of(event))
}

/// Depth of the content (EnvelopedData, ...) inside `ContentInfo { contentType, [0] { content } }`.
const CONTENT_DEPTH: usize = 2;

/// Where [`ContentInfoReader`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Info {
    Start,
    Type,
    TypeEnd,
    Explicit,
    Content,
    Body,
    ExplicitEnd,
    Last,
    Done,
}

/// `ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }` around the content,
/// with the checks of `parse_content_info` and `expect_content_info` (RFC 5652 §3).
#[derive(Debug)]
struct ContentInfoReader {
    state: Info,
    expected: ContentType,
}

impl ContentInfoReader {
    fn new(expected: ContentType) -> Self {
        ContentInfoReader {
            state: Info::Start,
            expected,
        }
    }

    /// Handles the events of the ContentInfo itself; passes on those of the content: its
    /// children and everything in them, then its own [`Event::End`].
    fn on_event<'i>(
        &mut self,
        ber: &mut BerStream,
        limits: &Limits,
        event: Event<'i>,
    ) -> Result<Option<Event<'i>>, Error> {
        match (self.state, &event) {
            (Info::Body, Event::End { head, .. }) if head.depth == CONTENT_DEPTH => {
                self.state = Info::ExplicitEnd;
                return Ok(Some(event));
            }
            (Info::Body, _) => return Ok(Some(event)),
            (Info::Start, Event::Start(head)) => {
                if head.tag != Tag::SEQUENCE {
                    return Err(expected("ContentInfo", &event));
                }
                ber.enter("ContentInfo")?;
                self.state = Info::Type;
            }
            (Info::Start, Event::Invalid { .. }) => return Err(expected("ContentInfo", &event)),
            (Info::Type, Event::Start(head)) => {
                if head.tag != Tag::OID {
                    return Err(expected("contentType", &event));
                }
                ber.capture("contentType")?;
                self.state = Info::TypeEnd;
            }
            (Info::Type, Event::End { .. } | Event::Invalid { .. }) => {
                return Err(expected("contentType", &event));
            }
            (Info::TypeEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                let oid =
                    read_captured(&bytes, *head, limits, "contentType")?.oid("contentType")?;
                if oid != self.expected.oid() {
                    return Err(Error::UnsupportedAlgorithm {
                        kind: AlgorithmKind::ContentType,
                        oid,
                    });
                }
                self.state = Info::Explicit;
            }
            (Info::Explicit, Event::Start(head)) => {
                if head.tag != Tag::context(0, true) {
                    return Err(expected("content [0]", &event));
                }
                ber.enter("content [0]")?;
                self.state = Info::Content;
            }
            (Info::Explicit, Event::End { .. } | Event::Invalid { .. }) => {
                return Err(expected("content [0]", &event));
            }
            (Info::Content, Event::Start(head)) => {
                if head.tag != Tag::SEQUENCE {
                    return Err(expected("content", &event));
                }
                ber.enter("content")?;
                self.state = Info::Body;
            }
            (Info::Content, Event::End { .. } | Event::Invalid { .. }) => {
                return Err(expected("content", &event));
            }
            (Info::ExplicitEnd, Event::Start(_) | Event::Invalid { .. }) => {
                return Err(expected("content [0]", &event));
            }
            (Info::ExplicitEnd, Event::End { .. }) => self.state = Info::Last,
            (Info::Last, Event::Start(_) | Event::Invalid { .. }) => {
                return Err(expected("ContentInfo", &event));
            }
            (Info::Last, Event::End { .. }) => self.state = Info::Done,
            _ => return Err(unexpected(&event)),
        }
        Ok(None)
    }
}

/// Where [`EncapsulatedReader`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encap {
    Type,
    TypeEnd,
    Explicit,
    Octets,
    Primitive,
    Segments,
    ExplicitEnd,
    Last,
    Done,
}

/// What [`EncapsulatedReader`] gives its owner.
enum Encapsulated<'i> {
    /// Nothing yet.
    Nothing,
    /// eContent octets.
    Content(&'i [u8]),
    /// The eContent OCTET STRING ended (all its octets have been given).
    ContentEnd,
    /// The EncapsulatedContentInfo ended.
    Done,
}

/// `EncapsulatedContentInfo ::= SEQUENCE { eContentType, [0] EXPLICIT OCTET STRING
/// OPTIONAL }` (RFC 5652 §5.2), the eContent given as it streams, with the checks of
/// `parse_encapsulated` and `Tlv::octets`.
#[derive(Debug)]
struct EncapsulatedReader {
    state: Encap,
    /// Depth of the EncapsulatedContentInfo.
    depth: usize,
    content_type: Option<ObjectIdentifier>,
    /// Whether an eContent is present.
    present: bool,
    chunks: usize,
}

impl EncapsulatedReader {
    /// For the EncapsulatedContentInfo that just started at `head` (the owner has entered it).
    fn new(head: &Head) -> Self {
        EncapsulatedReader {
            state: Encap::Type,
            depth: head.depth,
            content_type: None,
            present: false,
            chunks: 0,
        }
    }

    fn on_event<'i>(
        &mut self,
        ber: &mut BerStream,
        limits: &Limits,
        event: Event<'i>,
    ) -> Result<Encapsulated<'i>, Error> {
        let octets_depth = self.depth.saturating_add(2);
        match (self.state, &event) {
            (Encap::Type, Event::Start(head)) => {
                if head.tag != Tag::OID {
                    return Err(expected("eContentType", &event));
                }
                ber.capture("eContentType")?;
                self.state = Encap::TypeEnd;
            }
            (Encap::Type, Event::End { .. } | Event::Invalid { .. }) => {
                return Err(expected("eContentType", &event));
            }
            (Encap::TypeEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                let oid =
                    read_captured(&bytes, *head, limits, "eContentType")?.oid("eContentType")?;
                self.content_type = Some(oid);
                self.state = Encap::Explicit;
            }
            (Encap::Explicit, Event::Start(head)) => {
                if !head.tag.same_type(Tag::context(0, true)) {
                    return Err(expected("EncapsulatedContentInfo", &event));
                }
                if !head.tag.constructed {
                    // Tlv::children on a primitive [0].
                    return Err(expected("eContent [0]", &event));
                }
                ber.enter("eContent [0]")?;
                self.state = Encap::Octets;
            }
            (Encap::Explicit, Event::Invalid { tag, .. }) => {
                return Err(if tag.is_some_and(|t| t.same_type(Tag::context(0, true))) {
                    expected("eContent [0]", &event)
                } else {
                    expected("EncapsulatedContentInfo", &event)
                });
            }
            (Encap::Explicit | Encap::Last, Event::End { .. }) => {
                self.state = Encap::Done;
                return Ok(Encapsulated::Done);
            }
            (Encap::Octets, Event::Start(head)) => {
                if !head.tag.same_type(Tag::OCTET_STRING) {
                    return Err(expected("eContent", &event));
                }
                ber.enter("eContent")?;
                self.present = true;
                self.state = if head.tag.constructed {
                    Encap::Segments
                } else {
                    Encap::Primitive
                };
            }
            (Encap::Octets, Event::End { .. } | Event::Invalid { .. }) => {
                return Err(expected("eContent", &event));
            }
            (Encap::Primitive | Encap::Segments, Event::Data(data)) => {
                return Ok(Encapsulated::Content(data));
            }
            (Encap::Primitive | Encap::Segments, Event::End { head, .. })
                if head.depth == octets_depth =>
            {
                self.state = Encap::ExplicitEnd;
                return Ok(Encapsulated::ContentEnd);
            }
            (Encap::Segments, Event::End { .. }) => {}
            (Encap::Segments, Event::Start(head)) => {
                if !head.tag.same_type(Tag::OCTET_STRING) {
                    return Err(expected("eContent", &event));
                }
                self.chunks = self.chunks.saturating_add(1);
                if self.chunks > limits.max_ber_chunks {
                    return Err(Limit::BerChunks.exceeded(limits));
                }
                ber.enter("eContent")?;
            }
            (Encap::Segments, Event::Invalid { .. }) => return Err(expected("eContent", &event)),
            (Encap::ExplicitEnd, Event::Start(_) | Event::Invalid { .. }) => {
                return Err(expected("eContent [0]", &event));
            }
            (Encap::ExplicitEnd, Event::End { .. }) => self.state = Encap::Last,
            (Encap::Last, Event::Start(_) | Event::Invalid { .. }) => {
                return Err(expected("EncapsulatedContentInfo", &event));
            }
            _ => return Err(unexpected(&event)),
        }
        Ok(Encapsulated::Nothing)
    }
}

/// The outcome of a call, kept: after an error every call fails the same way, and nothing
/// is read after `finish`.
#[derive(Debug, Default)]
struct Outcome {
    failed: Option<Error>,
    finished: bool,
}

impl Outcome {
    fn check(&self, pos: usize) -> Result<(), Error> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None if self.finished => Err(Error::malformed("CMS stream (already finished)", pos)),
            None => Ok(()),
        }
    }

    fn record<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }
}

/// A CBC decryptor for one of the content ciphers.
enum Cbc {
    Aes128(cbc::Decryptor<aes::Aes128>),
    Aes192(cbc::Decryptor<aes::Aes192>),
    Aes256(cbc::Decryptor<aes::Aes256>),
    TripleDes(cbc::Decryptor<des::TdesEde3>),
}

impl Cbc {
    /// `None` for a key or IV the cipher cannot take (facts of the envelope, no secret).
    fn new(cipher: ContentEncryption, key: &[u8], iv: &[u8]) -> Option<Self> {
        use cipher::KeyIvInit;
        Some(match cipher {
            ContentEncryption::Aes128Cbc => {
                Self::Aes128(cbc::Decryptor::new_from_slices(key, iv).ok()?)
            }
            ContentEncryption::Aes192Cbc => {
                Self::Aes192(cbc::Decryptor::new_from_slices(key, iv).ok()?)
            }
            ContentEncryption::Aes256Cbc => {
                Self::Aes256(cbc::Decryptor::new_from_slices(key, iv).ok()?)
            }
            ContentEncryption::TripleDesCbc => {
                Self::TripleDes(cbc::Decryptor::new_from_slices(key, iv).ok()?)
            }
            _ => return None,
        })
    }

    /// Decrypts `buffer`, a whole number of blocks, in place.
    fn decrypt(&mut self, buffer: &mut [u8]) {
        fn blocks<C>(decryptor: &mut cbc::Decryptor<C>, buffer: &mut [u8])
        where
            C: cipher::BlockCipherDecrypt,
            cbc::Decryptor<C>: cipher::BlockModeDecrypt,
        {
            use cipher::BlockModeDecrypt;
            let (blocks, _) = cipher::Block::<cbc::Decryptor<C>>::slice_as_chunks_mut(buffer);
            decryptor.decrypt_blocks(blocks);
        }
        match self {
            Self::Aes128(d) => blocks(d, buffer),
            Self::Aes192(d) => blocks(d, buffer),
            Self::Aes256(d) => blocks(d, buffer),
            Self::TripleDes(d) => blocks(d, buffer),
        }
    }
}

/// Where [`EnvelopedReader`] is, among the children of EnvelopedData and of its
/// EncryptedContentInfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Env {
    Version,
    VersionEnd,
    Originator,
    OriginatorEnd,
    Recipients,
    RecipientsEnd,
    Eci,
    EciType,
    EciTypeEnd,
    EciAlgorithm,
    EciAlgorithmEnd,
    EciContent,
    Ciphertext,
    EciEnd,
    Unprotected,
    UnprotectedEnd,
    /// AuthEnvelopedData: `authAttrs [1]`, `mac`, `unauthAttrs [2]`.
    AuthAttrs,
    AuthAttrsEnd,
    Mac,
    MacEnd,
    UnauthAttrs,
    UnauthAttrsEnd,
    Last,
    Done,
}

/// The content decryption of an envelope.
// One per envelope, the CBC state kept in place as before (the AEAD one is boxed).
#[allow(clippy::large_enum_variant)]
enum Decryptor {
    Cbc(Cbc),
    Aead(Box<AeadStream>),
}

/// How an envelope ended ([`EnvelopedReader::finish`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EnvelopeEnd {
    /// The content key unwrapped to the right length and (CBC) the padding was valid:
    /// for the operator's log only.
    pub well_formed: bool,
    /// For an authenticated cipher, whether the tag verified; `None` for CBC.
    pub authentic: Option<bool>,
}

/// Depth of the children of EnvelopedData.
/// Depth of the children of EncryptedContentInfo (the encryptedContent `[0]`).
const ECI_CHILD: usize = CONTENT_DEPTH + 2;

/// A `ContentInfo { envelopedData }` (RFC 5652 §6.1) read as it arrives, the content
/// decrypted as it streams.
///
/// Its errors are those of [`EnvelopedData::parse`](super::enveloped::EnvelopedData::parse)
/// followed by `decrypt_unchecked`, as `message::inbound` calls them (refusing 3DES
/// unless allowed, then taking the first of our keys whose certificate is a recipient); see
/// the [module docs](self) for what streaming changes. The same steps as
/// `decrypt_unchecked` run once the encryptedContent starts: the content key is unwrapped
/// by [`enveloped::unwrap_content_key`] (the very function `decrypt_unchecked` uses), and
/// nothing is decided on the secret: a key of the wrong length becomes a zero key, the
/// padding is checked with masks and left in place when invalid.
pub(crate) struct EnvelopedReader<'k> {
    ber: BerStream,
    info: ContentInfoReader,
    state: Env,
    limits: Limits,
    keys: &'k [(Certificate, PrivateKey)],
    accept_triple_des: bool,
    /// AuthEnvelopedData (RFC 5083) rather than EnvelopedData.
    auth: bool,
    /// The recipientInfos SET, captured, and its header.
    recipients: Option<(Vec<u8>, Head)>,
    eci_offset: usize,
    cipher: Option<(ContentEncryption, CipherParams)>,
    decryptor: Option<Decryptor>,
    /// AuthEnvelopedData's authAttrs as associated data (DER, SET OF), and its `mac`.
    aad: Vec<u8>,
    mac: Option<Vec<u8>>,
    key_ok: bool,
    decrypting: bool,
    chunks: usize,
    /// Ciphertext octets not decrypted yet: the last block, at least one octet of it,
    /// is always held back until `finish` (it holds the padding).
    held: [u8; 16],
    held_len: usize,
    ciphertext_len: usize,
    outcome: Outcome,
}

impl core::fmt::Debug for EnvelopedReader<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // No key material, no plaintext.
        f.debug_struct("EnvelopedReader")
            .field("state", &self.state)
            .field("cipher", &self.cipher())
            .field("decrypting", &self.decrypting)
            .finish_non_exhaustive()
    }
}

impl<'k> EnvelopedReader<'k> {
    /// A reader that decrypts with the first of `keys` (our certificates and private keys)
    /// whose certificate is a recipient. With `accept_triple_des` false, a 3DES content
    /// cipher is refused with [`Error::UnsupportedAlgorithm`] (kind
    /// [`AlgorithmKind::ContentEncryption`]), as `message::inbound` does.
    pub(crate) fn new(
        limits: &Limits,
        keys: &'k [(Certificate, PrivateKey)],
        accept_triple_des: bool,
    ) -> Self {
        Self::of_type(limits, keys, accept_triple_des, ContentType::EnvelopedData)
    }

    /// A reader for `ContentInfo { authEnvelopedData }` (RFC 5083), otherwise as
    /// [`new`](Self::new).
    pub(crate) fn new_auth(limits: &Limits, keys: &'k [(Certificate, PrivateKey)]) -> Self {
        Self::of_type(limits, keys, false, ContentType::AuthEnvelopedData)
    }

    fn of_type(
        limits: &Limits,
        keys: &'k [(Certificate, PrivateKey)],
        accept_triple_des: bool,
        content_type: ContentType,
    ) -> Self {
        EnvelopedReader {
            ber: BerStream::new(limits, "ContentInfo", "ContentInfo (trailing data)"),
            info: ContentInfoReader::new(content_type),
            state: Env::Version,
            limits: limits.clone(),
            keys,
            accept_triple_des,
            auth: content_type == ContentType::AuthEnvelopedData,
            recipients: None,
            eci_offset: 0,
            cipher: None,
            decryptor: None,
            aad: Vec::new(),
            mac: None,
            key_ok: false,
            decrypting: false,
            chunks: 0,
            held: [0; 16],
            held_len: 0,
            ciphertext_len: 0,
            outcome: Outcome::default(),
        }
    }

    /// Feeds envelope bytes (split anywhere) and appends the plaintext decrypted so far to
    /// `out`, always holding back the last complete block (it carries the padding) for
    /// [`finish`](Self::finish). `rng` blinds the RSA operation when the content key is
    /// unwrapped, once the encryptedContent starts.
    ///
    /// The recipientInfos are captured whole (within [`Limits::max_cms_header_size`],
    /// at most [`Limits::max_recipients`] of them) and checked when they end.
    pub(crate) fn push<R: CryptoRng + ?Sized>(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        rng: &mut R,
    ) -> Result<(), Error> {
        self.outcome.check(self.ber.pos())?;
        let result = self.run(input, out, rng);
        self.outcome.record(result)
    }

    /// The content cipher, once the contentEncryptionAlgorithm has been read.
    pub(crate) fn cipher(&self) -> Option<ContentEncryption> {
        self.cipher.as_ref().map(|(cipher, _)| *cipher)
    }

    /// Whether decryption has started (the content key was unwrapped): from then on, what
    /// `push` appends is unauthenticated plaintext.
    pub(crate) fn decrypting(&self) -> bool {
        self.decrypting
    }

    /// End of input: checks that the ContentInfo is complete and nothing follows (as the
    /// whole-buffer parser does), fails with [`Error::DecryptionFailed`] for a CBC
    /// ciphertext that is empty or not a whole number of blocks, then decrypts the last
    /// block, removes its PKCS #7 padding when valid (keeps it when not, computed with
    /// masks, as `decrypt_unchecked` does) and appends the rest. For an authenticated
    /// cipher, computes the tag and compares it with the received one (without a branch on
    /// the octets); a tag of the wrong length, or CCM content whose length does not fit
    /// its nonce, is a tag that does not verify.
    ///
    /// Returns how the envelope ended: whether the content key had the right length and
    /// the padding was valid (for the operator's log, never for the sender: garbage has
    /// valid padding as often as not; see [`super::enveloped`]), and whether the tag
    /// verified.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<EnvelopeEnd, Error> {
        self.outcome.check(self.ber.pos())?;
        let result = self.finish_inner(out);
        self.outcome.finished = true;
        self.outcome.record(result)
    }

    fn finish_inner(&mut self, out: &mut Vec<u8>) -> Result<EnvelopeEnd, Error> {
        self.ber.finish()?;
        let (Some((cipher, params)), Env::Done) = (&self.cipher, self.state) else {
            return Err(Error::malformed("EnvelopedData", self.ber.pos()));
        };
        if let CipherParams::Aead { tag_len, .. } = params {
            let tag_len = *tag_len;
            let Some(Decryptor::Aead(stream)) = self.decryptor.take() else {
                return Err(Error::DecryptionFailed);
            };
            let held = self.held.get(..self.held_len).unwrap_or_default();
            let received = match &self.mac {
                Some(mac) => mac.as_slice(),
                // EnvelopedData: the tag is the last `tag_len` octets of the ciphertext.
                None => held,
            };
            let tag_ok = received.len() == tag_len
                && stream
                    .tag(&self.aad)
                    .is_some_and(|full| super::aead::tag_matches(&full, received));
            self.held_len = 0;
            return Ok(EnvelopeEnd {
                well_formed: self.key_ok,
                authentic: Some(tag_ok),
            });
        }
        let block = cipher.block_len();
        let decryptor = match self.decryptor.as_mut() {
            Some(Decryptor::Cbc(d))
                if self.ciphertext_len != 0 && self.ciphertext_len.is_multiple_of(block) =>
            {
                d
            }
            // A ciphertext length that is not a whole number of blocks, or a key or IV of
            // the wrong size: visible in the envelope itself, so failing reveals nothing.
            _ => return Err(Error::DecryptionFailed),
        };
        let start = out.len();
        out.extend_from_slice(self.held.get(..self.held_len).unwrap_or_default());
        let last = out.get_mut(start..).unwrap_or_default();
        decryptor.decrypt(last);
        let (padding, padding_ok) = enveloped::pkcs7_padding(last, block);
        out.truncate(out.len().saturating_sub(padding));
        self.held_len = 0;
        Ok(EnvelopeEnd {
            well_formed: self.key_ok && padding_ok,
            authentic: None,
        })
    }

    fn run<R: CryptoRng + ?Sized>(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        rng: &mut R,
    ) -> Result<(), Error> {
        let mut input = input;
        while let Some(event) = self.ber.next(&mut input)? {
            if let Some(event) = self.info.on_event(&mut self.ber, &self.limits, event)? {
                self.on_event(event, out, rng)?;
            }
        }
        Ok(())
    }

    fn on_event<R: CryptoRng + ?Sized>(
        &mut self,
        event: Event<'_>,
        out: &mut Vec<u8>,
        rng: &mut R,
    ) -> Result<(), Error> {
        let ber = &mut self.ber;
        // The end of EnvelopedData itself, where a child was expected.
        let parent_end = matches!(&event, Event::End { head, .. } if head.depth == CONTENT_DEPTH);
        match (self.state, &event) {
            (Env::Version, Event::Start(head)) => {
                if head.tag != Tag::INTEGER {
                    return Err(expected("EnvelopedData version", &event));
                }
                ber.skip("EnvelopedData version")?;
                self.state = Env::VersionEnd;
            }
            (Env::Version, _) => return Err(expected("EnvelopedData version", &event)),
            (Env::VersionEnd, Event::End { .. }) => self.state = Env::Originator,
            (Env::Originator, Event::Start(head)) if head.tag.same_type(Tag::context(0, true)) => {
                ber.skip("originatorInfo")?;
                self.state = Env::OriginatorEnd;
            }
            (Env::Originator, Event::Invalid { tag: Some(tag), .. })
                if tag.same_type(Tag::context(0, true)) =>
            {
                return Err(expected("originatorInfo", &event));
            }
            (Env::OriginatorEnd, Event::End { .. }) => self.state = Env::Recipients,
            (Env::Originator | Env::Recipients, Event::Start(head)) => {
                if head.tag != Tag::SET {
                    return Err(expected("recipientInfos", &event));
                }
                ber.capture("recipientInfos")?;
                self.state = Env::RecipientsEnd;
            }
            (Env::Originator | Env::Recipients, _) => {
                return Err(expected("recipientInfos", &event));
            }
            (Env::RecipientsEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                // Checked now, as the whole-buffer parser checks them before the
                // EncryptedContentInfo; read again (from the kept bytes) at the content.
                let set = read_captured(&bytes, *head, &self.limits, "recipientInfos")?;
                enveloped::parse_recipients(&set, &self.limits)?;
                self.recipients = Some((bytes, *head));
                self.state = Env::Eci;
            }
            (Env::Eci, Event::Start(head)) => {
                if head.tag != Tag::SEQUENCE {
                    return Err(expected("encryptedContentInfo", &event));
                }
                ber.enter("encryptedContentInfo")?;
                self.eci_offset = head.offset;
                self.state = Env::EciType;
            }
            (Env::Eci, _) => return Err(expected("encryptedContentInfo", &event)),
            (Env::EciType, Event::Start(head)) => {
                if head.tag != Tag::OID {
                    return Err(expected("contentType", &event));
                }
                ber.skip("contentType")?;
                self.state = Env::EciTypeEnd;
            }
            (Env::EciType, _) => return Err(expected("contentType", &event)),
            (Env::EciTypeEnd, Event::End { .. }) => self.state = Env::EciAlgorithm,
            (Env::EciAlgorithm, Event::Start(head)) => {
                if head.tag != Tag::SEQUENCE {
                    return Err(expected("contentEncryptionAlgorithm", &event));
                }
                ber.capture("contentEncryptionAlgorithm")?;
                self.state = Env::EciAlgorithmEnd;
            }
            (Env::EciAlgorithm, _) => return Err(expected("contentEncryptionAlgorithm", &event)),
            (Env::EciAlgorithmEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                let id = read_captured(&bytes, *head, &self.limits, "contentEncryptionAlgorithm")?;
                let (cipher, params) = ContentEncryption::parse_params(&id)?;
                // AuthEnvelopedData needs an authenticated cipher (RFC 5083 §2.1).
                if (!self.accept_triple_des && cipher == ContentEncryption::TripleDesCbc)
                    || (self.auth && !cipher.is_authenticated())
                {
                    return Err(Error::UnsupportedAlgorithm {
                        kind: AlgorithmKind::ContentEncryption,
                        oid: cipher.oid(),
                    });
                }
                self.cipher = Some((cipher, params));
                self.state = Env::EciContent;
            }
            (Env::EciContent, Event::Start(head)) if head.tag.same_type(Tag::context(0, false)) => {
                // The ciphertext length, when a primitive encoding announces it (CCM).
                let len = (!head.tag.constructed).then_some(head.len).flatten();
                self.start_decryption(rng, len)?;
                self.ber.enter("encryptedContent")?;
                self.state = Env::Ciphertext;
            }
            (Env::EciContent, Event::Invalid { tag: Some(tag), .. })
                if tag.same_type(Tag::context(0, false)) =>
            {
                return Err(expected("encryptedContent", &event));
            }
            (Env::EciContent, _) => {
                return Err(Error::malformed(
                    "encryptedContent (absent)",
                    self.eci_offset,
                ));
            }
            (Env::Ciphertext, Event::Data(data)) => self.decrypt(data, out)?,
            (Env::Ciphertext, Event::Start(head)) => {
                // A segment of a constructed (chunked) encryptedContent: Tlv::octets.
                if !head.tag.same_type(Tag::OCTET_STRING) {
                    return Err(expected("encryptedContent", &event));
                }
                self.chunks = self.chunks.saturating_add(1);
                if self.chunks > self.limits.max_ber_chunks {
                    return Err(Limit::BerChunks.exceeded(&self.limits));
                }
                ber.enter("encryptedContent")?;
            }
            (Env::Ciphertext, Event::End { head, .. }) => {
                if head.depth == ECI_CHILD {
                    self.state = Env::EciEnd;
                }
            }
            (Env::Ciphertext, Event::Invalid { .. }) => {
                return Err(expected("encryptedContent", &event));
            }
            (Env::EciEnd, Event::End { .. }) if self.auth => self.state = Env::AuthAttrs,
            (Env::EciEnd, Event::End { .. }) => self.state = Env::Unprotected,
            (Env::AuthAttrs, Event::Start(head)) if head.tag.same_type(Tag::context(1, true)) => {
                if self.cipher.as_ref().is_some_and(|(c, _)| {
                    matches!(
                        c,
                        ContentEncryption::Aes128Ccm | ContentEncryption::Aes256Ccm
                    )
                }) {
                    // CBC-MAC takes associated data before the content, which has passed.
                    return Err(Error::UnsupportedFormat(
                        "AES-CCM with authenticated attributes",
                    ));
                }
                ber.capture("authAttrs")?;
                self.state = Env::AuthAttrsEnd;
            }
            (Env::AuthAttrs, Event::Invalid { tag: Some(tag), .. })
                if tag.same_type(Tag::context(1, true)) =>
            {
                return Err(expected("authAttrs", &event));
            }
            (Env::AuthAttrsEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                let attrs = read_captured(&bytes, *head, &self.limits, "authAttrs")?;
                // The associated data is the DER encoding with the SET OF tag (RFC 5083
                // §2.2): the received `[1]` retagged.
                let mut der = attrs.to_der()?.into_owned();
                if let Some(first) = der.first_mut() {
                    *first = 0x31;
                }
                self.aad = der;
                self.state = Env::Mac;
            }
            (Env::AuthAttrs | Env::Mac, Event::Start(head)) => {
                if !head.tag.same_type(Tag::OCTET_STRING) {
                    return Err(expected("mac", &event));
                }
                ber.capture("mac")?;
                self.state = Env::MacEnd;
            }
            (Env::AuthAttrs | Env::Mac, _) => return Err(expected("mac", &event)),
            (Env::MacEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                let mac = read_captured(&bytes, *head, &self.limits, "mac")?;
                let mac = mac.octets("mac")?.into_owned();
                // Longer than any tag: not a tag (shorter ones fail the comparison).
                if mac.len() > super::aead::MAX_TAG_LEN {
                    return Err(Error::malformed("mac", head.offset));
                }
                self.mac = Some(mac);
                self.state = Env::UnauthAttrs;
            }
            (Env::UnauthAttrs, Event::Start(head)) if head.tag.same_type(Tag::context(2, true)) => {
                ber.skip("unauthAttrs")?;
                self.state = Env::UnauthAttrsEnd;
            }
            (Env::UnauthAttrs, Event::Invalid { tag: Some(tag), .. })
                if tag.same_type(Tag::context(2, true)) =>
            {
                return Err(expected("unauthAttrs", &event));
            }
            (Env::UnauthAttrsEnd, Event::End { .. }) => self.state = Env::Last,
            (Env::EciEnd, _) => return Err(expected("EncryptedContentInfo", &event)),
            (Env::Unprotected, Event::Start(head)) if head.tag.same_type(Tag::context(1, true)) => {
                ber.skip("unprotectedAttrs")?;
                self.state = Env::UnprotectedEnd;
            }
            (Env::Unprotected, Event::Invalid { tag: Some(tag), .. })
                if tag.same_type(Tag::context(1, true)) =>
            {
                return Err(expected("unprotectedAttrs", &event));
            }
            (Env::UnprotectedEnd, Event::End { .. }) => self.state = Env::Last,
            (Env::Unprotected | Env::UnauthAttrs | Env::Last, Event::End { .. }) if parent_end => {
                self.state = Env::Done;
            }
            (Env::Unprotected | Env::UnauthAttrs | Env::Last, _) => {
                return Err(expected("EnvelopedData", &event));
            }
            _ => return Err(unexpected(&event)),
        }
        Ok(())
    }

    /// At the start of the encryptedContent: finds our key and unwraps the content key,
    /// exactly as `decrypt_unchecked` does. `len` is the ciphertext length when announced
    /// (CCM needs the content length first; without it the plaintext is kept until the
    /// end).
    fn start_decryption<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        len: Option<usize>,
    ) -> Result<(), Error> {
        let (Some((bytes, head)), Some((cipher, params))) = (self.recipients.take(), &self.cipher)
        else {
            return Err(Error::malformed("EnvelopedData", self.ber.pos()));
        };
        let set = read_captured(&bytes, head, &self.limits, "recipientInfos")?;
        let recipients = enveloped::parse_recipients(&set, &self.limits)?;
        let (certificate, key) = self
            .keys
            .iter()
            .find(|(certificate, _)| enveloped::is_recipient(&recipients, certificate))
            .ok_or(Error::NoMatchingRecipient)?;
        let (content_key, key_ok) =
            enveloped::unwrap_content_key(&recipients, *cipher, certificate, key, rng)?;
        self.decryptor = match params {
            CipherParams::Iv(iv) => Cbc::new(*cipher, &content_key, iv).map(Decryptor::Cbc),
            CipherParams::Aead { nonce, tag_len } => {
                // In EnvelopedData the tag ends the ciphertext.
                let appended = if self.auth { 0 } else { *tag_len };
                let content_len = len.map(|n| n.saturating_sub(appended) as u64);
                AeadStream::new(*cipher, &content_key, nonce, *tag_len, content_len)
                    .map(|s| Decryptor::Aead(Box::new(s)))
            }
        };
        self.key_ok = key_ok;
        self.decrypting = true;
        Ok(())
    }

    /// Decrypts what `data` completes, holding back the last block (or partial block) for
    /// CBC, the tag-long tail for an AEAD cipher in EnvelopedData, nothing for
    /// AuthEnvelopedData (its tag comes in `mac`).
    fn decrypt(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.ciphertext_len = self.ciphertext_len.saturating_add(data.len());
        let (cipher, keep) = match &self.cipher {
            Some((cipher, CipherParams::Aead { tag_len, .. })) => {
                (*cipher, if self.auth { 0 } else { *tag_len })
            }
            Some((cipher, CipherParams::Iv(_))) => (*cipher, 0),
            None => (ContentEncryption::Aes256Cbc, 0),
        };
        if cipher.is_authenticated() {
            return self.decrypt_aead(data, keep, out);
        }
        let block = cipher.block_len();
        let total = self.held_len.saturating_add(data.len());
        if total <= block {
            if let Some(slot) = self.held.get_mut(self.held_len..total) {
                slot.copy_from_slice(data);
            }
            self.held_len = total;
            return Ok(());
        }
        // Keep 1 to `block` octets: the last block may be the last one of the content.
        let keep = total
            .saturating_sub(1)
            .checked_rem(block)
            .unwrap_or_default()
            .saturating_add(1);
        let ready = total.saturating_sub(keep);
        // `ready` is a whole number of blocks, at least one, and takes all that was held
        // (at most one block) plus the front of `data`; the new held octets come from
        // the end of `data`.
        let from_data = ready.saturating_sub(self.held_len);
        let (front, back) = data.split_at(from_data.min(data.len()));
        if let Some(Decryptor::Cbc(decryptor)) = self.decryptor.as_mut() {
            let start = out.len();
            out.extend_from_slice(self.held.get(..self.held_len).unwrap_or_default());
            out.extend_from_slice(front);
            decryptor.decrypt(out.get_mut(start..).unwrap_or_default());
        }
        if let Some(slot) = self.held.get_mut(..back.len()) {
            slot.copy_from_slice(back);
        }
        self.held_len = back.len();
        Ok(())
    }

    /// AEAD: decrypts all but the last `keep` octets seen so far, which are held back.
    fn decrypt_aead(&mut self, data: &[u8], keep: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        let total = self.held_len.saturating_add(data.len());
        if total <= keep {
            if let Some(slot) = self.held.get_mut(self.held_len..total) {
                slot.copy_from_slice(data);
            }
            self.held_len = total;
            return Ok(());
        }
        let ready = total.saturating_sub(keep);
        let from_held = ready.min(self.held_len);
        let from_data = ready.saturating_sub(from_held);
        let (front, back) = data.split_at(from_data.min(data.len()));
        let start = out.len();
        out.extend_from_slice(self.held.get(..from_held).unwrap_or_default());
        out.extend_from_slice(front);
        if let Some(Decryptor::Aead(stream)) = self.decryptor.as_mut() {
            stream.decrypt(out.get_mut(start..).unwrap_or_default())?;
        } else {
            // No usable key or nonce: nothing comes out (the tag cannot verify).
            out.truncate(start);
        }
        // The new held octets: what was held and not used, then the end of `data`.
        let mut held = [0u8; 16];
        let old = self.held.get(from_held..self.held_len).unwrap_or_default();
        let new_len = old.len().saturating_add(back.len());
        if let Some(slot) = held.get_mut(..old.len()) {
            slot.copy_from_slice(old);
        }
        if let Some(slot) = held.get_mut(old.len()..new_len) {
            slot.copy_from_slice(back);
        }
        self.held = held;
        self.held_len = new_len;
        Ok(())
    }
}

/// How far the inflater has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Zlib {
    /// Inflating.
    Running,
    /// The zlib stream ended (adler-32 checked); octets after it are ignored, as
    /// `decompress_to_vec_zlib_with_limit` ignores them.
    Done,
    /// The zlib stream is bad (or ended early).
    Failed,
    /// The output passed a cap before the stream ended.
    Over,
}

/// zlib (RFC 1950) inflated as it streams, with miniz_oxide's core inflater and the same
/// flags as the whole-buffer `decompress_to_vec_zlib_with_limit`.
///
/// While fewer than 32 KiB have come out, the window is used as a non-wrapping output
/// buffer exactly as the whole-buffer call uses its output, so that a distance reaching
/// before the start of the output is refused alike (a wrapping buffer would read zeros);
/// after that, every distance deflate can express lies within the window, which wraps.
struct Inflater {
    decompressor: Box<DecompressorOxide>,
    window: Vec<u8>,
    /// Where the next output goes in `window`.
    window_pos: usize,
    /// Compressed octets seen.
    compressed: usize,
    /// Octets inflated (including any beyond a cap, which are not emitted).
    produced: usize,
    state: Zlib,
}

impl Inflater {
    fn new() -> Self {
        Inflater {
            decompressor: Box::default(),
            window: vec![0; TINFL_LZ_DICT_SIZE],
            window_pos: 0,
            compressed: 0,
            produced: 0,
            state: Zlib::Running,
        }
    }

    /// Inflates `input` (`more`: more input may follow), appending to `out` at most what
    /// keeps the output within `cap` octets.
    fn run(&mut self, mut input: &[u8], more: bool, cap: usize, out: &mut Vec<u8>) {
        while self.state == Zlib::Running {
            let mut flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER;
            if more {
                flags |= inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
            }
            let linear = self.produced < TINFL_LZ_DICT_SIZE;
            if linear {
                flags |= inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
            }
            let (status, used, written) = decompress(
                &mut self.decompressor,
                input,
                &mut self.window,
                self.window_pos,
                flags,
            );
            input = input.get(used..).unwrap_or_default();
            let fresh = self
                .window
                .get(self.window_pos..self.window_pos.saturating_add(written))
                .unwrap_or_default();
            let allowed = cap.saturating_sub(self.produced).min(fresh.len());
            out.extend_from_slice(fresh.get(..allowed).unwrap_or_default());
            self.produced = self.produced.saturating_add(written);
            // The window length is a power of two.
            self.window_pos = self.window_pos.saturating_add(written) & (TINFL_LZ_DICT_SIZE - 1);
            if self.produced > cap {
                self.state = Zlib::Over;
            }
            match status {
                TINFLStatus::Done => self.state = Zlib::Done,
                TINFLStatus::NeedsMoreInput => return,
                // The window is full: it wraps (or, leaving linear use, starts wrapping).
                TINFLStatus::HasMoreOutput if written > 0 || used > 0 => {}
                _ => self.state = Zlib::Failed,
            }
        }
    }
}

/// Where [`CompressedReader`] is, among the children of CompressedData.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comp {
    Version,
    VersionEnd,
    Algorithm,
    AlgorithmEnd,
    Encapsulated,
    InEncapsulated,
    Last,
    Done,
}

/// A `ContentInfo { compressedData }` (RFC 3274) read as it arrives, the zlib content
/// inflated as it streams.
///
/// # Caps
///
/// [`CompressedData::decompress`](super::compressed::CompressedData::decompress) caps the
/// output at `C = min(N × max_expansion_ratio, max_decompressed_size)` octets, `N` being
/// the number of compressed octets, and fails with [`Limit::ExpansionRatio`] when
/// `N × max_expansion_ratio < max_decompressed_size`, [`Limit::DecompressedSize`]
/// otherwise, as soon as the inflater would write octet `C + 1` (even if the zlib stream
/// is bad further on). While streaming `N` is not known; with `c` compressed octets seen
/// and `N_max = c` + the octets the enclosing definite lengths (or
/// [`Limits::max_body_size`]) leave room for, so that `c ≤ N ≤ N_max` (exactly `N` for a
/// definite-length eContent, the common case), the reader:
///
/// - emits the output as it comes, never more than `min(N_max × ratio, max)` octets;
/// - fails with `ExpansionRatio` once the output passes `N_max × ratio` and that is below
///   `max_decompressed_size` (then it has certainly passed `C`, a ratio cap);
/// - stops inflating once the output passes `max_decompressed_size` (it has certainly
///   passed `C`), failing with `DecompressedSize` if `c × ratio ≥ max` already, otherwise
///   as soon as the eContent ends (`N` known) with the limit the rule above names;
/// - on a bad zlib stream, fails with [`Error::DecompressionFailed`] at once if the output
///   so far is within `min(c × ratio, max) ≤ C`, otherwise when the eContent ends:
///   the limit if the output passed `C`, `DecompressionFailed` if not;
/// - when the eContent ends: fails with the limit if the output passed `C`, with
///   `DecompressionFailed` if the zlib stream is bad or unfinished.
///
/// So the outcome is `decompress()`'s for the complete input, and a definite-length bomb
/// fails as early as there.
pub(crate) struct CompressedReader {
    ber: BerStream,
    info: ContentInfoReader,
    state: Comp,
    limits: Limits,
    encapsulated: Option<EncapsulatedReader>,
    encapsulated_offset: usize,
    inflater: Inflater,
    outcome: Outcome,
}

impl core::fmt::Debug for CompressedReader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CompressedReader")
            .field("state", &self.state)
            .field("compressed", &self.inflater.compressed)
            .field("produced", &self.inflater.produced)
            .finish_non_exhaustive()
    }
}

impl CompressedReader {
    /// A reader under `limits` (the caps above, BER limits, [`Limits::max_body_size`]).
    pub(crate) fn new(limits: &Limits) -> Self {
        CompressedReader {
            ber: BerStream::new(limits, "ContentInfo", "ContentInfo (trailing data)"),
            info: ContentInfoReader::new(ContentType::CompressedData),
            state: Comp::Version,
            limits: limits.clone(),
            encapsulated: None,
            encapsulated_offset: 0,
            inflater: Inflater::new(),
            outcome: Outcome::default(),
        }
    }

    /// Feeds CompressedData bytes (split anywhere) and appends what they inflate to.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.outcome.check(self.ber.pos())?;
        let result = self.run(input, out);
        self.outcome.record(result)
    }

    /// End of input: checks that the ContentInfo is complete and nothing follows. The
    /// output is complete once this returns `Ok`.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.outcome.check(self.ber.pos())?;
        let result = self.ber.finish().and_then(|()| {
            if self.state == Comp::Done {
                Ok(())
            } else {
                Err(Error::malformed("CompressedData", self.ber.pos()))
            }
        });
        // The output was completed when the eContent ended.
        let _ = out;
        self.outcome.finished = true;
        self.outcome.record(result)
    }

    fn run(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let mut input = input;
        while let Some(event) = self.ber.next(&mut input)? {
            if let Some(event) = self.info.on_event(&mut self.ber, &self.limits, event)? {
                self.on_event(event, out)?;
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
        let ber = &mut self.ber;
        match (self.state, &event) {
            (Comp::Version, Event::Start(head)) => {
                if head.tag != Tag::INTEGER {
                    return Err(expected("CompressedData version", &event));
                }
                ber.skip("CompressedData version")?;
                self.state = Comp::VersionEnd;
            }
            (Comp::Version, _) => return Err(expected("CompressedData version", &event)),
            (Comp::VersionEnd, Event::End { .. }) => self.state = Comp::Algorithm,
            (Comp::Algorithm, Event::Start(head)) => {
                if head.tag != Tag::SEQUENCE {
                    return Err(expected("compressionAlgorithm", &event));
                }
                ber.capture("compressionAlgorithm")?;
                self.state = Comp::AlgorithmEnd;
            }
            (Comp::Algorithm, _) => return Err(expected("compressionAlgorithm", &event)),
            (Comp::AlgorithmEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                let id = read_captured(&bytes, *head, &self.limits, "compressionAlgorithm")?;
                let algorithm = decode_identifier(&id, "compressionAlgorithm")?;
                if algorithm.oid != oid::ZLIB_COMPRESS {
                    return Err(Error::UnsupportedAlgorithm {
                        kind: AlgorithmKind::Compression,
                        oid: algorithm.oid,
                    });
                }
                self.state = Comp::Encapsulated;
            }
            (Comp::Encapsulated, Event::Start(head)) => {
                if head.tag != Tag::SEQUENCE {
                    return Err(expected("encapContentInfo", &event));
                }
                ber.enter("encapContentInfo")?;
                self.encapsulated = Some(EncapsulatedReader::new(head));
                self.encapsulated_offset = head.offset;
                self.state = Comp::InEncapsulated;
            }
            (Comp::Encapsulated, _) => return Err(expected("encapContentInfo", &event)),
            (Comp::InEncapsulated, _) => {
                let Some(encapsulated) = self.encapsulated.as_mut() else {
                    return Err(unexpected(&event));
                };
                match encapsulated.on_event(ber, &self.limits, event)? {
                    Encapsulated::Nothing => {}
                    Encapsulated::Content(data) => self.inflate(data, out)?,
                    Encapsulated::ContentEnd => self.content_end(out)?,
                    Encapsulated::Done => self.state = Comp::Last,
                }
            }
            (Comp::Last, Event::End { head, .. }) if head.depth == CONTENT_DEPTH => {
                if !self.encapsulated.as_ref().is_some_and(|e| e.present) {
                    return Err(Error::malformed(
                        "compressed content (absent)",
                        self.encapsulated_offset,
                    ));
                }
                self.state = Comp::Done;
            }
            (Comp::Last, _) => return Err(expected("CompressedData", &event)),
            _ => return Err(unexpected(&event)),
        }
        Ok(())
    }

    /// `(cap, limit)` of `decompress()` for `n` compressed octets.
    fn cap_for(&self, n: usize) -> (usize, Limit) {
        let by_ratio = n.saturating_mul(self.limits.max_expansion_ratio);
        if by_ratio < self.limits.max_decompressed_size {
            (by_ratio, Limit::ExpansionRatio)
        } else {
            (self.limits.max_decompressed_size, Limit::DecompressedSize)
        }
    }

    /// Inflates eContent octets, failing as soon as the outcome is certain (see the
    /// type's docs).
    fn inflate(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let inflater = &mut self.inflater;
        inflater.compressed = inflater.compressed.saturating_add(data.len());
        let seen = inflater.compressed;
        // The eContent OCTET STRING is at depth CONTENT_DEPTH + 3; nothing of it lies
        // beyond the nearest definite end at or above it, nor beyond the body limit.
        let room_end = self
            .ber
            .definite_end(CONTENT_DEPTH.saturating_add(3))
            .unwrap_or(self.limits.max_body_size)
            .min(self.limits.max_body_size);
        let most = seen.saturating_add(room_end.saturating_sub(self.ber.pos()));
        let (soft_cap, _) = self.cap_for(most);
        self.inflater.run(data, true, soft_cap, out);
        let produced = self.inflater.produced;
        let max = self.limits.max_decompressed_size;
        match self.cap_for(most) {
            (cap, Limit::ExpansionRatio) if produced > cap => {
                return Err(Limit::ExpansionRatio.exceeded(&self.limits));
            }
            _ => {}
        }
        if produced > max && seen.saturating_mul(self.limits.max_expansion_ratio) >= max {
            return Err(Limit::DecompressedSize.exceeded(&self.limits));
        }
        if self.inflater.state == Zlib::Failed && produced <= self.cap_for(seen).0 {
            // Within the cap for what has been seen, so within the final one.
            return Err(Error::DecompressionFailed);
        }
        Ok(())
    }

    /// The eContent ended: `N` is known, the outcome is `decompress()`'s.
    fn content_end(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let (cap, limit) = self.cap_for(self.inflater.compressed);
        if self.inflater.state == Zlib::Running {
            // No more input: what the whole-buffer call sees at the end of its input.
            self.inflater.run(&[], false, cap, out);
        }
        if self.inflater.produced > cap {
            return Err(limit.exceeded(&self.limits));
        }
        match self.inflater.state {
            Zlib::Done => Ok(()),
            _ => Err(Error::DecompressionFailed),
        }
    }
}

/// Where [`SignedReader`] is, among the children of SignedData.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sig {
    Version,
    VersionEnd,
    Digests,
    DigestsEnd,
    Encapsulated,
    InEncapsulated,
    Certificates,
    CertificatesEnd,
    Crls,
    CrlsEnd,
    SignerInfos,
    SignerInfosEnd,
    Last,
    Done,
}

/// A `ContentInfo { signedData }` with encapsulated content (an opaque signature,
/// `smime-type=signed-data`) read as it arrives: the eContent octets are emitted as they
/// stream and hashed on the fly with every digest algorithm of the digestAlgorithms we
/// support (at most one hasher per algorithm, so at most four); the certificates and
/// signerInfos are captured (within [`Limits::max_cms_header_size`]) and the signature is
/// verified by [`finish`](Self::finish).
///
/// The content is unauthenticated until `finish` returns `Ok`.
pub(crate) struct SignedReader {
    ber: BerStream,
    info: ContentInfoReader,
    state: Sig,
    limits: Limits,
    hashers: Vec<(DigestAlgorithm, Hasher)>,
    encapsulated: Option<EncapsulatedReader>,
    certificates: Vec<Certificate>,
    signer_infos: Option<(Vec<u8>, Head)>,
    outcome: Outcome,
}

impl core::fmt::Debug for SignedReader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedReader")
            .field("state", &self.state)
            .field(
                "digests",
                &self.hashers.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl SignedReader {
    /// A reader under `limits` (BER limits, [`Limits::max_certificates`],
    /// [`Limits::max_signers`], [`Limits::max_cms_header_size`], ...).
    pub(crate) fn new(limits: &Limits) -> Self {
        SignedReader {
            ber: BerStream::new(limits, "ContentInfo", "ContentInfo (trailing data)"),
            info: ContentInfoReader::new(ContentType::SignedData),
            state: Sig::Version,
            limits: limits.clone(),
            hashers: Vec::new(),
            encapsulated: None,
            certificates: Vec::new(),
            signer_infos: None,
            outcome: Outcome::default(),
        }
    }

    /// Feeds SignedData bytes (split anywhere) and appends the eContent octets that
    /// arrived to `out`.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.outcome.check(self.ber.pos())?;
        let result = self.run(input, out);
        self.outcome.record(result)
    }

    /// End of input: checks that the ContentInfo is complete and nothing follows, reads the
    /// signerInfos and verifies, with the result of
    /// `SignedData::parse(whole).verify(None, certificates)`: [`Verified`], or the same
    /// error (an absent eContent gives [`VerificationError::ContentMismatch`]). A signer
    /// whose digest algorithm the digestAlgorithms did not announce fails with
    /// [`VerificationError::UnannouncedDigest`] (see the [module docs](self)).
    pub(crate) fn finish(&mut self, certificates: &[Certificate]) -> Result<Verified, Error> {
        self.outcome.check(self.ber.pos())?;
        let result = self.finish_inner(certificates);
        self.outcome.finished = true;
        self.outcome.record(result)
    }

    fn finish_inner(&mut self, certificates: &[Certificate]) -> Result<Verified, Error> {
        self.ber.finish()?;
        let (Some((bytes, head)), Some(encapsulated), Sig::Done) = (
            self.signer_infos.take(),
            self.encapsulated.as_ref(),
            self.state,
        ) else {
            return Err(Error::malformed("SignedData", self.ber.pos()));
        };
        let (Some(content_type), present) = (encapsulated.content_type, encapsulated.present)
        else {
            return Err(Error::malformed("SignedData", self.ber.pos()));
        };
        let infos = read_captured(&bytes, head, &self.limits, "signerInfos")?;
        let signers = signed::parse_signer_infos(&infos, &self.limits)?;
        let signed = SignedData::from_parts(
            content_type,
            core::mem::take(&mut self.certificates),
            signers,
        );
        if !present {
            return Err(VerificationError::ContentMismatch.into());
        }
        let digests: Vec<(DigestAlgorithm, Vec<u8>)> = core::mem::take(&mut self.hashers)
            .into_iter()
            .map(|(digest, hasher)| (digest, hasher.finish()))
            .collect();
        let digest_of = |wanted: DigestAlgorithm| {
            digests
                .iter()
                .find(|(digest, _)| *digest == wanted)
                .map(|(_, value)| value.clone())
        };
        signed.verify_digests(&digest_of, certificates)
    }

    fn run(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let mut input = input;
        while let Some(event) = self.ber.next(&mut input)? {
            if let Some(event) = self.info.on_event(&mut self.ber, &self.limits, event)? {
                self.on_event(event, out)?;
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
        let ber = &mut self.ber;
        let optional = |tag: &Option<Tag>, number: u32| {
            tag.is_some_and(|t| t.same_type(Tag::context(number, true)))
        };
        match (self.state, &event) {
            (Sig::Version, Event::Start(head)) => {
                if head.tag != Tag::INTEGER {
                    return Err(expected("SignedData version", &event));
                }
                ber.skip("SignedData version")?;
                self.state = Sig::VersionEnd;
            }
            (Sig::Version, _) => return Err(expected("SignedData version", &event)),
            (Sig::VersionEnd, Event::End { .. }) => self.state = Sig::Digests,
            (Sig::Digests, Event::Start(head)) => {
                if head.tag != Tag::SET {
                    return Err(expected("digestAlgorithms", &event));
                }
                ber.capture("digestAlgorithms")?;
                self.state = Sig::DigestsEnd;
            }
            (Sig::Digests, _) => return Err(expected("digestAlgorithms", &event)),
            (Sig::DigestsEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                self.hashers = announced_digests(&bytes, *head, &self.limits)
                    .into_iter()
                    .map(|digest| (digest, digest.hasher()))
                    .collect();
                self.state = Sig::Encapsulated;
            }
            (Sig::Encapsulated, Event::Start(head)) => {
                if head.tag != Tag::SEQUENCE {
                    return Err(expected("encapContentInfo", &event));
                }
                ber.enter("encapContentInfo")?;
                self.encapsulated = Some(EncapsulatedReader::new(head));
                self.state = Sig::InEncapsulated;
            }
            (Sig::Encapsulated, _) => return Err(expected("encapContentInfo", &event)),
            (Sig::InEncapsulated, _) => {
                let Some(encapsulated) = self.encapsulated.as_mut() else {
                    return Err(unexpected(&event));
                };
                match encapsulated.on_event(ber, &self.limits, event)? {
                    Encapsulated::Nothing | Encapsulated::ContentEnd => {}
                    Encapsulated::Content(data) => {
                        for (_, hasher) in &mut self.hashers {
                            hasher.update(data);
                        }
                        out.extend_from_slice(data);
                    }
                    Encapsulated::Done => self.state = Sig::Certificates,
                }
            }
            (Sig::Certificates, Event::Start(head))
                if head.tag.same_type(Tag::context(0, true)) =>
            {
                ber.capture("certificates")?;
                self.state = Sig::CertificatesEnd;
            }
            (Sig::Certificates, Event::Invalid { tag, .. }) if optional(tag, 0) => {
                return Err(expected("certificates", &event));
            }
            (Sig::CertificatesEnd, Event::End { head, .. }) => {
                let bytes = ber.take_captured();
                let set = read_captured(&bytes, *head, &self.limits, "certificates")?;
                self.certificates = signed::parse_certificates(&set, &self.limits)?;
                self.state = Sig::Crls;
            }
            (Sig::Certificates | Sig::Crls, Event::Start(head))
                if head.tag.same_type(Tag::context(1, true)) =>
            {
                ber.skip("crls")?;
                self.state = Sig::CrlsEnd;
            }
            (Sig::Certificates | Sig::Crls, Event::Invalid { tag, .. }) if optional(tag, 1) => {
                return Err(expected("crls", &event));
            }
            (Sig::CrlsEnd, Event::End { .. }) => self.state = Sig::SignerInfos,
            (Sig::Certificates | Sig::Crls | Sig::SignerInfos, Event::Start(head)) => {
                if head.tag != Tag::SET {
                    return Err(expected("signerInfos", &event));
                }
                ber.capture("signerInfos")?;
                self.state = Sig::SignerInfosEnd;
            }
            (Sig::Certificates | Sig::Crls | Sig::SignerInfos, _) => {
                return Err(expected("signerInfos", &event));
            }
            (Sig::SignerInfosEnd, Event::End { head, .. }) => {
                // Read at `finish`, after the rest of the structure, as the whole-buffer
                // parser reads them after `SignedData` has ended.
                self.signer_infos = Some((ber.take_captured(), *head));
                self.state = Sig::Last;
            }
            (Sig::Last, Event::End { head, .. }) if head.depth == CONTENT_DEPTH => {
                self.state = Sig::Done;
            }
            (Sig::Last, _) => return Err(expected("SignedData", &event)),
            _ => return Err(unexpected(&event)),
        }
        Ok(())
    }
}

/// The digest algorithms we support among a captured digestAlgorithms SET, each once. The
/// whole-buffer parser does not read this SET, so nothing in it is an error: what cannot
/// be read is passed over.
fn announced_digests(bytes: &[u8], head: Head, limits: &Limits) -> Vec<DigestAlgorithm> {
    let mut found = Vec::new();
    let Ok(mut set) = read_captured(bytes, head, limits, "digestAlgorithms")
        .and_then(|set| set.children("digestAlgorithms"))
    else {
        return found;
    };
    while !set.is_empty() {
        let Ok(identifier) = set.read("digestAlgorithm") else {
            break;
        };
        if let Ok(digest) = DigestAlgorithm::parse(&identifier)
            && !found.contains(&digest)
        {
            found.push(digest);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    //! Every reader against its whole-buffer counterpart, for many chunkings (one push,
    //! one octet at a time, random sizes with empty pushes, splits inside headers) of
    //! valid and broken inputs in DER, indefinite-length BER with chunked strings, and
    //! long-form lengths.

    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::*;
    use crate::cms::algorithm::{KeyTransport, SignatureAlgorithm, SignatureScheme};
    use crate::cms::compressed::{CompressOptions, CompressedData, compress};
    use crate::cms::enveloped::{EncryptOptions, EnvelopedData, encrypt};
    use crate::cms::signed::{SignOptions, Signer, SignerSource, sign_detached, sign_encapsulated};

    // ---- deterministic chunkings -------------------------------------------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// How an input is split into pushes.
    #[derive(Clone, Copy, Debug)]
    enum Plan {
        /// One push.
        Whole,
        /// One octet per push: every header split at every octet.
        Bytes,
        /// Random sizes in `0..=max` (empty pushes included), from a seed.
        Random(u64, usize),
        /// Two pushes, split at an offset.
        At(usize),
    }

    fn split(input: &[u8], plan: Plan) -> Vec<&[u8]> {
        match plan {
            Plan::Whole => vec![input],
            Plan::Bytes => input.chunks(1).collect(),
            Plan::At(k) => {
                let (a, b) = input.split_at(k.min(input.len()));
                vec![a, b]
            }
            Plan::Random(seed, max) => {
                let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
                let mut rest = input;
                let mut out = Vec::new();
                while !rest.is_empty() {
                    let (a, b) = rest.split_at(rng.below(max + 1).min(rest.len()));
                    out.push(a);
                    rest = b;
                }
                out
            }
        }
    }

    /// Many plans: whole, octet by octet, and random sizes small (splits inside headers),
    /// medium and large, several seeds each.
    fn plans() -> Vec<Plan> {
        let mut plans = vec![Plan::Whole, Plan::Bytes];
        for seed in 1..=5 {
            plans.extend([
                Plan::Random(seed, 3),
                Plan::Random(seed, 37),
                Plan::Random(seed, 600),
            ]);
        }
        plans
    }

    /// A few plans, for expensive cases (an RSA decryption per run).
    fn few_plans(len: usize) -> Vec<Plan> {
        vec![
            Plan::Whole,
            Plan::Bytes,
            Plan::Random(7, 3),
            Plan::Random(8, 90),
            Plan::At(len / 2),
        ]
    }

    // ---- BER re-encoding -------------------------------------------------------------------

    /// A BER value, to re-encode in another form.
    #[derive(Clone, Debug)]
    enum Node {
        Primitive(Tag, Vec<u8>),
        Constructed(Tag, Vec<Node>),
        /// Kept as received: SETs (signed attributes are hashed as received).
        Kept(Vec<u8>),
    }

    fn tree(input: &[u8]) -> Node {
        let limits = Limits::default();
        node(&Reader::new(input, &limits).read("value").unwrap())
    }

    fn node(tlv: &Tlv<'_>) -> Node {
        if tlv.tag == Tag::SET {
            return Node::Kept(tlv.raw.to_vec());
        }
        if tlv.tag.same_type(Tag::OCTET_STRING) {
            return Node::Primitive(
                Tag::OCTET_STRING,
                tlv.octets("octets").unwrap().into_owned(),
            );
        }
        if !tlv.tag.constructed {
            return Node::Primitive(tlv.tag, tlv.contents.to_vec());
        }
        let mut children = Vec::new();
        let mut r = tlv.children("value").unwrap();
        while !r.is_empty() {
            children.push(node(&r.read("value").unwrap()));
        }
        Node::Constructed(tlv.tag, children)
    }

    impl Node {
        /// The value at `path` (child indexes).
        fn at(&mut self, path: &[usize]) -> &mut Node {
            match (path.split_first(), self) {
                (None, node) => node,
                (Some((i, rest)), Node::Constructed(_, children)) => children[*i].at(rest),
                _ => panic!("no value at {path:?}"),
            }
        }

        /// The contents of a primitive value.
        fn bytes(&mut self) -> &mut Vec<u8> {
            match self {
                Node::Primitive(_, bytes) => bytes,
                other => panic!("not primitive: {other:?}"),
            }
        }

        fn children(&mut self) -> &mut Vec<Node> {
            match self {
                Node::Constructed(_, children) => children,
                other => panic!("not constructed: {other:?}"),
            }
        }
    }

    /// How to encode.
    #[derive(Clone, Copy, Debug)]
    enum Style {
        Der,
        /// Indefinite lengths everywhere, OCTET STRINGs and `[0]` IMPLICIT OCTET STRINGs
        /// in random segments (empty ones, nested constructed ones of both lengths).
        Indefinite(u64),
        /// Definite lengths, all in the 4-octet long form.
        LongForm,
    }

    fn identifier(tag: Tag) -> Vec<u8> {
        let mut out = Vec::new();
        ber::write_header(&mut out, tag, 0);
        out.pop();
        out
    }

    fn length(out: &mut Vec<u8>, len: usize, style: Style) {
        match style {
            Style::LongForm => {
                out.push(0x84);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            _ => ber::write_length(out, len),
        }
    }

    fn encode(node: &Node, style: Style) -> Vec<u8> {
        let mut rng = XorShift(match style {
            Style::Indefinite(seed) => seed | 1,
            _ => 1,
        });
        let mut out = Vec::new();
        encode_into(node, style, &mut rng, &mut out);
        out
    }

    fn encode_into(node: &Node, style: Style, rng: &mut XorShift, out: &mut Vec<u8>) {
        match node {
            Node::Kept(bytes) => out.extend_from_slice(bytes),
            Node::Primitive(tag, bytes) => {
                let chunkable = *tag == Tag::OCTET_STRING || *tag == Tag::context(0, false);
                if let (Style::Indefinite(_), true) = (style, chunkable) {
                    let mut tag = *tag;
                    tag.constructed = true;
                    out.extend(identifier(tag));
                    out.push(0x80);
                    segments(bytes, rng, out, 0);
                    out.extend([0, 0]);
                } else {
                    out.extend(identifier(*tag));
                    length(out, bytes.len(), style);
                    out.extend_from_slice(bytes);
                }
            }
            Node::Constructed(tag, children) => {
                let mut inner = Vec::new();
                for child in children {
                    encode_into(child, style, rng, &mut inner);
                }
                out.extend(identifier(*tag));
                match style {
                    Style::Indefinite(_) => {
                        out.push(0x80);
                        out.extend(inner);
                        out.extend([0, 0]);
                    }
                    _ => {
                        length(out, inner.len(), style);
                        out.extend(inner);
                    }
                }
            }
        }
    }

    /// `bytes` as OCTET STRING segments.
    fn segments(bytes: &[u8], rng: &mut XorShift, out: &mut Vec<u8>, depth: usize) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at((rng.below(rest.len() / 2 + 3)).min(rest.len()));
            rest = tail;
            match rng.below(6) {
                0 if depth < 2 => {
                    out.extend([0x24, 0x80]);
                    segments(piece, rng, out, depth + 1);
                    out.extend([0, 0]);
                }
                1 if depth < 2 => {
                    let mut inner = Vec::new();
                    segments(piece, rng, &mut inner, depth + 1);
                    out.push(0x24);
                    ber::write_length(out, inner.len());
                    out.extend(inner);
                }
                _ => {
                    out.push(0x04);
                    ber::write_length(out, piece.len());
                    out.extend_from_slice(piece);
                }
            }
        }
    }

    fn styles() -> [Style; 4] {
        [
            Style::Der,
            Style::Indefinite(11),
            Style::Indefinite(12),
            Style::LongForm,
        ]
    }

    // ---- framing alone -------------------------------------------------------------------

    /// The stream framing the outermost value (skipped whole: framed as the whole-buffer
    /// reader frames it, without looking inside definite lengths).
    fn frame_stream(chunks: &[&[u8]], limits: &Limits) -> Result<(), Error> {
        let mut ber = BerStream::new(limits, "ContentInfo", "ContentInfo (trailing data)");
        for chunk in chunks {
            let mut chunk = *chunk;
            while let Some(event) = ber.next(&mut chunk)? {
                match event {
                    Event::Start(_) => ber.skip("ContentInfo")?,
                    Event::Invalid { offset, .. } => {
                        return Err(Error::malformed("ContentInfo", offset));
                    }
                    Event::End { .. } => {}
                    Event::Data(_) => panic!("data of a skipped value"),
                }
            }
        }
        ber.finish()
    }

    fn frame_whole(input: &[u8], limits: &Limits) -> Result<(), Error> {
        if input.len() > limits.max_body_size {
            return Err(Limit::BodySize.exceeded(limits));
        }
        let mut r = Reader::new(input, limits);
        r.read("ContentInfo")?;
        r.finish("ContentInfo (trailing data)")
    }

    fn doc_identity() -> (Certificate, PrivateKey) {
        (
            Certificate::from_pem(include_bytes!("../../tests/data/keys/doc.crt")).unwrap(),
            PrivateKey::from_pem(include_bytes!("../../tests/data/keys/doc.key"), None).unwrap(),
        )
    }

    fn pyas2lib_identity(party: &str) -> (Certificate, PrivateKey) {
        let (crt, key): (&[u8], &[u8]) = match party {
            "B" => (
                include_bytes!("../../tests/data/pyas2lib/pki/as2proto_B/enc.crt"),
                include_bytes!("../../tests/data/pyas2lib/pki/as2proto_B/enc.key"),
            ),
            _ => (
                include_bytes!("../../tests/data/pyas2lib/pki/pyas2lib_A/enc.crt"),
                include_bytes!("../../tests/data/pyas2lib/pki/pyas2lib_A/enc.key"),
            ),
        };
        (
            Certificate::from_pem(crt).unwrap(),
            PrivateKey::from_pem(key, None).unwrap(),
        )
    }

    fn sample_inputs() -> Vec<Vec<u8>> {
        let (cert, _) = doc_identity();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let envelope = encrypt(
            b"framing test content",
            &[&cert],
            &EncryptOptions::default(),
            &mut rng,
        )
        .unwrap();
        let compressed = compress(
            b"framing test content, compressed",
            CompressOptions::default(),
        );
        let mut inputs = Vec::new();
        for der in [envelope, compressed] {
            for style in styles() {
                inputs.push(encode(&tree(&der), style));
            }
        }
        inputs.push(
            include_bytes!("../../tests/data/cms/compressed_chunked_indefinite.ber").to_vec(),
        );
        inputs
    }

    /// Framing errors, named and placed as the whole-buffer reader names and places them,
    /// for valid inputs and for inputs with octets changed, dropped or added anywhere.
    #[test]
    fn framing_matches_the_whole_buffer_reader() {
        let mut rng = XorShift(0x5eed);
        let small = Limits {
            max_ber_depth: 4,
            ..Limits::default()
        };
        let mut cases = 0;
        for input in sample_inputs() {
            let mut variants = vec![input.clone()];
            for _ in 0..150 {
                let mut v = input.clone();
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(v.len());
                    match rng.below(5) {
                        0 => v[i] = rng.next() as u8,
                        1 => v[i] = [0x00, 0x80, 0x81, 0x84, 0x1f, 0xff, 0x24][rng.below(7)],
                        2 => {
                            v.remove(i);
                        }
                        3 => v.insert(i, [0x00, 0x80, 0x30][rng.below(3)]),
                        _ => v.truncate(i),
                    }
                    if v.is_empty() {
                        break;
                    }
                }
                variants.push(v);
            }
            for v in &variants {
                for limits in [&Limits::default(), &small] {
                    let expected = frame_whole(v, limits);
                    for plan in [
                        Plan::Whole,
                        Plan::Bytes,
                        Plan::Random(3, 3),
                        Plan::Random(4, 40),
                    ] {
                        assert_eq!(
                            frame_stream(&split(v, plan), limits),
                            expected,
                            "{plan:?} {v:02x?}"
                        );
                    }
                    cases += 1;
                }
            }
        }
        assert!(cases > 1000);
    }

    /// A name per depth, so that errors tell which reader named them.
    const NAMES: [&str; 12] = [
        "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "deeper",
    ];

    fn name(depth: usize) -> &'static str {
        NAMES[depth.min(NAMES.len() - 1)]
    }

    /// The stream entering every definite-length constructed value and skipping every
    /// indefinite-length one (which is then framed as the whole-buffer reader frames it).
    fn walk_stream(chunks: &[&[u8]], limits: &Limits) -> Result<(), Error> {
        let mut ber = BerStream::new(limits, name(0), "trailing");
        let mut depth = 0;
        for chunk in chunks {
            let mut chunk = *chunk;
            while let Some(event) = ber.next(&mut chunk)? {
                match event {
                    Event::Start(head) if head.tag.constructed && head.len.is_some() => {
                        ber.enter(name(head.depth))?;
                        depth += 1;
                    }
                    Event::Start(head) => {
                        ber.skip(name(head.depth))?;
                        depth += 1;
                    }
                    Event::Invalid { offset, .. } => {
                        return Err(Error::malformed(name(depth), offset));
                    }
                    Event::End { .. } => depth -= 1,
                    Event::Data(_) => panic!("data of a skipped value"),
                }
            }
        }
        ber.finish()
    }

    fn walk_whole(input: &[u8], limits: &Limits) -> Result<(), Error> {
        fn walk(r: &mut Reader<'_>, depth: usize) -> Result<(), Error> {
            while !r.is_empty() {
                let t = r.read(name(depth))?;
                if t.tag.constructed && !t.indefinite {
                    walk(&mut t.children(name(depth))?, depth + 1)?;
                }
            }
            Ok(())
        }
        if input.len() > limits.max_body_size {
            return Err(Limit::BodySize.exceeded(limits));
        }
        let mut r = Reader::new(input, limits);
        let top = r.read(name(0))?;
        r.finish("trailing")?;
        if top.tag.constructed && !top.indefinite {
            walk(&mut top.children(name(0))?, 1)?;
        }
        Ok(())
    }

    /// The same inside definite-length values: every definite-length value entered, every
    /// indefinite-length one framed whole, errors named after the reader at each depth.
    #[test]
    fn framing_inside_definite_values_matches() {
        let mut rng = XorShift(0xfeed);
        let small = Limits {
            max_ber_depth: 5,
            ..Limits::default()
        };
        let mut inputs = sample_inputs();
        // Mixed forms: definite outside, indefinite inside, and the reverse.
        inputs.push(vec![
            0x30, 0x0a, 0x30, 0x80, 0x04, 0x02, 1, 2, 0, 0, 0x05, 0x00,
        ]);
        inputs.push(vec![
            0x30, 0x80, 0x30, 0x06, 0x24, 0x80, 0x04, 0x00, 0, 0, 0, 0,
        ]);
        let mut cases = 0;
        for input in inputs {
            // Octets changed in place after the outermost header: the whole-buffer reader
            // checks the outermost length against the whole input first, which a stream
            // cannot do before the end (a documented difference in order, not tested here).
            let skip = match ber::parse_header(&input) {
                Step::Done(header) => header.len,
                _ => unreachable!(),
            };
            let mut variants = vec![input.clone()];
            for _ in 0..200 {
                let mut v = input.clone();
                for _ in 0..1 + rng.below(2) {
                    let i = skip + rng.below(v.len() - skip);
                    match rng.below(4) {
                        0 => v[i] = rng.next() as u8,
                        1 => v[i] = [0x00, 0x80, 0x81, 0x84, 0x1f, 0xff, 0x24, 0x30][rng.below(8)],
                        2 => v[i] = v[i].wrapping_add(1),
                        _ => v[i] = v[i].wrapping_sub(1),
                    }
                }
                variants.push(v);
            }
            for v in &variants {
                for limits in [&Limits::default(), &small] {
                    let expected = walk_whole(v, limits);
                    for plan in [
                        Plan::Whole,
                        Plan::Bytes,
                        Plan::Random(5, 3),
                        Plan::Random(6, 40),
                    ] {
                        assert_eq!(
                            walk_stream(&split(v, plan), limits),
                            expected,
                            "{plan:?} {v:02x?}"
                        );
                    }
                    cases += 1;
                }
            }
        }
        assert!(cases > 1000);
    }

    #[test]
    fn framing_of_crafted_cases() {
        let limits = Limits::default();
        let cases: &[&[u8]] = &[
            &[],
            &[0x30],
            &[0x30, 0x80],
            &[0x30, 0x80, 0x00],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x80, 0x00, 0x00, 0x00],
            &[0x30, 0x80, 0x04, 0x80, 0x00, 0x00],
            &[0x30, 0x02, 0x00, 0x00],
            &[0x30, 0x03, 0x30, 0x80, 0x00],
            &[0x30, 0x04, 0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x05, 0x30, 0x80, 0x04, 0x05, 0x00],
            &[0x30, 0x80, 0x30, 0x03, 0x01, 0x01],
            &[
                0x30, 0x80, 0x1f, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00, 0x00, 0x00,
            ],
            &[0x30, 0x80, 0x1f, 0x81, 0x81, 0x81, 0x01, 0x00, 0x00, 0x00],
            &[0x30, 0x80, 0x04, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
            &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[
                0x30, 0x80, 0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0, 0,
            ],
            &[0x30, 0x84, 0x00, 0x00, 0x00, 0x02, 0x05, 0x00],
            &[0x30, 0x84, 0x00, 0x00, 0x00, 0x02, 0x05, 0x00, 0x01],
            &[0x30, 0xff, 0x00],
        ];
        for input in cases {
            let expected = frame_whole(input, &limits);
            for plan in [
                Plan::Whole,
                Plan::Bytes,
                Plan::At(1),
                Plan::At(2),
                Plan::At(3),
            ] {
                assert_eq!(
                    frame_stream(&split(input, plan), &limits),
                    expected,
                    "{input:02x?} {plan:?}"
                );
            }
        }
    }

    /// Entering every value reports every primitive's contents, in order, however the
    /// input is split, and keeps only a header's worth of octets.
    #[test]
    fn entering_reports_all_contents() {
        let limits = Limits::default();
        for input in sample_inputs() {
            let mut expected = Vec::new();
            fn collect(tlv: &Tlv<'_>, out: &mut Vec<u8>) {
                if tlv.tag.constructed {
                    let mut r = tlv.children("v").unwrap();
                    while !r.is_empty() {
                        collect(&r.read("v").unwrap(), out);
                    }
                } else {
                    out.extend_from_slice(tlv.contents);
                }
            }
            collect(
                &Reader::new(&input, &limits).read("v").unwrap(),
                &mut expected,
            );
            for plan in plans() {
                let mut ber = BerStream::new(&limits, "v", "v");
                let mut seen = Vec::new();
                let (mut starts, mut ends) = (0, 0);
                for chunk in split(&input, plan) {
                    let mut chunk = chunk;
                    while let Some(event) = ber.next(&mut chunk).unwrap() {
                        match event {
                            Event::Start(_) => {
                                starts += 1;
                                ber.enter("v").unwrap();
                            }
                            Event::Data(data) => seen.extend_from_slice(data),
                            Event::End { .. } => ends += 1,
                            Event::Invalid { .. } => panic!("invalid"),
                        }
                        assert!(ber.header_len <= MAX_HEADER && ber.stack.len() <= 16);
                    }
                }
                ber.finish().unwrap();
                assert_eq!(seen, expected, "{plan:?}");
                assert_eq!(starts, ends);
            }
        }
    }

    // ---- EnvelopedData ---------------------------------------------------------------

    type Keys = [(Certificate, PrivateKey)];

    fn whole_enveloped(
        input: &[u8],
        limits: &Limits,
        keys: &Keys,
        triple_des: bool,
    ) -> Result<(Vec<u8>, bool), Error> {
        // What message::inbound does with the whole envelope.
        let envelope = EnvelopedData::parse(input, limits)?;
        let cipher = envelope.content_encryption();
        if !triple_des && cipher == ContentEncryption::TripleDesCbc {
            return Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentEncryption,
                oid: cipher.oid(),
            });
        }
        let (cert, key) = keys
            .iter()
            .find(|(cert, _)| envelope.is_recipient(cert))
            .ok_or(Error::NoMatchingRecipient)?;
        let opened = envelope.decrypt_unchecked(cert, key, &mut ChaCha20Rng::seed_from_u64(5))?;
        Ok((opened.content, opened.well_formed))
    }

    fn stream_enveloped(
        chunks: &[&[u8]],
        limits: &Limits,
        keys: &Keys,
        triple_des: bool,
    ) -> Result<(Vec<u8>, bool), Error> {
        let mut reader = EnvelopedReader::new(limits, keys, triple_des);
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let mut out = Vec::new();
        for chunk in chunks {
            reader.push(chunk, &mut out, &mut rng)?;
        }
        let end = reader.finish(&mut out)?;
        assert_eq!(end.authentic, None, "CBC has no tag");
        Ok((out, end.well_formed))
    }

    /// The whole-buffer result, after checking that every plan streams to it.
    fn check_enveloped(
        input: &[u8],
        limits: &Limits,
        keys: &Keys,
        triple_des: bool,
        plans: &[Plan],
    ) -> Result<(Vec<u8>, bool), Error> {
        let expected = whole_enveloped(input, limits, keys, triple_des);
        for plan in plans {
            assert_eq!(
                stream_enveloped(&split(input, *plan), limits, keys, triple_des),
                expected,
                "{plan:?}"
            );
        }
        expected
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn enveloped_matches_whole_buffer() {
        let doc = doc_identity();
        let b = pyas2lib_identity("B");
        let keys = [doc.clone()];
        let limits = Limits::default();
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut runs = 0;
        let cbc = ContentEncryption::ALL
            .into_iter()
            .filter(|c| !c.is_authenticated());
        for cipher in cbc {
            for key_transport in [
                KeyTransport::RsaPkcs1v15,
                KeyTransport::RsaOaep(DigestAlgorithm::Sha256),
            ] {
                for len in [0, 17, 48] {
                    let options = EncryptOptions {
                        cipher,
                        key_transport,
                        use_subject_key_id: len == 17,
                    };
                    // An archive copy for another recipient first: ours is the second.
                    let der = encrypt(&content(len), &[&b.0, &doc.0], &options, &mut rng).unwrap();
                    for style in styles() {
                        let input = encode(&tree(&der), style);
                        let plans = if len == 17 {
                            plans()
                        } else {
                            few_plans(input.len())
                        };
                        let (plain, well_formed) =
                            check_enveloped(&input, &limits, &keys, true, &plans).unwrap();
                        assert_eq!((plain, well_formed), (content(len), true));
                        runs += 1;
                    }
                }
            }
        }
        assert_eq!(runs, 4 * 2 * 3 * 4);
    }

    /// AuthEnvelopedData (every AEAD cipher), written with and without the length and
    /// re-encoded in every BER style (so CCM also meets a segmented ciphertext of unknown
    /// length), decrypts to the content for every chunking, with the tag verified; one
    /// flipped ciphertext, tag or nonce bit, or a wrong key, gives a tag that does not
    /// verify, for every chunking too. The whole-buffer `EnvelopedData::parse` refuses the
    /// AEAD ciphers.
    #[test]
    fn auth_enveloped_streams_in_any_chunking() {
        let doc = doc_identity();
        let b = pyas2lib_identity("B");
        let keys = [doc.clone()];
        let wrong = [(doc.0.clone(), b.1.clone())];
        let limits = Limits::default();
        let mut rng = ChaCha20Rng::seed_from_u64(19);
        let run = |chunks: &[&[u8]], keys: &Keys| -> Result<(Vec<u8>, EnvelopeEnd), Error> {
            let mut reader = EnvelopedReader::new_auth(&limits, keys);
            let mut rng = ChaCha20Rng::seed_from_u64(6);
            let mut out = Vec::new();
            for chunk in chunks {
                reader.push(chunk, &mut out, &mut rng)?;
            }
            let end = reader.finish(&mut out)?;
            Ok((out, end))
        };
        let aead = ContentEncryption::ALL
            .into_iter()
            .filter(|c| c.is_authenticated());
        for cipher in aead {
            for len in [0usize, 17, 48, super::super::compressed::SEGMENT_LEN + 5] {
                for announced in [true, false] {
                    let options = EncryptOptions {
                        cipher,
                        ..Default::default()
                    };
                    let mut out = Vec::new();
                    let writer = enveloped::EnvelopeWriter::new(
                        &[&b.0, &doc.0],
                        &options,
                        announced.then_some(len as u64),
                        &mut rng,
                        &mut out,
                    );
                    let ccm = matches!(
                        cipher,
                        ContentEncryption::Aes128Ccm | ContentEncryption::Aes256Ccm
                    );
                    if ccm && !announced {
                        assert!(matches!(writer, Err(Error::EncryptionFailed(_))));
                        continue;
                    }
                    let mut writer = writer.unwrap();
                    writer.push(&content(len), &mut out).unwrap();
                    writer.finish(&mut out).unwrap();
                    assert!(matches!(
                        EnvelopedData::parse(&out, &limits),
                        Err(Error::UnsupportedAlgorithm { .. })
                    ));
                    let expected = (
                        content(len),
                        EnvelopeEnd {
                            well_formed: true,
                            authentic: Some(true),
                        },
                    );
                    let styles: Vec<Style> = if len > 100 {
                        vec![styles()[0]]
                    } else {
                        styles().to_vec()
                    };
                    for style in styles {
                        let input = encode(&tree(&out), style);
                        let plans = if len == 17 {
                            plans()
                        } else {
                            few_plans(input.len())
                        };
                        for plan in &plans {
                            let label = format!("{cipher:?} {len} {announced} {style:?} {plan:?}");
                            let chunks = split(&input, *plan);
                            assert_eq!(run(&chunks, &keys).unwrap(), expected, "{label}");
                            let (_, end) = run(&chunks, &wrong).unwrap();
                            assert_eq!(end.authentic, Some(false), "{label}");
                        }
                        assert_eq!(
                            crate::cms::auth_enveloped::decrypt(&input, &keys, &limits, &mut rng)
                                .unwrap(),
                            content(len)
                        );
                    }
                    // One flipped bit in the ciphertext, the tag (the last octet of the
                    // DER) or the nonce: the tag does not verify.
                    if !announced {
                        continue;
                    }
                    let der_len = out.len();
                    let oid = cipher.oid();
                    let nonce_at = out
                        .windows(oid.as_bytes().len())
                        .position(|w| w == oid.as_bytes())
                        .map(|i| i + oid.as_bytes().len() + 4)
                        .unwrap();
                    let mut flips = vec![der_len - 1, nonce_at];
                    if len > 0 {
                        flips.push(der_len - 18 - len / 2 - 1);
                    }
                    for at in flips {
                        let mut bad = out.clone();
                        bad[at] ^= 0x10;
                        for plan in few_plans(bad.len()) {
                            let (_, end) = run(&split(&bad, plan), &keys).unwrap();
                            assert_eq!(end.authentic, Some(false), "{cipher:?} {len} {at}");
                        }
                        assert_eq!(
                            crate::cms::auth_enveloped::decrypt(&bad, &keys, &limits, &mut rng),
                            Err(Error::DecryptionFailed)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn enveloped_fixtures() {
        let limits = Limits::default();
        let b = [pyas2lib_identity("B")];
        let cases: [(&[u8], &str); 6] = [
            (
                include_bytes!("../../tests/data/pyas2lib/enc_aes128_binary/body.bin"),
                "AES128_CBC",
            ),
            (
                include_bytes!("../../tests/data/pyas2lib/enc_3des_x12/body.bin"),
                "3DES",
            ),
            (
                include_bytes!("../../tests/data/pyas2lib/compress_aes256_binary/body.bin"),
                "AES256_CBC",
            ),
            (
                include_bytes!("../../tests/data/pyas2lib/sign_sha256_aes192_binary/body.bin"),
                "AES192_CBC",
            ),
            (
                include_bytes!("../../tests/data/pyas2lib/sign_sha384_aes128_x12/body.bin"),
                "AES128_CBC",
            ),
            (
                include_bytes!("../../tests/data/pyas2lib/sign_sha512_aes256_binary/body.bin"),
                "AES256_CBC",
            ),
        ];
        for (input, cipher) in cases {
            let (plain, well_formed) =
                check_enveloped(input, &limits, &b, true, &few_plans(input.len())).unwrap();
            // A MIME entity inside.
            assert!(well_formed, "{cipher}");
            assert!(
                plain
                    .windows(13)
                    .any(|w| w.eq_ignore_ascii_case(b"content-type:")),
                "{cipher}"
            );
            let mut reader = EnvelopedReader::new(&limits, &b, true);
            let mut out = Vec::new();
            reader
                .push(input, &mut out, &mut ChaCha20Rng::seed_from_u64(1))
                .unwrap();
            assert_eq!(reader.cipher().map(|c| c.name()), Some(cipher));
            assert!(reader.decrypting());
        }
        // 3DES refused unless allowed, as message::inbound does.
        let triple = include_bytes!("../../tests/data/pyas2lib/enc_3des_x12/body.bin");
        assert!(matches!(
            check_enveloped(triple, &limits, &b, false, &few_plans(triple.len())),
            Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentEncryption,
                ..
            })
        ));
        // OpenSSL -stream: indefinite lengths, content in 4096-octet segments.
        let openssl = include_bytes!("../../tests/data/cms/openssl_enveloped_stream.ber");
        let (plain, well_formed) =
            check_enveloped(openssl, &limits, &[doc_identity()], false, &plans()).unwrap();
        assert!(well_formed);
        assert_eq!(
            plain,
            include_bytes!("../../tests/data/cms/openssl_stream_payload.txt")
        );
    }

    /// The envelope at `der` with `change` applied to its tree, in `style`.
    fn altered(der: &[u8], style: Style, change: impl FnOnce(&mut Node)) -> Vec<u8> {
        let mut t = tree(der);
        change(&mut t);
        encode(&t, style)
    }

    /// Path of the EncryptedContentInfo: ContentInfo [1] → [0] [0] → EnvelopedData [2].
    const ECI: [usize; 3] = [1, 0, 2];

    #[test]
    fn enveloped_broken_inputs_fail_alike() {
        let doc = doc_identity();
        let keys = [doc.clone()];
        let limits = Limits::default();
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let aes = EncryptOptions::default();
        // 32 octets: the last block is all padding (16 × 0x10).
        let der = encrypt(&content(32), &[&doc.0], &aes, &mut rng).unwrap();
        for style in [Style::Der, Style::Indefinite(21), Style::LongForm] {
            let input = encode(&tree(&der), style);
            let plans = few_plans(input.len());
            let check = |input: &[u8], limits: &Limits, keys: &Keys| {
                check_enveloped(input, limits, keys, true, &plans)
            };
            // None of our keys is a recipient.
            assert_eq!(
                check(&input, &limits, &[pyas2lib_identity("A")]),
                Err(Error::NoMatchingRecipient)
            );
            // Our certificate, another private key: garbage, decided on nothing.
            let wrong = [(doc.0.clone(), pyas2lib_identity("B").1)];
            let (garbage, well_formed) = check(&input, &limits, &wrong).unwrap();
            assert!(!well_formed && garbage != content(32));
            // Bad padding: the last plaintext octet XOR 1 (16 becomes 17): kept, flagged.
            let bad_padding = altered(&der, style, |t| {
                let c = t.at(&[1, 0, 2, 2]).bytes();
                let at = c.len() - 17;
                c[at] ^= 1;
            });
            let (plain, well_formed) = check(&bad_padding, &limits, &keys).unwrap();
            assert!(!well_formed);
            assert_eq!(plain.len(), 48);
            assert_eq!(plain[47], 0x11);
            // Not a whole number of blocks; empty.
            for cut in [1, 16, 32, 48] {
                let short = altered(&der, style, |t| {
                    let c = t.at(&[1, 0, 2, 2]).bytes();
                    c.truncate(48 - cut);
                });
                let expected = if cut == 16 || cut == 32 {
                    Ok(())
                } else {
                    Err(Error::DecryptionFailed)
                };
                assert_eq!(check(&short, &limits, &keys).map(drop), expected, "{cut}");
            }
            // Trailing garbage.
            let mut trailing = input.clone();
            trailing.extend_from_slice(&[0, 0]);
            assert_eq!(
                check(&trailing, &limits, &keys),
                Err(Error::malformed("ContentInfo (trailing data)", input.len()))
            );
            // A content cipher we do not implement (AES-192-GCM).
            let gcm = altered(&der, style, |t| {
                *t.at(&[1, 0, 2, 1, 0]).bytes() =
                    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.26")
                        .as_bytes()
                        .to_vec();
            });
            assert!(matches!(
                check(&gcm, &limits, &keys),
                Err(Error::UnsupportedAlgorithm {
                    kind: AlgorithmKind::ContentEncryption,
                    ..
                })
            ));
            // Not EnvelopedData.
            let other = altered(&der, style, |t| {
                *t.at(&[0]).bytes() = oid::SIGNED_DATA.as_bytes().to_vec();
            });
            assert!(matches!(
                check(&other, &limits, &keys),
                Err(Error::UnsupportedAlgorithm {
                    kind: AlgorithmKind::ContentType,
                    ..
                })
            ));
            // encryptedContent absent.
            let absent = altered(&der, style, |t| {
                t.at(&ECI).children().truncate(2);
            });
            assert!(matches!(
                check(&absent, &limits, &keys),
                Err(Error::Malformed {
                    what: "encryptedContent (absent)",
                    ..
                })
            ));
            // An unprotectedAttrs [1] is passed over; anything else after the EncryptedContentInfo is not.
            for (tag, ok) in [
                (Tag::context(1, true), true),
                (Tag::context(2, true), false),
            ] {
                let extra = altered(&der, style, |t| {
                    t.at(&[1, 0])
                        .children()
                        .push(Node::Constructed(tag, vec![Node::Kept(vec![0x31, 0x00])]));
                });
                assert_eq!(check(&extra, &limits, &keys).is_ok(), ok);
            }
            // Limits: recipients, depth, chunks, body size.
            let mut few = limits.clone();
            few.max_recipients = 0;
            assert_eq!(
                check(&input, &few, &keys),
                Err(Limit::Recipients.exceeded(&few))
            );
            let mut shallow = limits.clone();
            shallow.max_ber_depth = 3;
            assert!(matches!(
                check(&input, &shallow, &keys),
                Err(Error::LimitExceeded {
                    limit: Limit::BerDepth,
                    ..
                })
            ));
            let mut chunks = limits.clone();
            chunks.max_ber_chunks = 1;
            let chunked = check(&input, &chunks, &keys);
            assert_eq!(
                chunked.is_err(),
                matches!(style, Style::Indefinite(_)),
                "{chunked:?}"
            );
            let mut body = limits.clone();
            body.max_body_size = input.len() - 1;
            assert_eq!(
                check(&input, &body, &keys),
                Err(Limit::BodySize.exceeded(&body))
            );
        }
    }

    /// Cut anywhere, in DER and in indefinite-length BER: the error of the whole-buffer
    /// parser, down to the offset.
    #[test]
    fn enveloped_truncated_anywhere() {
        let doc = doc_identity();
        let keys = [doc.clone()];
        let limits = Limits::default();
        let der = encrypt(
            b"twenty octets here!!",
            &[&doc.0],
            &EncryptOptions::default(),
            &mut ChaCha20Rng::seed_from_u64(2),
        )
        .unwrap();
        for style in [Style::Der, Style::Indefinite(31)] {
            let input = encode(&tree(&der), style);
            for end in 0..input.len() {
                let result = check_enveloped(
                    &input[..end],
                    &limits,
                    &keys,
                    true,
                    &[Plan::Whole, Plan::Bytes],
                );
                assert!(
                    matches!(result, Err(Error::Malformed { .. })),
                    "{end}: {result:?}"
                );
            }
        }
    }

    /// The last block (or what there is of it) waits for `finish`; the rest comes out as it
    /// arrives.
    #[test]
    fn enveloped_holds_back_the_last_block() {
        let doc = doc_identity();
        let keys = [doc.clone()];
        let limits = Limits::default();
        let plain = content(100);
        let der = encrypt(
            &plain,
            &[&doc.0],
            &EncryptOptions::default(),
            &mut ChaCha20Rng::seed_from_u64(3),
        )
        .unwrap();
        let mut reader = EnvelopedReader::new(&limits, &keys, false);
        let mut out = Vec::new();
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        assert_eq!((reader.cipher(), reader.decrypting()), (None, false));
        let ciphertext_at = der.len() - 112;
        reader
            .push(&der[..ciphertext_at], &mut out, &mut rng)
            .unwrap();
        assert_eq!(reader.cipher(), Some(ContentEncryption::Aes256Cbc));
        assert!(reader.decrypting() && out.is_empty());
        for (i, octet) in der[ciphertext_at..].iter().enumerate() {
            reader.push(&[*octet], &mut out, &mut rng).unwrap();
            // Whole blocks, the last (partial or complete) one held back.
            assert_eq!(out.len(), i / 16 * 16, "{i}");
        }
        assert_eq!(out, plain[..96]);
        assert!(reader.finish(&mut out).unwrap().well_formed);
        assert_eq!(out, plain);
        // Nothing after the end.
        assert!(reader.push(b"", &mut out, &mut rng).is_err());
    }

    // ---- CompressedData --------------------------------------------------------------

    fn whole_compressed(input: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
        CompressedData::parse(input, limits)?.decompress(limits)
    }

    fn stream_compressed(chunks: &[&[u8]], limits: &Limits) -> Result<Vec<u8>, Error> {
        let mut reader = CompressedReader::new(limits);
        let mut out = Vec::new();
        for chunk in chunks {
            reader.push(chunk, &mut out)?;
        }
        reader.finish(&mut out)?;
        Ok(out)
    }

    fn check_compressed(input: &[u8], limits: &Limits, plans: &[Plan]) -> Result<Vec<u8>, Error> {
        let expected = whole_compressed(input, limits);
        for plan in plans {
            assert_eq!(
                stream_compressed(&split(input, *plan), limits),
                expected,
                "{plan:?}"
            );
        }
        expected
    }

    /// Text that compresses, but with enough variety for back-references all over the
    /// 32 KiB window.
    fn text(len: usize, seed: u64) -> Vec<u8> {
        const WORDS: [&str; 12] = [
            "ISA", "GS", "ST*850", "BEG*00", "PO1*", "PID*F", "EA", "~\n", "*", "0001", "REF*",
            "N1*ST",
        ];
        let mut rng = XorShift(seed | 1);
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
            if rng.below(4) == 0 {
                out.extend_from_slice(format!("{}", rng.below(100_000)).as_bytes());
            }
        }
        out.truncate(len);
        out
    }

    /// Path of the eContent OCTET STRING: ContentInfo [1] → [0] [0] → CompressedData [2]
    /// → encapContentInfo [1] → [0] [0].
    const COMPRESSED_OCTETS: [usize; 5] = [1, 0, 2, 1, 0];

    #[test]
    fn compressed_matches_whole_buffer() {
        let limits = Limits::default();
        for (content, many) in [
            (Vec::new(), true),
            (b"x".to_vec(), true),
            (text(5000, 1), true),
            (text(32 * 1024, 2), false),
            (text(100_000, 3), false),
        ] {
            for level in [0, 1, 6, 9] {
                let der = compress(&content, CompressOptions { level });
                for style in styles() {
                    let input = encode(&tree(&der), style);
                    let plans = if many {
                        plans()
                    } else {
                        few_plans(input.len())
                    };
                    assert_eq!(check_compressed(&input, &limits, &plans).unwrap(), content);
                }
            }
        }
        let fixture = include_bytes!("../../tests/data/cms/compressed_chunked_indefinite.ber");
        assert_eq!(
            check_compressed(fixture, &limits, &plans()).unwrap(),
            include_bytes!("../../tests/data/cms/compressed_chunked_indefinite.txt")
        );
        let pyas2lib = include_bytes!("../../tests/data/pyas2lib/compress_binary/body.bin");
        let entity = check_compressed(pyas2lib, &limits, &plans()).unwrap();
        assert!(entity.ends_with(include_bytes!(
            "../../tests/data/pyas2lib/compress_binary/payload.bin"
        )));
    }

    /// The caps of `decompress()`, around the exact output size and ratio, in definite and
    /// indefinite lengths: the same outcome.
    #[test]
    fn compressed_caps_match_whole_buffer() {
        let content = text(20_000, 4);
        let der = compress(&content, CompressOptions::default());
        let n = match tree(&der).at(&COMPRESSED_OCTETS) {
            Node::Primitive(_, bytes) => bytes.len(),
            _ => unreachable!(),
        };
        let l = content.len();
        let ratio = l / n;
        let mut outcomes = std::collections::HashSet::new();
        for style in [Style::Der, Style::Indefinite(41), Style::LongForm] {
            let input = encode(&tree(&der), style);
            for max in [0, 1, 100, l - 1, l, l + 1, 64 << 20] {
                for r in [0, 1, ratio - 1, ratio, ratio + 1, 500] {
                    let limits = Limits {
                        max_decompressed_size: max,
                        max_expansion_ratio: r,
                        ..Limits::default()
                    };
                    let plans = [
                        Plan::Whole,
                        Plan::Bytes,
                        Plan::Random(1, 3),
                        Plan::Random(2, 60),
                    ];
                    let result = check_compressed(&input, &limits, &plans);
                    outcomes.insert(format!("{:?}", result.map(|v| v.len())));
                }
            }
        }
        // Success and both limits were all reached.
        assert!(outcomes.len() >= 3, "{outcomes:?}");
    }

    /// A decompression bomb: with a definite-length eContent it fails while streaming, as
    /// soon as the output passes the ratio, never emitting more than the cap.
    #[test]
    fn compressed_bomb_fails_early() {
        let limits = Limits::default();
        let der = compress(&vec![0u8; 1 << 20], CompressOptions { level: 9 });
        let n = match tree(&der).at(&COMPRESSED_OCTETS) {
            Node::Primitive(_, bytes) => bytes.len(),
            _ => unreachable!(),
        };
        let mut outcomes = std::collections::BTreeSet::new();
        for style in [Style::Der, Style::Indefinite(51)] {
            let input = encode(&tree(&der), style);
            let expected = Limit::ExpansionRatio.exceeded(&limits);
            assert_eq!(
                check_compressed(&input, &limits, &few_plans(input.len())),
                Err(expected.clone())
            );
            let mut reader = CompressedReader::new(&limits);
            let mut out = Vec::new();
            let mut failed_at = None;
            for (i, chunk) in input.chunks(16).enumerate() {
                if let Err(e) = reader.push(chunk, &mut out) {
                    assert_eq!(e, expected);
                    failed_at = Some(i * 16);
                    break;
                }
            }
            let failed_at = failed_at.expect("failed while streaming");
            match style {
                // The declared length bounds N: the ratio is known to be passed early.
                // Here about half way: zeros inflate evenly and the cap is N × 500 where
                // 1 MiB needs N × 1000.
                Style::Der => assert!(failed_at < input.len() * 3 / 4, "{failed_at}"),
                // Only the end of the eContent tells N.
                _ => assert!(failed_at > input.len() * 3 / 4, "{failed_at}"),
            }
            // Corrupt at the end, under other caps: which error depends on N, known only
            // at the end of an indefinite-length eContent.
            for corrupt in [false, true] {
                for max in [100_000, 2 << 20] {
                    for ratio in [50, 500, 2000] {
                        let limits = Limits {
                            max_decompressed_size: max,
                            max_expansion_ratio: ratio,
                            ..Limits::default()
                        };
                        let input = altered(&der, style, |t| {
                            if corrupt {
                                let z = t.at(&COMPRESSED_OCTETS).bytes();
                                let last = z.len() - 1;
                                z[last] ^= 1;
                            }
                        });
                        let outcome =
                            check_compressed(&input, &limits, &[Plan::Whole, Plan::Random(5, 64)])
                                .map(|out| out.len());
                        outcomes.insert(format!("{outcome:?}"));
                    }
                }
            }
            // Never more than the cap that is certain at the time: N × ratio where the
            // definite length tells N, max_decompressed_size otherwise.
            match style {
                Style::Der => assert!(out.len() <= n * limits.max_expansion_ratio),
                _ => assert!(out.len() <= limits.max_decompressed_size),
            }
        }
        // Success, failure, and both limits (the ratio one with two values).
        assert_eq!(outcomes.len(), 5, "{outcomes:?}");
    }

    /// A zlib stream whose first symbol copies from before the start of the output: a
    /// wrapping window would read zeros; refused as the whole-buffer call refuses it.
    fn distance_too_far() -> Vec<u8> {
        struct Bits {
            out: Vec<u8>,
            acc: u32,
            n: u32,
        }
        impl Bits {
            fn put(&mut self, value: u32, count: u32) {
                for i in 0..count {
                    self.acc |= ((value >> i) & 1) << self.n;
                    self.n += 1;
                    if self.n == 8 {
                        self.out.push(self.acc as u8);
                        (self.acc, self.n) = (0, 0);
                    }
                }
            }
            // Huffman codes go most significant bit first.
            fn code(&mut self, code: u32, count: u32) {
                for i in (0..count).rev() {
                    self.put((code >> i) & 1, 1);
                }
            }
        }
        let mut bits = Bits {
            out: vec![0x78, 0x01],
            acc: 0,
            n: 0,
        };
        bits.put(1, 1); // BFINAL
        bits.put(1, 2); // fixed Huffman
        bits.code(0b000_0001, 7); // length 3
        bits.code(0, 5); // distance 1: before the start
        bits.code(0, 7); // end of block
        bits.put(0, 7);
        // The adler-32 of the three zeros a wrapping window would give.
        bits.out.extend([0, 3, 0, 1]);
        bits.out
    }

    #[test]
    fn compressed_broken_inputs_fail_alike() {
        let limits = Limits::default();
        let content = text(300, 5);
        let der = compress(&content, CompressOptions::default());
        for style in [Style::Der, Style::Indefinite(61), Style::LongForm] {
            let input = encode(&tree(&der), style);
            let plans = [
                Plan::Whole,
                Plan::Bytes,
                Plan::Random(3, 3),
                Plan::Random(4, 40),
            ];
            let with_octets = |change: &dyn Fn(&mut Vec<u8>)| {
                altered(&der, style, |t| change(t.at(&COMPRESSED_OCTETS).bytes()))
            };
            // Every octet of the zlib stream changed in turn.
            let zlib_len = tree(&der).at(&COMPRESSED_OCTETS).bytes().len();
            let mut failures = 0;
            for at in 0..zlib_len {
                let broken = with_octets(&|z: &mut Vec<u8>| z[at] ^= 0x5a);
                if check_compressed(&broken, &limits, &plans[..2]).is_err() {
                    failures += 1;
                }
            }
            assert!(failures > zlib_len / 2, "{failures}");
            // Cut short; followed by octets (ignored, as decompress() ignores them).
            for cut in [1, 4, 5, 20] {
                let short = with_octets(&|z: &mut Vec<u8>| z.truncate(z.len() - cut));
                assert_eq!(
                    check_compressed(&short, &limits, &plans),
                    Err(Error::DecompressionFailed)
                );
            }
            let longer = with_octets(&|z: &mut Vec<u8>| z.extend_from_slice(b"tail"));
            assert_eq!(check_compressed(&longer, &limits, &plans).unwrap(), content);
            // Empty; a distance before the start of the output.
            for zlib in [Vec::new(), distance_too_far()] {
                let bad = with_octets(&|z: &mut Vec<u8>| *z = zlib.clone());
                assert_eq!(
                    check_compressed(&bad, &limits, &plans),
                    Err(Error::DecompressionFailed)
                );
            }
            // No eContent.
            let absent = altered(&der, style, |t| t.at(&[1, 0, 2]).children().truncate(1));
            assert!(matches!(
                check_compressed(&absent, &limits, &plans),
                Err(Error::Malformed {
                    what: "compressed content (absent)",
                    ..
                })
            ));
            // Another algorithm.
            let other = altered(&der, style, |t| {
                *t.at(&[1, 0, 1, 0]).bytes() =
                    ObjectIdentifier::new_unwrap("1.2.3.4").as_bytes().to_vec();
            });
            assert!(matches!(
                check_compressed(&other, &limits, &plans),
                Err(Error::UnsupportedAlgorithm {
                    kind: AlgorithmKind::Compression,
                    ..
                })
            ));
            // The eContent not an OCTET STRING; the [0] not constructed.
            let integer = altered(&der, style, |t| {
                let octets = t.at(&COMPRESSED_OCTETS).bytes().clone();
                *t.at(&COMPRESSED_OCTETS) = Node::Primitive(Tag::INTEGER, octets);
            });
            assert!(matches!(
                check_compressed(&integer, &limits, &plans),
                Err(Error::Malformed {
                    what: "eContent",
                    ..
                })
            ));
            let primitive = altered(&der, style, |t| {
                *t.at(&[1, 0, 2, 1]) = Node::Kept(vec![0x80, 0x02, 1, 2]);
            });
            assert!(matches!(
                check_compressed(&primitive, &limits, &plans),
                Err(Error::Malformed {
                    what: "eContent [0]",
                    ..
                })
            ));
            // Trailing garbage.
            let mut trailing = input.clone();
            trailing.push(0x30);
            assert_eq!(
                check_compressed(&trailing, &limits, &plans),
                Err(Error::malformed("ContentInfo (trailing data)", input.len()))
            );
            // Cut anywhere.
            for end in 0..input.len() {
                let result = check_compressed(&input[..end], &limits, &[Plan::Whole, Plan::Bytes]);
                assert!(
                    matches!(result, Err(Error::Malformed { .. })),
                    "{end}: {result:?}"
                );
            }
        }
    }

    // ---- SignedData ------------------------------------------------------------------

    /// What a verification says, comparable.
    type Summary = (
        DigestAlgorithm,
        SignatureAlgorithm,
        Vec<u8>,
        Vec<u8>,
        SignerSource,
        Option<std::time::SystemTime>,
        bool,
        bool,
    );

    fn summary(v: &Verified) -> Summary {
        (
            v.digest,
            v.signature,
            v.content_digest.clone(),
            v.signer.der().to_vec(),
            v.source,
            v.signing_time,
            v.signed_attributes,
            v.algorithm_protection,
        )
    }

    fn whole_signed(
        input: &[u8],
        limits: &Limits,
        certificates: &[Certificate],
    ) -> Result<(Vec<u8>, Summary), Error> {
        let signed = SignedData::parse(input, limits)?;
        let verified = signed.verify(None, certificates)?;
        Ok((
            signed.content().unwrap_or_default().to_vec(),
            summary(&verified),
        ))
    }

    fn stream_signed(
        chunks: &[&[u8]],
        limits: &Limits,
        certificates: &[Certificate],
    ) -> Result<(Vec<u8>, Summary), Error> {
        let mut reader = SignedReader::new(limits);
        let mut out = Vec::new();
        for chunk in chunks {
            reader.push(chunk, &mut out)?;
        }
        let verified = reader.finish(certificates)?;
        Ok((out, summary(&verified)))
    }

    fn check_signed(
        input: &[u8],
        limits: &Limits,
        certificates: &[Certificate],
        plans: &[Plan],
    ) -> Result<(Vec<u8>, Summary), Error> {
        let expected = whole_signed(input, limits, certificates);
        for plan in plans {
            assert_eq!(
                stream_signed(&split(input, *plan), limits, certificates),
                expected,
                "{plan:?}"
            );
        }
        expected
    }

    fn sign(content: &[u8], options: &SignOptions) -> Vec<u8> {
        let (cert, key) = doc_identity();
        sign_encapsulated(
            content,
            &Signer::new(&cert, &key),
            options,
            crate::cert::unix_time(1_800_000_000),
            &mut ChaCha20Rng::seed_from_u64(12),
        )
        .unwrap()
    }

    /// Path of the eContent OCTET STRING: ContentInfo [1] → [0] [0] → SignedData [2] →
    /// encapContentInfo [1] → [0] [0].
    const SIGNED_OCTETS: [usize; 5] = [1, 0, 2, 1, 0];

    #[test]
    fn signed_matches_whole_buffer() {
        let limits = Limits::default();
        let doc = doc_identity().0;
        let mut runs = 0;
        for digest in DigestAlgorithm::ALL {
            for scheme in [SignatureScheme::Pkcs1v15, SignatureScheme::Pss] {
                for (i, len) in [0, 1, 300].into_iter().enumerate() {
                    let options = SignOptions {
                        digest,
                        scheme,
                        algorithm_protection: i != 1,
                        include_certificates: i != 2,
                        use_subject_key_id: i == 1,
                    };
                    let der = sign(&content(len), &options);
                    let supplied = if options.include_certificates {
                        Vec::new()
                    } else {
                        vec![doc.clone()]
                    };
                    for style in styles() {
                        let input = encode(&tree(&der), style);
                        let plans = if len == 1 && digest == DigestAlgorithm::Sha256 {
                            plans()
                        } else {
                            few_plans(input.len())
                        };
                        let (out, verified) =
                            check_signed(&input, &limits, &supplied, &plans).unwrap();
                        assert_eq!(out, content(len));
                        assert_eq!(verified.0, digest);
                        runs += 1;
                    }
                }
            }
        }
        assert_eq!(runs, 4 * 2 * 3 * 4);
    }

    #[test]
    fn signed_fixtures() {
        let limits = Limits::default();
        let payload = include_bytes!("../../tests/data/cms/openssl_stream_payload.txt");
        let with_attributes = include_bytes!("../../tests/data/cms/openssl_signed_stream.ber");
        let (out, verified) = check_signed(with_attributes, &limits, &[], &plans()).unwrap();
        assert_eq!(out, payload);
        assert_eq!((verified.0, verified.6), (DigestAlgorithm::Sha256, true));
        // No signed attributes: the signature is over the digest of the content itself,
        // computed while it streamed.
        let without = include_bytes!("../../tests/data/cms/openssl_signed_noattr_stream.ber");
        let (out, verified) = check_signed(without, &limits, &[], &plans()).unwrap();
        assert_eq!(out, payload);
        assert_eq!((verified.0, verified.6), (DigestAlgorithm::Sha384, false));
        let mut tampered = without.to_vec();
        let at = tampered.windows(4).position(|w| w == b"PO1*").unwrap();
        tampered[at] = b'X';
        assert_eq!(
            check_signed(&tampered, &limits, &[], &few_plans(tampered.len())),
            Err(VerificationError::BadSignature.into())
        );
    }

    #[test]
    fn signed_broken_inputs_fail_alike() {
        let limits = Limits::default();
        let other = pyas2lib_identity("A").0;
        let der = sign(b"signed content", &SignOptions::default());
        let bare = sign(
            b"signed content",
            &SignOptions {
                include_certificates: false,
                ..SignOptions::default()
            },
        );
        for style in [Style::Der, Style::Indefinite(71), Style::LongForm] {
            let input = encode(&tree(&der), style);
            let plans = few_plans(input.len());
            // The signer's certificate neither embedded nor supplied.
            assert_eq!(
                check_signed(
                    &encode(&tree(&bare), style),
                    &limits,
                    std::slice::from_ref(&other),
                    &plans
                ),
                Err(VerificationError::SignerNotFound.into())
            );
            // Content changed.
            let tampered = altered(&der, style, |t| t.at(&SIGNED_OCTETS).bytes()[0] ^= 1);
            assert_eq!(
                check_signed(&tampered, &limits, &[], &plans),
                Err(VerificationError::DigestMismatch.into())
            );
            // No eContent (a detached signature).
            let (cert, key) = doc_identity();
            let detached = sign_detached(
                b"signed content",
                &Signer::new(&cert, &key),
                &SignOptions::default(),
                crate::cert::unix_time(1_800_000_000),
                &mut ChaCha20Rng::seed_from_u64(13),
            )
            .unwrap();
            assert_eq!(
                check_signed(&encode(&tree(&detached), style), &limits, &[], &plans),
                Err(VerificationError::ContentMismatch.into())
            );
            // Trailing garbage.
            let mut trailing = input.clone();
            trailing.push(0);
            assert_eq!(
                check_signed(&trailing, &limits, &[], &plans),
                Err(Error::malformed("ContentInfo (trailing data)", input.len()))
            );
            // Not SignedData.
            let enveloped = altered(&der, style, |t| {
                *t.at(&[0]).bytes() = oid::ENVELOPED_DATA.as_bytes().to_vec();
            });
            assert!(matches!(
                check_signed(&enveloped, &limits, &[], &plans),
                Err(Error::UnsupportedAlgorithm {
                    kind: AlgorithmKind::ContentType,
                    ..
                })
            ));
            // Limits on certificates and signers; digestAlgorithms entries that cannot be
            // read are passed over, as the whole-buffer parser never reads them.
            let mut no_certs = limits.clone();
            no_certs.max_certificates = 0;
            assert_eq!(
                check_signed(&input, &no_certs, &[], &plans),
                Err(Limit::Certificates.exceeded(&no_certs))
            );
            let mut no_signers = limits.clone();
            no_signers.max_signers = 0;
            assert_eq!(
                check_signed(&input, &no_signers, &[], &plans),
                Err(Limit::Signers.exceeded(&no_signers))
            );
            let junk = altered(&der, style, |t| {
                let Node::Kept(set) = t.at(&[1, 0, 1]) else {
                    unreachable!()
                };
                let mut entries = vec![0x05, 0x00, 0x30, 0x03, 0x06, 0x01, 0x2a];
                entries.extend_from_slice(&set[2..]);
                entries.extend_from_slice(&[0x30, 0x80, 0x00]);
                let mut kept = vec![0x31];
                ber::write_length(&mut kept, entries.len());
                kept.extend(entries);
                *set = kept;
            });
            assert!(check_signed(&junk, &limits, &[], &plans).is_ok());
            // Cut anywhere.
            if let Style::LongForm = style {
                continue;
            }
            for end in 0..input.len() {
                let result = check_signed(&input[..end], &limits, &[], &[Plan::Whole, Plan::Bytes]);
                assert!(
                    matches!(result, Err(Error::Malformed { .. })),
                    "{end}: {result:?}"
                );
            }
        }
    }

    /// Where streaming must differ: a digest the digestAlgorithms did not announce, and the
    /// cap on captured structure.
    #[test]
    fn signed_differences_from_whole_buffer() {
        let limits = Limits::default();
        let der = sign(b"signed content", &SignOptions::default());
        // digestAlgorithms names SHA-1 only; the signer used SHA-256.
        let unannounced = altered(&der, Style::Der, |t| {
            *t.at(&[1, 0, 1]) = Node::Kept(ber::encode_constructed(
                Tag::SET,
                &[&DigestAlgorithm::Sha1.algorithm_identifier()],
            ));
        });
        assert!(whole_signed(&unannounced, &limits, &[]).is_ok());
        assert_eq!(
            stream_signed(&[&unannounced], &limits, &[]),
            Err(VerificationError::UnannouncedDigest.into())
        );
        let mut small = limits.clone();
        small.max_cms_header_size = 200;
        assert!(whole_signed(&der, &small, &[]).is_ok());
        assert_eq!(
            stream_signed(&[&der], &small, &[]),
            Err(Limit::CmsHeaderSize.exceeded(&small))
        );
    }

    /// `verify_digests` is `verify` with the digests given: the same result when they are
    /// right, `UnannouncedDigest` when the signer's is missing, `ContentMismatch` for a
    /// SignedData that carries its content.
    #[test]
    fn verify_digests_is_verify_with_digests() {
        let limits = Limits::default();
        let (cert, key) = doc_identity();
        let content = b"detached content";
        for digest in DigestAlgorithm::ALL {
            let options = SignOptions {
                digest,
                ..SignOptions::default()
            };
            let der = sign_detached(
                content,
                &Signer::new(&cert, &key),
                &options,
                crate::cert::unix_time(1_800_000_000),
                &mut ChaCha20Rng::seed_from_u64(14),
            )
            .unwrap();
            let signed = SignedData::parse(&der, &limits).unwrap();
            let expected = summary(&signed.verify(Some(content), &[]).unwrap());
            let given = signed
                .verify_digests(&|d| Some(d.digest(content)), &[])
                .unwrap();
            assert_eq!(summary(&given), expected);
            let only_this = signed
                .verify_digests(&|d| (d == digest).then(|| d.digest(content)), &[])
                .unwrap();
            assert_eq!(summary(&only_this), expected);
            assert_eq!(
                signed
                    .verify_digests(&|d| (d != digest).then(|| d.digest(content)), &[])
                    .unwrap_err(),
                VerificationError::UnannouncedDigest.into()
            );
            assert_eq!(
                signed
                    .verify_digests(&|d| Some(d.digest(b"other content")), &[])
                    .unwrap_err(),
                VerificationError::DigestMismatch.into()
            );
        }
        let encapsulated = sign(content, &SignOptions::default());
        let signed = SignedData::parse(&encapsulated, &limits).unwrap();
        assert_eq!(
            signed
                .verify_digests(&|d| Some(d.digest(content)), &[])
                .unwrap_err(),
            VerificationError::ContentMismatch.into()
        );
    }
}
