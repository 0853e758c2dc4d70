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
//! its headers and first bytes ([`inbound::handle`]: only the body tells a signed MDN from
//! a signed message), then pushes each frame into the library's
//! [`Receiver`](as2_proto::message::receive::Receiver): the payload goes to a temporary
//! file in the data directory, linked into `processed/` once the message is accepted and
//! removed otherwise, while the body as received is spooled beside it and kept under
//! `failed/` only if the message is refused. The body size is checked against
//! [`Limits::max_body_size`] as it arrives (a declared Content-Length over it is refused
//! before any byte is read); axum's own 2 MB limit is off. MDNs (small) are read whole, at
//! most [`MAX_MDN_BODY`]. The client streams the payload file through
//! [`outbound::start`] into the request body, with the exact Content-Length the library
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

#![allow(dead_code)] // server.rs and client.rs each use part of this module.

use std::collections::HashMap;
use std::io::{self, Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::mdn::{self, BuiltMdn, MdnSettings, Reply, Report, SentMessage, Verdict};
use as2_proto::message::headers::{As2Id, HttpHeaders, HttpResponse, MessageId};
use as2_proto::message::inbound::{
    self, InboundPolicy, Incoming, IncomingKind, NoDuplicateCheck, Received, Rejected,
};
use as2_proto::message::outbound::{self, FinishedMessage, MdnRequest, SignedReceipt};
use as2_proto::message::receive::PayloadSink;
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::partner::{
    ActiveConnector, CertificateUsage, DateEnforcement, DuplicateHandling, MdnResponse,
    MemoryDirectory, MemoryDuplicateStore, PartnerConfig, PartnerDirectory, PartnerError, Profile,
    StorageError, TransportError, TransportErrorKind, is_safe_relative_path,
};
use as2_proto::record::{self, ReferenceErrorPolicy, StatusCode, StatusRecord};
use as2_proto::{Certificate, Error, Limit, Limits};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Method};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// Errors reported by `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where outbound records go, relative to the data directory (the reference puts them
/// beside the source file; the client keeps them in one place instead).
pub const OUTBOX: &str = "outbox";
/// Transfers awaiting an asynchronous MDN.
pub const SENT: &str = "outbox/sent";
/// Where requests that match no agreement are recorded.
pub const UNMATCHED: &str = "unmatched";

/// How long the client waits for a synchronous response (the reference's inactivity
/// timeout is 350 s).
const HTTP_TIMEOUT: Duration = Duration::from_secs(350);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts to deliver an asynchronous MDN.
const ASYNC_MDN_ATTEMPTS: u64 = 3;
/// How much of a file is read and pushed at a time.
const CHUNK: usize = 64 * 1024;
/// Body frames in flight between the HTTP task and the thread that reads or writes the
/// body (each one a read of the connection, or a [`CHUNK`] of payload).
const FRAMES_IN_FLIGHT: usize = 4;
/// How much of a request body is read before it is classified: enough for
/// [`inbound::handle`] to see the first part's headers of a signed MDN.
const CLASSIFY_BYTES: usize = 8 * 1024;
/// The largest MDN taken: an asynchronous MDN POSTed to us, or the body of a response
/// (a synchronous MDN, or a partner's short text). Both are read whole.
pub const MAX_MDN_BODY: usize = 1024 * 1024;
/// How long the unread rest of a request body is read and discarded after we have
/// stopped taking it (a body over the limit, a request refused early), so that the
/// sender gets to read our answer instead of a reset connection (as nginx's
/// `lingering_time`).
const LINGER: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------------------

/// `server --config FILE --listen ADDR --data DIR`.
pub const SERVER_USAGE: &str = "\
usage: server --config FILE --listen ADDR --data DIR [--max-body-size BYTES]
  --config FILE          partner configuration (TOML, or JSON if the name ends in .json)
  --listen ADDR          address to listen on, e.g. 127.0.0.1:5080 (port 0 picks a free one)
  --data DIR             where payloads, MDNs and status records are written
  --max-body-size BYTES  the largest request body (default 64 MiB; also raises the
                         decompressed size limit to at least this)
The endpoint takes AS2 messages and asynchronous MDNs as POSTs on any path.";

/// `client --config FILE --connector ID --file PATH [...] --data DIR`.
pub const CLIENT_USAGE: &str = "\
usage: client --config FILE --connector ID --file PATH --data DIR [--url URL]
              [--mdn none|sync|async] [--async-listen ADDR] [--async-url URL]
              [--content-type TYPE] [--timeout SECONDS] [--max-payload-size BYTES]
  --connector ID       the connector to send through (its URL, algorithms and MDN mode)
  --url URL            POST here instead of the connector's URL
  --mdn MODE           override the connector's MDN request
  --async-listen ADDR  listen here for the asynchronous MDN and wait for it (port 0
                       picks a free one; the URL asked for is then http://ADDR/as2)
  --async-url URL      the Receipt-Delivery-Option URL (default: the listener's, else
                       the connector's async_mdn_url); without --async-listen the client
                       exits after the 200 and a server sharing --data records the MDN
  --timeout SECONDS    how long to wait for an asynchronous MDN (default 300)
  --max-payload-size BYTES  the largest file sent (default 64 MiB)
Exit status: 0 completed (or awaiting an MDN elsewhere), 1 failed, 2 usage or setup error.";

/// Reads `--name value` / `--name=value` pairs, each name at most once and from `known`.
fn parse_flags(args: &[String], known: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut flags = HashMap::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(name) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (name, None),
        };
        if !known.contains(&name) {
            return Err(format!("unknown option --{name}"));
        }
        let value = match inline {
            Some(v) => v,
            None => rest
                .next()
                .ok_or(format!("--{name} needs a value"))?
                .clone(),
        };
        let name = name.to_owned();
        if flags.insert(name.clone(), value).is_some() {
            return Err(format!("--{name} given twice"));
        }
    }
    Ok(flags)
}

fn required(flags: &mut HashMap<String, String>, name: &str) -> Result<String, String> {
    flags.remove(name).ok_or(format!("--{name} is required"))
}

/// An optional size in bytes.
fn bytes_flag(flags: &mut HashMap<String, String>, name: &str) -> Result<Option<usize>, String> {
    flags
        .remove(name)
        .map(|v| {
            v.parse()
                .map_err(|_| format!("--{name} wants a number of bytes, not {v:?}"))
        })
        .transpose()
}

/// Whether the arguments ask for help.
pub fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "-h" || a == "--help")
}

/// The server's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// The partner configuration file.
    pub config: PathBuf,
    /// The address to listen on.
    pub listen: String,
    /// The data directory.
    pub data: PathBuf,
    /// The server id written to status records' `server-id` (default
    /// [`DEFAULT_SERVER_ID`]).
    pub server_id: String,
    /// The largest request body, instead of [`Limits::default`]'s.
    pub max_body_size: Option<usize>,
}

/// The `server-id` of records when `--server-id` is not given.
pub const DEFAULT_SERVER_ID: &str = "s-as2-proto";

impl ServerOptions {
    /// Parses the command line (without the program name).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut flags = parse_flags(
            args,
            &["config", "listen", "data", "server-id", "max-body-size"],
        )?;
        Ok(ServerOptions {
            config: required(&mut flags, "config")?.into(),
            listen: required(&mut flags, "listen")?,
            data: required(&mut flags, "data")?.into(),
            server_id: flags
                .remove("server-id")
                .unwrap_or_else(|| DEFAULT_SERVER_ID.to_owned()),
            max_body_size: bytes_flag(&mut flags, "max-body-size")?,
        })
    }
}

/// The MDN a client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdnMode {
    /// No MDN.
    None,
    /// In the HTTP response.
    Sync,
    /// POSTed later to a URL of ours.
    Async,
}

/// The client's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// The partner configuration file.
    pub config: PathBuf,
    /// The connector id.
    pub connector: String,
    /// The file to send.
    pub file: PathBuf,
    /// The data directory.
    pub data: PathBuf,
    /// Overrides the connector's URL.
    pub url: Option<String>,
    /// Overrides the connector's MDN mode.
    pub mdn: Option<MdnMode>,
    /// Listen here for the asynchronous MDN.
    pub async_listen: Option<String>,
    /// The Receipt-Delivery-Option URL.
    pub async_url: Option<String>,
    /// Overrides the content type guessed from the file name.
    pub content_type: Option<String>,
    /// How long to wait for an asynchronous MDN.
    pub timeout: Duration,
    /// The largest file sent, instead of [`Limits::default`]'s.
    pub max_payload_size: Option<usize>,
}

