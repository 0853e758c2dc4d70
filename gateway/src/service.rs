//! `as2-gateway serve`: the AS2 endpoint over HTTP and HTTPS and `/healthz`, with
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::{error, info};

use crate::BoxError;
use crate::config::{GatewayConfig, GatewaySettings};
use crate::gateway::Gateway;
use crate::serve::endpoint;
use crate::{api, ui};

/// A running gateway.
pub struct Service {
    /// The plain HTTP address, if it listens on one.
    pub http_addr: Option<SocketAddr>,
    /// The HTTPS address, if it listens on one.
    pub https_addr: Option<SocketAddr>,
    /// The gateway.
    pub gateway: Arc<Gateway>,
    handles: Vec<Handle<SocketAddr>>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    stop_worker: tokio::sync::watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
    /// The outbox directories' watchers.
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

/// The rustls configuration for a PEM certificate chain and key: TLS 1.2 and 1.3, the
/// `ring` provider.
pub fn tls_config(settings: &GatewaySettings) -> Result<rustls::ServerConfig, BoxError> {
    let (Some(cert), Some(key)) = (&settings.tls_certificate, &settings.tls_private_key) else {
        return Err("tls_listen needs tls_certificate and tls_private_key".into());
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(crate::http::ring_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The routes: `/healthz`, the transfers API, the operator's page and `/metrics`, and AS2
/// POSTs on any other path (`/`, `/transfers/{id}` and `/metrics` included).
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route(
            "/api/transfers",
            post(api::post_transfer).get(api::list_transfers),
        )
        .route("/api/transfers/{id}", get(api::get_transfer))
        .route("/", get(ui::index).post(endpoint))
        .route("/transfers/{id}", get(ui::detail).post(endpoint))
        .route("/metrics", get(ui::metrics).post(endpoint))
        .fallback(endpoint)
        // The AS2 endpoint streams bodies and holds them to its own limit.
        .layer(DefaultBodyLimit::disable())
        .with_state(gateway)
}

fn bind(addr: &str) -> Result<std::net::TcpListener, BoxError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("{addr}: {e}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Service {
    /// Opens the state and starts listening and working.
    pub async fn start(config: GatewayConfig) -> Result<Self, BoxError> {
        let settings = config.settings.clone();
        if settings.listen.is_none() && settings.tls_listen.is_none() {
            return Err("[gateway] needs listen or tls_listen".into());
        }
        let tls = match &settings.tls_listen {
            Some(_) => Some(RustlsConfig::from_config(Arc::new(tls_config(&settings)?))),
            None => None,
        };
        let gateway = Arc::new(Gateway::open(config).await?);
        let app = router(Arc::clone(&gateway));
        let mut handles = Vec::new();
        let mut servers = Vec::new();
        let mut http_addr = None;
        let mut https_addr = None;
        if let Some(listen) = &settings.listen {
            let listener = bind(listen)?;
            http_addr = Some(listener.local_addr()?);
            let handle = Handle::new();
            let server = axum_server::from_tcp(listener)?.handle(handle.clone());
            let service = app
                .clone()
                .into_make_service_with_connect_info::<SocketAddr>();
            servers.push(tokio::spawn(server.serve(service)));
            handles.push(handle);
            info!(addr = ?http_addr, "listening (HTTP)");
        }
        if let (Some(listen), Some(tls)) = (&settings.tls_listen, tls) {
            let listener = bind(listen)?;
            https_addr = Some(listener.local_addr()?);
            let handle = Handle::new();
            let server = axum_server::from_tcp_rustls(listener, tls)?.handle(handle.clone());
            let service = app
                .clone()
                .into_make_service_with_connect_info::<SocketAddr>();
            servers.push(tokio::spawn(server.serve(service)));
            handles.push(handle);
            info!(addr = ?https_addr, "listening (HTTPS)");
        }
        let (stop_worker, stop) = tokio::sync::watch::channel(false);
        let watchers = crate::outbox::start(&gateway, &stop);
        let worker = tokio::spawn(crate::worker::run(Arc::clone(&gateway), stop));
        info!(storage = gateway.storage().location(), "storing files");
        Ok(Service {
            http_addr,
            https_addr,
            gateway,
            handles,
            servers,
            stop_worker,
            worker,
            watchers,
        })
    }

    /// Stops taking connections, jobs and outbox files, lets the requests, the job and
    /// the files in progress finish (for at most `grace`), and closes the database. Queued jobs stay queued
    /// for the next start (or another instance).
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop_worker.send(true);
        for handle in &self.handles {
            handle.graceful_shutdown(Some(grace));
        }
        for server in self.servers {
            match tokio::time::timeout(grace + Duration::from_secs(1), server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => error!(error = %e, "server failed"),
                Ok(Err(e)) => error!(error = %e, "server task failed"),
                Err(_) => error!("server did not stop in time"),
            }
        }
        if tokio::time::timeout(grace, self.worker).await.is_err() {
            error!("the job worker did not stop in time");
        }
        for watcher in self.watchers {
            if tokio::time::timeout(grace, watcher).await.is_err() {
                error!("an outbox watcher did not stop in time");
            }
        }
        if let Some(db) = self.gateway.db() {
            db.close().await;
        }
        info!("stopped");
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
