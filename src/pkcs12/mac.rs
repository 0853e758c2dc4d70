//! The integrity check (RFC 7292 §4): the MacData HMAC keyed with the PKCS#12 KDF, or
//! PBMAC1 (RFC 9579), over the authSafe content octets, before anything is decrypted.

use der::Sequence;
use der::asn1::{OctetStringRef, UintRef};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::kdf::{Budget, KdfId, Pbkdf2, bmp_candidates, hmac_digest, pkcs12_kdf};
use super::{oid, positive_integer};
use crate::cms::algorithm::DigestAlgorithm;
use crate::cms::signed::with_digest;
use crate::error::Error;

/// ```text
/// MacData ::= SEQUENCE {
///     mac        DigestInfo,
///     macSalt    OCTET STRING,
///     iterations INTEGER DEFAULT 1 }
/// ```
///
/// (RFC 7292 §4.) `iterations` is read as OPTIONAL: some writers encode the default 1,
/// which DER would leave out.
#[derive(Sequence)]
pub(super) struct MacData<'a> {
    mac: DigestInfo<'a>,
    mac_salt: &'a OctetStringRef,
    #[asn1(optional = "true")]
    iterations: Option<UintRef<'a>>,
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm DigestAlgorithmIdentifier, digest Digest }`
/// (RFC 7292 §4, from PKCS #7), `Digest` being an OCTET STRING.
#[derive(Sequence)]
struct DigestInfo<'a> {
    digest_algorithm: AlgorithmIdentifierOwned,
    digest: &'a OctetStringRef,
}

/// ```text
/// PBMAC1-params ::= SEQUENCE {
///     keyDerivationFunc AlgorithmIdentifier {{PBMAC1-KDFs}},
///     messageAuthScheme AlgorithmIdentifier {{PBMAC1-MACs}} }
/// ```
///
/// (RFC 8018 appendix A.5.)
#[derive(Sequence)]
struct Pbmac1Params {
    key_derivation_func: AlgorithmIdentifierOwned,
    message_auth_scheme: AlgorithmIdentifierOwned,
}

pub(super) fn mac_failed() -> Error {
    Error::InvalidKey("PKCS#12 MAC verification failed: wrong password or damaged file")
}

/// Checks `mac_data` over `content` and returns the BMPString password that verified it;
/// `at` is the offset of the PFX, for errors.
pub(super) fn verify(
    mac_data: &MacData<'_>,
    content: &[u8],
    password: &[u8],
    budget: &mut Budget,
    at: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let iterations = match mac_data.iterations {
        Some(n) => positive_integer(n, "MacData iterations", at)?,
        None => 1,
    };
    let algorithm = &mac_data.mac.digest_algorithm;
    let expected = mac_data.mac.digest.as_bytes();
    let mut candidates = bmp_candidates(password);
    if algorithm.oid == oid::PBMAC1 {
        // RFC 9579: macSalt and iterations are ignored; PBKDF2 takes the octets as given.
        let params: Pbmac1Params = algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as().ok())
            .ok_or(Error::malformed("PBMAC1-params", at))?;
        verify_pbmac1(&params, content, expected, password, budget, at)?;
        return Ok(candidates.swap_remove(0));
    }
    let digest = DigestAlgorithm::from_identifier(algorithm)?;
    for candidate in candidates {
        let mut key = Zeroizing::new(vec![0u8; digest.output_len()]);
        pkcs12_kdf(
            digest,
            KdfId::Mac,
            &candidate,
            mac_data.mac_salt.as_bytes(),
            iterations,
            &mut key,
            budget,
        )?;
        if hmac_verify(digest, &key, content, expected) {
            return Ok(candidate);
        }
    }
    Err(mac_failed())
}

/// Checks a PBMAC1 MAC (RFC 9579 §3: PBKDF2 with a mandatory keyLength).
fn verify_pbmac1(
    params: &Pbmac1Params,
    content: &[u8],
    expected: &[u8],
    password: &[u8],
    budget: &mut Budget,
    at: usize,
) -> Result<(), Error> {
    let kdf = Pbkdf2::from_identifier(&params.key_derivation_func, at)?;
    let digest = hmac_digest(&params.message_auth_scheme.oid)?;
    let key_len = kdf
        .key_len
        .ok_or(Error::malformed("PBMAC1 keyLength (absent)", at))?;
    // An HMAC key longer than a few blocks adds nothing; refuse absurd allocations.
    if key_len > 256 {
        return Err(Error::malformed("PBMAC1 keyLength", at));
    }
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    kdf.derive(password, &mut key, budget)?;
    if hmac_verify(digest, &key, content, expected) {
        Ok(())
    } else {
        Err(mac_failed())
    }
}

/// Whether HMAC-`digest` of `data` under `key` equals `expected` (constant time).
pub(super) fn hmac_verify(
    digest: DigestAlgorithm,
    key: &[u8],
    data: &[u8],
    expected: &[u8],
) -> bool {
    with_digest!(digest, D => match <Hmac<D> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            Mac::update(&mut mac, data);
            mac.verify_slice(expected).is_ok()
        }
        Err(_) => false,
    })
}