impl ClientOptions {
    /// Parses the command line (without the program name).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut flags = parse_flags(
            args,
            &[
                "config",
                "connector",
                "file",
                "data",
                "url",
                "mdn",
                "async-listen",
                "async-url",
                "content-type",
                "timeout",
                "max-payload-size",
            ],
        )?;
        let mdn = match flags.remove("mdn").as_deref() {
            None => None,
            Some("none") => Some(MdnMode::None),
            Some("sync") => Some(MdnMode::Sync),
            Some("async") => Some(MdnMode::Async),
            Some(other) => return Err(format!("--mdn must be none, sync or async, not {other:?}")),
        };
        let timeout = match flags.remove("timeout") {
            None => Duration::from_secs(300),
            Some(t) => Duration::from_secs(
                t.parse()
                    .map_err(|_| format!("--timeout wants whole seconds, not {t:?}"))?,
            ),
        };
        let options = ClientOptions {
            config: required(&mut flags, "config")?.into(),
            connector: required(&mut flags, "connector")?,
            file: required(&mut flags, "file")?.into(),
            data: required(&mut flags, "data")?.into(),
            url: flags.remove("url"),
            mdn,
            async_listen: flags.remove("async-listen"),
            async_url: flags.remove("async-url"),
            content_type: flags.remove("content-type"),
            timeout,
            max_payload_size: bytes_flag(&mut flags, "max-payload-size")?,
        };
        if options.mdn.is_some_and(|m| m != MdnMode::Async)
            && (options.async_listen.is_some() || options.async_url.is_some())
        {
            return Err("--async-listen and --async-url go with --mdn async".into());
        }
        Ok(options)
    }
}

/// Logs to stderr at the level named by `RUST_LOG` (`error` ... `trace`; default `info`).
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.trim().parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    // A second initialisation (tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(io::stderr)
        .try_init();
}

// ---------------------------------------------------------------------------------------
// Configuration and files
// ---------------------------------------------------------------------------------------

/// Loads a partner configuration; key and certificate paths in it are relative to the
/// file.
pub fn load_directory(path: &Path) -> Result<MemoryDirectory, BoxError> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        PartnerConfig::from_json(&text)
    } else {
        PartnerConfig::from_toml(&text)
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let directory = config
        .load(&mut |p| std::fs::read(dir.join(p)))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(directory)
}

/// The data directory. Files are written under a temporary name and then linked into
/// place, so a reader never sees half a file and nothing is ever replaced.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DataDir {
    /// The data directory at `root` (created when first written to).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes a new file at `relative` (a `/`-separated path that must stay inside the
    /// directory); if the name is taken, at the first free `name.N.ext`. Returns the
    /// relative path written.
    pub fn put_new(&self, relative: &str, bytes: &[u8]) -> io::Result<String> {
        safe(relative)?;
        let mut temp = match relative.rsplit_once('/') {
            Some((dir, _)) => self.temp_file(dir)?,
            None => self.temp_in(self.root.clone())?,
        };
        temp.write(bytes)?;
        self.persist(relative, temp)
    }

    /// A new temporary file in the directory `relative_dir` (created if need be), for a
    /// file whose content arrives over time. Dropping it removes it; [`DataDir::persist`]
    /// puts it in place.
    pub fn temp_file(&self, relative_dir: &str) -> io::Result<TempFile> {
        safe(relative_dir)?;
        self.temp_in(self.root.join(relative_dir))
    }

    fn temp_in(&self, dir: PathBuf) -> io::Result<TempFile> {
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!(
            ".part-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TempFile {
            path,
            file: io::BufWriter::with_capacity(CHUNK, file),
            len: 0,
        })
    }

    /// Links the complete `temp` in at `relative` (a `/`-separated path inside the
    /// directory, on the same file system as `temp`), or at the first free `name.N.ext`,
    /// and removes its temporary name. Returns the relative path written.
    pub fn persist(&self, relative: &str, mut temp: TempFile) -> io::Result<String> {
        safe(relative)?;
        temp.file.flush()?;
        let target = self.root.join(relative);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        (1..=1000)
            .map(|n| numbered(relative, n))
            .find_map(|candidate| {
                match std::fs::hard_link(&temp.path, self.root.join(&candidate)) {
                    Ok(()) => Some(Ok(candidate)),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .unwrap_or_else(|| {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{relative}: no free name"),
                ))
            })
        // Dropping `temp` removes the temporary name.
    }
}

/// `relative` if it is a safe relative path, else an `InvalidInput` error.
fn safe(relative: &str) -> io::Result<()> {
    if is_safe_relative_path(relative) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsafe path {relative:?}"),
        ))
    }
}

/// A file of the data directory being written under a temporary name (`.part-...`),
/// removed when dropped unless [`DataDir::persist`] has linked it into place: a reader
/// never sees half a file.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: io::BufWriter<std::fs::File>,
    len: u64,
}

impl TempFile {
    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len = self.len.saturating_add(len_u64(bytes.len()));
        Ok(())
    }

    /// The bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// `dir/name.ext` for n = 1, else `dir/name.n.ext` (`.json` and `.mdn` count as the
/// extension: `x.id.dat.json` becomes `x.id.dat.2.json`).
fn numbered(relative: &str, n: u32) -> String {
    if n == 1 {
        return relative.to_owned();
    }
    let (dir, file) = relative.rsplit_once('/').unwrap_or(("", relative));
    let file = match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{n}.{ext}"),
        _ => format!("{file}.{n}"),
    };
    if dir.is_empty() {
        file
    } else {
        format!("{dir}/{file}")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

/// The headers of a request or response as the library takes them.
pub fn http_headers(map: &HeaderMap) -> HttpHeaders {
    map.iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect()
}

/// A library response as an axum response, with Content-Length.
fn to_axum(response: HttpResponse) -> axum::response::Response {
    let mut builder = axum::http::Response::builder().status(response.status);
    for (name, value) in response.headers.iter() {
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        builder = builder.header(name, value);
    }
    let length = response.body.len();
    builder
        .header(CONTENT_LENGTH, length)
        .body(Body::from(response.body))
        .unwrap_or_else(|e| {
            error!(error = %e, "cannot send the response as built");
            to_axum(text(500, "internal error\r\n".into()))
        })
}

/// A plain-text response.
fn text(status: u16, body: String) -> HttpResponse {
    let mut headers = HttpHeaders::new();
    headers.push("Content-Type", "text/plain; charset=us-ascii");
    HttpResponse::new(status, headers, body.into_bytes())
}

/// An HTTP client for partners and asynchronous MDNs: plain HTTP/1.1, no proxies.
pub fn http_client() -> Result<reqwest::Client, BoxError> {
    Ok(reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(HTTP_TIMEOUT)
        .no_proxy()
        .build()?)
}

/// POSTs `body` with `headers` to `url`, with Content-Length (a short body: an
/// asynchronous MDN).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &HttpHeaders,
    body: Vec<u8>,
) -> Result<HttpResponse, TransportError> {
    let length = len_u64(body.len());
    send(client, url, headers, reqwest::Body::from(body), length).await
}

