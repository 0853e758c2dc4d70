//! The configuration file: the partner configuration of `as2-proto` (certificates,
//! profiles, agreements, connectors) plus a `[gateway]` section for this server.
//!
//! ```toml
//! [gateway]
//! listen = "127.0.0.1:5080"          # plain HTTP
//! tls_listen = "127.0.0.1:5443"      # HTTPS (needs tls_certificate and tls_private_key)
//! tls_certificate = "server.crt"     # PEM chain, relative to this file
//! tls_private_key = "server.key"     # PEM (PKCS#8, PKCS#1 or SEC1)
//! data_dir = "data"                  # state.sqlite, payloads, records; relative to this file
//! max_body_size = 67108864           # the largest request body, in bytes
//! public_url = "http://127.0.0.1:5080/as2"  # where partners reach us: async MDNs come here
//! mdn_timeout_seconds = 3600         # how long to wait for an asynchronous MDN
//! database = "postgres://as2@db.internal/as2"  # shared state; default: DATA/state.sqlite
//! job_lease_seconds = 900            # a claimed job's claimer is taken for dead after it
//!
//! [gateway.retry]                    # as2_proto::RetryPolicy (all optional)
//! first_interval_seconds = 300
//!
//! api_token = "change-me"           # Bearer for /api/..., Bearer or Basic password for / and /metrics
//!
//! [[gateway.basic_auth]]             # HTTP Basic auth for one agreement's partner
//! agreement = "a-from-partner-a"
//! username = "partner-a"
//! password = "secret"
//!
//! [[gateway.outbox]]                 # a directory watched for files to send
//! connector = "c-to-partner-b"
//! dir = "outbox-b"                   # relative to this file
//! poll_interval_ms = 1000
//! ```
//!
//! Payloads, records and MDNs go to the data directory unless `storage` names an
//! S3-compatible bucket (`--storage` on the command line overrides it):
//!
//! ```toml
//! [gateway]
//! storage = "s3://as2-bucket/partner-b"   # bucket and key prefix
//! s3_endpoint = "http://127.0.0.1:9000"  # default: AWS (or AWS_ENDPOINT)
//! s3_region = "us-east-1"                # default: AWS_REGION, else us-east-1
//! s3_access_key_id = "..."               # default: AWS_ACCESS_KEY_ID
//! s3_secret_access_key = "..."           # default: AWS_SECRET_ACCESS_KEY
//! s3_allow_http = false                  # true for a plain-HTTP test server
//! ```
//!
//! Paths are relative to the configuration file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use as2_proto::RetryPolicy;
use as2_proto::partner::{MemoryDirectory, PartnerConfig, PartnerDirectory};
use serde::Deserialize;

use crate::BoxError;

/// The `[gateway]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The plain HTTP address to listen on.
    pub listen: Option<String>,
    /// The HTTPS address to listen on.
    pub tls_listen: Option<String>,
    /// The server's certificate chain (PEM).
    pub tls_certificate: Option<PathBuf>,
    /// The server's private key (PEM).
    pub tls_private_key: Option<PathBuf>,
    /// The data directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The largest request body in bytes.
    pub max_body_size: Option<usize>,
    /// Our AS2 endpoint as partners reach it: the asynchronous MDN URL we ask for when a
    /// connector does not name one.
    pub public_url: Option<String>,
    /// How long to wait for an asynchronous MDN, in seconds (default 3600).
    #[serde(default = "default_mdn_timeout")]
    pub mdn_timeout_seconds: u64,
    /// The resend policy for outbound messages.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The id written to status records' `server-id`.
    pub server_id: Option<String>,
    /// HTTP Basic credentials required from partners, per agreement.
    #[serde(default)]
    pub basic_auth: Vec<BasicAuth>,
    /// The token the transfers API (`/api/...`, as a Bearer token), the operator's page
    /// and `/metrics` (Bearer, or the HTTP Basic password) require; without one they are
    /// open to whoever reaches the listener.
    pub api_token: Option<String>,
    /// Where payloads, records and MDNs go: `s3://bucket/prefix`; the data directory
    /// when absent.
    pub storage: Option<String>,
    /// The S3 endpoint (an S3-compatible server); AWS's when absent.
    pub s3_endpoint: Option<String>,
    /// The S3 region.
    pub s3_region: Option<String>,
    /// The S3 access key id (else `AWS_ACCESS_KEY_ID`).
    pub s3_access_key_id: Option<String>,
    /// The S3 secret access key (else `AWS_SECRET_ACCESS_KEY`).
    pub s3_secret_access_key: Option<String>,
    /// Whether the S3 endpoint may be plain HTTP (a test server on loopback).
    #[serde(default)]
    pub s3_allow_http: bool,
    /// Directories watched for files to send, one connector each.
    #[serde(default)]
    pub outbox: Vec<OutboxDir>,
    /// The database URL (`postgres://...` for instances sharing their state, or
    /// `sqlite:PATH`); without one, `state.sqlite` in the data directory.
    pub database: Option<String>,
    /// How long a claimed job is its worker's, in seconds (default 900): after that
    /// another worker takes the claimer for dead and claims the job again.
    #[serde(default = "default_job_lease")]
    pub job_lease_seconds: u64,
}

