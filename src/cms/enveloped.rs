//! EnvelopedData (RFC 5652 §6) with RSA key transport, and ECDH key agreement for EC
//! recipients (`cms::kari`): encryption to one or more recipients, and decryption
//! that never reveals which step failed.
//!
//! Once our RecipientInfo has been found, the same steps run whatever the input: the
//! RSA private-key operation (blinded with the caller's random source; PKCS#1 v1.5 uses
//! `rsa`'s implicit rejection, a synthetic key on bad padding, Marvin-safe), then CBC
//! decryption of the whole content with the recovered key or, if it has the wrong
//! length, a zero key of the right length, then the PKCS #7 padding computed with masks.
//!
//! Two ways to finish:
//!
//! - [`EnvelopedData::decrypt`] fails with the one [`Error::DecryptionFailed`] for a bad
//!   key or a bad padding. That is a padding oracle if a sender can observe it for content
//!   that is not authenticated afterwards; use it only where nobody can.
//! - The inbound parser uses `decrypt_unchecked`, which decides nothing from the key
//!   unwrap or the padding (invalid padding is left in place) and returns the content for
//!   the layers above to judge: [`message::inbound`](crate::message::inbound) reports
//!   every failure after decryption as the same [`Error::DecryptionFailed`] until a
//!   signature has verified, so an error MDN is byte for byte the same for all of them.
//!
//! # Timing
//!
//! What is promised (and tested in `tests/oracle.rs`, by the observable outcome only):
//! the outcome (error, code, MDN) does not depend on the key unwrap, the padding or the
//! plaintext's structure until a signature has verified.
//!
//! What is not promised:
//!
//! - Constant time. The RSA operation is only as side-channel resistant as the `rsa`
//!   crate's; allocation and copying depend on the input size.
//! - Equal work after decryption. Content that decrypts is then parsed, decompressed and
//!   verified by the layers above, and how far that gets depends on the plaintext. Only a
//!   signature inside the envelope detects tampering: require one
//!   (`InboundPolicy::require_signature`, the default with partner certificates).
//! - Sameness for facts that are public anyway: a malformed envelope, one with no
//!   RecipientInfo for us ([`Error::NoMatchingRecipient`]), one with an unsupported
//!   key-transport or content cipher ([`Error::UnsupportedAlgorithm`]), or a ciphertext
//!   that is not a whole number of blocks fails before any private-key operation or
//!   decision on the plaintext, with its own error.
//! - Anything about time: no test measures it.

use std::borrow::Cow;

use cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use cms::enveloped_data::KeyTransRecipientInfo;
use der::Decode;
use rand_core::CryptoRng;
use rsa::Oaep;
use rsa::pkcs1v15::Pkcs1v15Encrypt;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;

use super::aead::AeadStream;
use super::algorithm::{
    CipherParams, ContentEncryption, DigestAlgorithm, KeyTransport, KeyTransportParams,
};
use super::ber::{self, Tag, Tlv};
use super::{ContentType, oid};
use crate::cert::{Certificate, Identifier, PrivateKey};
use crate::error::Error;
use crate::limits::{Limit, Limits};

/// Runs `$body` with `$c` bound to the block cipher type for `$alg`.
macro_rules! with_cipher {
    ($alg:expr, $c:ident => $body:expr) => {
        match $alg {
            ContentEncryption::Aes128Cbc => {
                type $c = aes::Aes128;
                $body
            }
            ContentEncryption::Aes192Cbc => {
                type $c = aes::Aes192;
                $body
            }
            ContentEncryption::Aes256Cbc => {
                type $c = aes::Aes256;
                $body
            }
            ContentEncryption::TripleDesCbc => {
                type $c = des::TdesEde3;
                $body
            }
            // The authenticated ciphers never reach the CBC code (`ContentEncryption::parse`
            // refuses them); AES-128 keeps the match total.
            _ => {
                type $c = aes::Aes128;
                $body
            }
        }
    };
}

/// Options for encrypting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncryptOptions {
    /// The content cipher (default AES-256-CBC; 3DES only when set explicitly).
    pub cipher: ContentEncryption,
    /// How the content key is wrapped (default RSA PKCS#1 v1.5).
    pub key_transport: KeyTransport,
    /// Identify recipients by subject key identifier instead of issuer and serial.
    pub use_subject_key_id: bool,
}

/// Encrypts `content` for every certificate in `recipients` (e.g. the partner and an own
/// archive copy), returning a DER ContentInfo holding EnvelopedData.
///
/// The same writer the streaming builder
/// ([`outbound::start`](crate::message::outbound::start)) uses, told the content length, so
/// every length is definite (DER); the content is copied once, into the output, and
/// encrypted there.
pub fn encrypt<R: CryptoRng + ?Sized>(
    content: &[u8],
    recipients: &[&Certificate],
    options: &EncryptOptions,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let len = u64::try_from(content.len()).map_err(|_| too_large())?;
    let mut out = Vec::new();
    let mut writer = EnvelopeWriter::new(recipients, options, Some(len), rng, &mut out)?;
    if let Some(total) = writer.encoded_len().and_then(|n| usize::try_from(n).ok()) {
        out.reserve(total.saturating_sub(out.len()));
    }
    writer.push(content, &mut out)?;
    writer.finish(&mut out)?;
    Ok(out)
}

fn too_large() -> Error {
    Error::EncryptionFailed("content too large")
}

