//! The command lines: `serve` and `send`, and the older server and client flags.

use std::collections::HashMap;
use std::io::{self};
use std::path::PathBuf;
use std::time::Duration;

/// `server --config FILE --listen ADDR --data DIR`.
pub const SERVER_USAGE: &str = "\
usage: server --config FILE --listen ADDR --data DIR [--max-body-size BYTES]
  --config FILE          partner configuration (TOML, or JSON if the name ends in .json)
  --listen ADDR          address to listen on, e.g. 127.0.0.1:5080 (port 0 picks a free one)
  --data DIR             where payloads, MDNs and status records are written
  --max-body-size BYTES  the largest request body (default 64 MiB; also raises the
                         decompressed size limit to at least this)
The endpoint takes AS2 messages and asynchronous MDNs as POSTs on any path.";

/// `client --config FILE --connector ID --file PATH [...] --data DIR`.
pub const CLIENT_USAGE: &str = "\
usage: client --config FILE --connector ID --file PATH --data DIR [--url URL]
              [--mdn none|sync|async] [--async-listen ADDR] [--async-url URL]
              [--content-type TYPE] [--timeout SECONDS] [--max-payload-size BYTES]
  --connector ID       the connector to send through (its URL, algorithms and MDN mode)
  --url URL            POST here instead of the connector's URL
  --mdn MODE           override the connector's MDN request
  --async-listen ADDR  listen here for the asynchronous MDN and wait for it (port 0
                       picks a free one; the URL asked for is then http://ADDR/as2)
  --async-url URL      the Receipt-Delivery-Option URL (default: the listener's, else
                       the connector's async_mdn_url); without --async-listen the client
                       exits after the 200 and a server sharing --data records the MDN
  --timeout SECONDS    how long to wait for an asynchronous MDN (default 300)
  --max-payload-size BYTES  the largest file sent (default 64 MiB)
Exit status: 0 completed (or awaiting an MDN elsewhere), 1 failed, 2 usage or setup error.";

/// Reads `--name value` / `--name=value` pairs, each name at most once and from `known`.
pub(crate) fn parse_flags(
    args: &[String],
    known: &[&str],
) -> Result<HashMap<String, String>, String> {
    let mut flags = HashMap::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(name) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (name, None),
        };
        if !known.contains(&name) {
            return Err(format!("unknown option --{name}"));
        }
        let value = match inline {
            Some(v) => v,
            None => rest
                .next()
                .ok_or(format!("--{name} needs a value"))?
                .clone(),
        };
        let name = name.to_owned();
        if flags.insert(name.clone(), value).is_some() {
            return Err(format!("--{name} given twice"));
        }
    }
    Ok(flags)
}

pub(crate) fn required(flags: &mut HashMap<String, String>, name: &str) -> Result<String, String> {
    flags.remove(name).ok_or(format!("--{name} is required"))
}

/// An optional size in bytes.
pub(crate) fn bytes_flag(
    flags: &mut HashMap<String, String>,
    name: &str,
) -> Result<Option<usize>, String> {
    flags
        .remove(name)
        .map(|v| {
            v.parse()
                .map_err(|_| format!("--{name} wants a number of bytes, not {v:?}"))
        })
        .transpose()
}

/// Whether the arguments ask for help.
pub fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "-h" || a == "--help")
}

/// The server's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// The partner configuration file.
    pub config: PathBuf,
    /// The address to listen on.
    pub listen: String,
    /// The data directory.
    pub data: PathBuf,
    /// The server id written to status records' `server-id` (default
    /// [`DEFAULT_SERVER_ID`]).
    pub server_id: String,
    /// The largest request body, instead of [`Limits::default`](as2_proto::Limits::default)'s.
    pub max_body_size: Option<usize>,
}

/// The `server-id` of records when `--server-id` is not given.
pub const DEFAULT_SERVER_ID: &str = "s-as2-proto";

impl ServerOptions {
    /// Parses the command line (without the program name).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut flags = parse_flags(
            args,
            &["config", "listen", "data", "server-id", "max-body-size"],
        )?;
        Ok(ServerOptions {
            config: required(&mut flags, "config")?.into(),
            listen: required(&mut flags, "listen")?,
            data: required(&mut flags, "data")?.into(),
            server_id: flags
                .remove("server-id")
                .unwrap_or_else(|| DEFAULT_SERVER_ID.to_owned()),
            max_body_size: bytes_flag(&mut flags, "max-body-size")?,
        })
    }
}

/// The MDN a client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdnMode {
    /// No MDN.
    None,
    /// In the HTTP response.
    Sync,
    /// POSTed later to a URL of ours.
    Async,
}

/// The client's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// The partner configuration file.
    pub config: PathBuf,
    /// The connector id.
    pub connector: String,
    /// The file to send.
    pub file: PathBuf,
    /// The data directory.
    pub data: PathBuf,
    /// Overrides the connector's URL.
    pub url: Option<String>,
    /// Overrides the connector's MDN mode.
    pub mdn: Option<MdnMode>,
    /// Listen here for the asynchronous MDN.
    pub async_listen: Option<String>,
    /// The Receipt-Delivery-Option URL.
    pub async_url: Option<String>,
    /// Overrides the content type guessed from the file name.
    pub content_type: Option<String>,
    /// How long to wait for an asynchronous MDN.
    pub timeout: Duration,
    /// The largest file sent, instead of [`Limits::default`](as2_proto::Limits::default)'s.
    pub max_payload_size: Option<usize>,
}

impl ClientOptions {
    /// Parses the command line (without the program name).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut flags = parse_flags(
            args,
            &[
                "config",
                "connector",
                "file",
                "data",
                "url",
                "mdn",
                "async-listen",
                "async-url",
                "content-type",
                "timeout",
                "max-payload-size",
            ],
        )?;
        let mdn = match flags.remove("mdn").as_deref() {
            None => None,
            Some("none") => Some(MdnMode::None),
            Some("sync") => Some(MdnMode::Sync),
            Some("async") => Some(MdnMode::Async),
            Some(other) => return Err(format!("--mdn must be none, sync or async, not {other:?}")),
        };
        let timeout = match flags.remove("timeout") {
            None => Duration::from_secs(300),
            Some(t) => Duration::from_secs(
                t.parse()
                    .map_err(|_| format!("--timeout wants whole seconds, not {t:?}"))?,
            ),
        };
        let options = ClientOptions {
            config: required(&mut flags, "config")?.into(),
            connector: required(&mut flags, "connector")?,
            file: required(&mut flags, "file")?.into(),
            data: required(&mut flags, "data")?.into(),
            url: flags.remove("url"),
            mdn,
            async_listen: flags.remove("async-listen"),
            async_url: flags.remove("async-url"),
            content_type: flags.remove("content-type"),
            timeout,
            max_payload_size: bytes_flag(&mut flags, "max-payload-size")?,
        };
        if options.mdn.is_some_and(|m| m != MdnMode::Async)
            && (options.async_listen.is_some() || options.async_url.is_some())
        {
            return Err("--async-listen and --async-url go with --mdn async".into());
        }
        Ok(options)
    }
}

/// Logs to stderr at the level named by `RUST_LOG` (`error` ... `trace`; default `info`).
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.trim().parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    // A second initialisation (tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(io::stderr)
        .try_init();
}
