//! AES-GCM and AES-CCM (RFC 5084) as streams: the content is encrypted or decrypted a
//! piece at a time, in constant memory, and the tag comes at the end.
//!
//! The `aes-gcm` and `ccm` crates take the whole message in one buffer. A CMS envelope
//! carries the content first and the tag after it (AuthEnvelopedData's `mac`, RFC 5083, or
//! the last octets of the ciphertext in the EnvelopedData form BouncyCastle writes), so
//! both modes are composed here from the same building blocks those crates use:
//!
//! - GCM (NIST SP 800-38D) is CTR mode with a 32-bit big-endian counter (`ctr::Ctr32BE`
//!   over `aes`) starting at `J0 + 1`, `J0 = nonce || 0^31 || 1` for the 12-octet nonces
//!   RFC 5084 recommends, and GHASH (`ghash`) over the ciphertext and the lengths, the tag
//!   being `GHASH ⊕ E(J0)`. Additional authenticated data (AuthEnvelopedData's `authAttrs`)
//!   comes after the content in a CMS stream but first in GHASH; GHASH is linear, so
//!   `GHASH(A ‖ C ‖ L) = GHASH(A ‖ 0…0) ⊕ GHASH(C ‖ L)` with as many zero blocks as `C ‖ L`
//!   has: the second term is computed as the content streams and the first at the end.
//! - CCM (RFC 3610, NIST SP 800-38C) is CBC-MAC over `B0` (flags, nonce, message length)
//!   and the plaintext, and CTR (`ctr::Ctr64BE`) from `A0 = flags' || nonce || 0`; the tag is
//!   the MAC encrypted with the first keystream block. `B0` needs the message length before
//!   the first block, so [`Ccm`] takes it up front; without it ([`Ccm::new_unknown_length`])
//!   the plaintext is kept until the end (memory grows with the content). Associated data
//!   is not supported with CCM (it would have to be MACed before the content).
//!
//! Both are checked against `aes-gcm` and `ccm` on random inputs and chunkings, and against
//! NIST and RFC 3610 known-answer vectors (tests below).

use aes::{Aes128, Aes256};
use cipher::consts::U16;
use cipher::{
    BlockCipherEncrypt, BlockSizeUser, InnerIvInit, KeyInit, StreamCipher, StreamCipherCoreWrapper,
};
use ctr::CtrCore;
use ctr::flavors::{Ctr32BE, Ctr64BE};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;

use super::algorithm::ContentEncryption;
use crate::error::Error;

/// One 16-octet block.
type Block = [u8; 16];

/// Octets waiting to complete a 16-octet block: the one buffer GHASH and CBC-MAC share,
/// since both take whole blocks while the content arrives in any split.
#[derive(Clone, Default)]
struct PartialBlock {
    buf: Block,
    len: usize,
}

impl PartialBlock {
    /// Feeds `data`; `whole` gets every completed block, in order.
    fn feed(&mut self, mut data: &[u8], mut whole: impl FnMut(&[Block])) {
        if self.len > 0 {
            let room = 16usize.saturating_sub(self.len);
            let (front, rest) = data.split_at(room.min(data.len()));
            if let Some(slot) = self
                .buf
                .get_mut(self.len..self.len.saturating_add(front.len()))
            {
                slot.copy_from_slice(front);
            }
            self.len = self.len.saturating_add(front.len());
            data = rest;
            if self.len < 16 {
                return;
            }
            whole(core::slice::from_ref(&self.buf));
            self.len = 0;
        }
        let (blocks, tail) = data.as_chunks::<16>();
        whole(blocks);
        if let Some(slot) = self.buf.get_mut(..tail.len()) {
            slot.copy_from_slice(tail);
        }
        self.len = tail.len();
    }

