//! CEM and partner profiles: certificate rotation by request and response.
//!
//! **Receiving a request** ([`handle_request`]). Nothing changes unless the message that
//! carried the request was signed, its signature verified, and the signer is one of the
//! partner profile's signing certificates usable at `now` (and chains to the profile's
//! trust anchors, if it has any): the function takes a [`VerifiedSigner`], which only a
//! [`Received`] message with a verified signature yields. Each certificate offered is then
//! accepted or rejected with a reason (not valid at the time it would take over, a usage
//! its keyUsage/extendedKeyUsage forbids or that profiles do not hold, an untrusted chain,
//! a full profile), and every accepted one enters the partner profile with the reference
//! service's rotation windows:
//!
//! - its **Active Date is the respond-by date** (or `now` without one): from then on
//!   outbound processing encrypts to it (the profile picks the usable certificate with the
//!   latest end) and inbound accepts its signatures;
//! - the **old certificate is left as it is**: inbound processing keeps accepting its
//!   signatures until its own Inactive Date (or NotAfter), the grace period of the
//!   reference's rotation table.
//!
//! The answer is a [`CemResponse`] to send back to the request's `ResponseURL`.
//!
//! **Sending a request** ([`request_rotation`]): the new local certificate (with its
//! private key) enters the local profile at once for decryption (a partner may encrypt to
//! it as soon as it has accepted) and from the respond-by date for signing (when the
//! partner starts to accept its signatures); the [`RequestMessage`] returned is what to
//! send. [`handle_response`] checks the partner's signed answer and withdraws the
//! certificates it rejected.

use std::time::SystemTime;

use super::CemError;
use super::message::RequestMessage;
use super::request::{CemRequest, CertUsage, EndEntity, TradingPartnerInfo, TrustRequest};
use super::response::{CemResponse, CertStatus, CertificateReference, TrustResponse};
use super::xml;
use crate::cert::{Certificate, KeyUse, UsageCheck};
use crate::message::headers::As2Id;
use crate::message::inbound::{Received, SignerTrust};
use crate::partner::{
    CertificateUsage, ChainTrust, DateEnforcement, ImportMode, Profile, ProfileCertificate,
    verify_chain,
};

/// Proof that a CEM message was signed and its signature verified: the signer's
/// certificate and the AS2-From of the message. Only a [`Received`] message with a
/// verified signature yields one, so the rotation functions cannot be called for an
/// unsigned message; whether the signer is the partner's *current* certificate is checked
/// against the profile by each of them.
#[derive(Clone, Debug)]
pub struct VerifiedSigner {
    from: As2Id,
    certificate: Certificate,
}

impl VerifiedSigner {
    /// The signer of `received`, a message from `from` (its AS2-From, as
    /// [`Incoming::from`](crate::message::inbound::Incoming::from) read it). Fails with
    /// [`CemError::Unsigned`] if the message was not signed.
    ///
    /// The CEM parts must come from this message's payload.
    pub fn from_received(from: &As2Id, received: &Received) -> Result<Self, CemError> {
        let verified = received.signature.as_ref().ok_or(CemError::Unsigned)?;
        Ok(VerifiedSigner {
            from: from.clone(),
            certificate: verified.signer.clone(),
        })
    }

    /// The AS2-From of the message.
    pub fn from(&self) -> &As2Id {
        &self.from
    }

    /// The certificate whose signature verified.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Checks that the message came from `partner` and that the signer is one of its
    /// signing certificates usable at `now`, chaining to its anchors if it has any.
    pub fn check_current(&self, partner: &Profile, now: SystemTime) -> Result<(), CemError> {
        check_sender(partner, self.from.as_str())?;
        partner
            .trust(now, DateEnforcement::Enforce)
            .check(&self.certificate)
            .map_err(CemError::SignerNotCurrent)
    }
}

fn check_sender(partner: &Profile, found: &str) -> Result<(), CemError> {
    if partner.as2_id().as_str() != found {
        return Err(CemError::SenderMismatch {
            expected: partner.as2_id().as_str().to_owned(),
            found: found.to_owned(),
        });
    }
    Ok(())
}

