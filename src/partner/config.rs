//! The partner configuration as a document: certificates, local and partner profiles,
//! agreements and connectors, read from JSON or TOML and resolved into a
//! [`MemoryDirectory`].
//!
//! The library never opens files: key material is given inline as PEM or as a path, and
//! [`PartnerConfig::load`] asks the caller's reader for each path.

use core::fmt;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::agreement::Agreement;
use super::certificate::{CertificateUsage, ImportMode, ProfileCertificate};
use super::connector::Connector;
use super::directory::MemoryDirectory;
use super::error::{ConfigItem, ConfigProblem, PartnerError};
use super::profile::{Profile, ProfileType, Status};
use crate::cert::{Certificate, PrivateKey};
use crate::error::Error;
use crate::limits::Limits;
use crate::message::headers::As2Id;
use crate::pkcs12::Pkcs12;

/// Certificate or key bytes: inline PEM text, or a file the caller reads.
///
/// In JSON `{"pem": "-----BEGIN ..."}` or `{"file": "keys/partner.crt"}`; in TOML
/// `{ pem = """...""" }` or `{ file = "keys/partner.crt" }`. A file may hold PEM or DER.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyMaterial {
    /// PEM text.
    Pem(String),
    /// A path, resolved by the caller's reader (typically relative to the configuration
    /// file).
    File(PathBuf),
}

/// Shows the length of inline PEM, never its text: it may be a private key.
impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem(text) => write!(f, "Pem(<{} bytes>)", text.len()),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// The caller's file reader, e.g. `|path| std::fs::read(config_dir.join(path))`.
pub type ReadFile<'r> = dyn FnMut(&Path) -> std::io::Result<Vec<u8>> + 'r;

impl KeyMaterial {
    /// The bytes: the PEM text, or the file's contents from `read`.
    pub fn bytes(&self, read: &mut ReadFile<'_>) -> Result<Vec<u8>, ConfigProblem> {
        match self {
            Self::Pem(text) => Ok(text.as_bytes().to_vec()),
            Self::File(path) => read(path).map_err(|e| ConfigProblem::UnreadableFile {
                path: path.clone(),
                reason: e.to_string(),
            }),
        }
    }
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Certificates from PEM (every block, in order) or DER (one certificate).
fn certificates(bytes: &[u8]) -> Result<Vec<Certificate>, ConfigProblem> {
    let parsed = if is_pem(bytes) {
        Certificate::chain_from_pem(bytes)
    } else {
        Certificate::from_der(bytes).map(|c| vec![c])
    };
    match parsed {
        Ok(certs) if certs.is_empty() => Err(ConfigProblem::InvalidCertificate(
            "no CERTIFICATE block in PEM".into(),
        )),
        Ok(certs) => Ok(certs),
        Err(e) => Err(ConfigProblem::InvalidCertificate(e.to_string())),
    }
}

/// A private key from PEM, or from DER (PKCS#8, encrypted PKCS#8 with a password, PKCS#1
/// for RSA, SEC1 for EC keys).
fn private_key(bytes: &[u8], password: Option<&str>) -> Result<PrivateKey, ConfigProblem> {
    let password = password.map(str::as_bytes);
    let parsed = if is_pem(bytes) {
        PrivateKey::from_pem(bytes, password)
    } else {
        PrivateKey::from_pkcs8_der(bytes)
            .or_else(|e| match password {
                Some(pw) => PrivateKey::from_pkcs8_encrypted_der(bytes, pw),
                None => Err(e),
            })
            .or_else(|e| PrivateKey::from_pkcs1_der(bytes).map_err(|_| e))
            .or_else(|e| PrivateKey::from_sec1_der(bytes).map_err(|_| e))
    };
    parsed.map_err(|e| ConfigProblem::InvalidKey(e.to_string()))
}

/// A certificate resource (the reference's imported certificate). Its `Debug` output
/// leaves the private key password out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CertificateConfig {
    /// The id profiles refer to, and that names the certificate in errors (e.g. `Cert1`).
    pub id: String,
    /// A description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `SIGNING`, `ENCRYPTION` or `ENCRYPTION_AND_SIGNING`.
    pub usage: CertificateUsage,
    /// The certificate; PEM may continue with the chain. Give either this or `pkcs12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<KeyMaterial>,
    /// A PKCS#12 (`.p12`/`.pfx`) file holding the certificate, its private key and its
    /// chain, opened with `private_key_password` (none means the empty password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs12: Option<KeyMaterial>,
    /// The chain (intermediates, then optionally the root), if not after the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<KeyMaterial>,
    /// The private key (local profiles' certificates only; not with `pkcs12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<KeyMaterial>,
    /// The password of an encrypted private key or of the PKCS#12 file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_password: Option<String>,
    /// The Active Date (RFC 3339: `2020-06-01` or `2020-06-01T00:00:00Z`).
    #[serde(
        default,
        with = "super::date::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_date: Option<SystemTime>,
    /// The Inactive Date.
    #[serde(
        default,
        with = "super::date::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub inactive_date: Option<SystemTime>,
    /// Accept an Active/Inactive range outside NotBefore/NotAfter (see
    /// [`ImportMode::Lenient`]).
    #[serde(default)]
    pub lenient_dates: bool,
}

