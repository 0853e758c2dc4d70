//! Password-based decryption of bags and SafeContents: the PKCS#12 PBEs (RFC 7292
//! appendix C: SHA-1 KDF with triple DES or RC2, CBC) and PBES2 (RFC 8018 §6.2: PBKDF2
//! with AES-CBC or DES-EDE3-CBC), and the CMS EncryptedData that carries encrypted
//! SafeContents.

use cipher::block_padding::Pkcs7;
use cipher::{BlockCipherDecrypt, BlockModeDecrypt, InnerIvInit, KeyInit};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, IntRef, OctetStringRef, UintRef};
use der::{Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attributes;
use zeroize::Zeroizing;

use super::kdf::{Budget, KdfId, Password, Pbkdf2, pkcs12_kdf};
use super::{oid, positive_integer};
use crate::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use crate::cms::ber::{Reader, Tag};
use crate::error::{AlgorithmKind, Error};
use crate::limits::Limits;

/// `pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }` (RFC 7292
/// appendix C).
#[derive(Sequence)]
struct Pkcs12PbeParams<'a> {
    salt: &'a OctetStringRef,
    iterations: UintRef<'a>,
}

/// ```text
/// PBES2-params ::= SEQUENCE {
///     keyDerivationFunc AlgorithmIdentifier {{PBES2-KDFs}},
///     encryptionScheme  AlgorithmIdentifier {{PBES2-Encs}} }
/// ```
///
/// (RFC 8018 appendix A.4.) `pkcs5::pbes2::Parameters` would make an unsupported KDF or
/// cipher a decoding error rather than [`Error::UnsupportedAlgorithm`].
#[derive(Sequence)]
struct Pbes2Params {
    key_derivation_func: AlgorithmIdentifierOwned,
    encryption_scheme: AlgorithmIdentifierOwned,
}

/// ```text
/// EncryptedData ::= SEQUENCE {
///     version CMSVersion,
///     encryptedContentInfo EncryptedContentInfo,
///     unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
/// ```
///
/// (RFC 5652 §8.) Not `cms::encrypted_data::EncryptedData`: see [`EncryptedContentInfo`].
#[derive(Sequence)]
struct EncryptedData<'a> {
    version: IntRef<'a>,
    encrypted_content_info: EncryptedContentInfo<'a>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unprotected_attrs: Option<Attributes>,
}

/// ```text
/// EncryptedContentInfo ::= SEQUENCE {
///     contentType ContentType,
///     contentEncryptionAlgorithm ContentEncryptionAlgorithmIdentifier,
///     encryptedContent [0] IMPLICIT EncryptedContent OPTIONAL }
/// ```
///
/// (RFC 5652 §6.1.) `encryptedContent` is kept whole: Windows and Java write it as a
/// constructed (segmented) string, which `cms`'s `OctetString` field does not read and
/// [`Tlv::to_der`](crate::cms::ber::Tlv::to_der) leaves as it is (a context tag does not
/// say that it is a string).
#[derive(Sequence)]
struct EncryptedContentInfo<'a> {
    content_type: ObjectIdentifier,
    content_encryption_algorithm: AlgorithmIdentifierOwned,
    #[asn1(optional = "true")]
    encrypted_content: Option<AnyRef<'a>>,
}

/// The password-based encryption schemes of RFC 7292 appendix C (SHA-1 KDF, CBC).
#[derive(Clone, Copy)]
enum Pkcs12Pbe {
    TripleDes3Key,
    TripleDes2Key,
    Rc2With128Bits,
    Rc2With40Bits,
}

impl Pkcs12Pbe {
    fn from_oid(id: &ObjectIdentifier) -> Option<Self> {
        match *id {
            oid::PBE_SHA1_3DES => Some(Self::TripleDes3Key),
            oid::PBE_SHA1_2DES => Some(Self::TripleDes2Key),
            oid::PBE_SHA1_RC2_128 => Some(Self::Rc2With128Bits),
            oid::PBE_SHA1_RC2_40 => Some(Self::Rc2With40Bits),
            _ => None,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Self::TripleDes3Key => 24,
            Self::TripleDes2Key | Self::Rc2With128Bits => 16,
            Self::Rc2With40Bits => 5,
        }
    }
}

pub(super) fn decrypt_failed() -> Error {
    Error::InvalidKey("cannot decrypt PKCS#12 contents with the password that verified the MAC")
}

/// Decrypts `data` with the PBE scheme `algorithm` names (RFC 7292 appendix C or PBES2);
/// `at` is the offset of the structure holding it, for errors.
pub(super) fn decrypt(
    algorithm: &AlgorithmIdentifierOwned,
    data: &[u8],
    password: &Password<'_>,
    budget: &mut Budget,
    at: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut buffer = Zeroizing::new(data.to_vec());
    let params = algorithm.parameters.as_ref();
    let plain_len = if algorithm.oid == oid::PBES2 {
        let params: Pbes2Params = params
            .and_then(|p| p.decode_as().ok())
            .ok_or(Error::malformed("PBES2-params", at))?;
        pbes2_decrypt(&params, password.raw, &mut buffer, budget, at)?
    } else if let Some(scheme) = Pkcs12Pbe::from_oid(&algorithm.oid) {
        let params: Pkcs12PbeParams<'_> = params
            .and_then(|p| p.decode_as().ok())
            .ok_or(Error::malformed("pkcs-12PbeParams", at))?;
        pkcs12_pbe_decrypt(scheme, &params, &password.bmp, &mut buffer, budget, at)?
    } else {
        return Err(Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::ContentEncryption,
            oid: algorithm.oid,
        });
    };
    buffer.truncate(plain_len);
    Ok(buffer)
}

