//! Algorithm identifiers used in CMS: digests, RSA and ECDSA signature schemes, content
//! ciphers and RSA key transport, with the parsing of their parameters (RFC 3370, RFC 4055,
//! RFC 4056, RFC 5753, RFC 5758, RFC 8017).

use core::fmt;

use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode, Tagged};
use rsa::pkcs1::{RsaOaepParamsOwned, RsaPssParamsOwned, TrailerField};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;

use super::ber::{self, Tag, Tlv};
use super::oid;
use crate::error::{AlgorithmKind, Error};

/// A message digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-1: accepted for interop; never a default.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// Every supported digest.
    pub const ALL: [DigestAlgorithm; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oid::SHA1,
            Self::Sha256 => oid::SHA256,
            Self::Sha384 => oid::SHA384,
            Self::Sha512 => oid::SHA512,
        }
    }

    /// The digest with this object identifier, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.oid() == *oid)
    }

    /// The digest named by a `shaNWithRSAEncryption` signature identifier.
    fn from_rsa_signature_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.rsa_signature_oid() == *oid)
    }

    /// The digest named by an `ecdsa-with-SHAn` signature identifier.
    fn from_ecdsa_signature_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.ecdsa_signature_oid() == *oid)
    }

    /// The `ecdsa-with-SHAn` identifier for this digest (RFC 5758 §3.2, RFC 3279 §2.2.3).
    pub fn ecdsa_signature_oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oid::ECDSA_WITH_SHA1,
            Self::Sha256 => oid::ECDSA_WITH_SHA256,
            Self::Sha384 => oid::ECDSA_WITH_SHA384,
            Self::Sha512 => oid::ECDSA_WITH_SHA512,
        }
    }

    /// The `shaNWithRSAEncryption` identifier for this digest.
    pub fn rsa_signature_oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oid::SHA1_WITH_RSA,
            Self::Sha256 => oid::SHA256_WITH_RSA,
            Self::Sha384 => oid::SHA384_WITH_RSA,
            Self::Sha512 => oid::SHA512_WITH_RSA,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The name used in AS2 `micalg` parameters and MIC fields (`sha-256` style, RFC 5751).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    /// Digests `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }

    /// An incremental hasher.
    pub fn hasher(self) -> Hasher {
        Hasher(match self {
            Self::Sha1 => HasherState::Sha1(Sha1::new()),
            Self::Sha256 => HasherState::Sha256(Sha256::new()),
            Self::Sha384 => HasherState::Sha384(Sha384::new()),
            Self::Sha512 => HasherState::Sha512(Sha512::new()),
        })
    }

    /// The encoded AlgorithmIdentifier (parameters absent, as RFC 5754 prefers).
    pub(crate) fn algorithm_identifier(self) -> Vec<u8> {
        algorithm_identifier(self.oid(), None)
    }

    /// Reads a digest AlgorithmIdentifier.
    pub(crate) fn parse(tlv: &Tlv<'_>) -> Result<Self, Error> {
        Self::from_identifier(&decode_identifier(tlv, "digestAlgorithm")?)
    }

    /// The digest a decoded AlgorithmIdentifier names (its parameters, absent or NULL,
    /// are not looked at).
    pub(crate) fn from_identifier(id: &AlgorithmIdentifierOwned) -> Result<Self, Error> {
        Self::from_oid(&id.oid).ok_or(Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::Digest,
            oid: id.oid,
        })
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An incremental digest computation (see [`DigestAlgorithm::hasher`]).
#[derive(Clone, Debug)]
pub struct Hasher(HasherState);