impl fmt::Debug for CertificateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateConfig")
            .field("id", &self.id)
            .field("description", &self.description)
            .field("usage", &self.usage)
            .field("certificate", &self.certificate)
            .field("pkcs12", &self.pkcs12)
            .field("chain", &self.chain)
            .field("private_key", &self.private_key)
            .field(
                "private_key_password",
                &self.private_key_password.as_ref().map(|_| "<redacted>"),
            )
            .field("active_date", &self.active_date)
            .field("inactive_date", &self.inactive_date)
            .field("lenient_dates", &self.lenient_dates)
            .finish()
    }
}

impl CertificateConfig {
    /// Reads the material and builds the profile certificate.
    pub fn load(&self, read: &mut ReadFile<'_>) -> Result<ProfileCertificate, Error> {
        let error =
            |problem| PartnerError::config(ConfigItem::Certificate(self.id.clone()), problem);
        let password = self.private_key_password.as_deref();
        let (leaf, mut certs, mut key) = match (&self.certificate, &self.pkcs12, &self.private_key)
        {
            (Some(material), None, _) => {
                let mut certs = certificates(&material.bytes(read).map_err(error)?)
                    .map_err(error)?
                    .into_iter();
                let leaf = certs.next().ok_or_else(|| {
                    error(ConfigProblem::InvalidCertificate("no certificate".into()))
                })?;
                (leaf, certs.collect::<Vec<_>>(), None)
            }
            (None, Some(material), None) => {
                let bytes = material.bytes(read).map_err(error)?;
                let p12 = Pkcs12::parse(
                    &bytes,
                    password.unwrap_or_default().as_bytes(),
                    &Limits::default(),
                )
                .map_err(|e| error(ConfigProblem::InvalidKey(e.to_string())))?;
                (p12.certificate, p12.chain, Some(p12.key))
            }
            _ => return Err(error(ConfigProblem::CertificateSource)),
        };
        if let Some(material) = &self.private_key {
            let bytes = material.bytes(read).map_err(error)?;
            key = Some(private_key(&bytes, password).map_err(error)?);
        }
        if let Some(chain) = &self.chain {
            certs.extend(certificates(&chain.bytes(read).map_err(error)?).map_err(error)?);
        }
        let mut loaded =
            ProfileCertificate::new(self.id.clone(), self.usage, leaf).with_chain(certs);
        if let Some(key) = key {
            loaded = loaded.with_private_key(key)?;
        }
        let mode = if self.lenient_dates {
            ImportMode::Lenient
        } else {
            ImportMode::Strict
        };
        loaded.with_dates(self.active_date, self.inactive_date, mode)
    }
}

/// A local or partner profile, referring to certificates by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProfileConfig {
    /// The id agreements and connectors refer to.
    pub id: String,
    /// A description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The AS2 ID.
    pub as2_id: String,
    /// `ACTIVE` or `INACTIVE`.
    #[serde(default)]
    pub status: Status,
    /// Certificate ids, at most [`Profile::MAX_CERTIFICATES`].
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Trust anchors the certificates must chain to (PEM bundles or DER files); none means
    /// the certificates are pinned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_anchors: Vec<KeyMaterial>,
    /// Admit the profile's certificates whatever their keyUsage/extendedKeyUsage say
    /// ([`Profile::with_legacy_key_usage`]); for a partner's older certificates only.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub legacy_key_usage: bool,
}

