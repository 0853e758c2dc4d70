//! Agreements: how messages from a partner to us are received (the reference's inbound
//! side).

use std::sync::Arc;
use std::time::SystemTime;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use super::certificate::{CertificateUsage, DateEnforcement};
use super::error::{NotFound, PartnerError, ProfileUnavailable};
use super::profile::{Profile, ProfileTrust, ProfileType, Status};
use crate::cert::{Certificate, PrivateKey};
use crate::cms::signed::{SignOptions, Signer};
use crate::error::Error;
use crate::limits::Limits;
use crate::mdn::MdnSettings;
use crate::message::headers::As2Version;
use crate::message::inbound::{
    DuplicateCheck, InboundPolicy, Incoming, NoDuplicateCheck, Received, Rejected,
};

/// What to do with a Message-ID already received from the same partner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum DuplicateHandling {
    /// Do not deliver it again and answer `processed/Warning: duplicate-document`, as the
    /// reference does (the default).
    #[default]
    Warn,
    /// Do not check: every message is delivered (for partners that reuse Message-IDs).
    Disabled,
}

fn yes() -> bool {
    true
}

/// An inbound agreement between one of our local profiles and a partner profile.
///
/// Profiles are referenced by id. Defaults follow the reference (encryption required,
/// duplicates answered with a warning, RFC 6211 algorithm protection on MDN signatures),
/// and a signature is required when the partner has a signing certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Agreement {
    /// The agreement's id (e.g. `a-f5c5cbea5f7741988`), written to status records.
    pub id: String,
    /// A description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `ACTIVE` or `INACTIVE`.
    #[serde(default)]
    pub status: Status,
    /// Our profile (the message's AS2-To).
    pub local_profile: String,
    /// The partner's profile (the message's AS2-From).
    pub partner_profile: String,
    /// Where received files go (bucket and prefix in the reference), relative to the
    /// caller's storage root; `processed/` and `failed/` are under it.
    pub base_directory: String,
    /// Refuse unencrypted messages (`INSUFFICENT_MESSAGE_SECURITY_UNENCRYPTED`). Default
    /// true: the reference requires encryption over HTTP.
    #[serde(default = "yes")]
    pub require_encryption: bool,
    /// Refuse unsigned messages: `Some(true)` or `Some(false)` to decide, `None` (the
    /// default) to require a signature exactly when the partner profile has a signing
    /// certificate. Only a required signature stops signature stripping and decryption
    /// oracles (see [`InboundPolicy::require_signature`]); allow unsigned messages only for
    /// partners that cannot sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signature: Option<bool>,
    /// Accept a decrypted payload without MIME headers (Mendelson's unsigned form; see
    /// [`InboundPolicy::accept_bare_payload`]). Default false; has no effect while a
    /// signature is required.
    #[serde(default)]
    pub accept_bare_payload: bool,
    /// Duplicate Message-ID handling.
    #[serde(default)]
    pub duplicate_handling: DuplicateHandling,
    /// Whether our MDN signatures carry the RFC 6211 CMSAlgorithmProtection attribute
    /// (default true; some IBM Sterling releases reject it).
    #[serde(default = "yes")]
    pub mdn_algorithm_protection: bool,
    /// The AS2-Version our MDNs declare to this partner (`"1.3"`; default `"1.2"`, see
    /// [`As2Version`]): with 1.3 an MDN is never signed with SHA-1
    /// ([`MdnSettings::as2_version`]). Set it like the connector's for the same partner.
    #[serde(default, skip_serializing_if = "is_default_version")]
    pub as2_version: As2Version,
}

fn is_default_version(version: &As2Version) -> bool {
    *version == As2Version::default()
}

impl Agreement {
    /// An active agreement with the reference's defaults.
    pub fn new(
        id: impl Into<String>,
        local_profile: impl Into<String>,
        partner_profile: impl Into<String>,
        base_directory: impl Into<String>,
    ) -> Self {
        Agreement {
            id: id.into(),
            description: None,
            status: Status::Active,
            local_profile: local_profile.into(),
            partner_profile: partner_profile.into(),
            base_directory: base_directory.into(),
            require_encryption: true,
            require_signature: None,
            accept_bare_payload: false,
            duplicate_handling: DuplicateHandling::Warn,
            mdn_algorithm_protection: true,
            as2_version: As2Version::default(),
        }
    }
}

