//! A borrowing BER reader (ITU-T X.690) for CMS input.
//!
//! Real AS2 partners send BER, not only DER: BouncyCastle-based products write indefinite
//! lengths at every level, OpenSSL's `-stream` and IBM Sterling split OCTET STRINGs into
//! constructed chunks. `der` 0.8 mishandles several of these forms, so CMS input is read
//! here: every [`Tlv`] borrows its exact bytes from the input and knows its offset, chunked
//! strings are joined only when asked ([`Tlv::octets`]), and each declared length is checked
//! against the bytes actually present before anything is allocated.

use std::borrow::Cow;

use const_oid::ObjectIdentifier;

use crate::error::Error;
use crate::limits::{Limit, Limits};

/// The class of a BER tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Universal (SEQUENCE, INTEGER, ...).
    Universal,
    /// Application-specific.
    Application,
    /// Context-specific (`[0]`, `[1]`, ...).
    Context,
    /// Private.
    Private,
}

/// A BER identifier: class, primitive/constructed flag and tag number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The tag class.
    pub class: Class,
    /// Whether the encoding is constructed.
    pub constructed: bool,
    /// The tag number.
    pub number: u32,
}

impl Tag {
    /// `INTEGER`.
    pub const INTEGER: Tag = Tag::universal(2, false);
    /// `OCTET STRING` (primitive form).
    pub const OCTET_STRING: Tag = Tag::universal(4, false);
    /// `NULL`.
    pub const NULL: Tag = Tag::universal(5, false);
    /// `OBJECT IDENTIFIER`.
    pub const OID: Tag = Tag::universal(6, false);
    /// `SEQUENCE`.
    pub const SEQUENCE: Tag = Tag::universal(16, true);
    /// `SET`.
    pub const SET: Tag = Tag::universal(17, true);
    /// `UTCTime`.
    pub const UTC_TIME: Tag = Tag::universal(23, false);
    /// `GeneralizedTime`.
    pub const GENERALIZED_TIME: Tag = Tag::universal(24, false);

    /// A universal tag.
    pub const fn universal(number: u32, constructed: bool) -> Tag {
        Tag {
            class: Class::Universal,
            constructed,
            number,
        }
    }

    /// A context-specific tag `[number]`.
    pub const fn context(number: u32, constructed: bool) -> Tag {
        Tag {
            class: Class::Context,
            constructed,
            number,
        }
    }

    /// Whether `self` and `other` differ at most in the constructed flag (string types may
    /// use either form in BER).
    pub fn same_type(self, other: Tag) -> bool {
        self.class == other.class && self.number == other.number
    }
}

/// One BER value: identifier, length and contents, borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    /// The identifier.
    pub tag: Tag,
    /// The whole encoding as received: identifier, length, contents and, for an
    /// indefinite length, the end-of-contents octets.
    pub raw: &'a [u8],
    /// The contents octets (without end-of-contents).
    pub contents: &'a [u8],
    /// Whether the length was indefinite.
    pub indefinite: bool,
    /// Offset of `raw` in the input given to [`Reader::new`].
    pub offset: usize,
    /// Offset of `contents` in the input given to [`Reader::new`].
    pub contents_offset: usize,
    depth: usize,
    limits: BerLimits,
}

/// The subset of [`Limits`] the reader needs, copied so readers stay `Copy`.
#[derive(Clone, Copy, Debug)]
struct BerLimits {
    max_depth: usize,
    max_chunks: usize,
}

impl BerLimits {
    fn depth_error(self) -> Error {
        Error::LimitExceeded {
            limit: Limit::BerDepth,
            value: self.max_depth,
        }
    }
}

/// Reads consecutive BER values from a byte slice.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
    depth: usize,
    limits: BerLimits,
}

