//! Serving: the HTTP endpoint and delivery of asynchronous MDNs.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::*;
use crate::{cli::*, files::*, gateway::*, http::*};
use as2_proto::Limits;
use as2_proto::mdn::BuiltMdn;
use as2_proto::message::inbound::StoredMdn;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

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
pub(crate) async fn endpoint(
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
                queue_async_mdn(&gateway, mdn).await;
            }
            to_axum(handled.response)
        }
        Err(e) => {
            error!(error = %e, "request handler failed");
            to_axum(text(500, "internal error\r\n".into()))
        }
    }
}

/// Hands an asynchronous MDN to the job queue (retried on the gateway's schedule,
/// surviving a restart), or without a database POSTs it from a task of its own.
pub(crate) async fn queue_async_mdn(gateway: &Gateway, mdn: BuiltMdn) {
    let Some(url) = mdn.async_url.clone() else {
        return;
    };
    if gateway.db().is_none() {
        tokio::spawn(deliver_async_mdn(gateway.http.clone(), mdn));
        return;
    }
    let delivery = crate::worker::MdnDelivery {
        url,
        original_message_id: mdn.original_message_id.clone(),
        mdn: StoredMdn::from(&mdn),
    };
    let queued = match serde_json::to_string(&delivery) {
        Ok(json) => gateway
            .enqueue(crate::db::kind::ASYNC_MDN, None, &json, SystemTime::now())
            .await
            .map(drop),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = queued {
        // The partner waits for it in vain: at least say so.
        error!(original = %delivery.original_message_id, error = %e,
            "cannot queue the async MDN: delivering it once now");
        tokio::spawn(deliver_async_mdn(gateway.http.clone(), mdn));
    }
}

/// POSTs an asynchronous MDN (RFC 4130 §7.3), retrying on connection failures and 5xx.
pub(crate) async fn deliver_async_mdn(http: reqwest::Client, mdn: BuiltMdn) {
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
