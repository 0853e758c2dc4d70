//! Certificate chain verification to caller-supplied trust anchors (RFC 5280 §6, the parts
//! an AS2 partner certificate needs).
//!
//! From the leaf, each certificate's issuer is looked for among the trust anchors, then
//! among the supplied intermediates, by issuer/subject Name in DER; the issuer's key must
//! verify the certificate's signature: RSA (PKCS#1 v1.5 or PSS over SHA-1/SHA-2) or ECDSA
//! on P-256 or P-384 (`ecdsa-with-SHAn`, RFC 5758 §3.2), with the same check as CMS
//! signatures, so an RSA identifier is never verified with an EC key or the reverse. Every
//! certificate passed through must be inside its validity period (unless dates are not
//! enforced), and an intermediate whose basicConstraints extension is present must say
//! `cA TRUE`. Revocation is not checked: CRLs and OCSP need I/O, which the caller owns.
//!
//! A self-signed leaf is accepted as it is: a profile that holds it pins it, which is
//! how the reference treats self-signed partner certificates (imported without a chain).

use std::time::SystemTime;

use super::certificate::{DateEnforcement, subject_name};
use super::error::{ChainError, PartnerError, UntrustedCertificate};
use crate::cert::Certificate;
use crate::cms::algorithm::{DigestAlgorithm, SignatureAlgorithm, decode_identifier};
use crate::cms::ber::{Reader, Tag, Tlv};
use crate::cms::oid;
use crate::cms::signed::verify_prehash;
use crate::error::Error;
use crate::limits::Limits;
use crate::smime::verify::SignerTrust;

/// Most certificates in a chain, leaf and trust anchor included.
pub const MAX_CHAIN_LENGTH: usize = 8;

const BIT_STRING: Tag = Tag::universal(3, false);
const BOOLEAN: Tag = Tag::universal(1, false);
const BASIC_CONSTRAINTS: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("2.5.29.19");

/// Verifies that `leaf` chains to one of `anchors` through `intermediates` at `now`.
///
/// `leaf` itself may be a trust anchor, and a self-signed `leaf` is accepted without
/// anchors (it is pinned by whoever holds it). Errors are
/// [`PartnerError::UntrustedCertificate`] naming the leaf (by `id`) and the chain element
/// where verification stopped.
pub fn verify_chain(
    id: &str,
    leaf: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    now: SystemTime,
    dates: DateEnforcement,
) -> Result<(), Error> {
    let fail = |at: &Certificate, reason: ChainError| -> Error {
        PartnerError::UntrustedCertificate(Box::new(UntrustedCertificate {
            id: id.to_owned(),
            at_subject: subject_name(at),
            reason,
        }))
        .into()
    };
    let check_dates = |cert: &Certificate| -> Result<(), Error> {
        if dates == DateEnforcement::Enforce && (now < cert.not_before() || now > cert.not_after())
        {
            return Err(fail(
                cert,
                ChainError::NotValidAt {
                    not_before: cert.not_before(),
                    not_after: cert.not_after(),
                    at: now,
                },
            ));
        }
        Ok(())
    };

    check_dates(leaf)?;
    if anchors.contains(leaf) || is_self_signed(leaf) {
        return Ok(());
    }
    let mut current = leaf;
    for _ in 1..MAX_CHAIN_LENGTH {
        let mut name_matched = false;
        for anchor in anchors
            .iter()
            .filter(|a| a.subject_der() == current.issuer_der())
        {
            name_matched = true;
            if verify_signature(current, anchor).is_ok() {
                return check_dates(anchor);
            }
        }
        let mut next = None;
        for candidate in intermediates
            .iter()
            .filter(|c| c.subject_der() == current.issuer_der() && *c != current)
        {
            name_matched = true;
            match verify_signature(current, candidate) {
                Ok(()) => {
                    next = Some(candidate);
                    break;
                }
                Err(ChainError::UnsupportedSignature) => {
                    return Err(fail(current, ChainError::UnsupportedSignature));
                }
                Err(_) => {}
            }
        }
        let Some(issuer) = next else {
            let reason = if name_matched {
                ChainError::BadSignature
            } else {
                ChainError::IssuerNotFound
            };
            return Err(fail(current, reason));
        };
        if basic_constraints_ca(issuer).map_err(|e| fail(issuer, e))? == Some(false) {
            return Err(fail(issuer, ChainError::NotACa));
        }
        check_dates(issuer)?;
        current = issuer;
    }
    Err(fail(current, ChainError::TooLong))
}

