//! The S/MIME layer (RFC 5751 as profiled by RFC 4130): the only writer and checker of
//! S/MIME entities and of the AS2 header block, between [`mime`](crate::mime) and
//! [`cms`](crate::cms) below and [`message`](crate::message) and [`mdn`](crate::mdn) above.
//!
//! - [`headers`]: the AS2 HTTP header types, the header block every message and MDN
//!   starts with, and the helpers behind it (HTTP dates, sanitised values, boundaries);
//! - [`sign`]: `multipart/signed` around an entity, streamed or whole;
//! - [`verify`]: the detached signature of a `multipart/signed` entity, streamed, for
//!   inbound messages and MDNs alike; the one rule for who may have signed, and the
//!   caller's [`SignerTrust`](verify::SignerTrust);
//! - [`envelope`]: the `application/pkcs7-mime` entities around EnvelopedData and
//!   CompressedData.
//!
//! Nothing here knows about messages or receipts: both sit on this layer, and the
//! public types appear under their historical paths (`message::headers`,
//! `message::inbound::SignerTrust`).

pub(crate) mod envelope;
pub(crate) mod headers;
pub(crate) mod sign;
pub(crate) mod verify;