/// How many content octets are encrypted at a time, and (with the content length
/// unknown) the length of each OCTET STRING segment: the compression writer's, a
/// multiple of every block size.
const SEGMENT_LEN: usize = super::compressed::SEGMENT_LEN;

/// EnvelopedData (RFC 5652 §6), or AuthEnvelopedData (RFC 5083) for an authenticated
/// cipher, written while its content arrives, for the streaming builder and [`encrypt`].
///
/// AuthEnvelopedData has version 0, no originatorInfo, the same recipientInfos, the
/// authEncryptedContentInfo (the ciphertext as long as the content: CTR has no padding),
/// no authAttrs, and the `mac` (the 16-octet tag) after it. AES-CCM needs the content
/// length in its first block, so it is refused without an announced length
/// ([`Error::EncryptionFailed`]): with compression the length is not known in advance, and
/// a second pass over the content is not possible while streaming.
///
/// The content key and IV are drawn and wrapped for every recipient when the writer is
/// created, so the structure up to the first ciphertext octet is written first. With the
/// content length announced, every length is definite (DER): the ciphertext is that length
/// rounded up to the next whole block (PKCS #7 padding always adds one to a block). Without
/// it, the ContentInfo, EnvelopedData, EncryptedContentInfo and `[0] encryptedContent` use
/// BER indefinite lengths and the ciphertext is a series of definite-length OCTET STRING
/// segments (the shape of OpenSSL's `cms -encrypt -stream`).
///
/// Memory is one segment of content and the cipher state, whatever the content size.
pub(crate) struct EnvelopeWriter {
    cipher: ContentEncryptor,
    block: usize,
    /// Content not yet encrypted, less than a segment.
    pending: Vec<u8>,
    /// The announced content length (definite lengths) or `None` (indefinite).
    content_len: Option<u64>,
    pushed: u64,
    encoded_len: Option<u64>,
}

