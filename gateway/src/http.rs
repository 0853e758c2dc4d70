//! HTTP: headers as the library takes them, responses, the client, and request bodies
//! streamed to a blocking thread.

use std::io::{self};

use crate::files::*;
use crate::*;
use as2_proto::message::headers::{HttpHeaders, HttpResponse};
use as2_proto::partner::{TransportError, TransportErrorKind};
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, error};

// HTTP

/// The headers of a request or response as the library takes them.
pub fn http_headers(map: &HeaderMap) -> HttpHeaders {
    map.iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect()
}

/// A library response as an axum response, with Content-Length.
pub(crate) fn to_axum(response: HttpResponse) -> axum::response::Response {
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
pub(crate) fn text(status: u16, body: String) -> HttpResponse {
    let mut headers = HttpHeaders::new();
    headers.push("Content-Type", "text/plain; charset=us-ascii");
    HttpResponse::new(status, headers, body.into_bytes())
}

/// rustls with `ring`: no OpenSSL and no aws-lc (whose build needs cmake and a C
/// toolchain beyond ring's). rustls 0.23.48 deprecates the ring provider because it lacks
/// the post-quantum key exchange; the classical groups are what AS2 partners offer today.
#[allow(deprecated)]
pub fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// An HTTP client for partners and asynchronous MDNs: plain HTTP/1.1, no proxies.
pub fn http_client() -> Result<reqwest::Client, BoxError> {
    // reqwest is built without a crypto provider: rustls with `ring` (no OpenSSL, no C
    // toolchain beyond ring's); a second install (tests) is harmless.
    let _ = ring_provider().install_default();
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

pub(crate) async fn send(
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

pub(crate) fn transport_error(e: reqwest::Error) -> TransportError {
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

/// One frame of a request body, from the HTTP task to the handler's thread.
pub(crate) enum BodyFrame {
    Data(Bytes),
    /// The body ended here (a closed channel without it means the request was dropped).
    End,
    Failed(String),
}

/// A request body as the handler's (blocking) thread reads it, frame by frame from the
/// HTTP task ([`pump_body`]); at most [`FRAMES_IN_FLIGHT`] frames wait in between.
pub(crate) struct BodyReader {
    frames: mpsc::Receiver<BodyFrame>,
    ended: bool,
}

impl BodyReader {
    pub(crate) fn new(frames: mpsc::Receiver<BodyFrame>) -> Self {
        BodyReader {
            frames,
            ended: false,
        }
    }

    /// The next frame, `None` at the end of the body. Blocks.
    pub(crate) fn next(&mut self) -> io::Result<Option<Bytes>> {
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
    pub(crate) fn stop(&mut self) {
        self.frames.close();
    }
}

/// Hands the body's frames to the handler's thread until it has them all or stops
/// taking them, then reads and discards the rest for at most [`LINGER`], so that the
/// sender finishes sending and reads our answer rather than a reset connection.
pub(crate) async fn pump_body(body: Body, frames: mpsc::Sender<BodyFrame>) {
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
