//! SignedData (RFC 5652 §5): detached signatures for `multipart/signed`, and encapsulated
//! ("opaque") signatures.
//!
//! Signing writes content-type, message-digest, signing-time (from the caller's `now`) and,
//! unless switched off, the RFC 6211 CMSAlgorithmProtection attribute. Verification hashes
//! the signed attributes exactly as received (re-tagged from `[0]` to `SET`), checks every
//! attribute it understands, and accepts what real products send: `rsaEncryption` or
//! `shaNWithRSAEncryption` identifiers, PSS with any declared hash and salt length (MGF1
//! over the same hash, which is what every product writes), ECDSA on P-256 and P-384
//! (`ecdsa-with-SHAn` or `id-ecPublicKey`, RFC 5753 §2.1), and signatures without signed
//! attributes. The signature algorithm must fit the signer's key (an RSA algorithm with an
//! EC key, or ECDSA with an RSA key, is refused with
//! [`VerificationError::KeyAlgorithmMismatch`]).
//!
//! # ECDSA
//!
//! Signing uses RFC 6979 nonces hedged with 32 or 48 octets from the caller's random
//! source (RFC 6979 §3.6 "additional data", `ecdsa`'s `sign_prehash_with_rng`): the same
//! random source gives the same signature, and a weak one still gives distinct nonces.
//! The streaming builder announces the signature's length before signing, so every DER
//! `Ecdsa-Sig-Value` is made with one length (71 octets on P-256, 103 on P-384): `s` is
//! taken in its low form (`s <= n/2`, replacing `s` by `n - s`, which verifies as well)
//! with a non-zero first octet, and `r` with its top bit set (so its INTEGER has a leading
//! zero); a nonce that gives another length (about half of them, mostly for `r`) is drawn
//! again. These choices depend only on the public signature, so they reveal nothing that
//! anybody holding signatures could not select themselves. Verification accepts high and
//! low `s` alike (ECDSA in CMS has no low-S rule and other implementations produce both)
//! and refuses any value that is not strict DER with `0 < r, s < n`.

use std::borrow::Cow;
use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode};
use rand_core::CryptoRng;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pss::Pss;
use rsa::traits::PublicKeyParts;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;

use super::algorithm::{
    DigestAlgorithm, SignatureAlgorithm, SignatureScheme, encode_uint, same_algorithm,
};
use super::ber::{self, Tag, Tlv};
use super::{ContentType, oid};
use crate::cert::{Certificate, Identifier, PrivateKey, PublicKey, SecretKey};
use crate::error::{Error, VerificationError};
use crate::limits::{Limit, Limits};

/// Runs `$body` with `$d` bound to the digest type for `$alg`.
macro_rules! with_digest {
    ($alg:expr, $d:ident => $body:expr) => {
        match $alg {
            DigestAlgorithm::Sha1 => {
                type $d = Sha1;
                $body
            }
            DigestAlgorithm::Sha256 => {
                type $d = Sha256;
                $body
            }
            DigestAlgorithm::Sha384 => {
                type $d = Sha384;
                $body
            }
            DigestAlgorithm::Sha512 => {
                type $d = Sha512;
                $body
            }
        }
    };
}
pub(crate) use with_digest;

/// Options for creating a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignOptions {
    /// The digest (default SHA-256).
    pub digest: DigestAlgorithm,
    /// The RSA signature scheme (default PKCS#1 v1.5). An EC key signs with ECDSA and
    /// refuses [`SignatureScheme::Pss`].
    pub scheme: SignatureScheme,
    /// Whether to add the RFC 6211 CMSAlgorithmProtection attribute (default on; some
    /// IBM Sterling releases reject it).
    pub algorithm_protection: bool,
    /// Whether to embed the signer's certificate and chain (default on).
    pub include_certificates: bool,
    /// Whether to identify the signer by subject key identifier instead of issuer and
    /// serial number (default off; needs the extension in the certificate).
    pub use_subject_key_id: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            digest: DigestAlgorithm::Sha256,
            scheme: SignatureScheme::Pkcs1v15,
            algorithm_protection: true,
            include_certificates: true,
            use_subject_key_id: false,
        }
    }
}

/// The signer: a certificate, its private key and optionally the chain to embed.
#[derive(Clone, Copy, Debug)]
pub struct Signer<'a> {
    /// The signing certificate.
    pub certificate: &'a Certificate,
    /// Its private key.
    pub key: &'a PrivateKey,
    /// Intermediate certificates to embed after the signing certificate.
    pub chain: &'a [Certificate],
}

impl<'a> Signer<'a> {
    /// A signer with no chain.
    pub fn new(certificate: &'a Certificate, key: &'a PrivateKey) -> Self {
        Signer {
            certificate,
            key,
            chain: &[],
        }
    }
}

/// Creates a detached signature over `content` (the bytes of the signed MIME entity):
/// a DER ContentInfo holding SignedData without encapsulated content.
pub fn sign_detached<R: CryptoRng + ?Sized>(
    content: &[u8],
    signer: &Signer<'_>,
    options: &SignOptions,
    now: SystemTime,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    sign(content, false, signer, options, now, rng)
}