/// The whole partner configuration (not `Eq`: connectors hold a [`RetryPolicy`](crate::RetryPolicy)).
///
/// ```
/// # #[cfg(feature = "toml")] {
/// use as2_proto::partner::{PartnerConfig, PartnerDirectory};
/// let config = PartnerConfig::from_toml(r#"
///     [[certificates]]
///     id = "partner-signing"
///     usage = "SIGNING"
///     certificate = { file = "partner.crt" }
///
///     [[local_profiles]]
///     id = "p-local"
///     as2_id = "MyCompany_OID"
///
///     [[partner_profiles]]
///     id = "p-partner"
///     as2_id = "PartnerA_OID"
///     certificates = ["partner-signing"]
///
///     [[agreements]]
///     id = "a-1"
///     local_profile = "p-local"
///     partner_profile = "p-partner"
///     base_directory = "AS2-folder"
///     require_encryption = false
/// "#)?;
/// let pem = include_bytes!("../../tests/data/keys/doc.crt");
/// let directory = config.load(&mut |_path| Ok(pem.to_vec()))?;
/// let from = as2_proto::message::headers::As2Id::new("PartnerA_OID")?;
/// let to = as2_proto::message::headers::As2Id::new("MyCompany_OID")?;
/// assert_eq!(directory.agreement(&from, &to)?.agreement().id, "a-1");
/// # }
/// # Ok::<(), as2_proto::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PartnerConfig {
    /// Certificate resources.
    #[serde(default)]
    pub certificates: Vec<CertificateConfig>,
    /// Our profiles.
    #[serde(default)]
    pub local_profiles: Vec<ProfileConfig>,
    /// Partners' profiles.
    #[serde(default)]
    pub partner_profiles: Vec<ProfileConfig>,
    /// Inbound agreements.
    #[serde(default)]
    pub agreements: Vec<Agreement>,
    /// Outbound connectors.
    #[serde(default)]
    pub connectors: Vec<Connector>,
}

