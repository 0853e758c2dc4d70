//! KeyAgreeRecipientInfo (RFC 5652 §6.2.2) with ephemeral-static ECDH (RFC 5753 §3.1):
//! how a content key reaches a recipient whose certificate holds an EC key (P-256 or
//! P-384).
//!
//! The sender draws an ephemeral key pair on the recipient's curve, computes the ECDH
//! shared secret `Z` (the x-coordinate) with the recipient's static public key, derives a
//! key-encryption key with the ANSI X9.63 KDF (SEC 1 §3.6.1) over `Z` and the DER
//! `ECC-CMS-SharedInfo` (RFC 5753 §7.2), and wraps the content key with AES key wrap
//! (RFC 3394). The recipient recomputes `Z` with its private key.
//!
//! ```text
//! KeyAgreeRecipientInfo ::= SEQUENCE {
//!   version CMSVersion,  -- always set to 3
//!   originator [0] EXPLICIT OriginatorIdentifierOrKey,   -- originatorKey [1]
//!   ukm [1] EXPLICIT UserKeyingMaterial OPTIONAL,
//!   keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
//!   recipientEncryptedKeys RecipientEncryptedKeys }
//!
//! ECC-CMS-SharedInfo ::= SEQUENCE {
//!   keyInfo AlgorithmIdentifier,                  -- the key-wrap algorithm
//!   entityUInfo [0] EXPLICIT OCTET STRING OPTIONAL, -- the ukm
//!   suppPubInfo [2] EXPLICIT OCTET STRING }       -- KEK length in bits, 32-bit BE
//! ```
//!
//! What is written: `dhSinglePass-stdDH-sha256kdf-scheme` for P-256 and
//! `dhSinglePass-stdDH-sha384kdf-scheme` for P-384 (RFC 5753 §7.1.4, the pairing of RFC
//! 6318 §4), with `aes128-wrap` for an AES-128 content key and `aes256-wrap` otherwise
//! (the wrap never weaker than the content cipher), the originator's ephemeral key as an
//! uncompressed point with `id-ecPublicKey` and absent parameters, and no ukm.
//!
//! What is read, besides: the SHA-1 and SHA-512 KDFs, the `cofactorDH` schemes (on P-256
//! and P-384 the cofactor is 1, so cofactor DH is standard DH), `aes192-wrap`, a ukm, and
//! compressed points. The SHA-1 KDF (`dhSinglePass-stdDH-sha1kdf-scheme`,
//! 1.3.133.16.840.63.0.2) is what `openssl cms -encrypt` writes for an EC recipient
//! unless told `-keyopt ecdh_kdf_md:sha256`, and the X9.63 KDF needs of its hash only that
//! it behave as a random function on secret input, not collision resistance: reading it
//! costs nothing in security, refusing it would refuse every default OpenSSL sender. It
//! is never written. SHA-224 KDFs, static-static ECDH (an originator named by certificate)
//! and other key-wrap algorithms are not read.
//!
//! # No oracle
//!
//! Once the RecipientInfo for our certificate is found, a point that is not on the curve
//! (or is the identity), a key that is not EC on that curve, and a key unwrap whose
//! integrity check fails all give no key, which `enveloped::unwrap_content_key` turns
//! into a zero content key exactly as it does for an RSA unwrap that fails: the outcome is
//! the same `Error::DecryptionFailed` as for any RSA failure. An unsupported KDF or
//! key-wrap algorithm is a fact of the envelope, reported before the private key is used
//! ([`Error::UnsupportedAlgorithm`]).

use cms::enveloped_data::{KeyAgreeRecipientIdentifier, OriginatorIdentifierOrKey, RecipientInfo};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use p256::elliptic_curve::Generate;
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::algorithm::{ContentEncryption, DigestAlgorithm, algorithm_identifier, encode_uint};
use super::ber::{self, Tag, Tlv};
use super::enveloped::{EncryptOptions, Recipient};
use super::oid;
use crate::cert::{Certificate, Identifier, PrivateKey, PublicKey, SecretKey};
use crate::error::{AlgorithmKind, Error};
use crate::limits::{Limit, Limits};

/// BIT STRING.
const BIT_STRING: Tag = Tag::universal(3, false);

