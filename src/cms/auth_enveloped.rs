//! AuthEnvelopedData (RFC 5083) with AES-GCM and AES-CCM (RFC 5084).
//!
//! ```text
//! AuthEnvelopedData ::= SEQUENCE {
//!   version CMSVersion,                                   -- 0
//!   originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
//!   recipientInfos RecipientInfos,
//!   authEncryptedContentInfo EncryptedContentInfo,
//!   authAttrs [1] IMPLICIT AuthAttributes OPTIONAL,
//!   mac MessageAuthenticationCode,                        -- the tag
//!   unauthAttrs [2] IMPLICIT UnauthAttributes OPTIONAL }
//! ```
//!
//! **Writing**: [`enveloped::encrypt`](super::enveloped::encrypt) and the streaming builder
//! write AuthEnvelopedData when [`EncryptOptions::cipher`](super::enveloped::EncryptOptions)
//! is an authenticated cipher ([`ContentEncryption::is_authenticated`]): a 12-octet nonce
//! from the caller's random source (for CCM, shorter for content of 16 MiB or more), a
//! 16-octet tag, no authAttrs, the recipientInfos as for EnvelopedData. AES-CCM needs the
//! content length first and is refused without it.
//!
//! **Reading**: [`decrypt`] here, and the inbound pipeline (`message::receive`), decrypt
//! as the content streams, in constant memory (AES-CCM with a segmented or
//! indefinite-length ciphertext excepted: its plaintext is kept until its length is known),
//! and check the tag at the end. Everything decrypted before the tag is tentative. The
//! accepted tags are 12 to 16 octets for GCM and 12, 14 or 16 for CCM; the shorter ones
//! RFC 5084 allows for CCM (4 to 10) are refused as too weak. `authAttrs` are accepted with
//! GCM (they are hashed after the fact, see `cms::aead`) and refused with CCM.
//!
//! The EnvelopedData form some BouncyCastle-based products write (`id-envelopedData` with
//! an AES-GCM or AES-CCM content cipher, the tag appended to the ciphertext) is read the
//! same way, its tag verified.
//!
//! A tag that does not verify, whatever the reason (a wrong key, an altered ciphertext, a
//! truncated or altered tag), is [`Error::DecryptionFailed`]; the inbound pipeline reports
//! it exactly like every other failure inside an envelope (the same error MDN).

use rand_core::CryptoRng;

use super::stream::EnvelopedReader;
use super::{ContentType, content_type};
use crate::cert::{Certificate, PrivateKey};
use crate::error::Error;
use crate::limits::Limits;

#[cfg(doc)]
use super::algorithm::ContentEncryption;

/// Decrypts a ContentInfo holding AuthEnvelopedData (or EnvelopedData, with any supported
/// cipher) with the first of `keys` whose certificate is a recipient, and returns the
/// content once the tag (or, for CBC, the padding) has been checked.
///
/// Fails with [`Error::NoMatchingRecipient`] when no key is a recipient, with
/// [`Error::UnsupportedAlgorithm`] or [`Error::Malformed`] for what the envelope itself
/// shows, and with [`Error::DecryptionFailed`] for a tag that does not verify, a wrong key
/// or a bad CBC padding. Like [`EnvelopedData::decrypt`](super::enveloped::EnvelopedData),
/// it tells a bad CBC padding apart: use it only where nobody can observe the failure for
/// unauthenticated CBC content. For the authenticated ciphers the tag decides, and nothing
/// is returned unless it verifies.
///
/// ```
/// use as2_proto::cms::{algorithm::ContentEncryption, auth_enveloped, enveloped};
/// use as2_proto::{Certificate, Limits, PrivateKey};
/// # let cert = Certificate::from_pem(include_bytes!("../../tests/data/keys/doc.crt"))?;
/// # let key = PrivateKey::from_pem(include_bytes!("../../tests/data/keys/doc.key"), None)?;
/// let mut options = enveloped::EncryptOptions::default();
/// options.cipher = ContentEncryption::Aes256Gcm;
/// let der = enveloped::encrypt(b"hello", &[&cert], &options, &mut rand::rng())?;
/// let keys = [(cert, key)];
/// let plain = auth_enveloped::decrypt(&der, &keys, &Limits::default(), &mut rand::rng())?;
/// assert_eq!(plain, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decrypt<R: CryptoRng + ?Sized>(
    input: &[u8],
    keys: &[(Certificate, PrivateKey)],
    limits: &Limits,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let mut reader = match content_type(input, limits)? {
        ContentType::AuthEnvelopedData => EnvelopedReader::new_auth(limits, keys),
        _ => EnvelopedReader::new(limits, keys, true),
    };
    let mut out = Vec::new();
    reader.push(input, &mut out, rng)?;
    let end = reader.finish(&mut out)?;
    if end.authentic == Some(false) || !end.well_formed {
        return Err(Error::DecryptionFailed);
    }
    Ok(out)
}
