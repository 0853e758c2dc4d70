//! A certificate as a profile holds it: usage, chain, optional private key, and the
//! Active/Inactive dates that drive rotation.
//!
//! The reference service lets administrators narrow a certificate's X.509 validity
//! (NotBefore/NotAfter, set by the CA) with an Active Date and an Inactive Date. A
//! certificate is *usable* at `t` when `t` is inside both ranges:
//!
//! ```text
//! NotBefore <= t <= NotAfter          (RFC 5280 §4.1.2.5: both bounds inclusive)
//! Active Date <= t < Inactive Date    (the Inactive Date is when it stops being used)
//! ```

use core::fmt;
use std::time::SystemTime;

use der::Decode;
use serde::{Deserialize, Serialize};

use super::error::{ConfigItem, ConfigProblem, PartnerError, UnusableCertificate, WindowViolation};
use crate::cert::{Certificate, PrivateKey};
use crate::error::Error;

/// What a certificate is used for (the reference's *Certificate usage*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CertificateUsage {
    /// Signing: our outbound signatures and MDNs, or the partner's.
    #[serde(rename = "SIGNING")]
    Signing,
    /// Encryption: the partner's certificate we encrypt to, or ours that we decrypt with.
    #[serde(rename = "ENCRYPTION")]
    Encryption,
    /// Both (the reference creates two certificate records; one record serves here).
    #[serde(rename = "ENCRYPTION_AND_SIGNING")]
    EncryptionAndSigning,
}

impl CertificateUsage {
    /// Whether a certificate with this usage serves `wanted` (`Signing` or `Encryption`).
    pub fn serves(self, wanted: CertificateUsage) -> bool {
        self == wanted || self == Self::EncryptionAndSigning
    }
}

impl fmt::Display for CertificateUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Signing => "signing",
            Self::Encryption => "encryption",
            Self::EncryptionAndSigning => "encryption and signing",
        })
    }
}

/// How strictly [`ProfileCertificate::with_dates`] checks the Active/Inactive range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportMode {
    /// The range must lie inside NotBefore/NotAfter, as the reference requires.
    #[default]
    Strict,
    /// Any range is accepted (the reference's own rotation example activates Cert2
    /// before its NotBefore); the usable window is still the intersection.
    Lenient,
}

/// Whether validity dates are enforced when checking certificates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DateEnforcement {
    /// Certificates are usable only inside their window (the default).
    #[default]
    Enforce,
    /// Every certificate of the profile is usable whatever the date, and chain validity
    /// periods are not checked: for replaying archived messages whose certificates have
    /// since expired. Never use it for live traffic.
    Ignore,
}

/// A certificate in a profile.
#[derive(Clone, Debug)]
pub struct ProfileCertificate {
    id: String,
    usage: CertificateUsage,
    certificate: Certificate,
    chain: Vec<Certificate>,
    private_key: Option<PrivateKey>,
    active_date: Option<SystemTime>,
    inactive_date: Option<SystemTime>,
}

impl ProfileCertificate {
    /// A certificate with no chain, key or Active/Inactive dates. `id` names it in errors
    /// and records (the reference's certificate id or description, e.g. `Cert1`).
    pub fn new(id: impl Into<String>, usage: CertificateUsage, certificate: Certificate) -> Self {
        ProfileCertificate {
            id: id.into(),
            usage,
            certificate,
            chain: Vec::new(),
            private_key: None,
            active_date: None,
            inactive_date: None,
        }
    }

    /// Sets the chain: intermediates from the certificate's issuer upwards, embedded in
    /// signatures and used for chain verification.
    pub fn with_chain(mut self, chain: Vec<Certificate>) -> Self {
        self.chain = chain;
        self
    }

    /// Adds the private key (local profiles). Fails if it is not the certificate's key.
    pub fn with_private_key(mut self, key: PrivateKey) -> Result<Self, Error> {
        if !key.matches(&self.certificate) {
            return Err(self.config_error(ConfigProblem::KeyMismatch));
        }
        self.private_key = Some(key);
        Ok(self)
    }

