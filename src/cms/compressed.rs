//! CompressedData (RFC 3274) with zlib, as AS2 compression (RFC 5402) uses it.
//!
//! Decompression is capped twice, by [`Limits::max_decompressed_size`] and by
//! [`Limits::max_expansion_ratio`] times the compressed size, and stops as soon as the
//! output would pass the smaller cap: a decompression bomb fails early and cleanly.

use std::borrow::Cow;

use miniz_oxide::inflate::TINFLStatus;

use super::algorithm::{algorithm_identifier, decode_identifier, encode_uint};
use super::ber::{self, Tag};
use super::{ContentType, oid};
use crate::error::{AlgorithmKind, Error};
use crate::limits::{Limit, Limits};

/// Options for compressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompressOptions {
    /// zlib level, 0 (store) to 9 (10 is taken as 9). The default, 6, is zlib's own: on
    /// X12 text it gives C zlib's ratio at about twice C zlib's speed (the numbers are in
    /// the README's Performance section and `benches/compression.rs`).
    pub level: u8,
}

impl Default for CompressOptions {
    fn default() -> Self {
        Self { level: 6 }
    }
}

/// Compresses `content` into a DER ContentInfo holding CompressedData (id-data inside).
///
/// The content is compressed by the same code the streaming builder
/// ([`outbound::start`](crate::message::outbound::start)) uses; only the framing differs: here the compressed length is known before the
/// structure is written, so every length is definite (DER).
// Header lengths (a few octets each) added to the lengths of buffers in memory: no overflow.
#[allow(clippy::arithmetic_side_effects)]
pub fn compress(content: &[u8], options: CompressOptions) -> Vec<u8> {
    let mut deflater = Deflater::new(options.level);
    let mut compressed = Vec::with_capacity((content.len() / 3).saturating_add(64));
    let mut collect = |segment: &[u8]| compressed.extend_from_slice(segment);
    let deflated = deflater
        .push(content, &mut collect)
        .and_then(|()| deflater.finish(&mut collect));
    if deflated.is_err() {
        // zlib-rs reports errors only for invalid parameters or failed allocations; keep
        // a correct (if slower) answer rather than none.
        compressed = miniz_oxide::deflate::compress_to_vec_zlib(content, options.level.min(10));
    }
    let version = encode_uint(0);
    let zlib = algorithm_identifier(oid::ZLIB_COMPRESS, None);
    let data_oid = ber::encode(Tag::OID, oid::DATA.as_bytes());
    // Lay out the nesting once and append the compressed bytes at the end.
    let octets_len = compressed.len();
    let explicit_len = ber::header_len(octets_len) + octets_len;
    let encap_len = data_oid.len() + ber::header_len(explicit_len) + explicit_len;
    let seq_len = version.len() + zlib.len() + ber::header_len(encap_len) + encap_len;
    let type_oid = ber::encode(Tag::OID, oid::COMPRESSED_DATA.as_bytes());
    let ctx_len = ber::header_len(seq_len) + seq_len;
    let info_len = type_oid.len() + ber::header_len(ctx_len) + ctx_len;

    let mut out = Vec::with_capacity(ber::header_len(info_len) + info_len);
    ber::write_header(&mut out, Tag::SEQUENCE, info_len);
    out.extend_from_slice(&type_oid);
    ber::write_header(&mut out, Tag::context(0, true), ctx_len);
    ber::write_header(&mut out, Tag::SEQUENCE, seq_len);
    out.extend_from_slice(&version);
    out.extend_from_slice(&zlib);
    ber::write_header(&mut out, Tag::SEQUENCE, encap_len);
    out.extend_from_slice(&data_oid);
    ber::write_header(&mut out, Tag::context(0, true), explicit_len);
    ber::write_header(&mut out, Tag::OCTET_STRING, octets_len);
    out.extend_from_slice(&compressed);
    out
}

/// The length of the OCTET STRING segments the streaming writers emit when the total is
/// not known in advance (and of zlib's input blocks and output buffer): large enough that the four
/// header octets per segment cost 0.02 %, small enough to keep per-message memory flat.
/// A multiple of every cipher block size.
pub(crate) const SEGMENT_LEN: usize = 16 * 1024;

/// CompressedData (RFC 3274) written while its content arrives, for the streaming builder.
///
/// The compressed length is not known until the end, so the ContentInfo, the
/// CompressedData, its EncapsulatedContentInfo and the `[0]` around the content use BER
/// indefinite lengths, and the content is a constructed OCTET STRING of definite-length
/// segments of [`SEGMENT_LEN`] octets (the last one shorter). RFC 5652 §2 allows BER for
/// this; it is the shape of OpenSSL's `cms -compress -stream`, and OpenSSL, BouncyCastle
/// and asn1crypto (pyas2lib) read it.
///
/// Memory is the zlib state and one segment, whatever the content size.
pub(crate) struct CompressedWriter {
    deflater: Deflater,
}