impl EnvelopeWriter {
    /// Draws the content key and IV from `rng`, wraps the key for every recipient (in
    /// order; their keyUsage is checked) and appends to `out` the structure up to the first
    /// ciphertext octet. `content_len` is the exact content length when known.
    // Header lengths (a few octets each) added to a ciphertext length checked to fit.
    #[allow(clippy::arithmetic_side_effects)]
    pub(crate) fn new<R: CryptoRng + ?Sized>(
        recipients: &[&Certificate],
        options: &EncryptOptions,
        content_len: Option<u64>,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> Result<Self, Error> {
        if recipients.is_empty() {
            return Err(Error::EncryptionFailed("no recipients"));
        }
        let cipher = options.cipher;
        let mut key = zeroize::Zeroizing::new(vec![0u8; cipher.key_len()]);
        rng.fill_bytes(&mut key);
        let content = ContentEncryptor::new(cipher, &key, content_len, rng)?;

        let key_transport_id = options.key_transport.algorithm_identifier();
        let mut infos = Vec::with_capacity(recipients.len());
        let mut version = 0;
        for cert in recipients {
            cert.check_usage(crate::cert::KeyUse::Encryption)?;
            if cert.key_algorithm().is_some_and(crate::KeyAlgorithm::is_ec) {
                // ECDH key agreement (RFC 5753): KeyAgreeRecipientInfo, version 3, which
                // makes the EnvelopedData version 2 (RFC 5652 §6.1).
                infos.push(super::kari::recipient_info(cert, &key, options, rng)?);
                version = version.max(2);
                continue;
            }
            let public = cert
                .rsa_public_key()
                .map_err(|_| Error::EncryptionFailed("recipient key is not RSA, P-256 or P-384"))?;
            let wrapped = match options.key_transport {
                KeyTransport::RsaPkcs1v15 => public.encrypt(rng, Pkcs1v15Encrypt, &key),
                KeyTransport::RsaOaep(hash) => {
                    super::signed::with_digest!(hash, D => public.encrypt(rng, Oaep::<D>::new(), &key))
                }
            }
            .map_err(|_| Error::EncryptionFailed("RSA key transport failed"))?;
            let (ri_version, rid) = match (options.use_subject_key_id, cert.subject_key_id()) {
                (true, Some(ski)) => (2, ber::encode(Tag::context(0, false), ski)),
                (true, None) => {
                    return Err(Error::EncryptionFailed(
                        "recipient certificate has no subject key identifier",
                    ));
                }
                (false, _) => (0, cert.issuer_and_serial()),
            };
            version = version.max(ri_version);
            infos.push(ber::encode_constructed(
                Tag::SEQUENCE,
                &[
                    &super::algorithm::encode_uint(ri_version),
                    &rid,
                    &key_transport_id,
                    &ber::encode(Tag::OCTET_STRING, &wrapped),
                ],
            ));
        }
        let info_refs: Vec<&[u8]> = infos.iter().map(Vec::as_slice).collect();
        let recipient_set = ber::encode_constructed(Tag::SET, &info_refs);
        let auth = cipher.is_authenticated();
        // AuthEnvelopedData's version is always 0 (RFC 5083 §2.1).
        let version = super::algorithm::encode_uint(if auth { 0 } else { version });
        let data_oid = ber::encode(Tag::OID, oid::DATA.as_bytes());
        let cipher_id = cipher.algorithm_identifier(&content.params);
        let type_oid = ber::encode(
            Tag::OID,
            if auth {
                oid::AUTH_ENVELOPED_DATA.as_bytes()
            } else {
                oid::ENVELOPED_DATA.as_bytes()
            },
        );
        let block = cipher.block_len();
        // The `mac` OCTET STRING after the authEncryptedContentInfo.
        let mac_len = if auth {
            ber::header_len(super::aead::MAX_TAG_LEN) + super::aead::MAX_TAG_LEN
        } else {
            0
        };
        let encoded_len = match content_len {
            Some(content_len) => {
                // PKCS #7 padding adds 1 to `block` octets: the next whole block up; CTR
                // adds nothing.
                let ciphertext_len = usize::try_from(content_len)
                    .ok()
                    .and_then(|n| {
                        if auth {
                            Some(n)
                        } else {
                            (n / block).checked_add(1)?.checked_mul(block)
                        }
                    })
                    .filter(|n| n.checked_add(SEGMENT_LEN).is_some())
                    .ok_or_else(too_large)?;
                let eci_len = data_oid.len()
                    + cipher_id.len()
                    + ber::header_len(ciphertext_len)
                    + ciphertext_len;
                let enveloped_len = version.len()
                    + recipient_set.len()
                    + ber::header_len(eci_len)
                    + eci_len
                    + mac_len;
                let explicit_len = ber::header_len(enveloped_len) + enveloped_len;
                let info_len = type_oid.len() + ber::header_len(explicit_len) + explicit_len;
                ber::write_header(out, Tag::SEQUENCE, info_len);
                out.extend_from_slice(&type_oid);
                ber::write_header(out, Tag::context(0, true), explicit_len);
                ber::write_header(out, Tag::SEQUENCE, enveloped_len);
                out.extend_from_slice(&version);
                out.extend_from_slice(&recipient_set);
                ber::write_header(out, Tag::SEQUENCE, eci_len);
                out.extend_from_slice(&data_oid);
                out.extend_from_slice(&cipher_id);
                ber::write_header(out, Tag::context(0, false), ciphertext_len);
                let total = ber::header_len(info_len) + info_len;
                Some(u64::try_from(total).map_err(|_| too_large())?)
            }
            None => {
                ber::write_indefinite_header(out, Tag::SEQUENCE);
                out.extend_from_slice(&type_oid);
                ber::write_indefinite_header(out, Tag::context(0, true));
                ber::write_indefinite_header(out, Tag::SEQUENCE);
                out.extend_from_slice(&version);
                out.extend_from_slice(&recipient_set);
                ber::write_indefinite_header(out, Tag::SEQUENCE);
                out.extend_from_slice(&data_oid);
                out.extend_from_slice(&cipher_id);
                // [0] IMPLICIT OCTET STRING in its constructed form.
                ber::write_indefinite_header(out, Tag::context(0, true));
                None
            }
        };
        Ok(EnvelopeWriter {
            cipher: content,
            block,
            pending: Vec::with_capacity(SEGMENT_LEN),
            content_len,
            pushed: 0,
            encoded_len,
        })
    }

    /// The exact length of the whole ContentInfo, when the content length was announced.
    pub(crate) fn encoded_len(&self) -> Option<u64> {
        self.encoded_len
    }

    /// Encrypts `content`, appending the ciphertext of every completed segment to `out`.
    /// Fails, appending nothing, if the content would pass the announced length.
    pub(crate) fn push(&mut self, content: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let pushed = u64::try_from(content.len())
            .ok()
            .and_then(|n| n.checked_add(self.pushed))
            .ok_or_else(too_large)?;
        if self.content_len.is_some_and(|announced| pushed > announced) {
            return Err(Error::EncryptionFailed(
                "more content than the announced length",
            ));
        }
        self.pushed = pushed;
        let mut rest = content;
        while !rest.is_empty() {
            if self.pending.is_empty() && rest.len() >= SEGMENT_LEN {
                // A whole segment straight from the input: copied once, into `out`.
                let (segment, tail) = rest.split_at(SEGMENT_LEN);
                self.write_segment(segment, out)?;
                rest = tail;
            } else {
                let room = SEGMENT_LEN.saturating_sub(self.pending.len());
                let (part, tail) = rest.split_at(room.min(rest.len()));
                self.pending.extend_from_slice(part);
                rest = tail;
                if self.pending.len() >= SEGMENT_LEN {
                    let pending = std::mem::take(&mut self.pending);
                    let written = self.write_segment(&pending, out);
                    self.pending = pending;
                    self.pending.clear();
                    written?;
                }
            }
        }
        Ok(())
    }

    /// Pads and encrypts the rest (RFC 5652 §6.3) and appends it, then the end-of-contents
    /// octets when the lengths are indefinite. Fails if less content was pushed than
    /// announced.
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self
            .content_len
            .is_some_and(|announced| self.pushed != announced)
        {
            return Err(Error::EncryptionFailed(
                "less content than the announced length",
            ));
        }
        let auth = matches!(self.cipher.mode, Cipher::Aead(_));
        if !auth {
            // `pending` holds less than a segment, a multiple of the block: padded, it
            // still fits one segment. The pad length is 1 to `block` (8 or 16).
            let pad = self
                .block
                .saturating_sub(self.pending.len().checked_rem(self.block).unwrap_or(0));
            let pad_byte = u8::try_from(pad).map_err(|_| too_large())?;
            self.pending
                .resize(self.pending.len().saturating_add(pad), pad_byte);
        }
        let last = std::mem::take(&mut self.pending);
        if !last.is_empty() {
            self.write_segment(&last, out)?;
        }
        match self.cipher.mode {
            Cipher::Cbc(_) => {
                if self.content_len.is_none() {
                    for _ in 0..5 {
                        ber::write_end_of_contents(out);
                    }
                }
            }
            Cipher::Aead(stream) => {
                if self.content_len.is_none() {
                    // encryptedContent [0], authEncryptedContentInfo.
                    for _ in 0..2 {
                        ber::write_end_of_contents(out);
                    }
                }
                let tag = stream
                    .tag(&[])
                    .ok_or(Error::EncryptionFailed("AEAD content length mismatch"))?;
                ber::write_header(out, Tag::OCTET_STRING, tag.len());
                out.extend_from_slice(&tag);
                if self.content_len.is_none() {
                    // AuthEnvelopedData, [0] EXPLICIT, ContentInfo.
                    for _ in 0..3 {
                        ber::write_end_of_contents(out);
                    }
                }
            }
        }
        Ok(())
    }

