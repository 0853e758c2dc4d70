//! Resource limits applied to untrusted input.
//!
//! An AS2 endpoint reads bytes from the internet before it knows who sent them, so every
//! parser in this crate takes a [`Limits`] and checks each bound *before* spending the
//! memory or time it protects (a declared BER length is compared with the bytes actually
//! present, a decompression stops as soon as its output would pass the cap, ...).

/// Bounds on the size and shape of input the crate accepts.
///
/// Exceeding one gives [`Error::LimitExceeded`](crate::Error::LimitExceeded) naming the
/// limit and its value. The defaults suit the reference service's 50 MB file limit plus
/// envelope overhead; raise them deliberately.
///
/// ```
/// let mut limits = as2_proto::Limits::default();
/// limits.max_decompressed_size = 200 * 1024 * 1024;
/// assert_eq!(limits.max_ber_depth, 32);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest body accepted, in bytes (default 64 MiB).
    pub max_body_size: usize,
    /// Largest output of one decompression, in bytes (default 64 MiB).
    pub max_decompressed_size: usize,
    /// Largest ratio of decompressed to compressed size (default 500).
    ///
    /// zlib cannot expand by more than about 1032:1, so values above that never trigger.
    pub max_expansion_ratio: usize,
    /// Deepest nesting of constructed BER values (default 32).
    pub max_ber_depth: usize,
    /// Most segments in one constructed (chunked) OCTET STRING (default 4 194 304).
    ///
    /// Each segment costs the reader constant work and no memory, so this bounds the
    /// overhead of pathological segmenting rather than memory. The default admits a 4 GiB
    /// content in the 1000-byte segments BouncyCastle's streaming generators write (a
    /// 1 GiB file is about 1.07 million of them); raise it with
    /// [`max_body_size`](Self::max_body_size) beyond that.
    pub max_ber_chunks: usize,
    /// Most RecipientInfos in one EnvelopedData (default 16).
    pub max_recipients: usize,
    /// Most SignerInfos in one SignedData (default 8).
    pub max_signers: usize,
    /// Most certificates embedded in one SignedData (default 32).
    pub max_certificates: usize,
    /// Largest CMS structure a streaming reader keeps in memory beside the content, in
    /// bytes, all captured values of one message together (default 1 MiB): the
    /// recipientInfos and algorithm identifiers of an EnvelopedData, the digestAlgorithms,
    /// certificates and signerInfos of a SignedData, the detached signature part of a
    /// `multipart/signed` entity. The content itself (ciphertext, compressed or signed
    /// octets) streams through in bounded memory whatever its size; this bounds the rest.
    pub max_cms_header_size: usize,
    /// Deepest MIME multipart nesting (default 8).
    pub max_mime_depth: usize,
    /// Most MIME body parts in one message, all levels together (default 32).
    pub max_mime_parts: usize,
    /// Most parts in one `multipart/related` payload, the first included (default 32;
    /// RFC 6362 multiple attachments); more is [`Limit::Attachments`]. Its nesting is
    /// bounded by [`max_mime_depth`](Self::max_mime_depth) like any other multipart.
    pub max_attachments: usize,
    /// Most header fields in one MIME header block (default 100).
    pub max_headers: usize,
    /// Longest header field, folded lines included, in bytes (default 8192).
    pub max_header_line: usize,
    /// Most password-based key-derivation work one PKCS#12 file may demand (default
    /// 10 000 000): iterations of the PKCS#12 KDF and of PBKDF2, times the output blocks
    /// each derivation produces, summed over the whole file (the MAC check, including a
    /// second try for an empty password, and every decrypted bag). Iteration counts come
    /// from the file, so without this cap a small file could cost hours of CPU.
    pub max_kdf_iterations: usize,
    /// Largest file (payload) sent, in bytes, checked by
    /// [`outbound::build`](crate::message::outbound::build) and
    /// [`outbound::start`](crate::message::outbound::start) before any work and by
    /// [`OutboundStream::push`](crate::message::outbound::OutboundStream::push) as the
    /// payload arrives (default
    /// 64 MiB; the reference's 50 MB in [`Limits::reference`]).
    pub max_payload_size: usize,
    /// Accept a request whose `Date` header is in no known date format (default `false`:
    /// refused with `INVALID_REQUEST`, `Unsupported date format: ...`, as the reference
    /// does). Set it for partners whose software writes a malformed `Date`; an absent
    /// `Date` is always accepted.
    pub accept_malformed_date: bool,
}