impl<'a> Reader<'a> {
    /// A reader over `input`, at nesting depth zero.
    pub fn new(input: &'a [u8], limits: &Limits) -> Self {
        Reader {
            input,
            pos: 0,
            base: 0,
            depth: 0,
            limits: BerLimits {
                max_depth: limits.max_ber_depth,
                max_chunks: limits.max_ber_chunks,
            },
        }
    }

    /// A reader over `input`, one value captured whole from a longer input that is read as
    /// a stream ([`super::stream`]): `base` is the offset of `input` in that longer input and
    /// `depth` the nesting depth of the value there, so that offsets in errors and the depth
    /// limit come out exactly as if the longer input had been read whole.
    pub(crate) fn at(input: &'a [u8], base: usize, depth: usize, limits: &Limits) -> Self {
        Reader {
            base,
            depth,
            ..Reader::new(input, limits)
        }
    }

    /// Whether every value has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// The absolute offset of the next value.
    pub fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// Fails unless every value has been read (`what` names the enclosing element).
    pub fn finish(&self, what: &'static str) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::malformed(what, self.offset()))
        }
    }

    /// The tag of the next value, without consuming it.
    pub fn peek_tag(&self) -> Option<Tag> {
        let rest = self.input.get(self.pos..)?;
        parse_identifier(rest).ok().map(|(tag, _)| tag)
    }

    /// Reads the next value.
    pub fn read(&mut self, what: &'static str) -> Result<Tlv<'a>, Error> {
        let tlv = parse_tlv(
            self.input,
            self.pos,
            self.base,
            self.depth,
            self.limits,
            what,
        )?;
        self.pos = self.pos.saturating_add(tlv.raw.len());
        Ok(tlv)
    }

    /// Reads the next value and checks its tag (the constructed flag must match too).
    pub fn expect(&mut self, tag: Tag, what: &'static str) -> Result<Tlv<'a>, Error> {
        let offset = self.offset();
        let tlv = self.read(what)?;
        if tlv.tag != tag {
            return Err(Error::malformed(what, offset));
        }
        Ok(tlv)
    }

    /// Reads the next value if its tag is `tag` (ignoring the constructed flag).
    pub fn read_optional(
        &mut self,
        tag: Tag,
        what: &'static str,
    ) -> Result<Option<Tlv<'a>>, Error> {
        match self.peek_tag() {
            Some(t) if t.same_type(tag) => self.read(what).map(Some),
            _ => Ok(None),
        }
    }
}

/// Parses the identifier octets at the start of `input`: the tag and its length in bytes.
fn parse_identifier(input: &[u8]) -> Result<(Tag, usize), ()> {
    match parse_identifier_prefix(input) {
        Step::Done(found) => Ok(found),
        Step::Incomplete | Step::Invalid => Err(()),
    }
}

/// The tag of the identifier at the start of `input`, if it is whole and valid (what
/// [`Reader::read_optional`] looks at to decide).
pub(crate) fn peek_identifier(input: &[u8]) -> Option<Tag> {
    parse_identifier(input).ok().map(|(tag, _)| tag)
}

/// How far a header could be read from a prefix of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step<T> {
    /// Read whole.
    Done(T),
    /// Valid so far; more octets are needed.
    Incomplete,
    /// Invalid whatever follows.
    Invalid,
}

/// A header (identifier and length octets) read by [`parse_header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The identifier.
    pub tag: Tag,
    /// Identifier and length octets together.
    pub len: usize,
    /// The definite length of the contents, `None` for an indefinite length.
    pub contents_len: Option<usize>,
}