    /// Appends `plain` (whole blocks for CBC) encrypted, as an OCTET STRING segment when
    /// the lengths are indefinite.
    fn write_segment(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.content_len.is_none() {
            ber::write_header(out, Tag::OCTET_STRING, plain.len());
        }
        let start = out.len();
        out.extend_from_slice(plain);
        if let Some(region) = out.get_mut(start..) {
            match &mut self.cipher.mode {
                Cipher::Cbc(cbc) => cbc.encrypt_blocks(region),
                Cipher::Aead(stream) => stream.encrypt(region)?,
            }
        }
        Ok(())
    }
}

/// The content-encryption part of an envelope being written: the cipher state and the
/// parameters written into its contentEncryptionAlgorithm.
struct ContentEncryptor {
    mode: Cipher,
    params: CipherParams,
}

// One per envelope, the CBC state kept in place as before (the AEAD one is boxed).
#[allow(clippy::large_enum_variant)]
enum Cipher {
    Cbc(CbcEncryptor),
    Aead(Box<AeadStream>),
}

impl ContentEncryptor {
    /// Draws the IV (CBC) or nonce (AEAD: 12 octets, RFC 5084's recommendation; for CCM
    /// a shorter one when the content is 16 MiB or more, so the length field holds it)
    /// from `rng`. CCM without the content length is refused.
    fn new<R: CryptoRng + ?Sized>(
        cipher: ContentEncryption,
        key: &[u8],
        content_len: Option<u64>,
        rng: &mut R,
    ) -> Result<Self, Error> {
        if !cipher.is_authenticated() {
            let mut iv = vec![0u8; cipher.block_len()];
            rng.fill_bytes(&mut iv);
            let cbc = CbcEncryptor::new(cipher, key, &iv)?;
            return Ok(ContentEncryptor {
                mode: Cipher::Cbc(cbc),
                params: CipherParams::Iv(iv),
            });
        }
        let ccm = matches!(
            cipher,
            ContentEncryption::Aes128Ccm | ContentEncryption::Aes256Ccm
        );
        let nonce_len = match (ccm, content_len) {
            (false, _) => super::aead::NONCE_LEN,
            (true, Some(len)) => super::aead::ccm_nonce_len(len),
            (true, None) => {
                return Err(Error::EncryptionFailed(
                    "AES-CCM needs the content length in advance (announce the payload \
                     length and do not compress, or use AES-GCM)",
                ));
            }
        };
        let mut nonce = vec![0u8; nonce_len];
        rng.fill_bytes(&mut nonce);
        let tag_len = super::aead::MAX_TAG_LEN;
        let stream = AeadStream::new(cipher, key, &nonce, tag_len, content_len)
            .ok_or(Error::EncryptionFailed("cipher setup failed"))?;
        Ok(ContentEncryptor {
            mode: Cipher::Aead(Box::new(stream)),
            params: CipherParams::Aead { nonce, tag_len },
        })
    }
}

/// A CBC encryptor for one of the content ciphers.
enum CbcEncryptor {
    Aes128(cbc::Encryptor<aes::Aes128>),
    Aes192(cbc::Encryptor<aes::Aes192>),
    Aes256(cbc::Encryptor<aes::Aes256>),
    TripleDes(cbc::Encryptor<des::TdesEde3>),
}

impl CbcEncryptor {
    fn new(cipher: ContentEncryption, key: &[u8], iv: &[u8]) -> Result<Self, Error> {
        fn fail<E>(_: E) -> Error {
            Error::EncryptionFailed("cipher setup failed")
        }
        Ok(match cipher {
            ContentEncryption::Aes128Cbc => {
                Self::Aes128(KeyIvInit::new_from_slices(key, iv).map_err(fail)?)
            }
            ContentEncryption::Aes192Cbc => {
                Self::Aes192(KeyIvInit::new_from_slices(key, iv).map_err(fail)?)
            }
            ContentEncryption::Aes256Cbc => {
                Self::Aes256(KeyIvInit::new_from_slices(key, iv).map_err(fail)?)
            }
            ContentEncryption::TripleDesCbc => {
                Self::TripleDes(KeyIvInit::new_from_slices(key, iv).map_err(fail)?)
            }
            _ => return Err(Error::EncryptionFailed("not a CBC cipher")),
        })
    }

