//! Partner lookup: the agreement for a received message, the connector for a send.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::agreement::{ActiveAgreement, Agreement};
use super::connector::{ActiveConnector, Connector};
use super::error::{ConfigItem, ConfigProblem, NotFound, PartnerError};
use super::profile::{Profile, ProfileType};
use crate::error::Error;
use crate::message::headers::As2Id;

/// Finds agreements and connectors; the caller implements it over its own store, or uses
/// [`MemoryDirectory`] (what [`PartnerConfig::load`](super::PartnerConfig::load) returns).
///
/// Implementations return `AGREEMENT_NOT_FOUND` / `CONNECTOR_NOT_FOUND` errors
/// ([`PartnerError::AgreementNotFound`], [`PartnerError::ConnectorNotFound`]) when nothing
/// active matches; [`ActiveAgreement::new`] and [`ActiveConnector::new`] perform the status
/// checks for implementations that load records one at a time.
pub trait PartnerDirectory {
    /// The active agreement for a message from `as2_from` (the partner) to `as2_to` (us).
    fn agreement(&self, as2_from: &As2Id, as2_to: &As2Id) -> Result<ActiveAgreement, Error>;

    /// The connector with this id, with its profiles.
    fn connector(&self, id: &str) -> Result<ActiveConnector, Error>;
}

/// An in-memory [`PartnerDirectory`]: profiles, agreements and connectors held in maps,
/// checked for consistency as they are added.
#[derive(Clone, Debug, Default)]
pub struct MemoryDirectory {
    profiles: BTreeMap<String, Arc<Profile>>,
    agreements: Vec<Agreement>,
    connectors: BTreeMap<String, Connector>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a profile; its id must be new.
    pub fn add_profile(&mut self, profile: Profile) -> Result<(), Error> {
        if self.profiles.contains_key(profile.id()) {
            return Err(PartnerError::config(
                ConfigItem::Profile(profile.id().to_owned()),
                ConfigProblem::DuplicateId,
            ));
        }
        self.profiles
            .insert(profile.id().to_owned(), Arc::new(profile));
        Ok(())
    }

    /// Adds an agreement; its id must be new and its profiles known and of the right
    /// types.
    pub fn add_agreement(&mut self, agreement: Agreement) -> Result<(), Error> {
        let item = ConfigItem::Agreement(agreement.id.clone());
        if self.agreements.iter().any(|a| a.id == agreement.id) {
            return Err(PartnerError::config(item, ConfigProblem::DuplicateId));
        }
        self.check_reference(&item, &agreement.local_profile, ProfileType::Local)?;
        self.check_reference(&item, &agreement.partner_profile, ProfileType::Partner)?;
        self.agreements.push(agreement);
        Ok(())
    }

    /// Adds a connector; its id must be new, its profiles known and of the right types,
    /// and [`Connector::validate`] must pass.
    pub fn add_connector(&mut self, connector: Connector) -> Result<(), Error> {
        let item = ConfigItem::Connector(connector.id.clone());
        if self.connectors.contains_key(&connector.id) {
            return Err(PartnerError::config(item, ConfigProblem::DuplicateId));
        }
        connector.validate()?;
        self.check_reference(&item, &connector.local_profile, ProfileType::Local)?;
        self.check_reference(&item, &connector.partner_profile, ProfileType::Partner)?;
        self.connectors.insert(connector.id.clone(), connector);
        Ok(())
    }

    fn check_reference(
        &self,
        item: &ConfigItem,
        id: &str,
        expected: ProfileType,
    ) -> Result<(), Error> {
        match self.profiles.get(id) {
            None => Err(PartnerError::config(
                item.clone(),
                ConfigProblem::UnknownReference {
                    kind: "profile",
                    id: id.to_owned(),
                },
            )),
            Some(p) if p.profile_type() != expected => Err(PartnerError::config(
                item.clone(),
                ConfigProblem::WrongProfileType {
                    profile: id.to_owned(),
                    expected,
                },
            )),
            Some(_) => Ok(()),
        }
    }

    /// The profile with this id.
    pub fn profile(&self, id: &str) -> Option<&Arc<Profile>> {
        self.profiles.get(id)
    }

    /// Every profile, by id.
    pub fn profiles(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.profiles.values()
    }

    /// Every agreement, in the order added.
    pub fn agreements(&self) -> &[Agreement] {
        &self.agreements
    }

    /// Every connector, by id.
    pub fn connectors(&self) -> impl Iterator<Item = &Connector> {
        self.connectors.values()
    }

    fn profile_pair(&self, local: &str, partner: &str) -> Option<(Arc<Profile>, Arc<Profile>)> {
        Some((
            self.profiles.get(local)?.clone(),
            self.profiles.get(partner)?.clone(),
        ))
    }
}

impl PartnerDirectory for MemoryDirectory {
    /// The agreement whose partner profile has AS2 ID `as2_from` and whose local profile
    /// has `as2_to`. An active agreement with active profiles wins; otherwise the first
    /// match's reason (inactive agreement, inactive profile) is reported.
    fn agreement(&self, as2_from: &As2Id, as2_to: &As2Id) -> Result<ActiveAgreement, Error> {
        let mut first_error = None;
        for agreement in &self.agreements {
            let Some((local, partner)) =
                self.profile_pair(&agreement.local_profile, &agreement.partner_profile)
            else {
                continue;
            };
            if local.as2_id() != as2_to || partner.as2_id() != as2_from {
                continue;
            }
            match ActiveAgreement::new(agreement.clone(), local, partner) {
                Ok(active) => return Ok(active),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            PartnerError::AgreementNotFound(NotFound::Missing(format!(
                "AS2-From {:?} to AS2-To {:?}",
                as2_from.as_str(),
                as2_to.as_str()
            )))
            .into()
        }))
    }

    fn connector(&self, id: &str) -> Result<ActiveConnector, Error> {
        let missing = || {
            Error::from(PartnerError::ConnectorNotFound(NotFound::Missing(format!(
                "connector id {id:?}"
            ))))
        };
        let connector = self.connectors.get(id).ok_or_else(missing)?;
        let (local, partner) = self
            .profile_pair(&connector.local_profile, &connector.partner_profile)
            .ok_or_else(missing)?;
        ActiveConnector::new(connector.clone(), local, partner)
    }
}
