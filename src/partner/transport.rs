//! Sending: the caller's HTTP client behind a small trait, and a scripted in-memory one.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::error::{TransportError, TransportErrorKind};
use crate::message::headers::HttpHeaders;
pub use crate::message::headers::HttpResponse;

/// A request as the transport saw it (recorded by [`MemoryTransport`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The URL.
    pub url: String,
    /// The headers, in order.
    pub headers: HttpHeaders,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request.
    pub fn new(url: impl Into<String>, headers: HttpHeaders, body: Vec<u8>) -> Self {
        HttpRequest {
            url: url.into(),
            headers,
            body,
        }
    }

    /// The first value of header `name` (case-insensitive) as text, trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }
}

/// The caller's HTTP client: POSTs an AS2 message (or an asynchronous MDN) and returns
/// the response.
///
/// Implementations send `headers` as given plus a `Content-Length` of `body.len()`
/// (partners often refuse chunked requests), and report failures with the
/// [`TransportErrorKind`] that gives the reference's error code.
pub trait Transport {
    /// POSTs `body` with `headers` to `url`.
    fn post(
        &self,
        url: &str,
        headers: &HttpHeaders,
        body: &[u8],
    ) -> Result<HttpResponse, TransportError>;
}

type Route = dyn Fn(&HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync;

enum Responder {
    Scripted(Mutex<VecDeque<Result<HttpResponse, TransportError>>>),
    Route(Box<Route>),
}

/// A [`Transport`] in memory, for tests and examples: it records every request and answers
/// either from a script or by calling a function (for example the receiving side's
/// inbound code, for a loopback test).
pub struct MemoryTransport {
    requests: Mutex<Vec<HttpRequest>>,
    responder: Responder,
}

impl core::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("requests", &self.requests().len())
            .finish_non_exhaustive()
    }
}

impl MemoryTransport {
    /// Answers the requests with `responses`, in order; once they run out, every request
    /// fails with [`TransportErrorKind::ConnectionFailed`].
    pub fn scripted(
        responses: impl IntoIterator<Item = Result<HttpResponse, TransportError>>,
    ) -> Self {
        MemoryTransport {
            requests: Mutex::new(Vec::new()),
            responder: Responder::Scripted(Mutex::new(responses.into_iter().collect())),
        }
    }

    /// Answers each request with `route(request)`.
    pub fn routing(
        route: impl Fn(&HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync + 'static,
    ) -> Self {
        MemoryTransport {
            requests: Mutex::new(Vec::new()),
            responder: Responder::Route(Box::new(route)),
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Transport for MemoryTransport {
    fn post(
        &self,
        url: &str,
        headers: &HttpHeaders,
        body: &[u8],
    ) -> Result<HttpResponse, TransportError> {
        let request = HttpRequest::new(url, headers.clone(), body.to_vec());
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.clone());
        match &self.responder {
            Responder::Scripted(queue) => queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
                .unwrap_or_else(|| {
                    Err(TransportError::new(
                        TransportErrorKind::ConnectionFailed,
                        "no scripted response left",
                    ))
                }),
            Responder::Route(route) => route(&request),
        }
    }
}
