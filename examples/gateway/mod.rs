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
//! **Async MDNs and the MIC of a message we sent.** Before POSTing a message that asks for
//! an asynchronous MDN, the client writes `outbox/sent/<sha-256>.json` (a [`SentRecord`]:
//! Message-ID, MIC, whether a signed MDN and a MIC are required, and the status record so
//! far). Whichever endpoint the MDN reaches, the client's own listener or a server
//! sharing the data directory, looks that file up by the MDN's Original-Message-ID,
//! verifies the MDN (signature, trust and MIC) against the partner profile of the
//! agreement for the MDN's (AS2-From, AS2-To), then claims the transfer by deleting the
//! file and writes the final record and `.mdn` under `outbox/`. An MDN that does not
//! verify is answered with 400 and leaves the file in place for the genuine one.
//!
//! Outgoing bodies always carry Content-Length (hyper sets it for the complete bodies
//! used here; nothing is streamed), so no request or response is chunked. Logging goes
//! through `tracing` to stderr; `RUST_LOG=debug` (a bare level) sets the level.
//!
//! This is example code: it reads the clock, files and OS entropy, which the library never
//! does. A production gateway would also bound requests in progress, restrict where it
//! POSTs asynchronous MDNs (here: any `http://` URL the sender names) and use TLS.

#![allow(dead_code)] // server.rs and client.rs each use part of this module.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::mdn::{self, BuiltMdn, MdnSettings, Reply, Report, SentMessage, Verdict};
use as2_proto::message::headers::{As2Id, HttpHeaders, HttpResponse, MessageId};
use as2_proto::message::inbound::{self, Incoming, IncomingKind};
use as2_proto::message::outbound::{self, MdnRequest, SignedReceipt};
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::partner::{
    CertificateUsage, DateEnforcement, MdnResponse, MemoryDirectory, MemoryDuplicateStore,
    PartnerConfig, PartnerDirectory, Profile, SendFile, Storage, StorageError, TransportError,
    TransportErrorKind, is_safe_relative_path,
};
use as2_proto::record::{self, ReferenceErrorPolicy, StatusCode, StatusRecord};
use as2_proto::{Certificate, Error, Limits};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
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

// ---------------------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------------------

/// `server --config FILE --listen ADDR --data DIR`.
pub const SERVER_USAGE: &str = "\
usage: server --config FILE --listen ADDR --data DIR
  --config FILE   partner configuration (TOML, or JSON if the name ends in .json)
  --listen ADDR   address to listen on, e.g. 127.0.0.1:5080 (port 0 picks a free one)
  --data DIR      where payloads, MDNs and status records are written
The endpoint takes AS2 messages and asynchronous MDNs as POSTs on any path.";

/// `client --config FILE --connector ID --file PATH [...] --data DIR`.
pub const CLIENT_USAGE: &str = "\
usage: client --config FILE --connector ID --file PATH --data DIR [--url URL]
              [--mdn none|sync|async] [--async-listen ADDR] [--async-url URL]
              [--content-type TYPE] [--timeout SECONDS]
  --connector ID       the connector to send through (its URL, algorithms and MDN mode)
  --url URL            POST here instead of the connector's URL
  --mdn MODE           override the connector's MDN request
  --async-listen ADDR  listen here for the asynchronous MDN and wait for it (port 0
                       picks a free one; the URL asked for is then http://ADDR/as2)
  --async-url URL      the Receipt-Delivery-Option URL (default: the listener's, else
                       the connector's async_mdn_url); without --async-listen the client
                       exits after the 200 and a server sharing --data records the MDN
  --timeout SECONDS    how long to wait for an asynchronous MDN (default 300)
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
}

/// The `server-id` of records when `--server-id` is not given.
pub const DEFAULT_SERVER_ID: &str = "s-as2-proto";

impl ServerOptions {
    /// Parses the command line (without the program name).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut flags = parse_flags(args, &["config", "listen", "data", "server-id"])?;
        Ok(ServerOptions {
            config: required(&mut flags, "config")?.into(),
            listen: required(&mut flags, "listen")?,
            data: required(&mut flags, "data")?.into(),
            server_id: flags
                .remove("server-id")
                .unwrap_or_else(|| DEFAULT_SERVER_ID.to_owned()),
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
        if !is_safe_relative_path(relative) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsafe path {relative:?}"),
            ));
        }
        let target = self.root.join(relative);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let temp = dir.join(format!(
            ".part-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&temp, bytes)?;
        let result = (1..=1000)
            .map(|n| numbered(relative, n))
            .find_map(
                |candidate| match std::fs::hard_link(&temp, self.root.join(&candidate)) {
                    Ok(()) => Some(Ok(candidate)),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                    Err(e) => Some(Err(e)),
                },
            )
            .unwrap_or_else(|| {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{relative}: no free name"),
                ))
            });
        let _ = std::fs::remove_file(&temp);
        result
    }
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