/// Creates an encapsulated ("opaque") signature: a DER ContentInfo holding SignedData with
/// `content` inside as id-data.
pub fn sign_encapsulated<R: CryptoRng + ?Sized>(
    content: &[u8],
    signer: &Signer<'_>,
    options: &SignOptions,
    now: SystemTime,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    sign(content, true, signer, options, now, rng)
}

/// Creates a detached signature for content whose digest (with `options.digest`) the
/// caller has already computed, e.g. while streaming it: the outbound builder hashes the
/// MIME entity once and uses that digest for the signature and the MIC.
pub(crate) fn sign_detached_digest<R: CryptoRng + ?Sized>(
    content_digest: &[u8],
    signer: &Signer<'_>,
    options: &SignOptions,
    now: SystemTime,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    if content_digest.len() != options.digest.output_len() {
        return Err(Error::SigningFailed(
            "digest length does not match the digest algorithm",
        ));
    }
    sign_digest(content_digest, None, signer, options, now, rng)
}

fn sign<R: CryptoRng + ?Sized>(
    content: &[u8],
    encapsulate: bool,
    signer: &Signer<'_>,
    options: &SignOptions,
    now: SystemTime,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let content_digest = options.digest.digest(content);
    let encapsulated = encapsulate.then_some(content);
    sign_digest(&content_digest, encapsulated, signer, options, now, rng)
}

fn sign_digest<R: CryptoRng + ?Sized>(
    content_digest: &[u8],
    encapsulated: Option<&[u8]>,
    signer: &Signer<'_>,
    options: &SignOptions,
    now: SystemTime,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let unsigned = UnsignedSignerInfo::new(content_digest, signer, options, now)?;
    let digest = options.digest;
    let signature = match signer.key.secret() {
        SecretKey::Rsa(key) => with_digest!(digest, D => match options.scheme {
            SignatureScheme::Pkcs1v15 => key.sign_with_rng(rng, Pkcs1v15Sign::new::<D>(), &unsigned.to_sign),
            SignatureScheme::Pss => key.sign_with_rng(
                rng,
                Pss::<D>::new_with_salt(digest.output_len()),
                &unsigned.to_sign,
            ),
        })
        .map_err(|_| Error::SigningFailed("RSA signature operation failed"))?,
        SecretKey::P256(key) => ecdsa_sign!(p256::NistP256, key, &unsigned.to_sign, rng)?,
        SecretKey::P384(key) => ecdsa_sign!(p384::NistP384, key, &unsigned.to_sign, rng)?,
    };
    // The length `detached_signature_len` announced: `rsa` pads every signature to the
    // modulus length (RFC 8017 §8.1.1 and §8.2.1, I2OSP to k octets), ECDSA signatures
    // are made as long as they can be.
    if signature.len() != signature_len(signer.key) {
        return Err(Error::SigningFailed(
            "the signature is not as long as announced",
        ));
    }
    Ok(unsigned.assemble(&signature, encapsulated, signer, options))
}

/// How many times an ECDSA signature is drawn before giving up on one of the announced
/// length: each attempt succeeds with probability about 1/2, so 64 fail together with
/// probability about 2^-64.
const ECDSA_ATTEMPTS: usize = 64;

/// The length of every signature `key` makes: the RSA modulus length, or the DER
/// `Ecdsa-Sig-Value` (`SEQUENCE { INTEGER r, INTEGER s }`) with `r` one octet longer than
/// the field (its top bit set, so a leading zero) and `s` as long as the field.
fn signature_len(key: &PrivateKey) -> usize {
    match key.secret() {
        SecretKey::Rsa(key) => key.size(),
        SecretKey::P256(_) => 2 + (2 + 33) + (2 + 32),
        SecretKey::P384(_) => 2 + (2 + 49) + (2 + 48),
    }
}

/// Signs the prehash `$prehash` with the EC secret key `$key` on curve `$curve` (see the
/// module docs, "ECDSA"): hedged RFC 6979 nonces, low `s`, and the DER signature always
/// [`signature_len`] long. Evaluates to the DER `Ecdsa-Sig-Value` or a signing error.
macro_rules! ecdsa_sign {
    ($curve:ty, $key:expr, $prehash:expr, $rng:expr) => {{
        use ecdsa::signature::hazmat::RandomizedPrehashSigner;
        let signing_key = ecdsa::SigningKey::<$curve>::from($key);
        let mut result = Err(Error::SigningFailed(
            "no ECDSA signature of the announced length drawn",
        ));
        for _ in 0..ECDSA_ATTEMPTS {
            let signature: ecdsa::Signature<$curve> = signing_key
                .sign_prehash_with_rng(&mut *$rng, $prehash)
                .map_err(|_| Error::SigningFailed("ECDSA signature operation failed"))?;
            // `s` and `n - s` both verify; the low one has its top bit clear.
            let signature = signature.normalize_s();
            let (r, s) = signature.split_bytes();
            let r_top_bit = r.first().is_some_and(|b| b & 0x80 != 0);
            let s_full = s.first().is_some_and(|b| *b != 0);
            if r_top_bit && s_full {
                result = Ok(signature.to_der().as_bytes().to_vec());
                break;
            }
        }
        result
    }};
}
use ecdsa_sign;