/// How [`handle_request`] decides.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestPolicy<'a> {
    /// Our AS2 ID: the responder named in the response.
    pub responder: &'a As2Id,
    /// Trust anchors a new certificate must chain to (through the chain in its part and
    /// the trust's intermediates). `None`: the partner profile's own anchors decide, and a
    /// profile without anchors pins certificates as it does for configured ones.
    pub chain_trust: Option<&'a ChainTrust<'a>>,
    /// The moment of processing.
    pub now: SystemTime,
}

impl<'a> RequestPolicy<'a> {
    /// Respond as `responder` at `now`, trusting certificates as the profile does.
    pub fn new(responder: &'a As2Id, now: SystemTime) -> Self {
        RequestPolicy {
            responder,
            chain_trust: None,
            now,
        }
    }

    /// New certificates must chain to `trust`'s anchors.
    pub fn with_chain_trust(mut self, trust: &'a ChainTrust<'a>) -> Self {
        self.chain_trust = Some(trust);
        self
    }
}

/// What [`handle_request`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestOutcome {
    /// The response to send to the request's `ResponseURL`.
    pub response: CemResponse,
    /// The ids of the certificates added to the partner profile.
    pub added: Vec<String>,
}

/// Why a certificate was rejected; its text is the `ReasonForRejection`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The certificate is not yet valid when it would take over.
    NotYetValid,
    /// The certificate has expired by the time it would take over.
    Expired,
    /// A usage profiles do not hold (e.g. `tlsServer`: TLS is the caller's).
    UnsupportedUsage(String),
    /// The certificate's keyUsage or extendedKeyUsage forbids the usage.
    WrongUsage(String),
    /// The key is neither RSA nor EC on P-256 or P-384.
    UnsupportedKey,
    /// The certificate does not chain to a trust anchor (the reason).
    ChainUntrusted(String),
    /// The profile cannot take it (the reason).
    Profile(String),
}

impl core::fmt::Display for Rejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotYetValid => f.write_str("certificate not yet valid at the respond-by date"),
            Self::Expired => f.write_str("certificate expired"),
            Self::UnsupportedUsage(u) => write!(f, "certificate usage {u} not supported"),
            Self::WrongUsage(e) => write!(f, "wrong certificate usage: {e}"),
            Self::UnsupportedKey => f.write_str("unsupported public key algorithm"),
            Self::ChainUntrusted(e) => write!(f, "certificate chain not trusted: {e}"),
            Self::Profile(e) => write!(f, "certificate not stored: {e}"),
        }
    }
}

/// Handles a partner's request (see the module docs): checks the signer, decides each
/// certificate, adds the accepted ones to `partner`, and returns the response.
///
/// Fails, changing nothing, with [`CemError::SenderMismatch`] if the message or the
/// request's `TradingPartnerInfo` names another party than `partner`, and
/// [`CemError::SignerNotCurrent`] if the signer is not one of the partner's current
/// signing certificates. The profile changes all at once, after every decision.
pub fn handle_request(
    partner: &mut Profile,
    message: &RequestMessage,
    signer: &VerifiedSigner,
    policy: &RequestPolicy<'_>,
) -> Result<RequestOutcome, CemError> {
    signer.check_current(partner, policy.now)?;
    let request = message.request();
    check_sender(partner, &request.partner.name)?;

    let mut updated = partner.clone();
    let mut responses = Vec::new();
    let mut added = Vec::new();
    for (index, (trust, certificate, chain)) in message.entries().enumerate() {
        let reference = CertificateReference::for_certificate(certificate);
        let id = format!("cem-{}-{}", request.request_id, index.saturating_add(1));
        match decide(&updated, trust, certificate, chain, policy)
            .and_then(|usage| add(&mut updated, &id, usage, trust, certificate, chain, policy))
        {
            Ok(Some(id)) => {
                added.push(id);
                responses.push(TrustResponse::accepted(reference));
            }
            Ok(None) => responses.push(TrustResponse::accepted(reference)),
            Err(rejection) => {
                responses.push(TrustResponse::rejected(reference, rejection.to_string()))
            }
        }
    }
    *partner = updated;
    Ok(RequestOutcome {
        response: CemResponse::new(
            request.request_id.clone(),
            TradingPartnerInfo::as2(policy.responder.as_str(), policy.now),
            responses,
        ),
        added,
    })
}