/// POSTs a body of exactly `length` octets, arriving as `frames` (an error frame aborts
/// the request), with `headers` to `url`. The request carries Content-Length: hyper
/// then sends the frames as they come, never chunked, and fails the request if they do
/// not add up to `length`.
pub async fn post_stream(
    client: &reqwest::Client,
    url: &str,
    headers: &HttpHeaders,
    length: u64,
    frames: mpsc::Receiver<io::Result<Bytes>>,
) -> Result<HttpResponse, TransportError> {
    let stream = futures_util::stream::unfold(frames, |mut frames| async move {
        frames.recv().await.map(|frame| (frame, frames))
    });
    send(
        client,
        url,
        headers,
        reqwest::Body::wrap_stream(stream),
        length,
    )
    .await
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    headers: &HttpHeaders,
    body: reqwest::Body,
    length: u64,
) -> Result<HttpResponse, TransportError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(TransportError::new(
            TransportErrorKind::InvalidProtocol,
            format!("{url}: not an http(s) URL"),
        ));
    }
    let mut request = client.post(url);
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        request = request.header(name, value);
    }
    let mut response = request
        .header(CONTENT_LENGTH, length)
        .body(body)
        .send()
        .await
        .map_err(transport_error)?;
    let status = response.status().as_u16();
    let headers = http_headers(response.headers());
    // An MDN or a short text: read whole, within MAX_MDN_BODY.
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len().saturating_add(chunk.len()) > MAX_MDN_BODY {
            return Err(TransportError::new(
                TransportErrorKind::ConnectionFailed,
                format!("{url}: a response body over {MAX_MDN_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse::new(status, headers, body))
}

fn transport_error(e: reqwest::Error) -> TransportError {
    // The interesting part ("Connection refused") is at the end of the source chain.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    TransportError::new(TransportErrorKind::ConnectionFailed, message)
}

// ---------------------------------------------------------------------------------------
// The gateway
// ---------------------------------------------------------------------------------------

/// What was kept of a message sent with an asynchronous MDN request, in
/// `outbox/sent/<sha-256 of the bare Message-ID>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SentRecord {
    /// The Message-ID sent.
    pub message_id: String,
    /// The MIC the MDN must return, as `<base64>, <algorithm>`.
    pub mic: Option<String>,
    /// Whether an MDN without a MIC fails (signed messages).
    pub require_mic: bool,
    /// Whether an unsigned MDN is refused.
    pub require_signed_mdn: bool,
    /// The partner's AS2 ID (AS2-To of the message, AS2-From of the MDN).
    pub partner: String,
    /// The source file's name (for the outbound file names).
    pub source_file_name: String,
    /// The transfer id.
    pub transfer_id: String,
    /// The status record so far.
    pub record: StatusRecord,
}

impl SentRecord {
    /// What the MDN is checked against, bound to the partner's AS2 ID and its current
    /// signing `certificates`.
    fn sent_message(&self, certificates: Vec<Certificate>) -> Result<SentMessage, Error> {
        let id = MessageId::parse(self.message_id.as_bytes())?;
        let mic = match &self.mic {
            None => None,
            Some(field) => Some(Mic::parse_field(field).ok_or(Error::InvalidHeader {
                header: "Received-Content-MIC",
                reason: "the MIC kept for this message is unreadable",
            })?),
        };
        let to = As2Id::new(&self.partner)?;
        let mut sent = SentMessage::new(id, to, certificates, mic);
        sent.require_mic = self.require_mic;
        sent.require_signed_mdn = self.require_signed_mdn;
        Ok(sent)
    }
}

impl SentRecord {
    /// Takes what is known only once the body has been written: the MIC, and whether the
    /// message was signed and a signed MDN requested.
    fn finished(&mut self, message: &FinishedMessage) {
        self.mic = message
            .mic
            .as_ref()
            .map(|m| m.to_field(MicNameStyle::Dashed));
        self.require_mic = message.signed;
        self.require_signed_mdn = message.signed_mdn_requested;
    }
}

/// The relative path of the pending record for a Message-ID.
fn sent_path(message_id: &str) -> String {
    let digest = DigestAlgorithm::Sha256.digest(MessageId::bare_str(message_id).as_bytes());
    format!("{SENT}/{}.json", hex(&digest))
}

/// How an outbound transfer ended.
#[derive(Clone, Debug)]
pub struct Finished {
    /// `COMPLETED` or `FAILED`.
    pub status: StatusCode,
    /// The Message-ID sent (bare).
    pub message_id: String,
    /// The status record written.
    pub record: StatusRecord,
    /// Where it was written.
    pub record_path: PathBuf,
    /// Where the MDN was written, if one came back.
    pub mdn_path: Option<PathBuf>,
}

/// The directory, data directory, duplicate store and HTTP client behind an endpoint.
pub struct Gateway {
    directory: MemoryDirectory,
    data: DataDir,
    limits: Limits,
    duplicates: Mutex<MemoryDuplicateStore>,
    http: reqwest::Client,
    /// Whether AS2 messages are accepted (a client's MDN listener takes only MDNs).
    accept_messages: bool,
    /// Transfers the client is waiting on, by bare Message-ID.
    waiters: Mutex<HashMap<String, oneshot::Sender<Finished>>>,
    /// This server's id in status records (`server-id`).
    server_id: String,
}

/// The answer to one request, and an asynchronous MDN to POST after it.
struct Handled {
    response: HttpResponse,
    async_mdn: Option<BuiltMdn>,
}

impl From<HttpResponse> for Handled {
    fn from(response: HttpResponse) -> Self {
        Handled {
            response,
            async_mdn: None,
        }
    }
}

/// A message body: the bytes read to classify the request, and the rest as it arrives.
struct MessageBody<'a, 'r> {
    first: &'a [u8],
    rest: &'r mut BodyReader,
    /// The Content-Length the sender declared.
    declared: Option<u64>,
    /// Declared over the limit: refused without reading it.
    too_large: bool,
}

/// What reading a message body left.
struct MessageRead {
    /// The receiver's verdict (the payload itself is in `payload`).
    verdict: Result<Received, Rejected>,
    /// The committed payload (accepted, not a duplicate).
    payload: Option<TempFile>,
    /// The body as received (`None` when it was over the limit).
    raw: Option<TempFile>,
    /// The body's size (what was read of it when it went over the limit, or the declared
    /// size when that did).
    size: u64,
}

impl MessageRead {
    /// A body over [`Limits::max_body_size`]: refused as the receiver refuses it, and
    /// nothing of it kept.
    fn too_large(limits: &Limits, size: u64) -> Self {
        let error = Error::LimitExceeded {
            limit: Limit::BodySize,
            value: limits.max_body_size,
        };
        MessageRead {
            verdict: Err(Rejected::from(error)),
            payload: None,
            raw: None,
            size,
        }
    }
}

/// Why a message body was not read to a verdict.
enum Interrupted {
    /// The request body failed (the sender went away, or sent a malformed body).
    Body(io::Error),
    /// The data directory failed.
    Storage(io::Error),
}

/// A request whose body could not be read: nobody may be listening for the answer, and
/// nothing is recorded.
fn body_failed(peer: SocketAddr, error: &io::Error) -> Handled {
    warn!(%peer, %error, "request body not received");
    text(400, "request body not received\r\n".into()).into()
}

/// The payload of a message being received, as the library's [`PayloadSink`]: the
/// tentative bytes go to a temporary file in the data directory; `commit` keeps it for
/// [`DataDir::persist`] under the name the accepted message gives, `abort` removes it.
/// A sink cannot fail, so a write error is kept here for the caller.
struct PayloadFile {
    temp: Option<TempFile>,
    committed: bool,
    error: Option<io::Error>,
}

impl PayloadFile {
    fn new(temp: TempFile) -> Self {
        PayloadFile {
            temp: Some(temp),
            committed: false,
            error: None,
        }
    }

    /// The payload, if the receiver committed it.
    fn into_committed(self) -> Option<TempFile> {
        self.temp.filter(|_| self.committed)
    }
}

impl PayloadSink for PayloadFile {
    fn write(&mut self, tentative: &[u8]) {
        if self.error.is_none()
            && let Some(temp) = &mut self.temp
            && let Err(e) = temp.write(tentative)
        {
            self.error = Some(e);
        }
    }

    fn commit(&mut self) {
        self.committed = true;
    }

    fn abort(&mut self) {
        // Dropping the temporary file removes it.
        self.temp = None;
    }
}

/// One frame of a request body, from the HTTP task to the handler's thread.
enum BodyFrame {
    Data(Bytes),
    /// The body ended here (a closed channel without it means the request was dropped).
    End,
    Failed(String),
}

/// A request body as the handler's (blocking) thread reads it, frame by frame from the
/// HTTP task ([`pump_body`]); at most [`FRAMES_IN_FLIGHT`] frames wait in between.
struct BodyReader {
    frames: mpsc::Receiver<BodyFrame>,
    ended: bool,
}

impl BodyReader {
    fn new(frames: mpsc::Receiver<BodyFrame>) -> Self {
        BodyReader {
            frames,
            ended: false,
        }
    }

    /// The next frame, `None` at the end of the body. Blocks.
    fn next(&mut self) -> io::Result<Option<Bytes>> {
        if self.ended {
            return Ok(None);
        }
        match self.frames.blocking_recv() {
            Some(BodyFrame::Data(bytes)) => Ok(Some(bytes)),
            Some(BodyFrame::End) => {
                self.ended = true;
                Ok(None)
            }
            Some(BodyFrame::Failed(why)) => Err(io::Error::other(why)),
            None => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the request was dropped",
            )),
        }
    }

    /// Takes no more of the body: the HTTP task discards the rest.
    fn stop(&mut self) {
        self.frames.close();
    }
}

