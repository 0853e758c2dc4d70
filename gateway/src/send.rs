//! Sending: a file through a connector, streamed, and its MDN.

use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::storage::StoreReadFailed;
use crate::worker::Source;
use crate::*;
use crate::{cli::*, files::*, gateway::*, http::*, serve::*};
use as2_proto::mdn::{self};
use as2_proto::message::headers::{HttpHeaders, MessageId};
use as2_proto::message::outbound::{self, MdnRequest, SignedReceipt};
use as2_proto::partner::{
    ActiveConnector, CertificateUsage, DateEnforcement, MdnResponse, MemoryDirectory,
    PartnerDirectory, PartnerError, StorageError, TransportError, TransportErrorKind,
};
use as2_proto::record::{self, ReferenceErrorPolicy, StatusCode, StatusRecord};
use as2_proto::retry::Outcome;
use as2_proto::{Error, Limits};
use axum::body::Bytes;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

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
pub(crate) fn content_type_for(file_name: &str) -> &'static str {
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
pub(crate) fn transfer_id() -> String {
    record::transfer_id(&mut rand::rng())
}

/// Sends `options.file` through the connector and reports the MDN outcome.
pub async fn run_client(options: &ClientOptions) -> Result<ClientOutcome, BoxError> {
    let directory = load_directory(&options.config)?;
    send_with(directory, options).await
}

/// [`run_client`] with the partner directory already loaded (`options.config` is not
/// read).
pub async fn send_with(
    directory: MemoryDirectory,
    options: &ClientOptions,
) -> Result<ClientOutcome, BoxError> {
    let gateway = Arc::new(Gateway::new(directory, &options.data, false)?);
    let connector = gateway.directory.connector(&options.connector)?;
    let file_name = options
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: not a file name", options.file.display()))?;
    // The Message-ID is chosen first, so that a transfer failing before a message exists
    // is still recorded under `name.<transferId>.<messageId>.ext.json`.
    let message_id = MessageId::generate(
        &mut rand::rng(),
        &connector.local().as2_id().message_id_domain(),
    );
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
    // An asynchronous MDN may arrive before the 200: be ready for it first. (The sending
    // thread writes the pending record before the last octet.)
    let mut waiter = None;
    if mode == MdnMode::Async && listener.is_some() {
        let (tx, rx) = oneshot::channel();
        lock(&gateway.waiters).insert(message_id.bare().to_owned(), tx);
        waiter = Some(rx);
    }
    let plan = AttemptPlan {
        connector,
        source: Source::File(options.file.clone()),
        file_name,
        content_type: options.content_type.clone(),
        message_id,
        transfer_id: transfer_id(),
        url,
        mode,
        async_url,
        max_payload_size: options.max_payload_size,
        mdn_deadline: SystemTime::now() + options.timeout,
    };
    let (sent, mut record) = match attempt(&gateway, plan).await? {
        AttemptEnd::Finished(finished) => return Ok(ClientOutcome::Finished(finished)),
        AttemptEnd::Overtaken { message_id } => {
            return match waiter {
                // The MDN overtook the answer to our POST and has been recorded.
                Some(waiter) => Ok(ClientOutcome::Finished(Box::new(waiter.await?))),
                None => Ok(ClientOutcome::AwaitingMdn {
                    pending: gateway.data.root.join(sent_path(&message_id)),
                    message_id,
                }),
            };
        }
        AttemptEnd::NotDelivered { sent, error, .. } => {
            // The client does not resend (the gateway's queue does).
            let mut record = sent.record.clone();
            record.set_failure(&error, &ReferenceErrorPolicy);
            let finished = gateway
                .finish_outbound(&sent, record, StatusCode::Failed, None)
                .await?;
            return Ok(ClientOutcome::Finished(Box::new(finished)));
        }
        AttemptEnd::AwaitingMdn { sent } => {
            let record = sent.record.clone();
            (sent, record)
        }
    };
    let message_id = MessageId::bare_str(&sent.message_id).to_owned();
    let Some(mut waiter) = waiter else {
        info!(%message_id, "the asynchronous MDN will be recorded where it arrives");
        return Ok(ClientOutcome::AwaitingMdn {
            pending: gateway.data.root.join(sent_path(&message_id)),
            message_id,
        });
    };
    info!(%message_id, timeout = ?options.timeout, "waiting for the asynchronous MDN");
    let finished = match tokio::time::timeout(options.timeout, &mut waiter).await {
        Ok(Ok(finished)) => finished,
        // Give up, unless the MDN is being recorded right now.
        _ => match gateway.claim_pending(&message_id).await {
            Ok(true) => {
                lock(&gateway.waiters).remove(&message_id);
                record.failure_message = Some(format!(
                    "no asynchronous MDN within {} s",
                    options.timeout.as_secs()
                ));
                gateway
                    .finish_outbound(&sent, record, StatusCode::Failed, None)
                    .await?
            }
            _ => waiter.await?,
        },
    };
    // Let the partner have our answer to its POST before exiting.
    if let Some(listener) = listener {
        listener.stop(Duration::from_secs(5)).await;
    }
    Ok(ClientOutcome::Finished(Box::new(finished)))
}