    /// The octets of the incomplete block.
    fn tail(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// The longest tag either mode produces.
pub(crate) const MAX_TAG_LEN: usize = 16;

/// The nonce length RFC 5084 recommends for GCM and this crate writes for both modes (CCM
/// takes a shorter one only for content of 16 MiB or more).
pub(crate) const NONCE_LEN: usize = 12;

/// Zero blocks fed to GHASH at a time when shifting the associated data's hash.
const ZERO_BLOCKS: usize = 64;

/// A stream cipher failure: the counter ran out (content beyond what the mode allows).
fn too_long() -> Error {
    Error::EncryptionFailed("content too long for the AEAD mode")
}

/// The block cipher both modes are built on.
trait Aes: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit + Clone {}
impl Aes for Aes128 {}
impl Aes for Aes256 {}

/// AES-GCM with a 12-octet nonce, as a stream.
struct GcmCore<C: Aes> {
    ctr: StreamCipherCoreWrapper<CtrCore<C, Ctr32BE>>,
    /// GHASH with no input yet: the associated data is hashed with it at the end.
    ghash_empty: GHash,
    /// GHASH over the ciphertext so far (whole blocks).
    ghash: GHash,
    /// `E(J0)`, XORed into the hash to give the tag.
    mask: Block,
    /// Ciphertext octets not hashed yet (less than a block).
    pending: PartialBlock,
    /// Ciphertext octets so far.
    len: u64,
}

impl<C: Aes> GcmCore<C> {
    fn new(key: &[u8], nonce: &[u8]) -> Option<Self> {
        let cipher = C::new_from_slice(key).ok()?;
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().ok()?;
        let mut h = ghash::Key::default();
        cipher.encrypt_block(&mut h);
        let ghash = GHash::new(&h);
        let mut j0 = cipher::Block::<C>::default();
        for (slot, byte) in j0.iter_mut().zip(nonce) {
            *slot = *byte;
        }
        if let Some(last) = j0.last_mut() {
            *last = 1;
        }
        let mut ctr = StreamCipherCoreWrapper::from_core(CtrCore::inner_iv_init(cipher, &j0));
        let mut mask = [0u8; 16];
        ctr.try_apply_keystream(&mut mask).ok()?;
        Some(GcmCore {
            ctr,
            ghash_empty: ghash.clone(),
            ghash,
            mask,
            pending: PartialBlock::default(),
            len: 0,
        })
    }

    /// Hashes ciphertext octets, whole blocks as they complete.
    fn hash(&mut self, data: &[u8]) {
        self.len = self.len.saturating_add(data.len() as u64);
        let ghash = &mut self.ghash;
        self.pending.feed(data, |blocks| {
            ghash.update(ghash::Block::slice_as_chunks(blocks.as_flattened()).0);
        });
    }

    fn encrypt(&mut self, buffer: &mut [u8]) -> Result<(), Error> {
        self.ctr
            .try_apply_keystream(buffer)
            .map_err(|_| too_long())?;
        self.hash(buffer);
        Ok(())
    }

    fn decrypt(&mut self, buffer: &mut [u8]) -> Result<(), Error> {
        self.hash(buffer);
        self.ctr.try_apply_keystream(buffer).map_err(|_| too_long())
    }

    /// The full 16-octet tag over `aad` (given now, hashed first) and the content.
    fn tag(mut self, aad: &[u8]) -> Block {
        if !self.pending.tail().is_empty() {
            self.ghash.update_padded(self.pending.tail());
        }
        let mut lengths = ghash::Block::default();
        let aad_bits = (aad.len() as u64).wrapping_mul(8);
        let content_bits = self.len.wrapping_mul(8);
        for (slot, byte) in lengths.iter_mut().zip(
            aad_bits
                .to_be_bytes()
                .into_iter()
                .chain(content_bits.to_be_bytes()),
        ) {
            *slot = byte;
        }
        self.ghash.update(&[lengths]);
        let mut tag: Block = self.ghash.finalize().into();
        if !aad.is_empty() {
            // GHASH(A ‖ 0^n) with n = the blocks of C ‖ L: A's share of GHASH(A ‖ C ‖ L).
            let mut shifted = self.ghash_empty;
            shifted.update_padded(aad);
            let mut blocks = self.len.div_ceil(16).saturating_add(1);
            let zeros = [ghash::Block::default(); ZERO_BLOCKS];
            while blocks > 0 {
                let n = usize::try_from(blocks)
                    .unwrap_or(ZERO_BLOCKS)
                    .min(ZERO_BLOCKS);
                shifted.update(zeros.get(..n).unwrap_or_default());
                blocks = blocks.saturating_sub(n as u64);
            }
            let shifted: Block = shifted.finalize().into();
            xor(&mut tag, &shifted);
        }
        xor(&mut tag, &self.mask);
        tag
    }
}

/// `a ^= b`, block-wise.
fn xor(a: &mut Block, b: &Block) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// CBC-MAC (the CCM authentication part) over `B0` and then the plaintext as it comes.
#[derive(Clone)]
struct CbcMac<C: Aes> {
    cipher: C,
    state: cipher::Block<C>,
    pending: PartialBlock,
}

impl<C: Aes> CbcMac<C> {
    fn new(cipher: C, b0: &Block) -> Self {
        let mut state = cipher::Block::<C>::from(*b0);
        cipher.encrypt_block(&mut state);
        CbcMac {
            cipher,
            state,
            pending: PartialBlock::default(),
        }
    }

    fn update(&mut self, data: &[u8]) {
        let (cipher, state) = (&self.cipher, &mut self.state);
        self.pending.feed(data, |blocks| {
            for block in blocks {
                for (s, b) in state.iter_mut().zip(block) {
                    *s ^= b;
                }
                cipher.encrypt_block(state);
            }
        });
    }

    /// Completes the current block with zeros (the end of the associated data, and of
    /// the content before the MAC is taken).
    fn pad(&mut self) {
        let missing = 16usize.saturating_sub(self.pending.tail().len());
        if missing < 16 {
            self.update([0u8; 16].get(..missing).unwrap_or_default());
        }
    }

    fn finish(mut self) -> Block {
        self.pad();
        self.state.into()
    }
}

/// AES-CCM as a stream (no associated data).
struct CcmCore<C: Aes> {
    cipher: C,
    ctr: StreamCipherCoreWrapper<CtrCore<C, Ctr64BE>>,
    /// `S0 = E(A0)`: encrypts the MAC into the tag.
    mask: Block,
    nonce: Vec<u8>,
    tag_len: usize,
    /// Associated data, MACed after `B0` (never used by CMS: only the known-answer tests
    /// have some).
    aad: Vec<u8>,
    /// The MAC, once the message length is known.
    mac: Option<CbcMac<C>>,
    /// The announced message length, or the plaintext kept until it is known.
    announced: Option<u64>,
    kept: Vec<u8>,
    len: u64,
}

/// `L`, the octets of the length field, for a nonce of `nonce_len` octets.
fn ccm_l(nonce_len: usize) -> usize {
    15usize.saturating_sub(nonce_len)
}

/// Whether a CCM nonce length and tag length are allowed (RFC 3610 §2, RFC 5084 §3.1).
fn ccm_sizes_ok(nonce_len: usize, tag_len: usize) -> bool {
    (7..=13).contains(&nonce_len) && (4..=16).contains(&tag_len) && tag_len.is_multiple_of(2)
}

impl<C: Aes> CcmCore<C> {
    fn new(key: &[u8], nonce: &[u8], tag_len: usize, len: Option<u64>, aad: &[u8]) -> Option<Self> {
        if !ccm_sizes_ok(nonce.len(), tag_len) {
            return None;
        }
        let cipher = C::new_from_slice(key).ok()?;
        let l = ccm_l(nonce.len());
        let mut a0 = cipher::Block::<C>::default();
        let flags = u8::try_from(l.saturating_sub(1)).ok()?;
        let mut a0_bytes = std::iter::once(flags).chain(nonce.iter().copied());
        for slot in a0.iter_mut() {
            *slot = a0_bytes.next().unwrap_or(0);
        }
        let mut ctr =
            StreamCipherCoreWrapper::from_core(CtrCore::inner_iv_init(cipher.clone(), &a0));
        let mut mask = [0u8; 16];
        ctr.try_apply_keystream(&mut mask).ok()?;
        let mut core = CcmCore {
            cipher,
            ctr,
            mask,
            nonce: nonce.to_vec(),
            tag_len,
            aad: aad.to_vec(),
            mac: None,
            announced: len,
            kept: Vec::new(),
            len: 0,
        };
        if let Some(len) = len {
            core.mac = Some(core.start_mac(len)?);
        }
        Some(core)
    }

    /// The CBC-MAC after `B0` for a message of `len` octets; `None` if `len` does not fit
    /// the length field.
    fn start_mac(&self, len: u64) -> Option<CbcMac<C>> {
        let l = ccm_l(self.nonce.len());
        let bits = u32::try_from(l.saturating_mul(8)).ok()?;
        if bits < 64 && len >> bits != 0 {
            return None;
        }
        // Flags: Adata, M' = (M - 2) / 2, L' = L - 1.
        let m = u8::try_from(self.tag_len.saturating_sub(2) / 2).ok()?;
        let adata = if self.aad.is_empty() { 0 } else { 0x40 };
        let flags = adata | m.wrapping_mul(8) | u8::try_from(l.saturating_sub(1)).ok()?;
        let length = len.to_be_bytes();
        let length = length.get(8usize.saturating_sub(l)..).unwrap_or_default();
        let mut b0 = [0u8; 16];
        let mut bytes = std::iter::once(flags)
            .chain(self.nonce.iter().copied())
            .chain(length.iter().copied());
        for slot in &mut b0 {
            *slot = bytes.next().unwrap_or(0);
        }
        let mut mac = CbcMac::new(self.cipher.clone(), &b0);
        if !self.aad.is_empty() {
            // The length of the associated data (RFC 3610 §2.2), then the data, padded.
            match u16::try_from(self.aad.len()).ok().filter(|n| *n < 0xff00) {
                Some(n) => mac.update(&n.to_be_bytes()),
                None => {
                    mac.update(&[0xff, 0xfe]);
                    mac.update(&u32::try_from(self.aad.len()).ok()?.to_be_bytes());
                }
            }
            mac.update(&self.aad);
            mac.pad();
        }
        Some(mac)
    }

    fn count(&mut self, n: usize) -> Result<(), Error> {
        self.len = self.len.saturating_add(n as u64);
        if self.announced.is_some_and(|a| self.len > a) {
            return Err(too_long());
        }
        Ok(())
    }

    fn encrypt(&mut self, buffer: &mut [u8]) -> Result<(), Error> {
        self.count(buffer.len())?;
        match &mut self.mac {
            Some(mac) => mac.update(buffer),
            None => return Err(too_long()),
        }
        self.ctr.try_apply_keystream(buffer).map_err(|_| too_long())
    }

    fn decrypt(&mut self, buffer: &mut [u8]) -> Result<(), Error> {
        self.count(buffer.len())?;
        self.ctr
            .try_apply_keystream(buffer)
            .map_err(|_| too_long())?;
        match &mut self.mac {
            Some(mac) => mac.update(buffer),
            None => self.kept.extend_from_slice(buffer),
        }
        Ok(())
    }

    /// The full 16-octet tag (only its first `tag_len` octets count); `None` when the
    /// content length differs from the announced one or does not fit the length field.
    fn tag(self) -> Option<Block> {
        if self.announced.is_some_and(|a| a != self.len) {
            return None;
        }
        let mac = match self.mac {
            Some(mac) => mac,
            None => {
                let mut mac = self.start_mac(self.len)?;
                mac.update(&self.kept);
                mac
            }
        };
        let mut tag = mac.finish();
        xor(&mut tag, &self.mask);
        Some(tag)
    }
}

/// A streaming AES-GCM or AES-CCM encryption or decryption (see the [module docs](self)).
pub(crate) struct AeadStream(Mode);

enum Mode {
    Gcm128(Box<GcmCore<Aes128>>),
    Gcm256(Box<GcmCore<Aes256>>),
    Ccm128(Box<CcmCore<Aes128>>),
    Ccm256(Box<CcmCore<Aes256>>),
}

impl core::fmt::Debug for AeadStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // No key material.
        f.debug_struct("AeadStream").finish_non_exhaustive()
    }
}