/// dhSinglePass-stdDH-sha1kdf-scheme (SEC 1, RFC 5753 §7.1.4): read only.
const STD_DH_SHA1_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.133.16.840.63.0.2");
/// dhSinglePass-stdDH-sha256kdf-scheme.
const STD_DH_SHA256_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.1.11.1");
/// dhSinglePass-stdDH-sha384kdf-scheme.
const STD_DH_SHA384_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.1.11.2");
/// dhSinglePass-stdDH-sha512kdf-scheme.
const STD_DH_SHA512_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.1.11.3");
/// dhSinglePass-cofactorDH-sha1kdf-scheme: read only.
const COFACTOR_DH_SHA1_KDF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.133.16.840.63.0.3");
/// dhSinglePass-cofactorDH-sha256kdf-scheme.
const COFACTOR_DH_SHA256_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.1.14.1");
/// dhSinglePass-cofactorDH-sha384kdf-scheme.
const COFACTOR_DH_SHA384_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.1.14.2");
/// dhSinglePass-cofactorDH-sha512kdf-scheme.
const COFACTOR_DH_SHA512_KDF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.1.14.3");
/// id-aes128-wrap (RFC 3394 §3).
const AES128_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.5");
/// id-aes192-wrap.
const AES192_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.25");
/// id-aes256-wrap.
const AES256_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.45");
/// secp256r1 (prime256v1), RFC 5480 §2.1.1.1.
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1.
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// The key-agreement scheme of a keyEncryptionAlgorithm: the KDF's hash (standard and
/// cofactor DH are the same on P-256 and P-384, whose cofactor is 1).
fn kdf_hash(oid: &ObjectIdentifier) -> Option<DigestAlgorithm> {
    Some(match *oid {
        STD_DH_SHA1_KDF | COFACTOR_DH_SHA1_KDF => DigestAlgorithm::Sha1,
        STD_DH_SHA256_KDF | COFACTOR_DH_SHA256_KDF => DigestAlgorithm::Sha256,
        STD_DH_SHA384_KDF | COFACTOR_DH_SHA384_KDF => DigestAlgorithm::Sha384,
        STD_DH_SHA512_KDF | COFACTOR_DH_SHA512_KDF => DigestAlgorithm::Sha512,
        _ => return None,
    })
}

/// The AES key-wrap algorithms: OID and KEK length in octets.
fn wrap_key_len(oid: &ObjectIdentifier) -> Option<usize> {
    Some(match *oid {
        AES128_WRAP => 16,
        AES192_WRAP => 24,
        AES256_WRAP => 32,
        _ => return None,
    })
}

/// What a KeyAgreeRecipientInfo says about the agreement, shared by all its
/// RecipientEncryptedKeys: the originator's ephemeral public key and the ukm.
#[derive(Debug)]
pub(crate) struct Agreement {
    /// The originatorKey's algorithm (id-ecPublicKey; its parameters, if a namedCurve,
    /// must name the recipient's curve).
    originator_algorithm: AlgorithmIdentifierOwned,
    /// The originatorKey's publicKey: a SEC1 point.
    originator_point: Vec<u8>,
    /// UserKeyingMaterial, the KDF's entityUInfo.
    ukm: Option<Vec<u8>>,
}

