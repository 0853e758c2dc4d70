//! CompressedData (RFC 3274) with zlib, as AS2 compression (RFC 5402) uses it.
//!
//! Decompression is capped twice, by [`Limits::max_decompressed_size`] and by
//! [`Limits::max_expansion_ratio`] times the compressed size, and stops as soon as the
//! output would pass the smaller cap: a decompression bomb fails early and cleanly.

use std::borrow::Cow;

use miniz_oxide::inflate::TINFLStatus;

use super::algorithm::{AlgorithmId, algorithm_identifier, encode_uint};
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
pub fn compress(content: &[u8], options: CompressOptions) -> Vec<u8> {
    compress_pieces(&[content], options)
}

/// [`compress`] for content given as consecutive pieces, which are streamed through the
/// compressor without being joined first.
// Header lengths (a few octets each) added to the lengths of buffers in memory: no overflow.
#[allow(clippy::arithmetic_side_effects)]
pub(crate) fn compress_pieces(pieces: &[&[u8]], options: CompressOptions) -> Vec<u8> {
    let compressed = deflate_zlib(pieces, options.level.min(9)).unwrap_or_else(|| {
        // zlib-rs reports errors only for invalid parameters or failed allocations; keep
        // a correct (if slower) answer rather than none.
        miniz_oxide::deflate::compress_to_vec_zlib(&pieces.concat(), options.level.min(10))
    });
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

/// zlib (RFC 1950) stream of `pieces` at `level` with zlib-rs, written straight into the
/// output vector; `None` if zlib-rs reports an error.
fn deflate_zlib(pieces: &[&[u8]], level: u8) -> Option<Vec<u8>> {
    use zlib_rs::{Deflate, DeflateFlush, Status};
    /// Output room added at a time.
    const STEP: usize = 64 * 1024;
    let total: usize = pieces
        .iter()
        .map(|p| p.len())
        .fold(0, usize::saturating_add);
    let mut deflate = Deflate::new(i32::from(level), true, 15);
    // Text usually compresses at least 3:1; the vector grows if it does not.
    let mut out = Vec::with_capacity((total / 3).saturating_add(STEP));
    let mut written = 0usize;
    let mut run = |input: &[u8], flush: DeflateFlush, out: &mut Vec<u8>| -> Option<()> {
        let mut input = input;
        loop {
            if out.len().saturating_sub(written) < STEP / 2 {
                out.resize(written.saturating_add(STEP), 0);
            }
            let (in_before, out_before) = (deflate.total_in(), deflate.total_out());
            let status = deflate
                .compress(input, out.get_mut(written..)?, flush)
                .ok()?;
            let consumed = usize::try_from(deflate.total_in().checked_sub(in_before)?).ok()?;
            let produced = usize::try_from(deflate.total_out().checked_sub(out_before)?).ok()?;
            input = input.get(consumed..)?;
            written = written.checked_add(produced)?;
            let room_left = written < out.len();
            match flush {
                DeflateFlush::Finish if status == Status::StreamEnd => return Some(()),
                DeflateFlush::Finish => {}
                _ if input.is_empty() && room_left => return Some(()),
                _ => {}
            }
            // No progress with room to write: give up rather than spin.
            if consumed == 0 && produced == 0 && room_left {
                return None;
            }
        }
    };
    for piece in pieces {
        run(piece, DeflateFlush::NoFlush, &mut out)?;
    }
    run(&[], DeflateFlush::Finish, &mut out)?;
    out.truncate(written);
    Some(out)
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
        let alg = AlgorithmId::parse(
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

    /// zlib-rs output, fed in pieces, at every level, for empty, text and incompressible
    /// content (which outgrows the first output estimate), inflates to the input. (The
    /// bytes may differ from one-piece compression: zlib-rs output depends on how the
    /// input is fed, which zlib allows.)
    #[test]
    fn pieces_at_every_level_round_trip() {
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
            let (a, rest) = content.split_at(content.len() / 3);
            let (b, c) = rest.split_at(rest.len() / 2);
            for level in [0, 1, 4, 6, 9, 10] {
                let info = compress_pieces(&[a, b, c], CompressOptions { level });
                let parsed = CompressedData::parse(&info, &limits).unwrap();
                let out = parsed.decompress(&limits).unwrap();
                assert!(out == content, "level {level}, {} bytes", content.len());
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