    /// Sets the Active and Inactive Dates.
    ///
    /// The Active Date must be before the Inactive Date. Under [`ImportMode::Strict`] the
    /// range must also lie inside NotBefore..NotAfter, as the reference requires; under
    /// [`ImportMode::Lenient`] it may not, and the usable window is the intersection.
    pub fn with_dates(
        mut self,
        active_date: Option<SystemTime>,
        inactive_date: Option<SystemTime>,
        mode: ImportMode,
    ) -> Result<Self, Error> {
        if let (Some(a), Some(i)) = (active_date, inactive_date)
            && a >= i
        {
            return Err(self.config_error(ConfigProblem::DatesOutOfOrder));
        }
        let (not_before, not_after) = (self.certificate.not_before(), self.certificate.not_after());
        let outside = active_date.is_some_and(|a| a < not_before || a > not_after)
            || inactive_date.is_some_and(|i| i <= not_before || i > not_after);
        if outside && mode == ImportMode::Strict {
            return Err(
                self.config_error(ConfigProblem::ActiveRangeOutsideValidity {
                    not_before,
                    not_after,
                    active_date,
                    inactive_date,
                }),
            );
        }
        self.active_date = active_date;
        self.inactive_date = inactive_date;
        Ok(self)
    }

    fn config_error(&self, problem: ConfigProblem) -> Error {
        PartnerError::config(ConfigItem::Certificate(self.id.clone()), problem)
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The usage.
    pub fn usage(&self) -> CertificateUsage {
        self.usage
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Sets how the certificate's keyUsage/extendedKeyUsage are checked (the profile's
    /// `legacy_key_usage`).
    pub(crate) fn set_usage_check(&mut self, check: crate::cert::UsageCheck) {
        self.certificate.set_usage_check(check);
    }

    /// The chain (intermediates), possibly empty.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The private key, for a local profile's certificate.
    pub fn private_key(&self) -> Option<&PrivateKey> {
        self.private_key.as_ref()
    }

    /// The Active Date, if set.
    pub fn active_date(&self) -> Option<SystemTime> {
        self.active_date
    }

    /// The Inactive Date, if set.
    pub fn inactive_date(&self) -> Option<SystemTime> {
        self.inactive_date
    }

    /// The subject, RFC 4514 style (`CN=partner Cert1,O=...`).
    pub fn subject(&self) -> String {
        subject_name(&self.certificate)
    }

    /// Start of the usable window: the later of NotBefore and the Active Date.
    pub fn usable_from(&self) -> SystemTime {
        self.active_date.map_or(self.certificate.not_before(), |a| {
            a.max(self.certificate.not_before())
        })
    }

    /// End of the usable window: the earlier of NotAfter and the Inactive Date.
    pub fn usable_until(&self) -> SystemTime {
        self.inactive_date
            .map_or(self.certificate.not_after(), |i| {
                i.min(self.certificate.not_after())
            })
    }

    /// Whether the window contains `at`.
    pub fn is_usable_at(&self, at: SystemTime) -> bool {
        self.window_violation(at).is_none()
    }

    /// Checks that the window contains `at`, naming the certificate and all its dates if
    /// not.
    pub fn check_usable_at(&self, at: SystemTime) -> Result<(), Error> {
        match self.window_violation(at) {
            None => Ok(()),
            Some(violation) => Err(PartnerError::CertificateNotUsable(Box::new(
                UnusableCertificate {
                    id: self.id.clone(),
                    subject: self.subject(),
                    violation,
                    at,
                    not_before: self.certificate.not_before(),
                    not_after: self.certificate.not_after(),
                    active_date: self.active_date,
                    inactive_date: self.inactive_date,
                },
            ))
            .into()),
        }
    }

    fn window_violation(&self, at: SystemTime) -> Option<WindowViolation> {
        if at < self.certificate.not_before() {
            Some(WindowViolation::NotYetValid)
        } else if at > self.certificate.not_after() {
            Some(WindowViolation::Expired)
        } else if self.active_date.is_some_and(|a| at < a) {
            Some(WindowViolation::NotYetActive)
        } else if self.inactive_date.is_some_and(|i| at >= i) {
            Some(WindowViolation::Inactive)
        } else {
            None
        }
    }

    /// Whether the window contains `at`, or dates are not enforced.
    pub(crate) fn usable(&self, at: SystemTime, dates: DateEnforcement) -> bool {
        dates == DateEnforcement::Ignore || self.is_usable_at(at)
    }
}

/// A certificate's subject, RFC 4514 style, or its hex serial number if the name cannot be
/// read.
pub(crate) fn subject_name(cert: &Certificate) -> String {
    x509_cert::name::Name::from_der(cert.subject_der())
        .map(|n| n.to_string())
        .unwrap_or_else(|_| {
            let serial: String = cert.serial().iter().map(|b| format!("{b:02x}")).collect();
            format!("serial {serial}")
        })
}