/// Hands the body's frames to the handler's thread until it has them all or stops
/// taking them, then reads and discards the rest for at most [`LINGER`], so that the
/// sender finishes sending and reads our answer rather than a reset connection.
async fn pump_body(body: Body, frames: mpsc::Sender<BodyFrame>) {
    let mut stream = body.into_data_stream();
    loop {
        let frame = match stream.next().await {
            Some(Ok(bytes)) => BodyFrame::Data(bytes),
            Some(Err(e)) => BodyFrame::Failed(e.to_string()),
            None => BodyFrame::End,
        };
        let last = !matches!(frame, BodyFrame::Data(_));
        if frames.send(frame).await.is_err() || last {
            break;
        }
    }
    drop(frames);
    let discard = async { while let Some(Ok(_)) = stream.next().await {} };
    if tokio::time::timeout(LINGER, discard).await.is_err() {
        debug!("stopped discarding a request body after {LINGER:?}");
    }
}

impl Gateway {
    /// A gateway over `directory` writing under `data`.
    pub fn new(
        directory: MemoryDirectory,
        data: impl Into<PathBuf>,
        accept_messages: bool,
    ) -> Result<Self, BoxError> {
        Ok(Gateway {
            directory,
            data: DataDir::new(data),
            limits: Limits::default(),
            duplicates: Mutex::new(MemoryDuplicateStore::new(100_000)),
            http: http_client()?,
            accept_messages,
            waiters: Mutex::new(HashMap::new()),
            server_id: DEFAULT_SERVER_ID.to_owned(),
        })
    }

    /// Sets the id written to inbound records' `server-id`.
    pub fn with_server_id(mut self, server_id: impl Into<String>) -> Self {
        self.server_id = server_id.into();
        self
    }

    /// Sets the limits requests are held to ([`Limits::max_body_size`] among them).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The partner directory.
    pub fn directory(&self) -> &MemoryDirectory {
        &self.directory
    }