/// The exact length of the DER ContentInfo that [`sign_detached_digest`] returns for
/// `signer`, `options` and `now`, without signing: the streaming builder announces a
/// `multipart/signed` body's Content-Length before the content has been hashed.
///
/// Nothing in a detached SignedData depends on the content but the message-digest value,
/// whose length is fixed by the digest algorithm, and the RSA signature, which is always
/// as long as the modulus (RFC 8017 §8.1.1, §8.2.1). So the structure is encoded with a
/// zero digest and a zero signature of those lengths. It fails exactly when signing would
/// fail for a reason other than the RSA operation (key and certificate do not match, no
/// subject key identifier, signing time out of range).
pub(crate) fn detached_signature_len(
    signer: &Signer<'_>,
    options: &SignOptions,
    now: SystemTime,
) -> Result<usize, Error> {
    let placeholder_digest = vec![0u8; options.digest.output_len()];
    let unsigned = UnsignedSignerInfo::new(&placeholder_digest, signer, options, now)?;
    let placeholder_signature = vec![0u8; signature_len(signer.key)];
    Ok(unsigned
        .assemble(&placeholder_signature, None, signer, options)
        .len())
}

/// Everything of a SignerInfo but the signature value: the DER signed attributes (tagged
/// `[0]` as they appear in the SignerInfo) and the digest over them (tagged `SET`, RFC
/// 5652 §5.4) that the RSA operation signs.
struct UnsignedSignerInfo {
    signed_attrs: Vec<u8>,
    to_sign: Vec<u8>,
    version: u64,
    sid: Vec<u8>,
    digest_id: Vec<u8>,
    signature_id: Vec<u8>,
}

impl UnsignedSignerInfo {
    fn new(
        content_digest: &[u8],
        signer: &Signer<'_>,
        options: &SignOptions,
        now: SystemTime,
    ) -> Result<Self, Error> {
        if !signer.key.matches(signer.certificate) {
            return Err(Error::SigningFailed(
                "private key does not match the certificate",
            ));
        }
        let digest = options.digest;
        let digest_id = digest.algorithm_identifier();
        let signature_id = match (signer.key.algorithm().is_ec(), options.scheme) {
            (false, scheme) => SignatureAlgorithm::identifier_for(scheme, digest),
            (true, SignatureScheme::Pkcs1v15) => SignatureAlgorithm::ecdsa_identifier(digest),
            (true, SignatureScheme::Pss) => {
                return Err(Error::SigningFailed("RSASSA-PSS needs an RSA key"));
            }
        };

        // Signed attributes, DER: a SET OF sorted by encoding.
        let mut attributes = vec![
            attribute(
                oid::CONTENT_TYPE,
                &ber::encode(Tag::OID, oid::DATA.as_bytes()),
            ),
            attribute(oid::SIGNING_TIME, &encode_time(now)?),
            attribute(
                oid::MESSAGE_DIGEST,
                &ber::encode(Tag::OCTET_STRING, content_digest),
            ),
        ];
        if options.algorithm_protection {
            // CMSAlgorithmProtection ::= SEQUENCE { digestAlgorithm,
            //     signatureAlgorithm [1] IMPLICIT AlgorithmIdentifier OPTIONAL, ... }
            let mut signature_implicit = signature_id.clone();
            if let Some(tag) = signature_implicit.first_mut() {
                *tag = 0xa1;
            }
            let protection =
                ber::encode_constructed(Tag::SEQUENCE, &[&digest_id, &signature_implicit]);
            attributes.push(attribute(oid::CMS_ALGORITHM_PROTECTION, &protection));
        }
        attributes.sort_by(|a, b| der_set_order(a, b));
        let refs: Vec<&[u8]> = attributes.iter().map(Vec::as_slice).collect();
        let mut signed_attrs = ber::encode_constructed(Tag::SET, &refs);
        let to_sign = digest.digest(&signed_attrs);
        // In the SignerInfo the same bytes carry the IMPLICIT [0] tag.
        if let Some(tag) = signed_attrs.first_mut() {
            *tag = 0xa0;
        }

        let (version, sid) = match (
            options.use_subject_key_id,
            signer.certificate.subject_key_id(),
        ) {
            (true, Some(ski)) => (3, ber::encode(Tag::context(0, false), ski)),
            (true, None) => {
                return Err(Error::SigningFailed(
                    "certificate has no subject key identifier",
                ));
            }
            (false, _) => (1, signer.certificate.issuer_and_serial()),
        };
        Ok(UnsignedSignerInfo {
            signed_attrs,
            to_sign,
            version,
            sid,
            digest_id,
            signature_id,
        })
    }

