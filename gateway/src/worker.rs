//! The job queue's worker: sends and resends outbound transfers (always with the same
//! Message-ID), gives up waiting for an asynchronous MDN when it is overdue, and POSTs
//! the asynchronous MDNs we owe our partners, each retried on the schedule of
//! [`as2_proto::retry`].
//!
//! Every instance sharing the database runs one worker. A job is claimed with a lease
//! ([`Database::claim_job`]): no two workers run it at once, and the job of an instance
//! that died is claimed again once its lease ends. A job that fails on a database error
//! is left claimed: it runs again when its lease ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use as2_proto::message::headers::MessageId;
use as2_proto::message::inbound::StoredMdn;
use as2_proto::partner::{MdnResponse, PartnerDirectory};
use as2_proto::record::{ReferenceErrorPolicy, StatusCode};
use as2_proto::retry::{Next, Outcome, RetrySchedule};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::BoxError;
use crate::cli::MdnMode;
use crate::db::{
    Database, Job, Transfer, TransferOutcome, TransferUpdate, from_millis, kind, millis, status,
};
use crate::gateway::{Finished, Gateway};
use crate::http::post;
use crate::send::{AttemptEnd, AttemptPlan, attempt, transfer_id};
use crate::storage::StoreReadFailed;

/// How long a claimed job is this worker's unless `[gateway] job_lease_seconds` says
/// otherwise; after that another instance takes it for dead and claims the job again (a
/// send of a large file must finish within it).
pub const LEASE: Duration = Duration::from_secs(15 * 60);
/// How often the queue is looked at when nothing woke the worker (a job queued by
/// another instance, or one coming due).
pub const POLL: Duration = Duration::from_millis(500);

/// The file a transfer sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A local file (`as2-gateway send`'s), never touched.
    File(PathBuf),
    /// The gateway's copy in the store (an upload, or a file taken from an outbox
    /// directory), under `outbox/queue/`: readable by every instance sharing the store,
    /// removed once delivered.
    Stored(String),
}

impl Source {
    /// The file as records name it (`file-path`): the local path, or the key.
    pub fn display(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Stored(key) => key.clone(),
        }
    }
}

/// What a queued transfer needs to be sent, and sent again: the transfer's `request`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendRequest {
    /// The local file to send (unless `stored` names the file).
    #[serde(default)]
    pub file: PathBuf,
    /// The file's key in the store (an upload): what is sent when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
    /// Its MIME type (guessed from the name when absent).
    pub content_type: Option<String>,
    /// The Message-ID of every attempt (angle brackets included).
    pub message_id: String,
    /// Whether the file is the gateway's own copy (an upload), removed once delivered.
    pub owned: bool,
}

impl SendRequest {
    /// The file to send.
    pub fn source(&self) -> Source {
        match &self.stored {
            Some(key) => Source::Stored(key.clone()),
            None => Source::File(self.file.clone()),
        }
    }
}

/// An asynchronous MDN to POST: the payload of a [`kind::ASYNC_MDN`] job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MdnDelivery {
    /// The partner's Receipt-Delivery-Option URL.
    pub url: String,
    /// The Message-ID of the message it answers.
    pub original_message_id: String,
    /// The MDN exactly as built.
    pub mdn: StoredMdn,
}

/// Adds an outbound transfer of the local `file` through `connector_id`, with its
/// Message-ID chosen now (every attempt reuses it). No job is queued: see
/// [`queue_transfer`]. An `owned` file is removed once delivered.
pub async fn new_transfer(
    gateway: &Gateway,
    connector_id: &str,
    file: PathBuf,
    file_name: String,
    content_type: Option<String>,
    owned: bool,
) -> Result<Transfer, BoxError> {
    let request = |message_id: String| SendRequest {
        file,
        stored: None,
        content_type,
        message_id,
        owned,
    };
    add_transfer(gateway, connector_id, file_name, request).await
}

/// [`new_transfer`] of any [`Source`]: a stored file is the gateway's copy, removed from
/// the store once delivered.
pub async fn new_transfer_of(
    gateway: &Gateway,
    connector_id: &str,
    source: Source,
    file_name: String,
    content_type: Option<String>,
) -> Result<Transfer, BoxError> {
    let request = |message_id: String| match source {
        Source::File(file) => SendRequest {
            file,
            stored: None,
            content_type,
            message_id,
            owned: false,
        },
        Source::Stored(key) => SendRequest {
            file: PathBuf::new(),
            stored: Some(key),
            content_type,
            message_id,
            owned: true,
        },
    };
    add_transfer(gateway, connector_id, file_name, request).await
}

