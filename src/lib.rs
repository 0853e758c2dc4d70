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
//! - byte-exact MIME parsing and writing, internal to the crate (its errors are
//!   [`MimeError`]); [`mic`]: the Message Integrity Check;
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
//! Headers travel as [`HttpHeaders`] both ways: in wire
//! order, duplicates kept, looked up case-insensitively, values as bytes, and serde as a
//! JSON list of `[name, value]` pairs for storing or handing over a request.
//!
//! ## Example
//!
//! One AS2 exchange between the partners of `examples/pki`: PartnerA sends a signed file
//! encrypted to PartnerB and asks for a signed receipt; PartnerB reads the headers
//! (decide), unwraps the message with a policy for that partner, whose certificate must
//! chain to the CA (accept), and answers with the MDN; PartnerA verifies the MDN against
//! what it sent. `examples/sender.rs` and `examples/receiver.rs` are the two halves as
//! programs that exchange files; `examples/exchange.rs` runs the whole job between two
//! configured partners; `examples/as2.rs` is a command-line tool for testing partners
//! offline.
//!
//! ```
//! use as2_proto::cms::{algorithm::DigestAlgorithm::Sha256, signed::Signer};
//! use as2_proto::mdn::{self, MdnSettings, Report, SentMessage};
//! use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
//! use as2_proto::message::outbound::{self, MdnRequest, OutboundMessage};
//! use as2_proto::{Certificate, Limits, PrivateKey, partner::ChainTrust};
//! macro_rules! pki {
//!     ($file:literal) => { include_bytes!(concat!("../examples/pki/", $file)) };
//! }
//! // The caller's clock (SystemTime::now() in a real program) and random source.
//! let (now, mut rng) = (as2_proto::unix_time(1_800_000_000), rand::rng());
//! let limits = Limits::default();
//! let payload = b"ISA*00*          *00*          *ZZ*SENDER~";
//!
//! // PartnerA sends: signed, encrypted to PartnerB, asking for a signed receipt.
//! let a_cert = Certificate::from_pem(pki!("PartnerA/sign.crt"))?;
//! let a_key = PrivateKey::from_pem(pki!("PartnerA/sign.key"), None)?;
//! let b_enc = Certificate::from_pem(pki!("PartnerB/enc.crt"))?;
//! let mut message = OutboundMessage::new("PartnerA".parse()?, "PartnerB".parse()?, payload);
//! message.signing = Some((Signer::new(&a_cert, &a_key), Default::default()));
//! message.encryption.0 = vec![&b_enc];
//! message.mdn = MdnRequest::sync().signed(&[Sha256]);
//! let built = outbound::build(&message, now, &mut rng)?;
//! // POST built.headers and built.body.
//!
//! // PartnerB receives: the headers say who sent it; then keys and policy for PartnerA.
//! let incoming = inbound::handle(&built.headers, &built.body, &limits)?;
//! assert_eq!(incoming.from.as_str(), "PartnerA");
//! let keys = [(b_enc.clone(), PrivateKey::from_pem(pki!("PartnerB/enc.key"), None)?)];
//! let partner = [a_cert.clone()];
//! let ca = [Certificate::from_pem(pki!("ca/ca.crt"))?];
//! let trust = ChainTrust::new(&ca, now);
//! let policy = InboundPolicy::new(&keys, &partner, &limits).with_signer_trust(&trust);
//! let outcome = incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng);
//! if let Ok(received) = &outcome {
//!     assert_eq!(received.payload, payload); // deliver it
//! }
//! let b_cert = Certificate::from_pem(pki!("PartnerB/sign.crt"))?;
//! let b_key = PrivateKey::from_pem(pki!("PartnerB/sign.key"), None)?;
//! let settings = MdnSettings::signed(Signer::new(&b_cert, &b_key));
//! let report = Report::from_outcome(&outcome);
//! let reply = mdn::reply(&incoming, &report, &settings, now, &mut rng)?;
//!
//! // PartnerA again: the synchronous MDN came back as the HTTP response. It must be
//! // PartnerB's, signed with PartnerB's certificate, for this message and its MIC.
//! let receipt = mdn::parse(&reply.response.headers, &reply.response.body, &limits)?;
//! let sent = SentMessage::from_built(&built, vec![b_cert]);
//! let verdict = receipt.verify(&sent, &limits)?;
//! assert!(verdict.is_success() && verdict.is_authentic());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Building this crate's dependencies without optimisation makes a debug build of a
//! program using it about 15 times slower at the cryptography and compression (a 20 MiB
//! message took 7.3 s instead of 0.5 s): put `[profile.dev.package."*"] opt-level = 2`
//! in your `Cargo.toml` (see the README's "Getting started").

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