    /// The DER ContentInfo holding SignedData with this SignerInfo and `signature`.
    fn assemble(
        &self,
        signature: &[u8],
        encapsulated: Option<&[u8]>,
        signer: &Signer<'_>,
        options: &SignOptions,
    ) -> Vec<u8> {
        let version = encode_uint(self.version);
        let signer_info = ber::encode_constructed(
            Tag::SEQUENCE,
            &[
                &version,
                &self.sid,
                &self.digest_id,
                &self.signed_attrs,
                &self.signature_id,
                &ber::encode(Tag::OCTET_STRING, signature),
            ],
        );

        let mut certificates = Vec::new();
        if options.include_certificates {
            let mut certs: Vec<&[u8]> = vec![signer.certificate.der()];
            certs.extend(signer.chain.iter().map(Certificate::der));
            certificates = ber::encode_constructed(Tag::context(0, true), &certs);
        }
        let encap = super::encapsulated(oid::DATA, encapsulated);
        let signed_data = ber::encode_constructed(
            Tag::SEQUENCE,
            &[
                &version,
                &ber::encode_constructed(Tag::SET, &[&self.digest_id]),
                &encap,
                &certificates,
                &ber::encode_constructed(Tag::SET, &[&signer_info]),
            ],
        );
        super::content_info(ContentType::SignedData, &signed_data)
    }
}

/// `Attribute ::= SEQUENCE { attrType, attrValues SET OF AttributeValue }` with one value.
fn attribute(kind: ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    ber::encode_constructed(
        Tag::SEQUENCE,
        &[
            &ber::encode(Tag::OID, kind.as_bytes()),
            &ber::encode_constructed(Tag::SET, &[value]),
        ],
    )
}

/// X.690 §11.6 ordering of SET OF elements: by encoding, the shorter padded with zeros.
fn der_set_order(a: &[u8], b: &[u8]) -> core::cmp::Ordering {
    let len = a.len().max(b.len());
    let pad = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    (0..len)
        .map(|i| pad(a, i).cmp(&pad(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(core::cmp::Ordering::Equal)
}

/// signing-time: UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5652 §11.3).
fn encode_time(now: SystemTime) -> Result<Vec<u8>, Error> {
    let bad = |_| Error::SigningFailed("signing time out of range");
    match der::asn1::UtcTime::from_system_time(now) {
        Ok(t) => t.to_der().map_err(bad),
        Err(_) => der::asn1::GeneralizedTime::from_system_time(now)
            .and_then(|t| t.to_der())
            .map_err(bad),
    }
}

/// A parsed SignedData, borrowing from the input.
#[derive(Debug)]
pub struct SignedData<'a> {
    content_type: ObjectIdentifier,
    content: Option<Cow<'a, [u8]>>,
    certificates: Vec<Certificate>,
    signers: Vec<SignerInfo<'a>>,
}

/// One SignerInfo: decoded with [`cms::signed_data::SignerInfo`], the signed attributes
/// also kept exactly as received, since the signature covers those bytes.
#[derive(Debug)]
pub(crate) struct SignerInfo<'a> {
    sid: Identifier,
    digest: AlgorithmIdentifierOwned,
    signed_attrs: Option<SignedAttributes<'a>>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    /// Where the SignerInfo starts in the input, for errors.
    offset: usize,
}

/// The signed attributes: decoded, and as received (`[0] IMPLICIT`, BER allowed).
#[derive(Debug)]
struct SignedAttributes<'a> {
    decoded: x509_cert::attr::Attributes,
    received: Tlv<'a>,
}

/// `CMSAlgorithmProtection` (RFC 6211 §2), which the `cms` crate does not define.
#[derive(Debug, der::Sequence)]
struct CmsAlgorithmProtection {
    digest_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    signature_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    mac_algorithm: Option<AlgorithmIdentifierOwned>,
}

/// Where the certificate that verified a signature came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignerSource {
    /// One of the certificates the caller supplied (e.g. the partner's).
    Supplied,
    /// A certificate embedded in the message. The signature is mathematically valid but
    /// says nothing about *who* signed unless the caller validates this certificate (for
    /// example by chaining it to a trust anchor).
    Embedded,
}

/// A successfully verified signature.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Verified {
    /// The digest algorithm of the signer.
    pub digest: DigestAlgorithm,
    /// The signature algorithm of the signer.
    pub signature: SignatureAlgorithm,
    /// The digest of the signed content (for `multipart/signed`, this is the AS2 MIC).
    pub content_digest: Vec<u8>,
    /// The certificate that verified.
    pub signer: Certificate,
    /// Where that certificate came from.
    pub source: SignerSource,
    /// The signing-time attribute, if present.
    pub signing_time: Option<SystemTime>,
    /// Whether the signature had signed attributes.
    pub signed_attributes: bool,
    /// Whether a CMSAlgorithmProtection attribute was present (and matched).
    pub algorithm_protection: bool,
}