/// The shortest way to trust a partner's signing certificate through a CA: a
/// [`SignerTrust`] that accepts a signer only if it chains to one of `anchors` (through
/// `intermediates`, if any) at `now`, by [`verify_chain`] with dates enforced.
///
/// It checks a certificate the caller already supplied as the partner's
/// ([`InboundPolicy::partner_certificates`], [`SentMessage::partner_certificates`]): it
/// adds the chain and validity checks on top and never makes a certificate that a message
/// merely embeds trusted. As with [`verify_chain`], a self-signed partner certificate is
/// taken as pinned by whoever supplied it. Revocation (CRLs, OCSP) needs I/O and stays
/// with the caller. `now` is a parameter: the crate reads no clock.
///
/// ```no_run
/// # use std::time::SystemTime;
/// # use as2_proto::{Certificate, Limits, PrivateKey};
/// # use as2_proto::message::inbound::InboundPolicy;
/// # use as2_proto::partner::ChainTrust;
/// # fn f(keys: &[(Certificate, PrivateKey)], partner: &[Certificate], ca: Certificate)
/// # -> Result<(), as2_proto::Error> {
/// let limits = Limits::default();
/// let anchors = [ca];
/// let trust = ChainTrust::new(&anchors, SystemTime::now());
/// let policy = InboundPolicy::new(keys, partner, &limits).with_signer_trust(&trust);
/// # Ok(()) }
/// ```
///
/// A [`Profile`](super::Profile) with trust anchors does the same and more (rotation
/// windows, per-certificate chains) through [`ProfileTrust`](super::ProfileTrust).
///
/// [`InboundPolicy::partner_certificates`]: crate::message::inbound::InboundPolicy::partner_certificates
/// [`SentMessage::partner_certificates`]: crate::mdn::SentMessage::partner_certificates
#[derive(Clone, Copy, Debug)]
pub struct ChainTrust<'a> {
    anchors: &'a [Certificate],
    intermediates: &'a [Certificate],
    now: SystemTime,
}

impl<'a> ChainTrust<'a> {
    /// Trust in signers that chain to one of `anchors` at `now`, with no intermediates.
    pub fn new(anchors: &'a [Certificate], now: SystemTime) -> Self {
        ChainTrust {
            anchors,
            intermediates: &[],
            now,
        }
    }

    /// The intermediate CA certificates a chain may pass through.
    pub fn with_intermediates(mut self, intermediates: &'a [Certificate]) -> Self {
        self.intermediates = intermediates;
        self
    }

    /// The trust anchors.
    pub fn anchors(&self) -> &'a [Certificate] {
        self.anchors
    }

    /// The moment checked.
    pub fn now(&self) -> SystemTime {
        self.now
    }
}

impl SignerTrust for ChainTrust<'_> {
    /// Accepts `signer` if [`verify_chain`] does, naming it by its subject otherwise.
    fn check(&self, signer: &Certificate) -> Result<(), Error> {
        verify_chain(
            &subject_name(signer),
            signer,
            self.intermediates,
            self.anchors,
            self.now,
            DateEnforcement::Enforce,
        )
    }
}

/// Whether the certificate names itself as issuer and its own key verifies it.
pub(crate) fn is_self_signed(cert: &Certificate) -> bool {
    cert.issuer_der() == cert.subject_der() && verify_signature(cert, cert).is_ok()
}

/// The signed parts of a certificate: tbsCertificate bytes, signatureAlgorithm, and the
/// signature value.
struct SignedParts<'a> {
    tbs: Tlv<'a>,
    algorithm: Tlv<'a>,
    signature: &'a [u8],
}

fn signed_parts<'a>(der: &'a [u8], limits: &Limits) -> Result<SignedParts<'a>, ChainError> {
    let bad = |_| ChainError::Malformed;
    let cert = Reader::new(der, limits)
        .expect(Tag::SEQUENCE, "Certificate")
        .map_err(bad)?;
    let mut r = cert.children("Certificate").map_err(bad)?;
    let tbs = r.expect(Tag::SEQUENCE, "tbsCertificate").map_err(bad)?;
    let algorithm = r.expect(Tag::SEQUENCE, "signatureAlgorithm").map_err(bad)?;
    let value = r.expect(BIT_STRING, "signatureValue").map_err(bad)?;
    r.finish("Certificate").map_err(bad)?;
    // The first content octet counts unused bits, which a signature never has.
    let signature = match value.contents.split_first() {
        Some((0, bits)) => bits,
        _ => return Err(ChainError::Malformed),
    };
    Ok(SignedParts {
        tbs,
        algorithm,
        signature,
    })
}

/// Verifies `cert`'s signature with `issuer`'s key, by the crate's one signature check
/// ([`verify_prehash`], shared with SignerInfos).
///
/// The signatureAlgorithm must name its digest: `shaNWithRSAEncryption`, RSASSA-PSS or
/// `ecdsa-with-SHAn` (RFC 5758 §3.2, parameters absent). An algorithm the issuer's key
/// does not make (an RSA identifier with an EC key or the reverse) is a signature that does
/// not verify with this issuer, never checked as the other algorithm.
fn verify_signature(cert: &Certificate, issuer: &Certificate) -> Result<(), ChainError> {
    let limits = Limits::default();
    let parts = signed_parts(cert.der(), &limits)?;
    let key = issuer
        .public_key()
        .ok_or(ChainError::UnsupportedSignature)?;
    let id = decode_identifier(&parts.algorithm, "signatureAlgorithm")
        .map_err(|_| ChainError::Malformed)?;
    let named = DigestAlgorithm::ALL
        .into_iter()
        .find(|d| d.rsa_signature_oid() == id.oid || d.ecdsa_signature_oid() == id.oid);
    let (algorithm, digest) = match named {
        Some(digest) => match SignatureAlgorithm::parse(&parts.algorithm, digest) {
            Ok(algorithm) => (algorithm, digest),
            Err(_) => return Err(ChainError::Malformed),
        },
        // The digest argument only cross-checks the other identifiers; PSS names its own.
        None if id.oid == oid::RSASSA_PSS => {
            match SignatureAlgorithm::parse(&parts.algorithm, DigestAlgorithm::Sha256) {
                Ok(algorithm @ SignatureAlgorithm::RsaPss { hash, .. }) => (algorithm, hash),
                _ => return Err(ChainError::UnsupportedSignature),
            }
        }
        None => return Err(ChainError::UnsupportedSignature),
    };
    let hashed = digest.digest(parts.tbs.raw);
    verify_prehash(algorithm, digest, key, &hashed, parts.signature)
        .map_err(|_| ChainError::BadSignature)
}

