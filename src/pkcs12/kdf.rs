//! Key derivation: the password as a BMPString and the PKCS#12 KDF (RFC 7292 appendix
//! B), PBKDF2 (RFC 8018 §5.2) for PBES2 and PBMAC1, and the work budget both are charged
//! against.

use der::asn1::{AnyRef, OctetStringRef, UintRef};
use der::{Sequence, Tagged};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::{oid, positive_integer};
use crate::cms::algorithm::DigestAlgorithm;
use crate::cms::signed::with_digest;
use crate::error::{AlgorithmKind, Error};
use crate::limits::{Limit, Limits};

/// The password in the two encodings the schemes use.
pub(super) struct Password<'a> {
    /// The octets as given: PBKDF2's input.
    pub(super) raw: &'a [u8],
    /// The BMPString form that verified the MAC: the PKCS#12 KDF's input.
    pub(super) bmp: Zeroizing<Vec<u8>>,
}

/// The BMPString encodings to try for `password`, most likely first.
pub(super) fn bmp_candidates(password: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    if password.is_empty() {
        // OpenSSL's PKCS12_parse tries an absent password (no octets at all) and then the
        // empty string (the terminator alone).
        return vec![Zeroizing::new(Vec::new()), Zeroizing::new(vec![0, 0])];
    }
    let octets_as_chars = || bmp_string(password.iter().map(|b| u16::from(*b)));
    match core::str::from_utf8(password) {
        Ok(text) if text.is_ascii() => vec![bmp_string(text.encode_utf16())],
        Ok(text) => vec![bmp_string(text.encode_utf16()), octets_as_chars()],
        // Not UTF-8: OpenSSL falls back to one character per octet.
        Err(_) => vec![octets_as_chars()],
    }
}

/// UTF-16 big-endian code units with a two-octet NUL terminator (RFC 7292 appendix B.1).
pub(super) fn bmp_string(units: impl Iterator<Item = u16>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    for unit in units {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// What a PKCS#12 KDF output is for: the diversifier ID of RFC 7292 appendix B.3.
#[derive(Clone, Copy)]
pub(super) enum KdfId {
    Key = 1,
    Iv = 2,
    Mac = 3,
}

/// The running total of key-derivation work for one file.
pub(super) struct Budget {
    remaining: u64,
    limit: Error,
}

impl Budget {
    pub(super) fn new(limits: &Limits) -> Self {
        Budget {
            remaining: u64::try_from(limits.max_kdf_iterations).unwrap_or(u64::MAX),
            limit: Limit::KdfIterations.exceeded(limits),
        }
    }

    /// Charges `iterations` rounds for each `block_len`-sized block of an `output_len`
    /// derivation and returns the rounds as the KDFs take them.
    pub(super) fn charge(
        &mut self,
        iterations: u64,
        output_len: usize,
        block_len: usize,
    ) -> Result<u32, Error> {
        let blocks =
            u64::try_from(output_len.div_ceil(block_len.max(1)).max(1)).unwrap_or(u64::MAX);
        let work = iterations.saturating_mul(blocks);
        if work > self.remaining {
            return Err(self.limit.clone());
        }
        self.remaining = self.remaining.saturating_sub(work);
        u32::try_from(iterations).map_err(|_| self.limit.clone())
    }
}

/// The PKCS#12 key derivation function (RFC 7292 appendix B.2) with `digest`, filling
/// `out`. `password` is already in BMPString form.
pub(super) fn pkcs12_kdf(
    digest: DigestAlgorithm,
    id: KdfId,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    out: &mut [u8],
    budget: &mut Budget,
) -> Result<(), Error> {
    let rounds = budget.charge(iterations, out.len(), digest.output_len())?;
    // v, the compression function's block size in octets.
    let block = match digest {
        DigestAlgorithm::Sha1 | DigestAlgorithm::Sha256 => 64,
        DigestAlgorithm::Sha384 | DigestAlgorithm::Sha512 => 128,
    };
    with_digest!(digest, D => pkcs12_kdf_with::<D>(block, id as u8, password, salt, rounds, out));
    Ok(())
}

fn pkcs12_kdf_with<D: Digest>(
    v: usize,
    id: u8,
    password: &[u8],
    salt: &[u8],
    rounds: u32,
    out: &mut [u8],
) {
    // Steps 1-4: D = ID repeated; I = S || P, each repeated to a multiple of v octets.
    let diversifier = vec![id; v];
    let repeat = |s: &[u8]| -> Vec<u8> {
        let len = s.len().div_ceil(v).saturating_mul(v);
        s.iter().cycle().take(len).copied().collect()
    };
    let mut i = Zeroizing::new(repeat(salt));
    i.extend_from_slice(&Zeroizing::new(repeat(password)));
    let mut chunks = out.chunks_mut(<D as Digest>::output_size()).peekable();
    while let Some(chunk) = chunks.next() {
        // Step 6a: A = H^r(D || I).
        let mut a = D::new()
            .chain_update(&diversifier)
            .chain_update(&*i)
            .finalize();
        for _ in 1..rounds {
            a = D::digest(&a);
        }
        for (o, x) in chunk.iter_mut().zip(a.iter()) {
            *o = *x;
        }
        if chunks.peek().is_none() {
            break;
        }
        // Steps 6b-6c: B = A repeated to v octets; each v-octet block of I += B + 1.
        let b: Zeroizing<Vec<u8>> = Zeroizing::new(a.iter().cycle().take(v).copied().collect());
        for block in i.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                // At most 255 + 255 + 1: no overflow in u16.
                #[allow(clippy::arithmetic_side_effects)]
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum.to_be_bytes()[1];
                carry = sum >> 8;
            }
        }
    }
}