    /// The data directory.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// One request, its body read from `body` as it arrives: an AS2 message or an
    /// asynchronous MDN. Blocking (files, cryptography).
    fn handle(&self, headers: &HttpHeaders, body: &mut BodyReader, peer: SocketAddr) -> Handled {
        let now = SystemTime::now();
        let declared = headers
            .get_str("Content-Length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        // Refused before a byte of it is read (and what arrives is discarded).
        let too_large = declared.is_some_and(|len| len > len_u64(self.limits.max_body_size));
        // The first bytes tell a signed MDN from a signed message; the headers cannot.
        let mut first = Vec::new();
        while !too_large && first.len() < CLASSIFY_BYTES {
            match body.next() {
                Ok(Some(frame)) => first.extend_from_slice(&frame),
                Ok(None) => break,
                Err(e) => return body_failed(peer, &e),
            }
        }
        let incoming = match inbound::handle(headers, &first, &self.limits) {
            Ok(incoming) => incoming,
            Err(e) => {
                warn!(%peer, error = %e, "refused a request");
                return text(400, format!("AS2 request refused: {} {e}\r\n", e.code())).into();
            }
        };
        match incoming.kind {
            IncomingKind::Mdn => self
                .receive_whole_mdn(headers, first, body, too_large, peer, now)
                .into(),
            IncomingKind::Message if self.accept_messages => {
                let body = MessageBody {
                    first: &first,
                    rest: body,
                    declared,
                    too_large,
                };
                self.receive_message(&incoming, body, peer, now)
            }
            _ => text(400, "this endpoint only takes MDNs\r\n".into()).into(),
        }
    }

    /// An asynchronous MDN: read whole (at most [`MAX_MDN_BODY`]), then checked.
    fn receive_whole_mdn(
        &self,
        headers: &HttpHeaders,
        mut whole: Vec<u8>,
        body: &mut BodyReader,
        too_large: bool,
        peer: SocketAddr,
        now: SystemTime,
    ) -> HttpResponse {
        let oversized = || {
            warn!(%peer, "MDN refused: over {MAX_MDN_BODY} bytes");
            text(413, format!("MDN refused: over {MAX_MDN_BODY} bytes\r\n"))
        };
        if too_large {
            return oversized();
        }
        loop {
            match body.next() {
                Ok(Some(frame)) if whole.len().saturating_add(frame.len()) > MAX_MDN_BODY => {
                    body.stop();
                    return oversized();
                }
                Ok(Some(frame)) => whole.extend_from_slice(&frame),
                Ok(None) => break,
                Err(e) => return body_failed(peer, &e).response,
            }
        }
        match inbound::handle(headers, &whole, &self.limits) {
            Ok(incoming) => self.receive_mdn(&incoming, headers, &whole, now),
            Err(e) => {
                warn!(%peer, error = %e, "refused an MDN");
                text(400, format!("MDN refused: {} {e}\r\n", e.code()))
            }
        }
    }

    /// An AS2 message: the agreement from its headers, then its body through the
    /// library's receiver as it arrives, the MDN and the files.
    fn receive_message(
        &self,
        incoming: &Incoming<'_>,
        body: MessageBody<'_, '_>,
        peer: SocketAddr,
        now: SystemTime,
    ) -> Handled {
        let mut rng = rand::rng();
        let message_id = incoming
            .message_id
            .as_ref()
            .map_or("unknown", |m| m.bare())
            .to_owned();
        info!(
            from = %incoming.from, to = %incoming.to, %message_id, %peer,
            content_length = ?body.declared, "message received"
        );
        let mut record = StatusRecord::inbound(incoming, now)
            .with_server_id(&self.server_id)
            .with_client_ip(peer.ip());

        let agreement = match self.directory.agreement(&incoming.from, &incoming.to) {
            Ok(agreement) => agreement,
            Err(e) => {
                warn!(from = %incoming.from, to = %incoming.to, error = %e, "no agreement");
                // Nothing of the body is kept: it is only counted.
                record.transfer_size = match self.skip(body) {
                    Ok(size) => Some(size),
                    Err(e) => return body_failed(peer, &e),
                };
                record.set_failure(&e, &ReferenceErrorPolicy);
                let reply = mdn::reply(
                    incoming,
                    &Report::error(&e),
                    &MdnSettings::new(),
                    now,
                    &mut rng,
                );
                return self.store_inbound(
                    UNMATCHED,
                    None,
                    &message_id,
                    StatusCode::Failed,
                    None,
                    record,
                    reply,
                );
            }
        };
        let base = agreement.agreement().base_directory.clone();
        record.agreement_id = Some(agreement.agreement().id.clone());
        let setup = agreement.inbound(now, DateEnforcement::Enforce);
        let policy = setup.policy(&self.limits);
        // What `InboundSetup::accept` does with the whole body: the duplicate check only
        // under DuplicateHandling::Warn.
        let dedupe = !matches!(
            agreement.agreement().duplicate_handling,
            DuplicateHandling::Disabled
        );
        let read = match self.read_message(incoming, &policy, dedupe, &base, body, &mut rng) {
            Ok(read) => read,
            Err(Interrupted::Body(e)) => return body_failed(peer, &e),
            Err(Interrupted::Storage(e)) => {
                error!(%message_id, error = %e, "cannot store the message");
                return text(500, "AS2 message not stored\r\n".into()).into();
            }
        };
        let MessageRead {
            verdict: outcome,
            payload,
            raw,
            size,
        } = read;
        record.transfer_size = Some(size);
        let (report, status) = match &outcome {
            Ok(received) => {
                // The payload's length (0 for a duplicate, which is not delivered again).
                record.set_received(received);
                (Report::received(received), StatusCode::Completed)
            }
            Err(rejected) => {
                warn!(%message_id, error = %rejected.error, "message refused");
                record.set_rejected(rejected, &ReferenceErrorPolicy);
                (Report::rejected(rejected), StatusCode::Failed)
            }
        };
        let mut settings = match setup.mdn_signer() {
            Ok(signer) => MdnSettings::signed(signer),
            Err(e) => {
                debug!(error = %e, "no MDN signer: MDNs go unsigned");
                MdnSettings::new()
            }
        };
        let digest = incoming
            .receipt
            .as_ref()
            .map_or(DigestAlgorithm::Sha256, |r| r.options.receipt_micalg());
        settings.sign_options = setup.mdn_sign_options(digest);
        let reply = mdn::reply(incoming, &report, &settings, now, &mut rng);
        let (file_name, kept) = match &outcome {
            Ok(received) => (received.file_name.as_deref(), payload),
            // What could not be processed is kept exactly as received (unless it was
            // over the limit: then nothing of it is).
            Err(_) => (None, raw),
        };
        self.store_inbound(&base, file_name, &message_id, status, kept, record, reply)
    }

    /// Reads a message body to its end, spooling it, and pushes it into the receiver as
    /// it arrives: the payload to one temporary file, the body as received to another.
    /// A body over [`Limits::max_body_size`] is refused as soon as it is (nothing of it
    /// kept, the rest not read).
    fn read_message(
        &self,
        incoming: &Incoming<'_>,
        policy: &InboundPolicy<'_>,
        dedupe: bool,
        base: &str,
        body: MessageBody<'_, '_>,
        rng: &mut rand::rngs::ThreadRng,
    ) -> Result<MessageRead, Interrupted> {
        let MessageBody {
            first,
            rest,
            declared,
            too_large,
        } = body;
        if too_large {
            return Ok(MessageRead::too_large(
                &self.limits,
                declared.unwrap_or_default(),
            ));
        }
        let limit = len_u64(self.limits.max_body_size);
        let mut payload =
            PayloadFile::new(self.data.temp_file(base).map_err(Interrupted::Storage)?);
        let mut raw = self.data.temp_file(base).map_err(Interrupted::Storage)?;
        let mut receiver = incoming.receive(policy);
        let mut size: u64 = 0;
        let mut pending = first;
        let mut frame;
        loop {
            let bytes: &[u8] = if pending.is_empty() {
                match rest.next().map_err(Interrupted::Body)? {
                    Some(next) => {
                        frame = next;
                        &frame
                    }
                    None => break,
                }
            } else {
                std::mem::take(&mut pending)
            };
            size = size.saturating_add(len_u64(bytes.len()));
            if size > limit {
                rest.stop();
                return Ok(MessageRead::too_large(&self.limits, size));
            }
            raw.write(bytes).map_err(Interrupted::Storage)?;
            // Once the outcome is decided (a failure), the rest is only spooled.
            if !receiver.is_decided() {
                receiver.push(bytes, &mut payload, rng);
            }
        }
        // A payload that could not be written is not answered `processed`, and its
        // Message-ID is not remembered (a resend must not be taken for a duplicate).
        if let Some(e) = payload.error.take() {
            return Err(Interrupted::Storage(e));
        }
        let verdict = if dedupe {
            let mut duplicates = lock(&self.duplicates);
            receiver.finish(&mut payload, &mut *duplicates, rng)
        } else {
            receiver.finish(&mut payload, &mut NoDuplicateCheck, rng)
        };
        if let Some(e) = payload.error.take() {
            return Err(Interrupted::Storage(e));
        }
        Ok(MessageRead {
            verdict,
            payload: payload.into_committed(),
            raw: Some(raw),
            size,
        })
    }

    /// Reads the rest of a body that is not kept, up to the limit; returns its size.
    fn skip(&self, body: MessageBody<'_, '_>) -> io::Result<u64> {
        let limit = len_u64(self.limits.max_body_size);
        if body.too_large {
            return Ok(body.declared.unwrap_or_default());
        }
        let mut size = len_u64(body.first.len());
        while size <= limit {
            match body.rest.next()? {
                Some(frame) => size = size.saturating_add(len_u64(frame.len())),
                None => break,
            }
        }
        if size > limit {
            body.rest.stop();
        }
        Ok(size)
    }

    /// Writes an inbound message's payload, `.mdn` and record under `base`, and turns the
    /// reply into the response.
    #[allow(clippy::too_many_arguments)]
    fn store_inbound(
        &self,
        base: &str,
        file_name: Option<&str>,
        message_id: &str,
        mut status: StatusCode,
        payload: Option<TempFile>,
        mut record: StatusRecord,
        reply: Result<Reply, Error>,
    ) -> Handled {
        let handled = match reply {
            Ok(reply) => {
                record.disposition = reply.mdn.as_ref().map(|m| m.disposition.to_string());
                record.mdn_message_id = reply.mdn.as_ref().map(|m| m.message_id.bare().to_owned());
                record.mdn_subject = reply
                    .mdn
                    .as_ref()
                    .map(|_| MdnSettings::new().subject.clone());
                Handled {
                    response: reply.response,
                    async_mdn: reply.mdn,
                }
            }
            Err(e) => {
                error!(%message_id, error = %e, "cannot build the MDN");
                status = StatusCode::Failed;
                record.set_failure(&e, &ReferenceErrorPolicy);
                record.disposition = None;
                text(500, format!("AS2 message not processed: {}\r\n", e.code())).into()
            }
        };
        record.status_code = Some(status);
        let stored = self.write_inbound(
            base,
            file_name,
            message_id,
            status,
            payload,
            &mut record,
            handled.async_mdn.as_ref(),
        );
        let handled = match stored {
            Ok(path) => {
                info!(
                    %message_id, status = status.as_str(),
                    disposition = record.disposition.as_deref().unwrap_or("-"),
                    record = %path, "message recorded"
                );
                handled
            }
            Err(e) => {
                error!(%message_id, error = %e, "cannot store the message");
                text(500, "AS2 message not stored\r\n".into()).into()
            }
        };
        handled.only_async_if_pending()
    }

    /// Writes the payload (if any), the MDN (if any) and the record; returns the record's
    /// path.
    #[allow(clippy::too_many_arguments)]
    fn write_inbound(
        &self,
        base: &str,
        file_name: Option<&str>,
        message_id: &str,
        status: StatusCode,
        payload: Option<TempFile>,
        record: &mut StatusRecord,
        mdn: Option<&BuiltMdn>,
    ) -> io::Result<String> {
        if !is_safe_relative_path(base) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsafe base directory {base:?}"),
            ));
        }
        // A failed message is named `failed/<uuid>.<message-id>`, as the reference does.
        let paths = match status {
            StatusCode::Failed => {
                record::failed_inbound_paths(&record::transfer_id(&mut rand::rng()), message_id)
            }
            _ => record::inbound_paths(file_name, message_id, status),
        };
        if let Some(payload) = payload {
            let path = self
                .data
                .persist(&format!("{base}/{}", paths.payload), payload)?;
            // file-path is relative to the base directory, as in the reference.
            let relative = path.strip_prefix(&format!("{base}/")).unwrap_or(&path);
            record.file_path = Some(relative.to_owned());
        }
        if let Some(m) = mdn {
            let mut raw = m.headers.head_bytes();
            raw.extend_from_slice(&m.body);
            self.data.put_new(&format!("{base}/{}", paths.mdn), &raw)?;
        }
        self.data.put_new(
            &format!("{base}/{}", paths.record),
            record.to_json().as_bytes(),
        )
    }

    /// An asynchronous MDN for a message we sent.
    fn receive_mdn(
        &self,
        incoming: &Incoming<'_>,
        headers: &HttpHeaders,
        body: &[u8],
        now: SystemTime,
    ) -> HttpResponse {
        let refuse = |why: String| {
            warn!(from = %incoming.from, "MDN refused: {why}");
            text(400, format!("MDN refused: {why}\r\n"))
        };
        let parsed = match incoming.parse_mdn(&self.limits) {
            Ok(parsed) => parsed,
            Err(e) => return refuse(format!("{} {e}", e.code())),
        };
        let pending = parsed.find(|id| {
            let path = sent_path(id);
            let text = std::fs::read_to_string(self.data.root.join(&path)).ok()?;
            Some((path, serde_json::from_str::<SentRecord>(&text).ok()?))
        });
        let (path, sent) = match pending {
            Ok(found) => found,
            Err(e) => return refuse(format!("{} {e}", e.code())),
        };
        if incoming.from.as_str() != sent.partner {
            return refuse(format!(
                "from {} for a message sent to {}",
                incoming.from, sent.partner
            ));
        }
        let agreement = match self.directory.agreement(&incoming.from, &incoming.to) {
            Ok(agreement) => agreement,
            Err(e) => return refuse(format!("{} {e}", e.code())),
        };
        let partner: &Profile = agreement.partner();
        let trust = partner.trust(now, DateEnforcement::Enforce);
        let certificates: Vec<_> = partner
            .certificates_for(CertificateUsage::Signing)
            .map(|c| c.certificate().clone())
            .collect();
        let verdict = sent
            .sent_message(certificates)
            .and_then(|s| parsed.verify_trusted(&s, &trust, &self.limits));
        let verdict = match verdict {
            Ok(verdict) => verdict,
            // Not (provably) from the partner: keep waiting for the genuine MDN.
            Err(e) => return refuse(format!("{} {e}", e.code())),
        };
        // Claim the transfer: whoever deletes the pending record writes the outcome.
        match std::fs::remove_file(self.data.root.join(&path)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return text(200, "MDN already recorded\r\n".into());
            }
            Err(e) => {
                error!(error = %e, "cannot claim {path}");
                return text(500, "MDN not recorded\r\n".into());
            }
        }
        let mut record = sent.record.clone();
        record.mdn_message_id = parsed.message_id.as_ref().map(|m| m.bare().to_owned());
        record.mdn_subject = headers.get_str("Subject").map(str::to_owned);
        let status = judge(&mut record, Ok(&verdict));
        let mut raw = headers.head_bytes();
        raw.extend_from_slice(body);
        match self.finish_outbound(&sent, record, status, Some(&raw)) {
            Ok(_) => text(200, "MDN received\r\n".into()),
            Err(e) => {
                error!(error = %e, "cannot record the MDN");
                text(500, "MDN not recorded\r\n".into())
            }
        }
    }

    /// Writes an outbound transfer's record (and MDN) and wakes a waiting client.
    fn finish_outbound(
        &self,
        sent: &SentRecord,
        mut record: StatusRecord,
        status: StatusCode,
        mdn: Option<&[u8]>,
    ) -> io::Result<Finished> {
        record.status_code = Some(status);
        let message_id = MessageId::bare_str(&sent.message_id).to_owned();
        let paths = record::outbound_paths(
            &sent.source_file_name,
            &sent.transfer_id,
            &message_id,
            status,
        );
        let mdn_path = match mdn {
            Some(raw) => Some(self.data.put_new(&format!("{OUTBOX}/{}", paths.mdn), raw)?),
            None => None,
        };
        let record_path = self.data.put_new(
            &format!("{OUTBOX}/{}", paths.record),
            record.to_json().as_bytes(),
        )?;
        info!(
            %message_id, status = status.as_str(),
            disposition = record.disposition.as_deref().unwrap_or("-"),
            failure = record.failure_code.as_deref().unwrap_or("-"),
            record = %record_path, "transfer recorded"
        );
        let finished = Finished {
            status,
            message_id: message_id.clone(),
            record,
            record_path: self.data.root.join(record_path),
            mdn_path: mdn_path.map(|p| self.data.root.join(p)),
        };
        if let Some(waiter) = lock(&self.waiters).remove(&message_id) {
            let _ = waiter.send(finished.clone());
        }
        Ok(finished)
    }
}