#[derive(Clone, Debug)]
enum HasherState {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            HasherState::Sha1(h) => h.update(data),
            HasherState::Sha256(h) => h.update(data),
            HasherState::Sha384(h) => h.update(data),
            HasherState::Sha512(h) => h.update(data),
        }
    }

    /// Returns the digest.
    pub fn finish(self) -> Vec<u8> {
        match self.0 {
            HasherState::Sha1(h) => h.finalize().to_vec(),
            HasherState::Sha256(h) => h.finalize().to_vec(),
            HasherState::Sha384(h) => h.finalize().to_vec(),
            HasherState::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// The RSA signature scheme to use when signing. An EC key always signs with ECDSA: the
/// default [`Pkcs1v15`](Self::Pkcs1v15) stands for "the key's usual scheme" there, and
/// [`Pss`](Self::Pss) with an EC key is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 (what nearly every AS2 product expects).
    #[default]
    Pkcs1v15,
    /// RSASSA-PSS (RFC 4056) with MGF1 over the same digest and a salt as long as the digest.
    Pss,
}

/// The signature algorithm a SignerInfo declared, as verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5, declared as `rsaEncryption` or `shaNWithRSAEncryption`.
    RsaPkcs1v15,
    /// RSASSA-PSS with the declared parameters.
    RsaPss {
        /// Hash used for the message and for MGF1.
        hash: DigestAlgorithm,
        /// Declared salt length in bytes.
        salt_len: usize,
    },
    /// ECDSA (RFC 5753 §2.1.1), declared as `ecdsa-with-SHAn` (RFC 5758 §3.2) or, as some
    /// products write it, `id-ecPublicKey`; the digest is the SignerInfo's.
    Ecdsa,
}

impl SignatureAlgorithm {
    /// Reads a SignerInfo's signatureAlgorithm, checking it is consistent with the
    /// SignerInfo's digest algorithm.
    pub(crate) fn parse(tlv: &Tlv<'_>, digest: DigestAlgorithm) -> Result<Self, Error> {
        let id = decode_identifier(tlv, "signatureAlgorithm")?;
        Self::from_identifier(&id, digest, tlv.offset)
    }

    /// [`Self::parse`] on a decoded AlgorithmIdentifier; `offset` is where it was read,
    /// for errors.
    pub(crate) fn from_identifier(
        id: &AlgorithmIdentifierOwned,
        digest: DigestAlgorithm,
        offset: usize,
    ) -> Result<Self, Error> {
        let unsupported = || Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::Signature,
            oid: id.oid,
        };
        if id.oid == oid::RSA_ENCRYPTION {
            return Ok(Self::RsaPkcs1v15);
        }
        if let Some(d) = DigestAlgorithm::from_ecdsa_signature_oid(&id.oid) {
            // RFC 5758 §3.2: the parameters are absent (NULL is tolerated, as for the
            // digests); the hash must be the SignerInfo's.
            let absent = id
                .parameters
                .as_ref()
                .is_none_or(|p| p.tag() == der::Tag::Null);
            if d != digest || !absent {
                return Err(Error::malformed("signatureAlgorithm", offset));
            }
            return Ok(Self::Ecdsa);
        }
        if id.oid == oid::EC_PUBLIC_KEY {
            return Ok(Self::Ecdsa);
        }
        if let Some(d) = DigestAlgorithm::from_rsa_signature_oid(&id.oid) {
            // A shaNWithRSA identifier that contradicts the digest algorithm is malformed.
            if d != digest {
                return Err(Error::malformed("signatureAlgorithm", offset));
            }
            return Ok(Self::RsaPkcs1v15);
        }
        if id.oid == oid::RSASSA_PSS {
            let bad = || Error::malformed("RSASSA-PSS-params", offset);
            let params: RsaPssParamsOwned = id
                .parameters
                .as_ref()
                .ok_or_else(bad)?
                .decode_as()
                .map_err(|_| bad())?;
            let hash = DigestAlgorithm::from_identifier(&params.hash)?;
            let mgf_hash = mgf1_hash(&params.mask_gen, offset)?;
            if mgf_hash != hash || params.trailer_field != TrailerField::BC {
                return Err(unsupported());
            }
            return Ok(Self::RsaPss {
                hash,
                salt_len: usize::from(params.salt_len),
            });
        }
        Err(unsupported())
    }

    /// The encoded AlgorithmIdentifier for an ECDSA signature with `digest`:
    /// `ecdsa-with-SHAn`, parameters absent (RFC 5758 §3.2, RFC 5753 §2.1.1).
    pub(crate) fn ecdsa_identifier(digest: DigestAlgorithm) -> Vec<u8> {
        algorithm_identifier(digest.ecdsa_signature_oid(), None)
    }

    /// Whether a key of kind `key` makes signatures of this algorithm.
    pub(crate) fn fits(self, key: crate::cert::KeyAlgorithm) -> bool {
        match self {
            Self::RsaPkcs1v15 | Self::RsaPss { .. } => key == crate::cert::KeyAlgorithm::Rsa,
            Self::Ecdsa => key.is_ec(),
        }
    }

    /// The encoded AlgorithmIdentifier for signing with `scheme` and `digest`.
    pub(crate) fn identifier_for(scheme: SignatureScheme, digest: DigestAlgorithm) -> Vec<u8> {
        match scheme {
            // rsaEncryption with NULL parameters: what OpenSSL and most AS2 products write
            // and every verifier accepts.
            SignatureScheme::Pkcs1v15 => algorithm_identifier(oid::RSA_ENCRYPTION, Some(NULL)),
            SignatureScheme::Pss => {
                let params = pss_params(digest, digest.output_len());
                algorithm_identifier(oid::RSASSA_PSS, Some(&params))
            }
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RsaPkcs1v15 => f.write_str("RSASSA-PKCS1-v1_5"),
            Self::RsaPss { hash, salt_len } => write!(f, "RSASSA-PSS({hash}, salt {salt_len})"),
            Self::Ecdsa => f.write_str("ECDSA"),
        }
    }
}

