//! The HTTP routes beside the AS2 endpoint: `/healthz` and the transfers API.
//!
//! - `POST /api/transfers?connector=ID&file_name=NAME[&content_type=TYPE]`: the request
//!   body is the file, spooled locally as it arrives, then put in the store (the data
//!   directory or the bucket) under `outbox/queue/`, where any instance sharing the store
//!   can send it, and queued for the connector; 202 with the transfer as JSON (and
//!   `Location`).
//! - `GET /api/transfers/{id}`: the transfer as JSON (status, attempts, Message-ID,
//!   record and MDN paths, the last failure, size, MDN disposition, failure code); 404 if
//!   there is none.
//! - `GET /api/transfers[?partner=ID][&status=STATUS][&limit=N]`: the newest transfers
//!   first, inbound and outbound, as a JSON array (at most `limit`, 100 by default).
//!
//! With `api_token` set in `[gateway]`, both want `Authorization: Bearer <token>`.

use std::sync::Arc;

use as2_proto::partner::{PartnerDirectory, is_safe_relative_path};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::error;

use crate::files::TempFile;
use crate::gateway::Gateway;
use crate::http::{BodyReader, pump_body};
use crate::send::transfer_id;
use crate::{FRAMES_IN_FLIGHT, QUEUE, worker};

/// `GET /healthz`: 200 `{"status":"ok"}` when the database answers, else 503.
pub async fn healthz(State(gateway): State<Arc<Gateway>>) -> (StatusCode, Json<Value>) {
    match gateway.db() {
        None => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Some(db) => match db.queued_jobs().await {
            Ok(jobs) => (
                StatusCode::OK,
                Json(json!({ "status": "ok", "queued_jobs": jobs })),
            ),
            Err(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "database unavailable", "error": e.to_string() })),
            ),
        },
    }
}

/// The query of `POST /api/transfers`.
#[derive(Debug, Deserialize)]
pub struct NewTransfer {
    /// The connector to send through.
    pub connector: String,
    /// The file's name as the partner gets it.
    pub file_name: String,
    /// Its MIME type (guessed from the name when absent).
    pub content_type: Option<String>,
}

fn problem(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// 401 unless the request carries the configured bearer token.
fn unauthorized(gateway: &Gateway, headers: &HeaderMap) -> Option<Response> {
    let token = gateway.settings().api_token.as_deref()?;
    let expected = format!("Bearer {token}");
    let given = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if crate::gateway::same_secret(given, expected.as_bytes()) {
        return None;
    }
    let mut response = problem(StatusCode::UNAUTHORIZED, "a bearer token is required");
    if let Ok(value) = "Bearer realm=\"as2-gateway\"".parse() {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    Some(response)
}

/// `POST /api/transfers`: stores the body as the file and queues it.
pub async fn post_transfer(
    State(gateway): State<Arc<Gateway>>,
    Query(query): Query<NewTransfer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refused) = unauthorized(&gateway, &headers) {
        return refused;
    }
    if gateway.db().is_none() {
        return problem(StatusCode::NOT_FOUND, "no transfers API without a database");
    }
    if let Err(e) = gateway.directory().connector(&query.connector) {
        return problem(StatusCode::NOT_FOUND, e);
    }
    let name = query.file_name.as_str();
    if name.contains('/') || name.starts_with('.') || !is_safe_relative_path(name) {
        return problem(
            StatusCode::BAD_REQUEST,
            "file_name must be a plain file name",
        );
    }
    // The gateway's copy, kept until the transfer is delivered (resends read it again).
    let relative = format!("{QUEUE}/{}.{name}", transfer_id());
    let limit = gateway
        .settings()
        .max_body_size
        .unwrap_or(as2_proto::Limits::default().max_body_size);
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let (frames, reader) = mpsc::channel(FRAMES_IN_FLIGHT);
    let spool = tokio::task::spawn_blocking({
        let gateway = Arc::clone(&gateway);
        move || -> std::io::Result<Option<TempFile>> {
            let mut reader = BodyReader::new(reader);
            let mut temp = gateway.storage().temp_file()?;
            let mut size: u64 = 0;
            while let Some(frame) = reader.next()? {
                size = size.saturating_add(u64::try_from(frame.len()).unwrap_or(u64::MAX));
                if size > limit {
                    reader.stop();
                    return Ok(None);
                }
                temp.write(&frame)?;
            }
            Ok(Some(temp))
        }
    });
    let ((), spooled) = tokio::join!(pump_body(body, frames), spool);
    let spooled = match spooled {
        Ok(Ok(Some(spooled))) => spooled,
        Ok(Ok(None)) => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the file is over {limit} bytes"),
            );
        }
        Ok(Err(e)) => return problem(StatusCode::BAD_REQUEST, format!("file not stored: {e}")),
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let stored = match gateway.storage().persist(&relative, spooled).await {
        Ok(stored) => stored,
        Err(e) => {
            error!(error = %e, "cannot store an upload");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("file not stored: {e}"),
            );
        }
    };
    let queued = worker::queue_transfer_of(
        &gateway,
        &query.connector,
        worker::Source::Stored(stored.clone()),
        query.file_name.clone(),
        query.content_type.clone(),
    )
    .await;
    match queued {
        Ok(transfer) => {
            let location = format!("/api/transfers/{}", transfer.id);
            (
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                Json(transfer),
            )
                .into_response()
        }
        Err(e) => {
            error!(error = %e, "cannot queue a transfer");
            let _ = gateway.storage().delete(&stored).await;
            problem(StatusCode::INTERNAL_SERVER_ERROR, e)
        }
    }
}

/// `GET /api/transfers/{id}`.
pub async fn get_transfer(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = unauthorized(&gateway, &headers) {
        return refused;
    }
    let Some(db) = gateway.db() else {
        return problem(StatusCode::NOT_FOUND, "no transfers API without a database");
    };
    match db.transfer_row(&id).await {
        Ok(Some(transfer)) => Json(transfer).into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, format!("no transfer {id}")),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// The query of `GET /api/transfers` (and of the operator's page): empty values are no
/// filter.
#[derive(Debug, Default, Deserialize)]
pub struct TransferFilter {
    /// Only this partner's (its AS2 ID).
    pub partner: Option<String>,
    /// Only in this status.
    pub status: Option<String>,
    /// At most this many (100 by default).
    pub limit: Option<i64>,
}

impl TransferFilter {
    /// The partner to filter on, if any.
    pub fn partner(&self) -> Option<&str> {
        self.partner
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// The status to filter on, if any.
    pub fn status(&self) -> Option<&str> {
        self.status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// How many to list.
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(100)
    }
}

/// `GET /api/transfers`: the newest transfers first.
pub async fn list_transfers(
    State(gateway): State<Arc<Gateway>>,
    Query(filter): Query<TransferFilter>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = unauthorized(&gateway, &headers) {
        return refused;
    }
    let Some(db) = gateway.db() else {
        return problem(StatusCode::NOT_FOUND, "no transfers API without a database");
    };
    match db
        .list_transfers(filter.partner(), filter.status(), filter.limit())
        .await
    {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