/// [`queue_transfer`] of any [`Source`].
pub async fn queue_transfer_of(
    gateway: &Gateway,
    connector_id: &str,
    source: Source,
    file_name: String,
    content_type: Option<String>,
) -> Result<Transfer, BoxError> {
    let transfer = new_transfer_of(gateway, connector_id, source, file_name, content_type).await?;
    gateway
        .enqueue(kind::SEND, Some(&transfer.id), "{}", SystemTime::now())
        .await?;
    Ok(transfer)
}

async fn add_transfer(
    gateway: &Gateway,
    connector_id: &str,
    file_name: String,
    request: impl FnOnce(String) -> SendRequest,
) -> Result<Transfer, BoxError> {
    let db = gateway.db().ok_or("no database")?;
    let connector = gateway.directory().connector(connector_id)?;
    let message_id = MessageId::generate(
        &mut rand::rng(),
        &connector.local().as2_id().message_id_domain(),
    );
    let request = request(message_id.as_str().to_owned());
    let now = millis(SystemTime::now());
    let transfer = Transfer {
        id: transfer_id(),
        direction: "outbound".into(),
        partner: connector.partner().as2_id().as_str().to_owned(),
        message_id: message_id.bare().to_owned(),
        connector_id: Some(connector_id.to_owned()),
        file_name: Some(file_name),
        status: status::QUEUED.into(),
        attempts: 0,
        first_attempt_at: None,
        request: serde_json::to_string(&request)?,
        record_path: None,
        mdn_path: None,
        failure: None,
        created_at: now,
        updated_at: now,
    };
    db.insert_transfer(&transfer).await?;
    info!(transfer = %transfer.id, message_id = %transfer.message_id, connector = connector_id,
        "transfer queued");
    Ok(transfer)
}

/// [`new_transfer`], with its first attempt queued for the worker.
pub async fn queue_transfer(
    gateway: &Gateway,
    connector_id: &str,
    file: PathBuf,
    file_name: String,
    content_type: Option<String>,
    owned: bool,
) -> Result<Transfer, BoxError> {
    let transfer =
        new_transfer(gateway, connector_id, file, file_name, content_type, owned).await?;
    gateway
        .enqueue(kind::SEND, Some(&transfer.id), "{}", SystemTime::now())
        .await?;
    Ok(transfer)
}