/// Decrypts in place with a PKCS#12 PBE and returns the plaintext length.
fn pkcs12_pbe_decrypt(
    scheme: Pkcs12Pbe,
    params: &Pkcs12PbeParams<'_>,
    password: &[u8],
    buffer: &mut [u8],
    budget: &mut Budget,
    at: usize,
) -> Result<usize, Error> {
    let salt = params.salt.as_bytes();
    let iterations = positive_integer(params.iterations, "pkcs-12PbeParams iterations", at)?;
    let sha1 = DigestAlgorithm::Sha1;
    let mut key = Zeroizing::new(vec![0u8; scheme.key_len()]);
    pkcs12_kdf(
        sha1,
        KdfId::Key,
        password,
        salt,
        iterations,
        &mut key,
        budget,
    )?;
    let mut iv = [0u8; 8];
    pkcs12_kdf(sha1, KdfId::Iv, password, salt, iterations, &mut iv, budget)?;
    let plain_len = match scheme {
        Pkcs12Pbe::TripleDes3Key => cbc_decrypt_with_key::<des::TdesEde3>(&key, &iv, buffer),
        Pkcs12Pbe::TripleDes2Key => cbc_decrypt_with_key::<des::TdesEde2>(&key, &iv, buffer),
        Pkcs12Pbe::Rc2With128Bits => {
            cbc_decrypt(rc2::Rc2::new_with_eff_key_len(&key, 128), &iv, buffer)
        }
        Pkcs12Pbe::Rc2With40Bits => {
            cbc_decrypt(rc2::Rc2::new_with_eff_key_len(&key, 40), &iv, buffer)
        }
    };
    plain_len.ok_or_else(decrypt_failed)
}

/// Decrypts in place with PBES2 and returns the plaintext length.
fn pbes2_decrypt(
    params: &Pbes2Params,
    password: &[u8],
    buffer: &mut [u8],
    budget: &mut Budget,
    at: usize,
) -> Result<usize, Error> {
    let kdf = Pbkdf2::from_identifier(&params.key_derivation_func, at)?;
    let (cipher, iv) = ContentEncryption::from_identifier(&params.encryption_scheme, at)?;
    if kdf.key_len.is_some_and(|len| len != cipher.key_len()) {
        return Err(Error::malformed("PBKDF2 keyLength", at));
    }
    let mut key = Zeroizing::new(vec![0u8; cipher.key_len()]);
    kdf.derive(password, &mut key, budget)?;
    let plain_len = match cipher {
        ContentEncryption::Aes128Cbc => cbc_decrypt_with_key::<aes::Aes128>(&key, &iv, buffer),
        ContentEncryption::Aes192Cbc => cbc_decrypt_with_key::<aes::Aes192>(&key, &iv, buffer),
        ContentEncryption::Aes256Cbc => cbc_decrypt_with_key::<aes::Aes256>(&key, &iv, buffer),
        ContentEncryption::TripleDesCbc => cbc_decrypt_with_key::<des::TdesEde3>(&key, &iv, buffer),
        // `ContentEncryption::from_identifier` gives CBC ciphers only.
        _ => None,
    };
    plain_len.ok_or_else(decrypt_failed)
}

fn cbc_decrypt_with_key<C: BlockCipherDecrypt + KeyInit>(
    key: &[u8],
    iv: &[u8],
    buffer: &mut [u8],
) -> Option<usize> {
    cbc_decrypt(C::new_from_slice(key).ok()?, iv, buffer)
}

/// CBC-decrypts in place and removes PKCS#7 padding; `None` on a bad length or padding.
fn cbc_decrypt<C: BlockCipherDecrypt>(cipher: C, iv: &[u8], buffer: &mut [u8]) -> Option<usize> {
    cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv)
        .ok()?
        .decrypt_padded::<Pkcs7>(buffer)
        .ok()
        .map(<[u8]>::len)
}

/// Decrypts the content of an `encryptedData` ContentInfo; `at` is the offset of the
/// AuthenticatedSafe holding it, for errors.
pub(super) fn decrypt_encrypted_data(
    value: AnyRef<'_>,
    password: &Password<'_>,
    budget: &mut Budget,
    limits: &Limits,
    at: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let data: EncryptedData<'_> = value
        .decode_as()
        .map_err(|_| Error::malformed("EncryptedData", at))?;
    let info = &data.encrypted_content_info;
    let encrypted = info
        .encrypted_content
        .ok_or(Error::malformed("encryptedContent (absent)", at))?;
    // The BER reader joins the segments (and counts them against the chunk limit).
    let encoded = encrypted
        .to_der()
        .map_err(|_| Error::malformed("encryptedContent", at))?;
    let tlv = Reader::new(&encoded, limits).read("encryptedContent")?;
    if !tlv.tag.same_type(Tag::context(0, false)) {
        return Err(Error::malformed("encryptedContent", at));
    }
    decrypt(
        &info.content_encryption_algorithm,
        &tlv.octets("encryptedContent")?,
        password,
        budget,
        at,
    )
}