impl Handled {
    /// Keeps the MDN to POST only when it is asynchronous (a synchronous one is already
    /// the response).
    fn only_async_if_pending(mut self) -> Self {
        if self
            .async_mdn
            .as_ref()
            .is_some_and(|m| m.async_url.is_none())
        {
            self.async_mdn = None;
        }
        self
    }
}

/// Fills the record from an MDN's verdict (or the reason it could not be trusted) and
/// returns the outcome: `COMPLETED` only for `processed` with a matching MIC.
fn judge(record: &mut StatusRecord, verdict: Result<&Verdict, &Error>) -> StatusCode {
    match verdict {
        Ok(v) => record.set_verdict(v),
        Err(e) => {
            record.set_failure(e, &ReferenceErrorPolicy);
            StatusCode::Failed
        }
    }
}

// ---------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------

/// A running endpoint; dropping it stops it.
#[derive(Debug)]
pub struct Endpoint {
    /// The address it listens on.
    pub addr: SocketAddr,
    task: Option<tokio::task::JoinHandle<io::Result<()>>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Endpoint {
    /// Runs until the server fails.
    pub async fn wait(mut self) -> io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }

    /// Stops accepting connections and lets the requests in progress finish (so the
    /// partner gets our answer to its asynchronous MDN), for at most `grace`.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.as_mut() {
            let _ = tokio::time::timeout(grace, task).await;
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Serves `gateway` on `listen`: POST on any path.
pub async fn start_endpoint(gateway: Arc<Gateway>, listen: &str) -> io::Result<Endpoint> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    // The body streams (no extractor buffers it): the handler holds it to
    // `Limits::max_body_size` as it arrives, so axum's default 2 MB limit is off.
    let app = axum::Router::new()
        .fallback(endpoint)
        .layer(DefaultBodyLimit::disable())
        .with_state(gateway);
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .await
    });
    info!(%addr, "listening");
    Ok(Endpoint {
        addr,
        task: Some(task),
        shutdown: Some(shutdown),
    })
}

/// The server: loads the configuration and serves messages and MDNs.
pub async fn start_server(options: &ServerOptions) -> Result<Endpoint, BoxError> {
    let directory = load_directory(&options.config)?;
    let mut limits = Limits::default();
    if let Some(max) = options.max_body_size {
        // A big file may arrive compressed too: the same bound for what it inflates to.
        limits.max_body_size = max;
        limits.max_decompressed_size = limits.max_decompressed_size.max(max);
    }
    let gateway = Gateway::new(directory, &options.data, true)?
        .with_server_id(&options.server_id)
        .with_limits(limits);
    Ok(start_endpoint(Arc::new(gateway), &options.listen).await?)
}

/// One request: its body streams from the connection to a blocking thread that reads
/// and answers it ([`Gateway::handle`]).
async fn endpoint(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        return to_axum(text(405, "AS2 endpoint: POST only\r\n".into()));
    }
    debug!(
        %peer,
        content_length = ?parts.headers.get(CONTENT_LENGTH),
        chunked = parts.headers.contains_key(TRANSFER_ENCODING),
        "request"
    );
    let headers = http_headers(&parts.headers);
    let (frames, reader) = mpsc::channel(FRAMES_IN_FLIGHT);
    let worker = Arc::clone(&gateway);
    let handled = tokio::task::spawn_blocking(move || {
        worker.handle(&headers, &mut BodyReader::new(reader), peer)
    });
    let ((), handled) = tokio::join!(pump_body(body, frames), handled);
    match handled {
        Ok(handled) => {
            if let Some(mdn) = handled.async_mdn {
                tokio::spawn(deliver_async_mdn(gateway.http.clone(), mdn));
            }
            to_axum(handled.response)
        }
        Err(e) => {
            error!(error = %e, "request handler failed");
            to_axum(text(500, "internal error\r\n".into()))
        }
    }
}

/// POSTs an asynchronous MDN (RFC 4130 §7.3), retrying on connection failures and 5xx.
async fn deliver_async_mdn(http: reqwest::Client, mdn: BuiltMdn) {
    let Some(url) = mdn.async_url.clone() else {
        return;
    };
    for attempt in 1..=ASYNC_MDN_ATTEMPTS {
        match post(&http, &url, &mdn.headers, mdn.body.clone()).await {
            Ok(r) if (200..300).contains(&r.status) => {
                info!(%url, original = %mdn.original_message_id, "async MDN delivered");
                return;
            }
            Ok(r) if r.status < 500 => {
                warn!(%url, status = r.status, body = %String::from_utf8_lossy(&r.body).trim(),
                    "async MDN refused");
                return;
            }
            Ok(r) => warn!(%url, status = r.status, attempt, "async MDN not accepted"),
            Err(e) => warn!(%url, error = %e, attempt, "async MDN not delivered"),
        }
        tokio::time::sleep(Duration::from_secs(2 * attempt)).await;
    }
    error!(%url, original = %mdn.original_message_id, "gave up delivering the async MDN");
}

// ---------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------

/// What the client did.
#[derive(Debug)]
pub enum ClientOutcome {
    /// The transfer ended (MDN verified, refused, or no MDN asked for).
    Finished(Box<Finished>),
    /// Sent; the asynchronous MDN will be recorded by the endpoint it reaches.
    AwaitingMdn {
        /// The Message-ID sent (bare).
        message_id: String,
        /// The pending record.
        pending: PathBuf,
    },
}