impl AeadStream {
    /// A stream for `cipher` (an AEAD one) with `key`, `nonce` and, for CCM, the tag length
    /// and the message length when known. `None` for a key, nonce or size the mode cannot
    /// take (facts of the envelope, no secret).
    pub(crate) fn new(
        cipher: ContentEncryption,
        key: &[u8],
        nonce: &[u8],
        tag_len: usize,
        len: Option<u64>,
    ) -> Option<Self> {
        let mode = match cipher {
            ContentEncryption::Aes128Gcm => Mode::Gcm128(Box::new(GcmCore::new(key, nonce)?)),
            ContentEncryption::Aes256Gcm => Mode::Gcm256(Box::new(GcmCore::new(key, nonce)?)),
            ContentEncryption::Aes128Ccm => {
                Mode::Ccm128(Box::new(CcmCore::new(key, nonce, tag_len, len, &[])?))
            }
            ContentEncryption::Aes256Ccm => {
                Mode::Ccm256(Box::new(CcmCore::new(key, nonce, tag_len, len, &[])?))
            }
            _ => return None,
        };
        Some(AeadStream(mode))
    }

    /// Encrypts `buffer` in place (CCM: with the length announced).
    pub(crate) fn encrypt(&mut self, buffer: &mut [u8]) -> Result<(), Error> {
        match &mut self.0 {
            Mode::Gcm128(c) => c.encrypt(buffer),
            Mode::Gcm256(c) => c.encrypt(buffer),
            Mode::Ccm128(c) => c.encrypt(buffer),
            Mode::Ccm256(c) => c.encrypt(buffer),
        }
    }

