//! Streaming MIME: the rules of the whole-buffer parser in [`super`] as sans-IO state
//! machines that are fed a body in chunks split anywhere, with memory bounded by
//! [`MimeLimits`] and never by the size of the payload.
//!
//! Each piece mirrors one whole-buffer function, byte for byte and error for error:
//!
//! * [`HeaderBlock`]: [`super::parse_headers`] (and the header part of
//!   [`super::parse_part`]);
//! * [`PartSplitter`]: the delimiter search of [`super::parse_multipart_body`]
//!   (RFC 2046 §5.1.1);
//! * [`TransferDecoder`]: [`TransferEncoding::decode`], [`super::base64_decode`],
//!   [`super::quoted_printable_decode`] (RFC 2045 §6);
//! * [`Canonicalizer`]: [`super::canonicalize_text`] (RFC 5751 §3.1.1);
//! * [`EntityCanonicalizer`]: [`super::canonical_entity`] over the result of
//!   [`super::parse_part`], the parse errors included.
//!
//! Where memory would otherwise grow with the input, the streaming pieces stop early
//! with an error the whole-buffer functions would not give (each is documented on the
//! item concerned):
//!
//! * a line that starts like a multipart delimiter and goes on with more than
//!   [`MimeLimits::max_header_line`] bytes of transport padding (SP / HTAB) is
//!   [`MimeError::MaxHeaderLineExceeded`] at the offset of its `--` (the whole-buffer
//!   parser reads it as a delimiter or as content, depending on what follows);
//! * a run of SP / HTAB inside a quoted-printable line that switches between the two
//!   more than [`MAX_QP_WHITESPACE_RUNS`] times is
//!   [`MimeError::InvalidQuotedPrintable`] at the start of the run.
//!
//! Everything else, error variants and offsets included, is the same however the
//! input is chunked; the unit tests check that against the whole-buffer functions.

// The streaming inbound pipeline that calls these is being written alongside.

use std::borrow::Cow;

use super::encoding::{decode_base64_groups, decode_base64_tail, hex_value, is_base64_char};
use super::multipart::validate_boundary;
use super::{
    ContentType, Headers, MAX_DEPTH_CEILING, MimeError, MimeLimits, TransferEncoding,
    canonicalize_text, is_lws, is_wsp, parse_headers, work,
};

// ---------------------------------------------------------------------------
// Header block
// ---------------------------------------------------------------------------

/// An entity's header block (RFC 2045 §3, RFC 5322 §2.2) gathered as it arrives, with
/// the rules and limits of [`super::parse_headers`]: CRLF or bare LF line ends, folded
/// continuation lines, the block ending at the first empty line (or, on
/// [`HeaderBlock::finish`], at the end of the entity after a complete line).
///
/// Every line is checked as soon as its line end arrives, so an error comes as early
/// as the bytes decide it, and is exactly the error `parse_headers` gives for the same
/// bytes (offsets from the start of the block). Memory: the block itself, which the
/// limits bound (at most `max_headers + 1` fields of at most `max_header_line` bytes);
/// a line that can only end in an error is not kept. Work: each byte is looked at a
/// constant number of times, however the input is chunked.
pub(crate) struct HeaderBlock {
    limits: MimeLimits,
    /// Added to every error offset (where the block lies in a larger buffer).
    base: usize,
    /// The block so far: every complete line, and the current line unless doomed.
    buf: Vec<u8>,
    /// Offset of the current, unterminated line from the start of the block.
    line_start: usize,
    /// Bytes of the current line seen so far.
    line_len: usize,
    /// First byte of the current line (when `line_len > 0`).
    line_first: u8,
    /// The current line can only end in an error, so its bytes are not kept.
    doomed: bool,
    /// Start of the header field that continuation lines would extend.
    pending: Option<usize>,
    /// Fields completed so far.
    fields: usize,
    state: BlockState,
}

enum BlockState {
    Open,
    Complete,
    Failed(MimeError),
}

impl HeaderBlock {
    /// An empty block, limited as [`super::parse_part`] limits a header block.
    pub(crate) fn new(limits: &MimeLimits) -> Self {
        Self::at(limits, 0)
    }

    /// An empty block whose first byte lies at `base` in a larger buffer: error offsets
    /// are shifted by `base`, as [`super::parse_part`] reports them for a nested part.
    pub(crate) fn at(limits: &MimeLimits, base: usize) -> Self {
        HeaderBlock {
            limits: *limits,
            base,
            buf: Vec::new(),
            line_start: 0,
            line_len: 0,
            line_first: 0,
            doomed: false,
            pending: None,
            fields: 0,
            state: BlockState::Open,
        }
    }

