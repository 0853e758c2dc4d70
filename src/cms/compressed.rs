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
    /// zlib level, 0 (store) to 10 (default 6).
    pub level: u8,
}

impl Default for CompressOptions {
    fn default() -> Self {
        Self { level: 6 }
    }
}

/// Compresses `content` into a DER ContentInfo holding CompressedData (id-data inside).
pub fn compress(content: &[u8], options: CompressOptions) -> Vec<u8> {
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(content, options.level.min(10));
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