impl CompressedWriter {
    /// A writer compressing at `options.level`; `out` receives the structure up to the
    /// first content octet.
    pub(crate) fn new(options: CompressOptions, out: &mut Vec<u8>) -> Self {
        ber::write_indefinite_header(out, Tag::SEQUENCE);
        ber::write_header(out, Tag::OID, oid::COMPRESSED_DATA.as_bytes().len());
        out.extend_from_slice(oid::COMPRESSED_DATA.as_bytes());
        ber::write_indefinite_header(out, Tag::context(0, true));
        ber::write_indefinite_header(out, Tag::SEQUENCE);
        out.extend_from_slice(&encode_uint(0));
        out.extend_from_slice(&algorithm_identifier(oid::ZLIB_COMPRESS, None));
        ber::write_indefinite_header(out, Tag::SEQUENCE);
        ber::write_header(out, Tag::OID, oid::DATA.as_bytes().len());
        out.extend_from_slice(oid::DATA.as_bytes());
        ber::write_indefinite_header(out, Tag::context(0, true));
        ber::write_indefinite_header(out, Tag::OCTET_STRING);
        CompressedWriter {
            deflater: Deflater::new(options.level),
        }
    }

    /// Compresses `content`, appending every completed segment to `out`.
    pub(crate) fn push(&mut self, content: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.deflater
            .push(content, &mut |segment| write_segment(out, segment))
    }

    /// Ends the zlib stream and appends the last segments and the end-of-contents octets
    /// of the six values opened by [`CompressedWriter::new`].
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.deflater
            .finish(&mut |segment| write_segment(out, segment))?;
        for _ in 0..6 {
            ber::write_end_of_contents(out);
        }
        Ok(())
    }
}

/// Appends one primitive OCTET STRING segment.
fn write_segment(out: &mut Vec<u8>, segment: &[u8]) {
    ber::write_header(out, Tag::OCTET_STRING, segment.len());
    out.extend_from_slice(segment);
}

/// A zlib (RFC 1950) stream with zlib-rs, fed in pieces, whose output is handed out in
/// segments of [`SEGMENT_LEN`] octets (the last one shorter, none empty).
///
/// zlib-rs, like zlib, may compress the same input differently depending on how it is fed
/// (its match search and block decisions look at what input is available). So deflate is
/// always given whole blocks of [`SEGMENT_LEN`] input octets, staged when the caller's
/// pieces are smaller: the output depends on the content only, however it was cut.
struct Deflater {
    deflate: zlib_rs::Deflate,
    /// Input not yet given to deflate, less than a block.
    stage: Vec<u8>,
    segment: Vec<u8>,
    filled: usize,
}

impl Deflater {
    fn new(level: u8) -> Self {
        Deflater {
            // Levels above 9 are taken as 9, as zlib does.
            deflate: zlib_rs::Deflate::new(i32::from(level.min(9)), true, 15),
            stage: Vec::with_capacity(SEGMENT_LEN),
            segment: vec![0; SEGMENT_LEN],
            filled: 0,
        }
    }

    /// Compresses `input`, calling `emit` with every full segment.
    fn push(&mut self, mut input: &[u8], emit: &mut impl FnMut(&[u8])) -> Result<(), Error> {
        use zlib_rs::DeflateFlush::NoFlush;
        while !input.is_empty() {
            if self.stage.is_empty() && input.len() >= SEGMENT_LEN {
                // A whole block straight from the input.
                let (block, rest) = input.split_at(SEGMENT_LEN);
                self.run(block, NoFlush, emit)?;
                input = rest;
            } else {
                let room = SEGMENT_LEN.saturating_sub(self.stage.len());
                let (part, rest) = input.split_at(room.min(input.len()));
                self.stage.extend_from_slice(part);
                input = rest;
                if self.stage.len() >= SEGMENT_LEN {
                    let stage = std::mem::take(&mut self.stage);
                    let ran = self.run(&stage, NoFlush, emit);
                    self.stage = stage;
                    self.stage.clear();
                    ran?;
                }
            }
        }
        Ok(())
    }

    /// Ends the stream: calls `emit` with the remaining full segments and the last one.
    fn finish(&mut self, emit: &mut impl FnMut(&[u8])) -> Result<(), Error> {
        let stage = std::mem::take(&mut self.stage);
        self.run(&stage, zlib_rs::DeflateFlush::Finish, emit)?;
        if let Some(last) = self.segment.get(..self.filled).filter(|s| !s.is_empty()) {
            emit(last);
        }
        self.filled = 0;
        Ok(())
    }

    fn run(
        &mut self,
        mut input: &[u8],
        flush: zlib_rs::DeflateFlush,
        emit: &mut impl FnMut(&[u8]),
    ) -> Result<(), Error> {
        use zlib_rs::{DeflateFlush, Status};
        let fail = || Error::UnsupportedFormat("zlib compression failed");
        loop {
            if self.filled >= self.segment.len() {
                emit(&self.segment);
                self.filled = 0;
            }
            let room = self.segment.get_mut(self.filled..).ok_or_else(fail)?;
            let (in_before, out_before) = (self.deflate.total_in(), self.deflate.total_out());
            let status = self
                .deflate
                .compress(input, room, flush)
                .map_err(|_| fail())?;
            let consumed = self
                .deflate
                .total_in()
                .checked_sub(in_before)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(fail)?;
            let produced = self
                .deflate
                .total_out()
                .checked_sub(out_before)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(fail)?;
            input = input.get(consumed..).ok_or_else(fail)?;
            self.filled = self.filled.checked_add(produced).ok_or_else(fail)?;
            let room_left = self.filled < self.segment.len();
            match flush {
                DeflateFlush::Finish if status == Status::StreamEnd => return Ok(()),
                DeflateFlush::Finish => {}
                // All input taken and room left over: zlib holds nothing it could write.
                _ if input.is_empty() && room_left => return Ok(()),
                _ => {}
            }
            // No progress with room to write: give up rather than spin.
            if consumed == 0 && produced == 0 && room_left {
                return Err(fail());
            }
        }
    }
}

