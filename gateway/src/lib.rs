//! The AS2 gateway behind `examples/server.rs` and `examples/client.rs`: `exchange.rs`'s
//! flow over real HTTP/1.1 (tokio and axum to receive, reqwest to send), driven by a
//! partner configuration (TOML, or JSON for a `.json` file) and writing the reference
//! layout under a data directory (`--data DIR`):
//!
//! ```text
//! DIR/<base_directory>/processed/name.<message-id>.ext       a received payload
//! DIR/<base_directory>/processed/name.<message-id>.ext.json  its status record
//! DIR/<base_directory>/processed/name.<message-id>.ext.mdn   the MDN we answered with
//! DIR/<base_directory>/failed/<message-id>[.json|.mdn]       a refused message: the body
//!                                                            exactly as received, record, MDN
//! DIR/unmatched/failed/<message-id>.json, .mdn               no agreement: record and MDN only
//! DIR/outbox/processed/name.<transfer-id>.<message-id>.ext.json, .mdn   a transfer we sent
//! DIR/outbox/failed/...                                      one that failed
//! DIR/outbox/sent/<sha-256 of the Message-ID>.json           a transfer awaiting its async MDN
//! ```
//!
//! `<base_directory>` is the agreement's. Files are never replaced: a second record under
//! the same name (a duplicate message) gets `.2`, `.3`, ... before its last extension.
//! `as2-gateway serve` also keeps `DIR/outbox/queue/<transfer-id>.<name>` (a file
//! uploaded or taken from an outbox directory, awaiting delivery). The same relative paths
//! are the keys in an S3 bucket under its prefix when `storage = "s3://bucket/prefix"`
//! ([`storage`]); `outbox/sent/` and temporary files stay local.
//!
//! **Async MDNs and the MIC of a message we sent.** Before the last octet of a message that
//! asks for an asynchronous MDN goes out (the MIC is known only once the whole payload
//! has passed), the client writes `outbox/sent/<sha-256>.json` (a [`SentRecord`]:
//! Message-ID, MIC, whether a signed MDN and a MIC are required, and the status record so
//! far), so no MDN can arrive before it. Whichever endpoint the MDN reaches, the client's
//! own listener or a server sharing the data directory, looks that file up by the MDN's
//! Original-Message-ID, verifies the MDN (signature, trust and MIC) against the partner
//! profile of the agreement for the MDN's (AS2-From, AS2-To), then claims the transfer by
//! deleting the file and writes the final record and `.mdn` under `outbox/`. An MDN that
//! does not verify is answered with 400 and leaves the file in place for the genuine one.
//!
//! **Bodies stream; memory does not grow with the payload.** The server reads a request
//! body frame by frame on a blocking thread (files and cryptography), classifies it from
//! its headers and first bytes ([`inbound::handle`](as2_proto::message::inbound::handle): only the body tells a signed MDN from
//! a signed message), then pushes each frame into the library's
//! [`Receiver`](as2_proto::message::receive::Receiver): the payload goes to a temporary
//! file in the data directory's spool (`DIR/.spool`), linked into `processed/` (or
//! uploaded to the bucket) once the message is accepted and removed otherwise, while the
//! body as received is spooled beside it and kept under `failed/` only if the message is
//! refused. The body size is checked against
//! [`Limits::max_body_size`](as2_proto::Limits::max_body_size) as it arrives (a declared Content-Length over it is refused
//! before any byte is read); axum's own 2 MB limit is off. MDNs (small) are read whole, at
//! most [`MAX_MDN_BODY`]. The client streams the payload file through
//! [`outbound::start`](as2_proto::message::outbound::start) into the request body, with the exact Content-Length the library
//! computes up front; a compressed body's length is known only at its end, so it is
//! spooled to an anonymous file in the data directory first and sent with the spooled
//! length (the reference service expects Content-Length; a partner that takes chunked
//! requests would not need the spool). Every request and response carries Content-Length;
//! none is chunked. Temporary files are named `.part-*` (only a crash leaves one behind).
//! The client's HTTP timeout (350 s) is a total deadline, which a production sender of
//! large files over slow links would replace by an inactivity timeout. Logging goes
//! through `tracing` to stderr; `RUST_LOG=debug` (a bare level) sets the level.
//!
//! This is example code: it reads the clock, files and OS entropy, which the library never
//! does. A production gateway would also bound requests in progress, restrict where it
//! POSTs asynchronous MDNs (here: any `http://` URL the sender names) and use TLS.

pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod files;
pub mod gateway;
pub mod http;
pub mod metrics;
pub mod outbox;
pub mod send;
pub mod serve;
pub mod service;
pub mod storage;
pub mod ui;
pub mod worker;

pub use cli::DEFAULT_SERVER_ID;
pub use cli::{ClientOptions, MdnMode, ServerOptions, init_logging, wants_help};
pub use files::{DataDir, TempFile, load_directory};
pub use gateway::{Finished, Gateway, SentRecord};
pub use http::{http_client, http_headers, post, post_stream};
pub use send::{ClientOutcome, run_client, send_with};
pub use serve::{Endpoint, start_endpoint, start_server};

use std::time::Duration;

/// Errors reported by `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where outbound records go, relative to the data directory (the reference puts them
/// beside the source file; the client keeps them in one place instead).
pub const OUTBOX: &str = "outbox";
/// The SQLite database in the data directory (when no `database` URL is configured).
pub const STATE_FILE: &str = "state.sqlite";
/// Files uploaded through `POST /api/transfers`, kept until delivered.
pub const QUEUE: &str = "outbox/queue";
/// Transfers awaiting an asynchronous MDN (without a database: the flag-driven client).
pub const SENT: &str = "outbox/sent";
/// Where requests that match no agreement are recorded.
pub const UNMATCHED: &str = "unmatched";

/// How long the client waits for a synchronous response (the reference's inactivity
/// timeout is 350 s).
pub(crate) const HTTP_TIMEOUT: Duration = Duration::from_secs(350);
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts to deliver an asynchronous MDN.
pub(crate) const ASYNC_MDN_ATTEMPTS: u64 = 3;
/// How much of a file is read and pushed at a time.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Body frames in flight between the HTTP task and the thread that reads or writes the
/// body (each one a read of the connection, or a [`CHUNK`] of payload).
pub(crate) const FRAMES_IN_FLIGHT: usize = 4;
/// How much of a request body is read before it is classified: enough for
/// [`inbound::handle`](as2_proto::message::inbound::handle) to see the first part's headers of a signed MDN.
pub(crate) const CLASSIFY_BYTES: usize = 8 * 1024;
/// The largest MDN taken: an asynchronous MDN POSTed to us, or the body of a response
/// (a synchronous MDN, or a partner's short text). Both are read whole.
pub const MAX_MDN_BODY: usize = 1024 * 1024;
/// How long the unread rest of a request body is read and discarded after we have
/// stopped taking it (a body over the limit, a request refused early), so that the
/// sender gets to read our answer instead of a reset connection (as nginx's
/// `lingering_time`).
pub(crate) const LINGER: Duration = Duration::from_secs(30);