/// The profile usage a trust request asks for, if the certificate may serve it.
fn decide(
    partner: &Profile,
    trust: &TrustRequest,
    certificate: &Certificate,
    chain: &[Certificate],
    policy: &RequestPolicy<'_>,
) -> Result<CertificateUsage, Rejection> {
    let (mut signing, mut encryption) = (false, false);
    for usage in &trust.usages {
        match usage {
            CertUsage::Signing => signing = true,
            CertUsage::Encryption => encryption = true,
            other => return Err(Rejection::UnsupportedUsage(other.to_string())),
        }
    }
    let usage = match (signing, encryption) {
        (true, true) => CertificateUsage::EncryptionAndSigning,
        (true, false) => CertificateUsage::Signing,
        // At least one usage was parsed, and every one is one of the two.
        _ => CertificateUsage::Encryption,
    };
    let takes_over = takes_over(trust, policy.now);
    if takes_over < certificate.not_before() {
        return Err(Rejection::NotYetValid);
    }
    if takes_over > certificate.not_after() {
        return Err(Rejection::Expired);
    }
    if certificate.key_algorithm().is_none() {
        return Err(Rejection::UnsupportedKey);
    }
    let check = if partner.legacy_key_usage() {
        UsageCheck::Legacy
    } else {
        UsageCheck::Enforce
    };
    let checked = certificate.clone().with_usage_check(check);
    for (wanted, key_use) in [(signing, KeyUse::Signing), (encryption, KeyUse::Encryption)] {
        if wanted {
            checked
                .check_usage(key_use)
                .map_err(|e| Rejection::WrongUsage(e.to_string()))?;
        }
    }
    if let Some(trust) = policy.chain_trust {
        let now_trust = ChainTrust::new(trust.anchors(), policy.now);
        let chained = now_trust.check(certificate).or_else(|_| {
            verify_chain(
                "new certificate",
                certificate,
                chain,
                trust.anchors(),
                policy.now,
                DateEnforcement::Enforce,
            )
        });
        chained.map_err(|e| Rejection::ChainUntrusted(e.to_string()))?;
    }
    let candidate = ProfileCertificate::new("new certificate", usage, certificate.clone())
        .with_chain(chain.to_vec());
    partner
        .verify_chain(&candidate, policy.now, DateEnforcement::Enforce)
        .map_err(|e| Rejection::ChainUntrusted(e.to_string()))?;
    Ok(usage)
}

/// When a requested certificate takes over: the respond-by date, or now if that is later
/// or absent.
fn takes_over(trust: &TrustRequest, now: SystemTime) -> SystemTime {
    trust.respond_by.map_or(now, |r| r.max(now))
}

/// Adds the certificate with its window; `None` if the profile already holds it for the
/// usage.
fn add(
    partner: &mut Profile,
    id: &str,
    usage: CertificateUsage,
    trust: &TrustRequest,
    certificate: &Certificate,
    chain: &[Certificate],
    policy: &RequestPolicy<'_>,
) -> Result<Option<String>, Rejection> {
    let held = |u| {
        partner
            .certificates_for(u)
            .any(|c| c.certificate() == certificate)
    };
    let already = match usage {
        CertificateUsage::EncryptionAndSigning => {
            held(CertificateUsage::Signing) && held(CertificateUsage::Encryption)
        }
        other => held(other),
    };
    if already {
        return Ok(None);
    }
    let active = trust.respond_by.unwrap_or(policy.now);
    ProfileCertificate::new(id, usage, certificate.clone())
        .with_chain(chain.to_vec())
        .with_dates(Some(active), None, ImportMode::Lenient)
        .and_then(|entry| partner.add_certificate(entry))
        .map_err(|e| Rejection::Profile(e.to_string()))?;
    Ok(Some(id.to_owned()))
}

/// What to send, and what was added to the local profile, for a new local certificate.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OutgoingRequest {
    /// The request with its certificate: send [`RequestMessage::to_parts`].
    pub message: RequestMessage,
    /// The ids of the local profile's new entries.
    pub added: Vec<String>,
}