/// ```text
/// PBKDF2-params ::= SEQUENCE {
///     salt CHOICE {
///         specified OCTET STRING,
///         otherSource AlgorithmIdentifier {{PBKDF2-SaltSources}}
///     },
///     iterationCount INTEGER (1..MAX),
///     keyLength INTEGER (1..MAX) OPTIONAL,
///     prf AlgorithmIdentifier {{PBKDF2-PRFs}} DEFAULT algid-hmacWithSHA1 }
/// ```
///
/// (RFC 8018 appendix A.2.) `pkcs5::pbes2::Pbkdf2Params` would turn an unknown PRF or an
/// `otherSource` into a decoding error; here each keeps its own error.
#[derive(Sequence)]
struct Pbkdf2Params<'a> {
    salt: AnyRef<'a>,
    iteration_count: UintRef<'a>,
    #[asn1(optional = "true")]
    key_length: Option<UintRef<'a>>,
    #[asn1(optional = "true")]
    prf: Option<AlgorithmIdentifierOwned>,
}

/// PBKDF2 as a keyDerivationFunc names it.
pub(super) struct Pbkdf2<'a> {
    salt: &'a [u8],
    iterations: u64,
    /// The keyLength field, if present.
    pub(super) key_len: Option<usize>,
    prf: DigestAlgorithm,
}

impl<'a> Pbkdf2<'a> {
    /// Reads a keyDerivationFunc, which must name PBKDF2; `at` is the offset of the
    /// structure holding it, for errors.
    pub(super) fn from_identifier(
        id: &'a AlgorithmIdentifierOwned,
        at: usize,
    ) -> Result<Self, Error> {
        if id.oid != oid::PBKDF2 {
            return Err(Error::UnsupportedAlgorithm {
                kind: AlgorithmKind::ContentEncryption,
                oid: id.oid,
            });
        }
        let params: Pbkdf2Params<'a> = id
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as().ok())
            .ok_or(Error::malformed("PBKDF2-params", at))?;
        if params.salt.tag() == der::Tag::Sequence {
            return Err(Error::UnsupportedFormat(
                "PBKDF2 salt from an otherSource algorithm",
            ));
        }
        let salt = params
            .salt
            .decode_as::<&OctetStringRef>()
            .map_err(|_| Error::malformed("PBKDF2 salt", at))?
            .as_bytes();
        let iterations = positive_integer(params.iteration_count, "PBKDF2 iterationCount", at)?;
        let key_len = match params.key_length {
            Some(n) => Some(
                usize::try_from(positive_integer(n, "PBKDF2 keyLength", at)?)
                    .map_err(|_| Error::malformed("PBKDF2 keyLength", at))?,
            ),
            None => None,
        };
        let prf = match &params.prf {
            Some(prf) => hmac_digest(&prf.oid)?,
            None => DigestAlgorithm::Sha1,
        };
        Ok(Pbkdf2 {
            salt,
            iterations,
            key_len,
            prf,
        })
    }

    /// Fills `out` with key material from `password` (octets as given).
    pub(super) fn derive(
        &self,
        password: &[u8],
        out: &mut [u8],
        budget: &mut Budget,
    ) -> Result<(), Error> {
        let rounds = budget.charge(self.iterations, out.len(), self.prf.output_len())?;
        with_digest!(self.prf, D => pbkdf2::pbkdf2_hmac::<D>(password, self.salt, rounds, out));
        Ok(())
    }
}

