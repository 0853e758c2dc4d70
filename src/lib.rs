//! # as2-proto
//!
//! A no-I/O implementation of AS2 (Applicability Statement 2, RFC 4130): the protocol
//! retailers, manufacturers, banks and logistics firms use to exchange EDI and other
//! business files over HTTP, protected with S/MIME (CMS) and acknowledged with signed
//! receipts (MDNs).
//!
//! This crate contains no networking code, opens no files, never reads the clock and
//! never draws entropy from the operating system: every call that needs the time takes a
//! `now: SystemTime`, and every call that needs randomness takes a
//! [`rand_core::CryptoRng`]. Callers own the transport and storage.
//!
//! The layers, bottom up:
//!
//! - [`cms`]: [`cms::signed`] (detached and encapsulated signatures, RFC 6211 algorithm
//!   protection), [`cms::enveloped`] (AES-CBC and 3DES with RSA PKCS#1 v1.5 or OAEP key
//!   transport) and [`cms::compressed`] (zlib), all reading BER as real partners send it;
//! - [`mime`]: byte-exact MIME parsing and writing; [`mic`]: the Message Integrity Check;
//! - [`message`]: the outbound builder, streaming ([`message::outbound::start`], then
//!   [`push`](message::outbound::OutboundStream::push) and
//!   [`finish`](message::outbound::OutboundStream::finish), in memory that does not grow
//!   with the payload) or whole ([`message::outbound::build`]), and the inbound parser
//!   ([`message::inbound::handle`], then [`Incoming::accept`](message::inbound::Incoming::accept));
//! - [`mdn`]: receipts, built with [`mdn::reply`] (sync or async) and checked with
//!   [`mdn::parse`] then [`Mdn::verify`](mdn::Mdn::verify);
//! - [`partner`]: certificates with rotation, profiles, agreements (inbound) and connectors
//!   (outbound) loaded from JSON or TOML, and the caller traits for lookup, duplicates,
//!   storage and transport; [`pkcs12`] reads `.p12`/`.pfx` key stores;
//! - [`record`]: the JSON status records and `processed/`/`failed/` file names of the
//!   reference service, and the [`ErrorPolicy`](record::ErrorPolicy) that maps errors to
//!   failure codes and MDN dispositions.
//!
//! `examples/exchange.rs` runs the whole job between two partners; `examples/as2.rs` is a
//! command-line tool for testing partners offline.
//! - [`record`]: JSON status records, the `processed/` and `failed/` file names, and the
//!   [`ErrorPolicy`](record::ErrorPolicy) that maps errors to failure codes and MDN
//!   dispositions.
//!
//! ## Example
//!
//! One AS2 exchange: the sender builds a signed, compressed, encrypted message asking for a
//! signed receipt; the receiver reads the headers (decide), unwraps the message (accept)
//! and answers with the MDN; the sender verifies the MDN against what it sent.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use as2_proto::cms::{algorithm::DigestAlgorithm, signed::{SignOptions, Signer}};
//! use as2_proto::mdn::{self, MdnSettings, Report, SentMessage};
//! use as2_proto::message::headers::{As2Id, HttpHeaders};
//! use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
//! use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
//! use as2_proto::{Certificate, Limits, PrivateKey};
//! // One key pair plays both partners here; real partners each have their own.
//! let cert = Certificate::from_pem(include_bytes!("../tests/data/keys/doc.crt"))?;
//! let key = PrivateKey::from_pem(include_bytes!("../tests/data/keys/doc.key"), None)?;
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let mut rng = rand::rng(); // any rand_core 0.10 CryptoRng
//! let limits = Limits::default();
//! let payload = b"ISA*00*          *00*          *ZZ*SENDER~";
//!
//! // Sender.
//! let mut message = OutboundMessage::new(As2Id::new("PartnerA")?, As2Id::new("PartnerB")?, payload);
//! message.file_name = Some("po.x12".into());
//! message.compression = Compression::BeforeSigning;
//! message.signing = Some((Signer::new(&cert, &key), SignOptions::default()));
//! message.encryption.0 = vec![&cert];
//! message.mdn = MdnRequest::Sync;
//! message.signed_mdn_micalgs = vec![DigestAlgorithm::Sha256];
//! let built = outbound::build(&message, now, &mut rng)?;
//!
//! // Receiver: headers first, then keys and policy for that partner.
//! let headers: HttpHeaders = built.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
//! let incoming = inbound::handle(&headers, &built.body, &limits)?;
//! assert_eq!(incoming.from.as_str(), "PartnerA");
//! let keys = [(cert.clone(), key.clone())];
//! let partner_certs = [cert.clone()];
//! let policy = InboundPolicy::new(&keys, &partner_certs, &limits);
//! let report = match incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng) {
//!     Ok(received) => {
//!         assert_eq!(received.payload, payload);
//!         Report::received(&received)
//!     }
//!     Err(rejected) => Report::rejected(&rejected),
//! };
//! let reply = mdn::reply(&incoming, &report, &MdnSettings::signed(Signer::new(&cert, &key)), now, &mut rng)?;
//!
//! // Sender again: the synchronous MDN came back as the HTTP response.
//! let receipt = mdn::parse(&reply.response.headers, &reply.response.body, &limits)?;
//! // Bound to the partner the message went to: its AS2-From, and its certificates only.
//! let sent = SentMessage::from_built(&built, vec![cert.clone()]);
//! let verdict = receipt.verify(&sent, &limits)?;
//! assert!(verdict.is_success() && verdict.is_authentic());
//! # Ok::<(), as2_proto::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// No panics on input: outside unit tests, every unwrap, expect, panic, unchecked index or
// unchecked arithmetic needs an `allow` beside a comment proving it safe.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod cert;
pub mod cms;
mod error;
mod limits;
pub mod mdn;
pub mod message;
pub mod mic;
pub mod mime;
pub mod partner;
pub mod pkcs12;
pub mod record;
mod time;

pub use cert::{
    Certificate, KeyUse, PrivateKey, UsageCheck, UsageError, UsageExtension, unix_time,
};
pub use error::{
    AlgorithmKind, Disposition, Error, ErrorCode, LayerKind, PolicyError, VerificationError,
};
pub use limits::{Limit, Limits};
pub use pkcs12::Pkcs12;
pub use rand_core;