/// A symmetric content-encryption algorithm.
///
/// The CBC ciphers go into EnvelopedData (RFC 5652 §6); the authenticated ones (AES-GCM
/// and AES-CCM, RFC 5084) into AuthEnvelopedData (RFC 5083), which the writers pick from
/// the cipher ([`is_authenticated`](Self::is_authenticated)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentEncryption {
    /// AES-128 in CBC mode.
    Aes128Cbc,
    /// AES-192 in CBC mode.
    Aes192Cbc,
    /// AES-256 in CBC mode (the default).
    #[default]
    Aes256Cbc,
    /// Triple-DES (EDE, three keys) in CBC mode: legacy, never a default.
    TripleDesCbc,
    /// AES-128 in GCM mode (RFC 5084 §3.2), in AuthEnvelopedData.
    Aes128Gcm,
    /// AES-256 in GCM mode (RFC 5084 §3.2), in AuthEnvelopedData.
    Aes256Gcm,
    /// AES-128 in CCM mode (RFC 5084 §3.1), in AuthEnvelopedData; needs the content
    /// length before the first octet (no compression, the payload length announced).
    Aes128Ccm,
    /// AES-256 in CCM mode (RFC 5084 §3.1), in AuthEnvelopedData; needs the content
    /// length before the first octet (no compression, the payload length announced).
    Aes256Ccm,
}

/// The parameters of a content-encryption algorithm as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CipherParams {
    /// A CBC initialisation vector.
    Iv(Vec<u8>),
    /// `GCMParameters` / `CCMParameters` (RFC 5084): the nonce and the tag length.
    Aead { nonce: Vec<u8>, tag_len: usize },
}