/// What one attempt to send a file needs. A resend is the same plan again: the same
/// Message-ID and transfer id.
pub(crate) struct AttemptPlan {
    pub(crate) connector: ActiveConnector,
    /// The file to send.
    pub(crate) source: Source,
    /// Its name as the partner sees it.
    pub(crate) file_name: String,
    /// Its MIME type (guessed from the name when `None`).
    pub(crate) content_type: Option<String>,
    pub(crate) message_id: MessageId,
    pub(crate) transfer_id: String,
    /// Where to POST it.
    pub(crate) url: String,
    pub(crate) mode: MdnMode,
    /// The Receipt-Delivery-Option URL (an asynchronous MDN).
    pub(crate) async_url: Option<String>,
    pub(crate) max_payload_size: Option<usize>,
    /// When an asynchronous MDN is overdue (kept with the pending record).
    pub(crate) mdn_deadline: SystemTime,
}

/// How one attempt ended.
pub(crate) enum AttemptEnd {
    /// The transfer ended and is recorded: the synchronous MDN judged, or no MDN asked for.
    Finished(Box<Finished>),
    /// Delivered (2xx); the asynchronous MDN is awaited (its pending record is kept).
    AwaitingMdn {
        /// The transfer as sent.
        sent: SentRecord,
    },
    /// The POST failed, but the asynchronous MDN overtook the failure and has been
    /// recorded where it arrived.
    Overtaken {
        /// The Message-ID (bare).
        message_id: String,
    },
    /// Not delivered, and nothing recorded yet: the caller resends or gives up.
    NotDelivered {
        /// The transfer so far.
        sent: SentRecord,
        /// Why.
        error: Error,
        /// How the attempt ended, for the retry schedule.
        outcome: Outcome,
    },
}

/// One attempt: builds the message (always with `plan.message_id`), streams it to the
/// partner and judges the answer. A file that cannot be opened, or a connector that
/// cannot build a message, is recorded as failed and returned as an error.
pub(crate) async fn attempt(
    gateway: &Arc<Gateway>,
    plan: AttemptPlan,
) -> Result<AttemptEnd, BoxError> {
    let AttemptPlan {
        connector,
        source,
        file_name,
        content_type,
        message_id,
        transfer_id,
        url,
        mode,
        async_url,
        max_payload_size,
        mdn_deadline,
    } = plan;
    let unsent = async |error: Error| -> BoxError {
        let mut record = StatusRecord::outbound_failed(
            &connector,
            &transfer_id,
            &source.display(),
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
        let written = gateway
            .storage
            .put_new(
                &format!("{OUTBOX}/{}", paths.record),
                record.to_json().as_bytes(),
            )
            .await;
        match written {
            Ok(_) => error.into(),
            Err(e) => e.into(),
        }
    };
    // The file to send, streamed from disk or from the store: one that cannot be opened
    // is SEND_FILE_NOT_FOUND, as `SendFile::read` reports it; a store that cannot be
    // reached is a failed attempt (StoreReadFailed), worth another.
    let opened = match &source {
        Source::File(path) => std::fs::File::open(path).and_then(|file| {
            let metadata = file.metadata()?;
            if metadata.is_file() {
                Ok((Box::new(file) as Box<dyn Read + Send>, metadata.len()))
            } else {
                Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file"))
            }
        }),
        Source::Stored(key) => match gateway.storage.open(key).await {
            Err(e)
                if !matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
                ) =>
            {
                return Err(StoreReadFailed(format!("{key}: {e}")).into());
            }
            opened => opened,
        },
    };
    let (file, file_len) = match opened {
        Ok(opened) => opened,
        Err(e) => return Err(unsent(send_file_error(&file_name, &e)).await),
    };
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
        (MdnMode::Async, None) => return Err("an asynchronous MDN needs a URL".into()),
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
        file_path: source.display(),
        content_type: content_type.unwrap_or_else(|| content_type_for(&file_name).to_owned()),
        message_id: message_id.clone(),
        transfer_id: transfer_id.clone(),
        mdn,
        max_payload_size,
        now,
        mdn_deadline,
    };
    let (ready, prepared) = oneshot::channel();
    let (frames, body) = mpsc::channel(FRAMES_IN_FLIGHT);
    let producer = tokio::task::spawn_blocking({
        let gateway = Arc::clone(gateway);
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
            Ok(e) if e.code().as_str() == "SEND_FILE_NOT_FOUND" => unsent(*e).await,
            Ok(e) => e,
            Err(e) => e,
        });
    };
    let message_id = MessageId::bare_str(&sent_so_far.message_id).to_owned();
    info!(
        file = %source.display(), bytes = file_len, %message_id, %url,
        mdn = ?mode, wire_bytes = content_length, "sending"
    );

    let response = post_stream(&gateway.http, &url, &headers, content_length, body).await;
    // How the POST itself ended, for the retry schedule.
    let mut outcome = match &response {
        Ok(r) => Outcome::from_response(r),
        Err(e) => Outcome::from_transport_error(e),
    };
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
                // The message itself failed (the file could not be read to its end):
                // a resend cannot help.
                Ok(e) => {
                    outcome = Outcome::Unsendable;
                    *e
                }
                // The store broke off mid-body: the partner got a short request, and a
                // resend may well succeed.
                Err(e) if e.is::<StoreReadFailed>() => {
                    outcome = Outcome::NoResponse;
                    Error::from(TransportError::new(
                        TransportErrorKind::ConnectionFailed,
                        e.to_string(),
                    ))
                }
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
        Err((complete, error)) => {
            warn!(%message_id, %error, "not delivered");
            // Only a message sent whole can have been answered by an MDN; its pending
            // record is taken back, unless the MDN has claimed it already.
            if complete.is_some()
                && mode == MdnMode::Async
                && !gateway.claim_pending(&message_id).await?
            {
                return Ok(AttemptEnd::Overtaken { message_id });
            }
            let sent = complete.unwrap_or(sent_so_far);
            return Ok(AttemptEnd::NotDelivered {
                sent,
                error,
                outcome,
            });
        }
    };
    let mut record = sent.record.clone();
    info!(%message_id, status = response.status, "delivered");

    match mode {
        MdnMode::None => {
            let finished = gateway
                .finish_outbound(&sent, record, StatusCode::Completed, None)
                .await?;
            Ok(AttemptEnd::Finished(Box::new(finished)))
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
            let finished = gateway
                .finish_outbound(&sent, record, status, Some(&raw))
                .await?;
            Ok(AttemptEnd::Finished(Box::new(finished)))
        }
        MdnMode::Async => Ok(AttemptEnd::AwaitingMdn { sent }),
    }
}