/// The digest of an `hmacWithSHA*` PRF or MAC identifier (RFC 8018 appendix B.1).
pub(super) fn hmac_digest(id: &const_oid::ObjectIdentifier) -> Result<DigestAlgorithm, Error> {
    match *id {
        oid::HMAC_SHA1 => Ok(DigestAlgorithm::Sha1),
        oid::HMAC_SHA256 => Ok(DigestAlgorithm::Sha256),
        oid::HMAC_SHA384 => Ok(DigestAlgorithm::Sha384),
        oid::HMAC_SHA512 => Ok(DigestAlgorithm::Sha512),
        other => Err(Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::Digest,
            oid: other,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn bmp_password_encodings() {
        assert_eq!(
            &**bmp_candidates(b"ab").first().unwrap(),
            &[0, b'a', 0, b'b', 0, 0][..]
        );
        let both = bmp_candidates("é".as_bytes());
        assert_eq!(&*both[0], &[0x00, 0xe9, 0, 0][..]);
        assert_eq!(&*both[1], &[0x00, 0xc3, 0x00, 0xa9, 0, 0][..]);
        // A character outside the BMP becomes a surrogate pair, as OpenSSL writes it.
        assert_eq!(
            &*bmp_candidates("𝄞".as_bytes())[0],
            &[0xd8, 0x34, 0xdd, 0x1e, 0, 0][..]
        );
        let empty = bmp_candidates(b"");
        assert_eq!(empty[0].as_slice(), &[] as &[u8]);
        assert_eq!(empty[1].as_slice(), &[0u8, 0]);
    }

    /// Expected values from OpenSSL 3.0's PKCS12KDF, e.g.
    /// `openssl kdf -keylen 24 -kdfopt digest:SHA1 -kdfopt hexpass:0073006D006500670000
    /// -kdfopt hexsalt:0A58CF64530D823F -kdfopt iter:1 -kdfopt id:1 PKCS12KDF`; the longer
    /// outputs cover the update of I between blocks (RFC 7292 appendix B.2 step 6c).
    #[test]
    fn kdf_matches_openssl() {
        let cases: [(DigestAlgorithm, KdfId, &str, &str, u64, &str); 4] = [
            (
                DigestAlgorithm::Sha1,
                KdfId::Key,
                "smeg",
                "0a58cf64530d823f",
                1,
                "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3",
            ),
            (
                DigestAlgorithm::Sha1,
                KdfId::Iv,
                "smeg",
                "0a58cf64530d823f",
                1,
                "79993dfe048d3b76",
            ),
            (
                DigestAlgorithm::Sha256,
                KdfId::Key,
                "queeg",
                "05dec959acff72f7",
                1000,
                "74903b2a07c2fc6bff672a1a8c30583ddc4f7c1a68930ac40917dcfe6baa5ae3d7867c4ca9a8fb54\
              26b5aa0d954235141b73d61e690a595b708c2a343315d073d0778208ed9240a7a4c743a68552544c\
              c202b90f8ebe5452a5fb4507c3030a9d8a8698db",
            ),
            (
                DigestAlgorithm::Sha512,
                KdfId::Mac,
                "queeg",
                "05dec959acff72f7",
                1000,
                "b2587204c6cbda975c143740c4d3309850ac282bf83fb0e44f0fb90f2f76ae37\
              ed6f81cfe5b0709a7920bc5dee028715c7e18dd0da540d7baf112a4a7f08878b\
              3147a66d211a2da922123f1d4ba1df0a7fead9c9b1f18cfca8bda6e10604a9d7\
              8d1a1b95a3be6095b795ba4cf8d78c0ebea656bcb44ef7163d66fd2cec1450ed\
              acaf02a608463c2f26e88a43caa0d4c8c5eec3a15eda",
            ),
        ];
        for (digest, id, password, salt, iterations, expected) in cases {
            let mut budget = Budget::new(&Limits::default());
            let expected = hex(expected);
            let mut out = vec![0u8; expected.len()];
            pkcs12_kdf(
                digest,
                id,
                &bmp_string(password.encode_utf16()),
                &hex(salt),
                iterations,
                &mut out,
                &mut budget,
            )
            .unwrap();
            assert_eq!(out, expected, "{digest} {password}");
        }
    }

    #[test]
    fn budget_caps_total_work() {
        let limits = Limits {
            max_kdf_iterations: 100,
            ..Limits::default()
        };
        let mut budget = Budget::new(&limits);
        assert_eq!(budget.charge(40, 32, 32).unwrap(), 40);
        // 24 octets of SHA-1 output are two 20-octet blocks: 2 × 30 = 60, all that remains.
        assert_eq!(budget.charge(30, 24, 20).unwrap(), 30);
        assert_eq!(
            budget.charge(1, 1, 20).unwrap_err(),
            Error::LimitExceeded {
                limit: Limit::KdfIterations,
                value: 100
            }
        );
    }
}