    /// Encrypts `buffer` in place, whole blocks only (the caller pads).
    fn encrypt_blocks(&mut self, buffer: &mut [u8]) {
        fn run<C>(encryptor: &mut cbc::Encryptor<C>, buffer: &mut [u8])
        where
            C: cipher::BlockCipherEncrypt,
            cbc::Encryptor<C>: BlockModeEncrypt,
        {
            let (blocks, _) = cipher::Block::<cbc::Encryptor<C>>::slice_as_chunks_mut(buffer);
            encryptor.encrypt_blocks(blocks);
        }
        match self {
            Self::Aes128(e) => run(e, buffer),
            Self::Aes192(e) => run(e, buffer),
            Self::Aes256(e) => run(e, buffer),
            Self::TripleDes(e) => run(e, buffer),
        }
    }
}

/// How much ciphertext is decrypted at a time: small enough to stay in the L2 cache
/// between the copy and the cipher pass, large enough to amortise the calls.
const CHUNK: usize = 64 * 1024;

/// Decrypts every CBC block of `buffer` in place, padding included. Returns `false` (and
/// leaves the buffer as it was) only for a key, IV or length the cipher cannot take, facts
/// that do not depend on a secret.
fn decrypt_in_place(cipher: ContentEncryption, key: &[u8], iv: &[u8], buffer: &mut [u8]) -> bool {
    with_cipher!(cipher, C => {
        let block = <cbc::Decryptor<C> as cipher::BlockSizeUser>::block_size();
        match cbc::Decryptor::<C>::new_from_slices(key, iv) {
            Ok(mut decryptor) if !buffer.is_empty() && buffer.len().is_multiple_of(block) => {
                let (blocks, _) = cipher::Block::<cbc::Decryptor<C>>::slice_as_chunks_mut(buffer);
                decryptor.decrypt_blocks(blocks);
                true
            }
            _ => false,
        }
    })
}

/// Copies `ciphertext` into a new buffer and decrypts every CBC block there, padding
/// included, a chunk at a time while each chunk is in cache. The flag is `false` (and the
/// buffer holds the ciphertext) only for a key, IV or length the cipher cannot take.
fn decrypt_copying<C>(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> (Vec<u8>, bool)
where
    C: cipher::BlockCipherDecrypt,
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
{
    let mut out = Vec::with_capacity(ciphertext.len());
    let block = <cbc::Decryptor<C> as cipher::BlockSizeUser>::block_size();
    let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv);
    let Ok(mut decryptor) = decryptor else {
        out.extend_from_slice(ciphertext);
        return (out, false);
    };
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(block) {
        out.extend_from_slice(ciphertext);
        return (out, false);
    }
    for chunk in ciphertext.chunks(CHUNK) {
        let start = out.len();
        out.extend_from_slice(chunk);
        if let Some(region) = out.get_mut(start..) {
            let (blocks, _) = cipher::Block::<cbc::Decryptor<C>>::slice_as_chunks_mut(region);
            decryptor.decrypt_blocks(blocks);
        }
    }
    (out, true)
}

/// The PKCS #7 padding (RFC 5652 §6.3) at the end of `plain`, a whole number of
/// `block`-byte blocks: `(length, valid)`. The last block is read in full and the result
/// computed with masks, without a branch on its bytes; an invalid padding has length 0.
pub(crate) fn pkcs7_padding(plain: &[u8], block: usize) -> (usize, bool) {
    let Some(last) = plain.len().checked_sub(block).and_then(|s| plain.get(s..)) else {
        return (0, false);
    };
    let Some(&n) = last.last() else {
        return (0, false);
    };
    // `block` is 8 or 16, so every count fits in a u8.
    let block = u8::try_from(block).unwrap_or(u8::MAX);
    // valid iff 1 <= n <= block and the last n bytes all equal n.
    let mut bad = u8::from(n == 0) | u8::from(n > block);
    for (i, &b) in last.iter().rev().enumerate() {
        let i = u8::try_from(i).unwrap_or(u8::MAX);
        // In the padding (i < n): the byte must equal n.
        let in_padding = u8::from(i < n);
        bad |= in_padding & u8::from(b != n);
    }
    let valid = bad == 0;
    // 0 when invalid, n when valid, chosen by mask.
    let mask = 0u8.wrapping_sub(u8::from(valid));
    (usize::from(n & mask), valid)
}

/// Content decrypted by [`EnvelopedData::decrypt_unchecked`].
#[derive(Debug)]
pub(crate) struct Opened {
    /// The decryption, PKCS #7 padding removed when it was valid and kept when not.
    pub content: Vec<u8>,
    /// Whether the content key unwrapped to the right length and the padding was valid.
    /// Garbage decrypts with valid padding as often as not, so this proves nothing; it is
    /// for the operator's log, never for the sender.
    pub well_formed: bool,
}

/// A parsed EnvelopedData, borrowing from the input.
#[derive(Debug)]
pub struct EnvelopedData<'a> {
    recipients: Vec<Recipient>,
    cipher: ContentEncryption,
    iv: Vec<u8>,
    encrypted_content: Tlv<'a>,
}

/// A KeyTransRecipientInfo (RFC 5652 §6.2.1), decoded with
/// [`cms::enveloped_data::KeyTransRecipientInfo`], or one RecipientEncryptedKey of a
/// KeyAgreeRecipientInfo (RFC 5652 §6.2.2, read by [`super::kari`]).
#[derive(Debug)]
pub(crate) struct Recipient {
    pub(super) rid: Identifier,
    /// The keyEncryptionAlgorithm: key transport, or key agreement with `agreement`.
    pub(super) key_transport: AlgorithmIdentifierOwned,
    pub(super) encrypted_key: Vec<u8>,
    /// For key agreement: the originator's key and the ukm.
    pub(super) agreement: Option<Box<super::kari::Agreement>>,
    /// Where the RecipientInfo starts in the input, for errors.
    pub(super) offset: usize,
}