impl ContentEncryption {
    /// Every supported cipher.
    pub const ALL: [ContentEncryption; 8] = [
        Self::Aes128Cbc,
        Self::Aes192Cbc,
        Self::Aes256Cbc,
        Self::TripleDesCbc,
        Self::Aes128Gcm,
        Self::Aes256Gcm,
        Self::Aes128Ccm,
        Self::Aes256Ccm,
    ];

    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Aes128Cbc => oid::AES128_CBC,
            Self::Aes192Cbc => oid::AES192_CBC,
            Self::Aes256Cbc => oid::AES256_CBC,
            Self::TripleDesCbc => oid::DES_EDE3_CBC,
            Self::Aes128Gcm => oid::AES128_GCM,
            Self::Aes256Gcm => oid::AES256_GCM,
            Self::Aes128Ccm => oid::AES128_CCM,
            Self::Aes256Ccm => oid::AES256_CCM,
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc | Self::Aes128Gcm | Self::Aes128Ccm => 16,
            Self::Aes192Cbc | Self::TripleDesCbc => 24,
            Self::Aes256Cbc | Self::Aes256Gcm | Self::Aes256Ccm => 32,
        }
    }

    /// Block length in bytes (and the IV length of the CBC ciphers).
    pub fn block_len(self) -> usize {
        match self {
            Self::TripleDesCbc => 8,
            _ => 16,
        }
    }

    /// Whether this is an authenticated (AEAD) cipher, written as AuthEnvelopedData: the
    /// content cannot be altered without the tag failing.
    pub fn is_authenticated(self) -> bool {
        matches!(
            self,
            Self::Aes128Gcm | Self::Aes256Gcm | Self::Aes128Ccm | Self::Aes256Ccm
        )
    }

    /// The name the reference service uses (`AES256_CBC`, `3DES`, ...; `AES128_GCM` and
    /// the like for the authenticated ciphers).
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128Cbc => "AES128_CBC",
            Self::Aes192Cbc => "AES192_CBC",
            Self::Aes256Cbc => "AES256_CBC",
            Self::TripleDesCbc => "3DES",
            Self::Aes128Gcm => "AES128_GCM",
            Self::Aes256Gcm => "AES256_GCM",
            Self::Aes128Ccm => "AES128_CCM",
            Self::Aes256Ccm => "AES256_CCM",
        }
    }

    /// Reads a CBC contentEncryptionAlgorithm and its IV. An authenticated cipher is
    /// [`Error::UnsupportedAlgorithm`] here (see [`Self::parse_params`]).
    pub(crate) fn parse(tlv: &Tlv<'_>) -> Result<(Self, Vec<u8>), Error> {
        match Self::parse_params(tlv)? {
            (alg, CipherParams::Iv(iv)) => Ok((alg, iv)),
            (alg, CipherParams::Aead { .. }) => Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentEncryption,
                oid: alg.oid(),
            }),
        }
    }

    /// Reads a contentEncryptionAlgorithm with its parameters: the IV of a CBC cipher,
    /// `GCMParameters`/`CCMParameters` of an authenticated one (RFC 5084 §3: the nonce,
    /// 12 octets for GCM and 7 to 13 for CCM; `aes-ICVlen`, default 12, which must be 12
    /// to 16 for GCM and 12, 14 or 16 for CCM: shorter tags are refused as too weak).
    pub(crate) fn parse_params(tlv: &Tlv<'_>) -> Result<(Self, CipherParams), Error> {
        let id = decode_identifier(tlv, "contentEncryptionAlgorithm")?;
        Self::params_from_identifier(&id, tlv.offset)
    }

    /// The CBC cipher a decoded AlgorithmIdentifier names, and its IV; `offset` is where
    /// the identifier was read, for errors. An authenticated cipher is
    /// [`Error::UnsupportedAlgorithm`] here.
    pub(crate) fn from_identifier(
        id: &AlgorithmIdentifierOwned,
        offset: usize,
    ) -> Result<(Self, Vec<u8>), Error> {
        match Self::params_from_identifier(id, offset)? {
            (alg, CipherParams::Iv(iv)) => Ok((alg, iv)),
            (alg, CipherParams::Aead { .. }) => Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentEncryption,
                oid: alg.oid(),
            }),
        }
    }

    /// The cipher a decoded AlgorithmIdentifier names, and its parameters; `offset` is
    /// where the identifier was read, for errors.
    pub(crate) fn params_from_identifier(
        id: &AlgorithmIdentifierOwned,
        offset: usize,
    ) -> Result<(Self, CipherParams), Error> {
        let alg = Self::ALL.into_iter().find(|c| c.oid() == id.oid).ok_or(
            Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentEncryption,
                oid: id.oid,
            },
        )?;
        if alg.is_authenticated() {
            let bad = || Error::malformed("GCMParameters/CCMParameters", offset);
            let params = id
                .parameters
                .as_ref()
                .ok_or_else(bad)?
                .to_der()
                .map_err(|_| bad())?;
            let limits = crate::Limits::default();
            let seq = ber::Reader::new(&params, &limits).read("AEAD parameters")?;
            if seq.tag != Tag::SEQUENCE {
                return Err(bad());
            }
            let mut r = seq.children("AEAD parameters")?;
            let nonce = r
                .expect(Tag::OCTET_STRING, "aes-nonce")
                .map_err(|_| bad())?;
            let tag_len = match r
                .read_optional(Tag::INTEGER, "aes-ICVlen")
                .map_err(|_| bad())?
            {
                None => 12,
                Some(n) => match n.contents {
                    [n] => usize::from(*n),
                    _ => return Err(bad()),
                },
            };
            r.finish("AEAD parameters").map_err(|_| bad())?;
            let nonce = nonce.contents.to_vec();
            if !super::aead::nonce_len_ok(alg, nonce.len())
                || !super::aead::tag_len_ok(alg, tag_len)
            {
                return Err(bad());
            }
            return Ok((alg, CipherParams::Aead { nonce, tag_len }));
        }
        let bad = || Error::malformed("content-encryption IV", offset);
        let iv: OctetString = id
            .parameters
            .as_ref()
            .ok_or_else(bad)?
            .decode_as()
            .map_err(|_| bad())?;
        if iv.as_bytes().len() != alg.block_len() {
            return Err(bad());
        }
        Ok((alg, CipherParams::Iv(iv.as_bytes().to_vec())))
    }

    /// The encoded contentEncryptionAlgorithm for `params` (the IV, or `GCMParameters` /
    /// `CCMParameters` with `aes-ICVlen` written out).
    pub(crate) fn algorithm_identifier(self, params: &CipherParams) -> Vec<u8> {
        let encoded = match params {
            CipherParams::Iv(iv) => ber::encode(Tag::OCTET_STRING, iv),
            CipherParams::Aead { nonce, tag_len } => ber::encode_constructed(
                Tag::SEQUENCE,
                &[
                    &ber::encode(Tag::OCTET_STRING, nonce),
                    &encode_uint(*tag_len as u64),
                ],
            ),
        };
        algorithm_identifier(self.oid(), Some(&encoded))
    }
}