/// Reads the identifier and length octets at the start of `input`, which may be a prefix
/// of the encoding (a stream that has not arrived whole), by the rules [`Reader`] applies,
/// telling a header that needs more octets from one that no octets can repair.
///
/// A primitive value with an indefinite length is invalid (X.690 §8.1.3.2).
pub(crate) fn parse_header(input: &[u8]) -> Step<Header> {
    let (tag, id_len) = match parse_identifier_prefix(input) {
        Step::Done(found) => found,
        Step::Incomplete => return Step::Incomplete,
        Step::Invalid => return Step::Invalid,
    };
    let Some(&len_byte) = input.get(id_len) else {
        return Step::Incomplete;
    };
    let header_len = id_len.saturating_add(1);
    let (len, contents_len) = match len_byte {
        0x80 if tag.constructed => (header_len, None),
        0x80 | 0xff => return Step::Invalid,
        b if b < 0x80 => (header_len, Some(usize::from(b))),
        b => {
            let n = usize::from(b & 0x7f);
            if n > core::mem::size_of::<usize>() {
                return Step::Invalid;
            }
            let Some(bytes) = input.get(header_len..header_len.saturating_add(n)) else {
                return Step::Incomplete;
            };
            let mut value: usize = 0;
            for byte in bytes {
                // At most size_of::<usize>() bytes (checked above): the shifts lose nothing.
                value = (value << 8) | usize::from(*byte);
            }
            (header_len.saturating_add(n), Some(value))
        }
    };
    Step::Done(Header {
        tag,
        len,
        contents_len,
    })
}

/// [`parse_identifier`] on a prefix of the input.
fn parse_identifier_prefix(input: &[u8]) -> Step<(Tag, usize)> {
    let Some(&first) = input.first() else {
        return Step::Incomplete;
    };
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = first & 0x20 != 0;
    let low = first & 0x1f;
    if low != 0x1f {
        return Step::Done((
            Tag {
                class,
                constructed,
                number: u32::from(low),
            },
            1,
        ));
    }
    // High-tag-number form: base-128, at most 4 octets so the number fits in u32.
    let mut number: u32 = 0;
    for (i, byte) in input.iter().skip(1).take(4).enumerate() {
        number = (number << 7) | u32::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Step::Done((
                Tag {
                    class,
                    constructed,
                    number,
                },
                i.saturating_add(2),
            ));
        }
    }
    if input.len() > 4 {
        Step::Invalid
    } else {
        Step::Incomplete
    }
}

/// Parses one TLV starting at `pos` in `input`.
fn parse_tlv<'a>(
    input: &'a [u8],
    pos: usize,
    base: usize,
    depth: usize,
    limits: BerLimits,
    what: &'static str,
) -> Result<Tlv<'a>, Error> {
    let here = base.saturating_add(pos);
    let bad = || Error::malformed(what, here);
    let rest = input.get(pos..).ok_or_else(bad)?;
    // One header reader for this and the streaming reader (`super::stream`), so that both
    // accept and refuse exactly the same encodings.
    let Step::Done(Header {
        tag,
        len: header_len,
        contents_len: declared,
    }) = parse_header(rest)
    else {
        return Err(bad());
    };
    let contents_start = pos.checked_add(header_len).ok_or_else(bad)?;
    match declared {
        Some(len) => {
            // Trust no declared length: it must fit in what is actually there.
            let end = contents_start.checked_add(len).ok_or_else(bad)?;
            let raw = input.get(pos..end).ok_or_else(bad)?;
            let contents = input.get(contents_start..end).ok_or_else(bad)?;
            Ok(Tlv {
                tag,
                raw,
                contents,
                indefinite: false,
                offset: here,
                contents_offset: base.saturating_add(contents_start),
                depth,
                limits,
            })
        }
        None => {
            // parse_header refuses a primitive value with an indefinite length.
            if depth >= limits.max_depth {
                return Err(limits.depth_error());
            }
            // Walk the children to find the end-of-contents octets.
            let mut cursor = contents_start;
            loop {
                match input.get(cursor..cursor.saturating_add(2)) {
                    Some([0, 0]) => break,
                    Some(_) => {
                        let child =
                            parse_tlv(input, cursor, base, depth.saturating_add(1), limits, what)?;
                        cursor = cursor.saturating_add(child.raw.len());
                    }
                    None => return Err(bad()),
                }
            }
            let raw = input.get(pos..cursor.saturating_add(2)).ok_or_else(bad)?;
            let contents = input.get(contents_start..cursor).ok_or_else(bad)?;
            Ok(Tlv {
                tag,
                raw,
                contents,
                indefinite: true,
                offset: here,
                contents_offset: base.saturating_add(contents_start),
                depth,
                limits,
            })
        }
    }
}

