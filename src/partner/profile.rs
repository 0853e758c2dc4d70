//! Profiles: a party's AS2 ID and certificates (the reference's local and partner
//! profiles), with certificate rotation.
//!
//! Rotation follows the reference service:
//!
//! - **Inbound** accepts every certificate of the profile whose usable window contains
//!   `now`, so that during a grace period both the old and the new certificate work
//!   (a partner may still sign with, or encrypt to, the old one).
//! - **Outbound** uses, among the certificates whose window contains `now`, the one with
//!   the latest Inactive Date (the end of its window, taking NotAfter when no Inactive
//!   Date is set), so a new certificate takes over as soon as it is usable. Ties go to the
//!   later start, then to the first listed.

use core::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::certificate::{CertificateUsage, DateEnforcement, ProfileCertificate};
use super::chain::verify_chain;
use super::error::{ConfigItem, ConfigProblem, PartnerError};
use crate::cert::{Certificate, UsageCheck};
use crate::error::{Error, VerificationError};
use crate::message::headers::As2Id;
use crate::smime::verify::SignerTrust;

/// Whether a profile, or an agreement, is in use (the reference's *Status*).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Status {
    /// In use (the default).
    #[default]
    Active,
    /// Kept but not used: lookups through it fail with `AGREEMENT_NOT_FOUND` or
    /// `CONNECTOR_NOT_FOUND`.
    Inactive,
}

/// Whose profile it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum ProfileType {
    /// Ours: certificates with private keys, for signing and decryption.
    Local,
    /// A trading partner's: certificates only, for verification and encryption.
    Partner,
}

impl fmt::Display for ProfileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Local => "local",
            Self::Partner => "partner",
        })
    }
}

/// A local or partner profile.
#[derive(Clone, Debug)]
pub struct Profile {
    id: String,
    profile_type: ProfileType,
    as2_id: As2Id,
    status: Status,
    certificates: Vec<ProfileCertificate>,
    trust_anchors: Vec<Certificate>,
    legacy_key_usage: bool,
}

impl Profile {
    /// Most certificates one profile may hold (the reference's fixed limit).
    pub const MAX_CERTIFICATES: usize = 10;

    /// An active profile with no certificates.
    pub fn new(id: impl Into<String>, profile_type: ProfileType, as2_id: As2Id) -> Self {
        Profile {
            id: id.into(),
            profile_type,
            as2_id,
            status: Status::Active,
            certificates: Vec::new(),
            trust_anchors: Vec::new(),
            legacy_key_usage: false,
        }
    }

    /// Admits the profile's certificates for signing and encryption whatever their
    /// keyUsage and extendedKeyUsage extensions say ([`UsageCheck::Legacy`]): the
    /// per-partner switch for a partner whose older certificate is marked for other uses
    /// (see [`Certificate::check_usage`] for the rule it relaxes). Off by default; applies
    /// to the certificates already added and to those added later.
    pub fn with_legacy_key_usage(mut self, legacy: bool) -> Self {
        self.legacy_key_usage = legacy;
        let check = self.usage_check();
        for certificate in &mut self.certificates {
            certificate.set_usage_check(check);
        }
        self
    }

    /// Whether [`with_legacy_key_usage`](Self::with_legacy_key_usage) is on.
    pub fn legacy_key_usage(&self) -> bool {
        self.legacy_key_usage
    }

    fn usage_check(&self) -> UsageCheck {
        if self.legacy_key_usage {
            UsageCheck::Legacy
        } else {
            UsageCheck::Enforce
        }
    }

    /// Sets the status.
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// Sets the trust anchors. When there are any, every certificate of the profile must
    /// chain to one of them (through its own chain) before it is used, unless it is
    /// self-signed; with none, the profile's certificates are trusted as pinned.
    pub fn with_trust_anchors(mut self, anchors: Vec<Certificate>) -> Self {
        self.trust_anchors = anchors;
        self
    }

    /// Adds a certificate. Fails beyond [`Self::MAX_CERTIFICATES`], and for a local
    /// profile's certificate without its private key.
    pub fn add_certificate(&mut self, certificate: ProfileCertificate) -> Result<(), Error> {
        let error = |problem| PartnerError::config(ConfigItem::Profile(self.id.clone()), problem);
        if self.certificates.len() >= Self::MAX_CERTIFICATES {
            return Err(error(ConfigProblem::TooManyCertificates {
                count: self.certificates.len().saturating_add(1),
                max: Self::MAX_CERTIFICATES,
            }));
        }
        if self.profile_type == ProfileType::Local && certificate.private_key().is_none() {
            return Err(PartnerError::config(
                ConfigItem::Certificate(certificate.id().to_owned()),
                ConfigProblem::MissingPrivateKey,
            ));
        }
        let mut certificate = certificate;
        certificate.set_usage_check(self.usage_check());
        self.certificates.push(certificate);
        Ok(())
    }