    /// Decrypts `buffer` in place.
    pub(crate) fn decrypt(&mut self, buffer: &mut [u8]) -> Result<(), Error> {
        match &mut self.0 {
            Mode::Gcm128(c) => c.decrypt(buffer),
            Mode::Gcm256(c) => c.decrypt(buffer),
            Mode::Ccm128(c) => c.decrypt(buffer),
            Mode::Ccm256(c) => c.decrypt(buffer),
        }
    }

    /// The full 16-octet tag over `aad` and the content (the first `tag_len` octets are
    /// the tag). `None` for associated data given to CCM, or a CCM content length other
    /// than the announced one.
    pub(crate) fn tag(self, aad: &[u8]) -> Option<Block> {
        match self.0 {
            Mode::Gcm128(c) => Some(c.tag(aad)),
            Mode::Gcm256(c) => Some(c.tag(aad)),
            Mode::Ccm128(c) if aad.is_empty() => c.tag(),
            Mode::Ccm256(c) if aad.is_empty() => c.tag(),
            Mode::Ccm128(_) | Mode::Ccm256(_) => None,
        }
    }
}

/// Whether `received` is the first `received.len()` octets of `full`, compared without a
/// branch on the octets.
pub(crate) fn tag_matches(full: &Block, received: &[u8]) -> bool {
    let Some(expected) = full.get(..received.len()) else {
        return false;
    };
    let diff = expected
        .iter()
        .zip(received)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    diff == 0 && !received.is_empty()
}