impl<'a> SignedData<'a> {
    /// Parses a ContentInfo holding SignedData (BER or DER).
    pub fn parse(input: &'a [u8], limits: &Limits) -> Result<Self, Error> {
        let content = super::expect_content_info(input, ContentType::SignedData, limits)?;
        let mut r = content.children("SignedData")?;
        r.expect(Tag::INTEGER, "SignedData version")?;
        r.expect(Tag::SET, "digestAlgorithms")?;
        let encap = r.expect(Tag::SEQUENCE, "encapContentInfo")?;
        let (content_type, content) = super::parse_encapsulated(&encap)?;

        let certificates = match r.read_optional(Tag::context(0, true), "certificates")? {
            Some(set) => parse_certificates(&set, limits)?,
            None => Vec::new(),
        };
        r.read_optional(Tag::context(1, true), "crls")?;
        let infos = r.expect(Tag::SET, "signerInfos")?;
        r.finish("SignedData")?;
        let signers = parse_signer_infos(&infos, limits)?;
        Ok(SignedData {
            content_type,
            content,
            certificates,
            signers,
        })
    }

    /// A SignedData whose encapsulated content has been read elsewhere (streamed and hashed
    /// by [`super::stream::SignedReader`]): verify it with [`Self::verify_digests`].
    pub(crate) fn from_parts(
        content_type: ObjectIdentifier,
        certificates: Vec<Certificate>,
        signers: Vec<SignerInfo<'a>>,
    ) -> Self {
        SignedData {
            content_type,
            content: None,
            certificates,
            signers,
        }
    }

    /// The encapsulated content type (id-data for AS2).
    pub fn content_type(&self) -> ObjectIdentifier {
        self.content_type
    }

    /// The encapsulated content, for an opaque signature; `None` when detached.
    pub fn content(&self) -> Option<&[u8]> {
        self.content.as_deref()
    }

    /// Takes the encapsulated content out, borrowing from the input where possible.
    pub fn into_content(self) -> Option<Cow<'a, [u8]>> {
        self.content
    }

    /// Certificates embedded in the message.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// Verifies the signature.
    ///
    /// `detached` is the signed content for a detached signature and must be `None` for an
    /// encapsulated one. The signer's certificate is looked up by its identifier first among
    /// `certificates` (the ones the caller trusts, e.g. the partner profile's), then among
    /// those embedded in the message; [`Verified::source`] says which. With several
    /// SignerInfos, those whose signer is among `certificates` are tried first, then the
    /// others, each group in order; the first that verifies wins.
    pub fn verify(
        &self,
        detached: Option<&[u8]>,
        certificates: &[Certificate],
    ) -> Result<Verified, Error> {
        let content = match (detached, self.content.as_deref()) {
            (Some(c), None) | (None, Some(c)) => c,
            _ => return Err(VerificationError::ContentMismatch.into()),
        };
        self.verify_with(&|digest| Some(digest.digest(content)), certificates)
    }

    /// [`Self::verify`] for detached content that has already been hashed, e.g. while it
    /// streamed: `digest_of(algorithm)` gives the content's digest with `algorithm`, or
    /// `None` when the content was not hashed with it, which fails that SignerInfo with
    /// [`VerificationError::UnannouncedDigest`] (the `micalg` parameter, or the
    /// digestAlgorithms of the SignedData, should have named it: RFC 5751 §3.4.3.2,
    /// RFC 5652 §5.1).
    ///
    /// The same checks as [`Self::verify`] with the content in hand (one code path), and the
    /// same result whenever `digest_of` returns the digests of that content. A SignedData
    /// that encapsulates its content fails with [`VerificationError::ContentMismatch`],
    /// as `verify` does when given detached content for it.
    pub(crate) fn verify_digests(
        &self,
        digest_of: &dyn Fn(DigestAlgorithm) -> Option<Vec<u8>>,
        certificates: &[Certificate],
    ) -> Result<Verified, Error> {
        if self.content.is_some() {
            return Err(VerificationError::ContentMismatch.into());
        }
        self.verify_with(digest_of, certificates)
    }

    /// The signer loop of [`Self::verify`] and [`Self::verify_digests`].
    fn verify_with(
        &self,
        digest_of: &dyn Fn(DigestAlgorithm) -> Option<Vec<u8>>,
        certificates: &[Certificate],
    ) -> Result<Verified, Error> {
        let supplied = |s: &&SignerInfo<'_>| certificates.iter().any(|c| c.matches(&s.sid));
        let (first, rest): (Vec<_>, Vec<_>) = self.signers.iter().partition(supplied);
        let mut first_error = None;
        for signer in first.into_iter().chain(rest) {
            match signer.verify(
                digest_of,
                self.content_type,
                certificates,
                &self.certificates,
            ) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(VerificationError::SignerNotFound.into()))
    }
}

