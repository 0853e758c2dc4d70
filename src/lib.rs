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
//! - [`message`]: the outbound builder ([`message::outbound::build`]) and the inbound
//!   parser ([`message::inbound::handle`], then [`Incoming::accept`](message::inbound::Incoming::accept)).
//! - [`record`]: JSON status records, the `processed/` and `failed/` file names, and the
//!   [`ErrorPolicy`](record::ErrorPolicy) that maps errors to failure codes and MDN
//!   dispositions.
//!
//! ## Example
//!
//! Sign, compress and encrypt a payload, then undo each layer as the receiver:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use as2_proto::cms::{compressed, enveloped, signed};
//! use as2_proto::{Certificate, Limits, PrivateKey};
//! let cert = Certificate::from_pem(include_bytes!("../tests/data/keys/doc.crt"))?;
//! let key = PrivateKey::from_pem(include_bytes!("../tests/data/keys/doc.key"), None)?;
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let mut rng = rand::rng(); // any rand_core 0.10 CryptoRng
//! let limits = Limits::default();
//! let payload = b"ISA*00*          *00*          *ZZ*SENDER~";
//!
//! // Sender: detached signature, then compression and encryption of the result.
//! let signature = signed::sign_detached(
//!     payload,
//!     &signed::Signer::new(&cert, &key),
//!     &signed::SignOptions::default(),
//!     now,
//!     &mut rng,
//! )?;
//! let packed = compressed::compress(payload, Default::default());
//! let envelope = enveloped::encrypt(&packed, &[&cert], &Default::default(), &mut rng)?;
//!
//! // Receiver: decrypt, decompress, verify.
//! let opened = enveloped::EnvelopedData::parse(&envelope, &limits)?
//!     .decrypt(&cert, &key, &mut rng)?;
//! let unpacked = compressed::CompressedData::parse(&opened, &limits)?.decompress(&limits)?;
//! assert_eq!(unpacked, payload);
//! let verified = signed::SignedData::parse(&signature, &limits)?
//!     .verify(Some(&unpacked), &[cert.clone()])?;
//! assert_eq!(verified.digest, as2_proto::cms::algorithm::DigestAlgorithm::Sha256);
//! # Ok::<(), as2_proto::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

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

pub use cert::{Certificate, PrivateKey, unix_time};
pub use error::{
    AlgorithmKind, Disposition, Error, ErrorCode, LayerKind, PolicyError, VerificationError,
};
pub use limits::{Limit, Limits};
pub use pkcs12::Pkcs12;
pub use rand_core;
