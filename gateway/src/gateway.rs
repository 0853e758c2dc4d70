//! The gateway: the partner directory, the stores and the inbound side (AS2 messages
//! and asynchronous MDNs).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::config::{GatewayConfig, GatewaySettings};
use crate::db::Database;
use crate::storage::Storage;
use crate::*;
use crate::{cli::*, files::*, http::*};
use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::mdn::{self, BuiltMdn, MdnSettings, Reply, Report, SentMessage, Verdict};
use as2_proto::message::headers::{As2Id, HttpHeaders, HttpResponse, MessageId};
use as2_proto::message::inbound::{
    self, InboundPolicy, Incoming, IncomingKind, NoDuplicateCheck, Received, Rejected,
};
use as2_proto::message::inbound::{Duplicate, DuplicateCheck, StoredMdn};
use as2_proto::message::outbound::FinishedMessage;
use as2_proto::message::receive::PayloadSink;
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::partner::{
    CertificateUsage, DateEnforcement, DuplicateHandling, MemoryDirectory, MemoryDuplicateStore,
    PartnerDirectory, Profile, is_safe_relative_path,
};
use as2_proto::record::{self, ReferenceErrorPolicy, StatusCode, StatusRecord};
use as2_proto::{Certificate, Error, Limit, Limits};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

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
    pub(crate) fn sent_message(
        &self,
        certificates: Vec<Certificate>,
    ) -> Result<SentMessage, Error> {
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
    pub(crate) fn finished(&mut self, message: &FinishedMessage) {
        self.mic = message
            .mic
            .as_ref()
            .map(|m| m.to_field(MicNameStyle::Dashed));
        self.require_mic = message.signed;
        self.require_signed_mdn = message.signed_mdn_requested;
    }
}

/// The relative path of the pending record for a Message-ID.
pub(crate) fn sent_path(message_id: &str) -> String {
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
    /// Where it was written (a local path, or the object's `s3://` URL).
    pub record_path: PathBuf,
    /// Where the MDN was written, if one came back.
    pub mdn_path: Option<PathBuf>,
    /// The record's key in the store (relative to the data directory).
    pub record_key: String,
    /// The MDN's key in the store.
    pub mdn_key: Option<String>,
}

/// The directory, data directory, duplicate store and HTTP client behind an endpoint.
pub struct Gateway {
    pub(crate) directory: MemoryDirectory,
    /// The local data directory: the state, and pending records without a database.
    pub(crate) data: DataDir,
    /// Payloads, records, MDNs and uploads (the data directory, or a bucket).
    pub(crate) storage: Storage,
    pub(crate) limits: Limits,
    pub(crate) duplicates: Duplicates,
    /// The `Authorization` header each agreement's partner must send, by agreement id.
    pub(crate) basic_auth: HashMap<String, String>,
    pub(crate) http: reqwest::Client,
    /// Whether AS2 messages are accepted (a client's MDN listener takes only MDNs).
    pub(crate) accept_messages: bool,
    /// Transfers the client is waiting on, by bare Message-ID.
    pub(crate) waiters: Mutex<HashMap<String, oneshot::Sender<Finished>>>,
    /// This server's id in status records (`server-id`).
    pub(crate) server_id: String,
    /// The `[gateway]` settings (the defaults for the flag-driven server and client).
    pub(crate) settings: GatewaySettings,
    /// Wakes the job worker when a job is queued here.
    pub(crate) wake: tokio::sync::Notify,
    /// The Prometheus metrics (`GET /metrics`).
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// What the `transfers` table gets of a message received, beside its status record.
pub(crate) struct InboundEntry {
    /// When its request arrived.
    pub(crate) started: SystemTime,
    /// Whether it was a resend of a message received before.
    pub(crate) duplicate: bool,
    /// Whether it matched an agreement (else its AS2-From is not a metrics label).
    pub(crate) matched: bool,
    /// The request's headers as JSON `[[name, value], ...]`, `Authorization` left out.
    pub(crate) headers: String,
}

impl InboundEntry {
    pub(crate) fn new(started: SystemTime, headers: &HttpHeaders) -> Self {
        let kept: Vec<(&str, String)> = headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("Authorization"))
            .map(|(name, value)| (name, String::from_utf8_lossy(value).into_owned()))
            .collect();
        InboundEntry {
            started,
            duplicate: false,
            matched: false,
            headers: serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into()),
        }
    }
}

