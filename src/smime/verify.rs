//! Verifying: the detached signature of a `multipart/signed` entity (RFC 1847, RFC 5751
//! §3.4.3), for inbound messages and signed MDNs alike, and the caller's further check of
//! the signer ([`SignerTrust`]).

use std::borrow::Cow;

use crate::cert::Certificate;
use crate::cms::signed::{SignedData, Verified};
use crate::error::{Error, VerificationError};
use crate::limits::Limits;
use crate::mime::{self, Part};

/// A check of a signer certificate beyond the signature itself, called once per verified
/// signature whose certificate came from [`InboundPolicy::partner_certificates`](crate::message::inbound::InboundPolicy::partner_certificates).
///
/// The partner profile implements it ([`ProfileTrust`](crate::partner::ProfileTrust)) to enforce certificate
/// rotation windows and chains at `now`, so that a signature by an expired certificate is
/// reported by name and dates instead of as an unknown signer. The MDN layer calls the same
/// hook when it verifies a signed receipt.
pub trait SignerTrust: core::fmt::Debug + Send + Sync {
    /// Accepts `signer` or says why not.
    fn check(&self, signer: &Certificate) -> Result<(), Error>;
}

/// Verifies the two parts of a `multipart/signed` entity (RFC 1847): the signature over
/// the first part's exact bytes, then, if the digest does not match, over its canonical
/// form (for files stored with LF line ends).
pub(crate) fn verify_multipart_signed(
    signed_part: &Part<'_>,
    signature_part: &Part<'_>,
    certificates: &[Certificate],
    limits: &Limits,
    binary_canonicalization: bool,
) -> Result<Verified, Error> {
    verify_multipart_signed_exact(
        signed_part,
        signature_part,
        certificates,
        limits,
        binary_canonicalization,
    )
    .map(|(verified, _)| verified)
}

/// [`verify_multipart_signed`], also returning the canonical entity when the signature
/// verified over it and not over the bytes received (line ends changed in transit): the
/// entity to deliver is then that canonical form, exactly what was signed, never the
/// altered bytes.
fn verify_multipart_signed_exact(
    signed_part: &Part<'_>,
    signature_part: &Part<'_>,
    certificates: &[Certificate],
    limits: &Limits,
    binary_canonicalization: bool,
) -> Result<(Verified, Option<Vec<u8>>), Error> {
    let signature = signature_der(signature_part)?;
    let signed = SignedData::parse(&signature, limits)?;
    let raw = signed_part.raw();
    match signed.verify(Some(raw), certificates) {
        Err(Error::Verification(VerificationError::DigestMismatch)) => {
            let canonical = mime::canonical_entity(signed_part, binary_canonicalization);
            if *canonical == *raw {
                return Err(VerificationError::DigestMismatch.into());
            }
            let verified = signed.verify(Some(&canonical), certificates)?;
            Ok((verified, Some(canonical.into_owned())))
        }
        other => other.map(|verified| (verified, None)),
    }
}

/// The DER of a signature part: its decoded body, or, when a product sent base64 without
/// saying so in Content-Transfer-Encoding, the base64 decoding of it.
pub(crate) fn signature_der<'a>(part: &Part<'a>) -> Result<Cow<'a, [u8]>, Error> {
    let decoded = part.decoded_body()?;
    if decoded.first() == Some(&0x30) || part.transfer_encoding_present() {
        return Ok(decoded);
    }
    match mime::base64_decode(&decoded) {
        Ok(der) if der.first() == Some(&0x30) => Ok(Cow::Owned(der)),
        _ => Ok(decoded),
    }
}