impl fmt::Display for ContentEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the content-encryption key is transported to a recipient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyTransport {
    /// RSAES-PKCS1-v1_5 (the default: what every AS2 product can read).
    #[default]
    RsaPkcs1v15,
    /// RSAES-OAEP with the given hash for both the label and MGF1, parameters written
    /// explicitly (RFC 4055).
    RsaOaep(DigestAlgorithm),
}

/// RSAES-OAEP parameters as declared by a sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OaepParams {
    pub hash: DigestAlgorithm,
    pub mgf_hash: DigestAlgorithm,
}

/// A key-transport algorithm as read from a RecipientInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyTransportParams {
    Pkcs1v15,
    Oaep(OaepParams, Vec<u8>),
}

impl KeyTransport {
    pub(crate) fn algorithm_identifier(self) -> Vec<u8> {
        match self {
            Self::RsaPkcs1v15 => algorithm_identifier(oid::RSA_ENCRYPTION, Some(NULL)),
            Self::RsaOaep(hash) => {
                let hash_id = hash_identifier(hash);
                let mgf = algorithm_identifier(oid::MGF1, Some(&hash_id));
                let params = ber::encode_constructed(
                    Tag::SEQUENCE,
                    &[
                        &ber::encode_constructed(Tag::context(0, true), &[&hash_id]),
                        &ber::encode_constructed(Tag::context(1, true), &[&mgf]),
                    ],
                );
                algorithm_identifier(oid::RSAES_OAEP, Some(&params))
            }
        }
    }

    /// Reads a keyEncryptionAlgorithm decoded with the KeyTransRecipientInfo; `offset` is
    /// where that was read, for errors.
    pub(crate) fn from_identifier(
        id: &AlgorithmIdentifierOwned,
        offset: usize,
    ) -> Result<KeyTransportParams, Error> {
        if id.oid == oid::RSA_ENCRYPTION {
            return Ok(KeyTransportParams::Pkcs1v15);
        }
        if id.oid != oid::RSAES_OAEP {
            return Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::KeyTransport,
                oid: id.oid,
            });
        }
        // Absent or NULL parameters: every field at its default (SHA-1, MGF1 with SHA-1,
        // an empty label).
        let params: RsaOaepParamsOwned =
            match id.parameters.as_ref().filter(|p| p.tag() != der::Tag::Null) {
                None => RsaOaepParamsOwned::default(),
                Some(p) => p
                    .decode_as()
                    .map_err(|_| Error::malformed("RSAES-OAEP-params", offset))?,
            };
        let hash = DigestAlgorithm::from_identifier(&params.hash)?;
        let mgf_hash = mgf1_hash(&params.mask_gen, offset)?;
        if params.p_source.oid != oid::P_SPECIFIED {
            return Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::KeyTransport,
                oid: params.p_source.oid,
            });
        }
        let label = match &params.p_source.parameters {
            None => Vec::new(),
            Some(p) => p
                .decode_as::<OctetString>()
                .map_err(|_| Error::malformed("pSpecified label", offset))?
                .as_bytes()
                .to_vec(),
        };
        Ok(KeyTransportParams::Oaep(
            OaepParams { hash, mgf_hash },
            label,
        ))
    }
}