/// Reads `certificates [0] IMPLICIT CertificateSet`: the X.509 certificates in it, at most
/// [`Limits::max_certificates`] choices. Other certificate formats, and certificates we
/// cannot read, are skipped: they cannot be the signer.
pub(crate) fn parse_certificates(
    set: &Tlv<'_>,
    limits: &Limits,
) -> Result<Vec<Certificate>, Error> {
    let mut certificates = Vec::new();
    let mut c = set.children("certificates")?;
    let mut count = 0usize;
    while !c.is_empty() {
        let choice = c.read("CertificateChoices")?;
        count = count.saturating_add(1);
        if count > limits.max_certificates {
            return Err(Limit::Certificates.exceeded(limits));
        }
        // Attribute and other certificate formats are not used for AS2; a
        // certificate we cannot read simply cannot be the signer.
        if choice.tag == Tag::SEQUENCE
            && let Ok(cert) = Certificate::from_tlv(&choice)
        {
            certificates.push(cert);
        }
    }
    Ok(certificates)
}

/// Reads `signerInfos SET OF SignerInfo`: at least one, at most [`Limits::max_signers`].
pub(crate) fn parse_signer_infos<'a>(
    infos: &Tlv<'a>,
    limits: &Limits,
) -> Result<Vec<SignerInfo<'a>>, Error> {
    let mut signers = Vec::new();
    let mut s = infos.children("signerInfos")?;
    while !s.is_empty() {
        if signers.len() >= limits.max_signers {
            return Err(Limit::Signers.exceeded(limits));
        }
        signers.push(SignerInfo::parse(&s.expect(Tag::SEQUENCE, "SignerInfo")?)?);
    }
    if signers.is_empty() {
        return Err(Error::malformed("signerInfos (empty)", infos.offset));
    }
    Ok(signers)
}

impl<'a> SignerInfo<'a> {
    /// Decodes a SignerInfo framed by the BER reader: brought to DER (BER lengths and
    /// chunked strings; SET OF order is left to the decoder) and decoded with `cms`. The
    /// BER reader also frames the signed attributes, whose received bytes are what the
    /// signature covers.
    fn parse(tlv: &Tlv<'a>) -> Result<Self, Error> {
        let bad = || Error::malformed("SignerInfo", tlv.offset);
        let decoded = cms::signed_data::SignerInfo::from_der(&tlv.to_der()?).map_err(|_| bad())?;
        let signed_attrs = match decoded.signed_attrs {
            None => None,
            Some(attrs) => {
                // version, sid, digestAlgorithm, then signedAttrs [0].
                let mut r = tlv.children("SignerInfo")?;
                for what in ["SignerInfo version", "sid", "digestAlgorithm"] {
                    r.read(what)?;
                }
                let received = r
                    .read_optional(Tag::context(0, true), "signedAttrs")?
                    .ok_or_else(bad)?;
                Some(SignedAttributes {
                    decoded: attrs,
                    received,
                })
            }
        };
        Ok(SignerInfo {
            sid: Identifier::from_signer_identifier(&decoded.sid)?,
            digest: decoded.digest_alg,
            signed_attrs,
            signature_algorithm: decoded.signature_algorithm,
            signature: decoded.signature.into_bytes().into_vec(),
            offset: tlv.offset,
        })
    }

    fn verify(
        &self,
        digest_of: &dyn Fn(DigestAlgorithm) -> Option<Vec<u8>>,
        content_type: ObjectIdentifier,
        supplied: &[Certificate],
        embedded: &[Certificate],
    ) -> Result<Verified, Error> {
        let digest = DigestAlgorithm::from_identifier(&self.digest)?;
        let signature =
            SignatureAlgorithm::from_identifier(&self.signature_algorithm, digest, self.offset)?;
        if let SignatureAlgorithm::RsaPss { hash, .. } = signature
            && hash != digest
        {
            return Err(Error::malformed(
                "RSASSA-PSS hash differs from digestAlgorithm",
                0,
            ));
        }
        let (signer, source) = supplied
            .iter()
            .find(|c| c.matches(&self.sid))
            .map(|c| (c, SignerSource::Supplied))
            .or_else(|| {
                embedded
                    .iter()
                    .find(|c| c.matches(&self.sid))
                    .map(|c| (c, SignerSource::Embedded))
            })
            .ok_or(VerificationError::SignerNotFound)?;
        let public_key = signer.public_key().ok_or(Error::InvalidCertificate(
            "public key is neither RSA nor EC on P-256 or P-384",
        ))?;
        // Before anything else is computed: the declared algorithm must be one the key
        // makes, so that an RSA identifier is never checked against an EC key or the
        // reverse (algorithm substitution).
        if !signature.fits(public_key.algorithm()) {
            return Err(VerificationError::KeyAlgorithmMismatch.into());
        }

        // Without signed attributes this digest is what the RSA signature covers (RFC 5652
        // §5.4): `verify` below takes the prehashed message, so a digest computed elsewhere
        // serves exactly as one computed here.
        let content_digest = digest_of(digest).ok_or(VerificationError::UnannouncedDigest)?;
        let mut signing_time = None;
        let mut algorithm_protection = false;
        let to_verify = match &self.signed_attrs {
            None => Cow::Borrowed(&content_digest[..]),
            Some(attrs) => {
                let checked = check_attributes(
                    &attrs.decoded,
                    self.offset,
                    content_type,
                    &content_digest,
                    &self.digest,
                    &self.signature_algorithm,
                )?;
                signing_time = checked.signing_time;
                algorithm_protection = checked.algorithm_protection;
                // Hash the attributes exactly as received, with the SET tag in place of
                // the IMPLICIT [0]: never a re-encoding (which would re-sort the SET).
                let mut hasher = digest.hasher();
                hasher.update(&[0x31]);
                hasher.update(attrs.received.raw.get(1..).unwrap_or_default());
                Cow::Owned(hasher.finish())
            }
        };
        verify_prehash(signature, digest, public_key, &to_verify, &self.signature)?;
        // Last, once the signature has verified (so that a failure here says the content
        // is authentic but its signer may not sign): the certificate's key usage.
        signer.check_usage(crate::cert::KeyUse::Signing)?;
        Ok(Verified {
            digest,
            signature,
            content_digest,
            signer: signer.clone(),
            source,
            signing_time,
            signed_attributes: self.signed_attrs.is_some(),
            algorithm_protection,
        })
    }
}