/// The MIME type for a file, from its extension.
fn content_type_for(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "x12" | "850" | "810" | "856" => "application/EDI-X12",
        "edi" | "edifact" => "application/EDIFACT",
        "xml" => "application/xml",
        "json" => "application/json",
        "txt" | "csv" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// A transfer id in the shape of the reference's (a UUID).
fn transfer_id() -> String {
    record::transfer_id(&mut rand::rng())
}

/// Sends `options.file` through the connector and reports the MDN outcome.
pub async fn run_client(options: &ClientOptions) -> Result<ClientOutcome, BoxError> {
    let directory = load_directory(&options.config)?;
    let gateway = Arc::new(Gateway::new(directory, &options.data, false)?);
    let connector = gateway.directory.connector(&options.connector)?;
    let file_name = options
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: not a file name", options.file.display()))?;
    let transfer_id = transfer_id();
    // The Message-ID is chosen first, so that a transfer failing before a message exists
    // is still recorded under `name.<transferId>.<messageId>.ext.json`.
    let message_id = MessageId::generate(
        &mut rand::rng(),
        &connector.local().as2_id().message_id_domain(),
    );
    let unsent = |error: Error| -> BoxError {
        let mut record = StatusRecord::outbound_failed(
            &connector,
            &transfer_id,
            &options.file.display().to_string(),
            &error,
            &ReferenceErrorPolicy,
            SystemTime::now(),
        );
        record.as2_message_id = Some(message_id.bare().to_owned());
        let paths = record::outbound_paths(
            &file_name,
            &transfer_id,
            message_id.bare(),
            StatusCode::Failed,
        );
        match gateway.data.put_new(
            &format!("{OUTBOX}/{}", paths.record),
            record.to_json().as_bytes(),
        ) {
            Ok(_) => error.into(),
            Err(e) => e.into(),
        }
    };
    // The file to send, streamed from disk: one that cannot be opened is
    // SEND_FILE_NOT_FOUND, as `SendFile::read` reports it.
    let opened = std::fs::File::open(&options.file).and_then(|file| {
        let metadata = file.metadata()?;
        if metadata.is_file() {
            Ok((file, metadata.len()))
        } else {
            Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file"))
        }
    });
    let (file, file_len) = match opened {
        Ok(opened) => opened,
        Err(e) => return Err(unsent(send_file_error(&file_name, &e))),
    };
    let mode = options
        .mdn
        .unwrap_or(match connector.connector().mdn_response {
            MdnResponse::None => MdnMode::None,
            MdnResponse::Async => MdnMode::Async,
            _ => MdnMode::Sync,
        });
    let listener = match (&options.async_listen, mode) {
        (Some(addr), MdnMode::Async) => Some(start_endpoint(Arc::clone(&gateway), addr).await?),
        (Some(_), _) => return Err("--async-listen needs an asynchronous MDN".into()),
        (None, _) => None,
    };
    let async_url = match mode {
        MdnMode::Async => Some(
            options
                .async_url
                .clone()
                .or_else(|| listener.as_ref().map(|l| format!("http://{}/as2", l.addr)))
                .or_else(|| connector.connector().async_mdn_url.clone())
                .ok_or("an asynchronous MDN needs --async-url or --async-listen")?,
        ),
        _ => None,
    };
    let url = options
        .url
        .clone()
        .unwrap_or_else(|| connector.url().to_owned());
    let signed = connector
        .connector()
        .mdn_digest()
        .map(|digest| SignedReceipt::new(&[digest]));
    let mdn = match (mode, &async_url) {
        (MdnMode::None, _) => MdnRequest::None,
        (MdnMode::Async, Some(url)) => MdnRequest::Async {
            url: url.clone(),
            signed,
        },
        _ => MdnRequest::Sync { signed },
    };

    // The message is built and its body written on a blocking thread (file reads,
    // cryptography), into the request body as the request takes it.
    let now = SystemTime::now();
    let plan = SendPlan {
        connector: connector.clone(),
        file,
        file_len,
        file_name: file_name.clone(),
        file_path: options.file.display().to_string(),
        content_type: options
            .content_type
            .clone()
            .unwrap_or_else(|| content_type_for(&file_name).to_owned()),
        message_id: message_id.clone(),
        transfer_id: transfer_id.clone(),
        mdn,
        max_payload_size: options.max_payload_size,
        now,
    };
    let (ready, prepared) = oneshot::channel();
    let (frames, body) = mpsc::channel(FRAMES_IN_FLIGHT);
    let producer = tokio::task::spawn_blocking({
        let gateway = Arc::clone(&gateway);
        move || produce(&gateway, plan, ready, &frames)
    });
    let Ok(Prepared {
        headers,
        content_length,
        sent: sent_so_far,
    }) = prepared.await
    else {
        // No message: the connector's keys, the MDN URL or the file (recorded) failed.
        let e = match producer.await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => "the message was not prepared".into(),
            Err(e) => e.into(),
        };
        return Err(match e.downcast::<Error>() {
            Ok(e) if e.code().as_str() == "SEND_FILE_NOT_FOUND" => unsent(*e),
            Ok(e) => e,
            Err(e) => e,
        });
    };
    let message_id = MessageId::bare_str(&sent_so_far.message_id).to_owned();
    info!(
        file = %options.file.display(), bytes = file_len, %message_id, %url,
        mdn = ?mode, wire_bytes = content_length, "sending"
    );

    // An asynchronous MDN may arrive before the 200: be ready for it first. (The sending
    // thread writes the pending record before the last octet.)
    let pending = (mode == MdnMode::Async).then(|| sent_path(&sent_so_far.message_id));
    let mut waiter = None;
    if mode == MdnMode::Async && listener.is_some() {
        let (tx, rx) = oneshot::channel();
        lock(&gateway.waiters).insert(message_id.clone(), tx);
        waiter = Some(rx);
    }

    let response = post_stream(&gateway.http, &url, &headers, content_length, body).await;
    let delivered = match producer.await? {
        Ok(sent) => match response.map_err(Error::from).and_then(|r| {
            r.check_status(&url)?;
            Ok(r)
        }) {
            Ok(response) => Ok((sent, response)),
            Err(e) => Err((Some(sent), e)),
        },
        Err(e) => Err((
            None,
            match e.downcast::<Error>() {
                // The message itself failed (the file could not be read to its end).
                Ok(e) => *e,
                // The request failed, or the partner answered before taking it all.
                Err(e) if e.is::<BodyNotTaken>() => match response {
                    Err(e) => Error::from(e),
                    Ok(r) => r.check_status(&url).err().unwrap_or_else(|| {
                        Error::from(TransportError::new(
                            TransportErrorKind::ConnectionFailed,
                            format!("{url}: answered before the whole message was sent"),
                        ))
                    }),
                },
                Err(e) => return Err(e),
            },
        )),
    };
    let (sent, response) = match delivered {
        Ok(delivered) => delivered,
        Err((complete, e)) => {
            warn!(%message_id, error = %e, "not delivered");
            // Only a message sent whole can have been answered by an MDN.
            if complete.is_some()
                && let Some(path) = &pending
                && let Err(gone) = std::fs::remove_file(gateway.data.root.join(path))
                && gone.kind() == io::ErrorKind::NotFound
                && let Some(waiter) = waiter
            {
                // The MDN overtook the answer to our POST and has been recorded.
                return Ok(ClientOutcome::Finished(Box::new(waiter.await?)));
            }
            let sent = complete.unwrap_or(sent_so_far);
            let mut record = sent.record.clone();
            record.set_failure(&e, &ReferenceErrorPolicy);
            let finished = gateway.finish_outbound(&sent, record, StatusCode::Failed, None)?;
            return Ok(ClientOutcome::Finished(Box::new(finished)));
        }
    };
    let mut record = sent.record.clone();
    info!(%message_id, status = response.status, "delivered");

    match mode {
        MdnMode::None => {
            let finished = gateway.finish_outbound(&sent, record, StatusCode::Completed, None)?;
            Ok(ClientOutcome::Finished(Box::new(finished)))
        }
        MdnMode::Sync => {
            let limits = Limits::default();
            let trust = connector.partner_trust(now, DateEnforcement::Enforce);
            let certificates: Vec<_> = connector
                .partner()
                .certificates_for(CertificateUsage::Signing)
                .map(|c| c.certificate().clone())
                .collect();
            let verdict = mdn::parse(&response.headers, &response.body, &limits).and_then(|m| {
                record.mdn_message_id = m.message_id.as_ref().map(|id| id.bare().to_owned());
                record.mdn_subject = response.headers.get_str("Subject").map(str::to_owned);
                m.verify_trusted(&sent.sent_message(certificates)?, &trust, &limits)
            });
            if let Err(e) = &verdict {
                warn!(%message_id, error = %e, "the MDN does not verify");
            }
            let status = judge(&mut record, verdict.as_ref());
            let mut raw = response.headers.head_bytes();
            raw.extend_from_slice(&response.body);
            let finished = gateway.finish_outbound(&sent, record, status, Some(&raw))?;
            Ok(ClientOutcome::Finished(Box::new(finished)))
        }
        MdnMode::Async => {
            let pending = pending.ok_or("no pending record")?;
            let Some(mut waiter) = waiter else {
                info!(%message_id, "the asynchronous MDN will be recorded where it arrives");
                return Ok(ClientOutcome::AwaitingMdn {
                    message_id,
                    pending: gateway.data.root.join(pending),
                });
            };
            info!(%message_id, timeout = ?options.timeout, "waiting for the asynchronous MDN");
            let finished = match tokio::time::timeout(options.timeout, &mut waiter).await {
                Ok(Ok(finished)) => finished,
                // Give up, unless the MDN is being recorded right now.
                _ => match std::fs::remove_file(gateway.data.root.join(&pending)) {
                    Ok(()) => {
                        lock(&gateway.waiters).remove(&message_id);
                        record.failure_message = Some(format!(
                            "no asynchronous MDN within {} s",
                            options.timeout.as_secs()
                        ));
                        gateway.finish_outbound(&sent, record, StatusCode::Failed, None)?
                    }
                    Err(_) => waiter.await?,
                },
            };
            // Let the partner have our answer to its POST before exiting.
            if let Some(listener) = listener {
                listener.stop(Duration::from_secs(5)).await;
            }
            Ok(ClientOutcome::Finished(Box::new(finished)))
        }
    }
}