/// The DER encoding of NULL.
pub(crate) const NULL: &[u8] = &[0x05, 0x00];

/// Decodes an AlgorithmIdentifier (RFC 5280 §4.1.1.2) framed by the BER reader, with
/// `spki`: BER forms (indefinite lengths, chunked strings in the parameters) are first
/// brought to DER.
pub(crate) fn decode_identifier(
    tlv: &Tlv<'_>,
    what: &'static str,
) -> Result<AlgorithmIdentifierOwned, Error> {
    let bad = || Error::malformed(what, tlv.offset);
    if tlv.tag != Tag::SEQUENCE {
        return Err(bad());
    }
    let mut der = tlv.to_der()?;
    // An IMPLICIT `[n] AlgorithmIdentifier` read as a SEQUENCE (`Tlv::retagged`) still has
    // its `[n]` identifier in the received bytes: the SEQUENCE is written afresh.
    if der.first() != Some(&0x30) {
        let limits = crate::Limits::default();
        let contents = ber::Reader::new(&der, &limits).read(what)?.contents;
        der = std::borrow::Cow::Owned(ber::encode(Tag::SEQUENCE, contents));
    }
    AlgorithmIdentifierOwned::from_der(&der).map_err(|_| bad())
}

/// Whether two AlgorithmIdentifiers are the same: same OID, and same parameters, where
/// absent and NULL parameters count as equal (products differ on this for SHA-2).
pub(crate) fn same_algorithm(a: &AlgorithmIdentifierOwned, b: &AlgorithmIdentifierOwned) -> bool {
    let params = |id: &AlgorithmIdentifierOwned| {
        id.parameters
            .as_ref()
            .filter(|p| p.tag() != der::Tag::Null)
            .and_then(|p| p.to_der().ok())
    };
    a.oid == b.oid && params(a) == params(b)
}

/// The hash of an MGF1 mask generation function (RFC 8017 appendix B.2.1), as PSS and
/// OAEP parameters name it.
fn mgf1_hash(
    mgf: &spki::AlgorithmIdentifier<AlgorithmIdentifierOwned>,
    offset: usize,
) -> Result<DigestAlgorithm, Error> {
    if mgf.oid != oid::MGF1 {
        return Err(Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::Signature,
            oid: mgf.oid,
        });
    }
    let hash = mgf
        .parameters
        .as_ref()
        .ok_or(Error::malformed("MGF1 parameters", offset))?;
    DigestAlgorithm::from_identifier(hash)
}

/// Encodes an AlgorithmIdentifier.
pub(crate) fn algorithm_identifier(oid: ObjectIdentifier, params: Option<&[u8]>) -> Vec<u8> {
    let oid = ber::encode(Tag::OID, oid.as_bytes());
    match params {
        Some(p) => ber::encode_constructed(Tag::SEQUENCE, &[&oid, p]),
        None => ber::encode_constructed(Tag::SEQUENCE, &[&oid]),
    }
}

/// A hash AlgorithmIdentifier inside PSS/OAEP parameters. SHA-1 gets NULL parameters and
/// SHA-2 none, as RFC 5754 prefers (OpenSSL writes NULL for both; verifiers accept
/// either).
fn hash_identifier(hash: DigestAlgorithm) -> Vec<u8> {
    match hash {
        DigestAlgorithm::Sha1 => algorithm_identifier(hash.oid(), Some(NULL)),
        _ => algorithm_identifier(hash.oid(), None),
    }
}