impl<'a> Tlv<'a> {
    /// The same value with another tag, e.g. to read an IMPLICIT `[1]` AlgorithmIdentifier
    /// as the SEQUENCE it replaces.
    pub fn retagged(&self, tag: Tag) -> Tlv<'a> {
        Tlv { tag, ..*self }
    }

    /// A reader over the children of this constructed value.
    pub fn children(&self, what: &'static str) -> Result<Reader<'a>, Error> {
        if !self.tag.constructed {
            return Err(Error::malformed(what, self.offset));
        }
        if self.depth >= self.limits.max_depth {
            return Err(self.limits.depth_error());
        }
        Ok(Reader {
            input: self.contents,
            pos: 0,
            base: self.contents_offset,
            depth: self.depth.saturating_add(1),
            limits: self.limits,
        })
    }

    /// The value of an OBJECT IDENTIFIER.
    pub fn oid(&self, what: &'static str) -> Result<ObjectIdentifier, Error> {
        if self.tag != Tag::OID {
            return Err(Error::malformed(what, self.offset));
        }
        ObjectIdentifier::from_bytes(self.contents).map_err(|_| Error::malformed(what, self.offset))
    }

    /// The value of a small non-negative INTEGER (a version number).
    pub fn small_uint(&self, what: &'static str) -> Result<u32, Error> {
        let bad = || Error::malformed(what, self.offset);
        if self.tag != Tag::INTEGER || self.contents.is_empty() || self.contents.len() > 4 {
            return Err(bad());
        }
        if self.contents.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(bad());
        }
        Ok(self
            .contents
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
    }

    /// The contents of an OCTET STRING, or of an implicitly tagged one, joining the
    /// segments of a constructed (chunked) encoding at any depth.
    ///
    /// Borrows when the string is primitive; allocates once otherwise.
    pub fn octets(&self, what: &'static str) -> Result<Cow<'a, [u8]>, Error> {
        if !self.tag.constructed {
            return Ok(Cow::Borrowed(self.contents));
        }
        // The joined string is never longer than the encoding that carries it.
        let mut out = Vec::with_capacity(self.contents.len());
        let mut chunks = 0usize;
        self.append_segments(&mut out, &mut chunks, what)?;
        Ok(Cow::Owned(out))
    }

    fn append_segments(
        &self,
        out: &mut Vec<u8>,
        chunks: &mut usize,
        what: &'static str,
    ) -> Result<(), Error> {
        let mut reader = self.children(what)?;
        while !reader.is_empty() {
            let segment = reader.read(what)?;
            if !segment.tag.same_type(Tag::OCTET_STRING) {
                return Err(Error::malformed(what, segment.offset));
            }
            *chunks = chunks.saturating_add(1);
            if *chunks > self.limits.max_chunks {
                return Err(Error::LimitExceeded {
                    limit: Limit::BerChunks,
                    value: self.limits.max_chunks,
                });
            }
            if segment.tag.constructed {
                segment.append_segments(out, chunks, what)?;
            } else {
                out.extend_from_slice(segment.contents);
            }
        }
        Ok(())
    }

    /// This value re-encoded in DER form as far as lengths and strings go: definite
    /// lengths everywhere and constructed strings joined into primitive ones. SET
    /// elements are *not* re-sorted; use this only to hand BER sub-structures (certificates,
    /// algorithm parameters) to a DER decoder, never to compute a digest.
    pub fn to_der(&self) -> Result<Cow<'a, [u8]>, Error> {
        if !self.needs_normalising()? {
            return Ok(Cow::Borrowed(self.raw));
        }
        let mut out = Vec::with_capacity(self.raw.len());
        self.write_der(&mut out)?;
        Ok(Cow::Owned(out))
    }

    fn needs_normalising(&self) -> Result<bool, Error> {
        if self.indefinite || (self.tag.constructed && is_string_type(self.tag)) {
            return Ok(true);
        }
        // A definite length in more octets than needed: BER allows it, DER does not.
        let mut header = Vec::with_capacity(16);
        write_header(&mut header, self.tag, self.contents.len());
        if self.raw.len().saturating_sub(self.contents.len()) != header.len() {
            return Ok(true);
        }
        if !self.tag.constructed {
            return Ok(false);
        }
        let mut reader = self.children("value")?;
        while !reader.is_empty() {
            if reader.read("value")?.needs_normalising()? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn write_der(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.tag.constructed && is_string_type(self.tag) {
            let joined = self.octets("string")?;
            let mut tag = self.tag;
            tag.constructed = false;
            write_header(out, tag, joined.len());
            out.extend_from_slice(&joined);
            return Ok(());
        }
        if !self.tag.constructed {
            write_header(out, self.tag, self.contents.len());
            out.extend_from_slice(self.contents);
            return Ok(());
        }
        let mut inner = Vec::with_capacity(self.contents.len());
        let mut reader = self.children("value")?;
        while !reader.is_empty() {
            reader.read("value")?.write_der(&mut inner)?;
        }
        write_header(out, self.tag, inner.len());
        out.extend_from_slice(&inner);
        Ok(())
    }
}

/// Universal string types, whose constructed BER form DER forbids. Context-specific tags
/// are left alone: whether `[n]` is a string depends on the schema, and callers use
/// [`Tlv::octets`] for those.
fn is_string_type(tag: Tag) -> bool {
    tag.class == Class::Universal && matches!(tag.number, 3 | 4 | 12 | 19 | 20 | 22 | 26 | 30)
}

/// Appends a DER identifier and definite length.
pub fn write_header(out: &mut Vec<u8>, tag: Tag, len: usize) {
    write_identifier(out, tag);
    write_length(out, len);
}

/// Appends an identifier with the indefinite length form (X.690 §8.1.3.6), for a
/// constructed value whose length is not known when it is opened: the streaming writers
/// use it around content of unknown size, which RFC 5652 allows (CMS is BER). Close it with
/// [`write_end_of_contents`].
pub fn write_indefinite_header(out: &mut Vec<u8>, tag: Tag) {
    write_identifier(
        out,
        Tag {
            constructed: true,
            ..tag
        },
    );
    out.push(0x80);
}

/// Appends the end-of-contents octets that close a value opened by
/// [`write_indefinite_header`] (X.690 §8.1.5).
pub fn write_end_of_contents(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0]);
}