/// A directory watched for files to send through a connector (`[[gateway.outbox]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxDir {
    /// The connector's id.
    pub connector: String,
    /// The directory (relative to the configuration file).
    pub dir: PathBuf,
    /// How often it is looked at, in milliseconds (default 1000). A file is taken once
    /// its size and modification time are the same at two looks in a row.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
    /// The files' MIME type (guessed from each name when absent).
    pub content_type: Option<String>,
}

fn default_poll_interval() -> u64 {
    1000
}

/// HTTP Basic credentials a partner must present on messages under an agreement.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The agreement's id.
    pub agreement: String,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

fn default_mdn_timeout() -> u64 {
    3600
}

fn default_job_lease() -> u64 {
    crate::worker::LEASE.as_secs()
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            listen: None,
            tls_listen: None,
            tls_certificate: None,
            tls_private_key: None,
            data_dir: default_data_dir(),
            max_body_size: None,
            public_url: None,
            mdn_timeout_seconds: default_mdn_timeout(),
            retry: RetryPolicy::default(),
            server_id: None,
            basic_auth: Vec::new(),
            api_token: None,
            storage: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            outbox: Vec::new(),
            database: None,
            job_lease_seconds: default_job_lease(),
        }
    }
}

impl GatewaySettings {
    /// How long to wait for an asynchronous MDN.
    pub fn mdn_timeout(&self) -> Duration {
        Duration::from_secs(self.mdn_timeout_seconds)
    }

    /// How long a claimed job is its worker's.
    pub fn job_lease(&self) -> Duration {
        Duration::from_secs(self.job_lease_seconds)
    }
}

/// A loaded configuration file.
#[derive(Debug)]
pub struct GatewayConfig {
    /// The partner directory.
    pub directory: MemoryDirectory,
    /// The gateway settings, paths resolved against the file's directory.
    pub settings: GatewaySettings,
}

impl GatewayConfig {
    /// Loads `path`: TOML (or JSON for a `.json` name) with the partner configuration and
    /// an optional `gateway` section. Paths in it are relative to the file.
    pub fn load(path: &Path) -> Result<Self, BoxError> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        // The gateway section is taken out; the rest is the library's partner
        // configuration, which refuses unknown fields.
        let (partners, settings) = if json {
            let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(&e))?;
            let settings = value
                .as_object_mut()
                .and_then(|o| o.remove("gateway"))
                .map(serde_json::from_value::<GatewaySettings>)
                .transpose()
                .map_err(|e| fail(&e))?;
            let partners = PartnerConfig::from_json(&value.to_string()).map_err(|e| fail(&e))?;
            (partners, settings)
        } else {
            let mut table: toml::Table = text.parse().map_err(|e| fail(&e))?;
            let settings = table
                .remove("gateway")
                .map(|v| v.try_into::<GatewaySettings>())
                .transpose()
                .map_err(|e| fail(&e))?;
            let rest = toml::to_string(&table).map_err(|e| fail(&e))?;
            let partners = PartnerConfig::from_toml(&rest).map_err(|e| fail(&e))?;
            (partners, settings)
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let directory = partners
            .load(&mut |p| std::fs::read(base.join(p)))
            .map_err(|e| fail(&e))?;
        let mut settings = settings.unwrap_or_default();
        settings.retry.validate().map_err(|e| fail(&e))?;
        settings.data_dir = base.join(&settings.data_dir);
        settings.tls_certificate = settings.tls_certificate.map(|p| base.join(p));
        settings.tls_private_key = settings.tls_private_key.map(|p| base.join(p));
        for outbox in &mut settings.outbox {
            outbox.dir = base.join(&outbox.dir);
            if directory.connector(&outbox.connector).is_err() {
                return Err(fail(&format!("outbox: no connector {:?}", outbox.connector)).into());
            }
            if outbox.poll_interval_ms == 0 {
                return Err(fail(&"outbox: poll_interval_ms must be over 0").into());
            }
        }
        if let Some(storage) = &settings.storage {
            crate::storage::parse_s3_url(storage).map_err(|e| fail(&e))?;
        }
        for auth in &settings.basic_auth {
            if !partners_has_agreement(&directory, &auth.agreement) {
                return Err(fail(&format!("basic_auth: no agreement {:?}", auth.agreement)).into());
            }
        }
        Ok(GatewayConfig {
            directory,
            settings,
        })
    }
}

fn partners_has_agreement(directory: &MemoryDirectory, id: &str) -> bool {
    directory.agreements().iter().any(|a| a.id == id)
}