/// RSASSA-PSS-params, written explicitly (hash, MGF1 and salt length).
fn pss_params(hash: DigestAlgorithm, salt_len: usize) -> Vec<u8> {
    let hash_id = hash_identifier(hash);
    let mgf = algorithm_identifier(oid::MGF1, Some(&hash_id));
    let salt = encode_uint(salt_len as u64);
    ber::encode_constructed(
        Tag::SEQUENCE,
        &[
            &ber::encode_constructed(Tag::context(0, true), &[&hash_id]),
            &ber::encode_constructed(Tag::context(1, true), &[&mgf]),
            &ber::encode_constructed(Tag::context(2, true), &[&salt]),
        ],
    )
}

/// Encodes a non-negative INTEGER.
pub(crate) fn encode_uint(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut contents = Vec::with_capacity(9);
    if bytes.get(skip).is_some_and(|b| b & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(bytes.get(skip..).unwrap_or_default());
    ber::encode(Tag::INTEGER, &contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn read(der: &[u8]) -> Tlv<'_> {
        // Leaked limits are fine in tests; the reader copies what it needs.
        ber::Reader::new(der, &Limits::default()).read("t").unwrap()
    }

    fn key_transport(der: &[u8]) -> Result<KeyTransportParams, Error> {
        let id = decode_identifier(&read(der), "keyEncryptionAlgorithm")?;
        KeyTransport::from_identifier(&id, 0)
    }

    #[test]
    fn pss_params_round_trip() {
        for d in DigestAlgorithm::ALL {
            let id = SignatureAlgorithm::identifier_for(SignatureScheme::Pss, d);
            assert_eq!(
                SignatureAlgorithm::parse(&read(&id), d).unwrap(),
                SignatureAlgorithm::RsaPss {
                    hash: d,
                    salt_len: d.output_len()
                }
            );
        }
    }

    #[test]
    fn pss_defaults_are_sha1_salt_20() {
        // RSASSA-PSS with an empty parameter SEQUENCE.
        let id = algorithm_identifier(oid::RSASSA_PSS, Some(&[0x30, 0x00]));
        assert_eq!(
            SignatureAlgorithm::parse(&read(&id), DigestAlgorithm::Sha1).unwrap(),
            SignatureAlgorithm::RsaPss {
                hash: DigestAlgorithm::Sha1,
                salt_len: 20
            }
        );
    }

    #[test]
    fn oaep_params_round_trip() {
        for d in DigestAlgorithm::ALL {
            let id = KeyTransport::RsaOaep(d).algorithm_identifier();
            assert_eq!(
                key_transport(&id).unwrap(),
                KeyTransportParams::Oaep(
                    OaepParams {
                        hash: d,
                        mgf_hash: d
                    },
                    vec![]
                )
            );
        }
    }

    #[test]
    fn contradicting_signature_oid_is_malformed() {
        let id = algorithm_identifier(oid::SHA1_WITH_RSA, Some(NULL));
        assert!(SignatureAlgorithm::parse(&read(&id), DigestAlgorithm::Sha256).is_err());
        assert_eq!(
            SignatureAlgorithm::parse(&read(&id), DigestAlgorithm::Sha1).unwrap(),
            SignatureAlgorithm::RsaPkcs1v15
        );
    }

    /// ecdsa-with-SHAn: written with absent parameters and read back; NULL tolerated;
    /// other parameters, or a hash that contradicts the digest algorithm, malformed;
    /// id-ecPublicKey read as ECDSA with the SignerInfo's digest.
    #[test]
    fn ecdsa_identifiers() {
        for d in DigestAlgorithm::ALL {
            let id = SignatureAlgorithm::ecdsa_identifier(d);
            assert_eq!(id[1] as usize, id.len() - 2);
            assert_eq!(
                SignatureAlgorithm::parse(&read(&id), d).unwrap(),
                SignatureAlgorithm::Ecdsa
            );
            let with_null = algorithm_identifier(d.ecdsa_signature_oid(), Some(NULL));
            assert_eq!(
                SignatureAlgorithm::parse(&read(&with_null), d).unwrap(),
                SignatureAlgorithm::Ecdsa
            );
            let with_params = algorithm_identifier(d.ecdsa_signature_oid(), Some(&[4, 0]));
            assert!(matches!(
                SignatureAlgorithm::parse(&read(&with_params), d),
                Err(Error::Malformed { .. })
            ));
            let other = if d == DigestAlgorithm::Sha256 {
                DigestAlgorithm::Sha384
            } else {
                DigestAlgorithm::Sha256
            };
            assert!(matches!(
                SignatureAlgorithm::parse(&read(&id), other),
                Err(Error::Malformed { .. })
            ));
        }
        let ec_public_key = algorithm_identifier(oid::EC_PUBLIC_KEY, None);
        assert_eq!(
            SignatureAlgorithm::parse(&read(&ec_public_key), DigestAlgorithm::Sha512).unwrap(),
            SignatureAlgorithm::Ecdsa
        );
        assert_eq!(
            SignatureAlgorithm::ecdsa_identifier(DigestAlgorithm::Sha256),
            [
                0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02
            ]
        );
    }

    /// BER forms a partner may send (indefinite lengths, a chunked IV) decode as their DER
    /// equivalents.
    #[test]
    fn ber_identifiers_decode() {
        // SEQUENCE (indefinite) { OID aes128-CBC, OCTET STRING (constructed) { 8 + 8 } }
        let mut ber = vec![0x30, 0x80];
        ber.extend_from_slice(&ber::encode(Tag::OID, oid::AES128_CBC.as_bytes()));
        ber.extend_from_slice(&[0x24, 0x80, 0x04, 0x08]);
        ber.extend_from_slice(&[1; 8]);
        ber.extend_from_slice(&[0x04, 0x08]);
        ber.extend_from_slice(&[2; 8]);
        ber.extend_from_slice(&[0, 0, 0, 0]);
        let (cipher, iv) = ContentEncryption::parse(&read(&ber)).unwrap();
        assert_eq!(cipher, ContentEncryption::Aes128Cbc);
        assert_eq!(iv, [[1u8; 8], [2u8; 8]].concat());
        // The wrong IV length, and no IV, are malformed.
        let short = algorithm_identifier(oid::AES128_CBC, Some(&[0x04, 0x01, 0]));
        assert!(matches!(
            ContentEncryption::parse(&read(&short)),
            Err(Error::Malformed { .. })
        ));
        let absent = algorithm_identifier(oid::AES128_CBC, None);
        assert!(matches!(
            ContentEncryption::parse(&read(&absent)),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn unsupported_algorithms_are_named() {
        let md5 = algorithm_identifier("1.2.840.113549.2.5".parse().unwrap(), Some(NULL));
        assert!(matches!(
            DigestAlgorithm::parse(&read(&md5)),
            Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::Digest,
                ..
            })
        ));
        // OAEP with pSourceFunc other than pSpecified.
        let hash_id = hash_identifier(DigestAlgorithm::Sha256);
        let other = algorithm_identifier("1.2.3.4".parse().unwrap(), None);
        let params = ber::encode_constructed(
            Tag::SEQUENCE,
            &[
                &ber::encode_constructed(Tag::context(0, true), &[&hash_id]),
                &ber::encode_constructed(Tag::context(2, true), &[&other]),
            ],
        );
        let id = algorithm_identifier(oid::RSAES_OAEP, Some(&params));
        assert!(matches!(
            key_transport(&id),
            Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::KeyTransport,
                ..
            })
        ));
        // OAEP with NULL parameters: the SHA-1 defaults.
        let id = algorithm_identifier(oid::RSAES_OAEP, Some(NULL));
        assert_eq!(
            key_transport(&id).unwrap(),
            KeyTransportParams::Oaep(
                OaepParams {
                    hash: DigestAlgorithm::Sha1,
                    mgf_hash: DigestAlgorithm::Sha1
                },
                vec![]
            )
        );
    }

    #[test]
    fn integers() {
        assert_eq!(encode_uint(0), [2, 1, 0]);
        assert_eq!(encode_uint(32), [2, 1, 32]);
        assert_eq!(encode_uint(128), [2, 2, 0, 128]);
        assert_eq!(encode_uint(256), [2, 2, 1, 0]);
    }
}