/// The CCM nonce length for `len` octets of content: 12 (RFC 5084's recommendation) up to
/// 16 MiB − 1, shorter above so that the length field (`15 − nonce` octets) holds `len`.
pub(crate) fn ccm_nonce_len(len: u64) -> usize {
    let needed = 8usize.saturating_sub(len.leading_zeros() as usize / 8);
    15usize.saturating_sub(needed.max(15 - NONCE_LEN))
}

/// The allowed ICV (tag) lengths this crate accepts: GCM 12 to 16 octets (RFC 5084's
/// `AES-GCM-ICVlen`), CCM 12, 14 or 16. The shorter CCM tags RFC 5084 also lists (4, 6, 8,
/// 10) are refused: a forgery succeeds with probability 2^-(8 × length), too weak for
/// files that are processed automatically.
pub(crate) fn tag_len_ok(cipher: ContentEncryption, tag_len: usize) -> bool {
    match cipher {
        ContentEncryption::Aes128Gcm | ContentEncryption::Aes256Gcm => (12..=16).contains(&tag_len),
        ContentEncryption::Aes128Ccm | ContentEncryption::Aes256Ccm => {
            matches!(tag_len, 12 | 14 | 16)
        }
        _ => false,
    }
}

/// Whether `nonce_len` is one the mode takes here: 12 for GCM (RFC 5084 recommends it;
/// other lengths are refused), 7 to 13 for CCM.
pub(crate) fn nonce_len_ok(cipher: ContentEncryption, nonce_len: usize) -> bool {
    match cipher {
        ContentEncryption::Aes128Gcm | ContentEncryption::Aes256Gcm => nonce_len == NONCE_LEN,
        ContentEncryption::Aes128Ccm | ContentEncryption::Aes256Ccm => {
            (7..=13).contains(&nonce_len)
        }
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use aes_gcm::aead::{AeadInOut, KeyInit as _};
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Runs `data` through a stream in the pieces `cuts` gives, returning the output and
    /// the tag truncated to `tag_len`.
    fn run(
        mut stream: AeadStream,
        data: &[u8],
        cuts: &[usize],
        encrypt: bool,
        tag_len: usize,
    ) -> (Vec<u8>, Vec<u8>) {
        let mut out = data.to_vec();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
            let end = cut.clamp(start, data.len());
            let piece = &mut out[start..end];
            if encrypt {
                stream.encrypt(piece).unwrap();
            } else {
                stream.decrypt(piece).unwrap();
            }
            start = end;
        }
        let tag = stream.tag(&[]).unwrap();
        (out, tag[..tag_len].to_vec())
    }

    fn cuts(rng: &mut ChaCha20Rng, len: usize) -> Vec<usize> {
        let n = rng.next_u32() % 6;
        let mut cuts: Vec<usize> = (0..n)
            .map(|_| (rng.next_u32() as usize) % (len + 1))
            .collect();
        cuts.sort_unstable();
        cuts
    }

    /// Streamed in random pieces, GCM and CCM give what `aes-gcm` and `ccm` give for the
    /// whole buffer, both ways, at both key sizes, for lengths around the block size.
    #[test]
    fn matches_the_whole_buffer_crates() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 4099] {
            for round in 0..6 {
                let mut data = vec![0u8; len];
                rng.fill_bytes(&mut data);
                let mut key = [0u8; 32];
                rng.fill_bytes(&mut key);
                let mut nonce = [0u8; 12];
                rng.fill_bytes(&mut nonce);
                let aad: Vec<u8> = (0..(round * 7)).map(|i| i as u8).collect();
                // GCM, 128 and 256, with and without associated data.
                for (cipher, key) in [
                    (ContentEncryption::Aes128Gcm, &key[..16]),
                    (ContentEncryption::Aes256Gcm, &key[..]),
                ] {
                    let stream = || AeadStream::new(cipher, key, &nonce, 16, None).unwrap();
                    let c = cuts(&mut rng, len);
                    let mut ours = data.clone();
                    let mut s = stream();
                    let mut start = 0;
                    for &cut in c.iter().chain(std::iter::once(&len)) {
                        s.encrypt(&mut ours[start..cut.max(start)]).unwrap();
                        start = cut.max(start);
                    }
                    let tag = s.tag(&aad).unwrap();
                    let mut theirs = data.clone();
                    let reference = if key.len() == 16 {
                        aes_gcm::Aes128Gcm::new_from_slice(key)
                            .unwrap()
                            .encrypt_inout_detached(
                                &nonce.into(),
                                &aad,
                                theirs.as_mut_slice().into(),
                            )
                            .unwrap()
                    } else {
                        aes_gcm::Aes256Gcm::new_from_slice(key)
                            .unwrap()
                            .encrypt_inout_detached(
                                &nonce.into(),
                                &aad,
                                theirs.as_mut_slice().into(),
                            )
                            .unwrap()
                    };
                    assert_eq!(ours, theirs, "{cipher:?} {len}");
                    assert_eq!(
                        &tag[..],
                        &reference[..],
                        "{cipher:?} {len} aad {}",
                        aad.len()
                    );
                    let c = cuts(&mut rng, len);
                    let mut back = ours.clone();
                    let mut s = stream();
                    let mut start = 0;
                    for &cut in c.iter().chain(std::iter::once(&len)) {
                        s.decrypt(&mut back[start..cut.max(start)]).unwrap();
                        start = cut.max(start);
                    }
                    assert_eq!(back, data);
                    assert_eq!(s.tag(&aad).unwrap(), tag);
                }
                // CCM with 12- and 11-octet nonces and 12-, 16-octet tags, length known and
                // unknown.
                for (cipher, key) in [
                    (ContentEncryption::Aes128Ccm, &key[..16]),
                    (ContentEncryption::Aes256Ccm, &key[..]),
                ] {
                    let c = cuts(&mut rng, len);
                    let (ours, tag) = run(
                        AeadStream::new(cipher, key, &nonce, 16, Some(len as u64)).unwrap(),
                        &data,
                        &c,
                        true,
                        16,
                    );
                    let mut theirs = data.clone();
                    let reference = if key.len() == 16 {
                        ccm::Ccm::<Aes128, cipher::consts::U16, cipher::consts::U12>::new_from_slice(key)
                            .unwrap()
                            .encrypt_inout_detached(&nonce.into(), &[], theirs.as_mut_slice().into())
                            .unwrap()
                    } else {
                        ccm::Ccm::<Aes256, cipher::consts::U16, cipher::consts::U12>::new_from_slice(key)
                            .unwrap()
                            .encrypt_inout_detached(&nonce.into(), &[], theirs.as_mut_slice().into())
                            .unwrap()
                    };
                    assert_eq!(ours, theirs, "{cipher:?} {len}");
                    assert_eq!(tag, reference.to_vec(), "{cipher:?} {len}");
                    for known in [Some(len as u64), None] {
                        let (back, tag2) = run(
                            AeadStream::new(cipher, key, &nonce, 16, known).unwrap(),
                            &ours,
                            &cuts(&mut rng, len),
                            false,
                            16,
                        );
                        assert_eq!(back, data);
                        assert_eq!(tag2, tag);
                    }
                    // An 11-octet nonce and a 12-octet tag.
                    let (ours, tag) = run(
                        AeadStream::new(cipher, key, &nonce[..11], 12, Some(len as u64)).unwrap(),
                        &data,
                        &c,
                        true,
                        12,
                    );
                    let mut theirs = data.clone();
                    let reference = if key.len() == 16 {
                        ccm::Ccm::<Aes128, cipher::consts::U12, cipher::consts::U11>::new_from_slice(key)
                            .unwrap()
                            .encrypt_inout_detached(
                                nonce[..11].try_into().unwrap(),
                                &[],
                                theirs.as_mut_slice().into(),
                            )
                            .unwrap()
                    } else {
                        ccm::Ccm::<Aes256, cipher::consts::U12, cipher::consts::U11>::new_from_slice(key)
                            .unwrap()
                            .encrypt_inout_detached(
                                nonce[..11].try_into().unwrap(),
                                &[],
                                theirs.as_mut_slice().into(),
                            )
                            .unwrap()
                    };
                    assert_eq!(ours, theirs);
                    assert_eq!(tag, reference.to_vec());
                }
            }
        }
    }

    /// NIST GCM test vectors (the GCM specification's test cases 2, 3, 14 and 15, as in
    /// `aes-gcm`'s own tests), every one streamed a byte at a time and in one piece.
    #[test]
    fn gcm_known_answers() {
        // (key, nonce, plaintext, ciphertext, tag)
        let cases = [
            (
                "00000000000000000000000000000000",
                "000000000000000000000000",
                "00000000000000000000000000000000",
                "0388dace60b6a392f328c2b971b2fe78",
                "ab6e47d42cec13bdf53a67b21257bddf",
            ),
            (
                "feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                 1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                 21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
                "4d5c2af327cd64a62cf35abd2ba6fab4",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "00000000000000000000000000000000",
                "cea7403d4d606b6e074ec5d3baf39d18",
                "d0d1c8a799996bf0265b98b5d48ab919",
            ),
            (
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                 1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                 8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
                "b094dac5d93471bdec1a502270e3cc6c",
            ),
        ];
        for (key, nonce, plain, cipher_text, tag) in cases {
            let (key, nonce, plain) = (hex(key), hex(nonce), hex(plain));
            let cipher = if key.len() == 16 {
                ContentEncryption::Aes128Gcm
            } else {
                ContentEncryption::Aes256Gcm
            };
            let every_byte: Vec<usize> = (1..plain.len()).collect();
            for c in [vec![], every_byte] {
                let stream = AeadStream::new(cipher, &key, &nonce, 16, None).unwrap();
                let (out, t) = run(stream, &plain, &c, true, 16);
                assert_eq!(out, hex(cipher_text));
                assert_eq!(t, hex(tag));
            }
        }
        // NIST CAVS (gcmEncryptExtIV128/256.rsp, as in `aes-gcm`'s tests): (key, nonce,
        // associated data, plaintext, ciphertext, tag).
        let cavs = [
            (
                "d590e53b695315cc0b917d9fa0aac643",
                "102de7df461a5578e75c4975",
                "",
                "7ee631fb685d4a94563e01480ec5526d04a4035d1f615fdbad6656e2495fe5d7f0d6c40dff659fc85f4ccd78433a192313c3d4",
                "e1322d0c9265cd774d2e9d9b6771799600b79ba38374ee1756aa6871e204e5f6871cd50db15225ded64a9c8899bab37288a792",
                "13e606a9a4c786b65e2260cdda4b1843",
            ),
            (
                "55c8bcb0021090e4b2c785c79cb966b8",
                "5e9f1313282f73d7ffb92837",
                "f7e14a57e3bb6b99866b90573d7bc355baeb7ac347e43d0b65d97ecc2eb9c772401a8e3c7e9e2871c2b79579d44c139e62c33b42a9e0c87686960009d659d5e3874e168c334b6650c6d36168633757a7c20764232ce94a0de1a5",
                "2d7c1b689189bbfa2be26ad5c1f296dee4c0f61456ffc94cf8e70aad0f09d0608c4115aa6ed5eba93ed5820b3f3426bbf4d64a",
                "ba59002df3394c5b80983519dc163eca5c44df80f8c4c4e15d3ff73f13c170c80a59d87a2165a7b450be01031a8e41c505c89f",
                "28418c564731bddf3d504d8ed32e66ee",
            ),
            (
                "6be7f4d18ff0fbdd9b3b3cacaba4629a0c617387079add62f6ce1584b33faad1",
                "fda568c9cb13d9c176bcef03",
                "11ebeb97dd4a9925c1fbe2b9af77392058d2d971e42db15da39f090d7bc132573c34bf7d92a2d72dc66ee6840c3ff07985b8976ee8d8f36bf47ae330b899fdc60652dd5a23c45f3680f11951f019e0697c8acfcaa95f01b9c7dd",
                "4df668e99d5068604a48bcca5baa8245435928558a83d68d7b0b081861224e9bd39ea8f2d55a635949e66c6f6a7ff5cc34dd94",
                "488b40ad594e1845ccdd9e9467fc5e1afbbfde34e57d45bfcd30b61cc326d57fe8e3f31a39cdebf00f60bbd2c3cdf69f756eff",
                "3bf3fbab9b48486fd08a5552604df639",
            ),
        ];
        for (key, nonce, aad, plain, cipher_text, tag) in cavs {
            let key = hex(key);
            let cipher = if key.len() == 16 {
                ContentEncryption::Aes128Gcm
            } else {
                ContentEncryption::Aes256Gcm
            };
            let plain = hex(plain);
            for step in [1, 7, plain.len()] {
                let mut s = AeadStream::new(cipher, &key, &hex(nonce), 16, None).unwrap();
                let mut out = plain.clone();
                for piece in out.chunks_mut(step) {
                    s.encrypt(piece).unwrap();
                }
                assert_eq!(out, hex(cipher_text));
                assert_eq!(s.tag(&hex(aad)).unwrap().to_vec(), hex(tag));
            }
        }
        // Test case 4 (associated data, a partial last block), the AAD given at the end.
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let plain = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let mut s = AeadStream::new(
            ContentEncryption::Aes128Gcm,
            &key,
            &hex("cafebabefacedbaddecaf888"),
            16,
            None,
        )
        .unwrap();
        let mut out = plain.clone();
        s.encrypt(&mut out).unwrap();
        assert_eq!(
            out,
            hex(
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                 21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
            )
        );
        assert_eq!(
            s.tag(&aad).unwrap().to_vec(),
            hex("5bc94fbc3221a5db94fae95ae7121a47")
        );
    }

    /// The AES-CCM examples of NIST SP 800-38C, appendix C (AES-128, with associated
    /// data, which CMS itself never has), streamed in one piece and a byte at a time.
    #[test]
    fn ccm_known_answers() {
        let key = hex("404142434445464748494a4b4c4d4e4f");
        let example4_aad: Vec<u8> = (0u32..65536).map(|i| i as u8).collect();
        // (tag_len, nonce, associated data, plaintext, ciphertext || tag)
        let cases = [
            (
                4,
                "10111213141516",
                hex("0001020304050607"),
                "20212223",
                "7162015b4dac255d",
            ),
            (
                6,
                "1011121314151617",
                hex("000102030405060708090a0b0c0d0e0f"),
                "202122232425262728292a2b2c2d2e2f",
                "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd",
            ),
            (
                8,
                "101112131415161718191a1b",
                hex("000102030405060708090a0b0c0d0e0f10111213"),
                "202122232425262728292a2b2c2d2e2f3031323334353637",
                "e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951",
            ),
            (
                14,
                "101112131415161718191a1b1c",
                example4_aad,
                "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
                "69915dad1e84c6376a68c2967e4dab615ae0fd1faec44cc484828529463ccf72\
                 b4ac6bec93e8598e7f0dadbcea5b",
            ),
        ];
        for (tag_len, nonce, aad, plain, expected) in cases {
            let (nonce, plain, expected) = (hex(nonce), hex(plain), hex(expected));
            let every_byte: Vec<usize> = (1..plain.len()).collect();
            for c in [vec![], every_byte] {
                let core =
                    CcmCore::<Aes128>::new(&key, &nonce, tag_len, Some(plain.len() as u64), &aad)
                        .unwrap();
                let stream = AeadStream(Mode::Ccm128(Box::new(core)));
                let (out, tag) = run(stream, &plain, &c, true, tag_len);
                assert_eq!([out, tag].concat(), expected);
            }
        }
    }

    #[test]
    fn sizes_and_nonce_lengths() {
        assert_eq!(ccm_nonce_len(0), 12);
        assert_eq!(ccm_nonce_len((1 << 24) - 1), 12);
        assert_eq!(ccm_nonce_len(1 << 24), 11);
        assert_eq!(ccm_nonce_len((1 << 32) - 1), 11);
        assert_eq!(ccm_nonce_len(1 << 32), 10);
        assert_eq!(ccm_nonce_len(u64::MAX), 7);
        // A length that does not fit the length field is refused.
        let key = [0u8; 16];
        assert!(
            AeadStream::new(
                ContentEncryption::Aes128Ccm,
                &key,
                &[0; 13],
                16,
                Some(1 << 16)
            )
            .is_none()
        );
        assert!(AeadStream::new(ContentEncryption::Aes128Ccm, &key, &[0; 13], 16, None).is_some());
        // Announced and actual lengths must agree.
        let three =
            || AeadStream::new(ContentEncryption::Aes128Ccm, &key, &[0; 12], 16, Some(3)).unwrap();
        let mut s = three();
        s.encrypt(&mut [0, 0]).unwrap();
        assert!(s.tag(&[]).is_none());
        let mut s = three();
        s.encrypt(&mut [0, 0]).unwrap();
        assert!(s.encrypt(&mut [0, 0]).is_err());
        // CCM takes no associated data here.
        assert!(three().tag(&[1]).is_none());
        assert!(!tag_len_ok(ContentEncryption::Aes128Ccm, 8));
        assert!(!tag_len_ok(ContentEncryption::Aes128Gcm, 8));
        assert!(tag_len_ok(ContentEncryption::Aes128Gcm, 13));
        assert!(tag_matches(&[1; 16], &[1; 12]));
        assert!(!tag_matches(&[1; 16], &[]));
        assert!(!tag_matches(&[1; 16], &[1, 1, 2]));
    }
}
