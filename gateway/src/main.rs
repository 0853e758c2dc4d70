//! `as2-gateway`: the AS2 server and client on the `as2-proto` core. See the crate's
//! README for the commands.

use std::process::ExitCode;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use as2_gateway::BoxError;
use as2_gateway::cli::{self, ClientOptions, ServerOptions};
use as2_gateway::config::GatewayConfig;
use as2_gateway::db::status;
use as2_gateway::gateway::Gateway;
use as2_gateway::send::{ClientOutcome, run_client};
use as2_gateway::serve::start_server;
use as2_gateway::service::{Service, shutdown_signal};
use as2_gateway::worker::{new_transfer, send_transfer};
use as2_proto::partner::PartnerDirectory;

const USAGE: &str = "\
usage: as2-gateway serve --config FILE [--storage s3://BUCKET/PREFIX] [--database URL]
           serve AS2 over HTTP/HTTPS as the configuration's [gateway] section says
           (--database: postgres://... for instances sharing their state; default
           [gateway] database, else state.sqlite in the data directory)
       as2-gateway send --config FILE [--storage s3://BUCKET/PREFIX] --connector ID FILE...
           send files through a connector (one attempt each; resends and asynchronous
           MDNs are then the business of `serve` on the same data directory)
       --storage puts payloads, records and MDNs in an S3 bucket instead of the data
           directory (overrides [gateway] storage; s3_* settings or AWS_* variables)
       as2-gateway server ... / as2-gateway client ...
           the older flag-driven server and client (--help for their flags)";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let command = args.remove(0);
    match command.as_str() {
        "serve" => serve(&args).await,
        "send" => send(&args).await,
        "server" => server(&args).await,
        "client" => client(&args).await,
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("as2-gateway: unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn server(args: &[String]) -> ExitCode {
    if cli::wants_help(args) {
        println!("{}", cli::SERVER_USAGE);
        return ExitCode::SUCCESS;
    }
    let options = match ServerOptions::parse(args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("server: {why}\n{}", cli::SERVER_USAGE);
            return ExitCode::from(2);
        }
    };
    cli::init_logging();
    let endpoint = match start_server(&options).await {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::from(2);
        }
    };
    println!("listening on http://{}", endpoint.addr);
    match endpoint.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn client(args: &[String]) -> ExitCode {
    if cli::wants_help(args) {
        println!("{}", cli::CLIENT_USAGE);
        return ExitCode::SUCCESS;
    }
    let options = match ClientOptions::parse(args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("client: {why}\n{}", cli::CLIENT_USAGE);
            return ExitCode::from(2);
        }
    };
    cli::init_logging();
    match run_client(&options).await {
        Ok(ClientOutcome::Finished(f)) => {
            println!("{} {}", f.status, f.message_id);
            if let Some(d) = &f.record.disposition {
                println!("disposition: {d}");
            }
            if let Some(code) = &f.record.failure_code {
                println!("failure: {code}");
            }
            println!("record: {}", f.record_path.display());
            if let Some(mdn) = &f.mdn_path {
                println!("mdn: {}", mdn.display());
            }
            if f.status == as2_proto::record::StatusCode::Completed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(ClientOutcome::AwaitingMdn {
            message_id,
            pending,
        }) => {
            println!("SENT {message_id}");
            println!("awaiting the asynchronous MDN: {}", pending.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::from(2)
        }
    }
}

/// How long requests in progress may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(30);

/// `--config FILE`, `--storage URL` and the rest of the arguments.
fn config_flag(args: &[String]) -> Result<(PathBuf, Option<String>, Vec<String>), String> {
    let mut rest = args.to_vec();
    let config = take_flag(&mut rest, "--config")?.ok_or("--config is required")?;
    let storage = take_flag(&mut rest, "--storage")?;
    Ok((config.into(), storage, rest))
}

/// The configuration file, with `--storage` over its `storage`.
fn load_config(path: &std::path::Path, storage: Option<String>) -> Result<GatewayConfig, BoxError> {
    let mut config = GatewayConfig::load(path)?;
    if let Some(storage) = storage {
        as2_gateway::storage::parse_s3_url(&storage)?;
        config.settings.storage = Some(storage);
    }
    Ok(config)
}

/// Takes `--NAME VALUE` (or `--NAME=VALUE`) out of `args`: its value, if given.
fn take_flag(args: &mut Vec<String>, name: &str) -> Result<Option<String>, String> {
    let mut value = None;
    let mut rest = Vec::new();
    let mut all = std::mem::take(args).into_iter();
    while let Some(arg) = all.next() {
        if arg == name {
            value = Some(all.next().ok_or(format!("{name} needs a value"))?);
        } else if let Some(v) = arg.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            value = Some(v.to_owned());
        } else {
            rest.push(arg);
        }
    }
    *args = rest;
    Ok(value)
}

async fn serve(args: &[String]) -> ExitCode {
    let parsed = config_flag(args).and_then(|(config, storage, mut rest)| {
        let database = take_flag(&mut rest, "--database")?;
        Ok((config, storage, database, rest))
    });
    let (config, storage, database) = match parsed {
        Ok((config, storage, database, rest)) if rest.is_empty() => (config, storage, database),
        Ok((_, _, _, rest)) => {
            eprintln!("serve: unexpected arguments {rest:?}\n{USAGE}");
            return ExitCode::from(2);
        }
        Err(why) => {
            eprintln!("serve: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    cli::init_logging();
    let service = match load_config(&config, storage) {
        Ok(mut config) => {
            if database.is_some() {
                config.settings.database = database;
            }
            Service::start(config).await
        }
        Err(e) => Err(e),
    };
    let service = match service {
        Ok(service) => service,
        Err(e) => {
            eprintln!("serve: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(addr) = service.http_addr {
        println!("listening on http://{addr}");
    }
    if let Some(addr) = service.https_addr {
        println!("listening on https://{addr}");
    }
    shutdown_signal().await;
    service.shutdown(GRACE).await;
    ExitCode::SUCCESS
}

async fn send(args: &[String]) -> ExitCode {
    let parsed = config_flag(args).and_then(|(config, storage, rest)| {
        let mut connector = None;
        let mut files = Vec::new();
        let mut rest = rest.into_iter();
        while let Some(arg) = rest.next() {
            if arg == "--connector" {
                connector = Some(rest.next().ok_or("--connector needs a value")?);
            } else if let Some(value) = arg.strip_prefix("--connector=") {
                connector = Some(value.to_owned());
            } else if arg.starts_with("--") {
                return Err(format!("unknown option {arg}"));
            } else {
                files.push(PathBuf::from(arg));
            }
        }
        let connector = connector.ok_or("--connector is required")?;
        if files.is_empty() {
            return Err("no file to send".into());
        }
        Ok((config, storage, connector, files))
    });
    let (config_path, storage, connector_id, files) = match parsed {
        Ok(parsed) => parsed,
        Err(why) => {
            eprintln!("send: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    cli::init_logging();
    let gateway = match load_config(&config_path, storage) {
        Ok(config) => Gateway::open(config).await,
        Err(e) => Err(e),
    };
    let gateway = match gateway {
        Ok(gateway) => Arc::new(gateway),
        Err(e) => {
            eprintln!("send: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = gateway.directory().connector(&connector_id) {
        eprintln!("send: {e}");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for file in files {
        // One attempt now; a resend, or the wait for an asynchronous MDN, is queued for
        // `serve` on the same state.
        let file = std::path::absolute(&file).unwrap_or(file);
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "payload".into());
        let sent = async {
            let t = new_transfer(
                &gateway,
                &connector_id,
                file.clone(),
                file_name,
                None,
                false,
            )
            .await?;
            send_transfer(&gateway, &t.id).await?;
            let db = gateway.db().ok_or("no database")?;
            db.transfer(&t.id)
                .await?
                .ok_or_else(|| as2_gateway::BoxError::from("the transfer is gone"))
        };
        match sent.await {
            Ok(t) => {
                println!(
                    "{} {} {} (transfer {})",
                    file.display(),
                    t.status,
                    t.message_id,
                    t.id
                );
                if let Some(why) = &t.failure {
                    println!("failure: {why}");
                }
                failed |= t.status == status::FAILED;
            }
            Err(e) => {
                eprintln!("send: {}: {e}", file.display());
                failed = true;
            }
        }
    }
    if let Some(db) = gateway.db() {
        db.close().await;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
