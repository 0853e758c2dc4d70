//! The HTTP routes beside the AS2 endpoint: `/healthz`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::gateway::Gateway;

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