/// Checks that `profile` can serve `item` as a profile of `expected` type.
pub(crate) fn check_profile(
    item: &str,
    profile: &Profile,
    expected: ProfileType,
) -> Result<(), NotFound> {
    let unavailable = |reason| NotFound::Profile {
        item: item.to_owned(),
        profile: profile.id().to_owned(),
        reason,
    };
    if profile.profile_type() != expected {
        return Err(unavailable(ProfileUnavailable::WrongType(
            profile.profile_type(),
        )));
    }
    if profile.status() != Status::Active {
        return Err(unavailable(ProfileUnavailable::Inactive));
    }
    Ok(())
}

/// An active agreement with its two active profiles: what a
/// [`PartnerDirectory`](super::PartnerDirectory) returns for (AS2-From, AS2-To).
#[derive(Clone, Debug)]
pub struct ActiveAgreement {
    agreement: Agreement,
    local: Arc<Profile>,
    partner: Arc<Profile>,
}

impl ActiveAgreement {
    /// Binds an agreement to its profiles. Fails with `AGREEMENT_NOT_FOUND` if the
    /// agreement or a profile is inactive, or a profile is not the one named or of the
    /// wrong type.
    pub fn new(
        agreement: Agreement,
        local: Arc<Profile>,
        partner: Arc<Profile>,
    ) -> Result<Self, Error> {
        let not_found = |n| Error::from(PartnerError::AgreementNotFound(n));
        for (profile, id) in [
            (&local, &agreement.local_profile),
            (&partner, &agreement.partner_profile),
        ] {
            if profile.id() != id {
                return Err(not_found(NotFound::Profile {
                    item: agreement.id.clone(),
                    profile: id.clone(),
                    reason: ProfileUnavailable::Missing,
                }));
            }
        }
        if agreement.status != Status::Active {
            return Err(not_found(NotFound::Inactive(agreement.id.clone())));
        }
        check_profile(&agreement.id, &local, ProfileType::Local).map_err(not_found)?;
        check_profile(&agreement.id, &partner, ProfileType::Partner).map_err(not_found)?;
        Ok(ActiveAgreement {
            agreement,
            local,
            partner,
        })
    }

    /// The agreement.
    pub fn agreement(&self) -> &Agreement {
        &self.agreement
    }

    /// Our profile.
    pub fn local(&self) -> &Arc<Profile> {
        &self.local
    }

    /// The partner's profile.
    pub fn partner(&self) -> &Arc<Profile> {
        &self.partner
    }

    /// The keys and policy for receiving at `now`.
    ///
    /// Decryption uses every local encryption certificate usable at `now` (the partner may
    /// still encrypt to the old one during a grace period). Verification is offered *every*
    /// partner signing certificate, and the [`ProfileTrust`] hook then refuses one outside
    /// its window, so an expired signer is reported by name and dates rather than as an
    /// unknown signer. [`DateEnforcement::Ignore`] accepts all certificates, for
    /// replaying archived messages.
    pub fn inbound(&self, now: SystemTime, dates: DateEnforcement) -> InboundSetup<'_> {
        let decryption = self
            .local
            .inbound_certificates(CertificateUsage::Encryption, now, dates)
            .filter_map(|c| Some((c.certificate().clone(), c.private_key()?.clone())))
            .collect();
        let partner_certificates = self
            .partner
            .certificates_for(CertificateUsage::Signing)
            .map(|c| c.certificate().clone())
            .collect();
        InboundSetup {
            agreement: self,
            decryption,
            partner_certificates,
            trust: self.partner.trust(now, dates),
            now,
        }
    }
}

/// Everything needed to accept messages under one agreement at one moment; see
/// [`ActiveAgreement::inbound`].
#[derive(Debug)]
pub struct InboundSetup<'a> {
    agreement: &'a ActiveAgreement,
    decryption: Vec<(Certificate, PrivateKey)>,
    partner_certificates: Vec<Certificate>,
    trust: ProfileTrust<'a>,
    now: SystemTime,
}