/// Runs the worker until `stop` turns true; the job under way is finished first.
pub async fn run(gateway: Arc<Gateway>, mut stop: watch::Receiver<bool>) {
    let Some(db) = gateway.db().cloned() else {
        return;
    };
    let worker = format!("{}-{}", std::process::id(), transfer_id());
    let lease = gateway.settings().job_lease();
    loop {
        loop {
            if *stop.borrow() {
                return;
            }
            match db.claim_job(&worker, SystemTime::now(), lease).await {
                Ok(Some(job)) => run_job(&gateway, &db, job).await,
                Ok(None) => break,
                Err(e) => {
                    error!(error = %e, "cannot claim a job");
                    break;
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = gateway.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Runs one claimed job, then removes it (what comes next is a new job) or, for an MDN
/// delivery, schedules it again.
async fn run_job(gateway: &Arc<Gateway>, db: &Database, job: Job) {
    let done = match job.kind.as_str() {
        kind::SEND => match &job.transfer_id {
            Some(id) => send_transfer(gateway, id).await.map(|()| None),
            None => Ok(None),
        },
        kind::MDN_TIMEOUT => match &job.transfer_id {
            Some(id) => mdn_overdue(gateway, id).await.map(|()| None),
            None => Ok(None),
        },
        kind::ASYNC_MDN => deliver_mdn(gateway, &job).await,
        other => {
            error!(job = job.id, kind = other, "unknown job kind: dropped");
            Ok(None)
        }
    };
    let finished = match done {
        Ok(None) => db.finish_job(job.id).await,
        Ok(Some(again)) => db.reschedule_job(job.id, again).await,
        Err(e) => {
            // Left claimed: it runs again once its lease ends.
            error!(job = job.id, kind = %job.kind, error = %e, "job failed");
            return;
        }
    };
    if let Err(e) = finished {
        error!(job = job.id, error = %e, "cannot update the job");
    }
}

fn mode_of(response: MdnResponse) -> MdnMode {
    match response {
        MdnResponse::None => MdnMode::None,
        MdnResponse::Async => MdnMode::Async,
        _ => MdnMode::Sync,
    }
}

fn update(status: &str) -> TransferUpdate<'_> {
    TransferUpdate {
        status,
        ..TransferUpdate::default()
    }
}

/// The schedule of a transfer that has made `attempts` attempts.
fn schedule_of(gateway: &Gateway, t: &Transfer, attempts: i64, mode: MdnMode) -> RetrySchedule {
    let first = t.first_attempt_at.map_or_else(SystemTime::now, from_millis);
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    let schedule = RetrySchedule::resume(gateway.settings().retry.clone(), first, attempts);
    if mode == MdnMode::None {
        schedule.without_mdn()
    } else {
        schedule
    }
}

/// Makes one attempt at an outbound transfer (`as2-gateway send` calls it directly; the
/// worker for a [`kind::SEND`] job) and queues what comes next: a resend at the time the
/// retry schedule says, or the wait for its asynchronous MDN.
pub async fn send_transfer(gateway: &Arc<Gateway>, id: &str) -> Result<(), BoxError> {
    let db = gateway.db().ok_or("no database")?;
    let Some(t) = db.transfer(id).await? else {
        warn!(transfer = id, "no such transfer");
        return Ok(());
    };
    if t.status == status::COMPLETED || t.status == status::FAILED {
        return Ok(());
    }
    let request: SendRequest = serde_json::from_str(&t.request)?;
    let connector_id = t.connector_id.clone().unwrap_or_default();
    let now = SystemTime::now();
    let attempts = t.attempts.saturating_add(1);
    let first_attempt_at = t.first_attempt_at.unwrap_or(millis(now));
    let t = Transfer {
        first_attempt_at: Some(first_attempt_at),
        ..t
    };
    let sending = TransferUpdate {
        attempts: Some(attempts),
        first_attempt_at: Some(first_attempt_at),
        ..update(status::SENDING)
    };
    db.update_transfer(id, &sending, now).await?;
    let settings = gateway.settings();
    let failed = |e: &dyn std::fmt::Display| e.to_string();
    let plan = gateway
        .directory()
        .connector(&connector_id)
        .map_err(|e| failed(&e))
        .and_then(|connector| {
            let mode = mode_of(connector.connector().mdn_response);
            let async_url = connector
                .connector()
                .async_mdn_url
                .clone()
                .or_else(|| settings.public_url.clone());
            let message_id =
                MessageId::parse(request.message_id.as_bytes()).map_err(|e| failed(&e))?;
            Ok(AttemptPlan {
                url: connector.url().to_owned(),
                connector,
                source: request.source(),
                file_name: t.file_name.clone().unwrap_or_else(|| "payload".into()),
                content_type: request.content_type.clone(),
                message_id,
                transfer_id: t.id.clone(),
                mode,
                async_url: if mode == MdnMode::Async {
                    async_url
                } else {
                    None
                },
                max_payload_size: settings.max_body_size,
                mdn_deadline: now + settings.mdn_timeout(),
            })
        });
    let plan = match plan {
        Ok(plan) => plan,
        Err(why) => {
            error!(transfer = id, error = %why, "cannot send");
            let failed = TransferUpdate {
                failure: Some(&why),
                ..update(status::FAILED)
            };
            db.update_transfer(id, &failed, SystemTime::now()).await?;
            count_unsent(gateway, &t);
            return Ok(());
        }
    };
    let mode = plan.mode;
    let end = match attempt(gateway, plan).await {
        Ok(end) => end,
        // The store holding the file is out of reach: nothing went out; the attempt is
        // counted and made again on the retry schedule.
        Err(e) if e.is::<StoreReadFailed>() => {
            let why = e.to_string();
            let mut schedule = schedule_of(gateway, &t, attempts, mode);
            let now = SystemTime::now();
            let at = match schedule.record_jittered(Outcome::NoResponse, now, &mut rand::rng()) {
                Next::RetryAt(at) => Some(at),
                _ => None,
            };
            warn!(transfer = id, error = %why, retry = at.is_some(), "cannot read the file");
            let next = TransferUpdate {
                failure: Some(&why),
                ..update(if at.is_some() {
                    status::RETRYING
                } else {
                    status::FAILED
                })
            };
            db.update_transfer(id, &next, now).await?;
            if let Some(at) = at {
                gateway.enqueue(kind::SEND, Some(id), "{}", at).await?;
            }
            return Ok(());
        }
        Err(e) => {
            // Nothing could be sent (a missing file is recorded as such).
            let why = e.to_string();
            error!(transfer = id, error = %why, "cannot send");
            let failed = TransferUpdate {
                failure: Some(&why),
                ..update(status::FAILED)
            };
            db.update_transfer(id, &failed, SystemTime::now()).await?;
            count_unsent(gateway, &t);
            return Ok(());
        }
    };
    match end {
        AttemptEnd::Finished(finished) => {
            transfer_ended(gateway, db, id, &finished).await?;
        }
        // Recorded where the MDN arrived.
        AttemptEnd::Overtaken { .. } => {}
        AttemptEnd::AwaitingMdn { .. } => {
            // The MDN may have been recorded already (it can overtake our reading of the
            // 200): the timeout is queued first, and dropped again if the transfer is no
            // longer being sent.
            gateway
                .enqueue(
                    kind::MDN_TIMEOUT,
                    Some(id),
                    "{}",
                    now + settings.mdn_timeout(),
                )
                .await?;
            let waiting = db
                .update_status_if(id, status::SENDING, status::AWAITING_MDN, SystemTime::now())
                .await?;
            if !waiting {
                db.delete_jobs(kind::MDN_TIMEOUT, id).await?;
            }
        }
        AttemptEnd::NotDelivered {
            sent,
            error,
            outcome,
        } => {
            let mut schedule = schedule_of(gateway, &t, attempts, mode);
            let now = SystemTime::now();
            let next = schedule.record_jittered(outcome, now, &mut rand::rng());
            match next {
                Next::RetryAt(at) => {
                    let why = error.to_string();
                    let wait = at.duration_since(now).unwrap_or_default();
                    warn!(transfer = id, message_id = %t.message_id, attempts, ?wait,
                        error = %why, "not delivered: resending later");
                    let retrying = TransferUpdate {
                        failure: Some(&why),
                        ..update(status::RETRYING)
                    };
                    db.update_transfer(id, &retrying, now).await?;
                    gateway.metrics().retried(kind::SEND);
                    gateway.enqueue(kind::SEND, Some(id), "{}", at).await?;
                }
                next => {
                    let mut record = sent.record.clone();
                    record.set_failure(&error, &ReferenceErrorPolicy);
                    if let Next::GiveUp(why) = &next {
                        record.failure_message = Some(format!(
                            "{}; gave up: {why}",
                            record.failure_message.as_deref().unwrap_or("not delivered")
                        ));
                    }
                    let finished = gateway
                        .finish_outbound(&sent, record, StatusCode::Failed, None)
                        .await?;
                    transfer_ended(gateway, db, id, &finished).await?;
                }
            }
        }
    }
    Ok(())
}

/// A [`kind::MDN_TIMEOUT`] job: the asynchronous MDN is overdue unless it came (then its
/// pending record is gone). Overdue is [`Outcome::MdnOverdue`]: a resend (the partner
/// answers it with the MDN it has, without delivering the file twice), or the end.
async fn mdn_overdue(gateway: &Arc<Gateway>, id: &str) -> Result<(), BoxError> {
    let db = gateway.db().ok_or("no database")?;
    let Some(t) = db.transfer(id).await? else {
        return Ok(());
    };
    let Some(sent) = gateway.pending(&t.message_id).await? else {
        return Ok(());
    };
    if !gateway.claim_pending(&t.message_id).await? {
        // The MDN is being recorded right now.
        return Ok(());
    }
    let timeout = gateway.settings().mdn_timeout_seconds;
    let why = format!("no asynchronous MDN within {timeout} s");
    let now = SystemTime::now();
    let mut schedule = schedule_of(gateway, &t, t.attempts, MdnMode::Async);
    let next = schedule.record_jittered(Outcome::MdnOverdue, now, &mut rand::rng());
    match next {
        Next::RetryAt(at) => {
            warn!(transfer = id, message_id = %t.message_id, "{why}: resending later");
            let retrying = TransferUpdate {
                failure: Some(&why),
                ..update(status::RETRYING)
            };
            db.update_transfer(id, &retrying, now).await?;
            gateway.metrics().retried(kind::SEND);
            gateway.enqueue(kind::SEND, Some(id), "{}", at).await?;
        }
        next => {
            let mut record = sent.record.clone();
            record.failure_message = Some(match next {
                Next::GiveUp(give_up) => format!("{why}; gave up: {give_up}"),
                _ => why,
            });
            let finished = gateway
                .finish_outbound(&sent, record, StatusCode::Failed, None)
                .await?;
            transfer_ended(gateway, db, id, &finished).await?;
        }
    }
    Ok(())
}

/// A [`kind::ASYNC_MDN`] job: POSTs the MDN; `Some(time)` to try again then.
async fn deliver_mdn(gateway: &Gateway, job: &Job) -> Result<Option<SystemTime>, BoxError> {
    let delivery: MdnDelivery = serde_json::from_str(&job.payload)?;
    let url = &delivery.url;
    let original = &delivery.original_message_id;
    let outcome = match post(
        &gateway.http,
        url,
        &delivery.mdn.headers,
        delivery.mdn.body.clone(),
    )
    .await
    {
        Ok(response) => Outcome::from_response(&response),
        Err(e) => {
            warn!(%url, %original, error = %e, "async MDN not delivered");
            Outcome::from_transport_error(&e)
        }
    };
    // The attempts made, this one included.
    let attempts = u32::try_from(job.attempts.saturating_add(1)).unwrap_or(u32::MAX);
    let mut schedule = RetrySchedule::resume(
        gateway.settings().retry.clone(),
        from_millis(job.created_at),
        attempts,
    )
    .without_mdn();
    let now = SystemTime::now();
    let next = schedule.record_jittered(outcome.clone(), now, &mut rand::rng());
    Ok(match next {
        Next::Done => {
            info!(%url, %original, attempts, "async MDN delivered");
            None
        }
        Next::RetryAt(at) => {
            warn!(%url, %original, attempts, ?outcome, "async MDN: trying again later");
            gateway.metrics().retried(kind::ASYNC_MDN);
            Some(at)
        }
        // An interim status: try again after the first interval.
        Next::Pending => {
            gateway.metrics().retried(kind::ASYNC_MDN);
            Some(now + gateway.settings().retry.first_interval)
        }
        Next::GiveUp(why) => {
            error!(%url, %original, attempts, "gave up delivering the async MDN: {why}");
            None
        }
        _ => None,
    })
}

/// Counts an outbound transfer that failed before anything was sent (a connector or a
/// file that cannot be used).
fn count_unsent(gateway: &Gateway, t: &Transfer) {
    let started = from_millis(t.first_attempt_at.unwrap_or(t.created_at));
    gateway
        .metrics()
        .transfer_ended(&t.partner, "outbound", status::FAILED, 0, started);
}

/// Records in the database how a transfer ended (its record and MDN as written by
/// `Gateway::finish_outbound`, its size, the MDN's disposition and the failure code),
/// counts it in the metrics, drops its MDN timeout, and removes the gateway's copy of a
/// delivered upload from the gateway's storage.
pub async fn transfer_ended(
    gateway: &Gateway,
    db: &Database,
    id: &str,
    finished: &Finished,
) -> Result<(), BoxError> {
    let storage = gateway.storage();
    let record_path = finished.record_key.clone();
    let mdn_path = finished.mdn_key.clone();
    let failure = finished
        .record
        .failure_message
        .clone()
        .or_else(|| finished.record.failure_code.clone());
    let status = match finished.status {
        StatusCode::Completed => status::COMPLETED,
        _ => status::FAILED,
    };
    let ended = TransferUpdate {
        status,
        attempts: None,
        first_attempt_at: None,
        record_path: Some(&record_path),
        mdn_path: mdn_path.as_deref(),
        failure: failure.as_deref(),
    };
    // The timeout goes first: once the status says so, nothing is left queued for it.
    db.delete_jobs(kind::MDN_TIMEOUT, id).await?;
    db.update_transfer(id, &ended, SystemTime::now()).await?;
    let size = finished.record.transfer_size.unwrap_or(0);
    let outcome = TransferOutcome {
        size_bytes: Some(i64::try_from(size).unwrap_or(i64::MAX)),
        mdn_disposition: finished.record.disposition.clone(),
        failure_code: finished.record.failure_code.clone(),
    };
    db.set_outcome(id, &outcome).await?;
    info!(transfer = id, message_id = %finished.message_id, status, "transfer ended");
    let transfer = db.transfer(id).await?;
    if let Some(t) = &transfer {
        let started = from_millis(t.first_attempt_at.unwrap_or(t.created_at));
        gateway
            .metrics()
            .transfer_ended(&t.partner, "outbound", status, size, started);
    }
    // The gateway's copy of an uploaded file is not needed any more.
    if finished.status == StatusCode::Completed
        && let Some(t) = transfer
        && let Ok(request) = serde_json::from_str::<SendRequest>(&t.request)
        && request.owned
    {
        let removed = match request.source() {
            Source::Stored(key) => storage.delete(&key).await,
            Source::File(file) => tokio::fs::remove_file(&file).await,
        };
        if let Err(e) = removed {
            warn!(transfer = id, error = %e, "the delivered upload was not removed");
        }
    }
    Ok(())
}