pub mod cem;
mod cert;
pub mod cms;
mod error;
mod limits;
pub mod mdn;
pub mod message;
pub mod mic;
mod mime;
pub mod partner;
pub mod pkcs12;
pub mod record;
pub mod retry;
mod smime;
mod time;

// The public surface in one place. The modules stay public for their functions
// (`message::outbound::start`, `inbound::handle`, `mdn::reply`, ...) and less common
// types; these are the types a sender and a receiver name. The MIME parser and the BER
// reader are internals (only `MimeError`, which `Error::Mime` carries, is public); tests
// and the fuzz crate reach them through `__internal`.
pub use cem::{CemError, CemLimits, CemMessage, CemPart, CemRequest, CemResponse, VerifiedSigner};
pub use cert::{
    Certificate, KeyAlgorithm, KeyUse, PrivateKey, UsageCheck, UsageError, UsageExtension,
    unix_time,
};
pub use cms::algorithm::{ContentEncryption, DigestAlgorithm};
pub use cms::signed::{SignOptions, Signer};
pub use error::{
    AlgorithmKind, Disposition, Error, ErrorCode, LayerKind, Modifier, PolicyError,
    VerificationError, WeakAlgorithm,
};
pub use limits::{Limit, Limits};
pub use mdn::{Mdn, MdnSettings, Report, SentMessage, Verdict};
pub use message::headers::{As2Id, As2Version, HttpHeaders, MessageId, SignedReceipt};
pub use message::inbound::{
    DuplicateCheck, InboundPolicy, Incoming, Layer, NoDuplicateCheck, Received, Rejected,
};
pub use message::outbound::{
    BuiltMessage, Compression, FinishedMessage, MdnRequest, OutboundMessage, OutboundStream,
};
pub use message::receive::{PayloadSink, Receiver};
pub use message::related::{Attachment, PartEncoding, PartInfo, ReceivedPart};
pub use mic::Mic;
pub use mime::MimeError;
pub use partner::ChainTrust;
pub use pkcs12::Pkcs12;
pub use rand_core;
pub use record::StatusRecord;
pub use retry::{RetryPolicy, RetrySchedule};

/// Internals for this crate's own tests, fuzz targets and benches: the BER reader and the
/// MIME parser. **Not part of the API**: no semver guarantee, anything here may change or
/// go away in any release. Use the types and functions documented at the crate root.
#[doc(hidden)]
pub mod __internal {
    /// The BER reader and writer helpers (`cms::ber` inside the crate).
    pub mod ber {
        pub use crate::cms::ber::*;
    }

    /// The MIME parser, canonicalisation and transfer encodings (`mime` inside the crate).
    pub mod mime {
        pub use crate::mime::{
            ContentDisposition, ContentType, MimeLimits, Part, base64_decode, base64_encode,
            base64_encode_mime, canonical_entity, canonicalize_text, content_type_value, file_name,
            parse_part, quoted_printable_decode,
        };

        /// The MIME parser's share of `limits`.
        pub fn limits(limits: &crate::Limits) -> MimeLimits {
            limits.mime()
        }
    }
}