/// Reads a KeyAgreeRecipientInfo (`info`, tagged `[1]`): one [`Recipient`] per
/// RecipientEncryptedKey, each carrying the keyEncryptionAlgorithm and the [`Agreement`].
/// `count` is the number of recipients read so far in the SET, this RecipientInfo
/// included; each RecipientEncryptedKey after the first advances it, within
/// [`Limits::max_recipients`]. An originator named by certificate (static-static ECDH)
/// cannot be answered with our keys: no recipients.
pub(crate) fn parse(
    info: &Tlv<'_>,
    count: &mut usize,
    limits: &Limits,
) -> Result<Vec<Recipient>, Error> {
    let bad = || Error::malformed("KeyAgreeRecipientInfo", info.offset);
    let RecipientInfo::Kari(kari) = RecipientInfo::from_der(&info.to_der()?).map_err(|_| bad())?
    else {
        return Err(bad());
    };
    let mut recipients = Vec::new();
    for (i, encrypted) in kari.recipient_enc_keys.iter().enumerate() {
        if i > 0 {
            *count = count.saturating_add(1);
            if *count > limits.max_recipients {
                return Err(Limit::Recipients.exceeded(limits));
            }
        }
        let OriginatorIdentifierOrKey::OriginatorKey(originator) = &kari.originator else {
            continue;
        };
        let rid = match &encrypted.rid {
            KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(id) => {
                Identifier::from_recipient_identifier(
                    &cms::enveloped_data::RecipientIdentifier::IssuerAndSerialNumber(id.clone()),
                )?
            }
            KeyAgreeRecipientIdentifier::RKeyId(key_id) => {
                Identifier::SubjectKeyId(key_id.subject_key_identifier.0.as_bytes().to_vec())
            }
        };
        recipients.push(Recipient {
            rid,
            key_transport: kari.key_enc_alg.clone(),
            encrypted_key: encrypted.enc_key.as_bytes().to_vec(),
            agreement: Some(Box::new(Agreement {
                originator_algorithm: originator.algorithm.clone(),
                originator_point: originator.public_key.raw_bytes().to_vec(),
                ukm: kari.ukm.as_ref().map(|u| u.as_bytes().to_vec()),
            })),
            offset: info.offset,
        });
    }
    Ok(recipients)
}

/// The key-encryption algorithm's parts: the KDF hash, the key-wrap AlgorithmIdentifier
/// in DER (the SharedInfo's keyInfo) and the KEK length.
fn key_encryption(
    id: &AlgorithmIdentifierOwned,
    offset: usize,
) -> Result<(DigestAlgorithm, Vec<u8>, usize), Error> {
    let unsupported = |oid| Error::UnsupportedAlgorithm {
        kind: AlgorithmKind::KeyTransport,
        oid,
    };
    let hash = kdf_hash(&id.oid).ok_or(unsupported(id.oid))?;
    // KeyWrapAlgorithm ::= AlgorithmIdentifier (RFC 5753 §7.1.5), as the parameters.
    let bad = || Error::malformed("KeyWrapAlgorithm", offset);
    let wrap: AlgorithmIdentifierOwned = id
        .parameters
        .as_ref()
        .ok_or_else(bad)?
        .decode_as()
        .map_err(|_| bad())?;
    let kek_len = wrap_key_len(&wrap.oid).ok_or(unsupported(wrap.oid))?;
    let key_info = wrap.to_der().map_err(|_| bad())?;
    Ok((hash, key_info, kek_len))
}

/// The ANSI X9.63 KDF (SEC 1 §3.6.1) as RFC 5753 §7.2 uses it: `Hash(Z || counter ||
/// SharedInfo)` for counter = 1, 2, ... (32-bit big-endian), concatenated and cut to
/// `len` octets; SharedInfo is the DER `ECC-CMS-SharedInfo` for `key_info` and `ukm`.
fn x963_kdf(
    hash: DigestAlgorithm,
    z: &[u8],
    key_info: &[u8],
    ukm: Option<&[u8]>,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let bits = u32::try_from(len.saturating_mul(8)).unwrap_or(u32::MAX);
    let supp_pub_info = ber::encode_constructed(
        Tag::context(2, true),
        &[&ber::encode(Tag::OCTET_STRING, &bits.to_be_bytes())],
    );
    let entity_u_info = ukm.map(|ukm| {
        ber::encode_constructed(
            Tag::context(0, true),
            &[&ber::encode(Tag::OCTET_STRING, ukm)],
        )
    });
    let shared_info = ber::encode_constructed(
        Tag::SEQUENCE,
        &[
            key_info,
            entity_u_info.as_deref().unwrap_or_default(),
            &supp_pub_info,
        ],
    );
    let mut out = Zeroizing::new(Vec::with_capacity(len.saturating_add(64)));
    let mut counter = 1u32;
    while out.len() < len {
        let mut hasher = hash.hasher();
        hasher.update(z);
        hasher.update(&counter.to_be_bytes());
        hasher.update(&shared_info);
        out.extend_from_slice(&Zeroizing::new(hasher.finish()));
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// Runs `$body` with `$kw` bound to the AES key-wrap type for a KEK of `$len` octets.
macro_rules! with_key_wrap {
    ($len:expr, $kw:ident => $body:expr, $otherwise:expr) => {
        match $len {
            16 => {
                type $kw = aes_kw::KwAes128;
                $body
            }
            24 => {
                type $kw = aes_kw::KwAes192;
                $body
            }
            32 => {
                type $kw = aes_kw::KwAes256;
                $body
            }
            _ => $otherwise,
        }
    };
}

/// AES key unwrap (RFC 3394 §2.2.2) of `wrapped` with `kek`: `None` when the integrity
/// check fails or the lengths do not fit.
fn unwrap(kek: &[u8], wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use aes_kw::KeyInit;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len().checked_sub(aes_kw::IV_LEN)?]);
    let ok = with_key_wrap!(kek.len(), Kw => {
        let kw = Kw::new_from_slice(kek).ok()?;
        kw.unwrap_key(wrapped, &mut out).is_ok()
    }, false);
    ok.then_some(out)
}