impl<'a> InboundSetup<'a> {
    /// The agreement.
    pub fn agreement(&self) -> &'a ActiveAgreement {
        self.agreement
    }

    /// The decryption identities in use.
    pub fn decryption(&self) -> &[(Certificate, PrivateKey)] {
        &self.decryption
    }

    /// The partner's signing certificates offered to verification (all of them).
    pub fn partner_certificates(&self) -> &[Certificate] {
        &self.partner_certificates
    }

    /// The partner profile's trust at this moment (also for verifying signed MDNs).
    pub fn trust(&self) -> &ProfileTrust<'a> {
        &self.trust
    }

    /// The inbound parser's policy for this agreement.
    pub fn policy<'p>(&'p self, limits: &'p Limits) -> InboundPolicy<'p> {
        let a = &self.agreement.agreement;
        let mut policy = InboundPolicy::new(&self.decryption, &self.partner_certificates, limits);
        policy.require_encryption = a.require_encryption;
        policy.require_signature = a
            .require_signature
            .unwrap_or(!self.partner_certificates.is_empty());
        policy.accept_bare_payload = a.accept_bare_payload;
        policy.signer_trust = Some(&self.trust);
        policy
    }

    /// Accepts `incoming` under this agreement: checks that its AS2-From and AS2-To are
    /// the agreement's, applies the duplicate handling (asking `duplicates` only under
    /// [`DuplicateHandling::Warn`]), and runs [`Incoming::accept`] with [`Self::policy`].
    // `Rejected` is the outcome callers match on once per message; boxing it would add
    // an indirection to every refusal for no gain.
    #[allow(clippy::result_large_err)]
    pub fn accept<R: CryptoRng + ?Sized>(
        &self,
        incoming: &Incoming<'_>,
        limits: &Limits,
        duplicates: &mut dyn DuplicateCheck,
        rng: &mut R,
    ) -> Result<Received, Rejected> {
        if incoming.from != *self.agreement.partner.as2_id()
            || incoming.to != *self.agreement.local.as2_id()
        {
            return Err(incoming.unknown_partner());
        }
        let policy = self.policy(limits);
        match self.agreement.agreement.duplicate_handling {
            DuplicateHandling::Warn => incoming.accept(&policy, duplicates, rng),
            DuplicateHandling::Disabled => incoming.accept(&policy, &mut NoDuplicateCheck, rng),
        }
    }

    /// Our signer for the MDN at this moment: the local signing certificate chosen by
    /// rotation, with its key and chain.
    pub fn mdn_signer(&self) -> Result<Signer<'a>, Error> {
        let local: &'a Profile = &self.agreement.local;
        let chosen = local.outbound_certificate(CertificateUsage::Signing, self.now)?;
        let key = chosen
            .private_key()
            .ok_or_else(|| PartnerError::NoUsableCertificate {
                profile: local.id().to_owned(),
                usage: CertificateUsage::Signing,
                at: self.now,
            })?;
        Ok(Signer {
            certificate: chosen.certificate(),
            key,
            chain: chosen.chain(),
        })
    }

    /// The MDN settings for this agreement: signed by [`mdn_signer`](Self::mdn_signer) when
    /// our profile has a signing certificate at this moment (unsigned otherwise), RFC 6211
    /// protection and the AS2-Version as the agreement says.
    pub fn mdn_settings(&self) -> MdnSettings<'a> {
        let mut settings = match self.mdn_signer() {
            Ok(signer) => MdnSettings::signed(signer),
            Err(_) => MdnSettings::new(),
        };
        settings.sign_options.algorithm_protection =
            self.agreement.agreement.mdn_algorithm_protection;
        settings.as2_version = self.agreement.agreement.as2_version;
        settings
    }

    /// Signature options for the MDN with `digest` (the sender's preferred MIC algorithm),
    /// with RFC 6211 protection as the agreement says.
    pub fn mdn_sign_options(&self, digest: crate::cms::algorithm::DigestAlgorithm) -> SignOptions {
        SignOptions {
            digest,
            algorithm_protection: self.agreement.agreement.mdn_algorithm_protection,
            ..SignOptions::default()
        }
    }
}