impl PartnerConfig {
    /// Parses and [validates](Self::validate) a JSON document.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let config: PartnerConfig = serde_json::from_str(text).map_err(|e| {
            PartnerError::config(ConfigItem::Document, ConfigProblem::Syntax(e.to_string()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and [validates](Self::validate) a TOML document.
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let config: PartnerConfig = toml::from_str(text).map_err(|e| {
            PartnerError::config(
                ConfigItem::Document,
                ConfigProblem::Syntax(e.to_string().trim_end().to_owned()),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The document as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising these plain types into a string cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks everything that needs no key material: unique ids, references to existing
    /// certificates and profiles of the right type, at most
    /// [`Profile::MAX_CERTIFICATES`] certificates per profile, valid AS2 IDs, a private key
    /// for every local profile certificate, Active Date before Inactive Date, and each
    /// connector's URL rules ([`Connector::validate`]).
    pub fn validate(&self) -> Result<(), Error> {
        let mut ids = HashSet::new();
        for c in &self.certificates {
            let item = ConfigItem::Certificate(c.id.clone());
            if !ids.insert(c.id.as_str()) {
                return Err(PartnerError::config(item, ConfigProblem::DuplicateId));
            }
            if let (Some(a), Some(i)) = (c.active_date, c.inactive_date)
                && a >= i
            {
                return Err(PartnerError::config(item, ConfigProblem::DatesOutOfOrder));
            }
            let one_source = match (&c.certificate, &c.pkcs12) {
                (Some(_), None) => true,
                (None, Some(_)) => c.private_key.is_none(),
                _ => false,
            };
            if !one_source {
                return Err(PartnerError::config(item, ConfigProblem::CertificateSource));
            }
        }
        let mut profile_ids = HashSet::new();
        for (profiles, kind) in [
            (&self.local_profiles, ProfileType::Local),
            (&self.partner_profiles, ProfileType::Partner),
        ] {
            for p in profiles {
                let error =
                    |problem| PartnerError::config(ConfigItem::Profile(p.id.clone()), problem);
                if !profile_ids.insert(p.id.as_str()) {
                    return Err(error(ConfigProblem::DuplicateId));
                }
                As2Id::new(&p.as2_id)
                    .map_err(|_| error(ConfigProblem::InvalidAs2Id(p.as2_id.clone())))?;
                if p.certificates.len() > Profile::MAX_CERTIFICATES {
                    return Err(error(ConfigProblem::TooManyCertificates {
                        count: p.certificates.len(),
                        max: Profile::MAX_CERTIFICATES,
                    }));
                }
                for id in &p.certificates {
                    let cert = self
                        .certificates
                        .iter()
                        .find(|c| c.id == *id)
                        .ok_or_else(|| {
                            error(ConfigProblem::UnknownReference {
                                kind: "certificate",
                                id: id.clone(),
                            })
                        })?;
                    if kind == ProfileType::Local
                        && cert.private_key.is_none()
                        && cert.pkcs12.is_none()
                    {
                        return Err(PartnerError::config(
                            ConfigItem::Certificate(id.clone()),
                            ConfigProblem::MissingPrivateKey,
                        ));
                    }
                }
            }
        }
        let check = |item: &ConfigItem, id: &str, expected: ProfileType| -> Result<(), Error> {
            let (own, other) = match expected {
                ProfileType::Local => (&self.local_profiles, &self.partner_profiles),
                ProfileType::Partner => (&self.partner_profiles, &self.local_profiles),
            };
            if own.iter().any(|p| p.id == id) {
                Ok(())
            } else if other.iter().any(|p| p.id == id) {
                Err(PartnerError::config(
                    item.clone(),
                    ConfigProblem::WrongProfileType {
                        profile: id.to_owned(),
                        expected,
                    },
                ))
            } else {
                Err(PartnerError::config(
                    item.clone(),
                    ConfigProblem::UnknownReference {
                        kind: "profile",
                        id: id.to_owned(),
                    },
                ))
            }
        };
        let mut ids = HashSet::new();
        for a in &self.agreements {
            let item = ConfigItem::Agreement(a.id.clone());
            if !ids.insert(a.id.as_str()) {
                return Err(PartnerError::config(item, ConfigProblem::DuplicateId));
            }
            check(&item, &a.local_profile, ProfileType::Local)?;
            check(&item, &a.partner_profile, ProfileType::Partner)?;
        }
        let mut ids = HashSet::new();
        for c in &self.connectors {
            let item = ConfigItem::Connector(c.id.clone());
            if !ids.insert(c.id.as_str()) {
                return Err(PartnerError::config(item, ConfigProblem::DuplicateId));
            }
            check(&item, &c.local_profile, ProfileType::Local)?;
            check(&item, &c.partner_profile, ProfileType::Partner)?;
            c.validate()?;
        }
        Ok(())
    }

    /// Validates, reads every certificate and key (files through `read`), checks dates
    /// and keys, and returns the directory.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::path::Path;
    /// let dir = Path::new("/etc/as2");
    /// let text = std::fs::read_to_string(dir.join("partners.json"))?;
    /// let config = as2_proto::partner::PartnerConfig::from_json(&text)?;
    /// let directory = config.load(&mut |path| std::fs::read(dir.join(path)))?;
    /// # Ok(()) }
    /// ```
    pub fn load(&self, read: &mut ReadFile<'_>) -> Result<MemoryDirectory, Error> {
        self.validate()?;
        let mut loaded = Vec::with_capacity(self.certificates.len());
        for c in &self.certificates {
            loaded.push(c.load(read)?);
        }
        let mut directory = MemoryDirectory::new();
        for (profiles, kind) in [
            (&self.local_profiles, ProfileType::Local),
            (&self.partner_profiles, ProfileType::Partner),
        ] {
            for p in profiles {
                let error =
                    |problem| PartnerError::config(ConfigItem::Profile(p.id.clone()), problem);
                let as2_id = As2Id::new(&p.as2_id)
                    .map_err(|_| error(ConfigProblem::InvalidAs2Id(p.as2_id.clone())))?;
                let mut anchors = Vec::new();
                for material in &p.trust_anchors {
                    anchors.extend(
                        certificates(&material.bytes(read).map_err(error)?).map_err(error)?,
                    );
                }
                let mut profile = Profile::new(p.id.clone(), kind, as2_id)
                    .with_status(p.status)
                    .with_trust_anchors(anchors)
                    .with_legacy_key_usage(p.legacy_key_usage);
                for id in &p.certificates {
                    // validate() has checked that every reference resolves.
                    if let Some(cert) = loaded.iter().find(|c| c.id() == id) {
                        profile.add_certificate(cert.clone())?;
                    }
                }
                directory.add_profile(profile)?;
            }
        }
        for a in &self.agreements {
            directory.add_agreement(a.clone())?;
        }
        for c in &self.connectors {
            directory.add_connector(c.clone())?;
        }
        Ok(directory)
    }
}