/// AES key wrap (RFC 3394 §2.2.1) of `key` with `kek`.
fn wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, Error> {
    use aes_kw::KeyInit;
    let fail = || Error::EncryptionFailed("AES key wrap failed");
    let mut out = vec![0u8; key.len().saturating_add(aes_kw::IV_LEN)];
    with_key_wrap!(kek.len(), Kw => {
        let kw = Kw::new_from_slice(kek).map_err(|_| fail())?;
        kw.wrap_key(key, &mut out).map_err(|_| fail())?;
    }, return Err(fail()));
    Ok(out)
}

/// The content key that `agreement` and `wrapped` hold for our EC `key`, with the
/// keyEncryptionAlgorithm `algorithm`: `Ok(None)` for every failure that depends on the
/// sender's values or our key (bad point, another curve, a key that is not EC, an unwrap
/// that fails its integrity check); an error only for an unsupported or malformed
/// algorithm, which the envelope shows to anybody.
pub(crate) fn unwrap_key(
    agreement: &Agreement,
    algorithm: &AlgorithmIdentifierOwned,
    wrapped: &[u8],
    key: &PrivateKey,
    offset: usize,
) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
    let (hash, key_info, kek_len) = key_encryption(algorithm, offset)?;
    // The originator's curve, when named, must be ours (RFC 5753 §3.1.1: absent, NULL or
    // ECParameters). Any other parameters simply fail the point decoding below.
    let named_curve = agreement
        .originator_algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let curve_fits = |ours| named_curve.is_none_or(|named| named == ours);
    if agreement.originator_algorithm.oid != oid::EC_PUBLIC_KEY {
        return Ok(None);
    }
    let z: Option<Zeroizing<Vec<u8>>> = match key.secret() {
        SecretKey::P256(secret) if curve_fits(SECP256R1) => {
            p256::PublicKey::from_sec1_bytes(&agreement.originator_point)
                .ok()
                .map(|public| {
                    let shared =
                        p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
                    Zeroizing::new(shared.raw_secret_bytes().to_vec())
                })
        }
        SecretKey::P384(secret) if curve_fits(SECP384R1) => {
            p384::PublicKey::from_sec1_bytes(&agreement.originator_point)
                .ok()
                .map(|public| {
                    let shared =
                        p384::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
                    Zeroizing::new(shared.raw_secret_bytes().to_vec())
                })
        }
        _ => None,
    };
    let Some(z) = z else {
        return Ok(None);
    };
    let kek = x963_kdf(hash, &z, &key_info, agreement.ukm.as_deref(), kek_len);
    Ok(unwrap(&kek, wrapped))
}