impl<'a> EnvelopedData<'a> {
    /// Parses a ContentInfo holding EnvelopedData (BER or DER).
    ///
    /// A content-encryption algorithm we do not implement (RC2, DES, AES-GCM, ...) is
    /// reported here as [`Error::UnsupportedAlgorithm`] naming its OID.
    pub fn parse(input: &'a [u8], limits: &Limits) -> Result<Self, Error> {
        let content = super::expect_content_info(input, ContentType::EnvelopedData, limits)?;
        let mut r = content.children("EnvelopedData")?;
        r.expect(Tag::INTEGER, "EnvelopedData version")?;
        r.read_optional(Tag::context(0, true), "originatorInfo")?;
        let set = r.expect(Tag::SET, "recipientInfos")?;
        let eci = r.expect(Tag::SEQUENCE, "encryptedContentInfo")?;
        r.read_optional(Tag::context(1, true), "unprotectedAttrs")?;
        r.finish("EnvelopedData")?;

        let recipients = parse_recipients(&set, limits)?;

        let mut e = eci.children("EncryptedContentInfo")?;
        e.expect(Tag::OID, "contentType")?;
        let (cipher, iv) =
            ContentEncryption::parse(&e.expect(Tag::SEQUENCE, "contentEncryptionAlgorithm")?)?;
        let encrypted_content = e
            .read_optional(Tag::context(0, false), "encryptedContent")?
            .ok_or(Error::malformed("encryptedContent (absent)", eci.offset))?;
        e.finish("EncryptedContentInfo")?;
        Ok(EnvelopedData {
            recipients,
            cipher,
            iv,
            encrypted_content,
        })
    }

    /// The content-encryption algorithm the sender used.
    pub fn content_encryption(&self) -> ContentEncryption {
        self.cipher
    }

    /// Whether one of the RSA recipients is `certificate`.
    pub fn is_recipient(&self, certificate: &Certificate) -> bool {
        is_recipient(&self.recipients, certificate)
    }

    /// Decrypts the content with `key`, the private key of `certificate`.
    ///
    /// Fails with [`Error::NoMatchingRecipient`] when `certificate` is not a recipient, with
    /// [`Error::UnsupportedAlgorithm`] for a key transport we do not implement, and with
    /// [`Error::DecryptionFailed`] for everything else. `rng` blinds the RSA operation.
    ///
    /// Whether this fails tells whether the CBC padding was valid: never let a sender
    /// observe it for content that has not been authenticated (a padding oracle reveals
    /// the plaintext). [`message::inbound`](crate::message::inbound) does not use this
    /// function: it never checks the padding as such (see the module docs).
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &self,
        certificate: &Certificate,
        key: &PrivateKey,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let opened = self.decrypt_unchecked(certificate, key, rng)?;
        if opened.well_formed {
            Ok(opened.content)
        } else {
            Err(Error::DecryptionFailed)
        }
    }

    /// Decrypts without deciding anything from the key unwrap or the padding: once our
    /// RecipientInfo is found, the content is always decrypted (with a zero key when the
    /// unwrapped key has the wrong length, RSA PKCS #1 v1.5 using implicit rejection
    /// anyway) and returned, the padding removed only if it is valid. What comes out is
    /// garbage as often as not and must be authenticated (a signature) or treated as
    /// unauthenticated bytes; [`Opened::well_formed`] is for the operator only.
    pub(crate) fn decrypt_unchecked<R: CryptoRng + ?Sized>(
        &self,
        certificate: &Certificate,
        key: &PrivateKey,
        rng: &mut R,
    ) -> Result<Opened, Error> {
        let (content_key, key_ok) =
            unwrap_content_key(&self.recipients, self.cipher, certificate, key, rng)?;
        let (mut content, decrypted) = match self.encrypted_content.octets("encryptedContent")? {
            // Chunked (constructed) content was already gathered into a new buffer.
            Cow::Owned(mut buffer) => {
                let ok = decrypt_in_place(self.cipher, &content_key, &self.iv, &mut buffer);
                (buffer, ok)
            }
            Cow::Borrowed(ciphertext) => with_cipher!(self.cipher, C => decrypt_copying::<C>(
                &content_key,
                &self.iv,
                ciphertext,
            )),
        };
        if !decrypted {
            // A ciphertext length that is not a whole number of blocks, or an IV of the
            // wrong size: visible in the envelope itself, so failing here reveals nothing.
            return Err(Error::DecryptionFailed);
        }
        let (padding, padding_ok) = pkcs7_padding(&content, self.cipher.block_len());
        content.truncate(content.len().saturating_sub(padding));
        Ok(Opened {
            content,
            well_formed: key_ok && padding_ok,
        })
    }
}