/// Verifies `signature`, made by `algorithm` over the `digest` hash `prehash`, with
/// `key`: the one signature check of the crate, for SignerInfos and certificate chains
/// alike. An algorithm the key does not make is
/// [`KeyAlgorithmMismatch`](VerificationError::KeyAlgorithmMismatch) (algorithm
/// substitution); a value that does not verify is
/// [`BadSignature`](VerificationError::BadSignature). For RSASSA-PSS, `digest` is the hash
/// of the message and of MGF1.
pub(crate) fn verify_prehash(
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm,
    key: &PublicKey,
    prehash: &[u8],
    signature: &[u8],
) -> Result<(), VerificationError> {
    let verified = match (algorithm, key) {
        (SignatureAlgorithm::RsaPkcs1v15, PublicKey::Rsa(key)) => with_digest!(digest, D => {
            key.verify(Pkcs1v15Sign::new::<D>(), prehash, signature).is_ok()
        }),
        (SignatureAlgorithm::RsaPss { salt_len, .. }, PublicKey::Rsa(key)) => {
            with_digest!(digest, D => key
                .verify(Pss::<D>::new_with_salt(salt_len), prehash, signature)
                .is_ok())
        }
        (SignatureAlgorithm::Ecdsa, PublicKey::P256(key)) => {
            ecdsa_verify!(p256::NistP256, key, prehash, signature)
        }
        (SignatureAlgorithm::Ecdsa, PublicKey::P384(key)) => {
            ecdsa_verify!(p384::NistP384, key, prehash, signature)
        }
        _ => return Err(VerificationError::KeyAlgorithmMismatch),
    };
    if verified {
        Ok(())
    } else {
        Err(VerificationError::BadSignature)
    }
}

/// Whether `$signature`, a DER `Ecdsa-Sig-Value` (strict DER, `0 < r, s < n`; high `s`
/// accepted), verifies the prehash `$prehash` with the EC public key `$key` on `$curve`.
macro_rules! ecdsa_verify {
    ($curve:ty, $key:expr, $prehash:expr, $signature:expr) => {{
        use ecdsa::signature::hazmat::PrehashVerifier;
        ecdsa::der::Signature::<$curve>::from_bytes($signature)
            .and_then(ecdsa::Signature::<$curve>::try_from)
            .is_ok_and(|signature| {
                ecdsa::VerifyingKey::<$curve>::from(*$key)
                    .verify_prehash($prehash, &signature)
                    .is_ok()
            })
    }};
}
use ecdsa_verify;

struct CheckedAttributes {
    signing_time: Option<SystemTime>,
    algorithm_protection: bool,
}