/// A KeyAgreeRecipientInfo, DER and tagged `[1]` as a RecipientInfo, that gives
/// `content_key` to `cert` (an EC certificate on P-256 or P-384): a fresh ephemeral key
/// drawn from `rng`, the KDF and key wrap described in the module docs, the recipient
/// named as `options.use_subject_key_id` says.
pub(crate) fn recipient_info<R: CryptoRng + ?Sized>(
    cert: &Certificate,
    content_key: &[u8],
    options: &EncryptOptions,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let (kdf, kdf_hash) = match cert.public_key() {
        Some(PublicKey::P256(_)) => (STD_DH_SHA256_KDF, DigestAlgorithm::Sha256),
        Some(PublicKey::P384(_)) => (STD_DH_SHA384_KDF, DigestAlgorithm::Sha384),
        _ => {
            return Err(Error::EncryptionFailed(
                "recipient key is not RSA, P-256 or P-384",
            ));
        }
    };
    let (wrap_oid, kek_len) = match options.cipher {
        ContentEncryption::Aes128Cbc => (AES128_WRAP, 16),
        _ => (AES256_WRAP, 32),
    };
    let (ephemeral_point, z) = match cert.public_key() {
        Some(PublicKey::P256(public)) => {
            let ephemeral = p256::ecdh::EphemeralSecret::generate_from_rng(rng);
            let shared = ephemeral.diffie_hellman(public);
            (
                ephemeral.public_key().to_sec1_bytes().to_vec(),
                Zeroizing::new(shared.raw_secret_bytes().to_vec()),
            )
        }
        Some(PublicKey::P384(public)) => {
            let ephemeral = p384::ecdh::EphemeralSecret::generate_from_rng(rng);
            let shared = ephemeral.diffie_hellman(public);
            (
                ephemeral.public_key().to_sec1_bytes().to_vec(),
                Zeroizing::new(shared.raw_secret_bytes().to_vec()),
            )
        }
        _ => {
            return Err(Error::EncryptionFailed(
                "recipient key is not RSA, P-256 or P-384",
            ));
        }
    };
    // AES wraps have absent parameters (RFC 3565 §2.3.2).
    let wrap_id = algorithm_identifier(wrap_oid, None);
    let kek = x963_kdf(kdf_hash, &z, &wrap_id, None, kek_len);
    let wrapped = wrap(&kek, content_key)?;

    let rid = match (options.use_subject_key_id, cert.subject_key_id()) {
        // rKeyId [0] IMPLICIT RecipientKeyIdentifier { subjectKeyIdentifier }
        (true, Some(ski)) => ber::encode_constructed(
            Tag::context(0, true),
            &[&ber::encode(Tag::OCTET_STRING, ski)],
        ),
        (true, None) => {
            return Err(Error::EncryptionFailed(
                "recipient certificate has no subject key identifier",
            ));
        }
        (false, _) => cert.issuer_and_serial(),
    };
    let mut bit_string = Vec::with_capacity(ephemeral_point.len().saturating_add(1));
    bit_string.push(0); // no unused bits
    bit_string.extend_from_slice(&ephemeral_point);
    let originator_key = ber::encode_constructed(
        Tag::context(1, true),
        &[
            &algorithm_identifier(oid::EC_PUBLIC_KEY, None),
            &ber::encode(BIT_STRING, &bit_string),
        ],
    );
    let recipient_encrypted_key = ber::encode_constructed(
        Tag::SEQUENCE,
        &[&rid, &ber::encode(Tag::OCTET_STRING, &wrapped)],
    );
    Ok(ber::encode_constructed(
        Tag::context(1, true),
        &[
            &encode_uint(3),
            &ber::encode_constructed(Tag::context(0, true), &[&originator_key]),
            &algorithm_identifier(kdf, Some(&wrap_id)),
            &ber::encode_constructed(Tag::SEQUENCE, &[&recipient_encrypted_key]),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::*;
    use sha2::Digest;

    fn identity(name: &str) -> (Certificate, PrivateKey) {
        let (crt, key): (&[u8], &[u8]) = match name {
            "p256" => (
                include_bytes!("../../tests/data/keys/ec-p256.crt"),
                include_bytes!("../../tests/data/keys/ec-p256.key"),
            ),
            _ => (
                include_bytes!("../../tests/data/keys/ec-p384.crt"),
                include_bytes!("../../tests/data/keys/ec-p384.key"),
            ),
        };
        (
            Certificate::from_pem(crt).unwrap(),
            PrivateKey::from_pem(key, None).unwrap(),
        )
    }

    /// RFC 3394 §4.1 and §4.6: the 128-bit and 256-bit KEK test vectors.
    #[test]
    fn aes_key_wrap_vectors() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let data = hex("00112233445566778899AABBCCDDEEFF");
        let kek = hex("000102030405060708090A0B0C0D0E0F");
        let wrapped = hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
        assert_eq!(wrap(&kek, &data).unwrap(), wrapped);
        assert_eq!(unwrap(&kek, &wrapped).unwrap().as_slice(), data);
        let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
        let data = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        let wrapped =
            hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
        assert_eq!(wrap(&kek, &data).unwrap(), wrapped);
        assert_eq!(unwrap(&kek, &wrapped).unwrap().as_slice(), data);
        let mut damaged = wrapped.clone();
        damaged[3] ^= 1;
        assert!(unwrap(&kek, &damaged).is_none());
        assert!(unwrap(&kek, &wrapped[..7]).is_none());
        assert!(unwrap(&kek[..5], &wrapped).is_none());
    }

    /// The X9.63 KDF: SEC 1's construction, checked against a hash computed by hand, with
    /// and without ukm, and over a counter boundary.
    #[test]
    fn x963_kdf_layout() {
        let z = [7u8; 32];
        let key_info = algorithm_identifier(AES256_WRAP, None);
        let kek = x963_kdf(DigestAlgorithm::Sha256, &z, &key_info, Some(b"ukm"), 32);
        // SEQUENCE { keyInfo, [0] { OCTET STRING "ukm" }, [2] { OCTET STRING 00000100 } }
        let mut shared_info = key_info.clone();
        shared_info.extend_from_slice(&[0xa0, 5, 0x04, 3, b'u', b'k', b'm']);
        shared_info.extend_from_slice(&[0xa2, 6, 0x04, 4, 0, 0, 1, 0]);
        let shared_info = [vec![0x30, shared_info.len() as u8], shared_info].concat();
        let expected = sha2::Sha256::digest([&z[..], &[0, 0, 0, 1], &shared_info].concat());
        assert_eq!(kek.as_slice(), expected.as_slice());
        // Two hash blocks, the second with counter 2.
        let long = x963_kdf(DigestAlgorithm::Sha1, &z, &key_info, None, 24);
        assert_eq!(long.len(), 24);
        let mut shared_info = key_info.clone();
        shared_info.extend_from_slice(&[0xa2, 6, 0x04, 4, 0, 0, 0, 192]);
        let shared_info = [vec![0x30, shared_info.len() as u8], shared_info].concat();
        let second = sha1::Sha1::digest([&z[..], &[0, 0, 0, 2], &shared_info].concat());
        assert_eq!(&long[20..], &second[..4]);
    }

    /// A RecipientInfo we write reads back and unwraps with the recipient's key, for both
    /// curves and both wraps, and the same random source gives the same bytes.
    #[test]
    fn recipient_info_round_trip() {
        let limits = crate::Limits::default();
        for name in ["p256", "p384"] {
            let (cert, key) = identity(name);
            for (cipher, use_ski) in [
                (ContentEncryption::Aes128Cbc, false),
                (ContentEncryption::Aes256Cbc, true),
            ] {
                let options = EncryptOptions {
                    cipher,
                    use_subject_key_id: use_ski,
                    ..EncryptOptions::default()
                };
                let content_key = vec![0x5a; cipher.key_len()];
                let info = recipient_info(
                    &cert,
                    &content_key,
                    &options,
                    &mut ChaCha20Rng::seed_from_u64(1),
                )
                .unwrap();
                let again = recipient_info(
                    &cert,
                    &content_key,
                    &options,
                    &mut ChaCha20Rng::seed_from_u64(1),
                )
                .unwrap();
                assert_eq!(info, again);
                let tlv = ber::Reader::new(&info, &limits).read("t").unwrap();
                let mut count = 1;
                let recipients = parse(&tlv, &mut count, &limits).unwrap();
                assert_eq!((recipients.len(), count), (1, 1));
                let r = &recipients[0];
                assert!(cert.matches(&r.rid));
                let agreement = r.agreement.as_deref().unwrap();
                let unwrapped =
                    unwrap_key(agreement, &r.key_transport, &r.encrypted_key, &key, 0).unwrap();
                assert_eq!(unwrapped.unwrap().as_slice(), content_key);
                // The other curve's key gets nothing.
                let (_, other) = identity(if name == "p256" { "p384" } else { "p256" });
                assert!(
                    unwrap_key(agreement, &r.key_transport, &r.encrypted_key, &other, 0)
                        .unwrap()
                        .is_none()
                );
            }
        }
    }
}