/// Reads `recipientInfos SET OF RecipientInfo`: at most [`Limits::max_recipients`], the
/// KeyTransRecipientInfos kept (RFC 5652 §6.2.1), the other kinds skipped.
pub(crate) fn parse_recipients(set: &Tlv<'_>, limits: &Limits) -> Result<Vec<Recipient>, Error> {
    let mut recipients = Vec::new();
    let mut count = 0usize;
    let mut s = set.children("recipientInfos")?;
    while !s.is_empty() {
        let info = s.read("RecipientInfo")?;
        count = count.saturating_add(1);
        if count > limits.max_recipients {
            return Err(Limit::Recipients.exceeded(limits));
        }
        // KEK, password and other recipient types cannot be ours: we hold RSA and EC
        // keys. Skip them.
        if info.tag == Tag::SEQUENCE {
            let ktri = KeyTransRecipientInfo::from_der(&info.to_der()?)
                .map_err(|_| Error::malformed("KeyTransRecipientInfo", info.offset))?;
            recipients.push(Recipient {
                rid: Identifier::from_recipient_identifier(&ktri.rid)?,
                key_transport: ktri.key_enc_alg,
                encrypted_key: ktri.enc_key.into_bytes().into_vec(),
                agreement: None,
                offset: info.offset,
            });
        } else if info.tag == Tag::context(1, true) {
            // kari: one recipient per RecipientEncryptedKey, each counted.
            recipients.extend(super::kari::parse(&info, &mut count, limits)?);
        }
    }
    Ok(recipients)
}

/// Whether one of `recipients` is `certificate`.
pub(crate) fn is_recipient(recipients: &[Recipient], certificate: &Certificate) -> bool {
    recipients.iter().any(|r| certificate.matches(&r.rid))
}

/// Unwraps the content key that `recipients` hold for `certificate` with its private
/// `key`: the key and whether it unwrapped to the length `cipher` takes. Never fails on
/// what the private key reveals: a key of the wrong length (RSA PKCS #1 v1.5 uses implicit
/// rejection, so a bad padding gives a key of random length) becomes a zero key of the
/// right length and `false`, decided without a branch on the unwrap's outcome beyond that.
pub(crate) fn unwrap_content_key<R: CryptoRng + ?Sized>(
    recipients: &[Recipient],
    cipher: ContentEncryption,
    certificate: &Certificate,
    key: &PrivateKey,
    rng: &mut R,
) -> Result<(Vec<u8>, bool), Error> {
    let recipient = recipients
        .iter()
        .find(|r| certificate.matches(&r.rid))
        .ok_or(Error::NoMatchingRecipient)?;
    let key_len = cipher.key_len();
    if let Some(agreement) = &recipient.agreement {
        // ECDH (RFC 5753): a failed agreement or unwrap is no key, like a failed RSA one.
        let unwrapped = super::kari::unwrap_key(
            agreement,
            &recipient.key_transport,
            &recipient.encrypted_key,
            key,
            recipient.offset,
        )?;
        return Ok(match unwrapped {
            Some(k) if k.len() == key_len => (k.to_vec(), true),
            _ => (vec![0u8; key_len], false),
        });
    }
    let transport = KeyTransport::from_identifier(&recipient.key_transport, recipient.offset)?;
    let wrapped = &recipient.encrypted_key;
    // A key-transport RecipientInfo naming a certificate whose key is not RSA unwraps to
    // nothing, which is treated like a failed unwrap below.
    let unwrapped = match (transport, key.rsa()) {
        (_, None) => Err(rsa::errors::Error::Decryption),
        (KeyTransportParams::Pkcs1v15, Some(rsa)) => {
            rsa.decrypt_blinded(rng, Pkcs1v15Encrypt, wrapped)
        }
        (KeyTransportParams::Oaep(params, label), Some(rsa)) => {
            oaep_decrypt(rsa, rng, params.hash, params.mgf_hash, label, wrapped)
        }
    };
    // From here on, the same steps run whatever the key unwrap gave.
    Ok(match unwrapped {
        Ok(k) if k.len() == key_len => (k, true),
        _ => (vec![0u8; key_len], false),
    })
}

fn oaep_decrypt<R: CryptoRng + ?Sized>(
    key: &rsa::RsaPrivateKey,
    rng: &mut R,
    hash: DigestAlgorithm,
    mgf_hash: DigestAlgorithm,
    label: Vec<u8>,
    wrapped: &[u8],
) -> rsa::errors::Result<Vec<u8>> {
    macro_rules! mgf {
        ($h:ty) => {
            match mgf_hash {
                DigestAlgorithm::Sha1 => key.decrypt_blinded(
                    rng,
                    Oaep::<$h, Sha1>::new_with_mgf_hash_and_label(label),
                    wrapped,
                ),
                DigestAlgorithm::Sha256 => key.decrypt_blinded(
                    rng,
                    Oaep::<$h, Sha256>::new_with_mgf_hash_and_label(label),
                    wrapped,
                ),
                DigestAlgorithm::Sha384 => key.decrypt_blinded(
                    rng,
                    Oaep::<$h, Sha384>::new_with_mgf_hash_and_label(label),
                    wrapped,
                ),
                DigestAlgorithm::Sha512 => key.decrypt_blinded(
                    rng,
                    Oaep::<$h, Sha512>::new_with_mgf_hash_and_label(label),
                    wrapped,
                ),
            }
        };
    }
    match hash {
        DigestAlgorithm::Sha1 => mgf!(Sha1),
        DigestAlgorithm::Sha256 => mgf!(Sha256),
        DigestAlgorithm::Sha384 => mgf!(Sha384),
        DigestAlgorithm::Sha512 => mgf!(Sha512),
    }
}