/// A parsed CompressedData.
#[derive(Debug)]
pub struct CompressedData<'a> {
    compressed: Cow<'a, [u8]>,
}

impl<'a> CompressedData<'a> {
    /// Parses a ContentInfo holding CompressedData (BER or DER, chunked content too).
    pub fn parse(input: &'a [u8], limits: &Limits) -> Result<Self, Error> {
        let content = super::expect_content_info(input, ContentType::CompressedData, limits)?;
        let mut r = content.children("CompressedData")?;
        r.expect(Tag::INTEGER, "CompressedData version")?;
        let alg = decode_identifier(
            &r.expect(Tag::SEQUENCE, "compressionAlgorithm")?,
            "compressionAlgorithm",
        )?;
        if alg.oid != oid::ZLIB_COMPRESS {
            return Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::Compression,
                oid: alg.oid,
            });
        }
        let encap = r.expect(Tag::SEQUENCE, "encapContentInfo")?;
        r.finish("CompressedData")?;
        let (_, compressed) = super::parse_encapsulated(&encap)?;
        let compressed = compressed.ok_or(Error::malformed(
            "compressed content (absent)",
            encap.offset,
        ))?;
        Ok(CompressedData { compressed })
    }

    /// The compressed (zlib) bytes.
    pub fn compressed(&self) -> &[u8] {
        &self.compressed
    }

    /// Decompresses, within the caps set by `limits`.
    pub fn decompress(&self, limits: &Limits) -> Result<Vec<u8>, Error> {
        let by_ratio = self
            .compressed
            .len()
            .saturating_mul(limits.max_expansion_ratio);
        let (cap, limit) = if by_ratio < limits.max_decompressed_size {
            (by_ratio, Limit::ExpansionRatio)
        } else {
            (limits.max_decompressed_size, Limit::DecompressedSize)
        };
        miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&self.compressed, cap).map_err(
            |e| match e.status {
                TINFLStatus::HasMoreOutput => limit.exceeded(limits),
                _ => Error::DecompressionFailed,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streaming writer, fed in pieces, at every level, for empty, text and
    /// incompressible content (several segments of output), reads back to the content,
    /// and its zlib stream is the one `compress` writes, however the content was cut.
    #[test]
    fn streaming_writer_at_every_level_round_trips() {
        let limits = Limits::default();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let text = b"ST*850*0001~\nPO1*1*10*EA*9.99**UP*012345678905~\n".repeat(20_000);
        for content in [&b""[..], b"x", &text, &noise] {
            for level in [0, 1, 4, 6, 9, 10] {
                let options = CompressOptions { level };
                let mut info = Vec::new();
                let mut writer = CompressedWriter::new(options, &mut info);
                let mut rest = content;
                let mut step = 1usize;
                while !rest.is_empty() {
                    let (piece, tail) = rest.split_at(step.min(rest.len()));
                    writer.push(piece, &mut info).unwrap();
                    rest = tail;
                    step = step * 7 % 70_001 + 1;
                }
                writer.finish(&mut info).unwrap();
                let parsed = CompressedData::parse(&info, &limits).unwrap();
                let out = parsed.decompress(&limits).unwrap();
                assert!(out == content, "level {level}, {} bytes", content.len());
                let whole = compress(content, options);
                let whole = CompressedData::parse(&whole, &limits).unwrap();
                assert!(
                    whole.compressed() == parsed.compressed(),
                    "level {level}, {} bytes",
                    content.len()
                );
            }
        }
    }

    #[test]
    fn round_trip_and_caps() {
        let limits = Limits::default();
        let data = b"ISA*00*          *00*          *ZZ*SENDER~".repeat(1000);
        let info = compress(&data, CompressOptions::default());
        let parsed = CompressedData::parse(&info, &limits).unwrap();
        assert_eq!(parsed.decompress(&limits).unwrap(), data);

        let mut small = limits.clone();
        small.max_decompressed_size = 1000;
        assert_eq!(
            parsed.decompress(&small).unwrap_err(),
            Error::LimitExceeded {
                limit: Limit::DecompressedSize,
                value: 1000
            }
        );
        let mut ratio = limits.clone();
        ratio.max_expansion_ratio = 2;
        assert_eq!(
            parsed.decompress(&ratio).unwrap_err(),
            Error::LimitExceeded {
                limit: Limit::ExpansionRatio,
                value: 2
            }
        );
    }
}