    /// Feeds bytes. Once the block is complete (its empty line has arrived) returns
    /// `Some(n)`: the first `n` bytes of `input` ended the block, the rest is body.
    /// `None`: more is needed. After completion every call returns `Some(0)`; after an
    /// error, the same error.
    pub(crate) fn push(&mut self, input: &[u8]) -> Result<Option<usize>, MimeError> {
        match &self.state {
            BlockState::Complete => return Ok(Some(0)),
            BlockState::Failed(e) => return Err(e.clone()),
            BlockState::Open => {}
        }
        let mut used = 0usize;
        while let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) {
            let lf = memchr::memchr(b'\n', rest);
            let take = lf.map_or(rest.len(), |j| j.saturating_add(1));
            work::examined(take);
            self.extend_line(rest.get(..take).unwrap_or(rest), lf.is_some());
            used = used.saturating_add(take);
            if lf.is_none() {
                continue;
            }
            match self.end_line() {
                Ok(false) => {}
                Ok(true) => {
                    self.state = BlockState::Complete;
                    return Ok(Some(used));
                }
                Err(e) => {
                    self.state = BlockState::Failed(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(None)
    }

    /// The raw block, its empty line included, once [`HeaderBlock::push`] returned
    /// `Some` or [`HeaderBlock::finish`] returned `Ok`.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The header fields of the block ([`super::parse_headers`] on
    /// [`HeaderBlock::bytes`]); offsets are from the start of the block.
    pub(crate) fn headers(&self) -> Result<Headers<'_>, MimeError> {
        parse_headers(&self.buf, &self.limits).map(|(list, _)| Headers::from(list))
    }

    /// The entity ended before an empty line: what `parse_headers` says of an entity
    /// made of exactly these bytes. `Ok(len)`: a headers-only entity of `len` bytes,
    /// all of them header block (RFC 2046 `body-part` without a body);
    /// [`MimeError::UnterminatedHeaders`] if the last line has no line end. After
    /// completion, the block's length.
    pub(crate) fn finish(&mut self) -> Result<usize, MimeError> {
        match &self.state {
            BlockState::Complete => return Ok(self.buf.len()),
            BlockState::Failed(e) => return Err(e.clone()),
            BlockState::Open => {}
        }
        let result = if self.line_len > 0 {
            Err(MimeError::UnterminatedHeaders {
                offset: self.base.saturating_add(self.line_start),
            })
        } else {
            self.close_field()
        };
        match result {
            Ok(()) => {
                self.state = BlockState::Complete;
                Ok(self.line_start)
            }
            Err(e) => {
                self.state = BlockState::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Adds a piece of the current line (`terminated`: it ends with the LF).
    fn extend_line(&mut self, segment: &[u8], terminated: bool) {
        if self.line_len == 0 {
            self.line_first = segment.first().copied().unwrap_or(0);
        }
        self.line_len = self.line_len.saturating_add(segment.len());
        if self.doomed {
            return;
        }
        // The line will be at least this long once its line end is there.
        let least = if terminated {
            self.line_len
        } else {
            self.line_len.saturating_add(1)
        };
        // An empty line (`LF`, `CR LF`) is never doomed.
        self.doomed = self.line_len > 2 && !self.could_be_valid(least);
        if !self.doomed {
            self.buf.extend_from_slice(segment);
        }
    }

    /// Whether the current line, `least` bytes long or more, can pass the checks of
    /// `parse_block` (if not, its error is decided by its first byte and length).
    fn could_be_valid(&self, least: usize) -> bool {
        let max = self.limits.max_header_line;
        if is_wsp(self.line_first) {
            self.pending.is_some_and(|start| {
                self.line_start.saturating_sub(start).saturating_add(least) <= max
            })
        } else {
            least <= max
        }
    }

    /// Ends a field: counts it against `max_headers`.
    fn close_field(&mut self) -> Result<(), MimeError> {
        if self.pending.take().is_some() {
            if self.fields >= self.limits.max_headers {
                return Err(MimeError::MaxHeadersExceeded {
                    max_headers: self.limits.max_headers,
                });
            }
            self.fields = self.fields.saturating_add(1);
        }
        Ok(())
    }

    /// The current line got its LF: checks it as `parse_block` does. `Ok(true)`: it
    /// was the empty line ending the block.
    fn end_line(&mut self) -> Result<bool, MimeError> {
        let pos = self.line_start;
        let next = pos.saturating_add(self.line_len);
        let max = self.limits.max_header_line;
        let base = self.base;
        let at = |offset: usize| base.saturating_add(offset);
        // The line without its line end (a doomed line is not kept).
        let content_end = (!self.doomed).then(|| {
            let line = self.buf.get(pos..next).unwrap_or(&[]);
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            pos.saturating_add(line.len())
        });
        if content_end == Some(pos) {
            self.close_field()?;
            self.line_start = next;
            self.line_len = 0;
            return Ok(true);
        }
        if is_wsp(self.line_first) {
            let Some(start) = self.pending else {
                return Err(MimeError::MalformedHeader {
                    offset: at(pos),
                    reason: "continuation line before the first header",
                });
            };
            if next.saturating_sub(start) > max {
                return Err(MimeError::MaxHeaderLineExceeded {
                    max_header_line: max,
                    offset: at(start),
                });
            }
        } else {
            self.close_field()?;
            if self.line_len > max {
                return Err(MimeError::MaxHeaderLineExceeded {
                    max_header_line: max,
                    offset: at(pos),
                });
            }
            // A doomed line is longer than `max`, so it is kept here.
            let content = self.buf.get(pos..content_end.unwrap_or(pos)).unwrap_or(&[]);
            check_field_name(content, at(pos))?;
            self.pending = Some(pos);
        }
        self.line_start = next;
        self.line_len = 0;
        self.doomed = false;
        Ok(false)
    }
}

/// The `name:` checks `parse_block` makes on the first line of a field.
fn check_field_name(line: &[u8], offset: usize) -> Result<(), MimeError> {
    work::examined(line.len());
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(MimeError::MalformedHeader {
            offset,
            reason: "missing ':'",
        })?;
    let raw_name = line.get(..colon).unwrap_or(&[]);
    let name_len = raw_name
        .iter()
        .rposition(|&b| !is_wsp(b))
        .map_or(0, |p| p.saturating_add(1));
    let name = raw_name.get(..name_len).unwrap_or(&[]);
    if name.is_empty() {
        return Err(MimeError::MalformedHeader {
            offset,
            reason: "empty field name",
        });
    }
    if !name.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(MimeError::MalformedHeader {
            offset,
            reason: "invalid byte in field name",
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Multipart splitting
// ---------------------------------------------------------------------------

/// What [`PartSplitter`] reports, in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartEvent<'a> {
    /// A body part begins (0-based index). Reported when its first byte arrives, or
    /// when the delimiter ending an empty part does: a delimiter line at the very end
    /// of the body starts no part, as in [`super::parse_multipart_body`].
    Begin(usize),
    /// Bytes of the current part, headers and body exactly as received: the `Data` of
    /// part `i`, concatenated, are [`super::Part::raw`] of part `i` of the whole-buffer
    /// parse.
    Data(&'a [u8]),
    /// The current part ended (at a delimiter, or at the end of the body).
    End,
    /// The close delimiter (`--boundary--`) was seen; what follows is epilogue.
    Closed,
}

/// Splits a multipart body into its body parts as it arrives (RFC 2046 §5.1.1), with
/// exactly the delimiter grammar of [`super::parse_multipart_body`]: a delimiter is
/// `--boundary` at the start of the body or of a line, optionally `--` (close), then
/// SP/HTAB transport padding, then CRLF, LF or the end of the body; the CRLF or LF
/// before it belongs to it; the preamble and epilogue are skipped; no delimiter at all
/// is [`MimeError::MissingDelimiter`]; a missing close delimiter is accepted (the last
/// part runs to the end, [`PartSplitter::closed`] stays `false`).
///
/// Bytes that may start a delimiter (a line end, then a prefix of the delimiter line)
/// are held back until decided: at most the boundary, the line end, `--`, the
/// transport padding and a CR. Padding longer than [`MimeLimits::max_header_line`] is
/// [`MimeError::MaxHeaderLineExceeded`] at the offset of the line's `--`, whatever
/// follows (the one difference from the whole-buffer parser, which holds the whole
/// body). Work is linear in the input however it is chunked: each byte is examined at
/// most twice, runs without CR or LF are skipped with `memchr`.
///
/// Parts are counted against [`MimeLimits::max_parts`] when they begin; the
/// whole-buffer parser counts the parts of the whole tree, so a caller that parses
/// nested multiparts adds their parts with [`PartSplitter::add_parts`] (or starts
/// from a count with [`PartSplitter::with_parts`]). The nesting depth is the caller's
/// to check.
pub(crate) struct PartSplitter {
    core: Splitter,
    parts: usize,
    max_parts: usize,
    failed: Option<crate::Error>,
}

impl PartSplitter {
    /// A splitter for `boundary` (the `boundary` parameter as received), validated as
    /// the whole-buffer parser validates it ([`MimeError::InvalidBoundary`]).
    pub(crate) fn new(boundary: &[u8], limits: &MimeLimits) -> Result<Self, MimeError> {
        Self::with_parts(boundary, limits, 0)
    }

    /// Like [`PartSplitter::new`], with `parts_before` parts of the tree already counted
    /// against [`MimeLimits::max_parts`].
    pub(crate) fn with_parts(
        boundary: &[u8],
        limits: &MimeLimits,
        parts_before: usize,
    ) -> Result<Self, MimeError> {
        Ok(PartSplitter {
            core: Splitter::new(boundary, limits.max_header_line, 0)?,
            parts: parts_before,
            max_parts: limits.max_parts,
            failed: None,
        })
    }

    /// Feeds bytes of the body, reporting what they complete to `on`. An error from
    /// `on` stops the splitter and is returned; after any error every call returns it.
    pub(crate) fn push(
        &mut self,
        input: &[u8],
        on: &mut dyn FnMut(PartEvent<'_>) -> Result<(), crate::Error>,
    ) -> Result<(), crate::Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let (parts, max_parts) = (&mut self.parts, self.max_parts);
        let result = self
            .core
            .push(input, &mut |event| forward(event, parts, max_parts, on));
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// End of the body: decides the bytes held back, ends the last part, and fails
    /// where the whole-buffer parse fails: [`MimeError::MissingDelimiter`] when no
    /// delimiter was found. (A missing close delimiter is not an error there either;
    /// see [`PartSplitter::closed`].) Call it once, after the last push: bytes pushed
    /// after it would be read as more body.
    pub(crate) fn finish(
        &mut self,
        on: &mut dyn FnMut(PartEvent<'_>) -> Result<(), crate::Error>,
    ) -> Result<(), crate::Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let (parts, max_parts) = (&mut self.parts, self.max_parts);
        let result = self
            .core
            .finish(&mut |event| forward(event, parts, max_parts, on));
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Whether the close delimiter was seen ([`super::Multipart::closed`]).
    #[cfg(test)]
    pub(crate) fn closed(&self) -> bool {
        self.core.closed
    }

    /// Parts counted so far against [`MimeLimits::max_parts`] (those given to
    /// [`PartSplitter::with_parts`] and [`PartSplitter::add_parts`] included).
    #[cfg(test)]
    pub(crate) fn parts(&self) -> usize {
        self.parts
    }

    /// Counts `n` parts found nested inside the current part, as the whole-buffer
    /// parser counts every part of the tree before the next sibling begins.
    #[cfg(test)]
    pub(crate) fn add_parts(&mut self, n: usize) {
        self.parts = self.parts.saturating_add(n);
    }
}

/// Counts a beginning part and passes the public events on.
fn forward(
    event: Event<'_>,
    parts: &mut usize,
    max_parts: usize,
    on: &mut dyn FnMut(PartEvent<'_>) -> Result<(), crate::Error>,
) -> Result<(), crate::Error> {
    match event {
        Event::Begin { index, .. } => {
            count_part(parts, max_parts)?;
            on(PartEvent::Begin(index))
        }
        Event::Data(bytes) => on(PartEvent::Data(bytes)),
        Event::End => on(PartEvent::End),
        Event::Closed => on(PartEvent::Closed),
        Event::Framing(_) => Ok(()),
    }
}

/// One more part of the tree, as `push_part` counts it.
fn count_part(parts: &mut usize, max_parts: usize) -> Result<(), MimeError> {
    *parts = parts.saturating_add(1);
    if *parts > max_parts {
        return Err(MimeError::MaxPartsExceeded { max_parts });
    }
    Ok(())
}

/// What the splitter core reports: the public events, the absolute offset where a part
/// begins, and the bytes between parts (preamble, delimiter lines with the line end
/// before them, epilogue) that canonicalisation needs.
enum Event<'a> {
    Begin { index: usize, offset: usize },
    Data(&'a [u8]),
    End,
    Closed,
    Framing(&'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Before the first delimiter.
    Preamble,
    /// In a body part (`begun` once its `Begin` was reported).
    Part { index: usize, begun: bool },
    /// After the close delimiter.
    Epilogue,
}

/// Where the bytes held back stand in the delimiter grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// Nothing held: looking for the next CR or LF.
    Scan,
    /// A CR (the start of a CRLF before a delimiter?).
    Cr,
    /// At a line start (after its line end, if any), `k` bytes of `--boundary` matched.
    Marker(usize),
    /// `--boundary` matched.
    AfterMarker,
    /// `--boundary-`.
    Dash,
    /// Transport padding, after `--boundary` or `--boundary--` (`close`).
    Pad { close: bool },
    /// A CR after the padding: a CRLF ends the delimiter line.
    PadCr { close: bool },
}

/// What one byte does to a candidate delimiter.
enum Step {
    /// Still a candidate.
    Next,
    /// Not a delimiter: what was held is content; look at this byte again.
    Fail,
    /// The delimiter line is complete, this byte (its LF) included.
    Delimiter { close: bool },
}

/// The multipart delimiter state machine shared by [`PartSplitter`] and
/// [`EntityCanonicalizer`].
struct Splitter {
    /// `--boundary`.
    marker: Vec<u8>,
    mode: Mode,
    state: Match,
    /// Bytes of the current candidate that arrived in earlier chunks.
    held: Vec<u8>,
    /// Absolute offset of the next byte to arrive.
    offset: usize,
    /// Absolute offset where the current part starts.
    part_start: usize,
    /// Absolute offset of the current candidate line (its `--`).
    line_start: usize,
    /// Transport padding bytes in the current candidate.
    padding: usize,
    max_padding: usize,
    next_index: usize,
    closed: bool,
}

impl Splitter {
    /// `base`: the absolute offset of the body's first byte.
    fn new(boundary: &[u8], max_padding: usize, base: usize) -> Result<Self, MimeError> {
        validate_boundary(boundary)?;
        let mut marker = Vec::with_capacity(boundary.len().saturating_add(2));
        marker.extend_from_slice(b"--");
        marker.extend_from_slice(boundary);
        let held = Vec::with_capacity(marker.len().saturating_add(8));
        Ok(Splitter {
            marker,
            mode: Mode::Preamble,
            // The body starts at a line start with no line end before it.
            state: Match::Marker(0),
            held,
            offset: base,
            part_start: base,
            line_start: base,
            padding: 0,
            max_padding,
            next_index: 0,
            closed: false,
        })
    }

    /// Bytes held back now (for the memory test).
    #[cfg(test)]
    fn held_len(&self) -> usize {
        self.held.len()
    }

    fn push<E: From<MimeError>>(
        &mut self,
        input: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let base = self.offset;
        // `input[run..]` up to the candidate is content not yet reported; the
        // candidate is `held` followed by `input[cand..i]`.
        let mut i = 0usize;
        let mut run = 0usize;
        let mut cand = 0usize;
        while let Some(&b) = input.get(i) {
            if self.mode == Mode::Epilogue {
                break;
            }
            if self.state == Match::Scan {
                let rest = input.get(i..).unwrap_or(&[]);
                match memchr::memchr2(b'\r', b'\n', rest) {
                    None => {
                        work::examined(rest.len());
                        i = input.len();
                    }
                    Some(j) => {
                        work::examined(j.saturating_add(1));
                        cand = i.saturating_add(j);
                        i = cand.saturating_add(1);
                        if rest.get(j) == Some(&b'\r') {
                            self.state = Match::Cr;
                        } else {
                            self.at_line_start(base.saturating_add(i));
                        }
                    }
                }
                continue;
            }
            work::examined(1);
            let after = i.saturating_add(1);
            match self.step(b, base.saturating_add(after))? {
                Step::Next => i = after,
                // The byte is looked at again in `Scan` (which always moves on).
                Step::Fail => self.fail(on)?,
                Step::Delimiter { close } => {
                    let content = input.get(run..cand).unwrap_or(&[]);
                    let line = input.get(cand..after).unwrap_or(&[]);
                    self.delimiter(content, line, close, base.saturating_add(after), on)?;
                    (i, run, cand) = (after, after, after);
                }
            }
        }
        let rest = input.get(run..).unwrap_or(&[]);
        if self.mode == Mode::Epilogue {
            if !rest.is_empty() {
                on(Event::Framing(rest))?;
            }
        } else if self.state == Match::Scan {
            self.emit(rest, on)?;
        } else {
            let split = cand.saturating_sub(run);
            self.emit(rest.get(..split).unwrap_or(&[]), on)?;
            self.held
                .extend_from_slice(rest.get(split..).unwrap_or(&[]));
        }
        self.offset = base.saturating_add(input.len());
        Ok(())
    }

    fn finish<E: From<MimeError>>(
        &mut self,
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        match self.state {
            Match::Scan => {}
            // `--boundary` (or `--boundary--`), padding, then the end of the body.
            Match::AfterMarker => self.delimiter(&[], &[], false, self.offset, on)?,
            Match::Pad { close } => self.delimiter(&[], &[], close, self.offset, on)?,
            Match::Cr | Match::Marker(_) | Match::Dash | Match::PadCr { .. } => self.fail(on)?,
        }
        self.state = Match::Scan;
        match self.mode {
            Mode::Preamble => Err(MimeError::MissingDelimiter.into()),
            Mode::Part { begun: true, .. } => {
                self.mode = Mode::Epilogue;
                on(Event::End)
            }
            Mode::Part { begun: false, .. } | Mode::Epilogue => Ok(()),
        }
    }

    /// A line starts at absolute offset `at` (after a line end, or where a part starts).
    fn at_line_start(&mut self, at: usize) {
        self.state = Match::Marker(0);
        self.line_start = at;
    }

    /// Advances the candidate by byte `b`; `next` is the absolute offset after it.
    fn step(&mut self, b: u8, next: usize) -> Result<Step, MimeError> {
        let step = match self.state {
            Match::Scan => Step::Fail,
            Match::Cr if b == b'\n' => {
                self.at_line_start(next);
                Step::Next
            }
            Match::Cr => Step::Fail,
            Match::Marker(k) if self.marker.get(k) == Some(&b) => {
                let k = k.saturating_add(1);
                self.state = if k == self.marker.len() {
                    Match::AfterMarker
                } else {
                    Match::Marker(k)
                };
                Step::Next
            }
            Match::Marker(_) => Step::Fail,
            Match::AfterMarker if b == b'-' => {
                self.state = Match::Dash;
                Step::Next
            }
            Match::Dash if b == b'-' => {
                self.padding = 0;
                self.state = Match::Pad { close: true };
                Step::Next
            }
            Match::Dash => Step::Fail,
            Match::AfterMarker | Match::Pad { .. } => {
                let close = matches!(self.state, Match::Pad { close: true });
                match b {
                    b' ' | b'\t' => {
                        self.padding = if self.state == Match::AfterMarker {
                            1
                        } else {
                            self.padding.saturating_add(1)
                        };
                        if self.padding > self.max_padding {
                            return Err(MimeError::MaxHeaderLineExceeded {
                                max_header_line: self.max_padding,
                                offset: self.line_start,
                            });
                        }
                        self.state = Match::Pad { close };
                        Step::Next
                    }
                    b'\r' => {
                        self.state = Match::PadCr { close };
                        Step::Next
                    }
                    b'\n' => Step::Delimiter { close },
                    _ => Step::Fail,
                }
            }
            Match::PadCr { close } if b == b'\n' => Step::Delimiter { close },
            Match::PadCr { .. } => Step::Fail,
        };
        Ok(step)
    }

    /// The candidate is not a delimiter: what was held back is content.
    fn fail<E: From<MimeError>>(
        &mut self,
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.state = Match::Scan;
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let result = self.emit(&held, on);
        self.held = held;
        self.held.clear();
        result
    }

    /// Reports content of the current mode.
    fn emit<E: From<MimeError>>(
        &mut self,
        bytes: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.mode {
            Mode::Preamble | Mode::Epilogue => on(Event::Framing(bytes)),
            Mode::Part { index, begun } => {
                if !begun {
                    self.mode = Mode::Part { index, begun: true };
                    on(Event::Begin {
                        index,
                        offset: self.part_start,
                    })?;
                }
                on(Event::Data(bytes))
            }
        }
    }

    /// A delimiter line is complete: `content` (before it in this chunk) is the end of
    /// the current part or preamble; `held` then `line` are the delimiter line, its
    /// line end before it included; the next part starts at absolute offset `next`.
    fn delimiter<E: From<MimeError>>(
        &mut self,
        content: &[u8],
        line: &[u8],
        close: bool,
        next: usize,
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.emit(content, on)?;
        if let Mode::Part { index, begun } = self.mode {
            if !begun {
                // Two delimiters in a row: an empty part.
                on(Event::Begin {
                    index,
                    offset: self.part_start,
                })?;
            }
            on(Event::End)?;
        }
        let held = std::mem::take(&mut self.held);
        let mut result = if held.is_empty() {
            Ok(())
        } else {
            on(Event::Framing(&held))
        };
        self.held = held;
        self.held.clear();
        if result.is_ok() && !line.is_empty() {
            result = on(Event::Framing(line));
        }
        result?;
        if close {
            self.closed = true;
            self.mode = Mode::Epilogue;
            self.state = Match::Scan;
            return on(Event::Closed);
        }
        self.mode = Mode::Part {
            index: self.next_index,
            begun: false,
        };
        self.next_index = self.next_index.saturating_add(1);
        self.part_start = next;
        // The part starts at a line start with no line end before it.
        self.at_line_start(next);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Transfer decoding
// ---------------------------------------------------------------------------

/// Most switches between SP and HTAB in one run of whitespace that a
/// quoted-printable line may hold while it is not yet known whether the run is
/// trailing (and dropped) or not; more is [`MimeError::InvalidQuotedPrintable`] at the
/// start of the run. Runs of one kind of whitespace are held as a count, whatever
/// their length.
pub(crate) const MAX_QP_WHITESPACE_RUNS: usize = 256;

/// Clean base64 characters gathered before they are decoded in one call.
const BASE64_BATCH: usize = 1024;

/// Streaming Content-Transfer-Encoding decoding (RFC 2045 §6): the output, and the
/// error with its offset (from the start of the body), are those of
/// [`TransferEncoding::decode`] on the whole body however it is chunked.
///
/// * identity (`7bit`, `8bit`, `binary`): copied, not validated;
/// * `base64`: as [`super::base64_decode`] (SP/HTAB/CR/LF anywhere, optional but exact
///   padding, nothing but whitespace after it, trailing bits ignored); full groups of
///   four characters are decoded with `base64ct`, as is the final partial group
///   completed with zero bits;
/// * `quoted-printable`: as [`super::quoted_printable_decode`]; whitespace whose fate
///   (trailing or not) is undecided is held as run lengths, see
///   [`MAX_QP_WHITESPACE_RUNS`];
/// * anything else: [`MimeError::UnknownTransferEncoding`] on the first call.
///
/// On error, `out` may hold part of the output; discard it.
pub(crate) struct TransferDecoder {
    kind: Decoder,
    failed: Option<MimeError>,
}

enum Decoder {
    Identity,
    Base64(Base64State),
    QuotedPrintable(QpState),
    Unknown(String),
}

impl TransferDecoder {
    /// A decoder for `encoding`.
    pub(crate) fn new(encoding: &TransferEncoding) -> Self {
        let kind = match encoding {
            TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary => {
                Decoder::Identity
            }
            TransferEncoding::Base64 => Decoder::Base64(Base64State::default()),
            TransferEncoding::QuotedPrintable => Decoder::QuotedPrintable(QpState::default()),
            TransferEncoding::Unknown(name) => Decoder::Unknown(name.clone()),
        };
        TransferDecoder { kind, failed: None }
    }

    /// Decodes the next bytes of the body into `out`.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MimeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = match &mut self.kind {
            Decoder::Identity => {
                out.extend_from_slice(input);
                Ok(())
            }
            Decoder::Base64(state) => state.push(input, out),
            Decoder::QuotedPrintable(state) => state.push(input, out),
            Decoder::Unknown(encoding) => Err(MimeError::UnknownTransferEncoding {
                encoding: encoding.clone(),
            }),
        };
        self.fail_on(result)
    }

    /// End of the body: the last bytes, or the error the end decides (a base64 group
    /// cut short, bad padding, an unfinished `=XX`).
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MimeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = match &mut self.kind {
            Decoder::Identity => Ok(()),
            Decoder::Base64(state) => state.finish(out),
            Decoder::QuotedPrintable(state) => state.finish(out),
            Decoder::Unknown(encoding) => Err(MimeError::UnknownTransferEncoding {
                encoding: encoding.clone(),
            }),
        };
        self.fail_on(result)
    }

    fn fail_on(&mut self, result: Result<(), MimeError>) -> Result<(), MimeError> {
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }
}

#[derive(Default)]
struct Base64State {
    /// Alphabet characters not yet decoded (fewer than four between calls).
    clean: Vec<u8>,
    /// `=` seen so far.
    pads: usize,
    /// Offset of the first `=`.
    first_pad: usize,
    /// Offset of the next byte.
    offset: usize,
}

impl Base64State {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MimeError> {
        work::examined(input.len());
        for &b in input {
            let at = self.offset;
            self.offset = self.offset.saturating_add(1);
            if is_lws(b) {
                continue;
            }
            if b == b'=' {
                if self.pads == 0 {
                    self.first_pad = at;
                }
                self.pads = self.pads.saturating_add(1);
                if self.pads > 2 {
                    return Err(MimeError::InvalidBase64 { offset: at });
                }
                continue;
            }
            if !is_base64_char(b) || self.pads > 0 {
                return Err(MimeError::InvalidBase64 { offset: at });
            }
            self.clean.push(b);
            if self.clean.len() >= BASE64_BATCH {
                self.decode_groups(out)?;
            }
        }
        self.decode_groups(out)
    }

    /// Decodes the complete groups of four gathered so far (with `base64ct`).
    fn decode_groups(&mut self, out: &mut Vec<u8>) -> Result<(), MimeError> {
        let chars = (self.clean.len() / 4).saturating_mul(4);
        if chars == 0 {
            return Ok(());
        }
        decode_base64_groups(self.clean.get(..chars).unwrap_or(&[]), out, self.offset)?;
        self.clean.drain(..chars);
        Ok(())
    }

    /// The partial last group and the padding rules of `base64_decode`.
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MimeError> {
        self.decode_groups(out)?;
        let rem = self.clean.len();
        if rem == 1 {
            return Err(MimeError::InvalidBase64 {
                offset: self.offset,
            });
        }
        if self.pads > 0 && rem.saturating_add(self.pads) != 4 {
            return Err(MimeError::InvalidBase64 {
                offset: self.first_pad,
            });
        }
        // Two characters carry one byte, three carry two; leftover bits are ignored.
        decode_base64_tail(&self.clean, out, self.offset)?;
        self.clean.clear();
        Ok(())
    }
}

/// Whitespace held as runs of one byte value.
#[derive(Default)]
struct WhitespaceRuns {
    runs: Vec<(u8, usize)>,
    /// Offset of the first byte of the first run.
    start: usize,
}

impl WhitespaceRuns {
    fn push(&mut self, b: u8, at: usize) -> Result<(), MimeError> {
        if let Some((last, n)) = self.runs.last_mut()
            && *last == b
        {
            *n = n.saturating_add(1);
            return Ok(());
        }
        if self.runs.is_empty() {
            self.start = at;
        }
        if self.runs.len() >= MAX_QP_WHITESPACE_RUNS {
            return Err(MimeError::InvalidQuotedPrintable { offset: self.start });
        }
        self.runs.push((b, 1));
        Ok(())
    }

    /// The whitespace was not trailing: it is output.
    fn flush(&mut self, out: &mut Vec<u8>) {
        for (b, n) in self.runs.drain(..) {
            out.resize(out.len().saturating_add(n), b);
        }
    }

    /// The whitespace was trailing: it is dropped.
    fn clear(&mut self) {
        self.runs.clear();
    }
}

/// Where a quoted-printable `=` stands; `at` is its offset.
#[derive(Default, Clone, Copy)]
enum Escape {
    #[default]
    None,
    /// `=`.
    Eq { at: usize },
    /// `=X`, `X` a hex digit of value `hi`.
    Hex { at: usize, hi: u8 },
    /// `=` then whitespace: only a line end may follow (soft line break).
    EqSpace { at: usize },
    /// `=`, maybe whitespace, then CR: only LF may follow.
    EqCr { at: usize },
}

#[derive(Default)]
struct QpState {
    /// Whitespace not yet known to be trailing.
    space: WhitespaceRuns,
    /// A CR held: it ends the line if LF follows, else it is content.
    cr: bool,
    escape: Escape,
    /// Offset of the next byte.
    offset: usize,
}

impl QpState {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MimeError> {
        work::examined(input.len());
        for &b in input {
            let at = self.offset;
            self.offset = self.offset.saturating_add(1);
            self.byte(b, at, out)?;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8, at: usize, out: &mut Vec<u8>) -> Result<(), MimeError> {
        match self.escape {
            Escape::None => {}
            Escape::Eq { at: eq } => {
                self.escape = match (b, hex_value(b)) {
                    (_, Some(hi)) => Escape::Hex { at: eq, hi },
                    (b' ' | b'\t', _) => Escape::EqSpace { at: eq },
                    (b'\r', _) => Escape::EqCr { at: eq },
                    // Soft line break: the line end is dropped.
                    (b'\n', _) => Escape::None,
                    _ => return Err(MimeError::InvalidQuotedPrintable { offset: eq }),
                };
                return Ok(());
            }
            Escape::Hex { at: eq, hi } => {
                let lo = hex_value(b).ok_or(MimeError::InvalidQuotedPrintable { offset: eq })?;
                out.push((hi << 4) | lo);
                self.escape = Escape::None;
                return Ok(());
            }
            Escape::EqSpace { at: eq } => {
                self.escape = match b {
                    b' ' | b'\t' => Escape::EqSpace { at: eq },
                    b'\r' => Escape::EqCr { at: eq },
                    b'\n' => Escape::None,
                    _ => return Err(MimeError::InvalidQuotedPrintable { offset: eq }),
                };
                return Ok(());
            }
            Escape::EqCr { at: eq } => {
                if b != b'\n' {
                    return Err(MimeError::InvalidQuotedPrintable { offset: eq });
                }
                self.escape = Escape::None;
                return Ok(());
            }
        }
        if self.cr {
            self.cr = false;
            if b == b'\n' {
                // CRLF: the whitespace before it was trailing.
                self.space.clear();
                out.extend_from_slice(b"\r\n");
                return Ok(());
            }
            self.space.flush(out);
            out.push(b'\r');
        }
        match b {
            b'\n' => {
                self.space.clear();
                out.push(b'\n');
            }
            b'\r' => self.cr = true,
            b' ' | b'\t' => self.space.push(b, at)?,
            b'=' => {
                self.space.flush(out);
                self.escape = Escape::Eq { at };
            }
            _ => {
                self.space.flush(out);
                out.push(b);
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MimeError> {
        match self.escape {
            // `=` (and whitespace) at the end: a soft line break.
            Escape::None | Escape::Eq { .. } | Escape::EqSpace { .. } => {}
            Escape::Hex { at, .. } | Escape::EqCr { at } => {
                return Err(MimeError::InvalidQuotedPrintable { offset: at });
            }
        }
        self.escape = Escape::None;
        if self.cr {
            // A last CR without LF is content, and so is the whitespace before it.
            self.cr = false;
            self.space.flush(out);
            out.push(b'\r');
        }
        self.space.clear();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Canonicalisation
// ---------------------------------------------------------------------------

/// Streaming RFC 5751 §3.1.1 text canonicalisation: every bare LF becomes CRLF, CRLF
/// and bare CR stay. The output of all pushes is [`super::canonicalize_text`] of the
/// whole input however it is split: only the byte before an LF matters, so a CR at
/// the end of a chunk is output at once and remembered.
pub(crate) struct Canonicalizer {
    /// The last byte seen (0 at the start).
    prev: u8,
    changed: bool,
}

impl Default for Canonicalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Canonicalizer {
    /// A canonicalizer at the start of a text.
    pub(crate) fn new() -> Self {
        Canonicalizer {
            prev: 0,
            changed: false,
        }
    }

    /// Canonicalises the next bytes into `out`.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        work::examined(input.len());
        let mut start = 0usize;
        for lf in memchr::memchr_iter(b'\n', input) {
            let before = match lf.checked_sub(1) {
                Some(p) => input.get(p).copied().unwrap_or(0),
                None => self.prev,
            };
            if before != b'\r' {
                out.extend_from_slice(input.get(start..lf).unwrap_or(&[]));
                out.push(b'\r');
                start = lf;
                self.changed = true;
            }
        }
        out.extend_from_slice(input.get(start..).unwrap_or(&[]));
        if let Some(&last) = input.last() {
            self.prev = last;
        }
    }

    /// End of the text (nothing is held back); the canonicalizer starts a new text.
    pub(crate) fn finish(&mut self, _out: &mut Vec<u8>) {
        self.prev = 0;
    }

    /// Whether a CR was inserted so far (the output differs from the input).
    pub(crate) fn changed(&self) -> bool {
        self.changed
    }
}

/// Streaming [`super::canonical_entity`] (RFC 5751 §3.1.1, RFC 4130 §7.3.1): the
/// canonical form of an entity for a MIC or signature check, computed while the entity
/// is parsed as [`super::parse_part`] parses it. The output of all pushes equals
/// `canonical_entity(&parse_part(entity)?, treat_as_binary)`, and the result is
/// `parse_part`'s error when it fails (offsets from the start of the entity, or from
/// the `offset` given to [`EntityCanonicalizer::with_context`]):
///
/// * the header block (with its empty line) canonicalised as text;
/// * a non-multipart body kept as is if `Content-Transfer-Encoding: binary`, else
///   canonicalised as text;
/// * a multipart body (for multipart entities too, output and errors are those of the
///   whole-buffer functions): split with the delimiter grammar of [`PartSplitter`],
///   each body part canonicalised by these rules in turn, preamble, delimiter lines and
///   epilogue as text; kept as is if the multipart entity itself is `binary`. Nesting
///   depth and the part count of the tree are checked as `parse_part` checks them;
/// * with `treat_as_binary`, the entity as received (still parsed, so still refused
///   where `parse_part` refuses it).
///
/// The one difference from the whole-buffer functions is [`PartSplitter`]'s: a
/// candidate delimiter line with more than `max_header_line` bytes of transport
/// padding is an error. Memory: one header block and, per multipart level, the bytes a
/// [`PartSplitter`] holds back.
pub(crate) struct EntityCanonicalizer {
    entity: Entity,
    shared: Shared,
    failed: Option<MimeError>,
}

/// State of the whole tree.
struct Shared {
    /// Parts counted against `max_parts`.
    parts: usize,
    /// Whether the output differs from the input so far.
    diverged: bool,
}

impl EntityCanonicalizer {
    /// A canonicalizer for a whole entity, parsed as [`super::parse_part`] parses its
    /// input (depth 0, no parts counted yet).
    pub(crate) fn new(treat_as_binary: bool, limits: &MimeLimits) -> Self {
        Self::with_context(treat_as_binary, limits, 0, 0, 0)
    }

    /// A canonicalizer for an entity nested in a larger tree, for the limits and
    /// offsets the whole-buffer parse of that tree would apply: the entity is at nesting
    /// `depth` (its body parts at `depth + 1`), `parts_before` parts of the tree were
    /// counted before its own, and its first byte is at `offset`.
    pub(crate) fn with_context(
        treat_as_binary: bool,
        limits: &MimeLimits,
        depth: usize,
        parts_before: usize,
        offset: usize,
    ) -> Self {
        EntityCanonicalizer {
            entity: Entity::new(treat_as_binary, limits, depth, offset),
            shared: Shared {
                parts: parts_before,
                diverged: false,
            },
            failed: None,
        }
    }

    /// Feeds bytes of the entity and appends what is decided of the canonical form to
    /// `out`. After an error, every call returns it.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MimeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.entity.push(input, out, &mut self.shared);
        self.fail_on(result)
    }

    /// End of the entity: the rest of the canonical form, or `parse_part`'s error.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MimeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.entity.finish(out, &mut self.shared);
        self.fail_on(result)
    }

    /// Whether the canonical form output so far differs from the bytes received (a CR
    /// was inserted): until it does, a digest of the raw bytes is also one of the
    /// canonical form.
    pub(crate) fn diverged(&self) -> bool {
        self.shared.diverged
    }

    /// Parts of the tree counted so far against [`MimeLimits::max_parts`] (the
    /// `parts_before` of [`EntityCanonicalizer::with_context`] included).
    #[cfg(test)]
    pub(crate) fn parts(&self) -> usize {
        self.shared.parts
    }

    fn fail_on(&mut self, result: Result<(), MimeError>) -> Result<(), MimeError> {
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }
}

/// One entity of the tree being canonicalised.
struct Entity {
    /// Output the bytes as received (`treat_as_binary`, or inside a `binary` body).
    raw: bool,
    limits: MimeLimits,
    depth: usize,
    /// Absolute offset of the entity's first byte.
    base: usize,
    stage: Stage,
}

enum Stage {
    Headers(HeaderBlock),
    Body(Body),
    Done,
}

enum Body {
    Raw,
    Text(Canonicalizer),
    Multipart(Box<Multi>),
}

/// A multipart body being split.
struct Multi {
    split: Splitter,
    /// Output as received (the multipart entity is `binary`, or `raw`).
    raw: bool,
    /// Canonicalises the bytes between parts.
    framing: Canonicalizer,
    /// The body part being read.
    child: Option<Box<Entity>>,
    /// Nesting depth of the body parts.
    depth: usize,
    limits: MimeLimits,
}

impl Entity {
    fn new(raw: bool, limits: &MimeLimits, depth: usize, base: usize) -> Self {
        Entity {
            raw,
            limits: *limits,
            depth,
            base,
            stage: Stage::Headers(HeaderBlock::at(limits, base)),
        }
    }

    fn push(&mut self, input: &[u8], out: &mut Vec<u8>, sh: &mut Shared) -> Result<(), MimeError> {
        let mut input = input;
        if let Stage::Headers(block) = &mut self.stage {
            let Some(used) = block.push(input)? else {
                return Ok(());
            };
            input = input.get(used..).unwrap_or(&[]);
            self.start_body(out, sh)?;
        }
        match &mut self.stage {
            Stage::Body(Body::Raw) => {
                out.extend_from_slice(input);
                Ok(())
            }
            Stage::Body(Body::Text(canon)) => {
                text(canon, input, out, sh);
                Ok(())
            }
            Stage::Body(Body::Multipart(multi)) => multi.push(input, out, sh),
            Stage::Headers(_) | Stage::Done => Ok(()),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>, sh: &mut Shared) -> Result<(), MimeError> {
        if let Stage::Headers(block) = &mut self.stage {
            // A headers-only entity (or the header error).
            block.finish()?;
            self.start_body(out, sh)?;
        }
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Body(Body::Multipart(mut multi)) => multi.finish(out, sh),
            Stage::Body(Body::Text(mut canon)) => {
                canon.finish(out);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The header block is complete: checks it as `parse_entity` and `build` do,
    /// outputs it, and sets up the body.
    fn start_body(&mut self, out: &mut Vec<u8>, sh: &mut Shared) -> Result<(), MimeError> {
        let Stage::Headers(block) = std::mem::replace(&mut self.stage, Stage::Done) else {
            return Ok(());
        };
        let (content_type, binary) = {
            let headers = block.headers()?;
            let content_type = match headers.unique("Content-Type")? {
                Some(h) => Some(ContentType::parse(h.value)?),
                None => None,
            };
            let encoding = match headers.unique("Content-Transfer-Encoding")? {
                Some(h) => TransferEncoding::parse(h.value),
                None => TransferEncoding::SevenBit,
            };
            (content_type, encoding == TransferEncoding::Binary)
        };
        let bytes = block.bytes();
        if self.raw {
            out.extend_from_slice(bytes);
        } else {
            let canonical = canonicalize_text(bytes);
            if matches!(canonical, Cow::Owned(_)) {
                sh.diverged = true;
            }
            out.extend_from_slice(&canonical);
        }
        let raw = self.raw || binary;
        let body = match content_type.filter(ContentType::is_multipart) {
            Some(content_type) => {
                let boundary = content_type.boundary().ok_or(MimeError::MissingBoundary)?;
                let body_start = self.base.saturating_add(bytes.len());
                let split = Splitter::new(boundary, self.limits.max_header_line, body_start)?;
                let depth = self.depth.saturating_add(1);
                let max_depth = self.limits.max_depth.min(MAX_DEPTH_CEILING);
                if depth > max_depth {
                    return Err(MimeError::MaxDepthExceeded { max_depth });
                }
                Body::Multipart(Box::new(Multi {
                    split,
                    raw,
                    framing: Canonicalizer::new(),
                    child: None,
                    depth,
                    limits: self.limits,
                }))
            }
            None if raw => Body::Raw,
            None => Body::Text(Canonicalizer::new()),
        };
        self.stage = Stage::Body(body);
        Ok(())
    }
}

/// Canonicalises text into `out`, noting whether it changed.
fn text(canon: &mut Canonicalizer, input: &[u8], out: &mut Vec<u8>, sh: &mut Shared) {
    canon.push(input, out);
    if canon.changed() {
        sh.diverged = true;
    }
}

impl Multi {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>, sh: &mut Shared) -> Result<(), MimeError> {
        let Multi {
            split,
            raw,
            framing,
            child,
            depth,
            limits,
        } = self;
        let mut on =
            |event: Event<'_>| on_event(event, *raw, framing, child, *depth, limits, out, sh);
        split.push(input, &mut on)
    }

    fn finish(&mut self, out: &mut Vec<u8>, sh: &mut Shared) -> Result<(), MimeError> {
        let Multi {
            split,
            raw,
            framing,
            child,
            depth,
            limits,
        } = self;
        let mut on =
            |event: Event<'_>| on_event(event, *raw, framing, child, *depth, limits, out, sh);
        split.finish(&mut on)
    }
}

/// Routes one splitter event of a multipart body: parts to a nested entity (counted
/// as `push_part` counts them), the bytes between parts to the text canonicalizer,
/// which starts afresh after each part as `canon_into` canonicalises each stretch
/// between parts on its own.
#[allow(clippy::too_many_arguments)]
fn on_event(
    event: Event<'_>,
    raw: bool,
    framing: &mut Canonicalizer,
    child: &mut Option<Box<Entity>>,
    depth: usize,
    limits: &MimeLimits,
    out: &mut Vec<u8>,
    sh: &mut Shared,
) -> Result<(), MimeError> {
    match event {
        Event::Begin { offset, .. } => {
            count_part(&mut sh.parts, limits.max_parts)?;
            *child = Some(Box::new(Entity::new(raw, limits, depth, offset)));
            Ok(())
        }
        Event::Data(bytes) => match child {
            Some(entity) => entity.push(bytes, out, sh),
            None => Ok(()),
        },
        Event::End => {
            if let Some(mut entity) = child.take() {
                entity.finish(out, sh)?;
            }
            framing.finish(out);
            Ok(())
        }
        Event::Closed => Ok(()),
        Event::Framing(bytes) => {
            if raw {
                out.extend_from_slice(bytes);
            } else {
                text(framing, bytes, out, sh);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::mime::multipart::find_delimiter;
    use crate::mime::{Part, base64_decode, canonical_entity, parse_part, quoted_printable_decode};
    use std::ops::Range;

    // ----- helpers ---------------------------------------------------------

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        /// In `0..n` (`n > 0`).
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The bare-LF variant of a CRLF input.
    fn lf(crlf: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(crlf.len());
        let mut i = 0;
        while i < crlf.len() {
            if !(crlf[i] == b'\r' && crlf.get(i + 1) == Some(&b'\n')) {
                out.push(crlf[i]);
            }
            i += 1;
        }
        out
    }

    /// Chunk sizes of several chunkings of a `len`-byte input: whole, one byte at a
    /// time, and seeded random ones (with some empty chunks).
    fn chunkings(len: usize, seed: u64, random: usize) -> Vec<Vec<usize>> {
        let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut all = vec![vec![len], vec![1; len]];
        for k in 0..random {
            let max = [2, 3, 7, 16, 64, 500][k % 6];
            let mut sizes = Vec::new();
            let mut left = len;
            while left > 0 {
                let n = if rng.below(10) == 0 {
                    0
                } else {
                    1 + rng.below(max.min(left))
                };
                sizes.push(n);
                left -= n;
            }
            all.push(sizes);
        }
        all
    }

    /// Every split of `len` bytes in two.
    fn two_way(len: usize) -> Vec<Vec<usize>> {
        (0..=len).map(|i| vec![i, len - i]).collect()
    }

    fn pieces<'a>(input: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
        let mut at = 0;
        let out = sizes
            .iter()
            .map(|&n| {
                let p = &input[at..at + n];
                at += n;
                p
            })
            .collect();
        assert_eq!(at, input.len());
        out
    }

    fn lim() -> MimeLimits {
        MimeLimits::default()
    }

    fn small() -> MimeLimits {
        MimeLimits {
            max_depth: 3,
            max_headers: 4,
            max_header_line: 60,
            max_parts: 5,
        }
    }

    /// Limits below any real header line: only empty lines pass.
    fn tiny() -> MimeLimits {
        MimeLimits {
            max_depth: 1,
            max_headers: 1,
            max_header_line: 1,
            max_parts: 1,
        }
    }

    type OwnedHeader = (Vec<u8>, Vec<u8>, Range<usize>);

    fn owned(headers: &[crate::mime::Header<'_>]) -> Vec<OwnedHeader> {
        headers
            .iter()
            .map(|h| (h.name.to_vec(), h.value.to_vec(), h.offset.clone()))
            .collect()
    }

    // ----- oracles and streaming runs -----------------------------------------

    fn whole_headers(
        input: &[u8],
        limits: &MimeLimits,
    ) -> Result<(Vec<OwnedHeader>, usize), MimeError> {
        parse_headers(input, limits).map(|(h, body)| (owned(&h), body))
    }

    fn stream_headers(
        input: &[u8],
        sizes: &[usize],
        limits: &MimeLimits,
    ) -> Result<(Vec<OwnedHeader>, usize), MimeError> {
        let mut block = HeaderBlock::new(limits);
        let mut consumed = 0;
        let mut done = false;
        for chunk in pieces(input, sizes) {
            if done {
                break;
            }
            match block.push(chunk)? {
                Some(n) => {
                    assert!(n <= chunk.len() && (n > 0 || chunk.is_empty()));
                    consumed += n;
                    done = true;
                }
                None => consumed += chunk.len(),
            }
        }
        if !done {
            consumed = block.finish()?;
            assert_eq!(consumed, input.len());
        }
        assert_eq!(block.bytes(), &input[..consumed]);
        // `headers()` re-parses: it must not be what finds an error `push` missed.
        let headers = block
            .headers()
            .expect("headers() fails only where push or finish did");
        Ok((owned(headers.as_slice()), consumed))
    }

    type Split = (Vec<Vec<u8>>, bool);

    /// The splitting of `Ctx::parse_multipart`, without parsing the parts.
    fn whole_split(body: &[u8], boundary: &[u8], limits: &MimeLimits) -> Result<Split, MimeError> {
        validate_boundary(boundary)?;
        let end = body.len();
        let first = find_delimiter(body, 0, end, boundary).ok_or(MimeError::MissingDelimiter)?;
        let mut parts = Vec::new();
        if first.close {
            return Ok((parts, true));
        }
        let mut count = 0;
        let mut start = first.next;
        loop {
            let found = find_delimiter(body, start, end, boundary);
            let part_end = match &found {
                Some(d) => d.part_end,
                None if start < end => end,
                None => return Ok((parts, false)),
            };
            count_part(&mut count, limits.max_parts)?;
            parts.push(body[start..part_end].to_vec());
            match found {
                Some(d) if d.close => return Ok((parts, true)),
                Some(d) => start = d.next,
                None => return Ok((parts, false)),
            }
        }
    }

    fn stream_split(
        body: &[u8],
        boundary: &[u8],
        sizes: &[usize],
        limits: &MimeLimits,
    ) -> Result<Split, crate::Error> {
        let mut splitter = PartSplitter::new(boundary, limits)?;
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut open = false;
        let mut closed = false;
        let mut on = |event: PartEvent<'_>| {
            assert!(!closed, "event after Closed: {event:?}");
            match event {
                PartEvent::Begin(i) => {
                    assert!(!open);
                    assert_eq!(i, parts.len());
                    parts.push(Vec::new());
                    open = true;
                }
                PartEvent::Data(d) => {
                    assert!(open && !d.is_empty());
                    parts.last_mut().unwrap().extend_from_slice(d);
                }
                PartEvent::End => {
                    assert!(open);
                    open = false;
                }
                PartEvent::Closed => {
                    assert!(!open);
                    closed = true;
                }
            }
            Ok(())
        };
        for chunk in pieces(body, sizes) {
            splitter.push(chunk, &mut on)?;
        }
        splitter.finish(&mut on)?;
        assert!(!open);
        assert_eq!(closed, splitter.closed());
        assert_eq!(splitter.parts(), parts.len());
        Ok((parts, closed))
    }

    /// Every byte of the body is reported exactly once, in order, by the core.
    fn core_accounts_for_every_byte(body: &[u8], boundary: &[u8], sizes: &[usize]) {
        let Ok(mut core) = Splitter::new(boundary, 1 << 20, 0) else {
            return;
        };
        let mut seen = Vec::new();
        let mut on = |event: Event<'_>| -> Result<(), MimeError> {
            if let Event::Data(b) | Event::Framing(b) = event {
                seen.extend_from_slice(b);
            }
            Ok(())
        };
        for chunk in pieces(body, sizes) {
            core.push(chunk, &mut on).unwrap();
        }
        let _ = core.finish(&mut on);
        assert_eq!(seen, body);
    }

    fn whole_canonical(
        entity: &[u8],
        binary: bool,
        limits: &MimeLimits,
    ) -> Result<Vec<u8>, MimeError> {
        parse_part(entity, limits).map(|p| canonical_entity(&p, binary).into_owned())
    }

    fn stream_canonical(
        entity: &[u8],
        binary: bool,
        sizes: &[usize],
        limits: &MimeLimits,
    ) -> Result<Vec<u8>, MimeError> {
        let mut canon = EntityCanonicalizer::new(binary, limits);
        let mut out = Vec::new();
        for chunk in pieces(entity, sizes) {
            canon.push(chunk, &mut out)?;
            // Nothing is output that differs from the input while not diverged.
            if !canon.diverged() {
                assert!(entity.starts_with(&out));
            }
        }
        canon.finish(&mut out)?;
        assert_eq!(canon.diverged(), out != entity, "diverged()");
        Ok(out)
    }

    fn stream_decode(
        encoding: &TransferEncoding,
        body: &[u8],
        sizes: &[usize],
    ) -> Result<Vec<u8>, MimeError> {
        let mut decoder = TransferDecoder::new(encoding);
        let mut out = Vec::new();
        for chunk in pieces(body, sizes) {
            decoder.push(chunk, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out)
    }

    fn stream_text(input: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut canon = Canonicalizer::new();
        let mut out = Vec::new();
        for chunk in pieces(input, sizes) {
            canon.push(chunk, &mut out);
        }
        canon.finish(&mut out);
        out
    }

    /// Checks every streaming piece against its whole-buffer function for one entity
    /// (header block, CRLF or LF, then body) and every chunking in `sizes`.
    fn check_entity(entity: &[u8], limits: &MimeLimits, chunkings: &[Vec<usize>]) {
        let show = || String::from_utf8_lossy(&entity[..entity.len().min(300)]).into_owned();
        let headers = whole_headers(entity, limits);
        let canonical = [false, true].map(|b| whole_canonical(entity, b, limits));
        let text = canonicalize_text(entity);
        // The boundary and body of a multipart entity, to split.
        let multipart = parse_part(entity, &lim()).ok().and_then(|p| {
            if !p.content_type().is_multipart() {
                return None;
            }
            let boundary = p.content_type().boundary()?.to_vec();
            Some((boundary, p.body_range()))
        });
        let split = multipart
            .as_ref()
            .map(|(b, r)| whole_split(&entity[r.clone()], b, limits));
        let parsed = parse_part(entity, limits).ok();
        for sizes in chunkings {
            assert_eq!(
                stream_headers(entity, sizes, limits),
                headers,
                "headers, chunks {sizes:?}, {}",
                show()
            );
            for (i, binary) in [false, true].into_iter().enumerate() {
                assert_eq!(
                    stream_canonical(entity, binary, sizes, limits),
                    canonical[i],
                    "canonical (binary {binary}), chunks {sizes:?}, {}",
                    show()
                );
            }
            assert_eq!(stream_text(entity, sizes), *text, "text, {}", show());
            if let (Some((boundary, range)), Some(split)) = (&multipart, &split) {
                let body = &entity[range.clone()];
                let body_sizes = resize(sizes, range.clone());
                let streamed = stream_split(body, boundary, &body_sizes, limits);
                let padding = matches!(
                    streamed,
                    Err(crate::Error::Mime(MimeError::MaxHeaderLineExceeded { offset, .. }))
                        if long_padding(&body[offset..], boundary, limits.max_header_line)
                );
                if !padding {
                    assert_eq!(
                        streamed,
                        split.clone().map_err(crate::Error::Mime),
                        "split, chunks {body_sizes:?}, {}",
                        show()
                    );
                }
                core_accounts_for_every_byte(body, boundary, &body_sizes);
            }
        }
        // The parts found agree with the whole-buffer parse where it succeeds.
        if let (Some(part), Some(Ok((parts, closed)))) = (&parsed, &split) {
            let mp = part.multipart().unwrap();
            let raws: Vec<Vec<u8>> = mp.parts.iter().map(|p| p.raw().to_vec()).collect();
            assert_eq!(&raws, parts);
            assert_eq!(mp.closed, *closed);
        }
        // Each leaf's body decodes the same, streamed.
        if let Some(part) = &parsed {
            check_decoding(part, chunkings);
        }
    }

    fn check_decoding(part: &Part<'_>, chunkings: &[Vec<usize>]) {
        if part.multipart().is_some() {
            for child in part.children() {
                check_decoding(child, chunkings);
            }
            return;
        }
        let body = part.body();
        let whole = part
            .transfer_encoding()
            .decode(body)
            .map(|c| c.into_owned());
        for sizes in chunkings.iter().take(4) {
            let sizes = resize(sizes, 0..body.len());
            assert_eq!(
                stream_decode(part.transfer_encoding(), body, &sizes),
                whole,
                "decode {:?}",
                part.transfer_encoding()
            );
        }
    }

    /// Whether `line` is `--boundary` (or `--boundary--`) and more than `max` bytes
    /// of SP/HTAB: the documented case where the splitter refuses what the
    /// whole-buffer parser reads.
    fn long_padding(line: &[u8], boundary: &[u8], max: usize) -> bool {
        let Some(rest) = line
            .strip_prefix(b"--")
            .and_then(|r| r.strip_prefix(boundary))
        else {
            return false;
        };
        let rest = rest.strip_prefix(b"--").unwrap_or(rest);
        rest.iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count()
            > max
    }

    /// The chunking `sizes` of a whole input, cut down to the bytes of `range`.
    fn resize(sizes: &[usize], range: Range<usize>) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = 0;
        for &n in sizes {
            let (s, e) = (at.max(range.start), (at + n).min(range.end));
            if s <= e && (s < e || (at >= range.start && at <= range.end)) {
                out.push(e - s);
            }
            at += n;
        }
        let total: usize = out.iter().sum();
        if total < range.len() {
            out.push(range.len() - total);
        }
        out
    }

    // ----- corpus ---------------------------------------------------------------

    /// An entity made of a Content-Type header and a body.
    fn entity(content_type: &str, body: &[u8]) -> Vec<u8> {
        let mut e = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
        e.extend_from_slice(body);
        e
    }

    /// Messages built by `outbound::build`: signed (multipart/signed), compressed
    /// then signed, and unsigned, with CRLF, LF and binary payloads.
    fn built_messages() -> Vec<Vec<u8>> {
        use crate::cms::signed::{SignOptions, Signer};
        use crate::message::headers::As2Id;
        use crate::message::outbound::{self, Compression, OutboundMessage};
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng;
        use std::time::{Duration, SystemTime};

        let cert =
            crate::Certificate::from_pem(include_bytes!("../../tests/data/keys/doc.crt")).unwrap();
        let key =
            crate::PrivateKey::from_pem(include_bytes!("../../tests/data/keys/doc.key"), None)
                .unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut rng = XorShift(77);
        let binary: Vec<u8> = (0..700)
            .map(|i| match i % 50 {
                0 => b'\n',
                1 => b'\r',
                2 | 3 => b'-',
                _ => rng.next() as u8,
            })
            .collect();
        let payloads: [(&str, Vec<u8>); 3] = [
            ("application/edi-x12", b"ISA*00*~\r\nGS*PO~\r\n".repeat(20)),
            (
                "application/edi-x12",
                b"ISA*00*~\nGS*PO~\n--\n\n".repeat(20),
            ),
            ("application/octet-stream", binary),
        ];
        let mut out = Vec::new();
        for (n, (content_type, payload)) in payloads.iter().enumerate() {
            for (signed, compression) in [
                (true, Compression::None),
                (true, Compression::BeforeSigning),
                (false, Compression::None),
            ] {
                let mut message = OutboundMessage::new(
                    As2Id::new("PartnerA").unwrap(),
                    As2Id::new("PartnerB").unwrap(),
                    payload,
                );
                message.content_type = (*content_type).into();
                message.file_name = Some(format!("file{n}.bin"));
                message.compression = compression;
                if signed {
                    message.signing = Some((Signer::new(&cert, &key), SignOptions::default()));
                }
                let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
                let built = outbound::build(&message, now, &mut rng).unwrap();
                let ct = built.headers.get_str("Content-Type").unwrap().to_owned();
                out.push(entity(&ct, &built.body));
            }
        }
        out
    }

    /// HTTP bodies from pyas2lib and BouncyCastle (`tests/data/pyas2lib`,
    /// `tests/bouncycastle`), with their Content-Type as the header block.
    fn fixture_messages() -> Vec<Vec<u8>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        let mut dirs: Vec<_> = std::fs::read_dir(root.join("tests/data/pyas2lib"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("body.bin").exists())
            .collect();
        dirs.sort();
        for dir in dirs {
            for d in [dir.clone(), dir.join("mdn")] {
                let (Ok(headers), Ok(body)) = (
                    std::fs::read(d.join("headers.json")),
                    std::fs::read(d.join("body.bin")),
                ) else {
                    continue;
                };
                let headers: serde_json::Value = serde_json::from_slice(&headers).unwrap();
                let ct = headers
                    .as_object()
                    .unwrap()
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .unwrap()
                    .1
                    .as_str()
                    .unwrap()
                    .to_owned();
                out.push(entity(&ct, &body));
            }
        }
        for case in ["from-bc-base64", "from-bc-binary"] {
            let d = root.join("tests/bouncycastle").join(case);
            let headers = std::fs::read_to_string(d.join("headers")).unwrap();
            let ct = headers
                .lines()
                .find_map(|l| l.strip_prefix("Content-Type: "))
                .unwrap()
                .trim()
                .to_owned();
            out.push(entity(&ct, &std::fs::read(d.join("body")).unwrap()));
        }
        assert!(out.len() > 20, "{} fixtures", out.len());
        out
    }

    /// Hand-made entities (CRLF; each is also used in its LF variant).
    fn handmade() -> Vec<Vec<u8>> {
        let mp = |body: &str| entity("multipart/mixed; boundary=b", body.as_bytes());
        let mut v: Vec<Vec<u8>> = vec![
            // Preamble, epilogue, padding, close with padding.
            mp("preamble\r\n--b  \t\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b-- \r\nepilogue\r\n"),
            // First delimiter at the body start, no close delimiter.
            mp("--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"),
            // Delimiter-like lines that are content.
            mp("--b\r\n\r\nx--b\r\n--bX\r\n--b junk\r\n--b-x\r\n--b---\r\n -b\r\n--b--"),
            // Two delimiters in a row, a delimiter at the very end.
            mp("--b\r\n--b\r\n\r\nx\r\n--b"),
            mp("--b\r\n\r\nx\r\n--b\r"),
            mp("--b\r\n\r\nx\r\n--b\r\n"),
            mp("--b\r\n\r\nx\r\n--b--"),
            mp("--b--\r\nonly close"),
            mp("--b\r\n"),
            mp("--b"),
            mp(""),
            mp("no delimiter at all\r\n-- b\r\n"),
            // CR CR LF, bare CRs, empty lines before a delimiter.
            mp("--b\r\n\r\nx\r\r\n--b\r\n\r\ny\r\r\r\n\r\n--b--\r\n"),
            mp("--b\r\n\r\n\r\n\r\n--b\r\n\r\n\r--b\r\n--b--"),
            // Headers-only parts, a part without headers.
            mp("--b\r\nA: 1\r\n--b\r\nB: 2\r\n\r\n--b\r\n\r\nno headers\r\n--b--\r\n"),
            // Bad headers in a part.
            mp("--b\r\nno colon\r\n\r\nx\r\n--b--\r\n"),
            mp("--b\r\n continuation first\r\n\r\nx\r\n--b--\r\n"),
            mp("--b\r\nA: 1\r\nunterminated"),
            mp("--b\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\nx\r\n--b--"),
            mp("--b\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n--b--"),
            mp("--b\r\nContent-Type: bad\r\n\r\nx\r\n--b--"),
            // Nested multipart with a binary part holding bare LFs.
            mp(
                "--b\r\nContent-Type: multipart/mixed; boundary=\"c c\"\r\n\r\npre\r\n--c c\r\n\
                 Content-Transfer-Encoding: binary\r\n\r\nbin\nary\r\n--c c\r\n\r\ntext\r\n--c c--\r\nepi\r\n\
                 --b\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\nREVG\r\n--b--\r\n",
            ),
            // A binary multipart (kept as is) inside a text one.
            mp(
                "--b\r\nContent-Type: multipart/mixed; boundary=c\r\nContent-Transfer-Encoding: binary\r\n\r\n\
                 --c\r\n\r\na\nb\r\n--c--\r\n--b--\r\n",
            ),
            // Self-overlapping boundaries.
            entity("multipart/mixed; boundary=\"-\"", b"---\r\n\r\na\r\n----\r\n---\r\n\r\nb\r\n-----\r\n"),
            entity("multipart/mixed; boundary=\"--\"", b"----\r\n\r\n---- \r\n--------\r\n"),
            // Bad boundaries.
            entity("multipart/mixed; boundary=\"\"", b"--\r\n"),
            entity(&format!("multipart/mixed; boundary={}", "x".repeat(71)), b"--x\r\n"),
            entity("multipart/mixed", b"--b\r\n"),
            // Encodings.
            entity("text/plain", b"line\none\r\ntwo\rthree\n"),
            b"Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\n REVG\tR0g=\r\n".to_vec(),
            b"Content-Transfer-Encoding: base64\r\n\r\nQUJD=A\r\n".to_vec(),
            b"Content-Transfer-Encoding: base64\r\n\r\nQUJDR\r\n".to_vec(),
            b"Content-Transfer-Encoding: base64\r\n\r\nQU!D\r\n".to_vec(),
            b"Content-Transfer-Encoding: Quoted-Printable\r\n\r\na=41b  \r\nsoft=\r\nbreak= \t\r\nx=4\r\n".to_vec(),
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\nbad=XY\r\n".to_vec(),
            b"Content-Transfer-Encoding: x-unknown\r\n\r\nwhatever\r\n".to_vec(),
            b"Content-Transfer-Encoding: binary\r\n\r\nbin\nary\r\n".to_vec(),
            // Header blocks.
            b"A: 1\r\nB: 2\r\n".to_vec(),
            b"A: 1\r\nB: 2".to_vec(),
            b"".to_vec(),
            b"\r\nbody only".to_vec(),
            b"A: 1\r\n\tfolded\r\n \r\nB : 2\r\n\r\nbody".to_vec(),
            b"A: 1\r\n\r\n".to_vec(),
            b"A: 1\r\r\n\r\n".to_vec(),
            b"\rA: 1\r\n\r\n".to_vec(),
            b": empty name\r\n\r\n".to_vec(),
            b"A\x01: bad byte\r\n\r\n".to_vec(),
            b"X-Long: 0123456789012345678901234567890123456789012345678901234567890123\r\n\r\n".to_vec(),
            b"X-Fold: 0123456789\r\n 0123456789012345678901234567890123456789012345678\r\n\r\n".to_vec(),
            b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n".to_vec(),
            b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n".to_vec(),
        ];
        // Depth and part count.
        let mut nested = b"x\r\n".to_vec();
        for level in 0..5 {
            let b = format!("n{level}");
            let mut body = format!("--{b}\r\n").into_bytes();
            body.extend_from_slice(&nested);
            body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
            nested = entity(&format!("multipart/mixed; boundary={b}"), &body);
            v.push(nested.clone());
        }
        let many: String = (0..7).map(|i| format!("--b\r\n\r\npart {i}\r\n")).collect();
        v.push(mp(&(many.clone() + "--b--\r\n")));
        v.push(mp(&many));
        v
    }

    /// A few random edits of `input` that hit the grammar: line ends, dashes,
    /// padding, `=`, colons, the boundary, truncation.
    fn mutations(input: &[u8], seed: u64, count: usize) -> Vec<Vec<u8>> {
        let mut rng = XorShift(seed | 1);
        let specials: &[&[u8]] = &[
            b"\r",
            b"\n",
            b"\r\n",
            b"-",
            b"--",
            b" ",
            b"\t",
            b"=",
            b":",
            b"\r\n--b",
            b"\n--b--",
            b"\r\n\r\n",
            b"b",
            b"x",
        ];
        (0..count)
            .map(|_| {
                let mut v = input.to_vec();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(v.len() + 1);
                    match rng.below(6) {
                        0 | 1 => {
                            let s = specials[rng.below(specials.len())];
                            v.splice(at..at, s.iter().copied());
                        }
                        2 if at < v.len() => {
                            v.remove(at);
                        }
                        3 => {
                            let end = (at + 1 + rng.below(8)).min(v.len());
                            let dup = v[at..end].to_vec();
                            v.splice(at..at, dup);
                        }
                        4 if at < v.len() => v[at] = rng.next() as u8,
                        _ => v.truncate(at.max(v.len() / 2)),
                    }
                }
                v
            })
            .collect()
    }

    // ----- equivalence tests ------------------------------------------------------

    #[test]
    fn handmade_inputs_every_split_in_two() {
        for (n, crlf) in handmade().iter().enumerate() {
            for input in [crlf.clone(), lf(crlf)] {
                let mut sizes = two_way(input.len());
                sizes.extend(chunkings(input.len(), n as u64, 6));
                for limits in [lim(), small(), tiny()] {
                    check_entity(&input, &limits, &sizes);
                }
            }
        }
    }

    #[test]
    fn built_and_fixture_messages_any_chunking() {
        let all: Vec<Vec<u8>> = built_messages()
            .into_iter()
            .chain(fixture_messages())
            .collect();
        for (n, crlf) in all.iter().enumerate() {
            for input in [crlf.clone(), lf(crlf)] {
                let sizes = chunkings(input.len(), n as u64, 6);
                check_entity(&input, &lim(), &sizes);
            }
        }
        // The signed bodies do split into the signed part and the signature.
        let signed = all
            .iter()
            .filter(|e| {
                parse_part(e, &lim()).is_ok_and(|p| {
                    p.content_type().is("multipart/signed") && p.children().len() == 2
                })
            })
            .count();
        assert!(signed >= 10, "{signed} signed messages");
    }

    #[test]
    fn mutated_inputs_agree_valid_or_not() {
        let mut bases = handmade();
        bases.extend(built_messages().into_iter().take(3));
        bases.extend(
            fixture_messages()
                .into_iter()
                .filter(|f| f.len() < 5000)
                .take(4),
        );
        let mut outcomes = [0usize; 2];
        for (n, base) in bases.iter().enumerate() {
            for input in mutations(base, n as u64 + 1, 12) {
                outcomes[usize::from(parse_part(&input, &lim()).is_ok())] += 1;
                let sizes = chunkings(input.len(), n as u64 + 7, 3);
                let limits = if n % 3 == 0 { small() } else { lim() };
                check_entity(&input, &limits, &sizes);
            }
        }
        // Both valid and invalid entities were exercised.
        assert!(outcomes[0] > 50 && outcomes[1] > 50, "{outcomes:?}");
    }

    /// Short random bodies over the bytes the delimiter grammar turns on, and random
    /// header blocks over the bytes the header grammar turns on, every split in two and
    /// several random chunkings each.
    #[test]
    fn random_grammar_bytes_agree() {
        let mut rng = XorShift(11);
        for n in 0..3000u64 {
            let (boundary, alphabet): (&[u8], &[u8]) = match n % 3 {
                0 => (b"b", b"-b\r\n \tx"),
                1 => (b"-b", b"-b\r\n \t"),
                _ => (b"-", b"-\r\n \t"),
            };
            let body: Vec<u8> = (0..rng.below(32))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let limits = if n % 2 == 0 { lim() } else { small() };
            let whole = whole_split(&body, boundary, &limits).map_err(crate::Error::Mime);
            for sizes in two_way(body.len())
                .iter()
                .chain(&chunkings(body.len(), n, 4))
            {
                assert_eq!(
                    stream_split(&body, boundary, sizes, &limits),
                    whole,
                    "{:?} / {:?}",
                    String::from_utf8_lossy(&body),
                    String::from_utf8_lossy(boundary)
                );
                core_accounts_for_every_byte(&body, boundary, sizes);
            }
            let alphabet = b"A:: \t\r\n\n\x01";
            let block: Vec<u8> = (0..rng.below(40))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let limits = MimeLimits {
                max_headers: 1 + rng.below(3),
                max_header_line: rng.below(12),
                ..lim()
            };
            let whole = whole_headers(&block, &limits);
            for sizes in two_way(block.len())
                .iter()
                .chain(&chunkings(block.len(), n, 4))
            {
                assert_eq!(
                    stream_headers(&block, sizes, &limits),
                    whole,
                    "{:?} {limits:?}",
                    String::from_utf8_lossy(&block)
                );
            }
        }
    }

    /// An entity canonicalised inside a larger tree (the signed part of a
    /// multipart/signed) gets the depth, tree-wide part count and absolute offsets of
    /// the whole-buffer parse of the tree.
    #[test]
    fn entity_in_a_tree_counts_and_offsets_like_the_whole_parse() {
        let inner = entity(
            "multipart/mixed; boundary=c",
            b"--c\r\n\r\na\n--c\r\n\r\nb\r\n--c\r\nBad header\r\n\r\nc\r\n--c--\r\n",
        );
        let mut body = b"--b\r\n".to_vec();
        body.extend_from_slice(&inner);
        body.extend_from_slice(b"\r\n--b\r\n\r\nsignature\r\n--b--\r\n");
        let outer = entity("multipart/signed; boundary=b", &body);
        let start = find(&outer, &inner);
        let bad = find(&outer, b"Bad header");
        let cases = [
            (
                lim(),
                Err(MimeError::MalformedHeader {
                    offset: bad,
                    reason: "missing ':'",
                }),
            ),
            (
                MimeLimits {
                    max_parts: 3,
                    ..lim()
                },
                Err(MimeError::MaxPartsExceeded { max_parts: 3 }),
            ),
            (
                MimeLimits {
                    max_depth: 1,
                    ..lim()
                },
                Err(MimeError::MaxDepthExceeded { max_depth: 1 }),
            ),
        ];
        for (limits, expected) in cases {
            assert_eq!(parse_part(&outer, &limits).map(|_| ()), expected);
            for sizes in chunkings(inner.len(), 4, 4) {
                let mut canon = EntityCanonicalizer::with_context(false, &limits, 1, 1, start);
                let mut out = Vec::new();
                let result = pieces(&inner, &sizes)
                    .into_iter()
                    .try_for_each(|c| canon.push(c, &mut out))
                    .and_then(|()| canon.finish(&mut out));
                assert_eq!(result, expected);
            }
        }
        // Without the bad header: the parts of the tree are counted.
        let good = [&outer[..bad], b"Good: header", &outer[bad + 10..]].concat();
        let inner = &good[start..start + inner.len() + 2];
        let part = parse_part(&good, &lim()).unwrap();
        let signed = &part.children()[0];
        assert_eq!(signed.raw(), inner);
        let mut canon = EntityCanonicalizer::with_context(false, &lim(), 1, 1, start);
        let mut out = Vec::new();
        canon.push(inner, &mut out).unwrap();
        canon.finish(&mut out).unwrap();
        assert_eq!(out, *canonical_entity(signed, false));
        assert!(canon.diverged());
        assert_eq!(canon.parts(), 4);
    }

    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).position(|w| w == needle).unwrap()
    }

    #[test]
    fn splitter_reports_parts_exactly() {
        let body = b"pre\r\n--b\r\nA: 1\r\n\r\none\r\n--b \r\n\r\ntwo\n--b--\r\nepi";
        for sizes in chunkings(body.len(), 1, 10) {
            let (parts, closed) = stream_split(body, b"b", &sizes, &lim()).unwrap();
            assert_eq!(parts, [&b"A: 1\r\n\r\none"[..], b"\r\ntwo"]);
            assert!(closed);
        }
        // No close delimiter, and what a missing delimiter and too many parts give.
        let (parts, closed) = stream_split(b"--b\nx\n", b"b", &[6], &lim()).unwrap();
        assert_eq!((parts, closed), (vec![b"x\n".to_vec()], false));
        assert_eq!(
            stream_split(b"nothing", b"b", &[7], &lim()),
            Err(crate::Error::Mime(MimeError::MissingDelimiter))
        );
        let many = b"--b\n\n--b\n\n--b\n\n--b\n\n--b\n\n--b\n\n";
        assert_eq!(
            stream_split(many, b"b", &[many.len()], &small()),
            Err(crate::Error::Mime(MimeError::MaxPartsExceeded {
                max_parts: 5
            }))
        );
        assert!(matches!(
            PartSplitter::new(b"", &lim()),
            Err(MimeError::InvalidBoundary { .. })
        ));
        // A tree-wide count.
        let mut splitter = PartSplitter::with_parts(b"b", &small(), 4).unwrap();
        let mut on = |_: PartEvent<'_>| Ok(());
        splitter.push(b"--b\nx\n--b\n", &mut on).unwrap();
        splitter.add_parts(0);
        assert_eq!(splitter.parts(), 5);
        let err = splitter.push(b"y", &mut on).unwrap_err();
        assert_eq!(
            err,
            crate::Error::Mime(MimeError::MaxPartsExceeded { max_parts: 5 })
        );
        // Sticky.
        assert_eq!(splitter.finish(&mut on).unwrap_err(), err);
    }

    #[test]
    fn callback_errors_stop_the_splitter() {
        let mut splitter = PartSplitter::new(b"b", &lim()).unwrap();
        let stop = crate::Error::UnsupportedFormat("stop");
        let mut on = |e: PartEvent<'_>| match e {
            PartEvent::Data(_) => Err(crate::Error::UnsupportedFormat("stop")),
            _ => Ok(()),
        };
        assert_eq!(splitter.push(b"--b\r\nabc", &mut on), Err(stop.clone()));
        assert_eq!(splitter.push(b"more", &mut on), Err(stop));
    }

    #[test]
    fn header_block_reports_where_the_body_starts() {
        let input = b"A: 1\r\nB: 2\n\r\nbody\r\n\r\n";
        for sizes in chunkings(input.len(), 3, 20) {
            let (headers, body) = stream_headers(input, &sizes, &lim()).unwrap();
            assert_eq!(body, 13);
            assert_eq!(headers.len(), 2);
        }
        let mut block = HeaderBlock::new(&lim());
        assert_eq!(block.push(b"A: 1\r\n\r").unwrap(), None);
        assert_eq!(block.push(b"\nrest").unwrap(), Some(1));
        assert_eq!(block.push(b"more").unwrap(), Some(0));
        assert_eq!(block.bytes(), b"A: 1\r\n\r\n");
        assert_eq!(block.headers().unwrap().value("a").unwrap().as_ref(), b"1");
        assert_eq!(block.finish().unwrap(), 8);
        // Offsets of errors in a nested block are absolute.
        let mut block = HeaderBlock::at(&lim(), 100);
        assert_eq!(
            block.push(b"A: 1\r\nno colon\r\n"),
            Err(MimeError::MalformedHeader {
                offset: 106,
                reason: "missing ':'"
            })
        );
    }

    #[test]
    fn decoders_agree_on_valid_and_malformed_bodies() {
        let base64: &[&[u8]] = &[
            b"",
            b"QQ==",
            b"QUI=",
            b"QUJD",
            b"QQ",
            b"QUI",
            b"Q",
            b"QQ=",
            b"QQ===",
            b"QQ==QQ",
            b"QQ== \r\n",
            b"QQ!=",
            b"=",
            b"====",
            b"A===",
            b"QUJD\r\nREVG\r\n R0g=\r\n",
            b"QR==",
            b"QUJ=\n=",
            b"Q U J D",
            b"QUJD-",
            b"\r\n\r\n",
        ];
        let mut long = base64_encode_lines(&(0..=255u8).cycle().take(5000).collect::<Vec<_>>());
        long.extend_from_slice(b"=");
        let long = [long];
        for (n, body) in base64
            .iter()
            .copied()
            .chain(long.iter().map(Vec::as_slice))
            .enumerate()
        {
            let whole = base64_decode(body);
            for sizes in chunkings(body.len(), n as u64, 8)
                .iter()
                .chain(&two_way(body.len().min(40)))
            {
                if sizes.iter().sum::<usize>() != body.len() {
                    continue;
                }
                assert_eq!(
                    stream_decode(&TransferEncoding::Base64, body, sizes),
                    whole,
                    "{body:?}"
                );
            }
        }
        let qp: &[&[u8]] = &[
            b"",
            b"a=41b",
            b"soft=\r\nbreak",
            b"soft=\nbreak",
            b"trail  \r\nx",
            b"trail \t\n",
            b"=4",
            b"=",
            b"= ",
            b"=\r",
            b"= \r",
            b"=\r\n",
            b"= \r\nx",
            b"=XY",
            b"=4x",
            b"a \r \n",
            b"abc\r",
            b"ab \r",
            b"x=\n",
            b"a\t \t b",
            b"=\r\r\n",
            b"=41=42=\r\n=43  ",
            b"==41",
            b"=a=b=c",
            b"=0d=0A",
            b"a  \rb",
            b"\r\r\n\r",
            b"   ",
            b"x\n\n  \n",
        ];
        for (n, body) in qp.iter().enumerate() {
            let whole = quoted_printable_decode(body);
            for sizes in chunkings(body.len(), n as u64, 8)
                .iter()
                .chain(&two_way(body.len()))
            {
                assert_eq!(
                    stream_decode(&TransferEncoding::QuotedPrintable, body, sizes),
                    whole,
                    "{:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        // Random QP-ish and base64-ish bodies.
        let mut rng = XorShift(5);
        for n in 0..400 {
            let alphabet: &[u8] = if n % 2 == 0 {
                b"=4aF \t\r\nx"
            } else {
                b"QUJD= \r\n!"
            };
            let body: Vec<u8> = (0..rng.below(40))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let (encoding, whole) = if n % 2 == 0 {
                (
                    TransferEncoding::QuotedPrintable,
                    quoted_printable_decode(&body),
                )
            } else {
                (TransferEncoding::Base64, base64_decode(&body))
            };
            for sizes in chunkings(body.len(), n, 3) {
                assert_eq!(stream_decode(&encoding, &body, &sizes), whole, "{body:?}");
            }
        }
        // Identity and unknown.
        assert_eq!(
            stream_decode(&TransferEncoding::Binary, b"a\nb", &[1, 2]).unwrap(),
            b"a\nb"
        );
        let unknown = TransferEncoding::parse(b"x-uue");
        assert_eq!(
            stream_decode(&unknown, b"", &[0]),
            unknown.decode(b"").map(|c| c.into_owned())
        );
    }

    fn base64_encode_lines(data: &[u8]) -> Vec<u8> {
        crate::mime::base64_encode_mime(data).into_bytes()
    }

    #[test]
    fn canonicalizer_waits_for_nothing_but_remembers_a_cr() {
        let input = b"a\r\nb\nc\r\rd\n\n\r";
        for sizes in chunkings(input.len(), 9, 20)
            .iter()
            .chain(&two_way(input.len()))
        {
            assert_eq!(stream_text(input, sizes), *canonicalize_text(input));
        }
        let mut canon = Canonicalizer::new();
        let mut out = Vec::new();
        canon.push(b"x\r", &mut out);
        canon.push(b"\n", &mut out);
        assert!(!canon.changed());
        canon.push(b"\n", &mut out);
        assert!(canon.changed());
        assert_eq!(out, b"x\r\n\r\n");
    }

    // ----- documented differences -------------------------------------------------

    /// Transport padding longer than `max_header_line` on a line that starts like a
    /// delimiter: the whole-buffer parser reads it (here as content), the stream
    /// refuses it rather than hold it.
    #[test]
    fn overlong_transport_padding_is_refused() {
        let limits = MimeLimits {
            max_header_line: 16,
            ..lim()
        };
        let pad = " ".repeat(17);
        for tail in ["x\r\n--b--\r\n", "\r\n\r\nbody\r\n--b--\r\n"] {
            let body = format!("--b\r\n\r\none\r\n--b{pad}{tail}");
            assert!(whole_split(body.as_bytes(), b"b", &limits).is_ok());
            assert_eq!(
                stream_split(body.as_bytes(), b"b", &[body.len()], &limits),
                Err(crate::Error::Mime(MimeError::MaxHeaderLineExceeded {
                    max_header_line: 16,
                    offset: 12,
                }))
            );
        }
        // Up to the limit, it is read as the whole-buffer parser reads it.
        let body = format!("--b\r\n\r\none\r\n--b{}\r\n\r\ntwo", &pad[1..]);
        assert_eq!(
            stream_split(body.as_bytes(), b"b", &vec![1; body.len()], &limits).unwrap(),
            whole_split(body.as_bytes(), b"b", &limits).unwrap()
        );
    }

    /// Quoted-printable whitespace runs are held as run lengths: a run of one byte is
    /// held whatever its length, one that alternates too often is refused.
    #[test]
    fn quoted_printable_whitespace_is_held_as_runs() {
        let long = [
            b"a".as_slice(),
            &[b' '; 100_000],
            b"b",
            &[b'\t'; 1000],
            b"\r\n",
        ]
        .concat();
        assert_eq!(
            stream_decode(&TransferEncoding::QuotedPrintable, &long, &[long.len()]),
            quoted_printable_decode(&long)
        );
        let mut alternating = b"a".to_vec();
        for _ in 0..=MAX_QP_WHITESPACE_RUNS / 2 {
            alternating.extend_from_slice(b" \t");
        }
        alternating.push(b'b');
        assert!(quoted_printable_decode(&alternating).is_ok());
        assert_eq!(
            stream_decode(
                &TransferEncoding::QuotedPrintable,
                &alternating,
                &[alternating.len()]
            ),
            Err(MimeError::InvalidQuotedPrintable { offset: 1 })
        );
    }

    // ----- work and memory ----------------------------------------------------------

    /// Bytes examined (`work::examined`) by a splitter fed `body` one byte at a time,
    /// and the most it held back.
    fn splitter_work(boundary: &[u8], body: &[u8]) -> (usize, usize) {
        let mut core = Splitter::new(boundary, lim().max_header_line, 0).unwrap();
        let mut on = |_: Event<'_>| -> Result<(), MimeError> { Ok(()) };
        work::take();
        let mut held = 0;
        for b in body.chunks(1) {
            core.push(b, &mut on).unwrap();
            held = held.max(core.held_len());
        }
        let _ = core.finish(&mut on);
        (work::take(), held)
    }

    /// Fed one byte at a time, the splitter examines each byte a bounded number of
    /// times and holds back no more than a delimiter line, for the shapes that make a
    /// naive search quadratic: partial delimiters, long boundaries over dashes, empty
    /// lines, CRs. A re-scan of what was held, or of the body so far, fails the bound.
    #[test]
    fn splitting_is_linear_and_holds_little() {
        let b70 = "-".repeat(69) + "x";
        let near = format!("\r\n--{}", &b70[..69]);
        type Family<'a> = (&'a str, fn(usize, &str) -> Vec<u8>);
        let families: [Family<'_>; 5] = [
            (&b70, |n, near| near.bytes().cycle().take(n).collect()),
            (&b70, |n, _| vec![b'-'; n]),
            (&b70, |n, _| vec![b'\n'; n]),
            ("--", |n, _| vec![b'-'; n]),
            (&b70, |n, _| {
                b"\r\r\n-".iter().copied().cycle().take(n).collect()
            }),
        ];
        for (boundary, make) in families {
            for n in [1 << 10, 1 << 14, 1 << 17] {
                let body = make(n, &near);
                let (examined, held) = splitter_work(boundary.as_bytes(), &body);
                assert!(
                    examined <= 2 * n + 16,
                    "{boundary}: {examined} for {n} bytes"
                );
                assert!(held <= boundary.len() + 6, "{boundary}: held {held}");
            }
        }
    }

    /// The whole entity pipeline (header blocks, nested splitting, canonicalisation)
    /// fed one byte at a time does linear work, and so does the header block on
    /// many lines or one long line, which it does not keep.
    #[test]
    fn entity_pipeline_is_linear() {
        let b70 = "-".repeat(69) + "x";
        for n in [1 << 10, 1 << 14, 1 << 16] {
            let inner = "-".repeat(69) + "z";
            let mut body =
                format!("--{b70}\r\nContent-Type: multipart/mixed; boundary=\"{inner}\"\r\n\r\n")
                    .into_bytes();
            let near = format!("\n--{}q", "-".repeat(69));
            body.extend(near.bytes().cycle().take(n));
            let input = entity(&format!("multipart/mixed; boundary=\"{b70}\""), &body);
            let mut canon = EntityCanonicalizer::new(false, &lim());
            let mut out = Vec::new();
            work::take();
            for b in input.chunks(1) {
                canon.push(b, &mut out).unwrap();
            }
            let result = canon.finish(&mut out);
            let examined = work::take();
            assert_eq!(result, whole_canonical(&input, false, &lim()).map(|_| ()));
            assert!(
                examined <= 6 * input.len() + 4096,
                "{examined} for {}",
                input.len()
            );
        }
        for n in [1 << 10, 1 << 14, 1 << 17] {
            let limits = MimeLimits {
                max_headers: usize::MAX,
                ..lim()
            };
            let many = b"A: 1\r\n"
                .iter()
                .copied()
                .cycle()
                .take(n)
                .collect::<Vec<_>>();
            let long = [b"A: ".as_slice(), &vec![b'x'; n]].concat();
            for (input, limits, keeps) in [(many, limits, n), (long, lim(), 0)] {
                let mut block = HeaderBlock::new(&limits);
                work::take();
                for b in input.chunks(1) {
                    let _ = block.push(b);
                }
                let _ = block.finish();
                let examined = work::take();
                assert!(examined <= 3 * n + 64, "{examined} for {n}");
                // The valid lines are the block; the over-long line is not kept.
                assert!(block.bytes().len() <= keeps.max(lim().max_header_line));
            }
        }
    }
}
