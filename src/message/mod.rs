//! AS2 messages (RFC 4130): headers, the outbound builder and the inbound parser.

pub mod headers;
pub mod inbound;
pub mod outbound;
pub mod receive;
pub mod related;