/// What the sending thread needs to build one message and write its body.
struct SendPlan {
    connector: ActiveConnector,
    file: std::fs::File,
    file_len: u64,
    file_name: String,
    file_path: String,
    content_type: String,
    message_id: MessageId,
    transfer_id: String,
    mdn: MdnRequest,
    max_payload_size: Option<usize>,
    now: SystemTime,
}

/// What the sending thread reports before the first body octet.
struct Prepared {
    headers: HttpHeaders,
    /// The body's exact length.
    content_length: u64,
    /// The transfer so far (its MIC is known only at the end of the body).
    sent: SentRecord,
}

/// The HTTP request stopped taking the body: it failed, or the partner answered first.
#[derive(Debug)]
struct BodyNotTaken;

impl std::fmt::Display for BodyNotTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request stopped taking the body")
    }
}

impl std::error::Error for BodyNotTaken {}

/// Builds the message and writes its body into `frames` a chunk at a time (blocking:
/// file reads, cryptography); `ready` gets the headers and the Content-Length first.
/// Returns the transfer with its MIC. A failure also goes into `frames`, so that the
/// request fails instead of ending short.
fn produce(
    gateway: &Gateway,
    plan: SendPlan,
    ready: oneshot::Sender<Prepared>,
    frames: &mpsc::Sender<io::Result<Bytes>>,
) -> Result<SentRecord, BoxError> {
    let result = write_body(gateway, plan, ready, frames);
    if let Err(e) = &result
        && !e.is::<BodyNotTaken>()
    {
        let _ = frames.blocking_send(Err(io::Error::other(e.to_string())));
    }
    result
}

/// [`produce`]'s work. An uncompressed body has its exact length before the first octet
/// ([`outbound::OutboundStream::content_length`]): it streams from the file straight into
/// the request. A compressed body's length is known only at its end: it is spooled to an
/// anonymous file in the data directory first ([`outbound::OutboundStream::into_writer`])
/// and sent from there with the spooled length, since the reference service expects
/// Content-Length (chunked transfer would spare the spool where the partner takes it).
/// For an asynchronous MDN the pending record is written, with the MIC, before the last
/// octet leaves.
fn write_body(
    gateway: &Gateway,
    plan: SendPlan,
    ready: oneshot::Sender<Prepared>,
    frames: &mpsc::Sender<io::Result<Bytes>>,
) -> Result<SentRecord, BoxError> {
    let SendPlan {
        connector,
        mut file,
        file_len,
        file_name,
        file_path,
        content_type,
        message_id,
        transfer_id,
        mdn,
        max_payload_size,
        now,
    } = plan;
    let mut message = connector.outbound(&[], now)?;
    message.message_id = Some(message_id);
    message.file_name = Some(file_name.clone());
    message.content_type = content_type;
    message.mdn = mdn;
    if let Some(max) = max_payload_size {
        message.max_payload_size = max;
    }
    let mut rng = rand::rng();
    let stream = outbound::start(&message, Some(file_len), now, &mut rng)?;
    let mut record = StatusRecord::outbound(&message, stream.message_id().bare(), now);
    record.connector_id = Some(connector.connector().id.clone());
    record.transfer_id = Some(transfer_id.clone());
    record.file_path = Some(file_path);
    // The payload is pushed, not in `message`.
    record.transfer_size = Some(file_len);
    let mut sent = SentRecord {
        message_id: stream.message_id().as_str().to_owned(),
        mic: None,
        require_mic: message.signing.is_some(),
        require_signed_mdn: message.mdn.signed_receipt().is_some(),
        partner: message.to.as_str().to_owned(),
        source_file_name: file_name.clone(),
        transfer_id,
        record,
    };
    let pending = message.mdn.async_url().map(|_| sent_path(&sent.message_id));
    let read_failed = |e: io::Error| -> BoxError { send_file_error(&file_name, &e).into() };
    let mut chunk = vec![0u8; CHUNK];
    let mut wire = Vec::new();
    match stream.content_length() {
        Some(content_length) => {
            let mut stream = stream;
            let prepared = Prepared {
                headers: stream.headers().clone(),
                content_length,
                sent: sent.clone(),
            };
            ready.send(prepared).map_err(|_| BodyNotTaken)?;
            loop {
                let n = read_chunk(&mut file, &mut chunk).map_err(read_failed)?;
                if n == 0 {
                    break;
                }
                stream.push(chunk.get(..n).unwrap_or_default(), &mut wire)?;
                send_frame(frames, &mut wire)?;
            }
            let finished = stream.finish(&mut wire, &mut rng)?;
            sent.finished(&finished);
            write_pending(gateway, &sent, pending.as_deref())?;
            send_frame(frames, &mut wire).inspect_err(|_| forget(gateway, pending.as_deref()))?;
        }
        None => {
            std::fs::create_dir_all(&gateway.data.root)?;
            let spool = tempfile::tempfile_in(&gateway.data.root)?;
            let mut writer = stream.into_writer(io::BufWriter::with_capacity(CHUNK, spool));
            loop {
                let n = read_chunk(&mut file, &mut chunk).map_err(read_failed)?;
                if n == 0 {
                    break;
                }
                writer
                    .write_all(chunk.get(..n).unwrap_or_default())
                    .map_err(stream_error)?;
            }
            let headers = writer.stream().headers().clone();
            let (finished, spool) = writer.finish(&mut rng).map_err(stream_error)?;
            let mut spool = spool.into_inner().map_err(io::IntoInnerError::into_error)?;
            spool.rewind()?;
            sent.finished(&finished);
            write_pending(gateway, &sent, pending.as_deref())?;
            let prepared = Prepared {
                headers,
                content_length: finished.body_len,
                sent: sent.clone(),
            };
            let sent_whole = ready
                .send(prepared)
                .map_err(|_| BoxError::from(BodyNotTaken))
                .and_then(|()| {
                    loop {
                        let n = read_chunk(&mut spool, &mut chunk)?;
                        if n == 0 {
                            break Ok(());
                        }
                        wire.extend_from_slice(chunk.get(..n).unwrap_or_default());
                        send_frame(frames, &mut wire)?;
                    }
                });
            sent_whole.inspect_err(|_| forget(gateway, pending.as_deref()))?;
        }
    }
    Ok(sent)
}

/// Hands the body octets in `wire` (if any) to the request.
fn send_frame(
    frames: &mpsc::Sender<io::Result<Bytes>>,
    wire: &mut Vec<u8>,
) -> Result<(), BoxError> {
    if wire.is_empty() {
        return Ok(());
    }
    let frame = Bytes::from(std::mem::take(wire));
    frames
        .blocking_send(Ok(frame))
        .map_err(|_| BodyNotTaken.into())
}

/// Writes the pending record of a transfer awaiting an asynchronous MDN.
fn write_pending(gateway: &Gateway, sent: &SentRecord, pending: Option<&str>) -> io::Result<()> {
    if let Some(path) = pending {
        let json = serde_json::to_string_pretty(sent)?;
        gateway.data.put_new(path, json.as_bytes())?;
    }
    Ok(())
}

/// Removes the pending record of a message that did not go out whole: no MDN can come.
fn forget(gateway: &Gateway, pending: Option<&str>) {
    if let Some(path) = pending {
        let _ = std::fs::remove_file(gateway.data.root.join(path));
    }
}

/// The error for a file to send that cannot be read: `SEND_FILE_NOT_FOUND`, as
/// [`SendFile::read`](as2_proto::partner::SendFile::read) reports it.
fn send_file_error(file_name: &str, error: &io::Error) -> Error {
    Error::from(PartnerError::SendFile(StorageError::from_io(
        file_name, error,
    )))
}

/// An error of [`outbound::BodyWriter`]: the library's, if it is one, else the spool's.
fn stream_error(error: io::Error) -> BoxError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
    {
        Some(e) => e.clone().into(),
        None => error.into(),
    }
}

/// Fills `buf` as far as the file allows; 0 at the end.
fn read_chunk(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
