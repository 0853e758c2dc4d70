//! Trading partners: certificates with rotation, local and partner profiles, inbound
//! agreements, outbound connectors, and the traits through which the caller supplies
//! partner lookup, duplicate detection, storage and transport.
//!
//! The model and its names follow the reference service (AWS Transfer Family AS2):
//!
//! - a [`ProfileCertificate`] is an X.509 certificate with a usage (signing, encryption or
//!   both), an optional chain and private key, and optional Active/Inactive Dates that
//!   narrow its NotBefore/NotAfter validity;
//! - a [`Profile`] is a party: an AS2 ID and up to ten certificates. Rotation picks among
//!   them by date (see [`Profile::outbound_certificate`] and
//!   [`Profile::inbound_certificates`]);
//! - an [`Agreement`] receives: local and partner profile, status, base directory and
//!   security policy. [`ActiveAgreement::inbound`] turns it into the inbound parser's
//!   [`InboundPolicy`](crate::message::inbound::InboundPolicy) at `now`;
//! - a [`Connector`] sends: URL, profiles, algorithms, compression and MDN request.
//!   [`ActiveConnector::outbound`] turns it into an
//!   [`OutboundMessage`](crate::message::outbound::OutboundMessage) at `now`;
//! - [`PartnerConfig`] holds all of them as plain serde types, read from JSON or TOML and
//!   resolved into a [`MemoryDirectory`].
//!
//! An inactive agreement, or an agreement or connector whose profile is inactive, is not
//! found: `AGREEMENT_NOT_FOUND` or `CONNECTOR_NOT_FOUND` ([`PartnerError`]).
//!
//! # Receiving
//!
//! ```no_run
//! # use as2_proto::partner::*;
//! # use as2_proto::message::{headers::HttpHeaders, inbound};
//! # fn f(directory: &MemoryDirectory, headers: &HttpHeaders, body: &[u8],
//! #      duplicates: &mut MemoryDuplicateStore, now: std::time::SystemTime,
//! #      rng: &mut impl as2_proto::rand_core::CryptoRng) -> Result<(), as2_proto::Error> {
//! let limits = as2_proto::Limits::default();
//! let incoming = inbound::handle(headers, body, &limits)?;
//! let agreement = directory.agreement(&incoming.from, &incoming.to)?;
//! let setup = agreement.inbound(now, DateEnforcement::Enforce);
//! match setup.accept(&incoming, &limits, duplicates, rng) {
//!     Ok(received) => { /* store received.payload under agreement.base_directory */ }
//!     Err(rejected) => { /* answer with an error MDN built from rejected.error */ }
//! }
//! # Ok(()) }
//! ```
//!
//! # Sending
//!
//! ```no_run
//! # use as2_proto::partner::*;
//! # fn f(directory: &MemoryDirectory, transport: &impl Transport, storage: &impl Storage,
//! #      now: std::time::SystemTime,
//! #      rng: &mut impl as2_proto::rand_core::CryptoRng) -> Result<(), as2_proto::Error> {
//! let connector = directory.connector("c-c21c63ceaaf34d99b")?;
//! // A missing file is SEND_FILE_NOT_FOUND; record it with StatusRecord::outbound_failed.
//! let file = SendFile::read(storage, "AS2-folder/invoice.edi")?;
//! let message = connector.outbound_file(&file, now)?;
//! let built = as2_proto::message::outbound::build(&message, now, rng)?;
//! let response = transport.post(connector.url(), &built.headers, &built.body)?;
//! response.check_status(connector.url())?;
//! # Ok(()) }
//! ```
//!
//! # Blocking and async callers
//!
//! Nothing in this crate calls [`PartnerDirectory`], [`Storage`], [`Transport`] or the
//! duplicate check on its own initiative except [`Incoming::accept`], which asks the
//! duplicate check once, in memory, after the message has been unwrapped. The caller
//! drives each step, and every value that crosses the boundary is plain data
//! ([`ActiveAgreement`], [`BuiltMessage`](crate::message::outbound::BuiltMessage)'s
//! headers and body, [`HttpResponse`], the received payload).
//!
//! A blocking gateway implements the traits directly (a filesystem `Storage`, an HTTP
//! client `Transport`). An async gateway keeps the directory and duplicate store in
//! memory, where lookups never block, and performs the POST and the store with its own
//! async client between the library's calls: it needs no implementation of [`Storage`]
//! or [`Transport`] at all, or implements them over a blocking client that it runs with
//! its executor's `spawn_blocking`. A directory backed by an async database is queried by
//! the caller, which builds the [`ActiveAgreement`] or [`ActiveConnector`] itself with
//! their `new` constructors (which apply the same status checks).
//!
//! [`Incoming::accept`]: crate::message::inbound::Incoming::accept

mod agreement;
mod certificate;
mod chain;
mod config;
mod connector;
pub(crate) mod date;
mod directory;
mod error;
mod profile;
mod store;
mod transport;

pub use agreement::{ActiveAgreement, Agreement, DuplicateHandling, InboundSetup};
pub use certificate::{CertificateUsage, DateEnforcement, ImportMode, ProfileCertificate};
pub use chain::{ChainTrust, MAX_CHAIN_LENGTH, verify_chain};
pub use config::{CertificateConfig, KeyMaterial, PartnerConfig, ProfileConfig, ReadFile};
pub(crate) use connector::file_name_of as connector_file_name_of;
pub use connector::{
    ActiveConnector, Connector, ConnectorCompression, EncryptionAlgorithm, MdnResponse,
    MdnSigningAlgorithm, SendFile, SigningAlgorithm,
};
pub use directory::{MemoryDirectory, PartnerDirectory};
pub use error::{
    ChainError, ConfigError, ConfigItem, ConfigProblem, NotFound, PartnerError, ProfileUnavailable,
    TransportError, TransportErrorKind, UntrustedCertificate, UnusableCertificate, WindowViolation,
};
pub use profile::{Profile, ProfileTrust, ProfileType, Status};
pub use store::{
    MemoryDuplicateStore, MemoryStorage, Storage, StorageError, StorageErrorKind,
    is_safe_relative_path,
};
pub use transport::{HttpRequest, HttpResponse, MemoryTransport, Transport};