    /// Keeps only the certificates for which `keep` returns true: for withdrawing a
    /// certificate, e.g. one a partner rejected by CEM ([`crate::cem::rotation`]).
    pub fn retain_certificates(&mut self, keep: impl FnMut(&ProfileCertificate) -> bool) {
        self.certificates.retain(keep);
    }

    /// The profile's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Local or partner.
    pub fn profile_type(&self) -> ProfileType {
        self.profile_type
    }

    /// The AS2 ID (AS2-From on what this party sends, AS2-To on what it receives).
    pub fn as2_id(&self) -> &As2Id {
        &self.as2_id
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Every certificate, in the order added.
    pub fn certificates(&self) -> &[ProfileCertificate] {
        &self.certificates
    }

    /// The trust anchors (empty: certificates are pinned).
    pub fn trust_anchors(&self) -> &[Certificate] {
        &self.trust_anchors
    }

    /// Every certificate serving `usage`, whatever its dates.
    pub fn certificates_for(
        &self,
        usage: CertificateUsage,
    ) -> impl Iterator<Item = &ProfileCertificate> {
        self.certificates
            .iter()
            .filter(move |c| c.usage().serves(usage))
    }

    /// The certificates serving `usage` that inbound processing accepts at `now`: all whose
    /// window contains `now` (or all, when dates are not enforced).
    pub fn inbound_certificates(
        &self,
        usage: CertificateUsage,
        now: SystemTime,
        dates: DateEnforcement,
    ) -> impl Iterator<Item = &ProfileCertificate> {
        self.certificates_for(usage)
            .filter(move |c| c.usable(now, dates))
    }

    /// The certificate serving `usage` that outbound processing uses at `now` (see the
    /// module docs), checked against the trust anchors if there are any.
    pub fn outbound_certificate(
        &self,
        usage: CertificateUsage,
        now: SystemTime,
    ) -> Result<&ProfileCertificate, Error> {
        let mut best: Option<&ProfileCertificate> = None;
        for candidate in self.inbound_certificates(usage, now, DateEnforcement::Enforce) {
            let key = |c: &ProfileCertificate| (c.usable_until(), c.usable_from());
            if best.is_none_or(|b| key(candidate) > key(b)) {
                best = Some(candidate);
            }
        }
        let chosen = best.ok_or_else(|| PartnerError::NoUsableCertificate {
            profile: self.id.clone(),
            usage,
            at: now,
        })?;
        self.verify_chain(chosen, now, DateEnforcement::Enforce)?;
        Ok(chosen)
    }

    /// Verifies `certificate`'s chain to the trust anchors, if the profile has any.
    pub fn verify_chain(
        &self,
        certificate: &ProfileCertificate,
        now: SystemTime,
        dates: DateEnforcement,
    ) -> Result<(), Error> {
        if self.trust_anchors.is_empty() {
            return Ok(());
        }
        verify_chain(
            certificate.id(),
            certificate.certificate(),
            certificate.chain(),
            &self.trust_anchors,
            now,
            dates,
        )
    }

    /// The profile's view at `now`, as a [`SignerTrust`] for the inbound parser and MDN
    /// verification.
    pub fn trust(&self, now: SystemTime, dates: DateEnforcement) -> ProfileTrust<'_> {
        ProfileTrust {
            profile: self,
            now,
            dates,
        }
    }
}

/// A profile's signing certificates as trusted at one moment: the [`SignerTrust`] that
/// enforces rotation windows and chains on inbound signatures.
#[derive(Clone, Copy, Debug)]
pub struct ProfileTrust<'a> {
    profile: &'a Profile,
    now: SystemTime,
    dates: DateEnforcement,
}

impl<'a> ProfileTrust<'a> {
    /// The profile.
    pub fn profile(&self) -> &'a Profile {
        self.profile
    }

    /// The moment checked.
    pub fn now(&self) -> SystemTime {
        self.now
    }
}

impl SignerTrust for ProfileTrust<'_> {
    /// Accepts `signer` if it is one of the profile's signing certificates, usable at
    /// `now`, and chains to the profile's trust anchors (when it has some). If the same
    /// certificate is listed more than once, any usable entry will do; otherwise the first
    /// entry's error is returned, naming the certificate and its dates.
    fn check(&self, signer: &Certificate) -> Result<(), Error> {
        let mut first_error = None;
        for entry in self
            .profile
            .certificates_for(CertificateUsage::Signing)
            .filter(|c| c.certificate() == signer)
        {
            let result = if self.dates == DateEnforcement::Ignore {
                Ok(())
            } else {
                entry.check_usable_at(self.now)
            };
            match result.and_then(|()| self.profile.verify_chain(entry, self.now, self.dates)) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(Error::Verification(VerificationError::SignerNotFound)))
    }
}