/// Checks content-type, message-digest and CMSAlgorithmProtection (RFC 5652 §5.3,
/// RFC 6211 §3). `offset` is the SignerInfo's, for errors.
fn check_attributes(
    attrs: &x509_cert::attr::Attributes,
    offset: usize,
    content_type: ObjectIdentifier,
    content_digest: &[u8],
    digest_id: &AlgorithmIdentifierOwned,
    signature_id: &AlgorithmIdentifierOwned,
) -> Result<CheckedAttributes, Error> {
    let mut seen_type = false;
    let mut seen_digest = false;
    let mut checked = CheckedAttributes {
        signing_time: None,
        algorithm_protection: false,
    };
    for attr in attrs.iter() {
        let mut values = attr.values.iter();
        let (Some(value), single) = (values.next(), values.next().is_none()) else {
            return Err(Error::malformed("AttributeValue", offset));
        };
        let duplicate = |seen: &mut bool| {
            let was = *seen;
            *seen = true;
            if was || !single {
                Err(Error::malformed("duplicate signed attribute", offset))
            } else {
                Ok(())
            }
        };
        if attr.oid == oid::CONTENT_TYPE {
            duplicate(&mut seen_type)?;
            let declared: ObjectIdentifier = value
                .decode_as()
                .map_err(|_| Error::malformed("content-type attribute", offset))?;
            if declared != content_type {
                return Err(VerificationError::ContentTypeMismatch.into());
            }
        } else if attr.oid == oid::MESSAGE_DIGEST {
            duplicate(&mut seen_digest)?;
            let declared: OctetString = value
                .decode_as()
                .map_err(|_| Error::malformed("message-digest attribute", offset))?;
            if declared.as_bytes() != content_digest {
                return Err(VerificationError::DigestMismatch.into());
            }
        } else if attr.oid == oid::SIGNING_TIME {
            checked.signing_time = value
                .to_der()
                .ok()
                .and_then(|der| x509_cert::time::Time::from_der(&der).ok())
                .map(|t| t.to_system_time());
        } else if attr.oid == oid::CMS_ALGORITHM_PROTECTION {
            let mut already = checked.algorithm_protection;
            duplicate(&mut already)?;
            let protection: CmsAlgorithmProtection = value
                .decode_as()
                .map_err(|_| Error::malformed("CMSAlgorithmProtection", offset))?;
            check_algorithm_protection(&protection, digest_id, signature_id)?;
            checked.algorithm_protection = true;
        }
    }
    if !seen_type || !seen_digest {
        return Err(VerificationError::MissingAttribute.into());
    }
    Ok(checked)
}

/// RFC 6211: the protected algorithms must be those of the SignerInfo, and a MAC
/// algorithm has no place in a signature.
fn check_algorithm_protection(
    protection: &CmsAlgorithmProtection,
    digest_id: &AlgorithmIdentifierOwned,
    signature_id: &AlgorithmIdentifierOwned,
) -> Result<(), Error> {
    let matches = same_algorithm(&protection.digest_algorithm, digest_id)
        && protection.mac_algorithm.is_none()
        && protection
            .signature_algorithm
            .as_ref()
            .is_some_and(|s| same_algorithm(s, signature_id));
    if matches {
        Ok(())
    } else {
        Err(VerificationError::AlgorithmProtectionMismatch.into())
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::*;
    use crate::cert::unix_time;

    /// The announced length is the signed length, for every option that changes the
    /// structure, both signing-time encodings and a key that does not match.
    #[test]
    fn detached_signature_len_is_exact() {
        for (crt, key) in [
            (
                include_bytes!("../../tests/data/keys/doc.crt").as_slice(),
                include_bytes!("../../tests/data/keys/doc.key").as_slice(),
            ),
            (
                include_bytes!("../../tests/data/keys/ec-p256.crt"),
                include_bytes!("../../tests/data/keys/ec-p256.key"),
            ),
            (
                include_bytes!("../../tests/data/keys/ec-p384.crt"),
                include_bytes!("../../tests/data/keys/ec-p384.key"),
            ),
        ] {
            let cert = Certificate::from_pem(crt).unwrap();
            let key = PrivateKey::from_pem(key, None).unwrap();
            announced_lengths(&cert, &key);
        }
    }

    fn announced_lengths(cert: &Certificate, key: &PrivateKey) {
        let is_ec = key.algorithm().is_ec();
        let signer = Signer::new(cert, key);
        let chain = [cert.clone()];
        let with_chain = Signer {
            chain: &chain,
            ..signer
        };
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for now in [unix_time(1_800_000_000), unix_time(2_600_000_000)] {
            for digest in DigestAlgorithm::ALL.iter().copied() {
                for scheme in [SignatureScheme::Pkcs1v15, SignatureScheme::Pss] {
                    if is_ec && scheme == SignatureScheme::Pss {
                        continue;
                    }
                    for (protection, certificates) in
                        [(true, true), (false, true), (true, false), (false, false)]
                    {
                        let options = SignOptions {
                            digest,
                            scheme,
                            algorithm_protection: protection,
                            include_certificates: certificates,
                            ..SignOptions::default()
                        };
                        for s in [&signer, &with_chain] {
                            let announced = detached_signature_len(s, &options, now).unwrap();
                            let content_digest = digest.digest(b"content");
                            let signature =
                                sign_detached_digest(&content_digest, s, &options, now, &mut rng)
                                    .unwrap();
                            assert_eq!(announced, signature.len(), "{options:?}");
                        }
                    }
                }
            }
        }
        // Identified by subject key identifier: as long as the signature, or the same
        // refusal as signing.
        let options = SignOptions {
            use_subject_key_id: true,
            ..SignOptions::default()
        };
        let now = unix_time(1_800_000_000);
        let signed = sign_detached_digest(&[0; 32], &signer, &options, now, &mut rng);
        match detached_signature_len(&signer, &options, now) {
            Ok(len) => assert_eq!(len, signed.unwrap().len()),
            Err(e) => assert_eq!(e, signed.unwrap_err()),
        }
    }
}