impl Limits {
    /// The reference service's quotas that concern one message ("AS2 limits" in
    /// `transfer-family-as2-limits-and-errors`), the rest at their defaults:
    ///
    /// - maximum file size, compressed or uncompressed, 50 MB (read as 50 MiB,
    ///   52 428 800 bytes): [`max_payload_size`](Self::max_payload_size) for what we send,
    ///   [`max_decompressed_size`](Self::max_decompressed_size) for what we receive;
    /// - the request body may exceed the file by the S/MIME envelope (signature,
    ///   certificates, padding): [`max_body_size`](Self::max_body_size) is 50 MiB plus
    ///   1 MiB;
    /// - up to 10 certificates per partner profile (not adjustable; also
    ///   [`Profile::MAX_CERTIFICATES`](crate::partner::Profile::MAX_CERTIFICATES)): at
    ///   most 10 certificates embedded in one signature
    ///   ([`max_certificates`](Self::max_certificates));
    /// - a malformed `Date` header is refused.
    ///
    /// Its other quotas (requests per second and in progress, files per transfer request,
    /// the 350-second inactivity timeout, profiles, connectors and agreements per account)
    /// concern the caller's server, not one message.
    ///
    /// ```
    /// let limits = as2_proto::Limits::reference();
    /// assert_eq!(limits.max_payload_size, 50 * 1024 * 1024);
    /// assert_eq!(limits.max_certificates, 10);
    /// ```
    pub fn reference() -> Self {
        const FILE: usize = 50 * 1024 * 1024;
        Self {
            max_body_size: FILE + 1024 * 1024,
            max_decompressed_size: FILE,
            max_payload_size: FILE,
            max_certificates: 10,
            accept_malformed_date: false,
            ..Self::default()
        }
    }

    /// The MIME parser's share of these limits.
    pub(crate) fn mime(&self) -> crate::mime::MimeLimits {
        crate::mime::MimeLimits {
            max_depth: self.max_mime_depth,
            max_headers: self.max_headers,
            max_header_line: self.max_header_line,
            max_parts: self.max_mime_parts,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_size: 64 * 1024 * 1024,
            max_decompressed_size: 64 * 1024 * 1024,
            max_expansion_ratio: 500,
            max_ber_depth: 32,
            max_ber_chunks: 1 << 22,
            max_recipients: 16,
            max_signers: 8,
            max_certificates: 32,
            max_cms_header_size: 1024 * 1024,
            max_mime_depth: 8,
            max_mime_parts: 32,
            max_attachments: 32,
            max_headers: 100,
            max_header_line: 8192,
            max_kdf_iterations: 10_000_000,
            max_payload_size: 64 * 1024 * 1024,
            accept_malformed_date: false,
        }
    }
}

/// Which limit of [`Limits`] was exceeded; carried by
/// [`Error::LimitExceeded`](crate::Error::LimitExceeded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_body_size`].
    BodySize,
    /// [`Limits::max_decompressed_size`].
    DecompressedSize,
    /// [`Limits::max_expansion_ratio`].
    ExpansionRatio,
    /// [`Limits::max_ber_depth`].
    BerDepth,
    /// [`Limits::max_ber_chunks`].
    BerChunks,
    /// [`Limits::max_recipients`].
    Recipients,
    /// [`Limits::max_signers`].
    Signers,
    /// [`Limits::max_certificates`].
    Certificates,
    /// [`Limits::max_cms_header_size`].
    CmsHeaderSize,
    /// [`Limits::max_kdf_iterations`].
    KdfIterations,
    /// [`Limits::max_payload_size`].
    PayloadSize,
    /// [`Limits::max_attachments`].
    Attachments,
}

impl Limit {
    /// The field name in [`Limits`].
    pub fn name(self) -> &'static str {
        match self {
            Self::BodySize => "max_body_size",
            Self::DecompressedSize => "max_decompressed_size",
            Self::ExpansionRatio => "max_expansion_ratio",
            Self::BerDepth => "max_ber_depth",
            Self::BerChunks => "max_ber_chunks",
            Self::Recipients => "max_recipients",
            Self::Signers => "max_signers",
            Self::Certificates => "max_certificates",
            Self::CmsHeaderSize => "max_cms_header_size",
            Self::KdfIterations => "max_kdf_iterations",
            Self::PayloadSize => "max_payload_size",
            Self::Attachments => "max_attachments",
        }
    }

    /// The value of this limit in `limits`.
    pub fn value(self, limits: &Limits) -> usize {
        match self {
            Self::BodySize => limits.max_body_size,
            Self::DecompressedSize => limits.max_decompressed_size,
            Self::ExpansionRatio => limits.max_expansion_ratio,
            Self::BerDepth => limits.max_ber_depth,
            Self::BerChunks => limits.max_ber_chunks,
            Self::Recipients => limits.max_recipients,
            Self::Signers => limits.max_signers,
            Self::Certificates => limits.max_certificates,
            Self::CmsHeaderSize => limits.max_cms_header_size,
            Self::KdfIterations => limits.max_kdf_iterations,
            Self::PayloadSize => limits.max_payload_size,
            Self::Attachments => limits.max_attachments,
        }
    }

    /// The error for exceeding this limit as set in `limits`.
    pub(crate) fn exceeded(self, limits: &Limits) -> crate::Error {
        crate::Error::LimitExceeded {
            limit: self,
            value: self.value(limits),
        }
    }
}

impl core::fmt::Display for Limit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1 GiB file streamed by BouncyCastle (`CMSEnvelopedDataStreamGenerator`,
    /// `CMSCompressedDataStreamGenerator`: 1000-byte OCTET STRING segments) must not hit the
    /// default segment cap once the body size limit is raised for it.
    #[test]
    fn default_chunk_cap_admits_a_gibibyte_in_bouncycastle_segments() {
        let limits = Limits::default();
        assert!(limits.max_ber_chunks >= (1usize << 30).div_ceil(1000));
        assert_eq!(Limit::BerChunks.value(&limits), limits.max_ber_chunks);
    }
}