/// Appends an identifier (X.690 §8.1.2), in the high-tag-number form when needed.
fn write_identifier(out: &mut Vec<u8>, tag: Tag) {
    let class_bits: u8 = match tag.class {
        Class::Universal => 0x00,
        Class::Application => 0x40,
        Class::Context => 0x80,
        Class::Private => 0xc0,
    };
    let constructed = if tag.constructed { 0x20 } else { 0 };
    if tag.number < 0x1f {
        // Checked by the branch: the number fits in five bits.
        out.push(class_bits | constructed | (tag.number as u8));
    } else {
        out.push(class_bits | constructed | 0x1f);
        let mut groups = [0u8; 5];
        let mut n = tag.number;
        let mut count = 0;
        // A u32 has at most five 7-bit groups, so `count` stays within `groups`.
        while let Some(slot) = groups.get_mut(count) {
            *slot = (n & 0x7f) as u8;
            count = count.saturating_add(1);
            n >>= 7;
            if n == 0 {
                break;
            }
        }
        for (i, group) in groups.iter().enumerate().take(count).rev() {
            let more = if i > 0 { 0x80 } else { 0 };
            out.push(group | more);
        }
    }
}

/// Appends a DER definite length.
pub fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// The length of a DER header for `len` contents octets with a one-octet identifier.
pub fn header_len(len: usize) -> usize {
    let mut v = Vec::with_capacity(10);
    write_length(&mut v, len);
    v.len().saturating_add(1)
}