/// Where the Message-IDs received, and the MDNs answered, are kept.
pub(crate) enum Duplicates {
    /// In process memory (lost on restart).
    Memory(Mutex<MemoryDuplicateStore>),
    /// In the database: kept across restarts, shared by the instances that share it.
    Database {
        /// The database.
        db: Database,
        /// The runtime the (blocking) request thread runs queries on.
        runtime: tokio::runtime::Handle,
    },
}

/// [`Duplicates::Database`] as the library's [`DuplicateCheck`], for the request's
/// blocking thread: the Message-ID is inserted first against the UNIQUE constraint, so
/// two deliveries of one message racing each other cannot both be taken as new.
struct DatabaseCheck<'a> {
    db: &'a Database,
    runtime: &'a tokio::runtime::Handle,
    /// A database failure: the message is answered 500, not taken as new or duplicate.
    error: Option<sqlx::Error>,
}

impl DuplicateCheck for DatabaseCheck<'_> {
    fn check_and_record(&mut self, from: &As2Id, message_id: &MessageId) -> bool {
        self.check(from, message_id).is_duplicate()
    }

    fn check(&mut self, from: &As2Id, message_id: &MessageId) -> Duplicate {
        let (partner, id) = (from.as_str(), message_id.bare());
        let seen = self.runtime.block_on(async {
            if self
                .db
                .record_message_id(partner, id, SystemTime::now())
                .await?
            {
                return Ok(None);
            }
            self.db.stored_mdn(partner, id).await.map(Some)
        });
        match seen {
            Ok(None) => Duplicate::New,
            Ok(Some(None)) => Duplicate::Seen,
            Ok(Some(Some(mdn))) => Duplicate::SeenWithMdn(mdn),
            Err(e) => {
                self.error = Some(e);
                Duplicate::Seen
            }
        }
    }
}