/// The basicConstraints `cA` flag, if the extension is present (RFC 5280 §4.2.1.9).
fn basic_constraints_ca(cert: &Certificate) -> Result<Option<bool>, ChainError> {
    let bad = |_| ChainError::Malformed;
    let limits = Limits::default();
    let parts = signed_parts(cert.der(), &limits)?;
    let mut t = parts.tbs.children("tbsCertificate").map_err(bad)?;
    while !t.is_empty() {
        let field = t.read("tbsCertificate").map_err(bad)?;
        if field.tag != Tag::context(3, true) {
            continue;
        }
        let mut outer = field.children("extensions").map_err(bad)?;
        let list = outer.expect(Tag::SEQUENCE, "extensions").map_err(bad)?;
        let mut r = list.children("extensions").map_err(bad)?;
        while !r.is_empty() {
            let ext = r.expect(Tag::SEQUENCE, "Extension").map_err(bad)?;
            let mut e = ext.children("Extension").map_err(bad)?;
            let id = e
                .expect(Tag::OID, "extnID")
                .and_then(|o| o.oid("extnID"))
                .map_err(bad)?;
            if id != BASIC_CONSTRAINTS {
                continue;
            }
            let mut value = e.read("extnValue").map_err(bad)?;
            if value.tag == BOOLEAN {
                value = e.read("extnValue").map_err(bad)?;
            }
            let octets = value.octets("extnValue").map_err(bad)?;
            let constraints = Reader::new(&octets, &limits)
                .expect(Tag::SEQUENCE, "BasicConstraints")
                .map_err(bad)?;
            let mut c = constraints.children("BasicConstraints").map_err(bad)?;
            // cA BOOLEAN DEFAULT FALSE: absent means not a CA.
            let ca = match c.read_optional(BOOLEAN, "cA").map_err(bad)? {
                Some(flag) => flag.contents.first().is_some_and(|b| *b != 0),
                None => false,
            };
            return Ok(Some(ca));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::unix_time;

    fn cert(pem: &[u8]) -> Certificate {
        Certificate::from_pem(pem).unwrap()
    }

    /// The example PKI: a CA and partner certificates it issued (valid from November
    /// 2026 for 20 years), and the self-signed documentation certificate.
    #[test]
    fn chain_trust_accepts_only_chains_to_its_anchors_at_now() {
        let ca = [cert(include_bytes!("../../examples/pki/ca/ca.crt"))];
        let partner = cert(include_bytes!("../../examples/pki/PartnerA/sign.crt"));
        let other = [cert(include_bytes!("../../examples/pki/PartnerB/sign.crt"))];
        let doc = cert(include_bytes!("../../tests/data/keys/doc.crt"));
        let now = unix_time(1_900_000_000);
        assert_eq!(ChainTrust::new(&ca, now).check(&partner), Ok(()));

        let untrusted = |result: Result<(), Error>| match result {
            Err(Error::Partner(PartnerError::UntrustedCertificate(u))) => u.reason,
            other => panic!("{other:?}"),
        };
        // Another anchor, or none: the CA is not found.
        assert_eq!(
            untrusted(ChainTrust::new(&other, now).check(&partner)),
            ChainError::IssuerNotFound
        );
        assert_eq!(
            untrusted(ChainTrust::new(&[], now).check(&partner)),
            ChainError::IssuerNotFound
        );
        // Before the certificates' NotBefore.
        assert!(matches!(
            untrusted(ChainTrust::new(&ca, unix_time(1_700_000_000)).check(&partner)),
            ChainError::NotValidAt { .. }
        ));
        // The error names the signer by its subject.
        match ChainTrust::new(&other, now).check(&partner) {
            Err(Error::Partner(PartnerError::UntrustedCertificate(u))) => {
                assert!(u.id.contains("PartnerA signing"), "{}", u.id);
            }
            other => panic!("{other:?}"),
        }
        // A self-signed certificate supplied as the partner's is pinned (verify_chain's
        // rule); the CA itself is an anchor.
        assert_eq!(ChainTrust::new(&ca, now).check(&doc), Ok(()));
        assert_eq!(ChainTrust::new(&ca, now).check(&ca[0]), Ok(()));
    }
}