/// A Message-ID without angle brackets.
fn bare(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
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

/// POSTs `body` with `headers` to `url`. reqwest sets Content-Length from the body (a
/// complete `Vec`, never streamed), so the request is not chunked.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &HttpHeaders,
    body: Vec<u8>,
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
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.map_err(transport_error)?;
    let status = response.status().as_u16();
    let headers = http_headers(response.headers());
    let body = response.bytes().await.map_err(transport_error)?.to_vec();
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

/// The relative path of the pending record for a Message-ID.
fn sent_path(message_id: &str) -> String {
    let digest = DigestAlgorithm::Sha256.digest(bare(message_id).as_bytes());
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

    /// The partner directory.
    pub fn directory(&self) -> &MemoryDirectory {
        &self.directory
    }

    /// The data directory.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// One request: an AS2 message or an asynchronous MDN. Blocking (cryptography).
    fn handle(&self, headers: &HttpHeaders, body: &[u8], peer: SocketAddr) -> Handled {
        let now = SystemTime::now();
        let incoming = match inbound::handle(headers, body, &self.limits) {
            Ok(incoming) => incoming,
            Err(e) => {
                warn!(%peer, error = %e, "refused a request");
                return text(400, format!("AS2 request refused: {} {e}\r\n", e.code())).into();
            }
        };
        match incoming.kind {
            IncomingKind::Mdn => self.receive_mdn(&incoming, headers, body, now).into(),
            IncomingKind::Message if self.accept_messages => {
                self.receive_message(&incoming, body, peer, now)
            }
            _ => text(400, "this endpoint only takes MDNs\r\n".into()).into(),
        }
    }

    /// An AS2 message: agreement, accept, MDN, files.
    fn receive_message(
        &self,
        incoming: &Incoming<'_>,
        body: &[u8],
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
            from = %incoming.from, to = %incoming.to, %message_id, %peer, bytes = body.len(),
            "message received"
        );
        let mut record = StatusRecord::inbound(incoming, now)
            .with_server_id(&self.server_id)
            .with_client_ip(peer.ip());
        record.transfer_size = Some(body.len() as u64);

        let agreement = match self.directory.agreement(&incoming.from, &incoming.to) {
            Ok(agreement) => agreement,
            Err(e) => {
                warn!(from = %incoming.from, to = %incoming.to, error = %e, "no agreement");
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
        let outcome = {
            let mut duplicates = lock(&self.duplicates);
            setup.accept(incoming, &self.limits, &mut *duplicates, &mut rng)
        };
        let (report, status) = match &outcome {
            Ok(received) => {
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
            .and_then(|r| r.options.preferred_micalg())
            .unwrap_or(DigestAlgorithm::Sha256);
        settings.sign_options = setup.mdn_sign_options(digest);
        let reply = mdn::reply(incoming, &report, &settings, now, &mut rng);
        let (file_name, payload) = match &outcome {
            Ok(received) if received.duplicate => (received.file_name.as_deref(), None),
            Ok(received) => (
                received.file_name.as_deref(),
                Some(received.payload.as_slice()),
            ),
            // What could not be processed is kept exactly as received.
            Err(_) => (None, Some(body)),
        };
        self.store_inbound(
            &base,
            file_name,
            &message_id,
            status,
            payload,
            record,
            reply,
        )
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
        payload: Option<&[u8]>,
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
        payload: Option<&[u8]>,
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
                .put_new(&format!("{base}/{}", paths.payload), payload)?;
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
        let message_id = bare(&sent.message_id).to_owned();
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
    let body_limit = gateway.limits.max_body_size;
    let app = axum::Router::new()
        .fallback(endpoint)
        .layer(DefaultBodyLimit::max(body_limit))
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
    let gateway =
        Arc::new(Gateway::new(directory, &options.data, true)?.with_server_id(&options.server_id));
    Ok(start_endpoint(gateway, &options.listen).await?)
}

async fn endpoint(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    if method != Method::POST {
        return to_axum(text(405, "AS2 endpoint: POST only\r\n".into()));
    }
    debug!(
        %peer,
        content_length = ?headers.get(CONTENT_LENGTH),
        chunked = headers.contains_key(TRANSFER_ENCODING),
        "request"
    );
    let worker = Arc::clone(&gateway);
    let handled =
        tokio::task::spawn_blocking(move || worker.handle(&http_headers(&headers), &body, peer))
            .await;
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

/// The directory of the file a client sends, as a read-only [`Storage`].
struct SourceDir(PathBuf);

impl Storage for SourceDir {
    fn put(&self, path: &str, _: &[u8]) -> Result<(), StorageError> {
        Err(StorageError::new(path, "the source directory is read-only"))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        if !is_safe_relative_path(path) {
            return Err(StorageError::new(path, "not a safe relative path"));
        }
        std::fs::read(self.0.join(path)).map_err(|e| StorageError::from_io(path, &e))
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
    // The file to send, read through a Storage: a missing file is SEND_FILE_NOT_FOUND.
    let source = SourceDir(
        options
            .file
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    );
    let payload = match SendFile::read(&source, &file_name) {
        Ok(file) => file.payload,
        Err(e) => {
            let mut record = StatusRecord::outbound_failed(
                &connector,
                &transfer_id,
                &options.file.display().to_string(),
                &e,
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
            gateway.data.put_new(
                &format!("{OUTBOX}/{}", paths.record),
                record.to_json().as_bytes(),
            )?;
            return Err(e.into());
        }
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

    // Build (the random source is not held across an await).
    let now = SystemTime::now();
    let (built, sent) = {
        let mut message = connector.outbound(&payload, now)?;
        message.message_id = Some(message_id);
        message.file_name = Some(file_name.clone());
        message.content_type = options
            .content_type
            .clone()
            .unwrap_or_else(|| content_type_for(&file_name).to_owned());
        let signed = connector
            .connector()
            .mdn_digest()
            .map(|digest| SignedReceipt::new(&[digest]));
        message.mdn = match (mode, &async_url) {
            (MdnMode::None, _) => MdnRequest::None,
            (MdnMode::Async, Some(url)) => MdnRequest::Async {
                url: url.clone(),
                signed,
            },
            _ => MdnRequest::Sync { signed },
        };
        let built = outbound::build(&message, now, &mut rand::rng())?;
        let mut record = StatusRecord::outbound(&message, built.message_id.bare(), now);
        record.connector_id = Some(connector.connector().id.clone());
        record.transfer_id = Some(transfer_id.clone());
        record.file_path = Some(options.file.display().to_string());
        let sent = SentRecord {
            message_id: built.message_id.as_str().to_owned(),
            mic: built.mic.as_ref().map(|m| m.to_field(MicNameStyle::Dashed)),
            require_mic: built.signed,
            require_signed_mdn: built.signed_mdn_requested,
            partner: message.to.as_str().to_owned(),
            source_file_name: file_name.clone(),
            transfer_id: transfer_id.clone(),
            record,
        };
        (built, sent)
    };
    let message_id = built.message_id.bare().to_owned();
    info!(
        file = %options.file.display(), bytes = payload.len(), %message_id, %url,
        mdn = ?mode, wire_bytes = built.body.len(), "sending"
    );

    // An asynchronous MDN may arrive before the 200: be ready for it first.
    let mut pending = None;
    let mut waiter = None;
    if mode == MdnMode::Async {
        let path = sent_path(built.message_id.as_str());
        let json = serde_json::to_string_pretty(&sent)?;
        gateway.data.put_new(&path, json.as_bytes())?;
        if listener.is_some() {
            let (tx, rx) = oneshot::channel();
            lock(&gateway.waiters).insert(message_id.clone(), tx);
            waiter = Some(rx);
        }
        pending = Some(path);
    }

    let response = post(&gateway.http, &url, &built.headers, built.body.clone()).await;
    let mut record = sent.record.clone();
    let response = match response.map_err(Error::from).and_then(|r| {
        r.check_status(&url)?;
        Ok(r)
    }) {
        Ok(response) => response,
        Err(e) => {
            warn!(%message_id, error = %e, "not delivered");
            if let Some(path) = &pending
                && let Err(gone) = std::fs::remove_file(gateway.data.root.join(path))
                && gone.kind() == io::ErrorKind::NotFound
                && let Some(waiter) = waiter
            {
                // The MDN overtook the answer to our POST and has been recorded.
                return Ok(ClientOutcome::Finished(Box::new(waiter.await?)));
            }
            record.set_failure(&e, &ReferenceErrorPolicy);
            let finished = gateway.finish_outbound(&sent, record, StatusCode::Failed, None)?;
            return Ok(ClientOutcome::Finished(Box::new(finished)));
        }
    };
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