/// What the sending thread needs to build one message and write its body.
pub(crate) struct SendPlan {
    pub(crate) connector: ActiveConnector,
    /// The file, from its start (a local file, or an object streamed from the store).
    pub(crate) file: Box<dyn Read + Send>,
    pub(crate) file_len: u64,
    pub(crate) file_name: String,
    pub(crate) file_path: String,
    pub(crate) content_type: String,
    pub(crate) message_id: MessageId,
    pub(crate) transfer_id: String,
    pub(crate) mdn: MdnRequest,
    pub(crate) max_payload_size: Option<usize>,
    pub(crate) now: SystemTime,
    pub(crate) mdn_deadline: SystemTime,
}

/// What the sending thread reports before the first body octet.
pub(crate) struct Prepared {
    pub(crate) headers: HttpHeaders,
    /// The body's exact length.
    pub(crate) content_length: u64,
    /// The transfer so far (its MIC is known only at the end of the body).
    pub(crate) sent: SentRecord,
}

/// The HTTP request stopped taking the body: it failed, or the partner answered first.
#[derive(Debug)]
pub(crate) struct BodyNotTaken;

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
pub(crate) fn produce(
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
pub(crate) fn write_body(
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
        mdn_deadline,
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
    // A message asking for an asynchronous MDN keeps a pending record until it comes.
    let pending = message.mdn.async_url().map(|_| mdn_deadline);
    let read_failed = |e: io::Error| -> BoxError {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<StoreReadFailed>())
        {
            Some(failed) => StoreReadFailed(failed.0.clone()).into(),
            None => send_file_error(&file_name, &e).into(),
        }
    };
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
            write_pending(gateway, &sent, pending)?;
            send_frame(frames, &mut wire).inspect_err(|_| forget(gateway, &sent, pending))?;
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
            write_pending(gateway, &sent, pending)?;
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
            sent_whole.inspect_err(|_| forget(gateway, &sent, pending))?;
        }
    }
    Ok(sent)
}

/// Hands the body octets in `wire` (if any) to the request.
pub(crate) fn send_frame(
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

/// Writes the pending record of a transfer awaiting an asynchronous MDN (`pending`: its
/// deadline).
pub(crate) fn write_pending(
    gateway: &Gateway,
    sent: &SentRecord,
    pending: Option<SystemTime>,
) -> io::Result<()> {
    match pending {
        Some(deadline) => gateway.put_pending(sent, deadline),
        None => Ok(()),
    }
}

/// Removes the pending record of a message that did not go out whole: no MDN can come.
pub(crate) fn forget(gateway: &Gateway, sent: &SentRecord, pending: Option<SystemTime>) {
    if pending.is_some() {
        let _ = gateway.claim_pending_blocking(MessageId::bare_str(&sent.message_id));
    }
}

/// The error for a file to send that cannot be read: `SEND_FILE_NOT_FOUND`, as
/// [`SendFile::read`](as2_proto::partner::SendFile::read) reports it.
pub(crate) fn send_file_error(file_name: &str, error: &io::Error) -> Error {
    Error::from(PartnerError::SendFile(StorageError::from_io(
        file_name, error,
    )))
}

/// An error of [`outbound::BodyWriter`]: the library's, if it is one, else the spool's.
pub(crate) fn stream_error(error: io::Error) -> BoxError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
    {
        Some(e) => e.clone().into(),
        None => error.into(),
    }
}

/// Fills `buf` as far as the file allows; 0 at the end.
pub(crate) fn read_chunk(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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