/// Starts rotating to `new` (a local certificate with its private key and the usage to
/// rotate): adds it to `local` (for decryption from `now`, for signing from `respond_by`)
/// and builds the request for the partner. The request is from `local`'s AS2 ID; the
/// response is due by `respond_by` at `response_url`.
pub fn request_rotation(
    local: &mut Profile,
    new: &ProfileCertificate,
    respond_by: SystemTime,
    response_url: &str,
    request_id: &str,
    now: SystemTime,
) -> Result<OutgoingRequest, CemError> {
    let certificate = new.certificate();
    let mut usages = Vec::new();
    let mut entries = Vec::new();
    if new.usage().serves(CertificateUsage::Encryption) {
        usages.push(CertUsage::Encryption);
        entries.push((CertificateUsage::Encryption, now, "encryption"));
    }
    if new.usage().serves(CertificateUsage::Signing) {
        usages.push(CertUsage::Signing);
        entries.push((CertificateUsage::Signing, respond_by, "signing"));
    }
    let mut updated = local.clone();
    let mut added = Vec::new();
    for (usage, active, suffix) in entries {
        let id = format!("{}-{suffix}", new.id());
        let mut entry = ProfileCertificate::new(id.clone(), usage, certificate.clone())
            .with_chain(new.chain().to_vec());
        if let Some(key) = new.private_key() {
            entry = entry
                .with_private_key(key.clone())
                .map_err(CemError::Profile)?;
        }
        let entry = entry
            .with_dates(Some(active), None, ImportMode::Lenient)
            .map_err(CemError::Profile)?;
        updated.add_certificate(entry).map_err(CemError::Profile)?;
        added.push(id);
    }
    let content_id = format!("cem-cert-{request_id}-1");
    let request = CemRequest::new(
        request_id,
        TradingPartnerInfo::as2(local.as2_id().as_str(), now),
        vec![TrustRequest::new(
            usages,
            Some(respond_by),
            response_url,
            EndEntity::for_certificate(certificate, content_id),
        )],
    );
    let message = RequestMessage::new(request, vec![(certificate.clone(), new.chain().to_vec())])?;
    *local = updated;
    Ok(OutgoingRequest { message, added })
}

/// What [`handle_response`] found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResponseOutcome {
    /// The certificates of the request the partner accepted.
    pub accepted: Vec<Certificate>,
    /// Those it rejected, with its reason.
    pub rejected: Vec<(Certificate, Option<String>)>,
    /// Those it did not answer for.
    pub unanswered: Vec<Certificate>,
}

/// Handles the partner's response to `sent`: checks that it answers `sent` and was signed
/// with the partner's current certificate, then removes from `local` the entries
/// [`request_rotation`] added for a certificate the partner rejected (ids in `added`).
pub fn handle_response(
    local: &mut Profile,
    sent: &OutgoingRequest,
    response: &CemResponse,
    signer: &VerifiedSigner,
    partner: &Profile,
    now: SystemTime,
) -> Result<ResponseOutcome, CemError> {
    signer.check_current(partner, now)?;
    check_sender(partner, &response.partner.name)?;
    let expected = &sent.message.request().request_id;
    if &response.request_id != expected {
        return Err(CemError::RequestIdMismatch {
            expected: expected.clone(),
            found: response.request_id.clone(),
        });
    }
    let mut outcome = ResponseOutcome {
        accepted: Vec::new(),
        rejected: Vec::new(),
        unanswered: Vec::new(),
    };
    let mut withdraw = Vec::new();
    for (_, certificate, _) in sent.message.entries() {
        match response.response_for(certificate) {
            Some(answer) if answer.status == CertStatus::Accepted => {
                outcome.accepted.push(certificate.clone())
            }
            Some(answer) => {
                withdraw.push(certificate.clone());
                outcome
                    .rejected
                    .push((certificate.clone(), answer.reason.clone()));
            }
            None => outcome.unanswered.push(certificate.clone()),
        }
    }
    if !withdraw.is_empty() {
        local.retain_certificates(|c| {
            !(sent.added.iter().any(|id| id == c.id()) && withdraw.contains(c.certificate()))
        });
    }
    Ok(outcome)
}

/// The decimal serial number of `certificate`, as CEM writes it.
pub fn serial_number(certificate: &Certificate) -> String {
    xml::serial_decimal(certificate.serial())
}