#[cfg(test)]
mod tests {
    use cipher::block_padding::Pkcs7;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::*;

    /// The writer fed in any pieces gives the same bytes as `encrypt` of the whole (the
    /// announced length), and without an announced length BER that reads back to the same
    /// content; both decryption paths (copying, in place) recover it, around the segment
    /// and block sizes, for every cipher block size. Pushing more or less than announced
    /// fails.
    #[test]
    fn pieces_segments_and_lengths_round_trip() {
        let cert = Certificate::from_pem(include_bytes!("../../tests/data/keys/doc.crt")).unwrap();
        let key =
            PrivateKey::from_pem(include_bytes!("../../tests/data/keys/doc.key"), None).unwrap();
        let limits = Limits::default();
        let head = b"Content-Type: x\r\n\r\n";
        for cipher in [
            ContentEncryption::Aes256Cbc,
            ContentEncryption::TripleDesCbc,
        ] {
            let options = EncryptOptions {
                cipher,
                ..Default::default()
            };
            for len in [
                0,
                1,
                15,
                16,
                SEGMENT_LEN - 20,
                SEGMENT_LEN - 19,
                SEGMENT_LEN,
                SEGMENT_LEN + 1,
                3 * SEGMENT_LEN + 17,
            ] {
                let content: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
                let whole_content = [head.as_slice(), &content].concat();
                let seed = len as u64;
                let whole = encrypt(
                    &whole_content,
                    &[&cert],
                    &options,
                    &mut ChaCha20Rng::seed_from_u64(seed),
                )
                .unwrap();
                for announced in [true, false] {
                    let mut out = Vec::new();
                    let mut writer = EnvelopeWriter::new(
                        &[&cert],
                        &options,
                        announced.then_some(whole_content.len() as u64),
                        &mut ChaCha20Rng::seed_from_u64(seed),
                        &mut out,
                    )
                    .unwrap();
                    writer.push(head, &mut out).unwrap();
                    let split = len / 3;
                    let (a, rest) = content.split_at(split);
                    let (b, c) = rest.split_at(rest.len() / 2);
                    for piece in [a, b, c] {
                        writer.push(piece, &mut out).unwrap();
                    }
                    let encoded_len = writer.encoded_len();
                    writer.finish(&mut out).unwrap();
                    if announced {
                        assert_eq!(out, whole, "{cipher:?} {len}");
                        assert_eq!(encoded_len, Some(out.len() as u64));
                    } else {
                        assert_eq!(encoded_len, None);
                    }
                    let parsed = EnvelopedData::parse(&out, &limits).unwrap();
                    let plain = parsed
                        .decrypt(&cert, &key, &mut ChaCha20Rng::seed_from_u64(1))
                        .unwrap();
                    assert_eq!(plain, whole_content, "{cipher:?} {len} {announced}");
                }
            }
        }
        let options = EncryptOptions::default();
        let mut out = Vec::new();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut writer =
            EnvelopeWriter::new(&[&cert], &options, Some(3), &mut rng, &mut out).unwrap();
        writer.push(b"ab", &mut out).unwrap();
        let before = out.len();
        assert_eq!(
            writer.push(b"cd", &mut out).unwrap_err(),
            Error::EncryptionFailed("more content than the announced length")
        );
        assert_eq!(out.len(), before);
        assert_eq!(
            writer.finish(&mut out).unwrap_err(),
            Error::EncryptionFailed("less content than the announced length")
        );
    }

    #[test]
    fn copying_decryption_and_padding() {
        let key = [1u8; 32];
        let iv = [2u8; 16];
        let mut buffer = [b"abc".as_slice(), &[0u8; 13]].concat();
        cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv)
            .unwrap()
            .encrypt_padded::<Pkcs7>(&mut buffer, 3)
            .unwrap();
        let (out, ok) = decrypt_copying::<aes::Aes256>(&key, &iv, &buffer);
        assert!(ok);
        assert_eq!(&out[..3], b"abc");
        assert_eq!(pkcs7_padding(&out, 16), (13, true));
        let mut damaged = buffer.clone();
        damaged[15] ^= 0x55;
        let (out, ok) = decrypt_copying::<aes::Aes256>(&key, &iv, &damaged);
        assert!(ok);
        assert_eq!(pkcs7_padding(&out, 16), (0, false));
        assert!(!decrypt_copying::<aes::Aes256>(&key, &iv, &buffer[..15]).1);
        assert!(!decrypt_copying::<aes::Aes256>(&key, &iv, &[]).1);
    }

    /// Every last block: the padding is valid exactly when PKCS #7 says so, and its length
    /// is the last byte then, 0 otherwise.
    #[test]
    fn padding_rule_matches_pkcs7() {
        for block in [8usize, 16] {
            for n in 0..=255u8 {
                for fill in [0u8, 1, n, n.wrapping_add(1)] {
                    let mut last = vec![fill; block];
                    *last.last_mut().unwrap() = n;
                    let n_usize = usize::from(n);
                    let expect_valid = n_usize >= 1
                        && n_usize <= block
                        && last[block - n_usize..].iter().all(|&b| b == n);
                    let expect = if expect_valid {
                        (n_usize, true)
                    } else {
                        (0, false)
                    };
                    assert_eq!(pkcs7_padding(&last, block), expect, "{block} {n} {fill}");
                }
            }
        }
        assert_eq!(pkcs7_padding(&[], 16), (0, false));
    }
}