/// Encodes a complete DER TLV with a one-octet identifier.
pub fn encode(tag: Tag, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(contents.len()).saturating_add(contents.len()));
    write_header(&mut out, tag, contents.len());
    out.extend_from_slice(contents);
    out
}

/// Encodes a constructed DER value from already-encoded children.
pub fn encode_constructed(tag: Tag, children: &[&[u8]]) -> Vec<u8> {
    let len = children.iter().map(|c| c.len()).sum();
    let mut out = Vec::with_capacity(header_len(len).saturating_add(len));
    write_header(&mut out, tag, len);
    for child in children {
        out.extend_from_slice(child);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn definite_and_indefinite_sequences() {
        // SEQUENCE { INTEGER 1, OCTET STRING "ab" } in DER and in indefinite BER.
        let der = [0x30, 0x07, 0x02, 0x01, 0x01, 0x04, 0x02, b'a', b'b'];
        let ber = [0x30, 0x80, 0x02, 0x01, 0x01, 0x04, 0x02, b'a', b'b', 0, 0];
        for input in [&der[..], &ber[..]] {
            let l = limits();
            let mut r = Reader::new(input, &l);
            let seq = r.expect(Tag::SEQUENCE, "seq").unwrap();
            assert!(r.is_empty());
            assert_eq!(seq.raw, input);
            let mut c = seq.children("seq").unwrap();
            assert_eq!(c.read("int").unwrap().small_uint("int").unwrap(), 1);
            let s = c.read("str").unwrap();
            assert_eq!(s.contents_offset, 7);
            assert_eq!(&*s.octets("str").unwrap(), b"ab");
            c.finish("seq").unwrap();
            assert_eq!(&*seq.to_der().unwrap(), &der[..]);
        }
    }

    /// What the streaming writers emit around content of unknown length reads back.
    #[test]
    fn indefinite_headers_read_back() {
        let mut out = Vec::new();
        write_indefinite_header(&mut out, Tag::SEQUENCE);
        write_indefinite_header(&mut out, Tag::context(0, false));
        write_header(&mut out, Tag::OCTET_STRING, 2);
        out.extend_from_slice(b"ab");
        write_header(&mut out, Tag::OCTET_STRING, 1);
        out.push(b'c');
        write_end_of_contents(&mut out);
        write_end_of_contents(&mut out);
        assert_eq!(
            out,
            [
                0x30, 0x80, 0xa0, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0
            ]
        );
        let l = limits();
        let seq = Reader::new(&out, &l).expect(Tag::SEQUENCE, "seq").unwrap();
        assert!(seq.indefinite);
        let inner = seq.children("seq").unwrap().read("[0]").unwrap();
        assert_eq!(inner.tag, Tag::context(0, true));
        assert_eq!(&*inner.octets("[0]").unwrap(), b"abc");
    }

    #[test]
    fn chunked_octet_strings_at_any_depth() {
        // Indefinite constructed OCTET STRING holding a definite constructed one and a
        // primitive one: "ab" + "cd" + "e".
        let input = [
            0x24, 0x80, // OCTET STRING, constructed, indefinite
            0x24, 0x08, // OCTET STRING, constructed, definite
            0x04, 0x02, b'a', b'b', 0x04, 0x02, b'c', b'd', //
            0x04, 0x01, b'e', // primitive
            0, 0,
        ];
        let l = limits();
        let t = Reader::new(&input, &l).read("s").unwrap();
        assert_eq!(&*t.octets("s").unwrap(), b"abcde");
        assert_eq!(
            &*t.to_der().unwrap(),
            &[0x04, 0x05, b'a', b'b', b'c', b'd', b'e']
        );
    }

    #[test]
    fn declared_length_beyond_input_is_rejected() {
        let l = limits();
        let input = [0x04, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00];
        assert!(matches!(
            Reader::new(&input, &l).read("x"),
            Err(Error::Malformed {
                what: "x",
                offset: 0
            })
        ));
        // Length of length larger than usize.
        let input = [0x04, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        assert!(Reader::new(&input, &l).read("x").is_err());
    }

    #[test]
    fn missing_end_of_contents_is_rejected() {
        let l = limits();
        let input = [0x30, 0x80, 0x02, 0x01, 0x01];
        assert!(Reader::new(&input, &l).read("x").is_err());
        // Primitive with indefinite length is invalid BER.
        let input = [0x04, 0x80, 0, 0];
        assert!(Reader::new(&input, &l).read("x").is_err());
    }

    #[test]
    fn depth_limit_applies_to_indefinite_nesting() {
        let mut l = limits();
        l.max_ber_depth = 4;
        let mut input = Vec::new();
        for _ in 0..10 {
            input.extend_from_slice(&[0x30, 0x80]);
        }
        for _ in 0..10 {
            input.extend_from_slice(&[0, 0]);
        }
        assert_eq!(
            Reader::new(&input, &l).read("x").unwrap_err(),
            Error::LimitExceeded {
                limit: Limit::BerDepth,
                value: 4
            }
        );
    }

    #[test]
    fn chunk_limit() {
        let mut l = limits();
        l.max_ber_chunks = 2;
        let input = [0x24, 0x80, 0x04, 0x00, 0x04, 0x00, 0x04, 0x00, 0, 0];
        let t = Reader::new(&input, &l).read("s").unwrap();
        assert_eq!(
            t.octets("s").unwrap_err(),
            Error::LimitExceeded {
                limit: Limit::BerChunks,
                value: 2
            }
        );
    }

    #[test]
    fn high_tag_numbers_and_long_lengths() {
        let mut out = Vec::new();
        write_header(&mut out, Tag::context(300, true), 300);
        assert_eq!(out, [0xbf, 0x82, 0x2c, 0x82, 0x01, 0x2c]);
        let (tag, n) = parse_identifier(&out).unwrap();
        assert_eq!((tag, n), (Tag::context(300, true), 3));
    }

    /// Headers read from a prefix: what more octets could complete, and what they cannot.
    #[test]
    fn header_prefixes() {
        let incomplete: [&[u8]; 6] = [
            &[],
            &[0x1f],
            &[0x1f, 0x81, 0x81, 0x81],
            &[0x30],
            &[0x30, 0x84, 0x00, 0x00],
            &[0xbf, 0x82, 0x2c, 0x82, 0x01],
        ];
        for input in incomplete {
            assert_eq!(parse_header(input), Step::Incomplete, "{input:02x?}");
        }
        let invalid: [&[u8]; 4] = [
            &[0x1f, 0x81, 0x81, 0x81, 0x81],
            &[0x04, 0x80],
            &[0x30, 0xff],
            &[0x30, 0x89],
        ];
        for input in invalid {
            assert_eq!(parse_header(input), Step::Invalid, "{input:02x?}");
        }
        assert_eq!(
            parse_header(&[0xbf, 0x82, 0x2c, 0x82, 0x01, 0x2c, 0xaa]),
            Step::Done(Header {
                tag: Tag::context(300, true),
                len: 6,
                contents_len: Some(300),
            })
        );
        assert_eq!(
            parse_header(&[0x24, 0x80, 0x04]),
            Step::Done(Header {
                tag: Tag::universal(4, true),
                len: 2,
                contents_len: None,
            })
        );
    }

    #[test]
    fn truncation_never_panics() {
        let input = [0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0, 0, 0, 0];
        let l = limits();
        for end in 0..input.len() {
            let _ = Reader::new(&input[..end], &l)
                .read("x")
                .and_then(|t| t.to_der().map(|_| ()));
        }
    }
}