/// A database error as an I/O error (the files and the database fail alike for callers).
pub(crate) fn db_io(e: sqlx::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// `Basic base64(user:password)`.
fn basic_authorization(username: &str, password: &str) -> String {
    use base64ct::Encoding;
    format!(
        "Basic {}",
        base64ct::Base64::encode_string(format!("{username}:{password}").as_bytes())
    )
}

/// Compares without stopping at the first difference.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The answer to one request, and an asynchronous MDN to POST after it.
pub(crate) struct Handled {
    pub(crate) response: HttpResponse,
    pub(crate) async_mdn: Option<BuiltMdn>,
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
pub(crate) struct MessageBody<'a, 'r> {
    pub(crate) first: &'a [u8],
    pub(crate) rest: &'r mut BodyReader,
    /// The Content-Length the sender declared.
    pub(crate) declared: Option<u64>,
    /// Declared over the limit: refused without reading it.
    pub(crate) too_large: bool,
}

/// What reading a message body left.
pub(crate) struct MessageRead {
    /// The receiver's verdict (the payload itself is in `payload`).
    pub(crate) verdict: Result<Received, Rejected>,
    /// The committed payload (accepted, not a duplicate).
    pub(crate) payload: Option<TempFile>,
    /// The body as received (`None` when it was over the limit).
    pub(crate) raw: Option<TempFile>,
    /// The body's size (what was read of it when it went over the limit, or the declared
    /// size when that did).
    pub(crate) size: u64,
}

impl MessageRead {
    /// A body over [`Limits::max_body_size`]: refused as the receiver refuses it, and
    /// nothing of it kept.
    pub(crate) fn too_large(limits: &Limits, size: u64) -> Self {
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
pub(crate) enum Interrupted {
    /// The request body failed (the sender went away, or sent a malformed body).
    Body(io::Error),
    /// The data directory failed.
    Storage(io::Error),
}

/// A request whose body could not be read: nobody may be listening for the answer, and
/// nothing is recorded.
pub(crate) fn body_failed(peer: SocketAddr, error: &io::Error) -> Handled {
    warn!(%peer, %error, "request body not received");
    text(400, "request body not received\r\n".into()).into()
}

/// The payload of a message being received, as the library's [`PayloadSink`]: the
/// tentative bytes go to a temporary file in the spool; `commit` keeps it for
/// [`Storage::persist`] under the name the accepted message gives, `abort` removes it.
/// A sink cannot fail, so a write error is kept here for the caller.
pub(crate) struct PayloadFile {
    pub(crate) temp: Option<TempFile>,
    pub(crate) committed: bool,
    pub(crate) error: Option<io::Error>,
}

impl PayloadFile {
    pub(crate) fn new(temp: TempFile) -> Self {
        PayloadFile {
            temp: Some(temp),
            committed: false,
            error: None,
        }
    }

    /// The payload, if the receiver committed it.
    pub(crate) fn into_committed(self) -> Option<TempFile> {
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

impl Gateway {
    /// A gateway over `directory` writing under `data`.
    pub fn new(
        directory: MemoryDirectory,
        data: impl Into<PathBuf>,
        accept_messages: bool,
    ) -> Result<Self, BoxError> {
        let data = data.into();
        Ok(Gateway {
            directory,
            storage: Storage::local(&data).map_err(|e| format!("{}: {e}", data.display()))?,
            data: DataDir::new(data),
            limits: Limits::default(),
            duplicates: Duplicates::Memory(Mutex::new(MemoryDuplicateStore::new(100_000))),
            basic_auth: HashMap::new(),
            http: http_client()?,
            accept_messages,
            waiters: Mutex::new(HashMap::new()),
            server_id: DEFAULT_SERVER_ID.to_owned(),
            settings: GatewaySettings::default(),
            wake: tokio::sync::Notify::new(),
            metrics: std::sync::Arc::new(crate::metrics::Metrics::new()),
        })
    }

    /// The gateway of `as2-gateway serve`: the configuration's partners and settings, its
    /// state in the `database` the settings name (`state.sqlite` in the data directory by
    /// default).
    pub async fn open(config: GatewayConfig) -> Result<Self, BoxError> {
        let GatewayConfig {
            directory,
            settings,
        } = config;
        let db = match &settings.database {
            Some(url) => Database::connect(url).await?,
            None => Database::open_sqlite(&settings.data_dir.join(STATE_FILE)).await?,
        };
        let mut limits = Limits::default();
        if let Some(max) = settings.max_body_size {
            limits.max_body_size = max;
            limits.max_decompressed_size = limits.max_decompressed_size.max(max);
        }
        let mut gateway = Gateway::new(directory, &settings.data_dir, true)?
            .with_limits(limits)
            .with_server_id(
                settings
                    .server_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SERVER_ID.to_owned()),
            );
        gateway.storage = Storage::from_settings(&settings)?;
        gateway.settings = settings.clone();
        gateway.duplicates = Duplicates::Database {
            db,
            runtime: tokio::runtime::Handle::current(),
        };
        gateway.basic_auth = settings
            .basic_auth
            .iter()
            .map(|a| {
                (
                    a.agreement.clone(),
                    basic_authorization(&a.username, &a.password),
                )
            })
            .collect();
        Ok(gateway)
    }

    /// The database, if the state is kept in one.
    pub fn db(&self) -> Option<&Database> {
        match &self.duplicates {
            Duplicates::Database { db, .. } => Some(db),
            Duplicates::Memory(_) => None,
        }
    }

    /// Keeps the MDN answered for a new message, to replay it to a resend.
    fn remember_mdn(&self, from: &As2Id, message_id: &MessageId, mdn: StoredMdn) {
        match &self.duplicates {
            Duplicates::Memory(store) => lock(store).store_mdn(from, message_id, mdn),
            Duplicates::Database { db, runtime } => {
                let stored = runtime.block_on(db.store_mdn(
                    from.as_str(),
                    message_id.bare(),
                    &mdn,
                    SystemTime::now(),
                ));
                if let Err(e) = stored {
                    warn!(message_id = message_id.bare(), error = %e, "MDN not kept for resends");
                }
            }
        }
    }

    /// Forgets a Message-ID taken as new whose message could not be stored: its resend
    /// must be processed, not answered as a duplicate.
    fn forget_message_id(&self, from: &As2Id, message_id: &MessageId) {
        match &self.duplicates {
            // The memory store cannot forget; it is the example's, lost on restart.
            Duplicates::Memory(_) => {}
            Duplicates::Database { db, runtime } => {
                if let Err(e) =
                    runtime.block_on(db.forget_message_id(from.as_str(), message_id.bare()))
                {
                    error!(message_id = message_id.bare(), error = %e, "cannot forget a Message-ID");
                }
            }
        }
    }

    /// The `[gateway]` settings.
    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    /// The Prometheus metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Queues a job to run at `run_at` and wakes this instance's worker.
    pub async fn enqueue(
        &self,
        kind: &str,
        transfer_id: Option<&str>,
        payload: &str,
        run_at: SystemTime,
    ) -> Result<i64, BoxError> {
        let db = self.db().ok_or("no database for the job queue")?;
        let id = db.enqueue(kind, transfer_id, payload, run_at).await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Keeps the record of a message awaiting its asynchronous MDN until `deadline`
    /// (blocking): in the database, else as `outbox/sent/<sha-256>.json`.
    pub(crate) fn put_pending(&self, sent: &SentRecord, deadline: SystemTime) -> io::Result<()> {
        match &self.duplicates {
            Duplicates::Memory(_) => {
                let json = serde_json::to_string_pretty(sent)?;
                self.data
                    .put_new(&sent_path(&sent.message_id), json.as_bytes())
                    .map(drop)
            }
            Duplicates::Database { db, runtime } => {
                let json = serde_json::to_string(sent)?;
                runtime
                    .block_on(db.put_pending_mdn(
                        MessageId::bare_str(&sent.message_id),
                        &sent.transfer_id,
                        &json,
                        deadline,
                    ))
                    .map_err(db_io)
            }
        }
    }

    /// The pending record of the message with this bare Message-ID (blocking).
    pub(crate) fn find_pending(&self, message_id: &str) -> Option<SentRecord> {
        let json = match &self.duplicates {
            Duplicates::Memory(_) => {
                std::fs::read_to_string(self.data.root.join(sent_path(message_id))).ok()?
            }
            Duplicates::Database { db, runtime } => {
                runtime.block_on(db.pending_mdn(message_id)).ok()??
            }
        };
        serde_json::from_str(&json).ok()
    }

    /// The pending record of the message with this bare Message-ID.
    pub(crate) async fn pending(&self, message_id: &str) -> io::Result<Option<SentRecord>> {
        let json = match &self.duplicates {
            Duplicates::Memory(_) => {
                match std::fs::read_to_string(self.data.root.join(sent_path(message_id))) {
                    Ok(json) => Some(json),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => return Err(e),
                }
            }
            Duplicates::Database { db, .. } => db.pending_mdn(message_id).await.map_err(db_io)?,
        };
        json.map(|j| serde_json::from_str(&j).map_err(io::Error::other))
            .transpose()
    }

    /// Takes the pending record of the message with this bare Message-ID: `true` for the
    /// one caller that removed it, who then records how the transfer ended.
    pub(crate) async fn claim_pending(&self, message_id: &str) -> io::Result<bool> {
        match &self.duplicates {
            Duplicates::Memory(_) => self.claim_pending_file(message_id),
            Duplicates::Database { db, .. } => {
                db.claim_pending_mdn(message_id).await.map_err(db_io)
            }
        }
    }

    /// [`Gateway::claim_pending`] for a blocking thread.
    pub(crate) fn claim_pending_blocking(&self, message_id: &str) -> io::Result<bool> {
        match &self.duplicates {
            Duplicates::Memory(_) => self.claim_pending_file(message_id),
            Duplicates::Database { db, runtime } => runtime
                .block_on(db.claim_pending_mdn(message_id))
                .map_err(db_io),
        }
    }

    fn claim_pending_file(&self, message_id: &str) -> io::Result<bool> {
        match std::fs::remove_file(self.data.root.join(sent_path(message_id))) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A message under an agreement that requires HTTP Basic auth, without the right
    /// credentials: 401.
    fn unauthorized(&self, incoming: &Incoming<'_>, headers: &HttpHeaders) -> Option<HttpResponse> {
        let agreement = self
            .directory
            .agreement(&incoming.from, &incoming.to)
            .ok()?;
        let expected = self.basic_auth.get(&agreement.agreement().id)?;
        let given = headers.get("Authorization").unwrap_or_default();
        if same_secret(given, expected.as_bytes()) {
            return None;
        }
        warn!(from = %incoming.from, "refused: HTTP Basic credentials missing or wrong");
        let mut response = text(401, "authorization required\r\n".into());
        response
            .headers
            .push("WWW-Authenticate", "Basic realm=\"as2\", charset=\"UTF-8\"");
        Some(response)
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

    /// Where payloads, records, MDNs and uploads are kept.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// One request, its body read from `body` as it arrives: an AS2 message or an
    /// asynchronous MDN. Blocking (files, cryptography).
    pub(crate) fn handle(
        &self,
        headers: &HttpHeaders,
        body: &mut BodyReader,
        peer: SocketAddr,
    ) -> Handled {
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
                if let Some(refused) = self.unauthorized(&incoming, headers) {
                    body.stop();
                    return refused.into();
                }
                let body = MessageBody {
                    first: &first,
                    rest: body,
                    declared,
                    too_large,
                };
                self.receive_message(&incoming, headers, body, peer, now)
            }
            _ => text(400, "this endpoint only takes MDNs\r\n".into()).into(),
        }
    }

    /// An asynchronous MDN: read whole (at most [`MAX_MDN_BODY`]), then checked.
    pub(crate) fn receive_whole_mdn(
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
    pub(crate) fn receive_message(
        &self,
        incoming: &Incoming<'_>,
        headers: &HttpHeaders,
        body: MessageBody<'_, '_>,
        peer: SocketAddr,
        now: SystemTime,
    ) -> Handled {
        let mut rng = rand::rng();
        let mut entry = InboundEntry::new(now, headers);
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
                    entry,
                );
            }
        };
        let base = agreement.agreement().base_directory.clone();
        entry.matched = true;
        record.agreement_id = Some(agreement.agreement().id.clone());
        let setup = agreement.inbound(now, DateEnforcement::Enforce);
        let policy = setup.policy(&self.limits);
        // What `InboundSetup::accept` does with the whole body: the duplicate check only
        // under DuplicateHandling::Warn.
        let dedupe = !matches!(
            agreement.agreement().duplicate_handling,
            DuplicateHandling::Disabled
        );
        let read = match self.read_message(incoming, &policy, dedupe, body, &mut rng) {
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
                entry.duplicate = received.duplicate;
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
        // A new message's MDN is kept to answer its resends with (the reliability rules:
        // the stored MDN replayed, the payload not delivered twice).
        let new_message = match (&outcome, &incoming.message_id) {
            (Ok(received), Some(id)) if dedupe && !received.duplicate => Some(id.clone()),
            _ => None,
        };
        let stored_mdn = match (&new_message, &reply) {
            (Some(_), Ok(reply)) => reply.mdn.as_ref().map(StoredMdn::from),
            _ => None,
        };
        let handled = self.store_inbound(
            &base,
            file_name,
            &message_id,
            status,
            kept,
            record,
            reply,
            entry,
        );
        if let Some(id) = &new_message {
            if handled.response.status >= 500 {
                self.forget_message_id(&incoming.from, id);
            } else if let Some(mdn) = stored_mdn {
                self.remember_mdn(&incoming.from, id, mdn);
            }
        }
        handled
    }

    /// Reads a message body to its end, spooling it, and pushes it into the receiver as
    /// it arrives: the payload to one temporary file, the body as received to another.
    /// A body over [`Limits::max_body_size`] is refused as soon as it is (nothing of it
    /// kept, the rest not read).
    pub(crate) fn read_message(
        &self,
        incoming: &Incoming<'_>,
        policy: &InboundPolicy<'_>,
        dedupe: bool,
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
        let mut payload = PayloadFile::new(self.storage.temp_file().map_err(Interrupted::Storage)?);
        let mut raw = self.storage.temp_file().map_err(Interrupted::Storage)?;
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
            match &self.duplicates {
                Duplicates::Memory(store) => receiver.finish(&mut payload, &mut *lock(store), rng),
                Duplicates::Database { db, runtime } => {
                    let mut check = DatabaseCheck {
                        db,
                        runtime,
                        error: None,
                    };
                    let verdict = receiver.finish(&mut payload, &mut check, rng);
                    if let Some(e) = check.error {
                        return Err(Interrupted::Storage(io::Error::other(e.to_string())));
                    }
                    verdict
                }
            }
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
    pub(crate) fn skip(&self, body: MessageBody<'_, '_>) -> io::Result<u64> {
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
    pub(crate) fn store_inbound(
        &self,
        base: &str,
        file_name: Option<&str>,
        message_id: &str,
        mut status: StatusCode,
        payload: Option<TempFile>,
        mut record: StatusRecord,
        reply: Result<Reply, Error>,
        entry: InboundEntry,
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
        let handled = match &stored {
            Ok((path, _)) => {
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
        self.log_inbound(entry, message_id, status, &record, stored);
        handled.only_async_if_pending()
    }

    /// Writes the payload (if any), the MDN (if any) and the record; returns the record's
    /// path and the MDN's. Blocking (the request's thread waits for the store).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_inbound(
        &self,
        base: &str,
        file_name: Option<&str>,
        message_id: &str,
        status: StatusCode,
        payload: Option<TempFile>,
        record: &mut StatusRecord,
        mdn: Option<&BuiltMdn>,
    ) -> io::Result<(String, Option<String>)> {
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
        let runtime = tokio::runtime::Handle::current();
        if let Some(payload) = payload {
            let path = runtime.block_on(
                self.storage
                    .persist(&format!("{base}/{}", paths.payload), payload),
            )?;
            // file-path is relative to the base directory, as in the reference.
            let relative = path.strip_prefix(&format!("{base}/")).unwrap_or(&path);
            record.file_path = Some(relative.to_owned());
        }
        let mdn_path = match mdn {
            Some(m) => {
                let mut raw = m.headers.head_bytes();
                raw.extend_from_slice(&m.body);
                Some(
                    runtime
                        .block_on(self.storage.put_new(&format!("{base}/{}", paths.mdn), &raw))?,
                )
            }
            None => None,
        };
        let record_path = runtime.block_on(self.storage.put_new(
            &format!("{base}/{}", paths.record),
            record.to_json().as_bytes(),
        ))?;
        Ok((record_path, mdn_path))
    }

    /// Adds a message received to the `transfers` table (direction `inbound`) and counts
    /// it in the metrics (blocking). A message that could not be stored is `FAILED`.
    fn log_inbound(
        &self,
        entry: InboundEntry,
        message_id: &str,
        status: StatusCode,
        record: &StatusRecord,
        stored: io::Result<(String, Option<String>)>,
    ) {
        let partner = record.as2_from.clone().unwrap_or_default();
        let (status, record_path, mdn_path, failure) = match stored {
            Ok((record_path, mdn_path)) => {
                let status = match status {
                    StatusCode::Completed if entry.duplicate => crate::db::status::DUPLICATE,
                    StatusCode::Completed => crate::db::status::COMPLETED,
                    _ => crate::db::status::FAILED,
                };
                let failure = record
                    .failure_message
                    .clone()
                    .or_else(|| record.failure_code.clone());
                (status, Some(record_path), mdn_path, failure)
            }
            Err(e) => (
                crate::db::status::FAILED,
                None,
                None,
                Some(format!("not stored: {e}")),
            ),
        };
        let size = record.transfer_size.unwrap_or(0);
        let label = if entry.matched {
            partner.as_str()
        } else {
            crate::metrics::UNMATCHED_PARTNER
        };
        self.metrics
            .transfer_ended(label, "inbound", status, size, entry.started);
        let Duplicates::Database { db, runtime } = &self.duplicates else {
            return;
        };
        let started = crate::db::millis(entry.started);
        let row = crate::db::TransferRow {
            transfer: crate::db::Transfer {
                id: crate::send::transfer_id(),
                direction: "inbound".into(),
                partner,
                message_id: message_id.to_owned(),
                connector_id: None,
                file_name: record.requester_file_name.clone(),
                status: status.into(),
                attempts: 1,
                first_attempt_at: Some(started),
                request: entry.headers,
                record_path,
                mdn_path,
                failure,
                created_at: started,
                updated_at: crate::db::millis(SystemTime::now()),
            },
            outcome: crate::db::TransferOutcome {
                size_bytes: Some(i64::try_from(size).unwrap_or(i64::MAX)),
                mdn_disposition: record.disposition.clone(),
                failure_code: record.failure_code.clone(),
            },
        };
        if let Err(e) = runtime.block_on(db.insert_row(&row)) {
            error!(%message_id, error = %e, "cannot record the inbound transfer");
        }
    }

    /// An asynchronous MDN for a message we sent.
    pub(crate) fn receive_mdn(
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
        let pending = parsed.find(|id| self.find_pending(MessageId::bare_str(id)));
        let sent = match pending {
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
        let message_id = MessageId::bare_str(&sent.message_id);
        match self.claim_pending_blocking(message_id) {
            Ok(true) => {}
            Ok(false) => return text(200, "MDN already recorded\r\n".into()),
            Err(e) => {
                error!(%message_id, error = %e, "cannot claim the pending transfer");
                return text(500, "MDN not recorded\r\n".into());
            }
        }
        let mut record = sent.record.clone();
        record.mdn_message_id = parsed.message_id.as_ref().map(|m| m.bare().to_owned());
        record.mdn_subject = headers.get_str("Subject").map(str::to_owned);
        let status = judge(&mut record, Ok(&verdict));
        let mut raw = headers.head_bytes();
        raw.extend_from_slice(body);
        let runtime = tokio::runtime::Handle::current();
        let finished = runtime.block_on(self.finish_outbound(&sent, record, status, Some(&raw)));
        if let (Ok(finished), Duplicates::Database { db, runtime }) = (&finished, &self.duplicates)
        {
            let ended = crate::worker::transfer_ended(self, db, &sent.transfer_id, finished);
            if let Err(e) = runtime.block_on(ended) {
                error!(%message_id, error = %e, "cannot record the transfer's end");
            }
        }
        match finished {
            Ok(_) => text(200, "MDN received\r\n".into()),
            Err(e) => {
                error!(error = %e, "cannot record the MDN");
                text(500, "MDN not recorded\r\n".into())
            }
        }
    }

    /// Writes an outbound transfer's record (and MDN) and wakes a waiting client.
    pub(crate) async fn finish_outbound(
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
        let mdn_key = match mdn {
            Some(raw) => Some(
                self.storage
                    .put_new(&format!("{OUTBOX}/{}", paths.mdn), raw)
                    .await?,
            ),
            None => None,
        };
        let record_key = self
            .storage
            .put_new(
                &format!("{OUTBOX}/{}", paths.record),
                record.to_json().as_bytes(),
            )
            .await?;
        info!(
            %message_id, status = status.as_str(),
            disposition = record.disposition.as_deref().unwrap_or("-"),
            failure = record.failure_code.as_deref().unwrap_or("-"),
            record = %record_key, "transfer recorded"
        );
        let finished = Finished {
            status,
            message_id: message_id.clone(),
            record,
            record_path: self.storage.display_path(&record_key),
            mdn_path: mdn_key.as_deref().map(|p| self.storage.display_path(p)),
            record_key,
            mdn_key,
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
    pub(crate) fn only_async_if_pending(mut self) -> Self {
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
pub(crate) fn judge(record: &mut StatusRecord, verdict: Result<&Verdict, &Error>) -> StatusCode {
    match verdict {
        Ok(v) => record.set_verdict(v),
        Err(e) => {
            record.set_failure(e, &ReferenceErrorPolicy);
            StatusCode::Failed
        }
    }
}
